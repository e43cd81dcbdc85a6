//! The words of the units' pages (`office::units`, `office::unit_lead`): the commune's units,
//! who belongs to them, unit accounts, and the units' reports. Vietnamese only, as the
//! reports themselves are.

/// The kinds of unit, in the order of `db::units::UNIT_KINDS`.
pub const KINDS: [&str; 5] = [
    "Phòng, ban của xã",
    "Trung tâm Văn hóa - Thể thao - Thông tin",
    "Công an xã",
    "Tổ công nghệ số cộng đồng",
    "Đơn vị khác",
];

/// A kind's words by its code.
pub fn kind(code: &str) -> &'static str {
    crate::db::units::UNIT_KINDS.iter().position(|k| *k == code).map(|i| KINDS[i]).unwrap_or(KINDS[4])
}

pub const NAV: &str = "Đơn vị";
pub const TITLE: &str = "Đơn vị và báo cáo của đơn vị";
pub const UNITS: &str = "Các đơn vị";
pub const CODE: &str = "Mã đơn vị";
pub const NAME: &str = "Tên đơn vị";
pub const KIND: &str = "Loại";
pub const VOLUNTEERS: &str = "Tình nguyện viên";
pub const DEVICES: &str = "Thiết bị";
pub const SAVE_UNIT: &str = "Lưu đơn vị";
pub const ADD_UNIT: &str = "Thêm hoặc sửa đơn vị (cùng mã thì sửa)";
pub const MEMBERS: &str = "Thành viên của đơn vị";
pub const MEMBERS_HINT: &str = "Bản ghi mang đơn vị của tình nguyện viên (nếu không có thì của thiết bị) khi gửi \
     lên máy chủ lần đầu, và giữ đơn vị đó khi người đó chuyển đơn vị.";
pub const VOLUNTEER: &str = "Tình nguyện viên";
pub const DEVICE: &str = "Thiết bị";
pub const UNIT: &str = "Đơn vị";
pub const NO_UNIT: &str = "— Không thuộc đơn vị nào —";
pub const SET: &str = "Lưu";
pub const ACCOUNTS: &str = "Tài khoản của đơn vị";
pub const ACCOUNTS_HINT: &str = "Lãnh đạo đơn vị đăng nhập bằng tài khoản này, chỉ xem và gửi báo cáo của đơn vị \
     mình (số liệu tổng hợp, không có thông tin cá nhân).";
pub const USERNAME: &str = "Tên đăng nhập";
pub const PASSWORD: &str = "Mật khẩu (ít nhất 10 ký tự)";
pub const MAKE_ACCOUNT: &str = "Tạo tài khoản";
pub const REPORTS: &str = "Báo cáo của các đơn vị năm";
pub const DEADLINE: &str = "Hạn gửi báo cáo";
pub const SET_DEADLINE: &str = "Đặt hạn";
pub const RATE: &str = "Tỷ lệ báo cáo";
pub const SUBMITTED_COUNT: &str = "Đã gửi";
pub const ON_TIME_COUNT: &str = "Đúng hạn";
pub const STATUS: &str = "Trạng thái";
pub const SUBMITTED_AT: &str = "Gửi lúc";
pub const TIMELINESS: &str = "Thời hạn";
pub const VIEW: &str = "Xem";
pub const ON_TIME: &str = "Đúng hạn";
pub const LATE: &str = "Muộn";
pub const NOT_SUBMITTED: &str = "Chưa gửi";

/// A report's state, by `ReportStatus::code`.
pub fn status(code: &str) -> &'static str {
    match code {
        "submitted" => "Đã gửi, chờ xã xem",
        "returned" => "Xã trả lại để sửa",
        "accepted" => "Xã đã chấp nhận",
        _ => "Đang soạn",
    }
}

pub const FROM_RECORDS: &str = "Số liệu từ các bản ghi của đơn vị";
pub const PERIOD: &str = "Từ ngày";
pub const TO: &str = "đến ngày";
/// The lines of the figures from records, in the order of `office::units::figure_rows`.
pub const FIGURES: [&str; 10] = [
    "Số lượt đến hộ gia đình",
    "Số lượt người được hỗ trợ khi đến hộ",
    "Số lượt hướng dẫn chữ ký số",
    "Trong đó thành công",
    "Số lớp tập huấn, buổi hướng dẫn",
    "Số lượt người tham dự",
    "Trong đó nữ",
    "Trong đó người dân tộc thiểu số",
    "Số hoạt động tuyên truyền",
    "Số người được tiếp cận",
];
pub const ENTERED: &str = "Số liệu đơn vị tự nhập";
/// The entered numbers, in the order of `UnitEntry::numbers` (and the form's field names
/// of `office::units::FIELDS`).
pub const ENTRY: [&str; 7] = [
    "Số cán bộ, công chức đăng ký học trên binhdanhocvuso.gov.vn hoặc MOOC",
    "Số cán bộ, công chức hoàn thành khóa học",
    "Số người dân đăng ký học",
    "Số người dân hoàn thành khóa học",
    "Số tin, bài tuyên truyền trên phương tiện thông tin đại chúng",
    "Số hội nghị, cuộc họp có lồng ghép tuyên truyền",
    "Số người dự các hội nghị, cuộc họp đó",
];
pub const NARRATIVE: &str = "Tóm tắt kết quả, khó khăn, kiến nghị";
pub const SAVE_DRAFT: &str = "Lưu nháp";
pub const SUBMIT: &str = "Gửi báo cáo cho xã";
pub const SAVED: &str = "Đã lưu nháp.";
pub const SUBMITTED: &str = "Đã gửi báo cáo cho xã.";
pub const LOCKED: &str = "Báo cáo đã gửi hoặc đã được chấp nhận nên không sửa được. Nếu cần sửa, hãy đề nghị \
     Phòng Văn hóa - Xã hội trả lại báo cáo.";
pub const RETURNED_BECAUSE: &str = "Xã trả lại báo cáo để sửa. Lý do:";
pub const DUE: &str = "Hạn gửi:";
pub const NOT_A_NUMBER: &str = "hãy nhập một số nguyên từ 0 trở lên.";
pub const MORE_COMPLETED: &str = "Số hoàn thành không được lớn hơn số đăng ký.";
pub const NARRATIVE_TOO_LONG: &str = "Phần tóm tắt dài quá 4.000 ký tự; hãy rút gọn.";
pub const RETURN: &str = "Trả lại để sửa";
pub const RETURN_REASON: &str = "Lý do trả lại";
pub const RETURN_NEEDS_REASON: &str = "Hãy ghi lý do trả lại để đơn vị biết cần sửa gì.";
pub const ACCEPT: &str = "Chấp nhận báo cáo";
pub const RETURNED: &str = "Đã trả lại báo cáo cho đơn vị.";
pub const ACCEPTED: &str = "Đã chấp nhận báo cáo.";
pub const NOT_SUBMITTED_YET: &str = "Báo cáo chưa được gửi (hoặc đã được xử lý) nên không trả lại hay chấp nhận được.";
pub const UNIT_SAVED: &str = "Đã lưu đơn vị.";
pub const UNIT_NEEDS: &str = "Hãy nhập mã đơn vị (chữ và số, tối đa 20 ký tự), tên đơn vị và chọn loại.";
pub const MEMBER_SAVED: &str = "Đã lưu đơn vị của tình nguyện viên.";
pub const DEVICE_SAVED: &str = "Đã lưu đơn vị của thiết bị.";
pub const NO_SUCH: &str = "Không tìm thấy tình nguyện viên, thiết bị hoặc đơn vị đã chọn trong xã.";
pub const ACCOUNT_SAVED: &str = "Đã tạo tài khoản. Hãy trao tên đăng nhập và mật khẩu cho lãnh đạo đơn vị.";
pub const ACCOUNT_BAD: &str = "Tên đăng nhập chỉ gồm chữ không dấu, số, dấu chấm, gạch dưới hoặc gạch ngang \
     (tối đa 64 ký tự); mật khẩu ít nhất 10 ký tự; hãy chọn đơn vị.";
pub const ACCOUNT_TAKEN: &str = "Tên đăng nhập này đã có người dùng; hãy chọn tên khác.";
pub const DEADLINE_SAVED: &str = "Đã đặt hạn gửi báo cáo.";
pub const BAD_DAY: &str = "Ngày không hợp lệ; hãy chọn ngày từ năm 2000 đến 2100.";
pub const BAD_YEAR: &str = "Năm không hợp lệ; hãy chọn năm từ 2000 đến 2100.";
pub const NO_UNITS: &str = "Xã chưa có đơn vị nào.";
pub const ALL_UNITS: &str = "Tất cả đơn vị";
