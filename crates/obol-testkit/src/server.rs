//! The test server: the whole application over a fresh database, served on a loopback port
//! (the outer tier: real HTTP, real workers) and callable in process (the inner tier).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use obol_core::Timestamp;
use obol_core::ids::PaymentId;
use obol_core::payment::{Payment, PaymentDraft};
use obol_server::clock::ManualClock;
use obol_server::commands::{self, Context, MerchantOptions, MerchantOutput};
use obol_server::config::{Config, Overrides};
use obol_server::crypto::{OperatorKey, OsRandom};
use obol_server::serve::{self, Running, ServeOptions};
use obol_server::state::AppState;
use obol_server::workers::gauges::GaugeRefresher;
use obol_store::ops::{catalog, payments};
use obol_store::testing::TestDatabase;

use crate::Scratch;
use serde_json::Value;
use tower::ServiceExt;

/// 2025-11-23 UTC, where every test server's clock starts: cards expiring 10/25 are expired,
/// 11/25 and later are not.
pub const START: Timestamp = Timestamp::from_unix_seconds(1_763_900_000);

/// The address in-process requests come from, as a loopback client's would.
const IN_PROCESS_CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40_000);

pub struct TestServer {
    pub running: Option<Running>,
    /// `http://127.0.0.1:port`.
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    /// What the command line would use: commands run against the same database.
    pub context: Context,
    /// The database lives as long as the server; [`TestServer::stop`] hands it back.
    pub database: TestDatabase,
    _data_dir: Scratch,
}

impl TestServer {
    pub async fn start(database: TestDatabase) -> TestServer {
        TestServer::start_with(database, &[]).await
    }

    /// Starts with some configuration replaced (`OBOL_*` names and values).
    pub async fn start_with(database: TestDatabase, replaced: &[(&str, &str)]) -> TestServer {
        TestServer::start_with_file(database, replaced, None).await
    }

    /// Starts with a configuration file (TOML: what only the file sets, such as
    /// `[[acquirers]]`) and some settings replaced (`OBOL_*` names and values).
    pub async fn start_with_file(
        database: TestDatabase,
        replaced: &[(&str, &str)],
        file: Option<&str>,
    ) -> TestServer {
        let data_dir = Scratch::new("server");
        let config_file = file.map(|text| {
            let path = data_dir.path().join("obol.toml");
            std::fs::write(&path, text).expect("config file");
            path
        });
        let environment: HashMap<String, String> = [
            ("OBOL_DATABASE_URL", database.url_text.clone()),
            ("OBOL_DATA_DIR", data_dir.path().display().to_string()),
            ("OBOL_LISTEN", "127.0.0.1:0".to_owned()),
            (
                "OBOL_SECRET_KEY",
                OperatorKey::generate(&mut OsRandom).to_base64(),
            ),
            // Callbacks go to receivers on loopback in these tests, and must not wait long.
            ("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "true".to_owned()),
            ("OBOL_CALLBACKS_CONNECT_TIMEOUT_MS", "1000".to_owned()),
            ("OBOL_CALLBACKS_REQUEST_TIMEOUT_MS", "1000".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .chain(
            replaced
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string())),
        )
        .collect();
        let overrides = Overrides {
            config_file,
            ..Overrides::default()
        };
        let config = Config::load(&overrides, &environment).expect("config");
        let clock = ManualClock::new(START);
        let (running, _) = serve::start(config.clone(), clock.clone(), &ServeOptions::default())
            .await
            .expect("server starts");
        let context = Context::open(config.clone(), clock.clone())
            .await
            .expect("context");
        TestServer {
            base: format!("http://{}", running.address),
            running: Some(running),
            clock,
            config,
            context,
            database,
            _data_dir: data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A new reseller and a merchant under it (test mode unless `live`), named "4Docs".
    pub async fn merchant(&self, live: bool, forbid_public_access: bool) -> MerchantOutput {
        self.merchant_named("4Docs", live, forbid_public_access)
            .await
    }

    /// A new reseller and a merchant under it called `name`.
    pub async fn merchant_named(
        &self,
        name: &str,
        live: bool,
        forbid_public_access: bool,
    ) -> MerchantOutput {
        let reseller = commands::create_reseller(&self.context, "Reseller", None)
            .await
            .unwrap();
        commands::create_merchant(
            &self.context,
            MerchantOptions {
                name: name.into(),
                reseller: reseller.id,
                live,
                forbid_public_access,
                webhook_url: None,
            },
        )
        .await
        .unwrap()
    }

    /// Stores a payment made from `draft` (see [`crate::draft`]) without going through a door,
    /// with the seeded service `service_code` when given.
    pub async fn insert_payment(&self, draft: PaymentDraft, service_code: Option<&str>) -> Payment {
        let now = self.context.clock.now();
        let id = PaymentId::generate(&mut OsRandom);
        let service_code = service_code.map(str::to_owned);
        self.context
            .store
            .write(move |db| {
                Box::pin(async move {
                    let service = match service_code {
                        Some(code) => Some(
                            catalog::get_service_by_code(db, &code)
                                .await?
                                .unwrap_or_else(|| panic!("no seeded service {code}")),
                        ),
                        None => None,
                    };
                    payments::insert_payment(db, draft, id, service.as_ref(), now).await
                })
            })
            .await
            .expect("the payment is stored")
    }

    /// The outbox the running server uses.
    pub fn outbox(&self) -> obol_server::callbacks::outbox::Outbox {
        self.state().outbox.clone()
    }

    /// What the running server's doors registered (callback formats, jobs).
    pub fn registry(&self) -> Arc<obol_http::door::Registry> {
        self.state().registry.clone()
    }

    /// Reads the metrics' database gauges now, as the server's background refresher does every
    /// `metrics.refresh_interval_ms` (a scrape of `/metrics` never reads the database).
    pub async fn refresh_gauges(&self) {
        let state = self.state();
        GaugeRefresher::new(
            state.store.clone(),
            state.clock.clone(),
            Arc::clone(&state.metrics),
            std::time::Duration::from_secs(1),
        )
        .run_once()
        .await
        .expect("the gauges are read");
    }

    /// The running server's state.
    pub fn state(&self) -> &AppState {
        &self.running.as_ref().expect("the server runs").state
    }

    /// The whole application as a router over the running server's state: requests sent with
    /// `oneshot` see what HTTP clients see, without a socket.
    pub fn app(&self) -> axum::Router {
        app(self)
    }

    /// Sends `request` to [`TestServer::app`] from a loopback client address.
    pub async fn call(&self, mut request: Request<Body>) -> Answer {
        request
            .extensions_mut()
            .insert(ConnectInfo(IN_PROCESS_CLIENT));
        let response = self.app().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        Answer {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    /// Stops the server (gracefully) and closes the store; hands back the database, for a
    /// test that reads its files afterwards.
    pub async fn stop(self) -> TestDatabase {
        let TestServer {
            running,
            context,
            database,
            ..
        } = self;
        if let Some(running) = running {
            running.stop().await;
        }
        drop(context);
        database
    }
}

/// The whole application as a router over `server`'s state (see [`TestServer::call`]).
pub fn app(server: &TestServer) -> axum::Router {
    obol_server::http::router(server.state().clone())
}

/// A response from the in-process tier.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON; panics, showing it, when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }
}
