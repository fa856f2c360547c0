//! The storage suite: every scenario runs on SQLite and on PostgreSQL, each in its own
//! database.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::on_both_backends;
use crate::ops::tenancy::NewMerchant;
use crate::ops::{catalog, idempotency, jobs, ledger, payments, tenancy, verify};
use crate::testing::{self, TestDatabase, TestRandom};
use crate::{Idempotent, Store, StoreError, params};
use obol_core::credentials::{IssuedSecret, SecretDigest};
use obol_core::idempotency::{
    IdempotencyError, IdempotencyKey, IdempotencyScope, RequestFingerprint, SavedResponse,
};
use obol_core::ids::{MerchantId, PaymentId, PaymentMethodId, ROOT_RESELLER, ResellerId, Uuid};
use obol_core::ledger::{AccountCode, Clearing, LedgerTransaction, Posting, TransactionKind};
use obol_core::money::Money;
use obol_core::payment::{
    Actor, PaymentDraft, PaymentError, PaymentEvent, PaymentStatus, Resolution,
};
use obol_core::tenancy::{MerchantSettings, Name, Role};
use obol_core::{Currency, Timestamp};

const NOW: Timestamp = Timestamp::from_unix_seconds(1_763_000_000);

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(&database.url).await.expect("open");
    store.migrate(NOW).await.expect("migrate");
    store
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

async fn merchant(store: &Store) -> MerchantId {
    let reseller = store
        .write(|db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Reseller"),
                ROOT_RESELLER,
                NOW,
            ))
        })
        .await
        .unwrap();
    let new = NewMerchant {
        reseller_id: reseller.id,
        name: name("Shop"),
        test_mode: true,
        public_key: format!(
            "pk_test_{}",
            Uuid::generate_v4(&mut TestRandom::new())
                .as_str()
                .replace('-', "")
        ),
        api_login: format!(
            "m{}",
            Uuid::generate_v4(&mut TestRandom::new())
                .as_str()
                .replace('-', "")
        ),
        api_secret: SecretDigest::of("sk_test_secret"),
        callback_secret_encrypted: vec![1, 2, 3, 4, 5, 6],
        settings: MerchantSettings {
            default_locale: "en".into(),
            ..MerchantSettings::default()
        },
    };
    store
        .write(move |db| {
            Box::pin(
                async move { tenancy::create_merchant(db, new, &mut TestRandom::new(), NOW).await },
            )
        })
        .await
        .unwrap()
        .id
}

fn draft(merchant: MerchantId, reference: Option<&str>, minor: i64) -> PaymentDraft {
    testing::draft(
        ResellerId::new(2),
        merchant,
        Money::from_minor(minor, Currency::USD).unwrap(),
    )
    .reference_id(reference.map(str::to_owned))
    .description(Some("Invoice".to_owned()))
    .metadata(Some("{\"key\":\"value\"}".to_owned()))
    .locale(Some("en".to_owned()))
    .requester_ip(Some("127.0.0.1".to_owned()))
    .build()
    .expect("a valid draft")
}

async fn create_payment(
    store: &Store,
    merchant: MerchantId,
    reference: Option<&str>,
    minor: i64,
) -> Result<obol_core::payment::Payment, StoreError> {
    let draft = draft(merchant, reference, minor);
    let id = PaymentId::generate(&mut TestRandom::new());
    store
        .write(move |db| {
            Box::pin(async move { payments::insert_payment(db, draft, id, None, NOW).await })
        })
        .await
}

async fn apply(
    store: &Store,
    id: &PaymentId,
    event: PaymentEvent,
) -> Result<obol_core::payment::Payment, StoreError> {
    let id = id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                payments::transition(db, &id, event, Actor::Provider, NOW)
                    .await
                    .map(|(payment, _)| payment)
            })
        })
        .await
}

async fn processed_payment(store: &Store, merchant: MerchantId, minor: i64) -> PaymentId {
    let payment = create_payment(store, merchant, None, minor).await.unwrap();
    apply(
        store,
        &payment.id,
        PaymentEvent::AttemptStarted {
            service_id: None,
            method_id: None,
        },
    )
    .await
    .unwrap();
    apply(store, &payment.id, PaymentEvent::Succeeded { card: None })
        .await
        .unwrap();
    payment.id.clone()
}

async fn assert_verified(store: &Store) {
    let report = store.read(|db| Box::pin(verify::verify(db))).await.unwrap();
    assert!(report.is_clean(), "violations: {:?}", report.violations);
}

// ---- scenarios ----

async fn migrations_run_once_and_seed(database: TestDatabase) {
    let store = Store::open(&database.url).await.unwrap();
    assert_eq!(store.applied_versions().await.unwrap(), Vec::<i64>::new());
    assert_eq!(
        store.migrate(NOW).await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(store.migrate(NOW).await.unwrap(), Vec::<i64>::new());
    assert_eq!(
        store.applied_versions().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8]
    );
    let root = store
        .read(|db| Box::pin(tenancy::get_reseller(db, ROOT_RESELLER)))
        .await
        .unwrap();
    assert_eq!(root.parent_id, None);
    let methods = store
        .read(|db| Box::pin(catalog::list_methods(db)))
        .await
        .unwrap();
    let codes: Vec<&str> = methods.iter().map(|method| method.code.as_str()).collect();
    for code in [
        "payment_card",
        "applepay",
        "googlepay",
        "test",
        "cash",
        "bank_transfer",
    ] {
        assert!(codes.contains(&code), "{code} seeded");
    }
    let services = store
        .read(|db| Box::pin(catalog::list_services(db)))
        .await
        .unwrap();
    for currency in ["usd", "eur", "rub", "uah"] {
        assert!(
            services
                .iter()
                .any(|service| service.code == format!("payment_card_{currency}_hpp"))
        );
        let test = services
            .iter()
            .find(|service| service.code == format!("test_{currency}_test"))
            .unwrap();
        assert_eq!(test.fields[0].key, "status");
        assert_eq!(test.fields[0].regexp.as_deref(), Some("^[a-zA-Z_]*$"));
    }
}

async fn reseller_tree_and_credentials(database: TestDatabase) {
    let store = open(&database).await;
    let child = store
        .write(|db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Child"),
                ROOT_RESELLER,
                NOW,
            ))
        })
        .await
        .unwrap();
    let grandchild = store
        .write(move |db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Grandchild"),
                child.id,
                NOW,
            ))
        })
        .await
        .unwrap();
    assert!(grandchild.is_within(ROOT_RESELLER) && grandchild.is_within(child.id));
    assert_eq!(
        grandchild.ancestry.ids(),
        &[ROOT_RESELLER, child.id, grandchild.id]
    );
    let missing = store
        .write(|db| {
            Box::pin(tenancy::create_reseller(
                db,
                name("Orphan"),
                ResellerId::new(999_999),
                NOW,
            ))
        })
        .await;
    assert!(matches!(
        missing,
        Err(StoreError::NotFound(crate::error::Entity::Reseller))
    ));

    let token = IssuedSecret::generate(&mut TestRandom::new(), "");
    let digest = token.digest();
    let manager = store
        .write(move |db| {
            Box::pin(tenancy::create_manager(
                db,
                grandchild.id,
                Role::Viewer,
                name("Ann"),
                digest,
                NOW,
            ))
        })
        .await
        .unwrap();
    let found = store
        .read(move |db| Box::pin(tenancy::find_manager_by_token(db, digest)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.0, manager);
    assert!(found.1.is_within(child.id));
    let wrong = SecretDigest::of("not-the-token");
    assert!(
        store
            .read(move |db| Box::pin(tenancy::find_manager_by_token(db, wrong)))
            .await
            .unwrap()
            .is_none()
    );

    let merchant_id = merchant(&store).await;
    let shop = store
        .read(move |db| Box::pin(tenancy::get_merchant(db, merchant_id)))
        .await
        .unwrap();
    let login = shop.api_login.clone();
    let (found, secret) = store
        .read(move |db| Box::pin(async move { tenancy::find_merchant_by_login(db, &login).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, merchant_id);
    assert!(secret.matches("sk_test_secret") && !secret.matches("sk_test_other"));
    let services = store
        .read(move |db| Box::pin(catalog::merchant_services(db, merchant_id)))
        .await
        .unwrap();
    assert_eq!(
        services.len(),
        8,
        "a test-mode merchant gets every sandbox service"
    );

    let account = store
        .write(move |db| {
            Box::pin(tenancy::create_customer_account(
                db,
                child.id,
                name("Payer"),
                NOW,
            ))
        })
        .await
        .unwrap();
    assert_eq!(account.reseller_id, child.id);
    let key = Uuid::generate_v4(&mut TestRandom::new());
    let first_key = key.clone();
    let client = store
        .write(move |db| {
            Box::pin(tenancy::create_p2p_client(
                db,
                first_key,
                name("Wallet"),
                vec![9; 40],
                true,
                NOW,
            ))
        })
        .await
        .unwrap();
    assert!(client.require_signed_requests);
    // The same client key again hits the key's unique index: a typed conflict on both backends.
    let again = store
        .write(move |db| {
            Box::pin(tenancy::create_p2p_client(
                db,
                key,
                name("Wallet 2"),
                vec![9; 40],
                true,
                NOW,
            ))
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
}

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
                crate::ops::ledger::balance(db, &AccountCode::merchant(merchant), Currency::USD)
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

async fn jobs_are_leased_and_reclaimed(database: TestDatabase) {
    let store = open(&database).await;
    let due = NOW.plus_seconds(60);
    store
        .write(move |db| Box::pin(jobs::schedule(db, "test_job", "subject-1", due, NOW)))
        .await
        .unwrap();
    let early = store
        .write(|db| Box::pin(jobs::claim_due(db, "node-a", NOW, 30, 10)))
        .await
        .unwrap();
    assert!(early.is_empty(), "not due yet");
    let at = NOW.plus_seconds(61);
    let claimed = store
        .write(move |db| Box::pin(jobs::claim_due(db, "node-a", at, 30, 10)))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let other = store
        .write(move |db| Box::pin(jobs::claim_due(db, "node-b", at, 30, 10)))
        .await
        .unwrap();
    assert!(other.is_empty(), "a leased job is not claimed twice");
    let after_lease = at.plus_seconds(31);
    let reclaimed = store
        .write(move |db| Box::pin(jobs::claim_due(db, "node-b", after_lease, 30, 10)))
        .await
        .unwrap();
    assert_eq!(
        reclaimed.len(),
        1,
        "a dead node's lease runs out and another node takes the job"
    );
    assert_eq!(reclaimed[0].attempts, 2);
    let job_id = reclaimed[0].id;
    assert!(
        !store
            .write(move |db| Box::pin(jobs::complete(db, job_id, "node-a", after_lease)))
            .await
            .unwrap(),
        "the old owner cannot complete it"
    );
    assert!(
        store
            .write(move |db| Box::pin(jobs::complete(db, job_id, "node-b", after_lease)))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .read(|db| Box::pin(jobs::pending_count(db)))
            .await
            .unwrap(),
        0
    );
}

async fn concurrent_claims_split_the_work(database: TestDatabase) {
    let store = open(&database).await;
    for index in 0..40 {
        store
            .write(move |db| {
                Box::pin(async move {
                    jobs::schedule(db, "test_job", &format!("s{index}"), NOW, NOW).await
                })
            })
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for node in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("node-{node}");
            let mut mine = Vec::new();
            loop {
                let owner_for_claim = owner.clone();
                let batch = store
                    .write(move |db| {
                        Box::pin(
                            async move { jobs::claim_due(db, &owner_for_claim, NOW, 60, 3).await },
                        )
                    })
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                mine.extend(batch.into_iter().map(|job| job.subject));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    let unique: std::collections::BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 40, "every job claimed");
    assert_eq!(unique.len(), 40, "no job claimed twice");
}

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

async fn many_concurrent_writes_all_commit(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for index in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            create_payment(
                &store,
                merchant,
                Some(&format!("bulk-{index}")),
                100 + index,
            )
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let rows = store.read(move |db| Box::pin(async move { db.query("SELECT COUNT(*), COUNT(DISTINCT document_id) FROM payments WHERE merchant_id = $1", params![merchant.get()]).await })).await.unwrap();
    assert_eq!(rows[0].int(0).unwrap(), 200);
    assert_eq!(rows[0].int(1).unwrap(), 200, "document numbers are unique");
}

async fn failing_write_leaves_nothing_behind(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let result: Result<(), StoreError> = store
        .write(move |db| {
            Box::pin(async move {
                let id = PaymentId::generate(&mut TestRandom::new());
                payments::insert_payment(db, draft(merchant, Some("half"), 100), id, None, NOW)
                    .await?;
                Err(StoreError::Conflict)
            })
        })
        .await;
    assert!(result.is_err());
    let rows = store
        .read(|db| {
            Box::pin(async move {
                db.query(
                    "SELECT COUNT(*) FROM payments WHERE reference_id = 'half'",
                    &[],
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(
        rows[0].int(0).unwrap(),
        0,
        "a failed operation is rolled back whole"
    );
    create_payment(&store, merchant, Some("half"), 100)
        .await
        .unwrap();
}

async fn expiring_payments_schedule_a_job(database: TestDatabase) {
    let store = open(&database).await;
    let merchant = merchant(&store).await;
    let mut expiring = draft(merchant, Some("exp"), 100);
    expiring.expires_at = Some(NOW.plus_seconds(900));
    let id = PaymentId::generate(&mut TestRandom::new());
    let payment = store
        .write(move |db| {
            Box::pin(async move { payments::insert_payment(db, expiring, id, None, NOW).await })
        })
        .await
        .unwrap();
    let due = store
        .read(|db| Box::pin(jobs::next_due_at(db, NOW)))
        .await
        .unwrap();
    assert_eq!(due, Some(NOW.plus_seconds(900)));
    let at = NOW.plus_seconds(901);
    store
        .write(move |db| Box::pin(async move { jobs::claim_due(db, "node-a", at, 30, 10).await }))
        .await
        .unwrap();
    let leased = store
        .read(move |db| Box::pin(jobs::next_due_at(db, at)))
        .await
        .unwrap();
    assert_eq!(
        leased,
        Some(at.plus_seconds(30).plus_micros(1)),
        "a job leased by another node is next claimable when its lease ends"
    );
    let failed = apply(
        &store,
        &payment.id,
        PaymentEvent::Failed {
            reason: Resolution::Canceled,
            card: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(
        store
            .read(|db| Box::pin(jobs::pending_count(db)))
            .await
            .unwrap(),
        0,
        "a closed payment's expiry job is cancelled"
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

/// Migration 7 rebuilds SQLite's callbacks table: callbacks and their attempts written before it
/// survive, and the outbox reads them as a payment's.
async fn p2p_migration_keeps_earlier_callbacks(database: TestDatabase) {
    let store = Store::open(&database.url).await.expect("open");
    let applied = store
        .write(|db| Box::pin(crate::ops::migrate::migrate_up_to(db, NOW, 6)))
        .await
        .unwrap();
    assert_eq!(applied, vec![1, 2, 3, 4, 5, 6]);
    let merchant = merchant(&store).await;
    // A payment as version 6 stores it (the operations of today write later columns too).
    let payment_id = PaymentId::generate(&mut TestRandom::new());
    let id = payment_id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                db.execute(
                    "INSERT INTO payments (id, number, document_id, order_id, reseller_id, merchant_id, currency, amount, flow, status, resolution, \
                     fee, deposit, source, test_mode, created_at, updated_at) \
                     VALUES ($1, 1, 1, 1, 1, $2, 'USD', 1000, 'charge', 'created', 'ok', 0, 1000, 'merchant_api', $3, 0, 0)",
                    params![id.as_str(), merchant.get(), true],
                )
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let id = payment_id.clone();
    store
        .write(move |db| {
            Box::pin(async move {
                let row = db
                    .query(
                        "INSERT INTO callbacks (delivery_id, payment_id, merchant_id, dialect, url, body, transaction_status, sequence, next_attempt_at, created_at) \
                         VALUES ('d-1', $1, $2, 'paymega', 'https://example.com/cb', $3, 'created', 1, 0, 0) RETURNING id",
                        params![id.as_str(), merchant.get(), b"{}".to_vec()],
                    )
                    .await?;
                let callback = row[0].int(0)?;
                db.execute(
                    "INSERT INTO callback_attempts (callback_id, started_at, finished_at, response_code, delivered, error) VALUES ($1, 0, 1, 500, $2, 'answered HTTP 500')",
                    params![callback, false],
                )
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_eq!(store.migrate(NOW).await.unwrap(), vec![7, 8]);
    let id = payment_id.clone();
    let (callbacks, attempts) = store
        .read(move |db| {
            Box::pin(async move {
                let callbacks = crate::ops::callbacks::for_payment(db, &id).await?;
                let attempts = db
                    .query("SELECT COUNT(*) FROM callback_attempts", &[])
                    .await?[0]
                    .int(0)?;
                Ok((callbacks, attempts))
            })
        })
        .await
        .unwrap();
    assert_eq!(callbacks.len(), 1);
    assert_eq!(
        callbacks[0].subject,
        crate::ops::callbacks::Subject::Payment(payment_id.clone())
    );
    assert_eq!(
        callbacks[0].signer,
        crate::ops::callbacks::Signer::Merchant(merchant)
    );
    assert_eq!(attempts, 1);
    assert_verified(&store).await;
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
            Box::pin(tenancy::create_p2p_client(
                db,
                Uuid::generate_v4(&mut TestRandom::new()),
                name("Wallet"),
                vec![1, 2, 3],
                false,
                NOW,
            ))
        })
        .await
        .unwrap();
    let card = |pan: &str| {
        let number = obol_core::card::CardNumber::parse(pan).unwrap();
        P2pCard {
            id: Uuid::generate_v4(&mut TestRandom::new()),
            client_id: client.id,
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
    p2p_migration_keeps_earlier_callbacks,
    transfers_are_versioned_and_verified,
    migrations_run_once_and_seed,
    reseller_tree_and_credentials,
    payment_lifecycle_books_the_ledger,
    concurrent_transitions_one_wins,
    concurrent_refunds_never_exceed,
    duplicate_references_conflict,
    idempotency_keys_yield_one_operation,
    jobs_are_leased_and_reclaimed,
    concurrent_claims_split_the_work,
    verify_catches_planted_violations,
    verify_catches_processed_without_postings,
    many_concurrent_writes_all_commit,
    failing_write_leaves_nothing_behind,
    expiring_payments_schedule_a_job,
    ledger_reads_for_dialects,
    customers_are_found_again_by_reference,
    payments_list_by_cursor,
);

/// The SQLite writer survives a job that panics: that job fails, later writes still commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writer_survives_a_panicking_job() {
    let database = TestDatabase::sqlite();
    let store = open(&database).await;
    let failed: Result<(), StoreError> = store
        .write(|db| {
            Box::pin(async move {
                db.execute(
                    "INSERT INTO settings (key, value) VALUES ('half', 'written')",
                    &[],
                )
                .await?;
                panic!("a bug inside a storage job");
            })
        })
        .await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    let merchant = merchant(&store).await;
    create_payment(&store, merchant, Some("after-panic"), 100)
        .await
        .unwrap();
    let half = store
        .read(|db| Box::pin(async move { crate::ops::settings::get(db, "half").await }))
        .await
        .unwrap();
    assert_eq!(half, None, "the panicking job's writes were rolled back");
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
