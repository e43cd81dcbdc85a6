//! The breakdown of signature help on the activity page (`db::breakdowns`): successful
//! sessions by the person's sex and ethnic minority, with and without an ID number, and
//! VNeID level-2 activations, each with its share of the successes; and beside coverage,
//! each hamlet's people helped split into those with an ID number and the successes
//! without one (today's figures only: the log of past days keeps the total, not the split).

use super::*;
use std::collections::BTreeMap;

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

/// Beside today's coverage: per hamlet, the people helped with an ID number and the
/// successes without one. `None` (a past day) shows nothing.
pub(super) fn id_split_table(
    t: &OfficeStrings,
    r: &CoverageReport,
    anonymous: Option<&BTreeMap<String, u32>>,
) -> Markup {
    let Some(anonymous) = anonymous else { return html! {} };
    let w = if t.lang_code == "vi" { &VI_WORDS } else { &EN_WORDS };
    let mut rows: Vec<&crate::reports::CoverageRow> = r.rows.iter().collect();
    rows.sort_by(|a, b| a.hamlet_id.cmp(&b.hamlet_id));
    let anon = |id: &str| anonymous.get(id).copied().unwrap_or(0);
    let total_anon: u32 = rows.iter().map(|h| anon(&h.hamlet_id).min(h.helped_signed)).sum();
    let total: u32 = rows.iter().map(|h| h.helped_signed).sum();
    html! {
        table.report data-testid="coverage-id-split" {
            caption { (w.split_heading) }
            thead { tr { @for h in w.split_headers { th { (h) } } } }
            tbody { @for h in &rows {
                @let a = anon(&h.hamlet_id).min(h.helped_signed);
                tr data-hamlet=(h.hamlet_id) { th scope="row" { (h.name) } td { (num(h.helped_signed)) } td { (num(h.helped_signed - a)) } td { (num(a)) } }
            } }
            tfoot { tr { th scope="row" { (t.commune_total) } td { (num(total)) } td { (num(total - total_anon)) } td { (num(total_anon)) } } }
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
    split_heading: &'static str,
    split_headers: [&'static str; 4],
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
    split_heading: "Người được hỗ trợ có chữ ký số: có và không có số định danh (hôm nay)",
    split_headers: ["Thôn", "Được hỗ trợ", "Có số định danh", "Không có số định danh"],
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
    split_heading: "People helped to a signature: with and without an ID number (today)",
    split_headers: ["Hamlet", "Helped", "With an ID number", "Without an ID number"],
};
