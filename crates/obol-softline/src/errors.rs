//! Softline's error vocabulary, in one place: `{"errors": [{"error": CODE, "message": "…"}]}`
//! with the seed's codes and messages, word for word.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::catalog::ServiceError;
use obol_core::payment::DraftError;
use serde_json::json;

pub const JSON_INVALID: (u32, &str) = (110, "JSON is not valid.");
pub const CONTENT_TYPE_INVALID: (u32, &str) = (111, "Invalid data format (Content-type).");
pub const UNABLE_TO_GENERATE: (u32, &str) = (
    6000,
    "Unable to generate payment. Please contact technical support.",
);
pub const LOCALE_NOT_FOUND: (u32, &str) = (6020, "Locale not found.");
/// The seed's first letter is a Cyrillic look-alike; SPEC §3.2 settles on a Latin `C`.
pub const ZERO_AMOUNT: (u32, &str) = (
    6030,
    "Creation of zero-amount payments is not available. Enable recurring_indicator = true or set the amount strictly greater than zero.",
);
pub const EMAIL_INVALID: (u32, &str) = (
    6060,
    "Email field is filled out incorrectly. Expected format: [name]@[domain].[zone]",
);
pub const METHOD_UNAVAILABLE: (u32, &str) = (
    6080,
    "This payment method is not available. Change payment method (payment_method).",
);
pub const METHOD_AMOUNT: (u32, &str) = (
    6090,
    "This payment method is not available for this payment amount. Change payment method (payment_method).",
);
pub const METHOD_RECURRING: (u32, &str) = (
    6100,
    "This payment method does not support recurring payments. Change payment method (payment_method).",
);
/// Ours, where the seed is silent (docs/api/softline.md).
pub const REFUND_UNAVAILABLE: (u32, &str) = (6200, "Refund is not available for this order.");
pub const REFUND_OPEN: (u32, &str) = (6210, "A refund request for this order is already open.");
pub const VERIFICATION_UNAVAILABLE: (u32, &str) =
    (6220, "Card verification is not available for this order.");
pub const TOKEN_INVALID: (u32, &str) = (1007, "Your token is invalid.");
pub const CREDENTIALS_INVALID: (u32, &str) = (1001, "Invalid credentials.");
pub const REFRESH_INVALID: (u32, &str) = (1008, "Your refresh token is invalid.");
/// Ours (429, with `Retry-After`): too many failed logins or tokens from this address, or
/// wrong attempts with this login or token.
pub const TOO_MANY_ATTEMPTS: (u32, &str) = (
    1009,
    "Too many failed authentication attempts. Try again later.",
);
pub const NOT_FOUND: (u32, &str) = (404, "Not found.");
pub const METHOD_NOT_ALLOWED: (u32, &str) = (405, "Method not allowed.");
pub const INTERNAL: (u32, &str) = (
    500,
    "Request error. Please try again later or contact technical support.",
);

/// 6010 names the field: `Invalid field value: amount.`
pub fn invalid_field(field: &str) -> (u32, String) {
    (6010, format!("Invalid field value: {field}."))
}

/// A draft the core refused, as this dialect says it. `payment::check` reads the wire first
/// and reports the same problems in the seed's order (all of them, where the core stops at
/// the first), so a request reaches this only if the core's rules grow stricter than the
/// door's: it then still gets a seed code naming the field, never a 500.
pub fn draft_error(error: &DraftError) -> (u32, String) {
    let seed = |(code, message): (u32, &str)| (code, message.to_owned());
    match error {
        DraftError::AmountNotPositive => seed(ZERO_AMOUNT),
        DraftError::EmptyReference | DraftError::TooLong("external_id") => {
            invalid_field("payment_id")
        }
        DraftError::TooLong("description") => invalid_field("payment_description"),
        DraftError::TooLong(field) => invalid_field(field),
        DraftError::Service(
            ServiceError::AmountBelowMinimum | ServiceError::AmountAboveMaximum,
        ) => seed(METHOD_AMOUNT),
        DraftError::Service(_) => seed(METHOD_UNAVAILABLE),
    }
}

#[derive(Debug)]
pub struct SoftlineError {
    pub status: StatusCode,
    pub errors: Vec<(u32, String)>,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after_s: Option<u64>,
}

impl SoftlineError {
    pub fn one(status: StatusCode, (code, message): (u32, &str)) -> SoftlineError {
        SoftlineError {
            status,
            errors: vec![(code, message.to_owned())],
            retry_after_s: None,
        }
    }

    pub fn bad_request(errors: Vec<(u32, String)>) -> SoftlineError {
        SoftlineError {
            status: StatusCode::BAD_REQUEST,
            errors,
            retry_after_s: None,
        }
    }

    pub fn unauthorized() -> SoftlineError {
        SoftlineError::one(StatusCode::UNAUTHORIZED, TOKEN_INVALID)
    }

    pub fn not_found() -> SoftlineError {
        SoftlineError::one(StatusCode::NOT_FOUND, NOT_FOUND)
    }
}

impl IntoResponse for SoftlineError {
    fn into_response(self) -> Response {
        let errors: Vec<_> = self
            .errors
            .iter()
            .map(|(code, message)| json!({ "error": code, "message": message }))
            .collect();
        let mut response = (self.status, axum::Json(json!({ "errors": errors }))).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<obol_store::StoreError> for SoftlineError {
    fn from(error: obol_store::StoreError) -> SoftlineError {
        tracing::error!(%error, "storage failed under the Softline API");
        SoftlineError::one(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
    }
}

impl From<obol_http::auth::AuthError> for SoftlineError {
    fn from(error: obol_http::auth::AuthError) -> SoftlineError {
        match error {
            obol_http::auth::AuthError::Unauthorized => SoftlineError::unauthorized(),
            obol_http::auth::AuthError::Throttled(throttled) => SoftlineError {
                retry_after_s: Some(throttled.retry_after_s),
                ..SoftlineError::one(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_ATTEMPTS)
            },
            obol_http::auth::AuthError::Store(error) => error.into(),
        }
    }
}
