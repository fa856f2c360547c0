//! Callbacks: the transactional outbox, delivery workers, signatures, retries, and the SSRF
//! guard on callback URLs.

pub mod guard;
mod hosts;
mod keys;
pub mod outbox;
pub mod schedule;
pub mod signature;
pub mod worker;
