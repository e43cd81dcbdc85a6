//! The consent statement a person helped with a digital signature agrees to, word for word,
//! in Vietnamese and English, versioned.
//!
//! The volunteer reads it out next to the consent box in the app; the office prints it on the
//! person's consent record. A statement is never edited once in use: a new wording is a new
//! version with a later `in_force_from`, added to [`ALL`]. Records do not carry the version:
//! the statement a record's consent was given under is the one in force when that version
//! was saved on the device ([`in_force_at`]).

use chrono::{DateTime, NaiveDate, Utc};

/// One version of the consent statement.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    /// Stable identifier, printed on the consent record (`CONSENT_V1`).
    pub version: &'static str,
    /// The first day records were saved under this wording.
    pub in_force_from: NaiveDate,
    pub vi: Text,
    pub en: Text,
}

/// The statement in one language: a title and what the person agrees to, point by point.
#[derive(Debug, PartialEq, Eq)]
pub struct Text {
    pub title: &'static str,
    pub points: &'static [&'static str],
}

impl Statement {
    /// The wording for a language code (`"en"`; anything else is Vietnamese).
    pub fn text(&self, lang: &str) -> &Text {
        if lang == "en" {
            &self.en
        } else {
            &self.vi
        }
    }
}

/// The first consent statement.
pub const CONSENT_V1: Statement = Statement {
    version: "CONSENT_V1",
    in_force_from: match NaiveDate::from_ymd_opt(2025, 1, 1) {
        Some(d) => d,
        None => NaiveDate::MIN,
    },
    vi: Text {
        title: "Đồng ý cho lưu thông tin cá nhân",
        points: &[
            "Tôi đồng ý để Tổ công nghệ số cộng đồng của xã lưu: họ tên, năm sinh, giới tính của tôi; dân tộc và số điện thoại nếu tôi cho biết; mã băm có khoá của số định danh cá nhân (số căn cước) và, nếu tôi muốn, 4 số cuối của số này. Số định danh đầy đủ không được lưu.",
            "Mục đích: giúp tôi đăng ký chữ ký số hoặc chữ ký điện tử cá nhân trên VNeID, và đếm số người trưởng thành của xã đã có chữ ký (mỗi người một lần). Báo cáo gửi cấp trên chỉ có số liệu, không có tên.",
            "Không lưu ảnh thẻ căn cước, mật khẩu VNeID, mã khoá hay mã OTP.",
            "Tôi có thể yêu cầu Ủy ban nhân dân xã xoá thông tin cá nhân của tôi bất cứ lúc nào; thông tin được xoá trên máy chủ của xã và trên mọi máy ở lần đồng bộ sau, chỉ giữ số liệu không định danh.",
            "Nếu tôi không đồng ý, tôi vẫn được hỗ trợ; khi đó chỉ ghi lượt hỗ trợ và kết quả, không ghi tên.",
        ],
    },
    en: Text {
        title: "Consent to keep personal details",
        points: &[
            "I agree that the commune's community digital technology team keeps my name, birth year and sex; my ethnic group and phone number if I give them; a keyed hash of my citizen ID number and, if I wish, its last 4 digits. The full ID number is not kept.",
            "Purpose: to help me register a digital signature or personal e-signature on VNeID, and to count the commune's adults who have a signature (each person once). Reports to higher levels carry counts only, never names.",
            "No ID card images, VNeID passwords, passcodes or OTPs are kept.",
            "I may ask the commune People's Committee to erase my personal details at any time; they are then erased on the commune's server and on every device at its next sync, keeping only counts that identify no one.",
            "If I do not agree, I am still helped; then only the session and its outcome are recorded, without my name.",
        ],
    },
};

/// Every version, oldest first. The last one is what the app shows now.
pub const ALL: &[&Statement] = &[&CONSENT_V1];

/// The statement the app shows today.
pub fn current() -> &'static Statement {
    ALL[ALL.len() - 1]
}

/// The statement in force when a record version was saved (the oldest one for anything
/// saved before the first came into force).
pub fn in_force_at(saved_at: DateTime<Utc>) -> &'static Statement {
    let day = saved_at.date_naive();
    ALL.iter().rev().find(|s| s.in_force_from <= day).copied().unwrap_or(ALL[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn versions_are_unique_ordered_and_translated_point_for_point() {
        for pair in ALL.windows(2) {
            assert!(pair[0].in_force_from < pair[1].in_force_from);
        }
        let mut names: Vec<_> = ALL.iter().map(|s| s.version).collect();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for s in ALL {
            assert_eq!(s.vi.points.len(), s.en.points.len(), "{}", s.version);
            assert!(s.version.starts_with("CONSENT_V"));
        }
    }

    #[test]
    fn the_statement_names_what_is_kept_and_the_right_to_erasure() {
        let vi = CONSENT_V1.text("vi").points.join(" ");
        for w in ["họ tên", "năm sinh", "giới tính", "dân tộc", "số điện thoại", "mã băm", "4 số cuối", "xoá"]
        {
            assert!(vi.contains(w), "vi lacks {w}");
        }
        let en = CONSENT_V1.text("en").points.join(" ");
        for w in ["name", "birth year", "sex", "ethnic group", "phone", "hash", "last 4", "erase"] {
            assert!(en.contains(w), "en lacks {w}");
        }
        assert_eq!(CONSENT_V1.text("fr"), &CONSENT_V1.vi);
    }

    #[test]
    fn a_record_gets_the_statement_in_force_when_it_was_saved() {
        assert_eq!(in_force_at(Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap()).version, "CONSENT_V1");
        assert_eq!(in_force_at(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()).version, "CONSENT_V1");
        assert_eq!(current().version, "CONSENT_V1");
    }
}
