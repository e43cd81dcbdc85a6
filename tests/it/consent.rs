//! The consent record the office prints, over HTTP with the real router: it needs a session
//! (a GET, so no CSRF token), shows who agreed to what, when, before which volunteer and on
//! which device, with lines to sign; viewing it is audited; an unknown record is a 404; after
//! an erasure it says so and shows no personal detail. Also the records search by name, and
//! the volunteers' team-lead flag that the same office pages edit (form and CSV import).
//!
//! The office client and the test person here are shared with `logs.rs`.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use sotay::domain::validate::{Context, Form};
use sotay::domain::*;
use sotay::store::Store;
use sotay::sync::engine::BatchSize;
use sotay::sync::run_once;
use uuid::Uuid;

use super::sync::{enrolled_device, start_server, COMMUNE};

pub const USER: &str = "canbo.dongy";
pub const PASSWORD: &str = "Đồng ý 2026 / Kon Braih";

/// The person helped in these tests: distinctive, so a leak is found by a plain search.
pub struct TestPerson {
    pub name: &'static str,
    pub phone: &'static str,
    pub cid: &'static str,
}

pub const PERSON: TestPerson =
    TestPerson { name: "Rơ Chăm Thị Huệ Nhung", phone: "0914 270 386", cid: "051190120486" };

impl TestPerson {
    pub fn last4(&self) -> &'static str {
        &self.cid[self.cid.len() - 4..]
    }

    /// The phone as the app stores it.
    pub fn phone_stored(&self) -> String {
        sotay::domain::validate::normalise_phone(self.phone).unwrap()
    }
}

/// A signature-help record as the app's form makes it: validated, the ID number hashed
/// with the device's own key and sealed to the server's (once enrolled), its last four
/// digits kept as the person asked.
pub fn save_signature(store: &Store, p: &TestPerson, consent: bool, hamlet: &str) -> Record {
    let reference = store.reference().unwrap();
    let key = store.cid_key().unwrap();
    let now = chrono::Local::now().naive_local();
    let mut form = Form::blank(RecordKind::SignatureHelp, hamlet, now);
    if let Form::SignatureHelp(f) = &mut form {
        f.consent = consent;
        if consent {
            f.display_name = p.name.into();
            f.birth_year = "1990".into();
            f.sex = Sex::Female.code().into();
            f.ethnic_group = "Xơ Đăng".into();
            f.phone = p.phone.into();
            f.citizen_id = p.cid.into();
            f.keep_last4 = true;
        }
        f.outcome = Some(Outcome::DigitalSignature);
        f.provider = reference.providers.first().cloned().unwrap_or_default();
    }
    let seal = store.seal_key().unwrap();
    let ctx = Context { now, reference: &reference, cid_key: &key, seal_key: seal.as_ref() };
    let valid = form.validate(&ctx).expect("a valid form");
    let volunteer = store.current_volunteer().unwrap().unwrap_or_else(|| "v-lan".into());
    store
        .create(NewRecord {
            hamlet_id: valid.hamlet_id,
            volunteer_id: volunteer,
            occurred_at: valid.occurred_at,
            body: valid.body,
        })
        .unwrap()
}

/// A logged-in office browser: a plain client carrying the session cookie and the CSRF
/// token by hand, following no redirects.
pub struct OfficeClient {
    pub url: String,
    pub http: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The CSRF token a page's forms carry.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// What a browser gets with the login page: the cookie that holds the login form's token
/// (as a `Cookie` header) and the token in the form.
pub async fn login_form(http: &reqwest::Client, url: &str) -> (String, String) {
    let res = http.get(format!("{url}/office/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the login page");
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sotay_login="))
        .and_then(|v| v.split(';').next())
        .expect("a login form cookie")
        .to_owned();
    let html = res.text().await.unwrap();
    const FIELD: &str = "name=\"login_csrf\" value=\"";
    let at = html.find(FIELD).expect("a login form token") + FIELD.len();
    (cookie, html[at..].split('"').next().unwrap().to_owned())
}

/// Posts the login form as a browser does, with the login page's cookie and token.
pub async fn post_login(http: &reqwest::Client, url: &str, user: &str, password: &str) -> reqwest::Response {
    let (cookie, token) = login_form(http, url).await;
    let form = [("username", user), ("password", password), ("login_csrf", token.as_str())];
    http.post(format!("{url}/office/login")).header(COOKIE, cookie).form(&form).send().await.unwrap()
}

impl OfficeClient {
    /// Logs in through the login form and reads the CSRF token off a page.
    pub async fn login(url: &str, user: &str, password: &str) -> OfficeClient {
        let http = client();
        let res = post_login(&http, url, user, password).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "login");
        let token = super::office::session_cookie(&res).expect("a session cookie");
        let mut c =
            OfficeClient { url: url.to_owned(), http, cookie: format!("sotay_session={token}"), csrf: String::new() };
        let (status, page) = c.get("/office/hamlets").await;
        assert_eq!(status, StatusCode::OK);
        c.csrf = csrf_in(&page);
        c
    }

    pub async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.url)).header(COOKIE, &self.cookie).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self.get_raw(path).await;
        (res.status(), res.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        let res = self.http.post(format!("{}{path}", self.url)).header(COOKIE, &self.cookie).form(&fields).send().await;
        let res = res.unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// Uploads a CSV file to an import form (multipart built by hand).
    pub async fn upload(&self, path: &str, csv: &[u8]) -> (StatusCode, String) {
        const BOUNDARY: &str = "----sotay-consent-test-4b1e";
        let mut body = Vec::new();
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n", self.csrf)
                .as_bytes(),
        );
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(csv);
        body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .header(COOKIE, &self.cookie)
            .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }
}

fn last_audit(db: &sotay_server::db::ServerDb) -> (String, String) {
    let (_, _, what, detail) = db.audit_log(COMMUNE, 1).unwrap().remove(0);
    (what, detail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_record_prints_who_agreed_to_what_and_when_and_is_erased_with_the_person() {
    let server = start_server().await;
    server.db.put_account(USER, PASSWORD, COMMUNE, chrono::Utc::now()).unwrap();
    let device = enrolled_device(&server).await;
    let consented = save_signature(&device.store, &PERSON, true, "h-plei");
    let anonymous = save_signature(&device.store, &PERSON, false, "h-plei");
    let visit = device
        .store
        .create(super::common::new_record("h-plei", super::common::at(19, 8), super::common::visit("Nhà A Blưu", 3)))
        .unwrap();
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    let path = format!("/office/records/{}/consent", consented.meta.id);

    // Without a session: to the login page, and nothing audited.
    let audit_before = server.db.audit_log(COMMUNE, 1000).unwrap().len();
    let res = client().get(format!("{}{path}", server.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/office/login");
    assert_eq!(server.db.audit_log(COMMUNE, 1000).unwrap().len(), audit_before);

    // With one: a GET needs no CSRF token.
    let office = OfficeClient::login(&server.url, USER, PASSWORD).await;
    let (status, page) = office.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let statement = sotay::domain::consent::CONSENT_V1.text("vi");
    for expected in [
        "Phiếu ghi nhận sự đồng ý cho lưu thông tin cá nhân",
        "Xã Kon Braih",
        "Làng Plei Rơng",
        PERSON.name,
        "1990",
        &format!("•••• •••• {}", PERSON.last4()),
        &consented.meta.id.to_string(),
        "Y Lan (v-lan)",
        "máy thử",
        "CONSENT_V1",
        statement.title,
        statement.points[0],
        statement.points[3],
        "Người được hỗ trợ (ký, ghi rõ họ tên)",
        "Tình nguyện viên (ký, ghi rõ họ tên)",
        &consented.meta.occurred_at.format("%d/%m/%Y %H:%M").to_string(),
        &sotay_server::asof::vn_time(consented.meta.saved_at),
    ] {
        assert!(page.contains(&maud::html! { (expected) }.into_string()), "the consent record lacks {expected:?}");
    }
    assert!(!page.contains(PERSON.cid), "never the whole ID number");
    assert!(!page.contains(&PERSON.phone_stored()), "the phone is not needed on the form");
    // Printable: the page's stylesheet (served apart, as the content security policy wants)
    // has print rules.
    assert!(page.contains(r#"<link rel="stylesheet" href="/office/style.css">"#), "styled");
    assert!(office.get("/office/style.css").await.1.contains("@media print"), "printable");
    assert_eq!(last_audit(&server.db), ("consent.view".into(), consented.meta.id.to_string()));

    // In English with the office's language.
    let res = office.http.get(format!("{}{path}", server.url)).header(COOKIE, format!("{}; lang=en", office.cookie));
    let page_en = res.send().await.unwrap().text().await.unwrap();
    assert!(page_en.contains("Record of consent to keep personal details"));
    assert!(page_en.contains(sotay::domain::consent::CONSENT_V1.text("en").points[0].split(';').next().unwrap()));

    // Linked from the record page, the records search by name and the erasure search.
    let (_, record_page) = office.get(&format!("/office/records/{}", consented.meta.id)).await;
    assert!(record_page.contains(&format!("href=\"{path}\"")));
    let (status, found) = office.get("/office/records?q=hue+NHUNG").await;
    assert_eq!(status, StatusCode::OK);
    assert!(found.contains(&format!("href=\"{path}\"")), "a name search finds the person, diacritics or not");
    assert!(!found.contains(&format!("/office/records/{}/consent", anonymous.meta.id)));
    assert_eq!(last_audit(&server.db), ("records.find".into(), "1 records".into()));
    let (_, none) = office.get("/office/records?q=Nobody+Here").await;
    assert!(none.contains("data-testid=\"no-records\""));
    let (status, erasure) = office.post("/office/erasure", &[("name", PERSON.name), ("citizen_id", "")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(erasure.contains(&format!("href=\"{path}\"")));
    let (_, by_id) = office.post("/office/erasure", &[("name", ""), ("citizen_id", PERSON.cid)]).await;
    assert!(by_id.contains(&format!("href=\"{path}\"")), "found by ID number too");

    // No consent record where there is none.
    for (missing, message) in [
        (format!("/office/records/{}/consent", Uuid::now_v7()), "Không có trang này."),
        ("/office/records/not-a-uuid/consent".to_owned(), "Không có trang này."),
        (format!("/office/records/{}/consent", visit.meta.id), "Không có trang này."),
        (
            format!("/office/records/{}/consent", anonymous.meta.id),
            "Bản ghi này không có sự đồng ý cho lưu thông tin cá nhân.",
        ),
    ] {
        let audit = server.db.audit_log(COMMUNE, 1000).unwrap().len();
        let (status, page) = office.get(&missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert!(page.contains(message), "{missing}: {page}");
        assert_eq!(server.db.audit_log(COMMUNE, 1000).unwrap().len(), audit, "a 404 is not a viewing");
    }

    // Erased on request: the page stays, says so, and names no one.
    let id = consented.meta.id.to_string();
    let (status, _) = office.post("/office/erasure/erase", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, erased) = office.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(erased.contains("Thông tin cá nhân của người này đã được xoá theo yêu cầu."), "{erased}");
    assert!(erased.contains("CONSENT_V1") && erased.contains("Y Lan"));
    for gone in [PERSON.name, "Huệ", PERSON.last4(), "1990", "(ký, ghi rõ họ tên)"] {
        assert!(!erased.contains(&maud::html! { (gone) }.into_string()), "the erased record still shows {gone:?}");
    }
    assert_eq!(last_audit(&server.db), ("consent.view".into(), id.clone()));
    let (_, record_page) = office.get(&format!("/office/records/{id}")).await;
    assert!(!record_page.contains(&path), "no link to a consent that no longer names anyone");
    // The device gets the erasure too.
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    assert!(matches!(device.store.get(consented.meta.id).unwrap().unwrap().body,
        Body::SignatureHelp(ref s) if s.person.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_lead_is_ticked_in_the_volunteer_form_or_the_csv_import_and_reaches_the_devices() {
    let server = start_server().await;
    server.db.put_account(USER, PASSWORD, COMMUNE, chrono::Utc::now()).unwrap();
    let device = enrolled_device(&server).await;
    let office = OfficeClient::login(&server.url, USER, PASSWORD).await;
    let lead_of = |id: &str| server.db.commune(COMMUNE).unwrap().volunteer(id).map(|v| v.lead);

    // The form: ticked, then saved again without the tick.
    let (status, page) = office
        .post("/office/volunteers", &[("id", "v-moi"), ("name", "Y Moi"), ("hamlet_id", "h-plei"), ("lead", "on")])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-volunteer=\"v-moi\" data-lead=\"1\""), "shown as a lead in the table");
    assert_eq!(lead_of("v-moi"), Some(true));
    assert_eq!(last_audit(&server.db), ("volunteer.put".into(), "v-moi (lead)".into()));
    let (_, page) =
        office.post("/office/volunteers", &[("id", "v-moi"), ("name", "Y Moi"), ("hamlet_id", "h-plei")]).await;
    assert!(page.contains("data-volunteer=\"v-moi\"") && !page.contains("data-volunteer=\"v-moi\" data-lead"));
    assert_eq!(lead_of("v-moi"), Some(false));
    assert_eq!(last_audit(&server.db), ("volunteer.put".into(), "v-moi".into()));
    // Without the CSRF token nothing changes.
    let res = office
        .http
        .post(format!("{}/office/volunteers", server.url))
        .header(COOKIE, &office.cookie)
        .form(&[("id", "v-moi"), ("name", "Y Moi"), ("hamlet_id", "h-plei"), ("lead", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(lead_of("v-moi"), Some(false));

    // The CSV import: the lead column is optional, hamlets by id or name; one bad row refuses all.
    let bad = "ma;ho_ten;thon;to_truong\nv-a;A Một;h-plei;x\nv-b;A Hai;Thôn Không Có;\n".as_bytes();
    let (status, page) = office.upload("/office/volunteers/import", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Dòng 3: thôn không có trong danh sách của xã."), "{page}");
    assert_eq!(lead_of("v-a"), None, "nothing imported");
    let bad_lead = "ma,ho_ten,thon,to_truong\nv-a,A Một,h-plei,maybe\n".as_bytes();
    let (status, page) = office.upload("/office/volunteers/import", bad_lead).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Dòng 2: cột to_truong chỉ nhận"), "{page}");
    let good =
        "\u{feff}ma;ho_ten;thon;to_truong\nv-a;A Một;h-plei;x\nv-b;A Hai;làng plei rơng;\nv-lan;Y Lan;h-dakpokong;Có\n";
    let (status, page) = office.upload("/office/volunteers/import", good.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Đã nhập tình nguyện viên: 3"));
    assert_eq!((lead_of("v-a"), lead_of("v-b"), lead_of("v-lan")), (Some(true), Some(false), Some(true)));
    assert_eq!(server.db.commune(COMMUNE).unwrap().volunteer("v-b").unwrap().hamlet_id.as_deref(), Some("h-plei"));
    assert_eq!(last_audit(&server.db), ("volunteer.import".into(), "3 rows, 2 leads".into()));
    let without = "id,name,hamlet\nv-c,A Ba,h-plei\n";
    let (status, _) = office.upload("/office/volunteers/import", without.as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lead_of("v-c"), Some(false));

    // The device learns who leads at its next pull.
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();
    let on_device = device.store.reference().unwrap();
    assert!(on_device.volunteer("v-a").unwrap().lead && on_device.volunteer("v-lan").unwrap().lead);
    assert!(!on_device.volunteer("v-b").unwrap().lead);
}
