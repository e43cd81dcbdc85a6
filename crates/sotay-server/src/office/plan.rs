//! The commune's plan (`/office/plan`, `db::plan`): targets for the year per hamlet and per
//! unit (people helped to a signature, trainings, outreach) set against what was done, and
//! the timeline of dated tasks; and the plan-against-actual tables the coverage and activity
//! pages show under their own (a column of targets and a share).
//!
//! Behind the commune's session; every change needs the CSRF token and is audited. Hamlets
//! and units are those of the session's commune only.

use std::collections::BTreeMap;

use super::units::{year_of, YearQuery};
use super::*;
use crate::db::plan::{Milestone, PlanFor, Target, Targets, MAX_TASK_CHARS};
use crate::db::units::{UnitFigures, UnitRow};
use crate::reports::ActivityCounts;

/// The index of "Kế hoạch" in the office's navigation.
pub(super) const NAV_PLAN: usize = 8;
pub(super) const NAV: &str = "Kế hoạch";

pub(super) fn plan_routes() -> Router<AppState> {
    Router::new()
        .route("/office/plan", get(plan_page))
        .route("/office/plan/target", post(save_target_form))
        .route("/office/plan/milestone", post(add_milestone))
        .route("/office/plan/milestone/{id}/remove", post(remove_milestone))
}

const TITLE: &str = "Kế hoạch năm";
const HELPED: &str = "Người được hỗ trợ có chữ ký số";
const UNIT_SIGNED: &str = "Lượt đăng ký chữ ký số thành công";
const TRAININGS: &str = "Buổi tập huấn, họp";
const OUTREACH: &str = "Hoạt động tuyên truyền";
const TARGET: &str = "Chỉ tiêu";
const DONE: &str = "Thực hiện";
const SHARE: &str = "Tỷ lệ";
const FOR: &str = "Thôn hoặc đơn vị";
const SAVE: &str = "Lưu chỉ tiêu";
const TIMELINE: &str = "Lộ trình thực hiện";
const DAY: &str = "Ngày";
const TASK: &str = "Nhiệm vụ";
const ADD: &str = "Thêm nhiệm vụ";
const REMOVE: &str = "Xoá";
const STATUS: &str = "Tình trạng";
const PAST: &str = "Đã đến hạn";
const COMING: &str = "Sắp tới";
const SAVED: &str = "Đã lưu.";
const BAD_TARGET: &str = "Hãy chọn một thôn hoặc đơn vị của xã và nhập các chỉ tiêu là số nguyên từ 0 trở lên.";
const BAD_TASK: &str = "Hãy chọn ngày trong năm của kế hoạch và ghi nhiệm vụ (tối đa 300 ký tự).";
const NO_TARGETS: &str = "Chưa có chỉ tiêu nào cho năm này.";
const HAMLETS: &str = "Chỉ tiêu theo thôn";
const UNITS: &str = "Chỉ tiêu theo đơn vị";
const UNITS_HINT: &str = "Số liệu của đơn vị tính từ các bản ghi mang đơn vị đó, từ đầu năm.";
const COVERAGE_PLAN: &str = "Kế hoạch và thực hiện: người được hỗ trợ có chữ ký số";
const ACTIVITY_PLAN: &str = "Kế hoạch năm và thực hiện trong kỳ";

fn share_of(t: &OfficeStrings, done: u32, target: u32) -> String {
    if target == 0 {
        "—".into()
    } else {
        super::share(t, 100.0 * done as f64 / target as f64)
    }
}

/// Three cells: the target, what was done, the share.
fn triple(t: &OfficeStrings, target: u32, done: u32) -> Markup {
    html! { td { (num(target)) } td { (num(done)) } td { (share_of(t, done, target)) } }
}

/// Under the coverage table: each hamlet with a target for the day's year, its people
/// helped and the share of the target.
pub(super) fn coverage_plan(t: &OfficeStrings, r: &CoverageReport, targets: &Targets) -> Markup {
    if targets.hamlets.is_empty() {
        return html! {};
    }
    let mut rows: Vec<&crate::reports::CoverageRow> =
        r.rows.iter().filter(|h| targets.hamlets.contains_key(&h.hamlet_id)).collect();
    rows.sort_by(|a, b| a.hamlet_id.cmp(&b.hamlet_id));
    let target: u32 = rows.iter().map(|h| targets.hamlets[&h.hamlet_id].helped).sum();
    let done: u32 = rows.iter().map(|h| h.helped_signed).sum();
    html! {
        table.report data-testid="coverage-plan" {
            caption { (COVERAGE_PLAN) " " (r.as_of.year()) }
            thead { tr { th { (t.hamlet_header) } th { (TARGET) } th { (DONE) } th { (SHARE) } } }
            tbody { @for h in &rows {
                tr data-hamlet=(h.hamlet_id) { th scope="row" { (h.name) } (triple(t, targets.hamlets[&h.hamlet_id].helped, h.helped_signed)) }
            } }
            tfoot { tr { th scope="row" { (t.commune_total) } (triple(t, target, done)) } }
        }
    }
}

/// Under the activity tables: each hamlet with a target for the year the period ends in,
/// its trainings and outreach in the period, and the shares of the targets.
pub(super) fn activity_plan(t: &OfficeStrings, r: &ActivityReport, targets: &Targets) -> Markup {
    if targets.hamlets.is_empty() {
        return html! {};
    }
    let done: BTreeMap<&str, &ActivityCounts> = r.by_hamlet.iter().map(|(id, _, c)| (id.as_str(), c)).collect();
    let rows: Vec<(&String, &String, Target, ActivityCounts)> = r
        .by_hamlet
        .iter()
        .filter_map(|(id, name, _)| targets.hamlets.get(id).map(|tg| (id, name, *tg)))
        .map(|(id, name, tg)| (id, name, tg, done.get(id.as_str()).map(|c| (*c).clone()).unwrap_or_default()))
        .collect();
    let sum = |f: fn(&Target) -> u32| rows.iter().map(|(_, _, tg, _)| f(tg)).sum::<u32>();
    let (tt, to) = (sum(|t| t.trainings), sum(|t| t.outreach));
    let (dt, dout): (u32, u32) = (rows.iter().map(|r| r.3.trainings).sum(), rows.iter().map(|r| r.3.outreach).sum());
    html! {
        table.report data-testid="activity-plan" {
            caption { (ACTIVITY_PLAN) " (" (r.to.year()) ")" }
            thead {
                tr { th rowspan="2" { (t.hamlet_header) } th colspan="3" { (TRAININGS) } th colspan="3" { (OUTREACH) } }
                tr { th { (TARGET) } th { (DONE) } th { (SHARE) } th { (TARGET) } th { (DONE) } th { (SHARE) } }
            }
            tbody { @for (id, name, tg, c) in &rows {
                tr data-hamlet=(id) { th scope="row" { (name) } (triple(t, tg.trainings, c.trainings)) (triple(t, tg.outreach, c.outreach)) }
            } }
            tfoot { tr { th scope="row" { (t.commune_total) } (triple(t, tt, dt)) (triple(t, to, dout)) } }
        }
    }
}

struct PlanView {
    year: i32,
    targets: Targets,
    milestones: Vec<Milestone>,
    hamlets: Vec<(String, String, u32, ActivityCounts)>,
    units: Vec<(UnitRow, UnitFigures)>,
}

fn load(db: &db::ServerDb, commune: &str, year: i32) -> Result<PlanView, db::DbError> {
    let from = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    let to = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or_default();
    let coverage = db.coverage_report(commune)?;
    let activity = db.activity_report(commune, from, to)?;
    let helped: BTreeMap<&str, u32> = coverage.rows.iter().map(|r| (r.hamlet_id.as_str(), r.helped_signed)).collect();
    let hamlets = activity
        .by_hamlet
        .iter()
        .map(|(id, name, c)| (id.clone(), name.clone(), helped.get(id.as_str()).copied().unwrap_or(0), c.clone()))
        .collect();
    let units = db
        .units(commune)?
        .into_iter()
        .map(|u| {
            let f = db.unit_figures(commune, u.id, from, to)?;
            Ok((u, f))
        })
        .collect::<Result<_, db::DbError>>()?;
    Ok(PlanView {
        year,
        targets: db.targets(commune, year)?,
        milestones: db.milestones(commune, year)?,
        hamlets,
        units,
    })
}

fn plan_body(o: &Office, v: &PlanView, notice: Option<Markup>) -> Markup {
    let t = o.t;
    let csrf = o.session.csrf.as_str();
    let today = crate::vn_time::vn_day(Utc::now());
    let hamlet_rows: Vec<_> = v.hamlets.iter().filter(|h| v.targets.hamlets.contains_key(&h.0)).collect();
    let unit_rows: Vec<_> = v.units.iter().filter(|(u, _)| v.targets.units.contains_key(&u.id)).collect();
    html! {
        h1 { (TITLE) " " (v.year) }
        @if let Some(n) = notice { (n) }
        form.period.no-print method="get" action="/office/plan" {
            label { "Năm " input type="number" name="year" min="2000" max="2100" value=(v.year); }
            button type="submit" { (t.show) }
        }
        @if v.targets.is_empty() { p { (NO_TARGETS) } }
        @if !hamlet_rows.is_empty() {
            table.report data-testid="plan-hamlets" {
                caption { (HAMLETS) }
                thead {
                    tr { th rowspan="2" { (t.hamlet_header) } th colspan="3" { (HELPED) } th colspan="3" { (TRAININGS) } th colspan="3" { (OUTREACH) } }
                    tr { @for _ in 0..3 { th { (TARGET) } th { (DONE) } th { (SHARE) } } }
                }
                tbody { @for (id, name, helped, c) in &hamlet_rows {
                    @let tg = v.targets.hamlets[id];
                    tr data-hamlet=(id) { th scope="row" { (name) } (triple(t, tg.helped, *helped)) (triple(t, tg.trainings, c.trainings)) (triple(t, tg.outreach, c.outreach)) }
                } }
            }
        }
        @if !unit_rows.is_empty() {
            table.report data-testid="plan-units" {
                caption { (UNITS) }
                thead {
                    tr { th rowspan="2" { (crate::i18n::units::UNIT) } th colspan="3" { (UNIT_SIGNED) } th colspan="3" { (TRAININGS) } th colspan="3" { (OUTREACH) } }
                    tr { @for _ in 0..3 { th { (TARGET) } th { (DONE) } th { (SHARE) } } }
                }
                tbody { @for (u, f) in &unit_rows {
                    @let tg = v.targets.units[&u.id];
                    tr data-unit=(u.code) { th scope="row" { (u.name) } (triple(t, tg.helped, f.signed)) (triple(t, tg.trainings, f.trainings)) (triple(t, tg.outreach, f.outreach)) }
                } }
            }
            p.hint { (UNITS_HINT) }
        }
        form.period.no-print method="post" action="/office/plan/target" data-testid="target-form" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="year" value=(v.year);
            label { (FOR) " " select name="for" required {
                @for (id, name, ..) in &v.hamlets { option value={ "h:" (id) } { (name) } }
                @for (u, _) in &v.units { option value={ "u:" (u.id) } { (u.name) } }
            } }
            label { (HELPED) " " input type="number" name="helped" min="0" value="0" required; }
            label { (TRAININGS) " " input type="number" name="trainings" min="0" value="0" required; }
            label { (OUTREACH) " " input type="number" name="outreach" min="0" value="0" required; }
            button type="submit" { (SAVE) }
        }
        h2 { (TIMELINE) }
        table.report data-testid="timeline" {
            thead { tr { th { (DAY) } th { (TASK) } th { (STATUS) } th {} } }
            tbody { @for m in &v.milestones {
                tr {
                    td { (m.day.format("%d/%m/%Y")) } td { (m.task) } td { @if m.day < today { (PAST) } @else { (COMING) } }
                    td { form method="post" action={ "/office/plan/milestone/" (m.id) "/remove" } {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="year" value=(v.year);
                        button.danger type="submit" aria-label={ (REMOVE) ": " (m.task) } { (REMOVE) }
                    } }
                }
            } }
        }
        form.period.no-print method="post" action="/office/plan/milestone" data-testid="milestone-form" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="year" value=(v.year);
            label { (DAY) " " input type="date" name="day" required; }
            label { (TASK) " " input name="task" maxlength=(MAX_TASK_CHARS) required; }
            button type="submit" { (ADD) }
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
    let v = state.blocking(move |db| load(db, &commune, year)).await??;
    Ok((status, page(o, NAV_PLAN, plan_body(o, &v, notice))).into_response())
}

pub(super) async fn plan_page(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<YearQuery>,
) -> Result<Response, Refusal> {
    let year = year_of(q.year.as_deref())?;
    show(&state, &o, year, StatusCode::OK, None).await
}

/// Runs a change: `Some(detail)` is audited under `action`; `None` is refused with `message`.
async fn change(
    state: &AppState,
    o: &Office,
    year: i32,
    action: &'static str,
    message: &'static str,
    work: impl FnOnce(&db::ServerDb, &str) -> Result<Option<String>, db::DbError> + Send + 'static,
) -> Result<Response, Refusal> {
    let done = audited(state, o, action, move |db, commune| Ok(work(db, commune)?.ok_or(message))).await?;
    if done.is_ok() {
        show(state, o, year, StatusCode::OK, Some(notice_ok(SAVED))).await
    } else {
        show(state, o, year, StatusCode::BAD_REQUEST, Some(notice_error(message))).await
    }
}

#[derive(Deserialize)]
pub(super) struct TargetForm {
    year: String,
    r#for: String,
    helped: String,
    trainings: String,
    outreach: String,
}

pub(super) async fn save_target_form(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<TargetForm>,
) -> Result<Response, Refusal> {
    let year = year_of(Some(&f.year))?;
    let of = match f.r#for.split_once(':') {
        Some(("h", h)) => Some(PlanFor::Hamlet(h.to_owned())),
        Some(("u", u)) => u.parse().ok().map(PlanFor::Unit),
        _ => None,
    };
    let n = |s: &str| s.trim().parse::<u32>().ok();
    let target = match (n(&f.helped), n(&f.trainings), n(&f.outreach)) {
        (Some(helped), Some(trainings), Some(outreach)) => Some(Target { helped, trainings, outreach }),
        _ => None,
    };
    change(&state, &o, year, "plan.target", BAD_TARGET, move |db, commune| {
        let (Some(of), Some(target)) = (of, target) else { return Ok(None) };
        match db.set_target(commune, year, &of, target) {
            Ok(()) => {
                Ok(Some(format!("{year} {}: {} {} {}", f.r#for, target.helped, target.trainings, target.outreach)))
            }
            Err(db::DbError::Refused(_)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct MilestoneForm {
    year: String,
    day: Option<String>,
    task: Option<String>,
}

pub(super) async fn add_milestone(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<MilestoneForm>,
) -> Result<Response, Refusal> {
    let year = year_of(Some(&f.year))?;
    let day = f.day.as_deref().and_then(parse_day).filter(|d| d.year() == year);
    let task = f.task.unwrap_or_default().trim().to_owned();
    change(&state, &o, year, "plan.milestone", BAD_TASK, move |db, commune| {
        let Some(day) = day.filter(|_| !task.is_empty() && task.chars().count() <= MAX_TASK_CHARS) else {
            return Ok(None);
        };
        let id = db.add_milestone(commune, year, day, &task)?;
        Ok(Some(format!("{id} {day}")))
    })
    .await
}

pub(super) async fn remove_milestone(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, form: f }: Posted<MilestoneForm>,
) -> Result<Response, Refusal> {
    let year = year_of(Some(&f.year))?;
    let Ok(id) = id.parse::<i64>() else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    };
    change(&state, &o, year, "plan.milestone.remove", BAD_TASK, move |db, commune| {
        Ok(db.remove_milestone(commune, id)?.then(|| id.to_string()))
    })
    .await
}
