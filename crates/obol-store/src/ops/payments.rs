//! Payments: creation, reading, and transitions persisted with their history row and ledger
//! transaction in the same database transaction.

use std::sync::LazyLock;

use obol_core::Currency;
use obol_core::catalog::PaymentService;
use obol_core::ids::{
    CustomerAccountId, CustomerId, DocumentNumber, ManagerId, MerchantId, OrderNumber, PaymentId,
    PaymentMethodId, PaymentNumber, PaymentServiceId, ResellerId,
};
use obol_core::money::Money;
use obol_core::payment::{
    Actor, CardPayload, Flow, Payment, PaymentDraft, PaymentEvent, PaymentIdentity, PaymentRecord,
    PaymentStatus, Resolution, ReturnUrls, Source, Transition,
};
use obol_core::time::Timestamp;

use super::{corrupt, jobs, ledger, opt_timestamp, parse_or_corrupt, timestamp};
use crate::db::{Backend, Db, next_payment_numbers, query_opt};
use crate::error::{Entity, StoreError, StoreResult};
use crate::params;
use crate::value::{Row, Value};

/// The job that expires a payment at its `expires_at`.
pub const EXPIRY_JOB: &str = "payment_expiry";

/// The payments table's columns, listed once: every SELECT of a payment reads them by name
/// ([`payment_from_row`]) and the INSERT pairs each with its value ([`insert_values`]).
const COLUMNS: [&str; 55] = [
    "id",
    "number",
    "document_id",
    "order_id",
    "reseller_id",
    "merchant_id",
    "customer_account_id",
    "customer_id",
    "reference_id",
    "external_id",
    "currency",
    "amount",
    "service_id",
    "method_id",
    "flow",
    "status",
    "resolution",
    "description",
    "metadata",
    "return_url",
    "return_url_success",
    "return_url_fail",
    "return_url_pending",
    "callback_url",
    "expires_at",
    "fee",
    "deposit",
    "processed_amount",
    "refunded_amount",
    "card_first6",
    "card_last4",
    "card_brand",
    "card_expiry_month",
    "card_expiry_year",
    "card_holder",
    "card_issuer",
    "source",
    "locale",
    "test_mode",
    "requester_ip",
    "completed_by",
    "completed_method_id",
    "created_at",
    "updated_at",
    "processed_at",
    "closed_at",
    "version",
    "service_fields",
    "gateway_options",
    "page_options",
    "dialect_attributes",
    "manual_capture",
    "authorized_at",
    "route",
    "upstream_id",
];

/// `COLUMNS` as a SELECT list, joined once.
pub(crate) fn select_list() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| COLUMNS.join(", "));
    &LIST
}

/// The INSERT of a payment, built once. `ON CONFLICT DO NOTHING` waits for a racing
/// transaction with the same reference and then inserts nothing, instead of aborting this
/// transaction (PostgreSQL cannot continue an aborted one), so the existing payment can still
/// be read and returned.
fn insert_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let placeholders: Vec<String> = (1..=COLUMNS.len())
            .map(|index| format!("${index}"))
            .collect();
        format!(
            "INSERT INTO payments ({}) VALUES ({}) ON CONFLICT (merchant_id, reference_id) DO NOTHING",
            select_list(),
            placeholders.join(", ")
        )
    });
    &SQL
}

/// PostgreSQL: the INSERT of a payment and of its first status-history row in one statement
/// (one round trip less on every creation). The history row is written only if the payment
/// was, so the count of rows says whether the reference was free, as with [`insert_sql`].
fn insert_with_history_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let columns = COLUMNS.len();
        let placeholders: Vec<String> = (1..=columns).map(|index| format!("${index}")).collect();
        format!(
            "WITH inserted AS (INSERT INTO payments ({}) VALUES ({}) ON CONFLICT (merchant_id, reference_id) DO NOTHING RETURNING id) \
             INSERT INTO payment_status_history (payment_id, from_status, to_status, resolution, event, actor, at) \
             SELECT id, NULL, ${}, ${}, ${}, ${}, ${} FROM inserted",
            select_list(),
            placeholders.join(", "),
            columns + 1,
            columns + 2,
            columns + 3,
            columns + 4,
            columns + 5,
        )
    });
    &SQL
}

pub fn payment_from_row(row: &Row) -> StoreResult<Payment> {
    let currency = parse_or_corrupt(Currency::parse(row.str("currency")?), "payment currency")?;
    let money = |minor: i64| parse_or_corrupt(Money::from_minor(minor, currency), "payment amount");
    let card = match (row.opt_text("card_first6")?, row.opt_text("card_last4")?) {
        (Some(first6), Some(last4)) => Some(CardPayload {
            first6,
            last4,
            brand: row.opt_text("card_brand")?.unwrap_or_default(),
            expiry_month: row
                .opt_int("card_expiry_month")?
                .and_then(|value| u8::try_from(value).ok())
                .unwrap_or_default(),
            expiry_year: row
                .opt_int("card_expiry_year")?
                .and_then(|value| u16::try_from(value).ok())
                .unwrap_or_default(),
            holder: row.opt_text("card_holder")?,
            issuer: row.opt_text("card_issuer")?,
        }),
        _ => None,
    };
    Ok(Payment::restore(PaymentRecord {
        id: parse_or_corrupt(PaymentId::parse(row.str("id")?), "payment id")?,
        number: PaymentNumber::new(row.int("number")?),
        document_id: DocumentNumber::new(row.int("document_id")?),
        order_id: OrderNumber::new(row.int("order_id")?),
        reseller_id: ResellerId::new(row.int("reseller_id")?),
        merchant_id: row.opt_int("merchant_id")?.map(MerchantId::new),
        customer_account_id: row
            .opt_int("customer_account_id")?
            .map(CustomerAccountId::new),
        customer_id: row
            .opt_text("customer_id")?
            .map(|id| parse_or_corrupt(CustomerId::parse(&id), "customer id"))
            .transpose()?,
        reference_id: row.opt_text("reference_id")?,
        external_id: row.opt_text("external_id")?,
        amount: money(row.int("amount")?)?,
        service_id: row.opt_int("service_id")?.map(PaymentServiceId::new),
        method_id: row.opt_int("method_id")?.map(PaymentMethodId::new),
        flow: Flow::parse(row.str("flow")?).ok_or_else(|| corrupt("payment flow"))?,
        status: PaymentStatus::parse(row.str("status")?)
            .ok_or_else(|| corrupt("payment status"))?,
        resolution: Resolution::parse(row.str("resolution")?)
            .ok_or_else(|| corrupt("payment resolution"))?,
        description: row.opt_text("description")?,
        metadata: row.opt_text("metadata")?,
        return_urls: ReturnUrls {
            default: row.opt_text("return_url")?,
            success: row.opt_text("return_url_success")?,
            fail: row.opt_text("return_url_fail")?,
            pending: row.opt_text("return_url_pending")?,
        },
        callback_url: row.opt_text("callback_url")?,
        expires_at: opt_timestamp(row.opt_int("expires_at")?),
        fee: money(row.int("fee")?)?,
        deposit: money(row.int("deposit")?)?,
        processed_amount: money(row.int("processed_amount")?)?,
        refunded_amount: money(row.int("refunded_amount")?)?,
        card,
        source: Source::parse(row.str("source")?).ok_or_else(|| corrupt("payment source"))?,
        locale: row.opt_text("locale")?,
        test_mode: row.bool("test_mode")?,
        requester_ip: row.opt_text("requester_ip")?,
        completed_by: row.opt_int("completed_by")?.map(ManagerId::new),
        completed_method_id: row
            .opt_int("completed_method_id")?
            .map(PaymentMethodId::new),
        created_at: timestamp(row.int("created_at")?),
        updated_at: timestamp(row.int("updated_at")?),
        processed_at: opt_timestamp(row.opt_int("processed_at")?),
        closed_at: opt_timestamp(row.opt_int("closed_at")?),
        version: row.int("version")?,
        service_fields: row.opt_text("service_fields")?,
        gateway_options: row.opt_text("gateway_options")?,
        page_options: row.opt_text("page_options")?,
        dialect_attributes: row.opt_text("dialect_attributes")?,
        manual_capture: row.bool("manual_capture")?,
        authorized_at: opt_timestamp(row.opt_int("authorized_at")?),
        route: row.opt_text("route")?,
        upstream_id: row.opt_text("upstream_id")?,
    }))
}

fn card_values(card: Option<&CardPayload>) -> [Value; 7] {
    match card {
        Some(card) => [
            Value::from(card.first6.as_str()),
            Value::from(card.last4.as_str()),
            Value::from(card.brand.as_str()),
            Value::Int(i64::from(card.expiry_month)),
            Value::Int(i64::from(card.expiry_year)),
            Value::from(card.holder.clone()),
            Value::from(card.issuer.clone()),
        ],
        None => [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    }
}

/// A payment's values for the INSERT, each beside its column so the two cannot drift apart: the
/// names must be `COLUMNS` in order (checked in debug builds, so on every insert the tests make).
/// Long because the table has 53 columns, one line each.
fn insert_values(payment: &Payment) -> Vec<Value> {
    let card = payment.card.as_ref();
    let named: [(&str, Value); 55] = [
        ("id", Value::from(payment.id.as_str())),
        ("number", Value::Int(payment.number.get())),
        ("document_id", Value::Int(payment.document_id.get())),
        ("order_id", Value::Int(payment.order_id.get())),
        ("reseller_id", Value::Int(payment.reseller_id.get())),
        (
            "merchant_id",
            Value::from(payment.merchant_id.map(MerchantId::get)),
        ),
        (
            "customer_account_id",
            Value::from(payment.customer_account_id.map(CustomerAccountId::get)),
        ),
        (
            "customer_id",
            Value::from(
                payment
                    .customer_id
                    .as_ref()
                    .map(|id| id.as_str().to_owned()),
            ),
        ),
        ("reference_id", Value::from(payment.reference_id.clone())),
        ("external_id", Value::from(payment.external_id.clone())),
        ("currency", Value::from(payment.amount.currency().code())),
        ("amount", Value::Int(payment.amount.minor())),
        (
            "service_id",
            Value::from(payment.service_id.map(PaymentServiceId::get)),
        ),
        (
            "method_id",
            Value::from(payment.method_id.map(PaymentMethodId::get)),
        ),
        ("flow", Value::from(payment.flow.as_str())),
        ("status", Value::from(payment.status.as_str())),
        ("resolution", Value::from(payment.resolution.as_str())),
        ("description", Value::from(payment.description.clone())),
        ("metadata", Value::from(payment.metadata.clone())),
        (
            "return_url",
            Value::from(payment.return_urls.default.clone()),
        ),
        (
            "return_url_success",
            Value::from(payment.return_urls.success.clone()),
        ),
        (
            "return_url_fail",
            Value::from(payment.return_urls.fail.clone()),
        ),
        (
            "return_url_pending",
            Value::from(payment.return_urls.pending.clone()),
        ),
        ("callback_url", Value::from(payment.callback_url.clone())),
        (
            "expires_at",
            Value::from(payment.expires_at.map(Timestamp::unix_micros)),
        ),
        ("fee", Value::Int(payment.fee.minor())),
        ("deposit", Value::Int(payment.deposit.minor())),
        (
            "processed_amount",
            Value::Int(payment.processed_amount.minor()),
        ),
        (
            "refunded_amount",
            Value::Int(payment.refunded_amount.minor()),
        ),
        (
            "card_first6",
            Value::from(card.map(|card| card.first6.as_str())),
        ),
        (
            "card_last4",
            Value::from(card.map(|card| card.last4.as_str())),
        ),
        (
            "card_brand",
            Value::from(card.map(|card| card.brand.as_str())),
        ),
        (
            "card_expiry_month",
            Value::from(card.map(|card| i64::from(card.expiry_month))),
        ),
        (
            "card_expiry_year",
            Value::from(card.map(|card| i64::from(card.expiry_year))),
        ),
        (
            "card_holder",
            Value::from(card.and_then(|card| card.holder.clone())),
        ),
        (
            "card_issuer",
            Value::from(card.and_then(|card| card.issuer.clone())),
        ),
        ("source", Value::from(payment.source.as_str())),
        ("locale", Value::from(payment.locale.clone())),
        ("test_mode", Value::Bool(payment.test_mode)),
        ("requester_ip", Value::from(payment.requester_ip.clone())),
        (
            "completed_by",
            Value::from(payment.completed_by.map(ManagerId::get)),
        ),
        (
            "completed_method_id",
            Value::from(payment.completed_method_id.map(PaymentMethodId::get)),
        ),
        ("created_at", Value::Int(payment.created_at.unix_micros())),
        ("updated_at", Value::Int(payment.updated_at.unix_micros())),
        (
            "processed_at",
            Value::from(payment.processed_at.map(Timestamp::unix_micros)),
        ),
        (
            "closed_at",
            Value::from(payment.closed_at.map(Timestamp::unix_micros)),
        ),
        ("version", Value::Int(payment.version)),
        (
            "service_fields",
            Value::from(payment.service_fields.clone()),
        ),
        (
            "gateway_options",
            Value::from(payment.gateway_options.clone()),
        ),
        ("page_options", Value::from(payment.page_options.clone())),
        (
            "dialect_attributes",
            Value::from(payment.dialect_attributes.clone()),
        ),
        ("manual_capture", Value::Bool(payment.manual_capture)),
        (
            "authorized_at",
            Value::from(payment.authorized_at.map(Timestamp::unix_micros)),
        ),
        ("route", Value::from(payment.route.clone())),
        ("upstream_id", Value::from(payment.upstream_id.clone())),
    ];
    debug_assert!(
        named.iter().map(|(name, _)| *name).eq(COLUMNS),
        "insert_values lists the payments columns out of order"
    );
    named.into_iter().map(|(_, value)| value).collect()
}

/// Creates a payment, its first history row and, when it expires, its expiry job.
/// A `reference_id` already used by the merchant answers [`StoreError::DuplicateReference`]
/// with the existing payment, also when two creations race.
pub async fn insert_payment(
    db: &mut dyn Db,
    draft: PaymentDraft,
    id: PaymentId,
    service: Option<&PaymentService>,
    now: Timestamp,
) -> StoreResult<Payment> {
    // No look-up first: the insert's ON CONFLICT finds a duplicate reference (a duplicate only
    // costs unused numbers), which saves a round trip on every creation.
    let (number, document_id, order_id) = next_payment_numbers(db).await?;
    let identity = PaymentIdentity {
        id,
        number: PaymentNumber::new(number),
        document_id: DocumentNumber::new(document_id),
        order_id: OrderNumber::new(order_id),
    };
    let payment = Payment::create(draft, identity, service, now)?;
    // No RETURNING: the count of inserted rows says whether the reference was free, and SQLite
    // would otherwise collect the returned row in a temporary table.
    let creator = Actor::Source(payment.source).encode();
    let inserted = match db.backend() {
        Backend::Postgres => {
            let mut values = insert_values(&payment);
            values.extend([
                Value::from(payment.status.as_str()),
                Value::from(payment.resolution.as_str()),
                Value::from("created"),
                Value::from(creator.as_str()),
                Value::from(now.unix_micros()),
            ]);
            db.execute(insert_with_history_sql(), &values).await?
        }
        Backend::Sqlite => db.execute(insert_sql(), &insert_values(&payment)).await?,
    };
    if inserted == 0 {
        let merchant = payment
            .merchant_id
            .ok_or_else(|| corrupt("conflict without a merchant"))?;
        let reference = payment
            .reference_id
            .as_deref()
            .ok_or_else(|| corrupt("conflict without a reference"))?;
        let existing = find_by_reference(db, merchant, reference)
            .await?
            .ok_or(StoreError::Conflict)?;
        return Err(StoreError::DuplicateReference(Box::new(existing)));
    }
    if db.backend() == Backend::Sqlite {
        insert_history(
            db,
            &payment.id,
            None,
            payment.status,
            payment.resolution,
            "created",
            &creator,
            now,
        )
        .await?;
    }
    if let Some(expires_at) = payment.expires_at {
        jobs::schedule(db, EXPIRY_JOB, payment.id.as_str(), expires_at, now).await?;
    }
    Ok(payment)
}

#[allow(clippy::too_many_arguments)]
async fn insert_history(
    db: &mut dyn Db,
    payment: &PaymentId,
    from: Option<PaymentStatus>,
    to: PaymentStatus,
    resolution: Resolution,
    event: &str,
    actor: &str,
    at: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO payment_status_history (payment_id, from_status, to_status, resolution, event, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![payment.as_str(), from.map(PaymentStatus::as_str), to.as_str(), resolution.as_str(), event, actor, at.unix_micros()],
    )
    .await?;
    Ok(())
}

pub async fn get_payment(db: &mut dyn Db, id: &PaymentId) -> StoreResult<Option<Payment>> {
    let sql = format!("SELECT {} FROM payments WHERE id = $1", select_list());
    query_opt(db, &sql, params![id.as_str()])
        .await?
        .map(|row| payment_from_row(&row))
        .transpose()
}

pub async fn find_by_reference(
    db: &mut dyn Db,
    merchant: MerchantId,
    reference: &str,
) -> StoreResult<Option<Payment>> {
    let sql = format!(
        "SELECT {} FROM payments WHERE merchant_id = $1 AND reference_id = $2",
        select_list()
    );
    query_opt(db, &sql, params![merchant.get(), reference])
        .await?
        .map(|row| payment_from_row(&row))
        .transpose()
}

/// Reads a payment and locks its row until the transaction ends (PostgreSQL; SQLite's one
/// writer already serializes), for decisions that must not race another writer's.
pub async fn lock_payment(db: &mut dyn Db, id: &PaymentId) -> StoreResult<Payment> {
    get_payment_for_update(db, id).await
}

/// Reads a payment for changing it: on PostgreSQL the row stays locked until the end of the
/// transaction, so a concurrent change waits and then sees the new state.
async fn get_payment_for_update(db: &mut dyn Db, id: &PaymentId) -> StoreResult<Payment> {
    let lock = if db.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {} FROM payments WHERE id = $1{lock}", select_list());
    let row = query_opt(db, &sql, params![id.as_str()])
        .await?
        .ok_or(StoreError::NotFound(Entity::Payment))?;
    payment_from_row(&row)
}

/// Applies `event` to a payment: decides with the core, then writes the new state (only if
/// the row is still at the version decided on), the history row and the ledger transaction.
pub async fn transition(
    db: &mut dyn Db,
    id: &PaymentId,
    event: PaymentEvent,
    actor: Actor,
    now: Timestamp,
) -> StoreResult<(Payment, Transition)> {
    let mut payment = get_payment_for_update(db, id).await?;
    let transition = payment.plan(event, actor, now)?;
    payment.apply(&transition)?;
    let mut values = vec![
        Value::from(payment.status.as_str()),
        Value::from(payment.resolution.as_str()),
        Value::from(payment.service_id.map(PaymentServiceId::get)),
        Value::from(payment.method_id.map(PaymentMethodId::get)),
        Value::Int(payment.processed_amount.minor()),
        Value::Int(payment.refunded_amount.minor()),
    ];
    values.extend(card_values(payment.card.as_ref()));
    values.extend([
        Value::from(payment.completed_by.map(ManagerId::get)),
        Value::from(payment.completed_method_id.map(PaymentMethodId::get)),
        Value::Int(payment.updated_at.unix_micros()),
        Value::from(payment.processed_at.map(Timestamp::unix_micros)),
        Value::from(payment.closed_at.map(Timestamp::unix_micros)),
        Value::Int(payment.version),
        Value::from(payment.id.as_str()),
        Value::Int(transition.expected_version),
        Value::Int(payment.fee.minor()),
        Value::Int(payment.deposit.minor()),
        Value::from(payment.authorized_at.map(Timestamp::unix_micros)),
        Value::from(payment.expires_at.map(Timestamp::unix_micros)),
        Value::from(payment.route.clone()),
        Value::from(payment.upstream_id.clone()),
    ]);
    let changed = db
        .execute(
            "UPDATE payments SET status = $1, resolution = $2, service_id = $3, method_id = $4, processed_amount = $5, refunded_amount = $6, \
             card_first6 = $7, card_last4 = $8, card_brand = $9, card_expiry_month = $10, card_expiry_year = $11, card_holder = $12, card_issuer = $13, \
             completed_by = $14, completed_method_id = $15, updated_at = $16, processed_at = $17, closed_at = $18, version = $19, \
             fee = $22, deposit = $23, authorized_at = $24, expires_at = $25, \
             route = $26, upstream_id = $27 WHERE id = $20 AND version = $21",
            &values,
        )
        .await?;
    if changed != 1 {
        return Err(StoreError::Conflict);
    }
    let actor = transition.actor.encode();
    insert_history(
        db,
        &payment.id,
        Some(transition.from),
        transition.to,
        transition.resolution,
        transition.event.name(),
        &actor,
        now,
    )
    .await?;
    if let Some(ledger_transaction) = &transition.ledger {
        ledger::insert_transaction(db, ledger_transaction, now).await?;
    }
    if !payment.status.is_open() && payment.expires_at.is_some() {
        jobs::cancel(db, EXPIRY_JOB, payment.id.as_str(), now).await?;
    }
    // An authorization's hold gets its own deadline.
    if let (PaymentEvent::Authorized { .. }, Some(expires_at)) =
        (&transition.event, payment.expires_at)
    {
        jobs::schedule(db, EXPIRY_JOB, payment.id.as_str(), expires_at, now).await?;
    }
    Ok((payment, transition))
}

/// One row of a payment's status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub from: Option<PaymentStatus>,
    pub to: PaymentStatus,
    pub resolution: Resolution,
    pub event: String,
    pub actor: String,
    pub at: Timestamp,
}

pub async fn history(db: &mut dyn Db, id: &PaymentId) -> StoreResult<Vec<StatusChange>> {
    let rows = db
        .query("SELECT from_status, to_status, resolution, event, actor, at FROM payment_status_history WHERE payment_id = $1 ORDER BY id", params![id.as_str()])
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StatusChange {
                from: row
                    .opt_text("from_status")?
                    .map(|status| {
                        PaymentStatus::parse(&status).ok_or_else(|| corrupt("history status"))
                    })
                    .transpose()?,
                to: PaymentStatus::parse(row.str("to_status")?)
                    .ok_or_else(|| corrupt("history status"))?,
                resolution: Resolution::parse(row.str("resolution")?)
                    .ok_or_else(|| corrupt("history resolution"))?,
                event: row.text("event")?,
                actor: row.text("actor")?,
                at: timestamp(row.int("at")?),
            })
        })
        .collect()
}

/// Which of a merchant's payments to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct PaymentQuery {
    pub reference_id: Option<String>,
    /// Only payments older than this one (the next page).
    pub after: Option<PaymentId>,
    /// Only payments newer than this one (the previous page).
    pub before: Option<PaymentId>,
    pub limit: i64,
}

/// A page of a merchant's payments, newest first, with whether more exist on either side.
#[derive(Debug, Clone)]
pub struct PaymentPage {
    pub payments: Vec<Payment>,
    pub has_older: bool,
    pub has_newer: bool,
}

/// Lists a merchant's payments by cursor. Payment numbers only grow, so "newest first" is
/// `number DESC`, and a cursor is the payment it names.
pub async fn list_for_merchant(
    db: &mut dyn Db,
    merchant: MerchantId,
    query: PaymentQuery,
) -> StoreResult<PaymentPage> {
    let number_of = async |db: &mut dyn Db, id: &PaymentId| -> StoreResult<Option<i64>> {
        let row = query_opt(
            db,
            "SELECT number FROM payments WHERE id = $1 AND merchant_id = $2",
            params![id.as_str(), merchant.get()],
        )
        .await?;
        row.map(|row| row.int("number")).transpose()
    };
    let after = match &query.after {
        Some(id) => Some(number_of(db, id).await?.unwrap_or(0)),
        None => None,
    };
    let before = match &query.before {
        Some(id) => Some(number_of(db, id).await?.unwrap_or(i64::MAX)),
        None => None,
    };
    let limit = query.limit.clamp(1, 1000);
    let mut conditions = vec!["merchant_id = $1".to_owned()];
    let mut values = vec![Value::Int(merchant.get())];
    if let Some(reference) = &query.reference_id {
        values.push(Value::from(reference.as_str()));
        conditions.push(format!("reference_id = ${}", values.len()));
    }
    if let Some(number) = after {
        values.push(Value::Int(number));
        conditions.push(format!("number < ${}", values.len()));
    }
    if let Some(number) = before {
        values.push(Value::Int(number));
        conditions.push(format!("number > ${}", values.len()));
    }
    // Paging backwards reads upwards from the cursor, then turns the page round.
    let order = if before.is_some() && after.is_none() {
        "ASC"
    } else {
        "DESC"
    };
    values.push(Value::Int(limit + 1));
    let sql = format!(
        "SELECT {} FROM payments WHERE {} ORDER BY number {order} LIMIT ${}",
        select_list(),
        conditions.join(" AND "),
        values.len()
    );
    let rows = db.query(&sql, &values).await?;
    let more = rows.len() as i64 > limit;
    let mut payments = rows
        .iter()
        .take(limit as usize)
        .map(payment_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    if order == "ASC" {
        payments.reverse();
        Ok(PaymentPage {
            payments,
            has_older: true,
            has_newer: more,
        })
    } else {
        Ok(PaymentPage {
            payments,
            has_older: more,
            has_newer: after.is_some(),
        })
    }
}

/// A payment by its order number (Softline's `order_id`).
pub async fn get_by_order_id(db: &mut dyn Db, order_id: i64) -> StoreResult<Option<Payment>> {
    let sql = format!("SELECT {} FROM payments WHERE order_id = $1", select_list());
    query_opt(db, &sql, params![order_id])
        .await?
        .map(|row| payment_from_row(&row))
        .transpose()
}

/// A payment by its numeric id (ActivePlatform's payment `id`).
pub async fn get_by_number(db: &mut dyn Db, number: i64) -> StoreResult<Option<Payment>> {
    let sql = format!("SELECT {} FROM payments WHERE number = $1", select_list());
    query_opt(db, &sql, params![number])
        .await?
        .map(|row| payment_from_row(&row))
        .transpose()
}

/// A payment by its document number.
pub async fn get_by_document_id(db: &mut dyn Db, document_id: i64) -> StoreResult<Option<Payment>> {
    let sql = format!(
        "SELECT {} FROM payments WHERE document_id = $1",
        select_list()
    );
    query_opt(db, &sql, params![document_id])
        .await?
        .map(|row| payment_from_row(&row))
        .transpose()
}

/// Which of a reseller's own payments to list.
#[derive(Debug, Clone, Default)]
pub struct ResellerQuery {
    /// Core statuses to keep (empty: all).
    pub statuses: Vec<String>,
    pub account_id: Option<i64>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    /// A column to order by (`number`, `created_at`, `amount`, `document_id`) and its direction.
    pub sort: (&'static str, bool),
    pub limit: i64,
    pub offset: i64,
}

/// A page of a reseller's own payments and how many there are in all.
pub async fn list_for_reseller(
    db: &mut dyn Db,
    reseller: obol_core::ids::ResellerId,
    query: ResellerQuery,
) -> StoreResult<(Vec<Payment>, i64)> {
    let mut conditions = vec![
        "reseller_id = $1".to_owned(),
        "merchant_id IS NULL".to_owned(),
    ];
    let mut values = vec![Value::Int(reseller.get())];
    if !query.statuses.is_empty() {
        let mut placeholders = Vec::new();
        for status in &query.statuses {
            values.push(Value::from(status.as_str()));
            placeholders.push(format!("${}", values.len()));
        }
        conditions.push(format!("status IN ({})", placeholders.join(", ")));
    }
    if let Some(account) = query.account_id {
        values.push(Value::Int(account));
        conditions.push(format!("customer_account_id = ${}", values.len()));
    }
    if let Some(after) = query.created_after {
        values.push(Value::Int(after.unix_micros()));
        conditions.push(format!("created_at > ${}", values.len()));
    }
    if let Some(before) = query.created_before {
        values.push(Value::Int(before.unix_micros()));
        conditions.push(format!("created_at < ${}", values.len()));
    }
    let filter = conditions.join(" AND ");
    let total = query_opt(
        db,
        &format!("SELECT COUNT(*) AS total FROM payments WHERE {filter}"),
        &values,
    )
    .await?
    .map_or(Ok(0), |row| row.int("total"))?;
    let (column, ascending) = query.sort;
    let direction = if ascending { "ASC" } else { "DESC" };
    values.push(Value::Int(query.limit.clamp(1, 1000)));
    let limit = values.len();
    values.push(Value::Int(query.offset.max(0)));
    let offset = values.len();
    let sql = format!(
        "SELECT {} FROM payments WHERE {filter} ORDER BY {column} {direction}, number {direction} LIMIT ${limit} OFFSET ${offset}",
        select_list()
    );
    let payments = db
        .query(&sql, &values)
        .await?
        .iter()
        .map(payment_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((payments, total))
}

/// How many payments there are in each core status, by status name (for the metrics' gauge).
pub async fn count_by_status(db: &mut dyn Db) -> StoreResult<Vec<(String, i64)>> {
    let rows = db
        .query(
            "SELECT status, COUNT(*) AS count FROM payments GROUP BY status ORDER BY status",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.text("status")?, row.int("count")?)))
        .collect()
}
