//! The HTTP rules of TAXII 2.1 (sections 1.6 and 3): every answer, errors included, has
//! the media type `application/taxii+json;version=2.1`; a request's `Accept` must allow it
//! (406 otherwise) and a request body must be it (415 otherwise); errors are TAXII error
//! messages; requesters authenticate with HTTP Basic (a user's name and password, or the
//! token's name and the token) or a bearer token (`Bearer`, or `Token` as taxii2-client
//! sends it), and share the API's rate limit.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tocsin_taxii::{ErrorMessage, MEDIA_TYPE};

use crate::api::{AppState, Credentials};
use crate::auth::TokenInfo;

/// The header with the date added of a page's first record (section 3.3.1).
pub const DATE_ADDED_FIRST: &str = "x-taxii-date-added-first";
/// The header with the date added of a page's last record.
pub const DATE_ADDED_LAST: &str = "x-taxii-date-added-last";

/// A TAXII answer that is not a success: its status and error message.
#[derive(Debug)]
pub struct TaxiiError {
    status: StatusCode,
    title: String,
    description: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl TaxiiError {
    /// An error with `status` and a short `title`.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title: title.into(),
            description: None,
            headers: Vec::new(),
        }
    }

    /// The same error with a longer description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// 404: what the requester may not see is answered the same way.
    pub fn not_found(what: &str) -> Self {
        TaxiiError::new(StatusCode::NOT_FOUND, format!("no such {what}"))
    }

    /// 400 about the request's parameters or body.
    pub fn bad_request(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::BAD_REQUEST, "bad request").describe(description)
    }

    /// 403: visible, but not for this.
    pub fn forbidden(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::FORBIDDEN, "forbidden").describe(description)
    }

    /// 503 with `Retry-After`, after logging why.
    pub fn internal(what: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "TAXII: {what}");
        let mut error = TaxiiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            .describe(format!("{what}; try again later"));
        error
            .headers
            .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
        error
    }

    /// 401 with the two challenges this server takes.
    fn unauthorized(description: &str) -> Self {
        let mut error =
            TaxiiError::new(StatusCode::UNAUTHORIZED, "unauthorized").describe(description);
        error.headers.push((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tocsin\", Bearer realm=\"tocsin\""),
        ));
        error
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = ErrorMessage {
            title: self.title,
            description: self.description,
            http_status: Some(self.status.as_u16().to_string()),
            ..ErrorMessage::default()
        };
        let mut response = taxii_json(self.status, &body);
        response.headers_mut().extend(self.headers);
        response
    }
}

/// `body` as JSON with the TAXII media type.
pub fn taxii_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, media_type())], text).into_response()
}

/// An answer without a body, with the TAXII media type (a delete).
pub fn taxii_empty(status: StatusCode) -> Response {
    (status, [(header::CONTENT_TYPE, media_type())]).into_response()
}

/// The TAXII media type as a header value.
pub fn media_type() -> HeaderValue {
    HeaderValue::from_static(MEDIA_TYPE)
}

/// A page of a collection (`body`) as a 200 answer with its date-added headers.
pub fn paged<T: Serialize>(body: &T, first: Option<i64>, last: Option<i64>) -> Response {
    let mut response = taxii_json(StatusCode::OK, body);
    date_headers(&mut response, first, last);
    response
}

/// Sets the date-added headers of a page (left out when the page is empty).
fn date_headers(response: &mut Response, first: Option<i64>, last: Option<i64>) {
    for (name, micros) in [(DATE_ADDED_FIRST, first), (DATE_ADDED_LAST, last)] {
        let value = micros.map(tocsin_taxii::time::format_micros);
        if let Some(Ok(value)) = value.map(|v| HeaderValue::from_str(&v)) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
}

/// Whether a media type names TAXII 2.1: `application/taxii+json` with no version or
/// version 2.1 (`any` also admits `*/*` and `application/*`).
fn is_taxii(media: &str, any: bool) -> bool {
    let mut parts = media
        .split(';')
        .map(|part| part.trim().to_ascii_lowercase());
    let essence = parts.next().unwrap_or_default();
    let parameters: Vec<(String, String)> = parts
        .filter_map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        })
        .collect();
    // `q=0` means "not acceptable" (RFC 9110, 12.4.2).
    let refused = parameters
        .iter()
        .any(|(key, value)| key == "q" && value.parse::<f32>().is_ok_and(|q| q <= 0.0));
    let versions_ok = !refused
        && parameters
            .iter()
            .all(|(key, value)| key != "version" || value == "2.1");
    match essence.as_str() {
        "application/taxii+json" => versions_ok,
        "*/*" | "application/*" => any && !refused,
        _ => false,
    }
}

/// 406 unless the `Accept` header (absent: anything) admits the TAXII media type.
pub fn check_accept(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if values.is_empty()
        || values
            .iter()
            .flat_map(|v| v.split(','))
            .any(|m| is_taxii(m, true))
    {
        return Ok(());
    }
    Err(
        TaxiiError::new(StatusCode::NOT_ACCEPTABLE, "not acceptable")
            .describe(format!("this server answers only {MEDIA_TYPE}")),
    )
}

/// 415 unless the body is declared as the TAXII media type.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    match is_taxii(declared, false) {
        true => Ok(()),
        false => Err(
            TaxiiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type")
                .describe(format!("send the body as {MEDIA_TYPE}")),
        ),
    }
}

/// The schemes whose credentials are a token's text: `Token` is what taxii2-client's
/// `TokenAuth` sends.
const TOKEN_SCHEMES: [&str; 2] = ["Bearer", "Token"];

/// What the `Authorization` header presents.
fn presented(headers: &HeaderMap) -> Option<Credentials> {
    Credentials::from_headers(headers, &TOKEN_SCHEMES)
}

/// The requester (a token, or a user as its principal): 401 without valid credentials (for
/// HTTP Basic with a token the user must be the token's name; a disabled user is refused),
/// 429 past the rate limit.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<TokenInfo, TaxiiError> {
    let Some(credentials) = presented(headers) else {
        return Err(TaxiiError::unauthorized(
            "HTTP Basic (a user's name and password, or the token's name and the token) or a \
             bearer token is required",
        ));
    };
    let verified = credentials
        .identify(state)
        .await
        .map_err(|error| TaxiiError::internal("the credential check failed", error))?
        .map_err(|error| TaxiiError::internal("the credentials cannot be read", error))?;
    let Some(token) = verified else {
        return Err(TaxiiError::unauthorized(
            "the credentials are invalid or revoked, or the user is disabled",
        ));
    };
    if let Err(wait) = state.limiter.check(&token.id) {
        let mut error = TaxiiError::new(StatusCode::TOO_MANY_REQUESTS, "too many requests");
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            error.headers.push((header::RETRY_AFTER, value));
        }
        return Err(error);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_negotiation() {
        assert!(check_accept(&HeaderMap::new()).is_ok());
        for good in [
            "application/taxii+json;version=2.1",
            "application/taxii+json",
            "application/taxii+json; version=\"2.1\"",
            "*/*",
            "text/html, application/*;q=0.5",
        ] {
            assert!(
                check_accept(&headers(header::ACCEPT, good)).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "application/json",
            "application/taxii+json;version=2.0",
            "text/html",
            "application/taxii+json;q=0",
            "*/*;q=0.0",
        ] {
            let error = check_accept(&headers(header::ACCEPT, bad)).unwrap_err();
            assert_eq!(error.status, StatusCode::NOT_ACCEPTABLE, "{bad}");
        }
    }

    #[test]
    fn content_type_must_be_taxii() {
        let ok = headers(header::CONTENT_TYPE, "application/taxii+json;version=2.1");
        assert!(check_content_type(&ok).is_ok());
        for bad in ["application/json", "*/*", ""] {
            let error = check_content_type(&headers(header::CONTENT_TYPE, bad)).unwrap_err();
            assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
        }
    }

    #[test]
    fn basic_and_bearer_are_read() {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode("cisa:tsn_x");
        let found = presented(&headers(header::AUTHORIZATION, &format!("Basic {basic}")));
        assert!(
            matches!(&found, Some(Credentials::Basic { user, password })
                if user == "cisa" && password == "tsn_x"),
            "{found:?}"
        );
        for token in ["Bearer tsn_y", "Token tsn_y", "bearer  tsn_y "] {
            let found = presented(&headers(header::AUTHORIZATION, token));
            assert!(
                matches!(&found, Some(Credentials::Token(text)) if text == "tsn_y"),
                "{token}"
            );
        }
        for junk in ["Basic !!!", "Basic", "Digest x", "Basic bm9jb2xvbg=="] {
            assert!(
                presented(&headers(header::AUTHORIZATION, junk)).is_none(),
                "{junk}"
            );
        }
    }

    #[test]
    fn errors_are_taxii_messages() {
        let response = TaxiiError::not_found("collection").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], MEDIA_TYPE);
    }
}
