//! Devices: enrolment codes (with a QR code), the enrolled devices with their last sync and
//! the volunteers whose records each sent, and revocation.

use super::*;

/// The devices with the names of the volunteers whose records each one sent.
pub(super) type DeviceList = Vec<(super::db::Device, String)>;

pub(super) fn device_list(state: &AppState, commune: &str) -> Result<DeviceList, Refusal> {
    let devices = state.db.devices(commune)?;
    let who = state.db.device_volunteers(commune)?;
    let r = state.db.commune(commune)?;
    Ok(devices
        .into_iter()
        .map(|d| {
            let names =
                who.get(&d.id).map(|ids| ids.iter().map(|v| r.volunteer_name(v)).collect::<Vec<_>>().join(", "));
            (d, names.unwrap_or_default())
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

pub(super) async fn devices_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    let devices = device_list(&state, &o.session.commune)?;
    Ok(page(&o, 4, devices_body(&o, &devices, None)))
}

pub(super) async fn new_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Markup, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let code = state.db.new_enrol_code(&o.session.commune, chrono::Duration::hours(24), Utc::now())?;
    // The configured public address, never the Host this browser used (the office PC may
    // say localhost, which means nothing to a tablet).
    let link = state.public.as_ref().map(|public| {
        let link = public.link(&code);
        let svg = qrcode::QrCode::new(link.to_link().as_bytes())
            .map(|q| q.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).build())
            .unwrap_or_default();
        (link, svg)
    });
    state.db.audit(&o.session, "device.code", "", Utc::now())?;
    let devices = device_list(&state, &o.session.commune)?;
    Ok(page(&o, 4, devices_body(&o, &devices, Some(NewCode { code, link }))))
}

pub(super) async fn revoke_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let o = office(&state, &headers)?;
    check_csrf(&o, f.csrf.as_deref())?;
    let devices = state.db.devices(&o.session.commune)?;
    if !devices.iter().any(|d| d.id == id) {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(o.t, o.t.not_found)));
    }
    let _ = state.db.revoke(&id, Utc::now());
    state.db.audit(&o.session, "device.revoke", &id, Utc::now())?;
    Ok(Redirect::to("/office/devices").into_response())
}
