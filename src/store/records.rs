//! Records: a new one, an edit and a void, each written with its outbox row (and the
//! version it replaces kept in the history) in one transaction; one record, its history,
//! a visit's sessions and the visits a session may belong to.

use super::*;

impl Store {
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

    pub(super) fn change(
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
}

pub(super) const RECORD_COLUMNS: &str =
    "id, hamlet_id, volunteer_id, device_id, occurred_at, saved_at, version, voided, \
     void_reason, sample, body, sync_state, reject_reason";

pub(super) fn read_row(r: &rusqlite::Row) -> rusqlite::Result<Result<Record>> {
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

pub(super) fn get_record(conn: &Connection, id: Uuid) -> Result<Option<Record>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = ?"))?;
    stmt.query_row([id.to_string()], read_row).optional()?.transpose()
}

/// Writes `record` as its current version and queues it. (The version it replaces was put
/// in the history by [`keep_in_history`] first.)
pub(super) fn insert_version(tx: &Transaction, record: &Record, new: bool) -> Result<()> {
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
pub(super) fn own_search_text(body: &Body) -> String {
    format!(" {} ", fold(&body.search_words()))
}

/// How many hex digits of a person's ID hash the `person_key` column keeps: 64 bits, enough
/// to tell the people of one commune apart (two of 100,000 people share a prefix with odds
/// of about 1 in 3 billion), a quarter of the index the home screen's distinct count reads.
/// The record's body keeps the whole hash; the server counts with it.
pub(super) const PERSON_KEY_DIGITS: usize = 16;

pub(super) fn short_person_key(hash: &str) -> &str {
    hash.char_indices().nth(PERSON_KEY_DIGITS).map_or(hash, |(i, _)| &hash[..i])
}

/// Puts the current version of a record, about to be replaced, in its history, as stored
/// (no re-serialising). The history holds only replaced versions: the current one is the
/// record itself, so a new record's save writes nothing here.
pub(super) fn keep_in_history(tx: &Transaction, id: Uuid) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO record_history (record_id, version, saved_at, volunteer_id, voided, hamlet_id, occurred_at, body)
         SELECT id, version, saved_at, volunteer_id, voided, hamlet_id, occurred_at, body FROM records WHERE id = ?",
    )?
    .execute([id.to_string()])?;
    Ok(())
}
