//! What the office pages tell the browser, with the real router on 127.0.0.1: every office
//! response forbids scripts, framing, type sniffing and caching; the pages hold no script and
//! no inline style (so the policy breaks nothing); the login form refuses a post that did
//! not come from its own page (login CSRF) before looking at the password; the devices page
//! hands out the configured public address and certificate fingerprint, never the Host the
//! browser used.

use reqwest::header::{HeaderMap, COOKIE, HOST};
use reqwest::StatusCode;
use sotay::enrol_link::{EnrolLink, Fingerprint};
use sotay_server::tls::PublicAddress;

use super::consent::{client, login_form, post_login, OfficeClient};
use super::sync::{start_server_with, COMMUNE};

const USER: &str = "canbo.baomat";
const PASSWORD: &str = "Bảo mật 2026 / Kon Braih";
const LOGIN_EXPIRED: &str = "Trang đăng nhập đã cũ hoặc không đến từ máy chủ này.";

fn assert_guarded(what: &str, headers: &HeaderMap) {
    let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(csp, sotay_server::office::CSP, "{what}: content security policy");
    for needed in ["default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "style-src 'self'"] {
        assert!(csp.contains(needed), "{what}: {csp} lacks {needed}");
    }
    assert!(!csp.contains("script-src") && !csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(headers.get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{what}");
    assert_eq!(headers.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{what}");
    assert_eq!(headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_office_page_forbids_scripts_framing_sniffing_and_caching() {
    let server = start_server_with(|s| s).await;
    server.db.put_account(USER, PASSWORD, COMMUNE, chrono::Utc::now()).unwrap();
    let http = client();
    // Before logging in: the login page, and the redirect from a page that needs a session.
    for path in ["/office/login", "/office", "/office/records", "/office/style.css"] {
        let res = http.get(format!("{}{path}", server.url)).send().await.unwrap();
        assert_guarded(path, res.headers());
    }
    let office = OfficeClient::login(&server.url, USER, PASSWORD).await;
    let pages = [
        "/office",
        "/office/activity",
        "/office/activity?preset=year",
        "/office/records",
        "/office/records?q=Nguy%E1%BB%85n",
        "/office/hamlets",
        "/office/devices",
        "/office/erasure",
        "/office/audit",
        "/office/print",
        "/office/export/coverage.csv",
        "/office/export/coverage.xlsx",
        "/office/records/00000000-0000-7000-8000-000000000000",
    ];
    for path in pages {
        let res = office.get_raw(path).await;
        assert!(res.status() != StatusCode::SEE_OTHER, "{path}: logged in");
        assert_guarded(path, res.headers());
        let html = res.text().await.unwrap_or_default();
        for banned in ["<script", "<style", " style=", "onclick", "javascript:"] {
            assert!(!html.contains(banned), "{path} holds {banned}");
        }
    }
    // Forms' answers too: a new enrolment code, a refused change.
    let res = office
        .http
        .post(format!("{}/office/devices/code", server.url))
        .header(COOKIE, &office.cookie)
        .form(&[("csrf", office.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_guarded("a new code", res.headers());
    let res = office
        .http
        .post(format!("{}/office/devices/code", server.url))
        .header(COOKIE, &office.cookie)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_guarded("a refused form", res.headers());
    // The pages' one stylesheet is served, as CSS, from the policy's own origin.
    let (status, css) = office.get("/office/style.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains(".code-box"));
    let (_, page) = office.get("/office").await;
    assert!(page.contains(r#"<link rel="stylesheet" href="/office/style.css">"#), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_post_without_its_form_token_is_refused_before_the_password_is_checked() {
    let server = start_server_with(|s| s).await;
    server.db.put_account(USER, PASSWORD, COMMUNE, chrono::Utc::now()).unwrap();
    let http = client();
    let url = format!("{}/office/login", server.url);
    let (cookie, token) = login_form(&http, &server.url).await;
    let (_, other_token) = login_form(&client(), &server.url).await;
    assert_ne!(token, other_token, "each browser gets its own token");
    let right = [("username", USER), ("password", PASSWORD)];
    // As a page on another site would post it: no cookie (SameSite=Strict), no token, or
    // a token of its own; each refused although the password is right, and each time the
    // wrong password counts nothing (three would lock the name).
    let attempts: [(Option<&str>, Option<&str>); 4] =
        [(None, None), (None, Some(&token)), (Some(&cookie), None), (Some(&cookie), Some(&other_token))];
    for password in [PASSWORD, "sai", "sai", "sai"] {
        for (c, t) in attempts {
            let mut form = vec![("username", USER), ("password", password)];
            if let Some(t) = t {
                form.push(("login_csrf", t));
            }
            let mut req = http.post(&url).form(&form);
            if let Some(c) = c {
                req = req.header(COOKIE, c);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "cookie {c:?}, token {t:?}");
            assert!(res
                .headers()
                .get_all("set-cookie")
                .iter()
                .all(|v| !v.to_str().unwrap().starts_with("sotay_session=")));
            assert_guarded("a refused login", res.headers());
            let html = res.text().await.unwrap();
            assert!(html.contains(LOGIN_EXPIRED), "{html}");
            assert!(html.contains("name=\"login_csrf\""), "a fresh form to try again");
        }
    }
    // From its own page, the login goes through: nothing was counted against the name.
    let res = http
        .post(&url)
        .header(COOKIE, &cookie)
        .form(&[right[0], right[1], ("login_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<&str> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("sotay_session=") && c.contains("; Secure")), "{cookies:?}");
    assert!(
        cookies.iter().any(|c| c.starts_with("sotay_login=;") && c.contains("Max-Age=0")),
        "the login token is spent"
    );
    let login_cookie_attrs = {
        let res = client().get(&url).send().await.unwrap();
        res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned()
    };
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/office/login", "Secure"] {
        assert!(login_cookie_attrs.contains(attr), "{login_cookie_attrs} lacks {attr}");
    }
    // A wrong password from the real form still answers as before.
    assert_eq!(post_login(&http, &server.url, USER, "sai").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devices_page_gives_the_configured_address_and_fingerprint_never_the_browsers_host() {
    let fingerprint = Fingerprint::of_der(b"the commune's certificate");
    let public = PublicAddress { url: "https://192.168.1.10:8443".into(), fingerprint: Some(fingerprint) };
    let server = start_server_with(|s| s.with_public_address(public)).await;
    server.db.put_account(USER, PASSWORD, COMMUNE, chrono::Utc::now()).unwrap();
    let office = OfficeClient::login(&server.url, USER, PASSWORD).await;
    let res = office
        .http
        .post(format!("{}/office/devices/code", server.url))
        .header(COOKIE, &office.cookie)
        .header(HOST, "localhost:9999")
        .form(&[("csrf", office.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(!page.contains("localhost:9999"), "the browser's Host is not handed out");
    let between = |start: &str| {
        let at = page.find(start).unwrap_or_else(|| panic!("{start} in the page")) + start.len();
        page[at..].split('<').next().unwrap().to_owned()
    };
    let code = between("<p class=\"code\">");
    assert_eq!(between("data-testid=\"enrol-address\">"), "https://192.168.1.10:8443");
    assert_eq!(between("data-testid=\"enrol-fingerprint\">"), fingerprint.grouped());
    let link = EnrolLink::parse(&between("data-testid=\"enrol-link\">").replace("&amp;", "&")).expect("a link");
    assert_eq!(link, EnrolLink { server: "https://192.168.1.10:8443".into(), code, fingerprint: Some(fingerprint) });
    assert!(page.contains("<svg"), "a QR code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_address_the_devices_page_says_so_instead_of_guessing() {
    let server = start_server_with(|s| s).await;
    server.db.put_account(USER, PASSWORD, COMMUNE, chrono::Utc::now()).unwrap();
    let office = OfficeClient::login(&server.url, USER, PASSWORD).await;
    let (status, page) = office.post("/office/devices/code", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<p class=\"code\">"), "the code is still made");
    assert!(page.contains("--public-url"), "and the page says what is missing");
    assert!(!page.contains("<svg") && !page.contains("sotay://"), "no link to a guessed address");
}
