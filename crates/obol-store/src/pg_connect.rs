//! How PostgreSQL connections are made, bounded and replaced (SPEC §1): a URL may name several
//! hosts, libpq-style, and connections go only to the writable one. A failover (pg_auto_failover,
//! Patroni) is followed without a restart: the hosts are tried in turn, each attempt bounded as a
//! whole (the login included, unlike the driver's `connect_timeout`, which bounds the socket
//! only), and once one connection to a host is found dead every pooled connection made to it
//! before is dropped, so the pool does not meet a dead primary once per connection.
//!
//! A frozen primary (a hung host, a partition) keeps its sockets open and answers nothing; the
//! server's timeouts and TCP keepalives cannot notice it quickly, so the client keeps the
//! deadlines: per host attempt ([`DatabaseOptions::connect_timeout`]), per round trip
//! ([`DatabaseOptions::statement_timeout`], enforced in `postgres.rs`) and for a pooled connection
//! ([`DatabaseOptions::pool_timeout`]).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::config::TargetSessionAttrs;

use crate::error::{StoreError, StoreResult};
use crate::pg_tls::{self, PgTls};

/// Bounds on the database connections (PostgreSQL; SQLite, in-process, has none to bound).
/// The defaults are safe for production: a frozen primary costs a request at most
/// `statement_timeout`, and a node notices a failover within seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// One host's connection attempt, as a whole: TCP, TLS, login and the check that the host
    /// is writable. The next host is tried after it.
    pub connect_timeout: Duration,
    /// How long a request waits for a pooled connection when all are busy.
    pub pool_timeout: Duration,
    /// The client-side deadline of each round trip to the database (a statement, `COMMIT`);
    /// when it passes, the connection is dropped (the server rolls back what it had not
    /// committed) and the operation fails. `None`: no deadline (long administrative commands).
    pub statement_timeout: Option<Duration>,
    /// TCP keepalives: idle time before the first probe, time between probes, probes lost
    /// before the connection is given up. They notice a peer that vanished from the network
    /// while the connection was idle.
    pub keepalive_idle: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_retries: u32,
    /// How long sent data may stay unacknowledged before the kernel gives the connection up
    /// (`TCP_USER_TIMEOUT`): a partition noticed while a request waits.
    pub tcp_user_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            connect_timeout: Duration::from_secs(5),
            pool_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(10)),
            keepalive_idle: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(5),
            keepalive_retries: 3,
            tcp_user_timeout: Duration::from_secs(20),
        }
    }
}

/// What a node's connections to PostgreSQL have been through, for `/metrics` and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Connections opened.
    pub opened: u64,
    /// Host attempts that failed (refused, timed out, not writable, bad login).
    pub connect_failures: u64,
    /// Connections found dead or dropped at a deadline.
    pub lost: u64,
    /// Connections opened to replace lost ones.
    pub reconnects: u64,
    /// Times the writable host changed from one named host to another.
    pub failovers: u64,
    /// The host connections go to now (`host:port`), once one was reached.
    pub primary: Option<String>,
}

/// Shared by every pool of one store (the requests' and the callback worker's).
#[derive(Debug, Default)]
pub(crate) struct ConnectionState {
    opened: AtomicU64,
    connect_failures: AtomicU64,
    lost: AtomicU64,
    reconnects: AtomicU64,
    failovers: AtomicU64,
    /// Lost connections not yet replaced.
    to_replace: AtomicU64,
    /// The host the last connection went to; `usize::MAX` before the first connection.
    primary: AtomicUsize,
    /// The host tried first: the primary, or after a connection to it was lost, the next one
    /// (a frozen primary would otherwise cost every new connection its whole timeout first).
    first: AtomicUsize,
    /// Per host, the generation of its connections: a connection made under an older one is
    /// not reused.
    generations: Mutex<Vec<u64>>,
    labels: Vec<String>,
}

impl ConnectionState {
    pub(crate) fn stats(&self) -> ConnectionStats {
        let primary = self.primary.load(Ordering::Relaxed);
        ConnectionStats {
            opened: self.opened.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            failovers: self.failovers.load(Ordering::Relaxed),
            primary: self.labels.get(primary).cloned(),
        }
    }

    fn generation(&self, host: usize) -> u64 {
        self.generations
            .lock()
            .map_or(0, |generations| generations.get(host).copied().unwrap_or(0))
    }

    /// A connection to `host` of `generation` was found dead: every connection to that host
    /// made before now is dropped at its next use, and is to be replaced.
    pub(crate) fn lost(&self, host: usize, generation: u64) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        self.to_replace.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut generations) = self.generations.lock()
            && let Some(current) = generations.get_mut(host)
            && *current == generation
        {
            *current += 1;
            let next = (host + 1) % self.labels.len().max(1);
            let _ = self
                .first
                .compare_exchange(host, next, Ordering::Relaxed, Ordering::Relaxed);
            tracing::warn!(
                host = %self.labels.get(host).map_or("?", String::as_str),
                "a database connection was lost; the host's other connections will be opened again"
            );
        }
    }
}

/// A pooled connection and where it goes.
pub(crate) struct PgConnection {
    pub(crate) client: ClientWrapper,
    pub(crate) host: usize,
    pub(crate) generation: u64,
}

/// Opens connections for a pool: each named host in turn, from the last writable one.
pub(crate) struct Connector {
    /// One driver configuration per named host, in the URL's order.
    hosts: Vec<tokio_postgres::Config>,
    tls: PgTls,
    pub(crate) options: DatabaseOptions,
    pub(crate) state: Arc<ConnectionState>,
}

impl Connector {
    pub(crate) fn new(url: &str, options: DatabaseOptions) -> StoreResult<Connector> {
        let (url, tls) = pg_tls::from_url(url)?;
        let mut hosts = Vec::new();
        let mut labels = Vec::new();
        let singles = split_hosts(&url);
        let several = singles.len() > 1;
        for single in singles {
            let mut config = tokio_postgres::Config::from_str(&single).map_err(|error| {
                StoreError::BadUrl(format!("is not a valid PostgreSQL URL: {error}"))
            })?;
            if !has_parameter(&url, "target_session_attrs") {
                // Obol writes: a read-only standby is of no use to it, so without a word in the
                // URL only a writable host is taken (libpq's default is `any`).
                config.target_session_attrs(TargetSessionAttrs::ReadWrite);
            }
            if several && config.get_hosts().len() > 1 {
                return Err(StoreError::BadUrl(
                    "names hosts both before the path and in `host=`; name them in one place"
                        .to_owned(),
                ));
            }
            config
                .keepalives(true)
                .keepalives_idle(options.keepalive_idle)
                .keepalives_interval(options.keepalive_interval)
                .keepalives_retries(options.keepalive_retries)
                .tcp_user_timeout(options.tcp_user_timeout)
                .connect_timeout(options.connect_timeout);
            labels.push(label(&config));
            hosts.push(config);
        }
        let state = ConnectionState {
            primary: AtomicUsize::new(usize::MAX),
            first: AtomicUsize::new(0),
            generations: Mutex::new(vec![0; hosts.len()]),
            labels,
            ..ConnectionState::default()
        };
        Ok(Connector {
            hosts,
            tls,
            options,
            state: Arc::new(state),
        })
    }

    /// A connector for another pool of the same database, sharing this one's state.
    pub(crate) fn sibling(&self) -> Connector {
        Connector {
            hosts: self.hosts.clone(),
            tls: self.tls.clone(),
            options: self.options.clone(),
            state: Arc::clone(&self.state),
        }
    }

    async fn connect(&self) -> StoreResult<PgConnection> {
        let count = self.hosts.len();
        let first = self.state.first.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for offset in 0..count {
            let host = (first + offset) % count;
            let Some(config) = self.hosts.get(host) else {
                continue;
            };
            let generation = self.state.generation(host);
            let attempt = tokio::time::timeout(
                self.options.connect_timeout,
                config.connect(self.tls.clone()),
            )
            .await;
            let label = self.state.labels.get(host).map_or("?", String::as_str);
            let (client, connection) = match attempt {
                Ok(Ok(connected)) => connected,
                Ok(Err(error)) => {
                    self.state.connect_failures.fetch_add(1, Ordering::Relaxed);
                    let error = with_causes(&error);
                    tracing::debug!(host = %label, %error, "database host not usable");
                    failures.push(format!("{label}: {error}"));
                    continue;
                }
                Err(_) => {
                    self.state.connect_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(host = %label, "database host did not answer in time");
                    failures.push(format!(
                        "{label}: no answer within {} ms",
                        self.options.connect_timeout.as_millis()
                    ));
                    continue;
                }
            };
            let task = tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "database connection ended");
                }
            });
            self.note_connected(host, label);
            return Ok(PgConnection {
                client: ClientWrapper::new(client, task),
                host,
                generation,
            });
        }
        Err(StoreError::Unavailable(format!(
            "no writable database host answered ({})",
            failures.join("; ")
        )))
    }

    fn note_connected(&self, host: usize, label: &str) {
        let state = &self.state;
        state.opened.fetch_add(1, Ordering::Relaxed);
        if state
            .to_replace
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            state.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        state.first.store(host, Ordering::Relaxed);
        let previous = state.primary.swap(host, Ordering::Relaxed);
        if previous == host {
            return;
        }
        if previous == usize::MAX {
            tracing::info!(primary = %label, "connected to the database");
        } else {
            state.failovers.fetch_add(1, Ordering::Relaxed);
            let was = state.labels.get(previous).map_or("?", String::as_str);
            tracing::warn!(primary = %label, previous = %was, "the database's writable host changed");
        }
    }
}

impl deadpool::managed::Manager for Connector {
    type Type = PgConnection;
    type Error = StoreError;

    async fn create(&self) -> StoreResult<PgConnection> {
        self.connect().await
    }

    async fn recycle(
        &self,
        connection: &mut PgConnection,
        _: &Metrics,
    ) -> RecycleResult<StoreError> {
        if connection.client.is_closed() {
            self.state.lost(connection.host, connection.generation);
            return Err(RecycleError::message("the connection is closed"));
        }
        if self.state.generation(connection.host) != connection.generation {
            return Err(RecycleError::message(
                "another connection to this host was lost",
            ));
        }
        Ok(())
    }
}

/// The driver's error with its causes (it prints only its own level: "error performing TLS
/// handshake", "db error"); none of them holds the password.
fn with_causes(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `host:port` of a single-host configuration, for logs and metrics.
fn label(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

fn has_parameter(url: &str, name: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    })
}

/// One URL per host of a libpq multi-host URL (`postgres://u@db1:5432,db2:5433/obol?…` gives
/// `postgres://u@db1:5432/obol?…` and `postgres://u@db2:5433/obol?…`); a URL of one host, or
/// with its hosts in `host=`, is returned as it is.
pub(crate) fn split_hosts(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    if !hosts.contains(',') {
        return vec![url.to_owned()];
    }
    hosts
        .split(',')
        .map(|host| match userinfo {
            Some(userinfo) => format!("{scheme}://{userinfo}@{host}{tail}"),
            None => format!("{scheme}://{host}{tail}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_host_urls_split_into_one_url_per_host() {
        assert_eq!(
            split_hosts(
                "postgres://obol:pw@db1:5432,db2:5433/obol?target_session_attrs=read-write"
            ),
            vec![
                "postgres://obol:pw@db1:5432/obol?target_session_attrs=read-write",
                "postgres://obol:pw@db2:5433/obol?target_session_attrs=read-write",
            ]
        );
        assert_eq!(
            split_hosts("postgresql://[::1]:5432,127.0.0.1/db"),
            vec!["postgresql://[::1]:5432/db", "postgresql://127.0.0.1/db"]
        );
        assert_eq!(
            split_hosts("postgres://root@127.0.0.1:5432/test"),
            vec!["postgres://root@127.0.0.1:5432/test"]
        );
    }

    #[test]
    fn every_host_gets_the_bounds_and_only_writable_hosts_are_taken() {
        let connector = Connector::new(
            "postgres://u@db1:5432,db2:6432/obol",
            DatabaseOptions::default(),
        )
        .unwrap();
        assert_eq!(connector.state.labels, vec!["db1:5432", "db2:6432"]);
        for config in &connector.hosts {
            assert_eq!(config.get_hosts().len(), 1);
            assert_eq!(
                config.get_target_session_attrs(),
                TargetSessionAttrs::ReadWrite
            );
            assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(5)));
            assert_eq!(config.get_dbname(), Some("obol"));
        }
        let any = Connector::new(
            "postgres://u@db1/obol?target_session_attrs=any",
            DatabaseOptions::default(),
        )
        .unwrap();
        assert_eq!(
            any.hosts[0].get_target_session_attrs(),
            TargetSessionAttrs::Any
        );
    }

    #[test]
    fn a_lost_connection_retires_its_hosts_older_connections_once() {
        let connector =
            Connector::new("postgres://u@db1,db2/obol", DatabaseOptions::default()).unwrap();
        let state = &connector.state;
        assert_eq!(state.generation(0), 0);
        state.lost(0, 0);
        state.lost(0, 0);
        assert_eq!(
            state.generation(0),
            1,
            "the second loss of generation 0 is the same news"
        );
        assert_eq!(state.generation(1), 0);
        assert_eq!(state.stats().lost, 2);
        assert_eq!(
            state.first.load(Ordering::Relaxed),
            1,
            "the next connection tries the other host first"
        );
    }
}
