//! The commune's report to the province, "Báo cáo kết quả thực hiện phong trào Bình dân học
//! vụ số", as content: the parts of a Vietnamese administrative document (Decree
//! 30/2020/NĐ-CP: national title and motto, issuing body, number, place and date, title, body,
//! "Nơi nhận", signature block) with the body's sections following the letter's points 1–4
//! and the figures filled in. `docx` lays it out as a Word document and the office's print
//! view as a page, so both say the same. Counts only, never a name.
//!
//! What the server cannot know (the plan's number and date, registrations on
//! binhdanhocvuso.gov.vn, the narrative, the signer) is left as "…" for the office to fill in
//! in Word or LibreOffice.

use chrono::{Datelike, NaiveDate};

use super::export::decimal;
use super::reports::{ActivityReport, CoverageReport};
use crate::domain::{Channel, FailureReason};
use crate::i18n::office::VI;

pub const NATION: &str = "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM";
pub const MOTTO: &str = "Độc lập - Tự do - Hạnh phúc";
pub const TITLE: &str = "BÁO CÁO";
pub const SUBTITLE: &str = "Kết quả thực hiện phong trào Bình dân học vụ số";
/// Section 2.3 before the units' figures fill it (`unit_letter`).
pub const PLATFORM_BLANK: &str = "Số cán bộ, công chức và người dân đăng ký học: …; số người hoàn thành khóa học: …";

/// One part of the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading ("I. KẾT QUẢ THỰC HIỆN", "2.1. Công tác tuyên truyền").
    Heading(String),
    Text(String),
    /// A table of figures: the header, the rows, and the total row.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        total: Vec<String>,
    },
}

/// The whole document.
#[derive(Debug, Clone, PartialEq)]
pub struct Letter {
    /// The issuing body, in its two lines ("ỦY BAN NHÂN DÂN", "XÃ KON BRAIH").
    pub issuer: [String; 2],
    pub number: String,
    /// "Kon Braih, ngày 20 tháng 11 năm 2026".
    pub place_date: String,
    /// "(Số liệu tính đến ngày 20/11/2026)", under the title.
    pub as_of: String,
    pub body: Vec<Block>,
    pub recipients: Vec<String>,
    /// "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH".
    pub signer: [String; 2],
}

/// A count with dots between thousands ("1.234"), as Vietnamese writes it.
pub fn count(n: impl Into<u64>) -> String {
    let s = n.into().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A share in percent with a decimal comma ("38,1%").
pub fn percent(v: f64) -> String {
    format!("{}%", decimal(v))
}

/// "ngày 05 tháng 02 năm 2026": days below 10 and the months January and February with a
/// leading zero, as Decree 30 writes dates.
pub fn long_date(d: NaiveDate) -> String {
    let month = if d.month() < 3 { format!("{:02}", d.month()) } else { d.month().to_string() };
    format!("ngày {:02} tháng {month} năm {}", d.day(), d.year())
}

/// The commune's name without "Xã"/"Phường"/"Thị trấn", as the place before the date.
fn place(commune: &str) -> &str {
    for prefix in ["Xã ", "Phường ", "Thị trấn ", "Đặc khu "] {
        if let Some(rest) = commune.strip_prefix(prefix) {
            return rest;
        }
    }
    commune
}

/// The report of a commune: coverage as of the report's day, activity for its period.
pub fn commune_letter(cov: &CoverageReport, act: &ActivityReport, province_name: &str) -> Letter {
    let name = cov.commune.name.as_str();
    let day = cov.as_of;
    let a = &act.totals;
    let period = format!("từ ngày {} đến ngày {}", act.from.format("%d/%m/%Y"), act.to.format("%d/%m/%Y"));
    let mut body = vec![
        Block::Text(format!(
            "Thực hiện Kế hoạch của Ủy ban nhân dân xã về triển khai phong trào “Bình dân học vụ số”, Ủy ban nhân dân \
             {name} báo cáo kết quả thực hiện {period} như sau:"
        )),
        Block::Heading("I. KẾT QUẢ THỰC HIỆN".into()),
        Block::Heading("1. Công tác ban hành kế hoạch, chỉ đạo, điều hành".into()),
        Block::Text(
            "Ủy ban nhân dân xã đã ban hành Kế hoạch số …/KH-UBND ngày … triển khai phong trào “Bình dân học vụ số” \
             trên địa bàn xã; giao các đơn vị, Tổ công nghệ số cộng đồng các thôn thực hiện …"
                .into(),
        ),
        Block::Heading("2. Kết quả thực hiện các nhiệm vụ".into()),
        Block::Heading("2.1. Công tác tuyên truyền".into()),
    ];
    let outreach_reach: u64 = act.channels.iter().map(|c| c.reach).sum();
    let outreach_quantity: u64 = act.channels.iter().map(|c| c.quantity).sum();
    body.push(Block::Text(format!(
        "Tổ chức {} hoạt động tuyên truyền, ước tính tiếp cận {} lượt người.",
        count(a.outreach),
        count(outreach_reach)
    )));
    body.push(Block::Table {
        header: vec!["Hình thức".into(), "Số hoạt động".into(), "Số lượng".into(), "Số người tiếp cận".into()],
        rows: act
            .channels
            .iter()
            .map(|c| {
                let label = Channel::from_code(&c.channel)
                    .map(|ch| VI.labels.channels[ch.index()].to_owned())
                    .unwrap_or(c.channel.clone());
                vec![label, count(c.activities), count(c.quantity), count(c.reach)]
            })
            .collect(),
        total: vec!["Tổng cộng".into(), count(a.outreach), count(outreach_quantity), count(outreach_reach)],
    });
    body.push(Block::Heading("2.2. Tổ chức tập huấn, bồi dưỡng kỹ năng số".into()));
    body.push(Block::Text(format!(
        "Tổ chức {} lớp tập huấn, buổi lồng ghép sinh hoạt thôn và hỗ trợ tập trung với {} lượt người tham dự, \
         trong đó {} lượt nữ và {} lượt người dân tộc thiểu số.",
        count(a.trainings),
        count(a.attendance),
        count(a.women),
        count(a.minority)
    )));
    body.push(Block::Heading("2.3. Sử dụng nền tảng binhdanhocvuso.gov.vn và các khóa học trực tuyến (MOOCs)".into()));
    body.push(Block::Text(PLATFORM_BLANK.into()));
    body.push(Block::Heading("3. Hỗ trợ trực tiếp của Tổ công nghệ số cộng đồng tại thôn".into()));
    body.push(Block::Text(format!(
        "Các Tổ công nghệ số cộng đồng đã đến {} hộ gia đình, hỗ trợ {} lượt người; hướng dẫn đăng ký chữ ký số \
         trên VNeID {} lượt cho {} người, trong đó {} lượt thành công và {} lượt chưa hoàn thành.",
        count(a.visits),
        count(a.visit_people),
        count(a.signature_sessions),
        count(a.signature_people),
        count(a.signed),
        count(a.not_completed)
    )));
    body.push(Block::Text(format!(
        "Trong số lượt thành công: {} nữ, {} nam; {} người dân tộc thiểu số; {} lượt có số định danh cá nhân và {} \
         lượt không có. Kích hoạt tài khoản định danh điện tử mức 2 cho {} người.",
        count(a.signed_women),
        count(a.signed_men),
        count(a.signed_minority),
        count(a.signed.saturating_sub(a.signed_anonymous)),
        count(a.signed_anonymous),
        count(a.level2_activations)
    )));
    body.push(Block::Heading("4. Tỷ lệ người trưởng thành có chữ ký số hoặc chữ ký điện tử cá nhân".into()));
    let t = &cov.total;
    body.push(Block::Text(format!(
        "Tính đến ngày {}, toàn xã có {}/{} người trưởng thành có chữ ký số hoặc chữ ký điện tử cá nhân, đạt {} \
         (chỉ tiêu: trên {}%){}.",
        day.format("%d/%m/%Y"),
        count(t.signed),
        count(t.adult_population),
        percent(t.percent),
        cov.target_percent,
        if t.reached {
            ", đạt chỉ tiêu".to_owned()
        } else {
            format!("; còn cần hỗ trợ {} người", count(t.still_needed))
        }
    )));
    let mut hamlets = cov.rows.clone();
    hamlets.sort_by(|a, b| a.hamlet_id.cmp(&b.hamlet_id));
    body.push(Block::Table {
        header: vec![
            "Mã thôn".into(),
            "Thôn, tổ dân phố".into(),
            "Dân số trưởng thành".into(),
            "Đã có chữ ký".into(),
            "Tỷ lệ".into(),
            "Còn cần".into(),
        ],
        rows: hamlets
            .iter()
            .map(|r| {
                vec![
                    r.hamlet_id.clone(),
                    r.name.clone(),
                    count(r.adult_population),
                    count(r.signed),
                    percent(r.percent),
                    count(r.still_needed),
                ]
            })
            .collect(),
        total: vec![
            String::new(),
            "Toàn xã".into(),
            count(t.adult_population),
            count(t.signed),
            percent(t.percent),
            count(t.still_needed),
        ],
    });
    body.push(Block::Heading("II. KHÓ KHĂN, VƯỚNG MẮC".into()));
    let reasons: Vec<String> = act
        .failure_reasons
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| format!("{} ({} lượt)", reason(*f), count(*n)))
        .collect();
    body.push(Block::Text(if reasons.is_empty() {
        "…".into()
    } else {
        format!("Các lượt hướng dẫn chưa hoàn thành chủ yếu do: {}. …", reasons.join("; "))
    }));
    body.push(Block::Heading("III. ĐỀ XUẤT, KIẾN NGHỊ".into()));
    body.push(Block::Text("…".into()));

    Letter {
        issuer: ["ỦY BAN NHÂN DÂN".into(), name.to_uppercase()],
        number: "Số:        /BC-UBND".into(),
        place_date: format!("{}, {}", place(name), long_date(day)),
        as_of: format!("(Số liệu tính đến ngày {})", day.format("%d/%m/%Y")),
        body,
        recipients: vec![
            format!("- Sở Khoa học và Công nghệ {province_name};"),
            "- Thường trực Đảng ủy, HĐND xã;".into(),
            "- Lưu: VT, VHXH.".into(),
        ],
        signer: ["TM. ỦY BAN NHÂN DÂN".into(), "CHỦ TỊCH".into()],
    }
}

fn reason(f: FailureReason) -> &'static str {
    VI.labels.failure_reasons[f.index()]
}
