//! The commune office's web pages: login, coverage, activity, records (with a search by a
//! person's name), each consenting person's printable consent record, hamlets and target,
//! volunteers (team leads; CSV import), devices, erasure, exports and print view, audit log.
//! Server-rendered HTML that works on a plain office PC without JavaScript and prints well.
//!
//! Every page needs a session; every change (a POST) needs the session's CSRF token (the
//! [`Posted`] and [`Upload`] extractors check it before a handler runs), is refused with a
//! clear message and changes nothing otherwise, and is written to the audit
//! log, as is every view that shows a person: the record list, a record, a consent record,
//! the searches by name or ID number. Wording comes from `i18n::office`. Nothing here logs
//! what a request carries.
//!
//! The login form carries a token of its own, matched against a `SameSite=Strict` cookie
//! before any password is looked at, so another site cannot log a browser in to an account
//! of its choosing. Cookies are `Secure` (unless `SOTAY_COOKIE_SECURE=0`). Every response
//! forbids framing, sniffing and caching and has a content security policy: no script at
//! all, styles from the stylesheet only ([`office_headers`]).
//!
//! The database is reached only through [`AppState::blocking`]: the session lookup in the
//! [`Office`] extractor and each handler's work run on the blocking threads. Query
//! parameters that cannot be read ([`Params`]) and dates outside 2000–2100 are answered 400
//! with a message; no input makes a handler panic. Pages stay small however many hamlets and
//! volunteers a commune has: long lists are paged and long choice lists become a text box.

mod breakdowns;
mod devices;
mod erasure;
mod figures;
mod import;
mod login;
mod plan;
mod posted;
mod province;
mod records;
mod reference;
mod report;
mod unit_lead;
mod units;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{Datelike, NaiveDate, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use super::accounts::{LoginError, Session};
use super::reports::{ActivityReport, CoverageReport};
use super::{db, export, AppState, TaskFailed};
use crate::domain::{Hamlet, ReferenceData};
use crate::i18n::office::{OfficeStrings, EN, VI};
use devices::*;
use erasure::*;
use figures::*;
use import::*;
use login::*;
use posted::*;
use province::*;
use records::*;
use reference::*;
use report::*;

pub use import::{import_hamlets_into, import_volunteers_into, parse_hamlet_csv, parse_volunteer_csv};
pub use login::set_lang;

const COOKIE: &str = "sotay_session";
/// The login form's own token (login CSRF), before there is a session.
const LOGIN_COOKIE: &str = "sotay_login";
const CSS: &str = include_str!("../../../../assets/office.css");

/// What office pages may load: their stylesheet, and forms posting back here. No script, no
/// inline style, no frames, nothing from elsewhere. (`img-src` is for the favicon request.)
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The office routes, to merge into the server's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/office", get(coverage_page))
        .route("/office/login", get(login_page).post(login))
        .route("/office/logout", post(logout))
        .route("/office/activity", get(activity_page))
        .route("/office/hamlets", get(hamlets_page))
        .route("/office/hamlets/{id}", post(save_hamlet))
        .route("/office/hamlets/import", post(import_hamlets))
        .route("/office/target", post(save_target))
        .route("/office/volunteers", post(save_volunteer))
        .route("/office/volunteers/import", post(import_volunteers))
        .route("/office/providers", post(save_providers))
        .route("/office/devices", get(devices_page))
        .route("/office/devices/code", post(new_code))
        .route("/office/devices/{id}", get(device_page))
        .route("/office/devices/{id}/users", post(device_users))
        .route("/office/devices/{id}/pin-code", post(device_pin_code))
        .route("/office/devices/{id}/revoke", post(revoke_device))
        .route("/office/audit", get(audit_page))
        .route("/office/records", get(records_page))
        .route("/office/records/{id}", get(record_page))
        .route("/office/records/{id}/consent", get(consent_page))
        .route("/office/erasure", get(erasure_page).post(erasure_find))
        .route("/office/erasure/erase", post(erasure_erase))
        .route("/office/print", get(print_page))
        .route("/office/report", get(report_page))
        .route("/office/report.docx", get(report_docx))
        .route("/office/export/{file}", get(export_file))
        .route("/office/hamlets/{id}/retire", post(retire_hamlet))
        .route("/office/province", get(province_coverage_page))
        .route("/office/province/c/{code}", get(province_commune_page))
        .route("/office/province/activity", get(province_activity_page))
        .route("/office/province/quiet", get(province_quiet_page))
        .route("/office/province/print", get(province_print_page))
        .route("/office/province/export/{file}", get(province_export))
        .route("/office/province/audit", get(province_audit_page))
        .route("/office/style.css", get(stylesheet))
        .merge(units::unit_routes())
        .merge(unit_lead::lead_routes())
        .merge(plan::plan_routes())
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(axum::middleware::map_response(office_headers))
}

/// An address holding a NUL character (`%00`) is a malformed request, answered 400: no
/// stored text holds one, and PostgreSQL cannot even be asked about one.
async fn refuse_nul(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.uri().path_and_query().is_some_and(|pq| pq.as_str().contains("%00")) {
        let t = lang(req.headers());
        return Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_query)).into_response();
    }
    next.run(req).await
}

/// Headers on every office response: the content security policy, no framing, no type
/// sniffing, and nothing kept in caches (pages show people's names), nor sent as referrer
/// (the records search has names in its address).
async fn office_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// `; Secure` on every cookie, unless `SOTAY_COOKIE_SECURE=0` (a browser that refuses
/// Secure cookies over plain HTTP on 127.0.0.1; Chrome and Firefox accept them there).
fn secure() -> &'static str {
    match std::env::var("SOTAY_COOKIE_SECURE") {
        Ok(v) if matches!(v.trim(), "0" | "false" | "no") => "",
        _ => "; Secure",
    }
}

fn lang(headers: &HeaderMap) -> &'static OfficeStrings {
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if cookies.split(';').any(|c| c.trim() == "lang=en") {
        &EN
    } else {
        &VI
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(header::COOKIE)?
        .to_str()
        .ok()?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The live session a request's cookie names, with its token; none goes to the login page.
async fn signed_in(parts: &Parts, state: &AppState) -> Result<(Session, String), Refusal> {
    let token = cookie(&parts.headers, COOKIE).ok_or(Refusal::Login)?;
    let lookup = token.clone();
    let session = state.blocking(move |db| db.session(&lookup, Utc::now())).await??.ok_or(Refusal::Login)?;
    Ok((session, token))
}

/// A request from a logged-in user of a commune's office; anything else goes to the login
/// page, and a province account to the province's pages (a commune's pages are read from
/// the session's commune, which a province account does not have).
struct Office {
    session: Session,
    t: &'static OfficeStrings,
}

impl FromRequestParts<AppState> for Office {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Office, Refusal> {
        let (session, _) = signed_in(parts, state).await?;
        if session.province.is_some() {
            return Err(Refusal::Redirect("/office/province"));
        }
        if session.unit.is_some() {
            // A unit account sees its own unit's report only (`unit_lead`).
            return Err(Refusal::Redirect("/office/unit"));
        }
        Ok(Office { session, t: lang(&parts.headers) })
    }
}

/// A request from any logged-in office user, of a commune or of a province (to log out).
struct AnyOffice {
    session: Session,
    token: String,
    t: &'static OfficeStrings,
}

impl FromRequestParts<AppState> for AnyOffice {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AnyOffice, Refusal> {
        let (session, token) = signed_in(parts, state).await?;
        Ok(AnyOffice { session, token, t: lang(&parts.headers) })
    }
}

/// Query parameters; ones that cannot be read (a repeated or malformed parameter) are
/// answered 400 with a message.
struct Params<T>(T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Params<T>, Refusal> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Params(q)),
            Err(_) => {
                let t = lang(&parts.headers);
                Err(Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_query)))
            }
        }
    }
}

enum Refusal {
    Login,
    /// Somewhere else for this user (a province account asking for a commune's page).
    Redirect(&'static str),
    Page(StatusCode, Markup),
    /// The store is busy (every connection in use) or restarting: 503, try again shortly.
    Busy,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Login => Redirect::to("/office/login").into_response(),
            Refusal::Redirect(to) => Redirect::to(to).into_response(),
            Refusal::Page(status, page) => (status, page).into_response(),
            Refusal::Busy => {
                let page = html! { p { "Máy chủ đang bận, hãy thử lại sau ít giây / server busy, try again soon." } };
                (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], page).into_response()
            }
        }
    }
}

impl From<db::DbError> for Refusal {
    fn from(e: db::DbError) -> Self {
        // The kind only: the error's text can quote stored data.
        if matches!(e, db::DbError::Busy | db::DbError::Unavailable) {
            tracing::warn!(error = %super::db_error_kind(&e), "office page refused: the database is busy");
            return Refusal::Busy;
        }
        tracing::error!(error = %super::db_error_kind(&e), "office page failed");
        server_error()
    }
}

impl From<TaskFailed> for Refusal {
    fn from(_: TaskFailed) -> Self {
        server_error()
    }
}

fn server_error() -> Refusal {
    Refusal::Page(StatusCode::INTERNAL_SERVER_ERROR, html! { p { "Lỗi máy chủ / server error." } })
}

/// The years office dates may fall in: a wider range is no use to a commune and let chrono's
/// date arithmetic overflow.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// A `YYYY-MM-DD` date from a form or query, within [`YEARS`].
fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok().filter(|d| YEARS.contains(&d.year()))
}

fn message_page(t: &OfficeStrings, message: &str) -> Markup {
    bare(t, t.title, html! { main { p.error role="alert" { (message) } p { a href="/office" { (t.nav[0]) } } } })
}

fn bare(t: &OfficeStrings, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(t.lang_code) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/office/style.css";
            }
            body { (body) }
        }
    }
}

/// A commune office page with the navigation, the language switch and logout.
fn page(o: &Office, current: usize, body: Markup) -> Markup {
    let links = [
        "/office",
        "/office/activity",
        "/office/records",
        "/office/hamlets",
        "/office/devices",
        "/office/erasure",
        "/office/audit",
        "/office/units",
        "/office/plan",
    ];
    let labels = o.t.nav.iter().copied().chain([crate::i18n::units::NAV, plan::NAV]);
    let nav: Vec<_> = links.into_iter().zip(labels).collect();
    chrome(o.t, o.t.title, html! { "Sổ tay" }, &nav, current, &o.session, body)
}

/// A share as the page's language writes it: "38,1%" in Vietnamese, "38.1%" in English.
pub(super) fn share(t: &OfficeStrings, v: f64) -> String {
    if t.lang_code == "vi" {
        format!("{}%", export::decimal(v))
    } else {
        format!("{v:.1}%")
    }
}

/// The frame of every signed-in office page, a commune's or a province's: `brand`, the
/// navigation (`current` marked), the language switch, who is signed in and logout.
fn chrome(
    t: &OfficeStrings,
    title: &str,
    brand: Markup,
    nav: &[(&str, &str)],
    current: usize,
    session: &Session,
    body: Markup,
) -> Markup {
    bare(
        t,
        title,
        html! {
            header.no-print {
                strong { (brand) }
                nav {
                    @for (i, (href, label)) in nav.iter().enumerate() {
                        a href=(href) class=[(i == current).then_some("current")] { (label) }
                    }
                }
                span.right {
                    a href={ "/office/lang/" (t.other_lang_code) } data-testid="lang" { (t.other_lang) }
                    " · " (session.username) " "
                    form method="post" action="/office/logout" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button type="submit" data-testid="logout" { (t.logout) }
                    }
                }
            }
            main { (body) }
        },
    )
}

/// Numbers the Vietnamese way: 1.234.567.
fn num(n: u32) -> String {
    crate::letter::count(n)
}

/// Runs an office change on a blocking thread: `Ok(detail)` is audited under `action` in the
/// same call, `Err(message)` changed nothing and is the message to show.
async fn audited(
    state: &AppState,
    o: &Office,
    action: &'static str,
    work: impl FnOnce(&db::ServerDb, &str) -> Result<Result<String, &'static str>, db::DbError> + Send + 'static,
) -> Result<Result<String, &'static str>, Refusal> {
    let session = o.session.clone();
    Ok(state
        .blocking(move |db| {
            let done = work(db, &session.commune)?;
            if let Ok(detail) = &done {
                db.audit(&session, action, detail, Utc::now())?;
            }
            Ok::<_, db::DbError>(done)
        })
        .await??)
}

fn notice_error(message: &str) -> Markup {
    html! { p.error role="alert" data-testid="form-error" { (message) } }
}

fn notice_ok(message: &str) -> Markup {
    html! { p.ok role="status" data-testid="form-ok" { (message) } }
}

/// A time as the office reads it (local, `HH:MM dd/mm/yyyy`).
/// A moment as the office reads it: "dd/mm/yyyy HH:MM", Vietnam time.
fn local_time(t: chrono::DateTime<Utc>) -> String {
    crate::asof::vn_time(t)
}

async fn audit_page(State(state): State<AppState>, o: Office) -> Result<Markup, Refusal> {
    let t = o.t;
    let commune = o.session.commune.clone();
    let log = state.blocking(move |db| db.audit_log(&commune, 200)).await??;
    Ok(page(
        &o,
        6,
        html! {
            h1 { (t.audit_title) }
            table.report data-testid="audit" {
                thead { tr { @for h in t.audit_headers { th { (h) } } } }
                tbody { @for (at, who, what, detail) in &log { tr { td { (at) } td { (who) } td { (what) } td { (detail) } } } }
            }
        },
    ))
}
