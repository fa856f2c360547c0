//! Payments: the lifecycle and its bookings, concurrent transitions and refunds, references,
//! idempotency keys, customers and listing by cursor.

use crate::on_both_backends;
use crate::ops::{idempotency, payments, tenancy};
use crate::testing::{TestDatabase, TestRandom};
use crate::{Idempotent, Store, StoreError, params};
use obol_core::credentials::SecretDigest;
use obol_core::idempotency::{
    IdempotencyError, IdempotencyKey, IdempotencyScope, RequestFingerprint, SavedResponse,
};
use obol_core::ids::{PaymentId, PaymentMethodId, ROOT_RESELLER};
use obol_core::ledger::AccountCode;
use obol_core::money::Money;
use obol_core::payment::{PaymentError, PaymentEvent, PaymentStatus};
use obol_core::tenancy::Role;
use obol_core::{Currency, Timestamp};

use super::{
    NOW, apply, assert_verified, create_payment, draft, merchant, name, open, processed_payment,
};

async fn payment_lifecycle_books_the_ledger(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let id = processed_payment(&store, merchant, 10_000).await;
    let refunded = apply(
        &store,
        &id,
        PaymentEvent::Refunded {
            amount: Money::from_minor(2_500, Currency::USD).unwrap(),
        },
    )
    .await
    .unwrap();
    assert_eq!(refunded.status, PaymentStatus::PartiallyRefunded);
    let payment = store.read({
        let id = id.clone();
        move |db| Box::pin(async move { payments::get_payment(db, &id).await })
    });
    let payment = payment.await.unwrap().unwrap();
    assert_eq!(payment.refunded_amount.minor(), 2_500);
    assert_eq!(payment.metadata.as_deref(), Some("{\"key\":\"value\"}"));
    let history = store.read({
        let id = id.clone();
        move |db| Box::pin(async move { payments::history(db, &id).await })
    });
    let statuses: Vec<PaymentStatus> = history
        .await
        .unwrap()
        .iter()
        .map(|change| change.to)
        .collect();
    assert_eq!(
        statuses,
        [
            PaymentStatus::Created,
            PaymentStatus::Pending,
            PaymentStatus::Processed,
            PaymentStatus::PartiallyRefunded
        ]
    );
    let balance = store
        .read(move |db| {
            Box::pin(async move {
                crate::ops::ledger::balance(
                    db,
                    &AccountCode::merchant(merchant),
                    obol_core::Mode::Test,
                    Currency::USD,
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(balance.minor(), 7_500);
    let illegal = apply(&store, &id, PaymentEvent::Expired).await;
    assert!(matches!(
        illegal,
        Err(StoreError::Payment(
            PaymentError::TransitionNotAllowed { .. }
        ))
    ));
    assert_verified(&store).await;
}

async fn concurrent_transitions_one_wins(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let manager = store
        .write(|db| {
            Box::pin(tenancy::create_manager(
                db,
                ROOT_RESELLER,
                Role::Manager,
                name("Completer"),
                SecretDigest::of("completer-token"),
                NOW,
            ))
        })
        .await
        .unwrap()
        .id;
    let payment = create_payment(&store, merchant, None, 5_000).await.unwrap();
    apply(
        &store,
        &payment.id,
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for attempt in 0..16 {
        let store = store.clone();
        let id = payment.id.clone();
        let event = if attempt % 2 == 0 {
            PaymentEvent::Succeeded { card: None }
        } else {
            PaymentEvent::CompletedByManager {
                manager_id: manager,
                method_id: PaymentMethodId::new(2),
            }
        };
        tasks.push(tokio::spawn(async move { apply(&store, &id, event).await }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(
                StoreError::Payment(PaymentError::TransitionNotAllowed { .. })
                | StoreError::Conflict,
            ) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(wins, 1, "exactly one concurrent transition wins");
    assert_verified(&store).await;
}

async fn concurrent_refunds_never_exceed(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let id = processed_payment(&store, merchant, 10_000).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            apply(
                &store,
                &id,
                PaymentEvent::Refunded {
                    amount: Money::from_minor(3_000, Currency::USD).unwrap(),
                },
            )
            .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(
        wins, 3,
        "three refunds of 30.00 fit into 100.00, a fourth does not"
    );
    assert_verified(&store).await;
}

async fn duplicate_references_conflict(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let first = create_payment(&store, merchant, Some("order-1"), 100)
        .await
        .unwrap();
    match create_payment(&store, merchant, Some("order-1"), 200).await {
        Err(StoreError::DuplicateReference(existing)) => assert_eq!(existing.id, first.id),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            create_payment(&store, merchant, Some("order-race"), 100).await
        }));
    }
    let mut created = Vec::new();
    let mut duplicates = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(payment) => created.push(payment.id.clone()),
            Err(StoreError::DuplicateReference(existing)) => {
                duplicates += 1;
                assert_eq!(existing.reference_id.as_deref(), Some("order-race"));
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!((created.len(), duplicates), (1, 9));
    create_payment(&store, merchant, None, 100).await.unwrap();
    create_payment(&store, merchant, None, 100).await.unwrap();
}

async fn idempotency_keys_yield_one_operation(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let scope = IdempotencyScope::new(&format!("merchant:{merchant}"));
    let key = IdempotencyKey::parse("key-1").unwrap();
    let fingerprint = RequestFingerprint::of("POST", "/api/payment-invoices", b"{\"amount\":1}");
    let run = |store: Store, fingerprint: RequestFingerprint| {
        let (scope, key) = (scope.clone(), key.clone());
        async move {
            store
                .write_idempotent(scope, key, fingerprint, NOW, move |db| {
                    Box::pin(async move {
                        let id = PaymentId::generate(&mut TestRandom::new());
                        let payment =
                            payments::insert_payment(db, draft(merchant, None, 100), id, None, NOW)
                                .await?;
                        let body = payment.id.as_str().as_bytes().to_vec();
                        Ok((
                            payment.id.clone(),
                            SavedResponse {
                                status: 201,
                                content_type: "application/json".into(),
                                body,
                            },
                        ))
                    })
                })
                .await
        }
    };
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(run(store.clone(), fingerprint)));
    }
    let mut fresh = 0;
    let mut bodies = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Idempotent::Fresh(_, response) => {
                fresh += 1;
                bodies.push(response.body);
            }
            Idempotent::Replayed(response) => bodies.push(response.body),
        }
    }
    assert_eq!(fresh, 1, "one operation for concurrent uses of one key");
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "every use answers the first response"
    );
    let count = store
        .read(move |db| {
            Box::pin(async move {
                db.query(
                    "SELECT COUNT(*) FROM payments WHERE merchant_id = $1",
                    params![merchant.get()],
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(count[0].int(0).unwrap(), 1);
    let different = RequestFingerprint::of("POST", "/api/payment-invoices", b"{\"amount\":2}");
    let refused = run(store.clone(), different).await;
    assert!(matches!(
        refused,
        Err(StoreError::Idempotency(
            IdempotencyError::ReusedWithDifferentRequest
        ))
    ));
    let later = Timestamp::from_unix_seconds(NOW.unix_seconds() + 25 * 3600);
    let purged = store
        .write(move |db| Box::pin(idempotency::purge_expired(db, later, 100)))
        .await
        .unwrap();
    assert_eq!(purged, 1);
}

async fn customers_are_found_again_by_reference(database: TestDatabase) {
    use crate::ops::customers;
    use obol_core::customer::{Address, CustomerDraft};
    use obol_core::ids::CustomerId;
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let draft = CustomerDraft {
        reference_id: "1203515".into(),
        name: Some("John Wick".into()),
        email: Some("john@example.com".into()),
        address: Address {
            full_address: Some("Test Address".into()),
            ..Address::default()
        },
        ..CustomerDraft::default()
    };
    let first = {
        let draft = draft.clone();
        let id = CustomerId::generate(&mut TestRandom::new());
        store
            .write(move |db| {
                Box::pin(async move { customers::upsert(db, merchant, draft, id, NOW).await })
            })
            .await
            .unwrap()
    };
    let update = CustomerDraft {
        reference_id: "1203515".into(),
        phone: Some("+380987654321".into()),
        ..CustomerDraft::default()
    };
    let id = CustomerId::generate(&mut TestRandom::new());
    let second = store
        .write(move |db| {
            Box::pin(async move { customers::upsert(db, merchant, update, id, NOW).await })
        })
        .await
        .unwrap();
    assert_eq!(
        second.id, first.id,
        "the same reference is the same customer"
    );
    let stored = store
        .read(move |db| {
            Box::pin(async move { customers::find_by_reference(db, merchant, "1203515").await })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name.as_deref(), Some("John Wick"));
    assert_eq!(stored.phone.as_deref(), Some("+380987654321"));
    assert_eq!(stored.address.full_address.as_deref(), Some("Test Address"));
}

async fn payments_list_by_cursor(database: TestDatabase) {
    use crate::ops::payments::PaymentQuery;
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(
            create_payment(&store, merchant, Some(&format!("list-{index}")), 100)
                .await
                .unwrap()
                .id
                .clone(),
        );
    }
    let list = |query: PaymentQuery| {
        let store = store.clone();
        async move {
            store
                .read(move |db| {
                    Box::pin(async move { payments::list_for_merchant(db, merchant, query).await })
                })
                .await
                .unwrap()
        }
    };
    let first = list(PaymentQuery {
        limit: 2,
        ..PaymentQuery::default()
    })
    .await;
    assert_eq!(
        first
            .payments
            .iter()
            .map(|payment| payment.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[4].clone(), ids[3].clone()]
    );
    assert!(first.has_older && !first.has_newer);
    let second = list(PaymentQuery {
        limit: 2,
        after: Some(ids[3].clone()),
        ..PaymentQuery::default()
    })
    .await;
    assert_eq!(
        second
            .payments
            .iter()
            .map(|payment| payment.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone()]
    );
    assert!(second.has_older && second.has_newer);
    let back = list(PaymentQuery {
        limit: 2,
        before: Some(ids[2].clone()),
        ..PaymentQuery::default()
    })
    .await;
    assert_eq!(
        back.payments
            .iter()
            .map(|payment| payment.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[4].clone(), ids[3].clone()]
    );
    let filtered = list(PaymentQuery {
        limit: 20,
        reference_id: Some("list-1".into()),
        ..PaymentQuery::default()
    })
    .await;
    assert_eq!(filtered.payments.len(), 1);
    assert_eq!(filtered.payments[0].id, ids[1]);
}

on_both_backends!(
    payment_lifecycle_books_the_ledger,
    concurrent_transitions_one_wins,
    concurrent_refunds_never_exceed,
    duplicate_references_conflict,
    idempotency_keys_yield_one_operation,
    customers_are_found_again_by_reference,
    payments_list_by_cursor,
);
