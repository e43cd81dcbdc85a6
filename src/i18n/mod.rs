//! Every word the volunteer sees, one file per language: [`vi`] (the default) and [`en`].
//!
//! A language is one [`Strings`] value, so a missing translation is a compile error. Choice
//! lists are arrays indexed by the domain enums' `index()`. Knows the domain's problem and
//! error kinds (to word them) and nothing of the UI, the store or the network: `ui::wording`
//! words the store's and the sync's outcomes with these strings.

mod en;
mod vi;

use crate::domain::validate::Problem;

/// The app's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Every language, in the order the settings screen offers them.
    pub const ALL: [Lang; 2] = [Lang::Vi, Lang::En];

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::Vi => &vi::STRINGS,
            Lang::En => &en::STRINGS,
        }
    }
}

pub use crate::domain::labels::PROBLEMS;

/// All user-facing text of one language. `{n}` in a template is replaced by a number.
pub struct Strings {
    pub app_name: &'static str,
    pub back: &'static str,
    pub home: &'static str,
    pub switch_language: &'static str,
    pub something_failed: &'static str,
    pub store_unusable: &'static str,
    pub store_error_hint: &'static str,
    /// CannotOpen, Locked, DiskFull, Corrupt, ReadOnly, TooNew, NotFound, Conflict, Decode, Other.
    pub store_errors: [&'static str; 12],
    pub sample_banner: &'static str,
    pub practice_not_sent: &'static str,
    pub switch_volunteer: &'static str,
    pub who_is_using: &'static str,
    pub who_is_using_hint: &'static str,
    pub volunteer: &'static str,
    pub records: &'static str,
    pub drafts: &'static str,
    pub resume: &'static str,
    pub discard: &'static str,
    pub pending_count: &'static str,
    pub rejected_count: &'static str,
    pub tallies: &'static str,
    pub today: &'static str,
    pub this_month: &'static str,
    pub tally_visits: &'static str,
    pub tally_signature_sessions: &'static str,
    pub tally_signed: &'static str,
    pub tally_trainings: &'static str,
    pub tally_attendance: &'static str,
    pub tally_outreach: &'static str,
    pub tally_person_times: &'static str,
    pub hamlet_progress: &'static str,
    pub target_reached: &'static str,
    pub still_needed: &'static str,
    pub kinds: [&'static str; 4],
    pub new_record: [&'static str; 4],
    pub edit_title: [&'static str; 4],
    pub draft_restored: &'static str,
    pub discard_draft: &'static str,
    pub hamlet: &'static str,
    pub date: &'static str,
    pub time: &'static str,
    pub household: &'static str,
    pub household_hint: &'static str,
    /// Under every free-text field: no other person's details there.
    pub free_text_hint: &'static str,
    pub people_helped: &'static str,
    pub topics: &'static str,
    pub topics_list: [&'static str; 8],
    pub notes: &'static str,
    pub belongs_to: &'static str,
    pub people_helped_here: &'static str,
    pub belongs_to_none: &'static str,
    pub consent: &'static str,
    pub consent_label: &'static str,
    pub no_consent_note: &'static str,
    pub display_name: &'static str,
    pub birth_year: &'static str,
    pub sex: &'static str,
    pub sexes: [&'static str; 3],
    pub ethnic_group: &'static str,
    pub phone: &'static str,
    pub citizen_id: &'static str,
    pub citizen_id_hint: &'static str,
    pub keep_last4: &'static str,
    pub cid_privacy: &'static str,
    pub cid_on_file: &'static str,
    pub cid_hashed: &'static str,
    pub level_before: &'static str,
    pub level_after: &'static str,
    pub levels: [&'static str; 3],
    pub outcome: &'static str,
    pub outcomes: [&'static str; 3],
    pub outcome_hint: &'static str,
    pub failure_reason: &'static str,
    pub failure_reasons: [&'static str; 11],
    pub provider: &'static str,
    pub provider_other: &'static str,
    /// The citizen-ID number disagrees with the birth year (`{n}` the number's year) or
    /// the sex (`{n}` the number's sex).
    pub cid_warning_year: &'static str,
    pub cid_warning_sex: &'static str,
    pub choose: &'static str,
    pub other: &'static str,
    pub training_kind: &'static str,
    pub training_kinds: [&'static str; 3],
    pub attendance_total: &'static str,
    pub attendance_women: &'static str,
    pub attendance_minority: &'static str,
    pub trainers: &'static str,
    pub platform: &'static str,
    pub platforms: [&'static str; 3],
    pub platform_other: &'static str,
    pub channel: &'static str,
    pub channels: [&'static str; 6],
    pub quantity: &'static str,
    pub reach: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub fix_fields: &'static str,
    pub problems: [&'static str; PROBLEMS],
    pub search_hint: &'static str,
    pub filters: &'static str,
    pub all_hamlets: &'static str,
    pub all_kinds: &'static str,
    pub all_states: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub no_records: &'static str,
    pub found: &'static str,
    pub people: &'static str,
    pub person_without_consent: &'static str,
    pub sync_states: [&'static str; 4],
    pub voided: &'static str,
    pub voided_note: &'static str,
    pub voided_done: &'static str,
    pub rejected_reason: &'static str,
    pub add_person: &'static str,
    pub edit: &'static str,
    pub void: &'static str,
    pub void_confirm: &'static str,
    pub void_reason: &'static str,
    pub cancel: &'static str,
    pub history: &'static str,
    pub version: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub sync_now: &'static str,
    pub syncing: &'static str,
    pub last_sync: &'static str,
    pub never_synced: &'static str,
    pub clock_off: &'static str,
    pub open_quarantine: &'static str,
    pub enrol_device: &'static str,
    pub enrol_title: &'static str,
    pub enrol_hint: &'static str,
    pub server_url: &'static str,
    /// The field that takes a pasted enrolment link, and what it says once read.
    pub enrol_link: &'static str,
    pub enrol_link_read: &'static str,
    pub enrol_link_bad: &'static str,
    pub enrol_photo: &'static str,
    pub enrol_photo_hint: &'static str,
    pub enrol_photo_read: &'static str,
    pub enrol_photo_bad: &'static str,
    pub enrol_photo_not_link: &'static str,
    pub cert_fingerprint: &'static str,
    pub enrol_code: &'static str,
    pub device_name: &'static str,
    pub enrol_button: &'static str,
    pub enrolling: &'static str,
    pub enrolled_done: &'static str,
    /// In the order of `SyncError::CODES`.
    pub sync_errors: [&'static str; 17],
    pub revoked_wiped: &'static str,
    pub locked_title: &'static str,
    pub lock_now: &'static str,
    pub pin_label: &'static str,
    pub unlock: &'static str,
    pub checking_pin: &'static str,
    pub set_pin_title: &'static str,
    pub set_pin_hint: &'static str,
    pub pin_again: &'static str,
    pub set_pin_button: &'static str,
    /// Format, TooEasy, Mismatch (as `domain::pin::PinProblem`).
    pub pin_problems: [&'static str; 3],
    pub pin_wrong: &'static str,
    pub pin_wait: &'static str,
    pub pin_tries_left: &'static str,
    pub pin_blocked: &'static str,
    pub lead_label: &'static str,
    pub lead_pin: &'static str,
    pub lead_unlock: &'static str,
    pub lead_wrong: &'static str,
    pub no_lead: &'static str,
    pub first_pin_title: &'static str,
    pub first_pin_hint: &'static str,
    pub office_code_label: &'static str,
    pub use_office_code: &'static str,
    pub office_code_refused: &'static str,
    pub or_lead: &'static str,
    pub lead_authorise: &'static str,
    pub not_here: &'static str,
    pub nobody_here: &'static str,
    pub settings: &'static str,
    pub language: &'static str,
    /// Each language's name in itself, in the order of [`Lang::ALL`].
    pub language_names: [&'static str; 2],
    pub search_label: &'static str,
    pub kind: &'static str,
    pub sync_state: &'static str,
    pub found_by_label: &'static str,
    pub tally_what: &'static str,
    pub save_and_next: &'static str,
    pub more_details: &'static str,
    pub consent_show: &'static str,
    /// `{n}` practice records will never be sent, and how to enrol.
    pub practice_pile: &'static str,
    /// What to do about a field left empty, by the field's form name (others get the
    /// generic `problems` message).
    pub required: &'static [(&'static str, &'static str)],
}

pub(crate) fn fill(template: &str, n: impl std::fmt::Display) -> String {
    template.replace("{n}", &n.to_string())
}

impl Strings {
    pub fn problem(&self, p: Problem) -> &'static str {
        self.problems[p as usize]
    }

    /// A warning about the citizen-ID number typed.
    pub fn cid_warning(&self, w: crate::domain::validate::CidWarning) -> String {
        use crate::domain::validate::CidWarning;
        match w {
            CidWarning::BirthYear(year) => fill(self.cid_warning_year, year),
            CidWarning::Sex(sex) => fill(self.cid_warning_sex, self.sexes[sex.index()].to_lowercase()),
        }
    }

    /// The message for `problem` in the field named `field` on the form: an empty field says what to
    /// enter or choose ("Hãy chọn giới tính."), any other problem its own message.
    pub fn field_message(&self, field: &str, problem: Problem) -> &'static str {
        match problem {
            Problem::Required => {
                self.required.iter().find(|(f, _)| *f == field).map_or(self.problem(problem), |(_, m)| m)
            }
            _ => self.problem(problem),
        }
    }

    pub fn practice_pile(&self, n: u32) -> String {
        fill(self.practice_pile, n)
    }

    pub fn pending_count(&self, n: u32) -> String {
        fill(self.pending_count, n)
    }

    pub fn rejected_count(&self, n: u32) -> String {
        fill(self.rejected_count, n)
    }

    pub fn still_needed(&self, n: u32) -> String {
        fill(self.still_needed, n)
    }

    pub fn found(&self, n: usize) -> String {
        fill(self.found, n)
    }

    pub fn people(&self, n: u32) -> String {
        fill(self.people, n)
    }

    pub fn pin_problem(&self, p: crate::domain::pin::PinProblem) -> &'static str {
        use crate::domain::pin::PinProblem;
        self.pin_problems[match p {
            PinProblem::Format => 0,
            PinProblem::TooEasy => 1,
            PinProblem::Mismatch => 2,
        }]
    }

    pub fn pin_wrong(&self, failures: u32) -> String {
        fill(self.pin_wrong, failures)
    }

    pub fn pin_wait(&self, secs: u64) -> String {
        fill(self.pin_wait, secs)
    }

    pub fn pin_tries_left(&self, left: u32) -> String {
        fill(self.pin_tries_left, left)
    }
}

/// The labels a record is shown with, in every language, for search to match.
pub fn search_labels(kind: crate::domain::RecordKind, subtype: Option<&str>) -> String {
    use crate::domain::{Channel, RecordKind, TrainingKind};
    let mut words = String::new();
    for lang in [Lang::Vi, Lang::En] {
        let t = lang.strings();
        words.push_str(t.kinds[kind.index()]);
        words.push(' ');
        let extra = match (kind, subtype) {
            (RecordKind::Training, Some(c)) => {
                TrainingKind::from_code(c).map(|k| t.training_kinds[k.index()]).unwrap_or("")
            }
            (RecordKind::Outreach, Some(c)) => Channel::from_code(c).map(|k| t.channels[k.index()]).unwrap_or(""),
            _ => "",
        };
        words.push_str(extra);
        words.push(' ');
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_has_a_message_in_every_language() {
        // The last variant's index must be the last slot, so none is left unworded.
        assert_eq!(Problem::Unreadable as usize, PROBLEMS - 1);
        for lang in [Lang::Vi, Lang::En] {
            for m in lang.strings().problems {
                assert!(!m.is_empty());
            }
        }
    }

    #[test]
    fn vietnamese_is_written_with_full_diacritics() {
        let t = Lang::Vi.strings();
        assert_eq!(t.kinds[1], "Hỗ trợ chữ ký số");
        assert!(t.consent_label.contains("đồng ý"));
    }
}
