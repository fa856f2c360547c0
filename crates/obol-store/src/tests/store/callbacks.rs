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

/// The payment's next callback, after the `sequence` it already has.
fn next_callback(
    payment: &PaymentId,
    merchant: MerchantId,
    sequence: usize,
    status: &str,
) -> NewCallback {
    NewCallback {
        delivery_id: format!("{}-{}", payment.as_str(), sequence + 1),
        subject: Subject::Payment(payment.clone()),
        signer: Signer::Merchant(merchant),
        dialect: "paymega".into(),
        url: "http://127.0.0.1:9/".into(),
        body: b"{}".to_vec(),
        transaction_status: status.to_owned(),
        mode: obol_core::Mode::Test,
    }
}

async fn enqueue(store: &Store, merchant: MerchantId, payment: &PaymentId, at: Timestamp) {
    let payment = payment.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                let sequence = callbacks::for_payment(db, &payment).await?.len();
                let status = format!("status-{}", sequence + 1);
                callbacks::enqueue(db, next_callback(&payment, merchant, sequence, &status), at)
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

async fn record(
    store: &Store,
    owner: &'static str,
    settled: Vec<Settled>,
    now: Timestamp,
) -> Vec<i64> {
    store
        .write(move |db| {
            Box::pin(async move { callbacks::record_attempts(db, owner, &settled, now).await })
        })
        .await
        .unwrap()
}

/// A payment's callbacks, in order.
async fn of_payment(store: &Store, payment: &PaymentId) -> Vec<Callback> {
    let payment = payment.clone();
    store
        .read(move |db| Box::pin(async move { callbacks::for_payment(db, &payment).await }))
        .await
        .unwrap()
}

/// Whether each callback waits for an earlier one.
fn waiting(callbacks: &[Callback]) -> Vec<bool> {
    callbacks.iter().map(Callback::waits_for_earlier).collect()
}

fn sequences(callbacks: &[Callback]) -> Vec<i64> {
    callbacks.iter().map(|callback| callback.sequence).collect()
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
    for payment in &payments {
        let callbacks = of_payment(&store, payment).await;
        assert_eq!(
            waiting(&callbacks),
            [false, true, true],
            "the later ones wait"
        );
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
        NOW.plus_seconds(61),
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

    // The delivered one lets its next one go, at the time of the record; the one after still
    // waits. The failing one's later ones wait for it, and so does one enqueued now.
    let next_go = of_payment(&store, &payments[1]).await;
    assert_eq!(waiting(&next_go), [false, false, true]);
    assert_eq!(next_go[1].next_attempt_at, NOW.plus_seconds(61));
    enqueue(&store, merchant, &payments[2], NOW.plus_seconds(1)).await;
    assert_eq!(
        waiting(&of_payment(&store, &payments[2]).await),
        [false, true, true, true]
    );
    assert_eq!(
        store
            .read(|db| Box::pin(callbacks::next_due_at(db, NOW.plus_seconds(61))))
            .await
            .unwrap(),
        Some(retry_at),
        "the next due time is the retry's; waiting callbacks have none"
    );

    // Recording the same batch again changes nothing (an answer lost after the commit).
    let again = record(
        &store,
        "node-a",
        vec![attempt(delivered, true, NOW, AfterFailure::RetryAt(NOW))],
        NOW.plus_seconds(61),
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
        NOW,
    )
    .await;
    assert_eq!(recorded, vec![claimed[0].id]);
    assert!(claim(&store, "node-a", NOW, 10).await.is_empty());
    let again = claim(&store, "node-b", due_at, 10).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (claimed[0].id, 0));
    assert_eq!(attempts_logged(&store, claimed[0].id).await, 0);
    assert_eq!(
        waiting(&of_payment(&store, &payment).await),
        [false, true],
        "the next one still waits"
    );
}

/// A callback given up on lets the next one go, as a delivered one does; a replayed callback
/// waits for the earlier ones still pending, and the later pending ones wait for it.
async fn waiting_callbacks_go_when_the_earlier_one_is_done(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let payment = create_payment(&store, merchant, None, 100)
        .await
        .unwrap()
        .id
        .clone();
    for _ in 0..4 {
        enqueue(&store, merchant, &payment, NOW).await;
    }
    let first = claim(&store, "node-a", NOW, 10).await;
    assert_eq!(sequences(&first), [1]);
    let later = NOW.plus_seconds(10);
    let given_up = AfterFailure::GiveUp("no more".into());
    record(
        &store,
        "node-a",
        vec![attempt(first[0].id, false, NOW, given_up)],
        later,
    )
    .await;
    let second = claim(&store, "node-a", later, 10).await;
    assert_eq!(
        sequences(&second),
        [2],
        "the one given up on let the next go"
    );
    let delivered = attempt(second[0].id, true, later, AfterFailure::RetryAt(later));
    record(&store, "node-a", vec![delivered], later).await;
    assert_eq!(
        waiting(&of_payment(&store, &payment).await),
        [false, false, false, true]
    );
    // Replaying the first (given up) puts the third and fourth behind it again; replaying the
    // second puts it behind the first.
    for (delivery, waits) in [
        (&first[0].delivery_id, false),
        (&second[0].delivery_id, true),
    ] {
        let delivery = delivery.clone();
        let replayed = store
            .write(move |db| Box::pin(async move { callbacks::replay(db, &delivery, later).await }))
            .await
            .unwrap();
        assert_eq!(replayed.waits_for_earlier(), waits);
    }
    let callbacks = of_payment(&store, &payment).await;
    assert!(
        callbacks
            .iter()
            .all(|callback| callback.status == callbacks::CallbackStatus::Pending)
    );
    assert_eq!(waiting(&callbacks), [false, true, true, true]);
    assert_eq!(sequences(&claim(&store, "node-a", later, 10).await), [1]);
}

/// Callbacks written before migration 19 are put in its shape: the later pending ones of a
/// payment wait, the first pending one (and one after delivered ones) does not.
async fn migration_19_makes_later_pending_callbacks_wait(database: TestDatabase) {
    let store = Store::open(&database.url).await.expect("open");
    store
        .write(|db| Box::pin(crate::ops::migrate::migrate_up_to(db, NOW, 18)))
        .await
        .unwrap();
    let merchant = merchant(&store).await;
    let mut payments = Vec::new();
    for statuses in [
        ["pending", "pending", "pending"],
        ["delivered", "pending", "pending"],
    ] {
        let payment = create_payment(&store, merchant, None, 100)
            .await
            .unwrap()
            .id
            .clone();
        let id = payment.clone();
        store
            .write(move |db| {
                Box::pin(async move {
                    for (index, status) in statuses.iter().enumerate() {
                        db.execute(
                            "INSERT INTO callbacks (delivery_id, payment_id, merchant_id, dialect, url, body, transaction_status, sequence, status, \
                             next_attempt_at, created_at, mode) VALUES ($1, $2, $3, 'paymega', 'https://example.com/cb', $4, 'created', $5, $6, 0, 0, 'test')",
                            crate::params![
                                format!("{}-{index}", id.as_str()),
                                id.as_str(),
                                merchant.get(),
                                b"{}".to_vec(),
                                index as i64 + 1,
                                *status
                            ],
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
        payments.push(payment);
    }
    assert_eq!(store.migrate(NOW).await.unwrap(), vec![19, 20]);
    assert_eq!(
        waiting(&of_payment(&store, &payments[0]).await),
        [false, true, true]
    );
    assert_eq!(
        waiting(&of_payment(&store, &payments[1]).await),
        [false, false, true]
    );
}

/// Many attempts in one batch (more than one multi-row statement holds, and a last one padded)
/// are all recorded.
async fn a_large_batch_is_recorded_whole(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    for _ in 0..300 {
        let payment = create_payment(&store, merchant, None, 100)
            .await
            .unwrap()
            .id
            .clone();
        enqueue(&store, merchant, &payment, NOW).await;
    }
    let claimed = claim(&store, "node-a", NOW, 256).await;
    assert_eq!(claimed.len(), 256);
    let more = claim(&store, "node-a", NOW, 256).await;
    assert_eq!(more.len(), 44);
    let claimed: Vec<Callback> = claimed.into_iter().chain(more).collect();
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
    let recorded = record(&store, "node-a", settled, NOW).await;
    assert_eq!(recorded.len(), 300);
    let all = everything(&store).await;
    let delivered = all
        .iter()
        .filter(|callback| callback.status == callbacks::CallbackStatus::Delivered)
        .count();
    let failed = all
        .iter()
        .filter(|callback| callback.status == callbacks::CallbackStatus::Failed)
        .count();
    assert_eq!((delivered, failed), (270, 30));
    assert!(all.iter().all(|callback| callback.attempts == 1));
    let logged = store
        .read(|db| Box::pin(crate::testing::inspect::callback_attempt_count(db)))
        .await
        .unwrap();
    assert_eq!(
        logged, 300,
        "one attempt logged per callback, none for the padding"
    );
    for callback in [&all[0], &all[150], &all[299]] {
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

/// Waits (a few seconds at most) until a transaction of this database waits for a row lock.
async fn a_transaction_waits_for_a_lock(store: &Store) {
    for _ in 0..500 {
        let waiting = store
            .read(|db| {
                Box::pin(async move {
                    db.query(
                        "SELECT CAST(COUNT(*) AS BIGINT) AS waiting FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                        &[],
                    )
                    .await?[0]
                        .int("waiting")
                })
            })
            .await
            .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no transaction waited for the other");
}

/// Runs `operation` in a transaction that stays open, after the operation, until `release`.
fn held_open<T, F>(
    store: &Store,
    done: std::sync::Arc<tokio::sync::Semaphore>,
    mut release: tokio::sync::watch::Receiver<bool>,
    operation: F,
) -> tokio::task::JoinHandle<StoreResult<T>>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut dyn crate::Db) -> crate::BoxFuture<'a, StoreResult<T>>
        + Send
        + 'static,
{
    let store = store.clone();
    tokio::spawn(async move {
        store
            .write(move |db| {
                Box::pin(async move {
                    let value = operation(db).await?;
                    done.add_permits(1);
                    let _ = release.wait_for(|release| *release).await;
                    Ok(value)
                })
            })
            .await
    })
}

/// On PostgreSQL, a callback written while its earlier one's delivery is being recorded (either
/// transaction first) is never left waiting for ever: the writer waits for the record, or the
/// record for the writer, and the later callback comes due. (SQLite runs one transaction at a
/// time.)
async fn a_callback_written_while_the_earlier_one_is_recorded_comes_due(database: TestDatabase) {
    let store = open(&database).await;
    if store.backend() != crate::Backend::Postgres {
        return;
    }
    let merchant = merchant(&store).await;
    let payment = create_payment(&store, merchant, None, 100)
        .await
        .unwrap()
        .id
        .clone();
    enqueue(&store, merchant, &payment, NOW).await;
    let first = claim(&store, "node-a", NOW, 10).await;
    assert_eq!(sequences(&first), [1]);

    // The record first, held open; the second callback is written meanwhile.
    let (release, released) = tokio::sync::watch::channel(false);
    let done = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let settled = vec![attempt(first[0].id, true, NOW, AfterFailure::RetryAt(NOW))];
    let recording = held_open(&store, done.clone(), released, move |db| {
        Box::pin(async move { callbacks::record_attempts(db, "node-a", &settled, NOW).await })
    });
    let _recorded = done.acquire().await.unwrap();
    let writing = tokio::spawn({
        let (store, payment) = (store.clone(), payment.clone());
        async move { enqueue(&store, merchant, &payment, NOW).await }
    });
    a_transaction_waits_for_a_lock(&store).await;
    release.send_replace(true);
    recording.await.unwrap().unwrap();
    writing.await.unwrap();
    assert_eq!(waiting(&of_payment(&store, &payment).await), [false, false]);
    let second = claim(&store, "node-a", NOW, 10).await;
    assert_eq!(sequences(&second), [2]);

    // The writer first, held open; the second callback's delivery is recorded meanwhile.
    let (release, released) = tokio::sync::watch::channel(false);
    let done = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let written = payment.clone();
    let writing = held_open(&store, done.clone(), released, move |db| {
        Box::pin(async move {
            let sequence = callbacks::for_payment(db, &written).await?.len();
            callbacks::enqueue(
                db,
                next_callback(&written, merchant, sequence, "third"),
                NOW,
            )
            .await
        })
    });
    let _written = done.acquire().await.unwrap();
    let recording = tokio::spawn({
        let store = store.clone();
        let settled = vec![attempt(second[0].id, true, NOW, AfterFailure::RetryAt(NOW))];
        async move { record(&store, "node-a", settled, NOW).await }
    });
    a_transaction_waits_for_a_lock(&store).await;
    release.send_replace(true);
    let third = writing.await.unwrap().unwrap();
    assert!(
        third.waits_for_earlier(),
        "written while the second was pending"
    );
    assert_eq!(recording.await.unwrap(), vec![second[0].id]);
    assert_eq!(
        waiting(&of_payment(&store, &payment).await),
        [false, false, false],
        "the record saw the third and let it go"
    );
    assert_eq!(sequences(&claim(&store, "node-a", NOW, 10).await), [3]);
}

/// The worker's own connections: a callback enqueued through them notifies the store it was
/// made from, and on PostgreSQL they claim while every connection of the shared pool is busy.
async fn own_connections_claim_while_the_shared_ones_are_busy(database: TestDatabase) {
    let store = open(&database).await;
    let own = store.with_own_connections(2).await.unwrap();
    let merchant = merchant(&store).await;
    let payment = create_payment(&store, merchant, None, 100)
        .await
        .unwrap()
        .id
        .clone();
    let committed = store.callbacks_committed();
    enqueue(&own, merchant, &payment, NOW).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), committed.notified())
        .await
        .expect("a commit through the worker's connections notifies");
    let (release, released) = tokio::sync::watch::channel(false);
    let busy = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let mut holders = Vec::new();
    if store.backend() == crate::Backend::Postgres {
        // SQLite shares its one writer by design (and its operations may not wait).
        for _ in 0..crate::postgres::POOL_SIZE {
            let (store, mut released, busy) = (store.clone(), released.clone(), busy.clone());
            holders.push(tokio::spawn(async move {
                store
                    .write(move |_db| {
                        Box::pin(async move {
                            busy.add_permits(1);
                            let _ = released.wait_for(|released| *released).await;
                            Ok(())
                        })
                    })
                    .await
            }));
        }
        let all = u32::try_from(crate::postgres::POOL_SIZE).unwrap();
        let _held = busy.acquire_many(all).await.unwrap();
    }
    let claimed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        own.write(|db| Box::pin(callbacks::claim_due(db, "node-a", NOW, 60, 10))),
    )
    .await
    .expect("the worker's connections do not wait for the shared ones")
    .unwrap();
    assert_eq!(claimed.len(), 1);
    release.send_replace(true);
    for holder in holders {
        holder.await.unwrap().unwrap();
    }
}

on_both_backends!(
    a_callback_written_while_the_earlier_one_is_recorded_comes_due,
    own_connections_claim_while_the_shared_ones_are_busy,
    attempts_are_recorded_in_batches_under_their_leases,
    a_released_callback_is_due_again_without_an_attempt,
    waiting_callbacks_go_when_the_earlier_one_is_done,
    migration_19_makes_later_pending_callbacks_wait,
    a_large_batch_is_recorded_whole,
    sealed_keys_are_read_with_the_claim,
);
