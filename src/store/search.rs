//! What the lists and home read: the search (folded words, the full-text index or the word
//! sketch, labels matched against the reference data once per search), the tallies of a
//! period and each hamlet's progress.
//!
//! A search has two plans for the records found by their own words. The list's index is
//! read newest first until a page is full: quick when many records match, but a query that
//! matches few records reads all of it. So the full-text index (`record_words`, migration 9)
//! is asked first how many records can match; when they are few, only those are read, by
//! rowid, and sorted. Both plans apply the same exact conditions, so they find the same
//! records: the index only narrows what is compared.

use super::*;

/// At most this many records whose words can match a query are read through the full-text
/// index and sorted; with more, the list's index read newest first fills a page after about
/// `limit / matches` of it, which is then quicker than reading each one by rowid.
const FEW_WORD_MATCHES: i64 = 400;

/// The longest word start the full-text index holds its own list of (`prefix` in migration 9).
const INDEXED_PREFIX: usize = 6;

impl Store {
    /// Records matching `filter`, in [`Store::search_ranked`]'s order: those found by their
    /// own words first, then those found only by their label, hamlet or volunteer.
    pub fn search(&self, filter: &Filter) -> Result<Vec<Record>> {
        let found = self.search_ranked(filter)?;
        Ok(found.by_name.into_iter().chain(found.by_label).collect())
    }

    /// Records matching `filter`, each part newest business time first. Ignoring case and
    /// diacritics, each word of `filter.text` must be a word of the record or begin one
    /// ("ngu" finds "Nguyễn"). A record whose own words (the person's or household's name,
    /// trainers, notes) hold every query word is in `by_name`; one that matches only with
    /// the name of its hamlet, its volunteer or its label ("dinh" in "Thăm hộ gia đình")
    /// is in `by_label`, after them. Together they hold at most `filter.limit` records.
    pub fn search_ranked(&self, filter: &Filter) -> Result<Found> {
        let conn = self.conn();
        let sample = Store::sample_mode(&conn)?;
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        let terms = query_terms(&filter.text);
        // The conditions of a match by the record's own words, and of any match.
        let mut own: Vec<Condition> = Vec::new();
        let mut any: Vec<Condition> = Vec::new();
        let (mut own_mask, mut any_mask) = (0, 0);
        let mut by_reference = false;
        if !terms.is_empty() {
            // The names of hamlets, volunteers and labels are matched here, once, against
            // the reference data and become conditions on ids.
            let reference = read_reference(&conn)?;
            let names: Vec<(&str, &String, String)> = reference
                .hamlets
                .iter()
                .map(|h| ("hamlet_id", &h.id, &h.name))
                .chain(reference.volunteers.iter().map(|v| ("volunteer_id", &v.id, &v.name)))
                .map(|(column, id, name)| (column, id, fold(name)))
                .collect();
            for term in &terms {
                let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                // The text is wrapped in spaces: a query word must begin a word.
                let pattern: rusqlite::types::Value = format!("% {escaped}%").into();
                own.push(("search_text LIKE ? ESCAPE '\\'".into(), vec![pattern.clone()]));
                let mut condition = String::from("(search_text LIKE ? ESCAPE '\\'");
                let mut values = vec![pattern];
                let mut term_by_reference = false;
                for (column, id, _) in names.iter().filter(|(_, _, name)| has_word(name, term)) {
                    condition.push_str(&format!(" OR {column} = ?"));
                    values.push(id.to_string().into());
                    term_by_reference = true;
                }
                for (kind, subtype, words) in &self.labels {
                    if has_word(words, term) {
                        condition.push_str(" OR (kind = ? AND subtype IS ?)");
                        values.push(kind.code().to_owned().into());
                        values.push(subtype.map(str::to_owned).into());
                        term_by_reference = true;
                    }
                }
                condition.push(')');
                any.push((condition, values));
                // Records whose word sketch lacks a query word's bit are passed over before
                // their text is compared: a search that matches little reads every record.
                if term.chars().count() >= SKETCH_LETTERS {
                    own_mask |= term_bit(term);
                    if !term_by_reference {
                        any_mask |= term_bit(term);
                    }
                }
                by_reference |= term_by_reference;
            }
        }
        let words = match full_text_query(&terms) {
            Some(q) if few_word_matches(&conn, &q)? => Some(q),
            _ => None,
        };
        let by_name = Store::select_records(&conn, sample, filter, words.as_deref(), own_mask, &own, limit)?;
        let by_label = if by_reference && by_name.len() < limit {
            // Every query word matched somewhere, but not every one in the record's own words.
            let mut not_own = String::from("NOT (");
            let mut values = Vec::new();
            for (i, (c, v)) in own.iter().enumerate() {
                if i > 0 {
                    not_own.push_str(" AND ");
                }
                not_own.push_str(c);
                values.extend(v.iter().cloned());
            }
            not_own.push(')');
            any.push((not_own, values));
            Store::select_records(&conn, sample, filter, None, any_mask, &any, limit - by_name.len())?
        } else {
            Vec::new()
        };
        Ok(Found { by_name, by_label })
    }

    /// The records of this mode (practice or real) that pass the sketch `mask`, every one of
    /// `conditions` and the filter's other choices, newest business time first. With
    /// `words` (a [`full_text_query`]), only the records the full-text index gives for it
    /// are read; without, the list's index is read newest first.
    fn select_records(
        conn: &Connection,
        sample: bool,
        filter: &Filter,
        words: Option<&str>,
        mask: i64,
        conditions: &[Condition],
        limit: usize,
    ) -> Result<Vec<Record>> {
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut sql = match words {
            // CROSS JOIN: the index's few rowids first, then each record by its rowid.
            Some(words) => {
                args.push(words.to_owned().into());
                format!(
                    "SELECT {RECORD_COLUMNS} FROM record_words CROSS JOIN records
                     ON records.rowid = record_words.rowid WHERE record_words MATCH ? AND sample = ?"
                )
            }
            None => format!("SELECT {RECORD_COLUMNS} FROM records WHERE sample = ?"),
        };
        args.push(sample.into());
        if mask != 0 {
            sql.push_str(" AND (search_sig & ?) = ?");
            args.push(mask.into());
            args.push(mask.into());
        }
        for (condition, values) in conditions {
            sql.push_str(" AND ");
            sql.push_str(condition);
            args.extend(values.iter().cloned());
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
        args.push((limit as i64).into());
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

/// The full-text query of a search's words: each word as a prefix (`"ngu"*` matches the
/// words that begin with "ngu"), all of them required. The index splits words where the
/// search text has a character other than a letter or digit ("h'nga" is "h" and "nga"), so
/// a word is given as its runs of letters and digits in a row (`"h n"*`), which matches at
/// least every record whose word begins with it. The last run is cut to the
/// [`INDEXED_PREFIX`] letters the index holds word starts of, so that it is read from that
/// index, lazily, and never by merging whole lists. A word with a letter outside ASCII
/// (folding leaves few) or none at all is left to the exact comparison; `None` when no word
/// is left.
fn full_text_query(terms: &[String]) -> Option<String> {
    let phrases: Vec<String> = terms
        .iter()
        .filter(|t| t.is_ascii())
        .map(|t| t.split(|c: char| !c.is_ascii_alphanumeric()).filter(|r| !r.is_empty()).collect::<Vec<_>>())
        .filter(|runs| !runs.is_empty())
        .map(|mut runs| {
            if let Some(last) = runs.last_mut() {
                *last = &last[..last.len().min(INDEXED_PREFIX)];
            }
            format!("\"{}\"*", runs.join(" "))
        })
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" AND "))
}

/// Whether at most [`FEW_WORD_MATCHES`] records (of either mode) can match `query`.
fn few_word_matches(conn: &Connection, query: &str) -> Result<bool> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM (SELECT 1 FROM record_words WHERE record_words MATCH ? LIMIT ?)")?
        .query_row(params![query, FEW_WORD_MATCHES + 1], |r| r.get(0))?;
    Ok(n <= FEW_WORD_MATCHES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_text_query_asks_for_every_word_as_a_word_start() {
        let q = |words: &[&str]| full_text_query(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
        assert_eq!(q(&["ngu", "thi"]).as_deref(), Some(r#""ngu"* AND "thi"*"#));
        assert_eq!(q(&["h'n"]).as_deref(), Some(r#""h n"*"#));
        assert_eq!(q(&["'", "hoa"]).as_deref(), Some(r#""hoa"*"#));
        assert_eq!(q(&["søn"]), None);
        assert_eq!(q(&["nguyenx", "a-bcdefghi"]).as_deref(), Some(r#""nguyen"* AND "a bcdefg"*"#));
        assert_eq!(q(&[]), None);
    }
}
