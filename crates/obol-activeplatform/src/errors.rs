//! ActivePlatform's error shape for every status: `{"errors": {"title": "…", "status": "<code>"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The seed's 422 for completing a payment in another status, word for word.
pub const ONLY_WAITING_OR_EXPIRED: &str =
    "Only payments with \"waiting for payment/expired\" status can be completed.";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub title: String,
}

impl ApiError {
    pub fn new(status: StatusCode, title: &str) -> ApiError {
        ApiError {
            status,
            title: title.to_owned(),
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
        response
    }
}

impl From<obol_store::StoreError> for ApiError {
    fn from(error: obol_store::StoreError) -> ApiError {
        tracing::error!(%error, "storage failed under the ActivePlatform API");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}
