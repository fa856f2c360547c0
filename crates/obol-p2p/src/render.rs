//! How the P2P dialect writes transfers, operations, cards and callbacks: the seed's field
//! names and types (`payments/show`), amounts as integer minor units, times as
//! `2020-08-26T08:25:37.000Z`, cards masked as first 6 and last 4 digits with nothing between.

use obol_core::Timestamp;
use obol_core::money::Money;
use obol_core::p2p::{Operation, P2pCard, Transfer};
use serde_json::{Value, json};

pub fn time(at: Timestamp) -> String {
    at.to_rfc3339_millis()
}

fn optional_minor(amount: Option<Money>) -> Value {
    amount.map_or(Value::Null, |money| json!(money.minor()))
}

pub fn operation(operation: &Operation) -> Value {
    json!({
        "id": operation.id.as_str(),
        "externalId": operation.external_id,
        "amount": operation.amount.minor(),
        "commissionAmount": operation.commission.minor(),
        "status": operation.status.as_str(),
        "type": operation.kind.as_str(),
        "createdAt": time(operation.created_at),
    })
}

/// A transfer as `payments/show` answers it (plus `externalId` and `currency`).
pub fn transfer(transfer: &Transfer) -> Value {
    json!({
        "id": transfer.id.as_str(),
        "receiptId": transfer.receipt_id.as_str(),
        "externalId": transfer.external_id,
        "type": transfer.kind.as_str(),
        "status": transfer.status.as_str(),
        "description": transfer.description,
        "callbackUrl": transfer.callback_url,
        "amount": transfer.amount.minor(),
        "currency": transfer.amount.currency().numeric(),
        "pendingAmount": transfer.pending.minor(),
        "commissionAmount": transfer.commission.minor(),
        "returnAmount": optional_minor(transfer.returned),
        "returnCommissionAmount": optional_minor(transfer.returned_commission),
        "cardFromId": transfer.card_from.id.as_str(),
        "cardToId": transfer.card_to.as_ref().map(|card| card.id.as_str()),
        "cardFromMasked": transfer.card_from.masked,
        "cardToMasked": transfer.card_to.as_ref().map(|card| card.masked.as_str()),
        "createdAt": time(transfer.created_at),
        "operations": transfer.operations.iter().map(operation).collect::<Vec<_>>(),
    })
}

/// A transfer as `create`, `confirm` and `receive` answer it: the show object, plus
/// `confirmation{url, type}` while the sender must confirm.
pub fn transfer_with_confirmation(transfer: &Transfer, confirmation_url: Option<&str>) -> Value {
    let mut value = self::transfer(transfer);
    if let (Some(kind), Some(url), Value::Object(object)) =
        (transfer.confirmation, confirmation_url, &mut value)
        && transfer.status == obol_core::p2p::TransferStatus::NeedsConfirmation
    {
        object.insert(
            "confirmation".to_owned(),
            json!({ "url": url, "type": kind.as_str() }),
        );
    }
    value
}

pub fn card(card: &P2pCard) -> Value {
    json!({
        "cardId": card.id.as_str(),
        "id": card.id.as_str(),
        "panMasked": card.masked(),
        "brand": card.payload.brand,
        "expiry": format!("{:02}/{:02}", card.payload.expiry_month, card.payload.expiry_year % 100),
        "holder": card.payload.holder,
        "createdAt": time(card.created_at),
    })
}

/// The claims of a callback's JWT: the transfer as SPEC §3.4 names them (the delivery worker
/// adds `iat` when it signs them, see [`callback_body`]).
pub fn callback_claims(transfer: &Transfer) -> Value {
    json!({
        "paymentId": transfer.id.as_str(),
        "externalId": transfer.external_id,
        "paymentNumber": transfer.receipt_id.as_str(),
        "cardFromMasked": transfer.card_from.masked,
        "cardToMasked": transfer.card_to.as_ref().map(|card| card.masked.as_str()),
        "amount": transfer.amount.minor(),
        "commissionAmount": transfer.commission.minor(),
        "pendingAmount": transfer.pending.minor(),
        "returnAmount": optional_minor(transfer.returned),
        "returnCommissionAmount": optional_minor(transfer.returned_commission),
        "currency": transfer.amount.currency().numeric(),
        "status": transfer.status.as_str(),
        "type": transfer.kind.as_str(),
    })
}

/// The body a callback is posted with: `{"token": <JWT HS256>}` over the stored claims and
/// `iat` = the time of this attempt, signed with the client's signing key.
pub fn callback_body(claims: &[u8], signing_key: &str, now: Timestamp) -> Vec<u8> {
    let mut claims: Value = serde_json::from_slice(claims).unwrap_or_else(|_| json!({}));
    if let Value::Object(object) = &mut claims {
        object.insert("iat".to_owned(), json!(now.unix_seconds()));
    }
    let token = obol_http::tokens::sign_with(signing_key.as_bytes(), &claims);
    json!({ "token": token }).to_string().into_bytes()
}
