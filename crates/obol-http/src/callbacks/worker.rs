//! The delivery worker, on every node: a pipeline, not a sequence of batches. It claims due
//! callbacks (leases; `SKIP LOCKED` on PostgreSQL) whenever it has room — at most
//! `max_in_flight` claimed and not yet recorded — and looks again the moment a commit on this
//! node enqueues a callback ([`Store::callbacks_committed`]), a recorded attempt makes room
//! (and perhaps lets the payment's next callback go), or its poll timer fires (other nodes'
//! callbacks, retries, lapsed leases). Each claimed callback is posted on its own task, with
//! connect and total timeouts and without following redirects, at most
//! `per_host_concurrency` at once per merchant host, over pooled keep-alive connections. The
//! finished attempts are recorded in batches, one transaction for as many as finished while
//! the previous batch was being written, and the next try is scheduled on the dialect's
//! schedule.
//!
//! Delivery is at least once: a node that dies mid-delivery loses its lease and another node
//! sends the callback again, with the same `X-Obol-Delivery-Id`. A batch that cannot be
//! recorded is tried again a few times; after that its callbacks stay leased until their
//! leases lapse, and are sent again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obol_core::Timestamp;
use obol_core::ids::RandomSource;
use obol_store::ops::callbacks::{
    self, AfterFailure, AttemptRecord, Callback, SealedKeys, Settled, Settlement, Signer,
};
use obol_store::{Store, StoreError};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

use super::guard::{self, AddressPolicy};
use super::hosts::{Hosts, NoTurn};
use super::keys::{KeyOpener, SigningKeys};
use super::signature;
use crate::clock::SharedClock;
use crate::crypto::{OperatorKey, OsRandom};
use crate::door::{CallbackDialect, CallbackFormat, Registry};
use crate::metrics::Metrics;

/// Callbacks taken per claim, at most, whatever room there is: one claim's statement and the
/// signing keys it reads stay small.
const CLAIM_MAX: usize = 256;
/// Attempts recorded per transaction, at most.
const RECORD_BATCH_MAX: usize = 256;
/// Tries to record a batch before its callbacks are left to their leases.
const RECORD_TRIES: u32 = 3;
/// Pause before the second try to record a batch (doubled before the third).
const RECORD_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long a claimed callback waits for its host's turn, at most. A host slower than that
/// holds no more of the in-flight bound than its own attempts and a short queue.
const HOST_WAIT_MAX: Duration = Duration::from_secs(5);
/// When a callback given back because its host was busy is due again.
const HOST_BUSY_DELAY_S: i64 = 5;
/// An attempt starts only while its lease outlasts the request timeout by this much (or by
/// half of what a fresh lease leaves beyond the request timeout, if that is less), so no other
/// node can take the callback while this one still waits for the answer or records it.
const LEASE_MARGIN: Duration = Duration::from_secs(1);
/// Bytes of an answer read (and then dropped): receivers need not be believed about size.
const RESPONSE_BYTES_MAX: usize = 64 * 1024;

pub struct DeliveryWorker {
    core: Arc<Core>,
}

/// How the worker connects, and how much it does at once.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    pub policy: AddressPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// How long a claimed callback stays with its node: longer than the longest attempt.
    pub lease: Duration,
    /// Callbacks claimed and not yet recorded, at most, over every host.
    pub max_in_flight: usize,
    /// Attempts under way at once to one merchant host, at most.
    pub per_host_concurrency: usize,
    /// The longest wait between looks for due callbacks. Callbacks committed on this node are
    /// looked for at once; this bounds how late other nodes' callbacks, a retry that came due,
    /// and a lapsed lease are noticed.
    pub poll_interval: Duration,
}

/// What the worker's tasks share.
struct Core {
    store: Store,
    clock: SharedClock,
    owner: String,
    client: reqwest::Client,
    policy: AddressPolicy,
    lease_seconds: i64,
    /// What an attempt needs left of its lease to start: the request timeout and a margin.
    lease_needed: Duration,
    max_in_flight: usize,
    poll_interval: Duration,
    metrics: Arc<Metrics>,
    /// The doors' callback formats: how each callback is signed, judged and retried.
    registry: Arc<Registry>,
    keys: KeyOpener,
    hosts: Hosts,
    /// The callbacks claimed here and not yet recorded.
    held: Mutex<HashSet<i64>>,
    /// Notified when recorded callbacks leave `held`.
    room: Notify,
}

/// One claim: the callbacks, their signers' sealed keys, and when their leases end.
struct Claim {
    callbacks: Vec<Callback>,
    keys: HashMap<Signer, SealedKeys>,
    lease_until: Timestamp,
}

impl DeliveryWorker {
    pub fn new(
        store: Store,
        clock: SharedClock,
        owner: String,
        key: OperatorKey,
        metrics: Arc<Metrics>,
        settings: DeliverySettings,
        registry: Arc<Registry>,
    ) -> Result<DeliveryWorker, guard::GuardError> {
        let per_host_concurrency = settings.per_host_concurrency.max(1);
        let (lease_seconds, lease_needed) = lease_terms(settings.lease, settings.request_timeout);
        let client = guard::client(
            settings.policy,
            settings.connect_timeout,
            settings.request_timeout,
            per_host_concurrency,
        )?;
        Ok(DeliveryWorker {
            core: Arc::new(Core {
                store,
                clock,
                owner,
                client,
                policy: settings.policy,
                lease_seconds: i64::try_from(lease_seconds).unwrap_or(i64::MAX),
                lease_needed,
                max_in_flight: settings.max_in_flight.max(1),
                poll_interval: settings.poll_interval,
                metrics,
                registry,
                keys: KeyOpener::new(key),
                hosts: Hosts::new(per_host_concurrency),
                held: Mutex::new(HashSet::new()),
                room: Notify::new(),
            }),
        })
    }

    /// Runs until `shutdown`; then attempts waiting for their host's turn give their callbacks
    /// back, those under way finish (each within the request timeout) and are recorded, and
    /// the leases left are given back.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let core = self.core;
        let committed = core.store.callbacks_committed();
        let (settled_sender, settled_receiver) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(Arc::clone(&core).record_loop(settled_receiver));
        let mut attempts = Attempts::default();
        while !*shutdown.borrow() {
            attempts.reap(&core);
            let room = core.room_left();
            let mut wait = core.poll_interval;
            if room > 0 {
                match core.claim(room.min(CLAIM_MAX)).await {
                    Ok(claim) => {
                        let claimed = claim.callbacks.len();
                        for callback in claim.callbacks {
                            if !core.hold(callback.id) {
                                // Already under way here: the claim only renewed its lease.
                                continue;
                            }
                            let keys = claim.keys.get(&callback.signer).cloned();
                            let (task_core, sender, stopping) =
                                (Arc::clone(&core), settled_sender.clone(), shutdown.clone());
                            let (id, lease_until) = (callback.id, claim.lease_until);
                            attempts.spawn(id, async move {
                                let settled = task_core
                                    .deliver(callback, keys, lease_until, stopping)
                                    .await;
                                // The recorder runs until every sender is gone.
                                let _ = sender.send(settled);
                            });
                        }
                        if claimed == room.min(CLAIM_MAX) {
                            // There may be more due right away.
                            continue;
                        }
                        if claimed == 0 {
                            wait = core.until_next_due().await;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "callback worker could not claim callbacks");
                    }
                }
            }
            tokio::select! {
                _ = core.room.notified() => {}
                _ = committed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        attempts.finish(&core).await;
        drop(settled_sender);
        if let Err(error) = recorder.await {
            tracing::error!(%error, "the callback recorder stopped");
        }
        let owner = core.owner.clone();
        if let Err(error) = core
            .store
            .write(move |db| Box::pin(async move { callbacks::release_leases(db, &owner).await }))
            .await
        {
            tracing::warn!(%error, "could not release callback leases at shutdown");
        }
    }
}

/// The attempt tasks under way, with the callback each one carries.
#[derive(Default)]
struct Attempts {
    tasks: JoinSet<()>,
    callbacks: HashMap<tokio::task::Id, i64>,
}

impl Attempts {
    fn spawn(&mut self, callback_id: i64, task: impl Future<Output = ()> + Send + 'static) {
        let handle = self.tasks.spawn(task);
        self.callbacks.insert(handle.id(), callback_id);
    }

    /// Forgets the tasks that ended. One that panicked never handed its callback to the
    /// recorder: its room is given back here, and the callback, still leased, is sent again
    /// once its lease lapses.
    fn reap(&mut self, core: &Core) {
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            self.ended(core, ended);
        }
    }

    /// Waits for every task to end.
    async fn finish(&mut self, core: &Core) {
        while let Some(ended) = self.tasks.join_next_with_id().await {
            self.ended(core, ended);
        }
    }

    fn ended(&mut self, core: &Core, ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        match ended {
            Ok((task, ())) => {
                self.callbacks.remove(&task);
            }
            Err(error) => {
                if let Some(callback) = self.callbacks.remove(&error.id()) {
                    tracing::error!(%error, callback, "a callback attempt ended without a result");
                    core.let_go(std::iter::once(callback));
                }
            }
        }
    }
}

impl Core {
    /// How many more callbacks may be claimed now.
    fn room_left(&self) -> usize {
        let held = self
            .held
            .lock()
            .map_or(self.max_in_flight, |held| held.len());
        self.max_in_flight.saturating_sub(held)
    }

    /// Takes a claimed callback on; false when it is under way here already.
    fn hold(&self, id: i64) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        let new = held.insert(id);
        self.metrics.set_callbacks_in_flight(held.len());
        new
    }

    /// Lets recorded callbacks go, making room for more.
    fn let_go(&self, ids: impl Iterator<Item = i64>) {
        if let Ok(mut held) = self.held.lock() {
            for id in ids {
                held.remove(&id);
            }
            self.metrics.set_callbacks_in_flight(held.len());
        }
        self.room.notify_one();
    }

    /// Claims up to `limit` due callbacks and, in the same transaction, their signers' keys.
    async fn claim(&self, limit: usize) -> Result<Claim, StoreError> {
        let now = self.clock.now();
        let lease_seconds = self.lease_seconds;
        let owner = self.owner.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (callbacks, keys) = self
            .store
            .write(move |db| {
                Box::pin(async move {
                    let claimed =
                        callbacks::claim_due(db, &owner, now, lease_seconds, limit).await?;
                    let signers: Vec<Signer> =
                        claimed.iter().map(|callback| callback.signer).collect();
                    let keys = callbacks::sealed_keys(db, &signers, now).await?;
                    Ok((claimed, keys))
                })
            })
            .await?;
        Ok(Claim {
            callbacks,
            keys,
            lease_until: now.plus_seconds(lease_seconds),
        })
    }

    /// How long to wait when nothing is due: until the next callback comes due, at most the
    /// poll interval.
    async fn until_next_due(&self) -> Duration {
        let now = self.clock.now();
        let next = self
            .store
            .read(move |db| Box::pin(callbacks::next_due_at(db, now)))
            .await
            .ok()
            .flatten();
        match next {
            Some(due) => {
                Duration::from_micros((due.unix_micros() - now.unix_micros()).max(0) as u64)
                    .min(self.poll_interval)
            }
            None => self.poll_interval,
        }
    }

    /// Waits for the host's turn, tries the callback once, and says what became of it.
    async fn deliver(
        &self,
        callback: Callback,
        keys: Option<SealedKeys>,
        lease_until: Timestamp,
        mut stopping: watch::Receiver<bool>,
    ) -> Settled {
        let gate = self.hosts.gate(&callback.url);
        let lease_left = Duration::from_micros(
            (lease_until.unix_micros() - self.clock.now().unix_micros()).max(0) as u64,
        );
        let wait_max = HOST_WAIT_MAX.min(lease_left.saturating_sub(self.lease_needed));
        let turn = tokio::select! {
            turn = gate.turn(wait_max) => turn,
            _ = stopping.wait_for(|stop| *stop) => {
                return self.released(callback.id, 0);
            }
        };
        let _permit = match turn {
            Ok(permit) => permit,
            Err(NoTurn::Busy) | Err(NoTurn::TimedOut) => {
                return self.released(callback.id, HOST_BUSY_DELAY_S);
            }
        };
        let lease_needed = i64::try_from(self.lease_needed.as_micros()).unwrap_or(i64::MAX);
        if self.clock.now().unix_micros().saturating_add(lease_needed) > lease_until.unix_micros() {
            return self.released(callback.id, 0);
        }
        let started_at = self.clock.now();
        let timer = Instant::now();
        let format = CallbackDialect::parse(&callback.dialect)
            .and_then(|dialect| self.registry.format(dialect))
            .cloned();
        let outcome = match &format {
            Some(format) => self.send(&callback, keys.as_ref(), format.as_ref()).await,
            None => Err(format!(
                "no callback format {:?} is registered",
                callback.dialect
            )),
        };
        let elapsed = timer.elapsed();
        gate.observe(elapsed);
        let finished_at = self.clock.now();
        let delivered =
            matches!((&outcome, &format), (Ok(status), Some(format)) if format.accepted(*status));
        let (response_code, error) = match outcome {
            Ok(status) if delivered => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("answered HTTP {status}"))),
            Err(error) => (None, Some(error)),
        };
        self.metrics.record_callback(delivered, elapsed);
        let after_failure = if delivered {
            AfterFailure::RetryAt(finished_at)
        } else {
            let mut jitter = [0u8; 4];
            OsRandom.fill_bytes(&mut jitter);
            let (attempts, jitter) = (callback.attempts + 1, u32::from_le_bytes(jitter));
            match &format {
                Some(format) => {
                    format.after_failure(attempts, callback.created_at, finished_at, jitter)
                }
                None => {
                    super::schedule::backoff(attempts, callback.created_at, finished_at, jitter)
                }
            }
        };
        if !delivered {
            tracing::info!(delivery_id = %callback.delivery_id, attempts = callback.attempts + 1, error = error.as_deref().unwrap_or_default(), "callback not delivered");
        }
        Settled {
            callback_id: callback.id,
            settlement: Settlement::Attempted {
                attempt: AttemptRecord {
                    started_at,
                    finished_at,
                    response_code,
                    delivered,
                    error,
                },
                after_failure,
            },
        }
    }

    /// A callback given back unsent, due again `delay_seconds` from now.
    fn released(&self, callback_id: i64, delay_seconds: i64) -> Settled {
        Settled {
            callback_id,
            settlement: Settlement::Released {
                due_at: self.clock.now().plus_seconds(delay_seconds),
            },
        }
    }

    /// One POST; the HTTP status, or why there was none.
    async fn send(
        &self,
        callback: &Callback,
        keys: Option<&SealedKeys>,
        format: &dyn CallbackFormat,
    ) -> Result<u16, String> {
        let url = guard::check_url(&callback.url, self.policy)
            .map_err(|error| format!("refused: {error}"))?;
        let SigningKeys { current, previous } = match (callback.signer, keys) {
            (Signer::None, _) => return Err("the payment has no merchant to sign for".to_owned()),
            (_, None) => return Err("the signer's keys were not found".to_owned()),
            (_, Some(keys)) => self.keys.open(keys)?,
        };
        let now = self.clock.now();
        let timestamp = now.unix_seconds();
        let body = format.body_at_attempt(&callback.body, &current, now);
        let mut all: Vec<&str> = vec![current.as_str()];
        if let Some(previous) = &previous {
            all.push(previous.as_str());
        }
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-obol-delivery-id", &callback.delivery_id)
            .header("x-obol-mode", callback.mode.as_str())
            .header("x-obol-signature", signature::obol(&all, timestamp, &body));
        for (name, value) in format.signature_headers(&current, &callback.body) {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.map_err(describe)?;
        let status = response.status().as_u16();
        // Read a bounded part of the answer so the connection can be reused; ignore it.
        let mut response = response;
        let mut read = 0usize;
        while read < RESPONSE_BYTES_MAX {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }

    /// Records finished attempts as they come, one transaction for all that are waiting, until
    /// every attempt task is gone.
    async fn record_loop(self: Arc<Self>, mut receiver: mpsc::UnboundedReceiver<Settled>) {
        let mut batch = Vec::with_capacity(RECORD_BATCH_MAX);
        while let Some(first) = receiver.recv().await {
            batch.push(first);
            while batch.len() < RECORD_BATCH_MAX {
                match receiver.try_recv() {
                    Ok(settled) => batch.push(settled),
                    Err(_) => break,
                }
            }
            let settled: Arc<[Settled]> = batch.drain(..).collect();
            self.record(Arc::clone(&settled)).await;
            self.let_go(settled.iter().map(|settled| settled.callback_id));
        }
    }

    /// Records one batch, trying again a few times. Recording twice is harmless: a callback
    /// recorded once no longer carries this node's lease, so the second time changes nothing.
    async fn record(&self, settled: Arc<[Settled]>) {
        for attempt in 1..=RECORD_TRIES {
            let (owner, now) = (self.owner.clone(), self.clock.now());
            let batch = Arc::clone(&settled);
            match self
                .store
                .write(move |db| {
                    Box::pin(
                        async move { callbacks::record_attempts(db, &owner, &batch, now).await },
                    )
                })
                .await
            {
                Ok(recorded) => {
                    if recorded.len() < settled.len() {
                        tracing::info!(
                            lost = settled.len() - recorded.len(),
                            "callback leases lapsed before their attempts were recorded; those callbacks will be sent again"
                        );
                    }
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, "could not record callback attempts");
                    if attempt < RECORD_TRIES {
                        tokio::time::sleep(RECORD_RETRY_PAUSE * 2u32.pow(attempt - 1)).await;
                    }
                }
            }
        }
        tracing::error!(
            count = settled.len(),
            "callback attempts not recorded; those callbacks will be sent again once their leases lapse"
        );
    }
}

/// The lease a claim takes, in whole seconds, and how much of it an attempt needs left to
/// start. A lease shorter than one attempt would let a second node send the same callback
/// while the first still waits for the answer, so it is at least a second longer; and however
/// short, a fresh lease always leaves enough to start at once.
fn lease_terms(lease: Duration, request_timeout: Duration) -> (u64, Duration) {
    let lease_seconds = lease.as_secs().max(request_timeout.as_secs() + 1);
    let slack = Duration::from_secs(lease_seconds).saturating_sub(request_timeout);
    (lease_seconds, request_timeout + LEASE_MARGIN.min(slack / 2))
}

/// Why a POST failed, without its URL: the reason is logged and kept in the callback's log,
/// and a merchant's URL may carry a token of its own.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        format!("could not connect: {error}")
    } else {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_lease_always_leaves_room_to_start() {
        let second = Duration::from_secs(1);
        // The defaults: 120 s leases, 20 s requests, a margin of 1 s.
        assert_eq!(lease_terms(120 * second, 20 * second), (120, 21 * second));
        // A lease as short as the configuration allows (tests, nodes: 2 s for 1 s requests).
        let (lease, needed) = lease_terms(2 * second, second);
        assert_eq!(lease, 2);
        assert!(needed < 2 * second && needed > second, "{needed:?}");
        // A lease shorter than a request is lengthened.
        let (lease, needed) = lease_terms(second, 1_500 * Duration::from_millis(1));
        assert_eq!(lease, 2);
        assert!(needed < 2 * second, "{needed:?}");
    }
}
