//! Softline's webhooks (SPEC §5): the four events the seed names, to the merchant's webhook
//! URL, signed with the seed's SHA-512 `signature` header, retried on the default backoff.

use futures_util::future::BoxFuture;
use obol_core::payment::Payment;
use obol_core::time::Timestamp;
use obol_http::callbacks::outbox::new_delivery_id;
use obol_http::door::{CallbackDialect, CallbackFormat, RenderContext};
use obol_store::ops::callbacks::{NewCallback, Signer, Subject};
use obol_store::ops::tenancy;
use obol_store::{Db, StoreResult};

use crate::render;

pub struct SoftlineCallbacks;

impl CallbackFormat for SoftlineCallbacks {
    fn dialect(&self) -> CallbackDialect {
        CallbackDialect::Softline
    }

    fn render_payment<'a>(
        &'a self,
        db: &'a mut dyn Db,
        payment: &'a Payment,
        context: RenderContext<'a>,
        now: Timestamp,
        creation: bool,
    ) -> BoxFuture<'a, StoreResult<Option<NewCallback>>> {
        Box::pin(async move {
            let Some(event) = render::webhook_event(payment, creation) else {
                return Ok(None);
            };
            let Some(merchant_id) = payment.merchant_id else {
                return Ok(None);
            };
            let merchant = tenancy::get_merchant(db, merchant_id).await?;
            let Some(url) = merchant.settings.webhook_url.clone() else {
                return Ok(None);
            };
            let order_url = render::payment_url(
                context.public_url,
                context.key,
                payment,
                &merchant.settings.default_locale,
            );
            let body = render::webhook(payment, event, now, &order_url);
            Ok(Some(NewCallback {
                delivery_id: new_delivery_id(),
                subject: Subject::Payment(payment.id.clone()),
                signer: Signer::Merchant(merchant_id),
                dialect: CallbackDialect::Softline.as_str().to_owned(),
                url,
                body: body.to_string().into_bytes(),
                transaction_status: render::status(payment).to_owned(),
                mode: payment.mode(),
            }))
        })
    }

    fn signature_headers(&self, secret: &str, stored: &[u8]) -> Vec<(&'static str, String)> {
        let body: serde_json::Value = serde_json::from_slice(stored).unwrap_or_default();
        vec![("signature", render::webhook_signature(secret, &body))]
    }
}
