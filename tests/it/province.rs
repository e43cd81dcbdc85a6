//! The province level over HTTP: a province account sees every commune of its province on
//! the server (coverage per commune against its target with the province total, most
//! still needed first; a commune's hamlets; activity; the communes not syncing; the XLSX of
//! the table) and nothing of another province, whatever address it types; a commune account
//! sees only its commune and none of the province's pages.

use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use chrono::{NaiveDate, Utc};
use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;
use sotay::domain::*;
use sotay::protocol::{Applied, DeviceReport, WireRecord};
use sotay_server::accounts::Scope;
use sotay_server::communes::new_reference;
use sotay_server::db::ServerDb;
use sotay_server::units;
use uuid::Uuid;

use super::consent::{client, csrf_in, post_login};
use super::exhaustion::{serve, Served};
use super::office::session_cookie;

const PROVINCE_USER: &str = "so.khcn.quangngai";
const OTHER_PROVINCE_USER: &str = "so.khcn.hanoi";
const COMMUNE_USER: &str = "canbo.anphu";
const PASSWORD: &str = "Tinh Quang Ngai 2026";

/// Kon Braih (demo hamlets, from `serve`), An Phú and Nghĩa Lộ of Quảng Ngãi (51), and Ba
/// Đình of Hà Nội (01), with records pushed by a device of each.
fn communes(db: &ServerDb) {
    for (code, hamlets) in [
        ("21034", &[("h-a", 200, 20), ("h-b", 100, 90)][..]),
        ("21028", &[("h-c", 400, 100)][..]),
        ("00004", &[("h-d", 300, 10)][..]),
    ] {
        let u = units::unit(code).unwrap();
        let mut r = new_reference(code, u.name, u.province_name);
        r.hamlets = hamlets
            .iter()
            .map(|(id, adults, base)| Hamlet {
                id: (*id).into(),
                name: format!("Thôn {id}"),
                adult_population: *adults,
                baseline_signed: *base,
            })
            .collect();
        r.volunteers = vec![Volunteer {
            id: "v-1".into(),
            name: "Y Một".into(),
            hamlet_id: Some(hamlets[0].0.into()),
            lead: false,
        }];
        db.add_commune(&r, u.province_code, false).unwrap();
    }
    db.put_account_for(PROVINCE_USER, PASSWORD, &Scope::Province("51".into()), Utc::now()).unwrap();
    db.put_account_for(OTHER_PROVINCE_USER, PASSWORD, &Scope::Province("01".into()), Utc::now()).unwrap();
    db.put_account_for(COMMUNE_USER, PASSWORD, &Scope::Commune("21034".into()), Utc::now()).unwrap();
    // Signatures without an ID number: one person each.
    push(db, "21034", "h-a", "v-1", 30);
    push(db, "21028", "h-c", "v-1", 5);
    push(db, "00004", "h-d", "v-1", 7);
}

fn push(db: &ServerDb, commune: &str, hamlet: &str, volunteer: &str, n: usize) {
    let code = db.new_enrol_code(commune, chrono::Duration::hours(1), Utc::now()).unwrap();
    let e = db.enrol(&code, "máy", Utc::now()).unwrap().unwrap();
    let device = db.device_by_token(&e.token).unwrap().unwrap();
    let records: Vec<WireRecord> = (0..n)
        .map(|_| WireRecord {
            id: Uuid::now_v7(),
            version: 1,
            hamlet_id: hamlet.into(),
            volunteer_id: volunteer.into(),
            occurred_at: NaiveDate::from_ymd_opt(2026, 11, 18).unwrap().and_hms_opt(9, 0, 0).unwrap(),
            saved_at: Utc::now(),
            voided: false,
            void_reason: None,
            body: super::common::signature(None, None, Outcome::DigitalSignature),
        })
        .collect();
    let results = db.apply_push(&device, &DeviceReport::default(), &records, Utc::now()).unwrap();
    assert!(results.iter().all(|r| r.result == Applied::Applied), "{results:?}");
}

/// A logged-in browser of any account: (session cookie, the page it lands on).
async fn login(s: &Served, user: &str) -> (String, String) {
    let http = client();
    let res = post_login(&http, &s.url, user, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {user}");
    let cookie = format!("sotay_session={}", session_cookie(&res).expect("a session cookie"));
    let landing = res.headers().get(LOCATION).unwrap().to_str().unwrap().to_owned();
    (cookie, landing)
}

async fn get(s: &Served, cookie: &str, path: &str) -> (StatusCode, String, Option<String>) {
    let res = client().get(format!("{}{path}", s.url)).header(COOKIE, cookie).send().await.unwrap();
    let location = res.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
    (res.status(), res.text().await.unwrap(), location)
}

/// The rows of the province table, in order: (commune code, still needed).
fn rows(page: &str) -> Vec<String> {
    page.split("data-commune=\"").skip(1).map(|r| r.split('"').next().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_account_sees_every_commune_of_its_province_and_no_other() {
    let s = serve(|s| s).await;
    communes(&s.state.db);
    let (cookie, _) = login(&s, PROVINCE_USER).await;

    // The commune office's pages send a province account to its own.
    let (status, _, location) = get(&s, &cookie, "/office").await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/office/province")));

    let (status, page, _) = get(&s, &cookie, "/office/province").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Tỉnh Quảng Ngãi"), "the province's name");
    // The three communes of 51 (Kon Braih's demo among them), most still needed first, then
    // the total; Ba Đình (province 01) nowhere.
    let db = &s.state.db;
    let expected = db.province_coverage("51").unwrap();
    let order: Vec<String> = expected.rows.iter().map(|r| r.hamlet_id.clone()).collect();
    assert_eq!(order.len(), 3);
    assert!(expected.rows.windows(2).all(|w| w[0].still_needed >= w[1].still_needed), "{:?}", expected.rows);
    let mut shown = rows(&page);
    assert_eq!(shown.pop().as_deref(), Some("total"));
    assert_eq!(shown, order);
    assert!(!page.contains("Ba Đình") && !page.contains("00004"), "no commune of another province");
    // The province total sums the communes.
    let total = &expected.total;
    assert_eq!(total.adult_population, expected.rows.iter().map(|r| r.adult_population).sum::<u32>());
    assert_eq!(total.helped_signed, 30 + 5);
    assert!(page.contains(&format!("{:.1}%", total.percent).replace('.', ",")));

    // A commune's hamlets: its own commune, yes; one of another province, as if it did not exist.
    let (status, page, _) = get(&s, &cookie, "/office/province/c/21034").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Thôn h-a") && page.contains("Thôn h-b"));
    for tampered in
        ["/office/province/c/00004", "/office/province/c/99999", "/office/province/c/..%2F00004", "/office/province/c/"]
    {
        let (status, page, _) = get(&s, &cookie, tampered).await;
        assert_ne!(status, StatusCode::OK, "{tampered}");
        assert!(!page.contains("Thôn h-d") && !page.contains("Ba Đình"), "{tampered}");
    }

    // Activity for a period, per commune and in total.
    let (status, page, _) = get(&s, &cookie, "/office/province/activity?from=2026-11-01&to=2026-11-30").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-commune=\"21034\"") && !page.contains("data-commune=\"00004\""));
    let a = db
        .province_activity(
            "51",
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        )
        .unwrap();
    assert_eq!(a.total.signature_sessions, 35);
    assert_eq!(a.rows.len(), 3);

    // The table as XLSX: a line per commune in the page's order, and the total.
    let res = client()
        .get(format!("{}/office/province/export/coverage.xlsx", s.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let cells = book.worksheet_range("Cac xa").unwrap();
    let name = |row: u32| match cells.get_value((row, 0)) {
        Some(Data::String(s)) => s.clone(),
        other => panic!("row {row}: {other:?}"),
    };
    assert_eq!(name(3), "Xã, phường");
    for (i, r) in expected.rows.iter().enumerate() {
        assert_eq!(name(4 + i as u32), r.name);
        assert_eq!(cells.get_value((4 + i as u32, 6)), Some(&Data::Float(r.still_needed as f64)));
    }
    assert_eq!(name(4 + expected.rows.len() as u32), "Toàn tỉnh");

    // The other province's account sees Ba Đình only.
    let (other, _) = login(&s, OTHER_PROVINCE_USER).await;
    let (_, page, _) = get(&s, &other, "/office/province").await;
    assert_eq!(rows(&page), vec!["00004".to_owned(), "total".to_owned()]);
    let (status, _, _) = get(&s, &other, "/office/province/c/21034").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A province account logs out like any other.
    let csrf = csrf_in(&page);
    let res = client()
        .post(format!("{}/office/logout", s.url))
        .header(COOKIE, &other)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get(LOCATION).unwrap(), "/office/login");
    let (status, _, location) = get(&s, &other, "/office/province").await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/office/login")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commune_account_sees_only_its_commune_and_none_of_the_province_pages() {
    let s = serve(|s| s).await;
    communes(&s.state.db);
    let (cookie, _) = login(&s, COMMUNE_USER).await;
    let (status, page, _) = get(&s, &cookie, "/office").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Xã An Phú") && page.contains("Thôn h-a"));
    assert!(!page.contains("Thôn h-c") && !page.contains("Kon Braih"), "another commune's hamlets");
    for path in [
        "/office/province",
        "/office/province/c/21034",
        "/office/province/c/21028",
        "/office/province/activity",
        "/office/province/quiet",
        "/office/province/export/coverage.xlsx",
        "/office/province/print",
        "/office/province/audit",
    ] {
        let (status, page, _) = get(&s, &cookie, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(!page.contains("Thôn h-c") && !page.contains("Nghĩa Lộ"), "{path}");
    }
    // Its exports hold its commune only.
    let (_, page, _) = get(&s, &cookie, "/office/export/coverage.csv").await;
    assert!(page.contains("Thôn h-a") && !page.contains("Thôn h-c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_province_lists_the_communes_whose_devices_have_not_synced_for_n_days() {
    let s = serve(|s| s).await;
    communes(&s.state.db);
    let db = &s.state.db;
    // Nghĩa Lộ's device last synced 10 days ago; An Phú's today; Kon Braih's demo never.
    let ten_days_ago = (Utc::now() - chrono::Duration::days(10)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let sql = format!("UPDATE devices SET last_seen = '{ten_days_ago}' WHERE commune = '21028'");
    s.store.sql(&s.dir.path().join("server.db"), &sql);
    let quiet =
        |days| db.quiet_communes("51", days, Utc::now()).unwrap().into_iter().map(|c| c.code).collect::<Vec<_>>();
    assert_eq!(quiet(7), vec!["23497", "21028"], "never first, then the longest silent");
    assert_eq!(quiet(14), vec!["23497"]);
    let (cookie, _) = login(&s, PROVINCE_USER).await;
    let (status, page, _) = get(&s, &cookie, "/office/province/quiet?days=7").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&page), vec!["23497", "21028"]);
    assert!(page.contains("chưa bao giờ"));
    for bad in ["0", "-3", "x", "99999999999"] {
        let (status, _, _) = get(&s, &cookie, &format!("/office/province/quiet?days={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_values_in_every_province_query_and_path_parameter_never_get_a_server_error() {
    use super::hostile::{enc, odd_values};
    let s = serve(|s| s).await;
    communes(&s.state.db);
    let (cookie, _) = login(&s, PROVINCE_USER).await;
    let (commune, _) = login(&s, COMMUNE_USER).await;
    let mut asked = 0;
    for v in odd_values() {
        let v = enc(&v);
        let mut paths: Vec<String> = [
            "/office/province",
            "/office/province/activity",
            "/office/province/quiet",
            "/office/province/print",
            "/office/province/export/coverage.xlsx",
            "/office/province/export/activity.csv",
            "/office/province/audit",
        ]
        .iter()
        .flat_map(|p| ["from", "to", "preset", "days"].map(|q| format!("{p}?{q}={v}")))
        .collect();
        paths.push(format!("/office/province/c/{v}"));
        paths.push(format!("/office/province/export/{v}"));
        for path in paths {
            let (status, page, _) = get(&s, &cookie, &path).await;
            assert!(!status.is_server_error(), "{status} for {}", &path[..path.len().min(200)]);
            assert!(!page.contains("Ba Đình"), "{path}");
            asked += 1;
        }
        let path = format!("/office/hamlets/{v}/retire");
        let res = client()
            .post(format!("{}{path}", s.url))
            .header(COOKIE, &commune)
            .form(&[("csrf", v.as_str())])
            .send()
            .await
            .unwrap();
        assert!(!res.status().is_server_error(), "{path}");
        asked += 1;
    }
    assert!(asked > 1000, "{asked}");
}
