//! Softline's view of a payment: its status words, the order view, the payment link, and the
//! webhook body.

use obol_core::payment::{Payment, PaymentStatus};
use obol_core::time::Timestamp;
use serde_json::{Value, json};

use obol_http::crypto::{KeyPurpose, OperatorKey, hex};

/// `not paid`, `paid` or `deleted` (SPEC §2).
pub fn status(payment: &Payment) -> &'static str {
    match payment.status {
        PaymentStatus::Processed | PaymentStatus::PartiallyRefunded => "paid",
        PaymentStatus::Deleted | PaymentStatus::Refunded => "deleted",
        PaymentStatus::Created
        | PaymentStatus::Pending
        | PaymentStatus::Failed
        | PaymentStatus::Expired => "not paid",
    }
}

/// RFC 3339 with seconds and the offset (`2021-08-13T09:16:35+00:00`), as the test vector
/// writes `create_date`.
pub fn date(at: Timestamp) -> String {
    let fields = at.to_utc_fields();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second
    )
}

/// The key purpose of order-link hashes.
const ORDER_LINK: KeyPurpose<'static> = KeyPurpose::LinkHash("softline_order");

fn order_message(order_id: i64) -> String {
    format!("softline-order:{order_id}")
}

/// 32 hex characters: the first half of an HMAC-SHA256.
fn link_hash(digest: &[u8; 32]) -> String {
    hex(&digest[..16])
}

/// The unguessable part of an order link: HMAC-SHA256 of the order number under the order-link
/// key (derived from the operator key), 32 hex characters.
pub fn order_hash(key: &OperatorKey, order_id: i64) -> String {
    link_hash(
        &key.derive(ORDER_LINK)
            .mac(order_message(order_id).as_bytes()),
    )
}

/// Whether `presented` is the hash of this order's link: the one [`order_hash`] makes, or the
/// one made under the operator key itself before per-purpose keys, so that links already
/// handed out (a payment lives 90 days unpaid, and a paid one's link still leads back to the
/// shop) keep opening. Both are compared in constant time.
pub fn order_hash_matches(key: &OperatorKey, order_id: i64, presented: &str) -> bool {
    let current = obol_core::credentials::constant_time_eq(
        presented.as_bytes(),
        order_hash(key, order_id).as_bytes(),
    );
    let legacy = key.legacy().mac_matches(
        order_message(order_id).as_bytes(),
        presented.as_bytes(),
        link_hash,
    );
    current | legacy
}

/// The payment's locale, else the merchant's default language as a locale.
pub fn locale_of(payment: &Payment, merchant_default: &str) -> String {
    payment
        .locale
        .clone()
        .unwrap_or_else(|| match merchant_default {
            "ru" => "ru_RU".to_owned(),
            "uk" => "uk_UA".to_owned(),
            _ => "en_EN".to_owned(),
        })
}

/// `{public_url}/order/status/{order_id}/{hash}?lang={locale}`.
pub fn payment_url(
    public_url: &str,
    key: &OperatorKey,
    payment: &Payment,
    merchant_default: &str,
) -> String {
    let order_id = payment.order_id.get();
    format!(
        "{public_url}/order/status/{order_id}/{}?lang={}",
        order_hash(key, order_id),
        locale_of(payment, merchant_default)
    )
}

/// The dialect's attributes kept on the payment.
pub fn attributes(payment: &Payment) -> Value {
    payment
        .dialect_attributes
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| json!({}))
}

/// `GET /v1/order/{order_id}`: the payment's data and status (never `additional_data`).
pub fn order(payment: &Payment, payment_url: &str) -> Value {
    let attributes = attributes(payment);
    json!({
        "order_id": payment.order_id.get(),
        "payment_id": payment.external_id,
        "status": status(payment),
        "amount": payment.amount.to_decimal_string(),
        "currency": payment.amount.currency().code(),
        "payment_method": attributes["payment_method"],
        "payment_description": payment.description,
        "recurring_indicator": attributes["recurring_indicator"],
        "locale": payment.locale,
        "return_success_url": payment.return_urls.success,
        "payment_url": payment_url,
        "create_date": date(payment.created_at),
        "pay_date": payment.processed_at.map(date),
        "refunded_amount": payment.refunded_amount.to_decimal_string(),
        "customer": attributes["customer"],
    })
}

/// The webhook event a payment's current state announces, if any.
pub fn webhook_event(payment: &Payment, creation: bool) -> Option<&'static str> {
    if creation {
        return Some("order.created");
    }
    match payment.status {
        PaymentStatus::Processed => Some("order.payment.succeeded"),
        PaymentStatus::Failed => Some("order.payment.failed"),
        PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => Some("product.returned"),
        _ => None,
    }
}

/// The webhook body (SPEC §3.2).
pub fn webhook(payment: &Payment, event: &str, at: Timestamp, order_detail_url: &str) -> Value {
    let attributes = attributes(payment);
    json!({
        "event": event,
        "event_date": date(at),
        "order_id": payment.order_id.get(),
        "order_name": payment.description,
        "status": status(payment),
        "external_id": payment.external_id,
        "create_date": date(payment.created_at),
        "pay_date": payment.processed_at.map(date),
        "currency": payment.amount.currency().code(),
        "amount": payment.amount.to_decimal_string(),
        "locale": payment.locale,
        "recurring_indicator": attributes["recurring_indicator"],
        "order_detail_url": order_detail_url,
        "customer": attributes["customer"],
        "payment": {
            "payment_method": attributes["payment_method"],
            "payment_system_name": payment.card.as_ref().map(|card| card.brand.clone()),
            "card_last_4": payment.card.as_ref().map(|card| card.last4.clone()),
        }
    })
}

/// The `signature` header: hex SHA-512 of
/// `secret;event;order_id;create_date;payment_method;currency;customer.email`.
pub fn webhook_signature(secret: &str, body: &Value) -> String {
    use sha2::{Digest, Sha512};
    let field = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let text = format!(
        "{secret};{};{};{};{};{};{}",
        field(&body["event"]),
        field(&body["order_id"]),
        field(&body["create_date"]),
        field(&body["payment"]["payment_method"]),
        field(&body["currency"]),
        field(&body["customer"]["email"]),
    );
    Sha512::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha512};

    #[test]
    fn the_documented_test_vector() {
        let body = json!({
            "event": "order.created",
            "order_id": 5555555,
            "create_date": "2021-08-13T09:16:35+03:00",
            "currency": "RUB",
            "customer": { "email": "customer@mail.ru" },
            "payment": { "payment_method": "CreditCard" }
        });
        let expected: String = Sha512::digest(b"secret_key;order.created;5555555;2021-08-13T09:16:35+03:00;CreditCard;RUB;customer@mail.ru")
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(webhook_signature("secret_key", &body), expected);
        assert_eq!(expected.len(), 128);
    }

    #[test]
    fn order_links_open_with_the_new_hash_and_the_legacy_one_only() {
        use base64::Engine;
        let key = OperatorKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key.to_base64())
            .unwrap();
        // A link handed out before per-purpose keys: HMAC under the operator key itself.
        let legacy = hex(&obol_http::crypto::hmac_sha256(&raw, b"softline-order:42")[..16]);
        let current = order_hash(&key, 42);
        assert_eq!(current.len(), 32);
        assert_ne!(current, legacy, "new links use the order-link key");
        assert!(order_hash_matches(&key, 42, &current));
        assert!(
            order_hash_matches(&key, 42, &legacy),
            "old links still open"
        );
        assert!(!order_hash_matches(&key, 43, &current));
        assert!(!order_hash_matches(&key, 43, &legacy));
        assert!(!order_hash_matches(&key, 42, &current[..31]));
        assert!(!order_hash_matches(&key, 42, ""));
        let other =
            OperatorKey::from_base64("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").unwrap();
        assert!(!order_hash_matches(&other, 42, &current));
        assert!(!order_hash_matches(&other, 42, &legacy));
    }

    #[test]
    fn dates_carry_seconds_and_the_offset() {
        assert_eq!(
            date(Timestamp::from_unix_seconds(1_628_835_395)),
            "2021-08-13T06:16:35+00:00"
        );
    }
}
