//! SQLite: one writer thread with group commit, and a small pool of read-only connections.
//!
//! A durable commit costs an fsync (0.15–0.25 ms here), so one commit per request caps near
//! 5,000 requests per second. The writer therefore owns the only write connection: requests
//! send their write as a job over a bounded channel; the writer takes every job waiting (up to
//! `BATCH_JOBS_MAX`), runs each inside its own SAVEPOINT (a failing job rolls back alone),
//! commits once, and hands the batch to the sync thread, which makes the WAL durable
//! (`fdatasync`) and only then answers every job of the batch. A request is acknowledged only
//! after the sync that holds its commit; meanwhile the writer already runs the next batch, so
//! the fsync no longer stops the one thread every write goes through. WAL lets the readers
//! run beside the writer.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::db::{Backend, BoxFuture, Db, sealed};
use crate::error::{StoreError, StoreResult, UniqueKey};
use crate::value::{ColumnNames, Row, Value};

/// Most jobs one commit carries: bounds the latency a job waits behind others.
const BATCH_JOBS_MAX: usize = 512;
/// Jobs that may wait for the writer before senders are made to wait (back-pressure).
const QUEUE_JOBS_MAX: usize = 4096;
/// Read connections kept open.
const READERS_MAX: usize = 8;
/// Committed batches that may wait for the sync thread before the writer waits for it.
const SETTLING_BATCHES_MAX: usize = 64;
/// How long a statement waits for a lock held by another process (the CLI, a second node).
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// A connection seen through the [`Db`] seam.
pub struct SqliteConn {
    connection: Connection,
    /// A job of the current batch enqueued a callback (see [`crate::Store::callbacks_committed`]).
    callback_enqueued: bool,
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(value) => ToSqlOutput::Borrowed(ValueRef::Integer(*value)),
            Value::Bool(value) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*value))),
            Value::Text(value) => ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes())),
            Value::Blob(value) => ToSqlOutput::Borrowed(ValueRef::Blob(value)),
        })
    }
}

/// `$1` placeholders (written for PostgreSQL) become `?1`, which SQLite binds by number. Runs
/// for every statement, so it copies whole runs between dollars rather than character by
/// character.
fn rewrite_placeholders(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut start = 0;
    let mut from = 0;
    while let Some(offset) = memchr::memchr(b'$', &bytes[from..]) {
        let index = from + offset;
        if bytes.get(index + 1).is_some_and(u8::is_ascii_digit) {
            out.push_str(&sql[start..index]);
            out.push('?');
            start = index + 1;
        }
        from = index + 1;
    }
    out.push_str(&sql[start..]);
    out
}

/// Which key a unique violation hit. SQLite has no field for it: the extended code says that
/// it is a unique violation, and the message, in the fixed form
/// `UNIQUE constraint failed: table.column, table.column` (or `index 'name'` for an index on
/// expressions), is the only place that says which key. It is read here, once, at the edge.
fn unique_key(message: Option<&str>) -> UniqueKey {
    let Some(detail) = message
        .and_then(|message| message.split_once(": "))
        .map(|(_, detail)| detail)
    else {
        return UniqueKey::Other(message.unwrap_or_default().to_owned());
    };
    let mut table = None;
    let mut columns = Vec::new();
    for qualified in detail.split(", ") {
        let Some((owner, column)) = qualified.split_once('.') else {
            return UniqueKey::Other(detail.to_owned());
        };
        if table.is_some_and(|table| table != owner) {
            return UniqueKey::Other(detail.to_owned());
        }
        table = Some(owner);
        columns.push(column);
    }
    UniqueKey::from_sqlite(table.unwrap_or_default(), &columns)
}

fn map_error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, message) => match failure.code {
            rusqlite::ErrorCode::ConstraintViolation
                if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Unique(unique_key(message.as_deref()))
            }
            rusqlite::ErrorCode::DatabaseBusy
            | rusqlite::ErrorCode::DatabaseLocked
            | rusqlite::ErrorCode::CannotOpen => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Database(error.to_string()),
        },
        _ => StoreError::Database(error.to_string()),
    }
}

impl SqliteConn {
    fn run_execute(&mut self, sql: &str, params: &[Value]) -> StoreResult<u64> {
        let mut statement = self
            .connection
            .prepare_cached(&rewrite_placeholders(sql))
            .map_err(map_error)?;
        let changed = statement
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(map_error)?;
        Ok(changed as u64)
    }

    fn run_query(&mut self, sql: &str, params: &[Value]) -> StoreResult<Vec<Row>> {
        let mut statement = self
            .connection
            .prepare_cached(&rewrite_placeholders(sql))
            .map_err(map_error)?;
        let names: ColumnNames = statement
            .column_names()
            .into_iter()
            .map(Box::from)
            .collect();
        let columns = names.len();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(map_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_error)? {
            let mut values = Vec::with_capacity(columns);
            for index in 0..columns {
                values.push(match row.get_ref(index).map_err(map_error)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(value) => Value::Int(value),
                    ValueRef::Real(value) => Value::Text(value.to_string()),
                    ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
                    ValueRef::Blob(blob) => Value::Blob(blob.to_vec()),
                });
            }
            out.push(Row::new(ColumnNames::clone(&names), values));
        }
        Ok(out)
    }

    fn run_script(&mut self, sql: &str) -> StoreResult<()> {
        self.connection.execute_batch(sql).map_err(map_error)
    }

    /// Runs one statement without parameters (BEGIN, SAVEPOINT, RELEASE, COMMIT), prepared
    /// once: the writer runs several per job, and parsing them each time cost a tenth of its
    /// time.
    fn run_control(&mut self, sql: &str) -> StoreResult<()> {
        let mut statement = self.connection.prepare_cached(sql).map_err(map_error)?;
        statement.raw_execute().map_err(map_error)?;
        Ok(())
    }
}

impl Db for SqliteConn {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn raw(&mut self, _token: sealed::Token) -> &mut dyn sealed::Statements {
        self
    }
}

impl sealed::Statements for SqliteConn {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, StoreResult<u64>> {
        let result = self.run_execute(sql, params);
        Box::pin(std::future::ready(result))
    }

    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, StoreResult<Vec<Row>>> {
        let result = self.run_query(sql, params);
        Box::pin(std::future::ready(result))
    }

    fn execute_script<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        let result = self.run_script(sql);
        Box::pin(std::future::ready(result))
    }

    fn note_callback_enqueued(&mut self) {
        self.callback_enqueued = true;
    }
}

/// Drives an operation over a SQLite connection. Every SQLite call completes at once, so the
/// operation's future is ready on its first poll; one that is not is a bug (it awaited
/// something else while holding the writer) and fails instead of blocking every writer.
fn run_to_completion<T>(future: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Database(
            "a storage operation awaited something other than SQLite".to_owned(),
        )),
    }
}

/// What the writer needs after running a job: whether to keep its savepoint, and how to
/// answer once the batch's commit is known.
struct Completion {
    succeeded: bool,
    answer: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

type WriteJob = Box<dyn FnOnce(&mut SqliteConn) -> Completion + Send>;

/// What the writer thread has done since it started: where the time of a write goes.
#[derive(Debug, Default)]
pub struct WriterCounters {
    /// Batches committed (or failed), and the jobs they carried.
    batches: AtomicU64,
    jobs: AtomicU64,
    /// Nanoseconds spent running jobs (their SQL, savepoints included), and committing
    /// (writing the WAL and its fsync).
    busy_nanos: AtomicU64,
    commit_nanos: AtomicU64,
    /// Syncs of the WAL (each covering every batch committed before it), and their time.
    syncs: AtomicU64,
    sync_nanos: AtomicU64,
}

/// A reading of [`WriterCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub batches: u64,
    pub jobs: u64,
    pub busy_nanos: u64,
    pub commit_nanos: u64,
    pub syncs: u64,
    pub sync_nanos: u64,
}

impl WriterCounters {
    fn read(&self) -> WriterStats {
        WriterStats {
            batches: self.batches.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            busy_nanos: self.busy_nanos.load(Ordering::Relaxed),
            commit_nanos: self.commit_nanos.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            sync_nanos: self.sync_nanos.load(Ordering::Relaxed),
        }
    }
}

fn nanos(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

/// The SQLite backend.
pub struct SqliteStore {
    counters: Arc<WriterCounters>,
    path: PathBuf,
    callbacks_committed: Arc<Notify>,
    jobs: mpsc::Sender<WriteJob>,
    readers: Arc<Mutex<Vec<SqliteConn>>>,
}

fn open_connection(path: &Path, read_only: bool) -> StoreResult<SqliteConn> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|error| StoreError::Unavailable(format!("{}: {error}", path.display())))?;
    connection
        .busy_timeout(std::time::Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))
        .map_err(map_error)?;
    connection.set_prepared_statement_cache_capacity(128);
    if read_only {
        connection
            .execute_batch(
                "PRAGMA foreign_keys = ON; PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;",
            )
            .map_err(map_error)?;
    } else {
        // WAL lets readers run beside the writer; FULL syncs the WAL on every commit, so an
        // acknowledged payment survives a power cut, not only a crash.
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(map_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "SQLite refused WAL mode (got {mode})"
            )));
        }
        // The savepoint each job runs in journals every page it first touches: in memory,
        // not in a temporary file. The writer checkpoints itself, between batches, when the WAL
        // passes SQLite's default 1000 pages: a checkpoint on another thread never catches up
        // with a writer under constant load, so the WAL would never start over and grow
        // without bound.
        connection
            .execute_batch(
                "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
                 PRAGMA cache_size = -8192;",
            )
            .map_err(map_error)?;
    }
    Ok(SqliteConn {
        connection,
        callback_enqueued: false,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and starts the writer thread.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let mut writer = open_connection(path, false)?;
        // The writer's commits write the WAL without syncing it: the sync thread syncs it
        // before anything is acknowledged (NORMAL keeps SQLite's own syncs around checkpoints
        // and WAL reuse, so the file stays consistent whatever happens).
        writer.run_script("PRAGMA synchronous = NORMAL")?;
        let (jobs, receiver) = mpsc::channel(QUEUE_JOBS_MAX);
        let callbacks_committed = Arc::new(Notify::new());
        let signal = Arc::clone(&callbacks_committed);
        let counters = Arc::new(WriterCounters::default());
        let counted = Arc::clone(&counters);
        let synced_counters = Arc::clone(&counters);
        let (settle, settled) = std::sync::mpsc::sync_channel(SETTLING_BATCHES_MAX);
        let failed = Arc::new(AtomicBool::new(false));
        let sync_failed = Arc::clone(&failed);
        let wal_path = wal_path(path);
        std::thread::Builder::new()
            .name("obol-sqlite-sync".to_owned())
            .spawn(move || {
                sync_loop(&wal_path, &settled, &signal, &synced_counters, &sync_failed);
            })
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot start the sync thread: {error}"))
            })?;
        std::thread::Builder::new()
            .name("obol-sqlite-writer".to_owned())
            .spawn(move || writer_loop(writer, receiver, &settle, &counted, &failed))
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot start the writer thread: {error}"))
            })?;
        Ok(SqliteStore {
            counters,
            path: path.to_owned(),
            callbacks_committed,
            jobs,
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer thread has done so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.counters.read()
    }

    /// Notified after each commit that enqueued a callback.
    pub fn callbacks_committed(&self) -> Arc<Notify> {
        Arc::clone(&self.callbacks_committed)
    }

    /// Runs `operation` as part of the next group commit and answers after that commit.
    pub async fn write<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        let job: WriteJob = Box::new(move |connection: &mut SqliteConn| {
            let result = run_to_completion(operation(connection));
            Completion {
                succeeded: result.is_ok(),
                answer: Box::new(move |commit| {
                    let answer = match (result, commit) {
                        (Ok(value), Ok(())) => Ok(value),
                        (Ok(_), Err(error)) | (Err(error), _) => Err(error),
                    };
                    // The requester may have gone away; its write still happened or not as
                    // the commit says, which is all that matters.
                    let _ = sender.send(answer);
                }),
            }
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".to_owned()))?;
        receiver.await.map_err(|_| {
            StoreError::Unavailable(
                "the SQLite writer could not run this write (see the server log)".to_owned(),
            )
        })?
    }

    /// Runs a read-only `operation` on a reader connection, in a transaction (one snapshot).
    pub async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().ok().and_then(|mut pool| pool.pop());
            let mut connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&path, true)?,
            };
            connection.run_script("BEGIN")?;
            let result = run_to_completion(operation(&mut connection));
            let finished = connection.run_script("COMMIT");
            if finished.is_ok()
                && let Ok(mut pool) = readers.lock()
                && pool.len() < READERS_MAX
            {
                pool.push(connection);
            }
            let value = result?;
            finished?;
            Ok(value)
        })
        .await
        .map_err(|error| StoreError::Database(format!("reader task failed: {error}")))?
    }
}

fn writer_loop(
    mut connection: SqliteConn,
    mut receiver: mpsc::Receiver<WriteJob>,
    settle: &std::sync::mpsc::SyncSender<Settling>,
    counters: &WriterCounters,
    failed: &AtomicBool,
) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(BATCH_JOBS_MAX);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH_JOBS_MAX {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if failed.load(Ordering::Acquire) {
            // The WAL could not be synced: nothing more is written. Dropping the jobs tells
            // every requester at once.
            batch.clear();
            continue;
        }
        connection.callback_enqueued = false;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .jobs
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let settling = run_batch(&mut connection, &mut batch, counters);
        if let Err(std::sync::mpsc::SendError(settling)) = settle.send(settling) {
            // The sync thread is gone (it only stops with the writer): nothing is answered
            // as written, so every requester learns that its write may not have happened.
            drop(settling);
            tracing::error!("the SQLite sync thread has stopped");
        }
    }
    tracing::debug!("SQLite writer stopped: every store handle is gone");
}

/// A batch the writer has committed (or failed to), waiting for the sync that makes it
/// durable before its jobs are answered.
struct Settling {
    completions: Vec<Completion>,
    commit: Result<(), String>,
    callback_enqueued: bool,
}

/// Runs a batch in one transaction and commits it (without syncing).
fn run_batch(
    connection: &mut SqliteConn,
    batch: &mut Vec<WriteJob>,
    counters: &WriterCounters,
) -> Settling {
    let started = std::time::Instant::now();
    if let Err(error) = connection.run_control("BEGIN IMMEDIATE") {
        // Nothing ran. Dropping the jobs drops their answer channels, so every requester
        // learns at once that its write did not happen.
        tracing::error!(%error, "SQLite writer could not begin a transaction");
        batch.clear();
        return Settling {
            completions: Vec::new(),
            commit: Err(error.to_string()),
            callback_enqueued: false,
        };
    }
    let mut completions = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if let Err(error) = connection.run_control("SAVEPOINT job") {
            // The job never runs; dropping it tells its requester so.
            tracing::error!(%error, "SQLite writer could not open a savepoint");
            drop(job);
            continue;
        }
        // A panicking job (a bug) must not take the writer, and every later write, down with
        // it: its savepoint is rolled back and its requester sees its answer channel close.
        let completion =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(connection))) {
                Ok(completion) => completion,
                Err(_) => {
                    tracing::error!("a storage job panicked; its changes are rolled back");
                    Completion {
                        succeeded: false,
                        answer: Box::new(|_| {}),
                    }
                }
            };
        let closed = if completion.succeeded {
            connection.run_control("RELEASE job")
        } else {
            connection
                .run_control("ROLLBACK TO job")
                .and_then(|()| connection.run_control("RELEASE job"))
        };
        if let Err(error) = closed {
            tracing::error!(%error, "SQLite writer could not close a savepoint");
        }
        completions.push(completion);
    }
    let committing = std::time::Instant::now();
    let commit = connection.run_control("COMMIT");
    if commit.is_err() {
        let _ = connection.run_control("ROLLBACK");
    }
    counters
        .busy_nanos
        .fetch_add(nanos(committing.duration_since(started)), Ordering::Relaxed);
    counters
        .commit_nanos
        .fetch_add(nanos(committing.elapsed()), Ordering::Relaxed);
    Settling {
        completions,
        commit: commit.map_err(|error| error.to_string()),
        callback_enqueued: connection.callback_enqueued,
    }
}

/// The WAL file beside the database (`<path>-wal`).
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Makes committed batches durable and answers their jobs: takes every batch committed so
/// far, syncs the WAL once (`fdatasync` on a descriptor of its own: on Linux it flushes the
/// file whichever descriptor wrote it), then answers them. Every batch it takes was committed
/// before the sync began, so the sync covers it. If the sync fails, nothing of those batches
/// is acknowledged and the writer stops writing (as PostgreSQL stops on a failed fsync): the
/// data may or may not be on disk, and going on would acknowledge writes after a hole.
fn sync_loop(
    wal_path: &Path,
    settled: &std::sync::mpsc::Receiver<Settling>,
    callbacks_committed: &Notify,
    counters: &WriterCounters,
    failed: &AtomicBool,
) {
    let mut wal: Option<(std::fs::File, u64)> = None;
    while let Ok(first) = settled.recv() {
        let mut batches = vec![first];
        while let Ok(more) = settled.try_recv() {
            batches.push(more);
        }
        let syncing = std::time::Instant::now();
        let synced = if batches.iter().any(|batch| batch.commit.is_ok()) {
            sync_wal(wal_path, &mut wal)
        } else {
            Ok(())
        };
        counters.syncs.fetch_add(1, Ordering::Relaxed);
        counters
            .sync_nanos
            .fetch_add(nanos(syncing.elapsed()), Ordering::Relaxed);
        if let Err(error) = &synced {
            tracing::error!(%error, "the SQLite WAL could not be synced; no more writes are accepted");
            failed.store(true, Ordering::Release);
        }
        let mut wake = false;
        for batch in batches {
            wake |= batch.commit.is_ok() && batch.callback_enqueued;
            let outcome = match (&batch.commit, &synced) {
                (Ok(()), Ok(())) => Ok(()),
                (Err(error), _) => Err(format!("commit failed: {error}")),
                (Ok(()), Err(error)) => {
                    Err(format!("the write-ahead log could not be synced: {error}"))
                }
            };
            for completion in batch.completions {
                (completion.answer)(outcome.clone().map_err(StoreError::Unavailable));
            }
        }
        if wake && synced.is_ok() {
            callbacks_committed.notify_one();
        }
    }
}

/// `fdatasync` of the WAL, reopening it if it is not the file the descriptor names any more.
/// No WAL yet means nothing was written to sync.
fn sync_wal(path: &Path, wal: &mut Option<(std::fs::File, u64)>) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let inode = match std::fs::metadata(path) {
        Ok(metadata) => metadata.ino(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if wal.as_ref().is_none_or(|(_, open)| *open != inode) {
        *wal = Some((std::fs::File::open(path)?, inode));
    }
    match wal {
        Some((file, _)) => file.sync_data(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{rewrite_placeholders, unique_key};
    use crate::error::UniqueKey;

    #[test]
    fn dollar_placeholders_become_numbered_question_marks() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("", ""),
            ("a = $1 AND b = $12", "a = ?1 AND b = ?12"),
            ("$1$2", "?1?2"),
            ("cost $ 5 and $x and end $", "cost $ 5 and $x and end $"),
            ("é = $3, ü = $$4", "é = ?3, ü = $?4"),
        ];
        for (sql, expected) in cases {
            assert_eq!(rewrite_placeholders(sql), expected, "{sql}");
        }
    }

    #[test]
    fn unique_violations_name_their_key() {
        let cases = [
            (
                "UNIQUE constraint failed: payments.merchant_id, payments.reference_id",
                UniqueKey::PaymentReference,
            ),
            (
                "UNIQUE constraint failed: p2p_clients.client_key_digest",
                UniqueKey::P2pClientKey,
            ),
            (
                "UNIQUE constraint failed: refund_requests.payment_id",
                UniqueKey::OpenRefundRequest,
            ),
            (
                "UNIQUE constraint failed: payments.reference_id, payments.merchant_id",
                UniqueKey::Other("payments(reference_id, merchant_id)".to_owned()),
            ),
            (
                "UNIQUE constraint failed: index 'by_expression'",
                UniqueKey::Other("index 'by_expression'".to_owned()),
            ),
        ];
        for (message, key) in cases {
            assert_eq!(unique_key(Some(message)), key, "{message}");
        }
        assert_eq!(unique_key(None), UniqueKey::Other(String::new()));
    }
}
