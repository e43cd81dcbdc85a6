//! Deadline day over the real HTTP API: the server's router on 127.0.0.1, devices pushing
//! with the app's own sync client, and a commune's tablets running the app's `run_once`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sotay::store::Store;
use sotay::sync::client::Client;
use sotay::sync::engine::BatchSize;
use sotay::sync::run_once;
use sotay_server::{router, AppState};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

use super::province::{Member, Province};
use super::records::Gen;
use super::*;

pub struct Server {
    pub url: String,
    pub db: Arc<ServerDb>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The real router on 127.0.0.1, plain HTTP, its per-device rate limit and per-address
/// enrolment limit lifted (every device and tablet here comes from one address).
pub fn start(rt: &Runtime, db: ServerDb) -> Server {
    let minute = Duration::from_secs(60);
    let state = AppState::new(db).with_rate_limit(1_000_000, minute).with_address_limits(1_000_000, 1_000_000, minute);
    let db = state.db.clone();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind server");
    let addr: SocketAddr = listener.local_addr().expect("server address");
    let task = rt.spawn(async move {
        axum::serve(listener, router(state)).await.expect("serve");
    });
    Server { url: format!("http://{addr}"), db, task }
}

pub struct Rush {
    pub devices: usize,
    pub records: usize,
    pub secs: f64,
    /// Each push, from its first try until its answer came back.
    pub latencies: Vec<Duration>,
    /// Pushes that failed and were sent again (the app's worker would back off and retry).
    pub retries: usize,
    pub first_error: Option<String>,
}

/// `devices` pushing `rounds` batches of `batch` records each, all starting at once; each
/// device sends its next batch when the last one is answered.
pub fn push_rush(
    rt: &Runtime,
    server: &Server,
    p: &Province,
    devices: &[&Member],
    rounds: usize,
    batch: usize,
) -> Rush {
    let now = Local::now().naive_local();
    let today = now.date();
    // Built before the clock starts: what the devices have queued.
    let work: Vec<Vec<PushRequest>> = devices
        .iter()
        .enumerate()
        .map(|(d, _)| {
            let mut gen = Gen::new(0xd0_0000 + d as u64, CidKey::generate_device_key());
            let mut last_visit = None;
            (0..rounds)
                .map(|r| PushRequest {
                    api_version: API_VERSION,
                    device: DeviceReport { queued: ((rounds - r) * batch) as u32, app_version: "bench".into() },
                    records: (0..batch)
                        .map(|_| {
                            // Today's and the last few days' work, before the deadline.
                            let day = today - Days::new(gen.below(4));
                            let at = day.and_hms_opt(7 + gen.below(10) as u32, gen.below(60) as u32, 0).unwrap_or(now);
                            gen.wire(at.min(now), &p.sealed, &mut last_visit)
                        })
                        .collect(),
                })
                .collect()
        })
        .collect();
    let records = work.iter().flatten().map(|r| r.records.len()).sum();
    let gate = Arc::new(tokio::sync::Barrier::new(devices.len()));
    let outcome = rt.block_on(async {
        let tasks: Vec<_> = devices
            .iter()
            .zip(work)
            .map(|(m, requests)| {
                let (url, gate) = (server.url.clone(), gate.clone());
                let (commune, token) = (m.device.commune.clone(), m.token.clone());
                tokio::spawn(async move {
                    let client = Client::new(&url).expect("client");
                    let mut latencies = Vec::new();
                    let (mut retries, mut first_error) = (0, None);
                    gate.wait().await;
                    let started = Instant::now();
                    for req in &requests {
                        let t = Instant::now();
                        loop {
                            match client.push(&commune, &token, req).await {
                                Ok(answer) => {
                                    let refused = answer.results.iter().find(|r| r.result != Applied::Applied);
                                    assert!(refused.is_none(), "every record applies: {refused:?}");
                                    break;
                                }
                                Err(e) => {
                                    retries += 1;
                                    first_error.get_or_insert_with(|| e.to_string());
                                    assert!(retries < 50, "a push keeps failing: {e}");
                                    tokio::time::sleep(Duration::from_millis(250)).await;
                                }
                            }
                        }
                        latencies.push(t.elapsed());
                    }
                    (started, Instant::now(), latencies, retries, first_error)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("push task"));
        }
        out
    });
    let start = outcome.iter().map(|o| o.0).min().expect("devices");
    let end = outcome.iter().map(|o| o.1).max().expect("devices");
    Rush {
        devices: devices.len(),
        records,
        secs: (end - start).as_secs_f64(),
        latencies: outcome.iter().flat_map(|o| o.2.iter().copied()).collect(),
        retries: outcome.iter().map(|o| o.3).sum(),
        first_error: outcome.into_iter().find_map(|o| o.4),
    }
}

pub struct Tablets {
    pub tablets: usize,
    pub records: usize,
    /// From the moment all start until the last is done.
    pub secs: f64,
    /// Each tablet's `run_once`.
    pub each: Vec<Duration>,
    pub pushes_failed: usize,
    /// Saving the week's records on the tablets (not part of the sync).
    pub fill_secs: f64,
}

struct Tablet {
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

/// `n` app stores enrolled in `commune` over HTTP, each with `days` × `per_day` records saved
/// offline over the last week, then all running `run_once` at the same moment.
pub fn tablets(rt: &Runtime, server: &Server, commune: &str, n: usize, days: u64, per_day: u64) -> Tablets {
    let tablets: Vec<Tablet> = (0..n)
        .map(|i| {
            let dir = tempfile::tempdir().expect("temp dir");
            let store =
                Store::open(dir.path().join("sotay.db")).expect("store").with_search_labels(sotay::i18n::search_labels);
            let store = Arc::new(store);
            let code = server.db.new_enrol_code(commune, chrono::Duration::hours(1), Utc::now()).expect("enrol code");
            rt.block_on(sotay::sync::enrol(&store, &server.url, &code, &format!("Máy thôn {}", i + 1))).expect("enrol");
            store.set_current_volunteer("v-lan").expect("volunteer");
            Tablet { store, _dir: dir }
        })
        .collect();
    // A week offline: each tablet saves its records one by one, as volunteers do.
    let fill_started = Instant::now();
    let today = Local::now().date_naive();
    std::thread::scope(|s| {
        for (i, t) in tablets.iter().enumerate() {
            let store = t.store.clone();
            s.spawn(move || {
                let key = store.cid_key().expect("cid key");
                let mut gen = Gen::new(0x7ab1_0000 + i as u64, key).sealing(store.seal_key().expect("seal key"));
                let mut last_visit = None;
                for d in 1..=days {
                    let day = today - Days::new(d);
                    for k in 0..per_day {
                        let at = day.and_hms_opt(7 + (k % 10) as u32, (k * 7 % 60) as u32, 0).expect("time");
                        let record = store.create(gen.record(at, &mut last_visit)).expect("create");
                        if matches!(record.body, Body::Visit(_)) {
                            last_visit = Some(record.meta.id);
                        }
                    }
                }
            });
        }
    });
    let fill_secs = fill_started.elapsed().as_secs_f64();
    let gate = Arc::new(tokio::sync::Barrier::new(n));
    let outcome = rt.block_on(async {
        let tasks: Vec<_> = tablets
            .iter()
            .map(|t| {
                let (store, gate) = (t.store.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    let started = Instant::now();
                    let mut failed = 0;
                    let report = loop {
                        match run_once(&store, &mut BatchSize::default()).await {
                            Ok(r) if store.outbox(1).expect("outbox").is_empty() => break r,
                            Ok(_) => {}
                            Err(e) => {
                                failed += 1;
                                assert!(failed < 50, "a tablet keeps failing to sync: {e}");
                                tokio::time::sleep(Duration::from_millis(250)).await;
                            }
                        }
                    };
                    (started, Instant::now(), report.sent, report.rejected, failed)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("tablet task"));
        }
        out
    });
    let expected = (days * per_day) as usize;
    for o in &outcome {
        assert_eq!(o.3, 0, "no record rejected");
        assert!(o.2 <= expected, "a tablet sends its week once");
    }
    let start = outcome.iter().map(|o| o.0).min().expect("tablets");
    let end = outcome.iter().map(|o| o.1).max().expect("tablets");
    Tablets {
        tablets: n,
        records: n * expected,
        secs: (end - start).as_secs_f64(),
        each: outcome.iter().map(|o| o.1 - o.0).collect(),
        pushes_failed: outcome.iter().map(|o| o.4).sum(),
        fill_secs,
    }
}
