//! Tests of `upstream.rs` and of the rules `payment.rs` and `bookings.rs` keep for payments
//! sent to a live route: what a provider's report makes of a payment, who may move it once it
//! is at the provider, what it books against `clearing:{route}`, and refunds at the provider.

use super::*;
use crate::currency::Currency;
use crate::ledger::sums_by_currency;
use crate::payment::tests::{payment, step, usd};
use proptest::prelude::*;

const ROUTE: &str = "yookassa-main";
const UPSTREAM_ID: &str = "2f4c5e1b-000f-5000-9000-1b2c3d4e5f60";

fn sent_upstream() -> PaymentEvent {
    PaymentEvent::SentUpstream {
        route: ROUTE.to_owned(),
        upstream_id: UPSTREAM_ID.to_owned(),
    }
}

fn attempt() -> PaymentEvent {
    PaymentEvent::AttemptStarted {
        service_id: None,
        method_id: None,
    }
}

/// A live payment of 100.00 USD, still `created`, never sent anywhere.
fn live(manual_capture: bool) -> Payment {
    let mut payment = payment(10_000);
    payment.record.test_mode = false;
    payment.record.manual_capture = manual_capture;
    payment
}

/// Plans and applies `event` as `actor` would, a second after the payment's last change.
fn step_as(payment: &mut Payment, event: PaymentEvent, actor: Actor) -> Result<(), PaymentError> {
    let transition = payment.plan(event, actor, payment.updated_at.plus_seconds(1))?;
    payment.apply(&transition)
}

/// A live payment whose customer the hosted page sent to the route (the customer's click).
fn sent(manual_capture: bool) -> Payment {
    let mut payment = live(manual_capture);
    step_as(&mut payment, sent_upstream(), Actor::Customer).unwrap();
    payment
}

/// A two-stage payment whose money the provider holds.
fn held() -> Payment {
    let mut payment = sent(true);
    step(&mut payment, PaymentEvent::Authorized { card: None }).unwrap();
    assert!(payment.waits_for_capture());
    payment
}

/// A one-stage payment the provider took the money of.
fn processed() -> Payment {
    let mut payment = sent(false);
    step(&mut payment, PaymentEvent::Succeeded { card: None }).unwrap();
    payment
}

/// The provider's faithful report of `payment` in `status`.
fn report(payment: &Payment, status: UpstreamStatus) -> UpstreamPaymentView {
    UpstreamPaymentView {
        id: UPSTREAM_ID.to_owned(),
        status,
        amount: payment.amount,
        obol_payment_id: Some(payment.id.as_str().to_owned()),
        card: None,
    }
}

fn canceled(reason: Resolution) -> UpstreamStatus {
    UpstreamStatus::Canceled {
        reason,
        expired: false,
    }
}

fn expired_there() -> UpstreamStatus {
    UpstreamStatus::Canceled {
        reason: Resolution::Expired,
        expired: true,
    }
}

/// Every status a provider reports, with two reasons of a cancellation.
fn every_upstream_status() -> Vec<UpstreamStatus> {
    vec![
        UpstreamStatus::Pending,
        UpstreamStatus::WaitingForCapture,
        UpstreamStatus::Succeeded,
        canceled(Resolution::Declined),
        canceled(Resolution::Canceled),
        expired_there(),
    ]
}

fn failed(reason: Resolution) -> PaymentEvent {
    PaymentEvent::Failed { reason, card: None }
}

#[test]
fn a_report_moves_a_pending_payment_once() {
    use PaymentStatus::{Expired, Failed, Pending, Processed};
    use Resolution::{Canceled, Declined};
    use UpstreamStatus as U;
    let paid = || PaymentEvent::Succeeded { card: None };
    let hold = || PaymentEvent::Authorized { card: None };
    let ended = || PaymentEvent::Expired;
    // (the payment here: one-stage, two-stage or held; its provider's status; the events the
    // report makes; the status after them)
    let table = [
        ("one", U::Pending, vec![], Pending),
        ("one", U::WaitingForCapture, vec![], Pending),
        ("one", U::Succeeded, vec![paid()], Processed),
        ("one", canceled(Declined), vec![failed(Declined)], Failed),
        ("one", canceled(Canceled), vec![failed(Canceled)], Failed),
        ("one", expired_there(), vec![ended()], Expired),
        ("two", U::Pending, vec![], Pending),
        ("two", U::WaitingForCapture, vec![hold()], Pending),
        ("two", U::Succeeded, vec![hold(), paid()], Processed),
        ("two", canceled(Declined), vec![failed(Declined)], Failed),
        ("two", canceled(Canceled), vec![failed(Canceled)], Failed),
        ("two", expired_there(), vec![ended()], Expired),
        ("held", U::Pending, vec![], Pending),
        ("held", U::WaitingForCapture, vec![], Pending),
        ("held", U::Succeeded, vec![paid()], Processed),
        // A released hold is cancelled, whatever the provider calls the reason: the core
        // never lets a held payment be declined.
        ("held", canceled(Declined), vec![failed(Canceled)], Failed),
        ("held", canceled(Canceled), vec![failed(Canceled)], Failed),
        ("held", expired_there(), vec![ended()], Expired),
    ];
    for (kind, status, expected, after) in table {
        let mut payment = match kind {
            "one" => sent(false),
            "two" => sent(true),
            _ => held(),
        };
        let view = report(&payment, status.clone());
        let now = payment.updated_at.plus_seconds(60);
        let events = payment.upstream_events(&view, now).unwrap();
        assert_eq!(events, expected, "{kind}: {status:?} there");
        for event in events {
            step(&mut payment, event).unwrap_or_else(|error| {
                panic!("{kind}: {status:?} there: the core refuses its own event: {error}")
            });
        }
        assert_eq!(payment.status, after, "{kind}: {status:?} there");
        assert_eq!(
            payment.awaits_upstream(),
            after == Pending,
            "{kind}: {status:?} there"
        );
        assert_eq!(
            payment.upstream_events(&view, now),
            Ok(vec![]),
            "{kind}: {status:?} there: the same report again changes nothing"
        );
    }
}

#[test]
fn the_provider_card_reaches_the_payment() {
    let card = CardPayload {
        first6: "555555".into(),
        last4: "4444".into(),
        brand: "mastercard".into(),
        expiry_month: 3,
        expiry_year: 2031,
        ..Default::default()
    };
    let mut payment = sent(false);
    let view = UpstreamPaymentView {
        card: Some(card.clone()),
        ..report(&payment, UpstreamStatus::Succeeded)
    };
    let events = payment
        .upstream_events(&view, payment.updated_at.plus_seconds(5))
        .unwrap();
    assert_eq!(
        events,
        vec![PaymentEvent::Succeeded {
            card: Some(card.clone())
        }]
    );
    for event in events {
        step(&mut payment, event).unwrap();
    }
    assert_eq!(payment.card, Some(card));
}

/// A payment in every status it can reach after being sent, closed ones only.
fn closed_payments() -> Vec<Payment> {
    let mut partially_refunded = processed();
    step(
        &mut partially_refunded,
        PaymentEvent::Refunded { amount: usd(2_000) },
    )
    .unwrap();
    let mut refunded = processed();
    step(
        &mut refunded,
        PaymentEvent::Refunded {
            amount: usd(10_000),
        },
    )
    .unwrap();
    let mut declined = sent(false);
    step(&mut declined, failed(Resolution::Declined)).unwrap();
    let mut expired = sent(true);
    step(&mut expired, PaymentEvent::Expired).unwrap();
    let mut deleted = expired.clone();
    step(&mut deleted, PaymentEvent::Deleted).unwrap();
    let mut captured = held();
    step(&mut captured, PaymentEvent::Succeeded { card: None }).unwrap();
    vec![
        processed(),
        partially_refunded,
        refunded,
        declined,
        expired,
        deleted,
        captured,
    ]
}

#[test]
fn a_closed_payment_ignores_every_report() {
    let statuses: Vec<PaymentStatus> = closed_payments()
        .iter()
        .map(|payment| payment.status)
        .collect();
    assert_eq!(
        statuses,
        [
            PaymentStatus::Processed,
            PaymentStatus::PartiallyRefunded,
            PaymentStatus::Refunded,
            PaymentStatus::Failed,
            PaymentStatus::Expired,
            PaymentStatus::Deleted,
            PaymentStatus::Processed,
        ]
    );
    for payment in closed_payments() {
        assert!(!payment.awaits_upstream(), "{:?}", payment.status);
        let long_after = payment.updated_at.plus_seconds(30 * 86_400);
        for status in every_upstream_status() {
            assert_eq!(
                payment.upstream_events(&report(&payment, status.clone()), long_after),
                Ok(vec![]),
                "{:?} here, {status:?} there",
                payment.status
            );
        }
    }
}

#[test]
fn a_report_about_something_else_moves_nothing() {
    let payment = sent(false);
    let faithful = report(&payment, UpstreamStatus::Succeeded);
    let now = payment.updated_at.plus_seconds(5);
    let eur = Money::from_minor(10_000, Currency::EUR).unwrap();
    // (the report, why it does not apply)
    let table = [
        (
            UpstreamPaymentView {
                id: "another-upstream-payment".into(),
                ..faithful.clone()
            },
            UpstreamMismatch::OtherPayment,
        ),
        (
            UpstreamPaymentView {
                obol_payment_id: Some("cpi_0000000000000000".into()),
                ..faithful.clone()
            },
            UpstreamMismatch::OtherObolPayment,
        ),
        (
            UpstreamPaymentView {
                amount: usd(9_999),
                ..faithful.clone()
            },
            UpstreamMismatch::OtherAmount,
        ),
        (
            UpstreamPaymentView {
                amount: usd(10_001),
                ..faithful.clone()
            },
            UpstreamMismatch::OtherAmount,
        ),
        (
            UpstreamPaymentView {
                amount: eur,
                ..faithful.clone()
            },
            UpstreamMismatch::OtherAmount,
        ),
    ];
    for (view, mismatch) in table {
        assert_eq!(
            payment.upstream_events(&view, now),
            Err(mismatch),
            "{view:?}"
        );
    }
    // A report that names no Obol payment is still about this one (its id at the provider is).
    let unnamed = UpstreamPaymentView {
        obol_payment_id: None,
        ..faithful.clone()
    };
    assert_eq!(
        payment.upstream_events(&unnamed, now),
        Ok(vec![PaymentEvent::Succeeded { card: None }])
    );
    // Even a payment nothing can move any more refuses a report about another amount.
    let closed = processed();
    assert_eq!(
        closed.upstream_events(
            &UpstreamPaymentView {
                amount: usd(1),
                ..report(&closed, UpstreamStatus::Succeeded)
            },
            now
        ),
        Err(UpstreamMismatch::OtherAmount)
    );
    // Never sent: neither an open live payment nor one relayed through YooKassa's door.
    let unsent = live(false);
    let mut relayed = payment.clone();
    relayed.record.source = Source::Yookassa;
    relayed.record.route = None;
    relayed.record.upstream_id = None;
    for payment in [unsent, relayed] {
        assert_eq!(
            payment.upstream_events(&report(&payment, UpstreamStatus::Succeeded), now),
            Err(UpstreamMismatch::NotSentUpstream)
        );
        assert!(!payment.awaits_upstream());
    }
}

#[test]
fn a_payment_pending_there_expires_only_after_the_grace() {
    let expires_at = Timestamp::from_unix_seconds(1_700_003_600);
    let mut payment = sent(false);
    payment.record.expires_at = Some(expires_at);
    let pending = report(&payment, UpstreamStatus::Pending);
    let given_up = expires_at.plus_seconds(UPSTREAM_GRACE_SECONDS);
    // (when, the events)
    let table = [
        (expires_at, vec![]),
        (given_up.plus_seconds(-1), vec![]),
        (given_up, vec![PaymentEvent::Expired]),
        (given_up.plus_seconds(86_400), vec![PaymentEvent::Expired]),
    ];
    for (now, events) in table {
        assert_eq!(
            payment.upstream_events(&pending, now),
            Ok(events),
            "{} s after the expiry",
            now.unix_seconds() - expires_at.unix_seconds()
        );
    }
    step(&mut payment, PaymentEvent::Expired).unwrap();
    assert_eq!(payment.resolution, Resolution::Expired);
    assert_eq!(payment.upstream_events(&pending, given_up), Ok(vec![]));

    // No expiry of its own: the provider's word is awaited however long it takes.
    let endless = sent(false);
    assert_eq!(endless.expires_at, None);
    let far = endless.updated_at.plus_seconds(365 * 86_400);
    assert_eq!(
        endless.upstream_events(&report(&endless, UpstreamStatus::Pending), far),
        Ok(vec![])
    );

    // Held money is the provider's to release: Obol never gives up on it alone.
    let held = held();
    let hold_ends = held.expires_at.expect("a hold expires");
    assert_eq!(
        held.upstream_events(
            &report(&held, UpstreamStatus::Pending),
            hold_ends.plus_seconds(UPSTREAM_GRACE_SECONDS + 1)
        ),
        Ok(vec![])
    );
}

#[test]
fn only_an_open_live_payment_is_sent_once() {
    let mut created = live(false);
    let transition = created
        .plan(
            sent_upstream(),
            Actor::Customer,
            created.updated_at.plus_seconds(1),
        )
        .unwrap();
    assert_eq!(transition.to, PaymentStatus::Pending);
    assert!(transition.ledger.is_none(), "sending books nothing");
    assert!(!created.moves_upstream());
    created.apply(&transition).unwrap();
    assert_eq!(created.route.as_deref(), Some(ROUTE));
    assert_eq!(created.upstream_id.as_deref(), Some(UPSTREAM_ID));
    assert!(created.moves_upstream() && created.awaits_upstream());
    assert_eq!(created.clearing(), Clearing::Upstream);

    let mut pending = live(false);
    step_as(&mut pending, attempt(), Actor::Customer).unwrap();
    assert_eq!(pending.status, PaymentStatus::Pending);
    step_as(&mut pending, sent_upstream(), Actor::Customer).unwrap();
    assert!(pending.awaits_upstream());

    // Sent twice: the provider's own word refuses it as not routable, a door's as any move of
    // a payment at the provider.
    let mut twice = created.clone();
    assert_eq!(
        step_as(&mut twice, sent_upstream(), Actor::Provider),
        Err(PaymentError::NotRoutable)
    );
    assert!(matches!(
        step_as(&mut twice, sent_upstream(), Actor::Customer),
        Err(PaymentError::TransitionNotAllowed { .. })
    ));
    assert_eq!(twice, created, "a refused send changes nothing");

    let mut test_payment = payment(10_000);
    let mut empty_route = live(false);
    let mut empty_id = live(false);
    let mut holding = live(true);
    step_as(&mut holding, attempt(), Actor::Customer).unwrap();
    holding.record.authorized_at = Some(holding.updated_at);
    assert!(holding.waits_for_capture());
    // (the payment, the event)
    let refused = [
        (&mut test_payment, sent_upstream()),
        (
            &mut empty_route,
            PaymentEvent::SentUpstream {
                route: String::new(),
                upstream_id: UPSTREAM_ID.into(),
            },
        ),
        (
            &mut empty_id,
            PaymentEvent::SentUpstream {
                route: ROUTE.into(),
                upstream_id: String::new(),
            },
        ),
        (&mut holding, sent_upstream()),
    ];
    for (payment, event) in refused {
        let before = payment.clone();
        assert_eq!(
            step_as(payment, event.clone(), Actor::Customer),
            Err(PaymentError::NotRoutable),
            "{event:?} of a {:?} {:?} payment",
            payment.mode(),
            payment.status
        );
        assert_eq!(*payment, before);
    }
    assert_eq!(
        crate::error::Coded::code(&PaymentError::NotRoutable),
        crate::error::codes::TRANSITION_NOT_ALLOWED
    );

    // Closed payments go nowhere.
    let mut declined = live(false);
    step_as(&mut declined, failed(Resolution::Declined), Actor::Customer).unwrap();
    let mut expired = live(false);
    step_as(
        &mut expired,
        PaymentEvent::Expired,
        Actor::Job("payment_expiry".into()),
    )
    .unwrap();
    let mut completed = live(false);
    step_as(
        &mut completed,
        PaymentEvent::CompletedByManager {
            manager_id: ManagerId::new(1),
            method_id: PaymentMethodId::new(2),
        },
        Actor::Manager(ManagerId::new(1)),
    )
    .unwrap();
    for mut closed in [declined, expired, completed] {
        let status = closed.status;
        assert!(
            matches!(
                step_as(&mut closed, sent_upstream(), Actor::Customer),
                Err(PaymentError::TransitionNotAllowed { .. })
            ),
            "{status:?}"
        );
        assert_eq!(closed.upstream_id, None);
    }
}

#[test]
fn once_sent_only_the_provider_moves_it() {
    let others = [
        Actor::Customer,
        Actor::Merchant(MerchantId::new(5)),
        Actor::Manager(ManagerId::new(1)),
        Actor::Job("payment_expiry".into()),
        Actor::Operator,
        Actor::Source(Source::Form),
    ];
    let open_events = [
        PaymentEvent::Succeeded { card: None },
        failed(Resolution::Declined),
        failed(Resolution::Canceled),
        PaymentEvent::Expired,
        PaymentEvent::CompletedByManager {
            manager_id: ManagerId::new(1),
            method_id: PaymentMethodId::new(2),
        },
        attempt(),
    ];
    let refund = PaymentEvent::Refunded { amount: usd(1_000) };
    // (the payment, what is asked of it)
    let cases: Vec<(Payment, PaymentEvent)> = open_events
        .iter()
        .map(|event| (sent(false), event.clone()))
        .chain([(processed(), refund)])
        .collect();
    for (payment, event) in cases {
        let now = payment.updated_at.plus_seconds(1);
        for actor in &others {
            assert!(
                matches!(
                    payment.plan(event.clone(), actor.clone(), now),
                    Err(PaymentError::TransitionNotAllowed { .. })
                ),
                "{actor:?} may not {} a payment at the provider",
                event.name()
            );
        }
        let mut moved = payment.clone();
        step(&mut moved, event.clone())
            .unwrap_or_else(|error| panic!("the provider may {}: {error}", event.name()));
        assert_ne!(moved, payment);
    }
}

#[test]
fn a_routed_payment_books_against_its_route() {
    let mut payment = sent(false);
    let route_clearing = AccountCode::route_clearing(ROUTE);
    assert_eq!(route_clearing.as_str(), "clearing:yookassa-main");
    assert!(route_clearing.is_clearing());
    assert_eq!(payment.clearing_account(), route_clearing);

    let receipt = step(&mut payment, PaymentEvent::Succeeded { card: None })
        .unwrap()
        .ledger
        .clone()
        .expect("a receipt is booked");
    assert_eq!(receipt.mode(), Mode::Live);
    assert_eq!(receipt.kind(), TransactionKind::Payment);
    assert_eq!(receipt.postings()[0].account, route_clearing);
    assert_eq!(receipt.postings()[0].amount, usd(-10_000));
    assert!(
        sums_by_currency(receipt.postings())
            .values()
            .all(|sum| *sum == 0)
    );

    let refund = step(&mut payment, PaymentEvent::Refunded { amount: usd(3_000) })
        .unwrap()
        .ledger
        .clone()
        .expect("a refund is booked");
    assert_eq!(refund.mode(), Mode::Live);
    assert_eq!(refund.kind(), TransactionKind::Refund);
    assert!(
        refund
            .postings()
            .iter()
            .any(|posting| posting.account == route_clearing && posting.amount == usd(3_000))
    );
    assert!(
        sums_by_currency(refund.postings())
            .values()
            .all(|sum| *sum == 0)
    );
    let on_route: i64 = receipt
        .postings()
        .iter()
        .chain(refund.postings())
        .filter(|posting| posting.account == route_clearing)
        .map(|posting| posting.amount.minor())
        .sum();
    assert_eq!(on_route, -7_000, "what the route still owes the merchant");
    let elsewhere = receipt
        .postings()
        .iter()
        .chain(refund.postings())
        .filter(|posting| posting.account.is_clearing() && posting.account != route_clearing)
        .count();
    assert_eq!(elsewhere, 0, "no other clearing account is touched");

    // Not sent: a live payment clears through nobody but the sandbox, which refuses it; a
    // relayed one through the generic upstream account.
    let unsent = live(false);
    assert_eq!(
        unsent.clearing_account(),
        AccountCode::clearing(Clearing::Sandbox)
    );
    let mut relayed = payment.clone();
    relayed.record.route = None;
    relayed.record.upstream_id = None;
    relayed.record.source = Source::Yookassa;
    assert_eq!(
        relayed.clearing_account(),
        AccountCode::clearing(Clearing::Upstream)
    );
}

#[test]
fn a_refund_at_the_provider_fits_what_is_not_yet_on_its_way() {
    let paid = processed();
    let mut partly = processed();
    step(&mut partly, PaymentEvent::Refunded { amount: usd(2_000) }).unwrap();
    let eur = Money::from_minor(1_000, Currency::EUR).unwrap();
    let over = Err(PaymentError::RefundExceedsProcessed);
    let invalid = Err(PaymentError::InvalidRefundAmount);
    // (the payment, the amount asked, in flight, the answer)
    let table = [
        (&paid, None, 0, Ok(usd(10_000))),
        (&paid, None, 3_000, Ok(usd(7_000))),
        (&paid, Some(usd(7_000)), 3_000, Ok(usd(7_000))),
        (&paid, Some(usd(1)), 9_999, Ok(usd(1))),
        (&paid, Some(usd(7_001)), 3_000, over.clone()),
        (&paid, Some(usd(10_001)), 0, over.clone()),
        (&paid, None, 10_000, over.clone()),
        (&paid, Some(usd(1)), 10_000, over.clone()),
        (&paid, Some(usd(0)), 0, invalid.clone()),
        (&paid, Some(usd(-100)), 0, invalid.clone()),
        (&paid, Some(eur), 0, invalid),
        (&partly, None, 0, Ok(usd(8_000))),
        (&partly, None, 500, Ok(usd(7_500))),
        (&partly, Some(usd(8_000)), 0, Ok(usd(8_000))),
        (&partly, Some(usd(8_001)), 0, over),
    ];
    for (payment, amount, in_flight, answer) in table {
        assert_eq!(
            payment.upstream_refund_amount(amount, usd(in_flight)),
            answer,
            "{amount:?} of a {:?} payment with {in_flight} in flight",
            payment.status
        );
    }

    let mut refunded = processed();
    step(
        &mut refunded,
        PaymentEvent::Refunded {
            amount: usd(10_000),
        },
    )
    .unwrap();
    let mut sandbox_paid = payment(10_000);
    step(&mut sandbox_paid, attempt()).unwrap();
    step(&mut sandbox_paid, PaymentEvent::Succeeded { card: None }).unwrap();
    assert!(sandbox_paid.is_refundable());
    let mut declined = sent(false);
    step(&mut declined, failed(Resolution::Declined)).unwrap();
    // Not refundable by status, or never at a route.
    for payment in [sent(false), held(), declined, refunded, sandbox_paid] {
        assert!(
            matches!(
                payment.upstream_refund_amount(None, usd(0)),
                Err(PaymentError::TransitionNotAllowed { .. })
            ),
            "{:?} payment, route {:?}",
            payment.status,
            payment.route
        );
        assert!(matches!(
            payment.upstream_refund_amount(Some(usd(100)), usd(0)),
            Err(PaymentError::TransitionNotAllowed { .. })
        ));
    }
}

#[test]
fn the_provider_is_asked_less_and_less_often() {
    let mut previous = 0;
    for checks in 0..=1_000u32 {
        let delay = upstream_check_delay_seconds(checks);
        assert!(delay > 0, "after {checks} looks");
        assert!(
            delay >= previous,
            "after {checks} looks: {delay} < {previous}"
        );
        assert!(delay <= 3_600, "after {checks} looks: {delay}");
        previous = delay;
    }
    assert_eq!(
        upstream_check_delay_seconds(0),
        10,
        "soon after the customer left"
    );
    assert_eq!(upstream_check_delay_seconds(1_000), 3_600);
    assert_eq!(upstream_check_delay_seconds(u32::MAX), 3_600);
    let first_hour: i64 = (0..=10).map(upstream_check_delay_seconds).sum();
    assert!(
        (3_600..=5_400).contains(&first_hour),
        "eleven looks in about the first hour, took {first_hour} s"
    );
}

fn any_upstream_status() -> impl Strategy<Value = UpstreamStatus> {
    prop_oneof![
        Just(UpstreamStatus::Pending),
        Just(UpstreamStatus::WaitingForCapture),
        Just(UpstreamStatus::Succeeded),
        (
            proptest::sample::select(Resolution::ALL.to_vec()),
            any::<bool>()
        )
            .prop_map(|(reason, expired)| UpstreamStatus::Canceled { reason, expired }),
    ]
}

/// How far the payment got here before the report: sent, sent two-stage, held, or already
/// moved by an earlier report.
fn any_sent_payment() -> impl Strategy<Value = Payment> {
    (
        0..4u8,
        any_upstream_status(),
        proptest::option::of(0i64..172_800),
    )
        .prop_map(|(kind, earlier, expires_in)| {
            let mut payment = match kind {
                0 => sent(false),
                1 => sent(true),
                _ => held(),
            };
            if let Some(seconds) = expires_in.filter(|_| payment.authorized_at.is_none()) {
                payment.record.expires_at = Some(payment.updated_at.plus_seconds(seconds));
            }
            if kind == 3 {
                let now = payment.updated_at.plus_seconds(10);
                for event in payment
                    .upstream_events(&report(&payment, earlier), now)
                    .unwrap()
                {
                    step(&mut payment, event).unwrap();
                }
            }
            payment
        })
}

proptest! {
    /// Whatever the payment and the report: every event the report makes is one the core
    /// lets the provider make, and the same report read again makes none.
    #[test]
    fn the_same_report_applies_once(
        mut payment in any_sent_payment(),
        status in any_upstream_status(),
        seconds_later in 0i64..400_000,
    ) {
        let view = report(&payment, status);
        let now = payment.updated_at.plus_seconds(seconds_later);
        let events = payment.upstream_events(&view, now).unwrap();
        for event in events {
            let name = event.name();
            let transition = payment.plan(event, Actor::Provider, now);
            prop_assert!(transition.is_ok(), "{} refused: {:?}", name, transition);
            payment.apply(&transition.unwrap()).unwrap();
        }
        prop_assert_eq!(payment.upstream_events(&view, now), Ok(vec![]));
    }
}
