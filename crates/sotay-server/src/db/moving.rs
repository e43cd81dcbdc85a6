//! Moving up (`sotay-server migrate --to postgres://…`): a commune server's SQLite data into
//! a province's PostgreSQL, with records, history, change log (its numbers kept, so devices'
//! cursors continue), devices and their tokens, enrolment codes, accounts, audit log and the
//! reports' totals; and its keys into the province server's key file, so enrolled tablets
//! keep syncing without enrolling again. Office sessions are not moved (people log in again).
//!
//! Everything is copied in one PostgreSQL transaction: a move that fails leaves the province's
//! database as it was. Row ids SQLite gave (people, units, plan milestones) are shifted past
//! the ones the province already has, with every reference to them; audit entries get new
//! numbers in the same order. A commune or an account name the province already has is
//! refused before anything is copied.

use std::collections::BTreeMap;

use super::pg_schema::TABLES;
use super::sql::{Conn, Engine, Value};
use super::*;

/// Tables whose `id` SQLite gave as a rowid, and where it is referred to.
const SHIFTED: &[(&str, &[(&str, &str)])] = &[
    ("people", &[("people_days", "person"), ("coverage_people", "person")]),
    (
        "units",
        &[
            ("devices", "unit"),
            ("records", "unit"),
            ("accounts", "unit"),
            ("unit_volunteers", "unit"),
            ("unit_reports", "unit"),
        ],
    ),
    ("plan_milestones", &[]),
];

/// Not moved: sessions (people log in again).
const NOT_MOVED: &[&str] = &["sessions"];

/// Rows per INSERT statement.
const CHUNK: usize = 400;

/// What a move copied.
#[derive(Debug, Default)]
pub struct Moved {
    pub communes: Vec<String>,
    /// Table → rows copied.
    pub rows: BTreeMap<&'static str, usize>,
}

impl ServerDb {
    /// Copies everything in this (SQLite) database into `target` (PostgreSQL), and this
    /// server's keys into the target's key file. See the module doc.
    pub fn move_into(&self, target: &ServerDb) -> Result<Moved> {
        let Some(source) = self.sqlite() else {
            return Err(DbError::Refused("The data to move must be a commune server's SQLite file.".into()));
        };
        if target.engine() != Engine::Postgres {
            return Err(DbError::Refused("The data can only move into PostgreSQL (postgres://…).".into()));
        }
        let from = Conn::lite(&source);
        // Every table of the file is moved (or, for sessions, left on purpose): a table this
        // list lacks would be left behind without a word.
        let tables: Vec<String> = from.query_map(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            (),
            |r| r.get(0),
        )?;
        if let Some(t) = tables.iter().find(|t| !TABLES.contains(&t.as_str())) {
            return Err(DbError::Refused(format!("This server cannot move the table {t}: nothing was moved.")));
        }
        let communes: Vec<String> = from.query_map("SELECT code FROM communes ORDER BY code", (), |r| r.get(0))?;
        let accounts: Vec<String> =
            from.query_map("SELECT username FROM accounts ORDER BY username", (), |r| r.get(0))?;
        target.read(|to| {
            for code in &communes {
                if to.query_opt("SELECT 1 FROM communes WHERE code = ?", [code], |_| Ok(()))?.is_some() {
                    return Err(DbError::Refused(format!(
                        "Commune {code} is already in the PostgreSQL database: nothing was moved."
                    )));
                }
            }
            for name in &accounts {
                if to.query_opt("SELECT 1 FROM accounts WHERE username = ?", [name], |_| Ok(()))?.is_some() {
                    return Err(DbError::Refused(format!(
                        "The PostgreSQL database already has an account named {name}: rename or disable one first \
                         (sotay-server admin). Nothing was moved."
                    )));
                }
            }
            Ok(())
        })?;
        // The keys first, saved before the data commits (as `put_commune` does): data
        // without its keys would be unreadable, keys without the data are harmless.
        target.keys_mut().take_in(&self.keys())?;
        let rows = target.write(|to| copy_tables(&from, to))?;
        Ok(Moved { communes, rows })
    }
}

fn copy_tables(from: &Conn, to: &Conn) -> Result<BTreeMap<&'static str, usize>> {
    let mut shift: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (table, refs) in SHIFTED {
        let max: i64 = to.one(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), ())?;
        shift.insert((table, "id"), max);
        for (t, c) in *refs {
            shift.insert((t, c), max);
        }
    }
    let mut copied = BTreeMap::new();
    for &table in TABLES.iter().filter(|t| !NOT_MOVED.contains(t)) {
        let mut columns: Vec<String> = from.query_map(&format!("PRAGMA table_info({table})"), (), |r| r.get(1))?;
        if table == "audit_log" {
            columns.retain(|c| c != "seq");
        }
        let shifts: Vec<i64> = columns.iter().map(|c| shift.get(&(table, c.as_str())).copied().unwrap_or(0)).collect();
        let list = columns.join(", ");
        let order = if table == "audit_log" { " ORDER BY seq" } else { "" };
        let mut chunk: Vec<Value> = Vec::new();
        let mut n = 0;
        let flush = |chunk: &mut Vec<Value>| -> Result<()> {
            if chunk.is_empty() {
                return Ok(());
            }
            let row = format!("({})", vec!["?"; columns.len()].join(", "));
            let rows = vec![row; chunk.len() / columns.len()].join(", ");
            to.execute(&format!("INSERT INTO {table} ({list}) VALUES {rows}"), std::mem::take(chunk))?;
            Ok(())
        };
        from.for_each(&format!("SELECT {list} FROM {table}{order}"), (), |r| {
            for (i, by) in shifts.iter().enumerate() {
                chunk.push(match r.get::<Value>(i)? {
                    Value::Int(v) => Value::Int(v + by),
                    v => v,
                });
            }
            n += 1;
            if n % CHUNK == 0 {
                flush(&mut chunk)?;
            }
            Ok(())
        })?;
        flush(&mut chunk)?;
        copied.insert(table, n);
    }
    for (table, _) in SHIFTED.iter().chain(&[("audit_log", &[][..])]) {
        let column = if *table == "audit_log" { "seq" } else { "id" };
        to.query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 GREATEST((SELECT COALESCE(MAX({column}), 0) FROM {table}), 1))"
            ),
            (),
            |_| Ok(()),
        )?;
    }
    Ok(copied)
}
