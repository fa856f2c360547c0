//! Migrations: a fresh database is migrated and seeded once; a later migration keeps the rows
//! written before it.

use crate::on_both_backends;
use crate::ops::{catalog, tenancy};
use crate::testing::{TestDatabase, TestRandom};
use crate::{Store, params};
use obol_core::ids::{PaymentId, ROOT_RESELLER};

use super::{NOW, assert_verified, merchant};

async fn migrations_run_once_and_seed(database: TestDatabase) {
    let store = Store::open(&database.url).await.unwrap();
    assert_eq!(store.applied_versions().await.unwrap(), Vec::<i64>::new());
    assert_eq!(
        store.migrate(NOW).await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 11]
    );
    assert_eq!(store.migrate(NOW).await.unwrap(), Vec::<i64>::new());
    assert_eq!(
        store.applied_versions().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 11]
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
    assert_eq!(store.migrate(NOW).await.unwrap(), vec![7, 8, 11]);
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

on_both_backends!(
    p2p_migration_keeps_earlier_callbacks,
    migrations_run_once_and_seed,
);
