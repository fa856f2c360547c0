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

/// Under constant load, with readers beside the writer, SQLite's WAL starts over instead of
/// growing: checkpoints run in the writer between batches (SQLite's automatic checkpoint every
/// 1000 pages). A checkpoint thread of its own once never caught up, and the WAL grew to 5 GB
/// in a minute of the benchmark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_stays_small_under_constant_load() {
    const CREATIONS: i64 = 6_000;
    /// Four times the automatic checkpoint's 1000 pages of 4 KiB.
    const WAL_BOUND: u64 = 16 * 1024 * 1024;
    let database = TestDatabase::sqlite();
    let store = Arc::new(open(&database).await);
    let merchant = merchant(&store).await;
    let crate::DatabaseUrl::Sqlite(path) = &database.url else {
        unreachable!("a SQLite database")
    };
    let wal = path.with_extension("db-wal");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers all along, as requests read beside the writer.
    let reader = tokio::spawn({
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .read(|db| {
                        Box::pin(
                            async move { db.query("SELECT COUNT(*) FROM payments", &[]).await },
                        )
                    })
                    .await
                    .unwrap();
            }
        }
    });
    let mut largest = 0;
    let mut writers = Vec::new();
    for writer in 0..32 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            for index in 0..CREATIONS / 32 {
                create_payment(
                    &store,
                    merchant,
                    Some(&format!("wal-{writer}-{index}")),
                    100 + index,
                )
                .await
                .unwrap();
            }
        }));
    }
    while !writers.iter().all(|writer| writer.is_finished()) {
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |meta| meta.len()));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.await.unwrap();
    largest = largest.max(std::fs::metadata(&wal).map_or(0, |meta| meta.len()));
    let written = std::fs::metadata(path).map_or(0, |meta| meta.len());
    assert!(
        largest <= WAL_BOUND,
        "the WAL grew to {largest} bytes (database {written} bytes)"
    );
}

on_both_backends!(
    many_concurrent_writes_all_commit,
    failing_write_leaves_nothing_behind,
);
