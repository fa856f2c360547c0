//! The sandbox's refunds. Each is a `refund` transaction of Obol's ledger, shown under an id
//! in a UUID's shape made from the transaction's number; every refund succeeds at once.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use obol_core::Timestamp;
use obol_core::ids::PaymentId;
use obol_core::money::Money;
use obol_core::payment::Actor;
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::Entity;
use obol_store::StoreError;
use obol_store::ops::ledger;
use serde_json::{Value, json};

use super::{
    YkError, amount_of, answer, money_object, money_write, object, path_id, shop, shop_payment,
};

/// A refund's id: its ledger transaction's number in a UUID's shape.
fn refund_id(transaction: i64) -> String {
    format!("00000000-0000-5000-a000-{transaction:012x}")
}

fn transaction_of_refund(id: &str) -> Option<i64> {
    let hex = id.strip_prefix("00000000-0000-5000-a000-")?;
    if hex.len() != 12 {
        return None;
    }
    i64::from_str_radix(hex, 16).ok().filter(|id| *id > 0)
}

pub(super) fn refund_object(id: i64, payment: &PaymentId, amount: Money, at: Timestamp) -> Value {
    json!({
        "id": refund_id(id),
        "payment_id": payment.uuid_form(),
        "status": "succeeded",
        "amount": money_object(amount),
        "created_at": at.to_rfc3339_millis(),
    })
}

pub(super) async fn create_refund(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(refund(&state, client.as_deref(), &headers, &body).await)
}

async fn refund(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, YkError> {
    let merchant = shop(state, client, headers).await?;
    let request = object(body)?;
    let payment_id = request
        .get("payment_id")
        .and_then(Value::as_str)
        .ok_or_else(|| YkError::invalid("payment_id is required", "payment_id"))?;
    let amount = amount_of(request.get("amount"))?;
    let payment = shop_payment(state, &merchant, payment_id).await?;
    if amount.currency() != payment.amount.currency() {
        return Err(YkError::invalid(
            "The refund's currency is not the payment's",
            "amount.currency",
        ));
    }
    // A payment that received money: YooKassa shows it as succeeded, refunded or not (a
    // fully refunded one is then refused by the books with their own message).
    if !payment.status.is_paid() {
        return Err(YkError::invalid(
            "Only a succeeded payment can be refunded",
            "payment_id",
        ));
    }
    let event = payment.refund_event(Some(amount))?;
    let outbox = state.outbox.clone();
    let now = state.clock.now();
    let id = payment.id.clone();
    let merchant_id = merchant.id;
    money_write(state, &merchant, headers, "/refunds", &request, move |db| {
        Box::pin(async move {
            outbox
                .transition(db, &id, event, Actor::Merchant(merchant_id), now)
                .await?;
            let transaction = ledger::latest_refund_of_payment(db, &id)
                .await?
                .ok_or(StoreError::NotFound(Entity::Refund))?;
            Ok(refund_object(transaction, &id, amount, now))
        })
    })
    .await
}

pub(super) async fn read_refund(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let merchant = shop(&state, client.as_deref(), &headers).await?;
            let missing = || YkError::not_found("Refund not found");
            let id = path_id(id)?;
            let transaction = transaction_of_refund(&id).ok_or_else(missing)?;
            let found = state
                .store
                .read(move |db| {
                    Box::pin(async move { ledger::refund_transaction(db, transaction).await })
                })
                .await?
                .ok_or_else(missing)?;
            let payment = shop_payment(&state, &merchant, &found.payment_id)
                .await
                .map_err(|_| missing())?;
            let amount = Money::from_minor(found.returned_minor, payment.amount.currency())
                .map_err(|_| missing())?;
            Ok(refund_object(
                transaction,
                &payment.id,
                amount,
                found.created_at,
            ))
        }
        .await,
    )
}
