//! Storage errors. Constraint violations are turned into domain errors by the operation that
//! knows what the constraint means; everything else is `Unavailable` or `Database`.

use obol_core::error::{Coded, ErrorCode, codes};
use obol_core::idempotency::IdempotencyError;
use obol_core::payment::{Payment, PaymentError};
use obol_core::tenancy::TenancyError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL {0}")]
    BadUrl(String),
    #[error("cannot reach the database: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    /// A unique constraint; the text names the constraint (PostgreSQL) or the columns (SQLite).
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("a stored row is unreadable: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The row changed between reading and writing it; the caller may retry.
    #[error("the record was changed concurrently")]
    Conflict,
    #[error("the reference is already used by payment {}", .0.id)]
    DuplicateReference(Box<Payment>),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    P2p(#[from] obol_core::p2p::P2pError),
}

impl StoreError {
    /// Whether a unique violation concerns the named constraint or column.
    pub fn is_unique_on(&self, name: &str) -> bool {
        matches!(self, StoreError::Unique(detail) if detail.contains(name))
    }
}

impl Coded for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::BadUrl(_) => codes::FIELD_INVALID,
            StoreError::Unavailable(_) => codes::STORAGE_UNAVAILABLE,
            StoreError::Database(_)
            | StoreError::Corrupt(_)
            | StoreError::Migration(_)
            | StoreError::Unique(_) => codes::INTERNAL,
            StoreError::NotFound("payment") => codes::PAYMENT_NOT_FOUND,
            StoreError::NotFound("reseller") => codes::RESELLER_NOT_FOUND,
            StoreError::NotFound("merchant") => codes::MERCHANT_NOT_FOUND,
            StoreError::NotFound("service") => codes::SERVICE_NOT_FOUND,
            StoreError::NotFound("payment method") => codes::METHOD_NOT_FOUND,
            StoreError::NotFound(_) => codes::NOT_FOUND,
            StoreError::Conflict => codes::CONCURRENT_MODIFICATION,
            StoreError::DuplicateReference(_) => codes::DUPLICATE_REFERENCE,
            StoreError::Payment(error) => error.code(),
            StoreError::Tenancy(error) => error.code(),
            StoreError::Idempotency(error) => error.code(),
            StoreError::P2p(error) => error.code(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
