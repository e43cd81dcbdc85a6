//! The four kinds of record and their fields, as PRODUCT.md lists them.
//!
//! Every choice list is a [`code_enum!`] with a stable snake_case code: the code is what the
//! store, the wire, the API document and the exports carry (serde writes it), the position
//! in `ALL` is only what `i18n` indexes its labels by and is never stored.
//!
//! Every body struct refuses unknown fields, nested ones too, so a typo or a field from
//! a newer app is an error naming it, never silence.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares a closed choice list from one list of `Variant = "code"` pairs: `ALL` in
/// display order, `CODES` (the same order), lookups, and serde as the code itself, so the
/// store, the wire, the API document and the exports all spell a choice one way. Older
/// spellings follow a code after `|` and are still read (never written).
macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every code, in the order of `ALL`.
            pub const CODES: &'static [&'static str] = &[$($code),+];

            /// The stable code stored and sent for this choice.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The choice a code, or an older spelling of it, stands for.
            pub fn from_code(code: &str) -> Option<$name> {
                match code { $($code $(| $alias)* => Some($name::$variant),)+ _ => None }
            }

            /// Position in `ALL`, which is also the index of its label in `i18n`.
            pub fn index(self) -> usize {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Code;
                impl serde::de::Visitor<'_> for Code {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a code of ", stringify!($name)))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        // Without the value: an error must not repeat what was sent.
                        $name::from_code(v).ok_or_else(|| E::custom(concat!("not a code of ", stringify!($name))))
                    }
                }
                d.deserialize_str(Code)
            }
        }
    };
}

code_enum!(
    /// Which of the four record kinds a record is.
    RecordKind {
        Visit = "visit",
        SignatureHelp = "signature_help",
        Training = "training",
        Outreach = "outreach",
    }
);

code_enum!(
    /// Digital skills topics from the commune's letter.
    Topic {
        SmartDevices = "smart_devices",
        DataSafety = "data_safety",
        DigitalPlatforms = "digital_platforms",
        PublicServices = "public_services",
        CashlessPayment = "cashless_payment",
        AvoidScams = "avoid_scams",
        Vneid = "vneid",
        DigitalSignature = "digital_signature",
    }
);

code_enum!(
    /// Sex as the person states it; never inferred from a name.
    Sex { Female = "female", Male = "male", Other = "other" }
);

code_enum!(
    /// VNeID account level.
    AccountLevel { None = "none", Level1 = "level1", Level2 = "level2" }
);

code_enum!(
    /// What came of a signature-help session.
    Outcome {
        DigitalSignature = "digital_signature",
        PersonalESignature = "personal_e_signature",
        NotCompleted = "not_completed",
    }
);

code_enum!(
    /// Why a signature-help session did not complete.
    FailureReason {
        NoSmartphone = "no_smartphone",
        NoNfc = "no_nfc",
        NoLevel2 = "no_level2",
        AwaitingApproval = "awaiting_approval",
        PhoneMismatch = "phone_mismatch",
        ScanFailed = "scan_failed",
        ForgotPasscode = "forgot_passcode",
        WrongPoliceData = "wrong_police_data",
        SystemError = "system_error",
        Declined = "declined",
        Other = "other",
    }
);

code_enum!(
    /// The kind of a training or meeting.
    TrainingKind {
        Class = "class",
        HamletMeeting = "hamlet_meeting",
        FocusedSupport = "focused_support",
    }
);

code_enum!(
    /// The learning platform a training used.
    Platform {
        // Written `binh_dan_hoc_vu_so` on the wire and in stores before codes and serde
        // names came from one list.
        BinhDanHocVuSo = "binhdanhocvuso" | "binh_dan_hoc_vu_so",
        Mooc = "mooc",
        Other = "other",
    }
);

code_enum!(
    /// The channel of an outreach activity.
    Channel {
        Loudspeaker = "loudspeaker",
        Leaflet = "leaflet",
        Poster = "poster",
        SocialMedia = "social_media",
        WebArticle = "web_article",
        MeetingItem = "meeting_item",
    }
);

/// Household visit (hỗ trợ trực tiếp tại hộ gia đình).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    pub household: String,
    pub people_helped: u32,
    pub topics: Vec<Topic>,
    pub notes: String,
}

/// Personal details of a person helped, present only when they consented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub display_name: String,
    pub birth_year: u16,
    pub sex: Sex,
    pub ethnic_group: Option<String>,
    pub phone: Option<String>,
    /// HMAC-SHA-256 of the citizen-ID number under `cid_key_id`: on a device, a key of
    /// that device only (never sent); on the server, the commune's key (never on a device).
    pub cid_hash: Option<String>,
    pub cid_key_id: Option<String>,
    /// The number sealed to the server's public key (`citizen_id::CitizenId::seal`): kept
    /// and sent by the device, which cannot read it; the server hashes it and drops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid_sealed: Option<String>,
    pub cid_last4: Option<String>,
}

/// Signature help (hướng dẫn chữ ký số trên VNeID), one per person helped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureHelp {
    pub consent: bool,
    /// `None` whenever `consent` is false: then only counts and outcome are kept.
    pub person: Option<Person>,
    pub level_before: AccountLevel,
    pub level_after: AccountLevel,
    pub outcome: Outcome,
    pub failure_reason: Option<FailureReason>,
    pub provider: Option<String>,
    /// The visit or meeting this session belongs to, if any.
    pub parent_id: Option<Uuid>,
}

/// Training or meeting (lớp tập huấn / lồng ghép sinh hoạt thôn / hỗ trợ tập trung).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub kind: TrainingKind,
    pub topics: Vec<Topic>,
    pub total: u32,
    pub women: u32,
    pub ethnic_minority: u32,
    pub trainers: String,
    pub platform: Platform,
    pub platform_other: Option<String>,
}

/// Outreach (tuyên truyền).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outreach {
    pub channel: Channel,
    pub quantity: u32,
    pub reach: u32,
    pub notes: String,
}

/// The kind-specific part of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    Visit(Visit),
    SignatureHelp(SignatureHelp),
    Training(Training),
    Outreach(Outreach),
}

impl Body {
    pub fn kind(&self) -> RecordKind {
        match self {
            Body::Visit(_) => RecordKind::Visit,
            Body::SignatureHelp(_) => RecordKind::SignatureHelp,
            Body::Training(_) => RecordKind::Training,
            Body::Outreach(_) => RecordKind::Outreach,
        }
    }

    /// Person-times (lượt) this record stands for.
    pub fn person_times(&self) -> u32 {
        match self {
            Body::Visit(v) => v.people_helped,
            Body::SignatureHelp(_) => 1,
            Body::Training(t) => t.total,
            Body::Outreach(_) => 0,
        }
    }

    /// True when a person left with a digital or personal e-signature.
    pub fn signed(&self) -> bool {
        matches!(self, Body::SignatureHelp(s) if s.outcome != Outcome::NotCompleted)
    }

    /// The key that counts a signed person once: their citizen-ID hash when there is one.
    pub fn person_key(&self) -> Option<&str> {
        match self {
            Body::SignatureHelp(s) => s.person.as_ref()?.cid_hash.as_deref(),
            _ => None,
        }
    }

    pub fn parent_id(&self) -> Option<Uuid> {
        match self {
            Body::SignatureHelp(s) => s.parent_id,
            _ => None,
        }
    }

    /// What the list's label of a record depends on besides its kind: the training kind or
    /// the outreach channel, as its code.
    pub fn subtype(&self) -> Option<&'static str> {
        match self {
            Body::Training(t) => Some(t.kind.code()),
            Body::Outreach(o) => Some(o.channel.code()),
            Body::Visit(_) | Body::SignatureHelp(_) => None,
        }
    }

    /// Drops what could identify a person, keeping what the record counts: the person
    /// helped (and with it the consent), and the free text a volunteer may have written a
    /// name into (a visit's household label and notes, an outreach's notes). Used for an
    /// erasure on request and on a revoked device, on the server and on devices alike.
    /// True if anything was there to drop.
    pub fn erase_personal(&mut self) -> bool {
        match self {
            Body::SignatureHelp(s) => {
                let had = s.person.is_some();
                s.person = None;
                s.consent = false;
                had
            }
            Body::Visit(v) => {
                let had = v.household != ERASED_TEXT || !v.notes.is_empty();
                v.household = ERASED_TEXT.to_owned();
                v.notes.clear();
                had
            }
            Body::Outreach(o) => !std::mem::take(&mut o.notes).is_empty(),
            Body::Training(_) => false,
        }
    }

    /// Every (kind, subtype) a record can have, for matching search words against labels.
    pub fn label_choices() -> Vec<(RecordKind, Option<&'static str>)> {
        RecordKind::ALL
            .iter()
            .flat_map(|&kind| -> Vec<(RecordKind, Option<&'static str>)> {
                match kind {
                    RecordKind::Training => TrainingKind::CODES.iter().map(|t| (kind, Some(*t))).collect(),
                    RecordKind::Outreach => Channel::CODES.iter().map(|c| (kind, Some(*c))).collect(),
                    RecordKind::Visit | RecordKind::SignatureHelp => vec![(kind, None)],
                }
            })
            .collect()
    }

    /// The record's own words search matches (names, household, notes, trainers); the
    /// words of its hamlet, volunteer and label are matched through their ids instead.
    pub fn search_words(&self) -> String {
        match self {
            Body::Visit(v) => format!("{} {}", v.household, v.notes),
            Body::SignatureHelp(s) => s
                .person
                .as_ref()
                .map(|p| format!("{} {}", p.display_name, p.ethnic_group.as_deref().unwrap_or("")))
                .unwrap_or_default(),
            Body::Training(t) => t.trainers.clone(),
            Body::Outreach(o) => o.notes.clone(),
        }
    }
}

/// What an erased free-text field holds (a required field cannot be empty).
pub const ERASED_TEXT: &str = "—";

/// Where a record stands with the commune server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Queued in the outbox, waiting to be sent.
    Pending,
    /// The server acknowledged the current version.
    Sent,
    /// The server refused it; `reject_reason` says why.
    Rejected,
    /// A practice record on the sample commune: never leaves the device.
    Practice,
}

impl SyncState {
    pub const ALL: &'static [SyncState] =
        &[SyncState::Pending, SyncState::Sent, SyncState::Rejected, SyncState::Practice];

    pub fn code(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Sent => "sent",
            SyncState::Rejected => "rejected",
            SyncState::Practice => "practice",
        }
    }

    pub fn from_code(code: &str) -> Option<SyncState> {
        SyncState::ALL.iter().copied().find(|s| s.code() == code)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What every record carries besides its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Made on the device, UUIDv7 so ids sort by creation time.
    pub id: Uuid,
    pub hamlet_id: String,
    pub volunteer_id: String,
    pub device_id: String,
    /// Business time: when the activity happened, in local time as the volunteer gave it.
    pub occurred_at: NaiveDateTime,
    /// When this version was saved on the device.
    pub saved_at: DateTime<Utc>,
    pub version: i64,
    pub voided: bool,
    pub void_reason: Option<String>,
    /// Made against the built-in sample commune: never sent anywhere.
    pub sample: bool,
}

/// A stored record with its sync state.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub meta: Meta,
    pub body: Body,
    pub sync_state: SyncState,
    pub reject_reason: Option<String>,
}

/// A record the volunteer is saving: body and who/where/when, before the store stamps
/// id, version and save time.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub hamlet_id: String,
    pub volunteer_id: String,
    pub occurred_at: NaiveDateTime,
    pub body: Body,
}

/// One earlier (or the current) version of a record, as kept in its history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub version: i64,
    pub saved_at: DateTime<Utc>,
    pub volunteer_id: String,
    pub voided: bool,
    pub body: Body,
}

/// A new UUIDv7 record id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_for_every_choice() {
        for t in Topic::ALL {
            assert_eq!(Topic::from_code(t.code()), Some(*t));
        }
        for r in FailureReason::ALL {
            assert_eq!(FailureReason::from_code(r.code()), Some(*r));
        }
        for s in SyncState::ALL {
            assert_eq!(SyncState::from_code(s.code()), Some(*s));
        }
        assert_eq!(Channel::from_code("nope"), None);
    }

    /// Every list's codes are its serde names: what the store, the wire and the API document
    /// carry is one spelling.
    fn serde_is_the_code<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Copy>(
        all: &[T],
        codes: &[&str],
        code: impl Fn(T) -> &'static str,
    ) {
        assert_eq!(all.len(), codes.len());
        for (choice, listed) in all.iter().zip(codes) {
            assert_eq!(code(*choice), *listed);
            assert_eq!(serde_json::to_value(choice).unwrap(), serde_json::json!(listed));
            assert_eq!(serde_json::from_value::<T>(serde_json::json!(listed)).unwrap(), *choice);
        }
        assert!(serde_json::from_value::<T>(serde_json::json!("no_such_code")).is_err());
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len(), "codes are distinct");
    }

    #[test]
    fn every_choice_is_written_and_read_as_its_one_code() {
        serde_is_the_code(RecordKind::ALL, RecordKind::CODES, RecordKind::code);
        serde_is_the_code(Topic::ALL, Topic::CODES, Topic::code);
        serde_is_the_code(Sex::ALL, Sex::CODES, Sex::code);
        serde_is_the_code(AccountLevel::ALL, AccountLevel::CODES, AccountLevel::code);
        serde_is_the_code(Outcome::ALL, Outcome::CODES, Outcome::code);
        serde_is_the_code(FailureReason::ALL, FailureReason::CODES, FailureReason::code);
        serde_is_the_code(TrainingKind::ALL, TrainingKind::CODES, TrainingKind::code);
        serde_is_the_code(Platform::ALL, Platform::CODES, Platform::code);
        serde_is_the_code(Channel::ALL, Channel::CODES, Channel::code);
        // A body's type tag is its kind's code.
        let body = Body::Outreach(Outreach { channel: Channel::Poster, quantity: 1, reach: 0, notes: String::new() });
        assert_eq!(serde_json::to_value(&body).unwrap()["type"], body.kind().code());
    }

    #[test]
    fn an_older_spelling_is_still_read_and_written_as_the_code() {
        let old: Platform = serde_json::from_str("\"binh_dan_hoc_vu_so\"").unwrap();
        assert_eq!(old, Platform::BinhDanHocVuSo);
        assert_eq!(Platform::from_code("binh_dan_hoc_vu_so"), Some(Platform::BinhDanHocVuSo));
        assert_eq!(serde_json::to_string(&old).unwrap(), "\"binhdanhocvuso\"");
    }

    #[test]
    fn a_body_refuses_unknown_fields_at_every_depth() {
        let visit = r#"{"type":"visit","household":"A","people_helped":1,"topics":[],"notes":"","x":1}"#;
        assert!(serde_json::from_str::<Body>(visit).is_err());
        let person = r#"{"type":"signature_help","consent":true,"person":{"display_name":"A","birth_year":1980,"sex":"male","ethnic_group":null,"phone":null,"cid_hash":null,"cid_key_id":null,"cid_last4":null,"x":1},"level_before":"none","level_after":"none","outcome":"not_completed","failure_reason":"other","provider":null,"parent_id":null}"#;
        assert!(serde_json::from_str::<Body>(person).is_err());
        assert!(serde_json::from_str::<Body>(&person.replace(r#","x":1"#, "")).is_ok());
        let twice = r#"{"type":"outreach","channel":"poster","quantity":1,"reach":0,"notes":"","notes":"b"}"#;
        assert!(serde_json::from_str::<Body>(twice).is_err());
    }

    #[test]
    fn only_completed_signature_sessions_count_as_signed() {
        let mut s = SignatureHelp {
            consent: false,
            person: None,
            level_before: AccountLevel::Level1,
            level_after: AccountLevel::Level2,
            outcome: Outcome::DigitalSignature,
            failure_reason: None,
            provider: None,
            parent_id: None,
        };
        assert!(Body::SignatureHelp(s.clone()).signed());
        s.outcome = Outcome::NotCompleted;
        assert!(!Body::SignatureHelp(s).signed());
    }
}
