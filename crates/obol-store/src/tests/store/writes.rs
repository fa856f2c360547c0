//! Writes: many concurrent writes all commit; a failing or panicking write leaves nothing behind.

use std::sync::Arc;

use crate::on_both_backends;
use crate::ops::payments;
use crate::testing::{TestDatabase, TestRandom};
use crate::{StoreError, params};
use obol_core::ids::PaymentId;

use super::{NOW, create_payment, draft, merchant, open};

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

on_both_backends!(
    many_concurrent_writes_all_commit,
    failing_write_leaves_nothing_behind,
);
