//! The commune's report ([`super::letter::Letter`]) as a Word document (docx-rs) the office
//! can still edit in Word or LibreOffice, laid out as Decree 30/2020/NĐ-CP lays out an
//! administrative document: A4, Times New Roman, margins 20 mm top and bottom, 30 mm left,
//! 15 mm right; the issuing body and number at the top left and the national title, motto,
//! place and date at the top right (a table without borders); the title centred in bold;
//! the body justified with a first-line indent; "Nơi nhận" at the bottom left and the
//! signature block at the bottom right.

use docx_rs::{
    AlignmentType, Docx, LineSpacing, PageMargin, Paragraph, Run, RunFonts, Table, TableCell, TableRow, WidthType,
};

use super::letter::{Block, Letter, MOTTO, NATION, SUBTITLE, TITLE};

/// Millimetres in twentieths of a point.
const fn mm(v: u32) -> u32 {
    v * 1440 * 10 / 254
}

/// The writable width of the page (A4, 210 mm, less 30 and 15 mm of margins).
const TEXT_WIDTH: usize = mm(165) as usize;

fn text(s: &str, size_pt: usize) -> Run {
    Run::new().add_text(s).size(size_pt * 2)
}

fn centred(run: Run) -> Paragraph {
    Paragraph::new().add_run(run).align(AlignmentType::Center)
}

fn cell(paragraphs: Vec<Paragraph>, width: usize) -> TableCell {
    paragraphs.into_iter().fold(TableCell::new().width(width, WidthType::Dxa), |c, p| c.add_paragraph(p))
}

/// The letter as DOCX bytes.
pub fn letter_docx(l: &Letter) -> Result<Vec<u8>, String> {
    let font = "Times New Roman";
    let mut doc = Docx::new()
        .page_size(mm(210), mm(297))
        .page_margin(
            PageMargin::new().top(mm(20) as i32).bottom(mm(20) as i32).left(mm(30) as i32).right(mm(15) as i32),
        )
        .default_fonts(RunFonts::new().ascii(font).hi_ansi(font).cs(font).east_asia(font))
        .default_size(28);

    // The header: issuing body and number | national title, motto, place and date.
    let left = mm(65) as usize;
    let right = TEXT_WIDTH - left;
    let header = Table::without_borders(vec![TableRow::new(vec![
        cell(
            vec![
                centred(text(&l.issuer[0], 13)),
                centred(text(&l.issuer[1], 13).bold()),
                centred(text("———", 13)),
                centred(text(&l.number, 13)),
            ],
            left,
        ),
        cell(
            vec![
                centred(text(NATION, 13).bold()),
                centred(text(MOTTO, 14).bold()),
                centred(text("———————————", 13)),
                centred(text(&l.place_date, 14).italic()),
            ],
            right,
        ),
    ])])
    .set_grid(vec![left, right])
    .width(TEXT_WIDTH, WidthType::Dxa);
    doc = doc.add_table(header);

    let spaced = |p: Paragraph, before: u32| p.line_spacing(LineSpacing::new().before(before).after(60));
    doc = doc
        .add_paragraph(spaced(centred(text(TITLE, 14).bold()), 360))
        .add_paragraph(centred(text(SUBTITLE, 14).bold()))
        .add_paragraph(spaced(centred(text(&l.as_of, 14).italic()), 0));

    for block in &l.body {
        doc = match block {
            Block::Heading(h) => {
                doc.add_paragraph(spaced(Paragraph::new().add_run(text(h, 14).bold()), 120).align(AlignmentType::Both))
            }
            Block::Text(t) => {
                doc.add_paragraph(spaced(Paragraph::new().add_run(text(t, 14)), 60).align(AlignmentType::Both).indent(
                    None,
                    Some(docx_rs::SpecialIndentType::FirstLine(mm(10) as i32)),
                    None,
                    None,
                ))
            }
            Block::Table { header, rows, total } => doc.add_table(figures(header, rows, total)),
        };
    }

    // "Nơi nhận" | the signature block.
    let half = TEXT_WIDTH / 2;
    let mut recipients = vec![Paragraph::new().add_run(text("Nơi nhận:", 12).bold().italic())];
    recipients.extend(l.recipients.iter().map(|r| Paragraph::new().add_run(text(r, 11))));
    let signature = vec![
        centred(text(&l.signer[0], 14).bold()),
        centred(text(&l.signer[1], 14).bold()),
        centred(text("(Ký, ghi rõ họ tên, đóng dấu)", 13).italic()),
    ];
    let foot = Table::without_borders(vec![TableRow::new(vec![cell(recipients, half), cell(signature, half)])])
        .set_grid(vec![half, half])
        .width(TEXT_WIDTH, WidthType::Dxa);
    doc = doc.add_paragraph(Paragraph::new()).add_table(foot);

    let mut out = std::io::Cursor::new(Vec::new());
    doc.build().pack(&mut out).map_err(|_| "the DOCX writer failed".to_owned())?;
    Ok(out.into_inner())
}

/// A table of figures with borders: a bold header, the rows, a bold total row; numbers on
/// the right.
fn figures(header: &[String], rows: &[Vec<String>], total: &[String]) -> Table {
    let columns = header.len().max(1);
    let width = TEXT_WIDTH / columns;
    let line = |cells: &[String], bold: bool| {
        TableRow::new(
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let numeric = i > 0 && c.chars().next().is_some_and(|ch| ch.is_ascii_digit());
                    let run = if bold { text(c, 12).bold() } else { text(c, 12) };
                    let p = Paragraph::new().add_run(run).align(if numeric {
                        AlignmentType::Right
                    } else {
                        AlignmentType::Left
                    });
                    cell(vec![p], width)
                })
                .collect(),
        )
    };
    let mut table_rows = vec![line(header, true)];
    table_rows.extend(rows.iter().map(|r| line(r, false)));
    table_rows.push(line(total, true));
    Table::new(table_rows).set_grid(vec![width; columns]).width(TEXT_WIDTH, WidthType::Dxa)
}
