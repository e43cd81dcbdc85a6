//! The audit log is complete: every office view that shows a person (the record list, a
//! record, its consent record, the erasure search), failed logins (for a name with an
//! account and for one without, whose typed name is not kept), a device's enrolment, and
//! the command line's add-admin, enrol-code and revoke. An erasure's entry lists the ids of
//! the records it erased. Each test reads the audit log after each step.

use std::process::Command;

use reqwest::StatusCode;
use sotay::domain::citizen_id::{CitizenId, SealKey};
use sotay::domain::*;
use sotay::protocol::*;
use sotay_server::accounts::{ACTOR_CLI, ACTOR_DEVICE, ACTOR_UNKNOWN};
use sotay_server::db::ServerDb;
use uuid::Uuid;

use super::consent::{client, OfficeClient, PASSWORD, USER};
use super::exhaustion::serve;
use super::sync::COMMUNE;

/// The newest audit entry: (who, action, detail).
fn last(db: &ServerDb) -> (String, String, String) {
    let (_, who, what, detail) = db.audit_log(COMMUNE, 1).unwrap().remove(0);
    (who, what, detail)
}

/// A signature session as a device sends it: the ID number sealed to the server's key.
fn signature(name: &str, cid: &str, key: &SealKey) -> Body {
    super::common::pushed_signature(name, None, Some(CitizenId::parse(cid).unwrap().seal(key)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_office_view_that_shows_a_person_is_audited_and_an_erasure_lists_its_record_ids() {
    let s = serve(|s| s).await;
    let db = s.state.db.clone();
    let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    let e = db.enrol(&code, "máy thử", chrono::Utc::now()).unwrap().unwrap();
    let key = SealKey::from_hex(&e.seal_key).unwrap();
    let device = db.device_by_token(&e.token).unwrap().unwrap();
    let ids: Vec<Uuid> = (0..2).map(|_| Uuid::now_v7()).collect();
    let records: Vec<WireRecord> = ids
        .iter()
        .map(|id| WireRecord {
            id: *id,
            version: 1,
            hamlet_id: "h-plei".into(),
            volunteer_id: "v-lan".into(),
            occurred_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 19).unwrap().and_hms_opt(9, 0, 0).unwrap(),
            saved_at: chrono::Utc::now(),
            voided: false,
            void_reason: None,
            body: signature("Đinh Thị Kiểm Toán", "051184001234", &key),
        })
        .collect();
    db.apply_push(&device, &DeviceReport::default(), &records, chrono::Utc::now()).unwrap();
    let o = OfficeClient::login(&s.url, USER, PASSWORD).await;

    let (status, page) = o.get("/office/records").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Đinh Thị Kiểm Toán"), "the list shows the person");
    assert_eq!(last(&db), (USER.into(), "records.list".into(), "2 records".into()));

    let (status, _) = o.get(&format!("/office/records/{}", ids[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last(&db), (USER.into(), "record.view".into(), ids[0].to_string()));

    let (status, _) = o.get(&format!("/office/records/{}/consent", ids[1])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last(&db), (USER.into(), "consent.view".into(), ids[1].to_string()));

    let (status, page) = o.post("/office/erasure", &[("name", "kiem toan")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Đinh Thị Kiểm Toán"));
    assert_eq!(last(&db), (USER.into(), "erasure.find".into(), "2 records".into()));

    let (status, _) = o.post("/office/erasure", &[("citizen_id", "051184001234")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last(&db).1, "erasure.find");

    // The erasure names each record it erased, and only those (an unknown id is not one).
    let stranger = Uuid::now_v7().to_string();
    let form = [("id", ids[0].to_string()), ("id", ids[1].to_string()), ("id", stranger.clone())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = o.post("/office/erasure/erase", &form).await;
    assert_eq!(status, StatusCode::OK);
    let (who, what, detail) = last(&db);
    assert_eq!((who.as_str(), what.as_str()), (USER, "erasure.erase"));
    assert!(detail.starts_with("2 records: "), "{detail}");
    for id in &ids {
        assert!(detail.contains(&id.to_string()), "{detail}");
    }
    assert!(!detail.contains(&stranger));
    // No entry holds the person's name or number.
    for (_, _, _, detail) in db.audit_log(COMMUNE, 1000).unwrap() {
        assert!(!detail.contains("Kiểm Toán") && !detail.contains("051184001234"), "{detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_and_enrolments_are_audited_without_the_name_typed_when_it_has_no_account() {
    let s = serve(|s| s).await;
    let db = s.state.db.clone();
    let http = client();
    let login = |user: &'static str, password: &'static str| {
        let (http, url) = (http.clone(), s.url.clone());
        async move { super::consent::post_login(&http, &url, user, password).await.status() }
    };
    assert_eq!(login(USER, "sai mat khau").await, StatusCode::UNAUTHORIZED);
    assert_eq!(last(&db), (USER.into(), "login.failed".into(), "wrong password".into()));
    // A name nobody has (it could be a password typed in the wrong box) is not kept.
    assert_eq!(login("MatKhauGoNham!2026", "x").await, StatusCode::UNAUTHORIZED);
    assert_eq!(last(&db), (ACTOR_UNKNOWN.into(), "login.failed".into(), "wrong password".into()));
    assert_eq!(login(USER, "sai lan hai").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(USER, "sai lan ba").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(USER, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(last(&db), (USER.into(), "login.failed".into(), "locked".into()));
    let all = db.audit_log(COMMUNE, 1000).unwrap();
    assert_eq!(all.iter().filter(|e| e.2 == "login.failed").count(), 5);
    assert!(all.iter().all(|e| !e.1.contains("MatKhauGoNham") && !e.3.contains("MatKhauGoNham")));

    // A device's enrolment, with its id.
    let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    let req = EnrolRequest { api_version: API_VERSION, code, device_name: "Máy tính bảng thôn Plei".into() };
    let res = http.post(format!("{}/api/v1/enrol", s.url)).json(&req).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let enrolled: EnrolResponse = res.json().await.unwrap();
    let (who, what, detail) = last(&db);
    assert_eq!((who.as_str(), what.as_str()), (ACTOR_DEVICE, "device.enrol"));
    assert!(detail.contains(&enrolled.device_id), "{detail}");
}

#[test]
fn the_command_line_writes_add_admin_enrol_code_and_revoke_to_the_audit_log() {
    let data = tempfile::tempdir().unwrap();
    let store = super::stores::TestStore::new();
    let bin = crate::it::common::server_bin();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(bin);
        store.apply(&mut cmd);
        let out = cmd
            .args(args)
            .arg("--data")
            .arg(data.path())
            .env("SOTAY_ADMIN_PASSWORD", "mat khau dai du 10")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let audit = || {
        let db = store.open(&data.path().join("sotay-server.db"));
        let (_, who, what, detail) = db.audit_log(COMMUNE, 1).unwrap().remove(0);
        (who, what, detail)
    };
    run(&["add-admin", "--demo", "canbo.moi"]);
    assert_eq!(audit(), (ACTOR_CLI.into(), "account.put".into(), "canbo.moi".into()));
    run(&["enrol-code", "--hours", "2"]);
    assert_eq!(audit(), (ACTOR_CLI.into(), "device.code".into(), "2 h".into()));
    let device = {
        let db = store.open(&data.path().join("sotay-server.db"));
        let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
        db.enrol(&code, "máy thử", chrono::Utc::now()).unwrap().unwrap().device_id
    };
    run(&["revoke", &device]);
    assert_eq!(audit(), (ACTOR_CLI.into(), "device.revoke".into(), device));
}
