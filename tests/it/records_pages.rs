//! The office's records list pages through every record with a count, instead of stopping
//! at the first 200, and keeps its filters from page to page.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use sotay::protocol::{DeviceReport, WireRecord};
use uuid::Uuid;

use super::common::visit;
use super::office::{enrol, start, wire};
use super::sync::demo_reference;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_list_counts_every_record_and_pages_through_all_of_them() {
    let server = start(&demo_reference()).await;
    let (device, _) = enrol(&server.db, "Máy tính bảng thôn Plei");
    let start_at = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(7, 0, 0).unwrap();
    let records: Vec<WireRecord> = (0..450)
        .map(|i| {
            let hamlet = if i % 3 == 0 { "h-konbraih" } else { "h-plei" };
            wire(Uuid::now_v7(), hamlet, "v-lan", start_at + Duration::minutes(i), visit(&format!("Nhà số {i}"), 1))
        })
        .collect();
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap();
    server.db.apply_push(&device, &DeviceReport::default(), &records, now).unwrap();

    let me = server.login().await;
    let cookie = Some(me.cookie.as_str());
    let rows = |html: &str| html.matches("data-record=").count();
    let html = server.get("/office/records", cookie).await.text().await.unwrap();
    assert!(html.contains("records-count\">450 bản ghi</span> · Trang 1/3"), "the count and the pages");
    assert_eq!(rows(&html), 200);
    assert!(html.contains("href=\"/office/records?page=2\""), "a link to the next page");
    let mut seen = std::collections::HashSet::new();
    for page in 1..=3 {
        let html = server.get(&format!("/office/records?page={page}"), cookie).await.text().await.unwrap();
        for part in html.split("data-record=\"").skip(1) {
            seen.insert(part[..36].to_owned());
        }
    }
    assert_eq!(seen.len(), 450, "every record on one of the pages, none twice");
    // The filters carry over to the other pages.
    let html = server.get("/office/records?hamlet=h-plei", cookie).await.text().await.unwrap();
    assert!(html.contains("records-count\">300 bản ghi</span> · Trang 1/2"));
    assert!(html.contains("href=\"/office/records?hamlet=h-plei&amp;page=2\""));
    let html = server.get("/office/records?hamlet=h-plei&page=2", cookie).await.text().await.unwrap();
    assert_eq!(rows(&html), 100);
    assert!(!html.contains("data-testid=\"next-page\""), "no page after the last");
    // A page that is not a number is refused with 400 and changes nothing.
    let res = server.get("/office/records?page=abc", cookie).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
