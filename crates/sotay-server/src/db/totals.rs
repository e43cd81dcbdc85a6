//! The reports' running totals: what each stored version of a record adds to them
//! ([`Share`]), the changes one transaction makes to them (`Pending`, in `pending`), the per-hamlet
//! coverage figure devices pull ([`helped_by_hamlet`], logged by [`log_coverage`]), and
//! their check against a recomputation from the records (`ServerDb::totals_mismatches`).
//! Called by the push and erasure in `db`; it calls nothing above it (the reports read the
//! tables it keeps).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::sql::{Conn, Row, Value, ValueRef};
use super::{log_changes_for, many, Result, ServerDb};
use crate::protocol::{Change, HamletCoverage};

// ---- running totals -----------------------------------------------------------------------
//
// The reports read running totals, not the records: `apply_push` and `erase` take a
// record's share out of the totals before they change it and put the new share in after, in
// the same transaction (see `Pending`). Migration 4 in `db` backfilled them from the records;
// `ServerDb::totals_mismatches` recomputes them from the records and lists any difference.
//
// - `activity_days`: per day and hamlet, and per day and volunteer, the sums an
//   `ActivityCounts` needs (`no_key` counts signature sessions without an ID hash, each one
//   person).
// - `activity_choices`: per day, kind and choice (outcome, failure reason, channel), for the
//   outcome, reason and channel tables and the chart over time.
// - `people_days`: per day, which person (by `people.id`) had a signature session in which
//   hamlet with which volunteer, for distinct people in any period.
// - `coverage_people` and `coverage_hamlets`: the hamlet of each person's first successful
//   session, and per hamlet the people counted there by the counting rule above.

/// The columns of `records` a share is read from, in the order [`Share::read`] expects.
pub(super) const SHARE_COLUMNS: &str = "kind, hamlet_id, volunteer_id, substr(occurred_at, 1, 10), outcome, \
     failure_reason, channel, person_times, signed, women, minority, quantity, reach, person_key, voided, person_sex, \
     person_minority, level2";

/// The sums kept per day and hamlet or volunteer, in the order of [`Share::activity`].
pub(crate) const ACTIVITY_SUMS: [&str; SUMS] = [
    "records",
    "visits",
    "visit_people",
    "signature_sessions",
    "signed",
    "not_completed",
    "trainings",
    "attendance",
    "women",
    "minority",
    "outreach",
    "person_times",
    "no_key",
    // The breakdowns of signature help (`breakdowns`).
    "signed_women",
    "signed_men",
    "signed_minority",
    "signed_no_key",
    "level2",
];

/// How many sums `activity_days` keeps.
pub(crate) const SUMS: usize = 18;

/// What one stored version of a record adds to the totals.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Share {
    pub(super) kind: String,
    pub(super) hamlet_id: String,
    pub(super) volunteer_id: String,
    pub(super) day: String,
    pub(super) outcome: Option<String>,
    pub(super) failure_reason: Option<String>,
    pub(super) channel: Option<String>,
    pub(super) person_times: i64,
    pub(super) signed: bool,
    pub(super) women: i64,
    pub(super) minority: i64,
    pub(super) quantity: i64,
    pub(super) reach: i64,
    pub(super) person_key: Option<String>,
    pub(super) person_sex: Option<String>,
    pub(super) person_minority: bool,
    pub(super) level2: bool,
}

impl Share {
    /// A share from a row of [`SHARE_COLUMNS`]; `None` for a voided record, which counts
    /// nowhere.
    pub(super) fn read(r: &Row) -> Result<Option<Share>> {
        Share::read_at(r, 0)
    }

    /// A share from the [`SHARE_COLUMNS`] that start at column `at`.
    pub(super) fn read_at(r: &Row, at: usize) -> Result<Option<Share>> {
        if r.get::<bool>(at + 14)? {
            return Ok(None);
        }
        Ok(Some(Share {
            kind: r.get(at)?,
            hamlet_id: r.get(at + 1)?,
            volunteer_id: r.get(at + 2)?,
            day: r.get(at + 3)?,
            outcome: r.get(at + 4)?,
            failure_reason: r.get(at + 5)?,
            channel: r.get(at + 6)?,
            person_times: r.get(at + 7)?,
            signed: r.get(at + 8)?,
            women: r.get(at + 9)?,
            minority: r.get(at + 10)?,
            quantity: r.get(at + 11)?,
            reach: r.get(at + 12)?,
            person_key: r.get(at + 13)?,
            person_sex: r.get(at + 15)?,
            person_minority: r.get(at + 16)?,
            level2: r.get(at + 17)?,
        }))
    }

    /// The share of the stored record `id`, if it exists and is not voided.
    pub(super) fn stored(conn: &Conn, id: &str) -> Result<Option<Share>> {
        let sql = format!("SELECT {SHARE_COLUMNS} FROM records WHERE id = ?");
        Ok(conn.query_opt(&sql, [id], Share::read)?.flatten())
    }

    pub(super) fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    /// The [`ACTIVITY_SUMS`] of this record.
    pub(super) fn activity(&self) -> [i64; SUMS] {
        let (visit, session, training) = (self.is("visit"), self.is("signature_help"), self.is("training"));
        let n = |b: bool| b as i64;
        let if_ = |b: bool, v: i64| if b { v } else { 0 };
        [
            1,
            n(visit),
            if_(visit, self.person_times),
            n(session),
            n(session && self.signed),
            n(session && self.outcome.as_deref() == Some("not_completed")),
            n(training),
            if_(training, self.person_times),
            if_(training, self.women),
            if_(training, self.minority),
            n(self.is("outreach")),
            self.person_times,
            n(session && self.person_key.is_none()),
            n(session && self.signed && self.person_sex.as_deref() == Some("female")),
            n(session && self.signed && self.person_sex.as_deref() == Some("male")),
            n(session && self.signed && self.person_minority),
            n(session && self.signed && self.person_key.is_none()),
            n(session && self.level2),
        ]
    }
}

/// People helped to a signature per hamlet, by the counting rule in the module doc: what the
/// office's coverage report shows and what devices pull. Hamlets with nobody are absent.
pub(crate) fn helped_by_hamlet(conn: &Conn, commune: &str) -> Result<BTreeMap<String, u32>> {
    let rows = conn.query_map("SELECT hamlet_id, helped FROM coverage_hamlets WHERE commune = ?", [commune], |r| {
        Ok((r.get::<String>(0)?, r.get::<i64>(1)?))
    })?;
    Ok(rows.into_iter().map(|(h, n)| (h, n.max(0) as u32)).collect())
}

/// The totals recomputed from the records, one query per table, each giving the rows that
/// table should hold for commune `?1` (compared with `EXCEPT` both ways).
const RECOMPUTED: [(&str, &str, &str); 5] = [
    (
        "activity_days",
        "SELECT dim, key, day, records, visits, visit_people, signature_sessions, signed, not_completed,
                trainings, attendance, women, minority, outreach, person_times, no_key,
                signed_women, signed_men, signed_minority, signed_no_key, level2
         FROM activity_days WHERE commune = ?1",
        "SELECT dim, key, day, COUNT(*), SUM(CASE WHEN kind = 'visit' THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'visit' THEN person_times ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' AND signed = 1 THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' AND outcome = 'not_completed' THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'training' THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'training' THEN person_times ELSE 0 END),
                SUM(CASE WHEN kind = 'training' THEN women ELSE 0 END),
                SUM(CASE WHEN kind = 'training' THEN minority ELSE 0 END),
                SUM(CASE WHEN kind = 'outreach' THEN 1 ELSE 0 END), SUM(person_times),
                SUM(CASE WHEN kind = 'signature_help' AND person_key IS NULL THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' AND signed = 1 AND person_sex = 'female' THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' AND signed = 1 AND person_sex = 'male' THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' AND signed = 1 AND person_minority = 1 THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' AND signed = 1 AND person_key IS NULL THEN 1 ELSE 0 END),
                SUM(CASE WHEN kind = 'signature_help' AND level2 = 1 THEN 1 ELSE 0 END)
         FROM (SELECT 'hamlet' AS dim, hamlet_id AS key, substr(occurred_at, 1, 10) AS day, * FROM records
               WHERE commune = ?1 AND voided = 0
               UNION ALL
               SELECT 'volunteer', volunteer_id, substr(occurred_at, 1, 10), * FROM records
               WHERE commune = ?1 AND voided = 0) AS r
         GROUP BY dim, key, day",
    ),
    (
        "activity_choices",
        "SELECT day, kind, outcome, failure_reason, channel, records, signed, quantity, reach
         FROM activity_choices WHERE commune = ?1",
        "SELECT substr(occurred_at, 1, 10), kind, COALESCE(outcome, ''), COALESCE(failure_reason, ''),
                COALESCE(channel, ''), COUNT(*), SUM(signed), SUM(quantity), SUM(reach)
         FROM records WHERE commune = ?1 AND voided = 0 GROUP BY 1, 2, 3, 4, 5",
    ),
    (
        "people_days",
        "SELECT d.day, p.person_key, d.hamlet_id, d.volunteer_id, d.sessions
         FROM people_days d JOIN people p ON p.id = d.person WHERE d.commune = ?1",
        "SELECT substr(occurred_at, 1, 10), person_key, hamlet_id, volunteer_id, COUNT(*) FROM records
         WHERE commune = ?1 AND voided = 0 AND kind = 'signature_help' AND person_key IS NOT NULL
         GROUP BY 1, 2, 3, 4",
    ),
    (
        "coverage_people",
        "SELECT p.person_key, c.hamlet_id FROM coverage_people c JOIN people p ON p.id = c.person
         WHERE p.commune = ?1",
        "SELECT person_key, hamlet_id FROM (
            SELECT person_key, hamlet_id, ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY occurred_at, id) AS n
            FROM records WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NOT NULL
         ) AS f WHERE n = 1",
    ),
    (
        "coverage_hamlets",
        "SELECT hamlet_id, helped FROM coverage_hamlets WHERE commune = ?1",
        "SELECT hamlet_id, SUM(n) FROM (
            SELECT hamlet_id, COUNT(*) AS n FROM (
                SELECT hamlet_id, ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY occurred_at, id) AS k
                FROM records WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NOT NULL
            ) AS f WHERE k = 1 GROUP BY hamlet_id
            UNION ALL
            SELECT hamlet_id, COUNT(*) FROM records
            WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NULL GROUP BY hamlet_id
         ) AS h GROUP BY hamlet_id",
    ),
];

impl ServerDb {
    /// Recomputes the report totals of a commune from its records and lists every row that
    /// differs from the running totals (empty when they agree): for tests and for checking a
    /// server's file by hand. Reads every record of the commune.
    pub fn totals_mismatches(&self, commune: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.read(|conn| {
            for (table, kept, recomputed) in RECOMPUTED {
                for (label, a, b) in
                    [("kept but not recomputed", kept, recomputed), ("recomputed but not kept", recomputed, kept)]
                {
                    conn.for_each(&format!("{a} EXCEPT {b}"), [commune], |row| {
                        let cells: Vec<String> = (0..row.len())
                            .map(|i| match row.value(i) {
                                Ok(ValueRef::Text(t)) => format!("{t:?}"),
                                Ok(v) => format!("{v:?}"),
                                Err(e) => e.to_string(),
                            })
                            .collect();
                        out.push(format!("{table}: {label}: {}", cells.join(", ")));
                        Ok(())
                    })?;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// Logs, for devices to pull, the coverage of each of `hamlets` whose figure differs from the
/// one last logged. The figure is the office's (see [`helped_by_hamlet`]).
pub(super) fn log_coverage(tx: &Conn, commune: &str, hamlets: &BTreeSet<String>) -> Result<()> {
    if hamlets.is_empty() {
        return Ok(());
    }
    let figures = helped_by_hamlet(tx, commune)?;
    let keys: Vec<String> = hamlets.iter().map(|h| format!("coverage:{h}")).collect();
    let mut logged: HashMap<String, u32> = HashMap::new();
    let text = |v: &str| Value::Text(v.to_owned());
    many::query_rows(
        tx,
        ["SELECT key, change FROM change_log WHERE key IN (", "?", ") AND commune = ?"],
        1,
        keys.iter().map(|k| text(k)).collect(),
        &[text(commune)],
        |r| {
            if let Change::Coverage { coverage } = serde_json::from_str(&r.get::<String>(1)?)? {
                logged.insert(r.get(0)?, coverage.helped_signed);
            }
            Ok(())
        },
    )?;
    let mut changes = Vec::new();
    for (hamlet, key) in hamlets.iter().zip(keys) {
        let helped = figures.get(hamlet).copied().unwrap_or(0);
        if logged.get(&key).copied().unwrap_or(0) != helped {
            let change =
                Change::Coverage { coverage: HamletCoverage { hamlet_id: hamlet.clone(), helped_signed: helped } };
            changes.push((key, serde_json::to_string(&change)?));
        }
    }
    log_changes_for(tx, commune, None, &changes)
}
