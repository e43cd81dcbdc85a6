//! The server's store: communes with their reference data, devices and enrolment codes,
//! every record version received, and the change log devices pull from. The keys that
//! open sealed ID numbers and hash them live in their own file ([`super::keys`]), loaded
//! here beside the database, never in it.
//! Each push and erasure also keeps the reports' running totals (`pending::Pending`) in its
//! own transaction, and logs for devices every hamlet whose coverage figure it changed.
//!
//! The parts, each its own `impl ServerDb` block: [`schema`] (the migrations), `devices`
//! (enrolment, tokens, revocation), `push` (push and pull), `records` (the office's records
//! and erasure) and [`totals`]; this file opens the database and holds communes and the change
//! log. The server's SQL lives here and in `accounts`, `reports`, `communes` and `assign`.
//! One SQLite file in the data folder, WAL with
//! `synchronous=FULL`: a push is acknowledged only after its transaction is on disk, so a
//! server killed after answering has kept what it acknowledged.

use std::path::Path;
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::compat::{self, PushedHashes};
use crate::domain::citizen_id::CidKey;
use crate::domain::{Body, Commune, ReferenceData};
use crate::keys::{KeyError, ServerKeys};
use crate::protocol::{Applied, Change, DeviceReport, RecordResult, WireRecord};
use crate::push::PushItem;
use pending::Pending;
use sql::{params, Conn};
use totals::{log_coverage, Share};

pub mod assign;
mod breakdowns;
pub mod communes;
pub(crate) mod coverage_days;
mod devices;
mod known;
mod many;
mod moving;
mod pending;
pub mod pg_schema;
pub mod plan;
pub mod postgres;
mod push;
mod records;
mod schema;
pub mod sql;
pub mod sqlite;
mod totals;
pub mod units;
pub mod value;

pub use moving::Moved;
pub use postgres::PoolOptions;
pub use records::{HistoryRow, RecordFilter, RecordRow};

pub(crate) use totals::{helped_by_hamlet, ACTIVITY_SUMS};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// PostgreSQL's error; shown by its SQLSTATE code only, as its text can quote a value.
    #[error("database error: PostgreSQL {}", pg_code(.0))]
    Pg(#[from] tokio_postgres::Error),
    /// Every connection to PostgreSQL is in use; try again in a moment.
    #[error("the database is busy")]
    Busy,
    /// PostgreSQL cannot be reached.
    #[error("the database cannot be reached")]
    Unavailable,
    #[error("a query found no row")]
    NoRow,
    #[error("column {0} does not hold {1}")]
    Column(usize, &'static str),
    #[error("stored data could not be read: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("no such commune")]
    NoCommune,
    #[error("no such device")]
    NoDevice,
    #[error("the database was made by a newer server (schema {0})")]
    TooNew(i64),
    #[error("the period ends before it starts")]
    BadPeriod,
    #[error("password hashing failed")]
    Hash,
    #[error("server keys: {0}")]
    Keys(#[from] KeyError),
    #[error("no such volunteer in the commune")]
    NoVolunteer,
    /// A command refused for a reason the operator can act on (worded for them; no data).
    #[error("{0}")]
    Refused(String),
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// PostgreSQL's SQLSTATE code for an error, or what kind of failure it was.
pub fn pg_code(e: &tokio_postgres::Error) -> String {
    match e.code() {
        Some(code) => code.code().to_owned(),
        None if e.is_closed() => "connection closed".into(),
        None => "connection error".into(),
    }
}

/// How long an erased person's ID hash is kept to recognise records of theirs that a device
/// made before the erasure and sends only later. After that the hash is forgotten too.
pub const REMEMBER_ERASED_DAYS: i64 = 120;

fn now_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// SHA-256 of an enrolment code as typed (case, spaces and dashes ignored), hex. Codes are
/// random, one-time and expiring; passwords (office accounts) will use argon2.
pub fn code_hash(code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// SHA-256 of a bearer token, hex: 256 random bits need no slow hash.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A device as the server knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub commune: String,
    pub name: String,
    pub revoked: bool,
    pub last_seen: Option<String>,
    pub queued: Option<i64>,
}

/// A fresh enrolment: what the device receives.
pub struct Enrolled {
    pub device_id: String,
    pub token: String,
    /// The server's public key for sealing ID numbers, hex.
    pub seal_key: String,
    pub reference: ReferenceData,
}

/// Letters that cannot be misread for each other when typed from paper (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A fresh one-time code as a person types it: eight letters of [`CODE_ALPHABET`]
/// (about 40 bits), `ABCD-EFGH`.
pub(super) fn random_code() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let letters: String = (0..8).map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char).collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

pub struct ServerDb {
    backend: Backend,
    keys: RwLock<ServerKeys>,
    /// On PostgreSQL, one lock per commune taken before a connection: a writer waiting for
    /// its commune's turn waits here, holding no connection the other communes need.
    commune_turns: Mutex<std::collections::HashMap<String, std::sync::Arc<Mutex<()>>>>,
}

/// The store behind a [`ServerDb`]: one SQLite file, or a PostgreSQL database.
enum Backend {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(postgres::PgStore),
}

/// The key file that goes with a database file: `sotay-server.keys` beside
/// `sotay-server.db`.
pub fn default_keys_path(db: &Path) -> std::path::PathBuf {
    db.with_extension("keys")
}

/// How many times a PostgreSQL transaction that met a serialization failure or a deadlock
/// is tried again before the error is returned.
const RETRIES: u32 = 5;

impl ServerDb {
    /// Opens (or creates) the SQLite database, with its key file beside it.
    pub fn open(path: impl AsRef<Path>) -> Result<ServerDb> {
        let keys = default_keys_path(path.as_ref());
        ServerDb::open_with_keys(path, keys)
    }

    /// Opens the SQLite database and the key file at `keys`. Keys an older server kept in
    /// the database move to the key file first, then leave the database (see
    /// [`ServerDb::attach_keys`]).
    pub fn open_with_keys(path: impl AsRef<Path>, keys: impl AsRef<Path>) -> Result<ServerDb> {
        let conn = schema::open(path.as_ref())?;
        let (keys, moved) = attach_keys(&Conn::lite(&conn), keys.as_ref())?;
        if moved {
            // Once the keys have left the database, a checkpoint takes their bytes out of the WAL.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(ServerDb {
            backend: Backend::Sqlite(Mutex::new(conn)),
            keys: RwLock::new(keys),
            commune_turns: Default::default(),
        })
    }

    /// Opens (and brings up to date) the PostgreSQL database at `url`, with the key file at
    /// `keys`.
    pub fn open_postgres(url: &str, keys: impl AsRef<Path>, pool: PoolOptions) -> Result<ServerDb> {
        let store = postgres::PgStore::connect(url, pool)?;
        let conn = store.conn()?;
        pg_schema::migrate(&Conn::pg(&conn))?;
        let (keys, _) = attach_keys(&Conn::pg(&conn), keys.as_ref())?;
        drop(conn);
        Ok(ServerDb { backend: Backend::Postgres(store), keys: RwLock::new(keys), commune_turns: Default::default() })
    }

    /// Which engine holds the data.
    pub fn engine(&self) -> sql::Engine {
        match self.backend {
            Backend::Sqlite(_) => sql::Engine::Sqlite,
            Backend::Postgres(_) => sql::Engine::Postgres,
        }
    }

    /// The PostgreSQL pool's size and free connections (`None` on SQLite).
    pub fn pool_status(&self) -> Option<(usize, usize)> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p.pool_status()),
        }
    }

    /// Runs `f` on a connection, outside any transaction: for reads.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(m) => f(&Conn::lite(&m.lock().unwrap_or_else(|p| p.into_inner()))),
            Backend::Postgres(p) => f(&Conn::pg(&p.conn()?)),
        }
    }

    /// Runs `f` in one transaction, committed if it succeeds and undone if it fails.
    pub(crate) fn write<T>(&self, f: impl FnMut(&Conn) -> Result<T>) -> Result<T> {
        self.transaction(None, f)
    }

    /// Runs `f` in one transaction that changes commune `commune`'s data: on PostgreSQL the
    /// commune's row is locked first, so the commune's writers take turns (as SQLite's one
    /// writer does) and its change log is numbered in commit order.
    pub(crate) fn write_in<T>(&self, commune: &str, f: impl FnMut(&Conn) -> Result<T>) -> Result<T> {
        self.transaction(Some(commune), f)
    }

    fn transaction<T>(&self, commune: Option<&str>, mut f: impl FnMut(&Conn) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(m) => {
                let mut conn = m.lock().unwrap_or_else(|p| p.into_inner());
                let tx = conn.transaction()?;
                let out = f(&Conn::lite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres(p) => {
                let turn = commune.map(|code| {
                    let mut turns = self.commune_turns.lock().unwrap_or_else(|p| p.into_inner());
                    turns.entry(code.to_owned()).or_default().clone()
                });
                let _turn = turn.as_ref().map(|t| t.lock().unwrap_or_else(|p| p.into_inner()));
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let pg = p.conn()?;
                    let conn = Conn::pg(&pg);
                    let result = conn.batch("BEGIN").and_then(|()| {
                        if let Some(code) = commune {
                            conn.query_opt("SELECT 1 FROM communes WHERE code = ? FOR UPDATE", [code], |_| Ok(()))?;
                        }
                        let out = f(&conn)?;
                        conn.batch("COMMIT")?;
                        Ok(out)
                    });
                    match result {
                        Ok(out) => return Ok(out),
                        Err(e) => {
                            // (After a failed COMMIT there is nothing left to roll back.)
                            let _ = conn.batch("ROLLBACK");
                            if attempt < RETRIES && postgres::retryable(&e) {
                                // A blocking thread (never the UI's or an async worker's):
                                // the store runs only there.
                                #[allow(clippy::disallowed_methods)]
                                std::thread::sleep(std::time::Duration::from_millis(5 << attempt));
                                continue;
                            }
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// Folds SQLite's WAL into the database file (before copying the file, say); nothing to
    /// do on PostgreSQL.
    pub fn checkpoint(&self) -> Result<()> {
        if let Backend::Sqlite(m) = &self.backend {
            m.lock().unwrap_or_else(|p| p.into_inner()).query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// The SQLite connection, for what only SQLite does (its online backup); `None` on
    /// PostgreSQL.
    pub(crate) fn sqlite(&self) -> Option<std::sync::MutexGuard<'_, rusqlite::Connection>> {
        match &self.backend {
            Backend::Sqlite(m) => Some(m.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres(_) => None,
        }
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, ServerKeys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the key file is (the command line prints it for backups).
    pub fn keys_path(&self) -> std::path::PathBuf {
        self.keys().path().to_owned()
    }

    /// The keys, to change (a commune's key given or forgotten).
    pub(super) fn keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, ServerKeys> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a commune, or replaces its reference data (keeping its hashing key).
    pub fn put_commune(&self, reference: &ReferenceData) -> Result<()> {
        let code = &reference.commune.code;
        let json = serde_json::to_string(reference)?;
        self.write(|tx| {
            let exists: bool = tx.one("SELECT COUNT(*) FROM communes WHERE code = ?", [code])?;
            if exists {
                tx.execute("UPDATE communes SET reference = ? WHERE code = ?", params![json, code])?;
            } else {
                // The commune's hashing key goes to the key file (saved before this commits).
                let key_id = self.keys_mut().ensure_commune(code)?.id.clone();
                let province = crate::units::unit(code).map(|u| u.province_code).unwrap_or("");
                tx.execute(
                    "INSERT INTO communes (code, reference, cid_key_id, cid_key, province) VALUES (?, ?, ?, '', ?)",
                    params![code, json, key_id, province],
                )?;
            }
            // A retired hamlet given back to the commune (by id) is in use again.
            tx.execute(tx.sql().unretire_hamlets, params![code, json])?;
            log_change(tx, code, "reference", &Change::Reference { reference: reference.clone() })
        })
    }

    pub fn commune(&self, code: &str) -> Result<ReferenceData> {
        let json: String = self
            .read(|c| c.query_opt("SELECT reference FROM communes WHERE code = ?", [code], |r| r.get(0)))?
            .ok_or(DbError::NoCommune)?;
        Ok(serde_json::from_str(&json)?)
    }

    pub fn communes(&self) -> Result<Vec<Commune>> {
        let rows: Vec<String> =
            self.read(|c| c.query_map("SELECT reference FROM communes ORDER BY code", (), |r| r.get(0)))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str::<ReferenceData>(&json)?.commune);
        }
        Ok(out)
    }

    /// The commune's citizen-ID hashing key (for the office's erasure lookup).
    pub fn cid_key(&self, commune: &str) -> Result<CidKey> {
        self.commune(commune)?;
        self.keys().cid_key(commune).cloned().ok_or(DbError::NoCommune)
    }

    /// The stored version of a record, if any: (version, voided, device).
    pub fn record_version(&self, id: Uuid) -> Result<Option<(i64, bool, String)>> {
        self.read(|c| {
            c.query_opt("SELECT version, voided, device_id FROM records WHERE id = ?", [id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
    }

    /// Every stored record's id, version and void flag for a commune (tests, reports).
    pub fn record_versions(&self, commune: &str) -> Result<Vec<(Uuid, i64, bool)>> {
        let rows: Vec<(String, i64, bool)> = self.read(|c| {
            c.query_map("SELECT id, version, voided FROM records WHERE commune = ? ORDER BY id", [commune], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })?;
        rows.into_iter().map(|(id, v, x)| Ok((Uuid::parse_str(&id).map_err(|_| DbError::NoDevice)?, v, x))).collect()
    }

    /// How many history rows the server holds for a commune.
    pub fn history_count(&self, commune: &str) -> Result<i64> {
        self.read(|c| {
            c.one("SELECT COUNT(*) FROM record_history h JOIN records r ON r.id = h.id WHERE r.commune = ?", [commune])
        })
    }
}

/// The key file at `path`, with any key an older server kept in the database moved into
/// it first; then the database forgets them. A key file is made only for a database with
/// no commune whose key it would lack: a database whose key file is missing (restored
/// without it, copied elsewhere) is refused rather than given new keys that would count
/// every person again. Says too whether any key left the database just now.
fn attach_keys(conn: &Conn, path: &Path) -> Result<(ServerKeys, bool)> {
    let legacy: Vec<(String, String, String)> =
        conn.query_map("SELECT code, cid_key_id, cid_key FROM communes ORDER BY code", (), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let mut keys = match ServerKeys::load(path)? {
        Some(keys) => keys,
        None if legacy.iter().all(|(_, _, key)| !key.is_empty()) => ServerKeys::create(path)?,
        None => return Err(KeyError::Missing.into()),
    };
    for (code, key_id, key) in legacy {
        match CidKey::from_hex(key_id, &key).filter(|_| !key.is_empty()) {
            Some(key) => keys.adopt(&code, key)?,
            None if keys.cid_key(&code).is_some() => {}
            None => return Err(KeyError::Missing.into()),
        }
    }
    // Only once the key file is safely written do the keys leave the database.
    let moved = conn.execute("UPDATE communes SET cid_key = '' WHERE cid_key != ''", ())? > 0;
    Ok((keys, moved))
}

fn log_change(tx: &Conn, commune: &str, key: &str, change: &Change) -> Result<()> {
    log_change_for(tx, commune, None, key, change)
}

/// Logs a change for every device of the commune (`device` = `None`) or for one device only.
pub(super) fn log_change_for(tx: &Conn, commune: &str, device: Option<&str>, key: &str, change: &Change) -> Result<()> {
    log_changes_for(tx, commune, device, &[(key.to_owned(), serde_json::to_string(change)?)])
}

/// Logs changes (key, the change as JSON; each key once) for every device of the commune
/// (`device` = `None`) or for one device only, numbered in the order given. Each commune
/// numbers its own changes from its counter in `change_counters`: taking numbers locks the
/// counter's row until the transaction ends, so a number is never seen before every smaller
/// one of the commune is committed (a device's cursor skips nothing).
pub(super) fn log_changes_for(
    tx: &Conn,
    commune: &str,
    device: Option<&str>,
    changes: &[(String, String)],
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let text = |v: &str| sql::Value::Text(v.to_owned());
    // Deleting first and inserting gives each entry a new, higher sequence number.
    many::execute_rows(
        tx,
        ["DELETE FROM change_log WHERE key IN (", "?", ") AND commune = ?"],
        1,
        changes.iter().map(|(key, _)| text(key)).collect(),
        &[text(commune)],
    )?;
    let n = changes.len() as i64;
    let last: i64 = tx.one(
        "INSERT INTO change_counters (commune, seq) VALUES (?, ?)
             ON CONFLICT (commune) DO UPDATE SET seq = change_counters.seq + excluded.seq RETURNING seq",
        params![commune, n],
    )?;
    let device = device.map_or(sql::Value::Null, text);
    let rows = changes
        .iter()
        .zip(last - n + 1..)
        .flat_map(|((key, change), seq)| [text(commune), sql::Value::Int(seq), text(key), text(change), device.clone()])
        .collect();
    many::execute_rows(
        tx,
        ["INSERT INTO change_log (commune, seq, key, change, device) VALUES", &many::row_of(5), ""],
        5,
        rows,
        &[],
    )
}
