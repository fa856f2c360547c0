//! The page frame every door's HTML pages share: the hosted payment page, P2P's confirmation
//! and card pages. The HTML itself ([`render`]), the texts in English, Russian and Ukrainian
//! ([`texts`]), and the answers and headers every page is sent with.

pub mod render;
pub mod texts;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Sent with every page. No scripts at all; inline styles only; the page may not be framed.
/// `form-action` is left out on purpose: after a post the browser follows a 303 to the
/// merchant's site, which `form-action` would block in some browsers.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'";

/// The security headers of every page (a `map_response` layer).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        // Pages carry CSRF tokens and payment details: no cache may keep them.
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// An HTML answer.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A 303 to `location`.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        // Locations are built by the caller or were checked by it; this cannot happen.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
