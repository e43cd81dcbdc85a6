//! The commune server (`sotay-server`): the device API behind axum, on a SQLite store, and
//! the office's web pages.
//!
//! Invariant: this crate depends on `sotay-core` and nothing else of ours, so it cannot
//! name the app's store, sync or UI; its dependency tree holds no Dioxus, no reqwest and no
//! SQLCipher (its SQLite is plain and bundled; `tests/it/architecture.rs` checks `cargo
//! tree`). Every handler reaches the database through [`AppState::blocking`]. [`router`] builds the
//! whole HTTP surface from an [`AppState`], so tests call it on `127.0.0.1:0` with the real
//! client. Every response carries the API version (body and `x-sotay-api` header); every
//! error is an [`ApiError`] that words itself in Vietnamese, logs 5xx and hides internals.
//!
//! Logging (`tracing`; the binary installs the subscriber): one span per request naming the
//! method and the route's path only (`/office/records/{id}`), never the query string (the
//! office's record search puts names in it), the body or the headers (cookies, tokens);
//! errors are logged by their kind ([`db_error_kind`]), never by a message that could quote
//! stored data.
//!
//! Database work never runs on the async worker threads: every handler reaches the database
//! through [`AppState::blocking`], one `spawn_blocking` helper.

pub use sotay_core::{domain, enrol_link, protocol};

pub mod accounts;
pub mod asof;
/// Device assignments and communes keep their tables beside the rest of the database.
pub use db::{assign, communes};
pub mod backup;
pub mod compat;
pub mod db;
pub mod docx;
pub mod export;
pub mod folder;
pub mod i18n;
pub mod keys;
pub mod letter;
pub mod limits;
pub mod office;
pub mod province;
pub mod push;
pub mod reports;
pub mod tls;
pub mod unit_letter;
pub mod units;
pub mod vn_time;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

use crate::protocol::*;
use db::{DbError, Device, ServerDb};
use limits::{PasswordGate, Peer, RateLimiter};

/// Requests one client address may make per minute to enrol, and to log in to the office.
pub const ENROL_PER_ADDRESS: u32 = 10;
pub const LOGIN_PER_ADDRESS: u32 = 30;
/// Password checks (argon2, about 19 MiB each) running at once, and how long a login waits
/// for one before it is told to try again.
pub const PASSWORD_CHECKS: usize = 4;
pub const PASSWORD_WAIT: Duration = Duration::from_secs(3);
/// Longest `app_version` a device may report.
pub const MAX_APP_VERSION_CHARS: usize = 32;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Arc<ServerDb>,
    limiter: Arc<RateLimiter>,
    /// Where devices enrol (the office's enrolment codes and QR codes name it).
    pub public: Option<Arc<tls::PublicAddress>>,
    enrol_per_address: Arc<RateLimiter>,
    login_per_address: Arc<RateLimiter>,
    passwords: Arc<PasswordGate>,
}

impl AppState {
    pub fn new(db: ServerDb) -> AppState {
        let minute = Duration::from_secs(60);
        AppState {
            db: Arc::new(db),
            limiter: Arc::new(RateLimiter::new(240, minute)),
            public: None,
            enrol_per_address: Arc::new(RateLimiter::new(ENROL_PER_ADDRESS, minute)),
            login_per_address: Arc::new(RateLimiter::new(LOGIN_PER_ADDRESS, minute)),
            passwords: Arc::new(PasswordGate::new(PASSWORD_CHECKS, PASSWORD_WAIT)),
        }
    }

    /// Sets the address (and certificate fingerprint) that enrolment codes hand devices.
    pub fn with_public_address(mut self, public: tls::PublicAddress) -> AppState {
        self.public = Some(Arc::new(public));
        self
    }

    /// Sets how many requests one device (and, for enrolment, all clients together) may make
    /// per window.
    pub fn with_rate_limit(mut self, requests: u32, window: Duration) -> AppState {
        self.limiter = Arc::new(RateLimiter::new(requests, window));
        self
    }

    /// Sets how many enrolments and office logins one client address may try per window.
    pub fn with_address_limits(mut self, enrol: u32, login: u32, window: Duration) -> AppState {
        self.enrol_per_address = Arc::new(RateLimiter::new(enrol, window));
        self.login_per_address = Arc::new(RateLimiter::new(login, window));
        self
    }

    /// Sets how many password checks may run at once and how long a login waits for one.
    pub fn with_password_checks(mut self, at_once: usize, wait: Duration) -> AppState {
        self.passwords = Arc::new(PasswordGate::new(at_once, wait));
        self
    }

    /// How many password checks (argon2) this server has run.
    pub fn password_checks(&self) -> u64 {
        self.passwords.checks()
    }

    /// Runs database work on tokio's blocking threads, never on the async workers: the one
    /// way handlers reach the database (`state.blocking(move |db| db.commune(&code)).await??`).
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, TaskFailed>
    where
        F: FnOnce(&ServerDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db)).await.map_err(|e| {
            // Without its message: a panic message could quote data.
            let what = if e.is_panic() { "panicked" } else { "was cancelled" };
            tracing::error!("a database task {what}");
            TaskFailed
        })
    }
}

/// A database task that panicked or was cancelled (already logged by its kind).
#[derive(Debug)]
pub struct TaskFailed;

/// The OpenAPI document of the device API, kept in the repository and served as is.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/enrol", post(enrol))
        .route("/api/v1/c/{commune}/push", post(push))
        .route("/api/v1/c/{commune}/pull", get(pull))
        .route("/office/lang/{code}", get(office::set_lang))
        .merge(office::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Push answers are per-record JSON: compressed, they cost a fifth on a slow link.
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::map_response(stamp_api_version))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(tower_http::trace::DefaultOnRequest::new().level(tracing::Level::DEBUG))
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// The span of one request: the method and the path as the router matched it
/// (`/office/records/{id}`), nothing else: no query string, headers or body, and not the
/// path's own segments either, which are whatever was typed into the address bar (a name,
/// an ID number). A path that matched no route is not repeated at all.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str()).unwrap_or("(no route)");
    tracing::info_span!("request", method = %req.method(), path = %path)
}

/// What went wrong with the database, as a kind and SQLite's result code: never the
/// error's own text, which can quote a stored value (serde's "invalid type: string …",
/// a conversion failure).
pub fn db_error_kind(e: &DbError) -> String {
    match e {
        DbError::Sql(rusqlite::Error::SqliteFailure(f, _)) => {
            format!("sqlite {:?} (extended code {})", f.code, f.extended_code)
        }
        DbError::Sql(rusqlite::Error::QueryReturnedNoRows) => "sqlite: no rows".into(),
        DbError::Sql(rusqlite::Error::InvalidColumnType(i, _, t)) => format!("sqlite: column {i} has type {t}"),
        DbError::Sql(rusqlite::Error::FromSqlConversionFailure(i, t, _)) => {
            format!("sqlite: column {i} of type {t} could not be converted")
        }
        DbError::Sql(_) => "sqlite: other error".into(),
        // The SQLSTATE code only: PostgreSQL's message can quote a value.
        DbError::Pg(e) => format!("postgres {}", db::pg_code(e)),
        DbError::Busy => "postgres: every connection is in use".into(),
        DbError::Unavailable => "postgres: cannot be reached".into(),
        DbError::NoRow => "no rows".into(),
        DbError::Column(i, wanted) => format!("column {i} does not hold {wanted}"),
        DbError::Decode(j) => {
            format!("stored JSON unreadable ({:?} at line {}, column {})", j.classify(), j.line(), j.column())
        }
        DbError::NoCommune => "no such commune".into(),
        DbError::NoDevice => "no such device".into(),
        DbError::TooNew(v) => format!("database schema {v} is newer than this server"),
        DbError::BadPeriod => "bad period".into(),
        DbError::Hash => "password hashing failed".into(),
        // Key errors name the file's state, never a key.
        DbError::Keys(k) => k.to_string(),
        DbError::NoVolunteer => "no such volunteer".into(),
        DbError::Refused(why) => why.clone(),
        #[allow(unreachable_patterns)]
        _ => "other database error".into(),
    }
}

impl From<TaskFailed> for ApiError {
    fn from(_: TaskFailed) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "Máy chủ đang gặp lỗi. Dữ liệu trên máy vẫn an toàn; Sổ tay sẽ tự gửi lại sau.",
        )
    }
}

async fn stamp_api_version(mut response: Response) -> Response {
    response.headers_mut().insert(API_HEADER, HeaderValue::from(API_VERSION));
    response
}

/// Every error the API answers with. Carries no personal data and no internals.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "Máy chưa được đăng ký với xã hoặc mã xác thực không đúng. Hãy đăng ký lại máy.",
        )
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NoCommune => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "Không có xã này trên máy chủ.")
            }
            DbError::Busy | DbError::Unavailable => {
                tracing::warn!(error = %db_error_kind(&e), "device API request refused: the database is busy");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Internal,
                    "Máy chủ đang bận. Dữ liệu trên máy vẫn an toàn; Sổ tay sẽ tự gửi lại sau.",
                )
            }
            other => {
                // Logged for the operator (its kind only); the device is told only that it may retry.
                tracing::error!(error = %db_error_kind(&other), "device API request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "Máy chủ đang gặp lỗi. Dữ liệu trên máy vẫn an toàn; Sổ tay sẽ tự gửi lại sau.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { api_version: API_VERSION, error: self.code, message: self.message };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // The store is busy or restarting: a device tries again in a few seconds.
            return (self.status, [(header::RETRY_AFTER, "5")], Json(body)).into_response();
        }
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "api_version": API_VERSION, "status": "ok" }))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "Không có địa chỉ này.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "Địa chỉ này không nhận kiểu yêu cầu này.",
    )
}

/// Every error of the device API has a JSON [`ErrorBody`], also those the layers answer
/// without one (a request over its time: 408; a method a route does not take: 405 keeps its
/// `Allow` header).
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let response = next.run(req).await;
    let status = response.status();
    if !api
        || !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let (code, message) = match status {
        StatusCode::REQUEST_TIMEOUT => {
            (ErrorCode::Timeout, "Máy chủ không nhận xong yêu cầu kịp thời. Sổ tay sẽ tự gửi lại sau.")
        }
        StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "Địa chỉ này không nhận kiểu yêu cầu này."),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::TooLarge, "Gói dữ liệu quá lớn."),
        s if s.is_server_error() => {
            (ErrorCode::Internal, "Máy chủ đang gặp lỗi. Dữ liệu trên máy vẫn an toàn; Sổ tay sẽ tự gửi lại sau.")
        }
        _ => (ErrorCode::BadRequest, "Yêu cầu không hợp lệ."),
    };
    let mut json = ApiError::new(status, code, message).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// Refuses a client speaking another API version, telling the volunteer to update.
fn check_version(version: Option<u32>) -> ApiResult<()> {
    match version {
        Some(v) if v != API_VERSION => Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            ErrorCode::UpdateApp,
            "Phiên bản Sổ tay trên máy đã cũ hoặc không khớp với máy chủ. Hãy cập nhật ứng dụng rồi đồng bộ lại.",
        )),
        _ => Ok(()),
    }
}

/// The API version of a push or a pull: this one, or the previous one for a release
/// (`compat`); any other is told to update. Without a header, this one.
fn sync_version(version: Option<u32>) -> ApiResult<u32> {
    match version {
        None => Ok(API_VERSION),
        Some(v) if compat::sync_version_ok(v) => Ok(v),
        other => check_version(other).map(|()| API_VERSION),
    }
}

fn header_version(headers: &HeaderMap) -> ApiResult<Option<u32>> {
    match headers.get(API_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("Phiên bản API trong yêu cầu không hợp lệ.")),
    }
}

/// Parses a JSON body, saying where it is malformed but never echoing its content.
fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ApiError::bad_request("Dữ liệu gửi lên không phải văn bản UTF-8."))?;
    serde_json::from_str(text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "không đúng cú pháp JSON",
            serde_json::error::Category::Data => "có trường sai kiểu, thiếu hoặc không được biết",
            serde_json::error::Category::Io => "không đọc được",
        };
        ApiError::bad_request(format!("Dữ liệu gửi lên {what} (dòng {}, cột {}).", e.line(), e.column()))
    })
}

/// A body that could not be read: too large, or cut off.
fn body_rejected(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, "Gói dữ liệu quá lớn.")
    } else {
        ApiError::bad_request("Không đọc được dữ liệu gửi lên.")
    }
}

/// The body, decompressed when the client sent gzip, with the size capped both ways. A
/// content coding other than gzip or identity is refused (415) rather than read as JSON.
fn decode_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Vec<u8>> {
    let body = body.map_err(body_rejected)?;
    let coding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim());
    let gzip = match coding {
        None => false,
        Some(c) if c.is_empty() || c.eq_ignore_ascii_case("identity") => false,
        Some(c) if c.eq_ignore_ascii_case("gzip") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedEncoding,
                "Dữ liệu gửi lên được nén theo cách máy chủ không đọc được (chỉ nhận gzip).",
            ))
        }
    };
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(&body[..]).take(MAX_DECOMPRESSED_BYTES as u64 + 1);
    reader.read_to_end(&mut out).map_err(|_| ApiError::bad_request("Dữ liệu nén gzip bị hỏng."))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, "Gói dữ liệu quá lớn."));
    }
    Ok(out)
}

/// The device behind the bearer token, which must belong to `commune` and not be revoked.
async fn authenticate(state: &AppState, headers: &HeaderMap, commune: &str) -> ApiResult<Device> {
    // The scheme's name is case-insensitive (RFC 9110, section 11.1).
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(ApiError::unauthorized)?
        .to_owned();
    let device = state.blocking(move |db| db.device_by_token(&token)).await??.ok_or_else(ApiError::unauthorized)?;
    if device.revoked {
        tracing::info!(device = %device.id, "revoked device refused");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Revoked,
            "Máy này đã bị xã thu hồi quyền gửi dữ liệu. Các bản ghi chưa gửi vẫn được giữ trên máy; hãy liên hệ cán bộ xã.",
        ));
    }
    if device.commune != commune {
        // Told apart only for a device that proved itself: another commune, or none.
        if commune.len() > crate::domain::MAX_ID_BYTES {
            return Err(DbError::NoCommune.into());
        }
        let code = commune.to_owned();
        state.blocking(move |db| db.commune(&code)).await??;
        return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, "Máy này không thuộc xã này."));
    }
    if !state.limiter.allow(&device.id) {
        tracing::warn!(device = %device.id, "device over its rate limit");
        return Err(rate_limited());
    }
    Ok(device)
}

fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        "Máy gửi quá nhiều yêu cầu. Sổ tay sẽ tự thử lại sau ít phút.",
    )
}

/// True for a character that must not be in a device name: control characters (they reach
/// the operator's terminal in `sotay-server devices`) and the ones that reorder text.
pub fn unsafe_in_name(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

async fn enrol(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<EnrolResponse>> {
    check_version(header_version(&headers)?)?;
    // Guessing codes is slowed down per address first, so that one client cannot use up the
    // global count every device's enrolment shares; then globally: enrolment is rare.
    if !state.enrol_per_address.allow(&peer.key()) {
        tracing::warn!("enrolment refused: address over its limit");
        return Err(rate_limited());
    }
    if !state.limiter.allow("enrol") {
        return Err(rate_limited());
    }
    let req: EnrolRequest = parse_json(&decode_body(&headers, body)?)?;
    check_version(Some(req.api_version))?;
    let name = req.device_name.trim();
    if req.device_name.chars().count() > 100 || req.code.chars().count() > 32 {
        return Err(ApiError::bad_request("Tên máy hoặc mã đăng ký quá dài."));
    }
    if name.chars().any(unsafe_in_name) {
        return Err(ApiError::bad_request("Tên máy có ký tự điều khiển. Hãy đặt tên chỉ gồm chữ, số và dấu câu."));
    }
    let (code, name) = (req.code.clone(), name.to_owned());
    let enrolled = state
        .blocking(move |db| {
            let enrolled = db.enrol(&code, &name, Utc::now())?;
            if let Some(e) = &enrolled {
                // The device gets its only copy of the token in this answer: a failed audit
                // write is logged, not allowed to lose it.
                let (commune, detail) = (&e.reference.commune.code, format!("{} ({name})", e.device_id));
                if let Err(err) = db.audit_as(accounts::ACTOR_DEVICE, commune, "device.enrol", &detail, Utc::now()) {
                    tracing::error!(error = %db_error_kind(&err), "the enrolment's audit entry was not written");
                }
            }
            Ok::<_, DbError>(enrolled)
        })
        .await??;
    let Some(e) = enrolled else {
        tracing::info!("enrolment refused: code unknown, used or expired");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::EnrolCodeInvalid,
            "Mã đăng ký không đúng, đã dùng hoặc đã hết hạn. Hãy xin mã mới ở xã.",
        ));
    };
    tracing::info!(device = %e.device_id, "device enrolled");
    Ok(Json(EnrolResponse {
        api_version: API_VERSION,
        device_id: e.device_id,
        token: e.token,
        seal_key: e.seal_key,
        reference: e.reference,
        server_time: Utc::now(),
    }))
}

/// `?after=SEQ` on a push: answer with the changes after that cursor too.
#[derive(Deserialize)]
struct PushQuery {
    after: Option<i64>,
}

async fn push(
    State(state): State<AppState>,
    Path(commune): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PushQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<PushResponse>> {
    let said = header_version(&headers)?;
    sync_version(said)?;
    let device = authenticate(&state, &headers, &commune).await?;
    let after = match query {
        Ok(Query(PushQuery { after: Some(after) })) if after >= 0 => Some(after),
        Ok(Query(PushQuery { after: None })) => None,
        _ => return Err(ApiError::bad_request("Tham số after phải là số từ 0 trở lên.")),
    };
    let req: push::PushEnvelope = parse_json(&decode_body(&headers, body)?)?;
    let api = sync_version(Some(req.api_version))?;
    if said.is_some_and(|h| h != api) {
        return Err(ApiError::bad_request("Phiên bản API trong yêu cầu không khớp nhau."));
    }
    let version = &req.device.app_version;
    if version.chars().count() > MAX_APP_VERSION_CHARS || !version.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Err(ApiError::bad_request("Phiên bản ứng dụng gửi kèm không hợp lệ. Hãy cập nhật Sổ tay."));
    }
    if req.records.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("Mỗi lần gửi tối đa {MAX_BATCH_RECORDS} bản ghi."),
        ));
    }
    // Each record is read on its own: one that cannot be read is refused alone.
    let items = push::read_records(&req.records).map_err(|u| {
        ApiError::bad_request(format!(
            "Bản ghi thứ {} không đọc được mã (id) hoặc phiên bản (v) nên không trả lời riêng được.",
            u.index + 1
        ))
    })?;
    let device_id = device.id.clone();
    let hashes = compat::PushedHashes::for_version(api);
    let (results, page) = state
        .blocking(move |db| {
            let results = db.apply_push_items(&device, &req.device, &items, Utc::now(), hashes)?;
            // Read after the push committed: the page holds what the push itself changed.
            // Without it (a failed read) the answer still settles the records; the app
            // then pulls as usual.
            let page =
                after.and_then(|after| db.pull_for(&commune, &device.id, after, PULL_LIMIT).ok().map(|p| (after, p)));
            Ok::<_, DbError>((results, page))
        })
        .await??;
    let pull = match page {
        Some((after, (mut changes, more))) => {
            let cursor = changes.last().map(|(seq, _)| *seq).unwrap_or(after);
            if api == compat::PREVIOUS_API_VERSION {
                changes = compat::v1_changes(changes);
            }
            let changes = changes
                .into_iter()
                .map(|(seq, change)| serde_json::to_value(change).map(|v| (seq, v)))
                .collect::<Result<Vec<_>, _>>();
            changes.ok().map(|changes| PushPull { changes, cursor, more })
        }
        None => None,
    };
    let count = |a: Applied| results.iter().filter(|r| r.result == a).count();
    tracing::info!(
        device = %device_id,
        records = results.len(),
        applied = count(Applied::Applied),
        duplicate = count(Applied::Duplicate),
        stale = count(Applied::Stale),
        rejected = count(Applied::Rejected),
        "push"
    );
    Ok(Json(PushResponse { api_version: api, server_time: Utc::now(), results, pull }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullQuery {
    #[serde(default)]
    after: i64,
    limit: Option<usize>,
}

async fn pull(
    State(state): State<AppState>,
    Path(commune): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PullQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PullResponse>> {
    let version = sync_version(header_version(&headers)?)?;
    let device = authenticate(&state, &headers, &commune).await?;
    let Query(q) = query.map_err(|_| ApiError::bad_request("Tham số after và limit phải là số."))?;
    let limit = q.limit.unwrap_or(PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) || q.after < 0 {
        return Err(ApiError::bad_request(format!(
            "Tham số after phải từ 0 trở lên và limit từ 1 đến {MAX_PULL_LIMIT}."
        )));
    }
    let (mut changes, more) = state.blocking(move |db| db.pull_for(&commune, &device.id, q.after, limit)).await??;
    let cursor = changes.last().map(|(seq, _)| *seq).unwrap_or(q.after);
    if version == compat::PREVIOUS_API_VERSION {
        // The cursor still moves past what a version-1 device is not given.
        changes = compat::v1_changes(changes);
    }
    tracing::debug!(changes = changes.len(), cursor, more, "pull");
    Ok(Json(PullResponse { api_version: version, server_time: Utc::now(), changes, cursor, more }))
}
