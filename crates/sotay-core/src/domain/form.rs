//! The forms as typed: plain structs of the raw inputs (strings, ticks, choices), so a
//! half-filled form can be kept as a draft exactly as typed. Reading them into records is
//! [`super::validate`]'s work; the citizen-ID number is the one input a draft never keeps
//! (`#[serde(skip)]`).

use serde::{Deserialize, Serialize};

use super::record::*;

/// Who/where/when every form shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommonForm {
    pub hamlet_id: String,
    /// `YYYY-MM-DD`, as an `<input type=date>` gives it.
    pub date: String,
    /// `HH:MM`.
    pub time: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitForm {
    pub common: CommonForm,
    pub household: String,
    pub people_helped: String,
    pub topics: Vec<Topic>,
    pub notes: String,
}

/// A citizen-ID hash already on a record being edited; kept unless a new number is typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptCid {
    pub hash: String,
    pub key_id: String,
    #[serde(default)]
    pub sealed: Option<String>,
    pub last4: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureForm {
    pub common: CommonForm,
    pub consent: bool,
    pub display_name: String,
    pub birth_year: String,
    pub sex: String,
    pub ethnic_group: String,
    pub phone: String,
    /// The number as typed. Never written to a draft, the store, a log or an error.
    #[serde(skip)]
    pub citizen_id: String,
    pub keep_last4: bool,
    pub kept_cid: Option<KeptCid>,
    pub level_before: AccountLevel,
    pub level_after: AccountLevel,
    /// Unchosen until the volunteer picks one: nothing is counted by default.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    pub failure_reason: String,
    pub provider: String,
    pub provider_other: String,
    pub parent_id: String,
}

impl Default for SignatureForm {
    fn default() -> Self {
        SignatureForm {
            common: CommonForm::default(),
            consent: false,
            display_name: String::new(),
            birth_year: String::new(),
            sex: String::new(),
            ethnic_group: String::new(),
            phone: String::new(),
            citizen_id: String::new(),
            keep_last4: false,
            kept_cid: None,
            level_before: AccountLevel::None,
            level_after: AccountLevel::Level2,
            outcome: None,
            failure_reason: String::new(),
            provider: String::new(),
            provider_other: String::new(),
            parent_id: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingForm {
    pub common: CommonForm,
    pub kind: TrainingKind,
    pub topics: Vec<Topic>,
    pub total: u32,
    pub women: u32,
    pub ethnic_minority: u32,
    pub trainers: String,
    pub platform: Platform,
    pub platform_other: String,
}

impl Default for TrainingForm {
    fn default() -> Self {
        TrainingForm {
            common: CommonForm::default(),
            kind: TrainingKind::HamletMeeting,
            topics: Vec::new(),
            total: 0,
            women: 0,
            ethnic_minority: 0,
            trainers: String::new(),
            platform: Platform::BinhDanHocVuSo,
            platform_other: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutreachForm {
    pub common: CommonForm,
    pub channel: Channel,
    pub quantity: String,
    pub reach: String,
    pub notes: String,
}

impl Default for OutreachForm {
    fn default() -> Self {
        OutreachForm {
            common: CommonForm::default(),
            channel: Channel::Loudspeaker,
            quantity: String::new(),
            reach: String::new(),
            notes: String::new(),
        }
    }
}

/// Any of the four forms, as kept in a draft. Forms are few and short-lived, so the size
/// difference between variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Form {
    Visit(VisitForm),
    SignatureHelp(SignatureForm),
    Training(TrainingForm),
    Outreach(OutreachForm),
}
