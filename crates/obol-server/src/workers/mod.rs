//! Background workers: plain loops that claim due work, do it, and report what they did.
//! Tests drive them one step at a time (`run_once`) with a clock they move by hand.

pub mod gauges;
pub mod lifecycle;
pub mod reconciliation;

pub use obol_http::Outcome;
