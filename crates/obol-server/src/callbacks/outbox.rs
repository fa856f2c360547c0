//! Writing callbacks: the only way server code changes a payment is through [`Outbox`], which
//! performs the change and, in the same transaction, writes the callback that reports it (to
//! the payment's own `callback_url`, else the merchant's webhook URL), in the format of the
//! dialect the payment came through.

use std::sync::Arc;

use obol_core::catalog::PaymentService;
use obol_core::ids::{PaymentId, Uuid};
use obol_core::p2p::{Transfer, TransferStatus};
use obol_core::payment::{Actor, Payment, PaymentDraft, PaymentEvent, Source, Transition};
use obol_core::time::Timestamp;
use obol_store::Db;
use obol_store::StoreResult;
use obol_store::ops::callbacks::{self, Callback, NewCallback, Signer, Subject};
use obol_store::ops::{catalog, payments, tenancy};
use serde_json::json;

use crate::crypto::{OperatorKey, OsRandom};
use crate::paymega::render;

/// The dialect whose callback format a payment gets, by the door it came through.
pub fn dialect_of(source: Source) -> &'static str {
    match source {
        // Later dialects add their own formats here.
        Source::PublicApi | Source::MerchantApi | Source::Form | Source::Cli => "paymega",
        Source::SoftlineApi => "softline",
        Source::Manager | Source::P2p | Source::Yookassa | Source::YookassaSandbox => "paymega",
    }
}

#[derive(Clone)]
pub struct Outbox {
    public_url: Arc<str>,
    key: OperatorKey,
}

impl Outbox {
    pub fn new(public_url: Arc<str>, key: OperatorKey) -> Outbox {
        Outbox { public_url, key }
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
        self.record(db, &payment, now, false).await?;
        Ok((payment, transition))
    }

    /// Writes the callback of a payment's current state (`creation`: it was just created),
    /// when it has somewhere to go and its dialect reports this change.
    pub async fn record(
        &self,
        db: &mut dyn Db,
        payment: &Payment,
        now: Timestamp,
        creation: bool,
    ) -> StoreResult<Option<Callback>> {
        if dialect_of(payment.source) == "softline" {
            return self.record_softline(db, payment, now, creation).await;
        }
        // Payments relayed to YooKassa through `PaymentCommit`, and the YooKassa sandbox's: no
        // callbacks (YooKassa notifies shops with its own webhooks, which are not emulated).
        if matches!(payment.source, Source::Yookassa | Source::YookassaSandbox) {
            return Ok(None);
        }
        let url = match (&payment.callback_url, payment.merchant_id) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(merchant)) => {
                tenancy::get_merchant(db, merchant)
                    .await?
                    .settings
                    .webhook_url
            }
            (None, None) => None,
        };
        let Some(url) = url else { return Ok(None) };
        let dialect = dialect_of(payment.source);
        let services = catalog::list_services(db).await?;
        let service = payment
            .service_id
            .and_then(|id| services.iter().find(|service| service.id == id));
        let earlier = callbacks::for_payment(db, &payment.id).await?;
        let body = json!({ "data": render::private_invoice(payment, service, &self.public_url, &self.key, render::callback_logs(&earlier)) });
        let (status, _) = render::status_and_resolution(payment);
        let callback = NewCallback {
            delivery_id: Uuid::generate_v4(&mut OsRandom).as_str().to_owned(),
            subject: Subject::Payment(payment.id.clone()),
            signer: payment.merchant_id.map_or(Signer::None, Signer::Merchant),
            dialect: dialect.to_owned(),
            url,
            body: body.to_string().into_bytes(),
            transaction_status: status.to_owned(),
        };
        Ok(Some(callbacks::enqueue(db, callback, now).await?))
    }

    /// Writes the callback of a P2P transfer whose status changed from `before` (`None`: it was
    /// just created), to its `callbackUrl`. What is stored are the token's claims; the delivery
    /// worker signs them at each attempt (with a fresh `iat`) into `{"token": <JWT HS256 under
    /// the client's signing key>}`.
    pub async fn record_transfer(
        &self,
        db: &mut dyn Db,
        transfer: &Transfer,
        before: Option<TransferStatus>,
        now: Timestamp,
    ) -> StoreResult<Option<Callback>> {
        if before == Some(transfer.status) {
            return Ok(None);
        }
        let Some(url) = transfer.callback_url.clone() else {
            return Ok(None);
        };
        let claims = crate::p2p::render::callback_claims(transfer);
        let callback = NewCallback {
            delivery_id: Uuid::generate_v4(&mut OsRandom).as_str().to_owned(),
            subject: Subject::Transfer(transfer.id.clone()),
            signer: Signer::P2pClient(transfer.client_id),
            dialect: "p2p".to_owned(),
            url,
            body: claims.to_string().into_bytes(),
            transaction_status: transfer.status.as_str().to_owned(),
        };
        Ok(Some(callbacks::enqueue(db, callback, now).await?))
    }

    /// Softline's webhooks go to the merchant's webhook URL, for the four events it names.
    async fn record_softline(
        &self,
        db: &mut dyn Db,
        payment: &Payment,
        now: Timestamp,
        creation: bool,
    ) -> StoreResult<Option<Callback>> {
        let Some(event) = crate::softline::render::webhook_event(payment, creation) else {
            return Ok(None);
        };
        let Some(merchant_id) = payment.merchant_id else {
            return Ok(None);
        };
        let merchant = tenancy::get_merchant(db, merchant_id).await?;
        let Some(url) = merchant.settings.webhook_url.clone() else {
            return Ok(None);
        };
        let order_url = crate::softline::render::payment_url(
            &self.public_url,
            &self.key,
            payment,
            &merchant.settings.default_locale,
        );
        let body = crate::softline::render::webhook(payment, event, now, &order_url);
        let callback = NewCallback {
            delivery_id: Uuid::generate_v4(&mut OsRandom).as_str().to_owned(),
            subject: Subject::Payment(payment.id.clone()),
            signer: payment.merchant_id.map_or(Signer::None, Signer::Merchant),
            dialect: "softline".to_owned(),
            url,
            body: body.to_string().into_bytes(),
            transaction_status: crate::softline::render::status(payment).to_owned(),
        };
        Ok(Some(callbacks::enqueue(db, callback, now).await?))
    }
}
