//! Every error of the P2P dialect, in one place: `{"status": 0, "error": {"code", "message"}}`.
//! Business errors answer HTTP 200 as the service behind the seed does; only transport faults
//! (an unreadable body, an unknown path, a method the path does not take, a server fault) and
//! the idempotency conflicts of SPEC §2 (409, 422) use another status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obol_core::p2p::P2pError;
use obol_http::auth::AuthError;
use obol_store::StoreError;
use obol_store::error::Entity;
use serde_json::json;

/// The dialect's error codes (documented in `docs/api/p2p.md`).
pub mod code {
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    pub const CLIENT_NOT_FOUND: &str = "CLIENT_NOT_FOUND";
    pub const SESSION_NOT_FOUND: &str = "SESSION_NOT_FOUND";
    pub const SESSION_EXPIRED: &str = "SESSION_EXPIRED";
    pub const SIGNATURE_REQUIRED: &str = "SIGNATURE_REQUIRED";
    pub const INVALID_SIGNATURE: &str = "INVALID_SIGNATURE";
    /// Too many failed identifications (unknown client or session, bad signature) from this
    /// address, or with this client or session: retry after `Retry-After` seconds.
    pub const TOO_MANY_REQUESTS: &str = "TOO_MANY_REQUESTS";
    pub const TIMELIMIT_ERROR: &str = "TIMELIMIT_ERROR";
    pub const TOKEN_ALREADY_USED: &str = "TOKEN_ALREADY_USED";
    pub const INVALID_CARD: &str = "INVALID_CARD";
    pub const CARD_NOT_FOUND: &str = "CARD_NOT_FOUND";
    pub const PAYMENT_NOT_FOUND: &str = "PAYMENT_NOT_FOUND";
    pub const INVALID_PAYMENT_STATUS: &str = "INVALID_PAYMENT_STATUS";
    pub const INVALID_PAYMENT_TYPE: &str = "INVALID_PAYMENT_TYPE";
    pub const AMOUNT_EXCEEDED: &str = "AMOUNT_EXCEEDED";
    pub const INVALID_CONFIRMATION_CODE: &str = "INVALID_CONFIRMATION_CODE";
    pub const CONFIRMATION_ATTEMPTS_EXCEEDED: &str = "CONFIRMATION_ATTEMPTS_EXCEEDED";
    pub const IDEMPOTENCY_KEY_INVALID: &str = "IDEMPOTENCY_KEY_INVALID";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    pub const IDEMPOTENCY_REQUEST_IN_FLIGHT: &str = "IDEMPOTENCY_REQUEST_IN_FLIGHT";
    pub const CONCURRENT_MODIFICATION: &str = "CONCURRENT_MODIFICATION";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub http: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `Retry-After` of a throttled caller, in seconds.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn business(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            http: StatusCode::OK,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub fn with_status(
        http: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            http,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::business(code::VALIDATION_ERROR, message)
    }

    pub fn unreadable() -> ApiError {
        ApiError::with_status(
            StatusCode::BAD_REQUEST,
            code::INVALID_REQUEST,
            "The body must be a JSON object {\"params\": {…}, \"data\": {…}} or {\"token\": \"<JWT>\"}.",
        )
    }

    pub fn payment_not_found() -> ApiError {
        ApiError::business(code::PAYMENT_NOT_FOUND, "Payment not found.")
    }

    pub fn card_not_found(which: &str) -> ApiError {
        ApiError::business(code::CARD_NOT_FOUND, format!("Card {which} not found."))
    }

    pub fn body(&self) -> serde_json::Value {
        json!({ "status": 0, "error": { "code": self.code, "message": self.message } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.http,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.body().to_string(),
        )
            .into_response();
        if let Some(seconds) = self.retry_after_s {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// A caller the authentication throttle refused (an answer like the other identification
/// faults: HTTP 200, `status: 0`, with `Retry-After`), or a storage failure behind the check.
pub fn refused(error: AuthError) -> ApiError {
    match error {
        AuthError::Throttled(throttled) => ApiError {
            retry_after_s: Some(throttled.retry_after_s),
            ..ApiError::business(
                code::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed attempts; try again in {} s.",
                    throttled.retry_after_s
                ),
            )
        },
        AuthError::Unauthorized => ApiError::business(code::CLIENT_NOT_FOUND, "Client not found."),
        AuthError::Store(error) => error.into(),
    }
}

impl From<P2pError> for ApiError {
    fn from(error: P2pError) -> ApiError {
        let message = format!("{}.", capitalized(&error.to_string()));
        match error {
            P2pError::InvalidAmount | P2pError::Money(_) | P2pError::CurrencyMismatch => {
                ApiError::validation(message)
            }
            P2pError::CardToRequired | P2pError::SameCard => ApiError::validation(message),
            P2pError::WrongStatus(_) | P2pError::NotLookup | P2pError::NotThreeDs => {
                ApiError::business(code::INVALID_PAYMENT_STATUS, message)
            }
            P2pError::NotBucket => ApiError::business(code::INVALID_PAYMENT_TYPE, message),
            P2pError::AmountExceedsPending(_) => ApiError::business(code::AMOUNT_EXCEEDED, message),
            P2pError::WrongCode(_) => ApiError::business(code::INVALID_CONFIRMATION_CODE, message),
            P2pError::CodeAttemptsExhausted => {
                ApiError::business(code::CONFIRMATION_ATTEMPTS_EXCEEDED, message)
            }
            P2pError::Ledger(_) => internal(),
        }
    }
}

impl From<super::transfers::VaultUnavailable> for ApiError {
    fn from(error: super::transfers::VaultUnavailable) -> ApiError {
        tracing::error!(%error, "a stored P2P card cannot be resolved");
        ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL_ERROR,
            "A stored card cannot be used (was the operator key changed?).",
        )
    }
}

fn internal() -> ApiError {
    ApiError::with_status(
        StatusCode::INTERNAL_SERVER_ERROR,
        code::INTERNAL_ERROR,
        "Internal error.",
    )
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::P2p(error) => error.into(),
            // A business answer (HTTP 200), as the service answers every refusal.
            StoreError::Conflict => ApiError::business(
                code::CONCURRENT_MODIFICATION,
                "The payment was changed by another request; try again.",
            ),
            StoreError::Idempotency(
                obol_core::idempotency::IdempotencyError::ReusedWithDifferentRequest,
            ) => ApiError::with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::IDEMPOTENCY_KEY_REUSED,
                "Idempotency-Key was used with another request.",
            ),
            StoreError::Idempotency(obol_core::idempotency::IdempotencyError::InFlight) => {
                ApiError::with_status(
                    StatusCode::CONFLICT,
                    code::IDEMPOTENCY_REQUEST_IN_FLIGHT,
                    "A request with this Idempotency-Key is still in progress.",
                )
            }
            StoreError::Idempotency(_) => ApiError::with_status(
                StatusCode::BAD_REQUEST,
                code::IDEMPOTENCY_KEY_INVALID,
                "Idempotency-Key is not valid.",
            ),
            StoreError::NotFound(Entity::Transfer) => ApiError::payment_not_found(),
            StoreError::Unavailable(_) => ApiError::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                code::INTERNAL_ERROR,
                "The service is unavailable; try again.",
            ),
            other => {
                tracing::error!(error = %other, "p2p request failed");
                internal()
            }
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
