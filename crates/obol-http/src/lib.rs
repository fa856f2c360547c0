//! What every door shares: the application state, configuration, the operator key, tokens,
//! caches, the client's address, merchant logins and their throttle, the one idempotent
//! write, the page frame, the callbacks outbox and delivery worker, and the traits ([`door`])
//! through which that shared machinery reaches a door. No door is imported here, and no door imports another:
//! each is its own crate over this one.

pub mod acquirer;
pub mod address;
pub mod admin;
pub mod auth;
pub mod cache;
pub mod callbacks;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod door;
pub mod idempotency;
pub mod json;
pub mod metrics;
pub mod page;
pub mod routes;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod upstream;

/// What one step of a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished this many items; there may be more right away.
    Worked(usize),
    /// Nothing was due.
    Idle,
}
