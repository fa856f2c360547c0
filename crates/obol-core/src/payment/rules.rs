//! What may happen to a payment, decided on the core's types so that no door compares a status
//! (least of all its own rendered name for it): refunds and what is left to refund, card
//! verification, the end of an unpaid payment's life, completion with an offline method,
//! holds, and the catch-up of a payment relayed to an upstream provider.
//!
//! These only decide; the door applies the events they return through storage, which plans
//! each one again ([`Payment::plan`]) inside its transaction, on the row as it is then.

use crate::catalog::PaymentMethod;
use crate::credentials::{SecretDigest, constant_time_eq};
use crate::ids::{ManagerId, PaymentServiceId};
use crate::mode::Caller;
use crate::money::Money;

use super::{Payment, PaymentError, PaymentEvent, PaymentStatus, Source, allowed_target};

/// How long an unpaid Softline payment lives before it is deleted (the seed's 90 days).
pub const UNPAID_LIFETIME_SECONDS: i64 = 90 * 86_400;

impl PaymentStatus {
    /// Money was received and not all of it returned: a refund may still take some back.
    /// (Softline shows exactly these as `paid`.)
    pub fn holds_money(self) -> bool {
        matches!(
            self,
            PaymentStatus::Processed | PaymentStatus::PartiallyRefunded
        )
    }
}

impl Payment {
    /// Whether the payment's status lets a refund through (processed or partly refunded).
    /// Softline opens a refund request only then.
    pub fn is_refundable(&self) -> bool {
        self.status.holds_money()
    }

    /// What is left to refund: what was processed less what was refunded.
    pub fn refundable_rest(&self) -> Result<Money, PaymentError> {
        Ok(self.processed_amount.checked_sub(self.refunded_amount)?)
    }

    /// Whether a refund could take anything back now: refundable, with a positive rest. (A
    /// processed zero-amount verification is refundable by status but has nothing to give.)
    pub fn has_refundable_rest(&self) -> bool {
        self.is_refundable() && self.refundable_rest().is_ok_and(|rest| rest.is_positive())
    }

    /// Whether a refund of `amount` is allowed, and the status it leads to (`refunded` when it
    /// takes all that is left). The same checks, in the same order, as [`Payment::plan`] makes
    /// for [`PaymentEvent::Refunded`], without the actor (who may refund a relayed payment is
    /// `plan`'s question).
    pub fn check_refund(&self, amount: Money) -> Result<PaymentStatus, PaymentError> {
        let event = PaymentEvent::Refunded { amount };
        if allowed_target(self.status, &event).is_none() {
            return Err(PaymentError::TransitionNotAllowed {
                from: self.status.as_str(),
                event: event.name(),
            });
        }
        self.refund_target(amount)
    }

    /// The amount checks of a refund: positive, in the payment's currency, within the rest.
    pub(super) fn refund_target(&self, amount: Money) -> Result<PaymentStatus, PaymentError> {
        if amount.currency() != self.amount.currency() || !amount.is_positive() {
            return Err(PaymentError::InvalidRefundAmount);
        }
        let left = self.refundable_rest()?;
        if amount.minor() > left.minor() {
            return Err(PaymentError::RefundExceedsProcessed);
        }
        Ok(if amount.minor() == left.minor() {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        })
    }

    /// The refund event for `amount`, or for all that is left when none is given (Paymega's
    /// refund without an amount, an operator carrying out a Softline refund request). Storage
    /// plans it, which refuses what [`Payment::check_refund`] refuses.
    pub fn refund_event(&self, amount: Option<Money>) -> Result<PaymentEvent, PaymentError> {
        let amount = match amount {
            Some(amount) => amount,
            None => self.refundable_rest()?,
        };
        Ok(PaymentEvent::Refunded { amount })
    }

    /// Whether a card verification may start on this payment (Softline's
    /// `/v1/payment/card/verification`): a zero-amount verification, created for a recurring
    /// card payment (`recurring_card`: the door's own record of what the merchant asked for),
    /// still open.
    pub fn card_verification_allowed(&self, recurring_card: bool) -> bool {
        recurring_card
            && self.flow == super::Flow::Verify
            && self.amount.is_zero()
            && self.status.is_open()
    }

    /// The events that end an unpaid payment's life (Softline's 90 days), in order: an open
    /// one expires first, then every unpaid one (expired or failed) is deleted; a paid one is
    /// left alone (no events).
    pub fn end_of_life_events(&self) -> Vec<PaymentEvent> {
        match self.status {
            PaymentStatus::Created | PaymentStatus::Pending => {
                vec![PaymentEvent::Expired, PaymentEvent::Deleted]
            }
            PaymentStatus::Expired | PaymentStatus::Failed => vec![PaymentEvent::Deleted],
            PaymentStatus::Processed
            | PaymentStatus::PartiallyRefunded
            | PaymentStatus::Refunded
            | PaymentStatus::Deleted => Vec::new(),
        }
    }

    /// A merchant's capture of a held payment. The core has no partial capture (a capture
    /// processes the payment's whole amount), so an `amount` other than the payment's is
    /// refused before anything else; then as [`Payment::settle_hold`].
    pub fn capture(&self, amount: Option<Money>) -> Result<PaymentEvent, PaymentError> {
        if let Some(amount) = amount {
            self.check_capture_amount(amount)?;
        }
        self.settle_hold(true)
    }

    /// Only the whole amount can be captured (see [`Payment::capture`]).
    pub fn check_capture_amount(&self, amount: Money) -> Result<(), PaymentError> {
        if amount != self.amount {
            return Err(PaymentError::PartialCapture);
        }
        Ok(())
    }

    /// A merchant's cancellation of a held payment (the money is released).
    pub fn cancel_hold(&self) -> Result<PaymentEvent, PaymentError> {
        self.settle_hold(false)
    }

    /// What Obol's books do when the upstream provider reports a refund of a payment relayed
    /// to it (YooKassa's `PaymentCommit`): first catch up with the payment's receipt if the
    /// provider says it was paid and Obol still has it open, then book the refund if the
    /// provider made one. A payment that was not relayed is left alone.
    pub fn relayed_refund(&self, paid_upstream: bool, refunded: Option<Money>) -> RelayedRefund {
        if self.source != Source::Yookassa {
            return RelayedRefund::default();
        }
        let catch_up = match self.status {
            _ if !paid_upstream => Vec::new(),
            PaymentStatus::Created => vec![
                PaymentEvent::AttemptStarted {
                    service_id: None,
                    method_id: None,
                },
                PaymentEvent::Succeeded { card: None },
            ],
            PaymentStatus::Pending => vec![PaymentEvent::Succeeded { card: None }],
            _ => Vec::new(),
        };
        RelayedRefund {
            catch_up,
            refund: refunded.map(|amount| PaymentEvent::Refunded { amount }),
        }
    }
}

/// The steps of a relayed refund (see [`Payment::relayed_refund`]), applied in order with
/// [`crate::payment::Actor::Provider`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayedRefund {
    /// Events that bring the payment to `processed` as the provider reports it; a failure is
    /// a real error.
    pub catch_up: Vec<PaymentEvent>,
    /// The refund itself. The books may refuse it (more than was received): the provider made
    /// it anyway, so the door records nothing and warns.
    pub refund: Option<PaymentEvent>,
}

/// Public checkouts (SPEC §3.1): a caller holding only a merchant's public key (which merchants
/// publish on their pages) must never reveal or open another invoice through a repeated
/// `reference_id`.
impl Payment {
    /// Whether a public checkout for `amount` (with `service`, when it names one) that repeats
    /// this payment's `reference_id` is this payment's own checkout submitted again: a payment
    /// made through the public API or the form, for the same amount and currency, with the
    /// same service when the repeat names one. Only then may the caller be shown it or sent
    /// to its page; otherwise the repeat is refused without it.
    pub fn is_same_public_checkout(
        &self,
        amount: Money,
        service: Option<PaymentServiceId>,
    ) -> bool {
        self.source.caller() == Caller::PublicKey
            && self.amount == amount
            && service.is_none_or(|service| self.service_id == Some(service))
    }
}

impl Payment {
    /// Whether a request through `source` that repeats this payment's `reference_id` may be
    /// shown this payment (Paymega's 409 with the invoice, or the checkout sent to its page):
    /// a private caller always; a public-key caller only for its own checkout again
    /// ([`Payment::is_same_public_checkout`]).
    pub fn shown_to_repeat(
        &self,
        source: Source,
        amount: Money,
        service: Option<PaymentServiceId>,
    ) -> bool {
        source.caller() == Caller::Private || self.is_same_public_checkout(amount, service)
    }
}

/// Where a relayed payment was made (SPEC §3.5): the upstream's address and the digest of the
/// login (the shop id; the password is never kept), as the relay recorded them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayOrigin {
    pub url: Option<String>,
    /// [`SecretDigest::to_hex`] of the login.
    pub login_digest: Option<String>,
}

impl RelayOrigin {
    /// The origin a relay through `url` with `login` records.
    pub fn of_request(url: &str, login: &str) -> RelayOrigin {
        RelayOrigin {
            url: Some(url.to_owned()),
            login_digest: Some(SecretDigest::of(login).to_hex()),
        }
    }

    /// Whether a refund through `url` and `login` may touch this relayed payment: only through
    /// the upstream and login that made it, so a refund can neither be steered to another
    /// upstream nor booked from one. A payment recorded before logins were kept is bound by
    /// its address alone; one with no address (not a relay) admits nothing.
    pub fn admits(&self, url: &str, login: &str) -> bool {
        let same_url = self
            .url
            .as_deref()
            .is_some_and(|recorded| recorded.trim_end_matches('/') == url.trim_end_matches('/'));
        let same_login = self.login_digest.as_deref().is_none_or(|recorded| {
            constant_time_eq(
                recorded.as_bytes(),
                SecretDigest::of(login).to_hex().as_bytes(),
            )
        });
        same_url && same_login
    }
}

impl PaymentEvent {
    /// A manager's completion of a payment with money received outside Obol (ActivePlatform's
    /// completion by id and by document number). Only an offline method (cash, a bank
    /// transfer) records such money; an unknown or online method is refused.
    pub fn offline_completion(
        manager_id: ManagerId,
        method: Option<&PaymentMethod>,
    ) -> Result<PaymentEvent, PaymentError> {
        match method {
            Some(method) if !method.online => Ok(PaymentEvent::CompletedByManager {
                manager_id,
                method_id: method.id,
            }),
            _ => Err(PaymentError::MethodNotOffline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{payment, step, usd};
    use super::*;
    use crate::catalog::Localized;
    use crate::currency::Currency;
    use crate::error::Coded;
    use crate::ids::PaymentMethodId;
    use crate::payment::{Flow, Resolution};

    /// A payment brought to `status` through the state machine, for `minor` units.
    fn in_status(status: PaymentStatus, minor: i64) -> Payment {
        let mut payment = payment(minor);
        let attempt = PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        };
        let events: Vec<PaymentEvent> = match status {
            PaymentStatus::Created => vec![],
            PaymentStatus::Pending => vec![attempt],
            PaymentStatus::Processed => vec![attempt, PaymentEvent::Succeeded { card: None }],
            PaymentStatus::Failed => vec![PaymentEvent::Failed {
                reason: Resolution::Declined,
                card: None,
            }],
            PaymentStatus::Expired => vec![PaymentEvent::Expired],
            PaymentStatus::Deleted => vec![PaymentEvent::Expired, PaymentEvent::Deleted],
            PaymentStatus::PartiallyRefunded => vec![
                attempt,
                PaymentEvent::Succeeded { card: None },
                PaymentEvent::Refunded {
                    amount: usd(minor / 4),
                },
            ],
            PaymentStatus::Refunded => vec![
                attempt,
                PaymentEvent::Succeeded { card: None },
                PaymentEvent::Refunded { amount: usd(minor) },
            ],
        };
        for event in events {
            step(&mut payment, event).unwrap();
        }
        assert_eq!(payment.status, status);
        payment
    }

    #[test]
    fn refundability_follows_the_status_and_the_rest() {
        use PaymentStatus::*;
        // (status, refundable, rest of a 10.00 payment, has a rest to refund)
        let table = [
            (Created, false, 0, false),
            (Pending, false, 0, false),
            (Processed, true, 10_000, true),
            (PartiallyRefunded, true, 7_500, true),
            (Refunded, false, 0, false),
            (Failed, false, 0, false),
            (Expired, false, 0, false),
            (Deleted, false, 0, false),
        ];
        for (status, refundable, rest, has_rest) in table {
            let payment = in_status(status, 10_000);
            assert_eq!(payment.is_refundable(), refundable, "{status:?}");
            assert_eq!(payment.refundable_rest(), Ok(usd(rest)), "{status:?}");
            assert_eq!(payment.has_refundable_rest(), has_rest, "{status:?}");
            assert_eq!(status.holds_money(), refundable, "{status:?}");
        }
    }

    #[test]
    fn check_refund_agrees_with_plan() {
        let amounts = [
            usd(1),
            usd(2_500),
            usd(7_500),
            usd(7_501),
            usd(10_000),
            usd(0),
            usd(-5),
            Money::from_minor(100, Currency::EUR).unwrap(),
        ];
        for status in PaymentStatus::ALL {
            let payment = in_status(status, 10_000);
            for amount in amounts {
                let planned = payment
                    .plan(
                        PaymentEvent::Refunded { amount },
                        crate::payment::Actor::Operator,
                        payment.updated_at,
                    )
                    .map(|transition| transition.to);
                assert_eq!(
                    payment.check_refund(amount),
                    planned,
                    "{status:?} {amount:?}"
                );
            }
        }
        let partly = in_status(PaymentStatus::PartiallyRefunded, 10_000);
        assert_eq!(partly.check_refund(usd(7_500)), Ok(PaymentStatus::Refunded));
        assert_eq!(
            partly.check_refund(usd(7_501)),
            Err(PaymentError::RefundExceedsProcessed)
        );
    }

    #[test]
    fn a_refund_without_an_amount_takes_the_rest() {
        let partly = in_status(PaymentStatus::PartiallyRefunded, 10_000);
        assert_eq!(
            partly.refund_event(None),
            Ok(PaymentEvent::Refunded { amount: usd(7_500) })
        );
        assert_eq!(
            partly.refund_event(Some(usd(100))),
            Ok(PaymentEvent::Refunded { amount: usd(100) })
        );
        // Nothing processed: the event is for zero, which planning refuses by status.
        let open = in_status(PaymentStatus::Pending, 10_000);
        let event = open.refund_event(None).unwrap();
        assert!(matches!(
            open.plan(event, crate::payment::Actor::Operator, open.updated_at),
            Err(PaymentError::TransitionNotAllowed { .. })
        ));
    }

    #[test]
    fn card_verification_needs_an_open_zero_amount_recurring_verification() {
        let verification = |status: PaymentStatus| {
            let mut payment = in_status(status, 10_000);
            payment.record.amount = usd(0);
            payment.record.flow = Flow::Verify;
            payment
        };
        for status in PaymentStatus::ALL {
            assert_eq!(
                verification(status).card_verification_allowed(true),
                status.is_open(),
                "{status:?}"
            );
        }
        assert!(!verification(PaymentStatus::Created).card_verification_allowed(false));
        let mut charge = verification(PaymentStatus::Created);
        charge.record.amount = usd(100);
        charge.record.flow = Flow::Charge;
        assert!(!charge.card_verification_allowed(true));
    }

    #[test]
    fn an_unpaid_payment_ends_its_life_paid_ones_do_not() {
        use PaymentStatus::*;
        for status in PaymentStatus::ALL {
            let mut payment = in_status(status, 10_000);
            let events = payment.end_of_life_events();
            let expected: &[&str] = match status {
                Created | Pending => &["expired", "deleted"],
                Expired | Failed => &["deleted"],
                Processed | PartiallyRefunded | Refunded | Deleted => &[],
            };
            let names: Vec<&str> = events.iter().map(PaymentEvent::name).collect();
            assert_eq!(names, expected, "{status:?}");
            for event in events {
                step(&mut payment, event).unwrap();
            }
            if !expected.is_empty() {
                assert_eq!(payment.status, Deleted, "{status:?}");
            }
        }
        assert_eq!(UNPAID_LIFETIME_SECONDS, 7_776_000);
    }

    #[test]
    fn holds_capture_the_whole_amount_or_cancel() {
        let mut held = payment(10_000);
        held.record.manual_capture = true;
        step(
            &mut held,
            PaymentEvent::AttemptStarted {
                service_id: None,
                method_id: None,
            },
        )
        .unwrap();
        step(&mut held, PaymentEvent::Authorized { card: None }).unwrap();
        assert_eq!(
            held.capture(None),
            Ok(PaymentEvent::Succeeded { card: None })
        );
        assert_eq!(
            held.capture(Some(usd(10_000))),
            Ok(PaymentEvent::Succeeded { card: None })
        );
        assert_eq!(
            held.capture(Some(usd(5_000))),
            Err(PaymentError::PartialCapture)
        );
        assert!(matches!(
            held.cancel_hold(),
            Ok(PaymentEvent::Failed {
                reason: Resolution::Canceled,
                ..
            })
        ));
        let one_stage = in_status(PaymentStatus::Pending, 10_000);
        assert_eq!(
            one_stage.capture(Some(usd(1))),
            Err(PaymentError::PartialCapture),
            "the amount is checked first"
        );
        assert!(matches!(
            one_stage.capture(None),
            Err(PaymentError::TransitionNotAllowed { .. })
        ));
        assert!(one_stage.cancel_hold().is_err());
    }

    #[test]
    fn relayed_refunds_catch_up_then_refund() {
        use PaymentStatus::*;
        let relayed = |status| {
            let mut payment = in_status(status, 10_000);
            payment.record.source = Source::Yookassa;
            payment
        };
        let refund = Some(PaymentEvent::Refunded { amount: usd(1_000) });
        // (status, paid upstream, catch-up events)
        let table: [(PaymentStatus, bool, &[&str]); 8] = [
            (Created, true, &["attempt_started", "succeeded"]),
            (Pending, true, &["succeeded"]),
            (Processed, true, &[]),
            (PartiallyRefunded, true, &[]),
            (Failed, true, &[]),
            (Created, false, &[]),
            (Pending, false, &[]),
            (Expired, false, &[]),
        ];
        for (status, paid, expected) in table {
            let mut payment = relayed(status);
            let steps = payment.relayed_refund(paid, Some(usd(1_000)));
            let names: Vec<&str> = steps.catch_up.iter().map(PaymentEvent::name).collect();
            assert_eq!(names, expected, "{status:?} paid={paid}");
            assert_eq!(steps.refund, refund, "{status:?}");
            for event in steps.catch_up {
                step(&mut payment, event).unwrap();
            }
            if paid && status.is_open() {
                assert_eq!(payment.status, Processed);
                assert!(
                    payment
                        .plan(
                            refund.clone().unwrap(),
                            crate::payment::Actor::Provider,
                            payment.updated_at
                        )
                        .is_ok()
                );
            }
        }
        assert_eq!(relayed(Pending).relayed_refund(true, None).refund, None);
        assert_eq!(
            in_status(Pending, 10_000).relayed_refund(true, Some(usd(1))),
            RelayedRefund::default(),
            "not relayed: left alone"
        );
    }

    #[test]
    fn only_an_offline_method_completes_a_payment() {
        let method = |online| PaymentMethod {
            id: PaymentMethodId::new(2),
            code: if online { "payment_card" } else { "cash" }.into(),
            name: Localized::new("Cash", "Наличные", "Готівка"),
            category: "offline".into(),
            logo_url: None,
            icon_url: None,
            online,
        };
        let manager = ManagerId::new(3);
        assert_eq!(
            PaymentEvent::offline_completion(manager, Some(&method(false))),
            Ok(PaymentEvent::CompletedByManager {
                manager_id: manager,
                method_id: PaymentMethodId::new(2),
            })
        );
        for refused in [Some(&method(true)), None] {
            assert_eq!(
                PaymentEvent::offline_completion(manager, refused),
                Err(PaymentError::MethodNotOffline)
            );
        }
        assert_eq!(
            PaymentError::MethodNotOffline.code(),
            crate::error::codes::METHOD_NOT_FOUND
        );
    }
}
