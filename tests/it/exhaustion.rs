//! No one can exhaust the server from outside, tried as an attacker would: parallel wrong
//! logins for one name, a flood of logins with new names from many addresses (the server's
//! peak memory read from /proc), a 1.5 MB user name, one address flooding logins and
//! enrolment, pushes whose small gzip body unpacks into megabyte strings and lists, CSV
//! imports that are too large, too long or not UTF-8, and a commune with 80,000 hamlets and
//! 100,000 volunteers whose pages must stay small.
//!
//! The servers here are the real router on 127.0.0.1:0, started as the binary starts it
//! (with the client's address); clients pick their own source address in 127.0.0.0/8 to
//! stand for different machines.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sotay::domain::*;
use sotay::protocol::*;
use sotay_server::{router, AppState};
use uuid::Uuid;

use super::consent::{client, OfficeClient, PASSWORD, USER};
use super::sync::{demo_reference, COMMUNE};

/// The real router served with the client's address, over a temp server database with the
/// demo commune and one office account.
pub struct Served {
    pub url: String,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    /// The store the server keeps its data in (its SQLite file is `dir/server.db`).
    pub store: super::stores::TestStore,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve(configure: impl FnOnce(AppState) -> AppState) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store = super::stores::TestStore::new();
    let db = store.open(&dir.path().join("server.db"));
    db.put_commune(&demo_reference()).unwrap();
    db.put_account(USER, PASSWORD, COMMUNE, chrono::Utc::now()).unwrap();
    let state = configure(AppState::new(db));
    let (addr, task) = super::sync::serve_router(router(state.clone())).await;
    let url = format!("http://{addr}");
    Served { url, state, dir, store, task }
}

/// A client whose requests come from 127.0.0.`n`: another machine, as the server sees it.
pub fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the login form as a browser does (the login page's cookie and token first).
async fn post_login(http: &reqwest::Client, url: &str, user: &str, password: &str) -> (StatusCode, String) {
    let res = super::consent::post_login(http, url, user, password).await;
    (res.status(), res.text().await.unwrap())
}

// ---- logins ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_four_parallel_wrong_logins_for_one_name_run_no_more_password_checks_than_the_lock_out_allows() {
    let s = serve(|s| s).await;
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (http, url) = (client(), s.url.clone());
        tries.spawn(async move { post_login(&http, &url, USER, &format!("sai mat khau {i}")).await.0 });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tries.join_next().await {
        statuses.push(status.unwrap());
    }
    let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let locked = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((wrong, locked), (2, 22), "{statuses:?}");
    // Each try was counted before its check, so the ones after the third saw the lock.
    assert_eq!(s.state.password_checks(), 3);
    // And the right password is locked out too, without a check.
    let (status, _) = post_login(&client(), &s.url, USER, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(s.state.password_checks(), 3);
}

const FLOOD_CHILD: &str = "SOTAY_LOGIN_FLOOD_CHILD";

/// In a normal run this does nothing. As the child of the flood test, it serves the real
/// router with the server's default limits (as `sotay-server serve` does) until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flood_child_serves_until_killed() {
    if std::env::var_os(FLOOD_CHILD).is_none() {
        return;
    }
    let s = serve(|s| s).await;
    println!("URL {}", s.url);
    std::io::stdout().flush().unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// Kills a child process when the test ends, however it ends.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process's peak resident memory in KiB (`VmHWM`).
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_logins_with_new_names_from_many_addresses_keep_the_server_small_and_answer_quickly() {
    let exe = std::env::current_exe().unwrap();
    let mut child = ChildGuard(
        Command::new(exe)
            .args([
                "--exact",
                "it::exhaustion::login_flood_child_serves_until_killed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FLOOD_CHILD, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // The harness may print the test's name on the same line first.
        .find_map(|l| l.split_once("URL ").map(|(_, url)| url.trim().to_owned()))
        .expect("the child server's address");
    let pid = child.0.id();
    let before = peak_kib(pid);

    // 200 machines, each trying one new name at the same moment.
    let started = Instant::now();
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let (http, url) = (client_from(2 + i as u8), url.clone());
        tries.spawn(async move { post_login(&http, &url, &format!("ke-do-{i}"), "doan mat khau").await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tries.join_next().await {
        answers.push(answer.unwrap());
    }
    let took = started.elapsed();
    let peak = peak_kib(pid);
    println!("peak {} MiB (from {} MiB) after 200 parallel logins in {took:?}", peak / 1024, before / 1024);

    let busy = answers.iter().filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE).count();
    for (status, page) in &answers {
        match *status {
            StatusCode::UNAUTHORIZED => assert!(page.contains("Tên đăng nhập hoặc mật khẩu không đúng.")),
            StatusCode::SERVICE_UNAVAILABLE => assert!(page.contains("Hãy thử lại sau ít giây."), "{page}"),
            other => panic!("unexpected {other}"),
        }
    }
    println!("{busy} of 200 were told to try again");
    assert!(took < Duration::from_secs(30), "answered in {took:?}");
    // At most a few argon2 checks (about 19 MiB each) at once, not 200 (3.7 GiB).
    assert!(peak < before + 160 * 1024, "peak {} MiB from {} MiB", peak / 1024, before / 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_cannot_get_a_password_check_soon_is_told_to_try_again_at_once() {
    // One check at a time, and no waiting for it.
    let s = serve(|s| s.with_password_checks(1, Duration::from_millis(1))).await;
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..20u8 {
        let (http, url) = (client_from(2 + i), s.url.clone());
        tries.spawn(async move {
            let started = Instant::now();
            let answer = post_login(&http, &url, &format!("ten-moi-{i}"), "sai").await;
            (answer, started.elapsed())
        });
    }
    let mut busy = 0;
    while let Some(answer) = tries.join_next().await {
        let ((status, page), took) = answer.unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            busy += 1;
            assert!(page.contains("Máy chủ đang bận kiểm tra nhiều lần đăng nhập. Hãy thử lại sau ít giây."));
            assert!(took < Duration::from_secs(2), "answered in {took:?}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    assert!(busy > 0);
    assert_eq!(s.state.password_checks(), 20 - busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_of_a_million_and_a_half_bytes_is_neither_stored_nor_echoed() {
    let s = serve(|s| s).await;
    let long = "tenratdai_".repeat(150_000); // 1.5 MB
    let just_over = "a".repeat(65);
    for name in [long.as_str(), just_over.as_str()] {
        let (status, page) = post_login(&client(), &s.url, name, "mat khau").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("Tên đăng nhập hoặc mật khẩu quá dài"), "{page}");
        assert!(page.len() < 16_000, "the page is {} bytes", page.len());
        let start: String = name.chars().take(30).collect();
        assert!(!page.contains(&start), "the name is not shown again");
    }
    let longest = |sql: &str| s.store.sql(&s.dir.path().join("server.db"), sql).parse::<i64>().unwrap();
    assert_eq!(longest("SELECT COUNT(*) FROM login_failures"), 0);
    assert!(longest("SELECT COALESCE(MAX(length(username) + length(detail)), 0) FROM audit_log") < 200);
    assert_eq!(s.state.password_checks(), 0);
    // A name of 64 characters is still a name.
    let (status, _) = post_login(&client(), &s.url, &"a".repeat(64), "mat khau").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_flooding_logins_is_held_back_while_the_office_logs_in_from_another() {
    let s = serve(|s| s.with_password_checks(8, Duration::from_secs(60))).await;
    let attacker = client_from(2);
    let mut statuses = Vec::new();
    for i in 0..40 {
        statuses.push(post_login(&attacker, &s.url, &format!("doan-{i}"), "sai").await.0);
    }
    let held = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(held, 40 - sotay_server::LOGIN_PER_ADDRESS as usize, "{statuses:?}");
    assert_eq!(s.state.password_checks(), sotay_server::LOGIN_PER_ADDRESS as u64);
    let (status, page) = post_login(&attacker, &s.url, USER, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Máy này đã thử đăng nhập quá nhiều lần"), "{page}");
    // The office, on another machine, is not held back.
    let (status, _) = post_login(&client_from(3), &s.url, USER, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

// ---- enrolment ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_flooding_enrolment_cannot_use_up_the_enrolment_of_every_other_device() {
    // All clients together may enrol 30 times a minute here.
    let s = serve(|s| s.with_rate_limit(30, Duration::from_secs(60))).await;
    let attacker = client_from(2);
    let junk = EnrolRequest { api_version: API_VERSION, code: "AAAA-AAAA".into(), device_name: "x".into() };
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let res = attacker.post(format!("{}/api/v1/enrol", s.url)).json(&junk).send().await.unwrap();
        statuses.push(res.status());
    }
    let held = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(held, 40 - sotay_server::ENROL_PER_ADDRESS as usize, "{statuses:?}");
    // A real tablet on another address enrols with its code.
    let code = s.state.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    let req = EnrolRequest { api_version: API_VERSION, code, device_name: "Máy tính bảng thôn Plei".into() };
    let res = client_from(3).post(format!("{}/api/v1/enrol", s.url)).json(&req).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

// ---- push fields ----------------------------------------------------------------------------

fn gzip(json: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(json).unwrap();
    gz.finish().unwrap()
}

fn record(body: Body) -> WireRecord {
    WireRecord {
        id: Uuid::now_v7(),
        version: 1,
        hamlet_id: "h-plei".into(),
        volunteer_id: "v-lan".into(),
        occurred_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 19).unwrap().and_hms_opt(9, 0, 0).unwrap(),
        saved_at: chrono::Utc::now(),
        voided: false,
        void_reason: None,
        body,
    }
}

fn visit_with(topics: Vec<Topic>) -> Body {
    Body::Visit(Visit { household: "Nhà A Blúp".into(), people_helped: 1, topics, notes: String::new() })
}

/// Every byte the server holds in its data folder.
fn folder_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_string_and_list_in_a_push_is_capped_so_a_small_gzip_body_stores_no_megabytes() {
    let s = serve(|s| s).await;
    let code = s.state.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    let token = s.state.db.enrol(&code, "máy thử", chrono::Utc::now()).unwrap().unwrap().token;
    let push = |report: DeviceReport, record: WireRecord| {
        let (url, token) = (s.url.clone(), token.clone());
        async move {
            let req = PushRequest { api_version: API_VERSION, device: report, records: vec![record] };
            let body = gzip(&serde_json::to_vec(&req).unwrap());
            assert!(body.len() < 40_000, "a small body on the wire: {} bytes", body.len());
            let res = client()
                .post(format!("{url}/api/v1/c/{COMMUNE}/push"))
                .header("authorization", format!("Bearer {token}"))
                .header("content-encoding", "gzip")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.text().await.unwrap())
        }
    };
    let report = || DeviceReport { queued: 0, app_version: "0.1.0".into() };
    let before = folder_bytes(s.dir.path());
    let seven_mb = 7_000_000;

    // Each of a record's fields, megabytes long once unpacked: that record is refused, the
    // field named, nothing of it stored or sent back.
    let mut void = record(visit_with(vec![Topic::Vneid]));
    void.voided = true;
    void.void_reason = Some("ghi trùng\u{1b}[2J".into());
    let attacks = [
        ("topics", record(visit_with(vec![Topic::Vneid; 700_000]))),
        ("topics", record(visit_with(vec![Topic::Vneid, Topic::Vneid]))),
        ("citizen_id", record(super::common::pushed_signature("Y Nhi", Some("k".repeat(seven_mb)), None))),
        ("citizen_id", record(super::common::pushed_signature("Y Nhi", None, Some("ab".repeat(seven_mb / 2))))),
        ("Thôn", WireRecord { hamlet_id: "h".repeat(seven_mb), ..record(visit_with(vec![Topic::Vneid])) }),
        ("Người ghi", WireRecord { volunteer_id: "v".repeat(seven_mb), ..record(visit_with(vec![Topic::Vneid])) }),
        ("Lý do huỷ", void),
    ];
    for (field, attack) in attacks {
        let (status, body) = push(report(), attack).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: PushResponse = serde_json::from_str(&body).unwrap();
        let result = &answer.results[0];
        assert_eq!(result.result, Applied::Rejected, "{field}");
        assert!(result.reason.as_deref().unwrap_or("").contains(field), "{field}: {result:?}");
        assert!(body.len() < 1_000, "no field is sent back: {} bytes", body.len());
    }

    // The device's own report: the whole push is refused.
    let report_7mb = DeviceReport { queued: 0, app_version: "1".repeat(seven_mb) };
    let (status, body) = push(report_7mb, record(visit_with(vec![Topic::Vneid]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Phiên bản ứng dụng"), "{body}");

    assert!(s.state.db.record_versions(COMMUNE).unwrap().is_empty());
    let grown = folder_bytes(s.dir.path()).saturating_sub(before);
    assert!(grown < 1_000_000, "the server's files grew by {grown} bytes");
    // A good record still goes through.
    let (status, body) = push(report(), record(visit_with(vec![Topic::Vneid, Topic::AvoidScams]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"r\":\"applied\""), "{body}");
}

// ---- office imports and pages ---------------------------------------------------------------

async fn office(s: &Served) -> OfficeClient {
    OfficeClient::login(&s.url, USER, PASSWORD).await
}

const SAVE_AS: &str = "CSV UTF-8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_too_large_or_too_long_is_refused_saying_so_and_changes_nothing() {
    let s = serve(|s| s).await;
    let o = office(&s).await;
    let before = s.state.db.commune(COMMUNE).unwrap();
    // 1.2 MB of well-formed hamlets.
    let mut big = String::from("ma,ten,dan_so,da_co_chu_ky\n");
    let mut i = 0;
    while big.len() < 1_200_000 {
        big.push_str(&format!("h-moi-{i},Thôn mới số {i} có tên rất dài cho đủ cỡ tệp,1200,300\n"));
        i += 1;
    }
    let (status, page) = o.upload("/office/hamlets/import", big.as_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Tệp quá lớn. Tệp CSV tối đa 1024 KB."), "{}", &page[..page.len().min(3000)]);
    // 1,001 short hamlet rows, and 5,001 volunteers.
    let rows: String = (0..1001).map(|i| format!("h{i},T{i},10,1\n")).collect();
    let (status, page) =
        o.upload("/office/hamlets/import", format!("ma,ten,dan_so,da_co_chu_ky\n{rows}").as_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Tệp có quá nhiều dòng. Số dòng tối đa: 1000."), "{page}");
    let rows: String = (0..5001).map(|i| format!("v{i},Y {i},h-plei\n")).collect();
    let (status, page) = o.upload("/office/volunteers/import", format!("ma,ho_ten,thon\n{rows}").as_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Số dòng tối đa: 5000."), "{page}");
    assert_eq!(s.state.db.commune(COMMUNE).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utf16_windows_1258_or_excel_file_says_what_it_is_and_how_to_save_it_as_csv_utf8() {
    let s = serve(|s| s).await;
    let o = office(&s).await;
    let before = s.state.db.commune(COMMUNE).unwrap();
    let csv = "ma,ten,dan_so,da_co_chu_ky\nh-moi,Thôn Mới,120,30\n";
    // Excel's "Unicode Text": UTF-16LE with a byte-order mark.
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(csv.encode_utf16().flat_map(|u| u.to_le_bytes()));
    // The same file as Windows-1258 (Vietnamese ANSI) writes it: "ô" is 0xF4, "ớ" is "ơ"
    // (0xF5) and a combining acute (0xEC).
    let cp1258 = b"ma,ten,dan_so,da_co_chu_ky\nh-moi,Th\xf4n M\xf5\xeci,120,30\n".to_vec();
    assert!(std::str::from_utf8(&cp1258).is_err());
    // An .xlsx workbook is a zip file.
    let workbook = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml".to_vec();
    for (file, says) in [(utf16, "UTF-16"), (cp1258, "Windows-1258"), (workbook, "tệp Excel")] {
        for path in ["/office/hamlets/import", "/office/volunteers/import"] {
            let (status, page) = o.upload(path, &file).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(page.contains(says) && page.contains(SAVE_AS), "{says}: {page}");
            assert!(!page.contains("Thiếu cột"), "not told that columns are missing");
        }
    }
    assert_eq!(s.state.db.commune(COMMUNE).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_eighty_thousand_hamlets_and_a_hundred_thousand_volunteers_the_office_pages_stay_small() {
    let s = serve(|s| s).await;
    let mut r = demo_reference();
    for i in 0..80_000 {
        r.hamlets.push(Hamlet {
            id: format!("h-{i}"),
            name: format!("Thôn số {i}"),
            adult_population: 100,
            baseline_signed: 0,
        });
    }
    for i in 0..100_000 {
        let hamlet = Some(format!("h-{}", i % 80_000));
        r.volunteers.push(Volunteer {
            id: format!("v-{i}"),
            name: format!("Tình nguyện viên {i}"),
            hamlet_id: hamlet,
            lead: false,
        });
    }
    // As an import from before the caps would have left it.
    s.state.db.put_commune(&r).unwrap();
    let o = office(&s).await;
    let started = Instant::now();
    let (status, page) = o.get("/office/hamlets").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.len() < 400_000, "the hamlets page is {} bytes", page.len());
    // One shared list of at most 1,000 suggestions, not a list of hamlets on every row.
    assert_eq!(page.matches("<datalist").count(), 1);
    assert!(page.matches("<option").count() <= 1_000, "{} options", page.matches("<option").count());
    let pages = |n: usize| n.div_ceil(50);
    let (hamlet_pages, volunteer_pages) = (pages(r.hamlets.len()), pages(r.volunteers.len()));
    assert!(page.contains(&format!("Trang 1/{hamlet_pages}")), "the hamlets are paged");
    assert!(page.contains(&format!("Trang 1/{volunteer_pages}")), "the volunteers are paged");
    // A volunteer far down the list is found by a search, with their hamlet.
    let (status, page) = o.get("/office/hamlets?q=T%C3%ACnh+nguy%E1%BB%87n+vi%C3%AAn+99999").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-volunteer=\"v-99999\""), "found by name");
    assert!(page.contains("value=\"h-19999\""), "with their hamlet");
    // The last page of the volunteers, and a page past the end, are fine too.
    let (status, page) = o.get(&format!("/office/hamlets?page={hamlet_pages}&vpage=99999")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-volunteer=\"v-99999\"") && page.contains("data-hamlet=\"h-79999\""));
    // The records page offers no list of 100,000 names.
    let (status, page) = o.get("/office/records").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.len() < 400_000, "the records page is {} bytes", page.len());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "{took:?}");
}
