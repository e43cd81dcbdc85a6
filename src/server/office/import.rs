//! CSV imports of hamlets and volunteers, as Excel writes them: the whole file is checked
//! and one bad row refuses it with every row's problem listed.

use super::*;

/// Reads a hamlet CSV as Excel writes it (UTF-8 with or without BOM, `,` or `;`); every
/// row is checked, and any error refuses the whole file.
pub fn parse_hamlet_csv(t: &OfficeStrings, bytes: &[u8]) -> Result<Vec<Hamlet>, Vec<String>> {
    let (headers, records) = read_csv(bytes).ok_or_else(|| vec![t.import_header_missing.to_owned()])?;
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
        if id.is_empty() || id.len() > 64 {
            return Err(t.name_required.to_owned());
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

/// The fields of a multipart form, read up to the first one that cannot be read.
pub(super) async fn multipart_fields(mut multipart: Multipart) -> HashMap<String, Vec<u8>> {
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        let Ok(bytes) = field.bytes().await else { break };
        fields.insert(name, bytes.to_vec());
    }
    fields
}

pub(super) async fn import_hamlets(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, Refusal> {
    let apply = |r: &mut ReferenceData, hamlets: Vec<Hamlet>| {
        let n = hamlets.len();
        for h in hamlets {
            match r.hamlets.iter_mut().find(|x| x.id == h.id) {
                Some(x) => *x = h,
                None => r.hamlets.push(h),
            }
        }
        format!("{n} rows")
    };
    let parse = |t: &'static OfficeStrings, _: &ReferenceData, bytes: &[u8]| parse_hamlet_csv(t, bytes);
    import_reference(&state, &headers, multipart, "hamlet.import", |t| t.imported, parse, apply).await
}

/// A CSV import of reference rows from a multipart form (with its CSRF token): the file is
/// parsed whole and one bad row refuses it with every row's error; otherwise the rows are
/// applied, saved and audited (`apply` gives the audit detail), and the page says how many.
pub(super) async fn import_reference<T>(
    state: &AppState,
    headers: &HeaderMap,
    multipart: Multipart,
    action: &str,
    done: fn(&'static OfficeStrings) -> &'static str,
    parse: impl FnOnce(&'static OfficeStrings, &ReferenceData, &[u8]) -> Result<Vec<T>, Vec<String>>,
    apply: impl FnOnce(&mut ReferenceData, Vec<T>) -> String,
) -> Result<Response, Refusal> {
    let o = office(state, headers)?;
    let t = o.t;
    let fields = multipart_fields(multipart).await;
    let csrf = fields.get("csrf").and_then(|b| std::str::from_utf8(b).ok()).map(str::to_owned);
    check_csrf(&o, csrf.as_deref())?;
    let mut r = state.db.commune(&o.session.commune)?;
    match parse(t, &r, fields.get("file").map(Vec::as_slice).unwrap_or(&[])) {
        Err(errors) => {
            let notice = html! { div.error role="alert" data-testid="form-error" { p { (t.import_failed) } ul { @for e in &errors { li { (e) } } } } };
            Ok((StatusCode::BAD_REQUEST, page(&o, 3, hamlets_body(&o, &r, Some(notice)))).into_response())
        }
        Ok(rows) => {
            let n = rows.len();
            let detail = apply(&mut r, rows);
            state.db.put_commune(&r)?;
            state.db.audit(&o.session, action, &detail, Utc::now())?;
            Ok(page(&o, 3, hamlets_body(&o, &r, Some(notice_ok(&format!("{} {n}", done(t)))))).into_response())
        }
    }
}

/// Reads a volunteer CSV as Excel writes it: `ma, ho_ten, thon` (the hamlet by id or name)
/// and an optional `to_truong` (team lead: x, 1, có/yes; empty, 0, không/no for not). Every
/// row is checked against the commune's hamlets, and any error refuses the whole file.
pub fn parse_volunteer_csv(
    t: &OfficeStrings,
    r: &ReferenceData,
    bytes: &[u8],
) -> Result<Vec<crate::domain::Volunteer>, Vec<String>> {
    let missing = || vec![t.volunteer_import_header_missing.to_owned()];
    let (headers, records) = read_csv(bytes).ok_or_else(missing)?;
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(ci), Some(cn), Some(ch)) = (
        col(&["ma", "id", "ma_tnv"]),
        col(&["ho_ten", "ten", "name", "ho_va_ten"]),
        col(&["thon", "hamlet", "ma_thon", "hamlet_id", "ten_thon"]),
    ) else {
        return Err(missing());
    };
    let cl = col(&["to_truong", "lead", "team_lead"]);
    csv_rows(t, records, t.volunteer_import_header_missing, |get| {
        let (id, name, hamlet) = (get(ci), get(cn), get(ch));
        if !volunteer_id_ok(&id) || name.is_empty() || name.chars().count() > 100 {
            return Err(t.volunteer_invalid.to_owned());
        }
        let folded = crate::domain::fold::fold(&hamlet);
        let h = r
            .hamlets
            .iter()
            .find(|h| h.id == hamlet || (!folded.is_empty() && crate::domain::fold::fold(&h.name) == folded))
            .ok_or_else(|| t.unknown_hamlet.to_owned())?;
        let lead = match cl.map(|c| crate::domain::fold::fold(&get(c))).as_deref() {
            None | Some("" | "0" | "khong" | "no" | "false") => false,
            Some("x" | "1" | "co" | "yes" | "true" | "\u{2713}") => true,
            Some(_) => return Err(t.lead_invalid.to_owned()),
        };
        Ok(crate::domain::Volunteer { id, name, hamlet_id: Some(h.id.clone()), lead })
    })
}

/// A CSV file's folded header names and its rows (`None` for a row that cannot be read);
/// `None` when the file is not UTF-8 or has no header row. UTF-8 with or without BOM,
/// `,` or `;`.
pub(super) fn read_csv(bytes: &[u8]) -> Option<(Vec<String>, Vec<Option<csv::StringRecord>>)> {
    let text = std::str::from_utf8(bytes).ok()?.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().ok()?.iter().map(|s| crate::domain::fold::fold(s).replace(' ', "_")).collect();
    Some((headers, reader.records().map(Result::ok).collect()))
}

pub(super) async fn import_volunteers(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, Refusal> {
    let apply = |r: &mut ReferenceData, volunteers: Vec<crate::domain::Volunteer>| {
        let n = volunteers.len();
        let leads = volunteers.iter().filter(|v| v.lead).count();
        for v in volunteers {
            put_volunteer(r, v);
        }
        format!("{n} rows, {leads} leads")
    };
    let done = |t: &'static OfficeStrings| t.volunteers_imported;
    import_reference(&state, &headers, multipart, "volunteer.import", done, parse_volunteer_csv, apply).await
}
