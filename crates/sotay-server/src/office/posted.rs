//! The office's form preamble, once: [`Posted`] and [`Upload`] are the only ways an office
//! handler receives a form, and both check the session's CSRF token before the handler
//! runs. A handler that takes one cannot forget the check; a wrong or missing token is
//! answered 403 with the office's "bad form" page and reaches no handler code, so it
//! changes nothing.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};

use super::*;

/// A signed-in office user whose session carries a CSRF token: a commune's [`Office`], or
/// [`AnyOffice`] (to log out).
pub(super) trait SignedIn: FromRequestParts<AppState, Rejection = Refusal> + Send {
    fn csrf(&self) -> &str;
    fn t(&self) -> &'static OfficeStrings;
}

impl SignedIn for Office {
    fn csrf(&self) -> &str {
        &self.session.csrf
    }
    fn t(&self) -> &'static OfficeStrings {
        self.t
    }
}

impl SignedIn for AnyOffice {
    fn csrf(&self) -> &str {
        &self.session.csrf
    }
    fn t(&self) -> &'static OfficeStrings {
        self.t
    }
}

/// Refuses a form whose token is not the session's.
fn check<U: SignedIn>(user: &U, form_token: Option<&str>) -> Result<(), Refusal> {
    if form_token != Some(user.csrf()) {
        let t = user.t();
        return Err(Refusal::Page(StatusCode::FORBIDDEN, message_page(t, t.bad_form)));
    }
    Ok(())
}

/// A URL-encoded form posted by a signed-in user with the session's CSRF token; `F` is
/// its other fields (`Vec<(String, String)>` for a form with repeated fields, [`NoFields`]
/// for a bare button). A form that cannot be read is answered with its status and the
/// "bad form" page.
pub(super) struct Posted<F, U = Office> {
    pub o: U,
    pub form: F,
}

/// A form that carries only its CSRF token (a button: logout, revoke, retire).
#[derive(Deserialize)]
pub(super) struct NoFields {}

impl<F, U> FromRequest<AppState> for Posted<F, U>
where
    F: serde::de::DeserializeOwned + Send,
    U: SignedIn,
{
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        let (mut parts, body) = req.into_parts();
        let o = U::from_request_parts(&mut parts, state).await?;
        let t = o.t();
        let bad = |status: StatusCode| Refusal::Page(status, message_page(t, t.bad_form));
        let bytes =
            Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(|e| bad(e.status()))?;
        let token = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
        check(&o, token.as_deref())?;
        // The fields are read as axum's `Form` reads them (its content type check included).
        let req = Request::from_parts(parts, Body::from(bytes));
        let Form(form) = Form::<F>::from_request(req, state).await.map_err(|e| bad(e.status()))?;
        Ok(Posted { o, form })
    }
}

/// A multipart upload (a CSV import) posted by a commune's office user with the session's
/// CSRF token. `fields` is `None` when the upload is larger than the import limit: its token
/// could not be read, and the handler may only say the file is too large.
pub(super) struct Upload {
    pub o: Office,
    pub fields: Option<HashMap<String, Vec<u8>>>,
}

impl FromRequest<AppState> for Upload {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        let (mut parts, body) = req.into_parts();
        let o = Office::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let multipart = Multipart::from_request(req, state)
            .await
            .map_err(|e| Refusal::Page(e.status(), message_page(o.t, o.t.bad_form)))?;
        let Ok(fields) = multipart_fields(multipart).await else { return Ok(Upload { o, fields: None }) };
        let token = fields.get("csrf").and_then(|b| std::str::from_utf8(b).ok()).map(str::to_owned);
        check(&o, token.as_deref())?;
        Ok(Upload { o, fields: Some(fields) })
    }
}
