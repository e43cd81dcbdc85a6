//! The HTTP client for the device API: gzip-compressed JSON pushes, pulls and enrolment,
//! with short timeouts (there is no connectivity API: a failed request means offline).
//!
//! HTTPS only: an address typed without a scheme is `https://`, and plain `http://` is
//! refused before any connection unless it names this machine (127.0.0.1, `localhost`).
//! With a pin (from the enrolment link) the server must present exactly that certificate
//! ([`super::pinning`]); without one its certificate must chain to the bundled public roots.
//! Redirects are never followed, so nothing can be sent on to another address.
//!
//! Requests are logged with `tracing::debug!` by path, batch size, status and bytes only:
//! never a record, a token, an enrolment code or an error text that could quote either.

use std::io::Write;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::StatusCode;

use super::pinning::{self, CertProblem};
use super::SyncError;
use crate::enrol_link::Fingerprint;
use crate::protocol::*;

/// Timeouts. On a 2G link a 100-record batch is about 10 KB, seconds at worst: a request
/// that takes longer is treated as lost and the batch is halved.
#[derive(Debug, Clone)]
pub struct Options {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { connect_timeout: Duration::from_secs(10), request_timeout: Duration::from_secs(45) }
    }
}

/// A client for one server (and, once enrolled, one commune and token).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for `base_url` with the default timeouts, checking the server's certificate
    /// against the public roots.
    pub fn new(base_url: &str) -> Result<Client, SyncError> {
        Client::pinned(base_url, None, &Options::default())
    }

    pub fn with_options(base_url: &str, options: &Options) -> Result<Client, SyncError> {
        Client::pinned(base_url, None, options)
    }

    /// A client that accepts only the server certificate with this fingerprint (from the
    /// enrolment link), or with `None` one the public roots vouch for.
    pub fn pinned(base_url: &str, pin: Option<Fingerprint>, options: &Options) -> Result<Client, SyncError> {
        let base = server_base(base_url)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(base.starts_with("https://"));
        if let Some(pin) = pin {
            let tls = pinning::pinned_config(pin).map_err(|_| SyncError::Protocol("TLS set-up".into()))?;
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder.build().map_err(|_| SyncError::BadServerUrl)?;
        Ok(Client { http, base })
    }

    pub async fn enrol(&self, code: &str, device_name: &str) -> Result<EnrolResponse, SyncError> {
        let req = EnrolRequest {
            api_version: API_VERSION,
            code: code.trim().to_owned(),
            device_name: device_name.to_owned(),
        };
        let path = "/api/v1/enrol";
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(API_HEADER, API_VERSION)
            .json(&req)
            .send()
            .await
            .map_err(|e| transport_failed(path, e))?;
        decode(path, response).await
    }

    /// Sends a push, gzip-compressed; the body is compressed here because reqwest does not
    /// compress request bodies.
    pub async fn push(&self, commune: &str, token: &str, req: &PushRequest) -> Result<PushResponse, SyncError> {
        self.push_after(commune, token, req, None).await
    }

    /// [`Client::push`], asking with `after` (the device's pull cursor) for the changes
    /// after it in the answer ([`PushResponse::pull`]; a server that does not know the
    /// parameter ignores it and answers without them).
    pub async fn push_after(
        &self,
        commune: &str,
        token: &str,
        req: &PushRequest,
        after: Option<i64>,
    ) -> Result<PushResponse, SyncError> {
        let body = gzip_json(req)?;
        let path = format!("/api/v1/c/{commune}/push");
        tracing::debug!(path = %path, records = req.records.len(), bytes = body.len(), "sync push");
        let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
        let response = self
            .http
            .post(format!("{}{path}{query}", self.base))
            .header(API_HEADER, API_VERSION)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_failed(&path, e))?;
        decode(&path, response).await
    }

    /// A page of changes after `after`, each still to be read on its own
    /// ([`PullPage::known`]).
    pub async fn pull(&self, commune: &str, token: &str, after: i64) -> Result<PullPage, SyncError> {
        let path = format!("/api/v1/c/{commune}/pull");
        tracing::debug!(path = %path, after, "sync pull");
        let response = self
            .http
            .get(format!("{}{path}?after={after}&limit=500", self.base))
            .header(API_HEADER, API_VERSION)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(|e| transport_failed(&path, e))?;
        decode(&path, response).await
    }
}

/// The server address as the volunteer typed or pasted it, made whole: `https://` when
/// no scheme is given, no trailing `/`. Refuses anything but `https://`, and `http://` but
/// to this machine (there is no server of the commune on the device itself, but the tests
/// and a trial on one computer have one there).
pub fn server_base(typed: &str) -> Result<String, SyncError> {
    let typed = typed.trim();
    let with_scheme = if typed.contains("://") { typed.to_owned() } else { format!("https://{typed}") };
    let url = reqwest::Url::parse(&with_scheme).map_err(|_| SyncError::BadServerUrl)?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or(SyncError::BadServerUrl)?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(SyncError::BadServerUrl);
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(SyncError::PlainHttp);
            }
        }
        _ => return Err(SyncError::BadServerUrl),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// JSON, gzip-compressed.
pub fn gzip_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, SyncError> {
    let json = serde_json::to_vec(value).map_err(|e| SyncError::Protocol(json_error_kind(&e)))?;
    // Best compression: a batch is small, and on 2G every byte costs more than the CPU.
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::best());
    gz.write_all(&json).map_err(|e| SyncError::Protocol(format!("gzip: {:?}", e.kind())))?;
    gz.finish().map_err(|e| SyncError::Protocol(format!("gzip: {:?}", e.kind())))
}

/// A JSON error by where and what kind, never serde's text: "invalid type: string \"…\""
/// would quote a value (a name, a volunteer) into an error that is shown and kept.
fn json_error_kind(e: &serde_json::Error) -> String {
    format!("JSON {:?} error at line {}, column {}", e.classify(), e.line(), e.column())
}

fn transport_failed(path: &str, e: reqwest::Error) -> SyncError {
    // The error's text names the URL (with the pull's cursor) and nothing personal, but the
    // kind is all that is needed.
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    tracing::debug!(path = %path, kind, "sync request failed");
    match pinning::cert_problem(&e) {
        Some(CertProblem::NotPinned) => SyncError::CertMismatch,
        Some(CertProblem::Untrusted) => SyncError::CertUntrusted,
        None => SyncError::from_transport(e),
    }
}

/// Largest answer the client reads (after gzip decoding): far above any real one (a pull
/// page of 500 changes, an enrolment with the reference data), so that a wrong or hostile
/// server cannot fill the phone's memory.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The answer's body, read chunk by chunk and given up as soon as it passes
/// [`MAX_RESPONSE_BYTES`].
async fn read_capped(path: &str, mut response: reqwest::Response) -> Result<Vec<u8>, SyncError> {
    let too_large = || {
        tracing::debug!(path = %path, limit = MAX_RESPONSE_BYTES, "sync answer too large");
        SyncError::Protocol(format!("answer larger than {MAX_RESPONSE_BYTES} bytes"))
    };
    if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_failed(path, e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn decode<T: serde::de::DeserializeOwned>(path: &str, response: reqwest::Response) -> Result<T, SyncError> {
    let status = response.status();
    let bytes = read_capped(path, response).await?;
    tracing::debug!(path = %path, status = status.as_u16(), bytes = bytes.len(), "sync answer");
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(json_error_kind(&e)));
    }
    let error: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
    let message = error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    Err(match (status, error.map(|e| e.error)) {
        (_, Some(ErrorCode::Revoked)) => SyncError::Revoked(message),
        (_, Some(ErrorCode::UpdateApp)) | (StatusCode::UPGRADE_REQUIRED, _) => SyncError::UpdateApp(message),
        (_, Some(ErrorCode::EnrolCodeInvalid)) => SyncError::EnrolCode(message),
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => SyncError::Unauthorized(message),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => SyncError::TooLarge,
        (StatusCode::TOO_MANY_REQUESTS, _) => SyncError::RateLimited,
        (StatusCode::REQUEST_TIMEOUT, _) => SyncError::Offline,
        (s, _) if s.is_server_error() => SyncError::Server(s.as_u16()),
        (s, _) => SyncError::Refused(s.as_u16(), message),
    })
}
