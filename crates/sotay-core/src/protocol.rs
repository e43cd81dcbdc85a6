//! The wire between the app's sync client and the commune server: request and response
//! types, the API version, and the limits both sides agree on.
//!
//! Shared by `sync` (app) and `server`; depends only on `domain`. Every response carries
//! `api_version`, and the server also sends it in the `x-sotay-api` header. JSON field
//! names are short where they repeat per record (a push of 100 records is mostly record
//! bodies), and every type refuses unknown fields so a typo is an error, not silence.
//! A pushed record obeys the same rule set as the app's form ([`WireRecord::check`]); the
//! server reads and checks each record of a push on its own, so one it cannot read or
//! accept is refused alone. `docs/openapi.json` describes all of it, and a test holds it to
//! these types and to the rule set.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::rules::{self, FieldError, Rules, Stamp};
use crate::domain::{Body, ReferenceData};

/// The API this build speaks. A request with another major version is refused with
/// [`ErrorCode::UpdateApp`]. Version 2: devices seal citizen-ID numbers to the server's
/// key instead of hashing them under a commune key they were given.
pub const API_VERSION: u32 = 2;
/// Header carrying [`API_VERSION`]: on every response, and optionally on requests, where
/// another version is refused like a body's `api_version`.
pub const API_HEADER: &str = "x-sotay-api";

/// Most records in one push.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Largest push body on the wire (compressed) and after decompression.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_DECOMPRESSED_BYTES: usize = 8 * 1024 * 1024;
/// Longest free-text field the server accepts.
pub const MAX_TEXT_CHARS: usize = rules::LONG_TEXT;
/// Changes in one pull page: `limit` defaults to this, and may be 1 to [`MAX_PULL_LIMIT`].
pub const PULL_LIMIT: usize = 200;
pub const MAX_PULL_LIMIT: usize = 1000;

/// `POST /api/v1/enrol`: a one-time code for a device id, token and reference data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub api_version: u32,
    pub code: String,
    /// A label the office sees in the device list ("Máy tính bảng thôn Plei").
    pub device_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolResponse {
    pub api_version: u32,
    pub device_id: String,
    /// Bearer token for every later call; the server keeps only its hash.
    pub token: String,
    /// The server's public key (hex, X25519) that devices seal citizen-ID numbers to. The
    /// key that hashes them stays on the server: a device never holds it.
    pub seal_key: String,
    pub reference: ReferenceData,
    pub server_time: DateTime<Utc>,
}

/// One record version as pushed. The device is known from the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRecord {
    pub id: Uuid,
    #[serde(rename = "v")]
    pub version: i64,
    #[serde(rename = "h")]
    pub hamlet_id: String,
    #[serde(rename = "u")]
    pub volunteer_id: String,
    /// Business time, local, as the volunteer gave it.
    #[serde(rename = "at")]
    pub occurred_at: NaiveDateTime,
    /// Device time of the save: informational only; nothing is ordered by it.
    #[serde(rename = "sv")]
    pub saved_at: DateTime<Utc>,
    #[serde(rename = "x", default, skip_serializing_if = "std::ops::Not::not")]
    pub voided: bool,
    #[serde(rename = "xr", default, skip_serializing_if = "Option::is_none")]
    pub void_reason: Option<String>,
    #[serde(rename = "b")]
    pub body: Body,
}

impl WireRecord {
    /// The one rule set, as the server runs it on a pushed record: the stamp (id, version,
    /// volunteer, save time, void reason) against the commune and the server's clock, then
    /// who/where/when and the body as the app's form checks them, for a save at `saved_at`.
    pub fn check(&self, reference: &ReferenceData, server_now: DateTime<Utc>) -> Vec<FieldError> {
        let stamp = Stamp {
            id: self.id,
            version: self.version,
            volunteer_id: &self.volunteer_id,
            saved_at: self.saved_at,
            void_reason: self.void_reason.as_deref(),
        };
        let mut problems = rules::check_stamp(&stamp, reference, server_now);
        if self.voided {
            // A void counts nothing and always wins: it is taken whatever the body holds
            // (an older app's record, a hamlet removed since), so it always stops the count.
            return problems;
        }
        let rules = Rules::saved_at(reference, self.saved_at);
        for e in rules::check_entry(&self.hamlet_id, self.occurred_at, &self.body, &rules) {
            if !problems.iter().any(|p| p.field == e.field) {
                problems.push(e);
            }
        }
        problems
    }
}

/// What the device says about itself with each push; the office sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceReport {
    /// Records still waiting in the outbox once this batch is through.
    pub queued: u32,
    pub app_version: String,
}

/// `POST /api/v1/c/{commune}/push` (JSON, gzip-compressed by the app). The server reads
/// `records` one by one: a record it cannot read is refused alone, naming the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub api_version: u32,
    pub device: DeviceReport,
    pub records: Vec<WireRecord>,
}

/// What became of one pushed record version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Stored: new, or newer than what the server had.
    Applied,
    /// The server already had this id at this version.
    Duplicate,
    /// The server has a newer version.
    Stale,
    /// Refused; `reason` says why. Only this record.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordResult {
    pub id: Uuid,
    #[serde(rename = "v")]
    pub version: i64,
    #[serde(rename = "r")]
    pub result: Applied,
    /// Why it was rejected, in Vietnamese, for the volunteer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    pub api_version: u32,
    pub server_time: DateTime<Utc>,
    pub results: Vec<RecordResult>,
    /// Only when the push asked with `?after=SEQ`: the changes after that cursor, read once
    /// the push had committed, so an app that sends its cursor needs no pull after its
    /// last push (one round trip fewer on a slow link). An app that does not ask never
    /// receives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PushPull>,
}

/// The page of changes a push answer carries ([`PushResponse::pull`]): as a pull's, each
/// change still to be read on its own ([`PushPull::known`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushPull {
    pub changes: Vec<(i64, serde_json::Value)>,
    /// The cursor to ask after next time (the last sequence number given, or `after`).
    pub cursor: i64,
    pub more: bool,
}

impl PushPull {
    /// The changes this app knows, in order, and the sequence numbers of those it skipped.
    pub fn known(&self) -> (Vec<(i64, Change)>, Vec<i64>) {
        let mut known = Vec::with_capacity(self.changes.len());
        let mut skipped = Vec::new();
        for (seq, value) in &self.changes {
            match Change::deserialize(value) {
                Ok(change) => known.push((*seq, change)),
                Err(_) => skipped.push(*seq),
            }
        }
        (known, skipped)
    }
}

/// One hamlet's commune-wide figures, counts only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HamletCoverage {
    pub hamlet_id: String,
    /// Distinct people helped to a signature, across all devices.
    pub helped_signed: u32,
}

/// One entry of the server's change log, in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    Reference {
        reference: ReferenceData,
    },
    Coverage {
        coverage: HamletCoverage,
    },
    /// A person asked for their data to be erased: drop the personal details of this
    /// record (and its history) on the device; keep what it counts.
    Erase {
        id: Uuid,
    },
    /// For this device only: the volunteers the office assigned to it, the only ones it
    /// offers on its lock screen.
    Assignment {
        volunteers: Vec<String>,
    },
    /// For this device only: a one-time code from the office that lets a volunteer choose
    /// a first PIN here. `hash` is an argon2id PHC string of the code; the code itself
    /// travels on paper, never on the wire.
    PinCode {
        volunteer_id: String,
        hash: String,
        expires_at: DateTime<Utc>,
    },
}

/// `GET /api/v1/c/{commune}/pull?after=SEQ&limit=N`: changes after the device's cursor
/// (`after` from 0, `limit` from 1 to [`MAX_PULL_LIMIT`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullResponse {
    pub api_version: u32,
    pub server_time: DateTime<Utc>,
    pub changes: Vec<(i64, Change)>,
    /// The cursor to ask from next time (the last sequence number in `changes`).
    pub cursor: i64,
    pub more: bool,
}

/// A pull page as the app reads it: each change is read on its own, so a change of a kind
/// this app does not know (from a newer server) is skipped, not fatal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullPage {
    pub api_version: u32,
    pub server_time: DateTime<Utc>,
    pub changes: Vec<(i64, Box<serde_json::value::RawValue>)>,
    pub cursor: i64,
    pub more: bool,
}

impl PullPage {
    /// The changes this app knows, in order, and the sequence numbers of those it skipped.
    pub fn known(&self) -> (Vec<(i64, Change)>, Vec<i64>) {
        let mut known = Vec::with_capacity(self.changes.len());
        let mut skipped = Vec::new();
        for (seq, raw) in &self.changes {
            match serde_json::from_str::<Change>(raw.get()) {
                Ok(change) => known.push((*seq, change)),
                Err(_) => skipped.push(*seq),
            }
        }
        (known, skipped)
    }
}

/// Machine-readable error kinds, so the app can act on them (and word them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Revoked,
    Forbidden,
    EnrolCodeInvalid,
    TooLarge,
    RateLimited,
    UpdateApp,
    NotFound,
    MethodNotAllowed,
    Timeout,
    UnsupportedEncoding,
    Internal,
}

/// The body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub api_version: u32,
    pub error: ErrorCode,
    /// For a person, in Vietnamese; never contains personal data.
    pub message: String,
}
