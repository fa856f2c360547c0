//! Durable lifecycle jobs: a row per (kind, subject) with a due time. Claiming takes a lease;
//! on PostgreSQL the claim also skips rows another node is claiming (`FOR UPDATE SKIP
//! LOCKED`), on SQLite the single writer serialises claims. A node that dies holding a lease
//! loses it when the lease ends, and another node takes the job: at least once, never lost.

use obol_core::time::Timestamp;

use super::{opt_timestamp, timestamp};
use crate::db::{Backend, Db, query_opt};
use crate::error::StoreResult;
use crate::params;

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub due_at: Timestamp,
    pub attempts: i64,
}

/// Schedules (or reschedules) the job `kind` for `subject` at `due_at`.
pub async fn schedule(
    db: &mut dyn Db,
    kind: &str,
    subject: &str,
    due_at: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO jobs (kind, subject, due_at, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (kind, subject) DO UPDATE SET due_at = excluded.due_at, done_at = NULL, lease_owner = NULL, lease_until = NULL",
        params![kind, subject, due_at.unix_micros(), now.unix_micros()],
    )
    .await?;
    Ok(())
}

/// Marks a job as no longer needed (its subject reached a final state another way).
pub async fn cancel(db: &mut dyn Db, kind: &str, subject: &str, now: Timestamp) -> StoreResult<()> {
    db.execute(
        "UPDATE jobs SET done_at = $1 WHERE kind = $2 AND subject = $3 AND done_at IS NULL",
        params![now.unix_micros(), kind, subject],
    )
    .await?;
    Ok(())
}

/// Claims up to `limit` due jobs for `owner` until `now + lease_seconds`.
pub async fn claim_due(
    db: &mut dyn Db,
    owner: &str,
    now: Timestamp,
    lease_seconds: i64,
    limit: i64,
) -> StoreResult<Vec<Job>> {
    let skip_locked = if db.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 WHERE id IN (\
         SELECT id FROM jobs WHERE done_at IS NULL AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
         ORDER BY due_at LIMIT $4{skip_locked}) RETURNING id, kind, subject, due_at, attempts"
    );
    let rows = db
        .query(
            &sql,
            params![
                owner,
                now.plus_seconds(lease_seconds).unix_micros(),
                now.unix_micros(),
                limit
            ],
        )
        .await?;
    let mut jobs = rows
        .iter()
        .map(|row| {
            Ok(Job {
                id: row.int("id")?,
                kind: row.text("kind")?,
                subject: row.text("subject")?,
                due_at: timestamp(row.int("due_at")?),
                attempts: row.int("attempts")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    jobs.sort_by_key(|job| (job.due_at, job.id));
    Ok(jobs)
}

/// Finishes a claimed job, if `owner` still holds it.
pub async fn complete(db: &mut dyn Db, id: i64, owner: &str, now: Timestamp) -> StoreResult<bool> {
    let changed = db
        .execute(
            "UPDATE jobs SET done_at = $1, lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id = $2 AND lease_owner = $3 AND done_at IS NULL",
            params![now.unix_micros(), id, owner],
        )
        .await?;
    Ok(changed == 1)
}

/// Gives a claimed job back to run again at `retry_at`, recording why it failed.
pub async fn retry_later(
    db: &mut dyn Db,
    id: i64,
    owner: &str,
    error: &str,
    retry_at: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "UPDATE jobs SET due_at = $1, lease_owner = NULL, lease_until = NULL, last_error = $2 WHERE id = $3 AND lease_owner = $4",
        params![retry_at.unix_micros(), error, id, owner],
    )
    .await?;
    Ok(())
}

/// Releases every lease `owner` holds (graceful shutdown), so other nodes need not wait.
pub async fn release_leases(db: &mut dyn Db, owner: &str) -> StoreResult<u64> {
    db.execute("UPDATE jobs SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 WHERE lease_owner = $1 AND done_at IS NULL", params![owner]).await
}

/// When the next pending job can be claimed: its due time, or the end of the lease another
/// node holds on it (so a worker does not spin on a job it cannot take).
pub async fn next_due_at(db: &mut dyn Db, now: Timestamp) -> StoreResult<Option<Timestamp>> {
    let row = query_opt(
        db,
        "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= $1 THEN lease_until + 1 ELSE due_at END) AS next_due_at \
         FROM jobs WHERE done_at IS NULL",
        params![now.unix_micros()],
    )
    .await?;
    Ok(match row {
        Some(row) => opt_timestamp(row.opt_int("next_due_at")?),
        None => None,
    })
}

/// Forgets jobs finished before `before` (at most `limit`); returns how many.
pub async fn purge_done(db: &mut dyn Db, before: Timestamp, limit: i64) -> StoreResult<u64> {
    db.execute(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE done_at IS NOT NULL AND done_at < $1 LIMIT $2)",
        params![before.unix_micros(), limit],
    )
    .await
}

/// Jobs not yet done (for metrics and tests).
pub async fn pending_count(db: &mut dyn Db) -> StoreResult<i64> {
    let row = query_opt(
        db,
        "SELECT CAST(COUNT(*) AS BIGINT) AS count FROM jobs WHERE done_at IS NULL",
        &[],
    )
    .await?;
    row.map_or(Ok(0), |row| row.int("count"))
}
