//! The ledger: `verify` catches planted violations, the reads the dialects use, and versioned
//! P2P transfers checked against their postings.

use std::collections::BTreeMap;

use crate::on_both_backends;
use crate::ops::{ledger, payments, tenancy, verify};
use crate::testing::{TestDatabase, TestRandom};
use crate::{Store, StoreError, params};
use obol_core::Currency;
use obol_core::ids::{PaymentId, Uuid};
use obol_core::ledger::{AccountCode, Clearing, LedgerTransaction, Posting, TransactionKind};
use obol_core::money::Money;
use obol_core::payment::PaymentEvent;

use super::{NOW, apply, assert_verified, create_payment, merchant, name, open, processed_payment};

async fn verify_catches_planted_violations(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let id = processed_payment(&store, merchant, 1_000).await;
    assert_verified(&store).await;
    let planted = id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                let row = db.query("INSERT INTO ledger_transactions (kind, payment_id, created_at) VALUES ('payment', $1, 0) RETURNING id", params![planted.as_str()]).await?;
                let transaction = row[0].int(0)?;
                db.execute("INSERT INTO ledger_postings (transaction_id, account, currency, amount) VALUES ($1, 'clearing:sandbox', 'USD', -5)", params![transaction]).await?;
                db.execute("INSERT INTO ledger_postings (transaction_id, account, currency, amount) VALUES ($1, 'merchant:1', 'USD', 4)", params![transaction]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let report = store.read(|db| Box::pin(verify::verify(db))).await.unwrap();
    let checks: BTreeMap<&str, usize> =
        report
            .violations
            .iter()
            .fold(BTreeMap::new(), |mut counts, violation| {
                *counts.entry(violation.check).or_default() += 1;
                counts
            });
    assert!(checks.contains_key("currency_sums_to_zero"), "{checks:?}");
    assert!(checks.contains_key("transaction_balances"), "{checks:?}");
    assert!(
        checks.contains_key("payment_matches_postings"),
        "{checks:?}"
    );
}

/// Test and live never meet: a transaction whose postings are not all of its mode, and a test
/// payment whose money sits in a live account, are both reported.
async fn verify_catches_mixed_modes(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    // `processed_payment` makes a test payment (the test merchant's).
    let id = processed_payment(&store, merchant, 1_000).await;
    assert_verified(&store).await;
    let planted = id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                let row = db.query("INSERT INTO ledger_transactions (kind, payment_id, created_at, mode) VALUES ('correction', $1, 0, 'test') RETURNING id", params![planted.as_str()]).await?;
                let transaction = row[0].int(0)?;
                db.execute("INSERT INTO ledger_postings (transaction_id, account, currency, amount, mode) VALUES ($1, 'clearing:offline', 'USD', -5, 'test')", params![transaction]).await?;
                db.execute("INSERT INTO ledger_postings (transaction_id, account, currency, amount, mode) VALUES ($1, 'merchant:1', 'USD', 5, 'live')", params![transaction]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let report = store.read(|db| Box::pin(verify::verify(db))).await.unwrap();
    let checks: Vec<&str> = report
        .violations
        .iter()
        .map(|violation| violation.check)
        .collect();
    assert!(checks.contains(&"transaction_single_mode"), "{checks:?}");
    assert!(checks.contains(&"money_in_its_mode"), "{checks:?}");
    assert!(checks.contains(&"currency_sums_to_zero"), "{checks:?}");
}

async fn verify_catches_processed_without_postings(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let payment = create_payment(&store, merchant, None, 700).await.unwrap();
    let id = payment.id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                db.execute("UPDATE payments SET status = 'processed', processed_amount = amount WHERE id = $1", params![id.as_str()]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let report = store.read(|db| Box::pin(verify::verify(db))).await.unwrap();
    assert!(
        report
            .violations
            .iter()
            .any(|violation| violation.check == "processed_payment_has_postings"),
        "{:?}",
        report.violations
    );
}

async fn corrections_and_refund(store: &Store, id: &PaymentId) -> (Vec<i64>, Option<i64>) {
    let id = id.clone();
    store
        .read(move |db| {
            Box::pin(async move {
                Ok((
                    ledger::corrections_of_payment(db, &id).await?,
                    ledger::latest_refund_of_payment(db, &id).await?,
                ))
            })
        })
        .await
        .unwrap()
}

/// The reads the dialects need beyond payments themselves: corrections and refunds of a payment,
/// one refund transaction, payments by status.
async fn ledger_reads_for_dialects(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let open_payment = create_payment(&store, merchant, None, 500).await.unwrap();
    let id = processed_payment(&store, merchant, 10_000).await;
    let usd = |minor: i64| Money::from_minor(minor, Currency::USD).unwrap();
    let correction = |minor: i64| {
        LedgerTransaction::new(
            TransactionKind::Correction,
            Some(id.clone()),
            obol_core::Mode::Test,
            vec![
                Posting {
                    account: AccountCode::clearing(Clearing::Offline),
                    amount: usd(-minor),
                },
                Posting {
                    account: AccountCode::operator_fees(),
                    amount: usd(minor),
                },
            ],
        )
        .unwrap()
    };
    let (first, second) = (correction(100), correction(200));
    let corrections = store
        .write(move |db| {
            Box::pin(async move {
                Ok(vec![
                    ledger::insert_transaction(db, &first, NOW).await?,
                    ledger::insert_transaction(db, &second, NOW).await?,
                ])
            })
        })
        .await
        .unwrap();
    assert_eq!(
        corrections_and_refund(&store, &id).await,
        (corrections.clone(), None)
    );
    apply(&store, &id, PaymentEvent::Refunded { amount: usd(3_000) })
        .await
        .unwrap();
    let (listed, refund) = corrections_and_refund(&store, &id).await;
    assert_eq!(listed, corrections);
    let refund = refund.expect("a refund transaction");
    let correction_id = corrections[0];
    let (found, of_correction, missing) = store
        .read(move |db| {
            Box::pin(async move {
                Ok((
                    ledger::refund_transaction(db, refund).await?,
                    ledger::refund_transaction(db, correction_id).await?,
                    ledger::refund_transaction(db, refund + 1_000).await?,
                ))
            })
        })
        .await
        .unwrap();
    assert_eq!(
        found,
        Some(ledger::StoredRefund {
            transaction_id: refund,
            payment_id: id.as_str().to_owned(),
            created_at: NOW,
            returned_minor: 3_000,
        })
    );
    assert_eq!((of_correction, missing), (None, None));
    let by_status = store
        .read(|db| Box::pin(payments::count_by_status(db)))
        .await
        .unwrap();
    assert_eq!(
        by_status,
        vec![
            (open_payment.status.as_str().to_owned(), 1),
            ("partially_refunded".to_owned(), 1)
        ]
    );
}

/// A transfer is written whole and changed only from the version it was read at; its ledger
/// steps keep `verify` clean, and a wrong transit is caught.
async fn transfers_are_versioned_and_verified(database: TestDatabase) {
    use crate::ops::{ledger, p2p};
    use obol_core::p2p::{P2pCard, SendDecision, Transfer, TransferDraft, TransferKind};
    use obol_core::sandbox::CardDecision;

    let store = open(&database).await;
    let client = store
        .write(|db| {
            Box::pin(async move {
                let key = Uuid::generate_v4(&mut TestRandom::new());
                let key = obol_core::credentials::SecretDigest::of(key.as_str());
                tenancy::create_p2p_client(db, &key, name("Wallet"), vec![1, 2, 3], false, NOW)
                    .await
            })
        })
        .await
        .unwrap();
    let card = |pan: &str| {
        let number = obol_core::card::CardNumber::parse(pan).unwrap();
        P2pCard {
            id: Uuid::generate_v4(&mut TestRandom::new()),
            client_id: client.id,
            user_id: None,
            token: "vt_test".to_owned(),
            payload: number.payload(
                obol_core::card::CardExpiry {
                    month: 12,
                    year: 2030,
                },
                None,
            ),
            created_at: NOW,
        }
    };
    let (from, to) = (card("4111111111111111"), card("5555555555554444"));
    let uah = Currency::parse("UAH").unwrap();
    let mut transfer = Transfer::create(
        TransferDraft {
            client_id: client.id,
            external_id: Some("ext".into()),
            kind: TransferKind::Bucket,
            amount: Money::from_minor(1_000, uah).unwrap(),
            description: None,
            callback_url: None,
            card_from: from.as_ref(),
            card_to: None,
        },
        Money::from_minor(10, uah).unwrap(),
        &mut TestRandom::new(),
        NOW,
    )
    .unwrap();
    let sent = transfer
        .apply_send(
            SendDecision::Approved,
            CardDecision::Approved,
            NOW.plus_seconds(60),
            &mut TestRandom::new(),
            NOW,
        )
        .unwrap();
    let (stored_from, stored_to, first) = (from.clone(), to.clone(), transfer.clone());
    store
        .write(move |db| {
            Box::pin(async move {
                p2p::insert_card(db, &stored_from).await?;
                p2p::insert_card(db, &stored_to).await?;
                p2p::insert_transfer(db, &first).await?;
                for transaction in &sent {
                    ledger::insert_transfer_transaction(db, transaction, &first.id, NOW).await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_verified(&store).await;
    let id = transfer.id.clone();
    let read = store
        .read(move |db| Box::pin(async move { p2p::get_transfer(db, &id, false).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, transfer, "read back as written");

    let mut received = read.clone();
    let step = received
        .claim(
            to.as_ref(),
            Money::from_minor(400, uah).unwrap(),
            CardDecision::Approved,
            None,
            &mut TestRandom::new(),
            NOW,
        )
        .unwrap()
        .unwrap();
    let (first_write, stale) = (received.clone(), received.clone());
    let stored = store
        .write(move |db| {
            Box::pin(async move {
                let stored = p2p::update_transfer(db, &first_write).await?;
                ledger::insert_transfer_transaction(db, &step, &stored.id, NOW).await?;
                Ok(stored)
            })
        })
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.pending.minor(), 600);
    let conflict = store
        .write(move |db| Box::pin(async move { p2p::update_transfer(db, &stale).await }))
        .await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict)),
        "{conflict:?}"
    );
    assert_verified(&store).await;
    let id = transfer.id.clone();
    let shown = store
        .read(move |db| Box::pin(async move { p2p::get_transfer(db, &id, false).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.operations.len(), 2);
    assert_eq!(shown.card_to.as_ref().unwrap().masked, "5555554444");

    // Transit that does not match the pending amount is a violation.
    let id = transfer.id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                db.execute(
                    "UPDATE p2p_transfers SET pending_amount = 500 WHERE id = $1",
                    params![id.as_str()],
                )
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let report = store.read(|db| Box::pin(verify::verify(db))).await.unwrap();
    assert!(
        report
            .violations
            .iter()
            .any(|violation| violation.check == "transfer_matches_postings"),
        "{report:?}"
    );
}

on_both_backends!(
    verify_catches_mixed_modes,
    transfers_are_versioned_and_verified,
    verify_catches_planted_violations,
    verify_catches_processed_without_postings,
    ledger_reads_for_dialects,
);
