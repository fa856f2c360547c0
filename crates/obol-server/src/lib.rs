//! Obol's server: HTTP (one module per dialect as they arrive), workers, configuration,
//! start-up, and the implementations of the command-line commands.
//!
//! Data flows one way: wire → dialect → core command → storage → core result → dialect → wire.

pub mod acquirer;
pub mod activeplatform;
pub mod cache;
pub mod callbacks;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod hpp;
pub mod http;
pub mod invoices;
pub mod p2p;
pub mod paymega;
pub mod serve;
pub mod softline;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod workers;
pub mod yookassa;
