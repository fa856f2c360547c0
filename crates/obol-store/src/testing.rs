//! Test support: a fresh database per test, on SQLite (a temporary file) or PostgreSQL (a new
//! database on the server named by `OBOL_TEST_DATABASE_URL`). Used by this crate's tests and
//! by the server's; it touches nothing outside the temporary directory and the databases it
//! creates itself.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use obol_core::ids::{MerchantId, RandomSource, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{PaymentDraft, PaymentDraftBuilder, Source};

use crate::url::DatabaseUrl;

pub mod bulk;
pub mod inspect;

/// The PostgreSQL server tests use (a database on it, not the database itself, is used).
pub const TEST_DATABASE_URL_VAR: &str = "OBOL_TEST_DATABASE_URL";

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    pub url_text: String,
    directory: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A new SQLite file in a new temporary directory.
    pub fn sqlite() -> TestDatabase {
        let directory = std::env::temp_dir().join(format!("obol-test-{}", unique_suffix()));
        let path = directory.join("obol.db");
        let url_text = format!("sqlite://{}", path.display());
        TestDatabase {
            url: DatabaseUrl::Sqlite(path),
            url_text,
            directory: Some(directory),
            postgres: None,
        }
    }

    /// A new, empty PostgreSQL database on the server `OBOL_TEST_DATABASE_URL` names.
    ///
    /// Call it only from a test wrapped in [`if_postgres!`] (as [`on_both_backends!`] does):
    /// such a test is ignored when it was built without a server to use, so reaching this
    /// without one means the variable was unset after the build, or CI forgot it. Both fail
    /// the test rather than let it pass without running.
    pub async fn postgres() -> TestDatabase {
        let base = match std::env::var(TEST_DATABASE_URL_VAR) {
            Ok(base) if !base.is_empty() => base,
            _ => panic!(
                "{TEST_DATABASE_URL_VAR} is not set, and this PostgreSQL test was built to run \
                 (CI is set, or the variable was set when the tests were built)"
            ),
        };
        let name = format!("obol_test_{}", unique_suffix());
        let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {base}: {error}"));
        let connection_task = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|error| panic!("cannot create database {name}: {error}"));
        drop(client);
        let _ = connection_task.await;
        let url_text = replace_database(&base, &name);
        TestDatabase {
            url: DatabaseUrl::Postgres(url_text.clone()),
            url_text,
            directory: None,
            postgres: Some((base, name)),
        }
    }
}

/// The URL with its database name replaced (query parameters kept): also how the benchmark
/// names its scratch databases.
pub fn replace_database(url: &str, database: &str) -> String {
    let (before_query, query) = url
        .split_once('?')
        .map_or((url, None), |(before, query)| (before, Some(query)));
    let scheme_end = before_query.find("://").map_or(0, |index| index + 3);
    let base = match before_query[scheme_end..].find('/') {
        Some(slash) => &before_query[..scheme_end + slash],
        None => before_query,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(directory) = &self.directory {
            let _ = std::fs::remove_dir_all(directory);
        }
        if let Some((base, name)) = self.postgres.take() {
            // Drop runs outside any runtime we may block, so the clean-up gets its own thread.
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A test-mode draft of a merchant's API, for `amount`: the one way tests start a payment
/// without a door. Chain the builder's setters for anything else.
pub fn draft(
    reseller_id: ResellerId,
    merchant_id: MerchantId,
    amount: Money,
) -> PaymentDraftBuilder {
    PaymentDraft::builder(Source::MerchantApi, reseller_id, amount)
        .merchant(merchant_id)
        .test_mode(true)
}

/// Expands to the `available` tokens when the tests were built with a PostgreSQL server to use
/// (`OBOL_TEST_DATABASE_URL` set, or `CI` set: then a missing server fails the test), to the
/// `unavailable` tokens otherwise. The choice is made by this crate's build script, so that a
/// test that cannot run is reported by libtest as ignored, never as passed. `on_both_backends!`
/// and the test kit's `requires!` use it; a test rarely needs it directly.
#[cfg(not(obol_postgres_unavailable))]
#[macro_export]
macro_rules! if_postgres {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => {
        $($available)*
    };
}

/// See the other definition: this one is chosen when no PostgreSQL server was configured.
#[cfg(obol_postgres_unavailable)]
#[macro_export]
macro_rules! if_postgres {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => {
        $($unavailable)*
    };
}

/// A PostgreSQL test: as written when the tests were built with a server to use, ignored (with
/// the reason) otherwise. The test gets its database from [`TestDatabase::postgres`].
#[macro_export]
macro_rules! postgres_test {
    ($test:item) => {
        $crate::if_postgres! {
            available => { $test }
            unavailable => {
                #[ignore = "needs PostgreSQL: set OBOL_TEST_DATABASE_URL (scripts/test does)"]
                $test
            }
        }
    };
}

/// Runs each scenario (an `async fn(TestDatabase)` in the calling module) as two tests, in
/// `mod sqlite` and `mod postgres`; the PostgreSQL one is a [`postgres_test!`].
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::testing::TestDatabase::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                $crate::postgres_test! {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        super::$scenario($crate::testing::TestDatabase::postgres().await).await;
                    }
                }
            )*
        }
    };
}

/// A deterministic random source for tests (xorshift), different per instance.
pub struct TestRandom(u64);

impl TestRandom {
    pub fn new() -> TestRandom {
        TestRandom(
            0x9E37_79B9_7F4A_7C15
                ^ COUNTER
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_mul(0x2545_F491_4F6C_DD1D)
                ^ std::process::id() as u64,
        )
    }
}

impl Default for TestRandom {
    fn default() -> TestRandom {
        TestRandom::new()
    }
}

impl RandomSource for TestRandom {
    fn fill_bytes(&mut self, buffer: &mut [u8]) {
        for byte in buffer {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *byte = (self.0 >> 24) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            replace_database("postgres://root@127.0.0.1:5432/test", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://root@127.0.0.1:5432", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://root@h/test?sslmode=disable", "x"),
            "postgres://root@h/x?sslmode=disable"
        );
    }
}
