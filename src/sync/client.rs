//! The HTTP client for the device API: gzip-compressed JSON pushes, pulls and enrolment,
//! with short timeouts (there is no connectivity API: a failed request means offline).

use std::io::Write;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::StatusCode;

use super::SyncError;
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
    pub fn new(base_url: &str) -> Result<Client, SyncError> {
        Client::with_options(base_url, &Options::default())
    }

    pub fn with_options(base_url: &str, options: &Options) -> Result<Client, SyncError> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SyncError::BadServerUrl);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .build()
            .map_err(|_| SyncError::BadServerUrl)?;
        Ok(Client { http, base })
    }

    pub async fn enrol(&self, code: &str, device_name: &str) -> Result<EnrolResponse, SyncError> {
        let req = EnrolRequest {
            api_version: API_VERSION,
            code: code.trim().to_owned(),
            device_name: device_name.to_owned(),
        };
        let response = self
            .http
            .post(format!("{}/api/v1/enrol", self.base))
            .header(API_HEADER, API_VERSION)
            .json(&req)
            .send()
            .await
            .map_err(SyncError::from_transport)?;
        decode(response).await
    }

    /// Sends a push, gzip-compressed; the body is compressed here because reqwest does not
    /// compress request bodies.
    pub async fn push(&self, commune: &str, token: &str, req: &PushRequest) -> Result<PushResponse, SyncError> {
        let body = gzip_json(req)?;
        let response = self
            .http
            .post(format!("{}/api/v1/c/{commune}/push", self.base))
            .header(API_HEADER, API_VERSION)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await
            .map_err(SyncError::from_transport)?;
        decode(response).await
    }

    pub async fn pull(&self, commune: &str, token: &str, after: i64) -> Result<PullResponse, SyncError> {
        let response = self
            .http
            .get(format!("{}/api/v1/c/{commune}/pull?after={after}&limit=500", self.base))
            .header(API_HEADER, API_VERSION)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(SyncError::from_transport)?;
        decode(response).await
    }
}

/// JSON, gzip-compressed.
pub fn gzip_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, SyncError> {
    let json = serde_json::to_vec(value).map_err(|e| SyncError::Protocol(e.to_string()))?;
    // Best compression: a batch is small, and on 2G every byte costs more than the CPU.
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::best());
    gz.write_all(&json).map_err(|e| SyncError::Protocol(e.to_string()))?;
    gz.finish().map_err(|e| SyncError::Protocol(e.to_string()))
}

async fn decode<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, SyncError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(SyncError::from_transport)?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()));
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
