//! Configuration: a TOML file (`--config`), overridden by `OBOL_*` environment variables,
//! overridden by command-line flags. Every key is documented here and in `docs/CONFIGURATION.md`;
//! every default is safe for production. Secrets are wrapped so that they never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use obol_store::{DatabaseOptions, DatabaseUrl};
use serde::Deserialize;

use crate::address::TrustedProxies;

pub mod acquirers;
pub use acquirers::{AcquirerConfig, AcquirerKind};

/// A value that must not appear in logs or output: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (development).
    Text,
    /// One JSON object per line (production, log shippers).
    Json,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://…` or `postgres://…`; default `sqlite://{data_dir}/obol.db`. Any other scheme
    /// is refused before anything is created.
    pub database_url: Secret<String>,
    /// Bounds on PostgreSQL connections (`[database]`): per-host connect, pool wait, the
    /// client-side deadline of each round trip, TCP keepalives and `TCP_USER_TIMEOUT`. They
    /// let a node notice a frozen primary and follow a failover (SPEC §1).
    pub database: DatabaseOptions,
    /// Where the SQLite file, the generated operator key and the demo credentials live.
    pub data_dir: PathBuf,
    /// Address to serve on; port 0 picks a free port, printed at start.
    pub listen: String,
    /// Base of every link Obol hands out; default `http://{bound address}`.
    pub public_url: Option<String>,
    /// Let callbacks go to loopback and private ranges (tests, local development only).
    pub callbacks_allow_private_addresses: bool,
    /// URL prefixes `PaymentCommit`'s `ApiParams.Url` may use; empty means the defaults
    /// (YooKassa's public API and this server's own sandbox).
    pub yookassa_allowed_urls: Vec<String>,
    /// URL prefixes of upstreams the operator marks as test (a YooKassa test shop's own
    /// address, another Obol's sandbox): payments relayed to them are test payments. This
    /// server's own sandbox is always test; every other upstream is live (SPEC §2).
    pub yookassa_test_urls: Vec<String>,
    /// How long one call to the YooKassa upstream may take in all (connecting included).
    pub yookassa_request_timeout_ms: u64,
    pub log_format: LogFormat,
    /// The operator key (base64 of 32 random bytes) that encrypts stored signing secrets and
    /// signs page tokens. Generated into `{data_dir}/secret.key` with SQLite when absent;
    /// required with PostgreSQL (every node of a deployment must share it).
    pub secret_key: Option<Secret<String>>,
    /// How long a BUCKET transfer waits to be received before the rest is returned.
    pub p2p_bucket_lifetime_s: u64,
    /// How long a callback may take to connect (SPEC §5: 10 s).
    pub callbacks_connect_timeout_ms: u64,
    /// How long a callback may take in all (SPEC §5: 20 s).
    pub callbacks_request_timeout_ms: u64,
    /// How long a node holds a claimed callback before another node may take it (after a
    /// crash). Longer than the request timeout.
    pub callbacks_lease_s: u64,
    /// Callbacks a node's delivery worker holds at once (claimed, not yet recorded), over
    /// every receiver: bounds its memory and the work one node takes from the others.
    pub callbacks_max_in_flight: usize,
    /// Attempts under way at once to one receiver host, so one slow receiver cannot take
    /// every connection; also the idle connections kept per host.
    pub callbacks_per_host_concurrency: usize,
    /// The longest wait between looks for due callbacks. Callbacks committed on the same node
    /// are looked for at once; this bounds how late other nodes' callbacks, due retries and
    /// lapsed leases are noticed.
    pub callbacks_poll_interval_ms: u64,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is believed; it is
    /// ignored from anyone else. Empty: nobody's, the connection's address is the client's.
    pub trusted_proxies: TrustedProxies,
    /// A connection that has not sent a complete request head this long after it opened, or
    /// after the first byte of its next request, is closed (slow clients hold no slot).
    pub limits_header_read_timeout_ms: u64,
    /// A keep-alive connection with no request under way and no bytes moving is closed after
    /// this long.
    pub limits_idle_timeout_ms: u64,
    /// Open connections beyond this are not accepted until others close (they wait in the
    /// kernel's backlog): bounded memory and file descriptors under a flood.
    pub limits_connections_max: usize,
    /// Serve `/metrics` on this address instead of the main listener (which then answers 404
    /// for it), so it need not be public. `None`: on the main listener.
    pub metrics_listen: Option<String>,
    /// How often the metrics' database gauges (payments by status, callback queue, jobs) are
    /// read again in the background; a scrape never reads the database.
    pub metrics_refresh_interval_ms: u64,
    /// Live routes (`[[acquirers]]`, SPEC §4): the upstream providers that settle live
    /// payments, in the order written (the first serving a currency is its default).
    pub acquirers: Vec<AcquirerConfig>,
}

/// The most `callbacks.max_in_flight` and `callbacks.per_host_concurrency` may be.
pub const CALLBACKS_AT_ONCE_MAX: usize = 10_000;

/// The YooKassa public API, allowed by default for `PaymentCommit`.
pub const YOOKASSA_PUBLIC_API: &str = "https://api.yookassa.ru/v3";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

/// The file's shape: every key optional, unknown keys refused (a typo must not be ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    #[serde(default)]
    database: FileDatabase,
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
    log_format: Option<String>,
    secret_key: Option<String>,
    #[serde(default)]
    callbacks: FileCallbacks,
    #[serde(default)]
    yookassa: FileYookassa,
    #[serde(default)]
    p2p: FileP2p,
    trusted_proxies: Option<TextList>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    metrics: FileMetrics,
    #[serde(default)]
    acquirers: Vec<acquirers::FileAcquirer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    connect_timeout_ms: Option<u64>,
    pool_timeout_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
    keepalive_idle_s: Option<u64>,
    keepalive_interval_s: Option<u64>,
    keepalive_retries: Option<u64>,
    tcp_user_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    header_read_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    connections_max: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    listen: Option<String>,
    refresh_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCallbacks {
    allow_private_addresses: Option<bool>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    lease_s: Option<u64>,
    max_in_flight: Option<u64>,
    per_host_concurrency: Option<u64>,
    poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileYookassa {
    allowed_urls: Option<TextList>,
    test_urls: Option<TextList>,
    request_timeout_ms: Option<u64>,
}

/// A list written as a TOML array or as one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TextList {
    List(Vec<String>),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileP2p {
    bucket_lifetime_s: Option<u64>,
}

/// Values given as flags, which win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
}

/// Where environment variables come from (the process, or a map in tests).
pub trait Environment {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

impl Environment for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

fn parse_bool(name: &'static str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            message: format!("expected true or false, got `{text}`"),
        }),
    }
}

fn parse_log_format(name: &'static str, text: &str) -> Result<LogFormat, ConfigError> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(ConfigError::Invalid {
            name,
            message: format!("expected text or json, got `{text}`"),
        }),
    }
}

fn parse_proxies<'a>(
    name: &'static str,
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<TrustedProxies, ConfigError> {
    TrustedProxies::parse(entries).map_err(|error| ConfigError::Invalid {
        name,
        message: error.to_string(),
    })
}

fn split_urls(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    /// Builds the configuration: defaults < file < environment < flags. Long on purpose: one
    /// statement per configuration key, in the order of docs/CONFIGURATION.md.
    pub fn load(
        overrides: &Overrides,
        environment: &dyn Environment,
    ) -> Result<Config, ConfigError> {
        let file_path = overrides
            .config_file
            .clone()
            .or_else(|| environment.get("OBOL_CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|error| ConfigError::Parse {
                    path: path.clone(),
                    message: error.message().to_owned(),
                })?
            }
            None => FileConfig::default(),
        };

        let data_dir = environment
            .get("OBOL_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./obol-data"));
        let database_url = overrides
            .database_url
            .clone()
            .or_else(|| environment.get("OBOL_DATABASE_URL"))
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("obol.db").display()));
        let listen = overrides
            .listen
            .clone()
            .or_else(|| environment.get("OBOL_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let public_url = overrides
            .public_url
            .clone()
            .or_else(|| environment.get("OBOL_PUBLIC_URL"))
            .or(file.public_url);
        let log_format = match environment.get("OBOL_LOG_FORMAT") {
            Some(text) => parse_log_format("OBOL_LOG_FORMAT", &text)?,
            None => match file.log_format {
                Some(text) => parse_log_format("log_format", &text)?,
                None => LogFormat::Text,
            },
        };
        let callbacks_allow_private_addresses =
            match environment.get("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES") {
                Some(text) => parse_bool("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", &text)?,
                None => file.callbacks.allow_private_addresses.unwrap_or(false),
            };
        let yookassa_allowed_urls = match environment.get("OBOL_YOOKASSA_ALLOWED_URLS") {
            Some(text) => split_urls(&text),
            None => match file.yookassa.allowed_urls {
                Some(TextList::List(urls)) => urls,
                Some(TextList::Text(text)) => split_urls(&text),
                None => Vec::new(),
            },
        };
        let yookassa_test_urls = match environment.get("OBOL_YOOKASSA_TEST_URLS") {
            Some(text) => split_urls(&text),
            None => match file.yookassa.test_urls {
                Some(TextList::List(urls)) => urls,
                Some(TextList::Text(text)) => split_urls(&text),
                None => Vec::new(),
            },
        };
        let secret_key = environment
            .get("OBOL_SECRET_KEY")
            .or(file.secret_key)
            .map(Secret::new);
        let p2p_bucket_lifetime_s = match environment.get("OBOL_P2P_BUCKET_LIFETIME_S") {
            Some(text) => text.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "OBOL_P2P_BUCKET_LIFETIME_S",
                message: format!("expected seconds, got `{text}`"),
            })?,
            None => file.p2p.bucket_lifetime_s.unwrap_or(259_200),
        };

        let milliseconds = |name: &'static str,
                            value: Option<String>,
                            file: Option<u64>,
                            default: u64|
         -> Result<u64, ConfigError> {
            match value {
                Some(text) => text
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|value| *value > 0)
                    .ok_or(ConfigError::Invalid {
                        name,
                        message: format!("expected milliseconds, got `{text}`"),
                    }),
                None => Ok(file.unwrap_or(default)),
            }
        };
        let defaults = DatabaseOptions::default();
        let database_setting = |name: &'static str, file: Option<u64>, default: u64| {
            milliseconds(name, environment.get(name), file, default)
        };
        let as_millis =
            |duration: std::time::Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let database = DatabaseOptions {
            connect_timeout: Duration::from_millis(database_setting(
                "OBOL_DATABASE_CONNECT_TIMEOUT_MS",
                file.database.connect_timeout_ms,
                as_millis(defaults.connect_timeout),
            )?),
            pool_timeout: Duration::from_millis(database_setting(
                "OBOL_DATABASE_POOL_TIMEOUT_MS",
                file.database.pool_timeout_ms,
                as_millis(defaults.pool_timeout),
            )?),
            statement_timeout: Some(Duration::from_millis(database_setting(
                "OBOL_DATABASE_STATEMENT_TIMEOUT_MS",
                file.database.statement_timeout_ms,
                defaults.statement_timeout.map_or(10_000, as_millis),
            )?)),
            keepalive_idle: Duration::from_secs(database_setting(
                "OBOL_DATABASE_KEEPALIVE_IDLE_S",
                file.database.keepalive_idle_s,
                defaults.keepalive_idle.as_secs(),
            )?),
            keepalive_interval: Duration::from_secs(database_setting(
                "OBOL_DATABASE_KEEPALIVE_INTERVAL_S",
                file.database.keepalive_interval_s,
                defaults.keepalive_interval.as_secs(),
            )?),
            keepalive_retries: u32::try_from(database_setting(
                "OBOL_DATABASE_KEEPALIVE_RETRIES",
                file.database.keepalive_retries,
                u64::from(defaults.keepalive_retries),
            )?)
            .unwrap_or(u32::MAX),
            tcp_user_timeout: Duration::from_millis(database_setting(
                "OBOL_DATABASE_TCP_USER_TIMEOUT_MS",
                file.database.tcp_user_timeout_ms,
                as_millis(defaults.tcp_user_timeout),
            )?),
        };
        let yookassa_request_timeout_ms = milliseconds(
            "OBOL_YOOKASSA_REQUEST_TIMEOUT_MS",
            environment.get("OBOL_YOOKASSA_REQUEST_TIMEOUT_MS"),
            file.yookassa.request_timeout_ms,
            15_000,
        )?;
        let callbacks_connect_timeout_ms = milliseconds(
            "OBOL_CALLBACKS_CONNECT_TIMEOUT_MS",
            environment.get("OBOL_CALLBACKS_CONNECT_TIMEOUT_MS"),
            file.callbacks.connect_timeout_ms,
            10_000,
        )?;
        let callbacks_request_timeout_ms = milliseconds(
            "OBOL_CALLBACKS_REQUEST_TIMEOUT_MS",
            environment.get("OBOL_CALLBACKS_REQUEST_TIMEOUT_MS"),
            file.callbacks.request_timeout_ms,
            20_000,
        )?;
        let callbacks_lease_s = milliseconds(
            "OBOL_CALLBACKS_LEASE_S",
            environment.get("OBOL_CALLBACKS_LEASE_S"),
            file.callbacks.lease_s,
            120,
        )?;
        let count = |name: &'static str,
                     value: Option<String>,
                     file: Option<u64>,
                     default: u64|
         -> Result<usize, ConfigError> {
            let value = match value {
                Some(text) => text
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| ConfigError::Invalid {
                        name,
                        message: format!("expected a number, got `{text}`"),
                    })?,
                None => file.unwrap_or(default),
            };
            Ok(usize::try_from(value).unwrap_or(usize::MAX))
        };
        let callbacks_max_in_flight = count(
            "OBOL_CALLBACKS_MAX_IN_FLIGHT",
            environment.get("OBOL_CALLBACKS_MAX_IN_FLIGHT"),
            file.callbacks.max_in_flight,
            256,
        )?;
        let callbacks_per_host_concurrency = count(
            "OBOL_CALLBACKS_PER_HOST_CONCURRENCY",
            environment.get("OBOL_CALLBACKS_PER_HOST_CONCURRENCY"),
            file.callbacks.per_host_concurrency,
            32,
        )?;
        let callbacks_poll_interval_ms = milliseconds(
            "OBOL_CALLBACKS_POLL_INTERVAL_MS",
            environment.get("OBOL_CALLBACKS_POLL_INTERVAL_MS"),
            file.callbacks.poll_interval_ms,
            1_000,
        )?;
        let trusted_proxies = match environment.get("OBOL_TRUSTED_PROXIES") {
            Some(text) => parse_proxies("OBOL_TRUSTED_PROXIES", text.split(','))?,
            None => match &file.trusted_proxies {
                Some(TextList::List(entries)) => {
                    parse_proxies("trusted_proxies", entries.iter().map(String::as_str))?
                }
                Some(TextList::Text(text)) => parse_proxies("trusted_proxies", text.split(','))?,
                None => TrustedProxies::default(),
            },
        };
        let limits_header_read_timeout_ms = milliseconds(
            "OBOL_LIMITS_HEADER_READ_TIMEOUT_MS",
            environment.get("OBOL_LIMITS_HEADER_READ_TIMEOUT_MS"),
            file.limits.header_read_timeout_ms,
            10_000,
        )?;
        let limits_idle_timeout_ms = milliseconds(
            "OBOL_LIMITS_IDLE_TIMEOUT_MS",
            environment.get("OBOL_LIMITS_IDLE_TIMEOUT_MS"),
            file.limits.idle_timeout_ms,
            60_000,
        )?;
        let limits_connections_max = match environment.get("OBOL_LIMITS_CONNECTIONS_MAX") {
            Some(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| ConfigError::Invalid {
                    name: "OBOL_LIMITS_CONNECTIONS_MAX",
                    message: format!("expected a number of connections, got `{text}`"),
                })?,
            None => file.limits.connections_max.unwrap_or(10_000),
        };
        let metrics_listen = environment
            .get("OBOL_METRICS_LISTEN")
            .or(file.metrics.listen)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        let metrics_refresh_interval_ms = milliseconds(
            "OBOL_METRICS_REFRESH_INTERVAL_MS",
            environment.get("OBOL_METRICS_REFRESH_INTERVAL_MS"),
            file.metrics.refresh_interval_ms,
            15_000,
        )?;
        let config = Config {
            database_url: Secret::new(database_url),
            database,
            data_dir,
            listen,
            public_url,
            callbacks_allow_private_addresses,
            yookassa_allowed_urls,
            yookassa_test_urls,
            log_format,
            secret_key,
            p2p_bucket_lifetime_s,
            callbacks_connect_timeout_ms,
            callbacks_request_timeout_ms,
            yookassa_request_timeout_ms,
            callbacks_lease_s,
            callbacks_max_in_flight,
            callbacks_per_host_concurrency,
            callbacks_poll_interval_ms,
            trusted_proxies,
            limits_header_read_timeout_ms,
            limits_idle_timeout_ms,
            limits_connections_max: usize::try_from(limits_connections_max).unwrap_or(usize::MAX),
            metrics_listen,
            metrics_refresh_interval_ms,
            acquirers: acquirers::load(file.acquirers, environment)?,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        DatabaseUrl::parse(self.database_url.expose()).map_err(|error| ConfigError::Invalid {
            name: "database_url",
            message: error.to_string(),
        })?;
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                name: "public_url",
                message: format!("must start with http:// or https://, got `{url}`"),
            });
        }
        let positive = [
            (
                "database.connect_timeout_ms",
                u64::try_from(self.database.connect_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
            (
                "database.pool_timeout_ms",
                u64::try_from(self.database.pool_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
            (
                "database.statement_timeout_ms",
                self.database.statement_timeout.map_or(1, |timeout| {
                    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
                }),
            ),
            (
                "database.keepalive_idle_s",
                self.database.keepalive_idle.as_secs(),
            ),
            (
                "database.keepalive_interval_s",
                self.database.keepalive_interval.as_secs(),
            ),
            (
                "database.keepalive_retries",
                u64::from(self.database.keepalive_retries),
            ),
            (
                "database.tcp_user_timeout_ms",
                u64::try_from(self.database.tcp_user_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
            ("p2p.bucket_lifetime_s", self.p2p_bucket_lifetime_s),
            (
                "callbacks.max_in_flight",
                u64::try_from(self.callbacks_max_in_flight).unwrap_or(u64::MAX),
            ),
            (
                "callbacks.per_host_concurrency",
                u64::try_from(self.callbacks_per_host_concurrency).unwrap_or(u64::MAX),
            ),
            (
                "callbacks.poll_interval_ms",
                self.callbacks_poll_interval_ms,
            ),
            (
                "limits.header_read_timeout_ms",
                self.limits_header_read_timeout_ms,
            ),
            ("limits.idle_timeout_ms", self.limits_idle_timeout_ms),
            (
                "limits.connections_max",
                u64::try_from(self.limits_connections_max).unwrap_or(u64::MAX),
            ),
            (
                "metrics.refresh_interval_ms",
                self.metrics_refresh_interval_ms,
            ),
        ];
        if let Some(&(name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Invalid {
                name,
                message: "must be positive".to_owned(),
            });
        }
        // Each callback held carries its body and a task; each per-host slot may hold a
        // connection (a file descriptor).
        let bounded = [
            ("callbacks.max_in_flight", self.callbacks_max_in_flight),
            (
                "callbacks.per_host_concurrency",
                self.callbacks_per_host_concurrency,
            ),
        ];
        if let Some(&(name, _)) = bounded
            .iter()
            .find(|(_, value)| *value > CALLBACKS_AT_ONCE_MAX)
        {
            return Err(ConfigError::Invalid {
                name,
                message: format!("must be at most {CALLBACKS_AT_ONCE_MAX}"),
            });
        }
        Ok(())
    }

    /// The parsed database URL (validated by [`Config::load`]).
    pub fn database(&self) -> Result<DatabaseUrl, ConfigError> {
        DatabaseUrl::parse(self.database_url.expose()).map_err(|error| ConfigError::Invalid {
            name: "database_url",
            message: error.to_string(),
        })
    }

    /// The base of links: the configured one, or the bound address.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }

    /// The route named `name`, if one is configured.
    pub fn acquirer(&self, name: &str) -> Option<&AcquirerConfig> {
        self.acquirers
            .iter()
            .find(|acquirer| acquirer.route.name == name)
    }

    /// The YooKassa URL prefixes allowed, with the defaults filled in.
    pub fn yookassa_allowed_urls_for(&self, public_url: &str) -> Vec<String> {
        if self.yookassa_allowed_urls.is_empty() {
            vec![
                YOOKASSA_PUBLIC_API.to_owned(),
                format!("{public_url}/sandbox/yookassa/v3"),
            ]
        } else {
            self.yookassa_allowed_urls.clone()
        }
    }

    /// The URL prefixes whose relayed payments are test payments: this server's own sandbox
    /// and those the operator marked.
    pub fn yookassa_test_urls_for(&self, public_url: &str) -> Vec<String> {
        let mut urls = vec![format!("{public_url}/sandbox/yookassa/v3")];
        urls.extend(self.yookassa_test_urls.iter().cloned());
        urls
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    pub fn demo_credentials_path(&self) -> PathBuf {
        self.data_dir.join("demo-credentials.json")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_store() {
        let config = Config::load(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(config.database_url.expose(), "sqlite://./obol-data/obol.db");
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(!config.callbacks_allow_private_addresses);
        assert_eq!(config.p2p_bucket_lifetime_s, 259_200);
        assert_eq!(
            config.public_url_for("127.0.0.1:4000".parse().unwrap()),
            "http://127.0.0.1:4000"
        );
        assert_eq!(
            config.yookassa_allowed_urls_for("http://x")[1],
            "http://x/sandbox/yookassa/v3"
        );
    }

    #[test]
    fn file_then_environment_then_flags() {
        let directory = std::env::temp_dir().join(format!("obol-config-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("obol.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\ndata_dir = \"/tmp/a\"\nlog_format = \"json\"\n[callbacks]\nallow_private_addresses = true\n[p2p]\nbucket_lifetime_s = 60\n[yookassa]\nallowed_urls = [\"https://a\", \"https://b\"]\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(path.clone()),
            ..Overrides::default()
        };
        let from_file = Config::load(&overrides, &env(&[])).unwrap();
        assert_eq!(from_file.listen, "127.0.0.1:1");
        assert_eq!(from_file.database_url.expose(), "sqlite:///tmp/a/obol.db");
        assert_eq!(from_file.log_format, LogFormat::Json);
        assert!(from_file.callbacks_allow_private_addresses);
        assert_eq!(from_file.p2p_bucket_lifetime_s, 60);
        assert_eq!(
            from_file.yookassa_allowed_urls,
            vec!["https://a", "https://b"]
        );

        let environment = env(&[
            ("OBOL_LISTEN", "127.0.0.1:2"),
            ("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "false"),
            ("OBOL_YOOKASSA_ALLOWED_URLS", "https://c, https://d"),
        ]);
        let from_environment = Config::load(&overrides, &environment).unwrap();
        assert_eq!(from_environment.listen, "127.0.0.1:2");
        assert!(!from_environment.callbacks_allow_private_addresses);
        assert_eq!(
            from_environment.yookassa_allowed_urls,
            vec!["https://c", "https://d"]
        );

        let flags = Overrides {
            listen: Some("127.0.0.1:3".into()),
            ..overrides
        };
        assert_eq!(
            Config::load(&flags, &environment).unwrap().listen,
            "127.0.0.1:3"
        );
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(
            Config::load(
                &Overrides {
                    database_url: Some("mysql://x".into()),
                    ..Overrides::default()
                },
                &env(&[])
            )
            .is_err()
        );
        assert!(Config::load(&Overrides::default(), &env(&[("OBOL_LOG_FORMAT", "xml")])).is_err());
        assert!(
            Config::load(
                &Overrides::default(),
                &env(&[("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "maybe")])
            )
            .is_err()
        );
        assert!(
            Config::load(
                &Overrides {
                    public_url: Some("ftp://x".into()),
                    ..Overrides::default()
                },
                &env(&[])
            )
            .is_err()
        );
    }

    #[test]
    fn callback_delivery_bounds_from_file_and_environment() {
        let defaults = Config::load(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(
            (
                defaults.callbacks_max_in_flight,
                defaults.callbacks_per_host_concurrency,
                defaults.callbacks_poll_interval_ms
            ),
            (256, 32, 1_000)
        );
        let directory =
            std::env::temp_dir().join(format!("obol-config-callbacks-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("obol.toml");
        std::fs::write(
            &path,
            "[callbacks]\nmax_in_flight = 64\nper_host_concurrency = 8\npoll_interval_ms = 250\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(path),
            ..Overrides::default()
        };
        let from_file = Config::load(&overrides, &env(&[])).unwrap();
        assert_eq!(
            (
                from_file.callbacks_max_in_flight,
                from_file.callbacks_per_host_concurrency,
                from_file.callbacks_poll_interval_ms
            ),
            (64, 8, 250)
        );
        let from_environment = Config::load(
            &overrides,
            &env(&[
                ("OBOL_CALLBACKS_MAX_IN_FLIGHT", "512"),
                ("OBOL_CALLBACKS_PER_HOST_CONCURRENCY", "16"),
                ("OBOL_CALLBACKS_POLL_INTERVAL_MS", "60000"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (
                from_environment.callbacks_max_in_flight,
                from_environment.callbacks_per_host_concurrency,
                from_environment.callbacks_poll_interval_ms
            ),
            (512, 16, 60_000)
        );
        for (name, value) in [
            ("OBOL_CALLBACKS_MAX_IN_FLIGHT", "0"),
            ("OBOL_CALLBACKS_MAX_IN_FLIGHT", "10001"),
            ("OBOL_CALLBACKS_MAX_IN_FLIGHT", "many"),
            ("OBOL_CALLBACKS_PER_HOST_CONCURRENCY", "0"),
            ("OBOL_CALLBACKS_PER_HOST_CONCURRENCY", "-1"),
            ("OBOL_CALLBACKS_POLL_INTERVAL_MS", "0"),
        ] {
            assert!(
                Config::load(&Overrides::default(), &env(&[(name, value)])).is_err(),
                "{name}={value}"
            );
        }
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn database_bounds_from_file_and_environment() {
        let defaults = Config::load(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(defaults.database, DatabaseOptions::default());
        let directory =
            std::env::temp_dir().join(format!("obol-config-database-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("obol.toml");
        std::fs::write(
            &path,
            "[database]\nconnect_timeout_ms = 1500\npool_timeout_ms = 2500\nstatement_timeout_ms = 3500\n\
             keepalive_idle_s = 11\nkeepalive_interval_s = 2\nkeepalive_retries = 4\ntcp_user_timeout_ms = 9000\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(path),
            ..Overrides::default()
        };
        let from_file = Config::load(&overrides, &env(&[])).unwrap();
        assert_eq!(
            from_file.database,
            DatabaseOptions {
                connect_timeout: Duration::from_millis(1500),
                pool_timeout: Duration::from_millis(2500),
                statement_timeout: Some(Duration::from_millis(3500)),
                keepalive_idle: Duration::from_secs(11),
                keepalive_interval: Duration::from_secs(2),
                keepalive_retries: 4,
                tcp_user_timeout: Duration::from_millis(9000),
            }
        );
        let from_environment = Config::load(
            &overrides,
            &env(&[("OBOL_DATABASE_STATEMENT_TIMEOUT_MS", "250")]),
        )
        .unwrap();
        assert_eq!(
            from_environment.database.statement_timeout,
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            from_environment.database.connect_timeout,
            Duration::from_millis(1500)
        );
        for (name, value) in [
            ("OBOL_DATABASE_CONNECT_TIMEOUT_MS", "0"),
            ("OBOL_DATABASE_POOL_TIMEOUT_MS", "soon"),
            ("OBOL_DATABASE_STATEMENT_TIMEOUT_MS", "-1"),
            ("OBOL_DATABASE_KEEPALIVE_RETRIES", "0"),
        ] {
            assert!(
                Config::load(&Overrides::default(), &env(&[(name, value)])).is_err(),
                "{name}={value}"
            );
        }
        std::fs::write(
            directory.join("zero.toml"),
            "[database]\nkeepalive_idle_s = 0\n",
        )
        .unwrap();
        let zero = Overrides {
            config_file: Some(directory.join("zero.toml")),
            ..Overrides::default()
        };
        assert!(Config::load(&zero, &env(&[])).is_err());
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn limits_proxies_and_metrics_from_file_and_environment() {
        let defaults = Config::load(&Overrides::default(), &env(&[])).unwrap();
        assert!(defaults.trusted_proxies.is_empty());
        assert_eq!(defaults.limits_header_read_timeout_ms, 10_000);
        assert_eq!(defaults.limits_idle_timeout_ms, 60_000);
        assert_eq!(defaults.limits_connections_max, 10_000);
        assert_eq!(defaults.metrics_listen, None);
        assert_eq!(defaults.metrics_refresh_interval_ms, 15_000);

        let path =
            std::env::temp_dir().join(format!("obol-config-limits-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "trusted_proxies = [\"10.0.0.0/8\", \"192.168.1.7\"]\n[limits]\nheader_read_timeout_ms = 2000\nidle_timeout_ms = 3000\nconnections_max = 50\n[metrics]\nlisten = \"127.0.0.1:9100\"\nrefresh_interval_ms = 500\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(path.clone()),
            ..Overrides::default()
        };
        let from_file = Config::load(&overrides, &env(&[])).unwrap();
        let proxy: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        assert!(from_file.trusted_proxies.contains(proxy));
        assert!(
            from_file
                .trusted_proxies
                .contains("192.168.1.7".parse().unwrap())
        );
        assert_eq!(from_file.limits_header_read_timeout_ms, 2000);
        assert_eq!(from_file.limits_idle_timeout_ms, 3000);
        assert_eq!(from_file.limits_connections_max, 50);
        assert_eq!(from_file.metrics_listen.as_deref(), Some("127.0.0.1:9100"));
        assert_eq!(from_file.metrics_refresh_interval_ms, 500);

        let environment = env(&[
            ("OBOL_TRUSTED_PROXIES", "172.16.0.0/12, ::1"),
            ("OBOL_LIMITS_HEADER_READ_TIMEOUT_MS", "100"),
            ("OBOL_LIMITS_IDLE_TIMEOUT_MS", "200"),
            ("OBOL_LIMITS_CONNECTIONS_MAX", "7"),
            ("OBOL_METRICS_LISTEN", "127.0.0.1:0"),
        ]);
        let from_environment = Config::load(&overrides, &environment).unwrap();
        assert!(!from_environment.trusted_proxies.contains(proxy));
        assert!(
            from_environment
                .trusted_proxies
                .contains("172.20.0.1".parse().unwrap())
        );
        assert!(
            from_environment
                .trusted_proxies
                .contains("::1".parse().unwrap())
        );
        assert_eq!(from_environment.limits_header_read_timeout_ms, 100);
        assert_eq!(from_environment.limits_idle_timeout_ms, 200);
        assert_eq!(from_environment.limits_connections_max, 7);
        assert_eq!(
            from_environment.metrics_listen.as_deref(),
            Some("127.0.0.1:0")
        );
        std::fs::remove_file(path).unwrap();

        for bad in [
            ("OBOL_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
            ("OBOL_LIMITS_HEADER_READ_TIMEOUT_MS", "0"),
            ("OBOL_LIMITS_IDLE_TIMEOUT_MS", "soon"),
            ("OBOL_LIMITS_CONNECTIONS_MAX", "0"),
            ("OBOL_LIMITS_CONNECTIONS_MAX", "-1"),
        ] {
            assert!(
                Config::load(&Overrides::default(), &env(&[bad])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let path =
            std::env::temp_dir().join(format!("obol-config-unknown-{}.toml", std::process::id()));
        std::fs::write(&path, "lisen = \"typo\"\n").unwrap();
        let result = Config::load(
            &Overrides {
                config_file: Some(path.clone()),
                ..Overrides::default()
            },
            &env(&[]),
        );
        assert!(matches!(result, Err(ConfigError::Parse { .. })));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::load(
            &Overrides::default(),
            &env(&[
                ("OBOL_SECRET_KEY", "c2VjcmV0"),
                ("OBOL_DATABASE_URL", "postgres://u:pw@h/db"),
            ]),
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("c2VjcmV0") && !printed.contains("pw@h"),
            "{printed}"
        );
    }
}
