//! Sync benchmark: how fast the real client empties a big outbox into a local server, how
//! many bytes a record costs on the wire next to an ODK Collect (OpenRosa) submission, and
//! how long 1,000 records take over a slow, lossy link.
//!
//! Run with `cargo bench --features server --bench sync`. Prints one table to stdout;
//! progress goes to stderr. `SOTAY_BENCH_DUMP=push.json` also writes the 100-record push's
//! JSON (before gzip) there, for poking at what its bytes are. Nothing here is simulated
//! that can be measured:
//!
//! 1. Throughput: 10,000 records saved with `Store::create` on a device enrolled with an
//!    in-process server (`router` on 127.0.0.1), then one `sync::run_once`, timed end to end
//!    (push in growing batches, two in flight, the changes coming back in the answers). Three runs on fresh stores and servers; the median
//!    is reported. The server's ingest is timed apart by calling `ServerDb::apply_push`
//!    directly with prebuilt batches of 100 and 500 `WireRecord`s.
//! 2. Bytes per record: a 100-record push goes through a counting TCP proxy in front of the
//!    real server, so the request (request line, headers reqwest sends, gzip body) is counted
//!    as it crossed; the body is checked to be byte for byte `client::gzip_json` of the
//!    `PushRequest`. The same 100 records are then sent as ODK Collect sends them, one
//!    OpenRosa multipart POST each, through the same proxy to a local sink answering
//!    `201 Created`. Application bytes only: TCP/IP and TLS overhead are left out on both sides.
//!    The bench saves its records within milliseconds, so their UUIDv7 ids and `saved_at`
//!    share long prefixes that gzip rewards; the same batch is also compressed with those
//!    spread over 7 days of working hours, as a device in the field saves them.
//! 3. Slow link: 1,000 records through a proxy that gives each direction 250 kbit/s and
//!    300 ms of one-way latency (a new connection's handshake costs one more round trip before
//!    the first byte) and resets 2% of requests at random (half while the request is being
//!    sent, half by losing the reply after the server committed). The request count is small
//!    (the client keeps its connection alive), so a second run, without random resets,
//!    forces exactly one loss: the reply to the second push is lost after the server
//!    committed, so the whole batch goes again. The client runs with its default
//!    batch sizes and timeouts, and is called again at once after a failure (the app's worker
//!    would wait its backoff first; that wait is not counted).
//!
//! Stores and server databases live in the system temp dir, which must be on a real disk for
//! `synchronous=FULL` to cost what it does (ext4 on the dev VM).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Days, Local, NaiveDateTime, NaiveTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use sotay::domain::citizen_id::{CidKey, CitizenId};
use sotay::domain::sample::sample_reference;
use sotay::domain::*;
use sotay::protocol::*;
use sotay::store::Store;
use sotay::sync::engine::BatchSize;
use sotay::sync::{client, run_once, run_once_with, to_wire, Options};
use sotay_server::db::ServerDb;
use sotay_server::{router, AppState};

mod link;
mod throughput;
mod wire;

use link::*;
use throughput::*;
use wire::*;

const COMMUNE: &str = "23497";

/// Records pushed per end-to-end run, and runs.
const RECORDS: usize = 10_000;
const RUNS: usize = 3;
/// Batch sizes the server's ingest is timed at.
const INGEST_BATCHES: [usize; 2] = [100, 500];
/// Records in the batch whose bytes are counted.
const WIRE_BATCH: usize = 100;
/// The slow link.
const SLOW_RECORDS: usize = 1_000;
const LINK_BITS_PER_SEC: f64 = 250_000.0;
const ONE_WAY_LATENCY: Duration = Duration::from_millis(300);
const RESET_PERCENT: f64 = 2.0;
/// Bytes the slow proxy moves at a time, about one TCP segment.
const SEGMENT: usize = 1460;

const THROUGHPUT_TARGET: f64 = 5_000.0;
/// Gzip body bytes per record in a 100-record push. It was 80 while devices sent a 64-hex
/// hash; a sealed ID number (53 random bytes that gzip cannot shrink) costs more, and the
/// goal since the sealing is 100.
const BYTES_TARGET: f64 = 100.0;
const RATIO_TARGET: f64 = 6.0;

fn main() {
    let started = Instant::now();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let load_before = load_average();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");

    // 1. Throughput.
    let mut runs = Vec::new();
    for run in 0..RUNS {
        let r = bench_end_to_end(&rt, run as u64);
        eprintln!(
            "end-to-end run {}: {RECORDS} records created in {:.1} s, synced in {:.2} s ({:.0} rec/s)",
            run + 1,
            r.create_secs,
            r.sync_secs,
            RECORDS as f64 / r.sync_secs
        );
        runs.push(r);
    }
    let mut sync_secs: Vec<f64> = runs.iter().map(|r| r.sync_secs).collect();
    sync_secs.sort_by(f64::total_cmp);
    let median_secs = sync_secs[sync_secs.len() / 2];
    let ingest: Vec<(usize, f64)> = INGEST_BATCHES.iter().map(|&b| (b, bench_ingest(b))).collect();
    for (batch, secs) in &ingest {
        eprintln!("ingest at batch {batch}: {RECORDS} records in {secs:.2} s");
    }
    let outbox = bench_outbox_cycle(&rt);
    eprintln!("device outbox cycle: {RECORDS} records in {:.2} s", outbox.total());

    // 2. Bytes on the wire.
    let wire = bench_wire(&rt);
    eprintln!("wire: sotay push {} B, openrosa {} B for {WIRE_BATCH} records", wire.push_request, wire.openrosa_total);

    // 3. Slow link.
    let slow = bench_slow(&rt, "2% of requests reset", RESET_PERCENT, None, 0x51_0e);
    let lost = bench_slow(&rt, "reply to push 2 lost", 0.0, Some(2), 0x51_0f);

    // ---- the table ----
    let mut rows = Vec::new();
    rows.push(Row::at_least("e2e_push_rec_per_s (median)", RECORDS as f64 / median_secs, THROUGHPUT_TARGET));
    for (batch, secs) in &ingest {
        rows.push(Row::info(&format!("server_ingest_rec_per_s[batch={batch}]"), RECORDS as f64 / secs));
    }
    rows.push(Row::info("device_outbox_rec_per_s", RECORDS as f64 / outbox.total()));
    let per = WIRE_BATCH as f64;
    rows.push(Row::at_most("sotay_gzip_body_bytes_per_rec", wire.gzip_body as f64 / per, BYTES_TARGET));
    rows.push(Row::at_most(
        "sotay_gzip_body_bytes_per_rec[saves over 7 days]",
        wire.field_gzip_body as f64 / per,
        BYTES_TARGET,
    ));
    rows.push(Row::info(
        "sotay_gzip_body_bytes_per_rec[same records, no sealed ID]",
        wire.unsealed_gzip_body as f64 / per,
    ));
    rows.push(Row::info(
        "gzip_bytes_a_sealed_id_adds (per record carrying one)",
        (wire.gzip_body as f64 - wire.unsealed_gzip_body as f64) / wire.sealed_records.max(1) as f64,
    ));
    rows.push(Row::info("records_with_a_sealed_id (of 100)", wire.sealed_records as f64));
    rows.push(Row::info("sotay_http_request_bytes_per_rec", wire.push_request as f64 / per));
    rows.push(Row::info("openrosa_http_request_bytes_per_rec", wire.openrosa_total as f64 / per));
    rows.push(Row::at_least(
        "openrosa_over_sotay_request_bytes",
        wire.openrosa_total as f64 / wire.push_request as f64,
        RATIO_TARGET,
    ));
    rows.push(Row::info("openrosa_over_sotay_body_bytes", wire.openrosa_total as f64 / wire.gzip_body as f64));
    for s in [&slow, &lost] {
        let tag = s.label;
        rows.push(Row::info(&format!("slow_total_s[{tag}]"), s.secs));
        rows.push(Row::info(&format!("slow_bytes_total[{tag}]"), (s.up + s.down) as f64));
        rows.push(Row::info(&format!("slow_payload_s[{tag}]"), s.payload_secs()));
        rows.push(Row::info(&format!("slow_total_over_payload[{tag}]"), s.secs / s.payload_secs()));
    }

    println!();
    println!("sotay sync benchmark");
    println!("  nproc            {nproc}");
    println!("  load average     {} (before the run: {load_before})", load_average());
    println!(
        "  end to end       {RECORDS} records per run, {RUNS} runs, one run_once each (batches 100, 200, 400, \
         then 500; two in flight), over loopback"
    );
    println!(
        "  e2e runs         {} s (median {median_secs:.2} s); creating the records took {} s",
        runs.iter().map(|r| format!("{:.2}", r.sync_secs)).collect::<Vec<_>>().join(", "),
        runs.iter().map(|r| format!("{:.1}", r.create_secs)).collect::<Vec<_>>().join(", ")
    );
    println!(
        "  e2e requests     {} pushes per run, two in flight, the changes in their answers (a pull only when \
         a page is full); {:.1} ms of sync time per push",
        runs[0].pushes,
        median_secs * 1000.0 / runs[0].pushes as f64
    );
    println!(
        "  server ingest    ServerDb::apply_push on prebuilt batches, one durable transaction each: {}",
        ingest
            .iter()
            .map(|(b, s)| format!("batch {b}: {:.2} ms per batch", s * 1000.0 / (RECORDS / b) as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  device outbox    the store's share of a sync (no network), batches of 500: outbox_batch {:.2} s, \
         to_wire + gzip_json {:.2} s, settle_push {:.2} s",
        outbox.read, outbox.encode, outbox.settle
    );
    println!(
        "  sotay push       {} B request for {WIRE_BATCH} records = {} B request line + headers + {} B gzip body \
         ({} B JSON before gzip, {:.0} B/rec); body identical to client::gzip_json: {}",
        wire.push_request,
        wire.push_head,
        wire.gzip_body,
        wire.json_body,
        wire.json_body as f64 / per,
        if wire.body_matches { "yes" } else { "NO" }
    );
    println!(
        "  field timing     the same {WIRE_BATCH} records with their ids' timestamps and saved_at spread over 7 days of \
         working hours (the bench saves them within milliseconds, which gzip rewards): {} B gzip body",
        wire.field_gzip_body
    );
    println!("  sotay headers    {}", wire.push_head_text);
    println!(
        "  sotay answers    push response {} B ({:.0} B/rec, gzip-compressed by the server: {} B of payload); \
         pull request {} B, pull response {} B (0: the push answer brought the changes)",
        wire.push_response,
        wire.push_response as f64 / per,
        wire.push_response_gzip,
        wire.pull_request,
        wire.pull_response
    );
    println!(
        "  openrosa         {WIRE_BATCH} POSTs, {:.0} B each on average: {:.0} B request line + headers, \
         {:.0} B multipart framing, {:.0} B instance XML; sink answers 201 with no body; \
         HEAD request and digest challenge not counted",
        wire.openrosa_total as f64 / per,
        wire.openrosa_head as f64 / per,
        (wire.openrosa_total - wire.openrosa_head - wire.openrosa_xml) as f64 / per,
        wire.openrosa_xml as f64 / per
    );
    println!("  openrosa sample  {}", wire.openrosa_sample);
    for s in [&slow, &lost] {
        println!(
            "  slow [{}]  {} records in {:.1} s: {} run_once calls ({} failed), {} connections, {} requests, \
             {} resets; up {} B, down {} B (payload time {:.2} s up + {:.2} s down)",
            s.label,
            SLOW_RECORDS,
            s.secs,
            s.syncs,
            s.failures,
            s.connections,
            s.requests,
            s.resets,
            s.up,
            s.down,
            s.up as f64 * 8.0 / LINK_BITS_PER_SEC,
            s.down as f64 * 8.0 / LINK_BITS_PER_SEC
        );
    }
    println!(
        "  slow link        {} kbit/s each way, {} ms one way; payload time = all bytes * 8 / {} kbit/s",
        LINK_BITS_PER_SEC / 1000.0,
        ONE_WAY_LATENCY.as_millis(),
        LINK_BITS_PER_SEC / 1000.0
    );
    println!();
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &rows {
        match r.goal {
            Some(goal) => {
                let (sign, t, met) = match goal {
                    Goal::AtMost(t) => ("≤", t, r.value <= t),
                    Goal::AtLeast(t) => ("≥", t, r.value >= t),
                };
                let verdict = if met { "OK" } else { "MISSED" };
                println!("{:<width$}  {:>10.2}  (target {sign} {t})  {verdict}", r.name, r.value);
            }
            None => println!("{:<width$}  {:>10.2}", r.name, r.value),
        }
    }
    let targets = rows.iter().filter(|r| r.goal.is_some()).count();
    let met = rows.iter().filter(|r| r.met() == Some(true)).count();
    println!();
    println!("{met} of {targets} targets met; whole bench took {:.1} s", started.elapsed().as_secs_f64());
}

// ---- server, devices, records -------------------------------------------------------

struct Server {
    url: String,
    addr: SocketAddr,
    db: Arc<ServerDb>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The real server on 127.0.0.1, on a fresh database, its rate limit lifted (a device
/// pushing 10,000 records in seconds is this bench's point, not abuse).
fn start_server(rt: &Runtime) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = ServerDb::open(dir.path().join("server.db")).expect("server db");
    db.put_commune(&reference()).expect("commune");
    let state = AppState::new(db).with_rate_limit(1_000_000, Duration::from_secs(60));
    let db = state.db.clone();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind server");
    let addr = listener.local_addr().expect("server address");
    let task = rt.spawn(async move {
        axum::serve(listener, router(state)).await.expect("serve");
    });
    Server { url: format!("http://{addr}"), addr, db, _dir: dir, task }
}

struct Device {
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

/// A fresh app store enrolled with `server` through the real client, a volunteer chosen.
fn enrolled_device(rt: &Runtime, server: &Server) -> Device {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("sotay.db")).expect("store").with_search_labels(sotay::i18n::search_labels);
    let store = Arc::new(store);
    let code = server.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), Utc::now()).expect("enrol code");
    rt.block_on(sotay::sync::enrol(&store, &server.url, &code, "Máy tính bảng thôn Plei")).expect("enrol");
    store.set_current_volunteer("v-lan").expect("volunteer");
    Device { store, _dir: dir }
}

/// Saves `n` records with `Store::create`, one durable save each, as volunteers do.
fn fill(store: &Store, n: usize, seed: u64) {
    let mut gen = Gen::new(seed, store.cid_key().expect("cid key")).sealing(store.seal_key().expect("seal key"));
    let now = Local::now().naive_local();
    let mut last_visit = None;
    for _ in 0..n {
        let at = gen.occurred_at(now);
        let record = store.create(gen.record(at, &mut last_visit)).expect("create");
        if matches!(record.body, Body::Visit(_)) {
            last_visit = Some(record.meta.id);
        }
    }
}

/// `n` records as an enrolled device pushes them, built without a store: ID numbers sealed
/// to `seal`.
fn wire_records(n: usize, seed: u64, seal: sotay::domain::citizen_id::SealKey) -> Vec<WireRecord> {
    let mut gen = Gen::new(seed, CidKey::generate_device_key()).sealing(Some(seal));
    let now = Local::now().naive_local();
    let mut last_visit = None;
    (0..n)
        .map(|_| {
            let at = gen.occurred_at(now);
            gen.wire(at, &[], &mut last_visit)
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

struct Row {
    name: String,
    value: f64,
    goal: Option<Goal>,
}

impl Row {
    fn info(name: &str, value: f64) -> Row {
        Row { name: name.to_owned(), value, goal: None }
    }

    fn at_most(name: &str, value: f64, target: f64) -> Row {
        Row { name: name.to_owned(), value, goal: Some(Goal::AtMost(target)) }
    }

    fn at_least(name: &str, value: f64, target: f64) -> Row {
        Row { name: name.to_owned(), value, goal: Some(Goal::AtLeast(target)) }
    }

    fn met(&self) -> Option<bool> {
        match self.goal {
            Some(Goal::AtMost(t)) => Some(self.value <= t),
            Some(Goal::AtLeast(t)) => Some(self.value >= t),
            None => None,
        }
    }
}

/// The 1, 5 and 15 minute load averages, to tell a noisy run from a slow sync.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

// ---- realistic records (as in benches/store.rs) -------------------------------------

/// Records are spread over this many days before today.
const DAYS: u64 = 300;

/// A deterministic generator of realistic records (splitmix64).
// The record generator is shared with the other benches.
#[path = "../common/records.rs"]
mod records;
use records::{reference, Gen};
