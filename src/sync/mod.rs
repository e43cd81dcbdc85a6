//! Sync: sends the outbox to the commune server exactly once and pulls reference data and
//! coverage, over bad links, never losing a record.
//!
//! Between `ui` and `store`: it reads the outbox through the store and talks to the server
//! through [`client`]; the decisions are pure functions in [`engine`]. Nothing here knows
//! Dioxus. An outbox row leaves only when the server has acknowledged that exact version,
//! in one store transaction ([`Store::settle_push`]); a crash at any instant leaves the
//! record queued, and sending it again is answered "duplicate", never stored twice.

pub mod client;
pub mod engine;
pub mod pinning;
pub mod push;
pub mod worker;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::citizen_id::SealKey;
use crate::enrol_link::Fingerprint;
use crate::protocol::*;
use crate::store::{Enrolment, Pulled, Store, StoreError};
use engine::BatchSize;

pub use client::{Client, Options};

/// What can go wrong with a sync, and whether trying again later can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    #[error("no connection to the server")]
    Offline,
    #[error("the server address is not valid")]
    BadServerUrl,
    #[error("the server failed ({0})")]
    Server(u16),
    #[error("the batch was too large")]
    TooLarge,
    #[error("too many requests")]
    RateLimited,
    #[error("the device is not enrolled")]
    NotEnrolled,
    #[error("the enrolment code was refused")]
    EnrolCode(String),
    #[error("the device is not authorised")]
    Unauthorized(String),
    #[error("the device was revoked")]
    Revoked(String),
    #[error("the app must be updated")]
    UpdateApp(String),
    #[error("the server refused the request ({0})")]
    Refused(u16, String),
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("device store: {0}")]
    Store(String),
    #[error("plain http:// is refused except to this machine")]
    PlainHttp,
    #[error("the server's certificate is not the one pinned at enrolment")]
    CertMismatch,
    #[error("the server's certificate is not trusted and no fingerprint was given")]
    CertUntrusted,
    #[error("the certificate fingerprint is not valid")]
    BadFingerprint,
}

impl SyncError {
    fn from_transport(e: reqwest::Error) -> SyncError {
        if e.is_builder() {
            SyncError::BadServerUrl
        } else {
            // Connect failures, timeouts, resets and truncated bodies are all "offline":
            // the record stays queued and goes again.
            SyncError::Offline
        }
    }

    /// True when waiting and trying again cannot help: the volunteer or the office must act.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SyncError::BadServerUrl
                | SyncError::PlainHttp
                | SyncError::CertMismatch
                | SyncError::CertUntrusted
                | SyncError::BadFingerprint
                | SyncError::NotEnrolled
                | SyncError::EnrolCode(_)
                | SyncError::Unauthorized(_)
                | SyncError::Revoked(_)
                | SyncError::UpdateApp(_)
        )
    }

    /// Every kind, in the order `i18n` words them.
    pub const CODES: [&'static str; 17] = [
        "offline",
        "bad_server_url",
        "server",
        "too_large",
        "rate_limited",
        "not_enrolled",
        "enrol_code",
        "unauthorized",
        "revoked",
        "update_app",
        "refused",
        "protocol",
        "store",
        "plain_http",
        "cert_mismatch",
        "cert_untrusted",
        "bad_fingerprint",
    ];

    /// Position in [`SyncError::CODES`], which is also the index of its wording in `i18n`.
    pub fn index(&self) -> usize {
        match self {
            SyncError::Offline => 0,
            SyncError::BadServerUrl => 1,
            SyncError::Server(_) => 2,
            SyncError::TooLarge => 3,
            SyncError::RateLimited => 4,
            SyncError::NotEnrolled => 5,
            SyncError::EnrolCode(_) => 6,
            SyncError::Unauthorized(_) => 7,
            SyncError::Revoked(_) => 8,
            SyncError::UpdateApp(_) => 9,
            SyncError::Refused(..) => 10,
            SyncError::Protocol(_) => 11,
            SyncError::Store(_) => 12,
            SyncError::PlainHttp => 13,
            SyncError::CertMismatch => 14,
            SyncError::CertUntrusted => 15,
            SyncError::BadFingerprint => 16,
        }
    }

    pub fn code(&self) -> &'static str {
        Self::CODES[self.index()]
    }

    /// The kind back from its code (as kept in settings), without the server's message.
    pub fn from_code(code: &str) -> Option<SyncError> {
        Some(match code {
            "offline" => SyncError::Offline,
            "bad_server_url" => SyncError::BadServerUrl,
            "server" => SyncError::Server(500),
            "too_large" => SyncError::TooLarge,
            "rate_limited" => SyncError::RateLimited,
            "not_enrolled" => SyncError::NotEnrolled,
            "enrol_code" => SyncError::EnrolCode(String::new()),
            "unauthorized" => SyncError::Unauthorized(String::new()),
            "revoked" => SyncError::Revoked(String::new()),
            "update_app" => SyncError::UpdateApp(String::new()),
            "refused" => SyncError::Refused(400, String::new()),
            "protocol" => SyncError::Protocol(String::new()),
            "store" => SyncError::Store(String::new()),
            "plain_http" => SyncError::PlainHttp,
            "cert_mismatch" => SyncError::CertMismatch,
            "cert_untrusted" => SyncError::CertUntrusted,
            "bad_fingerprint" => SyncError::BadFingerprint,
            _ => return None,
        })
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Store(e.to_string())
    }
}

/// What one sync achieved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub sent: usize,
    pub rejected: usize,
    pub changes_pulled: usize,
    /// Server clock minus device clock, measured on the last answer.
    pub clock_offset_secs: i64,
    pub server_time: Option<DateTime<Utc>>,
}

async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|_| SyncError::Store("task".into()))?
        .map_err(Into::into)
}

/// Enrols the device with a server using a one-time code, trusting the server's
/// certificate through the public roots (a server behind a proxy with a public
/// certificate, or plain `http://` to this machine).
pub async fn enrol(store: &Arc<Store>, server_url: &str, code: &str, device_name: &str) -> Result<(), SyncError> {
    enrol_pinned(store, server_url, None, code, device_name).await
}

/// Enrols the device with a server using a one-time code; with a `pin` (the fingerprint
/// from the enrolment link) the server must present exactly that certificate, now and at
/// every later sync.
pub async fn enrol_pinned(
    store: &Arc<Store>,
    server_url: &str,
    pin: Option<Fingerprint>,
    code: &str,
    device_name: &str,
) -> Result<(), SyncError> {
    let client = Client::pinned(server_url, pin, &Options::default())?;
    let answer = client.enrol(code, device_name).await?;
    let key = SealKey::from_hex(&answer.seal_key).ok_or_else(|| SyncError::Protocol("sealing key".into()))?;
    let enrolment = Enrolment {
        server_url: client::server_base(server_url)?,
        commune: answer.reference.commune.code.clone(),
        token: answer.token,
        device_id: answer.device_id,
        cert_pin: pin.map(|p| p.to_hex()),
    };
    let reference = answer.reference;
    let kept = enrolment.clone();
    blocking(store, move |s| s.enrol(&enrolment, &key, &reference)).await?;
    // At once, so the lock screen offers the volunteers the office assigned to this device
    // (and knows their first-PIN codes); if the link fails now, the next sync brings them.
    let _ = pull_all(store, &client, &kept, &mut Report::default()).await;
    Ok(())
}

/// One full sync: push the whole outbox in batches, then pull every change (the last push's
/// answer usually brings them: see [`push`]).
pub async fn run_once(store: &Arc<Store>, batch: &mut BatchSize) -> Result<Report, SyncError> {
    run_once_with(store, batch, &Options::default()).await
}

/// [`run_once`] with given timeouts.
///
/// When the server answers that this device is revoked, the personal details of every
/// record the server already has are erased from the device before the error is returned
/// ([`Store::wipe_after_revocation`]); unsent records are kept.
pub async fn run_once_with(store: &Arc<Store>, batch: &mut BatchSize, options: &Options) -> Result<Report, SyncError> {
    match push_and_pull(store, batch, options).await {
        Err(SyncError::Revoked(message)) => {
            blocking(store, |s| s.wipe_after_revocation()).await?;
            Err(SyncError::Revoked(message))
        }
        other => other,
    }
}

async fn push_and_pull(store: &Arc<Store>, batch: &mut BatchSize, options: &Options) -> Result<Report, SyncError> {
    let enrolment = blocking(store, |s| s.enrolment()).await?.ok_or(SyncError::NotEnrolled)?;
    let pin = match &enrolment.cert_pin {
        Some(hex) => Some(Fingerprint::parse(hex).ok_or(SyncError::BadFingerprint)?),
        None => None,
    };
    let client = Client::pinned(&enrolment.server_url, pin, options)?;
    let mut report = Report::default();
    if push::push_all(store, &client, &enrolment, batch, &mut report).await? {
        pull_all(store, &client, &enrolment, &mut report).await?;
    }
    Ok(report)
}

/// Pulls every change after the device's cursor, page by page, each applied with the cursor
/// in one store transaction.
async fn pull_all(
    store: &Arc<Store>,
    client: &Client,
    enrolment: &Enrolment,
    report: &mut Report,
) -> Result<(), SyncError> {
    loop {
        let after = blocking(store, |s| s.pull_cursor()).await?;
        let asked_at = Utc::now();
        let page = client.pull(&enrolment.commune, &enrolment.token, after).await?;
        report.server_time = Some(page.server_time);
        report.clock_offset_secs = (page.server_time - asked_at).num_seconds();
        let (changes, skipped) = page.known();
        for seq in skipped {
            // A change of a kind this app does not know (a newer server's): passed over.
            tracing::warn!(seq, "pulled change of an unknown kind skipped");
        }
        report.changes_pulled += changes.len();
        let more = page.more;
        let cursor = page.cursor;
        let changes: Vec<Pulled> = changes.into_iter().map(|(_, c)| pulled(c)).collect();
        blocking(store, move |s| s.apply_pull(&changes, cursor)).await?;
        if !more {
            return Ok(());
        }
    }
}

/// A stored record as pushed. The device's own ID hash stays on the device: the server
/// hashes the sealed number under the commune's key.
/// A change from the server's log in the store's terms.
pub fn pulled(change: Change) -> Pulled {
    match change {
        Change::Reference { reference } => Pulled::Reference(reference),
        Change::Coverage { coverage } => {
            Pulled::Coverage { hamlet_id: coverage.hamlet_id, helped_signed: coverage.helped_signed }
        }
        Change::Erase { id } => Pulled::Erase(id),
        Change::Assignment { volunteers } => Pulled::Assignment(volunteers),
        Change::PinCode { volunteer_id, hash, expires_at } => Pulled::PinCode { volunteer_id, hash, expires_at },
    }
}

pub fn to_wire(r: &crate::domain::Record) -> WireRecord {
    let mut body = r.body.clone();
    if let crate::domain::Body::SignatureHelp(s) = &mut body {
        if let Some(p) = &mut s.person {
            p.cid_hash = None;
            p.cid_key_id = None;
        }
    }
    WireRecord {
        id: r.meta.id,
        version: r.meta.version,
        hamlet_id: r.meta.hamlet_id.clone(),
        volunteer_id: r.meta.volunteer_id.clone(),
        occurred_at: r.meta.occurred_at,
        // Whole seconds: the save time is informational, and its microseconds would cost
        // bytes on the wire that gzip cannot squeeze.
        saved_at: chrono::SubsecRound::trunc_subsecs(r.meta.saved_at, 0),
        voided: r.meta.voided,
        void_reason: r.meta.void_reason.clone(),
        body,
    }
}
