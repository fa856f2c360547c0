//! What every request handler and worker shares.

use std::sync::Arc;

use obol_store::Store;

use crate::acquirer::Acquirer;
use crate::cache::Caches;
use crate::callbacks::outbox::Outbox;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::OperatorKey;
use crate::door::Registry;
use crate::metrics::Metrics;
use crate::throttle::AuthThrottle;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub key: OperatorKey,
    pub metrics: Arc<Metrics>,
    /// Base of every link handed out (no trailing slash).
    pub public_url: Arc<str>,
    /// Decides card attempts on the hosted pages (the sandbox today, connectors later).
    pub acquirer: Arc<dyn Acquirer>,
    /// Turns stored P2P card tokens back into numbers, for the acquirer only.
    pub vault: crate::acquirer::vault::CardVault,
    /// Every change of a payment goes through it, so its callback is written with it.
    pub outbox: Outbox,
    /// Credentials and the catalog, believed for a few seconds.
    pub caches: Arc<Caches>,
    /// What the doors registered: callback formats, lifecycle jobs, checkout entries.
    pub registry: Arc<Registry>,
    /// Failed authentication per address and per credential (SPEC §8).
    pub throttle: Arc<AuthThrottle>,
}
