//! Tests of `p2p.rs`, kept apart so the rules read without scrolling past them.
use super::*;
use crate::currency::Currency;
use crate::fee::FeeRate;
use crate::ids::test_random::TestRandom;

fn uah(minor: i64) -> Money {
    Money::from_minor(minor, Currency::parse("UAH").unwrap()).unwrap()
}

fn card(n: u8) -> CardRef {
    CardRef {
        id: Uuid::generate_v4(&mut TestRandom(u64::from(n))),
        masked: "4111111111".to_owned(),
    }
}

fn draft(kind: TransferKind, amount: i64) -> TransferDraft {
    TransferDraft {
        client_id: P2pClientId::new(1),
        external_id: Some("ext-1".to_owned()),
        kind,
        amount: uah(amount),
        description: None,
        callback_url: None,
        card_from: card(1),
        card_to: (kind == TransferKind::Direct).then(|| card(2)),
    }
}

fn now() -> Timestamp {
    Timestamp::from_unix_seconds(1_800_000_000)
}

fn sum_for(transactions: &[LedgerTransaction], account: &AccountCode) -> i64 {
    transactions
        .iter()
        .flat_map(|transaction| transaction.postings())
        .filter(|posting| &posting.account == account)
        .map(|posting| posting.amount.minor())
        .sum()
}

#[test]
fn commission_follows_the_tariff() {
    let tariff = FeeSchedule {
        rate: FeeRate::parse_percent("1").unwrap(),
        fixed_minor: 500,
        min_minor: 0,
        max_minor: 0,
    };
    assert_eq!(commission(&tariff, uah(10_000)).unwrap().minor(), 600);
}

#[test]
fn direct_transfer_sends_and_receives() {
    let mut random = TestRandom(7);
    let mut transfer = Transfer::create(
        draft(TransferKind::Direct, 200),
        uah(45),
        &mut random,
        now(),
    )
    .unwrap();
    assert!(transfer.awaits_send());
    let send = transfer.send(now(), now()).unwrap();
    let to = transfer.card_to.clone().unwrap();
    let receive = transfer
        .receive(to.clone(), uah(200), None, &mut random, now())
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::Finished);
    assert_eq!(transfer.pending.minor(), 0);
    let all = [send, receive];
    assert_eq!(
        sum_for(&all, &AccountCode::p2p_card(&transfer.card_from.id)),
        -245
    );
    assert_eq!(sum_for(&all, &AccountCode::p2p_card(&to.id)), 200);
    assert_eq!(sum_for(&all, &AccountCode::operator_fees()), 45);
    assert_eq!(
        sum_for(&all, &AccountCode::p2p_transit(transfer.client_id)),
        0
    );
    let kinds: Vec<_> = transfer.operations.iter().map(|op| op.kind).collect();
    assert_eq!(kinds, [OperationKind::Send, OperationKind::Receive]);
}

#[test]
fn bucket_receives_in_parts_then_returns_the_rest() {
    let mut random = TestRandom(9);
    let mut transfer = Transfer::create(
        draft(TransferKind::Bucket, 400),
        uah(40),
        &mut random,
        now(),
    )
    .unwrap();
    let due = now().plus_seconds(60);
    let send = transfer.send(due, now()).unwrap();
    let first = transfer
        .receive(card(3), uah(100), None, &mut random, now())
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::Processing);
    assert_eq!(transfer.pending.minor(), 300);
    assert!(matches!(
        transfer.receive(card(3), uah(301), None, &mut random, now()),
        Err(P2pError::AmountExceedsPending(300))
    ));
    assert_eq!(
        transfer.expire(&mut random, now()).unwrap(),
        None,
        "not due yet"
    );
    let back = transfer.expire(&mut random, due).unwrap().expect("return");
    assert_eq!(transfer.status, TransferStatus::Returned);
    assert_eq!(transfer.returned.unwrap().minor(), 300);
    assert_eq!(transfer.returned_commission.unwrap().minor(), 30);
    let all = [send, first, back];
    assert_eq!(
        sum_for(&all, &AccountCode::p2p_transit(transfer.client_id)),
        0
    );
    assert_eq!(sum_for(&all, &AccountCode::operator_fees()), 10);
    assert_eq!(
        sum_for(&all, &AccountCode::p2p_card(&transfer.card_from.id)),
        -110
    );
}

#[test]
fn declines_reject_or_return() {
    let mut random = TestRandom(11);
    let mut rejected =
        Transfer::create(draft(TransferKind::Direct, 200), uah(0), &mut random, now()).unwrap();
    rejected.reject(Resolution::Declined, now()).unwrap();
    assert_eq!(rejected.status, TransferStatus::Rejected);
    assert_eq!(rejected.operations[0].status, OperationStatus::Rejected);
    assert!(rejected.send(now(), now()).is_err());

    let mut returned = Transfer::create(
        draft(TransferKind::Direct, 200),
        uah(10),
        &mut random,
        now(),
    )
    .unwrap();
    returned.send(now(), now()).unwrap();
    let to = returned.card_to.clone().unwrap();
    let back = returned
        .receive_declined(to, uah(200), Resolution::Declined, None, &mut random, now())
        .unwrap();
    assert!(back.is_some());
    assert_eq!(returned.status, TransferStatus::Returned);
    assert_eq!(returned.returned_commission.unwrap().minor(), 10);
    let kinds: Vec<_> = returned
        .operations
        .iter()
        .map(|op| (op.kind, op.status))
        .collect();
    assert_eq!(
        kinds,
        [
            (OperationKind::Send, OperationStatus::Finished),
            (OperationKind::Receive, OperationStatus::Rejected),
            (OperationKind::Return, OperationStatus::Finished)
        ]
    );
}

#[test]
fn the_third_wrong_code_rejects() {
    let mut random = TestRandom(13);
    let mut transfer =
        Transfer::create(draft(TransferKind::Direct, 200), uah(0), &mut random, now()).unwrap();
    assert!(!transfer.awaits_confirmation(), "nothing asked yet");
    transfer
        .ask_confirmation(Confirmation::Lookup, now())
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::NeedsConfirmation);
    assert!(transfer.awaits_confirmation());
    assert_eq!(
        transfer
            .answer(
                SenderAnswer::ThreeDs(SendDecision::Approved),
                CardDecision::Approved,
                now(),
                &mut random,
                now()
            )
            .unwrap_err(),
        P2pError::NotThreeDs,
        "a code transfer is not confirmed on the 3-D Secure page"
    );
    let (booked, refusal) = transfer
        .answer(
            SenderAnswer::Code { matches: false },
            CardDecision::Approved,
            now(),
            &mut random,
            now(),
        )
        .unwrap();
    assert!(booked.is_empty());
    assert_eq!(refusal, Some(P2pError::WrongCode(2)));
    assert_eq!(transfer.wrong_code(now()).unwrap(), P2pError::WrongCode(1));
    assert_eq!(
        transfer.wrong_code(now()).unwrap(),
        P2pError::CodeAttemptsExhausted
    );
    assert_eq!(transfer.status, TransferStatus::Rejected);
    assert!(transfer.wrong_code(now()).is_err());
    assert!(
        !transfer.awaits_confirmation(),
        "a rejected transfer takes no answer"
    );
}

#[test]
fn the_right_code_sends() {
    let mut random = TestRandom(29);
    let mut transfer =
        Transfer::create(draft(TransferKind::Direct, 200), uah(0), &mut random, now()).unwrap();
    transfer
        .ask_confirmation(Confirmation::Lookup, now())
        .unwrap();
    let (booked, refusal) = transfer
        .answer(
            SenderAnswer::Code { matches: true },
            CardDecision::Approved,
            now(),
            &mut random,
            now(),
        )
        .unwrap();
    assert_eq!((booked.len(), refusal), (2, None));
    assert_eq!(transfer.status, TransferStatus::Finished);
}

#[test]
fn the_third_wrong_code_rejects_too() {
    let mut random = TestRandom(31);
    let mut transfer =
        Transfer::create(draft(TransferKind::Direct, 200), uah(0), &mut random, now()).unwrap();
    transfer
        .ask_confirmation(Confirmation::Lookup, now())
        .unwrap();
    assert_eq!(transfer.wrong_code(now()).unwrap(), P2pError::WrongCode(2));
    assert_eq!(transfer.wrong_code(now()).unwrap(), P2pError::WrongCode(1));
    assert_eq!(
        transfer.wrong_code(now()).unwrap(),
        P2pError::CodeAttemptsExhausted
    );
    assert_eq!(transfer.status, TransferStatus::Rejected);
    assert!(transfer.wrong_code(now()).is_err());
}

#[test]
fn unconfirmed_transfers_expire_rejected() {
    let mut random = TestRandom(17);
    let mut transfer =
        Transfer::create(draft(TransferKind::Bucket, 200), uah(0), &mut random, now()).unwrap();
    transfer
        .ask_confirmation(Confirmation::ThreeDs, now())
        .unwrap();
    let later = now().plus_seconds(CONFIRMATION_WINDOW_SECONDS);
    assert_eq!(transfer.expire(&mut random, later).unwrap(), None);
    assert_eq!(transfer.status, TransferStatus::Rejected);
    assert_eq!(transfer.operations[0].reason, Some(Resolution::Expired));
}

#[test]
fn apply_send_runs_a_direct_transfer_to_its_end() {
    let mut random = TestRandom(23);
    let due = now().plus_seconds(60);
    let mut finished =
        Transfer::create(draft(TransferKind::Direct, 300), uah(3), &mut random, now()).unwrap();
    let booked = finished
        .apply_send(
            SendDecision::Approved,
            CardDecision::Approved,
            due,
            &mut random,
            now(),
        )
        .unwrap();
    assert_eq!(booked.len(), 2);
    assert_eq!(finished.status, TransferStatus::Finished);

    let mut returned =
        Transfer::create(draft(TransferKind::Direct, 300), uah(3), &mut random, now()).unwrap();
    let booked = returned
        .apply_send(
            SendDecision::Approved,
            CardDecision::Declined(Resolution::Declined),
            due,
            &mut random,
            now(),
        )
        .unwrap();
    assert_eq!(booked.len(), 2, "send and return");
    assert_eq!(returned.status, TransferStatus::Returned);

    let mut bucket =
        Transfer::create(draft(TransferKind::Bucket, 300), uah(3), &mut random, now()).unwrap();
    bucket
        .apply_send(
            SendDecision::Approved,
            CardDecision::Approved,
            due,
            &mut random,
            now(),
        )
        .unwrap();
    assert_eq!(bucket.status, TransferStatus::Processing);
    assert_eq!(bucket.expires_at, Some(due));
    assert_eq!(
        finished.check_claim(uah(1)).unwrap_err(),
        P2pError::NotBucket
    );
    let declined = bucket
        .claim(
            card(5),
            uah(100),
            CardDecision::Declined(Resolution::Declined),
            None,
            &mut random,
            now(),
        )
        .unwrap();
    assert!(declined.is_none(), "a BUCKET keeps waiting after a refusal");
    assert_eq!(bucket.status, TransferStatus::Processing);
    assert_eq!(bucket.pending.minor(), 300);
}

#[test]
fn drafts_are_checked() {
    let mut random = TestRandom(19);
    let mut no_recipient = draft(TransferKind::Direct, 200);
    no_recipient.card_to = None;
    assert_eq!(
        Transfer::create(no_recipient, uah(0), &mut random, now()).unwrap_err(),
        P2pError::CardToRequired
    );
    let mut same = draft(TransferKind::Direct, 200);
    same.card_to = Some(same.card_from.clone());
    assert_eq!(
        Transfer::create(same, uah(0), &mut random, now()).unwrap_err(),
        P2pError::SameCard
    );
    assert_eq!(
        Transfer::create(draft(TransferKind::Direct, 0), uah(0), &mut random, now()).unwrap_err(),
        P2pError::InvalidAmount
    );
}
