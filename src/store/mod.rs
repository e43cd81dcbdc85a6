//! The device store: one SQLCipher-encrypted SQLite file holding records, their history and
//! outbox, reference data, drafts, settings and volunteers' PIN hashes.
//!
//! Owns every line of SQL in the app and hands out domain types only. [`Store::open_with_keys`]
//! takes the file's key from a [`key::KeyStore`] (a store file from before encryption is
//! encrypted once, in place, see [`reencrypt`]), then sets
//! the pragmas (WAL, `synchronous=FULL` so a commit survives a dead battery, foreign keys,
//! `temp_store=MEMORY` for Android) and runs the migrations in [`schema`]. Saving a record
//! writes the record and its outbox row (an edit also moves the version it replaces to the
//! history) in one transaction: when a save returns `Ok`, the record is on disk. Each page
//! written costs an encryption and an HMAC, so the schema keeps the b-trees a save touches
//! few (see migration 7). Knows nothing of the UI, HTTP or wording.

pub mod key;
mod pins;
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
use crate::domain::fold::{fold, has_word, query_terms, term_bit, word_sketch};
use crate::domain::sample::sample_reference;
use crate::domain::validate::Form;
use crate::domain::*;
pub use key::{DbKey, KeyFile, KeyStore};

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

    fn finish_open(mut conn: Connection, path: PathBuf, clock: Clock) -> Result<Store> {
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

    /// Adds the words a record is shown with (its kind, channel…, in every language) to
    /// what search matches, so a volunteer finds what the list displays. The store cannot
    /// word anything itself; the app passes `i18n::search_labels`.
    pub fn with_search_labels(mut self, labels: Labels) -> Store {
        self.labels = Body::label_choices().into_iter().map(|(k, sub)| (k, sub, fold(&labels(k, sub)))).collect();
        self
    }

    /// Caps the file at `pages` pages, so tests can meet a full disk (SQLITE_FULL) for real.
    #[doc(hidden)]
    pub fn limit_size_for_tests(&self, pages: u32) -> Result<()> {
        self.conn().query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        Ok(())
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

    fn ensure_device_identity(&self) -> Result<()> {
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

    /// Saves a new record durably: record, history and (unless practice) outbox together.
    pub fn create(&self, new: NewRecord) -> Result<Record> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let sample = Store::sample_mode(&tx)?;
        let device_id = get_setting(&tx, "device_id")?.ok_or(StoreError::NotFound)?;
        let record = Record {
            meta: Meta {
                id: new_id(),
                hamlet_id: new.hamlet_id,
                volunteer_id: new.volunteer_id,
                device_id,
                occurred_at: new.occurred_at,
                saved_at: self.now(),
                version: 1,
                voided: false,
                void_reason: None,
                sample,
            },
            body: new.body,
            sync_state: if sample { SyncState::Practice } else { SyncState::Pending },
            reject_reason: None,
        };
        insert_version(&tx, &record, true)?;
        tx.commit()?;
        Ok(record)
    }

    /// Saves a new version of a record. `expected_version` guards against saving over a
    /// version the volunteer never saw.
    pub fn update(
        &self,
        id: Uuid,
        expected_version: i64,
        volunteer_id: &str,
        hamlet_id: &str,
        occurred_at: NaiveDateTime,
        body: Body,
    ) -> Result<Record> {
        self.change(id, expected_version, volunteer_id, |r| {
            r.meta.hamlet_id = hamlet_id.to_owned();
            r.meta.occurred_at = occurred_at;
            r.body = body;
        })
    }

    /// Voids a record: it stays, marked void, with the reason; the void is queued to send.
    pub fn void(&self, id: Uuid, expected_version: i64, volunteer_id: &str, reason: &str) -> Result<Record> {
        self.change(id, expected_version, volunteer_id, |r| {
            r.meta.voided = true;
            // As the rule set takes it (`domain::rules::check_void_reason`): no control
            // characters but a line break or tab, at most as long as notes, trimmed.
            let kept: String = reason
                .chars()
                .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
                .take(crate::domain::rules::LONG_TEXT)
                .collect();
            r.meta.void_reason = Some(kept.trim().to_owned()).filter(|s| !s.is_empty());
        })
    }

    fn change(
        &self,
        id: Uuid,
        expected_version: i64,
        volunteer_id: &str,
        apply: impl FnOnce(&mut Record),
    ) -> Result<Record> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut record = get_record(&tx, id)?.ok_or(StoreError::NotFound)?;
        if record.meta.version != expected_version {
            return Err(StoreError::Conflict);
        }
        keep_in_history(&tx, id)?;
        apply(&mut record);
        record.meta.version += 1;
        record.meta.volunteer_id = volunteer_id.to_owned();
        record.meta.saved_at = self.now();
        record.sync_state = if record.meta.sample { SyncState::Practice } else { SyncState::Pending };
        record.reject_reason = None;
        insert_version(&tx, &record, false)?;
        tx.commit()?;
        Ok(record)
    }

    pub fn get(&self, id: Uuid) -> Result<Option<Record>> {
        get_record(&self.conn(), id)
    }

    /// Every saved version of a record, newest first.
    pub fn history(&self, id: Uuid) -> Result<Vec<HistoryEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT version, saved_at, volunteer_id, voided, body FROM records WHERE id = ?1
             UNION ALL
             SELECT version, saved_at, volunteer_id, voided, body FROM record_history WHERE record_id = ?1
             ORDER BY version DESC",
        )?;
        let rows = stmt.query_map([id.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (version, saved_at, volunteer_id, voided, body) = row?;
            out.push(HistoryEntry {
                version,
                saved_at: parse_ts(&saved_at)?,
                volunteer_id,
                voided,
                body: serde_json::from_str(&body)?,
            });
        }
        Ok(out)
    }

    /// Records matching `filter`, newest business time first. Ignoring case and diacritics,
    /// each word of `filter.text` of up to three letters must be a word of the record, and a
    /// longer one must begin one.
    pub fn search(&self, filter: &Filter) -> Result<Vec<Record>> {
        let conn = self.conn();
        let mut sql = String::from(&*format!("SELECT {RECORD_COLUMNS} FROM records WHERE sample = ?"));
        let mut args: Vec<rusqlite::types::Value> = vec![Store::sample_mode(&conn)?.into()];
        let terms = query_terms(&filter.text);
        if !terms.is_empty() {
            // Each query word must match the record's own words, or the name of its hamlet
            // or volunteer, or its label; the last three are matched here, once, against
            // the reference data and become conditions on ids.
            let reference = read_reference(&conn)?;
            let names: Vec<(&str, &String, String)> = reference
                .hamlets
                .iter()
                .map(|h| ("hamlet_id", &h.id, &h.name))
                .chain(reference.volunteers.iter().map(|v| ("volunteer_id", &v.id, &v.name)))
                .map(|(column, id, name)| (column, id, fold(name)))
                .collect();
            let mut mask = 0;
            let mut conditions = Vec::new();
            for term in &terms {
                let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                // A short query word must be a whole word ("hoa" finds "Hoà" and "Hòa" but
                // not "hoạt"); a longer one may start a word ("nguy" finds "Nguyễn").
                let pattern =
                    if term.chars().count() <= 3 { format!("% {escaped} %") } else { format!("% {escaped}%") };
                let mut condition = String::from("(search_text LIKE ? ESCAPE '\\'");
                let mut values: Vec<rusqlite::types::Value> = vec![pattern.into()];
                let mut by_reference = false;
                for (column, id, _) in names.iter().filter(|(_, _, name)| has_word(name, term)) {
                    condition.push_str(&format!(" OR {column} = ?"));
                    values.push(id.to_string().into());
                    by_reference = true;
                }
                for (kind, subtype, words) in &self.labels {
                    if has_word(words, term) {
                        condition.push_str(" OR (kind = ? AND subtype IS ?)");
                        values.push(kind.code().to_owned().into());
                        values.push(subtype.map(str::to_owned).into());
                        by_reference = true;
                    }
                }
                condition.push(')');
                conditions.push((condition, values));
                // A word found only in records' own words can skip records by their sketch.
                if !by_reference {
                    mask |= term_bit(term);
                }
            }
            // Records whose word sketch lacks a query word's bit are passed over before
            // their text is compared: a search that matches little reads every record.
            if mask != 0 {
                sql.push_str(" AND (search_sig & ?) = ?");
                args.push(mask.into());
                args.push(mask.into());
            }
            for (condition, values) in conditions {
                sql.push_str(" AND ");
                sql.push_str(&condition);
                args.extend(values);
            }
        }
        if let Some(h) = &filter.hamlet_id {
            sql.push_str(" AND hamlet_id = ?");
            args.push(h.clone().into());
        }
        if let Some(k) = filter.kind {
            sql.push_str(" AND kind = ?");
            args.push(k.code().to_owned().into());
        }
        if let Some(from) = filter.from {
            sql.push_str(" AND occurred_at >= ?");
            args.push(from.format("%Y-%m-%d").to_string().into());
        }
        if let Some(to) = filter.to {
            sql.push_str(" AND occurred_at < ?");
            args.push((to + chrono::Days::new(1)).format("%Y-%m-%d").to_string().into());
        }
        if let Some(s) = filter.sync_state {
            sql.push_str(" AND sync_state = ?");
            args.push(s.code().to_owned().into());
        }
        sql.push_str(" ORDER BY occurred_at DESC, id DESC LIMIT ?");
        args.push((if filter.limit == 0 { 100 } else { filter.limit } as i64).into());
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), read_row)?;
        rows.map(|r| r?).collect()
    }

    /// The signature-help sessions that hang off a visit or meeting, oldest first.
    pub fn children(&self, parent: Uuid) -> Result<Vec<Record>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE parent_id = ? ORDER BY occurred_at, id"
        ))?;
        let rows = stmt.query_map([parent.to_string()], read_row)?;
        rows.map(|r| r?).collect()
    }

    /// Visits and meetings of the last `days` days that a signature session can belong to.
    pub fn parent_choices(&self, days: i64) -> Result<Vec<ParentChoice>> {
        let conn = self.conn();
        // Business times are local, so the window is measured in local time too.
        let local_now = self.now().with_timezone(&chrono::Local).naive_local();
        let since = (local_now - chrono::Duration::days(days)).format(TIME_FMT).to_string();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE sample = ? AND voided = 0
             AND kind IN ('visit', 'training') AND occurred_at >= ?
             ORDER BY occurred_at DESC LIMIT 30"
        ))?;
        let rows = stmt.query_map(params![Store::sample_mode(&conn)?, since], read_row)?;
        let mut out = Vec::new();
        for row in rows {
            let record = row??;
            let label = match &record.body {
                Body::Visit(v) => v.household.clone(),
                Body::Training(t) => t.trainers.clone(),
                _ => continue,
            };
            out.push(ParentChoice {
                id: record.meta.id,
                kind: record.body.kind(),
                label,
                occurred_at: record.meta.occurred_at,
            });
        }
        Ok(out)
    }

    /// Counts for records whose business time falls in `[from, to)`; voided ones excluded.
    pub fn tallies(&self, from: NaiveDate, to: NaiveDate) -> Result<Tallies> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, COUNT(*), SUM(person_times), SUM(signed) FROM records
             WHERE sample = ? AND voided = 0 AND occurred_at >= ? AND occurred_at < ?
             GROUP BY kind",
        )?;
        let mut t = Tallies::default();
        let rows = stmt.query_map(
            params![Store::sample_mode(&conn)?, from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string()],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)),
        )?;
        for row in rows {
            let (kind, count, people, signed) = row?;
            let (count, people, signed) = (count as u32, people as u32, signed as u32);
            t.person_times += people;
            match RecordKind::from_code(&kind) {
                Some(RecordKind::Visit) => t.visits = count,
                Some(RecordKind::SignatureHelp) => {
                    t.signature_sessions = count;
                    t.signed = signed;
                }
                Some(RecordKind::Training) => {
                    t.trainings = count;
                    t.attendance = people;
                }
                Some(RecordKind::Outreach) => t.outreach = count,
                None => {}
            }
        }
        Ok(t)
    }

    /// Each hamlet's coverage from what is on this device: baseline plus distinct people
    /// helped to a signature (one per ID hash; each session without a hash counts once).
    pub fn hamlet_progress(&self) -> Result<Vec<(Hamlet, Coverage)>> {
        let conn = self.conn();
        let reference = read_reference(&conn)?;
        // Once the server has reported commune-wide figures, they count every device; this
        // device adds only what it has not sent yet (the server has the rest), so the
        // distinct people of its own records need not be counted at all.
        let server: HashMap<String, i64> = conn
            .prepare_cached("SELECT hamlet_id, helped_signed FROM server_coverage")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let helped: HashMap<String, i64> = if !reference.commune.sample && !server.is_empty() {
            // Unsent: queued (found through the outbox) or refused (their own index).
            let mut unsent: HashMap<String, i64> = HashMap::new();
            for sql in [
                "SELECT r.hamlet_id, COUNT(*) FROM outbox o JOIN records r ON r.id = o.record_id
                 WHERE r.sample = 0 AND r.signed = 1 AND r.voided = 0 GROUP BY r.hamlet_id",
                "SELECT hamlet_id, COUNT(*) FROM records WHERE sample = 0 AND sync_state = 'rejected'
                 AND signed = 1 AND voided = 0 GROUP BY hamlet_id",
            ] {
                for row in
                    conn.prepare_cached(sql)?.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                {
                    let (hamlet, n) = row?;
                    *unsent.entry(hamlet).or_default() += n;
                }
            }
            reference
                .hamlets
                .iter()
                .map(|h| {
                    let n = server.get(&h.id).copied().unwrap_or(0) + unsent.get(&h.id).copied().unwrap_or(0);
                    (h.id.clone(), n)
                })
                .collect()
        } else {
            conn.prepare_cached(
                "SELECT hamlet_id, COUNT(DISTINCT person_key) + SUM(person_key IS NULL) FROM records
                 WHERE sample = ? AND signed = 1 AND voided = 0 GROUP BY hamlet_id",
            )?
            .query_map([reference.commune.sample], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
        };
        Ok(reference
            .hamlets
            .iter()
            .map(|h| {
                let c = Coverage {
                    adult_population: h.adult_population,
                    baseline_signed: h.baseline_signed,
                    helped_signed: helped.get(&h.id).copied().unwrap_or(0) as u32,
                    target_percent: reference.commune.target_percent,
                };
                (h.clone(), c)
            })
            .collect())
    }

    pub fn outbox_summary(&self) -> Result<OutboxSummary> {
        let conn = self.conn();
        // A real record is pending exactly while its outbox row exists (saved together,
        // settled together), so the queue's small table answers without reading records.
        let pending: i64 = conn.prepare_cached("SELECT COUNT(*) FROM outbox")?.query_row([], |r| r.get(0))?;
        let rejected: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM records WHERE sample = 0 AND sync_state = 'rejected'")?
            .query_row([], |r| r.get(0))?;
        Ok(OutboxSummary { pending: pending as u32, rejected: rejected as u32 })
    }

    /// The outbox in queue order: (record id, version to send). Practice records never
    /// appear here.
    pub fn outbox(&self, limit: usize) -> Result<Vec<(Uuid, i64)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT record_id, version FROM outbox ORDER BY queued_at, record_id LIMIT ?")?;
        let rows = stmt.query_map([limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| {
            let (id, v) = r?;
            Ok((Uuid::parse_str(&id).map_err(|e| StoreError::Decode(e.to_string()))?, v))
        })
        .collect()
    }

    /// The server acknowledged `version` of a record: its outbox row leaves, unless a newer
    /// version was queued meanwhile.
    pub fn mark_sent(&self, id: Uuid, version: i64) -> Result<()> {
        self.settle(id, version, SyncState::Sent, None)
    }

    /// The server refused `version` of a record with `reason`; it leaves the queue until
    /// the volunteer fixes it.
    pub fn mark_rejected(&self, id: Uuid, version: i64, reason: &str) -> Result<()> {
        self.settle(id, version, SyncState::Rejected, Some(reason))
    }

    fn settle(&self, id: Uuid, version: i64, state: SyncState, reason: Option<&str>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let removed =
            tx.execute("DELETE FROM outbox WHERE record_id = ? AND version = ?", params![id.to_string(), version])?;
        if removed == 1 {
            tx.execute(
                "UPDATE records SET sync_state = ?, reject_reason = ? WHERE id = ? AND version = ?",
                params![state.code(), reason, id.to_string(), version],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    // ---- sync -----------------------------------------------------------------------

    /// Where and as whom this device syncs, once enrolled.
    pub fn enrolment(&self) -> Result<Option<Enrolment>> {
        let conn = self.conn();
        let get = |k| get_setting(&conn, k);
        match (get("server_url")?, get("commune_code")?, get("server_token")?, get("server_device_id")?) {
            (Some(server_url), Some(commune), Some(token), Some(device_id)) => {
                Ok(Some(Enrolment { server_url, commune, token, device_id, cert_pin: get("server_cert_pin")? }))
            }
            _ => Ok(None),
        }
    }

    /// Becomes a device of a real commune: keeps the server's address, certificate pin,
    /// token and sealing key, and replaces the sample commune by the commune's reference
    /// data, all at once. Practice records stay on the device, hidden, and are never sent.
    /// Each volunteer keeps the PIN they chose.
    pub fn enrol(&self, enrolment: &Enrolment, seal_key: &SealKey, reference: &ReferenceData) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        set_setting(&tx, "server_url", &enrolment.server_url)?;
        set_setting(&tx, "commune_code", &enrolment.commune)?;
        set_setting(&tx, "server_token", &enrolment.token)?;
        set_setting(&tx, "server_device_id", &enrolment.device_id)?;
        match &enrolment.cert_pin {
            Some(pin) => set_setting(&tx, "server_cert_pin", pin)?,
            None => {
                tx.execute("DELETE FROM settings WHERE key = 'server_cert_pin'", [])?;
            }
        }
        set_setting(&tx, "seal_key", &seal_key.to_hex())?;
        set_setting(&tx, "pull_cursor", "0")?;
        // A revocation is over.
        tx.execute("DELETE FROM settings WHERE key = 'revoked'", [])?;
        let mut reference = reference.clone();
        reference.commune.sample = false;
        write_reference(&tx, &reference)?;
        // The practice volunteer list is gone; whoever holds the device chooses again.
        tx.execute("DELETE FROM settings WHERE key = 'current_volunteer'", [])?;
        tx.execute("DELETE FROM drafts", [])?;
        tx.commit()?;
        Ok(())
    }

    /// The oldest queued records, at their queued versions, for the next push.
    pub fn outbox_batch(&self, limit: usize) -> Result<Vec<Record>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM outbox o JOIN records r ON r.id = o.record_id AND r.version = o.version
             ORDER BY o.queued_at, o.record_id LIMIT ?",
            RECORD_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
        ))?;
        let rows = stmt.query_map([limit as i64], read_row)?;
        rows.map(|r| r?).collect()
    }

    /// Applies a push's answers in one transaction: acknowledged versions leave the outbox,
    /// rejected ones go to quarantine with the server's reason, the rest stay queued.
    pub fn settle_push(&self, settled: &[Settled]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for s in settled {
            let (id, version, state, reason) = match s {
                Settled::Sent { id, version } => (id, version, SyncState::Sent, None),
                Settled::Rejected { id, version, reason } => (id, version, SyncState::Rejected, Some(reason.as_str())),
            };
            let removed = tx
                .prepare_cached("DELETE FROM outbox WHERE record_id = ? AND version = ?")?
                .execute(params![id.to_string(), version])?;
            if removed == 1 {
                tx.prepare_cached("UPDATE records SET sync_state = ?, reject_reason = ? WHERE id = ? AND version = ?")?
                    .execute(params![state.code(), reason, id.to_string(), version])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies a page of the server's change log and advances the cursor, together.
    pub fn apply_pull(&self, changes: &[Pulled], cursor: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for change in changes {
            match change {
                Pulled::Reference(reference) => {
                    let mut reference = reference.clone();
                    reference.commune.sample = false;
                    write_reference(&tx, &reference)?;
                }
                Pulled::Erase(id) => {
                    erase_personal(&tx, *id)?;
                }
                Pulled::Coverage { hamlet_id, helped_signed } => {
                    tx.execute(
                        "INSERT INTO server_coverage (hamlet_id, helped_signed) VALUES (?, ?)
                         ON CONFLICT (hamlet_id) DO UPDATE SET helped_signed = excluded.helped_signed",
                        params![hamlet_id, helped_signed],
                    )?;
                }
                Pulled::Assignment(volunteers) => {
                    set_setting(&tx, pins::ASSIGNED, &serde_json::to_string(volunteers)?)?;
                }
                Pulled::PinCode { volunteer_id, hash, expires_at } => {
                    let code = pins::PinCode { hash: hash.clone(), expires_at: *expires_at };
                    set_setting(&tx, &pins::pin_code_key(volunteer_id), &serde_json::to_string(&code)?)?;
                }
            }
        }
        set_setting(&tx, "pull_cursor", &cursor.to_string())?;
        tx.commit()?;
        if changes.iter().any(|c| matches!(c, Pulled::Erase(_))) {
            // Old page images of the erased details may still sit in the WAL: fold it in.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    pub fn pull_cursor(&self) -> Result<i64> {
        Ok(self.setting("pull_cursor")?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    /// The server said this device is revoked: erases the personal details of every record
    /// the server already has (sent, nothing newer queued) and of every record it refused
    /// (quarantined: it can never be sent from here again), deletes every draft, keeps the
    /// unsent ones (in the encrypted store, to be handed over), and remembers what it did
    /// for the home screen. Running it again erases nothing more and keeps the first date.
    pub fn wipe_after_revocation(&self) -> Result<Wiped> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let erase_in = |state: &str| -> Result<u32> {
            let ids: Vec<String> = tx
                .prepare(
                    "SELECT id FROM records WHERE sample = 0 AND sync_state = ?
                     AND id NOT IN (SELECT record_id FROM outbox)",
                )?
                .query_map([state], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut erased = 0;
            for id in &ids {
                let id = Uuid::parse_str(id).map_err(|e| StoreError::Decode(e.to_string()))?;
                erased += erase_personal(&tx, id)? as u32;
            }
            Ok(erased)
        };
        let erased = erase_in(SyncState::Sent.code())?;
        let rejected_erased = erase_in(SyncState::Rejected.code())?;
        let drafts_deleted = tx.execute("DELETE FROM drafts", [])? as u32;
        let kept_unsent: u32 = tx.query_row(
            "SELECT count(*) FROM records WHERE sample = 0 AND id IN (SELECT record_id FROM outbox)",
            [],
            |r| r.get(0),
        )?;
        let previous: Option<Wiped> = get_setting(&tx, "revoked")?.and_then(|s| serde_json::from_str::<Wiped>(&s).ok());
        let wiped = Wiped {
            at: previous.as_ref().map(|p| p.at).unwrap_or_else(|| self.now()),
            erased: previous.as_ref().map(|p| p.erased).unwrap_or(0) + erased,
            rejected_erased: previous.as_ref().map(|p| p.rejected_erased).unwrap_or(0) + rejected_erased,
            drafts_deleted: previous.as_ref().map(|p| p.drafts_deleted).unwrap_or(0) + drafts_deleted,
            kept_unsent,
        };
        set_setting(&tx, "revoked", &serde_json::to_string(&wiped)?)?;
        tx.commit()?;
        // Old page images of the erased details may still sit in the WAL: fold it in.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(wiped)
    }

    /// What [`Store::wipe_after_revocation`] did, if the device was revoked.
    pub fn revocation(&self) -> Result<Option<Wiped>> {
        Ok(self.setting("revoked")?.and_then(|s| serde_json::from_str(&s).ok()))
    }

    // ---- drafts ---------------------------------------------------------------------

    /// Keeps a half-filled form so it survives leaving the screen or the app closing.
    pub fn save_draft(&self, key: &str, record_id: Option<Uuid>, form: &Form) -> Result<()> {
        let json = serde_json::to_string(form)?;
        self.conn().execute(
            "INSERT INTO drafts (key, kind, record_id, form, updated_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET form = excluded.form, updated_at = excluded.updated_at",
            params![key, form.kind().code(), record_id.map(|u| u.to_string()), json, ts(self.now())],
        )?;
        Ok(())
    }

    pub fn draft(&self, key: &str) -> Result<Option<Draft>> {
        let conn = self.conn();
        conn.query_row("SELECT key, record_id, form, updated_at FROM drafts WHERE key = ?", [key], read_draft)
            .optional()?
            .transpose()
    }

    pub fn drafts(&self) -> Result<Vec<Draft>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT key, record_id, form, updated_at FROM drafts ORDER BY updated_at DESC")?;
        let rows = stmt.query_map([], read_draft)?;
        rows.map(|r| r?).collect()
    }

    pub fn discard_draft(&self, key: &str) -> Result<()> {
        self.conn().execute("DELETE FROM drafts WHERE key = ?", [key])?;
        Ok(())
    }
}

const RECORD_COLUMNS: &str = "id, hamlet_id, volunteer_id, device_id, occurred_at, saved_at, version, voided, \
     void_reason, sample, body, sync_state, reject_reason";

fn read_row(r: &rusqlite::Row) -> rusqlite::Result<Result<Record>> {
    let id: String = r.get(0)?;
    let occurred_at: String = r.get(4)?;
    let saved_at: String = r.get(5)?;
    let body: String = r.get(10)?;
    let state: String = r.get(11)?;
    let (hamlet_id, volunteer_id, device_id) = (r.get(1)?, r.get(2)?, r.get(3)?);
    let (version, voided, void_reason, sample, reject_reason) =
        (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(12)?);
    Ok((|| {
        Ok(Record {
            meta: Meta {
                id: Uuid::parse_str(&id).map_err(|e| StoreError::Decode(e.to_string()))?,
                hamlet_id,
                volunteer_id,
                device_id,
                occurred_at: parse_local(&occurred_at)?,
                saved_at: parse_ts(&saved_at)?,
                version,
                voided,
                void_reason,
                sample,
            },
            body: serde_json::from_str(&body)?,
            sync_state: SyncState::from_code(&state)
                .ok_or_else(|| StoreError::Decode(format!("sync state {state}")))?,
            reject_reason,
        })
    })())
}

fn read_draft(r: &rusqlite::Row) -> rusqlite::Result<Result<Draft>> {
    let key: String = r.get(0)?;
    let record_id: Option<String> = r.get(1)?;
    let form: String = r.get(2)?;
    let updated_at: String = r.get(3)?;
    Ok((|| {
        Ok(Draft {
            key,
            record_id: record_id.and_then(|s| Uuid::parse_str(&s).ok()),
            form: serde_json::from_str(&form)?,
            updated_at: parse_ts(&updated_at)?,
        })
    })())
}

fn get_record(conn: &Connection, id: Uuid) -> Result<Option<Record>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = ?"))?;
    stmt.query_row([id.to_string()], read_row).optional()?.transpose()
}

/// Writes `record` as its current version and queues it. (The version it replaces was put
/// in the history by [`keep_in_history`] first.)
fn insert_version(tx: &Transaction, record: &Record, new: bool) -> Result<()> {
    let m = &record.meta;
    let body = serde_json::to_string(&record.body)?;
    let search_text = own_search_text(&record.body);
    let occurred = m.occurred_at.format(TIME_FMT).to_string();
    let saved = ts(m.saved_at);
    let id = m.id.to_string();
    let sql = if new {
        "INSERT INTO records (id, kind, hamlet_id, volunteer_id, device_id, occurred_at, saved_at, version,
            voided, void_reason, sample, body, search_text, person_times, signed, person_key, parent_id,
            sync_state, reject_reason, search_sig, subtype)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
    } else {
        "UPDATE records SET kind = ?2, hamlet_id = ?3, volunteer_id = ?4, device_id = ?5, occurred_at = ?6,
            saved_at = ?7, version = ?8, voided = ?9, void_reason = ?10, sample = ?11, body = ?12,
            search_text = ?13, person_times = ?14, signed = ?15, person_key = ?16, parent_id = ?17,
            sync_state = ?18, reject_reason = ?19, search_sig = ?20, subtype = ?21
         WHERE id = ?1"
    };
    tx.prepare_cached(sql)?.execute(params![
        id,
        record.body.kind().code(),
        m.hamlet_id,
        m.volunteer_id,
        m.device_id,
        occurred,
        saved,
        m.version,
        m.voided,
        m.void_reason,
        m.sample,
        body,
        search_text,
        record.body.person_times(),
        record.body.signed(),
        record.body.person_key().map(short_person_key),
        record.body.parent_id().map(|u| u.to_string()),
        record.sync_state.code(),
        record.reject_reason,
        word_sketch(&search_text),
        record.body.subtype(),
    ])?;
    if !m.sample {
        tx.prepare_cached(
            "INSERT INTO outbox (record_id, version, queued_at) VALUES (?, ?, ?)
             ON CONFLICT (record_id) DO UPDATE SET version = excluded.version",
        )?
        .execute(params![id, m.version, saved])?;
    }
    Ok(())
}

/// The text search compares for a record: its own words, folded, between spaces so that
/// word starts and whole words can be matched with LIKE. Its hamlet's, volunteer's and
/// label's words are not in it: search matches them through `hamlet_id`, `volunteer_id` and
/// `kind`/`subtype` (a renamed hamlet is found by its new name at once, and the list's index
/// stays small: every page of it read from the file is a decryption).
fn own_search_text(body: &Body) -> String {
    format!(" {} ", fold(&body.search_words()))
}

/// How many hex digits of a person's ID hash the `person_key` column keeps: 64 bits, enough
/// to tell the people of one commune apart (two of 100,000 people share a prefix with odds
/// of about 1 in 3 billion), a quarter of the index the home screen's distinct count reads.
/// The record's body keeps the whole hash; the server counts with it.
const PERSON_KEY_DIGITS: usize = 16;

fn short_person_key(hash: &str) -> &str {
    hash.char_indices().nth(PERSON_KEY_DIGITS).map_or(hash, |(i, _)| &hash[..i])
}

/// Puts the current version of a record, about to be replaced, in its history, as stored
/// (no re-serialising). The history holds only replaced versions: the current one is the
/// record itself, so a new record's save writes nothing here.
fn keep_in_history(tx: &Transaction, id: Uuid) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO record_history (record_id, version, saved_at, volunteer_id, voided, hamlet_id, occurred_at, body)
         SELECT id, version, saved_at, volunteer_id, voided, hamlet_id, occurred_at, body FROM records WHERE id = ?",
    )?
    .execute([id.to_string()])?;
    Ok(())
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

/// Brings the schema up to date, one migration per transaction.
fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = schema::MIGRATIONS.len() as i64;
    if current > latest {
        return Err(StoreError::TooNew(current));
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        after_migration(&tx, i as i64 + 1)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The part of a migration SQL cannot do, in the same transaction.
fn after_migration(tx: &Transaction, version: i64) -> Result<()> {
    if version == 7 {
        // Search text of the records' own words, label subtypes and word sketches for the
        // records saved before them.
        let rows: Vec<(i64, String)> = tx
            .prepare("SELECT rowid, body FROM records")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut update =
            tx.prepare("UPDATE records SET search_text = ?, search_sig = ?, subtype = ? WHERE rowid = ?")?;
        for (rowid, body) in rows {
            let body: Body = serde_json::from_str(&body)?;
            let text = own_search_text(&body);
            update.execute(params![text, word_sketch(&text), schema::subtype_index_v7(&body), rowid])?;
        }
    }
    Ok(())
}

/// What is at a store path before it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileState {
    /// No file, or an empty one: a new store.
    Missing,
    /// A plain SQLite file (from before encryption).
    Plain,
    /// Anything else: an encrypted store (or a damaged file, which the key will not open).
    Encrypted,
}

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

fn file_state(path: &Path) -> Result<FileState> {
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
fn whole_pages(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.len() % 4096 == 0).unwrap_or(false)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens an encrypted store file with `key`, and proves the key right by reading the schema.
fn open_keyed(path: &Path, key: &DbKey) -> Result<Connection> {
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
fn check_readable(conn: &Connection, path: &Path) -> Result<()> {
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
enum Source {
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
fn reencrypt(path: &Path, key: &DbKey, from: Source) -> Result<()> {
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

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    schema::MIGRATIONS.len() as i64
}

/// Drops a record's personal details everywhere on the device: the person helped and the
/// free text (`Body::erase_personal`), the void reason, every replaced version in its
/// history, and a draft of it. The record keeps its counts and is not re-queued (the server
/// erased its own copy first). True if the record had personal details.
fn erase_personal(tx: &Connection, id: Uuid) -> Result<bool> {
    let strip = |body: &mut Body| body.erase_personal();
    let Some(mut record) = get_record(tx, id)? else { return Ok(false) };
    let had_person = strip(&mut record.body) || record.meta.void_reason.is_some();
    let search_text = own_search_text(&record.body);
    tx.execute(
        "UPDATE records SET body = ?, person_key = NULL, void_reason = NULL, search_text = ?, search_sig = ?
         WHERE id = ?",
        params![serde_json::to_string(&record.body)?, search_text, word_sketch(&search_text), id.to_string()],
    )?;
    let versions: Vec<(i64, String)> = tx
        .prepare("SELECT version, body FROM record_history WHERE record_id = ?")?
        .query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (version, json) in versions {
        let mut body: Body = serde_json::from_str(&json)?;
        strip(&mut body);
        tx.execute(
            "UPDATE record_history SET body = ? WHERE record_id = ? AND version = ?",
            params![serde_json::to_string(&body)?, id.to_string(), version],
        )?;
    }
    tx.execute("DELETE FROM drafts WHERE key = ?", [format!("edit:{id}")])?;
    Ok(had_person)
}
