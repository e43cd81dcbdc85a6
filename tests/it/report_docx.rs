//! The commune's report as a document: downloaded from the office as DOCX and read back
//! (unzipped, the text of `word/document.xml`): the Decree 30 header, the title, the
//! sections of the letter's points 1–4 with the figures of the coverage and activity reports;
//! the print view with the same header; the session and the commune's isolation.

use std::io::Read;

use chrono::{NaiveDate, Utc};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::StatusCode;
use sotay::domain::*;
use sotay::protocol::{DeviceReport, WireRecord};
use sotay_server::letter::count;
use uuid::Uuid;

use super::office::{enrol, person, signature_body, start, wire};
use super::sync::{demo_reference, COMMUNE};

/// The text of a DOCX's body: the `w:t` runs of `word/document.xml`, each paragraph on a line.
pub fn docx_text(bytes: &[u8]) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a DOCX is a zip");
    let mut xml = String::new();
    zip.by_name("word/document.xml").expect("word/document.xml").read_to_string(&mut xml).unwrap();
    let mut out = String::new();
    let mut rest = xml.as_str();
    while let Some(at) = rest.find('<') {
        let end = rest[at..].find('>').map(|e| at + e + 1).unwrap_or(rest.len());
        let tag = &rest[at..end];
        if tag.starts_with("</w:p>") {
            out.push('\n');
        }
        let after = &rest[end..];
        if tag.starts_with("<w:t ") || tag == "<w:t>" {
            let close = after.find("</w:t>").unwrap_or(after.len());
            out.push_str(&after[..close].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"));
        }
        rest = after;
    }
    out
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commune_report_downloads_as_a_docx_with_the_decree_30_header_and_the_figures_and_prints_alike() {
    let server = start(&demo_reference()).await;
    let db = &server.db;
    let (device, key) = enrol(db, "Máy tính bảng thôn Plei");
    let at = |d: u32| day(2026, 11, d).and_hms_opt(9, 0, 0).unwrap();
    let mut records: Vec<WireRecord> = (1..=4)
        .map(|i| {
            let who = person(&format!("Y {i}"), Some(&format!("05117500000{i}")), &key);
            wire(
                Uuid::now_v7(),
                "h-plei",
                "v-lan",
                at(10 + i),
                signature_body(Some(who), Outcome::DigitalSignature, None),
            )
        })
        .collect();
    records.push(wire(
        Uuid::now_v7(),
        "h-konbraih",
        "v-hung",
        at(12),
        signature_body(None, Outcome::NotCompleted, Some(FailureReason::NoSmartphone)),
    ));
    for r in &mut records {
        if let Body::SignatureHelp(s) = &mut r.body {
            if let Some(p) = &mut s.person {
                p.cid_hash = None;
                p.cid_key_id = None;
            }
        }
    }
    // Pushed on 20/11 at 10:00 in Vietnam, so coverage as of 20/11 has them.
    let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, 3, 0, 0).unwrap();
    db.apply_push(&device, &DeviceReport::default(), &records, now).unwrap();

    let me = server.login().await;
    let cookie = Some(me.cookie.as_str());
    let res = server.get("/office/report.docx?from=2026-01-01&date=2026-11-20", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    assert!(res.headers()[CONTENT_DISPOSITION].to_str().unwrap().contains(".docx"));
    let bytes = res.bytes().await.unwrap();
    // `SOTAY_KEEP_REPORT=/path/report.docx` keeps the document (for the picture in docs/).
    if let Some(path) = std::env::var_os("SOTAY_KEEP_REPORT") {
        std::fs::write(path, &bytes).unwrap();
    }
    let text = docx_text(&bytes);

    // The header, title and closing of Decree 30.
    for line in [
        "ỦY BAN NHÂN DÂN",
        "XÃ KON BRAIH",
        "Số:        /BC-UBND",
        "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BÁO CÁO",
        "Kết quả thực hiện phong trào Bình dân học vụ số",
        "(Số liệu tính đến ngày 20/11/2026)",
        "Nơi nhận:",
        "TM. ỦY BAN NHÂN DÂN",
        "CHỦ TỊCH",
    ] {
        assert!(text.lines().any(|l| l.trim() == line), "{line:?} in\n{text}");
    }
    let place = text.lines().find(|l| l.contains("ngày 20 tháng 11 năm 2026")).expect("place and date");
    assert_eq!(place.trim(), "Kon Braih, ngày 20 tháng 11 năm 2026");
    // The sections of the letter's points 1–4, in order.
    let sections = [
        "1. Công tác ban hành",
        "2.1. Công tác tuyên truyền",
        "2.2. Tổ chức tập huấn",
        "2.3. Sử dụng nền tảng",
        "3. Hỗ trợ trực tiếp",
        "4. Tỷ lệ người trưởng thành",
    ];
    let at_of = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?} in\n{text}"));
    assert!(sections.windows(2).all(|w| at_of(w[0]) < at_of(w[1])), "sections in order");

    // The figures are the office's own reports' for the same day and period.
    let cov = db.coverage_report_as_of(COMMUNE, day(2026, 11, 20)).unwrap();
    let act = db.activity_report(COMMUNE, day(2026, 1, 1), day(2026, 11, 20)).unwrap();
    assert_eq!((act.totals.signature_sessions, act.totals.signed, act.totals.not_completed), (5, 4, 1));
    let t = &cov.total;
    let share = format!("{:.1}%", t.percent).replace('.', ",");
    let coverage_sentence = format!(
        "Tính đến ngày 20/11/2026, toàn xã có {}/{} người trưởng thành có chữ ký số hoặc chữ ký điện tử cá nhân, đạt {share}",
        count(t.signed),
        count(t.adult_population)
    );
    assert!(text.contains(&coverage_sentence), "{coverage_sentence:?} in\n{text}");
    assert!(text.contains("hướng dẫn đăng ký chữ ký số trên VNeID 5 lượt cho 5 người, trong đó 4 lượt thành công và 1 lượt chưa hoàn thành"), "{text}");
    let plei = cov.rows.iter().find(|r| r.hamlet_id == "h-plei").unwrap();
    assert_eq!(plei.helped_signed, 4);
    let plei_row = format!(
        "h-plei\nLàng Plei Rơng\n{}\n{}\n{}",
        count(plei.adult_population),
        count(plei.signed),
        format!("{:.1}%", plei.percent).replace('.', ",")
    );
    assert!(text.contains(&plei_row), "{plei_row:?} in\n{text}");
    assert!(text.contains(&format!("Toàn xã\n{}\n{}", count(t.adult_population), count(t.signed))), "total row");
    let reason = sotay_server::i18n::office::VI.labels.failure_reasons[FailureReason::NoSmartphone.index()];
    assert!(text.contains(&format!("{reason} (1 lượt)")), "the failure reason in\n{text}");
    assert!(text.contains("Sở Khoa học và Công nghệ"), "the province among the recipients");
    let audit = db.audit_log(COMMUNE, 1).unwrap().remove(0);
    assert_eq!((audit.2.as_str(), audit.3.as_str()), ("export", "report.docx"));

    // The print view: the same header and figures, as a page.
    let res = server.get("/office/report?from=2026-01-01&date=2026-11-20", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    for part in [
        "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Kon Braih, ngày 20 tháng 11 năm 2026",
        "Số liệu tính đến ngày 20/11/2026",
        "Nơi nhận:",
        &share,
    ] {
        assert!(html.contains(part), "{part:?} in the print view");
    }
    assert!(!html.contains("<script"), "no script");

    // A reversed period is refused with the message; without a session, the login page.
    let res = server.get("/office/report.docx?from=2026-12-01&date=2026-11-20", cookie).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    for path in ["/office/report.docx", "/office/report"] {
        let res = server.get(path, None).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
    }
}
