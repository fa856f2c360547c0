//! YooKassa's notifications from the sandbox: every status change of a sandbox payment
//! (`payment.waiting_for_capture`, `payment.succeeded`, `payment.canceled`) and every refund
//! (`refund.succeeded`) is posted to the shop's webhook URL as
//! `{"type": "notification", "event": …, "object": …}`, the object exactly as the sandbox's
//! `GET` writes it. They are callbacks like any other: written in the transaction of the change,
//! signed with Obol's headers, delivered in order per payment and retried on the default
//! backoff until any 2xx. A payment's creation (`pending`) is not notified, as in YooKassa.

use futures_util::future::BoxFuture;
use obol_core::money::Money;
use obol_core::payment::{Payment, PaymentEvent, Transition};
use obol_core::time::Timestamp;
use obol_http::callbacks::outbox::new_delivery_id;
use obol_http::door::{CallbackDialect, CallbackFormat, RenderContext};
use obol_store::ops::callbacks::{NewCallback, Signer, Subject};
use obol_store::ops::{ledger, tenancy};
use obol_store::{Db, Entity, StoreError, StoreResult};
use serde_json::{Value, json};

use super::payments::{YkStatus, payment_json};
use super::refunds::refund_object;

pub struct SandboxNotifications;

/// The event a change is notified as, if it is one YooKassa notifies.
fn payment_event(payment: &Payment, event: &PaymentEvent) -> Option<&'static str> {
    let changes_status = matches!(
        event,
        PaymentEvent::Authorized { .. }
            | PaymentEvent::Succeeded { .. }
            | PaymentEvent::Failed { .. }
            | PaymentEvent::Expired
            | PaymentEvent::Deleted
            | PaymentEvent::CompletedByManager { .. }
    );
    if !changes_status {
        return None;
    }
    match YkStatus::of(payment) {
        YkStatus::Pending => None,
        YkStatus::WaitingForCapture => Some("payment.waiting_for_capture"),
        YkStatus::Succeeded => Some("payment.succeeded"),
        YkStatus::Canceled => Some("payment.canceled"),
    }
}

/// The notification's body.
pub(crate) fn notification(event: &str, object: Value) -> Value {
    json!({ "type": "notification", "event": event, "object": object })
}

impl CallbackFormat for SandboxNotifications {
    fn dialect(&self) -> CallbackDialect {
        CallbackDialect::YookassaSandbox
    }

    fn render_transition<'a>(
        &'a self,
        db: &'a mut dyn Db,
        payment: &'a Payment,
        transition: &'a Transition,
        context: RenderContext<'a>,
        _now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Option<NewCallback>>> {
        Box::pin(async move {
            let Some(merchant_id) = payment.merchant_id else {
                return Ok(None);
            };
            let (event, object, status) = if let PaymentEvent::Refunded { .. } = transition.event {
                // The refund this change booked, as `GET /refunds/{id}` shows it.
                let id = ledger::latest_refund_of_payment(db, &payment.id)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Refund))?;
                let found = ledger::refund_transaction(db, id)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Refund))?;
                let amount = Money::from_minor(found.returned_minor, payment.amount.currency())
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                (
                    "refund.succeeded",
                    refund_object(id, &payment.id, amount, found.created_at),
                    "succeeded",
                )
            } else {
                let Some(event) = payment_event(payment, &transition.event) else {
                    return Ok(None);
                };
                (
                    event,
                    payment_json(context.public_url, context.key, payment),
                    YkStatus::of(payment).as_str(),
                )
            };
            let Some(url) = tenancy::merchant_webhook_url(db, merchant_id).await? else {
                return Ok(None);
            };
            Ok(Some(NewCallback {
                delivery_id: new_delivery_id(),
                subject: Subject::Payment(payment.id.clone()),
                signer: Signer::Merchant(merchant_id),
                dialect: CallbackDialect::YookassaSandbox.as_str().to_owned(),
                url,
                body: notification(event, object).to_string().into_bytes(),
                transaction_status: status.to_owned(),
                mode: payment.mode(),
            }))
        })
    }
}
