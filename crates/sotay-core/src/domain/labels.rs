//! The choice lists' labels in each language, shared by the app's words (`i18n`) and the
//! office's: an outcome, a failure reason and an outreach channel read the same on a tablet
//! and on the office's pages and exports. Indexed by the enums' `index()`.

/// The labels of the choice lists both the app and the office show.
pub struct ChoiceLabels {
    /// One per [`super::Outcome`], in order.
    pub outcomes: [&'static str; 3],
    /// One per [`super::FailureReason`], in order.
    pub failure_reasons: [&'static str; 11],
    /// One per [`super::Channel`], in order.
    pub channels: [&'static str; 6],
}

/// Vietnamese (the default).
pub const VI: ChoiceLabels = ChoiceLabels {
    outcomes: ["Đã đăng ký chữ ký số", "Đã đăng ký chữ ký điện tử cá nhân", "Chưa hoàn thành"],
    failure_reasons: [
        "Không có điện thoại thông minh",
        "Điện thoại không có NFC",
        "Chưa có tài khoản mức 2",
        "Tài khoản đang chờ duyệt",
        "Số điện thoại không khớp",
        "Quét khuôn mặt hoặc mã QR không được",
        "Quên mật mã",
        "Thông tin cá nhân tại công an bị sai",
        "Lỗi hệ thống",
        "Người dân từ chối",
        "Lý do khác",
    ],
    channels: [
        "Loa truyền thanh",
        "Tờ rơi",
        "Áp phích, pano",
        "Bài đăng mạng xã hội",
        "Bài viết trên trang web",
        "Lồng ghép trong cuộc họp",
    ],
};

/// English.
pub const EN: ChoiceLabels = ChoiceLabels {
    outcomes: ["Digital signature registered", "Personal e-signature registered", "Not completed"],
    failure_reasons: [
        "No smartphone",
        "Phone lacks NFC",
        "No level-2 account",
        "Account awaiting approval",
        "Phone number mismatch",
        "Face or QR scan failed",
        "Forgot passcode",
        "Wrong personal data at the police",
        "System error",
        "Declined",
        "Other",
    ],
    channels: [
        "Loudspeaker broadcast",
        "Leaflet",
        "Poster or billboard",
        "Social media post",
        "Web article",
        "Item at a meeting",
    ],
};
