//! The commune office over HTTP, with the real router on 127.0.0.1 and a plain client that
//! carries the session cookie by hand. This module holds the fixture the office tests share
//! (a started server with an office account, a logged-in browser, enrolled devices, records
//! and pushes); the tests are in its submodules, one per part of the office.

mod csrf;
mod login;
mod model;
mod reference;
mod reports;
mod totals;

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
    store: super::stores::TestStore,
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
    let store = super::stores::TestStore::new();
    let db = store.open(&path);
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
    Server { url, db, path, store, http, _dir: dir, task }
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
        let enrol_codes = self.store.sql(&self.path, "SELECT COUNT(*) FROM enrol_codes");
        Snapshot {
            reference: self.db.commune(COMMUNE).unwrap(),
            devices: self.db.devices(COMMUNE).unwrap(),
            audit: self.db.audit_log(COMMUNE, 100_000).unwrap(),
            enrol_codes: enrol_codes.parse().unwrap(),
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
pub(super) fn session_cookie(res: &Response) -> Option<String> {
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
    push_at(db, device, records, after_every_save())
}

/// Pushes as a device does (no ID hash, the sealed number only), the server's clock at `now`.
pub(super) fn push_at(
    db: &ServerDb,
    device: &Device,
    records: &[WireRecord],
    now: chrono::DateTime<Utc>,
) -> Vec<Applied> {
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
    db.apply_push(device, &DeviceReport::default(), &wire, now).unwrap().into_iter().map(|r| r.result).collect()
}

/// The cells of a coverage table row on the page, between `<tr data-hamlet=…>` and `</tr>`.
fn coverage_row(html: &str, hamlet: &str) -> String {
    let start = html.find(&format!("data-hamlet=\"{hamlet}\"")).unwrap_or_else(|| panic!("no row for {hamlet}"));
    let end = start + html[start..].find("</tr>").unwrap();
    html[start..end].to_owned()
}
