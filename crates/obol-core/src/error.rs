//! The error catalog: every domain error has a stable code, a kind and a default HTTP status.
//!
//! Dialects map a [`ErrorCode`] to their own wire body in one function each; the code string
//! is a contract (logs, dashboards and the docs name it), so codes are added, never renamed.

use std::fmt;

/// The broad class of an error, which decides the default HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input is malformed or breaks a rule.
    InvalidInput,
    /// No or wrong credentials.
    Unauthenticated,
    /// Credentials are fine, the action is not allowed.
    Forbidden,
    /// Nothing there, or nothing the caller may see.
    NotFound,
    /// The request conflicts with the current state (a duplicate, a concurrent change).
    Conflict,
    /// Well-formed, but the state of the thing does not allow it.
    Unprocessable,
    /// A bug or an unavailable dependency; details stay in the logs.
    Internal,
}

/// One entry of the catalog.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    code: &'static str,
    kind: ErrorKind,
    http_status: u16,
}

impl ErrorCode {
    pub const fn new(code: &'static str, kind: ErrorKind, http_status: u16) -> ErrorCode {
        ErrorCode {
            code,
            kind,
            http_status,
        }
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn kind(self) -> ErrorKind {
        self.kind
    }

    /// The default HTTP status; a dialect may answer another where its seed says so.
    pub fn http_status(self) -> u16 {
        self.http_status
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code)
    }
}

/// Implemented by every domain error.
pub trait Coded {
    fn code(&self) -> ErrorCode;
}

/// The catalog. `ALL` lists every entry; a test keeps the codes unique.
pub mod codes {
    use super::{ErrorCode, ErrorKind::*};

    pub const CURRENCY_UNKNOWN: ErrorCode = ErrorCode::new("currency_unknown", InvalidInput, 422);
    pub const CURRENCY_NOT_MONETARY: ErrorCode =
        ErrorCode::new("currency_not_monetary", InvalidInput, 422);
    pub const AMOUNT_MALFORMED: ErrorCode = ErrorCode::new("amount_malformed", InvalidInput, 422);
    pub const AMOUNT_TOO_PRECISE: ErrorCode =
        ErrorCode::new("amount_too_precise", InvalidInput, 422);
    pub const AMOUNT_OUT_OF_RANGE: ErrorCode =
        ErrorCode::new("amount_out_of_range", InvalidInput, 422);
    pub const AMOUNT_NOT_POSITIVE: ErrorCode =
        ErrorCode::new("amount_not_positive", InvalidInput, 422);
    pub const CURRENCY_MISMATCH: ErrorCode = ErrorCode::new("currency_mismatch", InvalidInput, 422);
    pub const ID_MALFORMED: ErrorCode = ErrorCode::new("id_malformed", InvalidInput, 422);
    pub const FIELD_INVALID: ErrorCode = ErrorCode::new("field_invalid", InvalidInput, 422);
    pub const FIELD_REQUIRED: ErrorCode = ErrorCode::new("field_required", InvalidInput, 422);
    pub const ROLE_UNKNOWN: ErrorCode = ErrorCode::new("role_unknown", InvalidInput, 422);
    pub const CREDENTIALS_INVALID: ErrorCode =
        ErrorCode::new("credentials_invalid", Unauthenticated, 401);
    pub const PERMISSION_DENIED: ErrorCode = ErrorCode::new("permission_denied", Forbidden, 403);
    pub const OUT_OF_SCOPE: ErrorCode = ErrorCode::new("out_of_scope", NotFound, 404);
    pub const RESELLER_NOT_FOUND: ErrorCode = ErrorCode::new("reseller_not_found", NotFound, 404);
    pub const MERCHANT_NOT_FOUND: ErrorCode = ErrorCode::new("merchant_not_found", NotFound, 404);
    pub const PAYMENT_NOT_FOUND: ErrorCode = ErrorCode::new("payment_not_found", NotFound, 404);
    pub const SERVICE_NOT_FOUND: ErrorCode = ErrorCode::new("service_not_found", NotFound, 404);
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode::new("method_not_found", NotFound, 404);
    pub const NOT_FOUND: ErrorCode = ErrorCode::new("not_found", NotFound, 404);
    pub const TRANSITION_NOT_ALLOWED: ErrorCode =
        ErrorCode::new("transition_not_allowed", Unprocessable, 422);
    pub const REFUND_EXCEEDS_PROCESSED: ErrorCode =
        ErrorCode::new("refund_exceeds_processed", Unprocessable, 422);
    pub const PARTIAL_CAPTURE: ErrorCode =
        ErrorCode::new("partial_capture_unsupported", Unprocessable, 422);
    pub const CONCURRENT_MODIFICATION: ErrorCode =
        ErrorCode::new("concurrent_modification", Conflict, 409);
    pub const DUPLICATE_REFERENCE: ErrorCode = ErrorCode::new("duplicate_reference", Conflict, 409);
    pub const IDEMPOTENCY_KEY_MALFORMED: ErrorCode =
        ErrorCode::new("idempotency_key_malformed", InvalidInput, 400);
    pub const IDEMPOTENCY_KEY_REUSED: ErrorCode =
        ErrorCode::new("idempotency_key_reused", Unprocessable, 422);
    pub const IDEMPOTENCY_IN_FLIGHT: ErrorCode =
        ErrorCode::new("idempotency_request_in_flight", Conflict, 409);
    pub const LEDGER_UNBALANCED: ErrorCode = ErrorCode::new("ledger_unbalanced", Internal, 500);
    pub const STORAGE_UNAVAILABLE: ErrorCode = ErrorCode::new("storage_unavailable", Internal, 503);
    pub const INTERNAL: ErrorCode = ErrorCode::new("internal_error", Internal, 500);

    pub const ALL: &[ErrorCode] = &[
        CURRENCY_UNKNOWN,
        CURRENCY_NOT_MONETARY,
        AMOUNT_MALFORMED,
        AMOUNT_TOO_PRECISE,
        AMOUNT_OUT_OF_RANGE,
        AMOUNT_NOT_POSITIVE,
        CURRENCY_MISMATCH,
        ID_MALFORMED,
        FIELD_INVALID,
        FIELD_REQUIRED,
        ROLE_UNKNOWN,
        CREDENTIALS_INVALID,
        PERMISSION_DENIED,
        OUT_OF_SCOPE,
        RESELLER_NOT_FOUND,
        MERCHANT_NOT_FOUND,
        PAYMENT_NOT_FOUND,
        SERVICE_NOT_FOUND,
        METHOD_NOT_FOUND,
        NOT_FOUND,
        TRANSITION_NOT_ALLOWED,
        REFUND_EXCEEDS_PROCESSED,
        PARTIAL_CAPTURE,
        CONCURRENT_MODIFICATION,
        DUPLICATE_REFERENCE,
        IDEMPOTENCY_KEY_MALFORMED,
        IDEMPOTENCY_KEY_REUSED,
        IDEMPOTENCY_IN_FLIGHT,
        LEDGER_UNBALANCED,
        STORAGE_UNAVAILABLE,
        INTERNAL,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for entry in codes::ALL {
            assert!(seen.insert(entry.code()), "duplicate code {}", entry.code());
            assert!(
                entry
                    .code()
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
            );
            assert!((400..600).contains(&entry.http_status()));
        }
    }

    #[test]
    fn kinds_agree_with_statuses() {
        for entry in codes::ALL {
            match entry.kind() {
                ErrorKind::Unauthenticated => assert_eq!(entry.http_status(), 401),
                ErrorKind::Forbidden => assert_eq!(entry.http_status(), 403),
                ErrorKind::NotFound => assert_eq!(entry.http_status(), 404),
                ErrorKind::Conflict => assert_eq!(entry.http_status(), 409),
                ErrorKind::Internal => assert!(entry.http_status() >= 500),
                ErrorKind::InvalidInput | ErrorKind::Unprocessable => {
                    assert!((400..500).contains(&entry.http_status()))
                }
            }
        }
    }
}
