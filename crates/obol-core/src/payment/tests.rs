//! Tests of `payment.rs`, kept apart so the rules read without scrolling past them.
use super::*;
use crate::currency::Currency;
use crate::ids::test_random::TestRandom;
use crate::ledger::sums_by_currency;
use proptest::prelude::*;

pub(crate) fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD).unwrap()
}

pub(crate) fn draft(amount: Money) -> PaymentDraft {
    PaymentDraft::builder(Source::MerchantApi, ResellerId::new(2), amount)
        .merchant(MerchantId::new(5))
        .reference_id("order-1".to_owned())
        .test_mode(true)
        .build()
        .unwrap()
}

fn identity() -> PaymentIdentity {
    PaymentIdentity {
        id: PaymentId::generate(&mut TestRandom(11)),
        number: PaymentNumber::new(1),
        document_id: DocumentNumber::new(1),
        order_id: OrderNumber::new(1),
    }
}

pub(crate) fn payment(minor: i64) -> Payment {
    Payment::create(
        draft(usd(minor)),
        identity(),
        None,
        Timestamp::from_unix_seconds(1_700_000_000),
    )
    .unwrap()
}

pub(crate) fn step(payment: &mut Payment, event: PaymentEvent) -> Result<Transition, PaymentError> {
    let transition = payment.plan(event, Actor::Provider, payment.updated_at.plus_seconds(1))?;
    payment.apply(&transition)?;
    Ok(transition)
}

#[test]
fn relayed_payments_move_only_as_the_provider_reports() {
    let mut relayed = payment(10_000);
    relayed.record.source = Source::Yookassa;
    let attempt = PaymentEvent::AttemptStarted {
        service_id: None,
        method_id: None,
    };
    let now = relayed.updated_at.plus_seconds(1);
    assert!(relayed.plan(attempt.clone(), Actor::Customer, now).is_err());
    assert!(
        relayed
            .plan(
                PaymentEvent::CompletedByManager {
                    manager_id: ManagerId::new(1),
                    method_id: PaymentMethodId::new(2),
                },
                Actor::Manager(ManagerId::new(1)),
                now,
            )
            .is_err()
    );
    step(&mut relayed, attempt).unwrap();
    let paid = step(&mut relayed, PaymentEvent::Succeeded { card: None }).unwrap();
    let clearing = paid.ledger.clone().unwrap().postings()[0].account.clone();
    assert_eq!(clearing, AccountCode::clearing(Clearing::Upstream));
    let refund = PaymentEvent::Refunded { amount: usd(1_000) };
    let now = relayed.updated_at.plus_seconds(1);
    assert!(
        relayed
            .plan(refund.clone(), Actor::Merchant(MerchantId::new(5)), now)
            .is_err()
    );
    assert!(relayed.plan(refund, Actor::Provider, now).is_ok());
}

#[test]
fn two_stage_payments_hold_then_capture_or_release() {
    let attempt = PaymentEvent::AttemptStarted {
        service_id: None,
        method_id: None,
    };
    let mut held = payment(10_000);
    held.record.manual_capture = true;
    step(&mut held, attempt.clone()).unwrap();
    assert!(
        step(&mut held, PaymentEvent::Succeeded { card: None }).is_err(),
        "no capture before the card is authorized"
    );
    let approval = held.approval_event(None);
    assert!(matches!(approval, PaymentEvent::Authorized { .. }));
    let authorized = step(&mut held, approval).unwrap();
    assert!(authorized.ledger.is_none(), "a hold books nothing");
    assert!(held.waits_for_capture());
    assert!(step(&mut held, PaymentEvent::Authorized { card: None }).is_err());
    for refused in [
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
        PaymentEvent::Failed {
            reason: Resolution::Declined,
            card: None,
        },
        PaymentEvent::CompletedByManager {
            manager_id: ManagerId::new(1),
            method_id: PaymentMethodId::new(2),
        },
    ] {
        assert!(step(&mut held, refused).is_err(), "a hold is not touched");
    }
    let capture = held.settle_hold(true).unwrap();
    let captured = step(&mut held, capture).unwrap();
    assert!(captured.ledger.is_some());
    assert_eq!(held.status, PaymentStatus::Processed);
    assert!(!held.waits_for_capture());

    let mut released = payment(10_000);
    released.record.manual_capture = true;
    step(&mut released, attempt.clone()).unwrap();
    step(&mut released, PaymentEvent::Authorized { card: None }).unwrap();
    step(
        &mut released,
        PaymentEvent::Failed {
            reason: Resolution::Canceled,
            card: None,
        },
    )
    .unwrap();
    assert_eq!(released.status, PaymentStatus::Failed);
    assert_eq!(released.processed_amount.minor(), 0);

    let mut one_stage = payment(10_000);
    step(&mut one_stage, attempt).unwrap();
    assert!(
        one_stage.settle_hold(true).is_err() && one_stage.settle_hold(false).is_err(),
        "nothing held, nothing to capture or cancel"
    );
    assert!(matches!(
        one_stage.approval_event(None),
        PaymentEvent::Succeeded { .. }
    ));
    assert!(step(&mut one_stage, PaymentEvent::Authorized { card: None }).is_err());
}

#[test]
fn happy_path_books_the_payment() {
    let mut payment = payment(10_000);
    assert_eq!(payment.status, PaymentStatus::Created);
    step(
        &mut payment,
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
    )
    .unwrap();
    let transition = step(&mut payment, PaymentEvent::Succeeded { card: None }).unwrap();
    assert_eq!(payment.status, PaymentStatus::Processed);
    assert_eq!(payment.processed_amount, usd(10_000));
    let ledger = transition.ledger.clone().unwrap();
    assert!(
        sums_by_currency(ledger.postings())
            .values()
            .all(|sum| *sum == 0)
    );
    assert_eq!(payment.version, 2);
}

#[test]
fn refunds_never_exceed_what_was_processed() {
    let mut payment = payment(10_000);
    step(
        &mut payment,
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
    )
    .unwrap();
    step(&mut payment, PaymentEvent::Succeeded { card: None }).unwrap();
    step(&mut payment, PaymentEvent::Refunded { amount: usd(3_000) }).unwrap();
    assert_eq!(payment.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(
        step(&mut payment, PaymentEvent::Refunded { amount: usd(7_001) }),
        Err(PaymentError::RefundExceedsProcessed)
    );
    assert_eq!(
        step(&mut payment, PaymentEvent::Refunded { amount: usd(0) }),
        Err(PaymentError::InvalidRefundAmount)
    );
    step(&mut payment, PaymentEvent::Refunded { amount: usd(7_000) }).unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    assert!(matches!(
        step(&mut payment, PaymentEvent::Refunded { amount: usd(1) }),
        Err(PaymentError::TransitionNotAllowed { .. })
    ));
}

#[test]
fn managers_complete_expired_payments_but_not_failed_ones() {
    let mut expired = payment(500);
    step(&mut expired, PaymentEvent::Expired).unwrap();
    let completion = PaymentEvent::CompletedByManager {
        manager_id: ManagerId::new(3),
        method_id: PaymentMethodId::new(2),
    };
    let transition = step(&mut expired, completion.clone()).unwrap();
    assert_eq!(expired.status, PaymentStatus::Processed);
    assert_eq!(expired.completed_by, Some(ManagerId::new(3)));
    assert!(
        transition
            .ledger
            .as_ref()
            .unwrap()
            .postings()
            .iter()
            .any(|posting| posting.account == AccountCode::clearing(Clearing::Offline))
    );
    let mut failed = payment(500);
    step(
        &mut failed,
        PaymentEvent::Failed {
            reason: Resolution::Declined,
            card: None,
        },
    )
    .unwrap();
    assert_eq!(failed.resolution, Resolution::Declined);
    assert!(step(&mut failed, completion).is_err());
}

#[test]
fn service_limits_and_fees_apply_at_creation() {
    let service = PaymentService {
        id: PaymentServiceId::new(1),
        code: "payment_card_usd_hpp".into(),
        method_id: PaymentMethodId::new(1),
        method_code: "payment_card".into(),
        currency: Currency::USD,
        flow: crate::catalog::ServiceFlow::Hpp,
        amount_min: usd(1),
        amount_max: usd(100_000_000),
        fee: FeeSchedule {
            rate: crate::fee::FeeRate::parse_percent("2.5").unwrap(),
            ..FeeSchedule::free()
        },
        reserve_lifetime_s: 0,
        reserve_rate_percent_e4: 0,
        available: true,
        active: true,
        enabled: true,
        test_mode: true,
        fields: vec![],
        route: None,
    };
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let payment = Payment::create(draft(usd(10_000)), identity(), Some(&service), now).unwrap();
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!((payment.fee.minor(), payment.deposit.minor()), (250, 9_750));
    let too_big = Payment::create(draft(usd(100_000_001)), identity(), Some(&service), now);
    assert!(matches!(too_big, Err(PaymentError::Service(_))));
}

#[test]
fn choosing_a_service_later_applies_its_limits_and_fee() {
    let mut service = PaymentService {
        id: PaymentServiceId::new(7),
        code: "payment_card_usd_hpp".into(),
        method_id: PaymentMethodId::new(1),
        method_code: "payment_card".into(),
        currency: Currency::USD,
        flow: crate::catalog::ServiceFlow::Hpp,
        amount_min: usd(1),
        amount_max: usd(5_000),
        fee: FeeSchedule {
            rate: crate::fee::FeeRate::parse_percent("3").unwrap(),
            ..FeeSchedule::free()
        },
        reserve_lifetime_s: 0,
        reserve_rate_percent_e4: 0,
        available: true,
        active: true,
        enabled: true,
        test_mode: true,
        fields: vec![],
        route: None,
    };
    let mut created = payment(2_000);
    assert_eq!(created.fee.minor(), 0, "no service, no fee yet");
    let event = created.choose_service(&service).unwrap();
    step(&mut created, event).unwrap();
    assert_eq!(created.status, PaymentStatus::Pending);
    assert_eq!((created.fee.minor(), created.deposit.minor()), (60, 1_940));
    assert_eq!(created.service_id, Some(PaymentServiceId::new(7)));
    service.amount_max = usd(1_000);
    assert!(
        payment(2_000).choose_service(&service).is_err(),
        "over the service's maximum"
    );
}

#[test]
fn external_money_completes_or_corrects() {
    let mut open = payment(10_000);
    open.record.customer_account_id = Some(CustomerAccountId::new(7));
    assert_eq!(
        open.settle_external(usd(4_000)),
        Ok(ExternalSettlement::Correction(usd(4_000)))
    );
    assert_eq!(
        open.settle_external(usd(10_000)),
        Ok(ExternalSettlement::Complete { excess: None })
    );
    assert_eq!(
        open.settle_external(usd(12_000)),
        Ok(ExternalSettlement::Complete {
            excess: Some(usd(2_000))
        })
    );
    assert!(
        open.settle_external(Money::from_minor(100, Currency::EUR).unwrap())
            .is_err()
    );
    let mut done = open.clone();
    step(
        &mut done,
        PaymentEvent::CompletedByManager {
            manager_id: ManagerId::new(1),
            method_id: PaymentMethodId::new(2),
        },
    )
    .unwrap();
    assert_eq!(
        done.settle_external(usd(20_000)),
        Ok(ExternalSettlement::Correction(usd(20_000)))
    );
    let correction = open.correction_transaction(usd(500)).unwrap().unwrap();
    assert!(
        sums_by_currency(correction.postings())
            .values()
            .all(|sum| *sum == 0)
    );
    assert_eq!(
        payment(1).correction_transaction(usd(500)),
        Ok(None),
        "no account, nothing to credit"
    );
}

#[test]
fn expiry_window_is_inclusive() {
    let window = ExpiryWindow {
        min_seconds: 14 * 60,
        max_seconds: 2 * 86_400,
    };
    let now = Timestamp::from_unix_seconds(1_000_000);
    assert!(window.check(now, now.plus_seconds(14 * 60)).is_ok());
    assert!(window.check(now, now.plus_seconds(2 * 86_400)).is_ok());
    assert!(window.check(now, now.plus_seconds(14 * 60 - 1)).is_err());
    assert!(window.check(now, now.plus_seconds(2 * 86_400 + 1)).is_err());
}

#[test]
fn actors_round_trip() {
    for actor in [
        Actor::Customer,
        Actor::Merchant(MerchantId::new(4)),
        Actor::Manager(ManagerId::new(9)),
        Actor::Job("payment_expiry".into()),
        Actor::Provider,
        Actor::Operator,
        Actor::Source(Source::Form),
    ] {
        assert_eq!(Actor::decode(&actor.encode()), Some(actor));
    }
}

#[test]
fn card_payload_keeps_only_the_mask() {
    let card = CardPayload {
        first6: "424242".into(),
        last4: "4242".into(),
        brand: "visa".into(),
        expiry_month: 12,
        expiry_year: 2030,
        ..Default::default()
    };
    assert_eq!(card.mask(), "424242******4242");
    assert_eq!(
        format!("{card:?}"),
        "CardPayload(visa 424242******4242 12/2030)"
    );
}

fn any_event() -> impl Strategy<Value = PaymentEvent> {
    prop_oneof![
        Just(PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None
        }),
        Just(PaymentEvent::Succeeded { card: None }),
        Just(PaymentEvent::Failed {
            reason: Resolution::Declined,
            card: None
        }),
        Just(PaymentEvent::Expired),
        Just(PaymentEvent::Deleted),
        Just(PaymentEvent::CompletedByManager {
            manager_id: ManagerId::new(1),
            method_id: PaymentMethodId::new(2)
        }),
        (1i64..20_000).prop_map(|minor| PaymentEvent::Refunded { amount: usd(minor) }),
    ]
}

proptest! {
    /// Whatever happens to a payment: statuses only move along the table, money never
    /// goes negative or over, every ledger transaction balances, and the books agree with
    /// the payment's own counters.
    #[test]
    fn any_event_sequence_keeps_the_invariants(events in proptest::collection::vec(any_event(), 0..25)) {
        let mut payment = payment(10_000);
        let mut booked_in = 0i64;
        let mut booked_back = 0i64;
        for event in events {
            let before = payment.status;
            match step(&mut payment, event.clone()) {
                Ok(transition) => {
                    prop_assert!(allowed_target(before, &event).is_some());
                    prop_assert_eq!(transition.from, before);
                    if let Some(ledger) = &transition.ledger {
                        prop_assert!(sums_by_currency(ledger.postings()).values().all(|sum| *sum == 0));
                        for posting in ledger.postings().iter().filter(|posting| posting.account.is_clearing()) {
                            match ledger.kind() {
                                TransactionKind::Payment => booked_in -= posting.amount.minor(),
                                TransactionKind::Refund => booked_back += posting.amount.minor(),
                                _ => {}
                            }
                        }
                    }
                }
                Err(_) => prop_assert_eq!(payment.status, before, "a refused event changes nothing"),
            }
            prop_assert!(payment.refunded_amount.minor() <= payment.processed_amount.minor());
            prop_assert_eq!(payment.processed_amount.minor(), booked_in);
            prop_assert_eq!(payment.refunded_amount.minor(), booked_back);
        }
    }

    #[test]
    fn terminal_statuses_accept_nothing_but_their_exits(event in any_event()) {
        for status in [PaymentStatus::Deleted, PaymentStatus::Refunded] {
            prop_assert_eq!(allowed_target(status, &event), None);
        }
    }
}

#[test]
fn the_test_method_settles_test_payments_only() {
    let mut service = PaymentService {
        flow: crate::catalog::ServiceFlow::Test,
        ..crate::catalog::tests::test_service()
    };
    let test_payment = payment(10_000);
    let mut live_payment = payment(10_000);
    live_payment.record.test_mode = false;
    assert!(test_payment.takes_test_method(&service));
    assert!(!live_payment.takes_test_method(&service));
    service.flow = crate::catalog::ServiceFlow::Hpp;
    assert!(!test_payment.takes_test_method(&service));
}

#[test]
fn the_customer_may_try_while_open_and_nothing_is_held() {
    let attempt = PaymentEvent::AttemptStarted {
        service_id: None,
        method_id: None,
    };
    let declined = PaymentEvent::Failed {
        reason: Resolution::Declined,
        card: None,
    };
    let mut open = payment(10_000);
    let mut pending = payment(10_000);
    step(&mut pending, attempt.clone()).unwrap();
    let mut paid = payment(10_000);
    step(&mut paid, attempt.clone()).unwrap();
    step(&mut paid, PaymentEvent::Succeeded { card: None }).unwrap();
    let mut held = payment(10_000);
    held.record.manual_capture = true;
    step(&mut held, attempt.clone()).unwrap();
    step(&mut held, PaymentEvent::Authorized { card: None }).unwrap();
    let mut failed = payment(10_000);
    step(&mut failed, declined).unwrap();
    // (payment, takes attempts, where its customer is sent)
    let table = [
        (&mut open, true, CustomerOutcome::Pending),
        (&mut pending, true, CustomerOutcome::Pending),
        (&mut paid, false, CustomerOutcome::Succeeded),
        (&mut held, false, CustomerOutcome::Succeeded),
        (&mut failed, false, CustomerOutcome::Failed),
    ];
    for (payment, takes_attempts, outcome) in table {
        assert_eq!(
            payment.takes_attempts(),
            takes_attempts,
            "{:?}",
            payment.status
        );
        assert_eq!(payment.customer_outcome(), outcome, "{:?}", payment.status);
    }
}

#[test]
fn the_sandbox_never_settles_a_live_payment() {
    let mut live = payment(10_000);
    live.record.test_mode = false;
    step(
        &mut live,
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
    )
    .unwrap();
    for event in [
        PaymentEvent::Succeeded { card: None },
        PaymentEvent::Authorized { card: None },
    ] {
        let mut attempt = live.clone();
        attempt.record.manual_capture = matches!(event, PaymentEvent::Authorized { .. });
        assert!(matches!(
            step(&mut attempt, event),
            Err(PaymentError::SandboxSettlesTestOnly)
        ));
    }
    assert_eq!(
        live.online_route(None),
        crate::mode::OnlineRoute::Unavailable
    );
    // A manager's offline completion still settles it, in live accounts.
    let completed = step(
        &mut live,
        PaymentEvent::CompletedByManager {
            manager_id: ManagerId::new(7),
            method_id: PaymentMethodId::new(4),
        },
    )
    .unwrap();
    let ledger = completed.ledger.clone().unwrap();
    assert_eq!(ledger.mode(), Mode::Live);
    assert_eq!(
        ledger.postings()[0].account,
        AccountCode::clearing(Clearing::Offline)
    );
}

#[test]
fn a_test_payment_books_into_test_accounts() {
    let mut paid = payment(10_000);
    assert_eq!(paid.mode(), Mode::Test);
    assert!(paid.online_route(Some("yookassa-main")).is_sandbox());
    step(
        &mut paid,
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
    )
    .unwrap();
    let receipt = step(&mut paid, PaymentEvent::Succeeded { card: None }).unwrap();
    assert_eq!(receipt.ledger.clone().unwrap().mode(), Mode::Test);
    let refund = step(&mut paid, PaymentEvent::Refunded { amount: usd(3_000) }).unwrap();
    assert_eq!(refund.ledger.clone().unwrap().mode(), Mode::Test);
}

#[test]
fn a_public_key_sees_only_its_own_checkout_again() {
    let mut checkout = payment(10_000);
    checkout.record.source = Source::PublicApi;
    let service = PaymentServiceId::new(3);
    checkout.record.service_id = Some(service);
    let eur = Money::from_minor(10_000, Currency::EUR).unwrap();
    // (amount, service named by the repeat, same checkout)
    let table = [
        (usd(10_000), None, true),
        (usd(10_000), Some(service), true),
        (usd(10_000), Some(PaymentServiceId::new(4)), false),
        (usd(9_999), None, false),
        (eur, None, false),
    ];
    for (amount, named, same) in table {
        assert_eq!(
            checkout.is_same_public_checkout(amount, named),
            same,
            "{amount:?} {named:?}"
        );
    }
    // An invoice made through the private API is never a public checkout.
    let mut private = checkout.clone();
    private.record.source = Source::MerchantApi;
    assert!(!private.is_same_public_checkout(usd(10_000), None));
}

#[test]
fn a_relayed_refund_goes_through_its_own_upstream_only() {
    let origin = RelayOrigin::of_request("https://api.yookassa.ru/v3", "shop-1");
    // (url, login, admitted)
    let table = [
        ("https://api.yookassa.ru/v3", "shop-1", true),
        ("https://api.yookassa.ru/v3/", "shop-1", true),
        ("https://api.yookassa.ru/v3", "shop-2", false),
        ("http://127.0.0.1:9/sandbox/yookassa/v3", "shop-1", false),
    ];
    for (url, login, admitted) in table {
        assert_eq!(origin.admits(url, login), admitted, "{url} {login}");
    }
    let before_logins = RelayOrigin {
        url: Some("https://api.yookassa.ru/v3".to_owned()),
        login_digest: None,
    };
    assert!(before_logins.admits("https://api.yookassa.ru/v3", "anyone"));
    assert!(!RelayOrigin::default().admits("https://api.yookassa.ru/v3", "shop-1"));
}

#[test]
fn a_repeat_sees_the_payment_by_its_caller() {
    let mut private = payment(10_000);
    private.record.source = Source::MerchantApi;
    assert!(private.shown_to_repeat(Source::MerchantApi, usd(1), None));
    assert!(!private.shown_to_repeat(Source::PublicApi, usd(10_000), None));
    assert!(!private.shown_to_repeat(Source::Form, usd(10_000), None));
    let mut public = payment(10_000);
    public.record.source = Source::Form;
    assert!(public.shown_to_repeat(Source::PublicApi, usd(10_000), None));
    assert!(!public.shown_to_repeat(Source::PublicApi, usd(9_999), None));
}
