//! The commune office's units page (`/office/units`): the commune's units, who (volunteers,
//! devices) belongs to which, the unit accounts, the deadline of the units' reports and the
//! reporting rate (DHIS2's: reports received against expected, and on time), and each
//! unit's report, which the office returns for correction (with a reason) or accepts.
//!
//! Behind the commune's session like every office page; every change comes through
//! [`Posted`] (the session's CSRF token checked first) and is audited. A unit is reached only through the session's commune
//! (`ServerDb::unit(commune, id)`), so one commune never sees another's units.

use super::*;
use crate::accounts::{Scope, MAX_USERNAME_CHARS};
use crate::db::units::{ReportRefusal, Timeliness, UnitEntry, UnitFigures, UnitReport, UnitRow, UNIT_KINDS};
use crate::i18n::units as w;

/// The index of "Đơn vị" in the office's navigation.
pub(super) const NAV_UNITS: usize = 7;

/// The routes of the office's units pages (a unit account's own page is `unit_lead`'s).
pub(super) fn unit_routes() -> Router<AppState> {
    Router::new()
        .route("/office/units", get(units_page).post(save_unit))
        .route("/office/units/volunteer", post(save_volunteer_unit))
        .route("/office/units/device", post(save_device_unit))
        .route("/office/units/account", post(save_unit_account))
        .route("/office/units/deadline", post(save_deadline))
        .route("/office/units/{id}", get(unit_report_page))
        .route("/office/units/{id}/return", post(return_report))
        .route("/office/units/{id}/accept", post(accept_report))
}

#[derive(Deserialize, Default)]
pub(super) struct YearQuery {
    pub(super) year: Option<String>,
}

/// The report year asked for, else this year (Vietnam's); `Err` outside 2000–2100.
pub(super) fn year_of(q: Option<&str>) -> Result<i32, Refusal> {
    let this = crate::vn_time::vn_day(Utc::now()).year();
    match q.map(str::trim) {
        None | Some("") => Ok(this),
        Some(s) => s.parse::<i32>().ok().filter(|y| YEARS.contains(y)).ok_or_else(|| bad(w::BAD_YEAR)),
    }
}

fn bad(message: &str) -> Refusal {
    Refusal::Page(StatusCode::BAD_REQUEST, message_page(&VI, message))
}

/// The period a unit's figures are drawn from: 1 January to the deadline (or today, if
/// that is earlier).
pub(super) fn report_period(year: i32, deadline: NaiveDate) -> (NaiveDate, NaiveDate) {
    let from = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    let today = crate::vn_time::vn_day(Utc::now());
    (from, deadline.min(today).max(from))
}

/// The figures from a unit's records, as the table shows them.
pub(super) fn figure_rows(f: &UnitFigures) -> [u32; 10] {
    [
        f.visits,
        f.visit_people,
        f.signature_sessions,
        f.signed,
        f.trainings,
        f.attendance,
        f.women,
        f.minority,
        f.outreach,
        f.outreach_reach,
    ]
}

pub(super) fn figures_table(f: &UnitFigures, from: NaiveDate, to: NaiveDate) -> Markup {
    html! {
        h2 { (w::FROM_RECORDS) }
        p { (w::PERIOD) " " (from.format("%d/%m/%Y")) " " (w::TO) " " (to.format("%d/%m/%Y")) }
        table.report data-testid="unit-figures" {
            tbody { @for (label, n) in w::FIGURES.iter().zip(figure_rows(f)) { tr { th scope="row" { (label) } td { (num(n)) } } } }
        }
    }
}

pub(super) fn entry_table(e: &UnitEntry) -> Markup {
    html! {
        table.report data-testid="unit-entered" {
            tbody { @for (label, n) in w::ENTRY.iter().zip(e.numbers()) { tr { th scope="row" { (label) } td { (num(n)) } } } }
        }
        @if !e.narrative.is_empty() { p.narrative data-testid="unit-narrative" { (e.narrative) } }
    }
}

fn timeliness(r: &UnitReport, deadline: NaiveDate) -> &'static str {
    match r.timeliness(deadline) {
        Timeliness::OnTime => w::ON_TIME,
        Timeliness::Late => w::LATE,
        Timeliness::NotSubmitted => w::NOT_SUBMITTED,
    }
}

fn share(n: usize, of: usize) -> String {
    if of == 0 {
        return "—".into();
    }
    crate::letter::percent(n as f64 * 100.0 / of as f64)
}

/// Everything the units page shows.
struct UnitsView {
    year: i32,
    deadline: NaiveDate,
    reports: Vec<(UnitRow, UnitReport)>,
    reference: ReferenceData,
    devices: Vec<db::Device>,
    volunteer_units: HashMap<String, i64>,
    device_units: HashMap<String, i64>,
    accounts: Vec<(String, i64)>,
}

fn load_view(db: &db::ServerDb, commune: &str, year: i32) -> Result<UnitsView, db::DbError> {
    let accounts = db
        .accounts()?
        .into_iter()
        .filter(|a| !a.disabled)
        .filter_map(|a| match a.scope {
            Scope::Unit { commune: c, unit } if c == commune => Some((a.username, unit)),
            _ => None,
        })
        .collect();
    Ok(UnitsView {
        year,
        deadline: db.unit_deadline(commune, year)?,
        reports: db.unit_reports(commune, year)?,
        reference: db.commune(commune)?,
        devices: db.devices(commune)?.into_iter().filter(|d| !d.revoked).collect(),
        volunteer_units: db.volunteer_units(commune)?,
        device_units: db.device_units(commune)?,
        accounts,
    })
}

fn unit_select(v: &UnitsView, name: &str, with_none: bool) -> Markup {
    html! {
        select name=(name) required {
            @if with_none { option value="" { (w::NO_UNIT) } }
            @for (u, _) in &v.reports { option value=(u.id) { (u.name) " (" (u.code) ")" } }
        }
    }
}

fn units_body(o: &Office, v: &UnitsView, notice: Option<Markup>) -> Markup {
    let csrf = o.session.csrf.as_str();
    let unit_name = |id: Option<&i64>| {
        id.and_then(|id| v.reports.iter().find(|(u, _)| u.id == *id)).map(|(u, _)| u.name.clone()).unwrap_or_default()
    };
    // As DHIS2 counts: reports received (submitted or accepted; one returned for correction
    // is not, until it comes back), and of those the ones first sent by the deadline.
    let received = |r: &UnitReport| r.status.counts();
    let submitted = v.reports.iter().filter(|(_, r)| received(r)).count();
    let on_time =
        v.reports.iter().filter(|(_, r)| received(r) && r.timeliness(v.deadline) == Timeliness::OnTime).count();
    let expected = v.reports.len();
    html! {
        h1 { (w::TITLE) }
        @if let Some(n) = notice { (n) }
        h2 { (w::REPORTS) " " (v.year) }
        form.period.no-print method="post" action="/office/units/deadline" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="year" value=(v.year);
            label { (w::DEADLINE) " " input type="date" name="deadline" value=(v.deadline.format("%Y-%m-%d")); }
            button type="submit" { (w::SET_DEADLINE) }
        }
        table.report data-testid="reporting-rate" {
            caption { (w::RATE) " — " (w::DEADLINE) " " (v.deadline.format("%d/%m/%Y")) }
            thead { tr { th { (w::ALL_UNITS) } th { (w::SUBMITTED_COUNT) } th { (w::ON_TIME_COUNT) } } }
            tbody { tr {
                th scope="row" { (expected) }
                td data-testid="rate-submitted" { (submitted) " (" (share(submitted, expected)) ")" }
                td data-testid="rate-on-time" { (on_time) " (" (share(on_time, expected)) ")" }
            } }
        }
        @if v.reports.is_empty() { p { (w::NO_UNITS) } } @else {
            table.report data-testid="unit-reports" {
                thead { tr { th { (w::UNIT) } th { (w::STATUS) } th { (w::SUBMITTED_AT) } th { (w::TIMELINESS) } th { (w::VIEW) } } }
                tbody { @for (u, r) in &v.reports {
                    tr data-unit=(u.code) {
                        th scope="row" { (u.name) }
                        td data-testid="status" { (w::status(r.status.code())) }
                        td { (r.submitted_at.map(local_time).unwrap_or_default()) }
                        td data-testid="timeliness" { (timeliness(r, v.deadline)) }
                        td { a href={ "/office/units/" (u.id) "?year=" (v.year) } { (w::VIEW) " " (u.name) } }
                    }
                } }
            }
        }

        h2 { (w::UNITS) }
        table.report data-testid="units" {
            thead { tr { th { (w::CODE) } th { (w::NAME) } th { (w::KIND) } th { (w::VOLUNTEERS) } th { (w::DEVICES) } } }
            tbody { @for (u, _) in &v.reports {
                tr {
                    th scope="row" { (u.code) } td { (u.name) } td { (w::kind(&u.kind)) }
                    td { (v.volunteer_units.values().filter(|x| **x == u.id).count()) }
                    td { (v.device_units.values().filter(|x| **x == u.id).count()) }
                }
            } }
        }
        form.period.no-print method="post" action="/office/units" data-testid="unit-form" {
            input type="hidden" name="csrf" value=(csrf);
            label { (w::CODE) " " input name="code" maxlength="20" required; }
            label { (w::NAME) " " input name="name" maxlength="120" required; }
            label { (w::KIND) " " select name="kind" {
                @for (code, label) in UNIT_KINDS.iter().zip(w::KINDS) { option value=(code) { (label) } }
            } }
            button type="submit" { (w::SAVE_UNIT) }
        }
        p.small { (w::ADD_UNIT) }

        h2 { (w::MEMBERS) }
        p { (w::MEMBERS_HINT) }
        @if !v.reports.is_empty() {
            form.period.no-print method="post" action="/office/units/volunteer" data-testid="volunteer-unit" {
                input type="hidden" name="csrf" value=(csrf);
                label { (w::VOLUNTEER) " " select name="volunteer" required {
                    @for vol in &v.reference.volunteers { option value=(vol.id) { (vol.name) } }
                } }
                label { (w::UNIT) " " (unit_select(v, "unit", true)) }
                button type="submit" { (w::SET) }
            }
            form.period.no-print method="post" action="/office/units/device" data-testid="device-unit" {
                input type="hidden" name="csrf" value=(csrf);
                label { (w::DEVICE) " " select name="device" required {
                    @for d in &v.devices { option value=(d.id) { (d.name) } }
                } }
                label { (w::UNIT) " " (unit_select(v, "unit", true)) }
                button type="submit" { (w::SET) }
            }
        }
        table.report data-testid="members" {
            thead { tr { th { (w::VOLUNTEER) " / " (w::DEVICE) } th { (w::UNIT) } } }
            tbody {
                @for vol in &v.reference.volunteers {
                    tr { th scope="row" { (vol.name) } td { (unit_name(v.volunteer_units.get(&vol.id))) } }
                }
                @for d in &v.devices {
                    tr { th scope="row" { (d.name) } td { (unit_name(v.device_units.get(&d.id))) } }
                }
            }
        }

        h2 { (w::ACCOUNTS) }
        p { (w::ACCOUNTS_HINT) }
        @if !v.reports.is_empty() {
            form.period.no-print method="post" action="/office/units/account" data-testid="unit-account" {
                input type="hidden" name="csrf" value=(csrf);
                label { (w::USERNAME) " " input name="username" autocomplete="off" required maxlength=(MAX_USERNAME_CHARS); }
                label { (w::PASSWORD) " " input name="password" type="password" autocomplete="new-password" required minlength="10"; }
                label { (w::UNIT) " " (unit_select(v, "unit", false)) }
                button type="submit" { (w::MAKE_ACCOUNT) }
            }
        }
        table.report data-testid="unit-accounts" {
            thead { tr { th { (w::USERNAME) } th { (w::UNIT) } } }
            tbody { @for (name, unit) in &v.accounts { tr { th scope="row" { (name) } td { (unit_name(Some(unit))) } } } }
        }
    }
}

async fn show(
    state: &AppState,
    o: &Office,
    year: i32,
    status: StatusCode,
    notice: Option<Markup>,
) -> Result<Response, Refusal> {
    let commune = o.session.commune.clone();
    let v = state.blocking(move |db| load_view(db, &commune, year)).await??;
    Ok((status, page(o, NAV_UNITS, units_body(o, &v, notice))).into_response())
}

pub(super) async fn units_page(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<YearQuery>,
) -> Result<Response, Refusal> {
    let year = year_of(q.year.as_deref())?;
    show(&state, &o, year, StatusCode::OK, None).await
}

/// Runs a change on a blocking thread: `Ok(detail)` is audited under `action` and shown with
/// `ok`; `Err(message)` changes nothing and is shown as a 400.
async fn change(
    state: &AppState,
    o: &Office,
    year: i32,
    action: &'static str,
    ok: &'static str,
    work: impl FnOnce(&db::ServerDb, &str) -> Result<Result<String, &'static str>, db::DbError> + Send + 'static,
) -> Result<Response, Refusal> {
    match audited(state, o, action, work).await? {
        Ok(_) => show(state, o, year, StatusCode::OK, Some(notice_ok(ok))).await,
        Err(message) => show(state, o, year, StatusCode::BAD_REQUEST, Some(notice_error(message))).await,
    }
}

#[derive(Deserialize)]
pub(super) struct UnitForm {
    code: String,
    name: String,
    kind: String,
}

pub(super) async fn save_unit(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<UnitForm>,
) -> Result<Response, Refusal> {
    let year = year_of(None)?;
    let code = f.code.trim().to_owned();
    let name = f.name.trim().to_owned();
    let good = !code.is_empty()
        && code.chars().count() <= 20
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.is_empty()
        && name.chars().count() <= 120
        && UNIT_KINDS.contains(&f.kind.as_str());
    change(&state, &o, year, "unit.put", w::UNIT_SAVED, move |db, commune| {
        if !good {
            return Ok(Err(w::UNIT_NEEDS));
        }
        db.put_unit(commune, &code, &name, &f.kind, Utc::now())?;
        Ok(Ok(code))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct MemberForm {
    volunteer: Option<String>,
    device: Option<String>,
    unit: String,
}

/// The unit chosen in a form: `Ok(None)` for "no unit", `Err` for what is not a number.
fn chosen_unit(s: &str) -> Result<Option<i64>, ()> {
    match s.trim() {
        "" => Ok(None),
        s => s.parse().map(Some).map_err(|_| ()),
    }
}

pub(super) async fn save_volunteer_unit(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<MemberForm>,
) -> Result<Response, Refusal> {
    let year = year_of(None)?;
    change(&state, &o, year, "unit.volunteer", w::MEMBER_SAVED, move |db, commune| {
        let (Some(volunteer), Ok(unit)) = (f.volunteer, chosen_unit(&f.unit)) else { return Ok(Err(w::NO_SUCH)) };
        match db.set_volunteer_unit(commune, volunteer.trim(), unit) {
            Ok(adopted) => Ok(Ok(format!("{} → {} ({adopted} records)", volunteer.trim(), f.unit.trim()))),
            Err(db::DbError::NoVolunteer | db::DbError::Refused(_)) => Ok(Err(w::NO_SUCH)),
            Err(e) => Err(e),
        }
    })
    .await
}

pub(super) async fn save_device_unit(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<MemberForm>,
) -> Result<Response, Refusal> {
    let year = year_of(None)?;
    change(&state, &o, year, "unit.device", w::DEVICE_SAVED, move |db, commune| {
        let (Some(device), Ok(unit)) = (f.device, chosen_unit(&f.unit)) else { return Ok(Err(w::NO_SUCH)) };
        match db.set_device_unit(commune, device.trim(), unit) {
            Ok(true) => Ok(Ok(format!("{} → {}", device.trim(), f.unit.trim()))),
            Ok(false) | Err(db::DbError::Refused(_)) => Ok(Err(w::NO_SUCH)),
            Err(e) => Err(e),
        }
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct AccountForm {
    username: String,
    password: String,
    unit: String,
}

pub(super) async fn save_unit_account(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<AccountForm>,
) -> Result<Response, Refusal> {
    let year = year_of(None)?;
    let username = f.username.trim().to_owned();
    let good = !username.is_empty()
        && username.chars().count() <= MAX_USERNAME_CHARS
        && username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && f.password.chars().count() >= 10
        && f.password.len() <= crate::accounts::MAX_PASSWORD_BYTES;
    change(&state, &o, year, "unit.account", w::ACCOUNT_SAVED, move |db, commune| {
        let Ok(Some(unit)) = chosen_unit(&f.unit) else { return Ok(Err(w::ACCOUNT_BAD)) };
        if !good || db.unit(commune, unit)?.is_none() {
            return Ok(Err(w::ACCOUNT_BAD));
        }
        // An existing name is never taken over from here (it may be another commune's
        // account, or the office's own).
        if db.accounts()?.iter().any(|a| a.username == username) {
            return Ok(Err(w::ACCOUNT_TAKEN));
        }
        let scope = Scope::Unit { commune: commune.to_owned(), unit };
        db.put_account_for(&username, &f.password, &scope, Utc::now())?;
        Ok(Ok(format!("{username} → {unit}")))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct DeadlineForm {
    year: String,
    deadline: String,
}

pub(super) async fn save_deadline(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<DeadlineForm>,
) -> Result<Response, Refusal> {
    let year = year_of(Some(&f.year))?;
    let day = parse_day(&f.deadline);
    change(&state, &o, year, "unit.deadline", w::DEADLINE_SAVED, move |db, commune| {
        let Some(day) = day else { return Ok(Err(w::BAD_DAY)) };
        db.set_unit_deadline(commune, year, day)?;
        Ok(Ok(format!("{year}: {day}")))
    })
    .await
}

// ---- one unit's report, as the office sees it ----------------------------------------------

/// One unit's report for a year, with the figures of its records over the report's period.
pub(super) struct ReportView {
    pub(super) unit: UnitRow,
    pub(super) report: UnitReport,
    pub(super) figures: UnitFigures,
    pub(super) from: NaiveDate,
    pub(super) to: NaiveDate,
    pub(super) deadline: NaiveDate,
}

pub(super) fn load_report(
    db: &db::ServerDb,
    commune: &str,
    id: i64,
    year: i32,
) -> Result<Option<ReportView>, db::DbError> {
    let Some(unit) = db.unit(commune, id)? else { return Ok(None) };
    let deadline = db.unit_deadline(commune, year)?;
    let (from, to) = report_period(year, deadline);
    Ok(Some(ReportView {
        report: db.unit_report(id, year)?,
        figures: db.unit_figures(commune, id, from, to)?,
        unit,
        from,
        to,
        deadline,
    }))
}

fn report_body(o: &Office, v: &ReportView, notice: Option<Markup>) -> Markup {
    let csrf = o.session.csrf.as_str();
    let r = &v.report;
    let action = |what: &str| format!("/office/units/{}/{what}", v.unit.id);
    html! {
        p.no-print { a href={ "/office/units?year=" (r.year) } { "← " (w::TITLE) } }
        h1 { (v.unit.name) " — " (r.year) }
        @if let Some(n) = notice { (n) }
        p { (w::STATUS) ": " strong data-testid="unit-status" { (w::status(r.status.code())) }
            " · " (w::TIMELINESS) ": " (timeliness(r, v.deadline))
            @if let Some(at) = r.submitted_at { " · " (w::SUBMITTED_AT) " " (local_time(at)) } }
        @if let Some(reason) = &r.return_reason { p { (w::RETURNED_BECAUSE) " " (reason) } }
        (figures_table(&v.figures, v.from, v.to))
        h2 { (w::ENTERED) }
        (entry_table(&r.entry))
        @if r.status == crate::db::units::ReportStatus::Submitted {
            form.no-print method="post" action=(action("accept")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="year" value=(r.year);
                button type="submit" data-testid="accept" { (w::ACCEPT) }
            }
            form.no-print method="post" action=(action("return")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="year" value=(r.year);
                label { (w::RETURN_REASON) br; textarea name="reason" rows="3" cols="60" maxlength="500" required {} }
                br;
                button type="submit" data-testid="return" { (w::RETURN) }
            }
        }
    }
}

pub(super) async fn unit_report_page(
    State(state): State<AppState>,
    o: Office,
    Path(id): Path<String>,
    Params(q): Params<YearQuery>,
) -> Result<Markup, Refusal> {
    let year = year_of(q.year.as_deref())?;
    let id: i64 = id.parse().map_err(|_| Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)))?;
    let commune = o.session.commune.clone();
    let v = state.blocking(move |db| load_report(db, &commune, id, year)).await??;
    let v = v.ok_or_else(|| Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)))?;
    Ok(page(&o, NAV_UNITS, report_body(&o, &v, None)))
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    year: String,
    reason: Option<String>,
}

async fn decide(state: AppState, o: Office, id: String, f: DecisionForm, accept: bool) -> Result<Response, Refusal> {
    let year = year_of(Some(&f.year))?;
    let id: i64 = id.parse().map_err(|_| Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)))?;
    let reason = f.reason.unwrap_or_default().trim().chars().take(500).collect::<String>();
    let session = o.session.clone();
    let outcome = state
        .blocking(move |db| {
            let Some(unit) = db.unit(&session.commune, id)? else { return Ok(None) };
            let done = if accept {
                db.accept_unit_report(id, year, Utc::now())?.map_err(|e| (e, w::NOT_SUBMITTED_YET))
            } else if reason.is_empty() {
                Err((ReportRefusal::NotSubmitted, w::RETURN_NEEDS_REASON))
            } else {
                db.return_unit_report(id, year, &reason, Utc::now())?.map_err(|e| (e, w::NOT_SUBMITTED_YET))
            };
            if done.is_ok() {
                let action = if accept { "unit.report.accept" } else { "unit.report.return" };
                db.audit(&session, action, &format!("{} {year}", unit.code), Utc::now())?;
            }
            Ok::<_, db::DbError>(Some((done, load_report(db, &session.commune, id, year)?)))
        })
        .await??;
    let Some((done, Some(v))) = outcome else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    };
    Ok(match done {
        Ok(()) => {
            let message = if accept { w::ACCEPTED } else { w::RETURNED };
            page(&o, NAV_UNITS, report_body(&o, &v, Some(notice_ok(message)))).into_response()
        }
        Err((_, message)) => {
            (StatusCode::BAD_REQUEST, page(&o, NAV_UNITS, report_body(&o, &v, Some(notice_error(message)))))
                .into_response()
        }
    })
}

pub(super) async fn return_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, form: f }: Posted<DecisionForm>,
) -> Result<Response, Refusal> {
    decide(state, o, id, f, false).await
}

pub(super) async fn accept_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, form: f }: Posted<DecisionForm>,
) -> Result<Response, Refusal> {
    decide(state, o, id, f, true).await
}
