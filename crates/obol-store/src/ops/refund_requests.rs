//! Softline's refund requests: asked for by the merchant, carried out (or rejected) by a
//! manager. One open request per payment at a time.

use obol_core::ids::PaymentId;
use obol_core::time::Timestamp;

use super::{opt_timestamp, parse_or_corrupt, timestamp};
use crate::db::{Db, query_one, query_opt};
use crate::error::{Entity, StoreError, StoreResult, UniqueKey};
use crate::params;
use crate::value::Row;

/// Where a refund request stands; only an open one is carried out or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundRequestStatus {
    Open,
    Done,
    Rejected,
}

impl RefundRequestStatus {
    /// The stored (and printed) word.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundRequestStatus::Open => "open",
            RefundRequestStatus::Done => "done",
            RefundRequestStatus::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Option<RefundRequestStatus> {
        [
            RefundRequestStatus::Open,
            RefundRequestStatus::Done,
            RefundRequestStatus::Rejected,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub id: i64,
    pub payment_id: PaymentId,
    pub description: Option<String>,
    pub email: Option<String>,
    pub status: RefundRequestStatus,
    pub created_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, payment_id, description, email, status, created_at, closed_at";

fn from_row(row: &Row) -> StoreResult<RefundRequest> {
    Ok(RefundRequest {
        id: row.int("id")?,
        payment_id: parse_or_corrupt(
            PaymentId::parse(row.str("payment_id")?),
            "refund request payment",
        )?,
        description: row.opt_text("description")?,
        email: row.opt_text("email")?,
        status: parse_or_corrupt(
            RefundRequestStatus::parse(row.str("status")?).ok_or(()),
            "refund request status",
        )?,
        created_at: timestamp(row.int("created_at")?),
        closed_at: opt_timestamp(row.opt_int("closed_at")?),
    })
}

/// Opens a request; `Conflict` when one is already open for the payment.
pub async fn open(
    db: &mut dyn Db,
    payment: &PaymentId,
    description: Option<String>,
    email: Option<String>,
    now: Timestamp,
) -> StoreResult<RefundRequest> {
    if query_opt(
        db,
        "SELECT id FROM refund_requests WHERE payment_id = $1 AND status = 'open'",
        params![payment.as_str()],
    )
    .await?
    .is_some()
    {
        return Err(StoreError::Conflict);
    }
    let sql = format!(
        "INSERT INTO refund_requests (payment_id, description, email, created_at) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    );
    // The partial unique index decides between two requests opened at once.
    let row = query_one(
        db,
        &sql,
        params![payment.as_str(), description, email, now.unix_micros()],
        Entity::RefundRequest,
    )
    .await
    .map_err(|error| {
        if matches!(error, StoreError::Unique(UniqueKey::OpenRefundRequest)) {
            StoreError::Conflict
        } else {
            error
        }
    })?;
    from_row(&row)
}

pub async fn list_open(db: &mut dyn Db) -> StoreResult<Vec<RefundRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM refund_requests WHERE status = 'open' ORDER BY id");
    db.query(&sql, &[]).await?.iter().map(from_row).collect()
}

pub async fn get(db: &mut dyn Db, id: i64) -> StoreResult<RefundRequest> {
    let sql = format!("SELECT {COLUMNS} FROM refund_requests WHERE id = $1");
    from_row(&query_one(db, &sql, params![id], Entity::RefundRequest).await?)
}

/// Closes an open request as done or rejected; `false` when it was not open.
pub async fn close(
    db: &mut dyn Db,
    id: i64,
    status: RefundRequestStatus,
    now: Timestamp,
) -> StoreResult<bool> {
    let changed = db
        .execute("UPDATE refund_requests SET status = $1, closed_at = $2 WHERE id = $3 AND status = 'open'", params![status.as_str(), now.unix_micros(), id])
        .await?;
    Ok(changed == 1)
}
