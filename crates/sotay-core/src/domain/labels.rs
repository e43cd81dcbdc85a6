//! The words the app and the server share, in each language: the choice lists' labels (an
//! outcome, a failure reason and an outreach channel read the same on a tablet and on the
//! office's pages and exports; indexed by the enums' `index()`), the message of each
//! [`Problem`] a field can have, and each field's label, with which the server words the
//! reason it refuses a pushed record. The app's `i18n` takes these from here: they are the
//! one copy of each (the app's form labels are [`SharedWords::field`]).

use super::rules::{FieldError, Problem};

/// Number of [`Problem`] variants; `problems` has one message per variant, in order.
pub const PROBLEMS: usize = 29;

/// The words both the app and the server show.
pub struct SharedWords {
    /// One per [`super::Outcome`], in order.
    pub outcomes: [&'static str; 3],
    /// One per [`super::FailureReason`], in order.
    pub failure_reasons: [&'static str; 11],
    /// One per [`super::Channel`], in order.
    pub channels: [&'static str; 6],
    /// One per [`Problem`], in order.
    pub problems: [&'static str; PROBLEMS],
    /// A record's fields by their name in [`super::rules`] (and on the wire), with their label.
    pub fields: &'static [(&'static str, &'static str)],
}

impl SharedWords {
    pub fn problem(&self, p: Problem) -> &'static str {
        self.problems[p as usize]
    }

    /// The label of a record's field by its name in [`super::rules`], at compile time: the
    /// app's form labels are these (`labels::VI.field("hamlet")`), so the tablet and the
    /// server's rejection reasons name a field alike. A name not in the list does not compile.
    pub const fn field(&self, name: &str) -> &'static str {
        let mut i = 0;
        while i < self.fields.len() {
            if same(self.fields[i].0, name) {
                return self.fields[i].1;
            }
            i += 1;
        }
        panic!("no label for this field name")
    }

    /// The label of a record's field by its name in [`super::rules`]; a field path it does
    /// not know (`b.person.x`) is given as it is.
    pub fn field_label<'a>(&self, field: &'a str) -> &'a str {
        self.fields.iter().find(|(name, _)| *name == field).map(|(_, label)| *label).unwrap_or(field)
    }

    /// A field's problem as one line naming the field by its label and its name:
    /// `Năm sinh (birth_year): Năm sinh không hợp lệ …`. The server's rejection reasons.
    pub fn field_problem(&self, e: &FieldError) -> String {
        self.field_path_problem(e.field, e.problem)
    }

    /// As [`SharedWords::field_problem`], for a field named by its path in a pushed record
    /// (`b.person.birth_year`): labelled by its last part.
    pub fn field_path_problem(&self, path: &str, problem: Problem) -> String {
        let last = path.rsplit('.').next().unwrap_or(path);
        let last = last.split('[').next().unwrap_or(last);
        format!("{} ({path}): {}", self.field_label(last), self.problem(problem))
    }
}

/// Whether two strings are the same (`==` is not a `const fn`).
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Vietnamese (the default).
pub const VI: SharedWords = SharedWords {
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
    problems: [
        "Ô này không được để trống.",
        "Hãy nhập một số.",
        "Số này quá lớn.",
        "Số phải lớn hơn 0.",
        "Nội dung quá dài.",
        "Ngày không hợp lệ.",
        "Giờ không hợp lệ (ví dụ 14:30).",
        "Ngày giờ không được ở tương lai.",
        "Ngày quá xa trong quá khứ (trước năm 2025 hoặc hơn một năm trước). Hãy xem lại ngày và đồng hồ của máy.",
        "Năm sinh không hợp lệ (người từ 14 đến 120 tuổi).",
        "Số điện thoại không hợp lệ (10 số, bắt đầu bằng 0).",
        "Số định danh chỉ gồm chữ số.",
        "Số định danh phải có đúng 12 chữ số.",
        "3 số đầu không phải mã tỉnh hợp lệ.",
        "Số nữ không được lớn hơn tổng số người.",
        "Số người dân tộc thiểu số không được lớn hơn tổng số người.",
        "Hãy chọn lý do chưa hoàn thành.",
        "Thôn không có trong danh sách.",
        "Hãy chọn ít nhất một nội dung.",
        "Có ký tự điều khiển (không in được) trong ô này. Hãy gõ lại.",
        "Có khoảng trắng thừa ở đầu hoặc cuối.",
        "Một nội dung được chọn hai lần.",
        "Ô này không được có giá trị với kết quả đã chọn.",
        "Giá trị không đúng dạng.",
        "Đồng hồ của máy bị sai khi lưu. Hãy chỉnh ngày giờ trên máy rồi sửa và lưu lại bản ghi.",
        "Phiên bản bản ghi không hợp lệ.",
        "Mã bản ghi không hợp lệ.",
        "Người ghi không có trong danh sách tình nguyện viên của xã.",
        "Giá trị không đọc được hoặc máy chủ chưa biết (có thể cần cập nhật Sổ tay hoặc máy chủ).",
    ],
    fields: &[
        ("hamlet", "Thôn, làng"),
        ("date", "Ngày"),
        ("time", "Giờ"),
        ("household", "Hộ gia đình"),
        ("people_helped", "Số người được hỗ trợ"),
        ("topics", "Nội dung hỗ trợ"),
        ("notes", "Ghi chú"),
        ("display_name", "Họ tên"),
        ("birth_year", "Năm sinh"),
        ("sex", "Giới tính (hỏi người được hỗ trợ)"),
        ("ethnic_group", "Dân tộc (không bắt buộc)"),
        ("phone", "Số điện thoại (không bắt buộc)"),
        ("citizen_id", "Số định danh cá nhân (CCCD, 12 số)"),
        ("outcome", "Kết quả"),
        ("failure_reason", "Lý do chưa hoàn thành"),
        ("provider", "Nhà cung cấp chứng thư"),
        ("provider_other", "Tên nhà cung cấp khác"),
        ("total", "Tổng số người tham dự"),
        ("women", "Trong đó nữ"),
        ("ethnic_minority", "Trong đó người dân tộc thiểu số"),
        ("trainers", "Người hướng dẫn"),
        ("platform_other", "Tên nền tảng khác"),
        ("quantity", "Số lượng (lượt phát, tờ, bài…)"),
        ("reach", "Số người ước tính tiếp cận"),
        ("level_before", "Tài khoản VNeID trước"),
        ("level_after", "Tài khoản VNeID sau"),
        ("training_kind", "Hình thức"),
        ("kind", "Hình thức"),
        ("platform", "Nền tảng học"),
        ("channel", "Hình thức tuyên truyền"),
        ("parent", "Thuộc buổi thăm hộ / họp"),
        ("parent_id", "Thuộc buổi thăm hộ / họp"),
        ("id", "Mã bản ghi"),
        ("version", "Phiên bản"),
        ("volunteer", "Người ghi"),
        ("saved_at", "Thời điểm lưu trên máy"),
        ("void_reason", "Lý do huỷ"),
        ("record", "Bản ghi"),
        ("consent", "Đồng ý lưu thông tin"),
        ("type", "Loại bản ghi"),
    ],
};

/// English.
pub const EN: SharedWords = SharedWords {
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
    problems: [
        "This field is required.",
        "Enter a number.",
        "This number is too large.",
        "The number must be above 0.",
        "Too long.",
        "Not a valid date.",
        "Not a valid time (e.g. 14:30).",
        "The date and time cannot be in the future.",
        "The date is too far back (before 2025 or more than a year ago). Check the date and the device's clock.",
        "Not a valid birth year (14 to 120 years old).",
        "Not a valid phone number (10 digits starting with 0).",
        "The ID number has digits only.",
        "The ID number must have exactly 12 digits.",
        "The first 3 digits are not a province code.",
        "Women cannot exceed the total.",
        "Ethnic minority cannot exceed the total.",
        "Choose why it was not completed.",
        "This hamlet is not in the list.",
        "Choose at least one topic.",
        "This field has a control (unprintable) character. Type it again.",
        "Extra spaces at the start or the end.",
        "A topic is chosen twice.",
        "This field must be empty with the outcome chosen.",
        "Not in the expected form.",
        "The device's clock was wrong at the save. Set the date and time, then edit and save the record again.",
        "Not a valid record version.",
        "Not a valid record id.",
        "The volunteer is not in the commune's list.",
        "A value could not be read or the server does not know it (Sổ tay or the server may need an update).",
    ],
    fields: &[
        ("hamlet", "Hamlet"),
        ("date", "Date"),
        ("time", "Time"),
        ("household", "Household"),
        ("people_helped", "People helped"),
        ("topics", "Topics covered"),
        ("notes", "Notes"),
        ("display_name", "Name"),
        ("birth_year", "Birth year"),
        ("sex", "Sex (ask the person)"),
        ("ethnic_group", "Ethnic group (optional)"),
        ("phone", "Phone (optional)"),
        ("citizen_id", "Citizen ID number (CCCD, 12 digits)"),
        ("outcome", "Outcome"),
        ("failure_reason", "Why not completed"),
        ("provider", "Certificate provider"),
        ("provider_other", "Other provider's name"),
        ("total", "Total attendance"),
        ("women", "Of whom women"),
        ("ethnic_minority", "Of whom ethnic minority"),
        ("trainers", "Trainers"),
        ("platform_other", "Other platform's name"),
        ("quantity", "Quantity (broadcasts, leaflets, posts…)"),
        ("reach", "Estimated reach (people)"),
        ("level_before", "VNeID account before"),
        ("level_after", "VNeID account after"),
        ("training_kind", "Kind"),
        ("kind", "Kind"),
        ("platform", "Learning platform"),
        ("channel", "Channel"),
        ("parent", "Part of visit / meeting"),
        ("parent_id", "Part of visit / meeting"),
        ("id", "Record id"),
        ("version", "Version"),
        ("volunteer", "Volunteer"),
        ("saved_at", "Saved on the device at"),
        ("void_reason", "Void reason"),
        ("record", "Record"),
        ("consent", "Consent to keep details"),
        ("type", "Record kind"),
    ],
};
