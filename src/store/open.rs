//! Opening the store: the key from the platform's `KeyStore`, the one-time encryption of a
//! plain store (or one under SQLCipher's old defaults) exported beside it and renamed over it,
//! wrong-key and missing-key detection that changes nothing, the migrations, and the
//! device's own identity made once.

use super::*;

impl Store {
    /// Opens (creating if needed) the store at `path` with the system clock, its key in a
    /// [`KeyFile`] beside it (the desktop's way; the app asks `platform::key_store`).
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with_clock(path, Arc::new(Utc::now))
    }

    /// [`Store::open`] with an injected clock.
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Clock) -> Result<Store> {
        let keys = KeyFile::beside(path.as_ref());
        Store::open_with_keys(path, &keys, clock)
    }

    /// Opens (creating if needed) the encrypted store at `path` with the key `keys` holds.
    ///
    /// A new installation gets a fresh random key, kept before anything is written with it.
    /// A store file from before encryption is encrypted in place first. An encrypted file
    /// whose key is missing or wrong is an error that leaves the file untouched.
    pub fn open_with_keys(path: impl AsRef<Path>, keys: &dyn KeyStore, clock: Clock) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && std::fs::create_dir_all(dir).is_err() {
                return Err(StoreError::CannotOpen);
            }
        }
        let state = file_state(&path)?;
        let key = match (keys.load()?, state) {
            (Some(key), _) => key,
            (None, FileState::Encrypted) if !whole_pages(&path) => return Err(StoreError::Corrupt),
            (None, FileState::Encrypted) => return Err(StoreError::KeyUnavailable(key::KeyError::Unreadable)),
            (None, FileState::Missing | FileState::Plain) => {
                let key = DbKey::generate();
                keys.save(&key)?;
                key
            }
        };
        if state == FileState::Plain {
            reencrypt(&path, &key, Source::Plain)?;
        }
        let conn = open_keyed(&path, &key)?;
        Store::finish_open(conn, path, clock)
    }

    /// Opens a store WITHOUT encryption. Only the store benchmark uses it, to measure what
    /// encryption costs against the same work on a plain file; the app never does.
    #[doc(hidden)]
    pub fn open_unencrypted_for_benchmarks(path: impl AsRef<Path>, clock: Clock) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        Store::finish_open(conn, path, clock)
    }

    pub(super) fn finish_open(mut conn: Connection, path: PathBuf, clock: Clock) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(3))?;
        // journal_mode answers with a row, so it is read rather than executed.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!("journal mode {mode}")));
        }
        // secure_delete overwrites freed pages, so an erased name does not linger in the file.
        // A 64 MiB page cache (SQLite's default is 2 MiB) keeps the list's index decrypted
        // in memory between queries: every page read from the file costs an AES decryption
        // and an HMAC check.
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA secure_delete = ON;
             PRAGMA cache_size = -65536;",
        )?;
        migrate(&mut conn)?;
        let store = Store { conn: Mutex::new(conn), path, clock, labels: Vec::new() };
        store.ensure_device_identity()?;
        Ok(store)
    }

    /// Caps the file at `pages` pages, so tests can meet a full disk (SQLITE_FULL) for real.
    #[doc(hidden)]
    pub fn limit_size_for_tests(&self, pages: u32) -> Result<()> {
        self.conn().query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        Ok(())
    }

    pub(super) fn ensure_device_identity(&self) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if get_setting(&tx, "device_id")?.is_none() {
            set_setting(&tx, "device_id", &Uuid::now_v7().to_string())?;
        }
        // The hashing key is this device's own. A device enrolled by an older version was
        // given its commune's key: it leaves the device (the server hashes for the commune).
        let commune_key = get_setting(&tx, "cid_key_id")?.is_some_and(|id| id.starts_with("commune:"));
        if get_setting(&tx, "cid_key")?.is_none() || commune_key {
            let key = CidKey::generate_device_key();
            set_setting(&tx, "cid_key_id", &key.id)?;
            set_setting(&tx, "cid_key", &key.to_hex())?;
        }
        if get_setting(&tx, "commune")?.is_none() {
            write_reference(&tx, &sample_reference())?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// What is at a store path before it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileState {
    /// No file, or an empty one: a new store.
    Missing,
    /// A plain SQLite file (from before encryption).
    Plain,
    /// Anything else: an encrypted store (or a damaged file, which the key will not open).
    Encrypted,
}

pub(super) const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

pub(super) fn file_state(path: &Path) -> Result<FileState> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(_) => return Err(StoreError::CannotOpen),
    };
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(_) => return Err(StoreError::CannotOpen),
        }
    }
    Ok(match read {
        0 => FileState::Missing,
        16 if &head == SQLITE_HEADER => FileState::Plain,
        _ => FileState::Encrypted,
    })
}

/// An encrypted store is whole 4096-byte pages; a file that is not cannot be one (a photo
/// saved under the store's name, say), whatever the key.
pub(super) fn whole_pages(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.len() % 4096 == 0).unwrap_or(false)
}

pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens an encrypted store file with `key`, and proves the key right by reading the schema.
pub(super) fn open_keyed(path: &Path, key: &DbKey) -> Result<Connection> {
    let conn = Connection::open(path)?;
    key.unlock(&conn)?;
    match check_readable(&conn, path) {
        Ok(()) => Ok(conn),
        // Perhaps a store written with SQLCipher's default settings, before the app chose
        // its own (`key::CIPHER_SETTINGS`): if the key opens it that way, it is converted
        // once, in place; otherwise the key is wrong.
        Err(StoreError::WrongKey) => {
            drop(conn);
            let legacy = Connection::open(path)?;
            key.unlock_with_defaults(&legacy)?;
            check_readable(&legacy, path)?;
            drop(legacy);
            reencrypt(path, key, Source::DefaultSettings)?;
            let conn = Connection::open(path)?;
            key.unlock(&conn)?;
            check_readable(&conn, path)?;
            Ok(conn)
        }
        Err(e) => Err(e),
    }
}

/// Reads the schema through `conn`: a wrong key (or settings) shows here as
/// [`StoreError::WrongKey`], a damaged file as [`StoreError::Corrupt`].
pub(super) fn check_readable(conn: &Connection, path: &Path) -> Result<()> {
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            Err(if whole_pages(path) { StoreError::WrongKey } else { StoreError::Corrupt })
        }
        Err(e) => Err(e.into()),
    }
}

/// What [`reencrypt`] starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// A plain SQLite file from before encryption.
    Plain,
    /// A file encrypted with the key under SQLCipher's default settings.
    DefaultSettings,
}

/// Encrypts a store file with the key and the app's settings, once, without a moment when
/// a crash could lose it: a plain file from before encryption, or one encrypted with
/// SQLCipher's default settings. The file's WAL is folded in, everything is exported to an
/// encrypted file beside it, which is synced and then renamed over the old one. Until that
/// rename the old file is untouched (a crash means the next start does it again); after it,
/// the old file's bytes are overwritten through a handle still open on them, best effort (on
/// flash storage the controller may keep old blocks; that is what encryption from the first
/// start avoids).
pub(super) fn reencrypt(path: &Path, key: &DbKey, from: Source) -> Result<()> {
    let tmp = sibling(path, ".encrypting");
    let _ = std::fs::remove_file(&tmp);
    {
        let conn = Connection::open(path)?;
        if from == Source::DefaultSettings {
            key.unlock_with_defaults(&conn)?;
        }
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        key.attach(&conn, tmp.to_str().ok_or(StoreError::CannotOpen)?, "encrypted")?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        conn.execute_batch(&format!("PRAGMA encrypted.user_version = {version}; DETACH DATABASE encrypted;"))?;
    }
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|_| StoreError::CannotOpen)?;
    // The plain file's bytes, to overwrite once the encrypted copy has taken its name.
    let old = std::fs::OpenOptions::new().write(true).open(path).ok();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling(path, suffix));
    }
    std::fs::rename(&tmp, path).map_err(|_| StoreError::CannotOpen)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    if let Some(mut old) = old {
        use std::io::Write;
        if let Ok(meta) = old.metadata() {
            let zeros = vec![0u8; 64 * 1024];
            let mut left = meta.len();
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                if old.write_all(&zeros[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = old.sync_all();
        }
    }
    Ok(())
}
