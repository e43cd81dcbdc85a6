//! The province's pages: every commune of the account's province on one server — coverage
//! per commune against its target with the province's total (most still needed first), a
//! commune's hamlets, activity for a period, the communes whose devices have not synced for
//! N days, the print view and the XLSX/CSV of the province's tables, and the province's audit
//! log. Counts only.
//!
//! Only a province account reaches them ([`ProvinceOffice`]); a commune account is refused
//! (403). Every commune named in an address is checked against the session's province
//! before anything is read, and one of another province is answered as a commune that does
//! not exist (404), so addresses typed by hand show nothing of other provinces.

use super::figures::{
    as_of, as_of_form, as_of_line, bar, coverage_table, period, period_form, share, PeriodQuery, CSV, XLSX,
};
use super::*;
use crate::i18n::province::ProvinceStrings;
use crate::province::ProvinceActivity;

/// A request from a logged-in province account.
pub(super) struct ProvinceOffice {
    session: Session,
    province: String,
    t: &'static OfficeStrings,
}

impl FromRequestParts<AppState> for ProvinceOffice {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ProvinceOffice, Refusal> {
        let token = cookie(&parts.headers, COOKIE).ok_or(Refusal::Login)?;
        let session = state.blocking(move |db| db.session(&token, Utc::now())).await??.ok_or(Refusal::Login)?;
        let t = lang(&parts.headers);
        match session.province.clone() {
            Some(province) => Ok(ProvinceOffice { session, province, t }),
            None => Err(Refusal::Page(StatusCode::FORBIDDEN, message_page(t, t.province.only_province))),
        }
    }
}

impl ProvinceOffice {
    fn p(&self) -> &'static ProvinceStrings {
        self.t.province
    }
}

/// A province page with its navigation, the language switch and logout.
fn province_page(o: &ProvinceOffice, current: usize, body: Markup) -> Markup {
    let (t, p) = (o.t, o.p());
    let links = ["/office/province", "/office/province/activity", "/office/province/quiet", "/office/province/audit"];
    bare(
        t,
        p.title,
        html! {
            header.no-print {
                strong { "Sổ tay · " (crate::province::province_name(&o.province)) }
                nav {
                    @for (i, href) in links.iter().enumerate() {
                        a href=(href) class=[(i == current).then_some("current")] { (p.nav[i]) }
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

/// The communes' coverage table: each commune links to its hamlets.
fn communes_table(t: &OfficeStrings, r: &CoverageReport, links: bool) -> Markup {
    let p = t.province;
    html! {
        table.report data-testid="province-coverage" {
            thead { tr { th { (p.commune_header) } @for h in t.coverage_headers.iter().skip(1) { th { (h) } } th.no-print {} } }
            tbody {
                @for row in &r.rows {
                    tr data-commune=(row.hamlet_id) {
                        th scope="row" {
                            @if links { a href={ "/office/province/c/" (row.hamlet_id) "?date=" (r.as_of.format("%Y-%m-%d")) } { (row.name) } } @else { (row.name) }
                        }
                        td { (num(row.adult_population)) } td { (num(row.baseline_signed)) }
                        td { (num(row.helped_signed)) } td { (num(row.signed)) }
                        td.pct { (share(t, row.percent)) }
                        td { @if row.reached { (t.reached) " ✓" } @else { (num(row.still_needed)) } }
                        td.bar-cell { (bar(row.percent, r.target_percent)) }
                    }
                }
            }
            tfoot {
                tr data-commune="total" {
                    th scope="row" { (p.province_total) }
                    td { (num(r.total.adult_population)) } td { (num(r.total.baseline_signed)) }
                    td { (num(r.total.helped_signed)) } td { (num(r.total.signed)) }
                    td.pct { (share(t, r.total.percent)) }
                    td { @if r.total.reached { (t.reached) " ✓" } @else { (num(r.total.still_needed)) } }
                    td.bar-cell { (bar(r.total.percent, r.target_percent)) }
                }
            }
        }
    }
}

pub(super) async fn province_coverage_page(
    State(state): State<AppState>,
    o: ProvinceOffice,
    Params(q): Params<PeriodQuery>,
) -> Result<Markup, Refusal> {
    let t = o.t;
    let day = as_of(&q).map_err(|_| Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_dates)))?;
    let province = o.province.clone();
    let r = state.blocking(move |db| db.province_coverage_as_of(&province, Some(day))).await??;
    let p = o.p();
    let query = format!("date={}", r.as_of.format("%Y-%m-%d"));
    Ok(province_page(
        &o,
        0,
        html! {
            h1 { (p.coverage_title) " — " (r.commune.name) }
            (as_of_line(t, r.as_of))
            (as_of_form(t, "/office/province", r.as_of))
            p.lead { (p.province_total) ": " strong data-testid="province-percent" { (share(t, r.total.percent)) }
                " · " (t.target_label) " " (r.target_percent) "%" }
            @if r.rows.is_empty() { p data-testid="no-communes" { (p.no_communes) } }
            (communes_table(t, &r, true))
            p.hint { (p.target_note) " " (p.drill_hint) }
            p.no-print {
                (t.export) ": " a href={ "/office/province/export/coverage.xlsx?" (query) } data-testid="province-xlsx" { "XLSX" } " · "
                a href={ "/office/province/export/coverage.csv?" (query) } { "CSV" } " · "
                a href={ "/office/province/print?to=" (r.as_of.format("%Y-%m-%d")) } { (t.print) }
            }
        },
    ))
}

pub(super) async fn province_commune_page(
    State(state): State<AppState>,
    o: ProvinceOffice,
    Path(code): Path<String>,
    Params(q): Params<PeriodQuery>,
) -> Result<Markup, Refusal> {
    let day = as_of(&q).map_err(|_| Refusal::Page(StatusCode::BAD_REQUEST, message_page(o.t, o.t.bad_dates)))?;
    let province = o.province.clone();
    let r = state
        .blocking(move |db| match db.commune_in_province(&code, &province)? {
            true => db.coverage_report_as_of(&code, day).map(Some),
            false => Ok(None),
        })
        .await??;
    let (t, p) = (o.t, o.p());
    let Some(r) = r else { return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found))) };
    Ok(province_page(
        &o,
        0,
        html! {
            p.no-print { a href="/office/province" { (p.back) } }
            h1 { (p.hamlets_of) " — " (r.commune.name) }
            (as_of_line(t, r.as_of))
            p.lead { (t.target_label) " " strong { (r.target_percent) "%" } " · " (t.commune_total) ": "
                strong data-testid="commune-percent" { (share(t, r.total.percent)) } }
            (coverage_table(t, &r))
            p.hint { (t.counting_rule) }
        },
    ))
}

fn activity_table(t: &OfficeStrings, a: &ProvinceActivity) -> Markup {
    let p = t.province;
    html! {
        div.scroll {
            table.report.wide data-testid="province-activity" {
                thead { tr { th { (p.commune_header) } @for h in t.total_labels { th { (h) } } } }
                tbody {
                    @for (code, name, c) in &a.rows {
                        tr data-commune=(code) { th scope="row" { (name) } @for v in export::counts(c) { td { (num(v)) } } }
                    }
                }
                tfoot {
                    tr data-commune="total" { th scope="row" { (p.province_total) } @for v in export::counts(&a.total) { td { (num(v)) } } }
                }
            }
        }
    }
}

pub(super) async fn province_activity_page(
    State(state): State<AppState>,
    o: ProvinceOffice,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, Refusal> {
    let (t, p) = (o.t, o.p());
    let Ok((from, to)) = period(&q) else {
        let today = Local::now().date_naive();
        let body = html! { h1 { (p.activity_title) } p.error role="alert" data-testid="period-error" { (t.bad_dates) } (province_period_form(t, today, today)) };
        return Ok((StatusCode::BAD_REQUEST, province_page(&o, 1, body)).into_response());
    };
    let province = o.province.clone();
    let a = state.blocking(move |db| db.province_activity(&province, from, to)).await??;
    let query = format!("from={}&to={}", from.format("%Y-%m-%d"), to.format("%Y-%m-%d"));
    Ok(province_page(
        &o,
        1,
        html! {
            h1 { (p.activity_title) " — " (a.province_name) }
            p.lead { (t.period) " " (from.format("%d/%m/%Y")) " – " (to.format("%d/%m/%Y")) }
            (as_of_line(t, to.min(crate::asof::vn_day(Utc::now()))))
            (province_period_form(t, from, to))
            p.no-print {
                (t.export) ": " a href={ "/office/province/export/activity.xlsx?" (query) } data-testid="province-activity-xlsx" { "XLSX" } " · "
                a href={ "/office/province/export/activity.csv?" (query) } { "CSV" } " · "
                a href={ "/office/province/print?" (query) } { (t.print) }
            }
            (activity_table(t, &a))
        },
    )
    .into_response())
}

/// The commune office's period form, sent to the province's activity page.
fn province_period_form(t: &OfficeStrings, from: NaiveDate, to: NaiveDate) -> Markup {
    let form = period_form(t, from, to).into_string();
    PreEscaped(form.replace("\"/office/activity", "\"/office/province/activity"))
}

#[derive(Deserialize)]
pub(super) struct QuietQuery {
    days: Option<String>,
}

pub(super) async fn province_quiet_page(
    State(state): State<AppState>,
    o: ProvinceOffice,
    Params(q): Params<QuietQuery>,
) -> Result<Response, Refusal> {
    let (t, p) = (o.t, o.p());
    let days = match q.days.as_deref().map(str::trim) {
        None | Some("") => 7,
        Some(d) => match d.parse::<i64>() {
            Ok(d) if (1..=3660).contains(&d) => d,
            _ => return Err(Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_query))),
        },
    };
    let province = o.province.clone();
    let quiet = state.blocking(move |db| db.quiet_communes(&province, days, Utc::now())).await??;
    Ok(province_page(
        &o,
        2,
        html! {
            h1 { (p.quiet_title) }
            form.period.no-print method="get" action="/office/province/quiet" {
                label { (p.quiet_days) " " input name="days" value=(days) inputmode="numeric" size="4"; }
                button type="submit" { (t.show) }
            }
            @if quiet.is_empty() { p data-testid="quiet-none" { (p.quiet_none) } }
            @else {
                table.report data-testid="quiet" {
                    thead { tr { @for h in p.quiet_headers { th { (h) } } } }
                    tbody {
                        @for c in &quiet {
                            tr data-commune=(c.code) {
                                th scope="row" { a href={ "/office/province/c/" (c.code) } { (c.name) } }
                                td { (c.devices) } td { (c.records) }
                                td { @match c.last_sync.as_deref().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()) {
                                    Some(at) => (local_time(at.with_timezone(&Utc))),
                                    None => (p.never),
                                } }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

pub(super) async fn province_print_page(
    State(state): State<AppState>,
    o: ProvinceOffice,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, Refusal> {
    let (t, p) = (o.t, o.p());
    let (from, to) = period(&q).map_err(|_| Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_dates)))?;
    let province = o.province.clone();
    let (cov, act) = state
        .blocking(move |db| {
            Ok::<_, db::DbError>((
                db.province_coverage_as_of(&province, Some(to))?,
                db.province_activity(&province, from, to)?,
            ))
        })
        .await??;
    Ok(bare(
        t,
        p.title,
        html! {
            main.print {
                p.hint { (t.generated) " " (crate::asof::vn_time(Utc::now())) " · " (o.session.username) }
                h1 { (p.coverage_title) " — " (cov.commune.name) }
                (as_of_line(t, cov.as_of))
                (communes_table(t, &cov, false))
                p.hint { (p.target_note) }
                h1.page-break { (p.activity_title) }
                p { (t.period) " " (from.format("%d/%m/%Y")) " – " (to.format("%d/%m/%Y")) }
                (activity_table(t, &act))
            }
        },
    )
    .into_response())
}

pub(super) async fn province_export(
    State(state): State<AppState>,
    o: ProvinceOffice,
    Path(file): Path<String>,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let mime = match file.as_str() {
        "coverage.xlsx" | "activity.xlsx" => XLSX,
        "coverage.csv" | "activity.csv" => CSV,
        _ => return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found))),
    };
    let period = if file.starts_with("activity") {
        Some(period(&q).map_err(|_| Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_dates)))?)
    } else {
        None
    };
    let day = as_of(&q).map_err(|_| Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_dates)))?;
    let (session, province, name) = (o.session.clone(), o.province.clone(), file.clone());
    let made = state
        .blocking(move |db| {
            let bytes = match (name.as_str(), period) {
                ("coverage.xlsx", _) => {
                    export::province_coverage_xlsx(&db.province_coverage_as_of(&province, Some(day))?, t)
                }
                ("coverage.csv", _) => {
                    export::province_coverage_csv(&db.province_coverage_as_of(&province, Some(day))?, t)
                }
                ("activity.xlsx", Some((from, to))) => {
                    export::province_activity_xlsx(&db.province_activity(&province, from, to)?, t)
                }
                (_, Some((from, to))) => export::province_activity_csv(&db.province_activity(&province, from, to)?, t),
                (_, None) => Err("no period".to_owned()),
            };
            if bytes.is_ok() {
                db.audit(&session, "export", &format!("province {name}"), Utc::now())?;
            }
            Ok::<_, db::DbError>(bytes)
        })
        .await??;
    let bytes = made.map_err(|e| {
        tracing::error!(file = %file, error = %e, "export failed");
        Refusal::Page(StatusCode::INTERNAL_SERVER_ERROR, message_page(t, "Lỗi khi tạo tệp / export failed."))
    })?;
    let name = format!("sotay-tinh-{}-{}-{file}", o.province, Local::now().format("%Y%m%d"));
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

pub(super) async fn province_audit_page(State(state): State<AppState>, o: ProvinceOffice) -> Result<Markup, Refusal> {
    let t = o.t;
    let scope = o.session.audit_scope();
    let log = state.blocking(move |db| db.audit_log(&scope, 200)).await??;
    Ok(province_page(
        &o,
        3,
        html! {
            h1 { (t.audit_title) }
            table.report data-testid="audit" {
                thead { tr { @for h in t.audit_headers { th { (h) } } } }
                tbody { @for (at, who, what, detail) in &log { tr { td { (at) } td { (who) } td { (what) } td { (detail) } } } }
            }
        },
    ))
}
