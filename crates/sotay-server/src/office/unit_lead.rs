//! The page of a unit account (`/office/unit`): the lead of one unit sees the figures drawn
//! from the unit's records for the year's period, enters the unit's own figures and a short
//! narrative, saves a draft and submits the report to the commune.
//!
//! What a unit account sees, decided: its own unit only (the unit comes from the session,
//! never from the address), counts only — no record, no person's or volunteer's name, no
//! other unit's report, none of the commune office's pages (they send it back here). Every
//! view and change is audited under the commune, so the office's audit page shows them.

use super::units::{entry_table, figures_table, load_report, year_of, ReportView, YearQuery};
use super::*;
use crate::db::units::{ReportRefusal, UnitEntry, UnitRow, MAX_NARRATIVE_CHARS};
use crate::i18n::units as w;

/// A request from a logged-in unit account; anything else goes to the login page, or to
/// the commune's (or province's) pages.
pub(super) struct UnitLead {
    session: Session,
    unit: i64,
    t: &'static OfficeStrings,
}

impl SignedIn for UnitLead {
    fn csrf(&self) -> &str {
        &self.session.csrf
    }
    fn t(&self) -> &'static OfficeStrings {
        self.t
    }
}

impl FromRequestParts<AppState> for UnitLead {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<UnitLead, Refusal> {
        let (session, _) = signed_in(parts, state).await?;
        match session.unit {
            Some(unit) => Ok(UnitLead { session, unit, t: &VI }),
            None => Err(Refusal::Redirect("/office")),
        }
    }
}

/// A unit account's page: the unit's name, logout, and `body`.
fn lead_chrome(l: &UnitLead, unit: &UnitRow, body: Markup) -> Markup {
    bare(
        l.t,
        w::TITLE,
        html! {
            header.no-print {
                strong { "Sổ tay" }
                nav { a href="/office/unit" class="current" { (unit.name) } }
                span.right {
                    (l.session.username) " "
                    form method="post" action="/office/logout" {
                        input type="hidden" name="csrf" value=(l.session.csrf);
                        button type="submit" data-testid="logout" { (l.t.logout) }
                    }
                }
            }
            main { (body) }
        },
    )
}

/// What a unit's own page shows: [`ReportView`] of the session's unit.
fn load(db: &db::ServerDb, session: &Session, unit: i64, year: i32) -> Result<ReportView, db::DbError> {
    load_report(db, &session.commune, unit, year)?.ok_or(db::DbError::NoCommune)
}

/// The names of the form's number fields, in the order of `UnitEntry::numbers`.
const FIELDS: [&str; 7] = [
    "staff_registered",
    "staff_completed",
    "people_registered",
    "people_completed",
    "media_items",
    "meetings",
    "meeting_reach",
];

/// The body of the page; `typed` keeps what was typed in a refused form.
fn body(l: &UnitLead, v: &ReportView, notice: Option<Markup>, typed: Option<&LeadForm>) -> Markup {
    let r = &v.report;
    let editable = !r.status.counts();
    let value = |i: usize| match typed {
        Some(f) => f.numbers[i].clone(),
        None => r.entry.numbers()[i].to_string(),
    };
    let narrative = typed.map(|f| f.narrative.clone()).unwrap_or_else(|| r.entry.narrative.clone());
    html! {
        h1 { (w::TITLE) ": " (v.unit.name) " — " (r.year) }
        @if let Some(n) = notice { (n) }
        p { (w::STATUS) ": " strong data-testid="unit-status" { (w::status(r.status.code())) }
            " · " (w::DUE) " " (v.deadline.format("%d/%m/%Y"))
            @if let Some(at) = r.submitted_at { " · " (w::SUBMITTED_AT) " " (local_time(at)) } }
        @if let (Some(reason), crate::db::units::ReportStatus::Returned) = (&r.return_reason, r.status) {
            p.error role="alert" data-testid="return-reason" { (w::RETURNED_BECAUSE) " " (reason) }
        }
        (figures_table(&v.figures, v.from, v.to))
        h2 { (w::ENTERED) }
        @if editable {
            form.unit-report method="post" action="/office/unit" data-testid="unit-report-form" {
                input type="hidden" name="csrf" value=(l.session.csrf);
                input type="hidden" name="year" value=(r.year);
                @for (i, (name, label)) in FIELDS.iter().zip(w::ENTRY).enumerate() {
                    p { label { (label) br; input type="number" name=(name) min="0" step="1" inputmode="numeric" value=(value(i)) required; } }
                }
                p { label { (w::NARRATIVE) br; textarea name="narrative" rows="5" cols="70" maxlength=(MAX_NARRATIVE_CHARS) { (narrative) } } }
                p {
                    button type="submit" name="action" value="save" data-testid="save-draft" { (w::SAVE_DRAFT) } " "
                    button type="submit" name="action" value="submit" data-testid="submit-report" { (w::SUBMIT) }
                }
            }
        } @else {
            (entry_table(&r.entry))
        }
    }
}

/// The route of a unit account's own page: its unit's figures, entries and submission.
pub(super) fn lead_routes() -> Router<AppState> {
    Router::new().route("/office/unit", get(lead_page).post(lead_save))
}

pub(super) async fn lead_page(
    State(state): State<AppState>,
    l: UnitLead,
    Params(q): Params<YearQuery>,
) -> Result<Markup, Refusal> {
    let year = year_of(q.year.as_deref())?;
    let (session, unit) = (l.session.clone(), l.unit);
    let v = state
        .blocking(move |db| {
            let v = load(db, &session, unit, year)?;
            db.audit(&session, "unit.view", &format!("{} {year}", v.unit.code), Utc::now())?;
            Ok::<_, db::DbError>(v)
        })
        .await??;
    Ok(lead_chrome(&l, &v.unit, body(&l, &v, None, None)))
}

#[derive(Deserialize)]
pub(super) struct LeadFormRaw {
    year: String,
    action: Option<String>,
    staff_registered: String,
    staff_completed: String,
    people_registered: String,
    people_completed: String,
    media_items: String,
    meetings: String,
    meeting_reach: String,
    narrative: String,
}

/// What was typed, kept to show again when refused.
struct LeadForm {
    numbers: [String; 7],
    narrative: String,
}

/// Reads the form; `Err` names the field at fault.
fn read(f: &LeadForm) -> Result<UnitEntry, String> {
    let mut n = [0u32; 7];
    for (i, s) in f.numbers.iter().enumerate() {
        n[i] = s.trim().parse::<u32>().map_err(|_| format!("{}: {}", w::ENTRY[i], w::NOT_A_NUMBER))?;
    }
    if n[1] > n[0] || n[3] > n[2] {
        return Err(w::MORE_COMPLETED.into());
    }
    if f.narrative.chars().count() > MAX_NARRATIVE_CHARS {
        return Err(w::NARRATIVE_TOO_LONG.into());
    }
    let [staff_registered, staff_completed, people_registered, people_completed, media_items, meetings, meeting_reach] =
        n;
    Ok(UnitEntry {
        staff_registered,
        staff_completed,
        people_registered,
        people_completed,
        media_items,
        meetings,
        meeting_reach,
        narrative: f.narrative.trim().to_owned(),
    })
}

pub(super) async fn lead_save(
    State(state): State<AppState>,
    Posted { o: l, form: raw }: Posted<LeadFormRaw, UnitLead>,
) -> Result<Response, Refusal> {
    let year = year_of(Some(&raw.year))?;
    let submit = raw.action.as_deref() == Some("submit");
    let typed = LeadForm {
        numbers: [
            raw.staff_registered,
            raw.staff_completed,
            raw.people_registered,
            raw.people_completed,
            raw.media_items,
            raw.meetings,
            raw.meeting_reach,
        ],
        narrative: raw.narrative,
    };
    let entry = read(&typed);
    let (session, unit) = (l.session.clone(), l.unit);
    let checked = entry.clone();
    let (saved, v) = state
        .blocking(move |db| {
            let saved = match &checked {
                Ok(entry) => {
                    let saved = db.save_unit_report(unit, year, entry, submit, Utc::now())?;
                    if saved.is_ok() {
                        let action = if submit { "unit.report.submit" } else { "unit.report.save" };
                        db.audit(&session, action, &format!("{unit} {year}"), Utc::now())?;
                    }
                    Some(saved)
                }
                Err(_) => None,
            };
            Ok::<_, db::DbError>((saved, load(db, &session, unit, year)?))
        })
        .await??;
    let (status, notice, keep) = match (saved, &entry) {
        (Some(Ok(())), _) => (StatusCode::OK, notice_ok(if submit { w::SUBMITTED } else { w::SAVED }), None),
        (Some(Err(ReportRefusal::Locked | ReportRefusal::NotSubmitted)), _) => {
            (StatusCode::CONFLICT, notice_error(w::LOCKED), None)
        }
        (None, Err(message)) => (StatusCode::BAD_REQUEST, notice_error(message), Some(&typed)),
        (None, Ok(_)) => (StatusCode::BAD_REQUEST, notice_error(w::LOCKED), None),
    };
    Ok((status, lead_chrome(&l, &v.unit, body(&l, &v, Some(notice), keep))).into_response())
}
