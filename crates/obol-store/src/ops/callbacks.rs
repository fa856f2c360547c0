//! The callbacks outbox. A callback is written in the transaction of the change it reports
//! (so there is no change without its callback and no callback without its change), claimed
//! by delivery workers with leases (and `SKIP LOCKED` on PostgreSQL), and delivered in order:
//! a payment's later callback is not claimed while an earlier one is still pending.

use obol_core::ids::{MerchantId, P2pClientId, PaymentId, Uuid};
use obol_core::mode::Mode;
use obol_core::time::Timestamp;

use super::{opt_timestamp, parse_or_corrupt, timestamp};
use crate::db::{Backend, Db, query_one, query_opt};
use crate::error::{Entity, StoreError, StoreResult};
use crate::params;
use crate::value::Row;

/// What a callback reports on: a payment, or a P2P transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Payment(PaymentId),
    Transfer(Uuid),
}

impl Subject {
    pub fn as_str(&self) -> &str {
        match self {
            Subject::Payment(id) => id.as_str(),
            Subject::Transfer(id) => id.as_str(),
        }
    }

    /// The column that holds this kind of subject.
    fn column(&self) -> &'static str {
        match self {
            Subject::Payment(_) => "payment_id",
            Subject::Transfer(_) => "transfer_id",
        }
    }
}

/// Who signs a callback: the merchant (its callback secret) or a P2P client (its signing key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Merchant(MerchantId),
    P2pClient(P2pClientId),
    None,
}

/// A callback to write.
#[derive(Debug, Clone)]
pub struct NewCallback {
    pub delivery_id: String,
    pub subject: Subject,
    pub signer: Signer,
    pub dialect: String,
    pub url: String,
    pub body: Vec<u8>,
    /// The payment's status in the dialect's words when the callback was made.
    pub transaction_status: String,
    /// The mode of the payment or transfer it reports (sent as `X-Obol-Mode`).
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackStatus {
    Pending,
    Delivered,
    /// Given up on; `last_error` says why.
    Failed,
}

impl CallbackStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackStatus::Pending => "pending",
            CallbackStatus::Delivered => "delivered",
            CallbackStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<CallbackStatus> {
        match text {
            "pending" => Some(CallbackStatus::Pending),
            "delivered" => Some(CallbackStatus::Delivered),
            "failed" => Some(CallbackStatus::Failed),
            _ => None,
        }
    }
}

/// A stored callback.
#[derive(Debug, Clone)]
pub struct Callback {
    pub id: i64,
    pub delivery_id: String,
    pub subject: Subject,
    pub signer: Signer,
    pub dialect: String,
    pub url: String,
    pub body: Vec<u8>,
    pub transaction_status: String,
    pub mode: Mode,
    pub sequence: i64,
    pub status: CallbackStatus,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub last_response_code: Option<i64>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, delivery_id, payment_id, merchant_id, dialect, url, body, transaction_status, sequence, status, attempts, next_attempt_at, \
                       created_at, delivered_at, last_response_code, last_error, transfer_id, p2p_client_id, mode";

fn from_row(row: &Row) -> StoreResult<Callback> {
    Ok(Callback {
        id: row.int("id")?,
        delivery_id: row.text("delivery_id")?,
        subject: match (row.opt_text("payment_id")?, row.opt_text("transfer_id")?) {
            (Some(payment), None) => Subject::Payment(parse_or_corrupt(
                PaymentId::parse(&payment),
                "callback payment",
            )?),
            (None, Some(transfer)) => Subject::Transfer(parse_or_corrupt(
                Uuid::parse(&transfer),
                "callback transfer",
            )?),
            _ => return Err(super::corrupt("callback subject")),
        },
        signer: match (row.opt_int("merchant_id")?, row.opt_int("p2p_client_id")?) {
            (Some(merchant), _) => Signer::Merchant(MerchantId::new(merchant)),
            (None, Some(client)) => Signer::P2pClient(P2pClientId::new(client)),
            (None, None) => Signer::None,
        },
        dialect: row.text("dialect")?,
        url: row.text("url")?,
        body: row.blob("body")?,
        transaction_status: row.text("transaction_status")?,
        mode: Mode::parse(row.str("mode")?).ok_or_else(|| super::corrupt("callback mode"))?,
        sequence: row.int("sequence")?,
        status: CallbackStatus::parse(row.str("status")?)
            .ok_or_else(|| super::corrupt("callback status"))?,
        attempts: row.int("attempts")?,
        next_attempt_at: timestamp(row.int("next_attempt_at")?),
        created_at: timestamp(row.int("created_at")?),
        delivered_at: opt_timestamp(row.opt_int("delivered_at")?),
        last_response_code: row.opt_int("last_response_code")?,
        last_error: row.opt_text("last_error")?,
    })
}

/// Writes a callback, due now, after the payment's earlier ones.
pub async fn enqueue(
    db: &mut dyn Db,
    callback: NewCallback,
    now: Timestamp,
) -> StoreResult<Callback> {
    let column = callback.subject.column();
    let row = query_one(
        db,
        &format!(
            "SELECT COALESCE(MAX(sequence), 0) + 1 AS sequence FROM callbacks WHERE {column} = $1"
        ),
        params![callback.subject.as_str()],
        Entity::CallbackSequence,
    )
    .await?;
    let sequence = row.int("sequence")?;
    let sql = format!(
        "INSERT INTO callbacks (delivery_id, payment_id, transfer_id, merchant_id, p2p_client_id, dialect, url, body, transaction_status, sequence, \
         next_attempt_at, created_at, mode) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) RETURNING {COLUMNS}"
    );
    let (payment, transfer) = match &callback.subject {
        Subject::Payment(id) => (Some(id.as_str().to_owned()), None),
        Subject::Transfer(id) => (None, Some(id.as_str().to_owned())),
    };
    let (merchant, client) = match callback.signer {
        Signer::Merchant(id) => (Some(id.get()), None),
        Signer::P2pClient(id) => (None, Some(id.get())),
        Signer::None => (None, None),
    };
    let row = query_one(
        db,
        &sql,
        params![
            callback.delivery_id.as_str(),
            payment,
            transfer,
            merchant,
            client,
            callback.dialect.as_str(),
            callback.url.as_str(),
            callback.body,
            callback.transaction_status.as_str(),
            sequence,
            now.unix_micros(),
            callback.mode.as_str()
        ],
        Entity::Callback,
    )
    .await?;
    db.note_callback_enqueued();
    from_row(&row)
}

/// Claims up to `limit` due callbacks for `owner`, leased until `now + lease_seconds`. Only
/// the earliest pending callback of each payment can be due.
pub async fn claim_due(
    db: &mut dyn Db,
    owner: &str,
    now: Timestamp,
    lease_seconds: i64,
    limit: i64,
) -> StoreResult<Vec<Callback>> {
    let skip_locked = if db.backend() == Backend::Postgres {
        " FOR UPDATE OF c SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE callbacks SET lease_owner = $1, lease_until = $2 WHERE id IN (\
         SELECT c.id FROM callbacks c WHERE c.status = 'pending' AND c.next_attempt_at <= $3 AND (c.lease_until IS NULL OR c.lease_until < $3) \
         AND NOT EXISTS (SELECT 1 FROM callbacks earlier WHERE (earlier.payment_id = c.payment_id OR earlier.transfer_id = c.transfer_id) \
         AND earlier.sequence < c.sequence AND earlier.status = 'pending') \
         ORDER BY c.next_attempt_at, c.id LIMIT $4{skip_locked}) RETURNING {COLUMNS}"
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
    let mut callbacks = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
    callbacks.sort_by_key(|callback| (callback.next_attempt_at, callback.id));
    Ok(callbacks)
}

/// What one delivery attempt found.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub response_code: Option<u16>,
    pub delivered: bool,
    pub error: Option<String>,
}

/// What happens to a callback after an attempt that did not deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Timestamp),
    GiveUp(String),
}

/// Records an attempt and moves the callback on, if `owner` still holds its lease.
pub async fn record_attempt(
    db: &mut dyn Db,
    callback_id: i64,
    owner: &str,
    attempt: &AttemptRecord,
    after_failure: &AfterFailure,
) -> StoreResult<bool> {
    let code = attempt.response_code.map(i64::from);
    let changed = if attempt.delivered {
        db.execute(
            "UPDATE callbacks SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, last_response_code = $2, last_error = NULL, \
             lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4",
            params![attempt.finished_at.unix_micros(), code, callback_id, owner],
        )
        .await?
    } else {
        let error = attempt.error.clone().unwrap_or_default();
        match after_failure {
            AfterFailure::RetryAt(at) => {
                db.execute(
                    "UPDATE callbacks SET attempts = attempts + 1, next_attempt_at = $1, last_response_code = $2, last_error = $3, lease_owner = NULL, \
                     lease_until = NULL WHERE id = $4 AND lease_owner = $5",
                    params![at.unix_micros(), code, error, callback_id, owner],
                )
                .await?
            }
            AfterFailure::GiveUp(reason) => {
                db.execute(
                    "UPDATE callbacks SET status = 'failed', attempts = attempts + 1, last_response_code = $1, last_error = $2, lease_owner = NULL, \
                     lease_until = NULL WHERE id = $3 AND lease_owner = $4",
                    params![code, format!("{reason}: {error}"), callback_id, owner],
                )
                .await?
            }
        }
    };
    if changed == 1 {
        db.execute(
            "INSERT INTO callback_attempts (callback_id, started_at, finished_at, response_code, delivered, error) VALUES ($1, $2, $3, $4, $5, $6)",
            params![callback_id, attempt.started_at.unix_micros(), attempt.finished_at.unix_micros(), code, attempt.delivered, attempt.error.clone()],
        )
        .await?;
    }
    Ok(changed == 1)
}

/// A transfer's callbacks, oldest first.
pub async fn for_transfer(db: &mut dyn Db, transfer: &Uuid) -> StoreResult<Vec<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks WHERE transfer_id = $1 ORDER BY sequence");
    db.query(&sql, params![transfer.as_str()])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Every callback, oldest first.
pub async fn all(db: &mut dyn Db) -> StoreResult<Vec<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks ORDER BY sequence");
    db.query(&sql, &[]).await?.iter().map(from_row).collect()
}

/// A payment's callbacks, oldest first (for `callback_logs`).
pub async fn for_payment(db: &mut dyn Db, payment: &PaymentId) -> StoreResult<Vec<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks WHERE payment_id = $1 ORDER BY sequence");
    db.query(&sql, params![payment.as_str()])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn find_by_delivery_id(
    db: &mut dyn Db,
    delivery_id: &str,
) -> StoreResult<Option<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks WHERE delivery_id = $1");
    query_opt(db, &sql, params![delivery_id])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// Sends a callback again: pending, due now, same delivery id and body.
pub async fn replay(db: &mut dyn Db, delivery_id: &str, now: Timestamp) -> StoreResult<Callback> {
    let changed = db
        .execute(
            "UPDATE callbacks SET status = 'pending', next_attempt_at = $1, lease_owner = NULL, lease_until = NULL WHERE delivery_id = $2",
            params![now.unix_micros(), delivery_id],
        )
        .await?;
    if changed != 1 {
        return Err(StoreError::NotFound(Entity::Callback));
    }
    find_by_delivery_id(db, delivery_id)
        .await?
        .ok_or(StoreError::NotFound(Entity::Callback))
}

/// Gives back the leases `owner` holds (graceful shutdown).
pub async fn release_leases(db: &mut dyn Db, owner: &str) -> StoreResult<u64> {
    db.execute("UPDATE callbacks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND status = 'pending'", params![owner]).await
}

/// When the next pending callback can be claimed.
pub async fn next_due_at(db: &mut dyn Db, now: Timestamp) -> StoreResult<Option<Timestamp>> {
    let row = query_opt(
        db,
        "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= $1 THEN lease_until + 1 ELSE next_attempt_at END) AS next_due_at \
         FROM callbacks WHERE status = 'pending'",
        params![now.unix_micros()],
    )
    .await?;
    Ok(match row {
        Some(row) => opt_timestamp(row.opt_int("next_due_at")?),
        None => None,
    })
}

/// Callbacks by status (for metrics).
pub async fn counts(db: &mut dyn Db) -> StoreResult<Vec<(String, i64)>> {
    let rows = db
        .query(
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS count FROM callbacks GROUP BY status ORDER BY status",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.text("status")?, row.int("count")?)))
        .collect()
}
