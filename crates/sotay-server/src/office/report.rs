//! The commune's report to the province ([`crate::letter`]): downloaded as DOCX
//! (`/office/report.docx`) to edit, sign and send, and shown as a print view with the same
//! header (`/office/report`). Both take the report's day (`date`, or the 15/11 and 20/11
//! presets: coverage as of that day) and the start of its activity period (`from`, else 1
//! January); both are behind the commune's session like every figure, and the download is
//! audited as an export.

use super::*;
use crate::letter::{commune_letter, Block, Letter, MOTTO, NATION, SUBTITLE, TITLE};
use crate::reports::ActivityReport;
use crate::unit_letter::UnitsInLetter;

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// Links to the report from the coverage page, for the same day.
pub(super) fn report_links(t: &OfficeStrings, query: &str) -> Markup {
    let w = crate::i18n::report::for_office(t);
    html! {
        p.no-print {
            (w.report) ": " a href={ "/office/report.docx?" (query) } data-testid="report-docx" { "DOCX" } " · "
            a href={ "/office/report?" (query) } data-testid="report-print" { (t.print) }
        }
    }
}

/// The report's period: from `from` (else 1 January of the report's day) to its day
/// (`date`, else `to`, else a preset's end, else today; never after today).
fn report_period(q: &PeriodQuery) -> Result<(NaiveDate, NaiveDate), ()> {
    let today = crate::asof::vn_today();
    let day = match (q.date.as_deref().map(str::trim), q.to.as_deref().map(str::trim)) {
        (None | Some(""), Some(to)) if !to.is_empty() => parse_day(to).ok_or(())?.min(today),
        _ => as_of(q)?,
    };
    let from = match q.from.as_deref().map(str::trim) {
        None | Some("") => NaiveDate::from_ymd_opt(day.year(), 1, 1).ok_or(())?,
        Some(s) => parse_day(s).ok_or(())?,
    };
    if from > day {
        return Err(());
    }
    Ok((from, day))
}

/// The letter of the session's commune for the query's period.
async fn letter(state: &AppState, o: &Office, q: &PeriodQuery) -> Result<Letter, Refusal> {
    let t = o.t;
    let (from, day) = report_period(q).map_err(|_| bad_dates(t))?;
    let commune = o.session.commune.clone();
    let (cov, act, units): (CoverageReport, ActivityReport, UnitsInLetter) = state
        .blocking(move |db| {
            let year = day.year();
            let units = UnitsInLetter {
                reports: db.unit_reports(&commune, year)?,
                deadline: db.unit_deadline(&commune, year)?,
            };
            Ok::<_, db::DbError>((
                db.coverage_report_as_of(&commune, day)?,
                db.activity_report(&commune, from, day)?,
                units,
            ))
        })
        .await??;
    let province = crate::province::province_name(&cov.commune.province);
    let mut l = commune_letter(&cov, &act, &province);
    crate::unit_letter::add_units(&mut l, &units);
    Ok(l)
}

pub(super) async fn report_docx(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let l = letter(&state, &o, &q).await?;
    let session = o.session.clone();
    let made = state
        .blocking(move |db| {
            let bytes = crate::docx::letter_docx(&l);
            if bytes.is_ok() {
                db.audit(&session, "export", "report.docx", Utc::now())?;
            }
            Ok::<_, db::DbError>(bytes)
        })
        .await??;
    let name = format!("bao-cao-{}-{}.docx", o.session.commune, crate::asof::vn_today().format("%Y%m%d"));
    download(t, DOCX, &name, "report.docx", made)
}

pub(super) async fn report_page(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<PeriodQuery>,
) -> Result<Markup, Refusal> {
    let l = letter(&state, &o, &q).await?;
    Ok(bare(o.t, SUBTITLE, html! { main.print.letter { (letter_html(&l)) } }))
}

/// The letter as a page, laid out as the document is.
fn letter_html(l: &Letter) -> Markup {
    html! {
        div.letter-head data-testid="letter-head" {
            div {
                p { (l.issuer[0]) } p { strong { (l.issuer[1]) } } p.rule { "———" } p { (l.number) }
            }
            div {
                p { strong { (NATION) } } p { strong { (MOTTO) } } p.rule { "———————————" } p { em { (l.place_date) } }
            }
        }
        h1.letter-title { (TITLE) br; (SUBTITLE) }
        p.letter-as-of data-testid="as-of" { em { (l.as_of) } }
        @for block in &l.body {
            @match block {
                Block::Heading(h) => h2.letter-heading { (h) },
                Block::Text(s) => p.letter-text { (s) },
                Block::Table { header, rows, total } => table.report {
                    thead { tr { @for h in header { th { (h) } } } }
                    tbody { @for r in rows { tr { @for c in r { td { (c) } } } } }
                    tfoot { tr { @for c in total { th { (c) } } } }
                },
            }
        }
        div.letter-foot {
            div { p { strong { em { "Nơi nhận:" } } } @for r in &l.recipients { p.small { (r) } } }
            div { p { strong { (l.signer[0]) } } p { strong { (l.signer[1]) } } p { em { "(Ký, ghi rõ họ tên, đóng dấu)" } } }
        }
    }
}
