//! The job queue: leases, reclaiming, concurrent claims, and the expiry jobs payments schedule.

use crate::on_both_backends;
use crate::ops::{jobs, payments};
use crate::testing::{TestDatabase, TestRandom};
use obol_core::ids::PaymentId;
use obol_core::payment::{PaymentEvent, PaymentStatus, Resolution};

use super::{NOW, apply, draft, merchant, open};

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

on_both_backends!(
    jobs_are_leased_and_reclaimed,
    concurrent_claims_split_the_work,
    expiring_payments_schedule_a_job,
);
