//! The one seam between operations and backends: run a statement, run a query.
//!
//! Operations (`ops/`) are plain async functions over `&mut dyn Db`, written once with
//! PostgreSQL-style `$1` placeholders; the SQLite backend rewrites them to `?1`. Inside a write,
//! a `Db` is one transaction (SQLite: one savepoint of a group commit); inside a read, a
//! connection.

use std::future::Future;
use std::pin::Pin;

use crate::error::{Entity, StoreResult};
use crate::value::{Row, Value};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which database is behind a [`Db`], for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A transaction (or, for reads, a snapshot) that operations run in. Outside this crate it can
/// only be handed to operations: the statements it runs are reachable from `obol-store` alone,
/// so all SQL lives here.
pub trait Db: Send {
    fn backend(&self) -> Backend;

    /// The statements behind this handle. Only this crate can make the [`sealed::Token`], so no
    /// one else can call it (nor implement `Db`).
    #[doc(hidden)]
    fn raw(&mut self, token: sealed::Token) -> &mut dyn sealed::Statements;
}

pub(crate) mod sealed {
    use super::BoxFuture;
    use crate::error::StoreResult;
    use crate::value::{Row, Value};

    /// Proof that the caller is inside `obol-store`.
    pub struct Token(pub(super) ());

    /// What a backend runs: statements with parameters, and scripts.
    pub trait Statements: Send {
        /// Runs a statement, returning the number of rows it changed.
        fn execute<'a>(
            &'a mut self,
            sql: &'a str,
            params: &'a [Value],
        ) -> BoxFuture<'a, StoreResult<u64>>;

        /// Runs a query, returning every row.
        fn query<'a>(
            &'a mut self,
            sql: &'a str,
            params: &'a [Value],
        ) -> BoxFuture<'a, StoreResult<Vec<Row>>>;

        /// Runs several statements without parameters (migrations).
        fn execute_script<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, StoreResult<()>>;

        /// Notes that this transaction enqueued a callback, so that the store wakes the
        /// delivery worker once the transaction is committed.
        fn note_callback_enqueued(&mut self);
    }
}

impl dyn Db + '_ {
    /// Runs a statement, returning the number of rows it changed.
    pub(crate) fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, StoreResult<u64>> {
        self.raw(sealed::Token(())).execute(sql, params)
    }

    /// Runs a query, returning every row.
    pub(crate) fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, StoreResult<Vec<Row>>> {
        self.raw(sealed::Token(())).query(sql, params)
    }

    /// Runs several statements without parameters (migrations).
    pub(crate) fn execute_script<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.raw(sealed::Token(())).execute_script(sql)
    }

    /// Wakes the delivery worker after this transaction commits (see [`crate::Store::callbacks_committed`]).
    pub(crate) fn note_callback_enqueued(&mut self) {
        self.raw(sealed::Token(())).note_callback_enqueued();
    }
}

/// The first row of a query, if any.
pub(crate) async fn query_opt(
    db: &mut dyn Db,
    sql: &str,
    params: &[Value],
) -> StoreResult<Option<Row>> {
    Ok(db.query(sql, params).await?.into_iter().next())
}

/// The one row a query must return.
pub(crate) async fn query_one(
    db: &mut dyn Db,
    sql: &str,
    params: &[Value],
    what: Entity,
) -> StoreResult<Row> {
    query_opt(db, sql, params)
        .await?
        .ok_or(crate::error::StoreError::NotFound(what))
}

/// A new payment's number, document number and order number, in one round trip.
/// PostgreSQL uses real sequences, so concurrent transactions never wait on one row; SQLite
/// has a single writer, so a counter row is as good and needs no extra table per counter.
pub(crate) async fn next_payment_numbers(db: &mut dyn Db) -> StoreResult<(i64, i64, i64)> {
    match db.backend() {
        Backend::Postgres => {
            let row = query_one(db, "SELECT nextval('payment_number_seq'), nextval('document_id_seq'), nextval('order_id_seq')", &[], Entity::Sequence).await?;
            Ok((row.int(0)?, row.int(1)?, row.int(2)?))
        }
        Backend::Sqlite => {
            // Two plain statements: an UPDATE … RETURNING (or an IN list) would make SQLite
            // build a temporary table on every creation.
            let changed = db
                .execute("UPDATE sequences SET value = value + 1 WHERE name = 'payment_number' OR name = 'document_id' OR name = 'order_id'", &[])
                .await?;
            if changed != 3 {
                return Err(crate::error::StoreError::NotFound(Entity::Sequence));
            }
            let row = query_one(
                db,
                "SELECT (SELECT value FROM sequences WHERE name = 'payment_number'), (SELECT value FROM sequences WHERE name = 'document_id'), (SELECT value FROM sequences WHERE name = 'order_id')",
                &[],
                Entity::Sequence,
            )
            .await?;
            Ok((row.int(0)?, row.int(1)?, row.int(2)?))
        }
    }
}
