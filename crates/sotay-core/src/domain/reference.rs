//! Reference data the commune office keeps: the commune, its hamlets with adult
//! population and baseline, volunteers, certificate providers and the target.

use serde::{Deserialize, Serialize};

/// Longest hamlet or volunteer id.
pub const MAX_ID_BYTES: usize = 64;

/// True for an id the office may give a hamlet or a volunteer: 1 to [`MAX_ID_BYTES`] ASCII
/// letters, digits, `-` and `_`. Ids go into the office's links and form addresses, so a
/// `/` or `..` in one would turn a form into another route.
pub fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A hamlet (thôn, làng, tổ dân phố).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hamlet {
    pub id: String,
    pub name: String,
    /// Adults living in the hamlet (dân số trưởng thành).
    pub adult_population: u32,
    /// Adults who already had a digital or personal e-signature before Sổ tay.
    pub baseline_signed: u32,
}

/// A member of a community digital technology team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volunteer {
    pub id: String,
    pub name: String,
    /// The hamlet whose team they belong to; forms start there.
    pub hamlet_id: Option<String>,
    /// Team lead (tổ trưởng): their PIN unblocks a volunteer locked out by wrong PINs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lead: bool,
}

/// Who the device works for, and the numbers it is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub province: String,
    /// Target share of adults with a signature, in percent (default 50).
    pub target_percent: u32,
    /// True for the built-in practice commune.
    pub sample: bool,
}

/// Everything the forms need to offer choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceData {
    pub commune: Commune,
    pub hamlets: Vec<Hamlet>,
    pub volunteers: Vec<Volunteer>,
    /// Certificate providers offered in the signature form; "other" is always offered too.
    pub providers: Vec<String>,
}

impl ReferenceData {
    pub fn hamlet(&self, id: &str) -> Option<&Hamlet> {
        self.hamlets.iter().find(|h| h.id == id)
    }

    pub fn volunteer(&self, id: &str) -> Option<&Volunteer> {
        self.volunteers.iter().find(|v| v.id == id)
    }

    pub fn hamlet_name(&self, id: &str) -> String {
        self.hamlet(id).map(|h| h.name.clone()).unwrap_or_else(|| id.to_owned())
    }

    pub fn volunteer_name(&self, id: &str) -> String {
        self.volunteer(id).map(|v| v.name.clone()).unwrap_or_else(|| id.to_owned())
    }
}
