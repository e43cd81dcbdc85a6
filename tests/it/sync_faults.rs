//! Exactly once under faults between real app stores and a real server on 127.0.0.1:
//! retries from two devices, two hundred rounds of resets, lost replies and stalls, a poison
//! record among a thousand, a client killed fifty times, a server killed mid-batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sotay::domain::*;
use sotay::store::{OutboxSummary, Store};
use sotay::sync::engine::BatchSize;
use sotay::sync::{run_once, run_once_with, Options};

use super::common::*;
use super::proxy::{Fault, Proxy};
use super::stores::TestStore;
use super::sync::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_pushing_with_retries_leave_exactly_the_union_at_the_latest_versions() {
    let server = start_server_with(|s| s.with_rate_limit(100_000, Duration::from_secs(60))).await;
    let proxy = Proxy::start(server.addr).await;
    let a = enrolled_device(&server).await;
    let b = enrolled_device(&server).await;
    for d in [&a, &b] {
        d.store.set_setting("server_url", &proxy.url).unwrap();
    }
    make_records(&a.store, 1000, "A");
    make_records(&b.store, 1000, "B");
    let options = Options { connect_timeout: Duration::from_secs(2), request_timeout: Duration::from_secs(3) };
    // Every third connection loses its reply after the server committed.
    let mut batch_a = BatchSize::default();
    let mut batch_b = BatchSize::default();
    for round in 0..300 {
        proxy.set(if round % 3 == 0 { Fault::LoseReply } else { Fault::None });
        let _ = run_once_with(&a.store, &mut batch_a, &options).await;
        let _ = run_once_with(&b.store, &mut batch_b, &options).await;
        if a.store.outbox(1).unwrap().is_empty() && b.store.outbox(1).unwrap().is_empty() {
            break;
        }
    }
    proxy.set(Fault::None);
    drain(&a.store, &options).await;
    drain(&b.store, &options).await;
    let mut union = device_state(&a.store);
    union.extend(device_state(&b.store));
    assert_eq!(union.len(), 2000);
    assert_eq!(server_state(&server.db), union);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_fault_rounds_lose_nothing_and_double_nothing() {
    // Hundreds of requests in seconds: lift the per-device rate limit for this test.
    let server = start_server_with(|s| s.with_rate_limit(100_000, Duration::from_secs(60))).await;
    let proxy = Proxy::start(server.addr).await;
    let device = enrolled_device(&server).await;
    device.store.set_setting("server_url", &proxy.url).unwrap();
    // A long stall outlasts the client's timeout, so the server may commit a push the client
    // gave up on; a short one does not. The times are only as long as that needs.
    let options = Options { connect_timeout: Duration::from_secs(1), request_timeout: Duration::from_millis(400) };
    let mut batch = BatchSize::default();
    let mut rng = rand::thread_rng();
    let mut counts: HashMap<&'static str, u32> = HashMap::new();
    for round in 0..200 {
        // New work between syncs, as in the field: a few records and an edit.
        make_records(&device.store, 3, &format!("r{round}"));
        let (name, fault) = match rng.gen_range(0..5) {
            0 => ("reset while sending", Fault::ResetWhileSending),
            1 => ("reset while receiving", Fault::ResetWhileReceiving),
            2 => ("reply lost after commit", Fault::LoseReply),
            3 => ("long stall", Fault::Stall(rng.gen_range(450..600))),
            _ => ("short stall", Fault::Stall(rng.gen_range(0..100))),
        };
        *counts.entry(name).or_default() += 1;
        proxy.set(fault);
        let _ = run_once_with(&device.store, &mut batch, &options).await;
    }
    proxy.set(Fault::None);
    drain(&device.store, &Options::default()).await;
    let state = device_state(&device.store);
    assert_eq!(state.len(), 600);
    assert_eq!(server_state(&server.db), state, "server must hold each record once, at its latest version");
    assert!(counts.len() >= 4, "every kind of fault was exercised: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poison_record_among_a_thousand_does_not_stop_the_others() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    make_records(&device.store, 999, "ok");
    // A hamlet the commune does not have (as if removed by the office meanwhile).
    let poison = device.store.create(new_record("h-removed", at(19, 8), visit("Nhà X", 1))).unwrap();
    drain(&device.store, &Options::default()).await;
    let rejected = device.store.get(poison.meta.id).unwrap().unwrap();
    assert_eq!(rejected.sync_state, SyncState::Rejected);
    assert!(rejected.reject_reason.as_deref().unwrap().contains("Thôn không có trong danh sách"));
    assert_eq!(server_state(&server.db).len(), 999);
    assert_eq!(count_in_state(&device.store, SyncState::Sent), 999);
    assert_eq!(device.store.outbox_summary().unwrap(), OutboxSummary { pending: 0, rejected: 1 });
    // The volunteer fixes it and it goes through.
    device.store.update(poison.meta.id, 1, "v-lan", "h-plei", at(19, 8), visit("Nhà X", 1)).unwrap();
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(device.store.get(poison.meta.id).unwrap().unwrap().sync_state, SyncState::Sent);
    assert_eq!(server_state(&server.db).len(), 1000);
}

const SYNC_CHILD_ENV: &str = "SOTAY_SYNC_CHILD_DB";

/// In a normal run this does nothing. As the child of the kill test, it syncs its store
/// until the outbox is empty (or it is killed).
#[test]
fn sync_child_syncs_until_killed() {
    let Some(path) = std::env::var_os(SYNC_CHILD_ENV) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Arc::new(Store::open(path).unwrap());
        let mut batch = BatchSize(20);
        while !store.outbox(1).unwrap().is_empty() {
            let _ = run_once(&store, &mut batch).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_client_killed_fifty_times_loses_nothing_and_doubles_nothing() {
    let server = start_server_with(|s| s.with_rate_limit(100_000, Duration::from_secs(60))).await;
    let device = enrolled_device(&server).await;
    let path = device.dir.path().join("sotay.db");
    let exe = std::env::current_exe().unwrap();
    let mut kills = 0;
    let mut rounds = 0;
    // Until the client has been killed mid-sync 50 times (a round whose client finished
    // before the kill does not count).
    while kills < 50 && rounds < 300 {
        rounds += 1;
        // Work keeps arriving between syncs: new records and edits of sent ones.
        make_records(&device.store, 100, &format!("k{rounds}"));
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "it::sync_faults::sync_child_syncs_until_killed", "--test-threads=1"])
            .env(SYNC_CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let wait = rand::thread_rng().gen_range(1..40);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert_eq!(kills, 50, "killed {kills} times in {rounds} rounds");
    drain(&device.store, &Options::default()).await;
    let state = device_state(&device.store);
    assert_eq!(state.len(), rounds * 100);
    assert_eq!(server_state(&server.db), state);
}

/// A free port on 127.0.0.1 (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct ServerProcess {
    child: std::process::Child,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    // Waiting for a child process to listen is a blocking poll by nature.
    #[allow(clippy::disallowed_methods)]
    fn start(data: &std::path::Path, store: &TestStore, port: u16) -> ServerProcess {
        let mut cmd = std::process::Command::new(crate::it::common::server_bin());
        store.apply(&mut cmd);
        let mut child = cmd
            .args(["serve", "--demo", "--plain-http", "--addr", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Ready once it accepts connections.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return ServerProcess { child };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("sotay-server did not start");
    }

    /// SIGKILL, then reap.
    fn kill(self) {
        drop(self);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods)]
async fn a_server_killed_and_restarted_mid_batch_keeps_exactly_what_it_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let server_store = TestStore::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = ServerProcess::start(data.path(), &server_store, port);
    // Enrol through the real server process.
    let code = {
        let db = server_store.open(&data.path().join("sotay-server.db"));
        db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
    sotay::sync::enrol(&store, &url, &code, "máy thử").await.unwrap();
    let options = Options { connect_timeout: Duration::from_millis(500), request_timeout: Duration::from_secs(2) };
    let mut batch = BatchSize(50);
    let mut kills = 0;
    let mut interrupted = 0;
    for round in 0..20 {
        // New work each round, so every kill meets a sync with something to send.
        make_records(&store, 100, &format!("s{round}"));
        let sync = {
            let store = store.clone();
            let options = options.clone();
            let mut b = batch;
            tokio::spawn(async move {
                let _ = run_once_with(&store, &mut b, &options).await;
                b
            })
        };
        // Kill the server at a random instant of the sync, then bring it back.
        tokio::time::sleep(Duration::from_millis(rand::thread_rng().gen_range(1..25))).await;
        server.kill();
        kills += 1;
        batch = sync.await.unwrap();
        if !store.outbox(1).unwrap().is_empty() {
            interrupted += 1;
        }
        if batch.0 < 10 {
            batch = BatchSize(50);
        }
        server = ServerProcess::start(data.path(), &server_store, port);
    }
    assert_eq!(kills, 20);
    assert!(interrupted >= 5, "only {interrupted} kills interrupted a sync");
    drain(&store, &options).await;
    server.kill();
    let db = server_store.open(&data.path().join("sotay-server.db"));
    let state = device_state(&store);
    assert_eq!(state.len(), 2000);
    assert_eq!(server_state(&db), state);
}
