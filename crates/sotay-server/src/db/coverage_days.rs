//! The log of coverage changes per hamlet and day (`coverage_days`), written in the
//! transaction of every push and erasure after the running totals are settled, so the log's
//! sum is always the current figure; [`crate::asof`] reads it for "coverage as of a day".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::many;
use super::sql::{params, Conn, Value};
use super::{helped_by_hamlet, Result};
use crate::vn_time::vn_day;

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
            ) AS f WHERE k = 1 GROUP BY 1, 2, 3
            UNION ALL
            SELECT commune, hamlet_id, substr(occurred_at, 1, 10), COUNT(*) FROM records
            WHERE signed = 1 AND voided = 0 AND person_key IS NULL GROUP BY 1, 2, 3
        ) AS h GROUP BY 1, 2, 3;
"#;

/// Logs, on today's date (Vietnam), the change of each of `hamlets`' coverage figure since
/// what the log sums to: called in the transaction of every push and erasure, after the
/// running totals are settled, so the log's sum is always the current figure.
pub(crate) fn note_coverage(tx: &Conn, commune: &str, hamlets: &BTreeSet<String>, now: DateTime<Utc>) -> Result<()> {
    if hamlets.is_empty() {
        return Ok(());
    }
    let day = vn_day(now).format("%Y-%m-%d").to_string();
    let current = helped_by_hamlet(tx, commune)?;
    let text = |v: &str| Value::Text(v.to_owned());
    let mut logged: BTreeMap<String, i64> = BTreeMap::new();
    many::query_rows(
        tx,
        [
            "SELECT hamlet_id, SUM(helped) FROM coverage_days WHERE hamlet_id IN (",
            "?",
            ") AND commune = ? GROUP BY hamlet_id",
        ],
        1,
        many::texts(hamlets.iter().map(String::as_str)),
        &[text(commune)],
        |r| {
            logged.insert(r.get(0)?, r.get::<Option<i64>>(1)?.unwrap_or(0));
            Ok(())
        },
    )?;
    let (mut rows, mut touched) = (Vec::new(), Vec::new());
    for hamlet in hamlets {
        let now = current.get(hamlet).copied().unwrap_or(0) as i64;
        let before = logged.get(hamlet).copied().unwrap_or(0);
        if now != before {
            rows.extend([text(commune), text(hamlet), text(&day), Value::Int(now - before)]);
            touched.push(text(hamlet));
        }
    }
    many::execute_rows(
        tx,
        [
            "INSERT INTO coverage_days (commune, hamlet_id, day, helped) VALUES",
            &many::row_of(4),
            "ON CONFLICT (commune, hamlet_id, day) DO UPDATE SET helped = coverage_days.helped + excluded.helped",
        ],
        4,
        rows,
        &[],
    )?;
    many::execute_rows(
        tx,
        ["DELETE FROM coverage_days WHERE hamlet_id IN (", "?", ") AND commune = ? AND day = ? AND helped = 0"],
        1,
        touched,
        &[text(commune), text(&day)],
    )
}

/// People helped to a signature per hamlet as the office knew at the end of `day`.
pub(crate) fn helped_as_of(conn: &Conn, commune: &str, day: NaiveDate) -> Result<BTreeMap<String, u32>> {
    let day = day.format("%Y-%m-%d").to_string();
    let rows = conn.query_map(
        "SELECT hamlet_id, SUM(helped) FROM coverage_days WHERE commune = ? AND day <= ? GROUP BY hamlet_id",
        params![commune, day],
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
    )?;
    Ok(rows.into_iter().map(|(h, n)| (h, n.max(0) as u32)).collect())
}
