//! Softline's lifecycle job: an unpaid payment's life ends 90 days after its creation.

use futures_util::future::BoxFuture;
use obol_core::ids::PaymentId;
use obol_core::payment::{Actor, PaymentEvent, PaymentStatus};
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

    /// Open payments expire first, then every unpaid one is deleted; a paid one is left alone.
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
                if payment.status.is_open() {
                    outbox
                        .transition(db, &id, PaymentEvent::Expired, actor.clone(), now)
                        .await?;
                }
                let current = payments::get_payment(db, &id)
                    .await?
                    .map(|payment| payment.status);
                if matches!(
                    current,
                    Some(PaymentStatus::Expired | PaymentStatus::Failed)
                ) {
                    outbox
                        .transition(db, &id, PaymentEvent::Deleted, actor, now)
                        .await?;
                }
            }
            Ok(())
        })
    }
}
