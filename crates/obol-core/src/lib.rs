//! Obol's domain core: money, currencies, ids, tenancy, payment methods and services, payments
//! and their state machine, the ledger, idempotency rules and the error catalog.
//!
//! This crate does no I/O. It knows no JSON, HTTP or SQL: dialects and storage own their
//! wire and row types and convert to and from these by hand. Time and randomness are
//! injected ([`time::Clock`], [`ids::RandomSource`]).

pub mod card;
pub mod catalog;
pub mod credentials;
pub mod currency;
pub mod customer;
pub mod error;
pub mod fee;
pub mod idempotency;
pub mod ids;
pub mod ledger;
pub mod mode;
pub mod money;
pub mod p2p;
pub mod payment;
pub mod sandbox;
pub mod tenancy;
pub mod time;

pub use currency::Currency;
pub use error::{Coded, ErrorCode, ErrorKind};
pub use mode::Mode;
pub use money::Money;
pub use time::Timestamp;
