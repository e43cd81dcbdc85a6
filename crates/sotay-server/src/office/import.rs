//! CSV imports of hamlets and volunteers, as Excel writes them: the whole file is checked
//! and one bad row refuses it with every row's problem listed.
//!
//! A file larger than [`MAX_IMPORT_BYTES`] or with more rows than a commune may keep is
//! refused with a message saying so, before it is parsed. A file that is not UTF-8 says what
//! it seems to be (UTF-16 "Unicode Text", an Excel workbook, Windows-1258 or another
//! legacy encoding) and how to save it as "CSV UTF-8" instead.

use crate::domain::{fold, id_ok, Volunteer};

use super::*;

/// Largest CSV file taken (a commune's volunteers fit in a few hundred KB).
pub(super) const MAX_IMPORT_BYTES: usize = 1024 * 1024;

/// Reads a hamlet CSV as Excel writes it (UTF-8 with or without BOM, `,` or `;`); every
/// row is checked, and any error refuses the whole file.
pub fn parse_hamlet_csv(t: &OfficeStrings, bytes: &[u8]) -> Result<Vec<Hamlet>, Vec<String>> {
    let (headers, records) = read_csv(t, bytes, MAX_HAMLETS).map_err(|e| vec![e])?;
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(ci), Some(cn), Some(cp), Some(cb)) = (
        col(&["ma", "id", "ma_thon"]),
        col(&["ten", "name", "ten_thon"]),
        col(&["dan_so", "adult_population", "dan_so_truong_thanh"]),
        col(&["da_co_chu_ky", "baseline_signed", "baseline"]),
    ) else {
        return Err(vec![t.import_header_missing.to_owned()]);
    };
    csv_rows(t, records, t.import_header_missing, |get| {
        let id = get(ci);
        if !id_ok(&id) {
            return Err(t.hamlet_id_invalid.to_owned());
        }
        check_hamlet(t, &id, &get(cn), &get(cp), &get(cb)).map_err(str::to_owned)
    })
}

/// Turns every CSV record into a row with `parse` (given a getter of trimmed cells), and
/// collects every row's problem numbered as Excel shows it (the header is row 1): one bad
/// row refuses the whole file, and so does a file with no rows (`empty` says why).
pub(super) fn csv_rows<T>(
    t: &OfficeStrings,
    records: Vec<Option<csv::StringRecord>>,
    empty: &str,
    mut parse: impl FnMut(&dyn Fn(usize) -> String) -> Result<T, String>,
) -> Result<Vec<T>, Vec<String>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let row = i + 2;
        let parsed = match record {
            None => Err(empty.to_owned()),
            Some(record) => parse(&|c: usize| record.get(c).unwrap_or("").trim().to_owned()),
        };
        match parsed {
            Ok(r) => rows.push(r),
            Err(m) => errors.push(format!("{} {row}: {m}", t.import_row)),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(empty.to_owned());
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The fields of a multipart form, read up to the first one that cannot be read; `Err` as
/// soon as a field passes [`MAX_IMPORT_BYTES`].
pub(super) async fn multipart_fields(mut multipart: Multipart) -> Result<HashMap<String, Vec<u8>>, ()> {
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    'fields: while let Ok(Some(mut field)) = multipart.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() > MAX_IMPORT_BYTES => return Err(()),
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break,
                // Over the server's body limit: too large too.
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(()),
                Err(_) => break 'fields,
            }
        }
        fields.insert(name, bytes);
    }
    Ok(fields)
}

pub(super) async fn import_hamlets(State(state): State<AppState>, upload: Upload) -> Result<Response, Refusal> {
    import_reference(&state, upload, import_hamlets_into).await
}

/// Reads a hamlet CSV and adds its rows to `r` (a row with a known id replaces that hamlet),
/// or refuses the whole file: (audit action, detail, what to tell the user). The office's
/// import and `sotay-server hamlet import` both use it.
pub fn import_hamlets_into(
    t: &'static OfficeStrings,
    r: &mut ReferenceData,
    bytes: &[u8],
) -> Result<(&'static str, String, String), Vec<String>> {
    let hamlets = parse_hamlet_csv(t, bytes)?;
    let n = hamlets.len();
    let mut at: HashMap<String, usize> = r.hamlets.iter().enumerate().map(|(i, h)| (h.id.clone(), i)).collect();
    let new = hamlets.iter().filter(|h| !at.contains_key(&h.id)).count();
    if r.hamlets.len() + new > MAX_HAMLETS {
        return Err(vec![format!("{} {MAX_HAMLETS}.", t.too_many_hamlets)]);
    }
    for h in hamlets {
        match at.get(&h.id) {
            Some(&i) => r.hamlets[i] = h,
            None => {
                at.insert(h.id.clone(), r.hamlets.len());
                r.hamlets.push(h);
            }
        }
    }
    Ok(("hamlet.import", format!("{n} rows"), format!("{} {n}", t.imported)))
}

/// A CSV import of reference rows from a multipart form (with its CSRF token): `import`
/// parses the file whole and applies it, or refuses it with every row's error (leaving the
/// data untouched); it gives the audit entry's action and detail and what the page says.
pub(super) async fn import_reference(
    state: &AppState,
    Upload { o, fields }: Upload,
    import: impl FnOnce(&'static OfficeStrings, &mut ReferenceData, &[u8]) -> Result<(&'static str, String, String), Vec<String>>
        + Send
        + 'static,
) -> Result<Response, Refusal> {
    let t = o.t;
    let Some(mut fields) = fields else {
        let message = format!("{} {} KB.", t.import_too_large, MAX_IMPORT_BYTES / 1024);
        return change_reference(state, &o, move |_| Change::Refused(import_failed(t, &[message]))).await;
    };
    let file = fields.remove("file").unwrap_or_default();
    change_reference(state, &o, move |r| match import(t, r, &file) {
        Err(errors) => Change::Refused(import_failed(t, &errors)),
        Ok((action, detail, message)) => Change::Saved { action, detail, message, show: ListView::default() },
    })
    .await
}

fn import_failed(t: &OfficeStrings, errors: &[String]) -> Markup {
    html! { div.error role="alert" data-testid="form-error" { p { (t.import_failed) } ul { @for e in errors { li { (e) } } } } }
}

/// Reads a volunteer CSV as Excel writes it: `ma, ho_ten, thon` (the hamlet by id or name)
/// and an optional `to_truong` (team lead: x, 1, có/yes; empty, 0, không/no for not). Every
/// row is checked against the commune's hamlets, and any error refuses the whole file.
pub fn parse_volunteer_csv(t: &OfficeStrings, r: &ReferenceData, bytes: &[u8]) -> Result<Vec<Volunteer>, Vec<String>> {
    let (headers, records) = read_csv(t, bytes, MAX_VOLUNTEERS).map_err(|e| vec![e])?;
    let missing = || vec![t.volunteer_import_header_missing.to_owned()];
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(ci), Some(cn), Some(ch)) = (
        col(&["ma", "id", "ma_tnv"]),
        col(&["ho_ten", "ten", "name", "ho_va_ten"]),
        col(&["thon", "hamlet", "ma_thon", "hamlet_id", "ten_thon"]),
    ) else {
        return Err(missing());
    };
    let cl = col(&["to_truong", "lead", "team_lead"]);
    // Hamlets by id and by folded name, folded once rather than once per row.
    let by_id: HashMap<&str, &str> = r.hamlets.iter().map(|h| (h.id.as_str(), h.id.as_str())).collect();
    let mut by_name: HashMap<String, &str> = HashMap::new();
    for h in &r.hamlets {
        by_name.entry(fold::fold(&h.name)).or_insert(h.id.as_str());
    }
    csv_rows(t, records, t.volunteer_import_header_missing, |get| {
        let (id, name, hamlet) = (get(ci), get(cn), get(ch));
        if !id_ok(&id) || name.is_empty() || name.chars().count() > 100 {
            return Err(t.volunteer_invalid.to_owned());
        }
        let folded = fold::fold(&hamlet);
        let h = by_id
            .get(hamlet.as_str())
            .or_else(|| by_name.get(&folded).filter(|_| !folded.is_empty()))
            .ok_or_else(|| t.unknown_hamlet.to_owned())?;
        let lead = match cl.map(|c| fold::fold(&get(c))).as_deref() {
            None | Some("" | "0" | "khong" | "no" | "false") => false,
            Some("x" | "1" | "co" | "yes" | "true" | "\u{2713}") => true,
            Some(_) => return Err(t.lead_invalid.to_owned()),
        };
        Ok(Volunteer { id, name, hamlet_id: Some((*h).to_owned()), lead })
    })
}

/// What a file that is not UTF-8 CSV text seems to be, as the message to show; `None` for
/// UTF-8 text.
fn not_csv_text(t: &OfficeStrings, bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]) {
        // A zip (.xlsx) or an OLE2 compound file (.xls).
        Some(t.import_workbook)
    } else if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) || bytes.contains(&0) {
        Some(t.import_utf16)
    } else if std::str::from_utf8(bytes).is_err() {
        Some(t.import_not_utf8)
    } else {
        None
    }
}

/// A CSV file's folded header names and its rows (`None` for a row that cannot be read), at
/// most `max_rows` of them; `Err` says why the file cannot be read (not UTF-8, too many rows,
/// no header row). UTF-8 with or without BOM, `,` or `;`.
#[allow(clippy::type_complexity)]
pub(super) fn read_csv(
    t: &OfficeStrings,
    bytes: &[u8],
    max_rows: usize,
) -> Result<(Vec<String>, Vec<Option<csv::StringRecord>>), String> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(format!("{} {} KB.", t.import_too_large, MAX_IMPORT_BYTES / 1024));
    }
    if let Some(what) = not_csv_text(t, bytes) {
        return Err(what.to_owned());
    }
    let text = std::str::from_utf8(bytes).unwrap_or_default().trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| t.import_header_missing.to_owned())?
        .iter()
        .map(|s| fold::fold(s).replace(' ', "_"))
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        if rows.len() == max_rows {
            return Err(format!("{} {max_rows}.", t.import_too_many_rows));
        }
        rows.push(record.ok());
    }
    Ok((headers, rows))
}

pub(super) async fn import_volunteers(State(state): State<AppState>, upload: Upload) -> Result<Response, Refusal> {
    import_reference(&state, upload, import_volunteers_into).await
}

/// Reads a volunteer CSV and adds its rows to `r` (a known id replaces that volunteer), or
/// refuses the whole file: (audit action, detail, what to tell the user). The office's
/// import and `sotay-server volunteer import` both use it.
pub fn import_volunteers_into(
    t: &'static OfficeStrings,
    r: &mut ReferenceData,
    bytes: &[u8],
) -> Result<(&'static str, String, String), Vec<String>> {
    let volunteers = parse_volunteer_csv(t, r, bytes)?;
    let (n, leads) = (volunteers.len(), volunteers.iter().filter(|v| v.lead).count());
    let mut at: HashMap<String, usize> = r.volunteers.iter().enumerate().map(|(i, v)| (v.id.clone(), i)).collect();
    let new = volunteers.iter().filter(|v| !at.contains_key(&v.id)).count();
    if r.volunteers.len() + new > MAX_VOLUNTEERS {
        return Err(vec![format!("{} {MAX_VOLUNTEERS}.", t.too_many_volunteers)]);
    }
    for v in volunteers {
        match at.get(&v.id) {
            Some(&i) => r.volunteers[i] = v,
            None => {
                at.insert(v.id.clone(), r.volunteers.len());
                r.volunteers.push(v);
            }
        }
    }
    Ok(("volunteer.import", format!("{n} rows, {leads} leads"), format!("{} {n}", t.volunteers_imported)))
}
