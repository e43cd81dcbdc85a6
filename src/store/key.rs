//! The store's encryption key and where it is kept.
//!
//! The device store is a SQLCipher file (AES-256, an HMAC on every page). Its key is 32
//! random bytes made once per installation — never derived from a PIN — and kept by a
//! [`KeyStore`]: the platform's key store where there is one (`platform::key_store` picks
//! Android Keystore, the iOS Keychain, or [`KeyFile`] on a desktop). The store only asks a
//! `KeyStore` for the key; it never decides where a key lives.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

/// A store key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey([u8; 32]);

impl DbKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> DbKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        DbKey(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> DbKey {
        DbKey(bytes)
    }

    /// The bytes, for a key store to keep.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The value of SQLCipher's `PRAGMA key` for this raw key (hex only, so nothing to
    /// escape); a raw key skips SQLCipher's password derivation.
    pub fn pragma_value(&self) -> String {
        format!("\"x'{}'\"", hex::encode_upper(self.0))
    }

    /// Unlocks a connection just opened on a store file: gives it this key and the app's
    /// [`CIPHER_SETTINGS`]. Reads nothing yet; a wrong key shows at the first read.
    pub fn unlock(&self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        self.unlock_with_defaults(conn)?;
        for (name, value) in CIPHER_SETTINGS {
            pragma(conn, &format!("PRAGMA {name} = {value}"))?;
        }
        Ok(())
    }

    /// Unlocks with SQLCipher 4's default settings, as the first encrypted version of the
    /// app wrote its store (before [`CIPHER_SETTINGS`]); such a store is converted once.
    pub(crate) fn unlock_with_defaults(&self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        // SQLCipher would print a wrong key's HMAC failures to stderr; the app words them itself.
        pragma(conn, "PRAGMA cipher_log_level = NONE")?;
        pragma(conn, &format!("PRAGMA key = {}", self.pragma_value()))
    }

    /// Attaches `file` to `conn` as `schema`, encrypted with this key and the app's settings.
    pub(crate) fn attach(&self, conn: &rusqlite::Connection, file: &str, schema: &str) -> rusqlite::Result<()> {
        let file = file.replace('\'', "''");
        conn.execute_batch(&format!("ATTACH DATABASE '{file}' AS {schema} KEY {};", self.pragma_value()))?;
        for (name, value) in CIPHER_SETTINGS {
            pragma(conn, &format!("PRAGMA {schema}.{name} = {value}"))?;
        }
        Ok(())
    }
}

/// SQLCipher settings of the app's stores beyond SQLCipher 4's defaults (AES-256-CBC, a
/// random IV per page, PBKDF2-HMAC-SHA512 and HMAC-SHA512 page authentication).
///
/// Pages are authenticated with HMAC-SHA256 instead of HMAC-SHA512: as strong a check
/// against tampering, and faster where it matters. ARMv8 phones have SHA-256 instructions
/// (the SHA-512 ones are optional and rare on budget chips), and so do recent x86 chips;
/// on this dev machine it cut the save's extra cost for encryption by about a third
/// (README, "Benchmarks"). A raw key skips the KDF, so its algorithm does not matter.
pub const CIPHER_SETTINGS: &[(&str, &str)] = &[("cipher_hmac_algorithm", "HMAC_SHA256")];

/// Runs a pragma that may or may not answer with a row (SQLCipher's answer "ok" to some).
pub(super) fn pragma(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    use rusqlite::OptionalExtension;
    conn.query_row(sql, [], |_| Ok(())).optional().map(|_| ())
}

impl fmt::Debug for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbKey(…)")
    }
}

impl Drop for DbKey {
    fn drop(&mut self) {
        // Best effort: the bytes do not outlive the key in this struct.
        self.0 = [0; 32];
    }
}

/// Why a key could not be read or kept. Never carries the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key store cannot be read")]
    Unreadable,
    #[error("the key store cannot be written")]
    Unwritable,
    #[error("the stored key is damaged")]
    Damaged,
}

/// Keeps the one store key of an installation.
pub trait KeyStore: Send + Sync {
    /// The key, or `None` if none was ever kept.
    fn load(&self) -> Result<Option<DbKey>, KeyError>;
    /// Keeps `key` durably. Called once, before anything is encrypted with it.
    fn save(&self, key: &DbKey) -> Result<(), KeyError>;
}

/// A key in a file only its owner may read (mode 0600 on Unix): the desktop's key store,
/// and the test suite's. Written by [`write_private_file`], so a crash or a power cut
/// leaves either no key file or a whole one.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    pub fn new(path: impl Into<PathBuf>) -> KeyFile {
        KeyFile { path: path.into() }
    }

    /// The key file kept next to a store file: `sotay.db` → `sotay.db.key`.
    pub fn beside(db_path: &Path) -> KeyFile {
        let mut name = db_path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".key");
        KeyFile::new(db_path.with_file_name(name))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl KeyStore for KeyFile {
    fn load(&self) -> Result<Option<DbKey>, KeyError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Damaged)?;
                let raw = hex::decode(text.trim()).map_err(|_| KeyError::Damaged)?;
                let bytes: [u8; 32] = raw.try_into().map_err(|_| KeyError::Damaged)?;
                Ok(Some(DbKey(bytes)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(_) => Err(KeyError::Unreadable),
        }
    }

    fn save(&self, key: &DbKey) -> Result<(), KeyError> {
        write_private_file(&self.path, hex::encode(key.0).as_bytes())
    }
}

/// Writes `bytes` to the file at `path` so that a crash or a power cut leaves either the
/// file as it was or the new one whole, readable by its owner only (mode 0600 on Unix). The
/// key files of every platform are written this way.
///
/// The bytes go to a temporary file beside it (`path` + `.tmp`) that is created afresh:
/// one already there (left by a crash, or put there by someone else: a link, or a file
/// others may read) is removed, never written through, and the new one has mode 0600 from
/// its creation, so the key is never readable by others, not even for a moment. It is
/// synced, renamed over `path`, and then the folder is synced: until the folder's entry is
/// on disk, a power cut can undo the rename, and the store would survive its key.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return Err(KeyError::Unwritable),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|_| KeyError::Unwritable)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if written.is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return Err(KeyError::Unwritable);
    }
    sync_folder(path)
}

/// Syncs the folder that holds `path`, which makes a rename into it durable.
pub(crate) fn sync_folder(path: &Path) -> Result<(), KeyError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if cfg!(unix) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|_| KeyError::Unwritable)
    } else {
        // Windows cannot open a folder as a file to flush it: best effort there.
        Ok(())
    }
}

/// A key held in memory only: for tests that need a key store that is not a file.
#[derive(Debug, Default)]
pub struct MemoryKey(std::sync::Mutex<Option<DbKey>>);

impl MemoryKey {
    pub fn with(key: DbKey) -> MemoryKey {
        MemoryKey(std::sync::Mutex::new(Some(key)))
    }
}

impl KeyStore for MemoryKey {
    fn load(&self) -> Result<Option<DbKey>, KeyError> {
        Ok(self.0.lock().map_err(|_| KeyError::Unreadable)?.clone())
    }

    fn save(&self, key: &DbKey) -> Result<(), KeyError> {
        *self.0.lock().map_err(|_| KeyError::Unwritable)? = Some(key.clone());
        Ok(())
    }
}
