//! Backups of the data folder, encrypted to a passphrase, and their restore.
//!
//! A backup is an [age] file (passphrase, scrypt; `age -d` opens it too, so a backup never
//! depends on this program) holding a tar of the database, the key file
//! (`sotay-server.keys`, without which the database is refused) and, when present, the
//! server's certificate and its key. The database is copied with SQLite's `VACUUM INTO`
//! from its own read transaction: a consistent snapshot, taken while the server serves and
//! devices push (WAL readers do not block the writer, nor it them). The key file is read
//! after the snapshot, so it holds every key the snapshot's communes need (keys are only
//! ever added before a commune is).
//!
//! The plain snapshot exists only for the moment it is read, in a private temporary folder
//! beside the backup; the backup is written to a temporary file (mode 0600), synced and
//! renamed, so a backup that exists is whole.
//!
//! A restore goes into a folder without a database only (it never overwrites one), takes
//! only the files it knows by name, checks the database with `PRAGMA integrity_check` and
//! opens it as the server would (an older backup is migrated, a missing key refused).
//!
//! [age]: https://age-encryption.org/v1

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

use super::db::sql::Engine;
use super::db::{DbError, ServerDb};
use super::tls::{CERT_FILE, KEY_FILE};

pub use super::folder::DB_FILE;
/// The key file beside the database.
pub const KEYS_FILE: &str = "sotay-server.keys";
/// Shortest passphrase a backup is made with.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// Why a backup or a restore failed, worded for the operator; never carries data.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no database in {0} (sotay-server.db)")]
    NoDatabase(PathBuf),
    #[error("no key file beside the database in {0} (sotay-server.keys): a backup without it could not be opened")]
    NoKeys(PathBuf),
    #[error("{0} already holds a database: restore into a new, empty folder")]
    NotEmpty(PathBuf),
    #[error("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")]
    ShortPassphrase,
    #[error("wrong passphrase, or not a backup made by sotay-server")]
    CannotOpen,
    #[error("the backup is damaged or incomplete ({0})")]
    Damaged(&'static str),
    #[error("the restored database failed its integrity check")]
    Integrity,
    #[error("{what}: {kind}")]
    Io { what: &'static str, kind: std::io::ErrorKind },
    #[error("the database: {0}")]
    Db(String),
    #[error(
        "This server keeps its data in PostgreSQL: back it up with pg_dump (see the README's deployment section)."
    )]
    Postgres,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> BackupError {
    move |e| BackupError::Io { what, kind: e.kind() }
}

fn sql(e: rusqlite::Error) -> BackupError {
    BackupError::Db(super::db_error_kind(&DbError::Sql(e)))
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// The files, by name, with their sizes.
    pub files: Vec<(String, u64)>,
}

/// Backs the data folder `data` up into `out`, encrypted to `passphrase`.
pub fn backup(data: &Path, out: &Path, passphrase: &str) -> Result<Contents, BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(BackupError::ShortPassphrase);
    }
    let db_path = data.join(DB_FILE);
    if !db_path.is_file() {
        return Err(BackupError::NoDatabase(data.to_owned()));
    }
    backup_with(data, &data.join(KEYS_FILE), out, passphrase, |snapshot| {
        let conn = rusqlite::Connection::open(&db_path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(sql)?;
        vacuum_into(&conn, snapshot)
    })
}

/// Backs the open store `db` up into `out` (with its key file, and the certificate of the
/// data folder `data`), encrypted to `passphrase`. SQLite only: a PostgreSQL store is backed
/// up with `pg_dump` ([`BackupError::Postgres`]).
pub fn backup_db(db: &ServerDb, data: &Path, out: &Path, passphrase: &str) -> Result<Contents, BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(BackupError::ShortPassphrase);
    }
    if db.engine() != Engine::Sqlite {
        return Err(BackupError::Postgres);
    }
    backup_with(data, &db.keys_path(), out, passphrase, |snapshot| {
        let conn = db.sqlite().ok_or(BackupError::Postgres)?;
        vacuum_into(&conn, snapshot)
    })
}

/// A consistent copy of the database into the file `snapshot`, from one read transaction.
fn vacuum_into(conn: &rusqlite::Connection, snapshot: &Path) -> Result<(), BackupError> {
    conn.execute("VACUUM INTO ?", [snapshot.to_string_lossy()]).map_err(sql)?;
    Ok(())
}

/// Writes the backup: the database as `snapshot` copies it into the file it is given, then
/// the key file at `keys` and the certificate of `data`, if any.
fn backup_with(
    data: &Path,
    keys: &Path,
    out: &Path,
    passphrase: &str,
    snapshot: impl FnOnce(&Path) -> Result<(), BackupError>,
) -> Result<Contents, BackupError> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("backup");
    let scratch = private_dir(&dir.join(format!(".{name}.snapshot")))?;
    let result = (|| {
        let copy = scratch.join(DB_FILE);
        snapshot(&copy)?;
        // After the snapshot: the keys of every commune in it are in the file by now.
        let keys = std::fs::read(keys).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                BackupError::NoKeys(keys.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(data).to_owned())
            }
            kind => BackupError::Io { what: "cannot read the key file", kind },
        })?;
        let mut files: Vec<(String, Vec<u8>)> = vec![(KEYS_FILE.into(), keys)];
        for extra in [CERT_FILE, KEY_FILE] {
            match std::fs::read(data.join(extra)) {
                Ok(bytes) => files.push((extra.into(), bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("cannot read the certificate")(e)),
            }
        }
        write_backup(out, passphrase, &copy, &files)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// A new folder only its owner can enter (a stale one from a crash is removed first).
fn private_dir(path: &Path) -> Result<PathBuf, BackupError> {
    let _ = std::fs::remove_dir_all(path);
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path).map_err(io("cannot make a temporary folder beside the backup"))?;
    Ok(path.to_owned())
}

fn tar_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn write_backup(
    out: &Path,
    passphrase: &str,
    snapshot: &Path,
    files: &[(String, Vec<u8>)],
) -> Result<Contents, BackupError> {
    let tmp = out.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&tmp).map_err(io("cannot create the backup file"))?;
    let written = (|| {
        let encryptor = age::Encryptor::with_user_passphrase(SecretString::from(passphrase.to_owned()));
        let writer = encryptor.wrap_output(std::io::BufWriter::new(file)).map_err(io("cannot write the backup"))?;
        let mut tar = tar::Builder::new(writer);
        let mut contents = Vec::new();
        let db = File::open(snapshot).map_err(io("cannot read the database snapshot"))?;
        let size = db.metadata().map_err(io("cannot read the database snapshot"))?.len();
        let mut h = tar_header(size);
        tar.append_data(&mut h, DB_FILE, BufReader::new(db)).map_err(io("cannot write the backup"))?;
        contents.push((DB_FILE.to_owned(), size));
        for (name, bytes) in files {
            let mut h = tar_header(bytes.len() as u64);
            tar.append_data(&mut h, name, &bytes[..]).map_err(io("cannot write the backup"))?;
            contents.push((name.clone(), bytes.len() as u64));
        }
        let writer = tar.into_inner().map_err(io("cannot write the backup"))?;
        let buffered = writer.finish().map_err(io("cannot write the backup"))?;
        let file = buffered.into_inner().map_err(|e| io("cannot write the backup")(e.into_error()))?;
        file.sync_all().map_err(io("cannot write the backup"))?;
        Ok(Contents { files: contents })
    })();
    match written {
        Ok(contents) => {
            std::fs::rename(&tmp, out).map_err(io("cannot move the backup into place"))?;
            #[cfg(unix)]
            if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io("cannot sync the backup's folder"))?;
            }
            Ok(contents)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The files a backup may hold; anything else in it is refused.
const KNOWN: [&str; 4] = [DB_FILE, KEYS_FILE, CERT_FILE, KEY_FILE];
/// The most a backup's file may hold once decrypted (the database of a big commune is a few
/// hundred megabytes).
const MAX_FILE_BYTES: u64 = 64 << 30;

/// Restores the backup `file` into the data folder `data`, which must hold no database.
/// The folder is made private (0700, files 0600) like the server's own.
pub fn restore(file: &Path, data: &Path, passphrase: &str) -> Result<Contents, BackupError> {
    // An empty database file is what a server started on a missing folder leaves: nothing.
    let db_len = std::fs::metadata(data.join(DB_FILE)).map(|m| m.len()).ok();
    if db_len.is_some_and(|n| n > 0) || data.join(KEYS_FILE).exists() {
        return Err(BackupError::NotEmpty(data.to_owned()));
    }
    if db_len.is_some() {
        std::fs::remove_file(data.join(DB_FILE)).map_err(io("cannot replace the empty database file"))?;
    }
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(data).map_err(io("cannot make the data folder"))?;
    #[cfg(unix)]
    std::fs::set_permissions(data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(io("cannot make the data folder private"))?;
    let input = File::open(file).map_err(io("cannot open the backup"))?;
    let decryptor = age::Decryptor::new_buffered(BufReader::new(input)).map_err(|_| BackupError::CannotOpen)?;
    if !decryptor.is_scrypt() {
        return Err(BackupError::CannotOpen);
    }
    let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    let reader =
        decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|_| BackupError::CannotOpen)?;
    let written = (|| {
        let mut contents = Vec::new();
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(|_| BackupError::Damaged("not a tar"))? {
            let mut entry = entry.map_err(|_| BackupError::Damaged("an entry"))?;
            let name = entry.path().map_err(|_| BackupError::Damaged("a name"))?.to_string_lossy().into_owned();
            let Some(known) = KNOWN.iter().find(|k| **k == name) else {
                return Err(BackupError::Damaged("an unknown file"));
            };
            if entry.header().entry_type() != tar::EntryType::Regular || entry.size() > MAX_FILE_BYTES {
                return Err(BackupError::Damaged("an entry that is not a file"));
            }
            let target = data.join(known);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options.open(&target).map_err(io("cannot write the restored file"))?;
            let n = std::io::copy(&mut (&mut entry).take(MAX_FILE_BYTES), &mut out)
                .map_err(|_| BackupError::Damaged("a file cut short or altered"))?;
            out.sync_all().map_err(io("cannot write the restored file"))?;
            contents.push((name, n));
        }
        for needed in [DB_FILE, KEYS_FILE] {
            if !contents.iter().any(|(n, _)| n == needed) {
                return Err(BackupError::Damaged(if needed == DB_FILE { "no database" } else { "no key file" }));
            }
        }
        Ok(Contents { files: contents })
    })();
    let contents = match written {
        Ok(c) => c,
        Err(e) => {
            for name in KNOWN {
                let _ = std::fs::remove_file(data.join(name));
            }
            return Err(e);
        }
    };
    let ok: String = rusqlite::Connection::open(data.join(DB_FILE))
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .map_err(sql)?;
    if ok != "ok" {
        return Err(BackupError::Integrity);
    }
    // Opened as the server opens it: migrated if older, refused if a key is missing.
    ServerDb::open(data.join(DB_FILE)).map_err(|e| BackupError::Db(super::db_error_kind(&e)))?;
    Ok(contents)
}
