//! A shop's payments and refunds from one door, read by keyset newest first (the YooKassa
//! sandbox's `GET /payments` and `GET /refunds`). Payment numbers and ledger transaction ids
//! only grow, so "newest first" is `number DESC` (`id DESC`), and a page's cursor is the
//! number (id) of the last row it showed; the next page reads below it over an index
//! (`payments_merchant_number`, `ledger_transactions_kind`), never by offset.

use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId};
use obol_core::money::Money;
use obol_core::payment::{Payment, PaymentStatus, Source};
use obol_core::time::Timestamp;

use super::payments::{payment_from_row, select_list};
use super::{parse_or_corrupt, timestamp};
use crate::db::Db;
use crate::error::StoreResult;
use crate::value::Value;

/// Bounds on a row's creation time, each one optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreatedRange {
    pub gte: Option<Timestamp>,
    pub gt: Option<Timestamp>,
    pub lte: Option<Timestamp>,
    pub lt: Option<Timestamp>,
}

/// Which payments a status filter keeps: one of `statuses`, and when `held` is set, only those
/// whose money is (`Some(true)`) or is not (`Some(false)`) held for a capture.
#[derive(Debug, Clone, Default)]
pub struct StatusFilter {
    pub statuses: Vec<PaymentStatus>,
    pub held: Option<bool>,
}

/// Which of a merchant's payments made through `source` to list.
#[derive(Debug, Clone)]
pub struct PaymentList {
    pub merchant: MerchantId,
    pub source: Source,
    pub status: Option<StatusFilter>,
    pub created: CreatedRange,
    /// Only payments numbered below this one (the cursor of the previous page).
    pub below: Option<i64>,
    pub limit: i64,
}

/// A page of payments and, when more follow, the cursor of the next page.
#[derive(Debug, Clone)]
pub struct PaymentListPage {
    pub payments: Vec<Payment>,
    pub next: Option<i64>,
}

/// Which refunds of a merchant's payments made through `source` to list.
#[derive(Debug, Clone)]
pub struct RefundList {
    pub merchant: MerchantId,
    pub source: Source,
    pub payment: Option<PaymentId>,
    pub created: CreatedRange,
    /// Only refunds whose transaction id is below this one.
    pub below: Option<i64>,
    pub limit: i64,
}

/// One refund: its ledger transaction, the payment, when, and how much went back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRefund {
    pub transaction_id: i64,
    pub payment_id: PaymentId,
    pub created_at: Timestamp,
    pub amount: Money,
}

#[derive(Debug, Clone)]
pub struct RefundListPage {
    pub refunds: Vec<ListedRefund>,
    pub next: Option<i64>,
}

/// The largest page a list reads.
pub const LIMIT_MAX: i64 = 100;

fn push_created(
    column: &str,
    range: &CreatedRange,
    conditions: &mut Vec<String>,
    values: &mut Vec<Value>,
) {
    for (bound, operator) in [
        (range.gte, ">="),
        (range.gt, ">"),
        (range.lte, "<="),
        (range.lt, "<"),
    ] {
        if let Some(at) = bound {
            values.push(Value::Int(at.unix_micros()));
            conditions.push(format!("{column} {operator} ${}", values.len()));
        }
    }
}

pub async fn payments(db: &mut dyn Db, list: PaymentList) -> StoreResult<PaymentListPage> {
    let limit = list.limit.clamp(1, LIMIT_MAX);
    let mut values = vec![
        Value::Int(list.merchant.get()),
        Value::from(list.source.as_str()),
    ];
    let mut conditions = vec!["merchant_id = $1".to_owned(), "source = $2".to_owned()];
    if let Some(filter) = &list.status {
        if filter.statuses.is_empty() {
            return Ok(PaymentListPage {
                payments: Vec::new(),
                next: None,
            });
        }
        let mut names = Vec::new();
        for status in &filter.statuses {
            values.push(Value::from(status.as_str()));
            names.push(format!("${}", values.len()));
        }
        conditions.push(format!("status IN ({})", names.join(", ")));
        match filter.held {
            Some(true) => {
                conditions.push("(manual_capture = TRUE AND authorized_at IS NOT NULL)".to_owned())
            }
            Some(false) => conditions
                .push("NOT (manual_capture = TRUE AND authorized_at IS NOT NULL)".to_owned()),
            None => {}
        }
    }
    push_created("created_at", &list.created, &mut conditions, &mut values);
    if let Some(number) = list.below {
        values.push(Value::Int(number));
        conditions.push(format!("number < ${}", values.len()));
    }
    values.push(Value::Int(limit + 1));
    let sql = format!(
        "SELECT {}, number AS list_number FROM payments WHERE {} ORDER BY merchant_id DESC, number DESC LIMIT ${}",
        select_list(),
        conditions.join(" AND "),
        values.len()
    );
    let rows = db.query(&sql, &values).await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = match rows.last() {
        Some(row) if more => Some(row.int("list_number")?),
        _ => None,
    };
    let payments = rows
        .iter()
        .map(payment_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(PaymentListPage { payments, next })
}

pub async fn refunds(db: &mut dyn Db, list: RefundList) -> StoreResult<RefundListPage> {
    let limit = list.limit.clamp(1, LIMIT_MAX);
    let mut values = vec![
        Value::Int(list.merchant.get()),
        Value::from(list.source.as_str()),
    ];
    let mut conditions = vec![
        "t.kind = 'refund'".to_owned(),
        "p.merchant_id = $1".to_owned(),
        "p.source = $2".to_owned(),
    ];
    if let Some(payment) = &list.payment {
        values.push(Value::from(payment.as_str()));
        conditions.push(format!("t.payment_id = ${}", values.len()));
    }
    push_created("t.created_at", &list.created, &mut conditions, &mut values);
    if let Some(id) = list.below {
        values.push(Value::Int(id));
        conditions.push(format!("t.id < ${}", values.len()));
    }
    values.push(Value::Int(limit + 1));
    let sql = format!(
        "SELECT t.id AS id, t.payment_id AS payment_id, t.created_at AS created_at, p.currency AS currency, \
         CAST((SELECT COALESCE(SUM(lp.amount), 0) FROM ledger_postings lp \
               WHERE lp.transaction_id = t.id AND lp.account LIKE 'clearing:%') AS BIGINT) AS returned \
         FROM ledger_transactions t JOIN payments p ON p.id = t.payment_id \
         WHERE {} ORDER BY t.kind DESC, t.id DESC LIMIT ${}",
        conditions.join(" AND "),
        values.len()
    );
    let rows = db.query(&sql, &values).await?;
    let more = rows.len() as i64 > limit;
    let refunds = rows
        .iter()
        .take(limit as usize)
        .map(|row| {
            let currency =
                parse_or_corrupt(Currency::parse(row.str("currency")?), "payment currency")?;
            Ok(ListedRefund {
                transaction_id: row.int("id")?,
                payment_id: parse_or_corrupt(
                    PaymentId::parse(row.str("payment_id")?),
                    "refund payment id",
                )?,
                created_at: timestamp(row.int("created_at")?),
                amount: parse_or_corrupt(
                    Money::from_minor(row.int("returned")?, currency),
                    "refund amount",
                )?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let next = match refunds.last() {
        Some(refund) if more => Some(refund.transaction_id),
        _ => None,
    };
    Ok(RefundListPage { refunds, next })
}
