//! Sync between real app stores and a real server on 127.0.0.1: enrolment, exactly-once
//! pushes under faults, kills and poison records, pulls, auth and bad input.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sotay::domain::*;
use sotay::store::{Filter, OutboxSummary, Store};
use sotay::sync::engine::BatchSize;
use sotay::sync::{run_once, run_once_with, Options, SyncError};
use sotay_server::db::ServerDb;
use sotay_server::{router, AppState};
use uuid::Uuid;

use super::common::*;

pub const COMMUNE: &str = "23497";

pub struct TestServer {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub db: Arc<ServerDb>,
    /// The store the server keeps its data in (to reopen it, or read it behind its back).
    pub store: super::stores::TestStore,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn demo_reference() -> ReferenceData {
    let mut r = sotay::domain::sample::sample_reference();
    r.commune.sample = false;
    r.commune.name = "Xã Kon Braih".into();
    r
}

pub async fn start_server_with(configure: impl FnOnce(AppState) -> AppState) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = super::stores::TestStore::new();
    let db = store.open(&dir.path().join("server.db"));
    db.put_commune(&demo_reference()).unwrap();
    let state = configure(AppState::new(db));
    let db = state.db.clone();
    let (addr, task) = serve_router(router(state)).await;
    TestServer { url: format!("http://{addr}"), addr, db, store, _dir: dir, task }
}

/// `app` served on 127.0.0.1 at a free port as the binary serves it (each request knows its
/// peer's address): the address, and the task to abort.
pub async fn serve_router(app: axum::Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, task)
}

impl TestServer {
    /// The server's data folder (database, its WAL, the key file).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

pub async fn start_server() -> TestServer {
    start_server_with(|s| s).await
}

pub struct Device {
    pub store: Arc<Store>,
    pub dir: tempfile::TempDir,
}

/// A fresh app store enrolled with `server`, its volunteer chosen.
pub async fn enrolled_device(server: &TestServer) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
    let code = server.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    sotay::sync::enrol(&store, &server.url, &code, "máy thử").await.unwrap();
    store.set_current_volunteer("v-lan").unwrap();
    Device { store, dir }
}

/// Makes `n` records of mixed kinds, then edits every fifth and voids every tenth.
pub fn make_records(store: &Store, n: usize, tag: &str) -> Vec<Uuid> {
    let hamlets = ["h-dakpokong", "h-konbraih", "h-hoabinh", "h-plei", "h-tdp1"];
    let mut ids = Vec::new();
    for i in 0..n {
        let hamlet = hamlets[i % hamlets.len()];
        let body = match i % 4 {
            0 => visit(&format!("Nhà {tag} {i}"), 1 + (i % 5) as u32),
            1 => signature(
                Some(&format!("Người {tag} {i}")),
                Some(&format!("051{:09}", (i * 7919) % 1_000_000_000)),
                if i % 3 == 0 { Outcome::NotCompleted } else { Outcome::DigitalSignature },
            ),
            2 => training(10 + (i % 20) as u32),
            _ => outreach(),
        };
        let r = store.create(new_record(hamlet, at(19, 8), body)).unwrap();
        ids.push(r.meta.id);
    }
    for (i, id) in ids.iter().enumerate() {
        if i % 5 == 0 {
            let r = store.get(*id).unwrap().unwrap();
            store.update(*id, r.meta.version, "v-hung", &r.meta.hamlet_id, r.meta.occurred_at, r.body.clone()).unwrap();
        }
        if i % 10 == 0 {
            let r = store.get(*id).unwrap().unwrap();
            store.void(*id, r.meta.version, "v-lan", "ghi trùng").unwrap();
        }
    }
    ids
}

/// Every record on the device: id → (version, voided).
pub fn device_state(store: &Store) -> HashMap<Uuid, (i64, bool)> {
    store
        .search(&Filter { limit: 1_000_000, ..Default::default() })
        .unwrap()
        .into_iter()
        .map(|r| (r.meta.id, (r.meta.version, r.meta.voided)))
        .collect()
}

pub fn server_state(db: &ServerDb) -> HashMap<Uuid, (i64, bool)> {
    db.record_versions(COMMUNE).unwrap().into_iter().map(|(id, v, x)| (id, (v, x))).collect()
}

/// Syncs until the outbox is empty, tolerating failures; panics if it never drains.
pub async fn drain(store: &Arc<Store>, options: &Options) {
    let mut batch = BatchSize::default();
    let mut last = None;
    for _ in 0..200 {
        if let Err(e) = run_once_with(store, &mut batch, options).await {
            last.get_or_insert(e);
        }
        if store.outbox(1).unwrap().is_empty() {
            return;
        }
    }
    panic!("the outbox never drained: {} left (first error: {last:?})", store.outbox(100_000).unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_device_pushes_its_records_and_pulls_coverage() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let reference = device.store.reference().unwrap();
    assert!(!reference.commune.sample);
    // The device hashes with a key of its own; the commune's key never reaches it.
    let device_key = device.store.cid_key().unwrap();
    assert!(device_key.id.starts_with("device:"));
    assert_ne!(device_key.to_hex(), server.db.cid_key(COMMUNE).unwrap().to_hex());
    let cid = "051203004567";
    for _ in 0..2 {
        let body = sealed_signature(&device.store, "Y Hoa", cid, Outcome::DigitalSignature);
        device.store.create(new_record("h-plei", at(19, 8), body)).unwrap();
    }
    device.store.create(new_record("h-plei", at(19, 9), visit("Nhà A", 2))).unwrap();
    let report = run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(report.sent, 3);
    assert!(report.clock_offset_secs.abs() < 5);
    assert!(device.store.outbox(10).unwrap().is_empty());
    assert_eq!(device.store.outbox_summary().unwrap(), OutboxSummary { pending: 0, rejected: 0 });
    assert_eq!(count_in_state(&device.store, SyncState::Sent), 3);
    assert_eq!(server_state(&server.db), device_state(&device.store));
    // Coverage came back: the same person twice counts once, commune-wide.
    let (_, plei) = device.store.hamlet_progress().unwrap().into_iter().find(|(h, _)| h.id == "h-plei").unwrap();
    assert_eq!(plei.helped_signed, 1);
    assert!(device.store.pull_cursor().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused_and_keeps_its_unsent_records() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    make_records(&device.store, 5, "r");
    let id = device.store.enrolment().unwrap().unwrap().device_id;
    server.db.revoke(&id, chrono::Utc::now()).unwrap();
    let err = run_once(&device.store, &mut BatchSize::default()).await.unwrap_err();
    assert!(matches!(&err, SyncError::Revoked(m) if m.contains("thu hồi")), "{err:?}");
    assert!(err.is_permanent());
    assert_eq!(device.store.outbox(100).unwrap().len(), 5);
    assert!(server_state(&server.db).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_follow_commit_order_and_resume_from_the_cursor() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    make_records(&device.store, 20, "p");
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    let cursor = device.store.pull_cursor().unwrap();
    // The office renames a hamlet and changes its population.
    let mut r = demo_reference();
    r.hamlets[0].name = "Thôn Đăk Pờ Kơng Mới".into();
    r.hamlets[0].adult_population = 500;
    server.db.put_commune(&r).unwrap();
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    assert!(device.store.pull_cursor().unwrap() > cursor);
    let reference = device.store.reference().unwrap();
    assert_eq!(reference.hamlets[0].name, "Thôn Đăk Pờ Kơng Mới");
    assert_eq!(reference.hamlets[0].adult_population, 500);
    assert!(!reference.commune.sample);
    // Pages: a small limit walks the log in order without gaps.
    let (page1, more) = server.db.pull(COMMUNE, 0, 1).unwrap();
    assert!(more);
    let (page2, _) = server.db.pull(COMMUNE, page1[0].0, 1).unwrap();
    assert!(page2[0].0 > page1[0].0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_reaches_the_device_at_its_next_sync_and_keeps_the_counts() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let cid = "051203004567";
    let name = "Đinh Thị Xuyến";
    // Hashed and sealed as the app's form does on an enrolled device.
    let body = sealed_signature(&device.store, name, cid, Outcome::DigitalSignature);
    let mine = device.store.create(new_record("h-plei", at(19, 8), body)).unwrap();
    // An edit, so the name is in two versions of the history too.
    device.store.update(mine.meta.id, 1, "v-lan", "h-plei", at(19, 9), mine.body.clone()).unwrap();
    let other = device
        .store
        .create(new_record("h-plei", at(19, 8), signature(Some("Y Hoa"), None, Outcome::DigitalSignature)))
        .unwrap();
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    let before = device.store.hamlet_progress().unwrap();

    // The office finds the person by ID number (hashed with the commune key) and by name.
    let key = server.db.cid_key(COMMUNE).unwrap();
    let hash = sotay::domain::citizen_id::CitizenId::parse(cid).unwrap().hash(&key);
    let by_id = server.db.find_person(COMMUNE, None, Some(&hash)).unwrap();
    let by_name = server.db.find_person(COMMUNE, Some("dinh thi xuyen"), None).unwrap();
    assert_eq!(by_id.iter().map(|r| r.id).collect::<Vec<_>>(), vec![mine.meta.id]);
    assert_eq!(by_name.iter().map(|r| r.id).collect::<Vec<_>>(), vec![mine.meta.id]);
    assert_eq!(server.db.erase(COMMUNE, &[mine.meta.id], chrono::Utc::now()).unwrap(), vec![mine.meta.id]);

    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    let erased = device.store.get(mine.meta.id).unwrap().unwrap();
    match &erased.body {
        Body::SignatureHelp(s) => {
            assert!(s.person.is_none() && !s.consent);
            assert_eq!(s.outcome, Outcome::DigitalSignature, "the count stays");
        }
        _ => unreachable!(),
    }
    for h in device.store.history(mine.meta.id).unwrap() {
        assert!(matches!(h.body, Body::SignatureHelp(ref s) if s.person.is_none()));
    }
    // The other person is untouched; the signed count is unchanged.
    assert!(
        matches!(device.store.get(other.meta.id).unwrap().unwrap().body, Body::SignatureHelp(ref s) if s.person.is_some())
    );
    assert_eq!(device.store.hamlet_progress().unwrap(), before);
    assert!(device.store.search(&Filter { text: "xuyen".into(), ..Default::default() }).unwrap().is_empty());
    // Neither store file holds the name any more: the server's plain file byte for byte,
    // the device's encrypted one byte for byte and, under its key, in every table.
    assert!(!contains(&raw_bytes(device.dir.path()), name), "the device file still holds the name");
    let server_bytes = server.store.stored_bytes(server._dir.path());
    assert!(!contains(&server_bytes, name), "the server file still holds the name");
    assert!(contains(&server_bytes, "Y Hoa"), "the scan itself works");
    let device_db = device.dir.path().join("sotay.db");
    let under_key: Vec<String> = raw_conn(&device_db)
        .prepare("SELECT body FROM records UNION ALL SELECT body FROM record_history UNION ALL SELECT form FROM drafts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(under_key.iter().any(|b| b.contains("Y Hoa")), "the other person is still there under the key");
    assert!(under_key.iter().all(|b| !b.contains(name)), "the device still holds the name under its key");
}

/// How many records the list shows in `state` (the list's own filter).
pub fn count_in_state(store: &Store, state: SyncState) -> usize {
    store.search(&Filter { sync_state: Some(state), limit: 100_000, ..Default::default() }).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_takes_the_changes_from_its_last_push_answer_without_a_pull() {
    // Two requests a minute: the pull at enrolment and one push. A pull after the push
    // would be the third, refused with 429.
    let server = start_server_with(|s| s.with_rate_limit(2, Duration::from_secs(60))).await;
    let device = enrolled_device(&server).await;
    let before = device.store.pull_cursor().unwrap();
    let body = sealed_signature(&device.store, "Y Hoa", "051203004567", Outcome::DigitalSignature);
    device.store.create(new_record("h-plei", at(19, 8), body)).unwrap();
    device.store.create(new_record("h-plei", at(19, 9), visit("Nhà A", 2))).unwrap();
    let report = run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(report.sent, 2);
    assert!(report.changes_pulled >= 1, "{report:?}");
    // The coverage the push itself moved came back in its answer, with the cursor.
    let (_, plei) = device.store.hamlet_progress().unwrap().into_iter().find(|(h, _)| h.id == "h-plei").unwrap();
    assert_eq!(plei.helped_signed, 1);
    assert!(device.store.pull_cursor().unwrap() > before);
    assert_eq!(server_state(&server.db), device_state(&device.store));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_edited_while_their_push_is_in_flight_reach_the_server_at_their_latest_version() {
    // Every request held 300 ms on its way, so the first batches are still in flight when
    // the volunteer edits records of them: the edit goes in a later push, never beside the
    // version in flight, and the server ends with every record once, at its latest version.
    let server = start_server().await;
    let proxy = super::proxy::Proxy::start(server.addr).await;
    let device = enrolled_device(&server).await;
    device.store.set_setting("server_url", &proxy.url).unwrap();
    proxy.set(super::proxy::Fault::Stall(300));
    let ids = make_records(&device.store, 1_200, "pipe");
    let store = device.store.clone();
    let sync = tokio::spawn(async move { run_once(&store, &mut BatchSize::default()).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    for id in ids.iter().take(300).step_by(3) {
        let r = device.store.get(*id).unwrap().unwrap();
        device
            .store
            .update(*id, r.meta.version, "v-hung", &r.meta.hamlet_id, r.meta.occurred_at, r.body.clone())
            .unwrap();
    }
    sync.await.unwrap().unwrap();
    proxy.set(super::proxy::Fault::None);
    drain(&device.store, &Options::default()).await;
    let state = device_state(&device.store);
    assert_eq!(state.len(), 1_200);
    assert_eq!(server_state(&server.db), state, "server must hold each record once, at its latest version");
}
