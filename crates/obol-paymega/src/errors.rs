//! Paymega's error vocabulary, in one place: every failure of this dialect becomes one of
//! these, and each renders exactly as the seed writes it.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::invoices::Problem;

#[derive(Debug)]
pub enum PaymegaError {
    /// 400: the body is not what the endpoint reads.
    BadRequest,
    /// 401: missing or wrong credentials.
    Unauthorized,
    /// 403: the account's settings forbid it.
    Forbidden,
    /// 404: no such route, or no such resource for this merchant.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 409: the `reference_id` is taken; the body carries the existing invoice.
    /// 409: a repeated `reference_id`, with the existing invoice when the caller may see it.
    Conflict {
        title: String,
        existing: Option<Value>,
    },
    /// 422: field → message.
    Unprocessable(BTreeMap<String, String>),
    /// 429: too many failed authentications from this address or with this credential; try
    /// again after this many seconds (`Retry-After`).
    TooManyRequests { retry_after_s: u64 },
    /// 500: details stay in the logs.
    Internal,
}

/// The seed's (Symfony-style) message for a problem with a field.
pub fn message(problem: &Problem) -> String {
    match problem {
        Problem::Required => "This value should not be blank.".to_owned(),
        Problem::Invalid | Problem::NotAvailable => "This value is not valid.".to_owned(),
        Problem::TooPrecise => {
            "This value has too many decimal places for its currency.".to_owned()
        }
        Problem::NotPositive => "This value should be greater than 0.".to_owned(),
        Problem::BelowMinimum(minimum) => {
            format!("This value should be greater than or equal to {minimum}.")
        }
        Problem::AboveMaximum(maximum) => {
            format!("This value should be less than or equal to {maximum}.")
        }
        Problem::OutOfWindow => {
            "This value should be between 14 minutes and 2 days after the invoice's creation."
                .to_owned()
        }
        Problem::Unknown => "This field was not expected.".to_owned(),
        Problem::TooLong => "This value is too long.".to_owned(),
        Problem::LivePublicKey => {
            "This value cannot be set with a live public key: live invoices only.".to_owned()
        }
    }
}

impl PaymegaError {
    pub fn field(field: &str, problem: Problem) -> PaymegaError {
        PaymegaError::Unprocessable(BTreeMap::from([(field.to_owned(), message(&problem))]))
    }

    pub fn fields(problems: Vec<(String, Problem)>) -> PaymegaError {
        PaymegaError::Unprocessable(
            problems
                .into_iter()
                .map(|(field, problem)| (field, message(&problem)))
                .collect(),
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            PaymegaError::BadRequest => StatusCode::BAD_REQUEST,
            PaymegaError::Unauthorized => StatusCode::UNAUTHORIZED,
            PaymegaError::Forbidden => StatusCode::FORBIDDEN,
            PaymegaError::NotFound => StatusCode::NOT_FOUND,
            PaymegaError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PaymegaError::Conflict { .. } => StatusCode::CONFLICT,
            PaymegaError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PaymegaError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            PaymegaError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> Value {
        let simple =
            |status: &str, code: &str| json!({ "errors": [{ "status": status, "code": code }] });
        match self {
            PaymegaError::BadRequest => simple("Bad Request", "400"),
            PaymegaError::Unauthorized => simple("Unauthorized", "401"),
            PaymegaError::Forbidden => simple("Forbidden", "403"),
            PaymegaError::NotFound => simple("Not Found", "404"),
            PaymegaError::MethodNotAllowed => simple("Method Not Allowed", "405"),
            PaymegaError::Conflict {
                title,
                existing: Some(existing),
            } => json!({
                "errors": [{ "status": "Conflict", "code": "409", "title": title }],
                "data": existing,
            }),
            PaymegaError::Conflict {
                title,
                existing: None,
            } => json!({
                "errors": [{ "status": "Conflict", "code": "409", "title": title }],
            }),
            PaymegaError::Unprocessable(fields) => json!({ "errors": fields }),
            PaymegaError::TooManyRequests { .. } => simple("Too Many Requests", "429"),
            PaymegaError::Internal => json!({
                "errors": [{ "status": "internal_error", "code": "500", "title": "internal_error", "detail": "Internal server error." }]
            }),
        }
    }
}

impl IntoResponse for PaymegaError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        match self {
            PaymegaError::Unauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Obol\""),
                );
            }
            PaymegaError::TooManyRequests { retry_after_s } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            _ => {}
        }
        response
    }
}

impl From<obol_store::StoreError> for PaymegaError {
    fn from(error: obol_store::StoreError) -> PaymegaError {
        tracing::error!(%error, "storage failed under the Paymega API");
        PaymegaError::Internal
    }
}

impl From<obol_http::auth::AuthError> for PaymegaError {
    fn from(error: obol_http::auth::AuthError) -> PaymegaError {
        match error {
            obol_http::auth::AuthError::Unauthorized => PaymegaError::Unauthorized,
            obol_http::auth::AuthError::Throttled(throttled) => PaymegaError::TooManyRequests {
                retry_after_s: throttled.retry_after_s,
            },
            obol_http::auth::AuthError::Store(error) => error.into(),
        }
    }
}
