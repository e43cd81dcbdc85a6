//! Store benchmark: durable save, diacritic-insensitive search and opening the store with
//! the home screen's queries, on a store already holding 100,000 records.
//!
//! Run with `cargo bench --bench store`. `SOTAY_BENCH_RECORDS=5000 cargo bench --bench store`
//! makes a quick run on a smaller store; `SOTAY_BENCH_KEEP=1` keeps the store file afterwards
//! (its path is printed) for poking at with `sqlite3`. Prints one table to stdout; progress
//! goes to stderr.
//!
//! Everything goes through the public `Store` API, so the numbers are what the app gets:
//! `Store::create` commits in WAL with `synchronous=FULL`, `Store::search` is the record
//! list's query, and the open step repeats what `src/ui/home.rs` reads.
//!
//! The whole run is made twice in one process: on the encrypted store the app uses
//! (SQLCipher, key from a key file) and on the same store unencrypted
//! (`Store::open_unencrypted_for_benchmarks`), seeded alike and measured in alternating
//! rounds; the targets apply to the encrypted one, and the ratios of their medians say
//! what encryption costs (reported, not a target).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, Local, NaiveDate, NaiveDateTime, NaiveTime};
use uuid::Uuid;

use sotay::domain::citizen_id::{CidKey, CitizenId};
use sotay::domain::sample::sample_reference;
use sotay::domain::validate::{Form, VisitForm};
use sotay::domain::*;
use sotay::store::{Filter, Store};

const DEFAULT_RECORDS: usize = 100_000;
const SAVES: usize = 2_000;
const SEARCHES_PER_QUERY: usize = 200;
const OPENS: usize = 30;
/// Records are spread over this many days before today.
const DAYS: u64 = 300;

const SAVE_TARGET_MS: f64 = 10.0;
const SEARCH_TARGET_MS: f64 = 50.0;
const OPEN_TARGET_MS: f64 = 200.0;

thread_local! {
    /// Whether `open` opens the store encrypted (as the app does) or plain (for the ratio).
    static ENCRYPTED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// The two stores are measured in this many alternating rounds (saves alternate one by one
/// within a round), so that whatever else the machine does (another build's fsyncs, say)
/// falls on both alike.
const ROUNDS: usize = 10;

/// One seeded store and the samples measured on it.
struct Pass {
    encrypted: bool,
    seeded: Seeded,
    seed_time: Duration,
    seeded_size: u64,
    saves: Vec<Duration>,
    searches: Vec<(&'static str, usize, Vec<Duration>)>,
    opens: Vec<(Duration, [Duration; 7])>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

/// One round of the search and open benchmarks on this pass's store: a tenth of the samples.
fn measure_round(p: &mut Pass) {
    ENCRYPTED.with(|e| e.set(p.encrypted));
    let store = open(&p.path);
    for (query, _, samples) in p.searches.iter_mut() {
        samples.extend(bench_search(&store, query, SEARCHES_PER_QUERY / ROUNDS));
    }
    drop(store);
    p.opens.extend(bench_open(&p.path, OPENS / ROUNDS));
}

fn pass(records: usize, encrypted: bool) -> Pass {
    ENCRYPTED.with(|e| e.set(encrypted));
    // The store lives in the system temp dir, which must be on a real disk for the fsyncs of
    // `synchronous=FULL` to cost what they do (ext4 on the dev VM; where /tmp is tmpfs, set
    // TMPDIR to a directory on disk).
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sotay.db");
    let seed_started = Instant::now();
    let seeded = seed(&path, records);
    let seed_time = seed_started.elapsed();
    let seeded_size = size_with_wal(&path);
    let mode = if encrypted { "encrypted" } else { "plain" };
    eprintln!("{mode}: seeded {records} records in {:.1} s", seed_time.as_secs_f64());
    let store = open(&path);
    let searches = QUERIES.iter().map(|q| (*q, search_hits(&store, q), Vec::new())).collect();
    drop(store);
    Pass { encrypted, seeded, seed_time, seeded_size, saves: Vec::new(), searches, opens: Vec::new(), path, _dir: dir }
}

/// Queries a volunteer types: common names, a hamlet without its diacritics, a word that
/// folds from both "hoà" and "hòa", a rare name, and one that matches nothing (a full scan).
const QUERIES: &[&str] = &["nguyen thi", "dak po kong", "hoa", "bui kim hanh", "zzzz"];

fn main() {
    let started = Instant::now();
    let records = records_from_env(DEFAULT_RECORDS);
    let (nproc, load_before) = (cpus(), load_average());

    let mut plain = pass(records, false);
    let mut enc = pass(records, true);
    for round in 0..ROUNDS {
        bench_saves(&mut plain, &mut enc, SAVES / ROUNDS, round);
        measure_round(&mut plain);
        measure_round(&mut enc);
    }
    eprintln!("measured {ROUNDS} alternating rounds");
    let Pass { seed_time, seeded_size, ref saves, ref searches, ref opens, ref path, .. } = enc;

    let mut rows = Vec::new();
    let save = Stats::of(saves);
    rows.push(Row::info("save_p50_ms", save.p50));
    rows.push(Row::target("save_p99_ms", save.p99, SAVE_TARGET_MS));
    rows.push(Row::info("save_max_ms", save.max));
    for (query, _, samples) in searches {
        let s = Stats::of(samples);
        rows.push(Row::info(&format!("search_p50_ms[{query}]"), s.p50));
        rows.push(Row::target(&format!("search_p99_ms[{query}]"), s.p99, SEARCH_TARGET_MS));
    }
    let totals: Vec<Duration> = opens.iter().map(|(total, _)| *total).collect();
    let open_total = Stats::of(&totals);
    rows.push(Row::info("open_home_p50_ms", open_total.p50));
    rows.push(Row::target("open_home_p99_ms", open_total.p99, OPEN_TARGET_MS));
    let open_steps = |opens: &[(Duration, [Duration; 7])]| -> String {
        let steps: Vec<String> = OPEN_STEPS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let samples: Vec<Duration> = opens.iter().map(|(_, steps)| steps[i]).collect();
                let s = Stats::of(&samples);
                format!("{name} {:.1}/{:.1}", s.p50, s.p99)
            })
            .collect();
        steps.join(", ")
    };
    // What encryption costs: encrypted p50 over plain p50, same work, same run.
    let ratio = |a: &[Duration], b: &[Duration]| Stats::of(a).p50 / Stats::of(b).p50;
    rows.push(Row::info("encrypted/plain save_p50", ratio(saves, &plain.saves)));
    for ((query, _, enc_samples), (_, _, plain_samples)) in searches.iter().zip(&plain.searches) {
        rows.push(Row::info(&format!("encrypted/plain search_p50[{query}]"), ratio(enc_samples, plain_samples)));
    }
    let plain_totals: Vec<Duration> = plain.opens.iter().map(|(total, _)| *total).collect();
    rows.push(Row::info("encrypted/plain open_home_p50", ratio(&totals, &plain_totals)));
    let plain_summary = format!(
        "save p50 {:.2} ms, search p50/p99 {} ms, open+home p50 {:.1} ms, seeding {:.1} s, {:.1} MiB",
        Stats::of(&plain.saves).p50,
        plain
            .searches
            .iter()
            .map(|(_, _, s)| {
                let s = Stats::of(s);
                format!("{:.2}/{:.2}", s.p50, s.p99)
            })
            .collect::<Vec<_>>()
            .join(", "),
        Stats::of(&plain_totals).p50,
        plain.seed_time.as_secs_f64(),
        mib(plain.seeded_size)
    );

    println!();
    println!("sotay store benchmark");
    println!("  nproc            {nproc}");
    println!("  records seeded   {records} (+{SAVES} saved by the save benchmark)");
    println!("  seeding          {:.1} s (Store::create per record, then mark_sent/void)", seed_time.as_secs_f64());
    println!("  load average     {} (before the run: {load_before})", load_average());
    println!("  store file       {} ({:.1} MiB after seeding, encrypted)", path.display(), mib(seeded_size));
    println!("  store file after {:.1} MiB (database + WAL, after the runs)", mib(size_with_wal(path)));
    println!(
        "  samples          save {SAVES}, search {SEARCHES_PER_QUERY} per query, open+home {OPENS}; \
         percentiles are nearest-rank"
    );
    println!("  open+home steps  p50/p99 ms: {}", open_steps(opens));
    println!("  (unencrypted)    p50/p99 ms: {}", open_steps(&plain.opens));
    println!("  unencrypted      {plain_summary}");
    println!("  search hits      {}", {
        let hits: Vec<String> = searches.iter().map(|(q, n, _)| format!("\"{q}\": {n}")).collect();
        format!("{} (first page, limit 100)", hits.join(", "))
    });
    println!();
    print_table(&rows, started);
    if std::env::var_os("SOTAY_BENCH_KEEP").is_some() {
        println!("kept {}", enc._dir.keep().display());
    }
}

// ---- measuring ----------------------------------------------------------------------

/// Benchmark 1, durable save of one record, as the form's Save button does it. The two
/// stores take turns save by save (and which goes first alternates), so that a slow patch
/// of the disk's fsyncs falls on both alike: the ratio compares like with like.
fn bench_saves(plain: &mut Pass, enc: &mut Pass, n: usize, round: usize) {
    let stores = [&*plain, &*enc].map(|p| {
        ENCRYPTED.with(|e| e.set(p.encrypted));
        open(&p.path)
    });
    let mut gens = [&*plain, &*enc].map(|p| Gen::new(0x5a7e + round as u64, p.seeded.cid_key.clone()));
    let now = Local::now().naive_local();
    for i in round * n..(round + 1) * n {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for s in order {
            let new = gens[s].record(now - chrono::Duration::minutes(i as i64), &mut None);
            let t = Instant::now();
            stores[s].create(new).expect("save");
            let took = t.elapsed();
            if s == 0 {
                plain.saves.push(took)
            } else {
                enc.saves.push(took)
            }
        }
    }
}

/// Benchmark 2, the record list's search, first page.
fn bench_search(store: &Store, query: &str, n: usize) -> Vec<Duration> {
    let filter = Filter { text: query.to_owned(), limit: 100, ..Default::default() };
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let found = store.search(&filter).expect("search");
            let elapsed = t.elapsed();
            std::hint::black_box(found);
            elapsed
        })
        .collect()
}

fn search_hits(store: &Store, query: &str) -> usize {
    store.search(&Filter { text: query.to_owned(), limit: 100, ..Default::default() }).expect("search").len()
}

/// The steps of opening the app's home screen, timed one by one.
const OPEN_STEPS: [&str; 7] =
    ["open", "reference", "tallies_today", "tallies_month", "outbox_summary", "drafts", "hamlet_progress"];

/// Benchmark 3, opening the store and reading what the home screen shows
/// (src/ui/home.rs), in the same order. Gives each run's total and the time of each step.
/// The store is dropped outside the timed part; the OS page cache stays warm between runs.
fn bench_open(path: &Path, n: usize) -> Vec<(Duration, [Duration; 7])> {
    (0..n)
        .map(|_| {
            let mut steps = [Duration::ZERO; 7];
            let mut step = 0;
            let started = Instant::now();
            let mut lap = started;
            let mut done = |step: &mut usize| {
                let now = Instant::now();
                steps[*step] = now - lap;
                lap = now;
                *step += 1;
            };
            let store = open(path);
            done(&mut step);
            let today = store.now().with_timezone(&Local).date_naive();
            let month_start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
            let tomorrow = today + Days::new(1);
            std::hint::black_box(store.reference().expect("reference"));
            done(&mut step);
            std::hint::black_box(store.tallies(today, tomorrow).expect("today"));
            done(&mut step);
            std::hint::black_box(store.tallies(month_start, tomorrow).expect("month"));
            done(&mut step);
            std::hint::black_box(store.outbox_summary().expect("outbox"));
            done(&mut step);
            std::hint::black_box(store.drafts().expect("drafts"));
            done(&mut step);
            std::hint::black_box(store.hamlet_progress().expect("progress"));
            done(&mut step);
            let total = started.elapsed();
            drop(store);
            (total, steps)
        })
        .collect()
}

/// Opens the store as the app does (src/ui/mod.rs): with the words records are listed
/// under added to what search matches.
fn open(path: &Path) -> Store {
    let store = if ENCRYPTED.with(|e| e.get()) {
        Store::open(path)
    } else {
        Store::open_unencrypted_for_benchmarks(path, std::sync::Arc::new(chrono::Utc::now))
    };
    store.expect("open store").with_search_labels(sotay::i18n::search_labels)
}

// ---- seeding --------------------------------------------------------------------------

struct Seeded {
    cid_key: CidKey,
}

/// Fills a new store at `path` with `n` records spread over the last [`DAYS`] days and the
/// five sample hamlets. Older records are marked sent, a few rejected, a few voided, so the
/// outbox looks like a device that syncs; two drafts wait on the home screen.
///
/// Seeding simply calls `Store::create` once per record, as the app does, in place, each
/// save an fsync'd commit; marking the older ones sent is one more commit each. Measured on
/// the 2-core dev VM: about 0.45 ms per record all told, so 100,000 records take 45 s.
/// That is well under the ~3 minutes allowed, so there is no bulk-insert shortcut
/// (a second connection with `synchronous=OFF`, or building on tmpfs and copying) and no
/// SQL in this file: the seeded file is exactly what the app would have written.
fn seed(path: &Path, n: usize) -> Seeded {
    let store = open(path);
    store.replace_reference(&reference()).expect("replace reference");
    let cid_key = store.cid_key().expect("cid key");
    let mut gen = Gen::new(0x50_7a4, cid_key.clone());
    let now = Local::now().naive_local();
    let mut last_visit: Option<Uuid> = None;
    let mut saved: Vec<(NaiveDateTime, Uuid)> = Vec::with_capacity(n);
    for i in 0..n {
        let at = gen.occurred_at(now);
        let new = gen.record(at, &mut last_visit);
        let record = store.create(new).expect("seed record");
        if matches!(record.body, Body::Visit(_)) {
            last_visit = Some(record.meta.id);
        }
        saved.push((record.meta.occurred_at, record.meta.id));
        if (i + 1) % 20_000 == 0 {
            eprintln!("  seeded {} records", i + 1);
        }
    }
    // The server has everything but the last three days; 1 in 500 was refused, 1 in 200 voided.
    let cutoff = now - chrono::Duration::days(3);
    for (i, (occurred_at, id)) in saved.iter().enumerate() {
        let mut version = 1;
        if i % 200 == 7 {
            store.void(*id, 1, "v-thu", "Nhập trùng").expect("void");
            version = 2;
        }
        if *occurred_at < cutoff {
            if i % 500 == 3 {
                store.mark_rejected(*id, version, "Thiếu số điện thoại").expect("reject");
            } else {
                store.mark_sent(*id, version).expect("mark sent");
            }
        }
    }
    let mut draft = Form::blank(RecordKind::Visit, "h-hoabinh", now);
    if let Form::Visit(VisitForm { household, .. }) = &mut draft {
        *household = "Hộ bà Nguyễn Thị Hoa".into();
    }
    store.save_draft("new-visit", None, &draft).expect("draft");
    store.save_draft("new-training", None, &Form::blank(RecordKind::Training, "h-plei", now)).expect("draft");
    Seeded { cid_key }
}

/// A deterministic generator of realistic records (splitmix64).
// The record generator is shared with the other benches.
#[path = "common/records.rs"]
mod records;
use records::{reference, Gen};

#[path = "common/table.rs"]
mod table;
use table::*;
