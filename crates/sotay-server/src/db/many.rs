//! Statements over many rows at once: one `INSERT … VALUES (…), (…)` for a push's records or
//! its changes to the totals, one `IN (…)` for the rows it reads, instead of one statement per
//! row (on PostgreSQL each statement is a round trip to another process; on SQLite each is a
//! statement prepared and stepped).
//!
//! Rows go in runs of 256, 64, 16, 4 or 1, largest first: any count takes a few statements
//! (100 rows: 64 + 16 + 16 + 4), and each statement has at most five texts, which both
//! engines keep prepared.

use std::ops::Range;

use super::sql::{Conn, Row, Value};
use super::Result;

/// The rows one statement takes, largest first.
const RUN_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// `0..n` cut into runs of [`RUN_SIZES`], largest first.
pub(super) fn runs(n: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for size in RUN_SIZES {
        while n - start >= size {
            out.push(start..start + size);
            start += size;
        }
    }
    out
}

/// `(?, ?, …)`: one row of `width` placeholders.
pub(super) fn row_of(width: usize) -> String {
    format!("({})", vec!["?"; width].join(", "))
}

/// The statement `{head} {row}, {row}, … {tail}` with `rows` rows.
fn statement(head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * (row.len() + 2) + 2);
    sql.push_str(head);
    sql.push(' ');
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// Runs `{head} {row}, {row}, … {tail}` over `values`, `width` of them per row (`row` holds
/// that many placeholders), then `tail_values` for the placeholders of `tail`: `INSERT …
/// VALUES` then `row` then `ON CONFLICT …`, or `DELETE … WHERE x IN (` then `?` then `) AND
/// commune = ?`.
pub(super) fn execute_rows(
    conn: &Conn,
    parts: [&str; 3],
    width: usize,
    values: Vec<Value>,
    tail_values: &[Value],
) -> Result<()> {
    each_run(parts, width, values, tail_values, |sql, values| conn.execute(sql, values).map(drop))
}

/// Like [`execute_rows`], calling `f` on every row the statements answer (`RETURNING`, or a
/// `SELECT` whose `row` is one item of an `IN` list), in no particular order.
pub(super) fn query_rows(
    conn: &Conn,
    parts: [&str; 3],
    width: usize,
    values: Vec<Value>,
    tail_values: &[Value],
    mut f: impl FnMut(&Row) -> Result<()>,
) -> Result<()> {
    each_run(parts, width, values, tail_values, |sql, values| conn.for_each(sql, values, &mut f))
}

/// Calls `run` with each run's statement and its values.
fn each_run(
    [head, row, tail]: [&str; 3],
    width: usize,
    values: Vec<Value>,
    tail_values: &[Value],
    mut run: impl FnMut(&str, Vec<Value>) -> Result<()>,
) -> Result<()> {
    debug_assert_eq!(values.len() % width, 0);
    let runs = runs(values.len() / width);
    let mut values = values.into_iter();
    for r in runs {
        let sql = statement(head, row, r.len(), tail);
        run(&sql, values.by_ref().take(r.len() * width).chain(tail_values.iter().cloned()).collect())?;
    }
    Ok(())
}

/// `values` as text parameters.
pub(super) fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    values.into_iter().map(|v| Value::Text(v.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_every_row_once_in_few_statements() {
        for n in 0..1000 {
            let runs = runs(n);
            let mut next = 0;
            for r in &runs {
                assert_eq!(r.start, next);
                assert!(RUN_SIZES.contains(&r.len()));
                next = r.end;
            }
            assert_eq!(next, n);
            assert!(runs.len() <= n / 256 + 3 * 4, "{n} rows in {} statements", runs.len());
        }
        assert_eq!(runs(100).iter().map(|r| r.len()).collect::<Vec<_>>(), [64, 16, 16, 4]);
    }

    #[test]
    fn a_statement_repeats_its_row() {
        assert_eq!(
            statement("INSERT INTO t (a, b) VALUES", &row_of(2), 3, ""),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) "
        );
    }
}
