//! The units' reports in the commune's report ([`crate::letter`]): what the submitted and
//! accepted reports of the year entered is summed into the sections it belongs to — mass
//! media and meetings under 2.1 (outreach), registrations and completions on
//! binhdanhocvuso.gov.vn or a MOOC under 2.3 — and section 1 says how many units reported
//! (on time) with a table of them and their narratives. Counts and the units' own words
//! only, never a person's name.

use chrono::NaiveDate;

use crate::db::units::{Timeliness, UnitEntry, UnitReport, UnitRow};
use crate::letter::{count, Block, Letter, PLATFORM_BLANK};

/// What the letter needs of the units: every unit with its report, and the deadline.
pub struct UnitsInLetter {
    pub reports: Vec<(UnitRow, UnitReport)>,
    pub deadline: NaiveDate,
}

impl UnitsInLetter {
    /// The sums of the reports that count (submitted or accepted), and how many those are.
    pub fn sums(&self) -> (UnitEntry, usize) {
        let mut sum = UnitEntry::default();
        let mut n = 0;
        for (_, r) in self.reports.iter().filter(|(_, r)| r.status.counts()) {
            let e = &r.entry;
            sum.staff_registered += e.staff_registered;
            sum.staff_completed += e.staff_completed;
            sum.people_registered += e.people_registered;
            sum.people_completed += e.people_completed;
            sum.media_items += e.media_items;
            sum.meetings += e.meetings;
            sum.meeting_reach += e.meeting_reach;
            n += 1;
        }
        (sum, n)
    }
}

fn position(l: &Letter, heading: &str) -> Option<usize> {
    l.body.iter().position(|b| matches!(b, Block::Heading(h) if h.starts_with(heading)))
}

/// Puts the units' figures in the letter (nothing when the commune has no unit).
pub fn add_units(l: &mut Letter, units: &UnitsInLetter) {
    if units.reports.is_empty() {
        return;
    }
    let (s, counted) = units.sums();
    let total = units.reports.len();
    let on_time = units.reports.iter().filter(|(_, r)| r.timeliness(units.deadline) == Timeliness::OnTime).count();
    // 2.3: the platform's figures.
    if let Some(b) = l.body.iter_mut().find(|b| matches!(b, Block::Text(t) if t == PLATFORM_BLANK)) {
        *b = Block::Text(format!(
            "Theo báo cáo của {counted}/{total} đơn vị: {} cán bộ, công chức đăng ký học trên nền tảng \
             binhdanhocvuso.gov.vn và các khóa học trực tuyến (MOOCs), {} người hoàn thành; {} người dân đăng ký \
             học, {} người hoàn thành.",
            count(s.staff_registered),
            count(s.staff_completed),
            count(s.people_registered),
            count(s.people_completed)
        ));
    }
    // 2.1: mass media and meetings, after the section's figures from the records.
    if let Some(at) = position(l, "2.2.") {
        l.body.insert(
            at,
            Block::Text(format!(
                "Các đơn vị đăng {} tin, bài trên phương tiện thông tin đại chúng và lồng ghép tuyên truyền tại {} \
                 hội nghị, cuộc họp với {} người tham dự.",
                count(s.media_items),
                count(s.meetings),
                count(s.meeting_reach)
            )),
        );
    }
    // 1: who reported, and what they wrote.
    if let Some(at) = position(l, "2. ") {
        let mut blocks = vec![
            Block::Text(format!(
                "Có {counted}/{total} đơn vị đã gửi báo cáo ({on_time} đơn vị đúng hạn {}).",
                units.deadline.format("%d/%m/%Y")
            )),
            Block::Table {
                header: vec![
                    "Đơn vị".into(),
                    "Tình trạng".into(),
                    "CBCC đăng ký / hoàn thành".into(),
                    "Người dân đăng ký / hoàn thành".into(),
                    "Tin, bài".into(),
                    "Hội nghị".into(),
                ],
                rows: units
                    .reports
                    .iter()
                    .map(|(u, r)| {
                        let e = &r.entry;
                        let shown = r.status.counts();
                        let pair =
                            |a: u32, b: u32| if shown { format!("{} / {}", count(a), count(b)) } else { "—".into() };
                        let one = |a: u32| if shown { count(a) } else { "—".into() };
                        vec![
                            u.name.clone(),
                            crate::i18n::units::status(r.status.code()).into(),
                            pair(e.staff_registered, e.staff_completed),
                            pair(e.people_registered, e.people_completed),
                            one(e.media_items),
                            one(e.meetings),
                        ]
                    })
                    .collect(),
                total: vec![
                    "Tổng cộng".into(),
                    format!("{counted}/{total}"),
                    format!("{} / {}", count(s.staff_registered), count(s.staff_completed)),
                    format!("{} / {}", count(s.people_registered), count(s.people_completed)),
                    count(s.media_items),
                    count(s.meetings),
                ],
            },
        ];
        for (u, r) in units.reports.iter().filter(|(_, r)| r.status.counts() && !r.entry.narrative.is_empty()) {
            blocks.push(Block::Text(format!("- {}: {}", u.name, r.entry.narrative)));
        }
        l.body.splice(at..at, blocks);
    }
}
