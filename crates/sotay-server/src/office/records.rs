//! Records: the list with its filters and the search by a person's name, a record with its
//! history, and the printable consent record of a signature session.

use super::*;

#[derive(Deserialize, Default)]
pub(super) struct RecordQuery {
    /// A person's name (signature help with consent): every word must start a word of it,
    /// ignoring case and diacritics.
    q: Option<String>,
    hamlet: Option<String>,
    volunteer: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The page of the list, from 1.
    page: Option<usize>,
}

/// Records on one page of the list.
const PAGE: usize = 200;

pub(super) fn record_title(t: &OfficeStrings, body: &crate::domain::Body) -> String {
    use crate::domain::Body;
    match body {
        Body::Visit(v) => v.household.clone(),
        Body::SignatureHelp(s) => {
            let who = s.person.as_ref().map(|p| p.display_name.clone()).unwrap_or_else(|| t.no_consent.to_owned());
            format!("{who} · {}", t.labels.outcomes[s.outcome.index()])
        }
        Body::Training(tr) => format!("{} · {}", tr.trainers, tr.total),
        Body::Outreach(o) => format!("{} · {}", t.labels.channels[o.channel.index()], o.quantity),
    }
}

/// A signature session whose person consented to their details being kept.
pub(super) fn has_consent(body: &crate::domain::Body) -> bool {
    matches!(body, crate::domain::Body::SignatureHelp(s) if s.consent && s.person.is_some())
}

pub(super) fn record_rows(
    t: &OfficeStrings,
    r: &ReferenceData,
    rows: &[db::RecordRow],
    select: Option<&str>,
) -> Markup {
    html! {
        table.report data-testid="records" {
            thead { tr { @if select.is_some() { th {} } @for h in t.record_headers { th { (h) } } } }
            tbody {
                @for row in rows {
                    tr data-record=(row.id) class=[row.voided.then_some("voided")] {
                        @if let Some(name) = select { td { input type="checkbox" name=(name) value=(row.id) checked; } }
                        td { (day_time(&row.occurred_at)) }
                        td { (crate::domain::RecordKind::from_code(&row.kind).map(|k| t.kinds[k.index()]).unwrap_or(&row.kind)) }
                        td { (r.hamlet_name(&row.hamlet_id)) }
                        td { (r.volunteer_name(&row.volunteer_id)) }
                        td {
                            a href={ "/office/records/" (row.id) } { (record_title(t, &row.body)) } @if row.voided { " · " (t.voided) }
                            @if has_consent(&row.body) {
                                " · " a.no-print href={ "/office/records/" (row.id) "/consent" } data-testid="consent-link" { (t.consent_link) }
                            }
                        }
                        td { (row.version) }
                    }
                }
            }
        }
    }
}

pub(super) async fn records_page(
    State(state): State<AppState>,
    o: Office,
    Params(q): Params<RecordQuery>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let day = |s: &Option<String>| -> Result<Option<NaiveDate>, ()> {
        match s.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => parse_day(s).map(Some).ok_or(()),
        }
    };
    let (Ok(from), Ok(to)) = (day(&q.from), day(&q.to)) else {
        return Ok(
            (StatusCode::BAD_REQUEST, page(&o, 2, html! { p.error role="alert" { (t.bad_dates) } })).into_response()
        );
    };
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
    let filter = db::RecordFilter {
        hamlet_id: nonempty(&q.hamlet),
        volunteer_id: nonempty(&q.volunteer),
        kind: nonempty(&q.kind),
        from: from.map(|d| d.format("%Y-%m-%d").to_string()),
        to_exclusive: to.map(|d| (d + chrono::Days::new(1)).format("%Y-%m-%d").to_string()),
    };
    let name = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let session = o.session.clone();
    let lookup = name.clone();
    // The list shows people's names: every view of it is audited, as is a lookup by name.
    let page_no = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let offset = (page_no - 1) * PAGE;
    let (r, rows, total) = state
        .blocking(move |db| {
            let r = db.commune(&session.commune)?;
            let (rows, total) = match lookup {
                None => {
                    let (rows, total) = db.records_page(&session.commune, &filter, offset, PAGE)?;
                    db.audit(&session, "records.list", &format!("{} records", rows.len()), Utc::now())?;
                    (rows, total)
                }
                Some(name) => {
                    // A lookup of a person: the other filters apply to what it finds.
                    let mut rows = db.find_person(&session.commune, Some(&name), None)?;
                    rows.retain(|row| record_matches(row, &filter));
                    rows.reverse();
                    let total = rows.len() as u64;
                    let rows: Vec<_> = rows.into_iter().skip(offset).take(PAGE).collect();
                    db.audit(&session, "records.find", &format!("{} records", rows.len()), Utc::now())?;
                    (rows, total)
                }
            };
            Ok::<_, db::DbError>((r, rows, total))
        })
        .await??;
    let hamlets: Vec<(&str, &str)> = r.hamlets.iter().map(|h| (h.id.as_str(), h.name.as_str())).collect();
    let volunteers: Vec<(&str, &str)> = r.volunteers.iter().map(|v| (v.id.as_str(), v.name.as_str())).collect();
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    Ok(page(
        &o,
        2,
        html! {
            h1 { (t.records_title) }
            form.period.no-print method="get" action="/office/records" {
                label { (t.person_name) " " input name="q" value=[name] autocomplete="off"; }
                label { (t.hamlet_header) " " (choice(t, "hamlet", q.hamlet.as_deref(), &hamlets)) }
                label { (t.volunteer_header) " " (choice(t, "volunteer", q.volunteer.as_deref(), &volunteers)) }
                label { (t.record_headers[1]) " " select name="kind" { option value="" { (t.all) } @for k in crate::domain::RecordKind::ALL { option value=(k.code()) selected[sel(&q.kind, k.code())] { (t.kinds[k.index()]) } } } }
                @for (label, name, day) in [(t.from, "from", from), (t.to, "to", to)] {
                    label { (label) " " input type="date" name=(name) value=[day.map(|d| d.format("%Y-%m-%d").to_string())]; }
                }
                button type="submit" { (t.show) }
            }
            @if rows.is_empty() { p data-testid="no-records" { (t.nothing_found) } } @else { (record_rows(t, &r, &rows, None)) }
            (pager(t, &q, page_no, total))
        },
    )
    .into_response())
}

/// The record list's filters, applied to rows already found (by a name).
pub(super) fn record_matches(row: &db::RecordRow, f: &db::RecordFilter) -> bool {
    let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let day = row.occurred_at.get(..10).unwrap_or("");
    is(&f.hamlet_id, &row.hamlet_id)
        && is(&f.volunteer_id, &row.volunteer_id)
        && is(&f.kind, &row.kind)
        && f.from.as_deref().is_none_or(|from| day >= from)
        && f.to_exclusive.as_deref().is_none_or(|to| day < to)
}

/// A record of the commune and its history, by the id in an address (none for an id that
/// does not parse).
fn record_by_id(
    db: &db::ServerDb,
    commune: &str,
    id: &str,
) -> Result<Option<(db::RecordRow, Vec<db::HistoryRow>)>, db::DbError> {
    match uuid::Uuid::parse_str(id) {
        Ok(id) => db.record(commune, id),
        Err(_) => Ok(None),
    }
}

pub(super) async fn record_page(
    State(state): State<AppState>,
    o: Office,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let session = o.session.clone();
    let found = state
        .blocking(move |db| {
            let Some(found) = record_by_id(db, &session.commune, &id)? else { return Ok(None) };
            let r = db.commune(&session.commune)?;
            let devices = db.devices(&session.commune)?;
            db.audit(&session, "record.view", &found.0.id.to_string(), Utc::now())?;
            Ok::<_, db::DbError>(Some((found, r, devices)))
        })
        .await??;
    let Some(((row, history), r, devices)) = found else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found)));
    };
    Ok(page(
        &o,
        2,
        html! {
            h1 { (t.records_title) }
            (record_rows(t, &r, std::slice::from_ref(&row), None))
            @if has_consent(&row.body) {
                p.no-print { a href={ "/office/records/" (row.id) "/consent" } data-testid="consent-print" { (t.consent_link) " (" (t.print) ")" } }
            }
            h2 { (t.history_title) }
            table.report data-testid="history" {
                thead { tr { @for h in t.history_headers { th { (h) } } th { (t.record_headers[4]) } } }
                tbody {
                    @for h in &history {
                        tr { td { (h.version) } td { (received_time(&h.received_at)) }
                             td { (device_name(&devices, &h.device_id)) " " small { code { (h.device_id.get(..8).unwrap_or("")) } } } td { @if h.voided { (t.voided) } }
                             td { (record_title(t, &h.record.body)) } }
                    }
                }
            }
        },
    )
    .into_response())
}

/// The printable consent record of a signature session: who agreed to what, when, before
/// which volunteer, with lines to sign. Viewing it is audited. After an erasure it says so
/// and shows no personal detail.
pub(super) async fn consent_page(
    State(state): State<AppState>,
    o: Office,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let t = o.t;
    let session = o.session.clone();
    let found = state
        .blocking(move |db| {
            let Some((row, history)) = record_by_id(db, &session.commune, &id)?
                .filter(|(row, _)| matches!(row.body, crate::domain::Body::SignatureHelp(_)))
            else {
                return Ok(Err(t.not_found));
            };
            let erased = db.was_erased(&session.commune, row.id)?;
            if !erased && !has_consent(&row.body) {
                return Ok(Err(t.consent_none));
            }
            let r = db.commune(&session.commune)?;
            let devices = db.devices(&session.commune)?;
            db.audit(&session, "consent.view", &row.id.to_string(), Utc::now())?;
            Ok::<_, db::DbError>(Ok((row, history, erased, r, devices)))
        })
        .await??;
    let (row, history, erased, r, devices) =
        found.map_err(|message| Refusal::Page(StatusCode::NOT_FOUND, message_page(t, message)))?;
    // Consent was given with the first version that holds it (history is newest first);
    // after an erasure no version holds it, and the first version stands for the session.
    let Some(given) = history.iter().rev().find(|h| has_consent(&h.record.body)).or(history.last()) else {
        return Err(Refusal::Page(StatusCode::NOT_FOUND, message_page(t, t.not_found)));
    };
    let person = match &row.body {
        crate::domain::Body::SignatureHelp(s) if !erased => s.person.clone(),
        _ => None,
    };
    let device = devices.into_iter().find(|d| d.id == given.device_id).map(|d| d.name).unwrap_or_default();
    let statement = crate::domain::consent::in_force_at(given.record.saved_at);
    let text = statement.text(t.lang_code);
    let received = chrono::DateTime::parse_from_rfc3339(&given.received_at)
        .map(|x| local_time(x.with_timezone(&Utc)))
        .unwrap_or_else(|_| given.received_at.clone());
    let occurred = given.record.occurred_at.format("%d/%m/%Y %H:%M").to_string();
    let l = &t.consent_labels;
    Ok(bare(
        t,
        t.consent_title,
        html! {
            main.print.consent-record data-testid="consent-record" data-record=(row.id) {
                p.no-print { a href={ "/office/records/" (row.id) } { (t.back_to_record) } " · " (t.consent_print_hint) }
                p.hint { (t.generated) " " (local_time(Utc::now())) " · " (o.session.username) }
                p.org { (r.commune.name) }
                h1 { (t.consent_title) }
                @if erased { p.erased role="status" data-testid="consent-erased" { (t.consent_erased) } }
                table.consent-fields {
                    tr { th scope="row" { (l[0]) } td { (r.commune.name) } }
                    tr { th scope="row" { (l[1]) } td { (r.hamlet_name(&row.hamlet_id)) } }
                    @if let Some(p) = &person {
                        tr { th scope="row" { (l[2]) } td data-testid="consent-name" { (p.display_name) } }
                        tr { th scope="row" { (l[3]) } td { (p.birth_year) } }
                        @if let Some(last4) = &p.cid_last4 { tr { th scope="row" { (l[4]) } td { "•••• •••• " (last4) } } }
                    }
                    tr { th scope="row" { (l[5]) } td { code { (row.id) } } }
                    tr { th scope="row" { (l[6]) } td { (occurred) } }
                    tr { th scope="row" { (l[7]) } td { (local_time(given.record.saved_at)) } }
                    tr { th scope="row" { (l[8]) } td { (received) } }
                    tr { th scope="row" { (l[9]) } td { (r.volunteer_name(&given.record.volunteer_id)) " (" (given.record.volunteer_id) ")" } }
                    tr { th scope="row" { (l[10]) } td { (device) " " small { code { (given.device_id) } } } }
                    tr { th scope="row" { (l[11]) } td data-testid="consent-version" { (statement.version) } }
                }
                section.statement {
                    p { (t.consent_agreed) }
                    h2 { (text.title) " — " (statement.version) }
                    ol { @for point in text.points { li { (point) } } }
                }
                @if !erased {
                    div.signatures {
                        @for who in t.consent_signers { div.sign { p { (who) } div.sign-line {} } }
                    }
                    p.date-line { (t.consent_date_line) }
                }
            }
        },
    )
    .into_response())
}

/// A business time ("2026-11-19T09:00:00", the device's local time) as "19/11/2026 09:00".
fn day_time(stored: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(stored, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.format("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_else(|_| stored.replace('T', " "))
}

/// "N bản ghi · Trang 2/5" with links to the pages before and after, keeping the filters.
fn pager(t: &OfficeStrings, q: &RecordQuery, page_no: usize, total: u64) -> Markup {
    let w = crate::i18n::report::for_office(t);
    let pages = (total as usize).div_ceil(PAGE).max(1);
    let link = |n: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &q.q),
            ("hamlet", &q.hamlet),
            ("volunteer", &q.volunteer),
            ("kind", &q.kind),
            ("from", &q.from),
            ("to", &q.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                query.append_pair(k, v);
            }
        }
        query.append_pair("page", &n.to_string());
        format!("/office/records?{}", query.finish())
    };
    html! {
        p.pager.no-print data-testid="pager" {
            span data-testid="records-count" { (num(total.min(u32::MAX as u64) as u32)) " " (w.records) }
            " · " (w.page) " " (page_no) "/" (pages)
            @if page_no > 1 { " · " a href=(link(page_no - 1)) data-testid="previous-page" { (w.previous) } }
            @if page_no < pages { " · " a href=(link(page_no + 1)) data-testid="next-page" { (w.next) } }
        }
    }
}

/// A device's name by its id, as the office named it (the id itself if it is gone).
fn device_name(devices: &[db::Device], id: &str) -> String {
    devices.iter().find(|d| d.id == id).map(|d| d.name.clone()).unwrap_or_else(|| id.to_owned())
}

/// A time the server received something ("2026-11-20T03:00:00.000Z") as "20/11/2026 10:00",
/// Vietnam time.
fn received_time(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| local_time(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| at.to_owned())
}
