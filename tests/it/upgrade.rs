//! Upgrading from the previous release (commit 9044358, server schema 5): its data folder,
//! frozen in `tests/fixtures/server_v1/` as that release's own code made it, opens in this
//! server, migrated, with the commune's hashing key moved out of the database into the key
//! file unchanged; and a tablet still speaking API version 1 keeps pushing and pulling (as
//! `server::compat` allows) while it waits for its update, with the person it counted before
//! counted once.

use reqwest::StatusCode;
use sotay::protocol::*;
use sotay_server::db::ServerDb;
use sotay_server::{router, AppState};
use uuid::Uuid;

use super::stores::TestStore;

const COMMUNE: &str = "23497";
/// The token the fixture's active device pushes with (set by the fixture's generator).
const V1_TOKEN: &str = "v1-fixture-device-token";
/// What the v1 tablet sends next, as version 1's code serialised it (its records hash ID
/// numbers under the commune's key id `commune:23497:1`).
const V1_PUSH: &str = include_str!("../fixtures/server_v1/push_v1.json");

fn id(n: u32) -> Uuid {
    Uuid::parse_str(&format!("019ab000-0000-7000-8000-{n:012}")).unwrap()
}

/// A data folder holding the previous release's database (and no key file, as then).
pub(super) fn previous_release() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("sotay-server.db")).unwrap();
    conn.execute_batch(include_str!("../fixtures/server_v1/sotay-server.sql")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 5, "the fixture is the previous release's schema");
    let (key_id, key): (String, String) =
        conn.query_row("SELECT cid_key_id, cid_key FROM communes", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((key_id.as_str(), key.len()), ("commune:23497:1", 64), "then the key was in the database");
    dir
}

/// The previous release's data in the store this run tests: its SQLite file opened (and so
/// upgraded) and, on PostgreSQL, moved there as `sotay-server migrate --to` does.
pub(super) fn previous_release_db(dir: &std::path::Path) -> (ServerDb, TestStore) {
    let path = dir.join("sotay-server.db");
    let db = ServerDb::open(&path).unwrap();
    let store = TestStore::new();
    if let TestStore::Sqlite = store {
        return (db, store);
    }
    let to = store.open(&path);
    db.move_into(&to).unwrap();
    (to, store)
}

fn helped(db: &ServerDb, hamlet: &str) -> u32 {
    db.coverage_report(COMMUNE).unwrap().rows.into_iter().find(|r| r.hamlet_id == hamlet).unwrap().helped_signed
}

#[test]
fn the_previous_releases_data_folder_opens_migrated_with_its_key_in_the_key_file() {
    if super::stores::on_postgres() {
        eprintln!("SQLite's file only: the_previous_releases_data_folder_opens_migrated_with_its_key_in_the_key_file runs in the SQLite pass");
        return;
    }
    let dir = previous_release();
    let raw = rusqlite::Connection::open(dir.path().join("sotay-server.db")).unwrap();
    let key: String = raw.query_row("SELECT cid_key FROM communes", [], |r| r.get(0)).unwrap();
    drop(raw);
    let db = ServerDb::open(dir.path().join("sotay-server.db")).unwrap();
    // The key moved to the key file unchanged, and left the database.
    assert_eq!(db.cid_key(COMMUNE).unwrap().to_hex(), key);
    assert_eq!(db.cid_key(COMMUNE).unwrap().id, "commune:23497:1");
    assert!(dir.path().join("sotay-server.keys").is_file());
    let raw = rusqlite::Connection::open(dir.path().join("sotay-server.db")).unwrap();
    let left: String = raw.query_row("SELECT cid_key FROM communes", [], |r| r.get(0)).unwrap();
    assert_eq!(left, "");
    let version: i64 = raw.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 13);
    drop(raw);
    // Every record with its version, the void, the erasure; the figures agree with the records.
    let versions: Vec<(Uuid, i64, bool)> = db.record_versions(COMMUNE).unwrap();
    assert_eq!(versions.len(), 7);
    assert!(versions.contains(&(id(3), 2, false)) && versions.contains(&(id(7), 2, true)), "{versions:?}");
    assert!(db.was_erased(COMMUNE, id(5)).unwrap());
    assert!(db.totals_mismatches(COMMUNE).unwrap().is_empty());
    assert!(db.coverage_log_mismatches(COMMUNE).unwrap().is_empty(), "the coverage log starts from the records");
    // Y Hoa and A Tú (after the edit) in Plei Rơng; a session without an ID and Đinh Thị Mơ
    // (erased, still counted) in Kon Braih.
    assert_eq!((helped(&db, "h-plei"), helped(&db, "h-konbraih")), (2, 2));
    // The demo of that release is known as the demo (removable), in province 51.
    assert_eq!(db.commune_is_demo(COMMUNE).unwrap(), Some(true));
    assert_eq!(db.province_of(COMMUNE).unwrap().as_deref(), Some("51"));
    // Its office account still logs in; its devices are still there (one revoked).
    assert!(db.login("canbo", "mat-khau-ban-cu", chrono::Utc::now()).unwrap().is_ok());
    let devices = db.devices(COMMUNE).unwrap();
    assert_eq!(devices.iter().filter(|d| d.revoked).count(), 1);
    assert!(db.device_by_token(V1_TOKEN).unwrap().is_some_and(|d| !d.revoked));
    // Opening again changes nothing.
    drop(db);
    let db = ServerDb::open(dir.path().join("sotay-server.db")).unwrap();
    assert_eq!(db.cid_key(COMMUNE).unwrap().to_hex(), key);
}

async fn serve(db: ServerDb) -> (String, std::sync::Arc<ServerDb>, tokio::task::JoinHandle<()>) {
    let state = AppState::new(db);
    let db = state.db.clone();
    let (addr, task) = super::sync::serve_router(router(state)).await;
    (format!("http://{addr}"), db, task)
}

async fn push_v1(url: &str, body: &str, header: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/c/{COMMUNE}/push"))
        .bearer_auth(V1_TOKEN)
        .header(API_HEADER, header)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_speaking_api_version_1_keeps_pushing_and_pulling_after_the_upgrade() {
    let dir = previous_release();
    let (url, db, task) = serve(previous_release_db(dir.path()).0).await;
    let device = db.device_by_token(V1_TOKEN).unwrap().unwrap();

    // Its push, exactly as version 1 sent it: the same person again in Plei Rơng (hashed under
    // the commune key it was given), a new person, and an edit of an old record.
    let res = push_v1(&url, V1_PUSH, "1").await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(answer["api_version"], 1);
    let results: Vec<RecordResult> = serde_json::from_value(answer["results"].clone()).unwrap();
    assert!(results.iter().all(|r| r.result == Applied::Applied), "{results:?}");
    assert_eq!(db.record_version(id(3)).unwrap().map(|v| v.0), Some(3));
    // Y Hoa was counted before the upgrade: the same hash, the same person, not a second.
    assert_eq!(helped(&db, "h-plei"), 2);
    assert_eq!(helped(&db, "h-dakpokong"), 1);
    assert!(db.totals_mismatches(COMMUNE).unwrap().is_empty());

    // A hash under any other key is refused for that record alone.
    let mut other: serde_json::Value = serde_json::from_str(V1_PUSH).unwrap();
    let records = other["records"].as_array_mut().unwrap();
    records.truncate(2);
    for (i, r) in records.iter_mut().enumerate() {
        r["id"] = serde_json::json!(id(20 + i as u32));
    }
    records[0]["b"]["person"]["cid_key_id"] = serde_json::json!("commune:23497:2");
    let res = push_v1(&url, &other.to_string(), "1").await;
    let answer: PushResponse = res.json().await.unwrap();
    assert_eq!(answer.results[0].result, Applied::Rejected);
    assert_eq!(answer.results[1].result, Applied::Applied);
    // The same body from a version-2 device: a pushed hash is never taken.
    let mut v2 = other.clone();
    v2["api_version"] = serde_json::json!(API_VERSION);
    v2["records"][1]["id"] = serde_json::json!(id(30));
    let res = push_v1(&url, &v2.to_string(), &API_VERSION.to_string()).await;
    let answer: PushResponse = res.json().await.unwrap();
    assert_eq!(answer.results[1].result, Applied::Rejected, "{:?}", answer.results[1]);
    // Header and body must agree.
    assert_eq!(push_v1(&url, V1_PUSH, "2").await.status(), StatusCode::BAD_REQUEST);

    // Its pull: what version 1 knows, without what is addressed to one device; the cursor
    // still moves past those.
    db.assign(COMMUNE, &device.id, &["v-lan".to_owned()]).unwrap();
    db.new_pin_code(COMMUNE, &device.id, "v-lan", chrono::Utc::now()).unwrap();
    let pull = |version: &'static str| {
        let url = url.clone();
        async move {
            let res = reqwest::Client::new()
                .get(format!("{url}/api/v1/c/{COMMUNE}/pull?after=0&limit=1000"))
                .bearer_auth(V1_TOKEN)
                .header(API_HEADER, version)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let v1 = pull("1").await;
    let v2 = pull("2").await;
    let kinds = |v: &serde_json::Value| -> Vec<String> {
        v["changes"].as_array().unwrap().iter().map(|c| c[1]["type"].as_str().unwrap().to_owned()).collect()
    };
    assert!(kinds(&v2).contains(&"assignment".to_owned()) && kinds(&v2).contains(&"pin_code".to_owned()));
    assert!(kinds(&v1).iter().all(|k| ["reference", "coverage", "erase"].contains(&k.as_str())), "{:?}", kinds(&v1));
    assert!(kinds(&v1).contains(&"erase".to_owned()), "the erasure of before reaches it");
    assert_eq!(v1["cursor"], v2["cursor"]);
    assert_eq!(v1["api_version"], 1);

    // A new tablet cannot enrol speaking version 1: it is told to update the app.
    let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    let res = reqwest::Client::new()
        .post(format!("{url}/api/v1/enrol"))
        .header(API_HEADER, "1")
        .json(&serde_json::json!({ "api_version": 1, "code": code, "device_name": "máy cũ" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 426);
    let body: ErrorBody = res.json().await.unwrap();
    assert_eq!(body.error, ErrorCode::UpdateApp);
    task.abort();
}
