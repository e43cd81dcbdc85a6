//! Erasure on request: find a person's records by name or ID number, erase their personal
//! details (here, in the history, and on devices at their next sync).

use super::*;

pub(super) fn erasure_body(
    o: &Office,
    notice: Option<Markup>,
    found: Option<(&ReferenceData, &[db::RecordRow])>,
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

pub(super) async fn erasure_page(o: Office) -> Markup {
    page(&o, 5, erasure_body(&o, None, None))
}

#[derive(Deserialize)]
pub(super) struct FindForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    citizen_id: String,
}

pub(super) async fn erasure_find(
    State(state): State<AppState>,
    Posted { o, form: f }: Posted<FindForm>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let name = Some(f.name.trim().to_owned()).filter(|s| !s.is_empty());
    // The number is hashed with the commune's key for the lookup and then dropped.
    let cid = match f.citizen_id.trim() {
        "" => None,
        typed => match crate::domain::citizen_id::CitizenId::parse(typed) {
            Ok(id) => Some(id),
            Err(_) => {
                return Ok((
                    StatusCode::BAD_REQUEST,
                    page(&o, 5, erasure_body(&o, Some(notice_error(t.cid_invalid)), None)),
                )
                    .into_response())
            }
        },
    };
    if name.is_none() && cid.is_none() {
        return Ok((
            StatusCode::BAD_REQUEST,
            page(&o, 5, erasure_body(&o, Some(notice_error(t.erasure_need_input)), None)),
        )
            .into_response());
    }
    let session = o.session.clone();
    let (rows, r) = state
        .blocking(move |db| {
            let cid_hash = match cid {
                Some(id) => Some(id.hash(&db.cid_key(&session.commune)?)),
                None => None,
            };
            let rows = db.find_person(&session.commune, name.as_deref(), cid_hash.as_deref())?;
            let r = db.commune(&session.commune)?;
            db.audit(&session, "erasure.find", &format!("{} records", rows.len()), Utc::now())?;
            Ok::<_, db::DbError>((rows, r))
        })
        .await??;
    Ok(page(&o, 5, erasure_body(&o, None, Some((&r, &rows)))).into_response())
}

/// Most records one erasure takes (a person's sessions are a handful).
pub(super) const MAX_ERASE: usize = 500;

pub(super) async fn erasure_erase(
    State(state): State<AppState>,
    // Several `id` fields: the form as its pairs.
    Posted { o, form: pairs }: Posted<Vec<(String, String)>>,
) -> Result<Response, Refusal> {
    let mut ids: Vec<uuid::Uuid> =
        pairs.iter().filter(|(k, _)| k == "id").filter_map(|(_, v)| uuid::Uuid::parse_str(v).ok()).collect();
    ids.sort();
    ids.dedup();
    if ids.len() > MAX_ERASE {
        let notice = notice_error(&format!("{} {MAX_ERASE}.", o.t.erase_too_many));
        return Ok((StatusCode::BAD_REQUEST, page(&o, 5, erasure_body(&o, Some(notice), None))).into_response());
    }
    let session = o.session.clone();
    let n = state
        .blocking(move |db| {
            // The audit entry names every record erased (ids only), so that an erasure can be
            // done again on a backup restored from before it.
            let erased = db.erase(&session.commune, &ids, Utc::now())?;
            let listed: Vec<String> = erased.iter().map(uuid::Uuid::to_string).collect();
            db.audit(
                &session,
                "erasure.erase",
                &format!("{} records: {}", erased.len(), listed.join(" ")),
                Utc::now(),
            )?;
            Ok::<_, db::DbError>(erased.len())
        })
        .await??;
    Ok(page(&o, 5, erasure_body(&o, Some(notice_ok(&format!("{} {n}", o.t.erased))), None)).into_response())
}
