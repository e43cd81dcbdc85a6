//! Benchmark 1: records per second end to end, the server's ingest alone, and the
//! device's own store's share.

use super::*;

pub(super) struct EndToEnd {
    pub(super) create_secs: f64,
    pub(super) sync_secs: f64,
    pub(super) pushes: usize,
}

/// Benchmark 1: one `run_once` pushing [`RECORDS`] queued records (and taking the changes).
pub(super) fn bench_end_to_end(rt: &Runtime, run: u64) -> EndToEnd {
    let server = start_server(rt);
    let device = enrolled_device(rt, &server);
    let t = Instant::now();
    fill(&device.store, RECORDS, 0xe2e0 + run);
    let create_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = rt.block_on(run_once(&device.store, &mut BatchSize::default())).expect("sync");
    let sync_secs = t.elapsed().as_secs_f64();
    assert_eq!((report.sent, report.rejected), (RECORDS, 0), "every record accepted");
    assert!(device.store.outbox(1).expect("outbox").is_empty());
    assert_eq!(server.db.record_versions(COMMUNE).expect("server records").len(), RECORDS);
    let mut pushes = 0;
    let (mut batch, mut left) = (BatchSize::default(), RECORDS);
    while left > 0 {
        left -= left.min(batch.0);
        batch = batch.after_success();
        pushes += 1;
    }
    EndToEnd { create_secs, sync_secs, pushes }
}

/// Benchmark 1b: [`RECORDS`] prebuilt records through `ServerDb::apply_push` in batches of
/// `batch`, on a fresh server database. Seconds for all.
pub(super) fn bench_ingest(batch: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = ServerDb::open(dir.path().join("server.db")).expect("server db");
    db.put_commune(&reference()).expect("commune");
    let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), Utc::now()).expect("code");
    let enrolled = db.enrol(&code, "máy đo", Utc::now()).expect("enrol").expect("code accepted");
    let device = db.device_by_token(&enrolled.token).expect("device").expect("device found");
    let seal = sotay::domain::citizen_id::SealKey::from_hex(&enrolled.seal_key).expect("sealing key");
    let records = wire_records(RECORDS, 0x1a9e57, seal);
    let mut queued = RECORDS;
    let t = Instant::now();
    for chunk in records.chunks(batch) {
        let report = DeviceReport { queued: queued as u32, app_version: env!("CARGO_PKG_VERSION").to_owned() };
        let results = db.apply_push(&device, &report, chunk, Utc::now()).expect("apply push");
        assert!(results.iter().all(|r| r.result == Applied::Applied), "every record applied");
        queued -= chunk.len();
    }
    t.elapsed().as_secs_f64()
}

/// What the device's own store costs in a sync of [`RECORDS`], seconds.
pub(super) struct OutboxCycle {
    pub(super) read: f64,
    pub(super) encode: f64,
    pub(super) settle: f64,
}

impl OutboxCycle {
    pub(super) fn total(&self) -> f64 {
        self.read + self.encode + self.settle
    }
}

/// Benchmark 1c: the store's side of a sync without the network: read a batch of 500 from
/// the outbox (and its summary, as `run_once` does), build and compress the push, settle
/// every record as sent. Tells the client's share of the end-to-end time.
pub(super) fn bench_outbox_cycle(rt: &Runtime) -> OutboxCycle {
    let server = start_server(rt);
    let device = enrolled_device(rt, &server);
    fill(&device.store, RECORDS, 0x0b0c);
    let store = &device.store;
    let mut cycle = OutboxCycle { read: 0.0, encode: 0.0, settle: 0.0 };
    loop {
        let t = Instant::now();
        let records = store.outbox_batch(MAX_BATCH_RECORDS).expect("outbox batch");
        if records.is_empty() {
            break;
        }
        let queued = store.outbox_summary().expect("summary").pending;
        cycle.read += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let req = PushRequest {
            api_version: API_VERSION,
            device: DeviceReport { queued, app_version: env!("CARGO_PKG_VERSION").to_owned() },
            records: records.iter().map(to_wire).collect(),
        };
        std::hint::black_box(client::gzip_json(&req).expect("gzip"));
        cycle.encode += t.elapsed().as_secs_f64();
        let settled: Vec<sotay::store::Settled> =
            records.iter().map(|r| sotay::store::Settled::Sent { id: r.meta.id, version: r.meta.version }).collect();
        let t = Instant::now();
        store.settle_push(&settled).expect("settle");
        cycle.settle += t.elapsed().as_secs_f64();
    }
    cycle
}
