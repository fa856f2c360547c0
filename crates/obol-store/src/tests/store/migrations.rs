//! Migrations: a fresh database is migrated and seeded once; a later migration keeps the rows
//! written before it.

use crate::on_both_backends;
use crate::ops::{catalog, tenancy};
use crate::testing::{TestDatabase, TestRandom};
use crate::{Store, params};
use obol_core::Currency;
use obol_core::ids::{PaymentId, ROOT_RESELLER};
use obol_core::mode::Mode;

use super::{NOW, assert_verified, merchant};

/// The versions of every migration after `after`, in order.
fn versions_after(after: i64) -> Vec<i64> {
    crate::ops::migrate::MIGRATIONS
        .iter()
        .map(|migration| migration.version)
        .filter(|version| *version > after)
        .collect()
}

async fn migrations_run_once_and_seed(database: TestDatabase) {
    let store = Store::open(&database.url).await.unwrap();
    assert_eq!(store.applied_versions().await.unwrap(), Vec::<i64>::new());
    let all = versions_after(0);
    assert_eq!(all[..9], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(store.migrate(NOW).await.unwrap(), all);
    assert_eq!(store.migrate(NOW).await.unwrap(), Vec::<i64>::new());
    assert_eq!(store.applied_versions().await.unwrap(), all);
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
    assert_eq!(store.migrate(NOW).await.unwrap(), versions_after(6));
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

/// Every posting as (id, account, amount), in order.
async fn all_postings(store: &Store) -> Vec<(i64, String, i64)> {
    store
        .read(|db| {
            Box::pin(async move {
                db.query(
                    "SELECT id, account, amount FROM ledger_postings ORDER BY id",
                    &[],
                )
                .await
            })
        })
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.int("id").unwrap(),
                row.str("account").unwrap().to_owned(),
                row.int("amount").unwrap(),
            )
        })
        .collect()
}

/// Migration 9 splits test from live money: what test payments booked into the accounts both
/// modes shared is moved to the test accounts by reclassifying transactions (booked by the
/// migration), never by editing a posting; live money stays where it was.
async fn modes_migration_moves_test_money_out_of_live_accounts(database: TestDatabase) {
    let store = Store::open(&database.url).await.expect("open");
    store
        .write(|db| Box::pin(crate::ops::migrate::migrate_up_to(db, NOW, 8)))
        .await
        .unwrap();
    let merchant = merchant(&store).await;
    // Two processed payments as version 8 books them: a test one and a live one, both into
    // `merchant:N` and `clearing:sandbox` (the hole this migration closes).
    let mut random = TestRandom::new();
    let (test_id, live_id) = (
        PaymentId::generate(&mut random),
        PaymentId::generate(&mut random),
    );
    let account = format!("merchant:{merchant}");
    for (number, id, test_mode, minor) in [(1, &test_id, true, 1_000), (2, &live_id, false, 250)] {
        let (id, account) = (id.clone(), account.clone());
        store
            .write(move |db| {
                Box::pin(async move {
                    db.execute(
                        "INSERT INTO payments (id, number, document_id, order_id, reseller_id, merchant_id, currency, amount, flow, status, resolution, \
                         fee, deposit, processed_amount, source, test_mode, created_at, updated_at) \
                         VALUES ($1, $2, $2, $2, 1, $3, 'USD', $4, 'charge', 'processed', 'ok', 0, $4, $4, 'merchant_api', $5, 0, 0)",
                        params![id.as_str(), number, merchant.get(), minor, test_mode],
                    )
                    .await?;
                    let row = db
                        .query(
                            "INSERT INTO ledger_transactions (kind, payment_id, created_at) VALUES ('payment', $1, 0) RETURNING id",
                            params![id.as_str()],
                        )
                        .await?;
                    let transaction = row[0].int(0)?;
                    db.execute(
                        "INSERT INTO ledger_postings (transaction_id, account, currency, amount) VALUES ($1, 'clearing:sandbox', 'USD', $2)",
                        params![transaction, -minor],
                    )
                    .await?;
                    db.execute(
                        "INSERT INTO ledger_postings (transaction_id, account, currency, amount) VALUES ($1, $2, 'USD', $3)",
                        params![transaction, account.as_str(), minor],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
    let postings_before = all_postings(&store).await;

    assert_eq!(store.migrate(NOW).await.unwrap(), versions_after(8));

    let merchant_account = obol_core::ledger::AccountCode::merchant(merchant);
    let balance = |mode: Mode| {
        let account = merchant_account.clone();
        let store = store.clone();
        async move {
            store
                .read(move |db| {
                    Box::pin(async move {
                        crate::ops::ledger::balance(db, &account, mode, Currency::USD).await
                    })
                })
                .await
                .unwrap()
                .minor()
        }
    };
    assert_eq!(balance(Mode::Live).await, 250, "only live money is live");
    assert_eq!(balance(Mode::Test).await, 1_000, "the test money moved");
    // Every posting written before is still there, unchanged.
    let postings_after = all_postings(&store).await;
    assert_eq!(postings_after[..postings_before.len()], postings_before[..]);
    assert_eq!(postings_after.len(), postings_before.len() + 4);
    let moved = store
        .read(|db| Box::pin(crate::ops::ledger::reclassified_to_test(db)))
        .await
        .unwrap();
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert!(
        moved
            .iter()
            .any(|balance| balance.account == merchant_account && balance.amount.minor() == 1_000)
    );
    assert_verified(&store).await;
}

/// Migration 10 keeps P2P clients' `clientId`s only as digests: a client written at version 8,
/// in clear, still opens sessions with its old `clientId` afterwards, keeps its cards and
/// transfers, and its clear id is nowhere in the database. Sessions, kept in clear before, are
/// dropped (they last an hour; their holders open new ones).
async fn p2p_client_ids_become_digests(database: TestDatabase) {
    use obol_core::credentials::SecretDigest;
    use obol_core::p2p::P2pCard;

    let store = Store::open(&database.url).await.expect("open");
    let applied = store
        .write(|db| Box::pin(crate::ops::migrate::migrate_up_to(db, NOW, 8)))
        .await
        .unwrap();
    assert_eq!(applied, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let clear = "6d1b241b-6406-42a2-ae85-13d67b951841";
    let (client, card) = store
        .write(move |db| {
            Box::pin(async move {
                // Rows as version 8 writes them.
                let client = db
                    .query(
                        "INSERT INTO p2p_clients (client_key, name, signing_key_enc, require_signed_requests, created_at) \
                         VALUES ($1, 'Wallet', $2, $3, 0) RETURNING id",
                        params![clear, vec![1u8, 2, 3], true],
                    )
                    .await?[0]
                    .int(0)?;
                db.execute(
                    "INSERT INTO p2p_sessions (id, client_id, created_at, expires_at) VALUES ('0f4a9d8e-46b1-4cf3-9a52-d8d4a1c2b3e4', $1, 0, $2)",
                    params![client, NOW.plus_seconds(3600).unix_micros()],
                )
                .await?;
                db.execute(
                    "INSERT INTO p2p_cards (id, client_id, token, first6, last4, brand, expiry_month, expiry_year, created_at) \
                     VALUES ('a5878766-9a1f-485e-adb9-4c14d6bcceb1', $1, 'vt', '411111', '1111', 'visa', 12, 2030, 0)",
                    params![client],
                )
                .await?;
                Ok((client, "a5878766-9a1f-485e-adb9-4c14d6bcceb1"))
            })
        })
        .await
        .unwrap();
    assert_eq!(store.migrate(NOW).await.unwrap(), versions_after(8));
    let (found, cards, sessions, stored_keys) = store
        .read(move |db| {
            Box::pin(async move {
                let found = crate::ops::p2p::client_by_key(db, &SecretDigest::of(clear)).await?;
                let cards =
                    crate::ops::p2p::list_cards(db, obol_core::ids::P2pClientId::new(client), None)
                        .await?;
                let sessions =
                    db.query("SELECT COUNT(*) FROM p2p_sessions", &[]).await?[0].int(0)?;
                let keys = db
                    .query("SELECT client_key_digest FROM p2p_clients", &[])
                    .await?
                    .iter()
                    .map(|row| row.text(0))
                    .collect::<crate::error::StoreResult<Vec<String>>>()?;
                Ok((found, cards, sessions, keys))
            })
        })
        .await
        .unwrap();
    let found = found.expect("the old clientId still finds its client");
    assert_eq!(found.client.id.get(), client);
    assert!(found.client.require_signed_requests);
    assert_eq!(found.signing_key_encrypted, vec![1, 2, 3]);
    assert_eq!(
        cards
            .iter()
            .map(|card| card.id.as_str())
            .collect::<Vec<_>>(),
        vec![card]
    );
    assert_eq!(
        cards[0].user_id, None,
        "cards of before belong to the whole client"
    );
    assert_eq!(sessions, 0, "sessions kept in clear are dropped");
    assert_eq!(
        stored_keys,
        vec![crate::ops::p2p::digest_text(&SecretDigest::of(clear))]
    );
    assert!(stored_keys.iter().all(|key| !key.contains(clear)));
    // Rows that point at the client keep working: a new card of it is stored.
    let new_card = P2pCard {
        id: obol_core::ids::Uuid::generate_v4(&mut TestRandom::new()),
        user_id: None,
        ..cards[0].clone()
    };
    store
        .write(move |db| Box::pin(async move { crate::ops::p2p::insert_card(db, &new_card).await }))
        .await
        .unwrap();
    // The migration's Rust step leaves digests alone if it ever sees them again.
    let digests_again = store
        .write(|db| {
            Box::pin(async move {
                crate::ops::p2p::digest_client_keys(db).await?;
                db.query("SELECT client_key_digest FROM p2p_clients", &[])
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(digests_again[0].text(0).unwrap(), stored_keys[0]);
    assert_verified(&store).await;
}

on_both_backends!(
    p2p_migration_keeps_earlier_callbacks,
    migrations_run_once_and_seed,
    modes_migration_moves_test_money_out_of_live_accounts,
    p2p_client_ids_become_digests,
);
