//! Retiring a hamlet from the office's hamlets page: with the session's form token the hamlet
//! leaves coverage and the list devices pull (its records stay, and the change is audited);
//! without the token, or for a hamlet not in use, nothing changes.

use reqwest::StatusCode;

use super::consent::{OfficeClient, PASSWORD, USER};
use super::exhaustion::serve;
use super::sync::COMMUNE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_retires_a_hamlet_with_its_form_token_and_nothing_else_does() {
    let s = serve(|s| s).await;
    let db = s.state.db.clone();
    let o = OfficeClient::login(&s.url, USER, PASSWORD).await;
    let (_, page) = o.get("/office/hamlets").await;
    assert!(page.contains("action=\"/office/hamlets/h-plei/retire\""), "a retire button per hamlet");

    // Without the form token: refused, nothing changed.
    let res = o
        .http
        .post(format!("{}/office/hamlets/h-plei/retire", s.url))
        .header(reqwest::header::COOKIE, &o.cookie)
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(db.commune(COMMUNE).unwrap().hamlet("h-plei").is_some());

    let (status, page) = o.post("/office/hamlets/h-plei/retire", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-testid=\"form-ok\""), "{page}");
    assert!(db.commune(COMMUNE).unwrap().hamlet("h-plei").is_none());
    assert!(db.coverage_report(COMMUNE).unwrap().rows.iter().all(|r| r.hamlet_id != "h-plei"));
    assert_eq!(db.retired_hamlets(COMMUNE).unwrap()[0].0.name, "Làng Plei Rơng");
    let (_, who, what, detail) = db.audit_log(COMMUNE, 1).unwrap().remove(0);
    assert_eq!((who.as_str(), what.as_str(), detail.as_str()), (USER, "hamlet.retire", "h-plei"));
    // Gone from the page; once more, or a hamlet that never was: not found.
    let (_, page) = o.get("/office/hamlets").await;
    assert!(!page.contains("h-plei/retire"));
    let retired = &page[page.find("data-testid=\"retired-hamlets\"").expect("the retired hamlets' list")..];
    assert!(retired.contains("Làng Plei Rơng") && retired.contains("h-plei"));
    for id in ["h-plei", "h-none"] {
        let (status, _) = o.post(&format!("/office/hamlets/{id}/retire"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
}
