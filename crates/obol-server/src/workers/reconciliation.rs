//! The reconciliation worker (SPEC §4 "Live routes"): asks each live route's provider again
//! about every payment still pending there — soon after the customer left, then backing off —
//! and tries again every refund whose answer was lost or is still pending, so a lost
//! notification never leaves a payment pending forever and a provider that was down never
//! leaves a refund half-made. The work and its due times live in the database, and each item
//! is claimed with a lease, so every node runs this worker and none does an item twice at once.
//! What the provider says is applied by `obol_http::upstream`, the one path money takes
//! through a route.

use std::time::Duration;

use obol_http::state::AppState;
use obol_http::upstream;
use obol_store::StoreResult;
use tokio::sync::watch;

use super::Outcome;

/// Payments and refunds taken per look.
const BATCH: i64 = 32;
/// Sleep between looks when nothing was due: due times are seconds apart at the least.
const POLL: Duration = Duration::from_secs(1);

pub struct ReconciliationWorker {
    state: AppState,
}

impl ReconciliationWorker {
    pub fn new(state: AppState) -> ReconciliationWorker {
        ReconciliationWorker { state }
    }

    /// One look: everything due now.
    pub async fn run_once(&self) -> StoreResult<Outcome> {
        Ok(match upstream::reconcile_due(&self.state, BATCH).await? {
            0 => Outcome::Idle,
            handled => Outcome::Worked(handled),
        })
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // No configured route: nothing can ever be due.
        if self.state.config.acquirers.is_empty() {
            return;
        }
        loop {
            let pause = match self.run_once().await {
                Ok(Outcome::Worked(_)) => Duration::ZERO,
                Ok(Outcome::Idle) => POLL,
                Err(error) => {
                    tracing::warn!(%error, "reconciliation could not read the database");
                    POLL
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }
}
