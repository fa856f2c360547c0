//! ActivePlatform's view of the core's records: payments, resellers, methods, managers; times
//! as the seed writes them (`2019-11-01T04:30:47.797788+0000`), money as decimal strings
//! (`"99.0"`).

use obol_core::catalog::PaymentMethod;
use obol_core::payment::{Payment, PaymentStatus};
use obol_core::tenancy::{Manager, Reseller};
use obol_core::time::Timestamp;
use obol_store::ops::ledger::StoredPosting;
use serde_json::{Value, json};

/// `2019-11-01T04:30:47.797788+0000` (UTC).
pub fn time(at: Timestamp) -> String {
    let fields = at.to_utc_fields();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
        fields.year,
        fields.month,
        fields.day,
        fields.hour,
        fields.minute,
        fields.second,
        fields.microsecond
    )
}

/// `waiting_for_payment`, `completed`, `expired` or `cancelled` (SPEC §2).
pub fn status(payment: &Payment) -> &'static str {
    match payment.status {
        PaymentStatus::Created | PaymentStatus::Pending => "waiting_for_payment",
        PaymentStatus::Processed | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => {
            "completed"
        }
        PaymentStatus::Failed => "cancelled",
        PaymentStatus::Expired | PaymentStatus::Deleted => "expired",
    }
}

/// The core statuses an ActivePlatform status filter means.
pub fn core_statuses(status: &str) -> Option<&'static [&'static str]> {
    match status {
        "waiting_for_payment" => Some(&["created", "pending"]),
        "completed" => Some(&["processed", "partially_refunded", "refunded"]),
        "cancelled" => Some(&["failed"]),
        "expired" => Some(&["expired", "deleted"]),
        _ => None,
    }
}

fn money(payment: &Payment) -> String {
    payment.amount.to_decimal_trimmed(1)
}

fn attributes(payment: &Payment) -> Value {
    payment
        .dialect_attributes
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| json!({}))
}

/// A payment resource; `corrections` are the ids of its correction transactions.
pub fn payment(
    payment: &Payment,
    method: Option<&PaymentMethod>,
    corrections: &[i64],
    public_url: &str,
) -> Value {
    let extra = attributes(payment);
    let method_id = payment.completed_method_id.or(payment.method_id);
    json!({
        "id": payment.number.get().to_string(),
        "type": "payments",
        "attributes": {
            "created_at": time(payment.created_at),
            "updated_at": time(payment.updated_at),
            "account_id": payment.customer_account_id.map(|account| account.get()),
            "discount_amount": "0.0",
            "total": money(payment),
            "currency_code": payment.amount.currency().code(),
            "comment": payment.description.clone().unwrap_or_default(),
            "status": status(payment),
            "document_id": payment.document_id.get().to_string(),
            "expiration_date": payment.expires_at.map(time),
            "payment_method_id": method_id.map(|id| id.get()),
            "requester_ip": payment.requester_ip,
            "manager_id": payment.completed_by.map(|manager| manager.get()),
            "purpose": extra["purpose"].as_str().unwrap_or_default(),
            "external_total": extra.get("external_total").cloned().unwrap_or(Value::Null),
            "external_currency": extra.get("external_currency").cloned().unwrap_or(Value::Null),
            "due_date": extra.get("due_date").cloned().unwrap_or(Value::Null),
            "payment_method_name": method.map(|method| method.name.en.clone()),
            "closed_at": payment.closed_at.filter(|_| payment.status.is_paid()).map(time),
        },
        "relationships": {
            "orders": { "data": [] },
            "invoices": { "data": [] },
            "corrections": { "data": corrections.iter().map(|id| json!({ "id": id.to_string(), "type": "corrections" })).collect::<Vec<_>>() },
            "reseller": { "data": { "id": payment.reseller_id.get().to_string(), "type": "resellers" } },
            "account": { "data": payment.customer_account_id.map(|account| json!({ "id": account.get().to_string(), "type": "accounts" })) },
            "payment_method": { "data": method_id.map(|id| json!({ "id": id.get().to_string(), "type": "payment_methods" })) },
        },
        "links": {
            "self": format!("/api/v3/resellers/{}/payments/{}", payment.reseller_id, payment.number.get()),
            "payment_page": format!("{public_url}/hpp/?cpi={}", payment.id),
        }
    })
}

/// A correction resource (`included` with `?include=corrections`): money received outside
/// Obol for the payment and credited to its customer account, with the comment the seed gives
/// such corrections.
pub fn correction(payment: &Payment, correction: &StoredPosting) -> Value {
    json!({
        "id": correction.transaction_id.to_string(),
        "type": "corrections",
        "attributes": {
            "created_at": time(correction.created_at),
            "account_id": payment.customer_account_id.map(|account| account.get()),
            "payment_id": payment.number.get(),
            "amount": correction.amount.to_decimal_trimmed(1),
            "currency_code": correction.amount.currency().code(),
            "comment": format!(
                "Accounting of the amount received on the basis of {} from an external system.",
                payment.document_id.get()
            ),
        },
        "relationships": {
            "payment": { "data": { "id": payment.number.get().to_string(), "type": "payments" } },
            "account": { "data": payment.customer_account_id.map(|account| json!({ "id": account.get().to_string(), "type": "accounts" })) },
        }
    })
}

pub fn reseller(reseller: &Reseller) -> Value {
    json!({
        "id": reseller.id.get().to_string(),
        "type": "resellers",
        "attributes": {
            "created_at": time(reseller.created_at),
            "updated_at": time(reseller.updated_at),
            "parent_id": reseller.parent_id.map(|parent| parent.get()),
            "general": { "name": reseller.name.as_str(), "domain": null, "manager": null, "currency": null },
            "company": {},
        }
    })
}

pub fn payment_method(method: &PaymentMethod) -> Value {
    json!({
        "id": method.id.get().to_string(),
        "type": "payment_methods",
        "attributes": {
            "name": method.name.en,
            "code": method.code,
            "category": method.category,
            "online": method.online,
            "names": { "en": method.name.en, "ru": method.name.ru, "uk": method.name.uk },
        }
    })
}

pub fn manager(manager: &Manager) -> Value {
    json!({
        "id": manager.id.get().to_string(),
        "type": "managers",
        "attributes": {
            "name": manager.name.as_str(),
            "role": manager.role.as_str(),
            "reseller_id": manager.reseller_id.get(),
            "created_at": time(manager.created_at),
        }
    })
}

pub fn account(id: i64, reseller: i64, name: &str) -> Value {
    json!({ "id": id.to_string(), "type": "accounts", "attributes": { "name": name, "reseller_id": reseller } })
}
