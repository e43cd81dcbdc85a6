//! Devices: enrolment codes (with a QR code), the enrolled devices with their last sync and
//! the volunteers whose records each sent, and revocation.

use super::*;

/// The devices with the names of the volunteers whose records each one sent.
pub(super) type DeviceList = Vec<(db::Device, String)>;

/// Reads the device list (on a blocking thread).
pub(super) fn device_list(db: &db::ServerDb, commune: &str) -> Result<DeviceList, db::DbError> {
    let devices = db.devices(commune)?;
    let who = db.device_volunteers(commune)?;
    let r = db.commune(commune)?;
    let names: HashMap<&str, &str> = r.volunteers.iter().map(|v| (v.id.as_str(), v.name.as_str())).collect();
    Ok(devices
        .into_iter()
        .map(|d| {
            let list = who.get(&d.id).map(|ids| {
                ids.iter().map(|v| names.get(v.as_str()).copied().unwrap_or(v.as_str())).collect::<Vec<_>>().join(", ")
            });
            (d, list.unwrap_or_default())
        })
        .collect())
}

/// A new enrolment code as the devices page shows it: the code, and with the server's
/// public address (when it is configured) what to type, the link and its QR code.
pub(super) struct NewCode {
    code: String,
    link: Option<(crate::enrol_link::EnrolLink, String)>,
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
        }
        form method="post" action="/office/devices/code" {
            input type="hidden" name="csrf" value=(o.session.csrf);
            button type="submit" data-testid="new-code" { (t.new_code) }
        }
        table.report data-testid="devices" {
            thead { tr { @for h in t.device_headers { th { (h) } } } }
            tbody {
                @for (d, volunteers) in devices {
                    tr data-device=(d.id) {
                        th scope="row" { (d.name) br; small { (d.id) } }
                        td { (volunteers) }
                        td { @if d.revoked { (t.revoked) } @else { (t.active) } }
                        td { (d.last_seen.as_deref().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                                .map(|x| x.with_timezone(&Local).format("%H:%M %d/%m/%Y").to_string()).unwrap_or_else(|| t.never.to_owned())) }
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
    o: Office,
    Form(f): Form<CsrfForm>,
) -> Result<Markup, Refusal> {
    check_csrf(&o, f.csrf.as_deref())?;
    let session = o.session.clone();
    let (code, devices) = state
        .blocking(move |db| {
            let code = db.new_enrol_code(&session.commune, chrono::Duration::hours(24), Utc::now())?;
            db.audit(&session, "device.code", "", Utc::now())?;
            Ok::<_, db::DbError>((code, device_list(db, &session.commune)?))
        })
        .await??;
    // The configured public address, never the Host this browser used (the office PC may
    // say localhost, which means nothing to a tablet).
    let link = state.public.as_ref().map(|public| {
        let link = public.link(&code);
        let svg = qrcode::QrCode::new(link.to_link().as_bytes())
            .map(|q| q.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).build())
            .unwrap_or_default();
        (link, svg)
    });
    Ok(page(&o, 4, devices_body(&o, &devices, Some(NewCode { code, link }))))
}

pub(super) async fn revoke_device(
    State(state): State<AppState>,
    o: Office,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    check_csrf(&o, f.csrf.as_deref())?;
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
