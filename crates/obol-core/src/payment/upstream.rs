//! Payments settled by a live route's provider (SPEC §4 "Live routes"): what the provider's
//! report of a payment does to Obol's record, which refunds may go to the provider, and how
//! often a payment still pending there is asked about again.
//!
//! A report is only ever what Obol read from the provider itself with the route's credentials
//! (a notification's body is never trusted, only used to know whom to ask). Even so the core
//! checks that the report is about this payment, for its amount, before anything moves.

use super::*;

/// A provider's status of a payment, in the provider-neutral words connectors translate to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamStatus {
    /// Waiting for the customer (or for the provider).
    Pending,
    /// A two-stage payment's money is held, waiting for its capture.
    WaitingForCapture,
    /// The money is taken.
    Succeeded,
    /// Declined, cancelled or expired at the provider; `expired` when it ran out of time there.
    Canceled { reason: Resolution, expired: bool },
}

impl UpstreamStatus {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            UpstreamStatus::Succeeded | UpstreamStatus::Canceled { .. }
        )
    }
}

/// A provider's status of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamRefundStatus {
    Pending,
    Succeeded,
    Canceled,
}

/// A payment as its provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPaymentView {
    pub id: String,
    pub status: UpstreamStatus,
    pub amount: Money,
    /// The Obol payment the provider's record names (`metadata.obol_payment_id`), if any.
    pub obol_payment_id: Option<String>,
    pub card: Option<CardPayload>,
}

/// Why a provider's report does not apply to a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamMismatch {
    #[error("the payment was not sent to a live route")]
    NotSentUpstream,
    #[error("the report is about another upstream payment")]
    OtherPayment,
    #[error("the report names another Obol payment")]
    OtherObolPayment,
    #[error("the provider reports another amount or currency")]
    OtherAmount,
}

/// How long after its own expiry a payment still pending at its provider is asked about
/// before Obol gives up and expires it: a provider ends an unconfirmed payment itself long
/// before (YooKassa within hours), so this is a last resort, never a race.
pub const UPSTREAM_GRACE_SECONDS: i64 = 86_400;

/// How long to wait before asking the provider again about a payment after `checks` looks:
/// soon after the customer left (10 s, 30 s, 1 min, 2 min, 5 min), then every 10 minutes for
/// the first hour, then hourly.
pub fn upstream_check_delay_seconds(checks: u32) -> i64 {
    match checks {
        0 => 10,
        1 => 30,
        2 => 60,
        3 => 120,
        4 => 300,
        5..=10 => 600,
        _ => 3_600,
    }
}

impl Payment {
    /// The events the provider's report makes of this payment, in order; none when it changes
    /// nothing (already applied, or still pending). Applying the same report twice yields
    /// nothing the second time, so duplicated and concurrent notifications settle once.
    pub fn upstream_events(
        &self,
        view: &UpstreamPaymentView,
        now: Timestamp,
    ) -> Result<Vec<PaymentEvent>, UpstreamMismatch> {
        let Some(upstream_id) = &self.upstream_id else {
            return Err(UpstreamMismatch::NotSentUpstream);
        };
        if *upstream_id != view.id {
            return Err(UpstreamMismatch::OtherPayment);
        }
        self.check_created_upstream(view)?;
        if self.status != PaymentStatus::Pending {
            return Ok(Vec::new());
        }
        let held = self.authorized_at.is_some();
        let card = view.card.clone();
        Ok(match &view.status {
            UpstreamStatus::Pending => {
                let given_up = self
                    .expires_at
                    .is_some_and(|expires| now >= expires.plus_seconds(UPSTREAM_GRACE_SECONDS));
                if given_up && !held {
                    vec![PaymentEvent::Expired]
                } else {
                    Vec::new()
                }
            }
            UpstreamStatus::WaitingForCapture if self.manual_capture && !held => {
                vec![PaymentEvent::Authorized { card }]
            }
            UpstreamStatus::WaitingForCapture => Vec::new(),
            UpstreamStatus::Succeeded if self.manual_capture && !held => vec![
                PaymentEvent::Authorized { card: card.clone() },
                PaymentEvent::Succeeded { card },
            ],
            UpstreamStatus::Succeeded => vec![PaymentEvent::Succeeded { card }],
            UpstreamStatus::Canceled { expired: true, .. } => vec![PaymentEvent::Expired],
            // The provider released a hold: a held payment ends only captured, cancelled or
            // expired ([`Payment::plan`] refuses a decline of held money), so any other reason
            // it gives is a cancellation here, or the payment would stay held forever.
            UpstreamStatus::Canceled { .. } if held => vec![PaymentEvent::Failed {
                reason: Resolution::Canceled,
                card,
            }],
            UpstreamStatus::Canceled { reason, .. } => vec![PaymentEvent::Failed {
                reason: *reason,
                card,
            }],
        })
    }

    /// Whether the payment a provider made for this one is it: it names this payment (if it
    /// names one) and is for its amount and currency. Checked on the provider's answer to the
    /// creation, before the customer is sent there, and on every report after.
    pub fn check_created_upstream(
        &self,
        view: &UpstreamPaymentView,
    ) -> Result<(), UpstreamMismatch> {
        if view
            .obol_payment_id
            .as_deref()
            .is_some_and(|named| named != self.id.as_str())
        {
            return Err(UpstreamMismatch::OtherObolPayment);
        }
        if view.amount != self.amount {
            return Err(UpstreamMismatch::OtherAmount);
        }
        Ok(())
    }

    /// Whether the provider should be asked about this payment again: it was sent to one and
    /// is still open here.
    pub fn awaits_upstream(&self) -> bool {
        self.upstream_id.is_some() && self.status == PaymentStatus::Pending
    }

    /// A refund of a payment settled by a live route, before it goes to the provider: what
    /// may be refunded is what is left less what is already on its way there (`in_flight`),
    /// so two refunds racing to the provider never together exceed what was processed.
    /// `None` asks for all of it. Returns the amount to send.
    pub fn upstream_refund_amount(
        &self,
        amount: Option<Money>,
        in_flight: Money,
    ) -> Result<Money, PaymentError> {
        if self.route.is_none() || !self.is_refundable() {
            return Err(PaymentError::TransitionNotAllowed {
                from: self.status.as_str(),
                event: "refund",
            });
        }
        let open = self.refundable_rest()?.checked_sub(in_flight)?;
        let amount = match amount {
            Some(amount) if amount.currency() != open.currency() || !amount.is_positive() => {
                return Err(PaymentError::InvalidRefundAmount);
            }
            Some(amount) => amount,
            None => open,
        };
        if !amount.is_positive() || amount.minor() > open.minor() {
            return Err(PaymentError::RefundExceedsProcessed);
        }
        self.check_refund(amount)?;
        Ok(amount)
    }

    /// The key that makes creating this payment at its provider idempotent: one payment at
    /// the provider per Obol payment, whatever is clicked twice, retried or crashed between.
    pub fn upstream_idempotence_key(&self) -> String {
        format!("obol-{}", self.id.as_str())
    }
}

#[cfg(test)]
mod tests;
