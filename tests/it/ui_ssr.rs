//! Screens rendered with dioxus-ssr against a real store file, as the volunteer would see
//! them: the volunteer chooser, home, forms, list and detail, in both languages.

use std::time::Duration;

use chrono::Local;
use dioxus::prelude::*;
use sotay::domain::*;
use sotay::store::Store;
use sotay::ui::{App, AppConfig, Screen};

use super::common::*;

/// Renders the app until `needle` appears (the store opens and queries run on blocking
/// threads, so the screen settles over a few rounds). Panics with the last HTML if not.
async fn render_until(config: AppConfig, needle: &str) -> String {
    render_until_all(config, &[needle]).await
}

/// [`render_until`] for several needles that load separately, all on one render.
async fn render_until_all(config: AppConfig, needles: &[&str]) -> String {
    let mut dom = VirtualDom::new(App).with_root_context(config);
    dom.rebuild_in_place();
    let mut html = String::new();
    for _ in 0..100 {
        let _ = tokio::time::timeout(Duration::from_millis(50), dom.wait_for_work()).await;
        dom.render_immediate_to_vec();
        html = dioxus_ssr::render(&dom);
        if needles.iter().all(|n| html.contains(n)) {
            return html;
        }
    }
    panic!("`{needles:?}` never all appeared; last render:\n{html}");
}

fn config(t: &TempStore, start: Screen) -> AppConfig {
    AppConfig { db_path: t.path(), start, lock_after: None }
}

fn now_local() -> chrono::NaiveDateTime {
    Local::now().naive_local() - chrono::Duration::minutes(1)
}

/// A store the app will open with the real clock, a volunteer chosen.
fn store_with_volunteer(live: bool) -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sotay.db")).unwrap();
    if live {
        let mut r = sotay::domain::sample::sample_reference();
        r.commune.sample = false;
        r.commune.name = "Xã Kon Braih".into();
        store.replace_reference(&r).unwrap();
        // The office assigned every volunteer to this device.
        let volunteers = r.volunteers.iter().map(|v| v.id.clone()).collect();
        store.apply_pull(&[sotay::store::Pulled::Assignment(volunteers)], 1).unwrap();
    }
    store.set_current_volunteer("v-lan").unwrap();
    TempStore { dir, store }
}

/// A first PIN on an enrolled device, with the office's one-time code for it.
fn give_pin(store: &Store, volunteer: &str, pin: &str) {
    let code = sotay::store::Pulled::PinCode {
        volunteer_id: volunteer.into(),
        hash: sotay::domain::pin::hash("TESTCODE"),
        expires_at: chrono::Utc::now() + chrono::Duration::days(1),
    };
    store.apply_pull(&[code], 2).unwrap();
    let authority = sotay::store::Authority::OfficeCode("TEST-CODE");
    assert_eq!(store.authorise_first_pin(volunteer, authority).unwrap(), sotay::store::PinCheck::Right);
    assert_eq!(store.set_pin(volunteer, pin).unwrap(), sotay::store::PinCheck::Right);
}

#[tokio::test]
async fn a_fresh_app_asks_who_is_using_the_device() {
    let t = sample_store();
    let html = render_until(config(&t, Screen::Home), "Ai đang dùng máy?").await;
    for name in ["Y Lan", "A Hưng", "Nguyễn Thị Thu", "Trần Văn Minh"] {
        assert!(html.contains(name), "{name} missing");
    }
}

#[tokio::test]
async fn home_shows_the_sample_banner_tallies_and_every_hamlet() {
    let t = store_with_volunteer(false);
    t.store.create(new_record("h-plei", now_local(), visit("Nhà ông A Blúp", 2))).unwrap();
    let html = render_until(config(&t, Screen::Home), "Tiến độ chữ ký số").await;
    assert!(html.contains("Dữ liệu mẫu"), "sample banner");
    assert!(html.contains("👤 Y Lan"));
    // A practice record is on the device: home says it will never be sent, and how to enrol.
    assert!(html.contains("Có 1 bản ghi thực hành trên máy này. Chúng sẽ không bao giờ được gửi lên xã."), "{html}");
    assert!(html.contains("bấm «Đăng ký máy với xã»"));
    for h in sotay::domain::sample::sample_reference().hamlets {
        assert!(html.contains(&h.name), "{} missing", h.name);
    }
    // One visit today with two people: the visits row and the person-times row.
    assert!(html.contains("<th scope=\"row\">Lượt thăm hộ</th><td>1</td><td>1</td>"), "{html}");
    assert!(html.contains("<th scope=\"row\">Tổng lượt người</th><td>2</td><td>2</td>"));
}

#[tokio::test]
async fn home_counts_what_waits_to_be_sent() {
    let t = store_with_volunteer(true);
    t.store.create(new_record("h-plei", now_local(), outreach())).unwrap();
    let r = t.store.create(new_record("h-plei", now_local(), outreach())).unwrap();
    t.store.mark_rejected(r.meta.id, 1, "sai thôn").unwrap();
    let html = render_until(config(&t, Screen::Home), "Chờ gửi: 1 bản ghi").await;
    assert!(html.contains("Bị từ chối: 1 bản ghi"));
    assert!(!html.contains("Dữ liệu mẫu"));
}

#[tokio::test]
async fn english_is_used_when_chosen() {
    let t = store_with_volunteer(false);
    t.store.set_setting("language", "en").unwrap();
    let html = render_until(config(&t, Screen::Home), "Record a visit").await;
    assert!(html.contains("Sample data for practice"));
    assert!(!html.contains("Ghi thăm hộ"));
}

#[tokio::test]
async fn the_signature_form_never_pre_ticks_consent() {
    let t = store_with_volunteer(false);
    let html = render_until(config(&t, Screen::New(RecordKind::SignatureHelp, None)), "name=\"consent\"").await;
    let input = html.split("name=\"consent\"").next().unwrap().rsplit("<input").next().unwrap();
    let tag_end = html.split("name=\"consent\"").nth(1).unwrap().split('>').next().unwrap();
    assert!(!input.contains("checked") && !tag_end.contains("checked"), "consent is pre-ticked");
    assert!(!html.contains("name=\"display_name\""), "personal fields show before consent");
    assert!(html.contains("chỉ lưu số lượng và kết quả"));
}

#[tokio::test]
async fn the_training_form_counts_attendance_with_big_tallies() {
    let t = store_with_volunteer(false);
    let html = render_until(config(&t, Screen::New(RecordKind::Training, None)), "data-tally").await;
    for name in ["total", "women", "ethnic_minority"] {
        assert!(html.contains(&format!("data-tally=\"{name}-plus\"")), "{name} +");
        assert!(html.contains(&format!("data-tally=\"{name}-minus\"")), "{name} −");
    }
}

#[tokio::test]
async fn a_half_filled_form_comes_back_from_its_draft() {
    let t = store_with_volunteer(false);
    let mut form = sotay::domain::validate::Form::blank(RecordKind::Visit, "h-plei", now_local());
    if let sotay::domain::validate::Form::Visit(v) = &mut form {
        v.household = "Nhà bà Y Nhi".into();
    }
    t.store.save_draft("new:visit", None, &form).unwrap();
    let html = render_until(config(&t, Screen::New(RecordKind::Visit, None)), "Đã khôi phục bản nháp").await;
    assert!(html.contains("value=\"Nhà bà Y Nhi\""));
    let home = render_until(config(&t, Screen::Home), "Bản nháp chưa lưu").await;
    assert!(home.contains("data-draft=\"new:visit\""));
}

#[tokio::test]
async fn the_list_shows_each_records_sync_state() {
    let t = store_with_volunteer(true);
    let a = t.store.create(new_record("h-plei", now_local(), visit("Nhà A", 1))).unwrap();
    let b = t.store.create(new_record("h-plei", now_local(), visit("Nhà B", 1))).unwrap();
    t.store.create(new_record("h-plei", now_local(), visit("Nhà C", 1))).unwrap();
    t.store.mark_sent(a.meta.id, 1).unwrap();
    t.store.mark_rejected(b.meta.id, 1, "sai thôn").unwrap();
    let html = render_until(config(&t, Screen::List(None)), "3 bản ghi").await;
    for badge in ["badge sent", "badge rejected", "badge pending"] {
        assert!(html.contains(badge), "{badge}");
    }
}

#[tokio::test]
async fn a_voided_record_shows_as_voided_with_its_history() {
    let t = store_with_volunteer(true);
    let r = t.store.create(new_record("h-plei", now_local(), visit("Nhà A", 1))).unwrap();
    t.store.void(r.meta.id, 1, "v-lan", "ghi trùng").unwrap();
    let html = render_until(config(&t, Screen::Detail(r.meta.id)), "Lịch sử sửa").await;
    assert!(html.contains("Bản ghi đã huỷ. ghi trùng"));
    assert!(html.contains("v2 ·") && html.contains("v1 ·"));
    assert!(!html.contains("data-testid=\"edit\""), "a voided record cannot be edited");
}

#[tokio::test]
async fn a_damaged_store_gives_a_clear_message_in_vietnamese() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    std::fs::write(&path, b"not a database at all".repeat(100)).unwrap();
    let html = render_until(AppConfig::new(path), "Không mở được dữ liệu của Sổ tay").await;
    assert!(html.contains("Tệp dữ liệu bị hỏng"));
    assert!(html.contains("vẫn còn nguyên"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_home_shows_the_queue_the_last_error_and_a_clock_warning() {
    let t = store_with_volunteer(true);
    // Enrolled with a server that cannot be reached (nothing listens on port 9).
    let enrolment = sotay::store::Enrolment {
        server_url: "http://127.0.0.1:9".into(),
        commune: "23497".into(),
        token: "t".into(),
        device_id: "d".into(),
        cert_pin: None,
    };
    let key = sotay::domain::citizen_id::OpenKey::generate().seal_key().clone();
    let mut reference = sotay::domain::sample::sample_reference();
    reference.commune.name = "Xã Kon Braih".into();
    t.store.enrol(&enrolment, &key, &reference).unwrap();
    t.store.set_current_volunteer("v-lan").unwrap();
    t.store.set_setting("clock_offset_secs", "900").unwrap();
    t.store.create(new_record("h-plei", now_local(), outreach())).unwrap();
    let html = render_until(config(&t, Screen::Home), "Chưa kết nối được máy chủ xã").await;
    assert!(html.contains("Chờ gửi: 1 bản ghi"));
    assert!(html.contains("Chưa đồng bộ lần nào."));
    assert!(html.contains("data-testid=\"clock-warning\""));
    assert!(html.contains("Đồng bộ ngay"));
    assert!(!html.contains("Dữ liệu mẫu"));
}

fn locked_config(t: &TempStore) -> AppConfig {
    AppConfig { db_path: t.path(), start: Screen::Home, lock_after: Some(Duration::from_secs(600)) }
}

#[tokio::test]
async fn the_app_opens_locked_and_shows_nothing_of_the_work() {
    let t = store_with_volunteer(true);
    t.store.create(new_record("h-plei", now_local(), visit("Nhà ông A Blúp", 2))).unwrap();
    give_pin(&t.store, "v-lan", "240681");
    let html = render_until_all(locked_config(&t), &["👤 Y Lan", "data-testid=\"pin-input\""]).await;
    assert!(html.contains("Sổ tay đang khoá"));
    assert!(html.contains("Đổi người"));
    for hidden in ["A Blúp", "Chờ gửi", "section class=\"home\""] {
        assert!(!html.contains(hidden), "{hidden} shows through the lock");
    }
}

#[tokio::test]
async fn a_blocked_volunteer_is_unblocked_by_the_team_lead() {
    let t = store_with_volunteer(true);
    give_pin(&t.store, "v-lan", "240681");
    for _ in 0..sotay::domain::pin::BLOCK_AFTER {
        raw_conn(&t.path())
            .execute("UPDATE pins SET failures = failures + 1 WHERE volunteer_id = 'v-lan'", [])
            .unwrap();
    }
    let html = render_until_all(locked_config(&t), &["Tổ trưởng mở khoá", "Nguyễn Thị Thu"]).await;
    assert!(html.contains("Đã nhập sai mã PIN quá nhiều lần"));
    assert!(html.contains("Nguyễn Thị Thu"), "the sample commune's team lead is offered");
    assert!(!html.contains("data-testid=\"pin-input\""), "no more tries of the volunteer's own PIN");
}

#[tokio::test]
async fn a_volunteer_without_a_pin_chooses_one_first() {
    let t = store_with_volunteer(false);
    let html = render_until(locked_config(&t), "Đặt mã PIN của bạn").await;
    assert!(html.contains("data-testid=\"pin-new\"") && html.contains("data-testid=\"pin-again\""));
    assert!(html.contains("Từ 6 đến 12 chữ số"));
}

#[tokio::test]
async fn on_an_enrolled_device_a_first_pin_asks_for_the_office_code_or_a_team_lead() {
    let t = store_with_volunteer(true);
    let html = render_until_all(locked_config(&t), &["Đặt mã PIN lần đầu trên máy này", "Nguyễn Thị Thu"]).await;
    assert!(html.contains("data-testid=\"office-code\"") && html.contains("data-testid=\"lead-authorise\""));
    assert!(!html.contains("data-testid=\"pin-new\""), "no PIN can be chosen before an authority");
}

#[tokio::test]
async fn an_enrolled_device_with_no_one_assigned_offers_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sotay.db")).unwrap();
    let mut r = sotay::domain::sample::sample_reference();
    r.commune.sample = false;
    store.replace_reference(&r).unwrap();
    let t = TempStore { dir, store };
    let html = render_until(locked_config(&t), "Xã chưa giao máy này cho ai").await;
    assert!(!html.contains("data-volunteer=\"v-lan\""));
}
