//! The server's store: communes with their reference data, devices and enrolment codes,
//! every record version received, and the change log devices pull from. The keys that
//! open sealed ID numbers and hash them live in their own file ([`super::keys`]), loaded
//! here beside the database, never in it.
//! Each push and erasure also keeps the reports' running totals (`totals::Pending`) in its
//! own transaction, and logs for devices every hamlet whose coverage figure it changed.
//!
//! The parts, each its own `impl ServerDb` block: [`schema`] (the migrations), `devices`
//! (enrolment, tokens, revocation), `push` (push and pull), `records` (the office's records
//! and erasure) and [`totals`]; this file opens the database and holds communes and the change
//! log. The server's SQL lives here and in `accounts`, `reports`, `communes` and `assign`.
//! One SQLite file in the data folder, WAL with
//! `synchronous=FULL`: a push is acknowledged only after its transaction is on disk, so a
//! server killed after answering has kept what it acknowledged.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::compat::{self, PushedHashes};
use crate::domain::citizen_id::CidKey;
use crate::domain::{Body, Commune, ReferenceData};
use crate::keys::{KeyError, ServerKeys};
use crate::protocol::{Applied, Change, DeviceReport, RecordResult, WireRecord};
use crate::push::PushItem;
use totals::{log_coverage, Pending, Share, SHARE_COLUMNS};

pub mod assign;
mod breakdowns;
pub mod communes;
pub(crate) mod coverage_days;
mod devices;
pub mod plan;
mod push;
mod records;
mod schema;
mod totals;
pub mod units;

pub use records::{HistoryRow, RecordFilter, RecordRow};
use schema::MIGRATIONS;

pub(crate) use totals::{helped_by_hamlet, ACTIVITY_SUMS};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
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

/// The schema version that gives communes their province, filled from the list of units.
const PROVINCES_VERSION: usize = 8;

/// How long an erased person's ID hash is kept to recognise records of theirs that a device
/// made before the erasure and sends only later. After that the hash is forgotten too.
pub const REMEMBER_ERASED_DAYS: i64 = 120;

/// The schema version whose migration starts the running totals: once it has run, every
/// hamlet's coverage is logged again by the office's counting rule.
const TOTALS_VERSION: usize = 4;

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
    conn: Mutex<Connection>,
    keys: RwLock<ServerKeys>,
}

/// The key file that goes with a database file: `sotay-server.keys` beside
/// `sotay-server.db`.
pub fn default_keys_path(db: &Path) -> std::path::PathBuf {
    db.with_extension("keys")
}

impl ServerDb {
    /// Opens (or creates) the database, with its key file beside it.
    pub fn open(path: impl AsRef<Path>) -> Result<ServerDb> {
        let keys = default_keys_path(path.as_ref());
        ServerDb::open_with_keys(path, keys)
    }

    /// Opens the database and the key file at `keys`. Keys an older server kept in the
    /// database move to the key file first, then leave the database. A key file is made
    /// only for a database with no commune whose key it would lack: a database whose key
    /// file is missing (restored without it, copied elsewhere) is refused rather than given
    /// new keys that would count every person again.
    pub fn open_with_keys(path: impl AsRef<Path>, keys: impl AsRef<Path>) -> Result<ServerDb> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")?;
        let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > MIGRATIONS.len() as i64 {
            return Err(DbError::TooNew(current));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            if i + 1 == TOTALS_VERSION {
                // Devices were told each hamlet's figure by the old rule (a person in every
                // hamlet they were helped in): tell them every figure that differs.
                let communes: Vec<String> = tx
                    .prepare("SELECT code FROM communes")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for commune in communes {
                    let mut hamlets: BTreeSet<String> = totals::helped_by_hamlet(&tx, &commune)?.into_keys().collect();
                    let mut stmt =
                        tx.prepare("SELECT key FROM change_log WHERE commune = ? AND key LIKE 'coverage:%'")?;
                    for key in stmt.query_map([&commune], |r| r.get::<_, String>(0))? {
                        hamlets.insert(key?["coverage:".len()..].to_owned());
                    }
                    log_coverage(&tx, &commune, &hamlets)?;
                }
            }
            if i + 1 == PROVINCES_VERSION {
                communes::fill_provinces(&tx)?;
            }
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        let legacy: Vec<(String, String, String)> = conn
            .prepare("SELECT code, cid_key_id, cid_key FROM communes ORDER BY code")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut keys = match ServerKeys::load(keys.as_ref())? {
            Some(keys) => keys,
            None if legacy.iter().all(|(_, _, key)| !key.is_empty()) => ServerKeys::create(keys.as_ref())?,
            None => return Err(KeyError::Missing.into()),
        };
        for (code, key_id, key) in legacy {
            match CidKey::from_hex(key_id, &key).filter(|_| !key.is_empty()) {
                Some(key) => keys.adopt(&code, key)?,
                None if keys.cid_key(&code).is_some() => {}
                None => return Err(KeyError::Missing.into()),
            }
        }
        // Only once the key file is safely written do the keys leave the database; with
        // `secure_delete` and a checkpoint their bytes are gone from the file too.
        if conn.execute("UPDATE communes SET cid_key = '' WHERE cid_key != ''", [])? > 0 {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(ServerDb { conn: Mutex::new(conn), keys: RwLock::new(keys) })
    }

    /// Folds the WAL into the database file (before copying the file, say).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
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

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a commune, or replaces its reference data (keeping its hashing key).
    pub fn put_commune(&self, reference: &ReferenceData) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let code = &reference.commune.code;
        let exists: bool = tx.query_row("SELECT COUNT(*) FROM communes WHERE code = ?", [code], |r| r.get(0))?;
        let json = serde_json::to_string(reference)?;
        if exists {
            tx.execute("UPDATE communes SET reference = ? WHERE code = ?", params![json, code])?;
        } else {
            // The commune's hashing key goes to the key file (saved before this commits).
            let key_id = self.keys.write().unwrap_or_else(|p| p.into_inner()).ensure_commune(code)?.id.clone();
            let province = crate::units::unit(code).map(|u| u.province_code).unwrap_or("");
            tx.execute(
                "INSERT INTO communes (code, reference, cid_key_id, cid_key, province) VALUES (?, ?, ?, '', ?)",
                params![code, json, key_id, province],
            )?;
        }
        // A retired hamlet given back to the commune (by id) is in use again.
        tx.execute(
            "DELETE FROM retired_hamlets WHERE commune = ?1
             AND id IN (SELECT json_extract(value, '$.id') FROM json_each(?2, '$.hamlets'))",
            params![code, json],
        )?;
        log_change(&tx, code, "reference", &Change::Reference { reference: reference.clone() })?;
        tx.commit()?;
        Ok(())
    }

    pub fn commune(&self, code: &str) -> Result<ReferenceData> {
        let json: String = self
            .conn()
            .query_row("SELECT reference FROM communes WHERE code = ?", [code], |r| r.get(0))
            .optional()?
            .ok_or(DbError::NoCommune)?;
        Ok(serde_json::from_str(&json)?)
    }

    pub fn communes(&self) -> Result<Vec<Commune>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT reference FROM communes ORDER BY code")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str::<ReferenceData>(&json?)?.commune);
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
        self.conn()
            .query_row("SELECT version, voided, device_id FROM records WHERE id = ?", [id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(Into::into)
    }

    /// Every stored record's id, version and void flag for a commune (tests, reports).
    pub fn record_versions(&self, commune: &str) -> Result<Vec<(Uuid, i64, bool)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, version, voided FROM records WHERE commune = ? ORDER BY id")?;
        let rows = stmt.query_map([commune], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, v, x) = row?;
            out.push((Uuid::parse_str(&id).map_err(|_| DbError::NoDevice)?, v, x));
        }
        Ok(out)
    }

    /// How many history rows the server holds for a commune.
    pub fn history_count(&self, commune: &str) -> Result<i64> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM record_history h JOIN records r ON r.id = h.id WHERE r.commune = ?",
            [commune],
            |r| r.get(0),
        )?)
    }
}

fn log_change(tx: &Connection, commune: &str, key: &str, change: &Change) -> Result<()> {
    log_change_for(tx, commune, None, key, change)
}

/// Logs a change for every device of the commune (`device` = `None`) or for one device only.
pub(super) fn log_change_for(
    tx: &Connection,
    commune: &str,
    device: Option<&str>,
    key: &str,
    change: &Change,
) -> Result<()> {
    // Deleting first and inserting gives the entry a new, higher sequence number.
    tx.execute("DELETE FROM change_log WHERE commune = ? AND key = ?", params![commune, key])?;
    let change = serde_json::to_string(change)?;
    match device {
        // (Without naming the column: an older migration logs changes before it exists.)
        None => {
            tx.execute("INSERT INTO change_log (commune, key, change) VALUES (?, ?, ?)", params![commune, key, change])?
        }
        Some(device) => tx.execute(
            "INSERT INTO change_log (commune, key, change, device) VALUES (?, ?, ?, ?)",
            params![commune, key, change, device],
        )?,
    };
    Ok(())
}
