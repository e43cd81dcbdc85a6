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
    as_of, as_of_form, as_of_line, bad_dates, bad_period, coverage_cells, coverage_table, download, export_ask,
    export_links, period, period_form, print_head, PeriodQuery,
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
        let (session, _) = signed_in(parts, state).await?;
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
    let links = ["/office/province", "/office/province/activity", "/office/province/quiet", "/office/province/audit"];
    let nav: Vec<_> = links.into_iter().zip(o.p().nav).collect();
    let brand = html! { "Sổ tay · " (crate::province::province_name(&o.province)) };
    chrome(o.t, o.p().title, brand, &nav, current, &o.session, body)
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
                        (coverage_cells(t, row, r.target_percent))
                    }
                }
            }
            tfoot {
                tr data-commune="total" {
                    th scope="row" { (p.province_total) } (coverage_cells(t, &r.total, r.target_percent))
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
    let day = as_of(&q).map_err(|_| bad_dates(t))?;
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
            (export_links(t, "/office/province", "coverage", &query, &format!("to={}", r.as_of.format("%Y-%m-%d")), "province-xlsx"))
        },
    ))
}

pub(super) async fn province_commune_page(
    State(state): State<AppState>,
    o: ProvinceOffice,
    Path(code): Path<String>,
    Params(q): Params<PeriodQuery>,
) -> Result<Markup, Refusal> {
    let day = as_of(&q).map_err(|_| bad_dates(o.t))?;
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
        let body = bad_period(t, p.activity_title, "/office/province/activity");
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
            (as_of_line(t, to.min(crate::asof::vn_today())))
            (period_form(t, "/office/province/activity", from, to))
            (export_links(t, "/office/province", "activity", &query, &query, "province-activity-xlsx"))
            (activity_table(t, &a))
        },
    )
    .into_response())
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
    let (from, to) = period(&q).map_err(|_| bad_dates(t))?;
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
                (print_head(t, &o.session.username, p.coverage_title, &cov.commune.name, cov.as_of))
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
    let (mime, period, day) = export_ask(t, &file, &q)?;
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
    let name = format!("sotay-tinh-{}-{}-{file}", o.province, crate::asof::vn_today().format("%Y%m%d"));
    download(t, mime, &name, &file, made)
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
