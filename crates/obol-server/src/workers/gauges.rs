//! The metrics' database gauges (payments by status, callbacks by status, pending jobs), read
//! in the background every `metrics.refresh_interval_ms` and kept in [`Metrics`]: a scrape of
//! `/metrics` renders what was read last and never touches the database, so scraping often,
//! or by many, costs the database nothing (SPEC §8).

use std::sync::Arc;
use std::time::Duration;

use obol_http::clock::SharedClock;
use obol_http::metrics::{Gauge, Metrics};
use obol_store::ops::{callbacks, jobs, payments};
use obol_store::{Store, StoreError};
use tokio::sync::watch;

pub struct GaugeRefresher {
    store: Store,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    interval: Duration,
}

impl GaugeRefresher {
    pub fn new(
        store: Store,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        interval: Duration,
    ) -> GaugeRefresher {
        GaugeRefresher {
            store,
            clock,
            metrics,
            interval,
        }
    }

    /// Reads the gauges once and publishes them.
    pub async fn run_once(&self) -> Result<(), StoreError> {
        let gauges = self
            .store
            .read(|db| {
                Box::pin(async move {
                    let by_status = |counts: Vec<(String, i64)>| -> Vec<(Vec<(&'static str, String)>, i64)> {
                        counts
                            .into_iter()
                            .map(|(status, count)| (vec![("status", status)], count))
                            .collect()
                    };
                    let payments = by_status(payments::count_by_status(db).await?);
                    let callbacks = by_status(callbacks::counts(db).await?);
                    let pending_jobs = jobs::pending_count(db).await?;
                    Ok(vec![
                        Gauge {
                            name: "obol_payments",
                            help: "Payments by core status.",
                            values: payments,
                        },
                        Gauge {
                            name: "obol_callbacks",
                            help: "Callbacks by status (pending is the queue depth; failed were given up on).",
                            values: callbacks,
                        },
                        Gauge {
                            name: "obol_jobs_pending",
                            help: "Lifecycle jobs not yet done.",
                            values: vec![(vec![], pending_jobs)],
                        },
                    ])
                })
            })
            .await?;
        self.metrics
            .set_gauges(gauges, self.clock.now().unix_seconds());
        Ok(())
    }

    /// Refreshes every interval until `shutdown` turns true. A failed read keeps the last
    /// gauges (their timestamp shows how old they are).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            if let Err(error) = self.run_once().await {
                tracing::warn!(%error, "metrics could not read the database");
            }
        }
    }
}
