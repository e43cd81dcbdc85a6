//! The office's view of the records (the list, one record with its history, the search
//! for a person) and the erasure of a person's details, which sticks.

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
        let conn = self.conn();
        let mut sql = String::from(" FROM records WHERE commune = ?");
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
        let total: i64 = conn
            .prepare(&format!("SELECT COUNT(*){sql}"))?
            .query_row(rusqlite::params_from_iter(&args), |r| r.get(0))?;
        let sql = format!(
            "SELECT id, kind, hamlet_id, volunteer_id, device_id, occurred_at, version, voided, body{sql}
             ORDER BY occurred_at DESC, id DESC LIMIT {} OFFSET {offset}",
            limit.min(1000)
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), read_record_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok((out, total.max(0) as u64))
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
        super::coverage_days::note_coverage(&tx, commune, &changed, now)?;
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
pub(super) fn replacement_key(tx: &Connection, commune: &str, person_key: &str) -> Result<String> {
    let earlier: Option<String> = tx
        .query_row(
            "SELECT replaced_by FROM erased_people WHERE commune = ? AND person_key = ?",
            params![commune, person_key],
            |r| r.get(0),
        )
        .optional()?;
    Ok(earlier.unwrap_or_else(|| format!("erased:{}", Uuid::now_v7())))
}

pub(super) fn read_record_row(r: &rusqlite::Row) -> rusqlite::Result<Result<RecordRow>> {
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
