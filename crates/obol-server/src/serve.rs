//! `obol serve`: open the store, run migrations, bind, optionally seed the demo, start the
//! workers, serve until SIGTERM or Ctrl-C, then stop accepting, finish in-flight requests and
//! give back job leases. Connections are served by [`crate::http::connections`], which cuts
//! off slow and idle clients and caps open connections.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use obol_http::acquirer::SandboxAcquirer;
use obol_http::callbacks::guard::AddressPolicy;
use obol_http::callbacks::outbox::Outbox;
use obol_http::callbacks::worker::{DeliverySettings, DeliveryWorker};
use obol_http::clock::SharedClock;
use obol_http::config::Config;
use obol_http::crypto::OperatorKey;
use obol_http::metrics::Metrics;
use obol_http::state::AppState;
use obol_http::throttle::AuthThrottle;

use crate::commands::{CommandError, Context};
use crate::http::connections::{self, ConnectionLimits};
use crate::workers::gauges::GaugeRefresher;
use crate::workers::lifecycle::LifecycleWorker;
use crate::workers::reconciliation::ReconciliationWorker;
use crate::{demo, doors, http};

/// Connections the metrics listener takes at once: it serves scrapers, not the public, and
/// must stay reachable when the main listener is at its cap.
const METRICS_CONNECTIONS_MAX: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Seed the demo tenancy on first start and print its credentials and a payment link.
    pub demo: bool,
}

/// A server that is accepting connections.
pub struct Running {
    pub address: SocketAddr,
    /// Where `/metrics` is served when `metrics.listen` names its own address.
    pub metrics_address: Option<SocketAddr>,
    pub public_url: String,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<()>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, stops the workers.
    pub async fn stop(self) {
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = self.shutdown.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        for worker in self.workers {
            let _ = worker.await;
        }
    }
}

/// Starts everything and returns once the listener is bound. With `demo`, the credentials
/// text is returned for the caller to print. Long on purpose: start-up is one sequence (key,
/// store, listener, demo, registry, state, workers, server) whose order matters, read top to
/// bottom.
pub async fn start(
    config: Config,
    clock: SharedClock,
    options: &ServeOptions,
) -> Result<(Running, Option<String>), CommandError> {
    // The server signs page tokens and decrypts callback secrets: no key, no start, and
    // nothing touched (checked before the database is opened or migrated).
    let uses_sqlite = matches!(config.database()?, obol_store::DatabaseUrl::Sqlite(_));
    OperatorKey::for_config(&config, uses_sqlite)?;
    let context = Context::open(config, clock).await?;
    let key = context.key()?.clone();
    let (listener, address) = bind(&context.config.listen).await?;
    let metrics_listener = match &context.config.metrics_listen {
        Some(metrics_listen) => Some(bind(metrics_listen).await?),
        None => None,
    };
    let public_url = context.config.public_url_for(address);
    // A live route settles live money: it may never be this server's own sandbox, reached by
    // its public URL or by the address it listens on (SPEC §4).
    let own_bases = [public_url.clone(), format!("http://{address}")];
    if let Some(route) =
        obol_http::config::acquirers::route_to_own_sandbox(&context.config.acquirers, &own_bases)
    {
        return Err(CommandError::Invalid(format!(
            "acquirer `{}` points at this server's own sandbox ({}): a live route must be a real provider",
            route.route.name, route.api_url
        )));
    }

    crate::live_routes::sync(&context.store, &context.config.acquirers).await?;

    let demo_text = if options.demo {
        let path = context.config.demo_credentials_path();
        Some(match demo::ensure_seeded(&context, &public_url).await? {
            Some(credentials) => demo::describe(&credentials, Some(&path)),
            None => format!(
                "The demo tenancy was seeded before; its credentials file {} is gone.\n",
                path.display()
            ),
        })
    } else {
        None
    };

    let Context {
        config,
        store,
        clock,
        ..
    } = context;
    let public_url_shared: Arc<str> = public_url.clone().into();
    let registry = doors::registry().map_err(|error| {
        CommandError::Invalid(format!("cannot build the upstream HTTP client: {error}"))
    })?;
    let outbox = Outbox::new(
        Arc::clone(&public_url_shared),
        key.clone(),
        Arc::clone(&registry),
    );
    let delivery = DeliverySettings {
        policy: AddressPolicy {
            allow_private_addresses: config.callbacks_allow_private_addresses,
        },
        connect_timeout: std::time::Duration::from_millis(config.callbacks_connect_timeout_ms),
        request_timeout: std::time::Duration::from_millis(config.callbacks_request_timeout_ms),
        // A lease shorter than one attempt would let a second node send the same callback
        // while the first is still waiting for the answer.
        lease: std::time::Duration::from_secs(
            config
                .callbacks_lease_s
                .max(config.callbacks_request_timeout_ms / 1000 + 1),
        ),
        max_in_flight: config.callbacks_max_in_flight,
        per_host_concurrency: config.callbacks_per_host_concurrency,
        poll_interval: std::time::Duration::from_millis(config.callbacks_poll_interval_ms),
    };
    let state = app_state(
        config,
        store.clone(),
        clock.clone(),
        key.clone(),
        public_url_shared,
        Arc::clone(&registry),
    );
    let (shutdown, shutdown_receiver) = watch::channel(false);
    // The gauges are read once before serving, so the first scrape has them.
    let gauges = GaugeRefresher::new(
        store.clone(),
        clock.clone(),
        Arc::clone(&state.metrics),
        std::time::Duration::from_millis(state.config.metrics_refresh_interval_ms),
    );
    if let Err(error) = gauges.run_once().await {
        tracing::warn!(%error, "metrics could not read the database");
    }

    let mut node = [0u8; 6];
    obol_core::ids::RandomSource::fill_bytes(&mut obol_http::crypto::OsRandom, &mut node);
    let owner = format!(
        "node-{}-{}",
        std::process::id(),
        node.iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    // Its own connections on PostgreSQL, so that its claims and records do not queue behind
    // requests for the requests' pool: one for claims, one for records.
    let delivery_store = store.with_own_connections(2).await?;
    let delivery_worker = DeliveryWorker::new(
        delivery_store,
        clock.clone(),
        owner.clone(),
        key,
        Arc::clone(&state.metrics),
        delivery,
        Arc::clone(&registry),
    )
    .map_err(|error| CommandError::Invalid(format!("cannot build the callback client: {error}")))?;
    let workers = vec![
        tokio::spawn(
            LifecycleWorker::new(store, clock, owner, outbox, registry)
                .run(shutdown_receiver.clone()),
        ),
        tokio::spawn(delivery_worker.run(shutdown_receiver.clone())),
        tokio::spawn(gauges.run(shutdown_receiver.clone())),
        tokio::spawn(ReconciliationWorker::new(state.clone()).run(shutdown_receiver.clone())),
    ];

    let limits = ConnectionLimits::of(&state.config);
    let mut servers = vec![tokio::spawn(connections::serve(
        listener,
        http::router(state.clone()),
        limits,
        shutdown_receiver.clone(),
    ))];
    let metrics_address = match metrics_listener {
        Some((metrics_listener, metrics_address)) => {
            servers.push(tokio::spawn(connections::serve(
                metrics_listener,
                http::metrics_router(state.clone()),
                ConnectionLimits {
                    connections_max: METRICS_CONNECTIONS_MAX,
                    ..limits
                },
                shutdown_receiver,
            )));
            tracing::info!(%metrics_address, "serving /metrics on its own listener");
            Some(metrics_address)
        }
        None => None,
    };
    tracing::info!(%address, %public_url, "serving");
    Ok((
        Running {
            address,
            metrics_address,
            public_url,
            state,
            shutdown,
            servers,
            workers,
        },
        demo_text,
    ))
}

/// What every handler and worker shares, from the opened context's parts.
pub fn app_state(
    config: obol_http::config::Config,
    store: obol_store::Store,
    clock: SharedClock,
    key: OperatorKey,
    public_url: Arc<str>,
    registry: Arc<obol_http::door::Registry>,
) -> AppState {
    let outbox = Outbox::new(Arc::clone(&public_url), key.clone(), Arc::clone(&registry));
    AppState {
        store,
        config: Arc::new(config),
        clock,
        key: key.clone(),
        metrics: Arc::new(Metrics::default()),
        public_url,
        acquirer: Arc::new(SandboxAcquirer),
        vault: obol_http::acquirer::vault::CardVault::new(key),
        outbox,
        caches: Arc::new(obol_http::cache::Caches::default()),
        registry,
        throttle: Arc::new(AuthThrottle::default()),
    }
}

/// Binds a listener and tells the address it got (port 0 picks one).
async fn bind(address: &str) -> Result<(TcpListener, SocketAddr), CommandError> {
    let failed = |error: std::io::Error| CommandError::Listen {
        address: address.to_owned(),
        message: error.to_string(),
    };
    let listener = TcpListener::bind(address).await.map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

/// Registers the SIGTERM and Ctrl-C handlers now (so a signal that arrives right after start
/// is not lost to the default action) and returns a future that ends when one arrives.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
