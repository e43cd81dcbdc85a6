//! Coverage as of a day, with the server's clock pinned: the figures for 20/11 asked for on
//! 22/11, after late syncs, a void and a person found helped earlier elsewhere, are the ones
//! asked for on 20/11; the pages, print view and exports say which day; a server from
//! before the log starts it from its records.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use sotay::domain::*;
use sotay::protocol::{Applied, WireRecord};
use sotay_server::db::{Device, ServerDb};
use uuid::Uuid;

use super::office::{enrol, person, signature_body, start, wire, TestKey};
use super::sync::{demo_reference, COMMUNE};

/// A moment of Vietnam's day `d` of November 2026 at `hour` (UTC+7).
fn vn(d: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(7 * 3600).unwrap().with_ymd_and_hms(2026, 11, d, hour, 0, 0).unwrap().to_utc()
}

fn nov(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// Pushes as a device does at the pinned time `now`; every record applies.
fn push_at(db: &ServerDb, device: &Device, records: &[WireRecord], now: DateTime<Utc>) {
    let results = super::office::push_at(db, device, records, now);
    assert!(results.iter().all(|r| *r == Applied::Applied), "{results:?}");
}

fn signed(hamlet: &str, day: u32, name: &str, cid: Option<&str>, key: &TestKey) -> WireRecord {
    let who = cid.map(|c| person(name, Some(c), key));
    let at = nov(day).and_hms_opt(9, 0, 0).unwrap();
    wire(Uuid::now_v7(), hamlet, "v-lan", at, signature_body(who, Outcome::DigitalSignature, None))
}

fn helped(db: &ServerDb, day: NaiveDate) -> Vec<(String, u32)> {
    let r = db.coverage_report_as_of(COMMUNE, day).unwrap();
    let mut rows: Vec<(String, u32)> = r.rows.iter().map(|r| (r.hamlet_id.clone(), r.helped_signed)).collect();
    rows.sort();
    rows.push(("total".into(), r.total.helped_signed));
    rows
}

fn of(rows: &[(String, u32)], hamlet: &str) -> u32 {
    rows.iter().find(|(h, _)| h == hamlet).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_as_of_20_11_asked_for_later_is_what_it_was_on_20_11_on_pages_prints_and_exports() {
    let server = start(&demo_reference()).await;
    let db = &server.db;
    let (device, key) = enrol(db, "Máy tính bảng thôn Plei");
    let late = signed("h-konbraih", 19, "Y Ba", Some("051175000003"), &key);
    let mut voided = signed("h-plei", 20, "Y Bốn", Some("051175000004"), &key);

    // 20/11, 10:00 in Vietnam: two people and one anonymous success in Plei, one in Kon Braih.
    push_at(
        db,
        &device,
        &[
            signed("h-plei", 19, "Y Một", Some("051175000001"), &key),
            signed("h-plei", 19, "", None, &key),
            voided.clone(),
            signed("h-konbraih", 20, "Y Hai", Some("051175000002"), &key),
        ],
        vn(20, 10),
    );
    let on_the_day = helped(db, nov(20));
    assert_eq!(of(&on_the_day, "h-plei"), 3);
    assert_eq!(of(&on_the_day, "h-konbraih"), 1);
    assert_eq!(of(&on_the_day, "total"), 4);
    let report_on_the_day = db.coverage_report_as_of(COMMUNE, nov(20)).unwrap();
    let live: Vec<_> = db.coverage_report(COMMUNE).unwrap().rows;
    assert_eq!(report_on_the_day.rows, live, "on the day, the figure as of the day is the live one");
    assert!(helped(db, nov(19)).iter().all(|(_, n)| *n == 0), "nothing was known on 19/11: {:?}", helped(db, nov(19)));

    // 22/11: a session of 19/11 synced late, one of 20/11 voided, and Y Một found helped on
    // 18/11 in Kon Braih (her first success moves there).
    voided.version = 2;
    voided.voided = true;
    voided.void_reason = Some("Nhập trùng".into());
    let earlier = signed("h-konbraih", 18, "Y Một", Some("051175000001"), &key);
    push_at(db, &device, &[late, voided, earlier], vn(22, 9));

    let later = db.coverage_report_as_of(COMMUNE, nov(20)).unwrap();
    assert_eq!(later, report_on_the_day, "20/11 asked for on 22/11 is what it was on 20/11");
    let now = helped(db, nov(22));
    assert_eq!(of(&now, "h-plei"), 1, "the void and the move left one anonymous success");
    assert_eq!(of(&now, "h-konbraih"), 3);
    assert_eq!(now, helped(db, nov(30)), "nothing changed after 22/11");
    assert_eq!(db.coverage_report(COMMUNE).unwrap().rows, db.coverage_report_as_of(COMMUNE, nov(22)).unwrap().rows);
    assert_eq!(db.coverage_log_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());

    // The office's pages, print and exports for 20/11 say the day and give its figures.
    let me = server.login().await;
    let cookie = Some(me.cookie.as_str());
    let as_of_20 = "Số liệu tính đến ngày 20/11/2026";
    let percent = format!("{:.1}%", report_on_the_day.total.percent).replace('.', ",");
    for path in ["/office?date=2026-11-20", "/office/print?from=2026-11-01&to=2026-11-20"] {
        let res = server.get(path, cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains(as_of_20), "{path}");
        assert!(html.contains(&percent), "{path}: {percent}");
    }
    let csv = server.get("/office/export/coverage.csv?date=2026-11-20", cookie).await.text().await.unwrap();
    assert!(csv.trim_start_matches('\u{feff}').starts_with(as_of_20), "{csv}");
    let plei = report_on_the_day.rows.iter().find(|r| r.hamlet_id == "h-plei").unwrap();
    assert!(csv.lines().any(|l| l.contains("Làng Plei Rơng") && l.contains(";3;")), "Plei helped 3 on 20/11: {csv}");
    assert_eq!(plei.helped_signed, 3);
    let xlsx = server.get("/office/export/coverage.xlsx?date=2026-11-20", cookie).await.bytes().await.unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec())).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.get_value((2, 0)).unwrap().to_string(), as_of_20);
    // A day that is not one is refused with the message, and changes nothing.
    let res = server.get("/office?date=2026-13-40", cookie).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_15_11_and_20_11_presets_show_coverage_as_of_that_day() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let today = sotay_server::asof::vn_today();
    for (preset, day) in [("unit", 15), ("commune", 20)] {
        let html = server.get(&format!("/office?preset={preset}"), Some(&me.cookie)).await.text().await.unwrap();
        let expected = NaiveDate::from_ymd_opt(today.year(), 11, day).unwrap().min(today);
        assert!(html.contains(&format!("Số liệu tính đến ngày {}", expected.format("%d/%m/%Y"))), "{preset}");
        assert!(html.contains(&format!("value=\"{}\"", expected.format("%Y-%m-%d"))), "{preset}: the day field");
    }
}

#[test]
fn a_server_from_before_the_log_starts_it_from_its_records_by_the_day_of_each_first_success() {
    if super::stores::on_postgres() {
        eprintln!("SQLite's file only: a_server_from_before_the_log_starts_it_from_its_records_by_the_day_of_each_first_success runs in the SQLite pass");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    {
        let db = ServerDb::open(&path).unwrap();
        db.put_commune(&demo_reference()).unwrap();
        let (device, key) = enrol(&db, "Máy tính bảng");
        let records = [
            signed("h-plei", 10, "Y Một", Some("051175000001"), &key),
            signed("h-konbraih", 12, "Y Một", Some("051175000001"), &key),
            signed("h-plei", 14, "", None, &key),
        ];
        push_at(&db, &device, &records, vn(20, 10));
    }
    // The schema before the log: no table, version 8.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE coverage_days; PRAGMA user_version = 8;").unwrap();
    conn.execute_batch(super::units::UNDO_MIGRATIONS_10_TO_13).unwrap();
    drop(conn);
    let db = ServerDb::open(&path).unwrap();
    assert_eq!(db.coverage_log_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    assert_eq!(of(&helped(&db, nov(9)), "total"), 0);
    assert_eq!(of(&helped(&db, nov(10)), "h-plei"), 1);
    assert_eq!(of(&helped(&db, nov(13)), "h-konbraih"), 0, "Y Một counts where she was first helped");
    assert_eq!(of(&helped(&db, nov(14)), "h-plei"), 2);
}
