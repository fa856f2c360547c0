//! What Obol's test suites share, so that each is written once:
//!
//! - [`TestServer`]: the whole server on a loopback port over a fresh database, with a clock the
//!   test moves, and [`TestServer::app`] / [`TestServer::call`] for the in-process tier (the
//!   same router, called with `tower::ServiceExt::oneshot`, no socket);
//! - [`CallbackReceiver`]: a real HTTP receiver on loopback for callbacks and webhooks;
//! - [`on_both_backends!`]: each scenario as a SQLite test and a PostgreSQL test;
//! - [`draft`]: a test-mode payment draft through the core's builder;
//! - [`requires!`]: a test that needs PostgreSQL, a browser or YooKassa's Python library is
//!   ignored when it was built without it (libtest prints `ignored` and the reason), never
//!   passed; under CI nothing is ignored, so a missing program fails its test.
//!
//! A dev-dependency only: nothing here is part of the product.

pub mod browser;
mod html;
mod receiver;
mod scratch;
mod server;

pub use html::hidden_value;
pub use obol_store::on_both_backends;
pub use obol_store::testing::{TestDatabase, TestRandom, draft};
pub use receiver::{Behaviour, CallbackReceiver, Received};
pub use scratch::Scratch;
pub use server::{Answer, START, TestServer, app};

#[doc(hidden)]
pub use obol_store as __obol_store;

/// Wraps a test that needs outside programs, named in brackets: `postgres`, `browser` (Chromium
/// and chromedriver) or `yookassa_python` (`OBOL_YOOKASSA_PYTHON`). The test is ignored, with the
/// reason, when the first missing one was missing at build time (see this crate's build script
/// and `obol-store`'s); it is left as written otherwise.
///
/// ```ignore
/// obol_testkit::requires! { [yookassa_python, postgres]
///     #[tokio::test]
///     async fn official_library_on_postgres() { ... }
/// }
/// ```
#[macro_export]
macro_rules! requires {
    ([] $test:item) => { $test };
    ([postgres $(, $rest:ident)*] $test:item) => {
        $crate::__obol_store::if_postgres! {
            available => { $crate::requires! { [$($rest),*] $test } }
            unavailable => { $crate::__obol_store::postgres_test! { $test } }
        }
    };
    ([browser $(, $rest:ident)*] $test:item) => {
        $crate::__if_browser! {
            available => { $crate::requires! { [$($rest),*] $test } }
            unavailable => {
                #[ignore = "needs /usr/bin/chromium and /usr/bin/chromedriver (scripts/test installs them)"]
                $test
            }
        }
    };
    ([ha_cluster $(, $rest:ident)*] $test:item) => {
        $crate::__if_ha_cluster! {
            available => { $crate::requires! { [$($rest),*] $test } }
            unavailable => {
                #[ignore = "needs pg_auto_failover (/usr/bin/pg_autoctl) and root to run it as postgres (scripts/ha-cluster installs it)"]
                $test
            }
        }
    };
    ([yookassa_python $(, $rest:ident)*] $test:item) => {
        $crate::__if_yookassa_python! {
            available => { $crate::requires! { [$($rest),*] $test } }
            unavailable => {
                #[ignore = "needs YooKassa's Python library: set OBOL_YOOKASSA_PYTHON (scripts/test does)"]
                $test
            }
        }
    };
}

#[cfg(not(obol_browser_unavailable))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_browser {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => { $($available)* };
}

#[cfg(obol_browser_unavailable)]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_browser {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => { $($unavailable)* };
}

#[cfg(not(obol_yookassa_python_unavailable))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_yookassa_python {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => { $($available)* };
}

#[cfg(obol_yookassa_python_unavailable)]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_yookassa_python {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => { $($unavailable)* };
}

#[cfg(not(obol_ha_cluster_unavailable))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_ha_cluster {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => { $($available)* };
}

#[cfg(obol_ha_cluster_unavailable)]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_ha_cluster {
    (available => { $($available:tt)* } unavailable => { $($unavailable:tt)* }) => { $($unavailable)* };
}
