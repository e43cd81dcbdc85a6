//! Logging in and out, and the language switch. A session is opened only by the right
//! password for a name that is not locked (see `accounts`); the answers are alike for names
//! with and without an account.
//!
//! Before any password is checked: one address may try [`super::super::LOGIN_PER_ADDRESS`]
//! logins a minute, a name or password too long is refused without being stored or shown
//! again, and a check must get one of the few places of the server's `PasswordGate` (argon2
//! takes about 19 MiB each) within a few seconds, or the page says to try again.

use axum::extract::rejection::FormRejection;

use super::super::accounts::{MAX_PASSWORD_BYTES, MAX_USERNAME_CHARS};
use super::super::limits::Peer;
use super::*;

#[derive(Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: String,
    login_csrf: Option<String>,
}

pub(super) fn login_form(t: &OfficeStrings, error: Option<&str>, username: &str, token: &str) -> Markup {
    bare(
        t,
        t.login_title,
        html! {
            main.login {
                h1 { (t.login_title) }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/office/login" {
                    input type="hidden" name="login_csrf" value=(token);
                    label { (t.username) input name="username" autocomplete="username" value=(username) required; }
                    label { (t.password) input name="password" type="password" autocomplete="current-password" required; }
                    button type="submit" { (t.login_button) }
                }
                p { a href={ "/office/lang/" (t.other_lang_code) } { (t.other_lang) } }
            }
        },
    )
}

/// The login form's token from its cookie, if it is one this server could have made.
pub(super) fn login_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, LOGIN_COOKIE).filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(super) fn new_login_token() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

pub(super) fn login_cookie(token: &str) -> String {
    format!("{LOGIN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/office/login; Max-Age=3600{}", secure())
}

/// The login page with a token for its form (the browser's own, if it has one already, so
/// two open tabs both work).
pub(super) async fn login_page(headers: HeaderMap) -> Response {
    let token = login_token(&headers).unwrap_or_else(new_login_token);
    ([(header::SET_COOKIE, login_cookie(&token))], login_form(lang(&headers), None, "", &token)).into_response()
}

pub(super) async fn login(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let t = lang(&headers);
    // Refused before the form is looked at: the page again, empty, with the form's token.
    let refuse = |status: StatusCode, message: &str| {
        let token = login_token(&headers).unwrap_or_else(new_login_token);
        (status, [(header::SET_COOKIE, login_cookie(&token))], login_form(t, Some(message), "", &token)).into_response()
    };
    if !state.login_per_address.allow(&peer.key()) {
        tracing::warn!("office login refused: address over its limit");
        return refuse(StatusCode::TOO_MANY_REQUESTS, t.login_address_limit);
    }
    // A name or password too long is neither stored nor shown again.
    let Ok(Form(f)) = form else { return refuse(StatusCode::BAD_REQUEST, t.login_too_long) };
    let username = f.username.trim().to_owned();
    if username.chars().count() > MAX_USERNAME_CHARS || f.password.len() > MAX_PASSWORD_BYTES {
        return refuse(StatusCode::BAD_REQUEST, t.login_too_long);
    }
    let typed = username.clone();
    // A form from this server in this browser, or nothing is checked: a page elsewhere
    // cannot post a login (it cannot read the token, and the cookie is not sent with a
    // cross-site post).
    let Some(token) = login_token(&headers).filter(|c| f.login_csrf.as_deref() == Some(c.as_str())) else {
        tracing::info!("office login refused: the form's token is missing or wrong");
        let token = new_login_token();
        let form = login_form(t, Some(t.login_expired), &typed, &token);
        return (StatusCode::FORBIDDEN, [(header::SET_COOKIE, login_cookie(&token))], form).into_response();
    };
    let Some(permit) = state.passwords.enter().await else {
        tracing::warn!("office login refused: too many password checks at once");
        let form = login_form(t, Some(t.login_busy), &typed, &token);
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], form).into_response();
    };
    let result: Result<Result<(String, Session), LoginError>, Refusal> = async {
        let begun = state.blocking(move |db| db.begin_login(&username, Utc::now())).await??;
        let attempt = match begun {
            Ok(attempt) => attempt,
            Err(locked) => return Ok(Err(locked)),
        };
        let (attempt, ok) = state
            .passwords
            .check(move || {
                let ok = attempt.verify(&f.password);
                (attempt, ok)
            })
            .await
            .ok_or(TaskFailed)?;
        Ok(state.blocking(move |db| db.finish_login(attempt, ok, Utc::now())).await??)
    }
    .await;
    drop(permit);
    match result {
        Ok(Ok((session_token, _))) => {
            let session_cookie =
                format!("{COOKIE}={session_token}; HttpOnly; SameSite=Strict; Path=/office{}", secure());
            let spent =
                format!("{LOGIN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/office/login; Max-Age=0{}", secure());
            let mut response = Redirect::to("/office").into_response();
            for c in [session_cookie, spent] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    response.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            response
        }
        Ok(Err(LoginError::Wrong)) => {
            tracing::info!("office login refused");
            // A wrong password costs the guesser time on top of the lock-out.
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            (StatusCode::UNAUTHORIZED, login_form(t, Some(t.login_wrong), &typed, &token)).into_response()
        }
        Ok(Err(LoginError::Locked { until })) => {
            tracing::warn!("office login refused: account locked");
            let at = until.with_timezone(&crate::asof::vietnam()).format("%H:%M:%S");
            let message = format!("{} {at}.", t.login_locked);
            (StatusCode::TOO_MANY_REQUESTS, login_form(t, Some(&message), &typed, &token)).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

pub(super) async fn logout(
    State(state): State<AppState>,
    Posted { o, .. }: Posted<NoFields, AnyOffice>,
) -> Result<Response, Refusal> {
    let (session, token) = (o.session.clone(), o.token.clone());
    state
        .blocking(move |db| {
            db.audit(&session, "logout", "", Utc::now())?;
            db.logout(&token)
        })
        .await??;
    Ok((
        [(header::SET_COOKIE, format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/office; Max-Age=0{}", secure()))],
        Redirect::to("/office/login"),
    )
        .into_response())
}

/// `/office/lang/en` or `/vi`: remembers the language and goes back to the pages.
pub async fn set_lang(Path(code): Path<String>) -> Response {
    let code = if code == "en" { "en" } else { "vi" };
    (
        [(header::SET_COOKIE, format!("lang={code}; SameSite=Strict; Path=/office; Max-Age=31536000{}", secure()))],
        Redirect::to("/office"),
    )
        .into_response()
}
