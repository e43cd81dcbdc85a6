//! Coverage as of a chosen day: what the office knew at the end of that day, Vietnam time.
//!
//! A report for 20/11 printed on 25/11 must give the figures printed on 20/11, so the figure
//! for a day cannot be recomputed from the records (a tablet syncing on 22/11 a session of
//! 19/11, or a record voided on 23/11, would change it). Instead every change of a hamlet's
//! coverage figure (the running totals of `reports`, moved by a push or an erasure) is kept
//! in `coverage_days` on the day the server made it, in the same transaction
//! ([`note_coverage`]); the figure as of a day is the sum of its changes up to that day, a
//! few thousand small rows at most for a year. Migration 9 started the log from the records
//! then on the server, each person on the day of their first successful session.
//!
//! What the log does not freeze: hamlets' adult populations and baselines, and the list of
//! hamlets, are the reference data of today.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::db::{helped_by_hamlet, Result, ServerDb};
use super::reports::{coverage_of, CoverageReport};

/// Migration 9: the log of coverage changes per hamlet and day, started from the records.
pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE coverage_days (
        commune    TEXT NOT NULL,
        hamlet_id  TEXT NOT NULL,
        day        TEXT NOT NULL,
        helped     INTEGER NOT NULL,
        PRIMARY KEY (commune, hamlet_id, day)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO coverage_days
        SELECT commune, hamlet_id, day, SUM(n) FROM (
            SELECT commune, hamlet_id, day, COUNT(*) AS n FROM (
                SELECT commune, hamlet_id, substr(occurred_at, 1, 10) AS day,
                    ROW_NUMBER() OVER (PARTITION BY commune, person_key ORDER BY occurred_at, id) AS k
                FROM records WHERE signed = 1 AND voided = 0 AND person_key IS NOT NULL
            ) WHERE k = 1 GROUP BY 1, 2, 3
            UNION ALL
            SELECT commune, hamlet_id, substr(occurred_at, 1, 10), COUNT(*) FROM records
            WHERE signed = 1 AND voided = 0 AND person_key IS NULL GROUP BY 1, 2, 3
        ) GROUP BY 1, 2, 3;
"#;

pub use crate::vn_time::{vietnam, vn_day, vn_time};

/// Logs, on today's date (Vietnam), the change of each of `hamlets`' coverage figure since
/// what the log sums to: called in the transaction of every push and erasure, after the
/// running totals are settled, so the log's sum is always the current figure.
pub(crate) fn note_coverage(
    tx: &Connection,
    commune: &str,
    hamlets: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    if hamlets.is_empty() {
        return Ok(());
    }
    let day = vn_day(now).format("%Y-%m-%d").to_string();
    let current = helped_by_hamlet(tx, commune)?;
    let mut logged = tx.prepare_cached("SELECT SUM(helped) FROM coverage_days WHERE commune = ? AND hamlet_id = ?")?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO coverage_days (commune, hamlet_id, day, helped) VALUES (?, ?, ?, ?)
         ON CONFLICT (commune, hamlet_id, day) DO UPDATE SET helped = helped + excluded.helped",
    )?;
    let mut empty =
        tx.prepare_cached("DELETE FROM coverage_days WHERE commune = ? AND hamlet_id = ? AND day = ? AND helped = 0")?;
    for hamlet in hamlets {
        let now = current.get(hamlet).copied().unwrap_or(0) as i64;
        let before: i64 = logged
            .query_row(params![commune, hamlet], |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten()
            .unwrap_or(0);
        if now != before {
            upsert.execute(params![commune, hamlet, day, now - before])?;
            empty.execute(params![commune, hamlet, day])?;
        }
    }
    Ok(())
}

/// People helped to a signature per hamlet as the office knew at the end of `day`.
fn helped_as_of(conn: &Connection, commune: &str, day: NaiveDate) -> Result<BTreeMap<String, u32>> {
    let mut stmt = conn.prepare_cached(
        "SELECT hamlet_id, SUM(helped) FROM coverage_days WHERE commune = ? AND day <= ? GROUP BY hamlet_id",
    )?;
    let day = day.format("%Y-%m-%d").to_string();
    let rows = stmt.query_map(params![commune, day], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    rows.map(|r| r.map(|(h, n)| (h, n.max(0) as u32)).map_err(Into::into)).collect()
}

impl ServerDb {
    /// Coverage per hamlet and for the commune as the office knew it at the end of `day`
    /// (Vietnam time): the same figures whenever it is asked. For today or later it is
    /// the live [`ServerDb::coverage_report`] (which the log sums to).
    pub fn coverage_report_as_of(&self, commune: &str, day: NaiveDate) -> Result<CoverageReport> {
        if day >= vn_day(Utc::now()) {
            return self.coverage_report(commune);
        }
        let reference = self.commune(commune)?;
        let helped = helped_as_of(&self.conn(), commune, day)?;
        Ok(coverage_of(reference, &helped, day))
    }

    /// Hamlets whose logged coverage (the sum of every day's changes) differs from the
    /// running totals, as "hamlet: logged ≠ kept" (empty when they agree): for the tests.
    pub fn coverage_log_mismatches(&self, commune: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let kept = helped_by_hamlet(&conn, commune)?;
        let end = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid day");
        let logged = helped_as_of(&conn, commune, end)?;
        let hamlets: BTreeSet<&String> = kept.keys().chain(logged.keys()).collect();
        Ok(hamlets
            .into_iter()
            .filter_map(|h| {
                let (a, b) = (logged.get(h).copied().unwrap_or(0), kept.get(h).copied().unwrap_or(0));
                (a != b).then(|| format!("{h}: {a} ≠ {b}"))
            })
            .collect())
    }
}
