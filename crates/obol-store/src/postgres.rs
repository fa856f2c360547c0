//! PostgreSQL: a pool of connections; every write is one transaction. Many concurrent
//! transactions already share WAL flushes on the server, so the pool is kept busy rather than
//! serialised.

use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::Notify;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{IsolationLevel, NoTls};

use crate::db::{Backend, BoxFuture, Db, sealed};
use crate::error::{StoreError, StoreResult, UniqueKey};
use crate::value::{ColumnNames, Row, Value};

/// Connections per node. Each costs the server a process; with many nodes, keep
/// `nodes × POOL_SIZE` under the server's `max_connections`.
const POOL_SIZE: usize = 16;

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

/// A transaction seen through the [`Db`] seam.
struct PgTransaction<'c> {
    transaction: deadpool_postgres::Transaction<'c>,
    callback_enqueued: bool,
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
            let statement = self
                .transaction
                .prepare_cached(sql)
                .await
                .map_err(map_error)?;
            self.transaction
                .execute(&statement, &as_params(params))
                .await
                .map_err(map_error)
        })
    }

    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, StoreResult<Vec<Row>>> {
        Box::pin(async move {
            let statement = self
                .transaction
                .prepare_cached(sql)
                .await
                .map_err(map_error)?;
            let rows = self
                .transaction
                .query(&statement, &as_params(params))
                .await
                .map_err(map_error)?;
            let names: ColumnNames = statement
                .columns()
                .iter()
                .map(|column| Box::from(column.name()))
                .collect();
            rows.iter().map(|row| convert_row(&names, row)).collect()
        })
    }

    fn execute_script<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.transaction.batch_execute(sql).await.map_err(map_error) })
    }

    fn note_callback_enqueued(&mut self) {
        self.callback_enqueued = true;
    }
}

/// The PostgreSQL backend.
pub struct PgStore {
    pool: Pool,
    callbacks_committed: Arc<Notify>,
}

impl PgStore {
    /// Builds the pool and checks that the server answers.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        let config = tokio_postgres::Config::from_str(url).map_err(|error| {
            StoreError::BadUrl(format!("is not a valid PostgreSQL URL: {error}"))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = PgStore {
            pool,
            callbacks_committed: Arc::new(Notify::new()),
        };
        drop(store.client().await?);
        Ok(store)
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
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        let mut db = PgTransaction {
            transaction,
            callback_enqueued: false,
        };
        let result = operation(&mut db).await;
        match result {
            Ok(value) => {
                let callback_enqueued = db.callback_enqueued;
                db.transaction.commit().await.map_err(map_error)?;
                if callback_enqueued {
                    self.callbacks_committed.notify_one();
                }
                Ok(value)
            }
            Err(error) => {
                // Dropping a transaction rolls it back; saying so explicitly frees the
                // connection at once.
                let _ = db.transaction.rollback().await;
                Err(error)
            }
        }
    }

    /// A read in a REPEATABLE READ, READ ONLY transaction: every query sees one snapshot.
    pub async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let mut client = self.client().await?;
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(map_error)?;
        let mut db = PgTransaction {
            transaction,
            callback_enqueued: false,
        };
        let result = operation(&mut db).await;
        let _ = db.transaction.commit().await;
        result
    }
}
