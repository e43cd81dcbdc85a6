//! The office's view of the records (the list, one record with its history, the search
//! for a person) and the erasure of a person's details, which sticks.

use std::collections::BTreeSet;

use super::sql::{Row, Value};
use super::*;

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
        Ok(self.records_page(commune, f, 0, limit)?.0)
    }

    /// The records matching `f`, newest first, from the `offset`-th for at most `limit`, and
    /// how many match in all.
    pub fn records_page(
        &self,
        commune: &str,
        f: &RecordFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<RecordRow>, u64)> {
        let mut sql = String::from(" FROM records WHERE commune = ?");
        let mut args: Vec<Value> = vec![Value::Text(commune.to_owned())];
        for (col, op, v) in [
            ("hamlet_id", "=", &f.hamlet_id),
            ("volunteer_id", "=", &f.volunteer_id),
            ("kind", "=", &f.kind),
            ("occurred_at", ">=", &f.from),
            ("occurred_at", "<", &f.to_exclusive),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} {op} ?"));
                args.push(Value::Text(v.clone()));
            }
        }
        let page = format!(
            "SELECT id, kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided, body{sql}
             ORDER BY occurred_at DESC, id DESC LIMIT {} OFFSET {offset}",
            limit.min(1000)
        );
        self.read(|c| {
            let total: i64 = c.one(&format!("SELECT COUNT(*){sql}"), args.clone())?;
            let out = c.query_map(&page, args.clone(), read_record_row)?;
            Ok((out, total.max(0) as u64))
        })
    }

    pub fn record(&self, commune: &str, id: Uuid) -> Result<Option<(RecordRow, Vec<HistoryRow>)>> {
        self.read(|c| {
            let row = c.query_opt(
                "SELECT id, kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided, body FROM records
                 WHERE commune = ? AND id = ?",
                params![commune, id.to_string()],
                read_record_row,
            )?;
            let Some(row) = row else { return Ok(None) };
            let history = c.query_map(
                "SELECT version, received_at, device_id, voided, record FROM record_history WHERE id = ? ORDER BY version DESC",
                [id.to_string()],
                |r| {
                    Ok(HistoryRow {
                        version: r.get(0)?,
                        received_at: r.get(1)?,
                        device_id: r.get(2)?,
                        voided: r.get(3)?,
                        record: serde_json::from_str(r.str(4)?)?,
                    })
                },
            )?;
            Ok(Some((row, history)))
        })
    }

    /// Signature sessions of a commune whose person matches: by a citizen-ID hash, or by
    /// a name (ignoring case and diacritics; every word must appear).
    pub fn find_person(&self, commune: &str, name: Option<&str>, cid_hash: Option<&str>) -> Result<Vec<RecordRow>> {
        let words = name.map(crate::domain::fold::query_terms).unwrap_or_default();
        if cid_hash.is_none() && words.is_empty() {
            return Ok(Vec::new());
        }
        // Sessions without a person in the body are left out below, from the body read here.
        let rows = self.read(|c| {
            c.query_map(
                "SELECT id, kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided, body FROM records
                 WHERE commune = ?1 AND kind = 'signature_help' AND (CAST(?2 AS TEXT) IS NULL OR person_key = ?2)
                 ORDER BY occurred_at",
                params![commune, cid_hash],
                read_record_row,
            )
        })?;
        Ok(rows
            .into_iter()
            .filter(|row| match &row.body {
                crate::domain::Body::SignatureHelp(s) => s.person.as_ref().is_some_and(|p| {
                    let folded = crate::domain::fold::fold(&p.display_name);
                    words.iter().all(|w| folded.split(' ').any(|x| x.starts_with(w.as_str())))
                }),
                _ => false,
            })
            .collect())
    }

    /// True when the personal details of this record were erased on request.
    pub fn was_erased(&self, commune: &str, id: Uuid) -> Result<bool> {
        self.read(|c| {
            c.one(
                "SELECT EXISTS (SELECT 1 FROM records WHERE commune = ? AND id = ? AND erased = 1)",
                params![commune, id.to_string()],
            )
        })
    }

    /// Erases the personal details of these records (and the free text of the visits or
    /// meetings they belong to), here and in their history, and tells every device of the
    /// commune to do the same at its next sync. What they count (the session, its outcome and
    /// hamlet) stays. The erasure sticks: the records keep the mark, and each person's ID
    /// hash is remembered for [`REMEMBER_ERASED_DAYS`] with the key their records count under
    /// now, so a later push never brings the details back (see `apply_one`). Gives the ids
    /// of the records erased.
    pub fn erase(&self, commune: &str, ids: &[Uuid], now: DateTime<Utc>) -> Result<Vec<Uuid>> {
        let erased = self.write_in(commune, |tx| erase_in(tx, commune, ids, now))?;
        self.checkpoint()?;
        Ok(erased)
    }
}

/// [`ServerDb::erase`] in its transaction.
fn erase_in(tx: &Conn, commune: &str, ids: &[Uuid], now: DateTime<Utc>) -> Result<Vec<Uuid>> {
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
        let found: Option<(String, Option<String>)> = tx.query_opt(
            "SELECT body, person_key FROM records WHERE commune = ? AND id = ?",
            params![commune, id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some((body, key)) = found else { continue };
        let mut body: Body = serde_json::from_str(&body)?;
        // The visit or meeting a session belongs to may name the household.
        queue.extend(body.parent_id());
        if let Some(old) = Share::stored(tx, &id.to_string())? {
            totals.add(&old, -1);
        }
        let key = match key {
            Some(k) if k.starts_with("erased:") => Some(k),
            Some(k) => {
                if !new_keys.contains_key(&k) {
                    new_keys.insert(k.clone(), replacement_key(tx, commune, &k)?);
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
        if let Some(new) = Share::stored(tx, &id.to_string())? {
            totals.add(&new, 1);
        }
        let versions: Vec<(i64, String)> =
            tx.query_map("SELECT version, record FROM record_history WHERE id = ?", [id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
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
        log_change(tx, commune, &format!("erase:{id}"), &Change::Erase { id })?;
        erased.push(id);
    }
    let changed = totals.settle(tx, commune)?;
    log_coverage(tx, commune, &changed)?;
    super::coverage_days::note_coverage(tx, commune, &changed, now)?;
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
    tx.execute("DELETE FROM erased_people WHERE erased_at < ?", [now_ts(now - Duration::days(REMEMBER_ERASED_DAYS))])?;
    Ok(erased)
}

/// The random key an erased person's records count under: the one given at an earlier
/// erasure of theirs, or a new one.
pub(super) fn replacement_key(tx: &Conn, commune: &str, person_key: &str) -> Result<String> {
    let earlier: Option<String> = tx.query_opt(
        "SELECT replaced_by FROM erased_people WHERE commune = ? AND person_key = ?",
        params![commune, person_key],
        |r| r.get(0),
    )?;
    Ok(earlier.unwrap_or_else(|| format!("erased:{}", Uuid::now_v7())))
}

pub(super) fn read_record_row(r: &Row) -> Result<RecordRow> {
    Ok(RecordRow {
        id: Uuid::parse_str(r.str(0)?).map_err(|_| DbError::NoDevice)?,
        kind: r.get(1)?,
        hamlet_id: r.get(2)?,
        volunteer_id: r.get(3)?,
        device_id: r.get(4)?,
        occurred_at: r.get(5)?,
        version: r.get(6)?,
        voided: r.get(7)?,
        body: serde_json::from_str(r.str(8)?)?,
    })
}
