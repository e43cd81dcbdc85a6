//! The breakdowns of signature help (`db::breakdowns`): successes by sex and ethnic
//! minority, with and without an ID number, and VNeID level-2 activations, on the activity
//! page and in the commune's report; and a record's history naming its device, not its id.

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use sotay::domain::*;
use sotay::protocol::{DeviceReport, WireRecord};
use uuid::Uuid;

use super::office::{enrol, person, signature_body, start, wire, TestKey};
use super::report_docx::docx_text;
use super::sync::{demo_reference, COMMUNE};

/// A signature session in Plei Rơng on 10/11/2026, without the hash the device never sends.
fn session(
    n: u32,
    who: Option<(Sex, Option<&str>, bool)>,
    outcome: Outcome,
    before: AccountLevel,
    key: &TestKey,
) -> WireRecord {
    let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 10).unwrap().and_hms_opt(8, n, 0).unwrap();
    let person = who.map(|(sex, group, with_id)| {
        let cid = format!("0511750002{n:02}");
        let mut p = person(&format!("Y {n}"), with_id.then_some(cid.as_str()), key);
        p.sex = sex;
        p.ethnic_group = group.map(Into::into);
        p.cid_hash = None;
        p.cid_key_id = None;
        p
    });
    let reason = (outcome == Outcome::NotCompleted).then_some(FailureReason::NoSmartphone);
    let mut r = wire(Uuid::now_v7(), "h-plei", "v-lan", at, signature_body(person, outcome, reason));
    if let Body::SignatureHelp(s) = &mut r.body {
        s.level_before = before;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_are_broken_down_by_sex_minority_and_id_with_level_2_activations_on_the_page_and_in_the_report() {
    let server = start(&demo_reference()).await;
    let db = &server.db;
    let (device, key) = enrol(db, "Máy tổ Plei Rơng");
    use AccountLevel::*;
    use Outcome::*;
    let records = [
        session(1, Some((Sex::Female, Some("Ba Na"), true)), DigitalSignature, Level1, &key),
        session(2, Some((Sex::Female, Some("Kinh"), false)), PersonalESignature, None, &key),
        session(3, Some((Sex::Male, Some("Xơ Đăng"), true)), DigitalSignature, Level2, &key),
        session(4, Some((Sex::Other, Option::None, true)), DigitalSignature, Level1, &key),
        session(5, Option::None, DigitalSignature, Level1, &key),
        session(6, Some((Sex::Male, Some("Ba Na"), true)), NotCompleted, Level1, &key),
    ];
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap();
    let applied = db.apply_push(&device, &DeviceReport::default(), &records, now).unwrap();
    assert!(applied.iter().all(|r| r.reason.is_none()), "{applied:?}");
    let a = db.activity_report(COMMUNE, records[0].occurred_at.date(), records[0].occurred_at.date()).unwrap().totals;
    // Five successes: women 1 and 2, man 3, 4 of the other sex, 5 without consent; minority
    // 1 and 3 (2 is Kinh); 2 and 5 have no ID; level 2 reached by all but 3 (already there).
    assert_eq!((a.signed, a.signed_women, a.signed_men, a.signed_minority), (5, 2, 1, 2));
    assert_eq!((a.signed_anonymous, a.level2_activations), (2, 5));
    assert!(db.totals_mismatches(COMMUNE).unwrap().is_empty());

    let me = server.login().await;
    let c = Some(me.cookie.as_str());
    let html = server.get("/office/activity?from=2026-11-10&to=2026-11-10", c).await.text().await.unwrap();
    let table = html.split("data-testid=\"signature-breakdown\"").nth(1).expect("the breakdown table");
    let table = &table[..table.find("</table>").unwrap()];
    for row in [
        "<th scope=\"row\">Nữ</th><td>2</td><td>40,0%</td>",
        "<th scope=\"row\">Nam</th><td>1</td><td>20,0%</td>",
        "<th scope=\"row\">Không ghi giới tính (không đồng ý lưu thông tin)</th><td>2</td>",
        "<th scope=\"row\">Người dân tộc thiểu số</th><td>2</td><td>40,0%</td>",
        "<td>3</td><td>60,0%</td>",
        "<th scope=\"row\">Không có số định danh (mỗi lượt tính một người)</th><td>2</td><td>40,0%</td>",
        "<td>5</td><td>83,3%</td>",
    ] {
        assert!(table.contains(row), "{row:?} in {table}");
    }
    let res = server.get("/office/report.docx?from=2026-11-01&date=2026-11-20", c).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = docx_text(&res.bytes().await.unwrap());
    assert!(
        text.contains(
            "Trong số lượt thành công: 2 nữ, 1 nam; 2 người dân tộc thiểu số; 3 lượt có số định danh cá nhân và 2 lượt \
             không có. Kích hoạt tài khoản định danh điện tử mức 2 cho 5 người."
        ),
        "{text}"
    );
    // Beside today's coverage: Plei Rơng's five people, three with an ID and two without.
    let html = server.get("/office", c).await.text().await.unwrap();
    let split = html.split("data-testid=\"coverage-id-split\"").nth(1).expect("the split table");
    let row = split.split("data-hamlet=\"h-plei\"").nth(1).unwrap();
    assert!(row.starts_with("><th scope=\"row\">Làng Plei Rơng</th><td>5</td><td>3</td><td>2</td>"), "{row}");
    // A past day's coverage has no split (its log keeps the total only).
    let html = server.get("/office?date=2026-11-20", c).await.text().await.unwrap();
    assert!(!html.contains("coverage-id-split"));
    // A record's history names the device as the office named it, and when in Vietnam time.
    let page = server.get(&format!("/office/records/{}", records[0].id), c).await.text().await.unwrap();
    let history = page.split("data-testid=\"history\"").nth(1).unwrap();
    assert!(history.contains("Máy tổ Plei Rơng"), "{history}");
    assert!(history.contains("20/11/2026 10:00"), "{history}");
    assert!(!history.contains(&device.id), "the whole id is not shown");
}
