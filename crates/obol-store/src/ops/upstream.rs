//! Payments sent to a live route's provider (SPEC §4 "Live routes"): when the reconciliation
//! worker asks about each next, and the refunds made there.

use obol_core::ids::PaymentId;
use obol_core::payment::Payment;
use obol_core::time::Timestamp;

use super::payments::{payment_from_row, select_list};
use super::{opt_timestamp, parse_or_corrupt, timestamp};
use crate::db::{Db, query_opt};
use crate::error::StoreResult;
use crate::params;
use crate::value::{Row, Value};

/// The payment a route's provider knows as `upstream_id`.
pub async fn payment_by_upstream_id(
    db: &mut dyn Db,
    route: &str,
    upstream_id: &str,
) -> StoreResult<Option<Payment>> {
    let sql = format!(
        "SELECT {} FROM payments WHERE route = $1 AND upstream_id = $2",
        select_list()
    );
    query_opt(db, &sql, params![route, upstream_id])
        .await?
        .map(|row| payment_from_row(&row))
        .transpose()
}

/// Asks about `payment` again at `due_at` (replacing any look already planned), counting
/// `checks` looks made so far.
pub async fn schedule_check(
    db: &mut dyn Db,
    payment: &PaymentId,
    due_at: Timestamp,
    checks: i64,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO upstream_checks (payment_id, due_at, checks) VALUES ($1, $2, $3) \
         ON CONFLICT (payment_id) DO UPDATE SET due_at = excluded.due_at, checks = excluded.checks",
        params![payment.as_str(), due_at.unix_micros(), checks],
    )
    .await?;
    Ok(())
}

/// No more looks at `payment`: it is settled.
pub async fn finish_check(db: &mut dyn Db, payment: &PaymentId) -> StoreResult<()> {
    db.execute(
        "DELETE FROM upstream_checks WHERE payment_id = $1",
        params![payment.as_str()],
    )
    .await?;
    Ok(())
}

/// A planned look at a payment pending at its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCheck {
    pub payment_id: PaymentId,
    pub due_at: Timestamp,
    pub checks: i64,
}

/// Looks due by `now`, the oldest first.
pub async fn due_checks(db: &mut dyn Db, now: Timestamp, limit: i64) -> StoreResult<Vec<DueCheck>> {
    db.query(
        "SELECT payment_id, due_at, checks FROM upstream_checks WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
        params![now.unix_micros(), limit],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(DueCheck {
            payment_id: parse_or_corrupt(PaymentId::parse(row.str("payment_id")?), "check payment")?,
            due_at: timestamp(row.int("due_at")?),
            checks: row.int("checks")?,
        })
    })
    .collect()
}

/// Takes a due look for this node by moving it to `lease_until`; `false` when another node
/// took (or changed) it first.
pub async fn claim_check(
    db: &mut dyn Db,
    check: &DueCheck,
    lease_until: Timestamp,
) -> StoreResult<bool> {
    let changed = db
        .execute(
            "UPDATE upstream_checks SET due_at = $1 WHERE payment_id = $2 AND due_at = $3",
            params![
                lease_until.unix_micros(),
                check.payment_id.as_str(),
                check.due_at.unix_micros()
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Where a refund at a provider stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamRefundState {
    /// Recorded, not yet answered by the provider (or its answer was lost): sent again, with
    /// the same key, until it answers.
    Requested,
    /// The provider accepted it and has not finished.
    Pending,
    Succeeded,
    /// The provider refused or cancelled it: no money moved.
    Canceled,
}

impl UpstreamRefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamRefundState::Requested => "requested",
            UpstreamRefundState::Pending => "pending",
            UpstreamRefundState::Succeeded => "succeeded",
            UpstreamRefundState::Canceled => "canceled",
        }
    }

    fn parse(text: &str) -> Option<UpstreamRefundState> {
        [
            UpstreamRefundState::Requested,
            UpstreamRefundState::Pending,
            UpstreamRefundState::Succeeded,
            UpstreamRefundState::Canceled,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// Money that may still leave: counted against what is left to refund.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            UpstreamRefundState::Requested | UpstreamRefundState::Pending
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRefund {
    pub idempotence_key: String,
    pub payment_id: PaymentId,
    pub route: String,
    /// In the payment's currency's minor units.
    pub amount_minor: i64,
    pub state: UpstreamRefundState,
    pub upstream_id: Option<String>,
    /// Who asked for it (an actor's stored form: `merchant:5`, `operator`).
    pub requested_by: String,
    pub booked: bool,
    pub tries: i64,
    pub next_try_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

const REFUND_COLUMNS: &str = "idempotence_key, payment_id, route, amount, status, upstream_id, requested_by, booked, tries, next_try_at, created_at";

fn refund_from_row(row: &Row) -> StoreResult<UpstreamRefund> {
    Ok(UpstreamRefund {
        idempotence_key: row.text("idempotence_key")?,
        payment_id: parse_or_corrupt(
            PaymentId::parse(row.str("payment_id")?),
            "upstream refund payment",
        )?,
        route: row.text("route")?,
        amount_minor: row.int("amount")?,
        state: UpstreamRefundState::parse(row.str("status")?)
            .ok_or_else(|| super::corrupt("upstream refund status"))?,
        upstream_id: row.opt_text("upstream_id")?,
        requested_by: row.text("requested_by")?,
        booked: row.bool("booked")?,
        tries: row.int("tries")?,
        next_try_at: opt_timestamp(row.opt_int("next_try_at")?),
        created_at: timestamp(row.int("created_at")?),
    })
}

/// Records a refund about to be sent to the provider, due for a retry at `retry_at` should
/// this try's answer be lost.
pub async fn insert_refund(
    db: &mut dyn Db,
    refund: &UpstreamRefund,
    retry_at: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO upstream_refunds (idempotence_key, payment_id, route, amount, status, upstream_id, requested_by, booked, tries, next_try_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, 1, $8, $9, $9)",
        params![
            refund.idempotence_key.as_str(),
            refund.payment_id.as_str(),
            refund.route.as_str(),
            refund.amount_minor,
            refund.state.as_str(),
            Value::from(refund.upstream_id.clone()),
            refund.requested_by.as_str(),
            retry_at.unix_micros(),
            refund.created_at.unix_micros()
        ],
    )
    .await?;
    Ok(())
}

/// The refunds of a payment, oldest first.
pub async fn refunds_of_payment(
    db: &mut dyn Db,
    payment: &PaymentId,
) -> StoreResult<Vec<UpstreamRefund>> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM upstream_refunds WHERE payment_id = $1 ORDER BY created_at, idempotence_key"
    );
    db.query(&sql, params![payment.as_str()])
        .await?
        .iter()
        .map(refund_from_row)
        .collect()
}

pub async fn refund_by_key(db: &mut dyn Db, key: &str) -> StoreResult<Option<UpstreamRefund>> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM upstream_refunds WHERE idempotence_key = $1");
    query_opt(db, &sql, params![key])
        .await?
        .map(|row| refund_from_row(&row))
        .transpose()
}

pub async fn refund_by_upstream_id(
    db: &mut dyn Db,
    route: &str,
    upstream_id: &str,
) -> StoreResult<Option<UpstreamRefund>> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM upstream_refunds WHERE route = $1 AND upstream_id = $2"
    );
    query_opt(db, &sql, params![route, upstream_id])
        .await?
        .map(|row| refund_from_row(&row))
        .transpose()
}

/// Records what the provider said of a refund; `next_try_at`: when to send or read it again
/// (`None`: never, it is final).
pub async fn update_refund(
    db: &mut dyn Db,
    key: &str,
    state: UpstreamRefundState,
    upstream_id: Option<&str>,
    next_try_at: Option<Timestamp>,
    now: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "UPDATE upstream_refunds SET status = $1, upstream_id = COALESCE($2, upstream_id), next_try_at = $3, updated_at = $4 WHERE idempotence_key = $5",
        params![
            state.as_str(),
            Value::from(upstream_id.map(str::to_owned)),
            Value::from(next_try_at.map(Timestamp::unix_micros)),
            now.unix_micros(),
            key
        ],
    )
    .await?;
    Ok(())
}

/// Marks a refund booked; `false` when it already was (the caller then books nothing).
pub async fn mark_refund_booked(db: &mut dyn Db, key: &str, now: Timestamp) -> StoreResult<bool> {
    let changed = db
        .execute(
            "UPDATE upstream_refunds SET booked = TRUE, updated_at = $1 WHERE idempotence_key = $2 AND booked = FALSE",
            params![now.unix_micros(), key],
        )
        .await?;
    Ok(changed == 1)
}

/// Takes a refund due for another try by moving its next try to `lease_until` and counting
/// the try; `false` when another node took it first.
pub async fn claim_refund(
    db: &mut dyn Db,
    refund: &UpstreamRefund,
    lease_until: Timestamp,
) -> StoreResult<bool> {
    let Some(due) = refund.next_try_at else {
        return Ok(false);
    };
    let changed = db
        .execute(
            "UPDATE upstream_refunds SET next_try_at = $1, tries = tries + 1 WHERE idempotence_key = $2 AND next_try_at = $3",
            params![
                lease_until.unix_micros(),
                refund.idempotence_key.as_str(),
                due.unix_micros()
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Refunds due for another try (sent again, or read again) by `now`.
pub async fn due_refunds(
    db: &mut dyn Db,
    now: Timestamp,
    limit: i64,
) -> StoreResult<Vec<UpstreamRefund>> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM upstream_refunds WHERE next_try_at <= $1 ORDER BY next_try_at LIMIT $2"
    );
    db.query(&sql, params![now.unix_micros(), limit])
        .await?
        .iter()
        .map(refund_from_row)
        .collect()
}
