//! The previous device API (version 1), accepted for one release so that tablets can be
//! updated over weeks instead of all on the day the server is.
//!
//! A version-1 device was enrolled by the previous release: it was given the commune's
//! hashing key, hashed citizen-ID numbers itself and sent `cid_hash` with that key's id, and
//! its pull knew three kinds of change (`reference`, `coverage`, `erase`). What it may still
//! do, exactly:
//!
//! - **push**: yes. Its records are read as today's (version 1's shapes are a subset). A
//!   pushed `cid_hash` is accepted only when its `cid_key_id` is the commune's key (the one
//!   the device was given; the upgrade moved it into the key file unchanged) and the hash is
//!   64 lowercase hex digits (as the server makes them); any other key id is refused for that record alone, as a version-2 device's
//!   pushed hash always is. A sealed number (`cid_sealed`) is version 2's and is not
//!   expected from it; it is opened all the same.
//! - **pull**: yes, without the kinds it cannot read: entries addressed to one device (its
//!   assigned volunteers, first-PIN codes: `assignment`, `pin_code`) are left out, and its
//!   cursor still moves past them. Answers carry `api_version: 1`.
//! - **enrol**: no. A new device must speak version 2 (enrolment no longer hands out the
//!   commune's key); it is told to update the app (426, `update_app`).
//!
//! The release after this one drops version 1: its devices are then told to update.

use crate::domain::citizen_id::CidKey;
use crate::domain::Person;
use crate::protocol::{Change, API_VERSION};

/// The previous API version, still accepted for push and pull.
pub const PREVIOUS_API_VERSION: u32 = 1;

/// How a push's citizen-ID hashes are taken: version 2 sends only sealed numbers (a hash is
/// refused); version 1 may send a hash under the commune's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedHashes {
    Refused,
    CommuneKeyV1,
}

impl PushedHashes {
    /// The rule for a push in API `version`.
    pub fn for_version(version: u32) -> PushedHashes {
        if version == PREVIOUS_API_VERSION {
            PushedHashes::CommuneKeyV1
        } else {
            PushedHashes::Refused
        }
    }
}

/// True for the API versions push and pull accept.
pub fn sync_version_ok(version: u32) -> bool {
    version == API_VERSION || version == PREVIOUS_API_VERSION
}

/// True when a version-1 device's hash may be kept as it is: made under this commune's key
/// (by id), 64 hex digits, and no sealed number beside it.
pub fn v1_hash_ok(person: &Person, commune_key: &CidKey) -> bool {
    let hash_ok = person
        .cid_hash
        .as_deref()
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    hash_ok && person.cid_key_id.as_deref() == Some(commune_key.id.as_str()) && person.cid_sealed.is_none()
}

/// A pull's changes as a version-1 device can read them: without those addressed to one
/// device (`assignment`, `pin_code`), which version 1 did not know.
pub fn v1_changes(changes: Vec<(i64, Change)>) -> Vec<(i64, Change)> {
    changes
        .into_iter()
        .filter(|(_, c)| matches!(c, Change::Reference { .. } | Change::Coverage { .. } | Change::Erase { .. }))
        .collect()
}
