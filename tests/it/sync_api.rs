//! The device API as raw HTTP, for what the real client never sends: every auth failure,
//! bad input, the rate limit, another API version, and every answer checked against
//! `docs/openapi.json`.

use std::sync::Arc;
use std::time::Duration;

use sotay::domain::*;
use sotay::protocol::*;
use sotay::store::Store;
use sotay::sync::SyncError;
use uuid::Uuid;

use super::common::*;
use super::sync::*;

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
async fn a_push_given_the_devices_cursor_answers_with_the_changes_after_it() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let token = device.store.enrolment().unwrap().unwrap().token;
    let cursor = device.store.pull_cursor().unwrap();
    let push = format!("/api/v1/c/{COMMUNE}/push");
    // Without `after`, the answer is as it always was.
    let (status, json) =
        raw(&server, reqwest::Method::POST, &push, Some(&token), Some(push_body(vec![wire_visit("Nhà A", 1)])), false)
            .await;
    assert_eq!(status, 200, "{json}");
    assert!(json.get("pull").is_none(), "{json}");
    // With it, the changes after the cursor, the push's own among them, and the next cursor.
    let body = sealed_signature(&device.store, "Y Hoa", "051203004567", Outcome::DigitalSignature);
    let record = device.store.create(new_record("h-plei", at(19, 8), body)).unwrap();
    let signed = serde_json::to_value(sotay::sync::to_wire(&record)).unwrap();
    let with_after = format!("{push}?after={cursor}");
    let (status, json) =
        raw(&server, reqwest::Method::POST, &with_after, Some(&token), Some(push_body(vec![signed])), false).await;
    assert_eq!(status, 200, "{json}");
    let answer: PushResponse = serde_json::from_value(json.clone()).unwrap();
    assert!(answer.results.iter().all(|r| r.result == Applied::Applied), "{json}");
    let page = answer.pull.expect("the changes after the cursor");
    let (changes, skipped) = page.known();
    assert!(skipped.is_empty());
    let (server_changes, more) = server.db.pull(COMMUNE, cursor, 200).unwrap();
    assert_eq!(changes, server_changes, "the page is the pull's");
    assert_eq!(page.more, more);
    assert_eq!(page.cursor, changes.last().map_or(cursor, |(seq, _)| *seq));
    assert!(changes.iter().any(|(_, c)| matches!(c, Change::Coverage { coverage } if coverage.hamlet_id == "h-plei" && coverage.helped_signed == 1)), "the signature's coverage: {changes:?}");
    // A cursor that is not one is refused, and nothing is stored.
    let before = server_state(&server.db).len();
    for bad in ["-1", "x", "1.5"] {
        let path = format!("{push}?after={bad}");
        let body = Some(push_body(vec![wire_visit("Nhà B", 1)]));
        let (status, json) = raw(&server, reqwest::Method::POST, &path, Some(&token), body, false).await;
        assert_eq!((status, json["error"].as_str()), (400, Some("bad_request")), "after={bad}: {json}");
    }
    assert_eq!(server_state(&server.db).len(), before);
}
