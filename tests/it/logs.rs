//! Logs hold no personal data. The real `sotay-server` binary runs with `SOTAY_LOG=trace`
//! (its standard error captured), and this test process logs at TRACE into a buffer while a
//! device enrols, saves signature help for a test person with consent, syncs, and the office
//! does everything it can with that person over HTTP: the records search by name, the
//! record, the erasure lookups by name and by ID number, the exports, the consent record,
//! the erasure itself; then the device syncs again. Then the error paths: a name typed into
//! paths, query strings and a login form, a malformed push carrying the ID number, and a
//! stored value that no longer decodes (whose error text would quote the name). Neither log
//! may contain the name (as typed, case- or diacritic-folded, or URL-encoded), the phone, the
//! ID number or its last four digits.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use sotay::store::Store;
use sotay::sync::engine::BatchSize;
use sotay::sync::{run_once, SyncError};

use super::consent::{client, save_signature, OfficeClient, PASSWORD, PERSON, USER};
use super::stores::TestStore;
use super::sync::COMMUNE;

/// A buffer the test process's log lines go into.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Everything that would identify the test person, lower-cased: the name as typed, folded
/// and URL-encoded (as a logged query string or form body would carry it), the phone as
/// typed and stored, the ID number.
fn needles() -> Vec<String> {
    let mut names = vec![PERSON.name.to_owned(), sotay::domain::fold::fold(PERSON.name), "huệ nhung".into()];
    names.push(sotay::domain::fold::fold(&names[2]));
    let mut out = Vec::new();
    for n in names {
        let n = n.to_lowercase();
        let encoded: String = form_urlencoded::byte_serialize(n.as_bytes()).collect();
        out.extend([
            n.clone(),
            n.replace(' ', "+"),
            n.replace(' ', "%20"),
            encoded.clone(),
            encoded.replace('+', "%20"),
        ]);
        // Decomposed (NFD), as a folding step might leave it.
        out.push(unicode_normalization::UnicodeNormalization::nfd(n.as_str()).collect());
    }
    let phone = PERSON.phone_stored();
    out.extend([PERSON.phone.to_owned(), phone[1..].to_owned(), PERSON.cid.to_owned()]);
    out.sort();
    out.dedup();
    out
}

/// `text` with every UUID replaced, so four random hex digits in one are not mistaken for
/// the last four of the ID number.
fn without_uuids(text: &str) -> String {
    let shape = |s: &[u8]| {
        s.len() == 36
            && s.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && shape(&bytes[i..i + 36]) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Checks that nothing of the test person is in a log.
fn assert_clean(what: &str, log: &str) {
    let lower = log.to_lowercase();
    for n in needles() {
        if let Some(at) = lower.find(&n) {
            let line = lower[..at].rfind('\n').map(|s| s + 1).unwrap_or(0);
            panic!("the {what} log holds {n:?}: {}", &log[line..(at + n.len() + 80).min(log.len())]);
        }
    }
    // The last four digits, standing alone (a timestamp's year or a latency is never
    // zero-padded; UUIDs are taken out first).
    let text = without_uuids(log);
    let last4 = PERSON.last4();
    for (at, _) in text.match_indices(last4) {
        let before = text[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
        let after = text[at + 4..].chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        assert!(before || after, "the {what} log holds the last four ID digits: {}", &text[at.saturating_sub(80)..]);
    }
}

#[tokio::test]
async fn no_log_holds_a_persons_name_phone_or_id_digits_at_trace_level() {
    // This process's own logs (the sync client, the HTTP client) at TRACE. The runtime is
    // single-threaded, so every task of the test runs under this subscriber.
    let captured = Buffer::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // With a single dispatcher registered, tracing decides whether a callsite is enabled by
    // asking the dispatcher of whichever thread reaches it first; when that is another test's
    // thread (with none) the callsite stays off here too. A second registered dispatcher makes
    // it ask all of them.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    let _guard = tracing::subscriber::set_default(subscriber);

    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let bin = crate::it::common::server_bin();
    let server_store = TestStore::new();
    let command = || {
        let mut cmd = Command::new(bin);
        server_store.apply(&mut cmd);
        cmd
    };
    let out = command()
        .args(["add-admin", "--demo", "--data"])
        .arg(data.path())
        .arg(USER)
        .env("SOTAY_ADMIN_PASSWORD", PASSWORD)
        .env("SOTAY_LOG", "trace")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli_log = String::from_utf8_lossy(&out.stderr).into_owned();

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server_log = logs.path().join("server.log");
    let server = ServerProcess(
        command()
            .args(["serve", "--demo", "--plain-http", "--addr", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data.path())
            .env("SOTAY_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&server_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut up = false;
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "sotay-server did not start");

    // A wrong login with the person's name as the user name, then the office logs in.
    let http = client();
    let res = super::consent::post_login(&http, &url, PERSON.name, PERSON.cid).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let office = OfficeClient::login(&url, USER, PASSWORD).await;

    // An enrolment code from the devices page, and a device enrolled with it.
    let (status, page) = office.post("/office/devices/code", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let at = page.find("<p class=\"code\">").expect("a code") + "<p class=\"code\">".len();
    let code = page[at..].split('<').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
    sotay::sync::enrol(&store, &url, &code, "máy thử nhật ký").await.unwrap();
    store.set_current_volunteer("v-lan").unwrap();

    // The person, helped twice with consent (the first edited), and a session without.
    let first = save_signature(&store, &PERSON, true, "h-plei");
    store
        .update(
            first.meta.id,
            first.meta.version,
            "v-lan",
            &first.meta.hamlet_id,
            first.meta.occurred_at,
            first.body.clone(),
        )
        .unwrap();
    let second = save_signature(&store, &PERSON, true, "h-plei");
    save_signature(&store, &PERSON, false, "h-plei");
    run_once(&store, &mut BatchSize::default()).await.unwrap();
    assert!(store.outbox(1).unwrap().is_empty());

    // The office, as it works with the person's records.
    let search =
        format!("/office/records?q={}", form_urlencoded::byte_serialize(PERSON.name.as_bytes()).collect::<String>());
    let (status, page) = office.get(&search).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(PERSON.name), "the search by name finds the person");
    let (status, page) = office.get(&format!("/office/records/{}", first.meta.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(PERSON.name));
    let (status, page) = office.post("/office/erasure", &[("name", PERSON.name), ("citizen_id", "")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&first.meta.id.to_string()) && page.contains(&second.meta.id.to_string()));
    let (status, page) = office.post("/office/erasure", &[("name", ""), ("citizen_id", PERSON.cid)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&first.meta.id.to_string()), "found by the ID number's hash");
    for export in [
        "/office/export/coverage.xlsx",
        "/office/export/coverage.csv",
        "/office/export/activity.xlsx?preset=year",
        "/office/export/activity.csv?preset=year",
        "/office/print?preset=year",
    ] {
        let res = office.get_raw(export).await;
        assert_eq!(res.status(), StatusCode::OK, "{export}");
        assert!(!res.bytes().await.unwrap().is_empty());
    }
    let consent = format!("/office/records/{}/consent", first.meta.id);
    let (status, page) = office.get(&consent).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(PERSON.name) && page.contains(PERSON.last4()));
    let (first_id, second_id) = (first.meta.id.to_string(), second.meta.id.to_string());
    let (status, page) = office.post("/office/erasure/erase", &[("id", &first_id), ("id", &second_id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Đã xoá dữ liệu cá nhân của số bản ghi: 2"));
    let (status, page) = office.get(&consent).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(PERSON.name));
    run_once(&store, &mut BatchSize::default()).await.unwrap();
    assert!(matches!(store.get(first.meta.id).unwrap().unwrap().body,
        sotay::domain::Body::SignatureHelp(ref s) if s.person.is_none()));

    // Error paths, each with the person's details where a careless log would repeat them.
    let name_path: String = form_urlencoded::byte_serialize(PERSON.name.as_bytes()).collect();
    let (status, _) = office.get(&format!("/office/{name_path}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = office.get(&format!("/office/records/{name_path}/consent")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = office.get(&format!("/office/records/{}", PERSON.cid)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = office.post("/office/erasure", &[("name", ""), ("citizen_id", &PERSON.cid[1..])]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a mistyped ID number");
    let res = http
        .get(format!("{url}/api/v1/c/{COMMUNE}/pull"))
        .query(&[("after", PERSON.name), ("phone", PERSON.phone)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = http
        .post(format!("{url}/api/v1/enrol"))
        .body(format!("{{\"api_version\": 1, \"code\": \"{}\", \"device_name\": \"{}\"", PERSON.cid, PERSON.name))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "malformed JSON");
    let body = res.text().await.unwrap();
    assert!(!body.contains(PERSON.cid) && !body.contains(PERSON.name));

    // A stored value that no longer decodes: serde's message would quote it.
    {
        assert!(!PERSON.name.contains('\''));
        let set = match server_store {
            TestStore::Sqlite => format!("json_set(reference, '$.commune.target_percent', '{}')", PERSON.name),
            TestStore::Postgres(_) => {
                format!(
                    "jsonb_set(reference::jsonb, '{{commune,target_percent}}', to_jsonb('{}'::text))::text",
                    PERSON.name
                )
            }
        };
        let sql = format!("UPDATE communes SET reference = {set} RETURNING 1");
        assert_eq!(server_store.sql(&data.path().join("sotay-server.db"), &sql), "1");
    }
    let (status, _) = office.get("/office/hamlets").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    save_signature(&store, &PERSON, true, "h-plei");
    let failed = run_once(&store, &mut BatchSize::default()).await;
    assert!(matches!(failed, Err(SyncError::Server(500))), "{failed:?}");
    assert!(!store.outbox(1).unwrap().is_empty(), "kept to send again");
    drop(server);

    let server_log = std::fs::read_to_string(&server_log).unwrap();
    let process_log = captured.text();
    for (what, log) in [("server", &server_log), ("test process", &process_log)] {
        assert!(!log.trim().is_empty(), "the {what} log is empty: the test would prove nothing");
        assert_clean(what, log);
    }
    // The command-line tool may log nothing; what it logs is checked too.
    assert_clean("add-admin", &cli_log);
    // The logs did see all of it.
    for expected in [
        "path=/office/records}",
        "path=/office/records/{id}/consent}",
        "path=/office/erasure}",
        "path=/office/export/{file}}",
        "path=/api/v1/c/{commune}/push}",
        "path=(no route)",
        "status=500",
        "office page failed",
        "device API request failed",
        "stored JSON unreadable",
        "device enrolled",
        "applied=",
        "office login refused",
    ] {
        assert!(server_log.contains(expected), "the server log lacks {expected:?}:\n{server_log}");
    }
    for expected in ["sync push", "records=", "sync pull", "sync answer", "status=200", "status=500"] {
        assert!(process_log.contains(expected), "this process's log lacks {expected:?}:\n{process_log}");
    }
}
