//! The reports as files for the deadline: XLSX with Vietnamese headers and number formats,
//! and CSV (UTF-8 with a byte-order mark, so Excel reads the diacritics; `;` between cells
//! and a decimal comma, as Excel set to Vietnamese opens it). Counts only. Every file says
//! the day its figures are as of ("Số liệu tính đến ngày", its first line).
//! An error is worded by the writer that failed, never by its text (which can quote a cell).
//!
//! Both are safe to open in Excel: XLSX cells are written as strings and numbers only, never
//! formulas, and a CSV cell that a spreadsheet would read as a formula (it starts with `=`,
//! `+`, `-`, `@`, a tab or a carriage return, or their full-width forms) gets a `'` in
//! front, as OWASP's advice on CSV injection says; numbers stay numbers.

use chrono::NaiveDate;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::province::ProvinceActivity;
use super::reports::{ActivityReport, CoverageReport};
use crate::i18n::office::OfficeStrings;

fn xlsx_error(_: XlsxError) -> String {
    "the XLSX writer failed".into()
}

fn csv_error(_: csv::Error) -> String {
    "the CSV writer failed".into()
}

/// The coverage report as an XLSX workbook.
pub fn coverage_xlsx(r: &CoverageReport, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    coverage_sheet(r, t, t.sheet_coverage, t.coverage_title, t.coverage_headers[0], t.commune_total)
}

/// The province's coverage (a line per commune, `province::province_coverage`) as an XLSX
/// workbook.
pub fn province_coverage_xlsx(r: &CoverageReport, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    let p = t.province;
    coverage_sheet(r, t, p.sheet_communes, p.coverage_title, p.commune_header, p.province_total)
}

fn coverage_sheet(
    r: &CoverageReport,
    t: &OfficeStrings,
    sheet: &str,
    title: &str,
    first_header: &str,
    total_label: &str,
) -> Result<Vec<u8>, String> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_text_wrap();
    let int = Format::new().set_num_format("#,##0");
    let pct = Format::new().set_num_format("0.0%");
    let ws = wb.add_worksheet();
    ws.set_name(sheet).map_err(xlsx_error)?;
    ws.write_string(0, 0, format!("{title} — {}", r.commune.name)).map_err(xlsx_error)?;
    ws.write_string(1, 0, format!("{} {}%", t.target_label, r.target_percent)).map_err(xlsx_error)?;
    ws.write_string(2, 0, as_of(t, r.as_of)).map_err(xlsx_error)?;
    for (c, h) in std::iter::once(first_header).chain(t.coverage_headers.iter().skip(1).copied()).enumerate() {
        ws.write_string_with_format(3, c as u16, h, &bold).map_err(xlsx_error)?;
    }
    let last = r.rows.len();
    for (row, (i, line)) in (4u32..).zip(r.rows.iter().chain(std::iter::once(&r.total)).enumerate()) {
        let label = if i == last { total_label } else { line.name.as_str() };
        ws.write_string(row, 0, label).map_err(xlsx_error)?;
        for (c, v) in
            [line.adult_population, line.baseline_signed, line.helped_signed, line.signed].into_iter().enumerate()
        {
            ws.write_number_with_format(row, 1 + c as u16, v as f64, &int).map_err(xlsx_error)?;
        }
        ws.write_number_with_format(row, 5, line.percent / 100.0, &pct).map_err(xlsx_error)?;
        ws.write_number_with_format(row, 6, line.still_needed as f64, &int).map_err(xlsx_error)?;
        ws.write_string(row, 7, &line.hamlet_id).map_err(xlsx_error)?;
    }
    ws.write_string_with_format(3, 7, code_header(t), &bold).map_err(xlsx_error)?;
    ws.set_column_width(0, 28).map_err(xlsx_error)?;
    for c in 1..7 {
        ws.set_column_width(c, 16).map_err(xlsx_error)?;
    }
    wb.save_to_buffer().map_err(xlsx_error)
}

/// The activity report as an XLSX workbook: totals, outcomes, reasons, channels, hamlets,
/// volunteers.
pub fn activity_xlsx(r: &ActivityReport, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_text_wrap();
    let int = Format::new().set_num_format("#,##0");
    let pct = Format::new().set_num_format("0.0%");
    let period = format!("{} {} – {}", t.period, r.from.format("%d/%m/%Y"), r.to.format("%d/%m/%Y"));

    let ws = wb.add_worksheet();
    ws.set_name(t.sheet_activity).map_err(xlsx_error)?;
    ws.write_string(0, 0, format!("{} — {}", t.activity_title, r.commune.name)).map_err(xlsx_error)?;
    ws.write_string(1, 0, &period).map_err(xlsx_error)?;
    ws.write_string(2, 0, as_of(t, activity_as_of(r))).map_err(xlsx_error)?;
    let mut row = 3u32;
    for (label, value) in t.total_labels.iter().zip(counts(&r.totals)) {
        ws.write_string(row, 0, *label).map_err(xlsx_error)?;
        ws.write_number_with_format(row, 1, value as f64, &int).map_err(xlsx_error)?;
        row += 1;
    }
    let outcomes: Vec<_> = r.outcomes.iter().map(|(o, n)| (t.labels.outcomes[o.index()], *n)).collect();
    let reasons: Vec<_> = r.failure_reasons.iter().map(|(f, n)| (t.labels.failure_reasons[f.index()], *n)).collect();
    for (heading, lines, of) in [
        (t.outcomes_heading, outcomes, r.totals.signature_sessions),
        (t.reasons_heading, reasons, r.totals.not_completed),
    ] {
        row += 1;
        for (c, h) in [heading, t.count_header, t.share_header].into_iter().enumerate() {
            ws.write_string_with_format(row, c as u16, h, &bold).map_err(xlsx_error)?;
        }
        row += 1;
        for (label, n) in lines {
            ws.write_string(row, 0, label).map_err(xlsx_error)?;
            ws.write_number_with_format(row, 1, n as f64, &int).map_err(xlsx_error)?;
            ws.write_number_with_format(row, 2, n as f64 / of.max(1) as f64, &pct).map_err(xlsx_error)?;
            row += 1;
        }
    }
    row += 1;
    for (c, h) in t.channel_headers.iter().enumerate() {
        ws.write_string_with_format(row, c as u16, *h, &bold).map_err(xlsx_error)?;
    }
    row += 1;
    for ch in &r.channels {
        let label =
            crate::domain::Channel::from_code(&ch.channel).map(|c| t.labels.channels[c.index()]).unwrap_or(&ch.channel);
        ws.write_string(row, 0, label).map_err(xlsx_error)?;
        for (c, v) in [ch.activities as f64, ch.quantity as f64, ch.reach as f64].into_iter().enumerate() {
            ws.write_number_with_format(row, 1 + c as u16, v, &int).map_err(xlsx_error)?;
        }
        row += 1;
    }
    ws.set_column_width(0, 40).map_err(xlsx_error)?;
    ws.set_column_width(1, 14).map_err(xlsx_error)?;
    ws.set_column_width(2, 14).map_err(xlsx_error)?;
    ws.set_column_width(3, 14).map_err(xlsx_error)?;

    for (name, first, rows) in
        [(t.sheet_hamlets, t.hamlet_header, &r.by_hamlet), (t.sheet_volunteers, t.volunteer_header, &r.by_volunteer)]
    {
        let ws = wb.add_worksheet();
        ws.set_name(name).map_err(xlsx_error)?;
        ws.write_string(0, 0, &period).map_err(xlsx_error)?;
        ws.write_string_with_format(2, 0, first, &bold).map_err(xlsx_error)?;
        for (c, h) in t.total_labels.iter().enumerate() {
            ws.write_string_with_format(2, 1 + c as u16, *h, &bold).map_err(xlsx_error)?;
        }
        let code_col = 1 + t.total_labels.len() as u16;
        ws.write_string_with_format(2, code_col, code_header(t), &bold).map_err(xlsx_error)?;
        for (i, (id, label, c)) in rows.iter().enumerate() {
            let row = 3 + i as u32;
            ws.write_string(row, 0, label).map_err(xlsx_error)?;
            for (col, v) in counts(c).into_iter().enumerate() {
                ws.write_number_with_format(row, 1 + col as u16, v as f64, &int).map_err(xlsx_error)?;
            }
            ws.write_string(row, code_col, id).map_err(xlsx_error)?;
        }
        // The commune's total under the rows.
        let row = 3 + rows.len() as u32;
        ws.write_string_with_format(row, 0, t.commune_total, &bold).map_err(xlsx_error)?;
        for (col, v) in counts(&r.totals).into_iter().enumerate() {
            ws.write_number_with_format(row, 1 + col as u16, v as f64, &int).map_err(xlsx_error)?;
        }
        ws.set_column_width(0, 28).map_err(xlsx_error)?;
    }
    wb.save_to_buffer().map_err(xlsx_error)
}

/// The totals in the order of `OfficeStrings::total_labels`.
pub fn counts(c: &super::reports::ActivityCounts) -> [u32; 12] {
    [
        c.visits,
        c.visit_people,
        c.signature_sessions,
        c.signature_people,
        c.signed,
        c.not_completed,
        c.trainings,
        c.attendance,
        c.women,
        c.minority,
        c.outreach,
        c.person_times,
    ]
}

/// A CSV cell as a spreadsheet may read it: a cell it would take for a formula gets a `'`
/// in front; a number (`-3`, `12.5`) is left as it is.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠']);
    let number = {
        let digits = cell.strip_prefix('-').unwrap_or(cell);
        let mut parts = digits.splitn(2, ['.', ',']);
        let whole = parts.next().unwrap_or("");
        let frac = parts.next();
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    if formula && !number {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A share with one decimal and a decimal comma ("38,1"), as Vietnamese Excel reads it.
pub fn decimal(v: f64) -> String {
    format!("{v:.1}").replace('.', ",")
}

/// Rows as CSV for Vietnamese Excel: UTF-8 with a byte-order mark, `;` between cells (the
/// list separator where the comma is the decimal mark), shares with a decimal comma.
fn csv_bytes(rows: Vec<Vec<String>>) -> Result<Vec<u8>, String> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::WriterBuilder::new().delimiter(b';').flexible(true).from_writer(&mut out);
        for r in rows {
            w.write_record(r.iter().map(|c| csv_cell(c).into_owned())).map_err(csv_error)?;
        }
        w.flush().map_err(|_| "the CSV writer failed".to_owned())?;
    }
    Ok(out)
}

/// "Số liệu tính đến ngày dd/mm/yyyy", the first line of every export.
pub fn as_of(t: &OfficeStrings, day: NaiveDate) -> String {
    format!("{} {}", crate::i18n::report::for_office(t).as_of, day.format("%d/%m/%Y"))
}

/// The day an activity report's figures are as of: its last day, or today if that is later.
pub fn activity_as_of(r: &ActivityReport) -> NaiveDate {
    r.to.min(super::asof::vn_today())
}

pub fn coverage_csv(r: &CoverageReport, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    coverage_rows_csv(r, t, t.coverage_headers[0], t.commune_total)
}

/// A coverage report as CSV: the as-of line, the header (`first` over the names), a line
/// per hamlet or commune and the total (named `total`) last, the codes in the last column.
fn coverage_rows_csv(r: &CoverageReport, t: &OfficeStrings, first: &str, total: &str) -> Result<Vec<u8>, String> {
    let mut header = vec![first.to_owned()];
    header.extend(t.coverage_headers.iter().skip(1).map(|h| h.to_string()));
    header.push(code_header(t).to_owned());
    let mut rows = vec![vec![as_of(t, r.as_of)], header];
    let last = r.rows.len();
    for (i, l) in r.rows.iter().chain(std::iter::once(&r.total)).enumerate() {
        rows.push(vec![
            if i == last { total.to_owned() } else { l.name.clone() },
            l.adult_population.to_string(),
            l.baseline_signed.to_string(),
            l.helped_signed.to_string(),
            l.signed.to_string(),
            decimal(l.percent),
            l.still_needed.to_string(),
            l.hamlet_id.clone(),
        ]);
    }
    csv_bytes(rows)
}

/// A line of activity counts for a CSV: its name, the counts, its code (none on a total).
fn counts_line(name: &str, c: &super::reports::ActivityCounts, code: &str) -> Vec<String> {
    let mut line = vec![name.to_owned()];
    line.extend(counts(c).iter().map(|v| v.to_string()));
    if !code.is_empty() {
        line.push(code.to_owned());
    }
    line
}

/// The header of the code column, last in every table of an export ("Mã").
fn code_header(t: &OfficeStrings) -> &'static str {
    if t.lang_code == "vi" {
        "Mã"
    } else {
        "Code"
    }
}

pub fn activity_csv(r: &ActivityReport, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    let mut header = vec![t.hamlet_header.to_owned()];
    header.extend(t.total_labels.iter().map(|s| s.to_string()));
    header.push(code_header(t).to_owned());
    let mut rows = vec![vec![as_of(t, activity_as_of(r))]];
    // Why sessions were not completed, then the hamlets with the commune's total last.
    rows.push(vec![t.reasons_heading.to_owned(), t.count_header.to_owned()]);
    for (f, n) in &r.failure_reasons {
        rows.push(vec![t.labels.failure_reasons[f.index()].to_owned(), n.to_string()]);
    }
    rows.push(vec![t.commune_total.to_owned(), r.totals.not_completed.to_string()]);
    rows.push(header);
    rows.extend(r.by_hamlet.iter().map(|(id, label, c)| counts_line(label, c, id)));
    rows.push(counts_line(t.commune_total, &r.totals, ""));
    csv_bytes(rows)
}

/// The province's coverage (a line per commune) as CSV.
pub fn province_coverage_csv(r: &CoverageReport, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    coverage_rows_csv(r, t, t.province.commune_header, t.province.province_total)
}

/// The province's activity (a line per commune and the province's total) as an XLSX workbook.
pub fn province_activity_xlsx(a: &ProvinceActivity, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_text_wrap();
    let int = Format::new().set_num_format("#,##0");
    let ws = wb.add_worksheet();
    ws.set_name(t.province.sheet_communes).map_err(xlsx_error)?;
    ws.write_string(0, 0, format!("{} — {}", t.province.activity_title, a.province_name)).map_err(xlsx_error)?;
    let period = format!("{} {} – {}", t.period, a.from.format("%d/%m/%Y"), a.to.format("%d/%m/%Y"));
    ws.write_string(1, 0, &period).map_err(xlsx_error)?;
    ws.write_string(2, 0, as_of(t, a.to.min(super::asof::vn_today()))).map_err(xlsx_error)?;
    ws.write_string_with_format(3, 0, t.province.commune_header, &bold).map_err(xlsx_error)?;
    for (c, h) in t.total_labels.iter().enumerate() {
        ws.write_string_with_format(3, 1 + c as u16, *h, &bold).map_err(xlsx_error)?;
    }
    let total = (String::new(), t.province.province_total.to_owned(), a.total.clone());
    for (row, (_, name, c)) in (4u32..).zip(a.rows.iter().chain(std::iter::once(&total))) {
        ws.write_string(row, 0, name).map_err(xlsx_error)?;
        for (col, v) in counts(c).into_iter().enumerate() {
            ws.write_number_with_format(row, 1 + col as u16, v as f64, &int).map_err(xlsx_error)?;
        }
    }
    ws.set_column_width(0, 32).map_err(xlsx_error)?;
    wb.save_to_buffer().map_err(xlsx_error)
}

/// The province's activity as CSV.
pub fn province_activity_csv(a: &ProvinceActivity, t: &OfficeStrings) -> Result<Vec<u8>, String> {
    let mut header = vec![t.province.commune_header.to_owned()];
    header.extend(t.total_labels.iter().map(|s| s.to_string()));
    header.push(code_header(t).to_owned());
    let mut rows = vec![vec![as_of(t, a.to.min(super::asof::vn_today()))], header];
    rows.extend(a.rows.iter().map(|(code, name, c)| counts_line(name, c, code)));
    rows.push(counts_line(t.province.province_total, &a.total, ""));
    csv_bytes(rows)
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn a_cell_a_spreadsheet_would_run_gets_a_quote_and_numbers_stay_numbers() {
        for bad in ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "＝1+1", "-", "-1e5"] {
            assert_eq!(csv_cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for fine in ["Thôn 1", "12", "-3", "12.5", "-0.5", "", "a=b", "Làng Plei Rơng"] {
            assert_eq!(csv_cell(fine), fine, "{fine:?}");
        }
    }
}
