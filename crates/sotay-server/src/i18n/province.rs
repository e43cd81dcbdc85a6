//! The province level's words on the office pages (Vietnamese and English), kept apart from
//! the commune office's so each file stays readable. Reached through
//! `OfficeStrings::province`.

pub struct ProvinceStrings {
    pub title: &'static str,
    pub nav: [&'static str; 4],
    pub coverage_title: &'static str,
    pub commune_header: &'static str,
    pub province_total: &'static str,
    pub target_note: &'static str,
    pub drill_hint: &'static str,
    pub back: &'static str,
    pub hamlets_of: &'static str,
    pub activity_title: &'static str,
    pub quiet_title: &'static str,
    pub quiet_days: &'static str,
    pub quiet_none: &'static str,
    pub quiet_headers: [&'static str; 4],
    pub never: &'static str,
    pub no_communes: &'static str,
    pub only_province: &'static str,
    pub sheet_communes: &'static str,
}

pub static VI: ProvinceStrings = ProvinceStrings {
    title: "Sổ tay — Tỉnh",
    nav: ["Độ bao phủ các xã", "Hoạt động các xã", "Xã chưa đồng bộ", "Nhật ký"],
    coverage_title: "Độ bao phủ theo xã",
    commune_header: "Xã, phường",
    province_total: "Toàn tỉnh",
    target_note:
        "Mỗi xã được so với mục tiêu của xã; toàn tỉnh so với mục tiêu 50%. Một người được đếm một lần trong mỗi xã.",
    drill_hint: "Bấm tên xã để xem từng thôn.",
    back: "← Các xã của tỉnh",
    hamlets_of: "Độ bao phủ theo thôn",
    activity_title: "Hoạt động các xã",
    quiet_title: "Xã chưa đồng bộ",
    quiet_days: "Không có thiết bị nào đồng bộ trong (ngày)",
    quiet_none: "Mọi xã đều có thiết bị đồng bộ trong khoảng này.",
    quiet_headers: ["Xã, phường", "Thiết bị", "Bản ghi", "Lần đồng bộ gần nhất"],
    never: "chưa bao giờ",
    no_communes: "Máy chủ này chưa có xã nào của tỉnh.",
    only_province: "Trang này dành cho tài khoản cấp tỉnh.",
    sheet_communes: "Cac xa",
};

pub static EN: ProvinceStrings = ProvinceStrings {
    title: "Sổ tay — Province",
    nav: ["Communes' coverage", "Communes' activity", "Communes not syncing", "Audit log"],
    coverage_title: "Coverage by commune",
    commune_header: "Commune, ward",
    province_total: "Whole province",
    target_note: "Each commune is measured against its own target; the province against 50%. A person counts once in each commune.",
    drill_hint: "Click a commune's name for its hamlets.",
    back: "← The province's communes",
    hamlets_of: "Coverage by hamlet",
    activity_title: "Activity of the communes",
    quiet_title: "Communes not syncing",
    quiet_days: "No device synced in the last (days)",
    quiet_none: "Every commune has a device that synced in this time.",
    quiet_headers: ["Commune, ward", "Devices", "Records", "Last sync"],
    never: "never",
    no_communes: "This server has no commune of the province yet.",
    only_province: "This page is for province accounts.",
    sheet_communes: "Communes",
};
