//! The breakdown of signature help on the activity page (`db::breakdowns`): successful
//! sessions by the person's sex and ethnic minority, with and without an ID number, and
//! VNeID level-2 activations, each with its share of the successes.

use super::*;
use crate::reports::ActivityCounts;

/// The table under the activity totals.
pub(super) fn breakdown_table(t: &OfficeStrings, c: &ActivityCounts) -> Markup {
    let w = if t.lang_code == "vi" { &VI_WORDS } else { &EN_WORDS };
    let unknown = c.signed.saturating_sub(c.signed_women + c.signed_men);
    let with_id = c.signed.saturating_sub(c.signed_anonymous);
    let rows = [
        (w.women, c.signed_women, Some(c.signed)),
        (w.men, c.signed_men, Some(c.signed)),
        (w.unknown_sex, unknown, Some(c.signed)),
        (w.minority, c.signed_minority, Some(c.signed)),
        (w.with_id, with_id, Some(c.signed)),
        (w.anonymous, c.signed_anonymous, Some(c.signed)),
        (w.level2, c.level2_activations, Some(c.signature_sessions)),
    ];
    html! {
        table.report data-testid="signature-breakdown" {
            caption { (w.heading) }
            thead { tr { th {} th { (t.count_header) } th { (t.share_header) } } }
            tbody { @for (label, n, of) in rows {
                tr { th scope="row" { (label) } td { (num(n)) } td { (of.map(|of| pct(t, n, of)).unwrap_or_default()) } }
            } }
        }
    }
}

struct Words {
    heading: &'static str,
    women: &'static str,
    men: &'static str,
    unknown_sex: &'static str,
    minority: &'static str,
    with_id: &'static str,
    anonymous: &'static str,
    level2: &'static str,
}

static VI_WORDS: Words = Words {
    heading: "Đăng ký chữ ký số thành công, theo nhóm",
    women: "Nữ",
    men: "Nam",
    unknown_sex: "Không ghi giới tính (không đồng ý lưu thông tin)",
    minority: "Người dân tộc thiểu số",
    with_id: "Có số định danh (mỗi người tính một lần trong báo cáo độ bao phủ)",
    anonymous: "Không có số định danh (mỗi lượt tính một người)",
    level2: "Kích hoạt tài khoản VNeID mức 2 (tỷ lệ trên số lượt hỗ trợ)",
};

static EN_WORDS: Words = Words {
    heading: "Successful signature registrations, by group",
    women: "Women",
    men: "Men",
    unknown_sex: "Sex not recorded (no consent to keep details)",
    minority: "Ethnic minority",
    with_id: "With an ID number (each person counted once in coverage)",
    anonymous: "Without an ID number (each session counted as one person)",
    level2: "VNeID accounts activated to level 2 (share of sessions)",
};
