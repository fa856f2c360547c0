//! The delivery worker, on every node: claims due callbacks (leases; `SKIP LOCKED` on
//! PostgreSQL), posts them with connect and total timeouts and without following redirects, at
//! most a few at once per merchant host, records every attempt, and schedules the next one on
//! the dialect's schedule. Delivery is at least once: a node that dies mid-delivery loses its
//! lease and another node sends the callback again, with the same `X-Obol-Delivery-Id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obol_core::ids::P2pClientId;
use obol_core::ids::RandomSource;
use obol_store::ops::callbacks::{
    self, AfterFailure, AttemptRecord, Callback, Settled, Settlement, Signer,
};
use obol_store::ops::{p2p, tenancy};
use obol_store::{Store, StoreError};
use tokio::sync::{Semaphore, watch};

use super::guard::{self, AddressPolicy};
use super::signature;
use crate::Outcome;
use crate::clock::SharedClock;
use crate::crypto::{OperatorKey, OsRandom, purpose};
use crate::door::{CallbackDialect, CallbackFormat, Registry};
use crate::metrics::Metrics;

/// Callbacks taken per claim.
const CLAIM_BATCH: i64 = 32;
/// Attempts at once to one merchant host, so one slow receiver cannot take every worker.
const PER_HOST_CONCURRENCY: usize = 4;
/// Longest sleep between looks for due callbacks.
const POLL_MAX: Duration = Duration::from_secs(1);
/// Bytes of an answer read (and then dropped): receivers need not be believed about size.
const RESPONSE_BYTES_MAX: usize = 64 * 1024;

pub struct DeliveryWorker {
    store: Store,
    clock: SharedClock,
    owner: String,
    client: reqwest::Client,
    key: OperatorKey,
    policy: AddressPolicy,
    lease_seconds: i64,
    metrics: Arc<Metrics>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// The doors' callback formats: how each callback is signed, judged and retried.
    registry: Arc<Registry>,
}

/// How the worker connects.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    pub policy: AddressPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// How long a claimed callback stays with its node: longer than the longest attempt.
    pub lease: Duration,
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
        let client = guard::client(
            settings.policy,
            settings.connect_timeout,
            settings.request_timeout,
        )?;
        Ok(DeliveryWorker {
            store,
            clock,
            owner,
            client,
            key,
            policy: settings.policy,
            lease_seconds: settings.lease.as_secs().max(1) as i64,
            metrics,
            hosts: Mutex::new(HashMap::new()),
            registry,
        })
    }

    fn host_permits(&self, url: &str) -> Arc<Semaphore> {
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        match self.hosts.lock() {
            Ok(mut hosts) => Arc::clone(
                hosts
                    .entry(host)
                    .or_insert_with(|| Arc::new(Semaphore::new(PER_HOST_CONCURRENCY))),
            ),
            Err(_) => Arc::new(Semaphore::new(PER_HOST_CONCURRENCY)),
        }
    }

    /// Claims due callbacks and tries each once.
    pub async fn run_once(&self) -> Result<Outcome, StoreError> {
        let now = self.clock.now();
        let lease_seconds = self.lease_seconds;
        let owner = self.owner.clone();
        let claimed = self
            .store
            .write(move |db| {
                Box::pin(async move {
                    callbacks::claim_due(db, &owner, now, lease_seconds, CLAIM_BATCH).await
                })
            })
            .await?;
        if claimed.is_empty() {
            return Ok(Outcome::Idle);
        }
        let count = claimed.len();
        let attempts = claimed.into_iter().map(|callback| self.attempt(callback));
        for result in futures_util::future::join_all(attempts).await {
            result?;
        }
        Ok(Outcome::Worked(count))
    }

    async fn attempt(&self, callback: Callback) -> Result<(), StoreError> {
        let permits = self.host_permits(&callback.url);
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("delivery permits closed".to_owned()))?;
        let started_at = self.clock.now();
        let timer = Instant::now();
        let format = CallbackDialect::parse(&callback.dialect)
            .and_then(|dialect| self.registry.format(dialect))
            .cloned();
        let outcome = match &format {
            Some(format) => self.send(&callback, format.as_ref()).await,
            None => Err(format!(
                "no callback format {:?} is registered",
                callback.dialect
            )),
        };
        let elapsed = timer.elapsed();
        let finished_at = self.clock.now();
        let delivered =
            matches!((&outcome, &format), (Ok(status), Some(format)) if format.accepted(*status));
        let (response_code, error) = match outcome {
            Ok(status) if delivered => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("answered HTTP {status}"))),
            Err(error) => (None, Some(error)),
        };
        self.metrics.record_callback(delivered, elapsed);
        let record = AttemptRecord {
            started_at,
            finished_at,
            response_code,
            delivered,
            error: error.clone(),
        };
        let after = if delivered {
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
        let owner = self.owner.clone();
        let id = callback.id;
        self.store
            .write(move |db| {
                Box::pin(async move {
                    let settled = Settled {
                        callback_id: id,
                        settlement: Settlement::Attempted {
                            attempt: record,
                            after_failure: after,
                        },
                    };
                    callbacks::record_attempts(db, &owner, &[settled]).await
                })
            })
            .await?;
        Ok(())
    }

    /// One POST; the HTTP status, or why there was none.
    async fn send(&self, callback: &Callback, format: &dyn CallbackFormat) -> Result<u16, String> {
        let url = guard::check_url(&callback.url, self.policy)
            .map_err(|error| format!("refused: {error}"))?;
        let (current, previous) = self.secrets(callback).await?;
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

    async fn secrets(&self, callback: &Callback) -> Result<(String, Option<String>), String> {
        let merchant = match callback.signer {
            Signer::Merchant(merchant) => merchant,
            Signer::P2pClient(client) => {
                return self.client_key(client).await.map(|key| (key, None));
            }
            Signer::None => return Err("the payment has no merchant to sign for".to_owned()),
        };
        let now = self.clock.now();
        let (current, previous) = self
            .store
            .read(move |db| {
                Box::pin(async move { tenancy::merchant_callback_secrets(db, merchant, now).await })
            })
            .await
            .map_err(|error| error.to_string())?;
        let decrypt = |stored: &[u8]| -> Result<String, String> {
            let bytes = self
                .key
                .decrypt(purpose::MERCHANT_CALLBACK_SECRET, stored)
                .map_err(|error| error.to_string())?;
            String::from_utf8(bytes).map_err(|_| "the callback secret is not text".to_owned())
        };
        let current = decrypt(&current)?;
        let previous = previous.as_deref().map(decrypt).transpose()?;
        Ok((current, previous))
    }

    /// A P2P client's signing key, which signs its callbacks.
    async fn client_key(&self, client: P2pClientId) -> Result<String, String> {
        let record = self
            .store
            .read(move |db| Box::pin(async move { p2p::client_by_id(db, client).await }))
            .await
            .map_err(|error| error.to_string())?;
        let bytes = self
            .key
            .decrypt(purpose::P2P_SIGNING_KEY, &record.signing_key_encrypted)
            .map_err(|error| error.to_string())?;
        String::from_utf8(bytes).map_err(|_| "the signing key is not text".to_owned())
    }

    /// Runs until `shutdown`, then gives back its leases.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let outcome = self.run_once().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "callback worker could not claim callbacks");
                Outcome::Idle
            });
            if let Outcome::Worked(_) = outcome {
                continue;
            }
            let now = self.clock.now();
            let next = self
                .store
                .read(move |db| Box::pin(callbacks::next_due_at(db, now)))
                .await
                .ok()
                .flatten();
            let sleep = match next {
                Some(due) => {
                    Duration::from_micros((due.unix_micros() - now.unix_micros()).max(0) as u64)
                        .min(POLL_MAX)
                }
                None => POLL_MAX,
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
        let owner = self.owner.clone();
        if let Err(error) = self
            .store
            .write(move |db| Box::pin(async move { callbacks::release_leases(db, &owner).await }))
            .await
        {
            tracing::warn!(%error, "could not release callback leases at shutdown");
        }
    }
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
