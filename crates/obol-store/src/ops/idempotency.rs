//! Idempotency keys inside the transaction of the operation they protect.
//!
//! `claim` inserts the key first (`ON CONFLICT DO NOTHING`): a concurrent request with the
//! same key waits on the row until the first transaction ends, then reads what it saved.
//! The operation and `save_response` follow in the same transaction, so a key is never kept
//! without its effect, and a failed operation leaves no key behind.

use obol_core::idempotency::{
    IdempotencyKey, IdempotencyRecord, IdempotencyScope, NextAction, RequestFingerprint,
    SavedResponse, decide, expiry_of_new_key,
};
use obol_core::time::Timestamp;

use super::{corrupt, timestamp};
use crate::db::{Backend, Db, query_opt};
use crate::error::StoreResult;
use crate::params;
use crate::value::Row;

/// The columns [`record_from_row`] reads.
const RECORD_COLUMNS: &str =
    "fingerprint, response_status, response_content_type, response_body, expires_at";

fn record_from_row(row: &Row) -> StoreResult<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        fingerprint: RequestFingerprint::try_from_slice(&row.blob("fingerprint")?)
            .ok_or_else(|| corrupt("fingerprint"))?,
        response: match row.opt_int("response_status")? {
            Some(status) => Some(SavedResponse {
                status: u16::try_from(status).map_err(|_| corrupt("saved status"))?,
                content_type: row.opt_text("response_content_type")?.unwrap_or_default(),
                body: row.opt_blob("response_body")?.unwrap_or_default(),
            }),
            None => None,
        },
        expires_at: timestamp(row.int("expires_at")?),
    })
}

pub async fn claim(
    db: &mut dyn Db,
    scope: &IdempotencyScope,
    key: &IdempotencyKey,
    fingerprint: RequestFingerprint,
    now: Timestamp,
) -> StoreResult<NextAction> {
    let expires_at = expiry_of_new_key(now).unix_micros();
    let inserted = db
        .execute(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, key) DO NOTHING",
            params![scope.as_str(), key.as_str(), fingerprint.as_bytes().to_vec(), now.unix_micros(), expires_at],
        )
        .await?;
    if inserted == 1 {
        return Ok(NextAction::Start);
    }
    let lock = if db.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE scope = $1 AND key = $2{lock}"
    );
    let row = query_opt(db, &sql, params![scope.as_str(), key.as_str()])
        .await?
        .ok_or_else(|| corrupt("idempotency key vanished"))?;
    let record = record_from_row(&row)?;
    let action = decide(Some(&record), fingerprint, now)?;
    if action == NextAction::Start {
        // The old record expired: the key starts a new life with this request.
        db.execute(
            "UPDATE idempotency_keys SET fingerprint = $1, response_status = NULL, response_content_type = NULL, response_body = NULL, created_at = $2, \
             expires_at = $3 WHERE scope = $4 AND key = $5",
            params![fingerprint.as_bytes().to_vec(), now.unix_micros(), expires_at, scope.as_str(), key.as_str()],
        )
        .await?;
    }
    Ok(action)
}

/// What a key already holds, without claiming it: the saved answer (`Ok(Some)`), nothing yet
/// or an expired key (`Ok(None)`), or the core's refusal when the key belongs to another
/// request or is still in flight. For operations whose work happens outside the database
/// (an upstream call) before [`claim`] and [`save_response`] record it.
pub async fn peek(
    db: &mut dyn Db,
    scope: &IdempotencyScope,
    key: &IdempotencyKey,
    fingerprint: RequestFingerprint,
    now: Timestamp,
) -> StoreResult<Option<SavedResponse>> {
    let sql =
        format!("SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE scope = $1 AND key = $2");
    let row = query_opt(db, &sql, params![scope.as_str(), key.as_str()]).await?;
    let Some(row) = row else { return Ok(None) };
    let record = record_from_row(&row)?;
    match decide(Some(&record), fingerprint, now)? {
        NextAction::ReturnSaved(saved) => Ok(Some(saved)),
        NextAction::Start => Ok(None),
    }
}

pub async fn save_response(
    db: &mut dyn Db,
    scope: &IdempotencyScope,
    key: &IdempotencyKey,
    response: &SavedResponse,
) -> StoreResult<()> {
    db.execute(
        "UPDATE idempotency_keys SET response_status = $1, response_content_type = $2, response_body = $3 WHERE scope = $4 AND key = $5",
        params![i64::from(response.status), response.content_type.as_str(), response.body.clone(), scope.as_str(), key.as_str()],
    )
    .await?;
    Ok(())
}

/// Forgets keys past their expiry; returns how many.
pub async fn purge_expired(db: &mut dyn Db, now: Timestamp, limit: i64) -> StoreResult<u64> {
    db.execute(
        "DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)",
        params![now.unix_micros(), limit],
    )
    .await
}
