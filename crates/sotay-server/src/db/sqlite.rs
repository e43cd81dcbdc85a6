//! SQLite, the commune's store: one file in the data folder, WAL with `synchronous=FULL` (a
//! push is acknowledged only after its transaction is on disk, so a server killed after
//! answering has kept what it acknowledged), opened and brought up to date here by the
//! migrations of [`super::schema`], and the statements SQLite says its own way ([`SQL`]).

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::Connection;

use super::schema::MIGRATIONS;
use super::sql::{Conn, Dialect};
use super::{communes, totals, DbError, Result};

/// The statements SQLite says its own way.
pub static SQL: Dialect = Dialect {
    unretire_hamlets: "DELETE FROM retired_hamlets WHERE commune = ?1
        AND id IN (SELECT json_extract(value, '$.id') FROM json_each(?2, '$.hamlets'))",
};

/// The schema version whose migration starts the running totals: once it has run, every
/// hamlet's coverage is logged again by the office's counting rule.
const TOTALS_VERSION: usize = 4;

/// The schema version that gives communes their province, filled from the list of units.
const PROVINCES_VERSION: usize = 8;

/// Opens (or creates) the database file and runs the migrations it has not had.
pub(super) fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(256);
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")?;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > MIGRATIONS.len() as i64 {
        return Err(DbError::TooNew(current));
    }
    let mut relog_coverage = false;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        relog_coverage |= i + 1 == TOTALS_VERSION;
        if i + 1 == PROVINCES_VERSION {
            communes::fill_provinces(&Conn::lite(&tx))?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    if relog_coverage {
        // Devices were told each hamlet's figure by the old rule (a person in every hamlet
        // they were helped in): tell them every figure that differs, once the change log
        // has all its columns.
        let tx = conn.transaction()?;
        let c = Conn::lite(&tx);
        let codes: Vec<String> = c.query_map("SELECT code FROM communes", (), |r| r.get(0))?;
        for commune in codes {
            let mut hamlets: BTreeSet<String> = totals::helped_by_hamlet(&c, &commune)?.into_keys().collect();
            let logged: Vec<String> = c.query_map(
                "SELECT key FROM change_log WHERE commune = ? AND key LIKE 'coverage:%'",
                [&commune],
                |r| r.get(0),
            )?;
            hamlets.extend(logged.into_iter().map(|k| k["coverage:".len()..].to_owned()));
            totals::log_coverage(&c, &commune, &hamlets)?;
        }
        tx.commit()?;
    }
    Ok(conn)
}
