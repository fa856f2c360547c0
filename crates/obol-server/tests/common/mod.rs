//! Shared by the server's integration tests: a configured server on a loopback port over a
//! fresh database, and a merchant to act as.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use obol_core::Timestamp;
use obol_server::clock::ManualClock;
use obol_server::commands::{self, Context, MerchantOptions, MerchantOutput};
use obol_server::config::{Config, Overrides};
use obol_server::crypto::{OperatorKey, OsRandom};
use obol_server::serve::{self, Running, ServeOptions};
use obol_store::testing::TestDatabase;

pub const START: Timestamp = Timestamp::from_unix_seconds(1_763_900_000);

pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub context: Context,
    data_dir: std::path::PathBuf,
    _database: TestDatabase,
}

impl TestServer {
    pub async fn start(database: TestDatabase) -> TestServer {
        TestServer::start_with(database, &[]).await
    }

    /// Starts with some configuration replaced (`OBOL_*` names and values).
    pub async fn start_with(database: TestDatabase, replaced: &[(&str, &str)]) -> TestServer {
        let data_dir = std::env::temp_dir().join(format!(
            "obol-it-{}-{}",
            std::process::id(),
            OperatorKey::generate(&mut OsRandom)
                .to_base64()
                .replace(['/', '+', '='], "")
        ));
        let environment: HashMap<String, String> = [
            ("OBOL_DATABASE_URL", database.url_text.clone()),
            ("OBOL_DATA_DIR", data_dir.display().to_string()),
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
        let config = Config::load(&Overrides::default(), &environment).expect("config");
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
            data_dir,
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A new reseller and a merchant under it (test mode unless `live`).
    pub async fn merchant(&self, live: bool, forbid_public_access: bool) -> MerchantOutput {
        let reseller = commands::create_reseller(&self.context, "Reseller", None)
            .await
            .unwrap();
        commands::create_merchant(
            &self.context,
            MerchantOptions {
                name: "4Docs".into(),
                reseller: reseller.id,
                live,
                forbid_public_access,
                webhook_url: None,
            },
        )
        .await
        .unwrap()
    }

    /// The outbox the running server uses.
    pub fn outbox(&self) -> obol_server::callbacks::outbox::Outbox {
        self.state().outbox.clone()
    }

    /// What the running server's doors registered (callback formats, jobs).
    pub fn registry(&self) -> std::sync::Arc<obol_http::door::Registry> {
        self.state().registry.clone()
    }

    fn state(&self) -> &obol_server::state::AppState {
        &self.running.as_ref().expect("the server runs").state
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Runs each scenario on SQLite and, when configured, on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(obol_store::testing::TestDatabase::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(database) = obol_store::testing::TestDatabase::postgres().await {
                        super::$scenario(database).await;
                    }
                }
            )*
        }
    };
}
