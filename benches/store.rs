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
const SAVES: usize = 1_000;
const SEARCHES_PER_QUERY: usize = 200;
const OPENS: usize = 30;
/// Records are spread over this many days before today.
const DAYS: u64 = 300;

const SAVE_TARGET_MS: f64 = 10.0;
const SEARCH_TARGET_MS: f64 = 50.0;
const OPEN_TARGET_MS: f64 = 200.0;

/// Queries a volunteer types: common names, a hamlet without its diacritics, a word that
/// folds from both "hoà" and "hòa", a rare name, and one that matches nothing (a full scan).
const QUERIES: &[&str] = &["nguyen thi", "dak po kong", "hoa", "bui kim hanh", "zzzz"];

fn main() {
    let started = Instant::now();
    let records = std::env::var("SOTAY_BENCH_RECORDS")
        .ok()
        .map(|s| s.trim().parse::<usize>().expect("SOTAY_BENCH_RECORDS must be a whole number"))
        .unwrap_or(DEFAULT_RECORDS);
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let load_before = load_average();

    // The store lives in the system temp dir, which must be on a real disk for the fsyncs of
    // `synchronous=FULL` to cost what they do (ext4 on the dev VM; where /tmp is tmpfs, set
    // TMPDIR to a directory on disk).
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sotay.db");

    let seed_started = Instant::now();
    let seeded = seed(&path, records);
    let seed_time = seed_started.elapsed();
    let seeded_size = store_size(&path);
    eprintln!("seeded {records} records in {:.1} s", seed_time.as_secs_f64());

    let store = open(&path);
    let saves = bench_saves(&store, &seeded);
    let searches: Vec<(&str, usize, Vec<Duration>)> =
        QUERIES.iter().map(|q| (*q, search_hits(&store, q), bench_search(&store, q))).collect();
    drop(store);
    let opens = bench_open(&path);

    let mut rows = Vec::new();
    let save = Stats::of(&saves);
    rows.push(Row::info("save_p50_ms", save.p50));
    rows.push(Row::target("save_p99_ms", save.p99, SAVE_TARGET_MS));
    rows.push(Row::info("save_max_ms", save.max));
    for (query, _, samples) in &searches {
        let s = Stats::of(samples);
        rows.push(Row::info(&format!("search_p50_ms[{query}]"), s.p50));
        rows.push(Row::target(&format!("search_p99_ms[{query}]"), s.p99, SEARCH_TARGET_MS));
    }
    let totals: Vec<Duration> = opens.iter().map(|(total, _)| *total).collect();
    let open_total = Stats::of(&totals);
    rows.push(Row::info("open_home_p50_ms", open_total.p50));
    rows.push(Row::target("open_home_p99_ms", open_total.p99, OPEN_TARGET_MS));
    let open_steps: Vec<String> = OPEN_STEPS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let samples: Vec<Duration> = opens.iter().map(|(_, steps)| steps[i]).collect();
            let s = Stats::of(&samples);
            format!("{name} {:.1}/{:.1}", s.p50, s.p99)
        })
        .collect();

    println!();
    println!("sotay store benchmark");
    println!("  nproc            {nproc}");
    println!("  records seeded   {records} (+{SAVES} saved by the save benchmark)");
    println!("  seeding          {:.1} s (Store::create per record, then mark_sent/void)", seed_time.as_secs_f64());
    println!("  load average     {} (before the run: {load_before})", load_average());
    println!("  store file       {} ({:.1} MiB after seeding)", path.display(), mib(seeded_size));
    println!("  store file after {:.1} MiB (database + WAL, after the runs)", mib(store_size(&path)));
    println!(
        "  samples          save {SAVES}, search {SEARCHES_PER_QUERY} per query, open+home {OPENS}; \
         percentiles are nearest-rank"
    );
    println!("  open+home steps  p50/p99 ms: {}", open_steps.join(", "));
    println!("  search hits      {}", {
        let hits: Vec<String> = searches.iter().map(|(q, n, _)| format!("\"{q}\": {n}")).collect();
        format!("{} (first page, limit 100)", hits.join(", "))
    });
    println!();
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &rows {
        match r.target {
            Some(t) => {
                let verdict = if r.value <= t { "OK" } else { "MISSED" };
                println!("{:<width$}  {:>8.2}  (target ≤ {t})  {verdict}", r.name, r.value);
            }
            None => println!("{:<width$}  {:>8.2}", r.name, r.value),
        }
    }
    let missed = rows.iter().filter(|r| r.target.is_some_and(|t| r.value > t)).count();
    println!();
    println!(
        "{} of {} targets met; whole bench took {:.1} s",
        rows.iter().filter(|r| r.target.is_some()).count() - missed,
        rows.iter().filter(|r| r.target.is_some()).count(),
        started.elapsed().as_secs_f64()
    );
    if std::env::var_os("SOTAY_BENCH_KEEP").is_some() {
        println!("kept {}", dir.keep().display());
    }
}

// ---- measuring ----------------------------------------------------------------------

/// Benchmark 1, durable save of one record, as the form's Save button does it.
fn bench_saves(store: &Store, seeded: &Seeded) -> Vec<Duration> {
    let mut gen = Gen::new(0x5a7e, seeded.cid_key.clone());
    let now = Local::now().naive_local();
    let mut out = Vec::with_capacity(SAVES);
    for i in 0..SAVES {
        let new = gen.record(now - chrono::Duration::minutes(i as i64), &mut None);
        let t = Instant::now();
        store.create(new).expect("save");
        out.push(t.elapsed());
    }
    out
}

/// Benchmark 2, the record list's search, first page.
fn bench_search(store: &Store, query: &str) -> Vec<Duration> {
    let filter = Filter { text: query.to_owned(), limit: 100, ..Default::default() };
    (0..SEARCHES_PER_QUERY)
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
fn bench_open(path: &Path) -> Vec<(Duration, [Duration; 7])> {
    (0..OPENS)
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
    Store::open(path).expect("open store").with_search_labels(sotay::i18n::search_labels)
}

struct Stats {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[Duration]) -> Stats {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        Stats { p50: nearest_rank(&ms, 50.0), p99: nearest_rank(&ms, 99.0), max: ms.last().copied().unwrap_or(0.0) }
    }
}

/// The nearest-rank percentile of sorted samples: the smallest value with at least `p`%
/// of the samples at or below it.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Row {
    name: String,
    value: f64,
    target: Option<f64>,
}

impl Row {
    fn info(name: &str, value: f64) -> Row {
        Row { name: name.to_owned(), value, target: None }
    }

    fn target(name: &str, value: f64, target: f64) -> Row {
        Row { name: name.to_owned(), value, target: Some(target) }
    }
}

fn store_size(path: &Path) -> u64 {
    let mut wal = PathBuf::from(path);
    wal.set_extension("db-wal");
    [path.to_path_buf(), wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// The 1, 5 and 15 minute load averages, to tell a noisy run from a slow store.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---- seeding --------------------------------------------------------------------------

struct Seeded {
    cid_key: CidKey,
}

/// A commune that is not the sample one, so records queue to the outbox like real ones:
/// the sample hamlets with a real-sized team of volunteers.
fn reference() -> ReferenceData {
    let mut r = sample_reference();
    r.commune.name = "Xã Kon Braih".into();
    r.commune.sample = false;
    let extra = [
        ("v-hnga", "H'Nga", "h-konbraih"),
        ("v-blir", "Y Blir", "h-plei"),
        ("v-dung", "Lê Văn Dũng", "h-hoabinh"),
        ("v-hoa", "Phạm Thị Hoà", "h-tdp1"),
        ("v-ro", "A Rơ", "h-plei"),
        ("v-mai", "Đinh Thị Mai", "h-dakpokong"),
    ];
    for (id, name, hamlet) in extra {
        r.volunteers.push(Volunteer { id: id.into(), name: name.into(), hamlet_id: Some(hamlet.into()) });
    }
    r
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
struct Gen {
    state: u64,
    cid_key: CidKey,
    reference: Rc<ReferenceData>,
}

const SURNAMES: &[&str] = &[
    "Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
    "Ngô", "Đinh",
];
const MIDDLE_F: &[&str] = &["Thị", "Thị", "Thị", "Ngọc", "Thu", "Kim"];
const MIDDLE_M: &[&str] = &["Văn", "Văn", "Hữu", "Đức", "Minh", "Quang"];
const GIVEN_F: &[&str] = &["Hoa", "Hoà", "Lan", "Hương", "Mai", "Thảo", "Hằng", "Nhung", "Trang", "Yến", "Ánh", "Hạnh"];
const GIVEN_M: &[&str] = &["Hùng", "Dũng", "Tuấn", "Bình", "Hải", "Phúc", "Nam", "Sơn", "Thắng", "Hoà", "Long", "Khoa"];
/// Bahnar and Xơ Đăng names as they are written on ID cards.
const MINORITY_F: &[&str] = &["Y Hiên", "Y Nhung", "Y Bia", "H'Nga", "Y Phương", "Y Thơm", "Y Lan", "Y Hoa"];
const MINORITY_M: &[&str] = &["A Hưng", "A Thuột", "A Blưn", "A Rơ", "A Kiên", "A Đức", "A Phiên", "Đinh Văn Rơh"];
const ETHNIC: &[&str] = &["Ba Na", "Ba Na", "Xơ Đăng", "Xơ Đăng", "Hrê", "Giẻ Triêng"];
const VISIT_NOTES: &[&str] = &[
    "",
    "",
    "Cài VNeID, kích hoạt mức 2",
    "Hướng dẫn thanh toán không dùng tiền mặt",
    "Cảnh báo lừa đảo qua điện thoại",
    "Nộp hồ sơ trên Cổng dịch vụ công",
    "Hẹn quay lại khi có điện thoại mới",
    "Cả nhà cùng học, con cháu hỗ trợ ông bà",
];
const OUTREACH_NOTES: &[&str] = &[
    "Phát thanh trên loa thôn buổi sáng",
    "Phát tờ rơi tại nhà văn hoá",
    "Dán áp phích ở chợ",
    "Đăng bài trên nhóm Zalo thôn",
    "Lồng ghép trong họp thôn",
];

impl Gen {
    fn new(seed: u64, cid_key: CidKey) -> Gen {
        Gen { state: seed, cid_key, reference: Rc::new(reference()) }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A working-hours time on one of the last [`DAYS`] days, never in the future.
    fn occurred_at(&mut self, now: NaiveDateTime) -> NaiveDateTime {
        let day = now.date() - Days::new(self.below(DAYS));
        let time = NaiveTime::from_hms_opt(7 + self.below(11) as u32, self.below(60) as u32, 0).unwrap_or_default();
        let at = day.and_time(time);
        if at > now {
            at - chrono::Duration::days(1)
        } else {
            at
        }
    }

    /// A person's name; `minority` picks a Bahnar/Xơ Đăng name.
    fn name(&mut self, female: bool, minority: bool) -> String {
        match (minority, female) {
            (true, true) => self.pick(MINORITY_F).to_string(),
            (true, false) => self.pick(MINORITY_M).to_string(),
            (false, f) => {
                let surname = self.pick(SURNAMES);
                let middle = self.pick(if f { MIDDLE_F } else { MIDDLE_M });
                let given = self.pick(if f { GIVEN_F } else { GIVEN_M });
                format!("{surname} {middle} {given}")
            }
        }
    }

    fn topics(&mut self) -> Vec<Topic> {
        let mut topics: Vec<Topic> = Topic::ALL.iter().copied().filter(|_| self.chance(25)).collect();
        if topics.is_empty() {
            topics.push(*self.pick(Topic::ALL));
        }
        topics
    }

    /// One record: 35% visits, 45% signature help, 10% trainings, 10% outreach. The
    /// hamlet decides the volunteer and how likely a minority name is.
    fn record(&mut self, at: NaiveDateTime, last_visit: &mut Option<Uuid>) -> NewRecord {
        let reference = Rc::clone(&self.reference);
        let hamlet = self.pick(&reference.hamlets).id.clone();
        let team: Vec<&Volunteer> =
            reference.volunteers.iter().filter(|v| v.hamlet_id.as_deref() == Some(&hamlet)).collect();
        let volunteer = if team.is_empty() || self.chance(10) {
            self.pick(&reference.volunteers).id.clone()
        } else {
            self.pick(&team).id.clone()
        };
        let minority_share = match hamlet.as_str() {
            "h-dakpokong" | "h-konbraih" | "h-plei" => 80,
            "h-hoabinh" => 30,
            _ => 10,
        };
        let roll = self.below(100);
        let body = if roll < 35 {
            let female = self.chance(50);
            let minority = self.chance(minority_share);
            let head = self.name(female, minority);
            Body::Visit(Visit {
                household: format!("Hộ {} {head}", if female { "bà" } else { "ông" }),
                people_helped: 1 + self.below(4) as u32,
                topics: self.topics(),
                notes: self.pick(VISIT_NOTES).to_string(),
            })
        } else if roll < 80 {
            let consent = self.chance(85);
            let person = consent.then(|| {
                let female = self.chance(52);
                let minority = self.chance(minority_share);
                let number = format!("051{:09}", self.below(1_000_000_000));
                let cid = CitizenId::parse(&number).expect("generated citizen ID");
                Person {
                    display_name: self.name(female, minority),
                    birth_year: 1950 + self.below(56) as u16,
                    sex: if female { Sex::Female } else { Sex::Male },
                    ethnic_group: Some(if minority { self.pick(ETHNIC).to_string() } else { "Kinh".into() }),
                    phone: self.chance(70).then(|| format!("09{:08}", self.below(100_000_000))),
                    cid_hash: Some(cid.hash(&self.cid_key)),
                    cid_key_id: Some(self.cid_key.id.clone()),
                    cid_last4: self.chance(60).then(|| cid.last4()),
                }
            });
            let outcome = match self.below(100) {
                0..75 => Outcome::DigitalSignature,
                75..85 => Outcome::PersonalESignature,
                _ => Outcome::NotCompleted,
            };
            let failure_reason = (outcome == Outcome::NotCompleted).then(|| *self.pick(FailureReason::ALL));
            let provider = (outcome != Outcome::NotCompleted).then(|| self.pick(&reference.providers).clone());
            Body::SignatureHelp(SignatureHelp {
                consent,
                person,
                level_before: *self.pick(&[AccountLevel::None, AccountLevel::Level1, AccountLevel::Level2]),
                level_after: AccountLevel::Level2,
                outcome,
                failure_reason,
                provider,
                parent_id: if self.chance(30) { *last_visit } else { None },
            })
        } else if roll < 90 {
            let total = 5 + self.below(60) as u32;
            let women = self.below(total as u64 + 1) as u32;
            let trainers: Vec<String> = (0..1 + self.below(2))
                .map(|_| reference.volunteer_name(&self.pick(&reference.volunteers).id.clone()))
                .collect();
            Body::Training(Training {
                kind: *self.pick(TrainingKind::ALL),
                topics: self.topics(),
                total,
                women,
                ethnic_minority: (total as u64 * minority_share / 100) as u32,
                trainers: trainers.join(", "),
                platform: *self.pick(&[Platform::BinhDanHocVuSo, Platform::BinhDanHocVuSo, Platform::Mooc]),
                platform_other: None,
            })
        } else {
            Body::Outreach(Outreach {
                channel: *self.pick(Channel::ALL),
                quantity: 1 + self.below(50) as u32,
                reach: 20 + self.below(400) as u32,
                notes: self.pick(OUTREACH_NOTES).to_string(),
            })
        };
        NewRecord { hamlet_id: hamlet, volunteer_id: volunteer, occurred_at: at, body }
    }
}
