//! Reference data the office keeps: hamlets with their adult population and baseline, the
//! commune's target, volunteers (team leads) and the signature providers. Every change is
//! checked, refused with the reason and nothing saved, or saved and audited; devices get it
//! at their next pull.

use super::*;

pub(super) fn hamlets_body(o: &Office, r: &ReferenceData, notice: Option<Markup>) -> Markup {
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

pub(super) async fn hamlets_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    let r = state.db.commune(&o.session.commune)?;
    Ok(page(&o, 3, hamlets_body(&o, &r, None)))
}

/// A refused change to reference data: the page again with the reason; nothing saved.
pub(super) fn refuse_reference(o: &Office, r: &ReferenceData, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, page(o, 3, hamlets_body(o, r, Some(notice_error(message))))).into_response()
}

/// Saves changed reference data (devices get it at their next pull), writes the audit
/// entry, and shows the page again with "saved".
pub(super) fn save_reference(
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
pub(super) struct HamletForm {
    csrf: Option<String>,
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
pub(super) struct TargetForm {
    csrf: Option<String>,
    target_percent: String,
}

pub(super) async fn save_target(
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

#[derive(Deserialize)]
pub(super) struct VolunteerForm {
    csrf: Option<String>,
    id: String,
    name: String,
    hamlet_id: String,
    /// The "Tổ trưởng" checkbox: present (`on`) when ticked.
    lead: Option<String>,
}

pub(super) async fn save_volunteer(
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
pub(super) fn put_volunteer(r: &mut ReferenceData, v: crate::domain::Volunteer) {
    match r.volunteers.iter_mut().find(|x| x.id == v.id) {
        Some(x) => *x = v,
        None => r.volunteers.push(v),
    }
}

pub(super) fn volunteer_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[derive(Deserialize)]
pub(super) struct ProvidersForm {
    csrf: Option<String>,
    providers: String,
}

pub(super) async fn save_providers(
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
