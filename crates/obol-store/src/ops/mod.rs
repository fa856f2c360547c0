//! Storage operations, written once over the [`crate::db::Db`] seam and run by either
//! backend. Each public function is one step of a transaction; the [`crate::Store`] methods
//! compose them into whole transactions.

pub mod administration;
pub mod attempts;
pub mod audit;
pub mod bearer;
pub mod callbacks;
pub mod catalog;
pub mod credentials;
pub mod customers;
pub mod dashboard;
pub mod idempotency;
pub mod jobs;
pub mod ledger;
pub mod listing;
pub mod migrate;
pub mod p2p;
pub mod payments;
pub mod refund_requests;
pub mod schema;
pub mod search;
pub mod settings;
pub mod stats;
pub mod tenancy;
pub mod upstream;
pub mod verify;

use obol_core::Timestamp;

use crate::error::{StoreError, StoreResult};

pub(crate) fn timestamp(value: i64) -> Timestamp {
    Timestamp::from_unix_micros(value)
}

pub(crate) fn opt_timestamp(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp::from_unix_micros)
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn parse_or_corrupt<T, E>(result: Result<T, E>, what: &str) -> StoreResult<T> {
    result.map_err(|_| corrupt(format!("unreadable {what}")))
}

#[cfg(test)]
mod tests;
