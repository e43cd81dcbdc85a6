//! The commune's units and their reports (`db::units`, `office::units`, `office::unit_lead`):
//! each record keeps the unit it was made under; a unit account sees its own unit's counts
//! only; a report goes draft → submitted → returned → submitted → accepted and cannot change
//! once accepted; the commune's report sums what the counted reports entered; every new form
//! checks the CSRF token and the commune; an existing database upgrades.

use chrono::{NaiveDate, TimeZone, Utc};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use sotay::domain::*;
use sotay::protocol::{DeviceReport, WireRecord};
use sotay_server::db::units::{ReportStatus, Timeliness, UnitEntry};
use uuid::Uuid;

use super::common::training;
use super::office::{enrol, person, signature_body, start, wire, Browser, Server};
use super::report_docx::docx_text;
use super::sync::{demo_reference, COMMUNE};

/// What server migrations 10 (units), 11 (breakdowns), 12 (the plan) and 13 (each commune's
/// own change numbers) added, taken out again: for the tests that turn a database back into
/// an older schema's.
pub(super) const UNDO_MIGRATIONS_10_TO_13: &str = "
    CREATE TABLE change_log_old (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, commune TEXT NOT NULL, key TEXT NOT NULL, change TEXT NOT NULL,
        device TEXT
    ) STRICT;
    INSERT INTO change_log_old (seq, commune, key, change, device) SELECT seq, commune, key, change, device FROM change_log;
    DROP TABLE change_log; ALTER TABLE change_log_old RENAME TO change_log;
    CREATE UNIQUE INDEX change_log_key ON change_log (commune, key);
    DROP TABLE change_counters;
    DROP TABLE unit_reports; DROP TABLE unit_volunteers; DROP TABLE unit_deadlines; DROP TABLE units;
    DROP INDEX records_by_unit; ALTER TABLE records DROP COLUMN unit; ALTER TABLE devices DROP COLUMN unit;
    ALTER TABLE accounts DROP COLUMN unit;
    ALTER TABLE records DROP COLUMN person_sex; ALTER TABLE records DROP COLUMN person_minority;
    ALTER TABLE records DROP COLUMN level2;
    ALTER TABLE activity_days DROP COLUMN signed_women; ALTER TABLE activity_days DROP COLUMN signed_men;
    ALTER TABLE activity_days DROP COLUMN signed_minority; ALTER TABLE activity_days DROP COLUMN signed_no_key;
    ALTER TABLE activity_days DROP COLUMN level2;
    DROP TABLE plan_targets; DROP TABLE plan_milestones;";

const LEAD: &str = "lanhdao.congan";
const LEAD_PASSWORD: &str = "Cong-an-xa-2026";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn entry(n: u32, narrative: &str) -> UnitEntry {
    UnitEntry {
        staff_registered: n,
        staff_completed: n - 1,
        people_registered: 10 * n,
        people_completed: 5 * n,
        media_items: n + 2,
        meetings: n,
        meeting_reach: 30 * n,
        narrative: narrative.into(),
    }
}

/// Logs a user in through the form; the session cookie and the CSRF token of `page`.
async fn login_as(server: &Server, user: &str, password: &str, page: &str) -> Browser {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = super::consent::post_login(&http, &server.url, user, password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {user}");
    let token = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("sotay_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let cookie = format!("sotay_session={token}");
    let html = server.get(page, Some(&cookie)).await.text().await.unwrap();
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = html.find(FIELD).expect("a CSRF field") + FIELD.len();
    Browser { cookie, csrf: html[at..].split('"').next().unwrap().to_owned() }
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

fn this_year() -> i32 {
    chrono::Datelike::year(&sotay_server::vn_time::vn_day(Utc::now()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_keep_the_unit_they_were_made_under_and_the_commune_report_sums_the_counted_unit_reports() {
    let server = start(&demo_reference()).await;
    let db = &server.db;
    let now = Utc::now();
    let team = db.put_unit(COMMUNE, "TCN-PLEI", "Tổ công nghệ số thôn Plei Rơng", "team", now).unwrap();
    let police = db.put_unit(COMMUNE, "CA", "Công an xã", "police", now).unwrap();
    let centre = db.put_unit(COMMUNE, "TTVH", "Trung tâm Văn hóa - Thể thao - Thông tin", "centre", now).unwrap();
    let (device, key) = enrol(db, "Máy tổ Plei");
    let year = this_year();
    let at = |d: u32| day(year, 1, d).and_hms_opt(9, 0, 0).unwrap();
    // A record pushed before any unit: adopted by the unit Lan is then put in.
    let early = wire(Uuid::now_v7(), "h-plei", "v-lan", at(2), training(20));
    db.apply_push(&device, &DeviceReport::default(), std::slice::from_ref(&early), now).unwrap();
    assert_eq!(db.set_volunteer_unit(COMMUNE, "v-lan", Some(team)).unwrap(), 1, "one record adopted");
    db.set_device_unit(COMMUNE, &device.id, Some(police)).unwrap();
    let signed = |n: u32, volunteer: &str| {
        let who = person(&format!("Y {n}"), Some(&format!("05117500001{n}")), &key);
        let mut r = wire(
            Uuid::now_v7(),
            "h-plei",
            volunteer,
            at(3 + n),
            signature_body(Some(who), Outcome::DigitalSignature, None),
        );
        if let Body::SignatureHelp(s) = &mut r.body {
            let p = s.person.as_mut().unwrap();
            p.cid_hash = None;
            p.cid_key_id = None;
        }
        r
    };
    // Lan's records go to her unit; Hưng has none, so his go to the device's.
    let lan = signed(1, "v-lan");
    let hung = signed(2, "v-hung");
    db.apply_push(&device, &DeviceReport::default(), &[lan.clone(), hung], now).unwrap();
    // Lan moves to the police: her earlier records stay with the team, even when a later
    // version of one arrives; her new ones go to the police.
    db.set_volunteer_unit(COMMUNE, "v-lan", Some(police)).unwrap();
    let mut edited = lan.clone();
    edited.version = 2;
    let after_move = signed(3, "v-lan");
    db.apply_push(&device, &DeviceReport::default(), &[edited, after_move], now).unwrap();
    let (from, to) = (day(year, 1, 1), day(year, 12, 31));
    let t = db.unit_figures(COMMUNE, team, from, to).unwrap();
    let p = db.unit_figures(COMMUNE, police, from, to).unwrap();
    assert_eq!((t.trainings, t.attendance, t.women, t.signature_sessions, t.signed), (1, 20, 10, 1, 1));
    assert_eq!((p.trainings, p.signature_sessions, p.signed), (0, 2, 2));
    assert_eq!(db.unit_figures(COMMUNE, centre, from, to).unwrap(), Default::default());
    assert!(db.totals_mismatches(COMMUNE).unwrap().is_empty());

    // Reports: the team's accepted, the police's submitted, the centre's only a draft.
    let now = Utc.with_ymd_and_hms(year, 1, 20, 3, 0, 0).unwrap();
    db.save_unit_report(team, year, &entry(4, "Tổ đã đến 40 hộ."), true, now).unwrap().unwrap();
    db.accept_unit_report(team, year, now).unwrap().unwrap();
    db.save_unit_report(police, year, &entry(2, "Lồng ghép tại 2 cuộc họp."), true, now).unwrap().unwrap();
    db.save_unit_report(centre, year, &entry(50, "Bản nháp."), false, now).unwrap().unwrap();
    let (sum, counted, total) = db.units_entered(COMMUNE, year).unwrap();
    assert_eq!((counted, total), (2, 3));
    assert_eq!(sum.numbers(), [6, 4, 60, 30, 10, 6, 180]);

    let me = server.login().await;
    let today = sotay_server::vn_time::vn_day(Utc::now()).format("%Y-%m-%d");
    let res = server.get(&format!("/office/report.docx?from={year}-01-01&date={today}"), Some(&me.cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = docx_text(&res.bytes().await.unwrap());
    for line in [
        "Có 2/3 đơn vị đã gửi báo cáo (2 đơn vị đúng hạn",
        "Theo báo cáo của 2/3 đơn vị: 6 cán bộ, công chức đăng ký học trên nền tảng binhdanhocvuso.gov.vn",
        "4 người hoàn thành; 60 người dân đăng ký học, 30 người hoàn thành.",
        "Các đơn vị đăng 10 tin, bài trên phương tiện thông tin đại chúng và lồng ghép tuyên truyền tại 6 hội nghị, \
         cuộc họp với 180 người tham dự.",
        "- Tổ công nghệ số thôn Plei Rơng: Tổ đã đến 40 hộ.",
        "- Công an xã: Lồng ghép tại 2 cuộc họp.",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(!text.contains("Bản nháp."), "a draft is not counted");
    assert!(!text.contains("đăng ký học: …"), "2.3 is filled in");
    // The sections stay in order: the units' table in 1, media under 2.1, before 2.2.
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?}"));
    assert!(pos("1. Công tác ban hành") < pos("Có 2/3 đơn vị") && pos("Có 2/3 đơn vị") < pos("2.1. Công tác"));
    assert!(pos("2.1. Công tác") < pos("Các đơn vị đăng 10") && pos("Các đơn vị đăng 10") < pos("2.2. Tổ chức"));
    // The print view says the same.
    let html = server.get(&format!("/office/report?from={year}-01-01&date={today}"), Some(&me.cookie)).await;
    assert!(html.text().await.unwrap().contains("Theo báo cáo của 2/3 đơn vị: 6 cán bộ"));
}

#[test]
fn a_report_is_on_time_by_its_first_submission_on_vietnams_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = super::stores::TestStore::new().open(&dir.path().join("s.db"));
    db.put_commune(&demo_reference()).unwrap();
    let u = db.put_unit(COMMUNE, "CA", "Công an xã", "police", Utc::now()).unwrap();
    let v = db.put_unit(COMMUNE, "TT", "Trung tâm", "centre", Utc::now()).unwrap();
    assert_eq!(db.unit_deadline(COMMUNE, 2026).unwrap(), day(2026, 11, 15));
    // 15/11 at 23:30 in Vietnam is 16:30 UTC: still on time. 16/11 00:30 is late.
    let on_time = Utc.with_ymd_and_hms(2026, 11, 15, 16, 30, 0).unwrap();
    let late = Utc.with_ymd_and_hms(2026, 11, 15, 17, 30, 0).unwrap();
    db.save_unit_report(u, 2026, &entry(1, ""), true, on_time).unwrap().unwrap();
    db.save_unit_report(v, 2026, &entry(1, ""), true, late).unwrap().unwrap();
    // Returned and submitted again later: still on time by its first submission.
    db.return_unit_report(u, 2026, "Thiếu số người dân", late).unwrap().unwrap();
    db.save_unit_report(u, 2026, &entry(2, ""), true, late).unwrap().unwrap();
    let deadline = db.unit_deadline(COMMUNE, 2026).unwrap();
    assert_eq!(db.unit_report(u, 2026).unwrap().timeliness(deadline), Timeliness::OnTime);
    assert_eq!(db.unit_report(v, 2026).unwrap().timeliness(deadline), Timeliness::Late);
    assert_eq!(db.unit_report(u, 2025).unwrap().timeliness(deadline), Timeliness::NotSubmitted);
    // The office may move the deadline.
    db.set_unit_deadline(COMMUNE, 2026, day(2026, 11, 16)).unwrap();
    let deadline = db.unit_deadline(COMMUNE, 2026).unwrap();
    assert_eq!(db.unit_report(v, 2026).unwrap().timeliness(deadline), Timeliness::OnTime);
}

/// The office makes a unit, puts a volunteer in it and makes its account, through the pages.
async fn office_with_unit(server: &Server) -> (Browser, i64, i64) {
    let me = server.login().await;
    let c = Some(me.cookie.as_str());
    let csrf = me.csrf.as_str();
    for (code, name, kind) in [("CA", "Công an xã", "police"), ("TCN", "Tổ công nghệ số thôn Plei Rơng", "team")]
    {
        let res =
            server.post("/office/units", c, &[("csrf", csrf), ("code", code), ("name", name), ("kind", kind)]).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let units = server.db.units(COMMUNE).unwrap();
    let (police, team) =
        (units.iter().find(|u| u.code == "CA").unwrap().id, units.iter().find(|u| u.code == "TCN").unwrap().id);
    let res = server
        .post("/office/units/volunteer", c, &[("csrf", csrf), ("volunteer", "v-hung"), ("unit", &police.to_string())])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let form = [("csrf", csrf), ("username", LEAD), ("password", LEAD_PASSWORD), ("unit", &police.to_string())];
    let res = server.post("/office/units/account", c, &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đã tạo tài khoản."));
    // A name already taken is not taken over.
    let res = server
        .post(
            "/office/units/account",
            c,
            &[("csrf", csrf), ("username", "canbo.konbraih"), ("password", LEAD_PASSWORD), ("unit", &team.to_string())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(server.db.login("canbo.konbraih", "Kon Braih 20/11!", Utc::now()).unwrap().unwrap().1.unit.is_none());
    (me, police, team)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_account_sees_its_own_units_counts_only_and_no_page_of_the_commune_office() {
    let server = start(&demo_reference()).await;
    let (_, police, team) = office_with_unit(&server).await;
    let (device, key) = enrol(&server.db, "Máy công an");
    let year = this_year();
    let mut r = wire(
        Uuid::now_v7(),
        "h-plei",
        "v-hung",
        day(year, 1, 5).and_hms_opt(9, 0, 0).unwrap(),
        signature_body(Some(person("Y Bí Mật", Some("051175000099"), &key)), Outcome::DigitalSignature, None),
    );
    if let Body::SignatureHelp(s) = &mut r.body {
        let p = s.person.as_mut().unwrap();
        p.cid_hash = None;
        p.cid_key_id = None;
    }
    let team_record: WireRecord =
        wire(Uuid::now_v7(), "h-plei", "v-lan", day(year, 1, 6).and_hms_opt(9, 0, 0).unwrap(), training(7));
    server.db.set_volunteer_unit(COMMUNE, "v-lan", Some(team)).unwrap();
    server.db.apply_push(&device, &DeviceReport::default(), &[r, team_record], Utc::now()).unwrap();

    let lead = login_as(&server, LEAD, LEAD_PASSWORD, "/office/unit").await;
    let c = Some(lead.cookie.as_str());
    let page = server.get("/office/unit", c).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Công an xã"));
    assert!(!html.contains("Tổ công nghệ số thôn Plei Rơng"), "another unit's name");
    for secret in ["Y Bí Mật", "0099", "A Hưng", "Lan"] {
        assert!(!html.contains(secret), "{secret:?} on the unit's page");
    }
    // One signature session of its own, not the team's training.
    let figures = html.split("data-testid=\"unit-figures\"").nth(1).unwrap();
    assert!(figures.contains("Số lượt hướng dẫn chữ ký số</th><td>1</td>"), "{figures}");
    assert!(figures.contains("Số lớp tập huấn, buổi hướng dẫn</th><td>0</td>"), "{figures}");
    // Every commune office page sends it back to its own.
    for path in [
        "/office",
        "/office/records",
        "/office/units",
        &format!("/office/units/{team}"),
        "/office/audit",
        "/office/report.docx",
        "/office/export/coverage.csv",
        "/office/devices",
        "/office/hamlets",
    ] {
        let res = server.get(path, c).await;
        assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/office/unit".into()), "{path}");
    }
    let res = server
        .post(&format!("/office/units/{team}/accept"), c, &[("csrf", &lead.csrf), ("year", &year.to_string())])
        .await;
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/office/unit".into()));
    assert_ne!(server.get("/office/province", c).await.status(), StatusCode::OK);
    // The office account cannot use the unit's page (it has no unit).
    let office = server.login().await;
    let res = server.get("/office/unit", Some(&office.cookie)).await;
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/office".into()));
    // Its views are audited under the commune.
    let log = server.db.audit_log(COMMUNE, 50).unwrap();
    assert!(log
        .iter()
        .any(|(_, who, what, detail)| who == LEAD && what == "unit.view" && detail == &format!("CA {year}")));
    let _ = police;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_submits_the_office_returns_it_with_a_reason_it_resubmits_and_after_acceptance_it_cannot_change() {
    let server = start(&demo_reference()).await;
    let server = &server;
    let (office, police, _) = office_with_unit(server).await;
    let year = this_year().to_string();
    let lead = login_as(server, LEAD, LEAD_PASSWORD, "/office/unit").await;
    let c = Some(lead.cookie.as_str());
    let form = |action: &'static str, staff: &'static str| {
        vec![
            ("csrf", lead.csrf.clone()),
            ("year", year.clone()),
            ("action", action.into()),
            ("staff_registered", staff.into()),
            ("staff_completed", "3".into()),
            ("people_registered", "40".into()),
            ("people_completed", "20".into()),
            ("media_items", "5".into()),
            ("meetings", "2".into()),
            ("meeting_reach", "90".into()),
            ("narrative", "Lồng ghép tại họp dân.".into()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| async move {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        server.post("/office/unit", c, &f).await
    };
    // A wrong figure is refused with what to fix, and nothing is saved.
    let res = post(form("submit", "2")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("Số hoàn thành không được lớn hơn số đăng ký."));
    let res = post(form("submit", "nhiều")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(server.db.unit_report(police, this_year()).unwrap().status, ReportStatus::Draft);
    // Draft, then submit.
    assert_eq!(post(form("save", "4")).await.status(), StatusCode::OK);
    assert_eq!(server.db.unit_report(police, this_year()).unwrap().status, ReportStatus::Draft);
    let res = post(form("submit", "4")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đã gửi báo cáo cho xã."));
    // Submitted: the unit cannot change it.
    let res = post(form("submit", "9")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(server.db.unit_report(police, this_year()).unwrap().entry.staff_registered, 4);
    // The office sees it submitted on time, and returns it; a return needs a reason.
    let oc = Some(office.cookie.as_str());
    let units = server.get(&format!("/office/units?year={year}"), oc).await.text().await.unwrap();
    assert!(units.contains("Đã gửi, chờ xã xem") && units.contains("Đúng hạn"), "{units}");
    let decide = |what: &str, reason: &str| {
        let (path, form) = (
            format!("/office/units/{police}/{what}"),
            [("csrf", office.csrf.clone()), ("year", year.clone()), ("reason", reason.to_owned())],
        );
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            server.post(&path, oc, &f).await
        }
    };
    assert_eq!(decide("return", "  ").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(decide("return", "Thiếu số người dân hoàn thành.").await.status(), StatusCode::OK);
    let page = server.get("/office/unit", c).await.text().await.unwrap();
    assert!(page.contains("Xã trả lại báo cáo để sửa. Lý do: Thiếu số người dân hoàn thành."));
    // Corrected and submitted again; accepted; then the unit cannot submit, and the
    // office cannot return or accept it again.
    assert_eq!(post(form("submit", "6")).await.status(), StatusCode::OK);
    assert_eq!(decide("accept", "").await.status(), StatusCode::OK);
    assert_eq!(post(form("submit", "7")).await.status(), StatusCode::CONFLICT);
    assert_eq!(post(form("save", "7")).await.status(), StatusCode::CONFLICT);
    assert_eq!(decide("return", "Sửa nữa").await.status(), StatusCode::BAD_REQUEST);
    let r = server.db.unit_report(police, this_year()).unwrap();
    assert_eq!((r.status, r.entry.staff_registered), (ReportStatus::Accepted, 6));
    let log = server.db.audit_log(COMMUNE, 100).unwrap();
    for action in ["unit.report.submit", "unit.report.return", "unit.report.accept", "unit.put", "unit.account"] {
        assert!(log.iter().any(|(_, _, what, _)| what == action), "{action} audited");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_units_form_refuses_a_wrong_csrf_token_and_another_communes_unit_changing_nothing() {
    let server = start(&demo_reference()).await;
    let (office, police, _) = office_with_unit(&server).await;
    let year = this_year().to_string();
    let lead = login_as(&server, LEAD, LEAD_PASSWORD, "/office/unit").await;
    server.db.save_unit_report(police, this_year(), &entry(3, "x"), true, Utc::now()).unwrap().unwrap();
    // A unit of another commune on the same server.
    let mut other = demo_reference();
    other.commune.code = "23500".into();
    other.commune.name = "Xã Khác".into();
    server.db.put_commune(&other).unwrap();
    let foreign = server.db.put_unit("23500", "CA", "Công an xã Khác", "police", Utc::now()).unwrap();
    server.db.save_unit_report(foreign, this_year(), &entry(3, "x"), true, Utc::now()).unwrap().unwrap();

    let state = || {
        let units = (server.db.units(COMMUNE).unwrap(), server.db.units("23500").unwrap());
        let reports = [police, foreign].map(|u| server.db.unit_report(u, this_year()).unwrap());
        let members =
            (server.db.volunteer_units(COMMUNE).unwrap(), server.db.unit_deadline(COMMUNE, this_year()).unwrap());
        let accounts = server.db.accounts().unwrap().len();
        format!("{units:?}{reports:?}{members:?}{accounts}")
    };
    let before = state();
    let p = police.to_string();
    type Case<'a> = (&'a Browser, String, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (&office, "/office/units".into(), vec![("code", "X"), ("name", "X"), ("kind", "other")]),
        (&office, "/office/units/volunteer".into(), vec![("volunteer", "v-lan"), ("unit", &p)]),
        (&office, "/office/units/device".into(), vec![("device", "x"), ("unit", &p)]),
        (&office, "/office/units/account".into(), vec![("username", "moi"), ("password", LEAD_PASSWORD), ("unit", &p)]),
        (&office, "/office/units/deadline".into(), vec![("year", &year), ("deadline", "2026-12-01")]),
        (&office, format!("/office/units/{police}/return"), vec![("year", &year), ("reason", "x")]),
        (&office, format!("/office/units/{police}/accept"), vec![("year", &year)]),
        (
            &lead,
            "/office/unit".into(),
            vec![
                ("year", &year),
                ("action", "save"),
                ("staff_registered", "1"),
                ("staff_completed", "1"),
                ("people_registered", "1"),
                ("people_completed", "1"),
                ("media_items", "1"),
                ("meetings", "1"),
                ("meeting_reach", "1"),
                ("narrative", ""),
            ],
        ),
    ];
    for (who, path, fields) in &cases {
        for csrf in [None, Some("sai")] {
            let mut form = fields.clone();
            if let Some(csrf) = csrf {
                form.push(("csrf", csrf));
            }
            let res = server.post(path, Some(&who.cookie), &form).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
        }
        // Without a session: the login page.
        let res = server.post(path, None, fields).await;
        assert_eq!(location(&res), "/office/login", "{path}");
    }
    assert_eq!(state(), before, "nothing changed");
    // Another commune's unit cannot be reached, decided, joined or given an account.
    let oc = Some(office.cookie.as_str());
    let f = foreign.to_string();
    assert_eq!(server.get(&format!("/office/units/{foreign}"), oc).await.status(), StatusCode::NOT_FOUND);
    for what in ["accept", "return"] {
        let res = server
            .post(
                &format!("/office/units/{foreign}/{what}"),
                oc,
                &[("csrf", &office.csrf), ("year", &year), ("reason", "x")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{what}");
    }
    let res = server
        .post("/office/units/volunteer", oc, &[("csrf", &office.csrf), ("volunteer", "v-lan"), ("unit", &f)])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = server
        .post(
            "/office/units/account",
            oc,
            &[("csrf", &office.csrf), ("username", "ke.gian"), ("password", LEAD_PASSWORD), ("unit", &f)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(state(), before, "nothing changed");
    assert_eq!(server.db.unit_report(foreign, this_year()).unwrap().status, ReportStatus::Submitted);
}

#[test]
fn a_database_of_the_previous_release_upgrades_with_units_and_its_records_under_none() {
    let dir = super::upgrade::previous_release();
    let (db, store) = super::upgrade::previous_release_db(dir.path());
    assert!(db.units(COMMUNE).unwrap().is_empty());
    let u = db.put_unit(COMMUNE, "CA", "Công an xã", "police", Utc::now()).unwrap();
    let (from, to) = (day(2000, 1, 1), day(2100, 1, 1));
    assert_eq!(db.unit_figures(COMMUNE, u, from, to).unwrap(), Default::default(), "old records have no unit");
    // Its office account logs in as the commune's, not a unit's.
    let (_, session) = db.login("canbo", "mat-khau-ban-cu", Utc::now()).unwrap().unwrap();
    assert_eq!(session.unit, None);
    // The demo commune with units and reports can still be removed whole.
    db.save_unit_report(u, 2026, &entry(1, ""), true, Utc::now()).unwrap().unwrap();
    assert!(db.remove_demo("test", Utc::now()).unwrap().is_some());
    let left = store.sql(
        &dir.path().join("sotay-server.db"),
        "SELECT (SELECT COUNT(*) FROM units) + (SELECT COUNT(*) FROM unit_reports)",
    );
    assert_eq!(left, "0");
}
