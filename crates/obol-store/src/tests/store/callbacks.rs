//! The callbacks outbox as the delivery worker uses it: claims in order, attempts recorded in
//! batches under the lease, later callbacks held back behind a failing one, the signing keys
//! read with the claim.

use obol_core::Timestamp;
use obol_core::ids::{MerchantId, PaymentId};

use crate::on_both_backends;
use crate::ops::callbacks::{
    self, AfterFailure, AttemptRecord, Callback, NewCallback, SealedKeys, Settled, Settlement,
    Signer, Subject,
};
use crate::testing::TestDatabase;
use crate::{Store, StoreResult};

use super::{NOW, create_payment, merchant, open};

async fn enqueue(store: &Store, merchant: MerchantId, payment: &PaymentId, at: Timestamp) {
    let payment = payment.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                let sequence = callbacks::for_payment(db, &payment).await?.len();
                callbacks::enqueue(
                    db,
                    NewCallback {
                        delivery_id: format!("{}-{}", payment.as_str(), sequence + 1),
                        subject: Subject::Payment(payment.clone()),
                        signer: Signer::Merchant(merchant),
                        dialect: "paymega".into(),
                        url: "http://127.0.0.1:9/".into(),
                        body: b"{}".to_vec(),
                        transaction_status: format!("status-{}", sequence + 1),
                        mode: obol_core::Mode::Test,
                    },
                    at,
                )
                .await
                .map(drop)
            })
        })
        .await
        .unwrap();
}

async fn claim(store: &Store, owner: &'static str, at: Timestamp, limit: i64) -> Vec<Callback> {
    store
        .write(move |db| Box::pin(callbacks::claim_due(db, owner, at, 60, limit)))
        .await
        .unwrap()
}

async fn record(store: &Store, owner: &'static str, settled: Vec<Settled>) -> Vec<i64> {
    store
        .write(move |db| {
            Box::pin(async move { callbacks::record_attempts(db, owner, &settled).await })
        })
        .await
        .unwrap()
}

fn attempt(id: i64, delivered: bool, at: Timestamp, after_failure: AfterFailure) -> Settled {
    Settled {
        callback_id: id,
        settlement: Settlement::Attempted {
            attempt: AttemptRecord {
                started_at: at,
                finished_at: at,
                response_code: Some(if delivered { 200 } else { 500 }),
                delivered,
                error: (!delivered).then(|| "answered HTTP 500".to_owned()),
            },
            after_failure,
        },
    }
}

async fn attempts_logged(store: &Store, id: i64) -> i64 {
    store
        .read(move |db| Box::pin(crate::testing::inspect::attempts_of_callback(db, id)))
        .await
        .unwrap()
}

async fn everything(store: &Store) -> Vec<Callback> {
    store.read(|db| Box::pin(callbacks::all(db))).await.unwrap()
}

/// One claim takes the first callback of each payment only; one transaction records many
/// attempts, each only under its own lease; the payment's next callback is claimable once the
/// earlier one is recorded, not before.
async fn attempts_are_recorded_in_batches_under_their_leases(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let mut payments = Vec::new();
    for _ in 0..3 {
        let payment = create_payment(&store, merchant, None, 100)
            .await
            .unwrap()
            .id
            .clone();
        for _ in 0..3 {
            enqueue(&store, merchant, &payment, NOW).await;
        }
        payments.push(payment);
    }
    let claimed = claim(&store, "node-a", NOW, 100).await;
    assert_eq!(claimed.len(), 3, "one callback per payment: {claimed:?}");
    assert!(claimed.iter().all(|callback| callback.sequence == 1));
    assert!(
        claim(&store, "node-b", NOW, 100).await.is_empty(),
        "leased, and the later ones wait"
    );

    // The leases lapse and node B takes the first callback; node A's batch still records the
    // other two (lapsed, but nobody took them), and nothing of the first.
    let (lapsed, delivered, failing) = (claimed[0].id, claimed[1].id, claimed[2].id);
    let taken = claim(&store, "node-b", NOW.plus_seconds(61), 1).await;
    assert_eq!(
        taken.iter().map(|callback| callback.id).collect::<Vec<_>>(),
        vec![lapsed]
    );
    let retry_at = NOW.plus_seconds(120);
    let recorded = record(
        &store,
        "node-a",
        vec![
            attempt(lapsed, true, NOW, AfterFailure::RetryAt(NOW)),
            attempt(delivered, true, NOW, AfterFailure::RetryAt(NOW)),
            attempt(failing, false, NOW, AfterFailure::RetryAt(retry_at)),
        ],
    )
    .await;
    assert_eq!(recorded, vec![delivered, failing]);
    let all = everything(&store).await;
    let find = |id: i64| all.iter().find(|callback| callback.id == id).unwrap();
    assert_eq!(find(delivered).status, callbacks::CallbackStatus::Delivered);
    assert_eq!(find(delivered).delivered_at, Some(NOW));
    assert_eq!(find(delivered).last_response_code, Some(200));
    assert_eq!(find(failing).status, callbacks::CallbackStatus::Pending);
    assert_eq!(find(failing).next_attempt_at, retry_at);
    assert_eq!(find(failing).last_response_code, Some(500));
    assert_eq!(find(lapsed).status, callbacks::CallbackStatus::Pending);
    assert_eq!(find(lapsed).attempts, 0, "node A's attempt is not counted");
    assert_eq!(attempts_logged(&store, delivered).await, 1);
    assert_eq!(attempts_logged(&store, failing).await, 1);
    assert_eq!(attempts_logged(&store, lapsed).await, 0);

    // The failing callback's later ones are not due before it is due again.
    let later: Vec<&Callback> = all
        .iter()
        .filter(|callback| {
            callback.subject == Subject::Payment(payments[2].clone()) && callback.sequence > 1
        })
        .collect();
    assert_eq!(later.len(), 2);
    assert!(
        later
            .iter()
            .all(|callback| callback.next_attempt_at == retry_at)
    );
    assert_eq!(
        store
            .read(|db| Box::pin(callbacks::next_due_at(db, NOW)))
            .await
            .unwrap(),
        Some(retry_at),
        "the next due time is the retry's, not that of callbacks waiting behind it"
    );
    // A callback enqueued behind it is held back too.
    enqueue(&store, merchant, &payments[2], NOW.plus_seconds(1)).await;
    let fourth = everything(&store)
        .await
        .into_iter()
        .find(|callback| {
            callback.subject == Subject::Payment(payments[2].clone()) && callback.sequence == 4
        })
        .unwrap();
    assert_eq!(fourth.next_attempt_at, retry_at);

    // Recording the same batch again changes nothing (an answer lost after the commit).
    let again = record(
        &store,
        "node-a",
        vec![attempt(delivered, true, NOW, AfterFailure::RetryAt(NOW))],
    )
    .await;
    assert!(again.is_empty());
    assert_eq!(attempts_logged(&store, delivered).await, 1);

    // The delivered payment's second callback is next; the failing one's waits for its retry.
    let next = claim(&store, "node-a", NOW.plus_seconds(61), 100).await;
    assert_eq!(
        next.iter()
            .map(|callback| (callback.subject.clone(), callback.sequence))
            .collect::<Vec<_>>(),
        vec![(Subject::Payment(payments[1].clone()), 2)]
    );
}

/// A callback given back unsent is due again later, with no attempt counted.
async fn a_released_callback_is_due_again_without_an_attempt(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let payment = create_payment(&store, merchant, None, 100)
        .await
        .unwrap()
        .id
        .clone();
    enqueue(&store, merchant, &payment, NOW).await;
    enqueue(&store, merchant, &payment, NOW).await;
    let claimed = claim(&store, "node-a", NOW, 10).await;
    assert_eq!(claimed.len(), 1);
    let due_at = NOW.plus_seconds(5);
    let recorded = record(
        &store,
        "node-a",
        vec![Settled {
            callback_id: claimed[0].id,
            settlement: Settlement::Released { due_at },
        }],
    )
    .await;
    assert_eq!(recorded, vec![claimed[0].id]);
    assert!(claim(&store, "node-a", NOW, 10).await.is_empty());
    let again = claim(&store, "node-b", due_at, 10).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (claimed[0].id, 0));
    assert_eq!(attempts_logged(&store, claimed[0].id).await, 0);
}

/// Many attempts in one batch (more than one multi-row statement holds) are all recorded.
async fn a_large_batch_is_recorded_whole(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    for _ in 0..75 {
        let payment = create_payment(&store, merchant, None, 100)
            .await
            .unwrap()
            .id
            .clone();
        enqueue(&store, merchant, &payment, NOW).await;
    }
    let claimed = claim(&store, "node-a", NOW, 256).await;
    assert_eq!(claimed.len(), 75);
    let settled: Vec<Settled> = claimed
        .iter()
        .enumerate()
        .map(|(index, callback)| {
            attempt(
                callback.id,
                index % 10 != 0,
                NOW,
                AfterFailure::GiveUp("no more".into()),
            )
        })
        .collect();
    let recorded = record(&store, "node-a", settled).await;
    assert_eq!(recorded.len(), 75);
    let all = everything(&store).await;
    let delivered = all
        .iter()
        .filter(|callback| callback.status == callbacks::CallbackStatus::Delivered)
        .count();
    let failed = all
        .iter()
        .filter(|callback| callback.status == callbacks::CallbackStatus::Failed)
        .count();
    assert_eq!((delivered, failed), (67, 8));
    for callback in &all {
        assert_eq!(attempts_logged(&store, callback.id).await, 1);
    }
}

/// The claim's transaction reads the signers' sealed keys, with the previous callback secret
/// only while it still signs.
async fn sealed_keys_are_read_with_the_claim(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let keys = |at: Timestamp| {
        let store = store.clone();
        async move {
            store
                .read(move |db| {
                    Box::pin(async move {
                        callbacks::sealed_keys(
                            db,
                            &[
                                Signer::Merchant(merchant),
                                Signer::Merchant(MerchantId::new(999_999)),
                                Signer::None,
                            ],
                            at,
                        )
                        .await
                    })
                })
                .await
        }
    };
    let before: StoreResult<_> = keys(NOW).await;
    let before = before.unwrap();
    assert_eq!(before.len(), 1, "an unknown merchant is left out");
    assert_eq!(
        before.get(&Signer::Merchant(merchant)),
        Some(&SealedKeys::Merchant {
            current: vec![1, 2, 3, 4, 5, 6],
            previous: None
        })
    );
    let rotation = obol_core::credentials::rotation::CallbackSecretRotation::at(NOW);
    store
        .write(move |db| {
            Box::pin(crate::ops::credentials::rotate_callback_secret(
                db,
                merchant,
                vec![7, 8, 9],
                rotation,
            ))
        })
        .await
        .unwrap();
    let during = keys(NOW).await.unwrap();
    assert_eq!(
        during.get(&Signer::Merchant(merchant)),
        Some(&SealedKeys::Merchant {
            current: vec![7, 8, 9],
            previous: Some(vec![1, 2, 3, 4, 5, 6])
        })
    );
    let after = keys(rotation.previous_until).await.unwrap();
    assert_eq!(
        after.get(&Signer::Merchant(merchant)),
        Some(&SealedKeys::Merchant {
            current: vec![7, 8, 9],
            previous: None
        })
    );
}

on_both_backends!(
    attempts_are_recorded_in_batches_under_their_leases,
    a_released_callback_is_due_again_without_an_attempt,
    a_large_batch_is_recorded_whole,
    sealed_keys_are_read_with_the_claim,
);
