//! Paymega's view of the core's records: invoices (private and public), services, methods.
//! Amounts are JSON numbers written from the exact decimal text; times are Unix seconds.

use obol_core::Money;
use obol_core::catalog::{PaymentMethod, PaymentService};
use obol_core::payment::{Payment, PaymentStatus};
use obol_core::time::Timestamp;
use serde_json::{Map, Value, json};

use obol_http::crypto::OperatorKey;
use obol_http::tokens;

/// A JSON number with exactly the amount's decimal text (`100`, `123.45`), never via `f64`.
pub fn number(money: Money) -> Value {
    decimal_number(&money.to_decimal_trimmed(0))
}

fn decimal_number(text: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(text)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn optional_number(money: Money, present: bool) -> Value {
    if present { number(money) } else { Value::Null }
}

fn seconds(at: Timestamp) -> Value {
    json!(at.unix_seconds())
}

/// Stored JSON text back as JSON (it was checked when stored).
fn stored_json(text: &Option<String>) -> Value {
    text.as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

/// Paymega's `status` and `resolution` of a payment (SPEC §2 and §3.1).
pub fn status_and_resolution(payment: &Payment) -> (&'static str, &'static str) {
    let resolution = payment.resolution.as_str();
    match payment.status {
        PaymentStatus::Created => ("created", "ok"),
        PaymentStatus::Pending => ("process_pending", "ok"),
        PaymentStatus::Processed => ("processed", "ok"),
        PaymentStatus::Failed => ("process_failed", resolution),
        // A payment attempt was under way (it has a service): the seed's list shows
        // `process_failed` / `expired`; one never started is `expired` / `expired`.
        PaymentStatus::Expired if payment.service_id.is_some() => ("process_failed", "expired"),
        PaymentStatus::Expired => ("expired", "expired"),
        PaymentStatus::Deleted => ("terminated", "expired"),
        PaymentStatus::PartiallyRefunded => ("partially_refunded", "ok"),
        PaymentStatus::Refunded => ("refunded", "ok"),
    }
}

/// The hosted page's address and its signed, expiring token (`flow_data`, `active_payment.payload`).
pub fn flow_data(payment: &Payment, public_url: &str, key: &OperatorKey) -> Value {
    let expires_at = payment
        .expires_at
        .unwrap_or_else(|| payment.created_at.plus_seconds(2 * 86_400));
    json!({
        "action": format!("{public_url}/hpp/?cpi={}", payment.id),
        "method": "GET",
        "params": [],
        "metadata": {
            "sid": payment.id.as_str(),
            "token": tokens::issue(key, tokens::purpose::PAGE, payment.id.as_str(), expires_at),
        }
    })
}

fn card_payload(payment: &Payment) -> Value {
    match &payment.card {
        None => Value::Null,
        Some(card) => json!({
            "token": null,
            "client_ip": payment.requester_ip.clone().unwrap_or_default(),
            "payment_card": {
                "last": card.last4,
                "mask": card.mask(),
                "brand": card.brand,
                "first": card.first6,
                "holder": card.holder,
                "network": card.brand,
                "expiry_year": format!("{:02}", card.expiry_year % 100),
                "issuer_name": card.issuer,
                "expiry_month": format!("{:02}", card.expiry_month),
                "issuer_country": null,
            }
        }),
    }
}

fn is_paid(payment: &Payment) -> bool {
    payment.status.is_paid()
}

/// The private API's invoice resource (`{"type": "payment-invoices", "id", "attributes", …}`).
/// A JSON:API document holding `data`. Built by hand: `json!` would copy `data` through the
/// serializer, which cost a creation as much as writing the answer out.
pub fn document(data: Value) -> Value {
    let mut document = Map::with_capacity(1);
    document.insert("data".to_owned(), data);
    Value::Object(document)
}

pub fn private_invoice(
    payment: &Payment,
    service: Option<&PaymentService>,
    public_url: &str,
    key: &OperatorKey,
    callback_logs: Value,
) -> Value {
    let (status, resolution) = status_and_resolution(payment);
    let paid = is_paid(payment);
    let attempted = payment.card.is_some()
        || payment.status != PaymentStatus::Created && payment.status != PaymentStatus::Pending;
    let mut relationships = Map::new();
    if let Some(service) = service {
        relationships.insert(
            "payment-service".into(),
            json!({ "data": { "type": "payment-services", "id": service.code } }),
        );
        relationships.insert(
            "payment-method".into(),
            json!({ "data": { "type": "payment-methods", "id": service.method_code } }),
        );
    }
    if let Some(customer) = &payment.customer_id {
        relationships.insert(
            "customer".into(),
            json!({ "data": { "type": "customers", "id": customer.as_str() } }),
        );
    }
    json!({
        "type": "payment-invoices",
        "id": payment.id.as_str(),
        "attributes": {
            "serial_number": payment.id.serial(),
            "status": status,
            "resolution": resolution,
            "moderation_required": false,
            "amount": number(payment.amount),
            "payment_amount": number(payment.amount),
            "currency": payment.amount.currency().code(),
            "service_currency": service.map_or(payment.amount.currency().code(), |service| service.currency.code()),
            "reference_id": payment.reference_id,
            "test_mode": payment.test_mode,
            "fee": number(payment.fee),
            "deposit": number(payment.deposit),
            "processed": payment.processed_at.map(seconds),
            "processed_amount": optional_number(payment.processed_amount, paid),
            "refunded_amount": optional_number(payment.refunded_amount, !payment.refunded_amount.is_zero()),
            "processed_fee": optional_number(payment.fee, paid),
            "processed_deposit": optional_number(payment.deposit, paid),
            "metadata": stored_json(&payment.metadata),
            "flow_data": flow_data(payment, public_url, key),
            "flow": service.map(|service| service.flow.as_str()),
            "payment_flow": payment.flow.as_str(),
            "created": seconds(payment.created_at),
            "updated": seconds(payment.updated_at),
            "payload": card_payload(payment),
            "description": payment.description,
            "descriptor": null,
            "callback_url": payment.callback_url,
            "return_url": payment.return_urls.default,
            "original_data": {
                "external_id": if attempted { Value::from(payment.id.as_str()) } else { Value::Null },
                "merchant_id": null,
                "provider_id": null,
                "external_mid": payment.merchant_id.map(|merchant| format!("merchant:{merchant}")),
                "provider_code": if attempted { Value::from("sandbox") } else { Value::Null },
            },
            "rrn": null,
            "approval_code": null,
            "reserved_amount": null,
            "reserve_expires": null,
            "unreserved": null,
            "source": payment.source.as_str(),
            "callback_logs": callback_logs,
        },
        "relationships": relationships,
        "links": { "self": format!("/api/payment-invoices/{}", payment.id) },
    })
}

/// The public API's invoice (`{"id", "serial_number", …, "active_payment"}`).
pub fn public_invoice(
    payment: &Payment,
    service: Option<&PaymentService>,
    public_url: &str,
    key: &OperatorKey,
) -> Value {
    let (status, resolution) = status_and_resolution(payment);
    let public_resolution = if resolution == "ok" { "OK" } else { resolution };
    let paid = is_paid(payment);
    let has_return_url = payment.return_urls.default.is_some()
        || payment.return_urls.success.is_some()
        || payment.return_urls.fail.is_some()
        || payment.return_urls.pending.is_some();
    let active_status = if payment.status == PaymentStatus::Pending {
        "invoked"
    } else {
        status
    };
    json!({
        "id": payment.id.as_str(),
        "serial_number": payment.id.serial(),
        "created": seconds(payment.created_at),
        "test_mode": payment.test_mode,
        "reference_id": payment.reference_id,
        "currency": payment.amount.currency().code(),
        "amount": number(payment.amount),
        "payment_amount": number(payment.amount),
        "processed_amount": optional_number(payment.processed_amount, paid),
        "refunded_amount": optional_number(payment.refunded_amount, !payment.refunded_amount.is_zero()),
        "description": payment.description,
        "has_return_url": has_return_url,
        "status": status,
        "resolution": public_resolution,
        "service": service.map(|service| service.code.as_str()),
        "service_method": service.map(|service| service.method_code.as_str()),
        "service_flow": service.map(|service| service.flow.as_str()),
        "service_currency": service.map(|service| service.currency.code()),
        "metadata": stored_json(&payment.metadata),
        "active_payment": {
            "payload": flow_data(payment, public_url, key),
            "status": active_status,
            "resolution": public_resolution,
        }
    })
}

/// The seed's `callback_logs`: `[]` while empty, then an object keyed by the Unix time each
/// callback was made (`{"status": "done", "processed": …, "response_code": 200,
/// "transaction_status": "processed"}`).
pub fn callback_logs(callbacks: &[obol_store::ops::callbacks::Callback]) -> Value {
    // A callback enters the log with its first attempt.
    let attempted: Vec<_> = callbacks
        .iter()
        .filter(|callback| callback.attempts > 0)
        .collect();
    if attempted.is_empty() {
        return json!([]);
    }
    let mut logs = Map::new();
    for callback in attempted {
        let mut second = callback.created_at.unix_seconds();
        // Two callbacks in one second keep both entries: the later moves to the next free key.
        while logs.contains_key(&second.to_string()) {
            second += 1;
        }
        let status = match callback.status {
            obol_store::ops::callbacks::CallbackStatus::Delivered => "done",
            obol_store::ops::callbacks::CallbackStatus::Pending => "pending",
            obol_store::ops::callbacks::CallbackStatus::Failed => "failed",
        };
        logs.insert(
            second.to_string(),
            json!({
                "status": status,
                "processed": callback.delivered_at.map(|at| at.unix_seconds()),
                "response_code": callback.last_response_code,
                "transaction_status": callback.transaction_status,
            }),
        );
    }
    Value::Object(logs)
}

/// A merchant's service in the private list (`payment-services`).
pub fn service_resource(link_id: &str, service: &PaymentService) -> Value {
    json!({
        "type": "payment-services",
        "id": link_id,
        "attributes": {
            "service": service.code,
            "service_method": service.method_code,
            "service_currency": service.currency.code(),
            "available": service.available,
            "active": service.active,
            "enabled": service.enabled,
            "amount_min": number(service.amount_min),
            "amount_max": number(service.amount_max),
            "fee_min": number(money_or_zero(service.fee.min_minor, service)),
            "fee_max": number(money_or_zero(service.fee.max_minor, service)),
            "fee_rate": decimal_number(&service.fee.rate.to_percent_string()),
            "fee_fix": number(money_or_zero(service.fee.fixed_minor, service)),
            "reserve_lifetime": service.reserve_lifetime_s,
            "reserve_rate": decimal_number(&obol_core::fee::FeeRate::from_percent_e4(service.reserve_rate_percent_e4).unwrap_or_default().to_percent_string()),
            "currency": service.currency.code(),
            "test_mode": service.test_mode,
        },
        "relationships": {
            "payment-method": { "data": { "type": "payment-methods", "id": service.method_code } },
            "payment-service": { "data": { "type": "payment-services", "id": service.code } },
        },
        "links": { "self": format!("/api/payment-services/{link_id}") },
    })
}

fn money_or_zero(minor: i64, service: &PaymentService) -> Money {
    Money::from_minor(minor, service.currency).unwrap_or(service.amount_min)
}

/// A service as the pre-request lists it.
pub fn prerequest_service(service: &PaymentService) -> Value {
    let fields: Vec<Value> = service
        .fields
        .iter()
        .map(|field| {
            json!({
                "key": field.key,
                "type": field.field_type,
                "label": { "ru": field.label.ru, "en": field.label.en, "uk": field.label.uk },
                "example": field.example,
                "hint": { "ru": field.hint.ru, "en": field.hint.en, "uk": field.hint.uk },
                "regexp": field.regexp,
                "required": field.required,
                "position": field.position,
            })
        })
        .collect();
    json!({
        "code": service.code,
        "method": service.method_code,
        "flow": service.flow.as_str(),
        "currency": service.currency.code(),
        "fields": fields,
        "amount_min": number(service.amount_min),
        "amount_max": number(service.amount_max),
    })
}

/// A method as the pre-request lists it.
pub fn prerequest_method(method: &PaymentMethod) -> Value {
    json!({
        "code": method.code,
        "category": method.category,
        "description": "",
        "name": { "en": method.name.en, "ru": method.name.ru, "uk": method.name.uk },
        "logo": method.logo_url,
        "icon": method.icon_url,
        "metadata": null,
        "position": null,
        "hide": null,
    })
}
