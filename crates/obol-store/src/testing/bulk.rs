//! Test support for benchmarks: payments written straight into the table, many rows per
//! statement, so that a database of a million payments is filled in a minute rather than an
//! hour. Not for the product: the rows skip everything a payment's creation does (no history,
//! no ledger, no service), and nothing in the server or the binary calls these.

use obol_core::Currency;
use obol_core::ids::PaymentId;
use obol_core::payment::{PaymentStatus, Source};
use obol_core::time::Timestamp;

use crate::db::{Backend, Db};
use crate::error::StoreResult;
use crate::ops::search::{Cursor, LIMIT_MAX, PaymentFilter, page_query};
use crate::value::Value;

/// A payment as [`insert_payments`] writes it. `number` also serves as its document and order
/// numbers, so it must be unique.
#[derive(Debug, Clone)]
pub struct BulkPayment {
    pub id: PaymentId,
    pub number: i64,
    pub reseller_id: i64,
    pub merchant_id: Option<i64>,
    pub reference_id: Option<String>,
    pub currency: Currency,
    pub amount: i64,
    pub status: PaymentStatus,
    pub card_last4: Option<String>,
    pub source: Source,
    pub test_mode: bool,
    pub created_at: Timestamp,
}

/// Rows per statement: 15 parameters a row stays under both databases' limits.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Writes `payments` with multi-row INSERTs (call it inside one write, with a few tens of
/// thousands of rows at a time).
pub async fn insert_payments(db: &mut dyn Db, payments: &[BulkPayment]) -> StoreResult<()> {
    for chunk in payments.chunks(ROWS_PER_STATEMENT) {
        let mut values = Vec::with_capacity(chunk.len() * 15);
        let mut rows = Vec::with_capacity(chunk.len());
        for payment in chunk {
            let base = values.len();
            let (processed, refunded, resolution) = match payment.status {
                PaymentStatus::Processed => (payment.amount, 0, "ok"),
                PaymentStatus::PartiallyRefunded => (payment.amount, payment.amount / 2, "ok"),
                PaymentStatus::Refunded => (payment.amount, payment.amount, "ok"),
                PaymentStatus::Failed => (0, 0, "declined"),
                PaymentStatus::Expired => (0, 0, "expired"),
                _ => (0, 0, "ok"),
            };
            values.extend([
                Value::from(payment.id.as_str()),
                Value::Int(payment.number),
                Value::Int(payment.reseller_id),
                payment.merchant_id.map_or(Value::Null, Value::Int),
                payment
                    .reference_id
                    .as_deref()
                    .map_or(Value::Null, Value::from),
                Value::from(payment.currency.code()),
                Value::Int(payment.amount),
                Value::from(payment.status.as_str()),
                Value::from(resolution),
                Value::Int(processed),
                Value::Int(refunded),
                payment
                    .card_last4
                    .as_deref()
                    .map_or(Value::Null, Value::from),
                Value::from(payment.source.as_str()),
                Value::Bool(payment.test_mode),
                Value::Int(payment.created_at.unix_micros()),
            ]);
            let p = |offset: usize| format!("${}", base + offset);
            rows.push(format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, {}, 'charge', {}, {}, 0, {}, {}, {}, {}, {}, {}, {}, {})",
                p(1),
                p(2),
                p(2),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(8),
                p(9),
                p(7),
                p(10),
                p(11),
                p(12),
                p(13),
                p(14),
                p(15),
                p(15),
            ));
        }
        let sql = format!(
            "INSERT INTO payments (id, number, document_id, order_id, reseller_id, merchant_id, reference_id, currency, amount, flow, \
             status, resolution, fee, deposit, processed_amount, refunded_amount, card_last4, source, test_mode, created_at, updated_at) \
             VALUES {}",
            rows.join(", ")
        );
        db.execute(&sql, &values).await?;
    }
    Ok(())
}

/// Refreshes the planner's statistics on PostgreSQL (`ANALYZE`), as autovacuum does after a
/// load; nothing on SQLite, where the product never runs `ANALYZE` either.
pub async fn analyze(db: &mut dyn Db) -> StoreResult<()> {
    if db.backend() == Backend::Postgres {
        db.execute("ANALYZE", &[]).await?;
    }
    Ok(())
}

/// The plan of the dashboard list's page (`ops::search::payments` with the same arguments):
/// `EXPLAIN QUERY PLAN` on SQLite; `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL, one line a row.
pub async fn explain_payments_page(
    db: &mut dyn Db,
    filter: &PaymentFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let (sql, values) = page_query(db.backend(), filter, after, limit.clamp(1, LIMIT_MAX));
    match db.backend() {
        Backend::Sqlite => db
            .query(&format!("EXPLAIN QUERY PLAN {sql}"), &values)
            .await?
            .iter()
            .map(|row| row.text("detail"))
            .collect(),
        Backend::Postgres => db
            .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), &values)
            .await?
            .iter()
            .map(|row| row.text("QUERY PLAN"))
            .collect(),
    }
}
