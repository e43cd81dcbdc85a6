//! Erasure on request: find a person's records by name or ID number, erase their personal
//! details (here, in the history, and on devices at their next sync).

use super::*;

pub(super) fn erasure_body(
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

pub(super) async fn erasure_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    Ok(page(&o, 5, erasure_body(&o, None, None)))
}

#[derive(Deserialize)]
pub(super) struct FindForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    citizen_id: String,
}

pub(super) async fn erasure_find(
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

pub(super) async fn erasure_erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, Refusal> {
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

pub(super) fn serde_urlencoded_pairs(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}
