//! What the dashboard's overview and P2P list read: payments counted per currency and mode
//! over a period, per day for the chart, and P2P transfers by page. Scoped to a reseller's
//! subtree by the encoded ancestry's prefix (`/1/5/` covers reseller 5 and everything below).

use obol_core::Currency;
use obol_core::time::Timestamp;

use super::{parse_or_corrupt, timestamp};
use crate::db::Db;
use crate::error::StoreResult;
use crate::params;

/// Payments of one currency and mode over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTotals {
    pub currency: Currency,
    pub test_mode: bool,
    pub count: i64,
    /// Paid (processed, partly or wholly refunded).
    pub paid: i64,
    pub failed: i64,
    /// What was processed, in minor units.
    pub volume_minor: i64,
    pub refunded_minor: i64,
    /// Payments with anything refunded.
    pub refunds: i64,
}

const PAID: &str = "('processed', 'partially_refunded', 'refunded')";

/// Totals of the payments created since `since` by resellers whose ancestry starts with
/// `subtree`.
pub async fn payment_totals(
    db: &mut dyn Db,
    subtree: &str,
    since: Timestamp,
) -> StoreResult<Vec<PaymentTotals>> {
    let sql = format!(
        "SELECT p.currency, p.test_mode, COUNT(*) AS total, \
         CAST(SUM(CASE WHEN p.status IN {PAID} THEN 1 ELSE 0 END) AS BIGINT) AS paid, \
         CAST(SUM(CASE WHEN p.status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
         CAST(SUM(CASE WHEN p.status IN {PAID} THEN p.processed_amount ELSE 0 END) AS BIGINT) AS volume, \
         CAST(SUM(p.refunded_amount) AS BIGINT) AS refunded, \
         CAST(SUM(CASE WHEN p.refunded_amount > 0 THEN 1 ELSE 0 END) AS BIGINT) AS refunds \
         FROM payments p JOIN resellers r ON r.id = p.reseller_id \
         WHERE r.ancestry LIKE $1 AND p.created_at >= $2 \
         GROUP BY p.currency, p.test_mode ORDER BY p.test_mode, p.currency"
    );
    db.query(&sql, params![format!("{subtree}%"), since.unix_micros()])
        .await?
        .iter()
        .map(|row| {
            Ok(PaymentTotals {
                currency: parse_or_corrupt(Currency::parse(row.str("currency")?), "currency")?,
                test_mode: row.bool("test_mode")?,
                count: row.int("total")?,
                paid: row.int("paid")?,
                failed: row.int("failed")?,
                volume_minor: row.int("volume")?,
                refunded_minor: row.int("refunded")?,
                refunds: row.int("refunds")?,
            })
        })
        .collect()
}

/// One day of the chart: payments created that day (UTC) and how many were paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyCount {
    /// Days since the Unix epoch.
    pub day: i64,
    pub count: i64,
    pub paid: i64,
}

const DAY_MICROS: i64 = 86_400_000_000;

/// Payments per day since `since`, in the subtree; days without payments are left out.
pub async fn daily_counts(
    db: &mut dyn Db,
    subtree: &str,
    since: Timestamp,
) -> StoreResult<Vec<DailyCount>> {
    let sql = format!(
        "SELECT p.created_at / {DAY_MICROS} AS day, COUNT(*) AS total, \
         CAST(SUM(CASE WHEN p.status IN {PAID} THEN 1 ELSE 0 END) AS BIGINT) AS paid \
         FROM payments p JOIN resellers r ON r.id = p.reseller_id \
         WHERE r.ancestry LIKE $1 AND p.created_at >= $2 \
         GROUP BY p.created_at / {DAY_MICROS} ORDER BY day"
    );
    db.query(&sql, params![format!("{subtree}%"), since.unix_micros()])
        .await?
        .iter()
        .map(|row| {
            Ok(DailyCount {
                day: row.int("day")?,
                count: row.int("total")?,
                paid: row.int("paid")?,
            })
        })
        .collect()
}

/// A P2P transfer as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    pub id: String,
    pub client_id: i64,
    pub client_name: String,
    pub kind: String,
    pub status: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub commission_minor: i64,
    pub card_from: String,
    pub card_to: Option<String>,
    pub created_at: Timestamp,
}

/// P2P transfers, newest first, `limit` after the keyset cursor `(created_at, id)` when given;
/// optionally of one status.
pub async fn transfers_page(
    db: &mut dyn Db,
    status: Option<&str>,
    before: Option<(Timestamp, String)>,
    limit: i64,
) -> StoreResult<Vec<TransferRow>> {
    let (at, id) = match &before {
        Some((at, id)) => (at.unix_micros(), id.clone()),
        None => (i64::MAX, String::new()),
    };
    let sql = "SELECT t.id, t.client_id, c.name AS client_name, t.kind, t.status, t.currency, t.amount, t.commission, \
               t.card_from_masked, t.card_to_masked, t.created_at \
               FROM p2p_transfers t JOIN p2p_clients c ON c.id = t.client_id \
               WHERE ($1 = '' OR t.status = $1) AND (t.created_at < $2 OR (t.created_at = $2 AND ($3 = '' OR t.id < $3))) \
               ORDER BY t.created_at DESC, t.id DESC LIMIT $4";
    db.query(
        sql,
        params![status.unwrap_or_default(), at, id.as_str(), limit],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(TransferRow {
            id: row.text("id")?,
            client_id: row.int("client_id")?,
            client_name: row.text("client_name")?,
            kind: row.text("kind")?,
            status: row.text("status")?,
            currency: parse_or_corrupt(Currency::parse(row.str("currency")?), "currency")?,
            amount_minor: row.int("amount")?,
            commission_minor: row.int("commission")?,
            card_from: row.text("card_from_masked")?,
            card_to: row.opt_text("card_to_masked")?,
            created_at: timestamp(row.int("created_at")?),
        })
    })
    .collect()
}
