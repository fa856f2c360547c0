//! P2P callbacks (SPEC §5): `{"token": <JWT HS256>}` over the transfer's claims, signed with the
//! client's signing key at each attempt, delivered on exactly 200, retried after 5 s, 5 min,
//! 1 h, 2 h and 24 h.

use obol_core::p2p::{Transfer, TransferStatus};
use obol_core::time::Timestamp;
use obol_http::callbacks::outbox::new_delivery_id;
use obol_http::callbacks::schedule;
use obol_http::door::{CallbackDialect, CallbackFormat};
use obol_store::ops::callbacks::{self, AfterFailure, Callback, NewCallback, Signer, Subject};
use obol_store::{Db, StoreResult};

use crate::render;

/// Waits after the 1st, 2nd, … failed attempt; then no more.
pub const RETRY_SECONDS: [i64; 5] = [5, 300, 3600, 7200, 86_400];

/// Writes the callback of a transfer whose status changed from `before` (`None`: it was just
/// created), to its `callbackUrl`, in the caller's transaction. What is stored are the
/// token's claims; the delivery worker signs them at each attempt (with a fresh `iat`).
pub async fn record(
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
    let claims = render::callback_claims(transfer);
    let callback = NewCallback {
        delivery_id: new_delivery_id(),
        subject: Subject::Transfer(transfer.id.clone()),
        signer: Signer::P2pClient(transfer.client_id),
        dialect: CallbackDialect::P2p.as_str().to_owned(),
        url,
        body: claims.to_string().into_bytes(),
        transaction_status: transfer.status.as_str().to_owned(),
        mode: transfer.mode(),
    };
    Ok(Some(callbacks::enqueue(db, callback, now).await?))
}

pub struct P2pCallbacks;

impl CallbackFormat for P2pCallbacks {
    fn dialect(&self) -> CallbackDialect {
        CallbackDialect::P2p
    }

    fn body_at_attempt(&self, stored: &[u8], secret: &str, now: Timestamp) -> Vec<u8> {
        render::callback_body(stored, secret, now)
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
        schedule::fixed_steps(&RETRY_SECONDS, attempts, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_on_its_five_step_schedule_then_gives_up() {
        let start = Timestamp::from_unix_seconds(1_000);
        let delays: Vec<_> = (1..=5)
            .map(
                |attempts| match P2pCallbacks.after_failure(attempts, start, start, 0) {
                    AfterFailure::RetryAt(at) => at.unix_seconds() - start.unix_seconds(),
                    AfterFailure::GiveUp(_) => -1,
                },
            )
            .collect();
        assert_eq!(delays, RETRY_SECONDS);
        assert!(matches!(
            P2pCallbacks.after_failure(6, start, start, 0),
            AfterFailure::GiveUp(_)
        ));
        assert!(P2pCallbacks.accepted(200) && !P2pCallbacks.accepted(204));
    }
}
