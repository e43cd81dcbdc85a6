//! Reports benchmark: the office's coverage report (today and as of 20/11), a whole year's
//! activity report and the XLSX of both, on a server database holding 1,000,000 records.
//!
//! Run with `CARGO_TARGET_DIR=/work/bench-target cargo bench --features server --bench reports`.
//! `SOTAY_BENCH_RECORDS=50000` makes a quick run. `SOTAY_BENCH_DB=/path/reports.db` seeds
//! that file the first time and reuses it afterwards (seeding a million records takes
//! minutes), and leaves it there for `sqlite3` and EXPLAIN QUERY PLAN; a file from an older
//! server is migrated when opened (the time is printed). `SOTAY_BENCH_CHECK=1` also compares
//! the reports' running totals with a recomputation from the records. Prints one table to
//! stdout; progress goes to stderr.
//!
//! The load is a province's worth of records in one commune, the worst case for a commune's
//! report: 60 hamlets with about 1.1 million adults, 120 volunteers each working mostly in
//! their own hamlet, 8 devices pushing a year of work with `ServerDb::apply_push` in
//! batches of 500, in the order it happened, each push at the time its work was done (so the
//! coverage log holds a change per hamlet and day). Half the records are signature-help sessions
//! (people with a citizen-ID hash helped again on other days, devices and hamlets; sessions
//! without consent or without an ID; not-completed ones with their reasons), the rest visits,
//! trainings and outreach on every channel. About 5% of the pushes are edits of a device's
//! recent records and one in six of those voids the record, so the table holds a million
//! distinct records at their latest versions. A second, typical commune of 10,000 records
//! sits in the same file, to show a small commune's reports next to a big one.
//!
//! Each measurement runs once to warm the page cache, then [`RUNS`] times; percentiles are
//! nearest-rank, so with 15 runs p99 is the slowest run. Everything goes through the public
//! `ServerDb` and `export` API, as the office's pages call it. When the bench seeds, it also
//! reports how long each push of 500 took (what keeping the running totals costs a push):
//! over the whole seeding, and over its last tenth, when the file is nearly full.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use sotay::domain::citizen_id::{CitizenId, SealKey};
use sotay::domain::*;
use sotay::protocol::{Applied, DeviceReport, WireRecord, MAX_BATCH_RECORDS};
use sotay_server::db::{Device, ServerDb};
use sotay_server::export::{activity_xlsx, coverage_xlsx};
use sotay_server::i18n::office::VI;

#[path = "common/table.rs"]
mod table;
use table::*;

const DEFAULT_RECORDS: usize = 1_000_000;
const TYPICAL_RECORDS: usize = 10_000;
const BIG: &str = "51001";
const TYPICAL: &str = "51002";
const DEVICES: usize = 8;
const RUNS: usize = 15;

const REPORT_TARGET_MS: f64 = 300.0;
const XLSX_TARGET_MS: f64 = 1000.0;

fn main() {
    let started = Instant::now();
    let records = records_from_env(DEFAULT_RECORDS);
    let (nproc, load_before) = (cpus(), load_average());

    // The database lives on a real disk (the system temp dir on the dev VM is ext4), so the
    // reports read what a server reads; after seeding, the OS page cache is warm, as on a
    // server that has been running.
    let temp = tempfile::tempdir().expect("temp dir");
    let path = std::env::var_os("SOTAY_BENCH_DB").map(PathBuf::from).unwrap_or_else(|| temp.path().join("reports.db"));
    let reuse = path.exists();
    // A file from an older server is migrated here (the report totals are backfilled).
    let open_started = Instant::now();
    let db = ServerDb::open(&path).expect("open server db");
    let open_time = open_started.elapsed();
    let seed_started = Instant::now();
    let seeded = if reuse {
        eprintln!("reusing {}", path.display());
        None
    } else {
        db.put_commune(&reference(BIG, "Xã Đăk Rơ Wa (tải cấp tỉnh)", 60, 120, 8_000..30_000)).expect("commune");
        db.put_commune(&reference(TYPICAL, "Xã Kon Braih", 12, 24, 250..420)).expect("commune");
        let big = seed(&db, BIG, records, 0x5017_2026);
        let typical = seed(&db, TYPICAL, TYPICAL_RECORDS, 0x5017_0001);
        Some((big, typical))
    };
    let seed_time = seed_started.elapsed();
    // With SOTAY_BENCH_CHECK set, the running totals are compared with a recomputation.
    let check = std::env::var_os("SOTAY_BENCH_CHECK").map(|_| {
        let t = Instant::now();
        let mismatches = db.totals_mismatches(BIG).expect("totals check");
        (mismatches.len(), t.elapsed())
    });
    let stored = db.record_versions(BIG).expect("records").len();
    let stored_typical = db.record_versions(TYPICAL).expect("records").len();
    eprintln!("{stored} + {stored_typical} records stored; seeding took {:.1} s", seed_time.as_secs_f64());

    let year = (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    let coverage = measure("coverage_report", || db.coverage_report(BIG).expect("coverage"));
    let as_of_day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let as_of = measure("coverage_report_as_of", || db.coverage_report_as_of(BIG, as_of_day).expect("coverage"));
    let activity = measure("activity_report", || db.activity_report(BIG, year.0, year.1).expect("activity"));
    let cov = db.coverage_report(BIG).expect("coverage");
    let act = db.activity_report(BIG, year.0, year.1).expect("activity");
    let xlsx = measure("xlsx", || (coverage_xlsx(&cov, &VI).expect("xlsx"), activity_xlsx(&act, &VI).expect("xlsx")));
    let export = measure("export", || {
        let cov = db.coverage_report(BIG).expect("coverage");
        let act = db.activity_report(BIG, year.0, year.1).expect("activity");
        (coverage_xlsx(&cov, &VI).expect("xlsx"), activity_xlsx(&act, &VI).expect("xlsx"))
    });
    let small_coverage = measure("coverage_report typical", || db.coverage_report(TYPICAL).expect("coverage"));
    let small_activity =
        measure("activity_report typical", || db.activity_report(TYPICAL, year.0, year.1).expect("activity"));
    let (cov_bytes, act_bytes) = (coverage_xlsx(&cov, &VI).expect("xlsx"), activity_xlsx(&act, &VI).expect("xlsx"));

    let mut rows = Vec::new();
    let s = Stats::of(&coverage);
    rows.push(Row::target("coverage_report_p50_ms", s.p50, REPORT_TARGET_MS));
    rows.push(Row::info("coverage_report_p99_ms", s.p99));
    let s = Stats::of(&as_of);
    rows.push(Row::target("coverage_as_of_20_11_p50_ms", s.p50, REPORT_TARGET_MS));
    rows.push(Row::info("coverage_as_of_20_11_p99_ms", s.p99));
    let s = Stats::of(&activity);
    rows.push(Row::target("activity_report_year_p50_ms", s.p50, REPORT_TARGET_MS));
    rows.push(Row::info("activity_report_year_p99_ms", s.p99));
    let s = Stats::of(&xlsx);
    rows.push(Row::target("xlsx_coverage+activity_p50_ms", s.p50, XLSX_TARGET_MS));
    rows.push(Row::info("xlsx_coverage+activity_p99_ms", s.p99));
    let s = Stats::of(&export);
    rows.push(Row::info("reports+xlsx_p50_ms", s.p50));
    rows.push(Row::info("reports+xlsx_p99_ms", s.p99));
    rows.push(Row::info("coverage_report_p50_ms[typical]", Stats::of(&small_coverage).p50));
    rows.push(Row::info("activity_report_year_p50_ms[typical]", Stats::of(&small_activity).p50));
    if let Some((big, _)) = &seeded {
        // Pushes into the big commune while it grew, and the last tenth (near a million).
        let s = Stats::of(&big.push_times);
        rows.push(Row::info("push_500_p50_ms[seeding]", s.p50));
        rows.push(Row::info("push_500_p99_ms[seeding]", s.p99));
        let last = &big.push_times[big.push_times.len() * 9 / 10..];
        rows.push(Row::info("push_500_p50_ms[last tenth]", Stats::of(last).p50));
    }

    println!();
    println!("sotay reports benchmark");
    println!("  nproc            {nproc}");
    println!(
        "  records stored   {stored} in the big commune ({} hamlets, {} adults), {stored_typical} in a typical one",
        cov.rows.len(),
        cov.total.adult_population
    );
    match &seeded {
        Some((big, typical)) => println!(
            "  seeding          {:.1} s: {} pushes of up to {MAX_BATCH_RECORDS} with {} record versions \
             ({} edits, {} voids) from {DEVICES} devices per commune; typical commune {:.1} s",
            seed_time.as_secs_f64(),
            big.pushes + typical.pushes,
            big.versions + typical.versions,
            big.edits + typical.edits,
            big.voids + typical.voids,
            typical.secs,
        ),
        None => println!("  seeding          reused {}", path.display()),
    }
    println!("  open             {:.1} s (with any migrations)", open_time.as_secs_f64());
    if let Some((n, t)) = check {
        println!("  totals check     {n} rows differ from a recomputation ({:.1} s)", t.as_secs_f64());
        assert_eq!(n, 0, "the running totals differ from a recomputation");
    }
    println!("  load average     {} (before the run: {load_before})", load_average());
    println!("  database         {} ({:.1} MiB with WAL)", path.display(), mib(size_with_wal(&path)));
    println!(
        "  big commune      {} people helped to a signature, {:.1}% signed; a year: {} signature sessions, \
         {} people, {} visits",
        cov.total.helped_signed,
        cov.total.percent,
        act.totals.signature_sessions,
        act.totals.signature_people,
        act.totals.visits
    );
    println!(
        "  xlsx             coverage {:.1} KiB ({} rows), activity {:.1} KiB ({} hamlets, {} volunteers)",
        cov_bytes.len() as f64 / 1024.0,
        cov.rows.len() + 1,
        act_bytes.len() as f64 / 1024.0,
        act.by_hamlet.len(),
        act.by_volunteer.len()
    );
    println!(
        "  samples          {RUNS} runs each after one warm-up run; percentiles are nearest-rank (p99 = slowest); \
         reports+xlsx is both reports and both files, as an office downloading both waits for"
    );
    println!();
    print_table(&rows, started);
    drop(db);
    if std::env::var_os("SOTAY_BENCH_KEEP").is_some() && std::env::var_os("SOTAY_BENCH_DB").is_none() {
        println!("kept {}", temp.keep().display());
    }
}

// ---- measuring ----------------------------------------------------------------------

fn measure<T>(what: &str, f: impl FnMut() -> T) -> Vec<Duration> {
    table::measure(what, RUNS, f)
}

// ---- seeding --------------------------------------------------------------------------

/// A commune of `hamlets` hamlets with adults drawn from `adults`, baselines of 10 to 30%,
/// and `volunteers` volunteers spread over the hamlets.
fn reference(code: &str, name: &str, hamlets: usize, volunteers: usize, adults: std::ops::Range<u32>) -> ReferenceData {
    let mut rng = StdRng::seed_from_u64(code.parse().unwrap_or(0));
    let mut r = sotay::domain::sample::sample_reference();
    r.commune = Commune {
        code: code.into(),
        name: name.into(),
        province: "Quảng Ngãi".into(),
        target_percent: 50,
        sample: false,
    };
    r.hamlets = (0..hamlets)
        .map(|i| {
            let adult_population = rng.gen_range(adults.clone());
            Hamlet {
                id: format!("h-{:03}", i + 1),
                name: format!("Thôn {}", i + 1),
                adult_population,
                baseline_signed: adult_population * rng.gen_range(10..=30) / 100,
            }
        })
        .collect();
    r.volunteers = (0..volunteers)
        .map(|i| Volunteer {
            id: format!("v-{:03}", i + 1),
            name: format!("{} {}", SURNAMES[i % SURNAMES.len()], GIVEN[i % GIVEN.len()]),
            hamlet_id: Some(format!("h-{:03}", i % hamlets + 1)),
            lead: false,
        })
        .collect();
    r
}

const SURNAMES: &[&str] = &["Nguyễn Thị", "Trần Văn", "Lê Thị", "Phạm Văn", "Y", "A", "Đinh Văn", "H'"];
const GIVEN: &[&str] = &["Hoa", "Hùng", "Lan", "Dũng", "Nhung", "Rơ", "Mai", "Blir", "Thảo", "Kiên", "Hạnh"];
const NOTES: &[&str] = &[
    "",
    "",
    "Cài VNeID, kích hoạt mức 2",
    "Hướng dẫn thanh toán không dùng tiền mặt",
    "Cảnh báo lừa đảo qua điện thoại",
    "Nộp hồ sơ trên Cổng dịch vụ công",
];

struct Seeded {
    pushes: usize,
    /// How long each `apply_push` took, in order.
    push_times: Vec<Duration>,
    versions: usize,
    edits: usize,
    voids: usize,
    secs: f64,
}

struct Gen {
    rng: StdRng,
    reference: ReferenceData,
    key: SealKey,
    /// Citizen-ID hashes and last four digits of the people a commune helps.
    people: Vec<(String, String)>,
}

impl Gen {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.gen_range(0..items.len())]
    }

    fn person(&mut self) -> Person {
        let female = self.rng.gen_bool(0.52);
        let consented_id = self.rng.gen_bool(0.75);
        let (number, last4) = self.people[self.rng.gen_range(0..self.people.len())].clone();
        Person {
            display_name: format!("{} {}", self.pick(SURNAMES), self.pick(GIVEN)),
            birth_year: self.rng.gen_range(1950..2006),
            sex: if female { Sex::Female } else { Sex::Male },
            ethnic_group: Some(if self.rng.gen_bool(0.6) { "Ba Na" } else { "Kinh" }.into()),
            phone: self.rng.gen_bool(0.6).then(|| format!("09{:08}", self.rng.gen_range(0..100_000_000))),
            cid_hash: None,
            cid_key_id: None,
            cid_sealed: consented_id.then(|| CitizenId::parse(&number).expect("generated ID").seal(&self.key)),
            cid_last4: (consented_id && self.rng.gen_bool(0.6)).then_some(last4),
        }
    }

    fn body(&mut self) -> Body {
        match self.rng.gen_range(0..100) {
            0..35 => Body::Visit(Visit {
                household: format!("Hộ {} {}", self.pick(SURNAMES), self.pick(GIVEN)),
                people_helped: self.rng.gen_range(1..=4),
                topics: vec![*self.pick(Topic::ALL)],
                notes: self.pick(NOTES).to_string(),
            }),
            35..85 => {
                let person = self.rng.gen_bool(0.8).then(|| self.person());
                let outcome = match self.rng.gen_range(0..100) {
                    0..55 => Outcome::DigitalSignature,
                    55..70 => Outcome::PersonalESignature,
                    _ => Outcome::NotCompleted,
                };
                Body::SignatureHelp(SignatureHelp {
                    consent: person.is_some(),
                    person,
                    level_before: AccountLevel::Level1,
                    level_after: AccountLevel::Level2,
                    outcome,
                    failure_reason: (outcome == Outcome::NotCompleted).then(|| *self.pick(FailureReason::ALL)),
                    provider: (outcome != Outcome::NotCompleted).then(|| "VNPT-CA".into()),
                    parent_id: None,
                })
            }
            85..93 => {
                let total = self.rng.gen_range(5..80);
                Body::Training(Training {
                    kind: *self.pick(TrainingKind::ALL),
                    topics: vec![*self.pick(Topic::ALL)],
                    total,
                    women: self.rng.gen_range(0..=total),
                    ethnic_minority: self.rng.gen_range(0..=total),
                    trainers: format!("{} {}", self.pick(SURNAMES), self.pick(GIVEN)),
                    platform: Platform::BinhDanHocVuSo,
                    platform_other: None,
                })
            }
            _ => Body::Outreach(Outreach {
                channel: *self.pick(Channel::ALL),
                quantity: self.rng.gen_range(1..30),
                reach: self.rng.gen_range(0..2000),
                notes: self.pick(NOTES).to_string(),
            }),
        }
    }

    /// A new record on `date`: a volunteer in their own hamlet nine times in ten.
    fn record(&mut self, date: NaiveDate) -> WireRecord {
        let at = date
            .and_hms_opt(self.rng.gen_range(7..19), self.rng.gen_range(0..60), self.rng.gen_range(0..60))
            .unwrap_or_default();
        let volunteer = self.reference.volunteers[self.rng.gen_range(0..self.reference.volunteers.len())].clone();
        let hamlet = match &volunteer.hamlet_id {
            Some(h) if self.rng.gen_bool(0.9) => h.clone(),
            _ => self.reference.hamlets[self.rng.gen_range(0..self.reference.hamlets.len())].id.clone(),
        };
        let millis = at.and_utc().timestamp_millis() as u64 + self.rng.gen_range(0..60_000);
        WireRecord {
            id: uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.gen()).into_uuid(),
            version: 1,
            hamlet_id: hamlet,
            volunteer_id: volunteer.id,
            occurred_at: at,
            saved_at: Utc::now(),
            voided: false,
            void_reason: None,
            body: self.body(),
        }
    }

    /// The next version of a record: another outcome or person, day or hamlet, or a void.
    fn edit(&mut self, r: &mut WireRecord) -> bool {
        r.version += 1;
        r.saved_at = Utc::now();
        if self.rng.gen_ratio(1, 6) {
            r.voided = true;
            r.void_reason = Some("Nhập trùng".into());
            return true;
        }
        match self.rng.gen_range(0..3) {
            0 => r.occurred_at += chrono::Duration::days(self.rng.gen_range(-3..=3)),
            1 => r.hamlet_id = self.reference.hamlets[self.rng.gen_range(0..self.reference.hamlets.len())].id.clone(),
            _ => {
                let kind = r.body.kind();
                // The same kind of record, with other details.
                r.body = loop {
                    let b = self.body();
                    if b.kind() == kind {
                        break b;
                    }
                };
            }
        }
        false
    }
}

/// Pushes a year of `records` records of `commune` from [`DEVICES`] devices, in batches of
/// [`MAX_BATCH_RECORDS`], in the order the work happened.
fn seed(db: &ServerDb, commune: &str, records: usize, seed: u64) -> Seeded {
    let started = Instant::now();
    let mut seal_key = String::new();
    let devices: Vec<Device> = (0..DEVICES)
        .map(|i| {
            let code = db.new_enrol_code(commune, chrono::Duration::hours(1), Utc::now()).expect("code");
            let e = db.enrol(&code, &format!("Máy tính bảng {}", i + 1), Utc::now()).expect("enrol").expect("enrolled");
            seal_key = e.seal_key;
            db.device_by_token(&e.token).expect("device").expect("device")
        })
        .collect();
    let key = SealKey::from_hex(&seal_key).expect("sealing key");
    let mut rng = StdRng::seed_from_u64(seed);
    // About 1.3 successful-or-not sessions with an ID per person, so people come back.
    let people: Vec<(String, String)> = (0..(records * 23 / 100).max(100))
        .map(|_| {
            let number = format!("051{:09}", rng.gen_range(0..1_000_000_000u64));
            let cid = CitizenId::parse(&number).expect("generated citizen ID");
            (number.clone(), cid.last4())
        })
        .collect();
    let mut gen = Gen { rng, reference: db.commune(commune).expect("commune"), key, people };
    let year_start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    // Each device's recent records, which its volunteers may still edit.
    let mut recent: Vec<VecDeque<WireRecord>> = vec![VecDeque::new(); DEVICES];
    let (mut made, mut pushes, mut versions, mut edits, mut voids) = (0, 0, 0, 0, 0);
    let report = DeviceReport { queued: 0, app_version: "bench".into() };
    let mut push_times = Vec::new();
    while made < records {
        let d = pushes % DEVICES;
        let day = year_start + Days::new(((made as f64 / records as f64) * 362.0) as u64);
        let mut batch = Vec::with_capacity(MAX_BATCH_RECORDS);
        while batch.len() < MAX_BATCH_RECORDS && made < records {
            if gen.rng.gen_ratio(1, 20) && !recent[d].is_empty() {
                let i = gen.rng.gen_range(0..recent[d].len());
                let mut r = recent[d][i].clone();
                if r.voided {
                    continue;
                }
                voids += gen.edit(&mut r) as usize;
                edits += 1;
                recent[d][i] = r.clone();
                batch.push(r);
            } else {
                let on = day + Days::new(gen.rng.gen_range(0..3));
                let r = gen.record(on);
                recent[d].push_back(r.clone());
                if recent[d].len() > 2000 {
                    recent[d].pop_front();
                }
                batch.push(r);
                made += 1;
            }
        }
        // The server's clock an hour after the batch's last business time: the work reaches
        // the server as it happens, so the coverage log has a year of days (see `asof`).
        let clock =
            batch.iter().map(|r| r.occurred_at).max().unwrap_or_default().and_utc() + chrono::Duration::hours(1);
        for r in &mut batch {
            r.saved_at = clock;
        }
        let pushed = Instant::now();
        let results = db.apply_push(&devices[d], &report, &batch, clock).expect("push");
        push_times.push(pushed.elapsed());
        let refused = results.iter().filter(|r| r.result != Applied::Applied).count();
        assert_eq!(refused, 0, "every pushed version applies: {:?}", results.iter().find(|r| r.reason.is_some()));
        pushes += 1;
        versions += batch.len();
        if pushes % 200 == 0 {
            eprintln!("  {commune}: {made} records in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    Seeded { pushes, push_times, versions, edits, voids, secs: started.elapsed().as_secs_f64() }
}
