//! The lifecycle worker: runs jobs stored with a due time (payment expiry, Softline's 90-day
//! deletion, the end of a P2P transfer's wait: BUCKET returns and unconfirmed transfers) and
//! sweeps what has run out (idempotency keys, P2P sessions, old finished jobs). It runs on every node: jobs are
//! claimed with leases (and `SKIP LOCKED` on PostgreSQL), so nodes share the work and none is
//! done twice at once; a node that dies loses its leases when they run out. Jobs live in the
//! database, so nothing is missed across restarts and late jobs catch up.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use obol_core::ids::PaymentId;
use obol_core::payment::{Actor, PaymentError, PaymentEvent};
use obol_core::time::Timestamp;
use obol_http::callbacks::outbox::Outbox;
use obol_http::clock::SharedClock;
use obol_http::door::{JobRunner, Registry};
use obol_store::ops::{idempotency, jobs, p2p, payments};
use obol_store::{Db, Store, StoreError, StoreResult};
use tokio::sync::watch;

use super::Outcome;

/// A payment's time to pay ran out: an open one expires; one paid, failed or expired
/// meanwhile (or gone) is left alone.
pub struct PaymentExpiry;

impl JobRunner for PaymentExpiry {
    fn kind(&self) -> &'static str {
        payments::EXPIRY_JOB
    }

    fn run<'a>(
        &'a self,
        db: &'a mut dyn Db,
        outbox: &'a Outbox,
        subject: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let id = PaymentId::parse(subject)
                .map_err(|_| StoreError::Corrupt(format!("job subject {subject}")))?;
            let actor = Actor::Job(payments::EXPIRY_JOB.to_owned());
            match outbox
                .transition(db, &id, PaymentEvent::Expired, actor, now)
                .await
            {
                // The refusal is decided before anything is written, so the transaction
                // stays usable and the job is marked done in it.
                Ok(_)
                | Err(
                    StoreError::Payment(PaymentError::TransitionNotAllowed { .. })
                    | StoreError::NotFound(_),
                ) => Ok(()),
                Err(error) => Err(error),
            }
        })
    }
}

/// Jobs taken per claim.
const CLAIM_BATCH: i64 = 64;
/// How long a claimed job stays with its node before others may take it.
const LEASE_SECONDS: i64 = 60;
/// Longest sleep between looks, so a job is run within this long of its due time even when
/// it was scheduled by another node.
const POLL_MAX: Duration = Duration::from_secs(5);
/// Longest wait before retrying a job that failed.
const RETRY_MAX_SECONDS: i64 = 300;
/// Rows removed per delete statement, and statements per sweep: a sweep removes up to
/// 500,000 rows, far more than a minute of traffic at the targets of SPEC §9 creates, while
/// each statement stays short.
const PURGE_BATCH: i64 = 5_000;
const PURGE_BATCHES_MAX: usize = 100;
/// Time between sweeps.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// How long finished jobs are kept (for inspection) before they are deleted.
const DONE_JOBS_KEPT_SECONDS: i64 = 7 * 86_400;

pub struct LifecycleWorker {
    store: Store,
    clock: SharedClock,
    owner: String,
    outbox: Outbox,
    /// The doors' job runners, by kind.
    registry: Arc<Registry>,
}

impl LifecycleWorker {
    pub fn new(
        store: Store,
        clock: SharedClock,
        owner: String,
        outbox: Outbox,
        registry: Arc<Registry>,
    ) -> LifecycleWorker {
        LifecycleWorker {
            store,
            clock,
            owner,
            outbox,
            registry,
        }
    }

    /// Claims the due jobs and runs them.
    pub async fn run_once(&self) -> Result<Outcome, StoreError> {
        let now = self.clock.now();
        let owner = self.owner.clone();
        let claimed = self
            .store
            .write(move |db| {
                Box::pin(async move {
                    jobs::claim_due(db, &owner, now, LEASE_SECONDS, CLAIM_BATCH).await
                })
            })
            .await?;
        if claimed.is_empty() {
            return Ok(Outcome::Idle);
        }
        let count = claimed.len();
        for job in claimed {
            if let Err(error) = self.run_job(&job).await {
                tracing::warn!(kind = %job.kind, subject = %job.subject, attempts = job.attempts, %error, "lifecycle job failed; will retry");
                let retry_at = self
                    .clock
                    .now()
                    .plus_seconds((1i64 << job.attempts.clamp(0, 16)).min(RETRY_MAX_SECONDS));
                let owner = self.owner.clone();
                let message = error.to_string();
                self.store
                    .write(move |db| {
                        Box::pin(async move {
                            jobs::retry_later(db, job.id, &owner, &message, retry_at).await
                        })
                    })
                    .await?;
            }
        }
        Ok(Outcome::Worked(count))
    }

    /// Runs one job with the runner its door registered for its kind, and marks it done in the
    /// same transaction.
    async fn run_job(&self, job: &jobs::Job) -> Result<(), StoreError> {
        let now = self.clock.now();
        let Some(runner) = self.registry.job(&job.kind).cloned() else {
            tracing::error!(kind = %job.kind, "unknown lifecycle job kind; marking it done");
            return self.complete(job.id, now).await;
        };
        let owner = self.owner.clone();
        let outbox = self.outbox.clone();
        let (job_id, subject) = (job.id, job.subject.clone());
        self.store
            .write(move |db| {
                Box::pin(async move {
                    runner.run(db, &outbox, &subject, now).await?;
                    jobs::complete(db, job_id, &owner, now).await?;
                    Ok(())
                })
            })
            .await
    }

    async fn complete(&self, job_id: i64, now: Timestamp) -> Result<(), StoreError> {
        let owner = self.owner.clone();
        self.store
            .write(move |db| Box::pin(async move { jobs::complete(db, job_id, &owner, now).await }))
            .await?;
        Ok(())
    }

    /// Removes expired idempotency keys, ended P2P sessions (and spent P2P request tokens and
    /// card-form links) and old finished jobs, in short batches until none are left (or the
    /// sweep's bound is reached); returns how many rows went.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let mut removed = 0;
        for _ in 0..PURGE_BATCHES_MAX {
            let batch = self
                .store
                .write(move |db| Box::pin(idempotency::purge_expired(db, now, PURGE_BATCH)))
                .await?;
            removed += batch;
            if batch < PURGE_BATCH as u64 {
                break;
            }
        }
        for _ in 0..PURGE_BATCHES_MAX {
            let batch = self
                .store
                .write(move |db| {
                    // Ended sessions are kept a day, so their holders hear SESSION_EXPIRED;
                    // spent signed-request tokens and card-form links go once they ran out.
                    Box::pin(p2p::purge_expired(
                        db,
                        now,
                        now.plus_seconds(-86_400),
                        PURGE_BATCH,
                    ))
                })
                .await?;
            removed += batch;
            if batch < PURGE_BATCH as u64 {
                break;
            }
        }
        let before = now.plus_seconds(-DONE_JOBS_KEPT_SECONDS);
        for _ in 0..PURGE_BATCHES_MAX {
            let batch = self
                .store
                .write(move |db| Box::pin(jobs::purge_done(db, before, PURGE_BATCH)))
                .await?;
            removed += batch;
            if batch < PURGE_BATCH as u64 {
                break;
            }
        }
        Ok(removed)
    }

    /// Runs until `shutdown` turns true, then gives back its leases.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_purge = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let outcome = self.run_once().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "lifecycle worker could not claim jobs");
                Outcome::Idle
            });
            if last_purge.elapsed() >= PURGE_EVERY {
                last_purge = tokio::time::Instant::now();
                if let Err(error) = self.purge().await {
                    tracing::warn!(%error, "purging expired idempotency keys and old jobs failed");
                }
            }
            if let Outcome::Worked(_) = outcome {
                continue;
            }
            let sleep = self.time_to_next_job().await;
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
        let owner = self.owner.clone();
        if let Err(error) = self
            .store
            .write(move |db| Box::pin(async move { jobs::release_leases(db, &owner).await }))
            .await
        {
            tracing::warn!(%error, "could not release job leases at shutdown");
        }
    }

    async fn time_to_next_job(&self) -> Duration {
        let now = self.clock.now();
        let next = self
            .store
            .read(move |db| Box::pin(jobs::next_due_at(db, now)))
            .await
            .ok()
            .flatten();
        match next {
            Some(due) => {
                let wait = due.unix_micros() - now.unix_micros();
                Duration::from_micros(wait.max(0) as u64).min(POLL_MAX)
            }
            None => POLL_MAX,
        }
    }
}
