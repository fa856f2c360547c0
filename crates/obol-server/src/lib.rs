//! Obol's server: assembles the router from the doors (one crate each), runs the workers, and
//! implements start-up and the command-line commands.
//!
//! Data flows one way: wire → dialect → core command → storage → core result → dialect → wire.

pub mod commands;
pub mod demo;
pub mod doors;
pub mod http;
pub mod live_routes;
pub mod serve;
pub mod telemetry;
pub mod workers;

// What tests and the binary reach through the server; they live in the shared crate.
pub use obol_http::{cache, callbacks, clock, config, crypto, state, tokens};
