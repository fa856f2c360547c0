//! Paymega's callbacks (SPEC §5): the private invoice object of the payment's new state, to the
//! payment's own `callback_url` or else the merchant's webhook URL, signed with `X-Signature`,
//! delivered when the receiver answers exactly 200, retried 1, 2, 3, … minutes apart.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use obol_core::payment::Payment;
use obol_core::time::Timestamp;
use obol_http::callbacks::outbox::new_delivery_id;
use obol_http::callbacks::schedule;
use obol_http::door::{CallbackDialect, CallbackFormat, RenderContext};
use obol_store::ops::callbacks::{self, AfterFailure, NewCallback, Signer, Subject};
use obol_store::ops::{catalog, tenancy};
use obol_store::{Db, StoreResult};
use sha1::{Digest, Sha1};

use crate::render;

/// At most this many attempts, 1, 2, 3, … minutes apart.
pub const ATTEMPTS_MAX: i64 = 100;

/// Paymega's `X-Signature`: Base64 of the raw SHA-1 digest of `secret + body + secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(secret.as_bytes());
    hasher.update(body);
    hasher.update(secret.as_bytes());
    STANDARD.encode(hasher.finalize())
}

pub struct PaymegaCallbacks;

impl CallbackFormat for PaymegaCallbacks {
    fn dialect(&self) -> CallbackDialect {
        CallbackDialect::Paymega
    }

    fn render_payment<'a>(
        &'a self,
        db: &'a mut dyn Db,
        payment: &'a Payment,
        context: RenderContext<'a>,
        _now: Timestamp,
        creation: bool,
    ) -> BoxFuture<'a, StoreResult<Option<NewCallback>>> {
        Box::pin(async move {
            let url = match (&payment.callback_url, payment.merchant_id) {
                (Some(url), _) => Some(url.clone()),
                (None, Some(merchant)) => tenancy::merchant_webhook_url(db, merchant).await?,
                (None, None) => None,
            };
            let Some(url) = url else { return Ok(None) };
            let service = match payment.service_id {
                Some(id) => catalog::get_service(db, id).await?,
                None => None,
            };
            // A payment just created has no earlier callbacks to list.
            let earlier = if creation {
                Vec::new()
            } else {
                callbacks::for_payment(db, &payment.id).await?
            };
            let body = render::document(render::private_invoice(
                payment,
                service.as_ref(),
                context.public_url,
                context.key,
                render::callback_logs(&earlier),
            ));
            let (status, _) = render::status_and_resolution(payment);
            Ok(Some(NewCallback {
                delivery_id: new_delivery_id(),
                subject: Subject::Payment(payment.id.clone()),
                signer: payment.merchant_id.map_or(Signer::None, Signer::Merchant),
                dialect: CallbackDialect::Paymega.as_str().to_owned(),
                url,
                body: body.to_string().into_bytes(),
                transaction_status: status.to_owned(),
                mode: payment.mode(),
            }))
        })
    }

    fn signature_headers(&self, secret: &str, stored: &[u8]) -> Vec<(&'static str, String)> {
        vec![("x-signature", signature(secret, stored))]
    }

    fn accepted(&self, status: u16) -> bool {
        status == 200
    }

    fn after_failure(
        &self,
        attempts: i64,
        _created_at: Timestamp,
        now: Timestamp,
        _jitter: u32,
    ) -> AfterFailure {
        schedule::minutes_apart(ATTEMPTS_MAX, attempts, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_of_raw_sha1() {
        let signed = signature("s", b"{}");
        assert_eq!(
            STANDARD.decode(&signed).map(|bytes| bytes.len()).ok(),
            Some(20)
        );
        assert_eq!(signed, signature("s", b"{}"));
        assert_ne!(signed, signature("t", b"{}"));
        assert_eq!(
            signature("", b""),
            "2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
            "SHA-1 of the empty string"
        );
    }

    #[test]
    fn delivered_only_on_200_and_retried_minutes_apart() {
        let format = PaymegaCallbacks;
        assert!(format.accepted(200));
        assert!(!format.accepted(201));
        let start = Timestamp::from_unix_seconds(1_000_000);
        assert_eq!(
            format.after_failure(3, start, start, 0),
            AfterFailure::RetryAt(start.plus_seconds(180))
        );
        assert!(matches!(
            format.after_failure(ATTEMPTS_MAX, start, start, 0),
            AfterFailure::GiveUp(_)
        ));
    }
}
