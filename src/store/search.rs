//! What the lists and home read: the search (folded words, the word sketch, labels matched
//! against the reference data once per search), the tallies of a period and each hamlet's
//! progress.

use super::*;

impl Store {
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
}
