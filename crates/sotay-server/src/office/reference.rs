//! Reference data the office keeps: hamlets with their adult population and baseline, the
//! commune's target, volunteers (team leads) and the signature providers. Every change is
//! checked, refused with the reason and nothing saved, or saved and audited; devices get it
//! at their next pull.
//!
//! The page stays small however many hamlets and volunteers there are: both lists are shown
//! [`PAGE_ROWS`] at a time with a search, and past [`ROW_CHOICES`] hamlets a volunteer's
//! hamlet is typed (with one shared list of suggestions) rather than chosen from a list
//! repeated on every row, which made the page grow with hamlets × volunteers. A commune keeps at most [`MAX_HAMLETS`] hamlets and
//! [`MAX_VOLUNTEERS`] volunteers (every device receives them all).

use crate::domain::{fold, id_ok, Volunteer};

use super::*;

/// Most hamlets and volunteers a commune keeps.
pub(super) const MAX_HAMLETS: usize = 1_000;
pub(super) const MAX_VOLUNTEERS: usize = 5_000;
/// Rows of each list on one page.
pub(super) const PAGE_ROWS: usize = 50;
/// Longest list offered as a drop-down or as suggestions; a longer one becomes a text box.
pub(super) const CHOICE_LIMIT: usize = 1_000;
/// Most hamlets offered as a drop-down on each volunteer's row; with more, the rows share
/// one list of suggestions, so that a page holds at most `PAGE_ROWS` × this many choices.
pub(super) const ROW_CHOICES: usize = 60;

/// Which part of the lists the hamlets page shows: `q` filters both (ids and names, ignoring
/// case and diacritics), `page` and `vpage` (from 1) page the hamlets and the volunteers.
#[derive(Deserialize, Default, Clone)]
pub(super) struct ListView {
    q: Option<String>,
    page: Option<usize>,
    vpage: Option<usize>,
}

impl ListView {
    /// The page of the unfiltered lists that holds this hamlet or volunteer.
    fn showing(hamlet: Option<usize>, volunteer: Option<usize>) -> ListView {
        ListView { q: None, page: hamlet.map(|i| i / PAGE_ROWS + 1), vpage: volunteer.map(|i| i / PAGE_ROWS + 1) }
    }

    fn query(&self) -> Option<String> {
        self.q.as_deref().map(fold::fold).filter(|q| !q.is_empty())
    }

    /// The address of this view with another hamlets or volunteers page.
    fn link(&self, page: usize, vpage: usize) -> String {
        let mut url = format!("/office/hamlets?page={page}&vpage={vpage}");
        if let Some(q) = self.q.as_deref().filter(|q| !q.trim().is_empty()) {
            url.push_str("&q=");
            url.extend(form_urlencoded::byte_serialize(q.as_bytes()));
        }
        url
    }
}

/// The rows of `items` that match the view's search, and the page asked for: (rows with
/// their place, this page, number of pages).
fn paged<'a, T>(
    items: &'a [T],
    query: Option<&str>,
    page: Option<usize>,
    text: impl Fn(&T) -> [&str; 2],
) -> (Vec<&'a T>, usize, usize) {
    let matching: Vec<&T> = match query {
        None => items.iter().collect(),
        Some(q) => items.iter().filter(|x| text(x).iter().any(|s| fold::fold(s).contains(q))).collect(),
    };
    let pages = matching.len().div_ceil(PAGE_ROWS).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    let rows = matching.into_iter().skip((page - 1) * PAGE_ROWS).take(PAGE_ROWS).collect();
    (rows, page, pages)
}

/// A choice among `items` (id, label) for a GET form: a drop-down while the list is short,
/// a text box for the id past [`CHOICE_LIMIT`] so that the page stays small.
pub(super) fn choice(t: &OfficeStrings, name: &str, selected: Option<&str>, items: &[(&str, &str)]) -> Markup {
    html! {
        @if items.len() <= CHOICE_LIMIT {
            select name=(name) {
                option value="" { (t.all) }
                @for (id, label) in items { option value=(id) selected[selected == Some(*id)] { (label) } }
            }
        } @else {
            input name=(name) value=[selected] placeholder=(t.type_id) size="12";
        }
    }
}

fn pager(t: &OfficeStrings, testid: &str, page: usize, pages: usize, link: impl Fn(usize) -> String) -> Markup {
    html! {
        @if pages > 1 {
            p.pager.no-print data-testid=(testid) {
                @if page > 1 { a href=(link(page - 1)) { "‹ " (t.previous) } " " }
                (t.page) " " (page) "/" (pages)
                @if page < pages { " " a href=(link(page + 1)) { (t.next) " ›" } }
            }
        }
    }
}

/// A volunteer's hamlet: a drop-down of the names while the commune has few hamlets, else a
/// box for the id with the page's one list of suggestions.
fn hamlet_choice(t: &OfficeStrings, r: &ReferenceData, selected: Option<&str>) -> Markup {
    html! {
        @if r.hamlets.len() <= ROW_CHOICES {
            select name="hamlet_id" aria-label=(t.hamlet_header) {
                @for h in &r.hamlets { option value=(h.id) selected[selected == Some(h.id.as_str())] { (h.name) } }
            }
        } @else {
            input name="hamlet_id" list="hamlet-ids" value=[selected] placeholder=(t.hamlet_header) required;
        }
    }
}

pub(super) fn hamlets_body(o: &Office, r: &ReferenceData, view: &ListView, notice: Option<Markup>) -> Markup {
    let t = o.t;
    let query = view.query();
    let (hamlets, page, pages) = paged(&r.hamlets, query.as_deref(), view.page, |h| [&h.id, &h.name]);
    let (volunteers, vpage, vpages) = paged(&r.volunteers, query.as_deref(), view.vpage, |v| [&v.id, &v.name]);
    let last_volunteers = vpage == vpages;
    html! {
        h1 { (t.hamlets_title) }
        @if let Some(n) = notice { (n) }
        form.period.no-print method="get" action="/office/hamlets" data-testid="list-search" {
            label { (t.find_in_lists) " " input name="q" value=[view.q.as_deref()] autocomplete="off"; }
            button type="submit" { (t.find) }
        }
        p.hint { (r.hamlets.len()) " " (t.hamlets_count) " · " (r.volunteers.len()) " " (t.volunteers_count) }
        table.report data-testid="hamlets" {
            thead { tr { @for h in t.hamlet_headers { th { (h) } } } }
            tbody {
                @for h in &hamlets {
                    tr {
                        @if id_ok(&h.id) {
                            td colspan="4" {
                                form.inline method="post" action={ "/office/hamlets/" (h.id) } data-hamlet=(h.id) {
                                    input type="hidden" name="csrf" value=(o.session.csrf);
                                    input name="name" value=(h.name) required aria-label=(t.hamlet_headers[0]);
                                    input name="adult_population" value=(h.adult_population) inputmode="numeric" aria-label=(t.hamlet_headers[1]);
                                    input name="baseline_signed" value=(h.baseline_signed) inputmode="numeric" aria-label=(t.hamlet_headers[2]);
                                    button type="submit" { (t.save) }
                                }
                                form.inline method="post" action={ "/office/hamlets/" (h.id) "/retire" } data-retire=(h.id) {
                                    input type="hidden" name="csrf" value=(o.session.csrf);
                                    button type="submit" { (t.retire) }
                                }
                            }
                        } @else {
                            // An id from before ids were checked: no form, whose address it could turn.
                            td { (h.name) " " small { (t.hamlet_id_invalid) } } td { (h.adult_population) } td { (h.baseline_signed) } td {}
                        }
                    }
                }
            }
        }
        (pager(t, "hamlets-pager", page, pages, |p| view.link(p, vpage)))
        h2 { (t.volunteers_title) }
        @if r.hamlets.len() > ROW_CHOICES {
            datalist id="hamlet-ids" {
                @for h in r.hamlets.iter().take(CHOICE_LIMIT) { option value=(h.id) { (h.name) } }
            }
        }
        table.report data-testid="volunteers" {
            thead { tr { @for h in t.volunteer_headers { th { (h) } } } }
            tbody {
                @for v in volunteers.iter().copied().map(Some).chain(last_volunteers.then_some(None)) {
                    tr {
                        td colspan="3" {
                            form.inline method="post" action="/office/volunteers" data-volunteer=[v.map(|v| v.id.clone())] data-lead=[v.filter(|v| v.lead).map(|_| "1")] {
                                input type="hidden" name="csrf" value=(o.session.csrf);
                                input name="id" value=[v.map(|v| v.id.clone())] placeholder="v-..." readonly[v.is_some()];
                                input name="name" value=[v.map(|v| v.name.clone())] placeholder=(t.volunteer_header);
                                (hamlet_choice(t, r, v.and_then(|v| v.hamlet_id.as_deref())))
                                label.lead { input type="checkbox" name="lead" checked[v.is_some_and(|v| v.lead)]; (t.lead) }
                                button type="submit" { @if v.is_some() { (t.save) } @else { (t.add) } }
                            }
                        }
                    }
                }
            }
        }
        (pager(t, "volunteers-pager", vpage, vpages, |p| view.link(page, p)))
        h3 { (t.volunteer_import_title) }
        p.hint { (t.volunteer_import_hint) }
        form method="post" action="/office/volunteers/import" enctype="multipart/form-data" data-testid="volunteer-import" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            input type="file" name="file" accept=".csv,text/csv" required aria-label=(t.volunteer_import_title);
            button type="submit" { (t.import_button) }
        }
        h2 { (t.providers_title) }
        form method="post" action="/office/providers" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            textarea name="providers" rows="6" cols="40" aria-label=(t.providers_title) { (r.providers.join("\n")) }
            br;
            button type="submit" { (t.save) }
        }
        h2 { (t.target_title) }
        form.inline method="post" action="/office/target" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            input name="target_percent" value=(r.commune.target_percent) inputmode="numeric" aria-label=(t.target_title);
            button type="submit" { (t.save) }
        }
        h2 { (t.import_title) }
        p.hint { (t.import_hint) }
        form method="post" action="/office/hamlets/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            input type="file" name="file" accept=".csv,text/csv" required aria-label=(t.import_title);
            button type="submit" { (t.import_button) }
        }
    }
}

pub(super) async fn hamlets_page(
    State(state): State<AppState>,
    o: Office,
    Params(view): Params<ListView>,
) -> Result<Markup, Refusal> {
    let commune = o.session.commune.clone();
    let (r, retired) = state
        .blocking(move |db| Ok::<_, db::DbError>((db.commune(&commune)?, db.retired_hamlets(&commune)?)))
        .await??;
    let t = o.t;
    Ok(page(
        &o,
        3,
        html! {
            (hamlets_body(&o, &r, &view, None))
            @if !retired.is_empty() {
                h2 { (t.retired_title) }
                p.hint { (t.retired_hint) }
                table.report data-testid="retired-hamlets" {
                    tbody { @for (h, at) in &retired { tr data-hamlet=(h.id) { th scope="row" { (h.name) } td { (h.id) } td { (at.get(..10).unwrap_or(at)) } } } }
                }
            }
        },
    ))
}

/// What a change to the reference data came to.
pub(super) enum Change {
    /// Saved: the audit entry's action and detail, what the page says, and which part of
    /// the lists it shows.
    Saved { action: &'static str, detail: String, message: String, show: ListView },
    /// Refused with this notice; the reference data was left untouched.
    Refused(Markup),
    /// No such hamlet.
    NotFound,
}

impl Change {
    fn refused(message: &str) -> Change {
        Change::Refused(notice_error(message))
    }
}

/// Reads the commune's reference data, lets `change` check and apply a change (leaving the
/// data untouched when it refuses), saves and audits it, all on a blocking thread; then
/// shows the page with what happened.
pub(super) async fn change_reference(
    state: &AppState,
    o: &Office,
    change: impl FnOnce(&mut ReferenceData) -> Change + Send + 'static,
) -> Result<Response, Refusal> {
    let session = o.session.clone();
    let (r, outcome) = state
        .blocking(move |db| {
            let mut r = db.commune(&session.commune)?;
            let outcome = change(&mut r);
            if let Change::Saved { action, detail, .. } = &outcome {
                db.put_commune(&r)?;
                db.audit(&session, action, detail, Utc::now())?;
            }
            Ok::<_, db::DbError>((r, outcome))
        })
        .await??;
    match outcome {
        Change::Saved { message, show, .. } => {
            Ok(page(o, 3, hamlets_body(o, &r, &show, Some(notice_ok(&message)))).into_response())
        }
        Change::Refused(notice) => {
            Ok((StatusCode::BAD_REQUEST, page(o, 3, hamlets_body(o, &r, &ListView::default(), Some(notice))))
                .into_response())
        }
        Change::NotFound => Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found))),
    }
}

#[derive(Deserialize)]
pub(super) struct HamletForm {
    name: String,
    adult_population: String,
    baseline_signed: String,
}

/// Checks a hamlet's figures; the message says what is wrong.
pub(super) fn check_hamlet(
    t: &OfficeStrings,
    id: &str,
    name: &str,
    adults: &str,
    baseline: &str,
) -> Result<Hamlet, &'static str> {
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

pub(super) async fn save_hamlet(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, form: f }: Posted<HamletForm>,
) -> Result<Response, Refusal> {
    let t = o.t;
    change_reference(&state, &o, move |r| {
        let Some(pos) = r.hamlets.iter().position(|h| h.id == id) else { return Change::NotFound };
        match check_hamlet(t, &id, &f.name, &f.adult_population, &f.baseline_signed) {
            Err(message) => Change::refused(message),
            Ok(h) => {
                let detail = format!("{id}: {} adults, {} baseline", h.adult_population, h.baseline_signed);
                r.hamlets[pos] = h;
                Change::Saved {
                    action: "hamlet.update",
                    detail,
                    message: t.saved.into(),
                    show: ListView::showing(Some(pos), None),
                }
            }
        }
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct TargetForm {
    target_percent: String,
}

pub(super) async fn save_target(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<TargetForm>,
) -> Result<Response, Refusal> {
    let t = o.t;
    change_reference(&state, &o, move |r| match f.target_percent.trim().parse::<u32>() {
        Ok(p) if (1..=100).contains(&p) => {
            r.commune.target_percent = p;
            let show = ListView::default();
            Change::Saved { action: "target.update", detail: format!("{p}%"), message: t.saved.into(), show }
        }
        _ => Change::refused(t.target_range),
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct VolunteerForm {
    id: String,
    name: String,
    /// The hamlet's id, or its name as typed.
    hamlet_id: String,
    /// The "Tổ trưởng" checkbox: present (`on`) when ticked.
    lead: Option<String>,
}

/// A hamlet by its id, or by its name ignoring case and diacritics.
pub(super) fn find_hamlet<'a>(r: &'a ReferenceData, typed: &str) -> Option<&'a Hamlet> {
    let typed = typed.trim();
    let folded = fold::fold(typed);
    r.hamlet(typed).or_else(|| r.hamlets.iter().find(|h| !folded.is_empty() && fold::fold(&h.name) == folded))
}

pub(super) async fn save_volunteer(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<VolunteerForm>,
) -> Result<Response, Refusal> {
    let t = o.t;
    change_reference(&state, &o, move |r| {
        let (id, name) = (f.id.trim(), f.name.trim());
        let Some(hamlet) = find_hamlet(r, &f.hamlet_id).map(|h| h.id.clone()) else {
            return Change::refused(t.volunteer_invalid);
        };
        if !id_ok(id) || name.is_empty() || name.chars().count() > 100 {
            return Change::refused(t.volunteer_invalid);
        }
        let existing = r.volunteers.iter().position(|x| x.id == id);
        if existing.is_none() && r.volunteers.len() >= MAX_VOLUNTEERS {
            return Change::refused(&format!("{} {MAX_VOLUNTEERS}.", t.too_many_volunteers));
        }
        let lead = f.lead.is_some();
        let v = Volunteer { id: id.to_owned(), name: name.to_owned(), hamlet_id: Some(hamlet), lead };
        let at = match existing {
            Some(i) => {
                r.volunteers[i] = v;
                i
            }
            None => {
                r.volunteers.push(v);
                r.volunteers.len() - 1
            }
        };
        let detail = if lead { format!("{id} (lead)") } else { id.to_owned() };
        Change::Saved {
            action: "volunteer.put",
            detail,
            message: t.saved.into(),
            show: ListView::showing(None, Some(at)),
        }
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct ProvidersForm {
    providers: String,
}

pub(super) async fn save_providers(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<ProvidersForm>,
) -> Result<Response, Refusal> {
    let t = o.t;
    change_reference(&state, &o, move |r| {
        let list: Vec<String> =
            f.providers.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if list.len() > 50 || list.iter().any(|p| p.chars().count() > 100) {
            return Change::refused(t.providers_invalid);
        }
        let detail = format!("{} providers", list.len());
        r.providers = list;
        Change::Saved { action: "providers.put", detail, message: t.saved.into(), show: ListView::default() }
    })
    .await
}

/// Retires a hamlet: its records stay (and keep its name), devices drop it at their next
/// pull, coverage no longer counts it (see `server::communes`).
pub(super) async fn retire_hamlet(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, .. }: Posted<NoFields>,
) -> Result<Response, Refusal> {
    let session = o.session.clone();
    let (retired, r) = state
        .blocking(move |db| {
            let retired = db.retire_hamlet(&session.commune, &id, Utc::now())?;
            if retired {
                db.audit(&session, "hamlet.retire", &id, Utc::now())?;
            }
            Ok::<_, db::DbError>((retired, db.commune(&session.commune)?))
        })
        .await??;
    if !retired {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    }
    Ok(page(&o, 3, hamlets_body(&o, &r, &ListView::default(), Some(notice_ok(o.t.retired_ok)))).into_response())
}
