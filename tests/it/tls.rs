//! The wire is encrypted: the server's own certificate, enrolment and sync over HTTPS with
//! the certificate pinned, impostors and plain `http://` refused before anything is sent,
//! and connections that dribble bytes closed by the handshake and header-read timeouts.
//! The real `sotay-server` binary: its certificate, its enrolment link, its refusals.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sotay::enrol_link::{EnrolLink, Fingerprint};
use sotay::store::Store;
use sotay::sync::engine::BatchSize;
use sotay::sync::{run_once, SyncError};
use sotay_server::db::ServerDb;
use sotay_server::tls::{self, PublicAddress, Timeouts};
use sotay_server::{router, AppState};

use super::stores::TestStore;
use super::sync::{demo_reference, device_state, make_records, server_state, COMMUNE};

/// A real router over HTTPS on 127.0.0.1:0 with its own self-signed certificate, counting
/// the requests that reach it.
struct TlsServer {
    url: String,
    port: u16,
    db: Arc<ServerDb>,
    fingerprint: Fingerprint,
    requests: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    fn public(&self) -> PublicAddress {
        PublicAddress { url: self.url.clone(), fingerprint: Some(self.fingerprint) }
    }

    /// A one-time code, as the link the office hands out.
    fn link(&self) -> EnrolLink {
        let code = self.db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
        EnrolLink::parse(&self.public().link(&code).to_link()).expect("the office's link reads back")
    }
}

async fn start_tls(timeouts: Timeouts, tls: bool) -> TlsServer {
    let dir = tempfile::tempdir().unwrap();
    let db = super::stores::server_db(dir.path());
    db.put_commune(&demo_reference()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (identity, made) = tls::self_signed(dir.path(), &["127.0.0.1".into()]).unwrap();
    assert!(made);
    let url = format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" });
    let state = AppState::new(db)
        .with_public_address(PublicAddress { url: url.clone(), fingerprint: Some(identity.fingerprint) });
    let db = state.db.clone();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let app = router(state).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            counted.fetch_add(1, Ordering::SeqCst);
            next.run(req)
        },
    ));
    let config = tls.then(|| identity.server_config().unwrap());
    let task = tokio::spawn(async move {
        tls::serve(listener, app, config, timeouts).await.unwrap();
    });
    TlsServer { url, port, db, fingerprint: identity.fingerprint, requests, _dir: dir, task }
}

fn new_store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_enrols_and_syncs_over_https_with_the_certificate_pinned() {
    let server = start_tls(Timeouts::default(), true).await;
    let (_dir, store) = new_store();
    let link = server.link();
    assert_eq!(link.fingerprint, Some(server.fingerprint));
    sotay::sync::enrol_pinned(&store, &link.server, link.fingerprint, &link.code, "máy thử").await.unwrap();
    let enrolment = store.enrolment().unwrap().unwrap();
    assert_eq!(enrolment.server_url, server.url);
    assert_eq!(enrolment.cert_pin, Some(server.fingerprint.to_hex()), "the pin is kept with the enrolment");
    store.set_current_volunteer("v-lan").unwrap();
    make_records(&store, 30, "tls");
    let report = run_once(&store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(report.sent, 30);
    assert_eq!(server_state(&server.db), device_state(&store));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_typed_without_a_scheme_is_https() {
    assert_eq!(sotay::sync::client::server_base("192.168.1.10:8443").unwrap(), "https://192.168.1.10:8443");
    assert_eq!(sotay::sync::client::server_base(" https://x.vn/ ").unwrap(), "https://x.vn");
    assert_eq!(sotay::sync::client::server_base("http://localhost:8080").unwrap(), "http://localhost:8080");
    assert_eq!(sotay::sync::client::server_base("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
    assert_eq!(sotay::sync::client::server_base("http://192.168.1.10:8080"), Err(SyncError::PlainHttp));
    assert_eq!(sotay::sync::client::server_base("ftp://192.168.1.10"), Err(SyncError::BadServerUrl));
    assert_eq!(sotay::sync::client::server_base("https://a:b@x.vn"), Err(SyncError::BadServerUrl));
    // Against the real server: typed as numbers and a port, with the fingerprint typed.
    let server = start_tls(Timeouts::default(), true).await;
    let (_dir, store) = new_store();
    let link = server.link();
    let typed = format!("127.0.0.1:{}", server.port);
    let pin = Fingerprint::parse(&server.fingerprint.grouped());
    sotay::sync::enrol_pinned(&store, &typed, pin, &link.code, "máy thử").await.unwrap();
    assert_eq!(store.enrolment().unwrap().unwrap().server_url, server.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_another_certificate_is_refused_and_is_sent_nothing() {
    let commune = start_tls(Timeouts::default(), true).await;
    let impostor = start_tls(Timeouts::default(), true).await;
    assert_ne!(commune.fingerprint, impostor.fingerprint);
    let (_dir, store) = new_store();

    // Enrolling with the impostor's address and the commune's fingerprint: refused in the
    // handshake, the code never reaches it.
    let link = impostor.link();
    let refused =
        sotay::sync::enrol_pinned(&store, &impostor.url, Some(commune.fingerprint), &link.code, "máy thử").await;
    assert_eq!(refused, Err(SyncError::CertMismatch));
    assert!(SyncError::CertMismatch.is_permanent());
    assert_eq!(impostor.requests.load(Ordering::SeqCst), 0, "no request reached the impostor");
    assert!(store.enrolment().unwrap().is_none());
    // The same one-time code still works with the right pin: it was never sent.
    sotay::sync::enrol_pinned(&store, &impostor.url, link.fingerprint, &link.code, "máy thử").await.unwrap();
    // The enrolment, and the pull that brings the device its users at once.
    assert_eq!(impostor.requests.load(Ordering::SeqCst), 2);

    // A device enrolled with the commune whose address now leads to the impostor (a
    // spoofed network): every later sync is refused before a record leaves.
    let (_dir2, device) = new_store();
    let link = commune.link();
    sotay::sync::enrol_pinned(&device, &link.server, link.fingerprint, &link.code, "máy thử").await.unwrap();
    device.set_current_volunteer("v-lan").unwrap();
    make_records(&device, 10, "giả");
    let queued = device.outbox_summary().unwrap().pending;
    device.set_setting("server_url", &impostor.url).unwrap();
    let before = impostor.requests.load(Ordering::SeqCst);
    let sync = run_once(&device, &mut BatchSize::default()).await;
    assert_eq!(sync, Err(SyncError::CertMismatch));
    assert_eq!(impostor.requests.load(Ordering::SeqCst), before, "the impostor saw no push");
    assert!(server_state(&impostor.db).is_empty());
    assert_eq!(device.outbox_summary().unwrap().pending, queued, "every record is still queued");
    let message = sotay::i18n::Lang::Vi.strings().sync_error(&SyncError::CertMismatch);
    assert!(message.contains("không khớp dấu vân tay") && message.contains("chưa gửi gì"), "{message}");
    // Back on the commune's server, the same records go.
    device.set_setting("server_url", &commune.url).unwrap();
    assert_eq!(run_once(&device, &mut BatchSize::default()).await.unwrap().sent, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_server_without_a_pin_is_not_trusted() {
    let server = start_tls(Timeouts::default(), true).await;
    let (_dir, store) = new_store();
    let link = server.link();
    let refused = sotay::sync::enrol(&store, &server.url, &link.code, "máy thử").await;
    assert_eq!(refused, Err(SyncError::CertUntrusted));
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
    let message = sotay::i18n::Lang::Vi.strings().sync_error(&SyncError::CertUntrusted);
    assert!(message.contains("liên kết đăng ký"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_another_machine_is_refused_before_any_connection() {
    // A listener on 127.0.0.1 that counts connections. `::ffff:127.0.0.1` reaches it too,
    // but is not an address the app treats as this machine.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    let (_dir, store) = new_store();
    let plain = format!("http://[::ffff:127.0.0.1]:{port}");
    assert_eq!(sotay::sync::enrol(&store, &plain, "ABCD-EFGH", "máy").await, Err(SyncError::PlainHttp));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
    // The same address over https does reach the listener (so the count above means something).
    let tried = sotay::sync::enrol(&store, &plain.replace("http://", "https://"), "ABCD-EFGH", "máy").await;
    assert!(tried.is_err());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let message = sotay::i18n::Lang::Vi.strings().sync_error(&SyncError::PlainHttp);
    assert!(message.contains("https://") && message.contains("không mã hoá"), "{message}");
    task.abort();
}

/// How long after it was opened each connection was closed by the server, for `n`
/// connections that each call `dribble` (one byte every 200 ms) until the server closes
/// them or `limit` passes.
fn closed_after(
    n: usize,
    limit: Duration,
    dribble: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
    port: u16,
) -> Vec<Option<Duration>> {
    let dribble = Arc::new(dribble);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let dribble = dribble.clone();
            std::thread::spawn(move || {
                let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                conn.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                let start = Instant::now();
                let bytes = dribble(i);
                let mut sent = 0;
                while start.elapsed() < limit {
                    if sent < bytes.len() && conn.write_all(&bytes[sent..sent + 1]).is_err() {
                        return Some(start.elapsed());
                    }
                    sent += 1;
                    let mut buf = [0u8; 256];
                    match conn.read(&mut buf) {
                        Ok(0) => return Some(start.elapsed()),
                        Ok(_) => {}
                        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        }
                        Err(_) => return Some(start.elapsed()),
                    }
                }
                None
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn assert_all_closed(what: &str, closed: &[Option<Duration>], timeout: Duration) {
    for (i, c) in closed.iter().enumerate() {
        let c = c.unwrap_or_else(|| panic!("{what}: connection {i} was still open"));
        assert!(c >= timeout - Duration::from_millis(300), "{what}: connection {i} closed early, after {c:?}");
        assert!(c <= timeout + Duration::from_millis(1500), "{what}: connection {i} closed late, after {c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_dribble_their_headers_or_handshake_are_closed_within_the_timeout() {
    let timeouts = Timeouts { handshake: Duration::from_secs(1), header_read: Duration::from_secs(1) };
    let limit = Duration::from_secs(6);
    // Plain HTTP (loopback, behind a proxy): one header byte every 200 ms.
    let plain = start_tls(timeouts, false).await;
    let port = plain.port;
    let headers = |i: usize| {
        format!("GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-{i}: {}", "a".repeat(200)).into_bytes()
    };
    let closed = tokio::task::spawn_blocking(move || closed_after(20, limit, headers, port)).await.unwrap();
    assert_all_closed("plain headers", &closed, timeouts.header_read);
    assert_eq!(plain.requests.load(Ordering::SeqCst), 0);

    // HTTPS: a handshake sent one byte at a time.
    let server = start_tls(timeouts, true).await;
    let port = server.port;
    let hello = |_| {
        let mut b = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
        b.extend([7u8; 64]);
        b
    };
    let closed = tokio::task::spawn_blocking(move || closed_after(20, limit, hello, port)).await.unwrap();
    assert_all_closed("TLS handshake", &closed, timeouts.handshake);

    // HTTPS: the handshake done, then headers one byte every 200 ms.
    let pin = server.fingerprint;
    let closed = tokio::task::spawn_blocking(move || {
        (0..10)
            .map(|i| std::thread::spawn(move || dribble_over_tls(port, pin, i, limit)))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_all_closed("TLS headers", &closed, timeouts.header_read);
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);

    // A whole request is still answered, and a kept-alive connection left idle is closed.
    let mut conn = tls_stream(port, pin);
    conn.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = [0u8; 512];
    let n = conn.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    let idle = Instant::now();
    conn.sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    assert!(idle.elapsed() < Duration::from_millis(2500), "an idle connection stayed open {:?}", idle.elapsed());
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

fn tls_stream(port: u16, pin: Fingerprint) -> TlsStream {
    let config = Arc::new(sotay::sync::pinning::pinned_config(pin).unwrap());
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

/// Completes a TLS handshake, then sends a request's headers one byte every 200 ms; how long
/// after the handshake the server closed the connection.
fn dribble_over_tls(port: u16, pin: Fingerprint, i: usize, limit: Duration) -> Option<Duration> {
    let mut stream = tls_stream(port, pin);
    stream.sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let bytes = format!("GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-{i}: {}", "a".repeat(200));
    let start = Instant::now();
    for b in bytes.as_bytes() {
        if start.elapsed() > limit {
            return None;
        }
        if stream.write_all(&[*b]).and_then(|_| stream.flush()).is_err() {
            return Some(start.elapsed());
        }
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn the_server_makes_its_certificate_once_keeps_it_and_names_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let (made, fresh) = tls::self_signed(dir.path(), &["192.168.1.10".into()]).unwrap();
    assert!(fresh);
    for host in ["192.168.1.10", "localhost", "127.0.0.1"] {
        assert!(made.covers(host), "the certificate names {host}");
    }
    assert!(!made.covers("192.168.1.11"));
    assert!(!made.covers("sotay.example.vn"));
    let key = dir.path().join(tls::KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (again, fresh) = tls::self_signed(dir.path(), &["192.168.1.10".into()]).unwrap();
    assert!(!fresh, "kept, not made again");
    assert_eq!(again.fingerprint, made.fingerprint);
    assert_eq!(made.fingerprint, Fingerprint::of_der(&pem_cert(&dir.path().join(tls::CERT_FILE))));
    // The same files given as a certificate: the same fingerprint, pinned only if asked.
    let given = tls::load_given(&dir.path().join(tls::CERT_FILE), &key, false).unwrap();
    assert_eq!((given.fingerprint, given.pin), (made.fingerprint, false));
    // A certificate without its key is not silently replaced.
    std::fs::remove_file(&key).unwrap();
    assert!(matches!(tls::self_signed(dir.path(), &[]), Err(tls::TlsError::Half(..))));
}

fn pem_cert(path: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(path).unwrap().to_vec()
}

// ---- the binary -------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sotay-server serve` with `args` and waits until it accepts connections.
#[allow(clippy::disallowed_methods)]
fn serve(data: &Path, store: &TestStore, port: u16, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(crate::it::common::server_bin());
    store.apply(&mut cmd);
    cmd.args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}"), "--data"]).arg(data).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Child(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("sotay-server did not start");
}

fn server_cli(data: &Path, store: &TestStore, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(crate::it::common::server_bin());
    store.apply(&mut cmd);
    cmd.args(args).arg("--data").arg(data).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enrolment_link_of_enrol_code_enrols_and_syncs_with_the_running_server() {
    let data = tempfile::tempdir().unwrap();
    let server_store = TestStore::new();
    let port = free_port();
    let _server = serve(data.path(), &server_store, port, &[], &[]);
    let url = format!("https://127.0.0.1:{port}");
    let out = server_cli(data.path(), &server_store, &["enrol-code", "--public-url", &url]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let link = text.lines().find_map(|l| l.split_once("enrolment link: ")).map(|(_, l)| l).expect("a link");
    let link = EnrolLink::parse(link).expect("the link reads");
    let served = Fingerprint::of_der(&pem_cert(&data.path().join(tls::CERT_FILE)));
    assert_eq!(link.server, url);
    assert_eq!(link.fingerprint, Some(served), "the link pins the certificate the server made");
    assert!(text.contains(&format!("certificate SHA-256: {}", served.grouped())), "{text}");
    assert!(text.contains(&format!("enrolment code: {}", link.code)), "{text}");

    let (_dir, store) = new_store();
    sotay::sync::enrol_pinned(&store, &link.server, link.fingerprint, &link.code, "máy thử").await.unwrap();
    store.set_current_volunteer("v-lan").unwrap();
    make_records(&store, 12, "cli");
    assert_eq!(run_once(&store, &mut BatchSize::default()).await.unwrap().sent, 12);
    let db = server_store.open(&data.path().join("sotay-server.db"));
    assert_eq!(server_state(&db), device_state(&store));
}

#[test]
fn plain_http_is_served_only_on_a_loopback_address() {
    let data = tempfile::tempdir().unwrap();
    let store = TestStore::new();
    for (args, says) in [
        (vec!["serve", "--plain-http", "--addr", "0.0.0.0:8080"], "loopback"),
        (vec!["serve", "--plain-http", "--addr", "192.168.1.10:8080"], "loopback"),
        (vec!["serve", "--addr", "0.0.0.0:8443"], "--public-url"),
    ] {
        let out = server_cli(data.path(), &store, &args);
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!data.path().join("sotay-server.db").exists(), "refused before anything was opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_unless_switched_off_for_plain_http_development() {
    let data = tempfile::tempdir().unwrap();
    let store = TestStore::new();
    let mut cmd = Command::new(crate::it::common::server_bin());
    store.apply(&mut cmd);
    let out = cmd
        .args(["add-admin", "--demo", "--data"])
        .arg(data.path())
        .arg("canbo")
        .env("SOTAY_ADMIN_PASSWORD", "mat-khau-dai-du")
        .output()
        .unwrap();
    assert!(out.status.success());
    for (env, secure) in [(None, true), (Some("0"), false)] {
        let port = free_port();
        let env: Vec<(&str, &str)> = env.map(|v| ("SOTAY_COOKIE_SECURE", v)).into_iter().collect();
        let _server = serve(data.path(), &store, port, &["--plain-http"], &env);
        let http = super::consent::client();
        let res =
            super::consent::post_login(&http, &format!("http://127.0.0.1:{port}"), "canbo", "mat-khau-dai-du").await;
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
        let cookie = res
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("sotay_session="))
            .unwrap()
            .to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
    }
}
