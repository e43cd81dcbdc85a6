//! Which server store a test runs on: the SQLite file in the test's folder, or, when
//! `SOTAY_TEST_STORE=postgres`, a schema of its own in the PostgreSQL server at
//! `SOTAY_TEST_POSTGRES` (started by `scripts/postgres.sh`, which the README's test command
//! and CI run). The server's tests are the stores' contract: the test command runs them once
//! on each. A test that needs PostgreSQL fails, saying so, when it is not there; it never
//! passes without having run.

use std::path::Path;

use sotay_server::db::{PoolOptions, ServerDb};

/// True when this run is the PostgreSQL one.
pub fn on_postgres() -> bool {
    std::env::var("SOTAY_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The PostgreSQL server the tests use; panics with what to do when there is none.
pub fn postgres_url() -> String {
    match std::env::var("SOTAY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PostgreSQL is needed for this test and SOTAY_TEST_POSTGRES is not set: run the README's test command \
             (scripts/test.sh), or `eval \"$(bash scripts/postgres.sh start)\"` first (Debian: apt-get install postgresql)"
        ),
    }
}

/// A fresh, empty schema in the test PostgreSQL, and the connection string that uses it.
pub fn fresh_postgres() -> String {
    let url = postgres_url();
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    psql(&url, &format!("CREATE SCHEMA {schema}"));
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Runs one SQL command with `psql` (from `SOTAY_TEST_PGBIN` or the PATH).
pub fn psql(url: &str, sql: &str) -> String {
    let bin = std::env::var("SOTAY_TEST_PGBIN").map(|b| format!("{b}/psql")).unwrap_or_else(|_| "psql".into());
    // psql reads the schema from PGOPTIONS, not from the connection string's options.
    let (base, options) = match url.split_once("?options=") {
        Some((b, o)) => (b.to_owned(), o.replace("%20", " ").replace("%3D", "=")),
        None => (url.to_owned(), String::new()),
    };
    let out = std::process::Command::new(&bin)
        .args([&base, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGOPTIONS", options)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}): is PostgreSQL installed?"));
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Where a test server keeps its data: a SQLite file in `dir`, or a fresh PostgreSQL schema
/// (its key file still in `dir`).
#[derive(Clone, Debug)]
pub enum TestStore {
    Sqlite,
    Postgres(String),
}

impl TestStore {
    /// The store this run tests: PostgreSQL when `SOTAY_TEST_STORE=postgres`.
    pub fn new() -> TestStore {
        if on_postgres() {
            TestStore::Postgres(fresh_postgres())
        } else {
            TestStore::Sqlite
        }
    }

    /// Opens the server database whose SQLite file would be `db` (key file beside it).
    pub fn open(&self, db: &Path) -> ServerDb {
        match self {
            TestStore::Sqlite => ServerDb::open(db).unwrap(),
            TestStore::Postgres(url) => {
                ServerDb::open_postgres(url, db.with_extension("keys"), PoolOptions::default()).unwrap()
            }
        }
    }

    /// Runs one SQL statement on the store behind `ServerDb`'s back (for the facts it has no
    /// reader for, or to break a table on purpose), as `psql -A -t` prints the result: one
    /// line per row, its columns joined by `|`, NULL as nothing.
    pub fn sql(&self, db: &Path, sql: &str) -> String {
        match self {
            TestStore::Postgres(url) => psql(url, sql),
            TestStore::Sqlite => {
                use rusqlite::types::ValueRef;
                let conn = rusqlite::Connection::open(db).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let n = stmt.column_count();
                let mut rows = stmt.query([]).unwrap();
                let mut lines = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    let cols: Vec<String> = (0..n)
                        .map(|i| match row.get_ref(i).unwrap() {
                            ValueRef::Null => String::new(),
                            ValueRef::Integer(v) => v.to_string(),
                            ValueRef::Real(v) => v.to_string(),
                            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                            ValueRef::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
                        })
                        .collect();
                    lines.push(cols.join("|"));
                }
                lines.join("\n")
            }
        }
    }

    /// Every byte a server with its data folder `dir` keeps: the files in `dir` (the SQLite
    /// file, its WAL, the key file) and, on PostgreSQL, every row of every table of its
    /// schema as text; for scans that must not find a person's details.
    pub fn stored_bytes(&self, dir: &Path) -> Vec<u8> {
        let mut all = super::common::raw_bytes(dir);
        if let TestStore::Postgres(url) = self {
            all.extend(all_rows(url));
        }
        all
    }

    /// Points a `sotay-server` command at this store (`SOTAY_DATABASE`).
    pub fn apply(&self, cmd: &mut std::process::Command) {
        if let TestStore::Postgres(url) = self {
            cmd.env("SOTAY_DATABASE", url);
        }
    }
}

/// Every row of every table of the PostgreSQL schema at `url`, as text.
pub fn all_rows(url: &str) -> Vec<u8> {
    let mut all = Vec::new();
    let tables = psql(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()");
    for table in tables.lines() {
        all.extend(psql(url, &format!("SELECT t::text FROM {table} t")).into_bytes());
    }
    all
}

/// A server database for a test in `dir` (`dir/server.db` or a fresh PostgreSQL schema).
pub fn server_db(dir: &Path) -> ServerDb {
    TestStore::new().open(&dir.join("server.db"))
}
