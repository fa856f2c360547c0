//! Obol's storage: one interface, two backends.
//!
//! - SQLite ([`sqlite`]) is the embedded default: one writer thread commits many requests'
//!   transactions with one fsync (group commit), readers run beside it in WAL mode.
//! - PostgreSQL ([`postgres`]) is the production store for many stateless nodes.
//!
//! Operations ([`ops`]) are written once over the [`db::Db`] seam. A caller runs them with
//! [`Store::write`] (one transaction, acknowledged only after its commit) or [`Store::read`].

pub mod db;
pub mod error;
pub mod ops;
pub mod pg_connect;
mod pg_tls;
pub mod postgres;
pub mod sqlite;
pub mod testing;
pub mod url;
pub mod value;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use obol_core::idempotency::{
    IdempotencyKey, IdempotencyScope, NextAction, RequestFingerprint, SavedResponse,
};
use obol_core::time::Timestamp;

pub use db::{Backend, BoxFuture, Db};
pub use error::{Entity, StoreError, StoreResult, UniqueKey};
pub use pg_connect::{ConnectionStats, DatabaseOptions};
pub use url::DatabaseUrl;

enum Inner {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// A handle on the database; cheap to clone, shared by every request and worker.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The outcome of a write protected by an idempotency key.
#[derive(Debug)]
pub enum Idempotent<T> {
    /// The operation ran now; its response was saved under the key.
    Fresh(T, SavedResponse),
    /// The key was used before with the same request: here is the first response again.
    Replayed(SavedResponse),
}

impl Store {
    /// Opens the database the URL names, with the default [`DatabaseOptions`]. Runs no
    /// migrations (see [`Store::migrate`]).
    pub async fn open(url: &DatabaseUrl) -> StoreResult<Store> {
        Store::open_with(url, &DatabaseOptions::default()).await
    }

    /// Opens the database the URL names, its connections bounded by `options`.
    pub async fn open_with(url: &DatabaseUrl, options: &DatabaseOptions) -> StoreResult<Store> {
        let inner = match url {
            DatabaseUrl::Sqlite(path) => Inner::Sqlite(sqlite::SqliteStore::open(path)?),
            DatabaseUrl::Postgres(url) => {
                Inner::Postgres(postgres::PgStore::open(url, options).await?)
            }
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// A handle for background work that must not wait behind requests for a connection (the
    /// callback worker: under load, its claims and records waited ~100 ms each for one of the
    /// requests' connections). On PostgreSQL, the same database through a pool of its own of
    /// `connections` connections, sharing this store's notifications; on SQLite, this same
    /// store: its one writer serves every transaction by design, and its queue is the group
    /// commit (a second writer would only contend for the file's lock).
    pub async fn with_own_connections(&self, connections: usize) -> StoreResult<Store> {
        match &*self.inner {
            Inner::Sqlite(_) => Ok(self.clone()),
            Inner::Postgres(store) => Ok(Store {
                inner: Arc::new(Inner::Postgres(store.with_own_pool(connections).await?)),
            }),
        }
    }

    /// This store with no client-side deadline on database round trips, for long
    /// administrative work (migrations, `obol verify` over a large database). The same
    /// connections; SQLite has no such deadline.
    pub fn without_deadline(&self) -> Store {
        match &*self.inner {
            Inner::Sqlite(_) => self.clone(),
            Inner::Postgres(store) => Store {
                inner: Arc::new(Inner::Postgres(store.without_deadline())),
            },
        }
    }

    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Notified (one stored permit) after a commit on this node that enqueued a callback, so
    /// the delivery worker looks at once instead of at its next poll. Other nodes' callbacks
    /// are still found by polling.
    pub fn callbacks_committed(&self) -> Arc<tokio::sync::Notify> {
        match &*self.inner {
            Inner::Sqlite(store) => store.callbacks_committed(),
            Inner::Postgres(store) => store.callbacks_committed(),
        }
    }

    /// What the SQLite writer thread has done so far (`None` on PostgreSQL), for `/metrics`.
    pub fn writer_stats(&self) -> Option<sqlite::WriterStats> {
        match &*self.inner {
            Inner::Sqlite(store) => Some(store.writer_stats()),
            Inner::Postgres(_) => None,
        }
    }

    /// What this node's database connections have been through (`None` on SQLite), for
    /// `/metrics`: connections opened and lost, reconnects, failovers, the writable host.
    pub fn connection_stats(&self) -> Option<ConnectionStats> {
        match &*self.inner {
            Inner::Sqlite(_) => None,
            Inner::Postgres(store) => Some(store.connection_stats()),
        }
    }

    /// Runs `operation` in one transaction and returns after it is durably committed.
    pub async fn write<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        match &*self.inner {
            Inner::Sqlite(store) => store.write(operation).await,
            Inner::Postgres(store) => store.write(operation).await,
        }
    }

    /// Runs a read-only `operation` against one consistent snapshot.
    pub async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        match &*self.inner {
            Inner::Sqlite(store) => store.read(operation).await,
            Inner::Postgres(store) => store.read(operation).await,
        }
    }

    /// Runs `operation` once per (scope, key): the key is claimed, the operation run and its
    /// response saved in one transaction. A repeat with the same request replays the saved
    /// response; with a different request it fails with `IdempotencyError::ReusedWithDifferentRequest`.
    pub async fn write_idempotent<T, F>(
        &self,
        scope: IdempotencyScope,
        key: IdempotencyKey,
        fingerprint: RequestFingerprint,
        now: Timestamp,
        operation: F,
    ) -> StoreResult<Idempotent<T>>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<(T, SavedResponse)>>
            + Send
            + 'static,
    {
        self.write(move |db| {
            Box::pin(async move {
                match ops::idempotency::claim(db, &scope, &key, fingerprint, now).await? {
                    NextAction::ReturnSaved(response) => Ok(Idempotent::Replayed(response)),
                    NextAction::Start => {
                        let (value, response) = operation(&mut *db).await?;
                        ops::idempotency::save_response(db, &scope, &key, &response).await?;
                        Ok(Idempotent::Fresh(value, response))
                    }
                }
            })
        })
        .await
    }

    /// Applies pending migrations; returns the versions applied now.
    pub async fn migrate(&self, now: Timestamp) -> StoreResult<Vec<i64>> {
        let applied = self
            .write(move |db| Box::pin(ops::migrate::migrate(db, now)))
            .await?;
        if applied.contains(&ops::migrate::MODES_VERSION) {
            self.log_reclassified().await?;
        }
        Ok(applied)
    }

    /// Logs what the migration that split test from live money moved to test accounts.
    async fn log_reclassified(&self) -> StoreResult<()> {
        let moved = self
            .read(|db| Box::pin(ops::ledger::reclassified_to_test(db)))
            .await?;
        if moved.is_empty() {
            tracing::info!(
                "test and live ledgers split: no test money was booked in live accounts"
            );
        }
        for balance in moved {
            tracing::warn!(
                account = balance.account.as_str(),
                currency = balance.amount.currency().code(),
                amount = %balance.amount.to_decimal_string(),
                "test money reclassified from the live to the test account"
            );
        }
        Ok(())
    }

    /// The schema versions applied so far.
    pub async fn applied_versions(&self) -> StoreResult<Vec<i64>> {
        self.read(|db| Box::pin(ops::migrate::applied_versions(db)))
            .await
    }

    /// Whether the database answers a query (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        self.read(|db| {
            Box::pin(async move {
                db.query("SELECT 1", &[]).await?;
                Ok(())
            })
        })
        .await
    }
}
