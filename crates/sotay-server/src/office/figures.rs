//! The figures: coverage per hamlet against the target, activity for a period, the print
//! view and the XLSX/CSV exports (counts only, never names).

use super::*;
use crate::i18n::report::for_office as report_words;
use crate::reports::CoverageRow;

pub(super) fn coverage_table(t: &OfficeStrings, r: &CoverageReport) -> Markup {
    html! {
        table.report data-testid="coverage" {
            thead { tr { @for h in t.coverage_headers { th { (h) } } th.no-print {} } }
            tbody {
                @for row in &r.rows {
                    tr data-hamlet=(row.hamlet_id) { th scope="row" { (row.name) } (coverage_cells(t, row, r.target_percent)) }
                }
            }
            tfoot {
                tr data-hamlet="total" { th scope="row" { (t.commune_total) } (coverage_cells(t, &r.total, r.target_percent)) }
            }
        }
    }
}

/// A coverage row's figures after its name (a hamlet's, a commune's or a total's).
pub(super) fn coverage_cells(t: &OfficeStrings, row: &CoverageRow, target: u32) -> Markup {
    html! {
        td { (num(row.adult_population)) } td { (num(row.baseline_signed)) }
        td { (num(row.helped_signed)) } td { (num(row.signed)) }
        td.pct { (share(t, row.percent)) }
        td { @if row.reached { (t.reached) " ✓" } @else { (num(row.still_needed)) } }
        td.bar-cell { (bar(row.percent, target)) }
    }
}

/// The export and print links under a figures table: `base` is `/office` or
/// `/office/province`, `file` `coverage` or `activity`, `print` the print view's query.
pub(super) fn export_links(
    t: &OfficeStrings,
    base: &str,
    file: &str,
    query: &str,
    print: &str,
    testid: &str,
) -> Markup {
    html! {
        p.no-print {
            (t.export) ": " a href={ (base) "/export/" (file) ".xlsx?" (query) } data-testid=(testid) { "XLSX" } " · "
            a href={ (base) "/export/" (file) ".csv?" (query) } { "CSV" } " · "
            a href={ (base) "/print?" (print) } { (t.print) }
        }
    }
}

/// The top of a print view: when and by whom it was printed, its title and its as-of day.
pub(super) fn print_head(t: &OfficeStrings, username: &str, title: &str, name: &str, as_of: NaiveDate) -> Markup {
    html! {
        p.hint { (t.generated) " " (crate::asof::vn_time(Utc::now())) " · " (username) }
        h1 { (title) " — " (name) }
        (as_of_line(t, as_of))
    }
}

/// Dates that cannot be read: 400 with the message.
pub(super) fn bad_dates(t: &OfficeStrings) -> Refusal {
    Refusal::Page(StatusCode::BAD_REQUEST, message_page(t, t.bad_dates))
}

/// An activity page's body for a period that cannot be read: the message and the form.
pub(super) fn bad_period(t: &OfficeStrings, title: &str, action: &str) -> Markup {
    let today = crate::asof::vn_today();
    html! { h1 { (title) } p.error role="alert" data-testid="period-error" { (t.bad_dates) } (period_form(t, action, today, today)) }
}

/// A period's first and last day.
pub(super) type Period = (NaiveDate, NaiveDate);

/// What an export address asks for: the file's type, its period (activity files only) and
/// the day coverage is as of; an unknown file is 404, unreadable dates 400.
pub(super) fn export_ask(
    t: &OfficeStrings,
    file: &str,
    q: &PeriodQuery,
) -> Result<(&'static str, Option<Period>, NaiveDate), Refusal> {
    let mime = match file {
        "coverage.xlsx" | "activity.xlsx" => XLSX,
        "coverage.csv" | "activity.csv" => CSV,
        _ => return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found))),
    };
    let period = if file.starts_with("activity") { Some(period(q).map_err(|_| bad_dates(t))?) } else { None };
    Ok((mime, period, as_of(q).map_err(|_| bad_dates(t))?))
}

/// A made file as a download named `name`, or the failure page (the error is logged, with
/// `what` the file's kind; it never carries personal data: files hold counts).
pub(super) fn download(
    t: &OfficeStrings,
    mime: &str,
    name: &str,
    what: &str,
    made: Result<Vec<u8>, String>,
) -> Result<Response, Refusal> {
    let bytes = made.map_err(|e| {
        tracing::error!(file = %what, error = %e, "export failed");
        Refusal::Page(StatusCode::INTERNAL_SERVER_ERROR, message_page(t, "Lỗi khi tạo tệp / export failed."))
    })?;
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok(([(header::CONTENT_TYPE, mime.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

/// A horizontal bar with the target line, drawn in SVG so it prints.
pub(super) fn bar(percent: f64, target: u32) -> Markup {
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

pub(super) async fn coverage_page(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<PeriodQuery>,
) -> Result<Markup, Refusal> {
    let t = o.t;
    let day = as_of(&q).map_err(|_| bad_dates(t))?;
    let commune = o.session.commune.clone();
    let today = day >= crate::vn_time::vn_day(Utc::now());
    let (r, anonymous, targets) = state
        .blocking(move |db| {
            let split = if today { Some(db.anonymous_by_hamlet(&commune)?) } else { None };
            let targets = db.targets(&commune, day.year())?;
            Ok::<_, db::DbError>((db.coverage_report_as_of(&commune, day)?, split, targets))
        })
        .await??;
    let query = format!("date={}", r.as_of.format("%Y-%m-%d"));
    Ok(page(
        &o,
        0,
        html! {
            h1 { (t.coverage_title) " — " (r.commune.name) }
            (as_of_line(t, r.as_of))
            p.lead { (t.target_label) " " strong { (r.target_percent) "%" } " · " (t.commune_total) ": "
                strong data-testid="commune-percent" { (share(t, r.total.percent)) } }
            (as_of_form(t, "/office", r.as_of))
            (coverage_table(t, &r))
            (super::breakdowns::id_split_table(t, &r, anonymous.as_ref()))
            (super::plan::coverage_plan(t, &r, &targets))
            p.hint { (t.counting_rule) }
            (export_links(t, "/office", "coverage", &query, &format!("to={}", r.as_of.format("%Y-%m-%d")), "coverage-xlsx"))
            (report_links(t, &query))
        },
    ))
}

/// "Số liệu tính đến ngày dd/mm/yyyy": on every page, print and export of figures.
pub(super) fn as_of_line(t: &OfficeStrings, day: NaiveDate) -> Markup {
    html! { p.as-of data-testid="as-of" { (report_words(t).as_of) " " (day.format("%d/%m/%Y")) } }
}

/// The day field of the coverage page (province's too), with the 15/11 and 20/11 presets.
pub(super) fn as_of_form(t: &OfficeStrings, action: &str, day: NaiveDate) -> Markup {
    let w = report_words(t);
    html! {
        form.period.no-print method="get" action=(action) {
            label { (w.as_of_field) " " input type="date" name="date" value=(day.format("%Y-%m-%d")); }
            button type="submit" { (t.show) }
        }
        p.presets.no-print {
            @for (key, label) in ["unit", "commune"].iter().zip(w.as_of_presets) {
                a href={ (action) "?preset=" (key) } data-testid={ "as-of-" (key) } { (label) } " "
            }
            a href=(action) { (w.today) }
        }
    }
}

/// The day coverage is shown as of: `date`, else the end of a preset period (15/11 or
/// 20/11), else today; `Err` for a day that does not parse or falls outside 2000–2100.
pub(super) fn as_of(q: &PeriodQuery) -> Result<NaiveDate, ()> {
    let today = crate::asof::vn_today();
    match (q.date.as_deref().map(str::trim), &q.preset) {
        (Some(d), _) if !d.is_empty() => parse_day(d).ok_or(()),
        (_, Some(_)) => period(q).map(|(_, to)| to.min(today)),
        _ => Ok(today),
    }
}

// ---- activity ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub(super) struct PeriodQuery {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) preset: Option<String>,
    /// The day coverage is as of (coverage page and exports).
    pub(super) date: Option<String>,
}

/// The period asked for, or this month; `Err` for dates that do not parse, fall outside
/// 2000–2100 or are reversed.
pub(super) fn period(q: &PeriodQuery) -> Result<(NaiveDate, NaiveDate), ()> {
    let today = crate::asof::vn_today();
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
                Some(s) => parse_day(s).ok_or(()),
            };
            (parse(&q.from, month_start)?, parse(&q.to, today)?)
        }
    };
    if to < from || (to - from).num_days() > 3660 {
        return Err(());
    }
    Ok((from, to))
}

/// The period fields of an activity page (`action`: the commune's or the province's), with
/// the presets.
pub(super) fn period_form(t: &OfficeStrings, action: &str, from: NaiveDate, to: NaiveDate) -> Markup {
    html! {
        form.period.no-print method="get" action=(action) {
            label { (t.from) " " input type="date" name="from" value=(from.format("%Y-%m-%d")); }
            label { (t.to) " " input type="date" name="to" value=(to.format("%Y-%m-%d")); }
            button type="submit" { (t.show) }
        }
        p.presets.no-print {
            @for (key, label) in ["unit", "commune", "month", "year"].iter().zip(t.presets) {
                a href={ (action) "?preset=" (key) } { (label) } " "
            }
        }
    }
}

pub(super) fn pct(t: &OfficeStrings, n: u32, of: u32) -> String {
    if of == 0 {
        "—".into()
    } else {
        share(t, 100.0 * n as f64 / of as f64)
    }
}

pub(super) fn activity_body(t: &OfficeStrings, r: &ActivityReport) -> Markup {
    let counts = export::counts(&r.totals);
    let max = r.over_time.iter().map(|p| p.signature_sessions).max().unwrap_or(0).max(1);
    let bar_w = (640.0 / r.over_time.len().max(1) as f64).clamp(2.0, 40.0);
    html! {
        table.report.totals data-testid="activity-totals" {
            tbody { @for (label, v) in t.total_labels.iter().zip(counts) { tr { th scope="row" { (label) } td { (num(v)) } } } }
        }
        (super::breakdowns::breakdown_table(t, &r.totals))
        div.columns {
            table.report data-testid="outcomes" {
                caption { (t.outcomes_heading) }
                thead { tr { th {} th { (t.count_header) } th { (t.share_header) } } }
                tbody { @for (o, n) in &r.outcomes { tr { th scope="row" { (t.labels.outcomes[o.index()]) } td { (num(*n)) } td { (pct(t, *n, r.totals.signature_sessions)) } } } }
                tfoot { tr { th scope="row" { (t.commune_total) } td { (num(r.totals.signature_sessions)) } td {} } }
            }
            table.report data-testid="reasons" {
                caption { (t.reasons_heading) }
                thead { tr { th {} th { (t.count_header) } th { (t.share_header) } } }
                tbody { @for (f, n) in &r.failure_reasons { tr { th scope="row" { (t.labels.failure_reasons[f.index()]) } td { (num(*n)) } td { (pct(t, *n, r.totals.not_completed)) } } } }
                tfoot { tr { th scope="row" { (t.commune_total) } td { (num(r.totals.not_completed)) } td {} } }
            }
        }
        table.report data-testid="channels" {
            caption { (t.channels_heading) }
            thead { tr { @for h in t.channel_headers { th { (h) } } } }
            tbody {
                @for ch in &r.channels {
                    tr {
                        th scope="row" { (crate::domain::Channel::from_code(&ch.channel).map(|c| t.labels.channels[c.index()]).unwrap_or(&ch.channel)) }
                        td { (num(ch.activities)) } td { (ch.quantity) } td { (ch.reach) }
                    }
                }
            }
            tfoot {
                tr {
                    th scope="row" { (t.commune_total) } td { (num(r.totals.outreach)) }
                    td { (r.channels.iter().map(|c| c.quantity).sum::<u64>()) } td { (r.channels.iter().map(|c| c.reach).sum::<u64>()) }
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
                    tfoot { tr data-total="" { th scope="row" { (t.commune_total) } @for v in export::counts(&r.totals) { td { (num(v)) } } } }
                }
            }
        }
    }
}

pub(super) async fn activity_page(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let Ok((from, to)) = period(&q) else {
        let body = bad_period(t, t.activity_title, "/office/activity");
        return Ok((StatusCode::BAD_REQUEST, page(&o, 1, body)).into_response());
    };
    let commune = o.session.commune.clone();
    let (r, targets) = state
        .blocking(move |db| {
            Ok::<_, db::DbError>((db.activity_report(&commune, from, to)?, db.targets(&commune, to.year())?))
        })
        .await??;
    let query = format!("from={}&to={}", from.format("%Y-%m-%d"), to.format("%Y-%m-%d"));
    Ok(page(
        &o,
        1,
        html! {
            h1 { (t.activity_title) " — " (r.commune.name) }
            p.lead { (t.period) " " (from.format("%d/%m/%Y")) " – " (to.format("%d/%m/%Y")) }
            (as_of_line(t, to.min(crate::asof::vn_today())))
            (period_form(t, "/office/activity", from, to))
            (export_links(t, "/office", "activity", &query, &query, "activity-xlsx"))
            (activity_body(t, &r))
            (super::plan::activity_plan(t, &r, &targets))
        },
    )
    .into_response())
}

pub(super) async fn print_page(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let (from, to) = period(&q).map_err(|_| bad_dates(t))?;
    let commune = o.session.commune.clone();
    // Coverage as of the period's last day, so a report for 20/11 printed later says what
    // it said on 20/11.
    let (cov, act) = state
        .blocking(move |db| {
            Ok::<_, db::DbError>((db.coverage_report_as_of(&commune, to)?, db.activity_report(&commune, from, to)?))
        })
        .await??;
    Ok(bare(
        t,
        t.title,
        html! {
            main.print {
                (print_head(t, &o.session.username, t.coverage_title, &cov.commune.name, cov.as_of))
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

pub(super) async fn export_file(
    State(state): State<AppState>,
    o: Office,
    Path(file): Path<String>,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let commune = o.session.commune.clone();
    let (mime, period, day) = export_ask(t, &file, &q)?;
    let (session, name) = (o.session.clone(), file.clone());
    // The report and the file are made on the blocking threads too: a big commune's XLSX
    // takes a while.
    let made = state
        .blocking(move |db| {
            let bytes = match (name.as_str(), period) {
                ("coverage.xlsx", _) => export::coverage_xlsx(&db.coverage_report_as_of(&session.commune, day)?, t),
                ("coverage.csv", _) => export::coverage_csv(&db.coverage_report_as_of(&session.commune, day)?, t),
                ("activity.xlsx", Some((from, to))) => {
                    export::activity_xlsx(&db.activity_report(&session.commune, from, to)?, t)
                }
                (_, Some((from, to))) => export::activity_csv(&db.activity_report(&session.commune, from, to)?, t),
                (_, None) => Err("no period".to_owned()),
            };
            if bytes.is_ok() {
                db.audit(&session, "export", &name, Utc::now())?;
            }
            Ok::<_, db::DbError>(bytes)
        })
        .await??;
    let name = format!("sotay-{commune}-{}-{file}", crate::asof::vn_today().format("%Y%m%d"));
    download(t, mime, &name, &file, made)
}

pub(super) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub(super) const CSV: &str = "text/csv; charset=utf-8";
