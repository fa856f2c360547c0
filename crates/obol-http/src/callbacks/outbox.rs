//! Writing callbacks: the only way server code changes a payment is through [`Outbox`], which
//! performs the change and, in the same transaction, writes the callback that reports it (to
//! the payment's own `callback_url`, else the merchant's webhook URL), in the format of the
//! dialect the payment came through.

use std::sync::Arc;

use obol_core::catalog::PaymentService;
use obol_core::ids::{PaymentId, Uuid};
use obol_core::payment::{Actor, Payment, PaymentDraft, PaymentEvent, Transition};
use obol_core::time::Timestamp;
use obol_store::Db;
use obol_store::StoreResult;
use obol_store::ops::callbacks::{self, Callback};
use obol_store::ops::payments;

use crate::crypto::{OperatorKey, OsRandom};
use crate::door::{CallbackDialect, CallbackFormat, Registry, RenderContext};

/// A new callback's delivery id (a UUID v4), sent with every attempt as `X-Obol-Delivery-Id`.
pub fn new_delivery_id() -> String {
    Uuid::generate_v4(&mut OsRandom).as_str().to_owned()
}

#[derive(Clone)]
pub struct Outbox {
    public_url: Arc<str>,
    key: OperatorKey,
    /// The doors' callback formats, by the payment's door.
    registry: Arc<Registry>,
}

impl Outbox {
    pub fn new(public_url: Arc<str>, key: OperatorKey, registry: Arc<Registry>) -> Outbox {
        Outbox {
            public_url,
            key,
            registry,
        }
    }

    /// Creates a payment and writes its creation callback.
    pub async fn insert(
        &self,
        db: &mut dyn Db,
        draft: PaymentDraft,
        id: PaymentId,
        service: Option<&PaymentService>,
        now: Timestamp,
    ) -> StoreResult<Payment> {
        let payment = payments::insert_payment(db, draft, id, service, now).await?;
        self.record(db, &payment, now, true).await?;
        Ok(payment)
    }

    /// Applies `event` to a payment and writes the callback of its new state.
    pub async fn transition(
        &self,
        db: &mut dyn Db,
        id: &PaymentId,
        event: PaymentEvent,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<(Payment, Transition)> {
        let (payment, transition) = payments::transition(db, id, event, actor, now).await?;
        if let Some(format) = self.format_of(&payment) {
            let context = self.context();
            if let Some(callback) = format
                .render_transition(db, &payment, &transition, context, now)
                .await?
            {
                callbacks::enqueue(db, callback, now).await?;
            }
        }
        Ok((payment, transition))
    }

    /// The callback format of the door a payment came through, if that door has one.
    fn format_of(&self, payment: &Payment) -> Option<&Arc<dyn CallbackFormat>> {
        CallbackDialect::of_source(payment.source).and_then(|dialect| self.registry.format(dialect))
    }

    fn context(&self) -> RenderContext<'_> {
        RenderContext {
            public_url: &self.public_url,
            key: &self.key,
        }
    }

    /// Writes the callback of a payment's current state (`creation`: it was just created),
    /// in the format of the door it came through, when that door reports this change and the
    /// callback has somewhere to go.
    pub async fn record(
        &self,
        db: &mut dyn Db,
        payment: &Payment,
        now: Timestamp,
        creation: bool,
    ) -> StoreResult<Option<Callback>> {
        let Some(format) = self.format_of(payment) else {
            return Ok(None);
        };
        let context = self.context();
        match format
            .render_payment(db, payment, context, now, creation)
            .await?
        {
            Some(callback) => Ok(Some(callbacks::enqueue(db, callback, now).await?)),
            None => Ok(None),
        }
    }
}
