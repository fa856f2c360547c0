//! Clocks: the system clock for the server, a clock tests move by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use obol_core::Timestamp;
use obol_core::time::Clock;

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_micros() as i64)
            .unwrap_or_default();
        Timestamp::from_unix_micros(micros)
    }
}

/// A clock that stands still until a test moves it.
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            micros: AtomicI64::new(start.unix_micros()),
        })
    }

    pub fn advance_seconds(&self, seconds: i64) {
        self.micros.fetch_add(seconds * 1_000_000, Ordering::SeqCst);
    }

    pub fn set(&self, at: Timestamp) {
        self.micros.store(at.unix_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_micros(self.micros.load(Ordering::SeqCst))
    }
}
