//! The commune office over HTTP, with the real router on 127.0.0.1 and a plain client that
//! carries the session cookie by hand: every page behind a session, the CSRF token on every
//! change, login throttling, hamlet, target and CSV edits with their validation, the
//! activity period and logout. Then the reports against an independent model of the
//! counting rule on a generated commune, down to the cells of the XLSX exports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use calamine::{open_workbook_from_rs, Data, Range, Reader, StyleRange, Xlsx};
use chrono::{Datelike, Days, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use sotay::domain::citizen_id::{CidKey, CitizenId, SealKey};
use sotay::domain::*;
use sotay::protocol::{Applied, DeviceReport, WireRecord};
use sotay_server::accounts::LoginError;
use sotay_server::db::{Device, ServerDb};
use sotay_server::reports::{ActivityCounts, ActivityReport, ChannelRow, CoverageReport, CoverageRow, TimePoint};
use sotay_server::{router, AppState};
use uuid::Uuid;

use super::sync::{demo_reference, COMMUNE};

const USER: &str = "canbo.konbraih";
const PASSWORD: &str = "Kon Braih 20/11!";

// What the pages say, written out here so a changed word is caught.
const LOGIN_WRONG: &str = "Tên đăng nhập hoặc mật khẩu không đúng.";
const LOGIN_LOCKED: &str = "Đăng nhập sai nhiều lần. Hãy thử lại sau";
const BAD_FORM: &str = "Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang rồi làm lại; chưa có gì thay đổi.";
const BELOW_BASELINE: &str = "Số người đã có chữ ký không được lớn hơn dân số trưởng thành.";
const NOT_A_COUNT: &str = "Dân số và số người đã có chữ ký phải là số nguyên không âm.";
const NAME_REQUIRED: &str = "Tên thôn không được để trống.";
const TARGET_RANGE: &str = "Mục tiêu phải là số từ 1 đến 100.";
const BAD_DATES: &str =
    "Ngày không hợp lệ: hãy chọn ngày bắt đầu và ngày kết thúc (ngày bắt đầu không sau ngày kết thúc).";
const IMPORT_FAILED: &str = "Chưa nhập gì, vì tệp có lỗi:";
const HEADER_MISSING: &str = "Thiếu cột. Dòng đầu phải có: ma, ten, dan_so, da_co_chu_ky.";

/// The real router on 127.0.0.1:0 over a server database in a temp dir, with one office
/// account for the commune.
pub(super) struct Server {
    pub(super) url: String,
    pub(super) db: Arc<ServerDb>,
    path: PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A logged-in browser: its session cookie and the CSRF token its pages carry.
pub(super) struct Browser {
    pub(super) cookie: String,
    pub(super) csrf: String,
}

/// Everything an office change could touch, to show that a refused one touched nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    reference: ReferenceData,
    devices: Vec<Device>,
    audit: Vec<(String, String, String, String)>,
    enrol_codes: i64,
    records: Vec<(Uuid, i64, bool)>,
}

pub(super) async fn start(reference: &ReferenceData) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let db = ServerDb::open(&path).unwrap();
    db.put_commune(reference).unwrap();
    db.put_account(USER, PASSWORD, &reference.commune.code, Utc::now()).unwrap();
    let state = AppState::new(db);
    let db = state.db.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    // Redirects are what these tests look at, so the client does not follow them.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Server { url, db, path, http, _dir: dir, task }
}

impl Server {
    async fn post_login(&self, username: &str, password: &str) -> Response {
        super::consent::post_login(&self.http, &self.url, username, password).await
    }

    /// Logs in through the login form and reads the CSRF token off a page, as a browser would.
    pub(super) async fn login(&self) -> Browser {
        let res = self.post_login(USER, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/office");
        let token = session_cookie(&res).expect("a session cookie");
        assert_eq!(token.len(), 64);
        let cookie = format!("sotay_session={token}");
        let res = self.get("/office/hamlets", Some(&cookie)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let csrf = csrf_in(&res.text().await.unwrap());
        Browser { cookie, csrf }
    }

    pub(super) async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    pub(super) async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Response {
        let mut req = self.http.post(format!("{}{path}", self.url)).form(form);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    /// Uploads a hamlet CSV as the import form does (multipart, built by hand: the
    /// project's reqwest has no `multipart` feature).
    async fn import(&self, cookie: Option<&str>, csrf: Option<&str>, csv: &[u8]) -> Response {
        self.upload("/office/hamlets/import", cookie, csrf, csv).await
    }

    /// Uploads a CSV to an import form's address.
    async fn upload(&self, path: &str, cookie: Option<&str>, csrf: Option<&str>, csv: &[u8]) -> Response {
        const BOUNDARY: &str = "----sotay-test-boundary-7d3f";
        let mut body = Vec::new();
        if let Some(csrf) = csrf {
            body.extend(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").as_bytes(),
            );
        }
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"thon.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(csv);
        body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    fn snapshot(&self) -> Snapshot {
        // Enrolment codes have no reader in ServerDb: count them on a second connection.
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        Snapshot {
            reference: self.db.commune(COMMUNE).unwrap(),
            devices: self.db.devices(COMMUNE).unwrap(),
            audit: self.db.audit_log(COMMUNE, 100_000).unwrap(),
            enrol_codes: conn.query_row("SELECT COUNT(*) FROM enrol_codes", [], |r| r.get(0)).unwrap(),
            records: self.db.record_versions(COMMUNE).unwrap(),
        }
    }

    fn last_audit(&self) -> (String, String) {
        let (_, who, what, detail) = self.db.audit_log(COMMUNE, 1).unwrap().remove(0);
        assert_eq!(who, USER);
        (what, detail)
    }
}

/// A share as the Vietnamese pages write it: "38,1%".
pub(super) fn vn_share(v: f64) -> String {
    format!("{v:.1}%").replace('.', ",")
}

fn location(res: &Response) -> &str {
    res.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The value the response sets the session cookie to, if it sets it.
fn session_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("sotay_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

fn csrf_in(html: &str) -> String {
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = html.find(FIELD).expect("a page with a CSRF field") + FIELD.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// What a test needs to make records as the server will keep them: the key the device
/// seals ID numbers to (from its enrolment) and the commune's hashing key the server uses
/// (which no device has; the tests take it from the server to know the expected hashes).
#[derive(Clone)]
pub(super) struct TestKey {
    seal: SealKey,
    cid: CidKey,
}

/// A new device of the commune, through the enrolment code flow.
pub(super) fn enrol(db: &ServerDb, name: &str) -> (Device, TestKey) {
    let code = db.new_enrol_code(COMMUNE, Duration::hours(1), Utc::now()).unwrap();
    let e = db.enrol(&code, name, Utc::now()).unwrap().expect("a fresh code enrols");
    let device = db.device_by_token(&e.token).unwrap().unwrap();
    (device, TestKey { seal: SealKey::from_hex(&e.seal_key).unwrap(), cid: db.cid_key(COMMUNE).unwrap() })
}

fn saved_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap()
}

/// A save time after the record's business time (the server refuses a record dated after
/// its own save), and not before [`saved_at`].
fn saved_after(r: &WireRecord) -> chrono::DateTime<Utc> {
    r.saved_at.max(r.occurred_at.and_utc() + Duration::hours(1))
}

/// A time after every generated record's save (they are saved up to early 2027): when the
/// server is told it pushes and erases, so no save is in its future and every record was
/// saved before any erasure.
fn after_every_save() -> chrono::DateTime<Utc> {
    Utc::now().max(Utc.with_ymd_and_hms(2027, 6, 30, 0, 0, 0).unwrap())
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(super) fn wire(id: Uuid, hamlet: &str, volunteer: &str, occurred_at: NaiveDateTime, body: Body) -> WireRecord {
    WireRecord {
        id,
        version: 1,
        hamlet_id: hamlet.into(),
        volunteer_id: volunteer.into(),
        occurred_at,
        saved_at: saved_at().max(occurred_at.and_utc() + Duration::hours(1)),
        voided: false,
        void_reason: None,
        body,
    }
}

pub(super) fn signature_body(person: Option<Person>, outcome: Outcome, reason: Option<FailureReason>) -> Body {
    Body::SignatureHelp(SignatureHelp {
        consent: person.is_some(),
        person,
        level_before: AccountLevel::Level1,
        level_after: AccountLevel::Level2,
        outcome,
        failure_reason: reason,
        provider: (outcome != Outcome::NotCompleted).then(|| "VNPT-CA".into()),
        parent_id: None,
    })
}

/// A person as the server will keep them: with the hash the server makes under the
/// commune's key, and the sealed number the device sends (`push` drops the hash, as the
/// app's sync does).
pub(super) fn person(name: &str, cid: Option<&str>, key: &TestKey) -> Person {
    let cid = cid.map(|c| CitizenId::parse(c).unwrap());
    Person {
        display_name: name.into(),
        birth_year: 1975,
        sex: Sex::Female,
        ethnic_group: Some("Ba Na".into()),
        phone: None,
        cid_hash: cid.as_ref().map(|c| c.hash(&key.cid)),
        cid_key_id: cid.as_ref().map(|_| key.cid.id.clone()),
        cid_sealed: cid.as_ref().map(|c| c.seal(&key.seal)),
        cid_last4: cid.as_ref().map(|c| c.last4()),
    }
}

fn push(db: &ServerDb, device: &Device, records: &[WireRecord]) -> Vec<Applied> {
    let wire: Vec<WireRecord> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Body::SignatureHelp(s) = &mut r.body {
                if let Some(p) = &mut s.person {
                    p.cid_hash = None;
                    p.cid_key_id = None;
                }
            }
            r
        })
        .collect();
    db.apply_push(device, &DeviceReport::default(), &wire, after_every_save())
        .unwrap()
        .into_iter()
        .map(|r| r.result)
        .collect()
}

// ---- sessions and login -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_office_page_export_and_change_sends_a_visitor_without_a_live_session_to_the_login_page() {
    let server = start(&demo_reference()).await;
    let (device, _) = enrol(&server.db, "Máy tính bảng thôn Plei");
    // A session opened nine hours ago has expired (sessions last eight).
    let (expired, old) = server.db.login(USER, PASSWORD, Utc::now() - Duration::hours(9)).unwrap().unwrap();
    let before = server.snapshot();
    let record = Uuid::now_v7().to_string();
    let gets = [
        "/office".to_owned(),
        "/office/activity".into(),
        "/office/activity?preset=year".into(),
        "/office/activity?from=2026-11-01&to=2026-11-20".into(),
        "/office/hamlets".into(),
        "/office/devices".into(),
        "/office/audit".into(),
        "/office/records".into(),
        format!("/office/records/{record}"),
        "/office/erasure".into(),
        "/office/print".into(),
        "/office/export/coverage.xlsx".into(),
        "/office/export/coverage.csv".into(),
        "/office/export/activity.xlsx?from=2026-11-01&to=2026-11-20".into(),
        "/office/export/activity.csv".into(),
    ];
    let revoke = format!("/office/devices/{}/revoke", device.id);
    // Complete, well-formed changes, carrying even the expired session's own CSRF token.
    let csrf = old.csrf.as_str();
    let posts: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/office/hamlets/h-plei",
            vec![("name", "Làng Plei Rơng"), ("adult_population", "900"), ("baseline_signed", "1")],
        ),
        ("/office/target", vec![("target_percent", "70")]),
        ("/office/volunteers", vec![("id", "v-moi"), ("name", "Y Moi"), ("hamlet_id", "h-plei")]),
        ("/office/providers", vec![("providers", "VNPT-CA")]),
        ("/office/devices/code", vec![]),
        (revoke.as_str(), vec![]),
        ("/office/erasure", vec![("name", "Y Hoa"), ("citizen_id", "")]),
        ("/office/erasure/erase", vec![("id", record.as_str())]),
        ("/office/logout", vec![]),
    ];
    let forged = format!("sotay_session={}", "ab".repeat(32));
    let expired = format!("sotay_session={expired}");
    for cookie in [None, Some(forged.as_str()), Some(expired.as_str()), Some("sotay_session="), Some("lang=en")] {
        for path in &gets {
            let res = server.get(path, cookie).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "GET {path} with {cookie:?}");
            assert_eq!(location(&res), "/office/login", "GET {path} with {cookie:?}");
        }
        for (path, fields) in &posts {
            let mut form = fields.clone();
            form.push(("csrf", csrf));
            let res = server.post(path, cookie, &form).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "POST {path} with {cookie:?}");
            assert_eq!(location(&res), "/office/login", "POST {path} with {cookie:?}");
        }
        let res = server.import(cookie, Some(csrf), "ma;ten;dan_so;da_co_chu_ky\nh-plei;Plei;900;1\n".as_bytes()).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "import with {cookie:?}");
        assert_eq!(location(&res), "/office/login");
    }
    assert_eq!(server.snapshot(), before, "nothing changed");
    // The login page itself is open to all.
    let res = server.get("/office/login", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đăng nhập văn phòng xã"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_401_and_the_third_locks_the_account_even_against_the_right_one() {
    let server = start(&demo_reference()).await;
    server.db.put_account("canbo.khac", "mat-khau-khac", COMMUNE, Utc::now()).unwrap();
    // A wrong password and an unknown name get the same answer, so names cannot be probed.
    for (user, password) in [(USER, "sai mat khau"), ("khong-co-ai", PASSWORD), (USER, "")] {
        let res = server.post_login(user, password).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(session_cookie(&res), None);
        let html = res.text().await.unwrap();
        assert!(html.contains(LOGIN_WRONG), "{html}");
    }
    // The third wrong password for the account locks it.
    let res = server.post_login(USER, "con sai nua").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains(LOGIN_LOCKED));
    // Locked: the right password is refused too, and opens no session.
    let res = server.post_login(USER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(session_cookie(&res), None);
    assert!(res.text().await.unwrap().contains(LOGIN_LOCKED));
    // The lock is the account's, not the server's.
    let res = server.post_login("canbo.khac", "mat-khau-khac").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&res).is_some());
}

/// A server database with the demo commune and its office account, created at `t0`.
fn office_with_account() -> (tempfile::TempDir, ServerDb, chrono::DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    let db = ServerDb::open(dir.path().join("server.db")).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 1, 0, 0).unwrap();
    db.put_account(USER, PASSWORD, COMMUNE, t0).unwrap();
    (dir, db, t0)
}

#[test]
fn a_locked_account_opens_again_when_the_lock_expires_and_each_further_failure_doubles_the_lock() {
    let (_dir, db, t0) = office_with_account();
    let secs = |s: i64| t0 + Duration::seconds(s);
    let login = |password: &str, at| db.login(USER, password, at).unwrap().map(|(_, s)| s);

    assert_eq!(login("sai", t0), Err(LoginError::Wrong));
    assert_eq!(login("sai", t0), Err(LoginError::Wrong));
    assert_eq!(login("sai", t0), Err(LoginError::Locked { until: secs(30) }));
    assert_eq!(login(PASSWORD, secs(29)), Err(LoginError::Locked { until: secs(30) }));
    let session = login(PASSWORD, secs(31)).expect("open again after 30 s");
    assert_eq!((session.username.as_str(), session.commune.as_str()), (USER, COMMUNE));
    // A success forgets the failures: two more wrong passwords do not lock.
    assert_eq!(login("sai", secs(40)), Err(LoginError::Wrong));
    assert_eq!(login("sai", secs(40)), Err(LoginError::Wrong));
    assert_eq!(login("sai", secs(40)), Err(LoginError::Locked { until: secs(70) }));
    // A wrong password after the lock ran out locks again, for twice as long.
    assert_eq!(login("sai", secs(71)), Err(LoginError::Locked { until: secs(131) }));
    assert_eq!(login(PASSWORD, secs(130)), Err(LoginError::Locked { until: secs(131) }));
    assert!(login(PASSWORD, secs(132)).is_ok());
}

#[test]
fn an_unknown_name_is_counted_and_locked_exactly_like_a_real_one_so_the_lock_out_tells_no_names() {
    let (_dir, db, t0) = office_with_account();
    let secs = |s: i64| t0 + Duration::seconds(s);
    // The same tries at the same times, for the real name and for a name nobody has: what a
    // guesser sees must not differ anywhere.
    let tries =
        [("sai", 0), ("sai", 0), ("sai", 0), ("sai", 29), ("sai", 31), ("sai", 60), ("sai", 200), ("sai", 30_000)];
    let answers = |user: &str| -> Vec<Result<(), LoginError>> {
        tries.iter().map(|(password, at)| db.login(user, password, secs(*at)).unwrap().map(|_| ())).collect()
    };
    let real = answers(USER);
    let unknown = answers("khong-co-ai");
    assert_eq!(unknown, real);
    assert_eq!(
        real[..6],
        [
            Err(LoginError::Wrong),
            Err(LoginError::Wrong),
            Err(LoginError::Locked { until: secs(30) }),
            Err(LoginError::Locked { until: secs(30) }),
            Err(LoginError::Locked { until: secs(91) }),
            Err(LoginError::Locked { until: secs(91) }),
        ]
    );
    // A day without failures forgets them, for both alike.
    let day_later = secs(30_000 + 24 * 3600 + 1);
    assert_eq!(db.login(USER, "sai", day_later).unwrap().map(|_| ()), Err(LoginError::Wrong));
    assert_eq!(db.login("khong-co-ai", "sai", day_later).unwrap().map(|_| ()), Err(LoginError::Wrong));
    // Names are counted each on its own, and an account made for a locked name starts clean.
    for _ in 0..3 {
        let _ = db.login("canbo.moi", "sai", day_later).unwrap();
    }
    assert!(matches!(db.login("canbo.moi", "mat-khau-moi!", day_later).unwrap(), Err(LoginError::Locked { .. })));
    db.put_account("canbo.moi", "mat-khau-moi!", COMMUNE, day_later).unwrap();
    assert!(db.login("canbo.moi", "mat-khau-moi!", day_later).unwrap().is_ok());
    assert!(db.login(USER, PASSWORD, day_later).unwrap().is_ok(), "the real account's own lock ran out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_unknown_name_gets_the_same_401s_and_then_the_same_429_as_a_real_name() {
    let server = start(&demo_reference()).await;
    let mut seen: Vec<Vec<(StatusCode, bool)>> = Vec::new();
    for user in [USER, "khong-co-ai"] {
        let mut answers = Vec::new();
        for _ in 0..4 {
            let res = server.post_login(user, "sai mat khau").await;
            assert_eq!(session_cookie(&res), None);
            let status = res.status();
            let html = res.text().await.unwrap();
            assert!(
                html.contains(if status == StatusCode::UNAUTHORIZED { LOGIN_WRONG } else { LOGIN_LOCKED }),
                "{html}"
            );
            answers.push((status, html.contains(&format!("value=\"{user}\""))));
        }
        seen.push(answers);
    }
    let expected = [
        StatusCode::UNAUTHORIZED,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::TOO_MANY_REQUESTS,
    ];
    assert_eq!(seen[0].iter().map(|a| a.0).collect::<Vec<_>>(), expected);
    assert_eq!(seen[1], seen[0], "the unknown name is answered as the real one");
}

// ---- CSRF ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_the_sessions_csrf_token_is_refused_with_403_and_changes_nothing() {
    let server = start(&demo_reference()).await;
    let (device, _) = enrol(&server.db, "Máy tính bảng thôn Plei");
    let me = server.login().await;
    // Another live session's token is a real token, but not this session's.
    let other = server.login().await;
    assert_ne!(me.csrf, other.csrf);
    let users = format!("/office/devices/{}/users", device.id);
    let pin_code = format!("/office/devices/{}/pin-code", device.id);
    let revoke = format!("/office/devices/{}/revoke", device.id);
    let record = Uuid::now_v7().to_string();
    // Every form post the router has, in an order in which each goes through with the right
    // token; logout last: with the right token it ends the session.
    let changes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/office/hamlets/h-plei",
            vec![("name", "Làng Plei Rơng"), ("adult_population", "900"), ("baseline_signed", "50")],
        ),
        ("/office/target", vec![("target_percent", "70")]),
        ("/office/volunteers", vec![("id", "v-moi"), ("name", "Y Moi"), ("hamlet_id", "h-plei")]),
        ("/office/providers", vec![("providers", "VNPT-CA\nViettel-CA")]),
        ("/office/devices/code", vec![]),
        (users.as_str(), vec![("v", "v-lan")]),
        (pin_code.as_str(), vec![("volunteer", "v-lan")]),
        (revoke.as_str(), vec![]),
        ("/office/erasure", vec![("name", "Y Hoa"), ("citizen_id", "")]),
        ("/office/erasure/erase", vec![("id", record.as_str())]),
        ("/office/hamlets/h-tdp1/retire", vec![]),
        ("/office/logout", vec![]),
    ];
    let hamlets = "\u{feff}ma;ten;dan_so;da_co_chu_ky\nh-plei;Làng Plei Rơng;900;50\n".as_bytes();
    let volunteers = "\u{feff}ma;ho_ten;thon\nv-moi2;Y Moi Hai;h-plei\n".as_bytes();
    let uploads = [("/office/hamlets/import", hamlets), ("/office/volunteers/import", volunteers)];
    // The list above and the uploads are every POST route of the office router.
    let posted: Vec<&str> = changes.iter().map(|c| c.0).chain(uploads.iter().map(|u| u.0)).collect();
    for route in office_post_routes() {
        assert!(posted.iter().any(|p| route_matches(&route, p)), "POST {route} is not tried without a token");
    }
    let before = server.snapshot();
    for csrf in [None, Some(""), Some(other.csrf.as_str()), Some(&me.csrf[..63]), Some("0")] {
        for (path, fields) in &changes {
            let mut form = fields.clone();
            if let Some(c) = csrf {
                form.push(("csrf", c));
            }
            let res = server.post(path, Some(&me.cookie), &form).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path} with csrf {csrf:?}");
            assert!(res.text().await.unwrap().contains(BAD_FORM), "POST {path}");
        }
        for (path, csv) in uploads {
            let res = server.upload(path, Some(&me.cookie), csrf, csv).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} with csrf {csrf:?}");
            assert!(res.text().await.unwrap().contains(BAD_FORM));
        }
    }
    assert_eq!(server.snapshot(), before, "reference data, devices, codes, records and audit log unchanged");
    // The refused logout did not end the session.
    assert_eq!(server.get("/office", Some(&me.cookie)).await.status(), StatusCode::OK);

    // The same forms with the right token go through, so only the token was wrong.
    for (path, csv) in uploads {
        let res = server.upload(path, Some(&me.cookie), Some(&me.csrf), csv).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    for (path, fields) in &changes {
        let mut form = fields.clone();
        form.push(("csrf", me.csrf.as_str()));
        let res = server.post(path, Some(&me.cookie), &form).await;
        assert!(res.status().is_success() || res.status() == StatusCode::SEE_OTHER, "POST {path}: {}", res.status());
    }
    let after = server.snapshot();
    assert_eq!(after.reference.commune.target_percent, 70);
    assert!(after.devices.iter().all(|d| d.revoked));
    assert_eq!(after.enrol_codes, before.enrol_codes + 1);
    let actions: Vec<&str> = after.audit.iter().rev().skip(before.audit.len()).map(|a| a.2.as_str()).collect();
    assert_eq!(
        actions,
        [
            "hamlet.import",
            "volunteer.import",
            "hamlet.update",
            "target.update",
            "volunteer.put",
            "providers.put",
            "device.code",
            "device.users",
            "device.pin_code",
            "device.revoke",
            "erasure.find",
            "erasure.erase",
            "hamlet.retire",
            "logout"
        ]
    );
    assert_eq!(server.get("/office", Some(&me.cookie)).await.status(), StatusCode::SEE_OTHER);
}

/// The paths the office router answers POSTs on other than the login form (which has its own
/// token, before there is a session), read from the router's source: a route added there
/// and not to the CSRF test above fails it.
fn office_post_routes() -> Vec<String> {
    let source = include_str!("../../crates/sotay-server/src/office/mod.rs");
    let routes: Vec<String> = source
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(".route(\"") && l.contains("post("))
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .filter(|p| p != "/office/login")
        .collect();
    assert!(routes.len() >= 14, "the router's POST routes were not found: {routes:?}");
    routes
}

/// Whether a path fits a route (`{id}` matches any one segment).
fn route_matches(route: &str, path: &str) -> bool {
    let (r, p): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    r.len() == p.len() && r.iter().zip(&p).all(|(r, p)| r.starts_with('{') || r == p)
}

// ---- hamlets, target, CSV import ----------------------------------------------------------

/// The cells of a coverage table row on the page, between `<tr data-hamlet=…>` and `</tr>`.
fn coverage_row(html: &str, hamlet: &str) -> String {
    let start = html.find(&format!("data-hamlet=\"{hamlet}\"")).unwrap_or_else(|| panic!("no row for {hamlet}"));
    let end = start + html[start..].find("</tr>").unwrap();
    html[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hamlet_edit_is_checked_refused_with_the_reason_or_saved_into_coverage_with_an_audit_entry() {
    let server = start(&demo_reference()).await;
    let (device, key) = enrol(&server.db, "Máy tính bảng thôn Plei");
    // Three successful sessions in Plei: one person twice, and one without an ID.
    let at = day(2026, 11, 19).and_hms_opt(8, 0, 0).unwrap();
    let hoa = || signature_body(Some(person("Y Hoa", Some("051203004567"), &key)), Outcome::DigitalSignature, None);
    let records = [
        wire(Uuid::now_v7(), "h-plei", "v-lan", at, hoa()),
        wire(Uuid::now_v7(), "h-plei", "v-lan", at + Duration::hours(1), hoa()),
        wire(Uuid::now_v7(), "h-plei", "v-lan", at, signature_body(None, Outcome::PersonalESignature, None)),
    ];
    assert_eq!(push(&server.db, &device, &records), [Applied::Applied; 3]);
    let plei = |r: &CoverageReport| r.rows.iter().find(|r| r.hamlet_id == "h-plei").unwrap().clone();
    let cov = plei(&server.db.coverage_report(COMMUNE).unwrap());
    assert_eq!((cov.adult_population, cov.baseline_signed, cov.helped_signed, cov.signed), (297, 41, 2, 43));

    let me = server.login().await;
    let before = server.snapshot();
    let refused = [
        ("Làng Plei Rơng", "40", "41", BELOW_BASELINE),
        ("Làng Plei Rơng", "ba trăm", "41", NOT_A_COUNT),
        ("Làng Plei Rơng", "297", "-1", NOT_A_COUNT),
        ("Làng Plei Rơng", "297,5", "41", NOT_A_COUNT),
        ("Làng Plei Rơng", "", "41", NOT_A_COUNT),
        ("Làng Plei Rơng", "99999999999", "41", NOT_A_COUNT),
        ("", "297", "41", NAME_REQUIRED),
        ("   ", "297", "41", NAME_REQUIRED),
    ];
    for (name, adults, baseline, message) in refused {
        let form =
            [("csrf", me.csrf.as_str()), ("name", name), ("adult_population", adults), ("baseline_signed", baseline)];
        let res = server.post("/office/hamlets/h-plei", Some(&me.cookie), &form).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name:?} {adults:?} {baseline:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{name:?} {adults:?} {baseline:?} should say {message}");
    }
    // A hamlet the commune does not have.
    let form = [("csrf", me.csrf.as_str()), ("name", "Thôn X"), ("adult_population", "10"), ("baseline_signed", "1")];
    assert_eq!(
        server.post("/office/hamlets/h-khong-co", Some(&me.cookie), &form).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.snapshot(), before, "nothing changed");

    // Numbers as an office writes them, with a thousands dot and spaces.
    let form = [
        ("csrf", me.csrf.as_str()),
        ("name", " Làng Plei Rơng "),
        ("adult_population", "1.200"),
        ("baseline_signed", " 150 "),
    ];
    let res = server.post("/office/hamlets/h-plei", Some(&me.cookie), &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đã lưu."));
    let h = server.db.commune(COMMUNE).unwrap().hamlet("h-plei").cloned().unwrap();
    assert_eq!((h.name.as_str(), h.adult_population, h.baseline_signed), ("Làng Plei Rơng", 1200, 150));
    let report = server.db.coverage_report(COMMUNE).unwrap();
    let cov = plei(&report);
    assert_eq!((cov.adult_population, cov.baseline_signed, cov.helped_signed, cov.signed), (1200, 150, 2, 152));
    // More than 50% of 1,200 is 601: 449 still needed.
    assert_eq!((cov.still_needed, cov.reached), (449, false));
    assert_eq!(report.total.adult_population, 412 + 538 + 655 + 1200 + 720);
    assert_eq!(server.last_audit(), ("hamlet.update".into(), "h-plei: 1200 adults, 150 baseline".into()));
    // The coverage page shows the new figures.
    let html = server.get("/office", Some(&me.cookie)).await.text().await.unwrap();
    let row = coverage_row(&html, "h-plei");
    for cell in ["<td>1.200</td>", "<td>150</td>", "<td>2</td>", "<td>152</td>", "12,7%", "<td>449</td>"] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    assert!(html.contains(&vn_share(report.total.percent)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_accepts_one_to_a_hundred_percent_and_moves_what_is_still_needed() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let before = server.snapshot();
    for value in ["0", "101", "năm mươi", "", "-5", "50.5"] {
        let res = server
            .post("/office/target", Some(&me.cookie), &[("csrf", me.csrf.as_str()), ("target_percent", value)])
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{value:?}");
        assert!(res.text().await.unwrap().contains(TARGET_RANGE), "{value:?}");
    }
    assert_eq!(server.snapshot(), before);
    let res =
        server.post("/office/target", Some(&me.cookie), &[("csrf", me.csrf.as_str()), ("target_percent", "60")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report = server.db.coverage_report(COMMUNE).unwrap();
    assert_eq!(report.target_percent, 60);
    // Hoà Bình: 655 adults, 301 signed; more than 60% is 394.
    let hoa_binh = report.rows.iter().find(|r| r.hamlet_id == "h-hoabinh").unwrap();
    assert_eq!(hoa_binh.still_needed, 394 - 301);
    assert_eq!(server.last_audit(), ("target.update".into(), "60%".into()));
    let html = server.get("/office", Some(&me.cookie)).await.text().await.unwrap();
    assert!(html.contains("<strong>60%</strong>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_hamlet_csv_from_excel_updates_and_adds_hamlets() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let mut expected = server.db.commune(COMMUNE).unwrap();
    // Excel's "CSV UTF-8" in a Vietnamese locale: a byte-order mark, `;`, CRLF, thousands dots.
    let csv = "\u{feff}ma;ten;dan_so;da_co_chu_ky\r\nh-plei;Làng Plei Rơng;1.250;60\r\nh-dakmoi;Thôn Đăk Mới;480;0\r\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đã nhập thôn: 2"));
    let plei = expected.hamlets.iter_mut().find(|h| h.id == "h-plei").unwrap();
    (plei.adult_population, plei.baseline_signed) = (1250, 60);
    expected.hamlets.push(Hamlet {
        id: "h-dakmoi".into(),
        name: "Thôn Đăk Mới".into(),
        adult_population: 480,
        baseline_signed: 0,
    });
    assert_eq!(server.db.commune(COMMUNE).unwrap(), expected);
    assert_eq!(server.last_audit(), ("hamlet.import".into(), "2 rows".into()));
    let report = server.db.coverage_report(COMMUNE).unwrap();
    assert_eq!(report.rows.len(), 6);
    assert_eq!(report.total.adult_population, 412 + 538 + 655 + 1250 + 720 + 480);

    // Headers as typed with their diacritics, and the English names with `,`, no BOM.
    let csv = "Mã;Tên;Dân số;Đã có chữ ký\nh-tdp1;Tổ dân phố 1;730;390\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = "id,name,adult_population,baseline_signed\nh-hoabinh,Thôn Hòa Bình,660,302\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r = server.db.commune(COMMUNE).unwrap();
    assert_eq!(r.hamlet("h-tdp1").map(|h| (h.adult_population, h.baseline_signed)), Some((730, 390)));
    assert_eq!(r.hamlet("h-hoabinh").map(|h| (h.adult_population, h.baseline_signed)), Some((660, 302)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_hamlet_csv_is_refused_whole_with_every_bad_row_listed() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let before = server.snapshot();
    // Row 2 is good, row 3 has a word for a number, row 4 more signed than adults.
    let csv = "\u{feff}ma;ten;dan_so;da_co_chu_ky\r\nh-plei;Làng Plei Rơng;1.250;60\r\n\
               h-a;Thôn A;nhiều;10\r\nh-b;Thôn B;50;80\r\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains(IMPORT_FAILED), "{html}");
    assert!(html.contains(&format!("<li>Dòng 3: {NOT_A_COUNT}</li>")), "{html}");
    assert!(html.contains(&format!("<li>Dòng 4: {BELOW_BASELINE}</li>")), "{html}");
    assert!(!html.contains("Dòng 2"), "{html}");
    // Missing columns, an empty file; a file that is not UTF-8 says so instead.
    let bad: [(&[u8], &str); 4] = [
        ("\u{feff}ma;ten;dan_so\r\nh-plei;Làng Plei Rơng;1.250\r\n".as_bytes(), HEADER_MISSING),
        ("ten;dan_so;da_co_chu_ky\nLàng Plei Rơng;1250;60\n".as_bytes(), HEADER_MISSING),
        (b"", HEADER_MISSING),
        (b"ma;ten;dan_so;da_co_chu_ky\nh-plei;L\xe0ng;1250;60\n", "Tệp không phải UTF-8"),
    ];
    for (csv, says) in bad {
        let res = server.import(Some(&me.cookie), Some(&me.csrf), csv).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(csv));
        let html = res.text().await.unwrap();
        assert!(html.contains(IMPORT_FAILED) && html.contains(says), "{html}");
    }
    assert_eq!(server.snapshot(), before, "nothing imported, nothing logged");
}

// ---- activity period, logout --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_with_impossible_or_reversed_dates_gets_400_with_the_message_and_presets_pick_their_period() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let cookie = Some(me.cookie.as_str());
    let bad = [
        "from=2026-13-01&to=2026-11-20",
        "from=2026-11-20&to=2026-11-01",
        "from=2026-02-30&to=2026-03-01",
        "from=20%2F11%2F2026&to=2026-11-20",
        "from=2000-01-01&to=2026-11-20",
    ];
    for query in bad {
        let res = server.get(&format!("/office/activity?{query}"), cookie).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        let html = res.text().await.unwrap();
        assert!(html.contains(BAD_DATES), "{query}");
        assert!(html.contains("data-testid=\"period-error\""));
        for path in ["/office/export/activity.xlsx", "/office/export/activity.csv", "/office/print"] {
            let res = server.get(&format!("{path}?{query}"), cookie).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}?{query}");
            assert!(res.text().await.unwrap().contains(BAD_DATES));
        }
    }
    let res = server.get("/office/activity?from=2026-11-01&to=2026-11-20", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Kỳ báo cáo: 01/11/2026 – 20/11/2026"));

    // The office's days are Vietnam's (UTC+7), whatever the machine's time zone.
    let today = sotay_server::asof::vn_today();
    let jan1 = day(today.year(), 1, 1);
    let presets = [
        ("unit", jan1, day(today.year(), 11, 15)),
        ("commune", jan1, day(today.year(), 11, 20)),
        ("month", day(today.year(), today.month(), 1), today),
        ("year", jan1, today),
    ];
    for (preset, from, to) in presets {
        let res = server.get(&format!("/office/activity?preset={preset}"), cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "{preset}");
        let html = res.text().await.unwrap();
        let lead = format!("Kỳ báo cáo: {} – {}", from.format("%d/%m/%Y"), to.format("%d/%m/%Y"));
        assert!(html.contains(&lead), "{preset}: {lead}");
        let export = format!("/office/export/activity.xlsx?from={}&amp;to={}", from, to);
        assert!(html.contains(&export), "{preset}: {export}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_and_the_old_cookie_is_refused_afterwards() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let other = server.login().await;
    let res = server.post("/office/logout", Some(&me.cookie), &[("csrf", me.csrf.as_str())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/office/login");
    assert_eq!(session_cookie(&res).as_deref(), Some(""), "the browser is told to drop the cookie");
    assert!(res.headers().get(SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(server.last_audit(), ("logout".into(), String::new()));
    let before = server.snapshot();
    // A browser that kept the cookie anyway gets nothing.
    for path in ["/office", "/office/hamlets", "/office/export/coverage.xlsx"] {
        let res = server.get(path, Some(&me.cookie)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), "/office/login");
    }
    let res =
        server.post("/office/target", Some(&me.cookie), &[("csrf", me.csrf.as_str()), ("target_percent", "80")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.snapshot(), before);
    // Only that session ended.
    assert_eq!(server.get("/office", Some(&other.cookie)).await.status(), StatusCode::OK);
}

// ---- the reports against an independent computation ---------------------------------------

/// What the server should hold for one record: its latest version and whether any applied
/// version voided it (a void always wins, see `ServerDb::apply_push`).
struct Final {
    device: usize,
    record: WireRecord,
    voided: bool,
}

/// The final state of every record, kept by applying each push as the protocol says.
#[derive(Default)]
struct Model {
    records: HashMap<Uuid, Final>,
    /// Records erased on request.
    erased: HashSet<Uuid>,
    /// ID hash of an erased person → the placeholder their records count under.
    erased_people: HashMap<String, String>,
}

impl Model {
    fn apply(&mut self, device: usize, r: &WireRecord) -> Applied {
        match self.records.get_mut(&r.id) {
            None => {
                let mut record = r.clone();
                // A person erased before: a record of theirs that arrives only now is erased
                // too and counts under their placeholder (every test record was saved
                // before any erasure).
                if let Some(placeholder) = id_hash(&record.body).and_then(|h| self.erased_people.get(h)) {
                    set_id_hash(&mut record.body, placeholder.clone());
                    self.erased.insert(r.id);
                }
                self.records.insert(r.id, Final { device, record, voided: r.voided });
                Applied::Applied
            }
            Some(f) if f.device != device => Applied::Rejected,
            Some(f) if r.version == f.record.version => Applied::Duplicate,
            Some(f) if r.version < f.record.version => Applied::Stale,
            Some(f) => {
                f.voided |= r.voided;
                let mut record = r.clone();
                // An erased record stays erased, whatever person a later version names, and
                // keeps counting as its placeholder person (or as no one, if it had no ID).
                if self.erased.contains(&r.id) {
                    if let Body::SignatureHelp(s) = &mut record.body {
                        s.person = match &f.record.body {
                            Body::SignatureHelp(old) if id_hash(&f.record.body).is_some() => old.person.clone(),
                            _ => None,
                        };
                    }
                }
                f.record = record;
                Applied::Applied
            }
        }
    }

    fn live(&self) -> impl Iterator<Item = &WireRecord> {
        self.records.values().filter(|f| !f.voided).map(|f| &f.record)
    }
}

/// Replaces the citizen-ID hash of a signature session's person (an erasure's placeholder).
fn set_id_hash(body: &mut Body, hash: String) {
    if let Body::SignatureHelp(SignatureHelp { person: Some(p), .. }) = body {
        p.cid_hash = Some(hash);
    }
}

/// The citizen-ID hash of a signature session, if it has one.
fn id_hash(body: &Body) -> Option<&str> {
    match body {
        Body::SignatureHelp(SignatureHelp { person: Some(p), .. }) => p.cid_hash.as_deref(),
        _ => None,
    }
}

fn succeeded(body: &Body) -> bool {
    matches!(body, Body::SignatureHelp(s) if s.outcome != Outcome::NotCompleted)
}

fn coverage_line(id: &str, name: &str, adults: u32, baseline: u32, helped: u32, target: u32) -> CoverageRow {
    let signed = (baseline + helped).min(adults);
    let percent = if adults == 0 { 0.0 } else { 100.0 * signed as f64 / adults as f64 };
    // The target is *more than* target%: the smallest whole count above it.
    let target_count = (adults as u64 * target as u64 / 100 + 1).min(adults as u64) as u32;
    let still_needed = target_count.saturating_sub(signed);
    CoverageRow {
        hamlet_id: id.into(),
        name: name.into(),
        adult_population: adults,
        baseline_signed: baseline,
        helped_signed: helped,
        signed,
        percent,
        still_needed,
        reached: adults > 0 && still_needed == 0,
    }
}

/// Coverage by the counting rule of `server::reports`, in plain Rust.
fn expected_coverage(model: &Model, r: &ReferenceData) -> CoverageReport {
    let mut helped: HashMap<&str, u32> = HashMap::new();
    // Each person with an ID: the hamlet of their first successful session (time, then id).
    let mut first: HashMap<&str, (NaiveDateTime, Uuid, &str)> = HashMap::new();
    for rec in model.live().filter(|rec| succeeded(&rec.body)) {
        match id_hash(&rec.body) {
            None => *helped.entry(&rec.hamlet_id).or_default() += 1,
            Some(key) => {
                let candidate = (rec.occurred_at, rec.id, rec.hamlet_id.as_str());
                let e = first.entry(key).or_insert(candidate);
                if (candidate.0, candidate.1) < (e.0, e.1) {
                    *e = candidate;
                }
            }
        }
    }
    for (_, _, hamlet) in first.values() {
        *helped.entry(hamlet).or_default() += 1;
    }
    let target = r.commune.target_percent;
    let mut rows: Vec<CoverageRow> = r
        .hamlets
        .iter()
        .map(|h| {
            let n = helped.get(h.id.as_str()).copied().unwrap_or(0);
            coverage_line(&h.id, &h.name, h.adult_population, h.baseline_signed, n, target)
        })
        .collect();
    rows.sort_by(|a, b| b.still_needed.cmp(&a.still_needed).then(a.percent.total_cmp(&b.percent)));
    let sum = |f: fn(&CoverageRow) -> u32| rows.iter().map(f).sum::<u32>();
    let total = coverage_line(
        "",
        &r.commune.name,
        sum(|r| r.adult_population),
        sum(|r| r.baseline_signed),
        sum(|r| r.helped_signed),
        target,
    );
    CoverageReport {
        commune: r.commune.clone(),
        as_of: sotay_server::asof::vn_today(),
        target_percent: target,
        rows,
        total,
    }
}

/// Counts of one group, with the people behind its signature sessions.
#[derive(Default)]
struct Tally {
    counts: ActivityCounts,
    ids: HashSet<String>,
    without_id: u32,
}

impl Tally {
    fn add(&mut self, rec: &WireRecord) {
        let c = &mut self.counts;
        match &rec.body {
            Body::Visit(v) => {
                c.visits += 1;
                c.visit_people += v.people_helped;
                c.person_times += v.people_helped;
            }
            Body::SignatureHelp(s) => {
                c.signature_sessions += 1;
                c.person_times += 1;
                if s.outcome == Outcome::NotCompleted {
                    c.not_completed += 1;
                } else {
                    c.signed += 1;
                    // The breakdowns (`db::breakdowns`), in plain Rust.
                    match s.person.as_ref().map(|p| p.sex) {
                        Some(Sex::Female) => c.signed_women += 1,
                        Some(Sex::Male) => c.signed_men += 1,
                        _ => {}
                    }
                    let group = s.person.as_ref().and_then(|p| p.ethnic_group.as_deref()).map(str::trim);
                    if group.is_some_and(|g| !g.is_empty() && !g.eq_ignore_ascii_case("kinh")) {
                        c.signed_minority += 1;
                    }
                    if id_hash(&rec.body).is_none() {
                        c.signed_anonymous += 1;
                    }
                }
                if s.level_after == AccountLevel::Level2 && s.level_before != AccountLevel::Level2 {
                    c.level2_activations += 1;
                }
                match id_hash(&rec.body) {
                    Some(key) => {
                        self.ids.insert(key.to_owned());
                    }
                    None => self.without_id += 1,
                }
            }
            Body::Training(t) => {
                c.trainings += 1;
                c.attendance += t.total;
                c.women += t.women;
                c.minority += t.ethnic_minority;
                c.person_times += t.total;
            }
            Body::Outreach(_) => c.outreach += 1,
        }
    }

    fn done(mut self) -> ActivityCounts {
        self.counts.signature_people = self.ids.len() as u32 + self.without_id;
        self.counts
    }
}

/// The activity report for `[from, to]` (days, inclusive), in plain Rust.
fn expected_activity(model: &Model, r: &ReferenceData, from: NaiveDate, to: NaiveDate) -> ActivityReport {
    let mut totals = Tally::default();
    let mut hamlets: BTreeMap<String, Tally> = BTreeMap::new();
    let mut volunteers: BTreeMap<String, Tally> = BTreeMap::new();
    let mut outcomes: HashMap<Outcome, u32> = HashMap::new();
    let mut reasons: HashMap<FailureReason, u32> = HashMap::new();
    let mut channels: HashMap<Channel, (u32, u64, u64)> = HashMap::new();
    let weekly = (to - from).num_days() > 62;
    let bucket = |d: NaiveDate| if weekly { d - Days::new(d.weekday().num_days_from_monday() as u64) } else { d };
    let mut over_time: BTreeMap<NaiveDate, TimePoint> = BTreeMap::new();
    let mut d = bucket(from);
    while d <= to {
        over_time.insert(d, TimePoint { start: d, signature_sessions: 0, signed: 0, visits: 0 });
        d = d + Days::new(if weekly { 7 } else { 1 });
    }
    for rec in model.live() {
        let date = rec.occurred_at.date();
        if date < from || date > to {
            continue;
        }
        totals.add(rec);
        hamlets.entry(rec.hamlet_id.clone()).or_default().add(rec);
        volunteers.entry(rec.volunteer_id.clone()).or_default().add(rec);
        let point = over_time.get_mut(&bucket(date)).unwrap();
        match &rec.body {
            Body::Visit(_) => point.visits += 1,
            Body::SignatureHelp(s) => {
                *outcomes.entry(s.outcome).or_default() += 1;
                if let Some(f) = s.failure_reason {
                    *reasons.entry(f).or_default() += 1;
                }
                point.signature_sessions += 1;
                point.signed += succeeded(&rec.body) as u32;
            }
            Body::Outreach(o) => {
                let e = channels.entry(o.channel).or_default();
                e.0 += 1;
                e.1 += o.quantity as u64;
                e.2 += o.reach as u64;
            }
            Body::Training(_) => {}
        }
    }
    let mut by_hamlet: Vec<(String, String, ActivityCounts)> = r
        .hamlets
        .iter()
        .map(|h| (h.id.clone(), h.name.clone(), hamlets.remove(&h.id).map(Tally::done).unwrap_or_default()))
        .collect();
    by_hamlet.extend(hamlets.into_iter().map(|(id, t)| (id.clone(), id, t.done())));
    let mut by_volunteer: Vec<(String, String, ActivityCounts)> = r
        .volunteers
        .iter()
        .filter_map(|v| volunteers.remove(&v.id).map(|t| (v.id.clone(), v.name.clone(), t.done())))
        .collect();
    by_volunteer.extend(volunteers.into_iter().map(|(id, t)| (id.clone(), id, t.done())));
    ActivityReport {
        commune: r.commune.clone(),
        from,
        to,
        totals: totals.done(),
        outcomes: Outcome::ALL.iter().map(|o| (*o, outcomes.get(o).copied().unwrap_or(0))).collect(),
        failure_reasons: FailureReason::ALL.iter().map(|f| (*f, reasons.get(f).copied().unwrap_or(0))).collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| {
                let (activities, quantity, reach) = channels.get(c).copied().unwrap_or_default();
                ChannelRow { channel: c.code().into(), activities, quantity, reach }
            })
            .collect(),
        by_hamlet,
        by_volunteer,
        weekly,
        over_time: over_time.into_values().collect(),
    }
}

const HAMLET_NAMES: [&str; 12] = [
    "Thôn Đăk Pờ Kơng",
    "Làng Kon Braih",
    "Thôn Hòa Bình",
    "Làng Plei Rơng",
    "Tổ dân phố 1",
    "Thôn Kon Klor",
    "Làng Đăk Rơ Wa",
    "Thôn Tân Lập",
    "Làng Kon Jơ Ri",
    "Thôn Ia Ly",
    "Làng Plei Kần",
    "Tổ dân phố 2",
];

/// Twelve hamlets of 250 to 420 adults (about 4,000 in all) with baselines, and nine
/// volunteers; `v-cu` leaves the team once its records are in.
fn generated_reference(rng: &mut StdRng) -> ReferenceData {
    let mut r = demo_reference();
    r.commune.name = "Xã Đăk Rơ Wa".into();
    r.hamlets = HAMLET_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let adults = rng.gen_range(250..=420);
            Hamlet {
                id: format!("h-{:02}", i + 1),
                name: (*name).into(),
                adult_population: adults,
                baseline_signed: rng.gen_range(adults / 10..=adults * 2 / 5),
            }
        })
        .collect();
    let names =
        ["Y Lan", "A Hưng", "Nguyễn Thị Thu", "Trần Văn Minh", "H'Nga", "Y Blir", "Lê Văn Dũng", "Đinh Thị Mai"];
    r.volunteers = names
        .iter()
        .enumerate()
        .map(|(i, n)| Volunteer {
            id: format!("v-{:02}", i + 1),
            name: (*n).into(),
            hamlet_id: Some(format!("h-{:02}", i + 1)),
            lead: i == 0,
        })
        .chain(std::iter::once(Volunteer {
            id: "v-cu".into(),
            name: "A Cũ".into(),
            hamlet_id: Some("h-12".into()),
            lead: false,
        }))
        .collect();
    r
}

/// Generates records of every kind with a fixed seed: people with an ID helped again on
/// other devices and in other hamlets, sessions without an ID or without consent, failures
/// with their reasons, and then edits, voids, retries and stale versions.
/// `n` people with random (well-formed) ID numbers, named "Người i".
fn random_people(rng: &mut StdRng, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (format!("{:03}{:09}", rng.gen_range(1..=96), rng.gen_range(0..1_000_000_000u64)), format!("Người {i}"))
        })
        .collect()
}

struct Generator {
    rng: StdRng,
    people: Vec<(String, String)>,
    hamlets: Vec<String>,
    volunteers: Vec<String>,
    key: TestKey,
}

impl Generator {
    fn new(rng: StdRng, people: Vec<(String, String)>, reference: &ReferenceData, key: TestKey) -> Generator {
        Generator {
            rng,
            people,
            hamlets: reference.hamlets.iter().map(|h| h.id.clone()).collect(),
            volunteers: reference.volunteers.iter().map(|v| v.id.clone()).collect(),
            key,
        }
    }

    fn id(&mut self, at: NaiveDateTime) -> Uuid {
        let millis = at.and_utc().timestamp_millis() as u64 + self.rng.gen_range(0..1000);
        uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.gen()).into_uuid()
    }

    /// A business time in 2026 (a few in the last days of 2025), whole seconds, working hours.
    fn time(&mut self) -> NaiveDateTime {
        let date = if self.rng.gen_bool(0.02) {
            day(2025, 12, self.rng.gen_range(20..=31))
        } else {
            day(2026, 1, 1) + Days::new(self.rng.gen_range(0..365))
        };
        date.and_hms_opt(self.rng.gen_range(7..19), self.rng.gen_range(0..60), self.rng.gen_range(0..60)).unwrap()
    }

    fn hamlet(&mut self) -> String {
        self.hamlets[self.rng.gen_range(0..self.hamlets.len())].clone()
    }

    fn volunteer(&mut self) -> String {
        self.volunteers[self.rng.gen_range(0..self.volunteers.len())].clone()
    }

    fn person(&mut self, with_id: bool) -> Person {
        let i = self.rng.gen_range(0..self.people.len());
        let (cid, name) = self.people[i].clone();
        let mut p = person(&name, with_id.then_some(cid.as_str()), &self.key);
        p.sex = Sex::ALL[i % Sex::ALL.len()];
        p.ethnic_group = [None, Some("Kinh"), Some("Ba Na"), Some("Xơ Đăng")][(i / 3) % 4].map(Into::into);
        p
    }

    fn signature(&mut self) -> Body {
        let who = match self.rng.gen_range(0..100) {
            0..=64 => Some(self.person(true)),
            65..=84 => Some(self.person(false)),
            _ => None,
        };
        let (outcome, reason) = match self.rng.gen_range(0..100) {
            0..=54 => (Outcome::DigitalSignature, None),
            55..=69 => (Outcome::PersonalESignature, None),
            _ => {
                let reasons = FailureReason::ALL;
                (Outcome::NotCompleted, Some(reasons[self.rng.gen_range(0..reasons.len())]))
            }
        };
        let mut body = signature_body(who, outcome, reason);
        // Accounts already at level 2 too (and every sex, Kinh and minority groups or none, in
        // `person`): no further draws, so the mix of records stays what the seed gives.
        if let Body::SignatureHelp(s) = &mut body {
            s.level_before = match s.person.as_ref().map(|p| p.sex) {
                Some(Sex::Female) => AccountLevel::None,
                Some(Sex::Other) => AccountLevel::Level2,
                _ => AccountLevel::Level1,
            };
        }
        body
    }

    fn body(&mut self) -> Body {
        match self.rng.gen_range(0..100) {
            0..=24 => Body::Visit(Visit {
                household: format!("Hộ {}", self.rng.gen_range(1..400)),
                people_helped: self.rng.gen_range(1..=6),
                topics: vec![Topic::Vneid],
                notes: String::new(),
            }),
            25..=79 => self.signature(),
            80..=89 => {
                let total = self.rng.gen_range(5..=60);
                Body::Training(Training {
                    kind: TrainingKind::HamletMeeting,
                    topics: vec![Topic::AvoidScams],
                    total,
                    women: self.rng.gen_range(0..=total),
                    ethnic_minority: self.rng.gen_range(0..=total),
                    trainers: "A Hưng".into(),
                    platform: Platform::BinhDanHocVuSo,
                    platform_other: None,
                })
            }
            _ => Body::Outreach(Outreach {
                channel: Channel::ALL[self.rng.gen_range(0..Channel::ALL.len())],
                quantity: self.rng.gen_range(1..=20),
                reach: self.rng.gen_range(0..=800),
                notes: String::new(),
            }),
        }
    }

    fn record(&mut self) -> WireRecord {
        let at = self.time();
        let (hamlet, volunteer, body) = (self.hamlet(), self.volunteer(), self.body());
        let id = self.id(at);
        let mut r = wire(id, &hamlet, &volunteer, at, body);
        r.saved_at = saved_after(&r);
        r
    }

    /// The next version of a record as a volunteer edits it: another hamlet, day, outcome
    /// or person.
    fn edit(&mut self, r: &WireRecord) -> WireRecord {
        let mut next = r.clone();
        next.version += 1;
        match self.rng.gen_range(0..5) {
            0 => next.hamlet_id = self.hamlet(),
            1 => {
                let shift = self.rng.gen_range(-40i64..=40);
                next.occurred_at += Duration::days(shift);
                // Within a year of the save, as the rule set asks.
                if next.occurred_at < day(2025, 12, 1).and_hms_opt(0, 0, 0).unwrap() {
                    next.occurred_at -= Duration::days(2 * shift);
                }
            }
            2 => next.volunteer_id = self.volunteer(),
            _ => {
                next.body = match &r.body {
                    Body::SignatureHelp(_) => self.signature(),
                    _ => self.body(),
                }
            }
        }
        next.saved_at = saved_after(&next);
        next
    }

    fn void(&mut self, r: &WireRecord) -> WireRecord {
        let mut next = r.clone();
        next.version += 1;
        next.voided = true;
        next.void_reason = Some("Ghi trùng".into());
        next
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_and_their_xlsx_equal_an_independent_computation_of_the_counting_rule() {
    let mut rng = StdRng::seed_from_u64(0x50_7a_20_11);
    let mut reference = generated_reference(&mut rng);
    let server = start(&reference).await;
    let devices: Vec<(Device, TestKey)> = (1..=6).map(|i| enrol(&server.db, &format!("Máy tính bảng {i}"))).collect();
    let key = devices[0].1.clone();
    assert!(devices.iter().all(|(_, k)| k.seal == key.seal), "every device seals to the server's one key");
    let people = random_people(&mut rng, 1500);
    let mut gen = Generator::new(rng, people, &reference, key.clone());
    let mut model = Model::default();
    let mut pushed = 0usize;
    let mut run = |model: &mut Model, phase: Vec<(usize, WireRecord)>| {
        for (d, (device, _)) in devices.iter().enumerate() {
            let mine: Vec<WireRecord> = phase.iter().filter(|(x, _)| *x == d).map(|(_, r)| r.clone()).collect();
            for batch in mine.chunks(500) {
                let expected: Vec<Applied> = batch.iter().map(|r| model.apply(d, r)).collect();
                assert_eq!(push(&server.db, device, batch), expected, "device {d}");
                pushed += batch.len();
            }
        }
    };

    // 1. New records from the six devices.
    let mut originals: Vec<(usize, WireRecord)> = (0..3000).map(|_| (gen.rng.gen_range(0..6), gen.record())).collect();
    // The same person helped at the same minute in two hamlets on two devices: the id decides.
    for i in 0..40 {
        let at = gen.time();
        let who = gen.person(true);
        for d in [i % 6, (i + 1) % 6] {
            let body = signature_body(Some(who.clone()), Outcome::DigitalSignature, None);
            let (hamlet, volunteer) = (gen.hamlet(), gen.volunteer());
            originals.push((d, wire(gen.id(at), &hamlet, &volunteer, at, body)));
        }
    }
    // The edges of the periods checked below, to the second.
    for at in ["2026-01-31T23:59:59", "2026-02-01T00:00:00", "2026-11-15T23:59:59", "2026-11-16T00:00:00"] {
        let at: NaiveDateTime = at.parse().unwrap();
        let body = gen.signature();
        let id = gen.id(at);
        originals.push((0, wire(id, "h-01", "v-01", at, body)));
    }
    run(&mut model, originals.clone());

    // 2. Edits, voids, and edits of edits, each pushed by the device that owns the record.
    let mut edits = Vec::new();
    let mut later = Vec::new();
    for (d, r) in &originals {
        let roll = gen.rng.gen_range(0..100);
        if roll < 20 {
            let v2 = gen.edit(r);
            if roll < 6 {
                later.push((*d, gen.edit(&v2)));
            } else if roll < 9 {
                later.push((*d, gen.void(&v2)));
            }
            edits.push((*d, v2));
        } else if roll < 26 {
            let v2 = gen.void(r);
            // A later edit of a voided record must not bring it back.
            if roll == 25 {
                let mut v3 = gen.edit(&v2);
                (v3.voided, v3.void_reason) = (false, None);
                later.push((*d, v3));
            }
            edits.push((*d, v2));
        }
    }
    run(&mut model, edits.clone());
    run(&mut model, later.clone());

    // 3. Retries after lost replies (duplicates), old versions arriving late (stale), and a
    // device sending an id another device owns (rejected).
    let mut retries: Vec<(usize, WireRecord)> = originals.iter().take(700).cloned().collect();
    retries.extend(edits.iter().take(100).cloned());
    retries.extend(later.iter().map(|(d, r)| (*d, WireRecord { version: r.version - 1, ..r.clone() })));
    retries.extend(originals.iter().take(5).map(|(d, r)| ((d + 1) % 6, WireRecord { version: 9, ..r.clone() })));
    run(&mut model, retries);
    assert!(pushed > 4500, "{pushed} pushed");
    let stored: Vec<(Uuid, i64, bool)> = {
        let mut v: Vec<_> = model.records.iter().map(|(id, f)| (*id, f.record.version, f.voided)).collect();
        v.sort();
        v
    };
    assert_eq!(server.db.record_versions(COMMUNE).unwrap(), stored);
    assert_eq!(server.db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new(), "running totals");

    // A volunteer leaves the team after their records are in: their records still count.
    reference.volunteers.retain(|v| v.id != "v-cu");
    server.db.put_commune(&reference).unwrap();

    // The mix is what it should be, so the comparison below means something.
    let live: Vec<&WireRecord> = model.live().collect();
    let signed_with_id: Vec<&str> =
        live.iter().filter(|r| succeeded(&r.body)).filter_map(|r| id_hash(&r.body)).collect();
    let distinct: HashSet<&str> = signed_with_id.iter().copied().collect();
    assert!(signed_with_id.len() > distinct.len() + 200, "people helped more than once");
    assert!(model.records.values().filter(|f| f.voided).count() > 150);
    let by_device: HashMap<Uuid, usize> = model.records.iter().map(|(id, f)| (*id, f.device)).collect();
    let mut places: HashMap<&str, (HashSet<&str>, HashSet<usize>)> = HashMap::new();
    for r in &live {
        if let Some(k) = id_hash(&r.body) {
            let e = places.entry(k).or_default();
            e.0.insert(&r.hamlet_id);
            e.1.insert(by_device[&r.id]);
        }
    }
    assert!(places.values().filter(|p| p.0.len() > 1).count() > 100, "the same person in several hamlets");
    assert!(places.values().filter(|p| p.1.len() > 1).count() > 100, "the same person on several devices");

    // The reports equal the model, whole.
    let coverage = server.db.coverage_report(COMMUNE).unwrap();
    assert_eq!(coverage, expected_coverage(&model, &reference));
    assert!(coverage.total.helped_signed > 800, "{}", coverage.total.helped_signed);
    let periods = [
        (day(2026, 2, 1), day(2026, 11, 15)),
        (day(2026, 6, 1), day(2026, 6, 30)),
        (day(2026, 1, 1), day(2026, 12, 31)),
        (day(2026, 11, 16), day(2026, 11, 16)),
        // The longest period drawn by day, and the shortest by week.
        (day(2026, 3, 1), day(2026, 5, 2)),
        (day(2026, 3, 1), day(2026, 5, 3)),
    ];
    for (from, to) in periods {
        let report = server.db.activity_report(COMMUNE, from, to).unwrap();
        let expected = expected_activity(&model, &reference, from, to);
        assert_eq!(report.totals, expected.totals, "totals {from}..{to}");
        assert_eq!(report.by_hamlet, expected.by_hamlet, "by hamlet {from}..{to}");
        assert_eq!(report.by_volunteer, expected.by_volunteer, "by volunteer {from}..{to}");
        assert_eq!(report, expected, "{from}..{to}");
    }
    let (from, to) = periods[0];
    let activity = server.db.activity_report(COMMUNE, from, to).unwrap();
    assert!(activity.weekly && activity.totals.signature_sessions > 1000);
    assert_eq!(activity.by_volunteer.last().map(|v| v.1.as_str()), Some("v-cu"), "a former volunteer by id");

    // Through HTTP: the pages and the files say the same.
    let me = server.login().await;
    let cookie = Some(me.cookie.as_str());
    let html = server.get("/office", cookie).await.text().await.unwrap();
    assert!(html.contains(&format!("data-testid=\"commune-percent\">{}</strong>", vn_share(coverage.total.percent))));
    for row in &coverage.rows {
        assert!(coverage_row(&html, &row.hamlet_id).contains(&vn_share(row.percent)));
    }
    let res = server.get("/office/export/coverage.xlsx", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    check_coverage_xlsx(res.bytes().await.unwrap().to_vec(), &coverage);
    let res = server.get(&format!("/office/export/activity.xlsx?from={from}&to={to}"), cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    check_activity_xlsx(res.bytes().await.unwrap().to_vec(), &activity);
    let csv = server.get("/office/export/coverage.csv", cookie).await.bytes().await.unwrap();
    let csv = std::str::from_utf8(&csv).unwrap();
    assert!(csv.starts_with("\u{feff}Số liệu tính đến ngày "), "a BOM so Excel reads the diacritics, then the day");
    assert!(csv.contains("\nThôn;Dân số trưởng thành;"), "`;` between cells for Vietnamese Excel");
    let total = &coverage.total;
    assert!(csv.contains(&format!(
        "Toàn xã;{};{};{};{}",
        total.adult_population, total.baseline_signed, total.helped_signed, total.signed
    )));
}

type Book = Xlsx<Cursor<Vec<u8>>>;

fn sheet(book: &mut Book, name: &str) -> (Range<Data>, StyleRange) {
    let names = book.sheet_names();
    assert!(names.iter().any(|n| n == name), "sheet {name} in {names:?}");
    (book.worksheet_range(name).unwrap(), book.worksheet_style(name).unwrap())
}

fn text(cells: &Range<Data>, at: (u32, u32)) -> String {
    match cells.get_value(at) {
        Some(Data::String(s)) => s.clone(),
        other => panic!("text expected at {at:?}, found {other:?}"),
    }
}

fn number(cells: &Range<Data>, at: (u32, u32)) -> f64 {
    match cells.get_value(at) {
        Some(Data::Float(f)) => *f,
        Some(Data::Int(i)) => *i as f64,
        other => panic!("a number expected at {at:?}, found {other:?}"),
    }
}

fn number_format(styles: &StyleRange, at: (u32, u32)) -> String {
    styles.get(at).and_then(|s| s.number_format.as_ref()).map(|f| f.format_code.clone()).unwrap_or_default()
}

/// A count cell: the number, formatted with thousands separators.
fn assert_count(cells: &Range<Data>, styles: &StyleRange, at: (u32, u32), expected: u64) {
    assert_eq!(number(cells, at), expected as f64, "cell {at:?}");
    assert_eq!(number_format(styles, at), "#,##0", "cell {at:?}");
}

/// A percent cell: a fraction shown with a % format.
fn assert_percent(cells: &Range<Data>, styles: &StyleRange, at: (u32, u32), percent: f64) {
    let value = number(cells, at);
    assert!((value - percent / 100.0).abs() < 1e-12, "cell {at:?}: {value} for {percent}%");
    assert_eq!(number_format(styles, at), "0.0%", "cell {at:?}");
}

fn check_coverage_xlsx(bytes: Vec<u8>, r: &CoverageReport) {
    let mut book: Book = open_workbook_from_rs(Cursor::new(bytes)).expect("a workbook");
    let (cells, styles) = sheet(&mut book, "Do bao phu");
    assert_eq!(text(&cells, (0, 0)), format!("Tỷ lệ người trưởng thành có chữ ký số — {}", r.commune.name));
    assert_eq!(text(&cells, (1, 0)), format!("Mục tiêu: trên {}%", r.target_percent));
    let headers = [
        "Thôn",
        "Dân số trưởng thành",
        "Đã có chữ ký trước",
        "Được hỗ trợ thành công",
        "Có chữ ký số",
        "Tỷ lệ",
        "Còn thiếu để đạt mục tiêu",
    ];
    for (c, h) in headers.iter().enumerate() {
        assert_eq!(text(&cells, (3, c as u32)), *h);
    }
    for (i, line) in r.rows.iter().chain(std::iter::once(&r.total)).enumerate() {
        let row = 4 + i as u32;
        // The last line is the commune's, labelled as on the page.
        let label = if i == r.rows.len() { "Toàn xã" } else { line.name.as_str() };
        assert_eq!(text(&cells, (row, 0)), label);
        for (c, v) in [line.adult_population, line.baseline_signed, line.helped_signed, line.signed].iter().enumerate()
        {
            assert_count(&cells, &styles, (row, 1 + c as u32), *v as u64);
        }
        assert_percent(&cells, &styles, (row, 5), line.percent);
        assert_count(&cells, &styles, (row, 6), line.still_needed as u64);
    }
    assert_eq!(text(&cells, (4 + r.rows.len() as u32, 0)), "Toàn xã", "the commune's line last");
}

fn check_activity_xlsx(bytes: Vec<u8>, r: &ActivityReport) {
    let mut book: Book = open_workbook_from_rs(Cursor::new(bytes)).expect("a workbook");
    let period = format!("Kỳ báo cáo: {} – {}", r.from.format("%d/%m/%Y"), r.to.format("%d/%m/%Y"));
    let (cells, styles) = sheet(&mut book, "Hoat dong");
    assert_eq!(text(&cells, (0, 0)), format!("Kết quả hoạt động — {}", r.commune.name));
    assert_eq!(text(&cells, (1, 0)), period);
    let t = &r.totals;
    let totals = [
        ("Lượt thăm hộ", t.visits),
        ("Người được hỗ trợ tại hộ (lượt)", t.visit_people),
        ("Lượt hỗ trợ chữ ký số", t.signature_sessions),
        ("Số người được hỗ trợ chữ ký số", t.signature_people),
        ("Đăng ký thành công", t.signed),
        ("Chưa hoàn thành", t.not_completed),
        ("Buổi tập huấn, họp", t.trainings),
        ("Người tham dự", t.attendance),
        ("Trong đó nữ", t.women),
        ("Trong đó dân tộc thiểu số", t.minority),
        ("Hoạt động tuyên truyền", t.outreach),
        ("Tổng lượt người", t.person_times),
    ];
    for (i, (label, value)) in totals.iter().enumerate() {
        let row = 3 + i as u32;
        assert_eq!(text(&cells, (row, 0)), *label);
        assert_count(&cells, &styles, (row, 1), *value as u64);
    }
    // Outcomes at rows 16-19, reasons at 21-32, channels at 34-40 (a blank row between).
    assert_eq!(
        [text(&cells, (16, 0)), text(&cells, (16, 1)), text(&cells, (16, 2))],
        ["Kết quả hỗ trợ chữ ký số", "Số lượng", "Tỷ lệ"]
    );
    let outcomes = ["Đã đăng ký chữ ký số", "Đã đăng ký chữ ký điện tử cá nhân", "Chưa hoàn thành"];
    for (i, (_, n)) in r.outcomes.iter().enumerate() {
        let row = 17 + i as u32;
        assert_eq!(text(&cells, (row, 0)), outcomes[i]);
        assert_count(&cells, &styles, (row, 1), *n as u64);
        assert_percent(&cells, &styles, (row, 2), 100.0 * *n as f64 / t.signature_sessions as f64);
    }
    assert_eq!(text(&cells, (21, 0)), "Lý do chưa hoàn thành");
    assert_eq!(text(&cells, (22, 0)), "Không có điện thoại thông minh");
    assert_eq!(text(&cells, (32, 0)), "Lý do khác");
    for (i, (_, n)) in r.failure_reasons.iter().enumerate() {
        let row = 22 + i as u32;
        assert_count(&cells, &styles, (row, 1), *n as u64);
        assert_percent(&cells, &styles, (row, 2), 100.0 * *n as f64 / t.not_completed as f64);
    }
    let channel_headers = ["Hình thức", "Số hoạt động", "Số lượng", "Ước tính người tiếp cận"];
    for (c, h) in channel_headers.iter().enumerate() {
        assert_eq!(text(&cells, (34, c as u32)), *h);
    }
    assert_eq!(text(&cells, (35, 0)), "Loa truyền thanh");
    for (i, ch) in r.channels.iter().enumerate() {
        let row = 35 + i as u32;
        assert_count(&cells, &styles, (row, 1), ch.activities as u64);
        assert_count(&cells, &styles, (row, 2), ch.quantity);
        assert_count(&cells, &styles, (row, 3), ch.reach);
    }
    for (name, first, rows) in [("Theo thon", "Thôn", &r.by_hamlet), ("Theo TNV", "Tình nguyện viên", &r.by_volunteer)]
    {
        let (cells, styles) = sheet(&mut book, name);
        assert_eq!(text(&cells, (0, 0)), period);
        assert_eq!(text(&cells, (2, 0)), first);
        assert_eq!(text(&cells, (2, 1)), "Lượt thăm hộ");
        assert_eq!(text(&cells, (2, 12)), "Tổng lượt người");
        for (i, (_, label, c)) in rows.iter().enumerate() {
            let row = 3 + i as u32;
            assert_eq!(text(&cells, (row, 0)), *label);
            let values = [c.visits, c.signature_people, c.signed, c.person_times];
            for (col, v) in [1u32, 4, 5, 12].into_iter().zip(values) {
                assert_count(&cells, &styles, (row, col), v as u64);
            }
        }
        // One row each, then the commune's total; the code last on each row.
        let total = 3 + rows.len() as u32;
        assert_eq!(text(&cells, (total, 0)), "Toàn xã");
        assert_count(&cells, &styles, (total, 1), r.totals.visits as u64);
        assert_count(&cells, &styles, (total, 12), r.totals.person_times as u64);
        assert_eq!(text(&cells, (2, 13)), "Mã");
        assert_eq!(text(&cells, (3, 13)), rows[0].0, "{name}: the code of the first row");
        assert_eq!(cells.end().map(|(r, _)| r), Some(total), "{name}: one row each and the total");
    }
}

// ---- running totals, coverage on devices ---------------------------------------------------

/// Each hamlet's coverage figure as devices pull it (the newest logged entry; none is 0).
fn pulled_coverage(db: &ServerDb) -> HashMap<String, u32> {
    let (changes, more) = db.pull(COMMUNE, 0, 1_000_000).unwrap();
    assert!(!more);
    changes
        .into_iter()
        .filter_map(|(_, c)| match c {
            sotay::protocol::Change::Coverage { coverage } => Some((coverage.hamlet_id, coverage.helped_signed)),
            _ => None,
        })
        .collect()
}

/// What devices pull agrees with the office's coverage page, hamlet by hamlet.
fn assert_devices_agree(db: &ServerDb) {
    let office = db.coverage_report(COMMUNE).unwrap();
    let pulled = pulled_coverage(db);
    for row in &office.rows {
        assert_eq!(pulled.get(&row.hamlet_id).copied().unwrap_or(0), row.helped_signed, "{}", row.hamlet_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_helped_in_two_hamlets_counts_once_in_the_hamlet_of_the_first_success_for_the_office_and_devices() {
    use sotay::sync::engine::BatchSize;
    use sotay::sync::run_once;

    use super::common::{at, new_record, sealed_signature};
    use super::sync::{enrolled_device, start_server};

    let server = start_server().await;
    let a = enrolled_device(&server).await;
    let b = enrolled_device(&server).await;
    let cid = "051203004567";
    let hoa = |store: &sotay::store::Store| sealed_signature(store, "Y Hoa", cid, Outcome::DigitalSignature);
    // Helped to a signature in Plei on one phone, then the same person again in Hoà Bình an
    // hour later on another.
    a.store.create(new_record("h-plei", at(19, 8), hoa(&a.store))).unwrap();
    let later = b.store.create(new_record("h-hoabinh", at(19, 9), hoa(&b.store))).unwrap();
    let sync_all = || async {
        for d in [&a, &b, &a] {
            run_once(&d.store, &mut BatchSize::default()).await.unwrap();
        }
    };
    sync_all().await;
    let figures = |progress: Vec<(Hamlet, sotay::domain::coverage::Coverage)>| -> HashMap<String, u32> {
        progress.into_iter().map(|(h, c)| (h.id, c.helped_signed)).collect()
    };
    let office = |db: &ServerDb| -> HashMap<String, u32> {
        db.coverage_report(COMMUNE).unwrap().rows.into_iter().map(|r| (r.hamlet_id, r.helped_signed)).collect()
    };
    let expected: HashMap<String, u32> = office(&server.db);
    assert_eq!((expected["h-plei"], expected["h-hoabinh"]), (1, 0), "once, where first helped");
    assert_eq!(server.db.coverage_report(COMMUNE).unwrap().total.helped_signed, 1);
    for d in [&a, &b] {
        assert_eq!(figures(d.store.hamlet_progress().unwrap()), expected, "a device shows the office's figures");
    }
    assert_devices_agree(&server.db);

    // The later session is corrected to the morning before: the person moves to Hoà Bình,
    // and both hamlets' figures reach the devices.
    let seq_before = server.db.pull(COMMUNE, 0, 1_000_000).unwrap().0.last().unwrap().0;
    b.store.update(later.meta.id, 1, "v-lan", "h-hoabinh", at(18, 9), hoa(&b.store)).unwrap();
    sync_all().await;
    let expected = office(&server.db);
    assert_eq!((expected["h-plei"], expected["h-hoabinh"]), (0, 1));
    let logged: Vec<String> = server
        .db
        .pull(COMMUNE, seq_before, 1000)
        .unwrap()
        .0
        .into_iter()
        .filter_map(|(_, c)| match c {
            sotay::protocol::Change::Coverage { coverage } => Some(coverage.hamlet_id),
            _ => None,
        })
        .collect();
    assert_eq!(logged.iter().collect::<HashSet<_>>(), HashSet::from([&"h-plei".to_owned(), &"h-hoabinh".to_owned()]));
    for d in [&a, &b] {
        assert_eq!(figures(d.store.hamlet_progress().unwrap()), expected);
    }

    // Voided, the morning session counts nowhere: back to Plei.
    b.store.void(later.meta.id, 2, "v-lan", "ghi nhầm").unwrap();
    sync_all().await;
    let expected = office(&server.db);
    assert_eq!((expected["h-plei"], expected["h-hoabinh"]), (1, 0));
    for d in [&a, &b] {
        assert_eq!(figures(d.store.hamlet_progress().unwrap()), expected);
    }
    assert_devices_agree(&server.db);
    assert_eq!(server.db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
}

/// The ID hash of a model record's person, if any (the placeholder of an erased one too).
fn model_person(body: &Body) -> Option<String> {
    id_hash(body).map(str::to_owned)
}

#[test]
fn the_running_totals_equal_a_recomputation_after_random_edits_voids_late_arrivals_and_erasures() {
    let mut rng = StdRng::seed_from_u64(0x70_7a_15_11);
    let reference = generated_reference(&mut rng);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let db = ServerDb::open(&path).unwrap();
    db.put_commune(&reference).unwrap();
    let devices: Vec<(Device, TestKey)> = (1..=4).map(|i| enrol(&db, &format!("Máy tính bảng {i}"))).collect();
    let key = devices[0].1.clone();
    // Few people, so the same person comes back often and their first success moves.
    let people = random_people(&mut rng, 150);
    let mut gen = Generator::new(rng, people, &reference, key.clone());
    let mut model = Model::default();
    let mut erased: HashSet<Uuid> = HashSet::new();
    let (mut moved_days, mut erasures) = (0, 0);
    let periods = [
        (day(2026, 1, 1), day(2026, 12, 31)),
        (day(2026, 3, 1), day(2026, 3, 31)),
        (day(2025, 12, 1), day(2026, 6, 30)),
    ];
    for round in 0..12 {
        let mut pushes: Vec<(usize, WireRecord)> = (0..150).map(|_| (gen.rng.gen_range(0..4), gen.record())).collect();
        // Edits, voids, edits of voided records, stale versions and retries of stored ones.
        let stored: Vec<(usize, WireRecord, bool)> =
            model.records.values().map(|f| (f.device, f.record.clone(), f.voided)).collect();
        for (d, r, voided) in stored {
            let mut r = r;
            if erased.contains(&r.id) {
                // The device dropped the person when it pulled the erasure.
                if let Body::SignatureHelp(s) = &mut r.body {
                    (s.person, s.consent) = (None, false);
                }
            }
            match gen.rng.gen_range(0..100) {
                0..=9 => {
                    let next = gen.edit(&r);
                    moved_days += (next.occurred_at.date() != r.occurred_at.date()) as usize;
                    pushes.push((d, next));
                }
                10..=11 => pushes.push((d, gen.void(&r))),
                12 if voided => {
                    let mut next = gen.edit(&r);
                    (next.voided, next.void_reason) = (false, None);
                    pushes.push((d, next));
                }
                13 => pushes.push((d, r.clone())),
                14 if r.version > 1 => pushes.push((d, WireRecord { version: r.version - 1, ..r.clone() })),
                _ => {}
            }
        }
        for (d, (device, _)) in devices.iter().enumerate() {
            let mine: Vec<WireRecord> = pushes.iter().filter(|(x, _)| *x == d).map(|(_, r)| r.clone()).collect();
            for batch in mine.chunks(500) {
                let expected: Vec<Applied> = batch.iter().map(|r| model.apply(d, r)).collect();
                assert_eq!(push(&db, device, batch), expected, "round {round}, device {d}");
            }
        }

        // An office erases a person on request: every session, or only some of them.
        if round % 2 == 1 {
            let live: Vec<String> = model
                .live()
                .filter_map(|r| id_hash(&r.body))
                .filter(|k| !k.starts_with("erased"))
                .map(str::to_owned)
                .collect();
            let hash = live[gen.rng.gen_range(0..live.len())].clone();
            let found: Vec<Uuid> =
                db.find_person(COMMUNE, None, Some(&hash)).unwrap().into_iter().map(|r| r.id).collect();
            assert!(!found.is_empty());
            let chosen: Vec<Uuid> = if round % 4 == 1 {
                found.clone()
            } else {
                found.iter().copied().filter(|_| gen.rng.gen_bool(0.5)).collect()
            };
            let done: HashSet<Uuid> = db.erase(COMMUNE, &chosen, after_every_save()).unwrap().into_iter().collect();
            assert_eq!(done, chosen.iter().copied().collect::<HashSet<_>>());
            erasures += 1;
            // The server keeps the erased sessions one person, under a key of their own (the
            // same one if the person was erased before).
            let placeholder = if chosen.is_empty() {
                String::new()
            } else {
                model.erased_people.entry(hash.clone()).or_insert(format!("erased-{round}")).clone()
            };
            for id in &chosen {
                let f = model.records.get_mut(id).unwrap();
                if let Body::SignatureHelp(s) = &mut f.record.body {
                    let p = s.person.as_mut().unwrap();
                    assert_eq!(p.cid_hash.as_deref(), Some(hash.as_str()));
                    p.cid_hash = Some(placeholder.clone());
                }
                erased.insert(*id);
                model.erased.insert(*id);
            }
            if chosen.len() == found.len() {
                // No record holds the hash any more: neither do the totals.
                let conn = rusqlite::Connection::open(&path).unwrap();
                let held: i64 =
                    conn.query_row("SELECT COUNT(*) FROM people WHERE person_key = ?", [&hash], |r| r.get(0)).unwrap();
                let in_records: i64 =
                    conn.query_row("SELECT COUNT(*) FROM records WHERE person_key = ?", [&hash], |r| r.get(0)).unwrap();
                assert_eq!((held, in_records), (0, 0), "round {round}");
            }
        }

        assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new(), "round {round}");
        assert_eq!(db.coverage_report(COMMUNE).unwrap(), expected_coverage(&model, &reference), "round {round}");
        for (from, to) in periods {
            let report = db.activity_report(COMMUNE, from, to).unwrap();
            assert_eq!(report, expected_activity(&model, &reference, from, to), "round {round}, {from}..{to}");
        }
        assert_devices_agree(&db);
    }
    // The mix did what it should, so the comparisons above mean something.
    assert!(moved_days > 100 && erasures == 6, "{moved_days} moved days, {erasures} erasures");
    assert!(model.records.values().filter(|f| f.voided).count() > 100);
    let signed_people: Vec<String> =
        model.live().filter(|r| succeeded(&r.body)).filter_map(|r| model_person(&r.body)).collect();
    assert!(signed_people.len() > signed_people.iter().collect::<HashSet<_>>().len() + 100, "people helped again");
}

#[test]
fn a_server_file_from_before_the_running_totals_gets_them_from_its_records_and_devices_get_the_new_figures() {
    let mut rng = StdRng::seed_from_u64(0x04_2026);
    let reference = generated_reference(&mut rng);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let db = ServerDb::open(&path).unwrap();
    db.put_commune(&reference).unwrap();
    db.put_account(USER, PASSWORD, COMMUNE, Utc::now()).unwrap();
    let (device, key) = enrol(&db, "Máy tính bảng 1");
    let people =
        (0..300).map(|i| (format!("051{:09}", rng.gen_range(0..1_000_000_000u64)), format!("Người {i}"))).collect();
    let mut gen = Generator::new(rng, people, &reference, key);
    let records: Vec<WireRecord> = (0..1500).map(|_| gen.record()).collect();
    push(&db, &device, &records);
    let edits: Vec<WireRecord> =
        records.iter().step_by(7).map(|r| if r.id.as_u128() % 3 == 0 { gen.void(r) } else { gen.edit(r) }).collect();
    push(&db, &device, &edits);
    for _ in 0..2 {
        let _ = db.login("khong-co-ai", "sai", Utc::now()).unwrap();
        let _ = db.login(USER, "sai", Utc::now()).unwrap();
    }
    let year = (day(2026, 1, 1), day(2026, 12, 31));
    let coverage = db.coverage_report(COMMUNE).unwrap();
    let activity = db.activity_report(COMMUNE, year.0, year.1).unwrap();
    drop(db);

    // The file as schema 3 left it: no totals, the old index and lock-out columns, and the
    // coverage devices were told by the old rule (a person in every hamlet they were helped in).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(super::units::UNDO_MIGRATIONS_10_TO_12).unwrap();
    conn.execute_batch(
        "DROP TABLE people; DROP TABLE activity_days; DROP TABLE activity_choices; DROP TABLE people_days;
         DROP TABLE coverage_people; DROP TABLE coverage_hamlets; DROP TABLE login_failures;
         CREATE INDEX records_signed ON records (commune, hamlet_id, person_key) WHERE signed = 1 AND voided = 0;
         ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE accounts ADD COLUMN locked_until TEXT;
         UPDATE accounts SET failed_logins = 2;
         DELETE FROM change_log WHERE key LIKE 'coverage:%';
         DROP TABLE erased_people; ALTER TABLE records DROP COLUMN erased;
         DROP TABLE device_volunteers; ALTER TABLE change_log DROP COLUMN device;
         ALTER TABLE enrol_codes DROP COLUMN volunteers;
         DROP TABLE coverage_days;
         DROP TABLE retired_hamlets; ALTER TABLE communes DROP COLUMN province; ALTER TABLE communes DROP COLUMN demo;
         ALTER TABLE accounts DROP COLUMN province; ALTER TABLE accounts DROP COLUMN disabled_at;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    let old_rule: Vec<(String, i64)> = conn
        .prepare(
            "SELECT hamlet_id, COUNT(DISTINCT person_key) + COALESCE(SUM(person_key IS NULL), 0) FROM records
             WHERE signed = 1 AND voided = 0 GROUP BY hamlet_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (hamlet, helped) in &old_rule {
        let change =
            serde_json::json!({"type": "coverage", "coverage": {"hamlet_id": hamlet, "helped_signed": helped}});
        conn.execute(
            "INSERT INTO change_log (commune, key, change) VALUES (?, ?, ?)",
            rusqlite::params![COMMUNE, format!("coverage:{hamlet}"), change.to_string()],
        )
        .unwrap();
    }
    drop(conn);
    let old: HashMap<String, u32> = old_rule.iter().map(|(h, n)| (h.clone(), *n as u32)).collect();

    let db = ServerDb::open(&path).unwrap();
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    assert_eq!(db.coverage_report(COMMUNE).unwrap(), coverage);
    assert_eq!(db.activity_report(COMMUNE, year.0, year.1).unwrap(), activity);
    let pulled = pulled_coverage(&db);
    assert!(pulled != old, "the old rule counted people in several hamlets");
    assert_devices_agree(&db);
    // Failures counted before the upgrade still count: the third locks.
    assert!(matches!(db.login(USER, "sai", Utc::now()).unwrap(), Err(LoginError::Locked { .. })));
    // And the totals go on from there.
    let more: Vec<WireRecord> = (0..300).map(|_| gen.record()).collect();
    push(&db, &device, &more);
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    assert_devices_agree(&db);
}
