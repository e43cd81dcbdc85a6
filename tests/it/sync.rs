//! Sync between real app stores and a real server on 127.0.0.1: enrolment, exactly-once
//! pushes under faults, kills and poison records, pulls, auth and bad input.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sotay::domain::*;
use sotay::protocol::*;
use sotay::store::{Filter, OutboxSummary, Store};
use sotay::sync::engine::BatchSize;
use sotay::sync::{run_once, run_once_with, Options, SyncError};
use sotay_server::db::ServerDb;
use sotay_server::{router, AppState};
use uuid::Uuid;

use super::common::*;
use super::proxy::{Fault, Proxy};

pub const COMMUNE: &str = "23497";

pub struct TestServer {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub db: Arc<ServerDb>,
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
    let db = ServerDb::open(dir.path().join("server.db")).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let state = configure(AppState::new(db));
    let db = state.db.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    TestServer { url: format!("http://{addr}"), addr, db, _dir: dir, task }
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
    for _ in 0..200 {
        let _ = run_once_with(store, &mut batch, options).await;
        if store.outbox(1).unwrap().is_empty() {
            return;
        }
    }
    panic!("the outbox never drained: {} left", store.outbox(100_000).unwrap().len());
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
    let options = Options { connect_timeout: Duration::from_secs(1), request_timeout: Duration::from_millis(800) };
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
            3 => ("long stall", Fault::Stall(rng.gen_range(900..1200))),
            _ => ("short stall", Fault::Stall(rng.gen_range(0..200))),
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

/// Raw HTTP for the cases the real client never sends.
async fn raw(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    gzip: bool,
) -> (u16, serde_json::Value) {
    let http = reqwest::Client::new();
    let mut req = http.request(method, format!("{}{path}", server.url)).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    assert_eq!(res.headers().get(API_HEADER).map(|v| v.to_str().unwrap().to_owned()), Some(API_VERSION.to_string()));
    let json = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn push_body(records: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "api_version": API_VERSION,
        "device": { "queued": 1, "app_version": "test" },
        "records": records,
    }))
    .unwrap()
}

fn wire_visit(household: &str, people: u32) -> serde_json::Value {
    serde_json::json!({
        "id": Uuid::now_v7(), "v": 1, "h": "h-plei", "u": "v-lan", "at": "2026-11-19T08:00:00",
        "sv": "2026-11-19T01:00:00Z",
        "b": { "type": "visit", "household": household, "people_helped": people, "topics": ["vneid"], "notes": "" }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auth_failure_is_refused_without_data() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let token = device.store.enrolment().unwrap().unwrap().token;
    let push = format!("/api/v1/c/{COMMUNE}/push");
    let pull = format!("/api/v1/c/{COMMUNE}/pull");
    let body = || Some(push_body(vec![wire_visit("Nhà A", 1)]));

    for (token, path, method, expected) in [
        (None, &push, reqwest::Method::POST, 401),
        (Some("not-a-token"), &push, reqwest::Method::POST, 401),
        (None, &pull, reqwest::Method::GET, 401),
        (Some("0000"), &pull, reqwest::Method::GET, 401),
    ] {
        let (status, json) = raw(&server, method, path, token, body(), false).await;
        assert_eq!(status, expected, "{path} with {token:?}");
        assert_eq!(json["error"], "unauthorized");
        assert!(json.get("results").is_none() && json.get("changes").is_none());
    }
    // A token of another commune.
    let mut other = demo_reference();
    other.commune.code = "99999".into();
    server.db.put_commune(&other).unwrap();
    let (status, json) = raw(&server, reqwest::Method::GET, "/api/v1/c/99999/pull", Some(&token), None, false).await;
    assert_eq!(status, 403);
    assert_eq!(json["error"], "forbidden");
    // Revoked.
    let id = device.store.enrolment().unwrap().unwrap().device_id;
    server.db.revoke(&id, chrono::Utc::now()).unwrap();
    let (status, json) = raw(&server, reqwest::Method::POST, &push, Some(&token), body(), false).await;
    assert_eq!(status, 401);
    assert_eq!(json["error"], "revoked");
    assert!(server_state(&server.db).is_empty(), "no request above stored anything");
    // An enrolment code works once.
    let code = server.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    let store = Arc::new(Store::open(device.dir.path().join("second.db")).unwrap());
    sotay::sync::enrol(&store, &server.url, &code.to_lowercase(), "máy 2").await.unwrap();
    let again = sotay::sync::enrol(&store, &server.url, &code, "máy 3").await.unwrap_err();
    assert!(matches!(again, SyncError::EnrolCode(_)), "{again:?}");
    // An expired code.
    let old = server
        .db
        .new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now() - chrono::Duration::hours(2))
        .unwrap();
    assert!(matches!(sotay::sync::enrol(&store, &server.url, &old, "x").await.unwrap_err(), SyncError::EnrolCode(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let token = device.store.enrolment().unwrap().unwrap().token;
    let push = format!("/api/v1/c/{COMMUNE}/push");
    let post = |body: Vec<u8>, gzip: bool| raw(&server, reqwest::Method::POST, &push, Some(&token), Some(body), gzip);

    let cases: Vec<(&str, Vec<u8>, bool, u16)> = vec![
        ("malformed JSON", b"{\"api_version\": 1, \"records\": [".to_vec(), false, 400),
        (
            "wrong types",
            br#"{"api_version": "one", "device": {"queued": 1, "app_version": "t"}, "records": []}"#.to_vec(),
            false,
            400,
        ),
        (
            "unknown field",
            br#"{"api_version": 1, "device": {"queued": 1, "app_version": "t"}, "records": [], "extra": 1}"#.to_vec(),
            false,
            400,
        ),
        ("invalid UTF-8", vec![0x7b, 0xff, 0xfe, 0x7d], false, 400),
        ("broken gzip", b"not gzip at all".to_vec(), true, 400),
        ("too large", vec![b' '; MAX_BODY_BYTES + 10], false, 413),
        (
            "gzip bomb",
            {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                gz.write_all(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1000]).unwrap();
                gz.finish().unwrap()
            },
            true,
            413,
        ),
        ("too many records", push_body((0..MAX_BATCH_RECORDS + 1).map(|_| wire_visit("Nhà", 1)).collect()), false, 413),
        (
            "old API version",
            br#"{"api_version": 0, "device": {"queued": 1, "app_version": "t"}, "records": []}"#.to_vec(),
            false,
            426,
        ),
    ];
    for (name, body, gzip, expected) in cases {
        let (status, json) = post(body, gzip).await;
        assert_eq!(status, expected, "{name}: {json}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{name} has a message");
    }
    // Bad records inside a good batch: each rejected on its own, the good one applied.
    let mut negative = wire_visit("Nhà B", 1);
    negative["v"] = serde_json::json!(0);
    let long = wire_visit(&"x".repeat(5000), 1);
    let huge_count = wire_visit("Nhà C", 1_000_000);
    let mut bad_hash = wire_visit("Nhà D", 1);
    bad_hash["b"] = serde_json::json!({"type": "signature_help", "consent": true, "person": {"display_name": "Y", "birth_year": 1980, "sex": "female",
        "ethnic_group": null, "phone": null, "cid_hash": "051203004567", "cid_key_id": "k", "cid_last4": null},
        "level_before": "none", "level_after": "level2", "outcome": "digital_signature", "failure_reason": null, "provider": null, "parent_id": null});
    let good = wire_visit("Nhà tốt", 2);
    let (status, json) = post(push_body(vec![negative, long, huge_count, bad_hash, good]), false).await;
    assert_eq!(status, 200, "{json}");
    let results: Vec<&str> = json["results"].as_array().unwrap().iter().map(|r| r["r"].as_str().unwrap()).collect();
    assert_eq!(results, vec!["rejected", "rejected", "rejected", "rejected", "applied"]);
    for r in &json["results"].as_array().unwrap()[..4] {
        let reason = r["reason"].as_str().unwrap();
        assert!(!reason.contains("051203004567") && !reason.contains("xxxx"), "a reason never echoes the data");
    }
    assert_eq!(server_state(&server.db).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_rate_limit_is_told_to_wait() {
    let server = start_server_with(|s| s.with_rate_limit(5, Duration::from_secs(60))).await;
    let device = enrolled_device(&server).await;
    let token = device.store.enrolment().unwrap().unwrap().token;
    let pull = format!("/api/v1/c/{COMMUNE}/pull");
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(raw(&server, reqwest::Method::GET, &pull, Some(&token), None, false).await.0);
    }
    assert_eq!(&statuses[..4], &[200, 200, 200, 200]);
    assert_eq!(statuses.last(), Some(&429));
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
async fn an_app_speaking_another_api_version_is_told_to_update() {
    let server = start_server().await;
    // Version 1 may still push and pull for one release (`tests/it/upgrade.rs`), not enrol.
    for version in [0, API_VERSION + 1] {
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/c/{COMMUNE}/pull", server.url))
            .header(API_HEADER, version.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 426);
        let body: ErrorBody = res.json().await.unwrap();
        assert_eq!(body.error, ErrorCode::UpdateApp);
        assert!(body.message.contains("cập nhật"));
    }
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
            .args(["--exact", "it::sync::sync_child_syncs_until_killed", "--test-threads=1"])
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
    fn start(data: &std::path::Path, port: u16) -> ServerProcess {
        let mut child = std::process::Command::new(crate::it::common::server_bin())
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
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = ServerProcess::start(data.path(), port);
    // Enrol through the real server process.
    let code = {
        let db = ServerDb::open(data.path().join("sotay-server.db")).unwrap();
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
        server = ServerProcess::start(data.path(), port);
    }
    assert_eq!(kills, 20);
    assert!(interrupted >= 5, "only {interrupted} kills interrupted a sync");
    drain(&store, &options).await;
    server.kill();
    let db = ServerDb::open(data.path().join("sotay-server.db")).unwrap();
    let state = device_state(&store);
    assert_eq!(state.len(), 2000);
    assert_eq!(server_state(&db), state);
}

/// Checks `value` against an OpenAPI schema: types, required properties, no undocumented
/// properties where `additionalProperties` is false, enums; follows `$ref`s.
fn conforms(
    doc: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
        let name = r.rsplit('/').next().unwrap();
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    if value.is_null() && schema.get("nullable").and_then(|n| n.as_bool()) == Some(true) {
        return Ok(());
    }
    if let Some(options) = schema.get("oneOf").and_then(|o| o.as_array()) {
        let fits = options.iter().filter(|o| conforms(doc, o, value, at).is_ok()).count();
        return if fits == 1 { Ok(()) } else { Err(format!("{at}: {value} fits {fits} of the oneOf")) };
    }
    let ty = schema.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !ok {
        return Err(format!("{at}: expected {ty}, got {value}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(|e| e.as_array()) {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(obj), "object") = (value.as_object(), ty) {
        let props = schema.get("properties").and_then(|p| p.as_object());
        for req in schema.get("required").and_then(|r| r.as_array()).into_iter().flatten() {
            let key = req.as_str().unwrap();
            if !obj.contains_key(key) {
                return Err(format!("{at}: missing required `{key}`"));
            }
        }
        for (key, v) in obj {
            match props.and_then(|p| p.get(key)) {
                Some(s) => conforms(doc, s, v, &format!("{at}.{key}"))?,
                None if schema.get("additionalProperties") == Some(&serde_json::Value::Bool(false)) => {
                    return Err(format!("{at}: undocumented property `{key}`"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_server_matches_its_openapi_document() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    make_records(&device.store, 3, "o");
    let token = device.store.enrolment().unwrap().unwrap().token;
    let doc: serde_json::Value = serde_json::from_str(sotay_server::OPENAPI).unwrap();
    // The document in the repository is the one served.
    let served: serde_json::Value =
        reqwest::get(format!("{}/api/v1/openapi.json", server.url)).await.unwrap().json().await.unwrap();
    assert_eq!(served, doc);
    // Every route the server registers is documented.
    let source = include_str!("../../crates/sotay-server/src/lib.rs");
    for line in source.lines().filter(|l| l.trim_start().starts_with(".route(\"")) {
        let path = line.split('"').nth(1).unwrap();
        // The document covers the device API; the office's HTML pages are not part of it.
        if path.starts_with("/api/") {
            assert!(doc["paths"].get(path).is_some(), "route {path} is not in docs/openapi.json");
        }
    }
    let http = reqwest::Client::new();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let url = format!("{}{}", server.url, path.replace("{commune}", COMMUNE));
            // One valid request and, where there is a body, one invalid one.
            let mut requests = Vec::new();
            match (method.as_str(), op["operationId"].as_str().unwrap()) {
                ("get", _) => {
                    requests.push(http.get(&url).bearer_auth(&token));
                    requests.push(http.get(&url));
                }
                ("post", "enrol") => {
                    let code =
                        server.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
                    requests.push(http.post(&url).json(&EnrolRequest {
                        api_version: API_VERSION,
                        code,
                        device_name: "d".into(),
                    }));
                    requests.push(http.post(&url).body("{"));
                }
                ("post", "push") => {
                    let records: Vec<WireRecord> =
                        device.store.outbox_batch(10).unwrap().iter().map(sotay::sync::to_wire).collect();
                    let body = PushRequest { api_version: API_VERSION, device: DeviceReport::default(), records };
                    requests.push(http.post(&url).bearer_auth(&token).json(&body));
                    requests.push(http.post(&url).bearer_auth(&token).body("[]"));
                    requests.push(http.post(&url).json(&body));
                }
                other => panic!("no request written for {other:?}"),
            }
            for req in requests {
                let res = req.send().await.unwrap();
                let status = res.status().as_str().to_owned();
                let documented = &op["responses"][&status];
                assert!(documented.is_object(), "{method} {path} answered {status}, which is not documented");
                let body: serde_json::Value = res.json().await.unwrap();
                let schema = &documented["content"]["application/json"]["schema"];
                conforms(&doc, schema, &body, &format!("{method} {path} {status}")).unwrap();
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "checked {checked} answers");
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
    assert!(!contains(&raw_bytes(server._dir.path()), name), "the server file still holds the name");
    assert!(contains(&raw_bytes(server._dir.path()), "Y Hoa"), "the scan itself works");
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
fn count_in_state(store: &Store, state: SyncState) -> usize {
    store.search(&Filter { sync_state: Some(state), limit: 100_000, ..Default::default() }).unwrap().len()
}
