//! The words of the commune's report ([`ReportStrings`]): coverage as of a day, and the
//! document the commune signs and sends (its header, sections and signature block follow
//! Decree 30/2020/NĐ-CP). Picked by the office page's language ([`for_office`]).

use super::office::{OfficeStrings, EN};

pub struct ReportStrings {
    /// Before a day: "Số liệu tính đến ngày 20/11/2026".
    pub as_of: &'static str,
    /// The label of the day field on the coverage page.
    pub as_of_field: &'static str,
    /// Links that set the day to 15/11 and 20/11 of this year.
    pub as_of_presets: [&'static str; 2],
    pub today: &'static str,
    /// The commune's report to the province (the document).
    pub report: &'static str,
    /// The records list: "N bản ghi · Trang 2/5", and the links to the pages around.
    pub records: &'static str,
    pub page: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
}

pub static VI: ReportStrings = ReportStrings {
    as_of: "Số liệu tính đến ngày",
    as_of_field: "Tính đến ngày",
    as_of_presets: ["Báo cáo đơn vị (đến 15/11)", "Báo cáo xã (đến 20/11)"],
    today: "Hôm nay",
    report: "Báo cáo của xã gửi tỉnh",
    records: "bản ghi",
    page: "Trang",
    previous: "← Trang trước",
    next: "Trang sau →",
};

pub static EN_REPORT: ReportStrings = ReportStrings {
    as_of: "Figures as of",
    as_of_field: "As of",
    as_of_presets: ["Unit report (to 15/11)", "Commune report (to 20/11)"],
    today: "Today",
    report: "The commune's report to the province",
    records: "records",
    page: "Page",
    previous: "← Previous page",
    next: "Next page →",
};

/// The report's words in the language of the office's words `t`.
pub fn for_office(t: &OfficeStrings) -> &'static ReportStrings {
    if std::ptr::eq(t, &EN) {
        &EN_REPORT
    } else {
        &VI
    }
}
