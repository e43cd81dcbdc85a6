//! The device store: one SQLCipher-encrypted SQLite file holding records, their history and
//! outbox, reference data, drafts, settings and volunteers' PIN hashes.
//!
//! Owns every line of SQL in the app and hands out domain types only. [`Store::open_with_keys`]
//! takes the file's key from a [`key::KeyStore`] (a store file from before encryption is
//! encrypted once, in place: `open.rs`), then sets
//! the pragmas (WAL, `synchronous=FULL` so a commit survives a dead battery, foreign keys,
//! `temp_store=MEMORY` for Android) and runs the migrations in [`schema`]. Saving a record
//! writes the record and its outbox row (an edit also moves the version it replaces to the
//! history) in one transaction: when a save returns `Ok`, the record is on disk. Each page
//! written costs an encryption and an HMAC, so the schema keeps the b-trees a save touches
//! few (see migration 7). Knows nothing of the UI, HTTP, the wire or wording.
//!
//! One `impl Store` block per part: `open.rs` (key, encryption, migrations), `records.rs`
//! (save, edit, void, history), `search.rs` (lists, tallies, hamlet progress), `sync.rs`
//! (outbox, settling, enrolment, pulled changes, the wipe on revocation), `drafts.rs`,
//! `pins.rs`; the schema and its migrations in `schema.rs`, the key in `key.rs`. This file
//! holds the types they share, the settings and the reference data.

pub mod key;
// Each part of the store is its own `impl Store` block; the SQL helpers they share are
// `pub(super)` and gathered here.
mod drafts;
mod open;
mod pins;
mod records;
mod search;
mod sync;
pub use pins::{Authority, PinCheck, PinState};
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Transaction};
use uuid::Uuid;

use crate::domain::citizen_id::{CidKey, SealKey};
use crate::domain::coverage::Coverage;
use crate::domain::fold::{fold, has_word, query_terms, term_bit, word_sketch, SKETCH_LETTERS};
use crate::domain::sample::sample_reference;
use crate::domain::validate::Form;
use crate::domain::*;
pub use key::{DbKey, KeyFile, KeyStore};
use records::*;
use schema::migrate;
pub use schema::schema_version;

/// What can go wrong with the store, worded by `i18n` for the volunteer. Carries no
/// personal data: SQLite's own messages stay in `Other` and are never shown as is.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database file cannot be opened")]
    CannotOpen,
    #[error("the database is locked by another program")]
    Locked,
    #[error("the device storage is full")]
    DiskFull,
    #[error("the database file is damaged or not a database")]
    Corrupt,
    #[error("the database file is read-only")]
    ReadOnly,
    #[error("the database was made by a newer version of the app (schema {0})")]
    TooNew(i64),
    #[error("no such record")]
    NotFound,
    #[error("the record was changed elsewhere; reopen it")]
    Conflict,
    #[error("stored data could not be read: {0}")]
    Decode(String),
    #[error("database error: {0}")]
    Other(String),
    /// The key does not open this file. Nothing was changed.
    #[error("the key does not open the database file")]
    WrongKey,
    /// The file is encrypted and no key for it was found, or the key store failed.
    #[error("the database key is not available: {0}")]
    KeyUnavailable(#[from] key::KeyError),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked,
            Some(ErrorCode::DiskFull) => StoreError::DiskFull,
            Some(ErrorCode::CannotOpen) => StoreError::CannotOpen,
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt,
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly,
            _ => match e {
                rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
                other => StoreError::Other(other.to_string()),
            },
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's message names the field and position, never the value.
        StoreError::Decode(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where "now" comes from, so tests can pin the clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Filters for the record list. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub text: String,
    pub hamlet_id: Option<String>,
    pub kind: Option<RecordKind>,
    pub from: Option<NaiveDate>,
    /// Inclusive.
    pub to: Option<NaiveDate>,
    pub sync_state: Option<SyncState>,
    pub limit: usize,
}

/// What a search found, in two parts (see [`Store::search_ranked`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// Records whose own words (a person's or household's name) hold every query word.
    pub by_name: Vec<Record>,
    /// Records found only with the name of their hamlet, volunteer or label.
    pub by_label: Vec<Record>,
}

/// One SQL condition of a search and the values of its placeholders.
type Condition = (String, Vec<rusqlite::types::Value>);

/// Counts of what is on the device for a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tallies {
    pub visits: u32,
    pub signature_sessions: u32,
    pub signed: u32,
    pub trainings: u32,
    pub attendance: u32,
    pub outreach: u32,
    /// Person-times (lượt) across visits, signature sessions and trainings.
    pub person_times: u32,
}

/// How much is waiting to be sent: records queued in the outbox, and records the server
/// refused that wait for the volunteer. (What was sent is not counted: the home screen does
/// not show it, and counting it would read every record at each start.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    pub pending: u32,
    pub rejected: u32,
}

/// This device's enrolment with a commune server.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolment {
    pub server_url: String,
    pub commune: String,
    /// Bearer token, kept in the settings table of the encrypted store.
    pub token: String,
    /// The id the server gave this device.
    pub device_id: String,
    /// The SHA-256 of the server's certificate (64 hex digits) that every connection must
    /// present, from the enrolment link; `None` when the server has a public certificate,
    /// checked against the public roots instead.
    pub cert_pin: Option<String>,
}

/// One settled outbox entry, as `sync` decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    Sent { id: Uuid, version: i64 },
    Rejected { id: Uuid, version: i64, reason: String },
}

/// A saved, unfinished form.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub key: String,
    pub record_id: Option<Uuid>,
    pub form: Form,
    pub updated_at: DateTime<Utc>,
}

/// What the store did when the server revoked the device.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Wiped {
    pub at: DateTime<Utc>,
    /// Records whose personal details were erased (the server had them).
    pub erased: u32,
    /// Records the server had refused (quarantined), whose personal details were erased:
    /// a revoked device can never send them again.
    #[serde(default)]
    pub rejected_erased: u32,
    /// Drafts deleted (a draft can hold a typed name or phone even before consent).
    #[serde(default)]
    pub drafts_deleted: u32,
    /// Records still waiting to be sent, kept whole.
    pub kept_unsent: u32,
}

/// A visit or meeting a signature-help session can hang off.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentChoice {
    pub id: Uuid,
    pub kind: RecordKind,
    pub label: String,
    pub occurred_at: NaiveDateTime,
}

/// One change pulled from the commune server, in the store's terms: `sync` turns each of
/// the wire's changes into one of these, so the store never sees the protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Pulled {
    /// The commune's reference data (hamlets, volunteers, target).
    Reference(ReferenceData),
    /// People helped to a signature in a hamlet, across all devices.
    Coverage { hamlet_id: String, helped_signed: u32 },
    /// A person asked for their data to be erased: this record's personal details go.
    Erase(Uuid),
    /// The volunteers the office assigned to this device.
    Assignment(Vec<String>),
    /// The argon2id hash of the office's one-time first-PIN code for a volunteer here.
    PinCode { volunteer_id: String, hash: String, expires_at: DateTime<Utc> },
}

/// The device store. Cheap to share behind an `Arc`; calls are serialised on one connection.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    clock: Clock,
    /// Every label a record can have (kind, training kind or channel) with its words in
    /// every language, folded once when the labels are given: search matches them.
    labels: Vec<(RecordKind, Option<&'static str>, String)>,
}

/// The words of a record's label (kind, training kind or channel) in every language.
type Labels = fn(RecordKind, Option<&str>) -> String;

const TIME_FMT: &str = "%Y-%m-%dT%H:%M:%S";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| StoreError::Decode(e.to_string()))
}

fn parse_local(s: &str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, TIME_FMT).map_err(|e| StoreError::Decode(e.to_string()))
}

impl Store {
    /// Adds the words a record is shown with (its kind, channel…, in every language) to
    /// what search matches, so a volunteer finds what the list displays. The store cannot
    /// word anything itself; the app passes `i18n::search_labels`.
    pub fn with_search_labels(mut self, labels: Labels) -> Store {
        self.labels = Body::label_choices().into_iter().map(|(k, sub)| (k, sub, fold(&labels(k, sub)))).collect();
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the transaction
        // rolls back), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- settings -------------------------------------------------------------------

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        get_setting(&self.conn(), key)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        set_setting(&self.conn(), key, value)
    }

    pub fn device_id(&self) -> Result<String> {
        self.setting("device_id")?.ok_or(StoreError::NotFound)
    }

    /// The server's public key ID numbers are sealed to, once the device is enrolled.
    pub fn seal_key(&self) -> Result<Option<SealKey>> {
        Ok(self.setting("seal_key")?.and_then(|h| SealKey::from_hex(&h)))
    }

    /// This device's own key that citizen-ID numbers are hashed under, to count a person
    /// once among its records. No other device and not the server has it.
    pub fn cid_key(&self) -> Result<CidKey> {
        let conn = self.conn();
        let id = get_setting(&conn, "cid_key_id")?.ok_or(StoreError::NotFound)?;
        let hex = get_setting(&conn, "cid_key")?.ok_or(StoreError::NotFound)?;
        CidKey::from_hex(id, &hex).ok_or_else(|| StoreError::Decode("cid key".into()))
    }

    /// The volunteer using the device now, if one has been chosen.
    pub fn current_volunteer(&self) -> Result<Option<String>> {
        self.setting("current_volunteer")
    }

    pub fn set_current_volunteer(&self, id: &str) -> Result<()> {
        self.set_setting("current_volunteer", id)
    }

    // ---- reference data -------------------------------------------------------------

    pub fn reference(&self) -> Result<ReferenceData> {
        read_reference(&self.conn())
    }

    /// Replaces the reference data (the sample commune now; the server's after enrolment).
    pub fn replace_reference(&self, data: &ReferenceData) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        write_reference(&tx, data)?;
        tx.commit()?;
        Ok(())
    }

    fn sample_mode(conn: &Connection) -> Result<bool> {
        let commune = get_setting(conn, "commune")?.ok_or(StoreError::NotFound)?;
        Ok(serde_json::from_str::<Commune>(&commune)?.sample)
    }

    // ---- records --------------------------------------------------------------------

    // ---- sync -----------------------------------------------------------------------

    // ---- drafts ---------------------------------------------------------------------
}

fn get_setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn.prepare_cached("SELECT value FROM settings WHERE key = ?")?.query_row([key], |r| r.get(0)).optional()?)
}

fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

fn read_reference(conn: &Connection) -> Result<ReferenceData> {
    let commune: Commune = serde_json::from_str(&get_setting(conn, "commune")?.ok_or(StoreError::NotFound)?)?;
    let hamlets = conn
        .prepare_cached("SELECT id, name, adult_population, baseline_signed FROM hamlets ORDER BY position")?
        .query_map([], |r| {
            Ok(Hamlet { id: r.get(0)?, name: r.get(1)?, adult_population: r.get(2)?, baseline_signed: r.get(3)? })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let volunteers = conn
        .prepare_cached("SELECT id, name, hamlet_id, lead FROM volunteers ORDER BY position")?
        .query_map([], |r| Ok(Volunteer { id: r.get(0)?, name: r.get(1)?, hamlet_id: r.get(2)?, lead: r.get(3)? }))?
        .collect::<rusqlite::Result<_>>()?;
    let providers = conn
        .prepare_cached("SELECT name FROM providers ORDER BY position")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ReferenceData { commune, hamlets, volunteers, providers })
}

fn write_reference(tx: &Connection, data: &ReferenceData) -> Result<()> {
    set_setting(tx, "commune", &serde_json::to_string(&data.commune)?)?;
    tx.execute_batch("DELETE FROM hamlets; DELETE FROM volunteers; DELETE FROM providers;")?;
    for (i, h) in data.hamlets.iter().enumerate() {
        tx.execute(
            "INSERT INTO hamlets (id, name, adult_population, baseline_signed, position) VALUES (?, ?, ?, ?, ?)",
            params![h.id, h.name, h.adult_population, h.baseline_signed, i as i64],
        )?;
    }
    for (i, v) in data.volunteers.iter().enumerate() {
        tx.execute(
            "INSERT INTO volunteers (id, name, hamlet_id, lead, position) VALUES (?, ?, ?, ?, ?)",
            params![v.id, v.name, v.hamlet_id, v.lead, i as i64],
        )?;
    }
    for (i, p) in data.providers.iter().enumerate() {
        tx.execute("INSERT INTO providers (name, position) VALUES (?, ?)", params![p, i as i64])?;
    }
    Ok(())
}
