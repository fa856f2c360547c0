//! ActivePlatform's error shape for every status: `{"errors": {"title": "…", "status": "<code>"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::payment::{DraftError, PaymentError};
use obol_store::StoreError;
use serde_json::json;

/// The seed's 422 for completing a payment in another status, word for word.
pub const ONLY_WAITING_OR_EXPIRED: &str =
    "Only payments with \"waiting for payment/expired\" status can be completed.";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub title: String,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, title: &str) -> ApiError {
        ApiError {
            status,
            title: title.to_owned(),
            retry_after_s: None,
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Not found")
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden")
    }

    pub fn unprocessable(title: &str) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, title)
    }

    pub fn bad_request(title: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, title)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "errors": { "title": self.title, "status": self.status.as_u16().to_string() } });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.api+json"),
        );
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A refused token: 401, or 429 with `Retry-After` when the address or the token failed too
/// often.
impl From<obol_http::auth::AuthError> for ApiError {
    fn from(error: obol_http::auth::AuthError) -> ApiError {
        match error {
            obol_http::auth::AuthError::Unauthorized => ApiError::unauthorized(),
            obol_http::auth::AuthError::Throttled(throttled) => ApiError {
                retry_after_s: Some(throttled.retry_after_s),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
            },
            obol_http::auth::AuthError::Store(error) => error.into(),
        }
    }
}

/// The one place where the core's and storage's errors become ActivePlatform's bodies.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Payment(error) => error.into(),
            StoreError::Idempotency(_) => {
                ApiError::unprocessable("Idempotency-Key was used with another request.")
            }
            other => internal(&other),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(error: PaymentError) -> ApiError {
        match error {
            PaymentError::TransitionNotAllowed { .. } => {
                ApiError::unprocessable(ONLY_WAITING_OR_EXPIRED)
            }
            // Completion records money received outside Obol: only an offline method may.
            PaymentError::MethodNotOffline => ApiError::unprocessable("Payment method not found."),
            other => internal(&other),
        }
    }
}

/// The door checks its wire before it builds a draft (`total` positive, `comment` within the
/// core's description limit, no reference or service), so these only name the field.
impl From<DraftError> for ApiError {
    fn from(error: DraftError) -> ApiError {
        match error {
            DraftError::AmountNotPositive | DraftError::Service(_) => {
                ApiError::unprocessable("total is not valid.")
            }
            DraftError::TooLong("description") => ApiError::unprocessable("comment is not valid."),
            other => internal(&other),
        }
    }
}

/// Internals never reach the client: the error goes to the log, the client gets a 500.
fn internal(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(%error, "storage failed under the ActivePlatform API");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
}
