//! PostgreSQL: a pool of connections; every write is one transaction. Many concurrent
//! transactions already share WAL flushes on the server, so the pool is kept busy rather than
//! serialised.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use deadpool::managed::{Object, Pool, PoolError, TimeoutType};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::db::{Backend, BoxFuture, Db, sealed};
use crate::error::{StoreError, StoreResult, UniqueKey};
use crate::pg_connect::{ConnectionStats, Connector, DatabaseOptions};
use crate::value::{ColumnNames, Row, Value};

/// Connections per node for requests. Each costs the server a process; with many nodes, keep
/// `nodes × (POOL_SIZE + the callback worker's 2)` under the server's `max_connections`.
pub(crate) const POOL_SIZE: usize = 16;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(value) => match *ty {
                Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
                _ => value.to_sql(ty, out),
            },
            Value::Bool(value) => value.to_sql(ty, out),
            Value::Text(value) => value.as_str().to_sql(ty, out),
            Value::Blob(value) => value.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn map_error(error: tokio_postgres::Error) -> StoreError {
    if let Some(database_error) = error.as_db_error() {
        if *database_error.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
            // PostgreSQL always names the constraint (or unique index) of a unique violation.
            return StoreError::Unique(database_error.constraint().map_or_else(
                || UniqueKey::Other(database_error.message().to_owned()),
                UniqueKey::from_postgres,
            ));
        }
        if *database_error.code() == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
            || *database_error.code() == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::Conflict;
        }
        if connection_gone(database_error.code()) {
            return StoreError::Unavailable(format!(
                "{}: {}",
                database_error.code().code(),
                database_error.message()
            ));
        }
        return StoreError::Database(format!(
            "{}: {}",
            database_error.code().code(),
            database_error.message()
        ));
    }
    if error.is_closed() || is_io(&error) {
        return StoreError::Unavailable(error.to_string());
    }
    StoreError::Database(error.to_string())
}

/// Errors that say this connection's server is going away or cannot take writes any more (a
/// shutdown, a crash of another backend, a primary demoted to a standby): the connection is
/// dropped and the operation fails as unavailable, never as a wrong request.
fn connection_gone(code: &tokio_postgres::error::SqlState) -> bool {
    use tokio_postgres::error::SqlState;
    [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::READ_ONLY_SQL_TRANSACTION,
        SqlState::CONNECTION_FAILURE,
        SqlState::CONNECTION_EXCEPTION,
    ]
    .contains(code)
}

/// Whether the driver's error came from the socket (a reset, a timeout of the kernel's).
fn is_io(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

fn convert_row(names: &ColumnNames, row: &tokio_postgres::Row) -> StoreResult<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let corrupt = |error: tokio_postgres::Error| {
            StoreError::Corrupt(format!("column {}: {error}", column.name()))
        };
        let value = match *column.type_() {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(index)
                .map_err(corrupt)?
                .map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)
                .map_err(corrupt)?
                .map(|value| Value::Int(i64::from(value))),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(index)
                .map_err(corrupt)?
                .map(|value| Value::Int(i64::from(value))),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)
                .map_err(corrupt)?
                .map(Value::Bool),
            Type::BYTEA => row
                .try_get::<_, Option<Vec<u8>>>(index)
                .map_err(corrupt)?
                .map(Value::Blob),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => row
                .try_get::<_, Option<String>>(index)
                .map_err(corrupt)?
                .map(Value::Text),
            ref other => {
                return Err(StoreError::Corrupt(format!(
                    "column {} has unsupported type {other}",
                    column.name()
                )));
            }
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row::new(ColumnNames::clone(names), values))
}

fn as_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

/// A transaction seen through the [`Db`] seam. Its `BEGIN` is not sent on its own: it goes
/// out with the transaction's first statement, pipelined, so a transaction costs one round
/// trip less (a creation is a handful of statements, so this is a large share of its time).
struct PgTransaction<'c> {
    client: &'c ClientWrapper,
    /// The `BEGIN` still to send with the first statement; `None` once sent.
    begin: Option<&'static str>,
    callback_enqueued: bool,
    /// The client-side deadline of each round trip ([`DatabaseOptions::statement_timeout`]).
    deadline: Option<Duration>,
    /// Set when the connection is found dead or a deadline passed: it is dropped, not pooled.
    lost: bool,
}

impl PgTransaction<'_> {
    /// Runs `statement`, preceded by the pending `BEGIN` in the same flight.
    async fn run<T>(
        &mut self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        match self.begin.take() {
            Some(begin) => {
                let client = self.client;
                let both = futures_util::future::join(client.batch_execute(begin), statement);
                let (begun, result) = self.bounded(both).await?;
                begun.map_err(|error| self.failed(error))?;
                result.map_err(|error| self.failed(error))
            }
            None => {
                let result = self.bounded(statement).await?;
                result.map_err(|error| self.failed(error))
            }
        }
    }

    /// `round_trip` within the deadline; past it, the connection is given up.
    async fn bounded<T>(&mut self, round_trip: impl Future<Output = T>) -> StoreResult<T> {
        let Some(deadline) = self.deadline else {
            return Ok(round_trip.await);
        };
        match tokio::time::timeout(deadline, round_trip).await {
            Ok(outcome) => Ok(outcome),
            Err(_) => {
                self.lost = true;
                Err(StoreError::Unavailable(format!(
                    "the database did not answer within {} ms",
                    deadline.as_millis()
                )))
            }
        }
    }

    /// Maps a driver error, noting a connection that is gone.
    fn failed(&mut self, error: tokio_postgres::Error) -> StoreError {
        let error = map_error(error);
        if matches!(error, StoreError::Unavailable(_)) || self.client.is_closed() {
            self.lost = true;
        }
        error
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`, within the deadline.
    async fn finish(&mut self, sql: &'static str) -> StoreResult<()> {
        let client = self.client;
        let result = self.bounded(client.batch_execute(sql)).await?;
        result.map_err(|error| self.failed(error))
    }

    /// Whether `BEGIN` went out, so there is a transaction to end.
    fn begun(&self) -> bool {
        self.begin.is_none()
    }

    /// The statement, prepared once per connection (a round trip the first time).
    async fn prepare(&mut self, sql: &str) -> StoreResult<tokio_postgres::Statement> {
        let client = self.client;
        let prepared = self.bounded(client.prepare_cached(sql)).await?;
        prepared.map_err(|error| self.failed(error))
    }
}

impl Db for PgTransaction<'_> {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn raw(&mut self, _token: sealed::Token) -> &mut dyn sealed::Statements {
        self
    }
}

impl sealed::Statements for PgTransaction<'_> {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let statement = self.prepare(sql).await?;
            let client = self.client;
            let params = as_params(params);
            self.run(client.execute(&statement, &params)).await
        })
    }

    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, StoreResult<Vec<Row>>> {
        Box::pin(async move {
            let statement = self.prepare(sql).await?;
            let client = self.client;
            let params = as_params(params);
            let rows = self.run(client.query(&statement, &params)).await?;
            let names: ColumnNames = statement
                .columns()
                .iter()
                .map(|column| Box::from(column.name()))
                .collect();
            rows.iter().map(|row| convert_row(&names, row)).collect()
        })
    }

    fn execute_script<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let client = self.client;
            self.run(client.batch_execute(sql)).await
        })
    }

    fn note_callback_enqueued(&mut self) {
        self.callback_enqueued = true;
    }
}

/// A pooled connection lent to one transaction. If the transaction is abandoned half way (its
/// request was cancelled), the connection may still be inside it: it is then taken out of the
/// pool and closed, so the server rolls the transaction back and no later user inherits it. A
/// connection found dead, or whose deadline passed, is closed the same way, and its host's
/// other connections are retired ([`crate::pg_connect::ConnectionState::lost`]).
struct Lent {
    object: Option<Object<Connector>>,
    open: bool,
}

impl Lent {
    /// Gives the connection up: closed, never returned to the pool.
    fn discard(&mut self, pool: &Pool<Connector>) {
        if let Some(object) = self.object.take() {
            pool.manager().state.lost(object.host, object.generation);
            drop(Object::take(object));
        }
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if self.open
            && let Some(object) = self.object.take()
        {
            drop(Object::take(object));
        }
    }
}

/// The PostgreSQL backend.
pub struct PgStore {
    pool: Pool<Connector>,
    callbacks_committed: Arc<Notify>,
    /// The deadline of each round trip; the pool's by default ([`PgStore::without_deadline`]).
    statement_timeout: Option<Duration>,
}

impl PgStore {
    /// Builds the pool and checks that a writable host answers.
    pub async fn open(url: &str, options: &DatabaseOptions) -> StoreResult<PgStore> {
        let connector = Connector::new(url, options.clone())?;
        PgStore::connect(connector, POOL_SIZE, Arc::new(Notify::new())).await
    }

    async fn connect(
        connector: Connector,
        connections: usize,
        callbacks_committed: Arc<Notify>,
    ) -> StoreResult<PgStore> {
        let pool_timeout = connector.options.pool_timeout;
        let statement_timeout = connector.options.statement_timeout;
        let pool = Pool::builder(connector)
            .max_size(connections.max(1))
            .wait_timeout(Some(pool_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = PgStore {
            pool,
            callbacks_committed,
            statement_timeout,
        };
        drop(store.client().await?);
        Ok(store)
    }

    /// The same database through a pool of its own of `connections` connections, sharing this
    /// store's notifications and connection state.
    pub async fn with_own_pool(&self, connections: usize) -> StoreResult<PgStore> {
        PgStore::connect(
            self.pool.manager().sibling(),
            connections,
            Arc::clone(&self.callbacks_committed),
        )
        .await
    }

    /// The same pool with no deadline on round trips, for long administrative work (migrations,
    /// `obol verify` over a large database).
    pub fn without_deadline(&self) -> PgStore {
        PgStore {
            pool: self.pool.clone(),
            callbacks_committed: Arc::clone(&self.callbacks_committed),
            statement_timeout: None,
        }
    }

    /// Notified after each commit on this node that enqueued a callback.
    pub fn callbacks_committed(&self) -> Arc<Notify> {
        Arc::clone(&self.callbacks_committed)
    }

    /// What this node's connections have been through (shared by its pools).
    pub fn connection_stats(&self) -> ConnectionStats {
        self.pool.manager().state.stats()
    }

    async fn client(&self) -> StoreResult<Object<Connector>> {
        self.pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => error,
            PoolError::Timeout(TimeoutType::Wait) => StoreError::Unavailable(format!(
                "no database connection was free within {} ms",
                self.pool.manager().options.pool_timeout.as_millis()
            )),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    pub async fn write<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        self.transaction("BEGIN", true, operation).await
    }

    /// A read in a REPEATABLE READ, READ ONLY transaction: every query sees one snapshot.
    pub async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        self.transaction(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            false,
            operation,
        )
        .await
    }

    /// Runs `operation` in one transaction on a lent connection. A write is acknowledged only
    /// once its `COMMIT` is answered: when the connection dies or the deadline passes before
    /// that, the outcome is unknown and the write fails as unavailable (the client's retry with
    /// its idempotency key or reference finds the truth).
    async fn transaction<T, F>(
        &self,
        begin: &'static str,
        write: bool,
        operation: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let mut lent = Lent {
            object: Some(self.client().await?),
            open: true,
        };
        let client = &lent.object.as_ref().ok_or(StoreError::Conflict)?.client;
        let mut db = PgTransaction {
            client,
            begin: Some(begin),
            callback_enqueued: false,
            deadline: self.statement_timeout,
            lost: false,
        };
        let result = operation(&mut db).await;
        let outcome = match result {
            Ok(value) if db.begun() => match db.finish("COMMIT").await {
                Ok(()) => {
                    if write && db.callback_enqueued {
                        self.callbacks_committed.notify_one();
                    }
                    Ok(value)
                }
                Err(error) => Err(error),
            },
            Ok(value) => Ok(value),
            // Saying ROLLBACK frees the connection at once; if it cannot be said, the
            // connection is closed instead.
            Err(error) => {
                if db.begun() && !db.lost && db.finish("ROLLBACK").await.is_err() {
                    db.lost = true;
                }
                Err(error)
            }
        };
        let lost = db.lost;
        if lost {
            lent.discard(&self.pool);
        } else {
            lent.open = false;
        }
        outcome
    }
}
