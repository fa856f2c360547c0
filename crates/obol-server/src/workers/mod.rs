//! Background workers: plain loops that claim due work, do it, and report what they did.
//! Tests drive them one step at a time (`run_once`) with a clock they move by hand.

pub mod lifecycle;

/// What one step of a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished this many items; there may be more right away.
    Worked(usize),
    /// Nothing was due.
    Idle,
}
