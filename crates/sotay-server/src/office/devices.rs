//! Devices: enrolment codes (with a QR code, and the volunteers the device will offer with
//! their one-time first-PIN codes), the enrolled devices with their last sync, the
//! volunteers whose records each sent and those assigned to it, a device's page (its users,
//! new PIN codes), and revocation.

use super::*;

/// The devices with the names of the volunteers whose records each one sent, and of those
/// assigned to it, and the commune's reference data (for the volunteer choices).
pub(super) struct DeviceList {
    rows: Vec<(db::Device, String, String)>,
    reference: ReferenceData,
}

/// Reads the device list (on a blocking thread).
pub(super) fn device_list(db: &db::ServerDb, commune: &str) -> Result<DeviceList, db::DbError> {
    let devices = db.devices(commune)?;
    let who = db.device_volunteers(commune)?;
    let assigned = db.assignments(commune)?;
    let r = db.commune(commune)?;
    let names: HashMap<&str, &str> = r.volunteers.iter().map(|v| (v.id.as_str(), v.name.as_str())).collect();
    let name_list = |ids: Option<&Vec<String>>| {
        ids.map(|ids| ids.iter().map(|v| names.get(v.as_str()).copied().unwrap_or(v.as_str())).collect::<Vec<_>>())
            .unwrap_or_default()
            .join(", ")
    };
    let rows = devices
        .into_iter()
        .map(|d| {
            let (sent, users) = (name_list(who.get(&d.id)), name_list(assigned.get(&d.id)));
            (d, sent, users)
        })
        .collect();
    Ok(DeviceList { rows, reference: r })
}

/// The volunteers to tick for a device: checkboxes, or past [`reference::CHOICE_LIMIT`] a
/// text box of ids (so the page stays small).
fn volunteer_choice(t: &OfficeStrings, r: &ReferenceData, chosen: &[String]) -> Markup {
    html! {
        fieldset.users data-testid="device-users" {
            legend { (t.device_users) }
            p.hint { (t.device_users_hint) }
            @if r.volunteers.len() <= reference::CHOICE_LIMIT {
                @for v in &r.volunteers {
                    label.check {
                        input type="checkbox" name="v" value=(v.id) checked[chosen.contains(&v.id)];
                        " " (v.name) " (" (v.id) ")"
                    }
                }
            } @else {
                input type="text" name="v_list" value=(chosen.join(", ")) aria-label=(t.device_users);
            }
        }
    }
}

/// The volunteer ids a form ticked or typed.
fn chosen_volunteers(pairs: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, v) in pairs {
        let ids: Vec<&str> = match k.as_str() {
            "v" => vec![v.as_str()],
            "v_list" => v.split([',', ' ', ';']).filter(|s| !s.is_empty()).collect(),
            _ => vec![],
        };
        for id in ids {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_owned());
            }
        }
    }
    out
}

/// First-PIN codes as the office hands them out: one line per person.
fn pin_codes_box(t: &OfficeStrings, r: &ReferenceData, codes: &[(String, String)]) -> Markup {
    html! {
        @if !codes.is_empty() {
            div.code-box data-testid="pin-codes" {
                p { (t.pin_codes_made) }
                table.report {
                    tbody {
                        @for (v, code) in codes {
                            tr { th scope="row" { (r.volunteer_name(v)) } td.code data-volunteer=(v) { (code) } }
                        }
                    }
                }
            }
        }
    }
}

/// A new enrolment code as the devices page shows it: the code, and with the server's
/// public address (when it is configured) what to type, the link and its QR code.
pub(super) struct NewCode {
    code: String,
    link: Option<(crate::enrol_link::EnrolLink, String)>,
    pin_codes: Vec<(String, String)>,
}

pub(super) fn new_code_box(t: &OfficeStrings, c: &NewCode) -> Markup {
    html! {
        div.code-box data-testid="enrol-code" {
            p { (t.code_made) }
            p.code { (c.code) }
            @if let Some((link, svg)) = &c.link {
                p { (t.enrol_address) " " strong data-testid="enrol-address" { (link.server) } }
                @if let Some(fp) = &link.fingerprint {
                    p { (t.enrol_fingerprint) br; code.fingerprint data-testid="enrol-fingerprint" { (fp.grouped()) } }
                }
                div.qr { (PreEscaped(svg)) }
                p { (t.enrol_link) br; code.link data-testid="enrol-link" { (link.to_link()) } }
                p.hint { (t.code_hint) }
            } @else {
                p.error role="alert" { (t.no_public_url) }
            }
        }
    }
}

pub(super) fn devices_body(o: &Office, devices: &DeviceList, code: Option<NewCode>) -> Markup {
    let t = o.t;
    html! {
        h1 { (t.devices_title) }
        @if let Some(code) = code {
            (new_code_box(t, &code))
            (pin_codes_box(t, &devices.reference, &code.pin_codes))
        }
        form method="post" action="/office/devices/code" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            (volunteer_choice(t, &devices.reference, &[]))
            button type="submit" data-testid="new-code" { (t.new_code) }
        }
        table.report data-testid="devices" {
            thead { tr { @for h in t.device_headers { th { (h) } } } }
            tbody {
                @for (d, volunteers, users) in &devices.rows {
                    tr data-device=(d.id) {
                        th scope="row" { a href={ "/office/devices/" (d.id) } { (d.name) } br; small { (d.id) } }
                        td { (volunteers) }
                        td data-testid="assigned" { (users) }
                        td { @if d.revoked { (t.revoked) } @else { (t.active) } }
                        td { (d.last_seen.as_deref().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                                .map(|x| x.with_timezone(&crate::asof::vietnam()).format("%H:%M %d/%m/%Y").to_string()).unwrap_or_else(|| t.never.to_owned())) }
                        td { (d.queued.map(|q| q.to_string()).unwrap_or_else(|| "—".into())) }
                        td {
                            @if !d.revoked {
                                form method="post" action={ "/office/devices/" (d.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(o.session.csrf);
                                    button.danger type="submit" { (t.revoke) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn devices_page(State(state): State<AppState>, o: Office) -> Result<Markup, Refusal> {
    let commune = o.session.commune.clone();
    let devices = state.blocking(move |db| device_list(db, &commune)).await??;
    Ok(page(&o, 4, devices_body(&o, &devices, None)))
}

pub(super) async fn new_code(
    State(state): State<AppState>,
    Posted { o, form: pairs }: Posted<Vec<(String, String)>>,
) -> Result<Markup, Refusal> {
    let volunteers = chosen_volunteers(&pairs);
    let session = o.session.clone();
    let made = state
        .blocking(move |db| {
            let made = db.new_enrol_code_for(&session.commune, chrono::Duration::hours(24), Utc::now(), &volunteers);
            let made = match made {
                Err(db::DbError::NoVolunteer) => return Ok(None),
                other => other?,
            };
            db.audit(&session, "device.code", &volunteers.join(" "), Utc::now())?;
            Ok::<_, db::DbError>(Some((made, device_list(db, &session.commune)?)))
        })
        .await??;
    let Some((made, devices)) = made else {
        return Err(Refusal::Page(StatusCode::BAD_REQUEST, message_page(o.t, o.t.unknown_volunteer)));
    };
    let (code, pin_codes) = (made.code, made.pin_codes);
    // The configured public address, never the Host this browser used (the office PC may
    // say localhost, which means nothing to a tablet).
    let link = state.public.as_ref().map(|public| {
        let link = public.link(&code);
        let svg = qrcode::QrCode::new(link.to_link().as_bytes())
            .map(|q| q.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).build())
            .unwrap_or_default();
        (link, svg)
    });
    Ok(page(&o, 4, devices_body(&o, &devices, Some(NewCode { code, link, pin_codes }))))
}

/// One device: the volunteers it offers (to change) and a new first-PIN code for any of them.
fn device_body(o: &Office, d: &db::Device, r: &ReferenceData, users: &[String], notice: Option<Markup>) -> Markup {
    let t = o.t;
    html! {
        h1 { (t.devices_title) ": " (d.name) }
        p { small { (d.id) } }
        @if let Some(n) = notice { (n) }
        form method="post" action={ "/office/devices/" (d.id) "/users" } {
            input type="hidden" name="csrf" value=(o.session.csrf);
            (volunteer_choice(t, r, users))
            button type="submit" data-testid="save-users" { (t.save_users) }
        }
        @for v in users {
            form.inline method="post" action={ "/office/devices/" (d.id) "/pin-code" } {
                input type="hidden" name="csrf" value=(o.session.csrf);
                input type="hidden" name="volunteer" value=(v);
                button.secondary type="submit" data-pin-code-for=(v) { (t.new_pin_code) ": " (r.volunteer_name(v)) }
            }
        }
    }
}

/// A device of this commune with its volunteers, or `None`.
fn device_of(
    db: &db::ServerDb,
    commune: &str,
    id: &str,
) -> Result<Option<(db::Device, ReferenceData, Vec<String>)>, db::DbError> {
    let Some(d) = db.devices(commune)?.into_iter().find(|d| d.id == id) else { return Ok(None) };
    let users = db.assignments(commune)?.remove(id).unwrap_or_default();
    Ok(Some((d, db.commune(commune)?, users)))
}

pub(super) async fn device_page(
    State(state): State<AppState>,
    o: Office,
    Path(id): Path<String>,
) -> Result<Markup, Refusal> {
    let commune = o.session.commune.clone();
    let found = state.blocking(move |db| device_of(db, &commune, &id)).await??;
    let Some((d, r, users)) = found else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    };
    Ok(page(&o, 4, device_body(&o, &d, &r, &users, None)))
}

pub(super) async fn device_users(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, form: pairs }: Posted<Vec<(String, String)>>,
) -> Result<Markup, Refusal> {
    let chosen = chosen_volunteers(&pairs);
    let session = o.session.clone();
    let found = state
        .blocking(move |db| {
            if device_of(db, &session.commune, &id)?.is_none() {
                return Ok(None);
            }
            match db.assign(&session.commune, &id, &chosen) {
                Err(db::DbError::NoVolunteer) => return Ok(Some(None)),
                other => other?,
            }
            db.audit(&session, "device.users", &format!("{id}: {}", chosen.join(" ")), Utc::now())?;
            Ok::<_, db::DbError>(Some(device_of(db, &session.commune, &id)?))
        })
        .await??;
    match found {
        None => Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found))),
        Some(None) => Err(Refusal::Page(StatusCode::BAD_REQUEST, message_page(o.t, o.t.unknown_volunteer))),
        Some(Some((d, r, users))) => Ok(page(&o, 4, device_body(&o, &d, &r, &users, Some(notice_ok(o.t.users_saved))))),
    }
}

#[derive(Deserialize)]
pub(super) struct PinCodeForm {
    volunteer: String,
}

pub(super) async fn device_pin_code(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, form: f }: Posted<PinCodeForm>,
) -> Result<Markup, Refusal> {
    let session = o.session.clone();
    let made = state
        .blocking(move |db| {
            let Some((d, r, users)) = device_of(db, &session.commune, &id)? else { return Ok(None) };
            if !users.contains(&f.volunteer) {
                return Ok(None);
            }
            let code = db.new_pin_code(&session.commune, &id, &f.volunteer, Utc::now())?;
            db.audit(&session, "device.pin_code", &format!("{id}: {}", f.volunteer), Utc::now())?;
            Ok::<_, db::DbError>(Some((d, r, users, f.volunteer, code)))
        })
        .await??;
    let Some((d, r, users, volunteer, code)) = made else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    };
    let notice = html! { (pin_codes_box(o.t, &r, &[(volunteer, code)])) };
    Ok(page(&o, 4, device_body(&o, &d, &r, &users, Some(notice))))
}

pub(super) async fn revoke_device(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { o, .. }: Posted<NoFields>,
) -> Result<Response, Refusal> {
    let session = o.session.clone();
    let found = state
        .blocking(move |db| {
            if !db.devices(&session.commune)?.iter().any(|d| d.id == id) {
                return Ok(false);
            }
            let _ = db.revoke(&id, Utc::now());
            db.audit(&session, "device.revoke", &id, Utc::now())?;
            Ok::<_, db::DbError>(true)
        })
        .await??;
    if !found {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    }
    Ok(Redirect::to("/office/devices").into_response())
}
