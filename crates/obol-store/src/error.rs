//! Storage errors. Each backend turns its own error into a [`StoreError`] at its edge, by error
//! code (SQLite's extended result codes, PostgreSQL's SQLSTATE) and never by message text. A
//! unique violation names the key it hit as a [`UniqueKey`]; the operation that knows what the
//! key means turns it into a domain error. Everything else is `Unavailable` or `Database`.

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
    /// A unique key was violated; which one is decided at the backend's edge.
    #[error("unique constraint violated: {0}")]
    Unique(UniqueKey),
    #[error("a stored row is unreadable: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(Entity),
    /// The row changed between reading and writing it (a version check failed, or PostgreSQL
    /// reported a serialization failure or a deadlock); the caller may retry. One variant for
    /// all three because every caller answers them the same way.
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

/// What was not found, for [`StoreError::NotFound`]: callers decide on the variant, never on
/// its text. `Display` names it in the words of log and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Payment,
    PaymentMethod,
    Service,
    Reseller,
    Manager,
    Merchant,
    CustomerAccount,
    Callback,
    Refund,
    RefundRequest,
    P2pClient,
    Transfer,
    /// The rows below are returned by an `INSERT … RETURNING` or an aggregate, so "not found"
    /// would be a bug in the statement; they are named for the log.
    Attempt,
    LedgerTransaction,
    Balance,
    CallbackSequence,
    /// A named counter (`db::next_sequence`).
    Sequence,
}

impl Entity {
    /// The core's error code for this entity being missing.
    pub fn not_found_code(self) -> ErrorCode {
        match self {
            Entity::Payment => codes::PAYMENT_NOT_FOUND,
            Entity::PaymentMethod => codes::METHOD_NOT_FOUND,
            Entity::Service => codes::SERVICE_NOT_FOUND,
            Entity::Reseller => codes::RESELLER_NOT_FOUND,
            Entity::Merchant => codes::MERCHANT_NOT_FOUND,
            Entity::Manager
            | Entity::CustomerAccount
            | Entity::Callback
            | Entity::Refund
            | Entity::RefundRequest
            | Entity::P2pClient
            | Entity::Transfer
            | Entity::Attempt
            | Entity::LedgerTransaction
            | Entity::Balance
            | Entity::CallbackSequence
            | Entity::Sequence => codes::NOT_FOUND,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Entity::Payment => "payment",
            Entity::PaymentMethod => "payment method",
            Entity::Service => "service",
            Entity::Reseller => "reseller",
            Entity::Manager => "manager",
            Entity::Merchant => "merchant",
            Entity::CustomerAccount => "customer account",
            Entity::Callback => "callback",
            Entity::Refund => "refund",
            Entity::RefundRequest => "refund request",
            Entity::P2pClient => "p2p client",
            Entity::Transfer => "transfer",
            Entity::Attempt => "attempt",
            Entity::LedgerTransaction => "ledger transaction",
            Entity::Balance => "balance",
            Entity::CallbackSequence => "callback sequence",
            Entity::Sequence => "sequence",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A unique key that operations turn into domain errors. Each is declared once, with its
/// table, its columns and the name PostgreSQL gives it; the schema test checks that both
/// backends have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueKey {
    /// `payments (merchant_id, reference_id)`: a merchant's reference names one payment.
    PaymentReference,
    /// `p2p_clients (client_key_digest)`: the digest of a client's `clientId`.
    P2pClientKey,
    /// `p2p_transfers (receipt_id)`.
    P2pTransferReceipt,
    /// `refund_requests (payment_id) WHERE status = 'open'`: one open request per payment.
    OpenRefundRequest,
    /// Any other unique key, as the backend described it (PostgreSQL: the constraint's name;
    /// SQLite: `table(column, …)`), for the log.
    Other(String),
}

/// How one [`UniqueKey`] looks in each backend's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniqueKeyDefinition {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    /// The name of the constraint or index on PostgreSQL (SQLite reports only the columns).
    pub postgres_name: &'static str,
}

impl UniqueKey {
    /// Every named key, for the backends' edges and the schema test.
    pub const KNOWN: [UniqueKey; 4] = [
        UniqueKey::PaymentReference,
        UniqueKey::P2pClientKey,
        UniqueKey::P2pTransferReceipt,
        UniqueKey::OpenRefundRequest,
    ];

    /// Where a named key lives; `None` for [`UniqueKey::Other`].
    pub fn definition(&self) -> Option<UniqueKeyDefinition> {
        let (table, columns, postgres_name): (_, &'static [&'static str], _) = match self {
            UniqueKey::PaymentReference => (
                "payments",
                &["merchant_id", "reference_id"],
                "payments_merchant_reference_key",
            ),
            UniqueKey::P2pClientKey => (
                "p2p_clients",
                &["client_key_digest"],
                "p2p_clients_client_key_digest_key",
            ),
            UniqueKey::P2pTransferReceipt => (
                "p2p_transfers",
                &["receipt_id"],
                "p2p_transfers_receipt_id_key",
            ),
            UniqueKey::OpenRefundRequest => (
                "refund_requests",
                &["payment_id"],
                "refund_requests_one_open",
            ),
            UniqueKey::Other(_) => return None,
        };
        Some(UniqueKeyDefinition {
            table,
            columns,
            postgres_name,
        })
    }

    /// The key PostgreSQL reports by its constraint (or unique index) name.
    pub(crate) fn from_postgres(constraint: &str) -> UniqueKey {
        UniqueKey::KNOWN
            .into_iter()
            .find(|key| {
                key.definition()
                    .is_some_and(|definition| definition.postgres_name == constraint)
            })
            .unwrap_or_else(|| UniqueKey::Other(constraint.to_owned()))
    }

    /// The key SQLite reports by its table and columns.
    pub(crate) fn from_sqlite(table: &str, columns: &[&str]) -> UniqueKey {
        UniqueKey::KNOWN
            .into_iter()
            .find(|key| {
                key.definition().is_some_and(|definition| {
                    definition.table == table && definition.columns == columns
                })
            })
            .unwrap_or_else(|| UniqueKey::Other(format!("{table}({})", columns.join(", "))))
    }
}

impl std::fmt::Display for UniqueKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let UniqueKey::Other(described) = self {
            return formatter.write_str(described);
        }
        formatter.write_str(
            self.definition()
                .map_or("", |definition| definition.postgres_name),
        )
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
            StoreError::NotFound(entity) => entity.not_found_code(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_maps_to_the_core_code_by_entity() {
        let cases = [
            (
                Entity::Payment,
                codes::PAYMENT_NOT_FOUND,
                "payment not found",
            ),
            (
                Entity::PaymentMethod,
                codes::METHOD_NOT_FOUND,
                "payment method not found",
            ),
            (
                Entity::Service,
                codes::SERVICE_NOT_FOUND,
                "service not found",
            ),
            (
                Entity::Reseller,
                codes::RESELLER_NOT_FOUND,
                "reseller not found",
            ),
            (
                Entity::Merchant,
                codes::MERCHANT_NOT_FOUND,
                "merchant not found",
            ),
            (Entity::Transfer, codes::NOT_FOUND, "transfer not found"),
            (Entity::P2pClient, codes::NOT_FOUND, "p2p client not found"),
            (
                Entity::RefundRequest,
                codes::NOT_FOUND,
                "refund request not found",
            ),
        ];
        for (entity, code, message) in cases {
            let error = StoreError::NotFound(entity);
            assert_eq!(error.code(), code, "{entity:?}");
            assert_eq!(error.to_string(), message);
        }
    }
}
