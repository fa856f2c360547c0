//! The dashboard's reading of payments (SPEC §7): one filtered list over a manager's reseller
//! subtree, newest first, read by keyset on `(created_at, id)` so that a deep page costs what
//! the first one does (migration 17's `payments_created_id` index); the report's CSV reads the
//! same list page after page. And what a payment's page shows that no door reads: every card
//! attempt, every callback attempt.

use std::sync::LazyLock;

use obol_core::Currency;
use obol_core::ids::PaymentId;
use obol_core::payment::{CardPayload, Payment, PaymentStatus, Source};
use obol_core::time::Timestamp;

use super::payments::{payment_from_row, select_list};
use super::timestamp;
use crate::db::{Backend, Db};
use crate::error::StoreResult;
use crate::params;
use crate::value::Value;

/// The largest page the list reads.
pub const LIMIT_MAX: i64 = 500;

/// Where a page starts: below the payment created at `created_at` with id `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Timestamp,
    pub id: PaymentId,
}

/// What a search matches (`q`): any of a payment's ids, its customer's email, its card's last
/// four digits. The text is matched exactly (emails without regard to case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// The search, trimmed; `None` for an empty one. Longer than any id: cut (it matches nothing).
    pub fn parse(text: &str) -> Option<SearchText> {
        let text = text.trim();
        (!text.is_empty()).then(|| SearchText(text.chars().take(320).collect()))
    }
}

/// Which payments of a manager's subtree to list.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    /// The manager's reseller's ancestry, encoded (`/1/2/`): only payments of resellers at or
    /// below it are read.
    pub scope: String,
    pub search: Option<SearchText>,
    pub status: Option<PaymentStatus>,
    /// `Some(true)`: test payments only; `Some(false)`: live only.
    pub test_mode: Option<bool>,
    pub merchant_id: Option<i64>,
    pub reseller_id: Option<i64>,
    pub source: Option<Source>,
    pub currency: Option<Currency>,
    /// Amount bounds in minor units (meaningful with a currency).
    pub amount_min: Option<i64>,
    pub amount_max: Option<i64>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_before: Option<Timestamp>,
}

/// A payment as a list shows it: with its merchant's name and its method's code.
#[derive(Debug, Clone)]
pub struct ListedPayment {
    pub payment: Payment,
    pub merchant_name: Option<String>,
    pub method_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PaymentsPage {
    pub payments: Vec<ListedPayment>,
    /// Where the next page starts, when there is one.
    pub next: Option<Cursor>,
}

/// The payments table's columns, qualified with `p.` (the list joins nothing, but its
/// subqueries name other tables' columns).
fn qualified_columns() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| {
        select_list()
            .split(", ")
            .map(|column| format!("p.{column} AS {column}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    &LIST
}

fn conditions(backend: Backend, filter: &PaymentFilter, values: &mut Vec<Value>) -> Vec<String> {
    let push = |values: &mut Vec<Value>, value: Value| {
        values.push(value);
        format!("${}", values.len())
    };
    let mut conditions = Vec::new();
    let scope = push(values, Value::from(format!("{}%", filter.scope)));
    // SQLite keeps no statistics (nothing runs ANALYZE), so it would read the scope's resellers
    // through `payments_reseller_created` and sort the whole subtree: a million rows for the
    // root. The unary `+` takes the term out of index choice there, so the page is read in
    // order from `payments_created_id` (or the merchant's, the status's index) and stops
    // after a page. PostgreSQL chooses by its statistics and needs no hint.
    let plus = if backend == Backend::Sqlite { "+" } else { "" };
    conditions.push(format!(
        "{plus}p.reseller_id IN (SELECT id FROM resellers WHERE ancestry LIKE {scope})"
    ));
    if let Some(search) = &filter.search {
        let text = search.0.as_str();
        let q = push(values, Value::from(text));
        let mut any = vec![
            format!("p.id = {q}"),
            format!("p.reference_id = {q}"),
            format!("p.external_id = {q}"),
            format!("p.upstream_id = {q}"),
        ];
        if let Ok(number) = text.parse::<i64>() {
            let n = push(values, Value::Int(number));
            any.push(format!("p.document_id = {n}"));
            any.push(format!("p.order_id = {n}"));
            any.push(format!("p.number = {n}"));
        }
        if text.len() == 4 && text.bytes().all(|byte| byte.is_ascii_digit()) {
            any.push(format!("p.card_last4 = {q}"));
        }
        if text.contains('@') {
            let email = push(values, Value::from(text.to_lowercase()));
            any.push(format!(
                "p.customer_id IN (SELECT id FROM customers WHERE LOWER(email) = {email})"
            ));
        }
        conditions.push(format!("({})", any.join(" OR ")));
    }
    if let Some(status) = filter.status {
        let status = push(values, Value::from(status.as_str()));
        conditions.push(format!("p.status = {status}"));
    }
    match filter.test_mode {
        Some(true) => conditions.push("p.test_mode = TRUE".to_owned()),
        Some(false) => conditions.push("p.test_mode = FALSE".to_owned()),
        None => {}
    }
    if let Some(merchant) = filter.merchant_id {
        let merchant = push(values, Value::Int(merchant));
        conditions.push(format!("p.merchant_id = {merchant}"));
    }
    if let Some(reseller) = filter.reseller_id {
        let reseller = push(values, Value::Int(reseller));
        conditions.push(format!("p.reseller_id = {reseller}"));
    }
    if let Some(source) = filter.source {
        let source = push(values, Value::from(source.as_str()));
        conditions.push(format!("p.source = {source}"));
    }
    if let Some(currency) = filter.currency {
        let currency = push(values, Value::from(currency.code()));
        conditions.push(format!("p.currency = {currency}"));
    }
    if let Some(minimum) = filter.amount_min {
        let minimum = push(values, Value::Int(minimum));
        conditions.push(format!("p.amount >= {minimum}"));
    }
    if let Some(maximum) = filter.amount_max {
        let maximum = push(values, Value::Int(maximum));
        conditions.push(format!("p.amount <= {maximum}"));
    }
    if let Some(from) = filter.created_from {
        let from = push(values, Value::Int(from.unix_micros()));
        conditions.push(format!("p.created_at >= {from}"));
    }
    if let Some(before) = filter.created_before {
        let before = push(values, Value::Int(before.unix_micros()));
        conditions.push(format!("p.created_at < {before}"));
    }
    conditions
}

/// The statement a page reads, with its parameters (also what the benchmark explains).
pub(crate) fn page_query(
    backend: Backend,
    filter: &PaymentFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> (String, Vec<Value>) {
    let mut values = Vec::new();
    let mut conditions = conditions(backend, filter, &mut values);
    if let Some(cursor) = after {
        values.push(Value::Int(cursor.created_at.unix_micros()));
        let at = values.len();
        values.push(Value::from(cursor.id.as_str()));
        let id = values.len();
        // A row value compares as the index is ordered, so both databases seek to it.
        conditions.push(format!("(p.created_at, p.id) < (${at}, ${id})"));
    }
    values.push(Value::Int(limit + 1));
    let sql = format!(
        "SELECT {}, \
         (SELECT m.name FROM merchants m WHERE m.id = p.merchant_id) AS listed_merchant_name, \
         (SELECT pm.code FROM payment_methods pm WHERE pm.id = COALESCE(p.completed_method_id, p.method_id)) AS listed_method_code \
         FROM payments p WHERE {} ORDER BY p.created_at DESC, p.id DESC LIMIT ${}",
        qualified_columns(),
        conditions.join(" AND "),
        values.len()
    );
    (sql, values)
}

/// A page of the payments `filter` keeps, newest first (`created_at DESC, id DESC`), starting
/// below `after`.
pub async fn payments(
    db: &mut dyn Db,
    filter: &PaymentFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> StoreResult<PaymentsPage> {
    let limit = limit.clamp(1, LIMIT_MAX);
    let (sql, values) = page_query(db.backend(), filter, after, limit);
    let rows = db.query(&sql, &values).await?;
    let more = rows.len() as i64 > limit;
    let payments = rows
        .iter()
        .take(limit as usize)
        .map(|row| {
            Ok(ListedPayment {
                payment: payment_from_row(row)?,
                merchant_name: row.opt_text("listed_merchant_name")?,
                method_code: row.opt_text("listed_method_code")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let next = match payments.last() {
        Some(last) if more => Some(Cursor {
            created_at: last.payment.created_at,
            id: last.payment.id.clone(),
        }),
        _ => None,
    };
    Ok(PaymentsPage { payments, next })
}

/// A card attempt of a payment (first 6 / last 4 only).
#[derive(Debug, Clone)]
pub struct CardAttempt {
    pub id: i64,
    pub status: String,
    pub card: CardPayload,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Every card attempt of a payment, oldest first.
pub async fn attempts_of_payment(
    db: &mut dyn Db,
    payment: &PaymentId,
) -> StoreResult<Vec<CardAttempt>> {
    let rows = db
        .query(
            "SELECT id, status, card_first6, card_last4, card_brand, card_expiry_month, card_expiry_year, card_holder, card_issuer, created_at, updated_at \
             FROM payment_attempts WHERE payment_id = $1 ORDER BY id",
            params![payment.as_str()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(CardAttempt {
                id: row.int("id")?,
                status: row.text("status")?,
                card: CardPayload {
                    first6: row.text("card_first6")?,
                    last4: row.text("card_last4")?,
                    brand: row.text("card_brand")?,
                    expiry_month: u8::try_from(row.int("card_expiry_month")?).unwrap_or_default(),
                    expiry_year: u16::try_from(row.int("card_expiry_year")?).unwrap_or_default(),
                    holder: row.opt_text("card_holder")?,
                    issuer: row.opt_text("card_issuer")?,
                },
                created_at: timestamp(row.int("created_at")?),
                updated_at: timestamp(row.int("updated_at")?),
            })
        })
        .collect()
}

/// One delivery attempt of a callback.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub callback_id: i64,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub response_code: Option<i64>,
    pub delivered: bool,
    pub error: Option<String>,
}

/// Every delivery attempt of a payment's callbacks, oldest first.
pub async fn callback_attempts_of_payment(
    db: &mut dyn Db,
    payment: &PaymentId,
) -> StoreResult<Vec<DeliveryAttempt>> {
    let rows = db
        .query(
            "SELECT a.callback_id AS callback_id, a.started_at AS started_at, a.finished_at AS finished_at, a.response_code AS response_code, \
             a.delivered AS delivered, a.error AS error FROM callback_attempts a JOIN callbacks c ON c.id = a.callback_id \
             WHERE c.payment_id = $1 ORDER BY a.id",
            params![payment.as_str()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DeliveryAttempt {
                callback_id: row.int("callback_id")?,
                started_at: timestamp(row.int("started_at")?),
                finished_at: timestamp(row.int("finished_at")?),
                response_code: row.opt_int("response_code")?,
                delivered: row.bool("delivered")?,
                error: row.opt_text("error")?,
            })
        })
        .collect()
}
