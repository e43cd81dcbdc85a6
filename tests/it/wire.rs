//! The wire as a client sees it: one bad record never blocks a batch (a code the server
//! does not know, and an older server that refuses the whole batch), the rule set on the
//! server's side of every push, the pull's ranges, unknown communes and methods, and pull
//! changes of a kind the app does not know.

use std::io::{Read, Write};
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sotay::domain::*;
use sotay::protocol::*;
use sotay::store::{Filter, OutboxSummary};
use sotay::sync::engine::BatchSize;
use sotay::sync::{run_once, Options};
use sotay_server::db::ServerDb;
use sotay_server::{router, AppState};
use uuid::Uuid;

use super::common::*;
use super::sync::*;

/// How the test's server treats the poison record of a push.
#[derive(Clone, Copy)]
enum Poison {
    /// Its channel becomes a code no app or server knows, as a newer app would send.
    UnknownCode,
    /// The whole push is refused with 400, as a server that read a push in one piece did.
    WholeBatch400,
}

/// A real server behind a layer that finds the record `poison` in each push and does what
/// `mode` says. Gives the server and the id slot to fill once the record exists.
async fn poisoned_server(mode: Poison) -> (TestServerLite, Arc<std::sync::Mutex<Option<Uuid>>>) {
    let dir = tempfile::tempdir().unwrap();
    let db = super::stores::server_db(dir.path());
    db.put_commune(&demo_reference()).unwrap();
    let state = AppState::new(db).with_rate_limit(100_000, std::time::Duration::from_secs(60));
    let db = state.db.clone();
    let poison: Arc<std::sync::Mutex<Option<Uuid>>> = Arc::default();
    let slot = poison.clone();
    let app = router(state).layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let poison = *slot.lock().unwrap();
        async move { rewrite(req, next, poison, mode).await }
    }));
    let (addr, task) = super::sync::serve_router(app).await;
    (TestServerLite { url: format!("http://{addr}"), db, _dir: dir, task }, poison)
}

async fn rewrite(req: Request, next: Next, poison: Option<Uuid>, mode: Poison) -> Response {
    let (Some(poison), true) = (poison, req.uri().path().ends_with("/push")) else { return next.run(req).await };
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut json).unwrap();
    let mut push: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let records = push["records"].as_array_mut().unwrap();
    let Some(record) = records.iter_mut().find(|r| r["id"] == serde_json::json!(poison)) else {
        return next.run(Request::from_parts(parts, HttpBody::from(bytes))).await;
    };
    match mode {
        Poison::UnknownCode => record["b"]["channel"] = "zalo_live".into(),
        Poison::WholeBatch400 => {
            let body = ErrorBody {
                api_version: API_VERSION,
                error: ErrorCode::BadRequest,
                message: "Dữ liệu gửi lên có trường sai kiểu, thiếu hoặc không được biết (dòng 1, cột 900).".into(),
            };
            return (axum::http::StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&serde_json::to_vec(&push).unwrap()).unwrap();
    let mut parts = parts;
    parts.headers.remove("content-length");
    next.run(Request::from_parts(parts, HttpBody::from(gz.finish().unwrap()))).await
}

struct TestServerLite {
    url: String,
    db: Arc<ServerDb>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServerLite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// 999 records and then one the server cannot take, through the real sync: 999 applied,
/// the one quarantined with the field named, nothing left queued.
async fn one_bad_record_among_a_thousand(mode: Poison) -> String {
    let (server, poison) = poisoned_server(mode).await;
    let store = Arc::new(sotay::store::Store::open(tempfile::tempdir().unwrap().keep().join("sotay.db")).unwrap());
    let code = server.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    sotay::sync::enrol(&store, &server.url, &code, "máy thử").await.unwrap();
    store.set_current_volunteer("v-lan").unwrap();
    // Spread through the queue: 500 before it, 499 after.
    make_records(&store, 500, "a");
    let bad = store.create(new_record("h-plei", at(19, 8), outreach())).unwrap();
    *poison.lock().unwrap() = Some(bad.meta.id);
    make_records(&store, 499, "b");
    drain(&store, &Options::default()).await;
    let rejected = store.get(bad.meta.id).unwrap().unwrap();
    assert_eq!(rejected.sync_state, SyncState::Rejected);
    assert_eq!(server_state(&server.db).len(), 999, "every other record applied");
    assert!(!server_state(&server.db).contains_key(&bad.meta.id));
    assert_eq!(store.outbox_summary().unwrap(), OutboxSummary { pending: 0, rejected: 1 });
    let sent =
        store.search(&Filter { limit: 10_000, sync_state: Some(SyncState::Sent), ..Default::default() }).unwrap();
    assert_eq!(sent.len(), 999);
    rejected.reject_reason.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_with_an_unknown_code_among_a_thousand_is_quarantined_naming_its_field() {
    let reason = one_bad_record_among_a_thousand(Poison::UnknownCode).await;
    assert!(reason.contains("(b.channel)"), "{reason}");
    assert!(!reason.contains("zalo"), "the unknown code is not repeated back: {reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_a_whole_batch_for_one_record_gets_the_rest_and_the_record_is_quarantined() {
    let reason = one_bad_record_among_a_thousand(Poison::WholeBatch400).await;
    assert!(reason.contains("sai kiểu"), "the server's words: {reason}");
}

fn record_json(body: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": Uuid::now_v7(), "v": 1, "h": "h-plei", "u": "v-lan", "at": "2026-11-19T08:00:00",
        "sv": "2026-11-19T01:00:00Z", "b": body,
    })
}

fn visit_json() -> serde_json::Value {
    serde_json::json!({ "type": "visit", "household": "Nhà A", "people_helped": 1, "topics": ["vneid"], "notes": "" })
}

fn signature_json() -> serde_json::Value {
    serde_json::json!({"type": "signature_help", "consent": true,
        "person": {"display_name": "Y Hoa", "birth_year": 1980, "sex": "female", "ethnic_group": null, "phone": null,
            "cid_hash": null, "cid_key_id": null, "cid_last4": null},
        "level_before": "none", "level_after": "level2", "outcome": "digital_signature", "failure_reason": null,
        "provider": "VNPT-CA", "parent_id": null})
}

/// Posts `records` (as JSON text, so that keys twice stay twice) in one push.
async fn push_raw(server: &TestServer, token: &str, records: &[String]) -> (u16, serde_json::Value) {
    let body = format!(
        r#"{{"api_version":{API_VERSION},"device":{{"queued":0,"app_version":"test"}},"records":[{}]}}"#,
        records.join(",")
    );
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/c/{COMMUNE}/push", server.url))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_each_record_the_rule_set_refuses_alone_naming_the_field() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let token = device.store.enrolment().unwrap().unwrap().token;
    let with = |key: &str, value: serde_json::Value| {
        let mut r = record_json(visit_json());
        r[key] = value;
        r.to_string()
    };
    let in_body = |key: &str, value: serde_json::Value| {
        let mut r = record_json(visit_json());
        r["b"][key] = value;
        r.to_string()
    };
    let in_person = |key: &str, value: serde_json::Value| {
        let mut r = record_json(signature_json());
        r["b"]["person"][key] = value;
        r.to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("a business date in 1900", with("at", "1900-01-01T08:00:00".into()), "(date)"),
        ("a business date in 9999", with("at", "9999-12-31T08:00:00".into()), "(date)"),
        ("a business date in year +262142", with("at", "+262142-12-31T08:00:00".into()), "(date)"),
        ("a leap second", with("at", "2026-11-19T08:59:60".into()), "(time)"),
        ("a saved time in 9999", with("sv", "9999-12-31T00:00:00Z".into()), "(saved_at)"),
        ("a version that would freeze the record", with("v", i64::MAX.into()), "(version)"),
        ("NUL in a household", in_body("household", "Nhà\u{0}A".into()), "(household)"),
        ("ESC in notes", in_body("notes", "xem\u{1b}[2J".into()), "(notes)"),
        ("a code nobody knows", in_body("topics", serde_json::json!(["vneid", "telepathy"])), "(b.topics[1])"),
        ("an unknown field in the body", in_body("colour", "red".into()), "(b.?)"),
        ("an unknown field in the person", in_person("nickname", "Hoa".into()), "(b.person.?)"),
        ("a birth year of 0", in_person("birth_year", 0.into()), "(birth_year)"),
        (
            "a key twice in the body",
            record_json(visit_json()).to_string().replace(r#""notes":"""#, r#""notes":"","notes":"hai lần""#),
            "(b.notes)",
        ),
        (
            "a key twice in the person",
            record_json(signature_json()).to_string().replace(r#""sex":"female""#, r#""sex":"female","sex":"male""#),
            "(b.person.sex)",
        ),
        (
            "a success without a provider",
            {
                let mut r = record_json(signature_json());
                r["b"]["provider"] = serde_json::Value::Null;
                r.to_string()
            },
            "(provider)",
        ),
    ];
    let good = record_json(visit_json()).to_string();
    let mut records: Vec<String> = cases.iter().map(|(_, r, _)| r.clone()).collect();
    records.push(good);
    let (status, json) = push_raw(&server, &token, &records).await;
    assert_eq!(status, 200, "{json}");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len() + 1);
    for ((name, _, field), result) in cases.iter().zip(results) {
        assert_eq!(result["r"], "rejected", "{name}: {result}");
        let reason = result["reason"].as_str().unwrap();
        assert!(reason.contains(field), "{name}: the reason names {field}: {reason}");
        for echoed in ["\u{0}", "\u{1b}", "telepathy", "colour", "nickname", "hai lần", "9999", "262142"] {
            assert!(!reason.contains(echoed), "{name}: the reason repeats what was sent: {reason}");
        }
    }
    assert_eq!(results.last().unwrap()["r"], "applied", "the good record of the batch is applied");
    assert_eq!(server_state(&server.db).len(), 1);
}

async fn get(server: &TestServer, path: &str, auth: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", server.url));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    assert_eq!(res.headers()["content-type"], "application/json", "{path} answers JSON");
    (status, res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pull_refuses_what_it_used_to_clamp_and_tells_unknown_communes_and_methods_apart() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let token = device.store.enrolment().unwrap().unwrap().token;
    let bearer = format!("Bearer {token}");
    let pull = format!("/api/v1/c/{COMMUNE}/pull");
    for query in ["?limit=0", "?limit=1001", "?after=-1", "?after=x", "?limit=10&colour=red"] {
        let (status, json) = get(&server, &format!("{pull}{query}"), Some(&bearer)).await;
        assert_eq!((status, json["error"].as_str()), (400, Some("bad_request")), "{query}");
    }
    for query in ["", "?limit=1", "?limit=1000", "?after=0&limit=5"] {
        assert_eq!(get(&server, &format!("{pull}{query}"), Some(&bearer)).await.0, 200, "{query}");
    }
    // The scheme's name is matched whatever its case.
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        assert_eq!(get(&server, &pull, Some(&format!("{scheme} {token}"))).await.0, 200, "{scheme}");
    }
    assert_eq!(get(&server, &pull, Some(&format!("Basic {token}"))).await.0, 401);
    // A commune the server does not have is a 404, another commune's a 403; without a
    // token both are 401, so nobody learns which communes there are.
    let (status, json) = get(&server, "/api/v1/c/99999/pull", Some(&bearer)).await;
    assert_eq!((status, json["error"].as_str()), (404, Some("not_found")));
    let mut other = demo_reference();
    other.commune.code = "23498".into();
    server.db.put_commune(&other).unwrap();
    assert_eq!(get(&server, "/api/v1/c/23498/pull", Some(&bearer)).await.0, 403);
    assert_eq!(get(&server, "/api/v1/c/99999/pull", None).await.0, 401);
    // A method a route does not take: 405 with a JSON body and the Allow header.
    let res = reqwest::Client::new().delete(format!("{}{pull}", server.url)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 405);
    assert!(res.headers().contains_key("allow"));
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["error"], "method_not_allowed");
    assert_eq!(json["api_version"], API_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_change_of_an_unknown_kind_is_skipped_and_the_others_applied() {
    // A server newer than the app: its log has a change this app has never heard of,
    // between two it knows, and device-addressed changes it does know.
    let page = serde_json::json!({
        "api_version": API_VERSION,
        "server_time": chrono::Utc::now(),
        "changes": [
            [1, {"type": "coverage", "coverage": {"hamlet_id": "h-plei", "helped_signed": 7}}],
            [2, {"type": "holiday", "date": "2026-12-25"}],
            [3, {"type": "coverage", "coverage": {"hamlet_id": "h-plei", "helped_signed": 9, "extra": 1}}],
            [4, {"type": "assignment", "volunteers": ["v-lan"]}],
            [5, {"type": "coverage", "coverage": {"hamlet_id": "h-tdp1", "helped_signed": 4}}],
        ],
        "cursor": 5,
        "more": false,
    });
    let app = axum::Router::new().route(
        "/api/v1/c/{commune}/pull",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::Json(page) }
        }),
    );
    let (addr, task) = super::sync::serve_router(app).await;
    let t = live_store();
    let key = sotay::domain::citizen_id::OpenKey::generate();
    let enrolment = sotay::store::Enrolment {
        server_url: format!("http://{addr}"),
        commune: COMMUNE.into(),
        token: "t".into(),
        device_id: "d".into(),
        cert_pin: None,
    };
    t.store.enrol(&enrolment, key.seal_key(), &demo_reference()).unwrap();
    let store = Arc::new(t.store);
    let report = run_once(&store, &mut BatchSize::default()).await.unwrap();
    task.abort();
    assert_eq!(report.changes_pulled, 3, "the unknown kind and the unknown field are skipped");
    assert_eq!(store.pull_cursor().unwrap(), 5, "the cursor passes them");
    let progress = store.hamlet_progress().unwrap();
    let helped = |id: &str| progress.iter().find(|(h, _)| h.id == id).map(|(_, c)| c.helped_signed);
    assert_eq!(helped("h-plei"), Some(7));
    assert_eq!(helped("h-tdp1"), Some(4));
}
