//! PostgreSQL: a pool of connections; every write is one transaction. Many concurrent
//! transactions already share WAL flushes on the server, so the pool is kept busy rather than
//! serialised.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::Notify;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::db::{Backend, BoxFuture, Db, sealed};
use crate::error::{StoreError, StoreResult, UniqueKey};
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
        return StoreError::Database(format!(
            "{}: {}",
            database_error.code().code(),
            database_error.message()
        ));
    }
    if error.is_closed() {
        return StoreError::Unavailable(error.to_string());
    }
    StoreError::Database(error.to_string())
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
    client: &'c deadpool_postgres::ClientWrapper,
    /// The `BEGIN` still to send with the first statement; `None` once sent.
    begin: Option<&'static str>,
    callback_enqueued: bool,
}

impl PgTransaction<'_> {
    /// Runs `statement`, preceded by the pending `BEGIN` in the same flight.
    async fn run<T>(
        &mut self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        match self.begin.take() {
            Some(begin) => {
                let (begun, result) =
                    futures_util::future::join(self.client.batch_execute(begin), statement).await;
                begun.map_err(map_error)?;
                result.map_err(map_error)
            }
            None => statement.await.map_err(map_error),
        }
    }

    /// Whether `BEGIN` went out, so there is a transaction to end.
    fn begun(&self) -> bool {
        self.begin.is_none()
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
            let statement = self.client.prepare_cached(sql).await.map_err(map_error)?;
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
            let statement = self.client.prepare_cached(sql).await.map_err(map_error)?;
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
/// pool and closed, so the server rolls the transaction back and no later user inherits it.
struct Lent {
    object: Option<deadpool_postgres::Object>,
    open: bool,
}

impl Drop for Lent {
    fn drop(&mut self) {
        if self.open
            && let Some(object) = self.object.take()
        {
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

/// The PostgreSQL backend.
pub struct PgStore {
    pool: Pool,
    /// How to connect, for a pool of its own ([`PgStore::with_own_pool`]); boxed, being large.
    config: Box<tokio_postgres::Config>,
    callbacks_committed: Arc<Notify>,
}

impl PgStore {
    /// Builds the pool and checks that the server answers.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        let config = tokio_postgres::Config::from_str(url).map_err(|error| {
            StoreError::BadUrl(format!("is not a valid PostgreSQL URL: {error}"))
        })?;
        PgStore::connect(config, POOL_SIZE, Arc::new(Notify::new())).await
    }

    async fn connect(
        config: tokio_postgres::Config,
        connections: usize,
        callbacks_committed: Arc<Notify>,
    ) -> StoreResult<PgStore> {
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(connections.max(1))
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = PgStore {
            pool,
            config: Box::new(config),
            callbacks_committed,
        };
        drop(store.client().await?);
        Ok(store)
    }

    /// The same database through a pool of its own of `connections` connections, sharing this
    /// store's notifications.
    pub async fn with_own_pool(&self, connections: usize) -> StoreResult<PgStore> {
        PgStore::connect(
            (*self.config).clone(),
            connections,
            Arc::clone(&self.callbacks_committed),
        )
        .await
    }

    /// Notified after each commit on this node that enqueued a callback.
    pub fn callbacks_committed(&self) -> Arc<Notify> {
        Arc::clone(&self.callbacks_committed)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    pub async fn write<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let mut lent = Lent {
            object: Some(self.client().await?),
            open: true,
        };
        let client = lent.object.as_ref().ok_or(StoreError::Conflict)?;
        let mut db = PgTransaction {
            client,
            begin: Some("BEGIN"),
            callback_enqueued: false,
        };
        let result = operation(&mut db).await;
        let (begun, callback_enqueued) = (db.begun(), db.callback_enqueued);
        let outcome = match result {
            Ok(value) if begun => {
                client.batch_execute("COMMIT").await.map_err(map_error)?;
                if callback_enqueued {
                    self.callbacks_committed.notify_one();
                }
                Ok(value)
            }
            Ok(value) => Ok(value),
            Err(error) => {
                // Saying ROLLBACK frees the connection at once; if it cannot be said, the
                // connection is closed instead (see `Lent`).
                if begun && client.batch_execute("ROLLBACK").await.is_err() {
                    return Err(error);
                }
                Err(error)
            }
        };
        lent.open = false;
        outcome
    }

    /// A read in a REPEATABLE READ, READ ONLY transaction: every query sees one snapshot.
    pub async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let mut lent = Lent {
            object: Some(self.client().await?),
            open: true,
        };
        let client = lent.object.as_ref().ok_or(StoreError::Conflict)?;
        let mut db = PgTransaction {
            client,
            begin: Some("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
            callback_enqueued: false,
        };
        let result = operation(&mut db).await;
        if db.begun() && client.batch_execute("COMMIT").await.is_err() {
            return result;
        }
        lent.open = false;
        result
    }
}
