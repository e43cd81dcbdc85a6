//! What devices push and pull: each pushed record checked by the one rule set (its sealed
//! ID number opened and hashed first, outside the transaction) and applied, in one
//! transaction for the push (an erasure kept, the running totals moved); a record refused is
//! answered alone; and the change log read after a device's cursor.

use super::known::{Known, Stored};
use super::many;
use super::sql::Value;
use super::*;

impl ServerDb {
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

    /// Applies a push read record by record ([`crate::push::read_records`]): a record
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
        // Sealed ID numbers are opened and hashed before the transaction: CPU work that
        // needs no lock (and is not repeated when PostgreSQL runs the transaction again).
        let hashed: Vec<Option<Result<WireRecord, String>>> = {
            let keys = self.keys();
            let cid_key = keys.cid_key(&device.commune).ok_or(DbError::NoCommune)?;
            items
                .iter()
                .map(|item| match item {
                    PushItem::Record(record) => Some(hash_sealed_id(record, &keys, cid_key, hashes)),
                    PushItem::Refused(_) => None,
                })
                .collect()
        };
        self.write_in(&device.commune, |tx| self.push_in(tx, device, report, items, &hashed, now))
    }

    fn push_in(
        &self,
        tx: &Conn,
        device: &Device,
        report: &DeviceReport,
        items: &[PushItem],
        hashed: &[Option<Result<WireRecord, String>>],
        now: DateTime<Utc>,
    ) -> Result<Vec<RecordResult>> {
        let mut reference: ReferenceData = serde_json::from_str(
            &tx.one::<String>("SELECT reference FROM communes WHERE code = ?", [&device.commune])?,
        )?;
        // Records a device made in a hamlet before it was retired still arrive.
        reference.hamlets.extend(super::communes::retired_hamlets(tx, &device.commune)?.into_iter().map(|(h, _)| h));
        let received = now_ts(now);
        let mut results = Vec::with_capacity(items.len());
        let mut totals = Pending::default();
        let ids: Vec<String> = hashed.iter().flatten().flatten().map(|r| r.id.to_string()).collect();
        let people: Vec<String> =
            hashed.iter().flatten().flatten().filter_map(|r| r.body.person_key().map(str::to_owned)).collect();
        let mut known = Known::read(tx, &device.commune, &ids, &people)?;
        let mut rows = RecordRows::default();
        for (item, hashed) in items.iter().zip(hashed) {
            let (record, hashed) = match (item, hashed) {
                (PushItem::Record(record), Some(hashed)) => (record, hashed),
                (PushItem::Refused(answer), _) => {
                    results.push(answer.clone());
                    continue;
                }
                // (Every record was hashed above.)
                (PushItem::Record(_), None) => continue,
            };
            let checked = check_record(record, &reference, now).and_then(|()| hashed.clone());
            let result = match checked {
                Err(reason) => RecordResult {
                    id: record.id,
                    version: record.version,
                    result: Applied::Rejected,
                    reason: Some(reason),
                },
                // A record that cannot be stored fails the whole push (nothing of it is kept,
                // the device sends it again); a refused one is answered alone.
                Ok(record) => apply_one(tx, device, &record, &received, &mut totals, &mut known, &mut rows)?,
            };
            results.push(result);
        }
        // The records and the history of the versions applied, in statements of many rows.
        rows.write(tx)?;
        let changed = totals.settle(tx, &device.commune)?;
        log_coverage(tx, &device.commune, &changed)?;
        super::coverage_days::note_coverage(tx, &device.commune, &changed, now)?;
        tx.execute(
            "UPDATE devices SET last_seen = ?, queued = ?, app_version = ? WHERE id = ?",
            params![received, report.queued, report.app_version, device.id],
        )?;
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
        let rows: Vec<(i64, String)> = self.read(|c| {
            c.query_map(
                "SELECT seq, change FROM change_log WHERE commune = ? AND seq > ? AND (device IS NULL OR device = ?)
                 ORDER BY seq LIMIT ?",
                params![commune, after, device, limit as i64 + 1],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?;
        let mut out = Vec::new();
        for (seq, json) in rows {
            out.push((seq, serde_json::from_str(&json)?));
        }
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }
}

/// Checks a pushed record with the one rule set (`WireRecord::check`); the reason is for
/// the volunteer, in Vietnamese, names each field at fault and no personal detail.
pub(super) fn check_record(r: &WireRecord, reference: &ReferenceData, now: DateTime<Utc>) -> Result<(), String> {
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
pub(super) fn hash_sealed_id(
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

/// The columns of a `record_history` row.
const HISTORY_COLUMNS: usize = 6;

/// A stored record's row: 27 values, then 3 for the unit it is made under, stamped once (the
/// volunteer's unit, else the device's; `db::units`), which a later version leaves alone.
const RECORD_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
    COALESCE((SELECT unit FROM unit_volunteers WHERE commune = ? AND volunteer_id = ?),
             (SELECT unit FROM devices WHERE id = ?)))";
const RECORD_WIDTH: usize = 30;

/// The records a push applies and their versions' history, written together at the end of
/// the push ([`super::many`]); the records also before a second version of one of them (one
/// statement may not write a row twice).
#[derive(Default)]
pub(super) struct RecordRows {
    values: Vec<Value>,
    ids: std::collections::HashSet<String>,
    /// [`HISTORY_COLUMNS`] values per version applied.
    history: Vec<Value>,
}

impl RecordRows {
    fn add(&mut self, tx: &Conn, id: &str, row: &[&dyn super::value::ToValue]) -> Result<()> {
        debug_assert_eq!(row.len(), RECORD_WIDTH);
        if self.ids.contains(id) {
            self.write_records(tx)?;
        }
        self.ids.insert(id.to_owned());
        self.values.extend(row.iter().map(|v| v.to_value()));
        Ok(())
    }

    /// Writes the records gathered so far, then their history.
    pub(super) fn write(&mut self, tx: &Conn) -> Result<()> {
        self.write_records(tx)?;
        many::execute_rows(
            tx,
            [
                "INSERT INTO record_history (id, version, device_id, received_at, voided, record) VALUES",
                &many::row_of(HISTORY_COLUMNS),
                "ON CONFLICT DO NOTHING",
            ],
            HISTORY_COLUMNS,
            std::mem::take(&mut self.history),
            &[],
        )
    }

    fn write_records(&mut self, tx: &Conn) -> Result<()> {
        self.ids.clear();
        many::execute_rows(
            tx,
            [
                "INSERT INTO records (id, commune, device_id, kind, hamlet_id, volunteer_id, occurred_at, saved_at,
                    received_at, version, voided, void_reason, body, person_times, signed, person_key, outcome,
                    failure_reason, women, minority, channel, quantity, reach, erased, person_sex, person_minority,
                    level2, unit) VALUES",
                RECORD_ROW,
                "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, hamlet_id = excluded.hamlet_id,
                    volunteer_id = excluded.volunteer_id, occurred_at = excluded.occurred_at,
                    saved_at = excluded.saved_at, received_at = excluded.received_at, version = excluded.version,
                    voided = excluded.voided, void_reason = excluded.void_reason, body = excluded.body,
                    person_times = excluded.person_times, signed = excluded.signed,
                    person_key = excluded.person_key, outcome = excluded.outcome,
                    failure_reason = excluded.failure_reason, women = excluded.women, minority = excluded.minority,
                    channel = excluded.channel, quantity = excluded.quantity, reach = excluded.reach,
                    erased = excluded.erased, person_sex = excluded.person_sex,
                    person_minority = excluded.person_minority, level2 = excluded.level2",
            ],
            RECORD_WIDTH,
            std::mem::take(&mut self.values),
            &[],
        )
    }
}

/// Applies one checked record: `known` says what is stored (and learns what this stores),
/// `rows` gathers its row and the version's history row, written together for the whole
/// push.
pub(super) fn apply_one(
    tx: &Conn,
    device: &Device,
    r: &WireRecord,
    received: &str,
    totals: &mut Pending,
    known: &mut Known,
    rows: &mut RecordRows,
) -> Result<RecordResult> {
    let id = r.id.to_string();
    let existing: Option<Stored> = known.record(&id).cloned();
    let result = |result: Applied, reason: Option<&str>| RecordResult {
        id: r.id,
        version: r.version,
        result,
        reason: reason.map(str::to_owned),
    };
    let mut voided = r.voided;
    if let Some(stored) = &existing {
        if stored.device != device.id {
            return Ok(result(Applied::Rejected, Some("Mã bản ghi trùng với bản ghi của máy khác.")));
        }
        if r.version == stored.version {
            return Ok(result(Applied::Duplicate, None));
        }
        if r.version < stored.version {
            return Ok(result(Applied::Stale, None));
        }
        // A void always wins: a later version never brings a voided record back.
        voided |= stored.voided;
    }
    // An erasure sticks: whatever a device sends later for an erased record, or a record
    // new to the server of an erased person made before the erasure, is kept without the
    // person's details and counts under the key that replaced their hash; every device (the
    // sender at the pull that follows this push) is told to erase it again. (Records of the
    // person the office chose not to erase stay as they are.)
    let mut person_key = r.body.person_key().map(str::to_owned);
    let erased_key: Option<Option<String>> = match (&existing, &person_key) {
        (Some(stored), _) if stored.erased => Some(stored.person_key.clone()),
        (Some(_), _) => None,
        (None, Some(key)) => known.erased_before(key, &now_ts(r.saved_at)).map(|by| Some(by.to_owned())),
        _ => None,
    };
    let erased = erased_key.is_some();
    // The breakdown of the record as sent, before an erasure strips it (`breakdowns`).
    let fresh = super::breakdowns::person_fields(&r.body);
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
    if let Some(old) = existing.as_ref().and_then(|s| s.share.as_ref()) {
        totals.add(old, -1);
    }
    let body = serde_json::to_string(&r.body)?;
    let saved = now_ts(r.saved_at);
    let occurred = r.occurred_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let f = ReportFields::of(&r.body);
    // A stored erased record has no person left in its body, but keeps the breakdown it was
    // counted under (`breakdowns`).
    let (sex, person_minority, level2) = match (&existing, erased) {
        (Some(stored), true) => (stored.sex.clone(), stored.person_minority, fresh.2),
        _ => (fresh.0.map(str::to_owned), fresh.1, fresh.2),
    };
    let new = (!voided).then(|| Share {
        kind: r.body.kind().code().to_owned(),
        hamlet_id: r.hamlet_id.clone(),
        volunteer_id: r.volunteer_id.clone(),
        // As `SHARE_COLUMNS` reads it back: the stored time's first ten characters.
        day: occurred.get(..10).unwrap_or(&occurred).to_owned(),
        outcome: f.outcome.map(str::to_owned),
        failure_reason: f.failure_reason.map(str::to_owned),
        channel: f.channel.map(str::to_owned),
        person_times: r.body.person_times().into(),
        signed: r.body.signed(),
        women: f.women.into(),
        minority: f.minority.into(),
        quantity: f.quantity.into(),
        reach: f.reach.into(),
        person_key: person_key.clone(),
        person_sex: sex.clone(),
        person_minority,
        level2,
    });
    rows.add(
        tx,
        &id,
        &params![
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
            sex,
            person_minority,
            level2,
            // For the unit it is made under (`RECORD_ROW`).
            device.commune,
            r.volunteer_id,
            device.id,
        ],
    )?;
    if let Some(new) = &new {
        totals.add(new, 1);
    }
    rows.history.extend([
        Value::Text(id.clone()),
        Value::Int(r.version),
        Value::Text(device.id.clone()),
        Value::Text(received.to_owned()),
        Value::Int(voided.into()),
        Value::Text(serde_json::to_string(r)?),
    ]);
    let stored = Stored {
        version: r.version,
        voided,
        device: device.id.clone(),
        erased,
        person_key,
        sex,
        person_minority,
        share: new,
    };
    known.stored(id, stored);
    Ok(result(Applied::Applied, None))
}

/// The body fields reports count, pulled out into columns.
#[derive(Default)]
pub(super) struct ReportFields {
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
