//! The server's store: communes with their reference data, devices and enrolment codes,
//! every record version received, and the change log devices pull from. The keys that
//! open sealed ID numbers and hash them live in their own file ([`super::keys`]), loaded
//! here beside the database, never in it.
//! Each push and erasure also keeps the reports' running totals (`totals::Pending`) in its
//! own transaction, and logs for devices every hamlet whose coverage figure it changed.
//!
//! The server's SQL lives here (with the running totals in [`totals`]) and in `accounts` and `reports`. One SQLite file in the data folder, WAL with
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

mod totals;

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

const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE communes (
        code        TEXT PRIMARY KEY,
        reference   TEXT NOT NULL,
        cid_key_id  TEXT NOT NULL,
        cid_key     TEXT NOT NULL
    ) STRICT;

    CREATE TABLE devices (
        id            TEXT PRIMARY KEY,
        commune       TEXT NOT NULL REFERENCES communes (code),
        name          TEXT NOT NULL,
        token_hash    TEXT NOT NULL UNIQUE,
        enrolled_at   TEXT NOT NULL,
        revoked_at    TEXT,
        last_seen     TEXT,
        queued        INTEGER,
        app_version   TEXT
    ) STRICT;

    CREATE TABLE enrol_codes (
        code_hash   TEXT PRIMARY KEY,
        commune     TEXT NOT NULL REFERENCES communes (code),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        used_by     TEXT
    ) STRICT;

    CREATE TABLE records (
        id            TEXT PRIMARY KEY,
        commune       TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        kind          TEXT NOT NULL,
        hamlet_id     TEXT NOT NULL,
        volunteer_id  TEXT NOT NULL,
        occurred_at   TEXT NOT NULL,
        saved_at      TEXT NOT NULL,
        received_at   TEXT NOT NULL,
        version       INTEGER NOT NULL,
        voided        INTEGER NOT NULL,
        void_reason   TEXT,
        body          TEXT NOT NULL,
        person_times  INTEGER NOT NULL,
        signed        INTEGER NOT NULL,
        person_key    TEXT
    ) STRICT;
    CREATE INDEX records_signed ON records (commune, hamlet_id, person_key) WHERE signed = 1 AND voided = 0;
    CREATE INDEX records_by_time ON records (commune, occurred_at);

    CREATE TABLE record_history (
        id           TEXT NOT NULL,
        version      INTEGER NOT NULL,
        device_id    TEXT NOT NULL,
        received_at  TEXT NOT NULL,
        voided       INTEGER NOT NULL,
        record       TEXT NOT NULL,
        PRIMARY KEY (id, version)
    ) STRICT;

    -- What devices pull, in commit order. Only the newest coverage entry per hamlet and
    -- the newest reference entry per commune are kept: a device that missed the older ones
    -- needs only the newest.
    CREATE TABLE change_log (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        commune  TEXT NOT NULL,
        key      TEXT NOT NULL,
        change   TEXT NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX change_log_key ON change_log (commune, key);
"#,
    // 2: the fields reports count, as columns (reading them out of JSON for a million records
    // is too slow), office accounts, sessions and the audit log.
    r#"
    ALTER TABLE records ADD COLUMN outcome TEXT;
    ALTER TABLE records ADD COLUMN failure_reason TEXT;
    ALTER TABLE records ADD COLUMN women INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN minority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN channel TEXT;
    ALTER TABLE records ADD COLUMN quantity INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN reach INTEGER NOT NULL DEFAULT 0;
    UPDATE records SET
        outcome = json_extract(body, '$.outcome'),
        failure_reason = json_extract(body, '$.failure_reason'),
        women = COALESCE(json_extract(body, '$.women'), 0),
        minority = COALESCE(json_extract(body, '$.ethnic_minority'), 0),
        channel = json_extract(body, '$.channel'),
        quantity = COALESCE(json_extract(body, '$.quantity'), 0),
        reach = COALESCE(json_extract(body, '$.reach'), 0);
    CREATE INDEX records_people ON records (commune, person_key, occurred_at, id) WHERE signed = 1 AND voided = 0;
    CREATE INDEX records_by_kind ON records (commune, kind, occurred_at);

    CREATE TABLE accounts (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        commune       TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until  TEXT
    ) STRICT;

    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username   TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
        csrf       TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE audit_log (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        username TEXT NOT NULL,
        commune  TEXT NOT NULL,
        action   TEXT NOT NULL,
        detail   TEXT NOT NULL
    ) STRICT;
"#,
    // 3: the coverage report's first-session query answered from the index alone.
    r#"
    DROP INDEX records_people;
    CREATE INDEX records_people ON records (commune, person_key, occurred_at, id, hamlet_id) WHERE signed = 1 AND voided = 0;
"#,
    // 4: running totals for the reports, kept by every push and erasure in its own
    // transaction (see `reports`), backfilled here from the records. Coverage is counted by
    // the office's rule (a person in the hamlet of their first successful session), so the
    // old per-hamlet index is no longer needed.
    r#"
    CREATE TABLE people (
        id          INTEGER PRIMARY KEY,
        commune     TEXT NOT NULL,
        person_key  TEXT NOT NULL,
        UNIQUE (commune, person_key)
    ) STRICT;

    CREATE TABLE activity_days (
        commune             TEXT NOT NULL,
        dim                 TEXT NOT NULL,
        key                 TEXT NOT NULL,
        day                 TEXT NOT NULL,
        records             INTEGER NOT NULL,
        visits              INTEGER NOT NULL,
        visit_people        INTEGER NOT NULL,
        signature_sessions  INTEGER NOT NULL,
        signed              INTEGER NOT NULL,
        not_completed       INTEGER NOT NULL,
        trainings           INTEGER NOT NULL,
        attendance          INTEGER NOT NULL,
        women               INTEGER NOT NULL,
        minority            INTEGER NOT NULL,
        outreach            INTEGER NOT NULL,
        person_times        INTEGER NOT NULL,
        no_key              INTEGER NOT NULL,
        PRIMARY KEY (commune, dim, key, day)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE activity_choices (
        commune         TEXT NOT NULL,
        day             TEXT NOT NULL,
        kind            TEXT NOT NULL,
        outcome         TEXT NOT NULL,
        failure_reason  TEXT NOT NULL,
        channel         TEXT NOT NULL,
        records         INTEGER NOT NULL,
        signed          INTEGER NOT NULL,
        quantity        INTEGER NOT NULL,
        reach           INTEGER NOT NULL,
        PRIMARY KEY (commune, day, kind, outcome, failure_reason, channel)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE people_days (
        commune       TEXT NOT NULL,
        day           TEXT NOT NULL,
        person        INTEGER NOT NULL,
        hamlet_id     TEXT NOT NULL,
        volunteer_id  TEXT NOT NULL,
        sessions      INTEGER NOT NULL,
        PRIMARY KEY (commune, day, person, hamlet_id, volunteer_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE coverage_people (
        person     INTEGER PRIMARY KEY,
        hamlet_id  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE coverage_hamlets (
        commune    TEXT NOT NULL,
        hamlet_id  TEXT NOT NULL,
        helped     INTEGER NOT NULL,
        PRIMARY KEY (commune, hamlet_id)
    ) STRICT, WITHOUT ROWID;

    INSERT INTO people (commune, person_key)
        SELECT DISTINCT commune, person_key FROM records WHERE voided = 0 AND person_key IS NOT NULL;

    INSERT INTO activity_days
        SELECT commune, dim, key, day, COUNT(*), SUM(kind = 'visit'), SUM(IIF(kind = 'visit', person_times, 0)),
            SUM(kind = 'signature_help'), SUM(kind = 'signature_help' AND signed = 1),
            SUM(kind = 'signature_help' AND outcome = 'not_completed'), SUM(kind = 'training'),
            SUM(IIF(kind = 'training', person_times, 0)), SUM(IIF(kind = 'training', women, 0)),
            SUM(IIF(kind = 'training', minority, 0)), SUM(kind = 'outreach'), SUM(person_times),
            SUM(kind = 'signature_help' AND person_key IS NULL)
        FROM (SELECT 'hamlet' AS dim, hamlet_id AS key, substr(occurred_at, 1, 10) AS day, * FROM records WHERE voided = 0
              UNION ALL
              SELECT 'volunteer', volunteer_id, substr(occurred_at, 1, 10), * FROM records WHERE voided = 0)
        GROUP BY commune, dim, key, day;

    INSERT INTO activity_choices
        SELECT commune, substr(occurred_at, 1, 10), kind, COALESCE(outcome, ''), COALESCE(failure_reason, ''),
            COALESCE(channel, ''), COUNT(*), SUM(signed), SUM(quantity), SUM(reach)
        FROM records WHERE voided = 0 GROUP BY 1, 2, 3, 4, 5, 6;

    INSERT INTO people_days
        SELECT r.commune, substr(r.occurred_at, 1, 10), p.id, r.hamlet_id, r.volunteer_id, COUNT(*)
        FROM records r JOIN people p ON p.commune = r.commune AND p.person_key = r.person_key
        WHERE r.voided = 0 AND r.kind = 'signature_help'
        GROUP BY 1, 2, 3, 4, 5;

    INSERT INTO coverage_people
        SELECT p.id, f.hamlet_id FROM (
            SELECT commune, person_key, hamlet_id,
                ROW_NUMBER() OVER (PARTITION BY commune, person_key ORDER BY occurred_at, id) AS n
            FROM records WHERE signed = 1 AND voided = 0 AND person_key IS NOT NULL
        ) f JOIN people p ON p.commune = f.commune AND p.person_key = f.person_key
        WHERE f.n = 1;

    INSERT INTO coverage_hamlets
        SELECT commune, hamlet_id, SUM(n) FROM (
            SELECT p.commune, c.hamlet_id, COUNT(*) AS n FROM coverage_people c JOIN people p ON p.id = c.person
            GROUP BY 1, 2
            UNION ALL
            SELECT commune, hamlet_id, COUNT(*) FROM records
            WHERE signed = 1 AND voided = 0 AND person_key IS NULL GROUP BY 1, 2
        ) GROUP BY 1, 2;

    DROP INDEX records_signed;
"#,
    // 5: failed logins counted per name typed, whether an account has that name or not, so
    // the lock-out does not tell which names exist (see `accounts`).
    r#"
    CREATE TABLE login_failures (
        username      TEXT PRIMARY KEY,
        failures      INTEGER NOT NULL,
        locked_until  TEXT,
        last_failure  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX login_failures_by_time ON login_failures (last_failure);
    INSERT INTO login_failures (username, failures, locked_until, last_failure)
        SELECT username, failed_logins, locked_until, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM accounts WHERE failed_logins > 0;
    ALTER TABLE accounts DROP COLUMN failed_logins;
    ALTER TABLE accounts DROP COLUMN locked_until;
"#,
    // 6: erasures stick. An erased record keeps the mark, and an erased person's ID hash is
    // remembered for a while with the key their records count under now, so whatever a
    // device sends later never brings their details back (see `erase`). The communes'
    // hashing keys move out of the database into the key file (`keys`): `cid_key` is
    // emptied once the key file holds them.
    r#"
    ALTER TABLE records ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;
    UPDATE records SET erased = 1 WHERE EXISTS (
        SELECT 1 FROM change_log c WHERE c.commune = records.commune AND c.key = 'erase:' || records.id);
    CREATE TABLE erased_people (
        commune      TEXT NOT NULL,
        person_key   TEXT NOT NULL,
        replaced_by  TEXT NOT NULL,
        erased_at    TEXT NOT NULL,
        PRIMARY KEY (commune, person_key)
    ) STRICT, WITHOUT ROWID;
"#,
    // 7: a found tablet opens for no one. The office assigns volunteers to each device (the
    // device offers only those) and gives one-time codes for a first PIN; both reach only
    // their device, through change-log entries addressed to it (`device`). An enrolment
    // code can carry the volunteers (and their PIN codes) for the device it enrols.
    r#"
    ALTER TABLE change_log ADD COLUMN device TEXT;
    CREATE TABLE device_volunteers (
        device_id     TEXT NOT NULL REFERENCES devices (id),
        volunteer_id  TEXT NOT NULL,
        PRIMARY KEY (device_id, volunteer_id)
    ) STRICT, WITHOUT ROWID;
    ALTER TABLE enrol_codes ADD COLUMN volunteers TEXT NOT NULL DEFAULT '[]';
"#,
    // 8: going live. Each commune knows its province (the province level groups communes by
    // it; filled from the list of units after this runs) and whether it is the demo, which
    // `commune remove-demo` deletes with everything in it (an older server named it
    // "... (demo)"). Office accounts are for a commune or, with `province` set, for every
    // commune of a province (`commune` is then empty), and can be disabled. A hamlet the
    // office retires leaves the reference data (devices and coverage) and is kept here, so
    // its records keep its name.
    r#"
    ALTER TABLE communes ADD COLUMN province TEXT NOT NULL DEFAULT '';
    ALTER TABLE communes ADD COLUMN demo INTEGER NOT NULL DEFAULT 0;
    UPDATE communes SET demo = 1 WHERE json_extract(reference, '$.commune.name') LIKE '%(demo)';
    ALTER TABLE accounts ADD COLUMN province TEXT;
    ALTER TABLE accounts ADD COLUMN disabled_at TEXT;
    CREATE TABLE retired_hamlets (
        commune     TEXT NOT NULL,
        id          TEXT NOT NULL,
        hamlet      TEXT NOT NULL,
        retired_at  TEXT NOT NULL,
        PRIMARY KEY (commune, id)
    ) STRICT, WITHOUT ROWID;
"#,
];

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
                crate::communes::fill_provinces(&tx)?;
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

    /// Makes a one-time enrolment code for `commune`, valid for `valid_for`, for a device
    /// no volunteer is assigned to yet (see [`ServerDb::new_enrol_code_for`]). Returns the
    /// code as a person types it (`ABCD-EFGH`); only its hash is stored.
    pub fn new_enrol_code(&self, commune: &str, valid_for: Duration, now: DateTime<Utc>) -> Result<String> {
        Ok(self.new_enrol_code_for(commune, valid_for, now, &[])?.code)
    }

    /// Spends an enrolment code: a new device with a fresh token. `None` when the code is
    /// unknown, used or expired (the caller does not say which).
    pub fn enrol(&self, code: &str, device_name: &str, now: DateTime<Utc>) -> Result<Option<Enrolled>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let hash = code_hash(code);
        let found: Option<(String, String, Option<String>)> = tx
            .query_row("SELECT commune, expires_at, used_by FROM enrol_codes WHERE code_hash = ?", [&hash], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((commune, expires_at, used_by)) = found else { return Ok(None) };
        if used_by.is_some() || expires_at < now_ts(now) {
            return Ok(None);
        }
        let device_id = Uuid::now_v7().to_string();
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        tx.execute(
            "INSERT INTO devices (id, commune, name, token_hash, enrolled_at) VALUES (?, ?, ?, ?, ?)",
            params![device_id, commune, device_name, token_hash(&token), now_ts(now)],
        )?;
        tx.execute("UPDATE enrol_codes SET used_by = ? WHERE code_hash = ?", params![device_id, hash])?;
        super::assign::on_enrol(&tx, &commune, &device_id, &hash)?;
        let reference: String =
            tx.query_row("SELECT reference FROM communes WHERE code = ?", [&commune], |r| r.get(0))?;
        tx.commit()?;
        let seal_key = self.keys().seal_key().to_hex();
        Ok(Some(Enrolled { device_id, token, seal_key, reference: serde_json::from_str(&reference)? }))
    }

    /// The commune's citizen-ID hashing key (for the office's erasure lookup).
    pub fn cid_key(&self, commune: &str) -> Result<CidKey> {
        self.commune(commune)?;
        self.keys().cid_key(commune).cloned().ok_or(DbError::NoCommune)
    }

    /// The device a bearer token belongs to, revoked or not.
    pub fn device_by_token(&self, token: &str) -> Result<Option<Device>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT id, commune, name, revoked_at IS NOT NULL, last_seen, queued FROM devices WHERE token_hash = ?",
            [token_hash(token)],
            read_device,
        )
        .optional()
        .map_err(Into::into)
    }

    /// One device by its id, revoked or not.
    pub fn device(&self, id: &str) -> Result<Option<Device>> {
        self.conn()
            .query_row(
                "SELECT id, commune, name, revoked_at IS NOT NULL, last_seen, queued FROM devices WHERE id = ?",
                [id],
                read_device,
            )
            .optional()
            .map_err(Into::into)
    }

    pub fn devices(&self, commune: &str) -> Result<Vec<Device>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, commune, name, revoked_at IS NOT NULL, last_seen, queued FROM devices
             WHERE commune = ? ORDER BY enrolled_at",
        )?;
        let rows = stmt.query_map([commune], read_device)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
    }

    /// The volunteers whose records each device sent: device id → volunteer ids.
    pub fn device_volunteers(&self, commune: &str) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT device_id, volunteer_id FROM records WHERE commune = ? ORDER BY device_id, volunteer_id",
        )?;
        let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
        for row in stmt.query_map([commune], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (d, v) = row?;
            out.entry(d).or_default().push(v);
        }
        Ok(out)
    }

    pub fn revoke(&self, device_id: &str, now: DateTime<Utc>) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            params![now_ts(now), device_id],
        )?;
        if n == 0 {
            return Err(DbError::NoDevice);
        }
        Ok(())
    }

    /// Applies a push from `device`: each record on its own, all in one durable transaction.
    pub fn apply_push(
        &self,
        device: &Device,
        report: &DeviceReport,
        records: &[WireRecord],
        now: DateTime<Utc>,
    ) -> Result<Vec<RecordResult>> {
        let items: Vec<PushItem> = records.iter().map(|r| PushItem::Record(Box::new(r.clone()))).collect();
        self.apply_push_items(device, report, &items, now, PushedHashes::Refused)
    }

    /// Applies a push read record by record ([`super::push::read_records`]): a record
    /// that could not be read keeps its refusal, the others are checked and applied.
    /// `hashes` is the rule for pushed ID hashes of the device's API version (see `compat`).
    pub fn apply_push_items(
        &self,
        device: &Device,
        report: &DeviceReport,
        items: &[PushItem],
        now: DateTime<Utc>,
        hashes: PushedHashes,
    ) -> Result<Vec<RecordResult>> {
        let mut conn = self.conn();
        let mut tx = conn.transaction()?;
        let mut reference: ReferenceData = serde_json::from_str(&tx.query_row(
            "SELECT reference FROM communes WHERE code = ?",
            [&device.commune],
            |r| r.get::<_, String>(0),
        )?)?;
        // Records a device made in a hamlet before it was retired still arrive.
        reference.hamlets.extend(crate::communes::retired_hamlets(&tx, &device.commune)?.into_iter().map(|(h, _)| h));
        let received = now_ts(now);
        let mut results = Vec::with_capacity(items.len());
        let mut totals = Pending::default();
        let keys = self.keys();
        let cid_key = keys.cid_key(&device.commune).ok_or(DbError::NoCommune)?;
        for item in items {
            let record = match item {
                PushItem::Record(record) => record,
                PushItem::Refused(answer) => {
                    results.push(answer.clone());
                    continue;
                }
            };
            let checked =
                check_record(record, &reference, now).and_then(|()| hash_sealed_id(record, &keys, cid_key, hashes));
            let result = match checked {
                Err(reason) => RecordResult {
                    id: record.id,
                    version: record.version,
                    result: Applied::Rejected,
                    reason: Some(reason),
                },
                Ok(record) => {
                    let sp = tx.savepoint()?;
                    // A savepoint per record: one record's failure cannot undo the others.
                    let applied = apply_one(&sp, device, &record, &received, &mut totals)?;
                    sp.commit()?;
                    applied
                }
            };
            results.push(result);
        }
        drop(keys);
        let changed = totals.settle(&tx, &device.commune)?;
        log_coverage(&tx, &device.commune, &changed)?;
        tx.execute(
            "UPDATE devices SET last_seen = ?, queued = ?, app_version = ? WHERE id = ?",
            params![received, report.queued, report.app_version, device.id],
        )?;
        tx.commit()?;
        Ok(results)
    }

    /// Changes after `after` for every device of a commune, oldest first, at most `limit`.
    pub fn pull(&self, commune: &str, after: i64, limit: usize) -> Result<(Vec<(i64, Change)>, bool)> {
        self.pull_for(commune, "", after, limit)
    }

    /// Changes after `after` that one device of the commune receives: those for every
    /// device and those addressed to it, oldest first, at most `limit`.
    pub fn pull_for(
        &self,
        commune: &str,
        device: &str,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<(i64, Change)>, bool)> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, change FROM change_log WHERE commune = ? AND seq > ? AND (device IS NULL OR device = ?)
             ORDER BY seq LIMIT ?",
        )?;
        let rows = stmt.query_map(params![commune, after, device, limit as i64 + 1], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, json) = row?;
            out.push((seq, serde_json::from_str(&json)?));
        }
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
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

fn read_device(r: &rusqlite::Row) -> rusqlite::Result<Device> {
    Ok(Device {
        id: r.get(0)?,
        commune: r.get(1)?,
        name: r.get(2)?,
        revoked: r.get(3)?,
        last_seen: r.get(4)?,
        queued: r.get(5)?,
    })
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

/// Checks a pushed record with the one rule set (`WireRecord::check`); the reason is for
/// the volunteer, in Vietnamese, names each field at fault and no personal detail.
fn check_record(r: &WireRecord, reference: &ReferenceData, now: DateTime<Utc>) -> Result<(), String> {
    let problems = r.check(reference, now);
    if problems.is_empty() {
        return Ok(());
    }
    let t = &crate::domain::labels::VI;
    let fields: Vec<String> = problems.iter().map(|e| t.field_problem(e)).collect();
    Err(format!("{} Hãy sửa rồi gửi lại.", fields.join(" ")))
}

/// A pushed record as the server keeps it: a sealed ID number is opened and replaced by its
/// hash under the commune's key; the sealed bytes are dropped. A device never hashes for
/// the commune (it has no key to), so a pushed hash is refused.
fn hash_sealed_id(
    r: &WireRecord,
    keys: &ServerKeys,
    cid_key: &CidKey,
    hashes: PushedHashes,
) -> Result<WireRecord, String> {
    let refused = || {
        let e =
            crate::domain::rules::FieldError { field: "citizen_id", problem: crate::domain::rules::Problem::BadFormat };
        format!("{} Hãy sửa rồi gửi lại.", crate::domain::labels::VI.field_problem(&e))
    };
    let mut r = r.clone();
    if let Body::SignatureHelp(s) = &mut r.body {
        if let Some(p) = &mut s.person {
            // A version-1 device hashed under the commune's key it was given (`compat`).
            if hashes == PushedHashes::CommuneKeyV1 && compat::v1_hash_ok(p, cid_key) {
                return Ok(r);
            }
            if p.cid_hash.is_some() || p.cid_key_id.is_some() {
                return Err(refused());
            }
            if let Some(sealed) = p.cid_sealed.take() {
                let id = keys.open(&sealed).ok_or_else(refused)?;
                p.cid_hash = Some(id.hash(cid_key));
                p.cid_key_id = Some(cid_key.id.clone());
            }
        }
    }
    Ok(r)
}

fn apply_one(
    tx: &Connection,
    device: &Device,
    r: &WireRecord,
    received: &str,
    totals: &mut Pending,
) -> Result<RecordResult> {
    let id = r.id.to_string();
    let existing: Option<(i64, bool, String, bool, Option<String>)> = tx
        .prepare_cached("SELECT version, voided, device_id, erased, person_key FROM records WHERE id = ?")?
        .query_row([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
        .optional()?;
    let result = |result: Applied, reason: Option<&str>| RecordResult {
        id: r.id,
        version: r.version,
        result,
        reason: reason.map(str::to_owned),
    };
    let mut voided = r.voided;
    if let Some((version, was_voided, owner, ..)) = &existing {
        if owner != &device.id {
            return Ok(result(Applied::Rejected, Some("Mã bản ghi trùng với bản ghi của máy khác.")));
        }
        if r.version == *version {
            return Ok(result(Applied::Duplicate, None));
        }
        if r.version < *version {
            return Ok(result(Applied::Stale, None));
        }
        // A void always wins: a later version never brings a voided record back.
        voided |= *was_voided;
    }
    // An erasure sticks: whatever a device sends later for an erased record, or a record
    // new to the server of an erased person made before the erasure, is kept without the
    // person's details and counts under the key that replaced their hash; every device (the
    // sender at the pull that follows this push) is told to erase it again. (Records of the
    // person the office chose not to erase stay as they are.)
    let mut person_key = r.body.person_key().map(str::to_owned);
    let erased_key: Option<Option<String>> = match (&existing, &person_key) {
        (Some((.., true, stored_key)), _) => Some(stored_key.clone()),
        (Some(_), _) => None,
        (None, Some(key)) => tx
            .prepare_cached(
                "SELECT replaced_by FROM erased_people WHERE commune = ? AND person_key = ? AND erased_at > ?",
            )?
            .query_row(params![device.commune, key, now_ts(r.saved_at)], |row| row.get::<_, String>(0))
            .optional()?
            .map(Some),
        _ => None,
    };
    let erased = erased_key.is_some();
    let stripped;
    let r = match erased_key {
        Some(key) => {
            let mut copy = r.clone();
            copy.body.erase_personal();
            copy.void_reason = None;
            person_key = key;
            log_change(tx, &device.commune, &format!("erase:{id}"), &Change::Erase { id: r.id })?;
            stripped = copy;
            &stripped
        }
        None => r,
    };
    // The totals lose what the stored version counted and gain what this one counts.
    if existing.is_some() {
        if let Some(old) = Share::stored(tx, &id)? {
            totals.add(tx, &device.commune, &old, -1)?;
        }
    }
    let body = serde_json::to_string(&r.body)?;
    let saved = now_ts(r.saved_at);
    let occurred = r.occurred_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let f = ReportFields::of(&r.body);
    let new: Option<Share> = tx
        .prepare_cached(&format!(
            "INSERT INTO records (id, commune, device_id, kind, hamlet_id, volunteer_id, occurred_at, saved_at,
            received_at, version, voided, void_reason, body, person_times, signed, person_key,
            outcome, failure_reason, women, minority, channel, quantity, reach, erased)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)
         ON CONFLICT (id) DO UPDATE SET kind = ?4, hamlet_id = ?5, volunteer_id = ?6, occurred_at = ?7,
            saved_at = ?8, received_at = ?9, version = ?10, voided = ?11, void_reason = ?12, body = ?13,
            person_times = ?14, signed = ?15, person_key = ?16, outcome = ?17, failure_reason = ?18,
            women = ?19, minority = ?20, channel = ?21, quantity = ?22, reach = ?23, erased = ?24
         RETURNING {SHARE_COLUMNS}"
        ))?
        .query_row(
            params![
        id,
        device.commune,
        device.id,
        r.body.kind().code(),
        r.hamlet_id,
        r.volunteer_id,
        occurred,
        saved,
        received,
        r.version,
        voided,
        r.void_reason,
        body,
        r.body.person_times(),
        r.body.signed(),
        person_key,
        f.outcome,
        f.failure_reason,
        f.women,
        f.minority,
        f.channel,
        f.quantity,
        f.reach,
        erased,
            ],
            Share::read,
        )?;
    if let Some(new) = &new {
        totals.add(tx, &device.commune, new, 1)?;
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO record_history (id, version, device_id, received_at, voided, record) VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![id, r.version, device.id, received, voided, serde_json::to_string(r)?])?;
    Ok(result(Applied::Applied, None))
}

/// The body fields reports count, pulled out into columns.
#[derive(Default)]
struct ReportFields {
    outcome: Option<&'static str>,
    failure_reason: Option<&'static str>,
    women: u32,
    minority: u32,
    channel: Option<&'static str>,
    quantity: u32,
    reach: u32,
}

impl ReportFields {
    fn of(body: &crate::domain::Body) -> ReportFields {
        use crate::domain::Body;
        match body {
            Body::SignatureHelp(s) => ReportFields {
                outcome: Some(s.outcome.code()),
                failure_reason: s.failure_reason.map(|f| f.code()),
                ..Default::default()
            },
            Body::Training(t) => ReportFields { women: t.women, minority: t.ethnic_minority, ..Default::default() },
            Body::Outreach(o) => ReportFields {
                channel: Some(o.channel.code()),
                quantity: o.quantity,
                reach: o.reach,
                ..Default::default()
            },
            Body::Visit(_) => ReportFields::default(),
        }
    }
}

/// A record as the office lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub id: Uuid,
    pub kind: String,
    pub hamlet_id: String,
    pub volunteer_id: String,
    pub device_id: String,
    pub occurred_at: String,
    pub version: i64,
    pub voided: bool,
    pub body: crate::domain::Body,
}

/// One received version of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub version: i64,
    pub received_at: String,
    pub device_id: String,
    pub voided: bool,
    pub record: WireRecord,
}

/// Office filters for the record list; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub hamlet_id: Option<String>,
    pub volunteer_id: Option<String>,
    pub kind: Option<String>,
    pub from: Option<String>,
    /// Exclusive day bound (`YYYY-MM-DD` of the day after the last).
    pub to_exclusive: Option<String>,
}

impl ServerDb {
    /// Records of a commune, newest first, at most `limit`.
    pub fn records(&self, commune: &str, f: &RecordFilter, limit: usize) -> Result<Vec<RecordRow>> {
        let conn = self.conn();
        let mut sql = String::from(
            "SELECT id, kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided, body FROM records WHERE commune = ?",
        );
        let mut args: Vec<String> = vec![commune.to_owned()];
        for (col, op, v) in [
            ("hamlet_id", "=", &f.hamlet_id),
            ("volunteer_id", "=", &f.volunteer_id),
            ("kind", "=", &f.kind),
            ("occurred_at", ">=", &f.from),
            ("occurred_at", "<", &f.to_exclusive),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} {op} ?"));
                args.push(v.clone());
            }
        }
        sql.push_str(&format!(" ORDER BY occurred_at DESC, id DESC LIMIT {}", limit.min(1000)));
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), read_record_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    pub fn record(&self, commune: &str, id: Uuid) -> Result<Option<(RecordRow, Vec<HistoryRow>)>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided, body FROM records
                 WHERE commune = ? AND id = ?",
                params![commune, id.to_string()],
                read_record_row,
            )
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let row = row?;
        let mut stmt = conn.prepare(
            "SELECT version, received_at, device_id, voided, record FROM record_history WHERE id = ? ORDER BY version DESC",
        )?;
        let history = stmt
            .query_map([id.to_string()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .map(|r| {
                let (version, received_at, device_id, voided, json) = r?;
                Ok(HistoryRow { version, received_at, device_id, voided, record: serde_json::from_str(&json)? })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((row, history)))
    }

    /// Signature sessions of a commune whose person matches: by a citizen-ID hash, or by
    /// a name (ignoring case and diacritics; every word must appear).
    pub fn find_person(&self, commune: &str, name: Option<&str>, cid_hash: Option<&str>) -> Result<Vec<RecordRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided, body FROM records
             WHERE commune = ? AND kind = 'signature_help' AND json_extract(body, '$.person') IS NOT NULL
             AND (?2 IS NULL OR person_key = ?2) ORDER BY occurred_at",
        )?;
        let words = name.map(crate::domain::fold::query_terms).unwrap_or_default();
        let rows = stmt.query_map(params![commune, cid_hash], read_record_row)?;
        let mut out = Vec::new();
        for row in rows {
            let row = row??;
            let matches = match &row.body {
                crate::domain::Body::SignatureHelp(s) => s.person.as_ref().is_some_and(|p| {
                    let folded = crate::domain::fold::fold(&p.display_name);
                    words.iter().all(|w| folded.split(' ').any(|x| x.starts_with(w.as_str())))
                }),
                _ => false,
            };
            if matches && (cid_hash.is_some() || !words.is_empty()) {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// True when the personal details of this record were erased on request.
    pub fn was_erased(&self, commune: &str, id: Uuid) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM records WHERE commune = ? AND id = ? AND erased = 1)",
            params![commune, id.to_string()],
            |r| r.get(0),
        )?)
    }

    /// Erases the personal details of these records (and the free text of the visits or
    /// meetings they belong to), here and in their history, and tells every device of the
    /// commune to do the same at its next sync. What they count (the session, its outcome and
    /// hamlet) stays. The erasure sticks: the records keep the mark, and each person's ID
    /// hash is remembered for [`REMEMBER_ERASED_DAYS`] with the key their records count under
    /// now, so a later push never brings the details back (see `apply_one`). Gives the ids
    /// of the records erased.
    pub fn erase(&self, commune: &str, ids: &[Uuid], now: DateTime<Utc>) -> Result<Vec<Uuid>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut erased = Vec::new();
        let mut totals = Pending::default();
        // One person's sessions stay one person: their ID hash is replaced by a random key
        // shared by those sessions (it identifies no one), so counts do not grow.
        let mut new_keys: std::collections::HashMap<String, String> = Default::default();
        // Every ID hash these records held, in any version: the totals forget the ones no
        // record holds any more.
        let mut old_keys: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<Uuid> = ids.to_vec();
        while let Some(id) = queue.pop() {
            if erased.contains(&id) {
                continue;
            }
            let found: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT body, person_key FROM records WHERE commune = ? AND id = ?",
                    params![commune, id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((body, key)) = found else { continue };
            let mut body: Body = serde_json::from_str(&body)?;
            // The visit or meeting a session belongs to may name the household.
            queue.extend(body.parent_id());
            if let Some(old) = Share::stored(&tx, &id.to_string())? {
                totals.add(&tx, commune, &old, -1)?;
            }
            let key = match key {
                Some(k) if k.starts_with("erased:") => Some(k),
                Some(k) => {
                    if !new_keys.contains_key(&k) {
                        new_keys.insert(k.clone(), replacement_key(&tx, commune, &k)?);
                    }
                    old_keys.insert(k.clone());
                    Some(new_keys[&k].clone())
                }
                None => None,
            };
            body.erase_personal();
            tx.execute(
                "UPDATE records SET body = ?, person_key = ?, void_reason = NULL, erased = 1 WHERE id = ?",
                params![serde_json::to_string(&body)?, key, id.to_string()],
            )?;
            if let Some(new) = Share::stored(&tx, &id.to_string())? {
                totals.add(&tx, commune, &new, 1)?;
            }
            let versions: Vec<(i64, String)> = tx
                .prepare("SELECT version, record FROM record_history WHERE id = ?")?
                .query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (version, json) in versions {
                let mut record: WireRecord = serde_json::from_str(&json)?;
                // An earlier version may have held another number (a typo corrected): the
                // totals forget it if no record holds it any more.
                if let Some(k) = record.body.person_key().filter(|k| !k.starts_with("erased:")) {
                    old_keys.insert(k.to_owned());
                }
                record.body.erase_personal();
                record.void_reason = None;
                tx.execute(
                    "UPDATE record_history SET record = ? WHERE id = ? AND version = ?",
                    params![serde_json::to_string(&record)?, id.to_string(), version],
                )?;
            }
            log_change(&tx, commune, &format!("erase:{id}"), &Change::Erase { id })?;
            erased.push(id);
        }
        let changed = totals.settle(&tx, commune)?;
        log_coverage(&tx, commune, &changed)?;
        // Devices send save times in whole seconds: a record saved in the second of the
        // erasure or later counts as made after it (new consent), one saved in an earlier
        // second as made before it.
        let erased_at = now_ts(chrono::SubsecRound::trunc_subsecs(now, 0));
        for key in &old_keys {
            tx.execute(
                "DELETE FROM people WHERE commune = ?1 AND person_key = ?2
                 AND NOT EXISTS (SELECT 1 FROM records WHERE commune = ?1 AND person_key = ?2)",
                params![commune, key],
            )?;
        }
        // The people erased are those the chosen records are about now.
        for (key, replaced_by) in &new_keys {
            tx.execute(
                "INSERT INTO erased_people (commune, person_key, replaced_by, erased_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (commune, person_key) DO UPDATE SET erased_at = excluded.erased_at",
                params![commune, key, replaced_by, erased_at],
            )?;
        }
        tx.execute(
            "DELETE FROM erased_people WHERE erased_at < ?",
            [now_ts(now - Duration::days(REMEMBER_ERASED_DAYS))],
        )?;
        tx.commit()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(erased)
    }
}

/// The random key an erased person's records count under: the one given at an earlier
/// erasure of theirs, or a new one.
fn replacement_key(tx: &Connection, commune: &str, person_key: &str) -> Result<String> {
    let earlier: Option<String> = tx
        .query_row(
            "SELECT replaced_by FROM erased_people WHERE commune = ? AND person_key = ?",
            params![commune, person_key],
            |r| r.get(0),
        )
        .optional()?;
    Ok(earlier.unwrap_or_else(|| format!("erased:{}", Uuid::now_v7())))
}

fn read_record_row(r: &rusqlite::Row) -> rusqlite::Result<Result<RecordRow>> {
    let id: String = r.get(0)?;
    let body: String = r.get(8)?;
    let row = (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?);
    Ok((|| {
        let (kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided) = row;
        Ok(RecordRow {
            id: Uuid::parse_str(&id).map_err(|_| DbError::NoDevice)?,
            kind,
            hamlet_id,
            volunteer_id,
            device_id,
            occurred_at,
            version,
            voided,
            body: serde_json::from_str(&body)?,
        })
    })())
}
