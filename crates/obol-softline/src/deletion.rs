//! Softline's lifecycle job: an unpaid payment's life ends 90 days after its creation.

use futures_util::future::BoxFuture;
use obol_core::ids::PaymentId;
use obol_core::payment::Actor;
use obol_core::time::Timestamp;
use obol_http::callbacks::outbox::Outbox;
use obol_http::door::JobRunner;
use obol_store::ops::payments;
use obol_store::{Db, StoreError, StoreResult};

use crate::DELETION_JOB;

pub struct DeletionJob;

impl JobRunner for DeletionJob {
    fn kind(&self) -> &'static str {
        DELETION_JOB
    }

    /// Open payments expire first, then every unpaid one is deleted; a paid one is left alone
    /// ([`obol_core::payment::Payment::end_of_life_events`]).
    fn run<'a>(
        &'a self,
        db: &'a mut dyn Db,
        outbox: &'a Outbox,
        subject: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let id = PaymentId::parse(subject)
                .map_err(|_| StoreError::Corrupt(format!("job subject {subject}")))?;
            let actor = Actor::Job(DELETION_JOB.to_owned());
            if let Some(payment) = payments::get_payment(db, &id).await? {
                // The core says which events end this payment's life (none for a paid one);
                // storage plans each again on the row as it is then.
                for event in payment.end_of_life_events() {
                    outbox
                        .transition(db, &id, event, actor.clone(), now)
                        .await?;
                }
            }
            Ok(())
        })
    }
}
