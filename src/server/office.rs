//! The commune office's web pages: login, coverage, activity, records (with a search by a
//! person's name), each consenting person's printable consent record, hamlets and target,
//! volunteers (team leads; CSV import), devices, erasure, exports and print view, audit log.
//! Server-rendered HTML that works on a plain office PC without JavaScript and prints well.
//!
//! Every page needs a session; every change (a POST) needs the session's CSRF token, is
//! refused with a clear message and changes nothing otherwise, and is written to the audit
//! log, as are lookups of a person (by name or ID number) and views of a consent record.
//! The login form carries a token of its own, matched against a `SameSite=Strict` cookie
//! before any password is looked at, so another site cannot log a browser in to an account
//! of its choosing. Cookies are `Secure` (unless `SOTAY_COOKIE_SECURE=0`). Every response
//! forbids framing, sniffing and caching and has a content security policy: no script at
//! all, styles from the stylesheet only ([`office_headers`]).
//! Wording comes from `i18n::office`. Nothing here logs what a request carries.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{Datelike, Local, NaiveDate, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use super::accounts::{LoginError, Session};
use super::reports::{ActivityReport, CoverageReport};
use super::{export, AppState};
use crate::domain::{Hamlet, ReferenceData};
use crate::i18n::office::{OfficeStrings, EN, VI};

const COOKIE: &str = "sotay_session";
/// The login form's own token (login CSRF), before there is a session.
const LOGIN_COOKIE: &str = "sotay_login";
const CSS: &str = include_str!("../../assets/office.css");

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
        .route("/office/devices/{id}/revoke", post(revoke_device))
        .route("/office/audit", get(audit_page))
        .route("/office/records", get(records_page))
        .route("/office/records/{id}", get(record_page))
        .route("/office/records/{id}/consent", get(consent_page))
        .route("/office/erasure", get(erasure_page).post(erasure_find))
        .route("/office/erasure/erase", post(erasure_erase))
        .route("/office/print", get(print_page))
        .route("/office/export/{file}", get(export_file))
        .route("/office/style.css", get(stylesheet))
        .layer(axum::middleware::map_response(office_headers))
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

/// A request from a logged-in office user; anything else goes to the login page.
struct Office {
    session: Session,
    token: String,
    t: &'static OfficeStrings,
}

enum Refusal {
    Login,
    Page(StatusCode, Markup),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Login => Redirect::to("/office/login").into_response(),
            Refusal::Page(status, page) => (status, page).into_response(),
        }
    }
}

impl From<super::db::DbError> for Refusal {
    fn from(e: super::db::DbError) -> Self {
        // The kind only: the error's text can quote stored data.
        tracing::error!(error = %super::db_error_kind(&e), "office page failed");
        server_error()
    }
}

fn server_error() -> Refusal {
    Refusal::Page(StatusCode::INTERNAL_SERVER_ERROR, html! { p { "Lỗi máy chủ / server error." } })
}

fn office(state: &AppState, headers: &HeaderMap) -> Result<Office, Refusal> {
    let token = cookie(headers, COOKIE).ok_or(Refusal::Login)?;
    let session = state.db.session(&token, Utc::now())?.ok_or(Refusal::Login)?;
    Ok(Office { session, token, t: lang(headers) })
}

/// Checks the form's CSRF token against the session's.
fn check_csrf(o: &Office, form_token: Option<&str>) -> Result<(), Refusal> {
    if form_token != Some(o.session.csrf.as_str()) {
        return Err(Refusal::Page(StatusCode::FORBIDDEN, message_page(o.t, o.t.bad_form)));
    }
    Ok(())
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

/// A page with the navigation, the language switch and logout.
fn page(o: &Office, current: usize, body: Markup) -> Markup {
    let t = o.t;
    let links = [
        "/office",
        "/office/activity",
        "/office/records",
        "/office/hamlets",
        "/office/devices",
        "/office/erasure",
        "/office/audit",
    ];
    bare(
        t,
        t.title,
        html! {
            header.no-print {
                strong { "Sổ tay" }
                nav {
                    @for (i, href) in links.iter().enumerate() {
                        a href=(href) class=[(i == current).then_some("current")] { (t.nav[i]) }
                    }
                }
                span.right {
                    a href={ "/office/lang/" (t.other_lang_code) } data-testid="lang" { (t.other_lang) }
                    " · " (o.session.username) " "
                    form method="post" action="/office/logout" {
                        input type="hidden" name="csrf" value=(o.session.csrf);
                        button type="submit" data-testid="logout" { (t.logout) }
                    }
                }
            }
            main { (body) }
        },
    )
}

// ---- login ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    login_csrf: Option<String>,
}

fn login_form(t: &OfficeStrings, error: Option<&str>, username: &str, token: &str) -> Markup {
    bare(
        t,
        t.login_title,
        html! {
            main.login {
                h1 { (t.login_title) }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/office/login" {
                    input type="hidden" name="login_csrf" value=(token);
                    label { (t.username) input name="username" autocomplete="username" value=(username) required; }
                    label { (t.password) input name="password" type="password" autocomplete="current-password" required; }
                    button type="submit" { (t.login_button) }
                }
                p { a href={ "/office/lang/" (t.other_lang_code) } { (t.other_lang) } }
            }
        },
    )
}

/// The login form's token from its cookie, if it is one this server could have made.
fn login_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, LOGIN_COOKIE).filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn new_login_token() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

fn login_cookie(token: &str) -> String {
    format!("{LOGIN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/office/login; Max-Age=3600{}", secure())
}

/// The login page with a token for its form (the browser's own, if it has one already, so
/// two open tabs both work).
async fn login_page(headers: HeaderMap) -> Response {
    let token = login_token(&headers).unwrap_or_else(new_login_token);
    ([(header::SET_COOKIE, login_cookie(&token))], login_form(lang(&headers), None, "", &token)).into_response()
}

async fn login(State(state): State<AppState>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let t = lang(&headers);
    let username = f.username.trim().to_owned();
    let typed = username.clone();
    // A form from this server in this browser, or nothing is checked: a page elsewhere
    // cannot post a login (it cannot read the token, and the cookie is not sent with a
    // cross-site post).
    let Some(token) = login_token(&headers).filter(|c| f.login_csrf.as_deref() == Some(c.as_str())) else {
        tracing::info!("office login refused: the form's token is missing or wrong");
        let token = new_login_token();
        let form = login_form(t, Some(t.login_expired), &typed, &token);
        return (StatusCode::FORBIDDEN, [(header::SET_COOKIE, login_cookie(&token))], form).into_response();
    };
    let db = state.db.clone();
    let result = tokio::task::spawn_blocking(move || db.login(&username, &f.password, Utc::now())).await;
    match result {
        Ok(Ok(Ok((session_token, session)))) => {
            let _ = state.db.audit(&session, "login", "", Utc::now());
            let session_cookie =
                format!("{COOKIE}={session_token}; HttpOnly; SameSite=Strict; Path=/office{}", secure());
            let spent =
                format!("{LOGIN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/office/login; Max-Age=0{}", secure());
            let mut response = Redirect::to("/office").into_response();
            for c in [session_cookie, spent] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    response.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            response
        }
        Ok(Ok(Err(LoginError::Wrong))) => {
            tracing::info!("office login refused");
            // A wrong password costs the guesser time on top of the lock-out.
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            (StatusCode::UNAUTHORIZED, login_form(t, Some(t.login_wrong), &typed, &token)).into_response()
        }
        Ok(Ok(Err(LoginError::Locked { until }))) => {
            tracing::warn!("office login refused: account locked");
            let at = until.with_timezone(&Local).format("%H:%M:%S");
            let message = format!("{} {at}.", t.login_locked);
            (StatusCode::TOO_MANY_REQUESTS, login_form(t, Some(&message), &typed, &token)).into_response()
        }
        Ok(Err(e)) => Refusal::from(e).into_response(),
        Err(_) => {
            tracing::error!("the login task failed");
            server_error().into_response()
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    state.db.audit(&o.session, "logout", "", Utc::now())?;
    state.db.logout(&o.token)?;
    Ok((
        [(header::SET_COOKIE, format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/office; Max-Age=0{}", secure()))],
        Redirect::to("/office/login"),
    )
        .into_response())
}

/// `/office/lang/en` or `/vi`: remembers the language and goes back to the pages.
pub async fn set_lang(Path(code): Path<String>) -> Response {
    let code = if code == "en" { "en" } else { "vi" };
    (
        [(header::SET_COOKIE, format!("lang={code}; SameSite=Strict; Path=/office; Max-Age=31536000{}", secure()))],
        Redirect::to("/office"),
    )
        .into_response()
}

// ---- coverage ---------------------------------------------------------------------------

fn coverage_table(t: &OfficeStrings, r: &CoverageReport) -> Markup {
    html! {
        table.report data-testid="coverage" {
            thead { tr { @for h in t.coverage_headers { th { (h) } } th.no-print {} } }
            tbody {
                @for row in &r.rows {
                    tr data-hamlet=(row.hamlet_id) {
                        th scope="row" { (row.name) }
                        td { (num(row.adult_population)) } td { (num(row.baseline_signed)) }
                        td { (num(row.helped_signed)) } td { (num(row.signed)) }
                        td.pct { (format!("{:.1}%", row.percent)) }
                        td { @if row.reached { (t.reached) " ✓" } @else { (num(row.still_needed)) } }
                        td.bar-cell { (bar(row.percent, r.target_percent)) }
                    }
                }
            }
            tfoot {
                tr data-hamlet="total" {
                    th scope="row" { (t.commune_total) }
                    td { (num(r.total.adult_population)) } td { (num(r.total.baseline_signed)) }
                    td { (num(r.total.helped_signed)) } td { (num(r.total.signed)) }
                    td.pct { (format!("{:.1}%", r.total.percent)) }
                    td { @if r.total.reached { (t.reached) " ✓" } @else { (num(r.total.still_needed)) } }
                    td.bar-cell { (bar(r.total.percent, r.target_percent)) }
                }
            }
        }
    }
}

/// A horizontal bar with the target line, drawn in SVG so it prints.
fn bar(percent: f64, target: u32) -> Markup {
    let w = percent.clamp(0.0, 100.0) * 2.0;
    let colour = if percent > target as f64 { "#0a7a4b" } else { "#a15c00" };
    html! {
        svg width="200" height="16" viewBox="0 0 200 16" role="img" aria-label=(format!("{percent:.1}%")) {
            rect x="0" y="3" width="200" height="10" fill="#e7e4ea" {}
            rect x="0" y="3" width=(format!("{w:.1}")) height="10" fill=(colour) {}
            line x1=(target * 2) x2=(target * 2) y1="0" y2="16" stroke="#1c1b1f" stroke-width="2" {}
        }
    }
}

/// Numbers the Vietnamese way: 1.234.567.
fn num(n: u32) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

async fn coverage_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    let r = state.db.coverage_report(&o.session.commune)?;
    let t = o.t;
    Ok(page(
        &o,
        0,
        html! {
            h1 { (t.coverage_title) " — " (r.commune.name) }
            p.lead { (t.target_label) " " strong { (r.target_percent) "%" } " · " (t.commune_total) ": "
                strong data-testid="commune-percent" { (format!("{:.1}%", r.total.percent)) } }
            (coverage_table(t, &r))
            p.hint { (t.counting_rule) }
            p.no-print {
                (t.export) ": " a href="/office/export/coverage.xlsx" data-testid="coverage-xlsx" { "XLSX" } " · "
                a href="/office/export/coverage.csv" { "CSV" } " · " a href="/office/print" { (t.print) }
            }
        },
    ))
}

// ---- activity ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    preset: Option<String>,
}

/// The period asked for, or this month; `Err` for dates that do not parse or are reversed.
fn period(q: &PeriodQuery) -> Result<(NaiveDate, NaiveDate), ()> {
    let today = Local::now().date_naive();
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).ok_or(())?;
    let month_start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).ok_or(())?;
    let (from, to) = match q.preset.as_deref() {
        Some("unit") => (year_start, NaiveDate::from_ymd_opt(today.year(), 11, 15).ok_or(())?),
        Some("commune") => (year_start, NaiveDate::from_ymd_opt(today.year(), 11, 20).ok_or(())?),
        Some("month") => (month_start, today),
        Some("year") => (year_start, today),
        _ => {
            let parse = |s: &Option<String>, default| match s.as_deref().map(str::trim) {
                None | Some("") => Ok(default),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ()),
            };
            (parse(&q.from, month_start)?, parse(&q.to, today)?)
        }
    };
    if to < from || (to - from).num_days() > 3660 {
        return Err(());
    }
    Ok((from, to))
}

fn period_form(t: &OfficeStrings, from: NaiveDate, to: NaiveDate) -> Markup {
    html! {
        form.period.no-print method="get" action="/office/activity" {
            label { (t.from) " " input type="date" name="from" value=(from.format("%Y-%m-%d")); }
            label { (t.to) " " input type="date" name="to" value=(to.format("%Y-%m-%d")); }
            button type="submit" { (t.show) }
        }
        p.presets.no-print {
            @for (key, label) in ["unit", "commune", "month", "year"].iter().zip(t.presets) {
                a href={ "/office/activity?preset=" (key) } { (label) } " "
            }
        }
    }
}

fn pct(n: u32, of: u32) -> String {
    if of == 0 {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / of as f64)
    }
}

fn activity_body(t: &OfficeStrings, r: &ActivityReport) -> Markup {
    let counts = export::counts(&r.totals);
    let max = r.over_time.iter().map(|p| p.signature_sessions).max().unwrap_or(0).max(1);
    let bar_w = (640.0 / r.over_time.len().max(1) as f64).clamp(2.0, 40.0);
    html! {
        table.report.totals data-testid="activity-totals" {
            tbody { @for (label, v) in t.total_labels.iter().zip(counts) { tr { th scope="row" { (label) } td { (num(v)) } } } }
        }
        div.columns {
            table.report data-testid="outcomes" {
                caption { (t.outcomes_heading) }
                thead { tr { th {} th { (t.count_header) } th { (t.share_header) } } }
                tbody { @for (o, n) in &r.outcomes { tr { th scope="row" { (t.app.outcomes[o.index()]) } td { (num(*n)) } td { (pct(*n, r.totals.signature_sessions)) } } } }
            }
            table.report data-testid="reasons" {
                caption { (t.reasons_heading) }
                thead { tr { th {} th { (t.count_header) } th { (t.share_header) } } }
                tbody { @for (f, n) in &r.failure_reasons { tr { th scope="row" { (t.app.failure_reasons[f.index()]) } td { (num(*n)) } td { (pct(*n, r.totals.not_completed)) } } } }
            }
        }
        table.report data-testid="channels" {
            caption { (t.channels_heading) }
            thead { tr { @for h in t.channel_headers { th { (h) } } } }
            tbody {
                @for ch in &r.channels {
                    tr {
                        th scope="row" { (crate::domain::Channel::from_code(&ch.channel).map(|c| t.app.channels[c.index()]).unwrap_or(&ch.channel)) }
                        td { (num(ch.activities)) } td { (ch.quantity) } td { (ch.reach) }
                    }
                }
            }
        }
        h2 { (t.over_time) }
        svg.chart width="660" height="170" viewBox="0 0 660 170" role="img" aria-label=(t.over_time) {
            @for (i, p) in r.over_time.iter().enumerate() {
                @let x = 10.0 + i as f64 * bar_w;
                @let h = 140.0 * p.signature_sessions as f64 / max as f64;
                @let hs = 140.0 * p.signed as f64 / max as f64;
                rect x=(format!("{x:.1}")) y=(format!("{:.1}", 150.0 - h)) width=(format!("{:.1}", bar_w * 0.8)) height=(format!("{h:.1}")) fill="#9fd3b8" {
                    title { (p.start.format("%d/%m")) ": " (p.signature_sessions) " / " (p.signed) }
                }
                rect x=(format!("{x:.1}")) y=(format!("{:.1}", 150.0 - hs)) width=(format!("{:.1}", bar_w * 0.8)) height=(format!("{hs:.1}")) fill="#0a7a4b" {}
            }
            line x1="10" x2="650" y1="150" y2="150" stroke="#1c1b1f" {}
            text x="10" y="166" font-size="11" { (r.from.format("%d/%m/%Y")) }
            text x="650" y="166" font-size="11" text-anchor="end" { (r.to.format("%d/%m/%Y")) }
        }
        p.hint { (t.chart_legend) }
        @for (heading, first, rows) in [(t.by_hamlet, t.hamlet_header, &r.by_hamlet), (t.by_volunteer, t.volunteer_header, &r.by_volunteer)] {
            h2 { (heading) }
            div.scroll {
                table.report.wide {
                    thead { tr { th { (first) } @for h in t.total_labels { th { (h) } } } }
                    tbody { @for (_, name, c) in rows { tr { th scope="row" { (name) } @for v in export::counts(c) { td { (num(v)) } } } } }
                }
            }
        }
    }
}

async fn activity_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    let t = o.t;
    let Ok((from, to)) = period(&q) else {
        let today = Local::now().date_naive();
        return Ok((
            StatusCode::BAD_REQUEST,
            page(&o, 1, html! { h1 { (t.activity_title) } p.error role="alert" data-testid="period-error" { (t.bad_dates) } (period_form(t, today, today)) }),
        )
            .into_response());
    };
    let r = state.db.activity_report(&o.session.commune, from, to)?;
    let query = format!("from={}&to={}", from.format("%Y-%m-%d"), to.format("%Y-%m-%d"));
    Ok(page(
        &o,
        1,
        html! {
            h1 { (t.activity_title) " — " (r.commune.name) }
            p.lead { (t.period) " " (from.format("%d/%m/%Y")) " – " (to.format("%d/%m/%Y")) }
            (period_form(t, from, to))
            p.no-print {
                (t.export) ": " a href={ "/office/export/activity.xlsx?" (query) } data-testid="activity-xlsx" { "XLSX" } " · "
                a href={ "/office/export/activity.csv?" (query) } { "CSV" } " · "
                a href={ "/office/print?" (query) } { (t.print) }
            }
            (activity_body(t, &r))
        },
    )
    .into_response())
}

async fn print_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    let t = o.t;
    let (from, to) = period(&q).map_err(|_| Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_dates)))?;
    let cov = state.db.coverage_report(&o.session.commune)?;
    let act = state.db.activity_report(&o.session.commune, from, to)?;
    Ok(bare(
        t,
        t.title,
        html! {
            main.print {
                p.hint { (t.generated) " " (Local::now().format("%H:%M %d/%m/%Y")) " · " (o.session.username) }
                h1 { (t.coverage_title) " — " (cov.commune.name) }
                p { (t.target_label) " " (cov.target_percent) "%" }
                (coverage_table(t, &cov))
                p.hint { (t.counting_rule) }
                h1.page-break { (t.activity_title) }
                p { (t.period) " " (from.format("%d/%m/%Y")) " – " (to.format("%d/%m/%Y")) }
                (activity_body(t, &act))
            }
        },
    )
    .into_response())
}

async fn export_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    let t = o.t;
    let commune = o.session.commune.clone();
    let bad = |_| Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_dates));
    let (bytes, mime) = match file.as_str() {
        "coverage.xlsx" => (export::coverage_xlsx(&state.db.coverage_report(&commune)?, t), XLSX),
        "coverage.csv" => (export::coverage_csv(&state.db.coverage_report(&commune)?, t), CSV),
        "activity.xlsx" => {
            let (from, to) = period(&q).map_err(bad)?;
            (export::activity_xlsx(&state.db.activity_report(&commune, from, to)?, t), XLSX)
        }
        "activity.csv" => {
            let (from, to) = period(&q).map_err(bad)?;
            (export::activity_csv(&state.db.activity_report(&commune, from, to)?, t), CSV)
        }
        _ => return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found))),
    };
    let bytes = bytes.map_err(|e| {
        tracing::error!(file = %file, error = %e, "export failed");
        Refusal::Page(StatusCode::INTERNAL_SERVER_ERROR, message_page(t, "Lỗi khi tạo tệp / export failed."))
    })?;
    state.db.audit(&o.session, "export", &file, Utc::now())?;
    let name = format!("sotay-{commune}-{}-{file}", Local::now().format("%Y%m%d"));
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const CSV: &str = "text/csv; charset=utf-8";

// ---- hamlets and target -------------------------------------------------------------------

fn hamlets_body(o: &Office, r: &ReferenceData, notice: Option<Markup>) -> Markup {
    let t = o.t;
    html! {
        h1 { (t.hamlets_title) }
        @if let Some(n) = notice { (n) }
        table.report data-testid="hamlets" {
            thead { tr { @for h in t.hamlet_headers { th { (h) } } } }
            tbody {
                @for h in &r.hamlets {
                    tr {
                        td colspan="4" {
                            form.inline method="post" action={ "/office/hamlets/" (h.id) } data-hamlet=(h.id) {
                                input type="hidden" name="csrf" value=(o.session.csrf);
                                input name="name" value=(h.name) required;
                                input name="adult_population" value=(h.adult_population) inputmode="numeric";
                                input name="baseline_signed" value=(h.baseline_signed) inputmode="numeric";
                                button type="submit" { (t.save) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (t.volunteers_title) }
        table.report data-testid="volunteers" {
            thead { tr { @for h in t.volunteer_headers { th { (h) } } } }
            tbody {
                @for v in r.volunteers.iter().map(Some).chain(std::iter::once(None)) {
                    tr {
                        td colspan="3" {
                            form.inline method="post" action="/office/volunteers" data-volunteer=[v.map(|v| v.id.clone())] data-lead=[v.filter(|v| v.lead).map(|_| "1")] {
                                input type="hidden" name="csrf" value=(o.session.csrf);
                                input name="id" value=[v.map(|v| v.id.clone())] placeholder="v-..." readonly[v.is_some()];
                                input name="name" value=[v.map(|v| v.name.clone())] placeholder=(t.volunteer_header);
                                select name="hamlet_id" {
                                    @for h in &r.hamlets {
                                        option value=(h.id) selected[v.and_then(|v| v.hamlet_id.as_deref()) == Some(h.id.as_str())] { (h.name) }
                                    }
                                }
                                label.lead { input type="checkbox" name="lead" checked[v.is_some_and(|v| v.lead)]; (t.lead) }
                                button type="submit" { @if v.is_some() { (t.save) } @else { (t.add) } }
                            }
                        }
                    }
                }
            }
        }
        h3 { (t.volunteer_import_title) }
        p.hint { (t.volunteer_import_hint) }
        form method="post" action="/office/volunteers/import" enctype="multipart/form-data" data-testid="volunteer-import" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            input type="file" name="file" accept=".csv,text/csv" required;
            button type="submit" { (t.import_button) }
        }
        h2 { (t.providers_title) }
        form method="post" action="/office/providers" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            textarea name="providers" rows="6" cols="40" { (r.providers.join("\n")) }
            br;
            button type="submit" { (t.save) }
        }
        h2 { (t.target_title) }
        form.inline method="post" action="/office/target" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            input name="target_percent" value=(r.commune.target_percent) inputmode="numeric";
            button type="submit" { (t.save) }
        }
        h2 { (t.import_title) }
        p.hint { (t.import_hint) }
        form method="post" action="/office/hamlets/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            input type="file" name="file" accept=".csv,text/csv" required;
            button type="submit" { (t.import_button) }
        }
    }
}

async fn hamlets_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    let r = state.db.commune(&o.session.commune)?;
    Ok(page(&o, 3, hamlets_body(&o, &r, None)))
}

fn notice_error(message: &str) -> Markup {
    html! { p.error role="alert" data-testid="form-error" { (message) } }
}

fn notice_ok(message: &str) -> Markup {
    html! { p.ok role="status" data-testid="form-ok" { (message) } }
}

/// A refused change to reference data: the page again with the reason; nothing saved.
fn refuse_reference(o: &Office, r: &ReferenceData, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, page(o, 3, hamlets_body(o, r, Some(notice_error(message))))).into_response()
}

/// Saves changed reference data (devices get it at their next pull), writes the audit
/// entry, and shows the page again with "saved".
fn save_reference(
    state: &AppState,
    o: &Office,
    r: &ReferenceData,
    action: &str,
    detail: &str,
) -> Result<Response, Refusal> {
    state.db.put_commune(r)?;
    state.db.audit(&o.session, action, detail, Utc::now())?;
    Ok(page(o, 3, hamlets_body(o, r, Some(notice_ok(o.t.saved)))).into_response())
}

#[derive(Deserialize)]
struct HamletForm {
    csrf: Option<String>,
    name: String,
    adult_population: String,
    baseline_signed: String,
}

/// Checks a hamlet's figures; the message says what is wrong.
fn check_hamlet(t: &OfficeStrings, id: &str, name: &str, adults: &str, baseline: &str) -> Result<Hamlet, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(t.name_required);
    }
    // "1.234" and "1 234" are thousands as Vietnamese write them; "297.5" is not a count.
    let parse = |s: &str| {
        let s = s.trim();
        let groups: Vec<&str> = s.split(['.', ' ']).collect();
        let grouped = groups.len() == 1
            || (!groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
        if !grouped {
            return Err(t.not_a_count);
        }
        groups.concat().parse::<u32>().map_err(|_| t.not_a_count)
    };
    let (adult_population, baseline_signed) = (parse(adults)?, parse(baseline)?);
    if baseline_signed > adult_population {
        return Err(t.population_below_baseline);
    }
    Ok(Hamlet { id: id.to_owned(), name: name.to_owned(), adult_population, baseline_signed })
}

async fn save_hamlet(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<HamletForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let t = o.t;
    let mut r = state.db.commune(&o.session.commune)?;
    let Some(pos) = r.hamlets.iter().position(|h| h.id == id) else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found)));
    };
    match check_hamlet(t, &id, &f.name, &f.adult_population, &f.baseline_signed) {
        Err(message) => Ok(refuse_reference(&o, &r, message)),
        Ok(h) => {
            let detail = format!("{id}: {} adults, {} baseline", h.adult_population, h.baseline_signed);
            r.hamlets[pos] = h;
            save_reference(&state, &o, &r, "hamlet.update", &detail)
        }
    }
}

#[derive(Deserialize)]
struct TargetForm {
    csrf: Option<String>,
    target_percent: String,
}

async fn save_target(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<TargetForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let t = o.t;
    let mut r = state.db.commune(&o.session.commune)?;
    match f.target_percent.trim().parse::<u32>() {
        Ok(p) if (1..=100).contains(&p) => {
            r.commune.target_percent = p;
            save_reference(&state, &o, &r, "target.update", &format!("{p}%"))
        }
        _ => Ok(refuse_reference(&o, &r, t.target_range)),
    }
}

/// Reads a hamlet CSV as Excel writes it (UTF-8 with or without BOM, `,` or `;`); every
/// row is checked, and any error refuses the whole file.
pub fn parse_hamlet_csv(t: &OfficeStrings, bytes: &[u8]) -> Result<Vec<Hamlet>, Vec<String>> {
    let (headers, records) = read_csv(bytes).ok_or_else(|| vec![t.import_header_missing.to_owned()])?;
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(ci), Some(cn), Some(cp), Some(cb)) = (
        col(&["ma", "id", "ma_thon"]),
        col(&["ten", "name", "ten_thon"]),
        col(&["dan_so", "adult_population", "dan_so_truong_thanh"]),
        col(&["da_co_chu_ky", "baseline_signed", "baseline"]),
    ) else {
        return Err(vec![t.import_header_missing.to_owned()]);
    };
    csv_rows(t, records, t.import_header_missing, |get| {
        let id = get(ci);
        if id.is_empty() || id.len() > 64 {
            return Err(t.name_required.to_owned());
        }
        check_hamlet(t, &id, &get(cn), &get(cp), &get(cb)).map_err(str::to_owned)
    })
}

/// Turns every CSV record into a row with `parse` (given a getter of trimmed cells), and
/// collects every row's problem numbered as Excel shows it (the header is row 1): one bad
/// row refuses the whole file, and so does a file with no rows (`empty` says why).
fn csv_rows<T>(
    t: &OfficeStrings,
    records: Vec<Option<csv::StringRecord>>,
    empty: &str,
    mut parse: impl FnMut(&dyn Fn(usize) -> String) -> Result<T, String>,
) -> Result<Vec<T>, Vec<String>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let row = i + 2;
        let parsed = match record {
            None => Err(empty.to_owned()),
            Some(record) => parse(&|c: usize| record.get(c).unwrap_or("").trim().to_owned()),
        };
        match parsed {
            Ok(r) => rows.push(r),
            Err(m) => errors.push(format!("{} {row}: {m}", t.import_row)),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(empty.to_owned());
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The fields of a multipart form, read up to the first one that cannot be read.
async fn multipart_fields(mut multipart: Multipart) -> HashMap<String, Vec<u8>> {
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        let Ok(bytes) = field.bytes().await else { break };
        fields.insert(name, bytes.to_vec());
    }
    fields
}

async fn import_hamlets(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, Refusal> {
    let apply = |r: &mut ReferenceData, hamlets: Vec<Hamlet>| {
        let n = hamlets.len();
        for h in hamlets {
            match r.hamlets.iter_mut().find(|x| x.id == h.id) {
                Some(x) => *x = h,
                None => r.hamlets.push(h),
            }
        }
        format!("{n} rows")
    };
    let parse = |t: &'static OfficeStrings, _: &ReferenceData, bytes: &[u8]| parse_hamlet_csv(t, bytes);
    import_reference(&state, &headers, multipart, "hamlet.import", |t| t.imported, parse, apply).await
}

/// A CSV import of reference rows from a multipart form (with its CSRF token): the file is
/// parsed whole and one bad row refuses it with every row's error; otherwise the rows are
/// applied, saved and audited (`apply` gives the audit detail), and the page says how many.
async fn import_reference<T>(
    state: &AppState,
    headers: &HeaderMap,
    multipart: Multipart,
    action: &str,
    done: fn(&'static OfficeStrings) -> &'static str,
    parse: impl FnOnce(&'static OfficeStrings, &ReferenceData, &[u8]) -> Result<Vec<T>, Vec<String>>,
    apply: impl FnOnce(&mut ReferenceData, Vec<T>) -> String,
) -> Result<Response, Refusal> {
    let o = office(state, headers)?;
    let t = o.t;
    let fields = multipart_fields(multipart).await;
    let csrf = fields.get("csrf").and_then(|b| std::str::from_utf8(b).ok()).map(str::to_owned);
    check_csrf(&o, csrf.as_deref())?;
    let mut r = state.db.commune(&o.session.commune)?;
    match parse(t, &r, fields.get("file").map(Vec::as_slice).unwrap_or(&[])) {
        Err(errors) => {
            let notice = html! { div.error role="alert" data-testid="form-error" { p { (t.import_failed) } ul { @for e in &errors { li { (e) } } } } };
            Ok((StatusCode::BAD_REQUEST, page(&o, 3, hamlets_body(&o, &r, Some(notice)))).into_response())
        }
        Ok(rows) => {
            let n = rows.len();
            let detail = apply(&mut r, rows);
            state.db.put_commune(&r)?;
            state.db.audit(&o.session, action, &detail, Utc::now())?;
            Ok(page(&o, 3, hamlets_body(&o, &r, Some(notice_ok(&format!("{} {n}", done(t)))))).into_response())
        }
    }
}

// ---- devices ----------------------------------------------------------------------------

/// The devices with the names of the volunteers whose records each one sent.
type DeviceList = Vec<(super::db::Device, String)>;

fn device_list(state: &AppState, commune: &str) -> Result<DeviceList, Refusal> {
    let devices = state.db.devices(commune)?;
    let who = state.db.device_volunteers(commune)?;
    let r = state.db.commune(commune)?;
    Ok(devices
        .into_iter()
        .map(|d| {
            let names =
                who.get(&d.id).map(|ids| ids.iter().map(|v| r.volunteer_name(v)).collect::<Vec<_>>().join(", "));
            (d, names.unwrap_or_default())
        })
        .collect())
}

/// A new enrolment code as the devices page shows it: the code, and with the server's
/// public address (when it is configured) what to type, the link and its QR code.
struct NewCode {
    code: String,
    link: Option<(crate::enrol_link::EnrolLink, String)>,
}

fn new_code_box(t: &OfficeStrings, c: &NewCode) -> Markup {
    html! {
        div.code-box data-testid="enrol-code" {
            p { (t.code_made) }
            p.code { (c.code) }
            @if let Some((link, svg)) = &c.link {
                p { (t.enrol_address) " " strong data-testid="enrol-address" { (link.server) } }
                @if let Some(fp) = &link.fingerprint {
                    p { (t.enrol_fingerprint) br; code.fingerprint data-testid="enrol-fingerprint" { (fp.grouped()) } }
                }
                div.qr { (PreEscaped(svg)) }
                p { (t.enrol_link) br; code.link data-testid="enrol-link" { (link.to_link()) } }
                p.hint { (t.code_hint) }
            } @else {
                p.error role="alert" { (t.no_public_url) }
            }
        }
    }
}

fn devices_body(o: &Office, devices: &DeviceList, code: Option<NewCode>) -> Markup {
    let t = o.t;
    html! {
        h1 { (t.devices_title) }
        @if let Some(code) = code {
            (new_code_box(t, &code))
        }
        form method="post" action="/office/devices/code" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            button type="submit" data-testid="new-code" { (t.new_code) }
        }
        table.report data-testid="devices" {
            thead { tr { @for h in t.device_headers { th { (h) } } } }
            tbody {
                @for (d, volunteers) in devices {
                    tr data-device=(d.id) {
                        th scope="row" { (d.name) br; small { (d.id) } }
                        td { (volunteers) }
                        td { @if d.revoked { (t.revoked) } @else { (t.active) } }
                        td { (d.last_seen.as_deref().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                                .map(|x| x.with_timezone(&Local).format("%H:%M %d/%m/%Y").to_string()).unwrap_or_else(|| t.never.to_owned())) }
                        td { (d.queued.map(|q| q.to_string()).unwrap_or_else(|| "—".into())) }
                        td {
                            @if !d.revoked {
                                form method="post" action={ "/office/devices/" (d.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(o.session.csrf);
                                    button.danger type="submit" { (t.revoke) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn devices_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    let devices = device_list(&state, &o.session.commune)?;
    Ok(page(&o, 4, devices_body(&o, &devices, None)))
}

async fn new_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let code = state.db.new_enrol_code(&o.session.commune, chrono::Duration::hours(24), Utc::now())?;
    // The configured public address, never the Host this browser used (the office PC may
    // say localhost, which means nothing to a tablet).
    let link = state.public.as_ref().map(|public| {
        let link = public.link(&code);
        let svg = qrcode::QrCode::new(link.to_link().as_bytes())
            .map(|q| q.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).build())
            .unwrap_or_default();
        (link, svg)
    });
    state.db.audit(&o.session, "device.code", "", Utc::now())?;
    let devices = device_list(&state, &o.session.commune)?;
    Ok(page(&o, 4, devices_body(&o, &devices, Some(NewCode { code, link }))))
}

async fn revoke_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let devices = state.db.devices(&o.session.commune)?;
    if !devices.iter().any(|d| d.id == id) {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    }
    let _ = state.db.revoke(&id, Utc::now());
    state.db.audit(&o.session, "device.revoke", &id, Utc::now())?;
    Ok(Redirect::to("/office/devices").into_response())
}

async fn audit_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    let t = o.t;
    let log = state.db.audit_log(&o.session.commune, 200)?;
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

// ---- records and erasure ----------------------------------------------------------------

#[derive(Deserialize, Default)]
struct RecordQuery {
    /// A person's name (signature help with consent): every word must start a word of it,
    /// ignoring case and diacritics.
    q: Option<String>,
    hamlet: Option<String>,
    volunteer: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn record_title(t: &OfficeStrings, body: &crate::domain::Body) -> String {
    use crate::domain::Body;
    match body {
        Body::Visit(v) => v.household.clone(),
        Body::SignatureHelp(s) => {
            let who = s.person.as_ref().map(|p| p.display_name.clone()).unwrap_or_else(|| t.no_consent.to_owned());
            format!("{who} · {}", t.app.outcomes[s.outcome.index()])
        }
        Body::Training(tr) => format!("{} · {}", tr.trainers, tr.total),
        Body::Outreach(o) => format!("{} · {}", t.app.channels[o.channel.index()], o.quantity),
    }
}

/// A signature session whose person consented to their details being kept.
fn has_consent(body: &crate::domain::Body) -> bool {
    matches!(body, crate::domain::Body::SignatureHelp(s) if s.consent && s.person.is_some())
}

fn record_rows(t: &OfficeStrings, r: &ReferenceData, rows: &[super::db::RecordRow], select: Option<&str>) -> Markup {
    html! {
        table.report data-testid="records" {
            thead { tr { @if select.is_some() { th {} } @for h in t.record_headers { th { (h) } } } }
            tbody {
                @for row in rows {
                    tr data-record=(row.id) class=[row.voided.then_some("voided")] {
                        @if let Some(name) = select { td { input type="checkbox" name=(name) value=(row.id) checked; } }
                        td { (row.occurred_at.replace('T', " ")) }
                        td { (crate::domain::RecordKind::from_code(&row.kind).map(|k| t.kinds[k.index()]).unwrap_or(&row.kind)) }
                        td { (r.hamlet_name(&row.hamlet_id)) }
                        td { (r.volunteer_name(&row.volunteer_id)) }
                        td {
                            a href={ "/office/records/" (row.id) } { (record_title(t, &row.body)) } @if row.voided { " · " (t.voided) }
                            @if has_consent(&row.body) {
                                " · " a.no-print href={ "/office/records/" (row.id) "/consent" } data-testid="consent-link" { (t.consent_link) }
                            }
                        }
                        td { (row.version) }
                    }
                }
            }
        }
    }
}

async fn records_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<RecordQuery>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    let t = o.t;
    let r = state.db.commune(&o.session.commune)?;
    let day = |s: &Option<String>| -> Result<Option<NaiveDate>, ()> {
        match s.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map(Some).map_err(|_| ()),
        }
    };
    let (Ok(from), Ok(to)) = (day(&q.from), day(&q.to)) else {
        return Ok(
            (StatusCode::BAD_REQUEST, page(&o, 2, html! { p.error role="alert" { (t.bad_dates) } })).into_response()
        );
    };
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
    let filter = super::db::RecordFilter {
        hamlet_id: nonempty(&q.hamlet),
        volunteer_id: nonempty(&q.volunteer),
        kind: nonempty(&q.kind),
        from: from.map(|d| d.format("%Y-%m-%d").to_string()),
        to_exclusive: to.map(|d| (d + chrono::Days::new(1)).format("%Y-%m-%d").to_string()),
    };
    let name = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let rows = match name {
        None => state.db.records(&o.session.commune, &filter, 200)?,
        Some(name) => {
            // A lookup of a person: the other filters apply to what it finds, and it is audited.
            let mut rows = state.db.find_person(&o.session.commune, Some(name), None)?;
            rows.retain(|row| record_matches(row, &filter));
            rows.reverse();
            rows.truncate(200);
            state.db.audit(&o.session, "records.find", &format!("{} records", rows.len()), Utc::now())?;
            rows
        }
    };
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    Ok(page(
        &o,
        2,
        html! {
            h1 { (t.records_title) }
            form.period.no-print method="get" action="/office/records" {
                label { (t.person_name) " " input name="q" value=[name] autocomplete="off"; }
                label { (t.hamlet_header) " " select name="hamlet" { option value="" { (t.all) } @for h in &r.hamlets { option value=(h.id) selected[sel(&q.hamlet, &h.id)] { (h.name) } } } }
                label { (t.volunteer_header) " " select name="volunteer" { option value="" { (t.all) } @for v in &r.volunteers { option value=(v.id) selected[sel(&q.volunteer, &v.id)] { (v.name) } } } }
                label { (t.record_headers[1]) " " select name="kind" { option value="" { (t.all) } @for k in crate::domain::RecordKind::ALL { option value=(k.code()) selected[sel(&q.kind, k.code())] { (t.kinds[k.index()]) } } } }
                label { (t.from) " " input type="date" name="from" value=[from.map(|d| d.format("%Y-%m-%d").to_string())]; }
                label { (t.to) " " input type="date" name="to" value=[to.map(|d| d.format("%Y-%m-%d").to_string())]; }
                button type="submit" { (t.show) }
            }
            @if rows.is_empty() { p data-testid="no-records" { (t.nothing_found) } } @else { (record_rows(t, &r, &rows, None)) }
        },
    )
    .into_response())
}

/// The record list's filters, applied to rows already found (by a name).
fn record_matches(row: &super::db::RecordRow, f: &super::db::RecordFilter) -> bool {
    let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let day = row.occurred_at.get(..10).unwrap_or("");
    is(&f.hamlet_id, &row.hamlet_id)
        && is(&f.volunteer_id, &row.volunteer_id)
        && is(&f.kind, &row.kind)
        && f.from.as_deref().is_none_or(|from| day >= from)
        && f.to_exclusive.as_deref().is_none_or(|to| day < to)
}

async fn record_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    let t = o.t;
    let found = match uuid::Uuid::parse_str(&id) {
        Ok(id) => state.db.record(&o.session.commune, id)?,
        Err(_) => None,
    };
    let Some((row, history)) = found else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found)));
    };
    let r = state.db.commune(&o.session.commune)?;
    Ok(page(
        &o,
        2,
        html! {
            h1 { (t.records_title) }
            (record_rows(t, &r, std::slice::from_ref(&row), None))
            @if has_consent(&row.body) {
                p.no-print { a href={ "/office/records/" (row.id) "/consent" } data-testid="consent-print" { (t.consent_link) " (" (t.print) ")" } }
            }
            h2 { (t.history_title) }
            table.report data-testid="history" {
                thead { tr { @for h in t.history_headers { th { (h) } } th { (t.record_headers[4]) } } }
                tbody {
                    @for h in &history {
                        tr { td { (h.version) } td { (h.received_at) } td { (h.device_id) } td { @if h.voided { (t.voided) } }
                             td { (record_title(t, &h.record.body)) } }
                    }
                }
            }
        },
    )
    .into_response())
}

/// A time as the office reads it (local, `HH:MM dd/mm/yyyy`).
fn local_time(t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M %d/%m/%Y").to_string()
}

/// The printable consent record of a signature session: who agreed to what, when, before
/// which volunteer, with lines to sign. Viewing it is audited. After an erasure it says so
/// and shows no personal detail.
async fn consent_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    let t = o.t;
    let commune = o.session.commune.clone();
    let found = match uuid::Uuid::parse_str(&id) {
        Ok(id) => state.db.record(&commune, id)?,
        Err(_) => None,
    };
    let Some((row, history)) = found.filter(|(row, _)| matches!(row.body, crate::domain::Body::SignatureHelp(_)))
    else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found)));
    };
    let erased = state.db.was_erased(&commune, row.id)?;
    if !erased && !has_consent(&row.body) {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.consent_none)));
    }
    // Consent was given with the first version that holds it (history is newest first);
    // after an erasure no version holds it, and the first version stands for the session.
    let Some(given) = history.iter().rev().find(|h| has_consent(&h.record.body)).or(history.last()) else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found)));
    };
    let person = match &row.body {
        crate::domain::Body::SignatureHelp(s) if !erased => s.person.clone(),
        _ => None,
    };
    let r = state.db.commune(&commune)?;
    let device =
        state.db.devices(&commune)?.into_iter().find(|d| d.id == given.device_id).map(|d| d.name).unwrap_or_default();
    let statement = crate::domain::consent::in_force_at(given.record.saved_at);
    let text = statement.text(t.lang_code);
    let received = chrono::DateTime::parse_from_rfc3339(&given.received_at)
        .map(|x| local_time(x.with_timezone(&Utc)))
        .unwrap_or_else(|_| given.received_at.clone());
    let occurred = given.record.occurred_at.format("%H:%M %d/%m/%Y").to_string();
    state.db.audit(&o.session, "consent.view", &row.id.to_string(), Utc::now())?;
    let l = &t.consent_labels;
    Ok(bare(
        t,
        t.consent_title,
        html! {
            main.print.consent-record data-testid="consent-record" data-record=(row.id) {
                p.no-print { a href={ "/office/records/" (row.id) } { (t.back_to_record) } " · " (t.consent_print_hint) }
                p.hint { (t.generated) " " (local_time(Utc::now())) " · " (o.session.username) }
                p.org { (r.commune.name) }
                h1 { (t.consent_title) }
                @if erased { p.erased role="status" data-testid="consent-erased" { (t.consent_erased) } }
                table.consent-fields {
                    tr { th scope="row" { (l[0]) } td { (r.commune.name) } }
                    tr { th scope="row" { (l[1]) } td { (r.hamlet_name(&row.hamlet_id)) } }
                    @if let Some(p) = &person {
                        tr { th scope="row" { (l[2]) } td data-testid="consent-name" { (p.display_name) } }
                        tr { th scope="row" { (l[3]) } td { (p.birth_year) } }
                        @if let Some(last4) = &p.cid_last4 { tr { th scope="row" { (l[4]) } td { "•••• •••• " (last4) } } }
                    }
                    tr { th scope="row" { (l[5]) } td { code { (row.id) } } }
                    tr { th scope="row" { (l[6]) } td { (occurred) } }
                    tr { th scope="row" { (l[7]) } td { (local_time(given.record.saved_at)) } }
                    tr { th scope="row" { (l[8]) } td { (received) } }
                    tr { th scope="row" { (l[9]) } td { (r.volunteer_name(&given.record.volunteer_id)) " (" (given.record.volunteer_id) ")" } }
                    tr { th scope="row" { (l[10]) } td { (device) " " small { code { (given.device_id) } } } }
                    tr { th scope="row" { (l[11]) } td data-testid="consent-version" { (statement.version) } }
                }
                section.statement {
                    p { (t.consent_agreed) }
                    h2 { (text.title) " — " (statement.version) }
                    ol { @for point in text.points { li { (point) } } }
                }
                @if !erased {
                    div.signatures {
                        @for who in t.consent_signers { div.sign { p { (who) } div.sign-line {} } }
                    }
                    p.date-line { (t.consent_date_line) }
                }
            }
        },
    )
    .into_response())
}

fn erasure_body(
    o: &Office,
    notice: Option<Markup>,
    found: Option<(&ReferenceData, &[super::db::RecordRow])>,
) -> Markup {
    let t = o.t;
    html! {
        h1 { (t.erasure_title) }
        p.hint { (t.erasure_hint) }
        @if let Some(n) = notice { (n) }
        form.period method="post" action="/office/erasure" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            label { (t.erasure_name) " " input name="name" autocomplete="off"; }
            label { (t.erasure_cid) " " input name="citizen_id" inputmode="numeric" autocomplete="off"; }
            button type="submit" data-testid="find" { (t.find) }
        }
        @if let Some((r, rows)) = found {
            @if rows.is_empty() { p { (t.nothing_found) } } @else {
                form method="post" action="/office/erasure/erase" {
                    input type="hidden" name="csrf" value=(o.session.csrf);
                    (record_rows(t, r, rows, Some("id")))
                    button.danger type="submit" data-testid="erase" { (t.erase_selected) }
                }
            }
        }
    }
}

async fn erasure_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    Ok(page(&o, 5, erasure_body(&o, None, None)))
}

#[derive(Deserialize)]
struct FindForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    citizen_id: String,
}

async fn erasure_find(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<FindForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let t = o.t;
    let name = Some(f.name.trim()).filter(|s| !s.is_empty());
    // The number is hashed with the commune's key for the lookup and then dropped.
    let cid_hash = match f.citizen_id.trim() {
        "" => None,
        typed => match crate::domain::citizen_id::CitizenId::parse(typed) {
            Ok(id) => Some(id.hash(&state.db.cid_key(&o.session.commune)?)),
            Err(_) => {
                return Ok((
                    StatusCode::BAD_REQUEST,
                    page(&o, 5, erasure_body(&o, Some(notice_error(t.cid_invalid)), None)),
                )
                    .into_response())
            }
        },
    };
    if name.is_none() && cid_hash.is_none() {
        return Ok((
            StatusCode::BAD_REQUEST,
            page(&o, 5, erasure_body(&o, Some(notice_error(t.erasure_need_input)), None)),
        )
            .into_response());
    }
    let rows = state.db.find_person(&o.session.commune, name, cid_hash.as_deref())?;
    let r = state.db.commune(&o.session.commune)?;
    state.db.audit(&o.session, "erasure.find", &format!("{} records", rows.len()), Utc::now())?;
    Ok(page(&o, 5, erasure_body(&o, None, Some((&r, &rows)))).into_response())
}

async fn erasure_erase(State(state): State<AppState>, headers: HeaderMap, body: String) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    // Several `id` fields: parse the form by hand.
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(&body);
    let csrf = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
    check_csrf(&o, csrf)?;
    let ids: Vec<uuid::Uuid> =
        pairs.iter().filter(|(k, _)| k == "id").filter_map(|(_, v)| uuid::Uuid::parse_str(v).ok()).collect();
    let erased = state.db.erase(&o.session.commune, &ids, Utc::now())?;
    let n = erased.len();
    let listed: Vec<String> = erased.iter().map(|id| id.to_string()).collect();
    state.db.audit(&o.session, "erasure.erase", &format!("{n} records: {}", listed.join(" ")), Utc::now())?;
    Ok(page(&o, 5, erasure_body(&o, Some(notice_ok(&format!("{} {n}", o.t.erased))), None)).into_response())
}

fn serde_urlencoded_pairs(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[derive(Deserialize)]
struct VolunteerForm {
    csrf: Option<String>,
    id: String,
    name: String,
    hamlet_id: String,
    /// The "Tổ trưởng" checkbox: present (`on`) when ticked.
    lead: Option<String>,
}

async fn save_volunteer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<VolunteerForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let t = o.t;
    let mut r = state.db.commune(&o.session.commune)?;
    let (id, name) = (f.id.trim(), f.name.trim());
    if !volunteer_id_ok(id) || name.is_empty() || name.chars().count() > 100 || r.hamlet(&f.hamlet_id).is_none() {
        return Ok(refuse_reference(&o, &r, t.volunteer_invalid));
    }
    let lead = f.lead.is_some();
    let v = crate::domain::Volunteer {
        id: id.to_owned(),
        name: name.to_owned(),
        hamlet_id: Some(f.hamlet_id.clone()),
        lead,
    };
    put_volunteer(&mut r, v);
    let detail = if lead { format!("{id} (lead)") } else { id.to_owned() };
    save_reference(&state, &o, &r, "volunteer.put", &detail)
}

/// Adds a volunteer, or replaces the one with the same id.
fn put_volunteer(r: &mut ReferenceData, v: crate::domain::Volunteer) {
    match r.volunteers.iter_mut().find(|x| x.id == v.id) {
        Some(x) => *x = v,
        None => r.volunteers.push(v),
    }
}

fn volunteer_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads a volunteer CSV as Excel writes it: `ma, ho_ten, thon` (the hamlet by id or name)
/// and an optional `to_truong` (team lead: x, 1, có/yes; empty, 0, không/no for not). Every
/// row is checked against the commune's hamlets, and any error refuses the whole file.
pub fn parse_volunteer_csv(
    t: &OfficeStrings,
    r: &ReferenceData,
    bytes: &[u8],
) -> Result<Vec<crate::domain::Volunteer>, Vec<String>> {
    let missing = || vec![t.volunteer_import_header_missing.to_owned()];
    let (headers, records) = read_csv(bytes).ok_or_else(missing)?;
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(ci), Some(cn), Some(ch)) = (
        col(&["ma", "id", "ma_tnv"]),
        col(&["ho_ten", "ten", "name", "ho_va_ten"]),
        col(&["thon", "hamlet", "ma_thon", "hamlet_id", "ten_thon"]),
    ) else {
        return Err(missing());
    };
    let cl = col(&["to_truong", "lead", "team_lead"]);
    csv_rows(t, records, t.volunteer_import_header_missing, |get| {
        let (id, name, hamlet) = (get(ci), get(cn), get(ch));
        if !volunteer_id_ok(&id) || name.is_empty() || name.chars().count() > 100 {
            return Err(t.volunteer_invalid.to_owned());
        }
        let folded = crate::domain::fold::fold(&hamlet);
        let h = r
            .hamlets
            .iter()
            .find(|h| h.id == hamlet || (!folded.is_empty() && crate::domain::fold::fold(&h.name) == folded))
            .ok_or_else(|| t.unknown_hamlet.to_owned())?;
        let lead = match cl.map(|c| crate::domain::fold::fold(&get(c))).as_deref() {
            None | Some("" | "0" | "khong" | "no" | "false") => false,
            Some("x" | "1" | "co" | "yes" | "true" | "\u{2713}") => true,
            Some(_) => return Err(t.lead_invalid.to_owned()),
        };
        Ok(crate::domain::Volunteer { id, name, hamlet_id: Some(h.id.clone()), lead })
    })
}

/// A CSV file's folded header names and its rows (`None` for a row that cannot be read);
/// `None` when the file is not UTF-8 or has no header row. UTF-8 with or without BOM,
/// `,` or `;`.
fn read_csv(bytes: &[u8]) -> Option<(Vec<String>, Vec<Option<csv::StringRecord>>)> {
    let text = std::str::from_utf8(bytes).ok()?.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().ok()?.iter().map(|s| crate::domain::fold::fold(s).replace(' ', "_")).collect();
    Some((headers, reader.records().map(Result::ok).collect()))
}

async fn import_volunteers(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, Refusal> {
    let apply = |r: &mut ReferenceData, volunteers: Vec<crate::domain::Volunteer>| {
        let n = volunteers.len();
        let leads = volunteers.iter().filter(|v| v.lead).count();
        for v in volunteers {
            put_volunteer(r, v);
        }
        format!("{n} rows, {leads} leads")
    };
    let done = |t: &'static OfficeStrings| t.volunteers_imported;
    import_reference(&state, &headers, multipart, "volunteer.import", done, parse_volunteer_csv, apply).await
}

#[derive(Deserialize)]
struct ProvidersForm {
    csrf: Option<String>,
    providers: String,
}

async fn save_providers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ProvidersForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let t = o.t;
    let mut r = state.db.commune(&o.session.commune)?;
    let list: Vec<String> = f.providers.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if list.len() > 50 || list.iter().any(|p| p.chars().count() > 100) {
        return Ok(refuse_reference(&o, &r, t.providers_invalid));
    }
    r.providers = list;
    save_reference(&state, &o, &r, "providers.put", &format!("{} providers", r.providers.len()))
}
