//! Deadline-day benchmark (issue 16): a province's server on SQLite and on PostgreSQL, side
//! by side in one run, on the day every commune sends its last week at once.
//!
//! Run with `cargo bench --bench deadline --features server`. PostgreSQL comes from
//! `SOTAY_TEST_POSTGRES` (`postgres://user@host:port/db`, as the tests take it; `psql` from
//! `SOTAY_TEST_PGBIN` or the PATH makes a fresh schema per run and drops it afterwards);
//! without it only SQLite runs and the table says PostgreSQL was skipped. Prints one table to
//! stdout; progress goes to stderr. Knobs: `SOTAY_BENCH_SCALE` (fraction of the 2,500,000
//! stored records, default 1.0; communes and devices stay at full size),
//! `SOTAY_BENCH_PG_POOL` (the PostgreSQL pool, default the server's 16),
//! `SOTAY_BENCH_LOAD_THREADS` (communes loaded at once, default 3).
//!
//! For each store, on a fresh database:
//!
//! 1. The province: the first 100 communes of Gia Lai (province 52) in the 2025 list, each
//!    with the shared generator's hamlets and team (benches/common/records.rs), 20 devices
//!    each (2,000), and 2,500,000 × scale records spread over them, pushed with
//!    `ServerDb::apply_push` in batches of 500 (so the running totals, coverage log and change
//!    log are the real ones), over the last 300 days.
//! 2. The push rush: 200 devices (two per commune) each pushing [`ROUNDS`] batches of 100
//!    records of the last few days, all starting at once, through the real router on
//!    127.0.0.1 (plain HTTP) with the app's sync client (`sotay::sync::client::Client`, gzip
//!    body, bearer token). A push the server refuses for the moment (503 when PostgreSQL's
//!    pool is exhausted, say) is sent again after 250 ms, as the app's worker would, and its
//!    latency counts from the first try. Records per second = all records / wall time from
//!    the first push to the last answer.
//! 3. Reports, [`RUNS`] runs each after a warm-up: the coverage report and a year's activity
//!    report of the first commune, and the province's coverage table across its 100 communes
//!    as the province page reads it (`province_coverage_as_of(province, today)`).
//! 4. A week offline: 50 new tablets of one commune, each with 7 × 30 records saved with
//!    `Store::create`, then all running the app's `sync::run_once` at the same moment; the
//!    time until the last is done and each tablet's time.
//!
//! The machine is shared and small (see nproc and the load average in the heading), so the
//! figures are rough; the SQLite file and PostgreSQL's data are on the same disk.

use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::{Days, Local, NaiveDateTime, NaiveTime, Utc};
use uuid::Uuid;

use sotay::domain::citizen_id::{CidKey, CitizenId, SealKey};
use sotay::domain::sample::sample_reference;
use sotay::domain::*;
use sotay::protocol::*;
use sotay_server::db::{Device, PoolOptions, ServerDb};

#[path = "deadline/province.rs"]
mod province;
#[path = "common/records.rs"]
mod records;
#[path = "deadline/rush.rs"]
mod rush;
#[path = "common/table.rs"]
mod table;

use province::{DEVICES_PER_COMMUNE, PROVINCE};
use table::{cpus, load_average, mib, size_with_wal, Stats};

/// Records are spread over this many days before today (for the shared generator).
const DAYS: u64 = 300;
const FULL_RECORDS: f64 = 2_500_000.0;
const RUSH_DEVICES_PER_COMMUNE: usize = 2;
const ROUNDS: usize = 3;
const RUSH_BATCH: usize = 100;
const RUNS: usize = 11;
const TABLETS: usize = 50;
const TABLET_DAYS: u64 = 7;
const TABLET_PER_DAY: u64 = 30;

const INGEST_TARGET: f64 = 5_000.0;
const PUSH_P99_TARGET_MS: f64 = 1_000.0;
const REPORT_P50_TARGET_MS: f64 = 300.0;

fn main() {
    let started = Instant::now();
    let scale: f64 = std::env::var("SOTAY_BENCH_SCALE")
        .ok()
        .map(|s| s.trim().parse().expect("SOTAY_BENCH_SCALE must be a fraction like 0.02"))
        .unwrap_or(1.0);
    let pool = std::env::var("SOTAY_BENCH_PG_POOL")
        .ok()
        .map(|s| s.trim().parse().expect("SOTAY_BENCH_PG_POOL must be a whole number"))
        .unwrap_or(PoolOptions::default().size);
    let threads = std::env::var("SOTAY_BENCH_LOAD_THREADS")
        .ok()
        .map(|s| s.trim().parse().expect("SOTAY_BENCH_LOAD_THREADS must be a whole number"))
        .unwrap_or(3);
    let records = (FULL_RECORDS * scale).round() as usize;
    let (nproc, load_before) = (cpus(), load_average());
    eprintln!("deadline bench: scale {scale} ({records} stored records)");
    let postgres = std::env::var("SOTAY_TEST_POSTGRES").ok().filter(|u| !u.is_empty());
    if postgres.is_none() {
        eprintln!("SOTAY_TEST_POSTGRES is not set: PostgreSQL is SKIPPED, SQLite only");
    }

    let mut results = vec![run_store(&Store::Sqlite, records, threads)];
    if let Some(url) = &postgres {
        results.push(run_store(&Store::Postgres { url: url.clone(), pool }, records, threads));
    }

    println!();
    println!("sotay deadline-day benchmark (issue 16)");
    println!("  scale            {scale} (SOTAY_BENCH_SCALE): {records} of 2,500,000 records stored before the rush");
    println!(
        "  province         {} communes of province {PROVINCE}, {DEVICES_PER_COMMUNE} devices each ({} devices)",
        province::COMMUNES,
        province::COMMUNES * DEVICES_PER_COMMUNE
    );
    println!(
        "  push rush        {} devices ({RUSH_DEVICES_PER_COMMUNE} per commune) × {ROUNDS} pushes of {RUSH_BATCH} \
         records, all at once, HTTP on 127.0.0.1 with the app's sync client",
        province::COMMUNES * RUSH_DEVICES_PER_COMMUNE
    );
    println!("  tablets          {TABLETS} tablets of one commune, {TABLET_DAYS} × {TABLET_PER_DAY} records each, run_once at once");
    println!("  reports          {RUNS} runs each after one warm-up; nearest-rank percentiles (p99 = slowest)");
    println!("  nproc            {nproc}");
    println!("  load average     {} (before the run: {load_before})", load_average());
    match &postgres {
        Some(_) => println!("  postgresql       pool {pool} connections (SOTAY_BENCH_PG_POOL), fresh schema"),
        None => println!("  postgresql       SKIPPED: SOTAY_TEST_POSTGRES is not set (see scripts/postgres.sh)"),
    }
    for r in &results {
        for line in &r.notes {
            println!("  {:<16} {line}", r.label);
        }
    }
    println!();
    let rows: Vec<&Line> = results.iter().flat_map(|r| &r.lines).collect();
    print_lines(&rows, started);
    if postgres.is_none() {
        println!("PostgreSQL was skipped: SOTAY_TEST_POSTGRES is not set.");
    }
}

enum Store {
    Sqlite,
    Postgres { url: String, pool: usize },
}

struct StoreResult {
    label: &'static str,
    notes: Vec<String>,
    lines: Vec<Line>,
}

/// A fresh PostgreSQL schema, dropped when done.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        if std::env::var_os("SOTAY_BENCH_KEEP").is_none() {
            psql(&self.url, &format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

fn psql(url: &str, sql: &str) {
    let bin = std::env::var("SOTAY_TEST_PGBIN").map(|b| format!("{b}/psql")).unwrap_or_else(|_| "psql".into());
    let out = std::process::Command::new(&bin)
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}): is PostgreSQL installed?"));
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn run_store(store: &Store, records: usize, threads: usize) -> StoreResult {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sotay-server.db");
    let (label, db, _schema, limit) = match store {
        Store::Sqlite => {
            let db = ServerDb::open(&path).expect("open SQLite");
            (
                "sqlite",
                db,
                None,
                "one writer: every push holds the one connection's lock (WAL, synchronous=FULL, one fsync per push)"
                    .to_owned(),
            )
        }
        Store::Postgres { url, pool } => {
            let name = format!("deadline_{}", Uuid::now_v7().simple());
            psql(url, &format!("CREATE SCHEMA {name}"));
            let schema = Schema { url: url.clone(), name: name.clone() };
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}options=-c%20search_path%3D{name}");
            let options = PoolOptions { size: *pool, ..Default::default() };
            let db =
                ServerDb::open_postgres(&url, dir.path().join("sotay-server.keys"), options).expect("open PostgreSQL");
            let limit = format!(
                "pool of {pool} connections (a push holds one for its whole transaction); pushes of one commune \
                 take turns on the commune's row lock"
            );
            ("postgresql", db, Some(schema), limit)
        }
    };
    eprintln!("== {label}: setting up the province");
    let p = province::set_up(&db, threads);
    eprintln!(
        "{label}: {} communes, {} devices in {:.1} s; loading {records} records",
        p.communes.len(),
        p.members.len(),
        p.secs
    );
    let loaded = province::load(&db, &p, records, threads);
    eprintln!("{label}: loaded {} records in {:.1} s", loaded.records, loaded.secs);

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let server = rush::start(&rt, db);
    let db = server.db.clone();
    let rushers: Vec<&province::Member> = (0..p.communes.len())
        .flat_map(|c| &p.members[c * DEVICES_PER_COMMUNE..c * DEVICES_PER_COMMUNE + RUSH_DEVICES_PER_COMMUNE])
        .collect();
    eprintln!("{label}: push rush, {} devices", rushers.len());
    let rush = rush::push_rush(&rt, &server, &p, &rushers, ROUNDS, RUSH_BATCH);
    eprintln!("{label}: {} records in {:.1} s, {} retries", rush.records, rush.secs, rush.retries);

    // Reports, once the rush is in.
    let commune = p.communes[0].clone();
    let today = (Utc::now() + chrono::Duration::hours(7)).date_naive();
    let year = (today - Days::new(365), today);
    let coverage = measure(label, "coverage_report", || db.coverage_report(&commune).expect("coverage"));
    let activity =
        measure(label, "activity_report", || db.activity_report(&commune, year.0, year.1).expect("activity"));
    let province =
        measure(label, "province coverage", || db.province_coverage_as_of(PROVINCE, Some(today)).expect("province"));
    let table = db.province_coverage_as_of(PROVINCE, Some(today)).expect("province");
    assert_eq!(table.rows.len(), p.communes.len(), "every commune in the province's table");
    let act = db.activity_report(&commune, year.0, year.1).expect("activity");

    eprintln!("{label}: {TABLETS} tablets after a week offline");
    let tab = rush::tablets(&rt, &server, &p.communes[1], TABLETS, TABLET_DAYS, TABLET_PER_DAY);
    eprintln!("{label}: {} tablets synced in {:.1} s", tab.tablets, tab.secs);

    let stored: i64 = p.communes.iter().map(|c| db.record_versions(c).expect("records").len() as i64).sum();
    let size = match store {
        Store::Sqlite => format!("{:.0} MiB with WAL", mib(size_with_wal(&path))),
        Store::Postgres { .. } => "in PostgreSQL".into(),
    };
    let push = Stats::of(&rush.latencies);
    let load_push = Stats::of(&loaded.push_times);
    let mut notes = vec![
        format!(
            "load: {} records in {} apply_push calls of ≤ {MAX_BATCH_RECORDS}, {threads} threads, {:.1} s ({:.0} rec/s; \
             push p50 {:.0} ms, p99 {:.0} ms); set-up (communes, 2,000 enrolments) {:.1} s",
            loaded.records,
            loaded.pushes,
            loaded.secs,
            loaded.records as f64 / loaded.secs,
            load_push.p50,
            load_push.p99,
            p.secs
        ),
        format!("stored: {stored} records in the province after the rush and the tablets ({size})"),
        format!(
            "rush: {} records from {} devices in {:.2} s, {} pushes sent again ({})",
            rush.records,
            rush.devices,
            rush.secs,
            rush.retries,
            rush.first_error.as_deref().unwrap_or("none failed")
        ),
        format!(
            "reports: commune {commune} — {} hamlets, a year's activity {} signature sessions, {} visits; province {:.1}% signed",
            act.by_hamlet.len(),
            act.totals.signature_sessions,
            act.totals.visits,
            table.total.percent
        ),
        format!(
            "tablets: {} records saved offline in {:.1} s (not timed below); {} run_once calls failed and were retried",
            tab.records, tab.fill_secs, tab.pushes_failed
        ),
        format!("limit: {limit}"),
    ];
    if let Some((size, free)) = db.pool_status() {
        notes.push(format!("pool now: {size} connections, {free} free"));
    }
    let t = |name: &str| format!("{name}[{label}]");
    let tablets = Stats::of(&tab.each);
    let lines = vec![
        Line::at_least(&t("rush_ingest_rec_per_s"), rush.records as f64 / rush.secs, INGEST_TARGET),
        Line::info(&t("rush_push_p50_ms"), push.p50),
        Line::at_most(&t("rush_push_p99_ms"), push.p99, PUSH_P99_TARGET_MS),
        Line::at_most(&t("commune_coverage_p50_ms"), Stats::of(&coverage).p50, REPORT_P50_TARGET_MS),
        Line::info(&t("commune_coverage_p99_ms"), Stats::of(&coverage).p99),
        Line::at_most(&t("commune_activity_year_p50_ms"), Stats::of(&activity).p50, REPORT_P50_TARGET_MS),
        Line::info(&t("commune_activity_year_p99_ms"), Stats::of(&activity).p99),
        Line::at_most(&t("province_coverage_100_p50_ms"), Stats::of(&province).p50, REPORT_P50_TARGET_MS),
        Line::info(&t("province_coverage_100_p99_ms"), Stats::of(&province).p99),
        Line::info(&t("tablets_50_all_done_s"), tab.secs),
        Line::info(&t("tablet_sync_p50_ms"), tablets.p50),
        Line::info(&t("tablet_sync_p99_ms"), tablets.p99),
        Line::info(&t("load_rec_per_s (apply_push, no HTTP)"), loaded.records as f64 / loaded.secs),
    ];
    drop(server);
    drop(rt);
    StoreResult { label, notes, lines }
}

fn measure<T>(store: &str, what: &str, f: impl FnMut() -> T) -> Vec<Duration> {
    table::measure(&format!("{store}: {what}"), RUNS, f)
}

// ---- the table ----------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

/// One line of the table (the shared table has only at-most targets; ingest is at least).
struct Line {
    name: String,
    value: f64,
    goal: Option<Goal>,
}

impl Line {
    fn info(name: &str, value: f64) -> Line {
        Line { name: name.to_owned(), value, goal: None }
    }

    fn at_most(name: &str, value: f64, target: f64) -> Line {
        Line { name: name.to_owned(), value, goal: Some(Goal::AtMost(target)) }
    }

    fn at_least(name: &str, value: f64, target: f64) -> Line {
        Line { name: name.to_owned(), value, goal: Some(Goal::AtLeast(target)) }
    }
}

fn print_lines(lines: &[&Line], started: Instant) {
    let width = lines.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let (mut targets, mut met) = (0, 0);
    for r in lines {
        match r.goal {
            Some(goal) => {
                let (sign, t, ok) = match goal {
                    Goal::AtMost(t) => ("≤", t, r.value <= t),
                    Goal::AtLeast(t) => ("≥", t, r.value >= t),
                };
                targets += 1;
                met += usize::from(ok);
                let verdict = if ok { "OK" } else { "MISSED" };
                println!("{:<width$}  {:>10.2}  (target {sign} {t})  {verdict}", r.name, r.value);
            }
            None => println!("{:<width$}  {:>10.2}", r.name, r.value),
        }
    }
    println!();
    println!("{met} of {targets} targets met; whole bench took {:.1} s", started.elapsed().as_secs_f64());
}
