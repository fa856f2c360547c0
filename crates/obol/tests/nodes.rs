//! Callbacks across processes: two `obol serve` nodes on one PostgreSQL database deliver each
//! callback once, and a node killed with `kill -9` while callbacks are pending delivers them
//! all after a restart. Real binaries, a real receiver on loopback, nothing else on the network.

mod common;

use std::time::{Duration, Instant};

use common::{assert_stored, assert_verify_clean, merchant, obol, start_node, stop};
use obol_store::ops::callbacks::CallbackStatus;
use obol_store::testing::inspect;
use obol_testkit::{CallbackReceiver, Scratch, TestDatabase};
use serde_json::{Value, json};

async fn create_invoices(
    address: &str,
    merchant: &Value,
    callback_url: &str,
    prefix: &str,
    count: usize,
) {
    let client = reqwest::Client::new();
    for index in 0..count {
        let response = client
            .post(format!("http://{address}/api/payment-invoices"))
            .basic_auth(merchant["api_login"].as_str().unwrap(), merchant["api_secret"].as_str())
            .json(&json!({ "data": { "attributes": {
                "reference_id": format!("{prefix}-{index}"), "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": callback_url
            } } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

obol_store::postgres_test! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_deliver_each_callback_once() {
    let database = TestDatabase::postgres().await;
    let scratch = Scratch::new("two");
    let url = database.url_text.clone();
    let directory = scratch.path().to_owned();
    let (merchant, mut first, mut second) = tokio::task::spawn_blocking(move || {
        let merchant = merchant(&directory, &url);
        let first = start_node(&directory, &url, "first");
        let second = start_node(&directory, &url, "second");
        (merchant, first, second)
    })
    .await
    .unwrap();
    let receiver = CallbackReceiver::start().await;
    let callback_url = receiver.url().to_owned();
    create_invoices(&first.address, &merchant, &callback_url, "two", 30).await;
    let seen = receiver
        .wait_for_deliveries(30, Duration::from_secs(30))
        .await;
    // Leave time for any duplicate to show up before judging.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen_after = receiver.deliveries();
    assert_eq!(seen_after.len(), 30, "{seen:?}");
    assert!(
        seen_after.values().all(|times| *times == 1),
        "a callback was delivered twice: {seen_after:?}"
    );
    tokio::task::spawn_blocking(move || {
        stop(&mut first, "-TERM");
        stop(&mut second, "-TERM");
    })
    .await
    .unwrap();
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_with_callbacks_pending_delivers_them_after_a_restart() {
    let database = TestDatabase::sqlite();
    let scratch = Scratch::new("kill");
    let url = database.url_text.clone();
    let directory = scratch.path().to_owned();
    let (merchant, node, address) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let merchant = merchant(&directory, &url);
            let node = start_node(&directory, &url, "node");
            let address = node.address.clone();
            (merchant, node, address)
        }
    })
    .await
    .unwrap();
    // Callbacks to a receiver that is not up yet: they are written, then the node dies.
    let receiver_address = CallbackReceiver::free_address();
    let callback_url = CallbackReceiver::url_at(receiver_address);
    create_invoices(&address, &merchant, &callback_url, "kill", 10).await;
    let mut node = node;
    tokio::task::spawn_blocking(move || stop(&mut node, "-KILL"))
        .await
        .unwrap();

    // The receiver comes up on that address; the node restarts; nothing was lost.
    let receiver = CallbackReceiver::start_at(receiver_address).await;
    let directory = scratch.path().to_owned();
    let mut restarted =
        tokio::task::spawn_blocking(move || start_node(&directory, &url, "restarted"))
            .await
            .unwrap();
    // Attempts made before the kill failed and wait a minute of real time to retry; replaying
    // is the operator's lever, and a restart delivers all that were never attempted or were
    // in flight. Replay every callback the store holds, as the docs tell operators to.
    let store = obol_store::Store::open(&database.url).await.unwrap();
    let pending = store
        .read(|db| Box::pin(inspect::all_callbacks(db)))
        .await
        .unwrap()
        .into_iter()
        .filter(|callback| callback.status == CallbackStatus::Pending && callback.attempts > 0);
    for callback in pending {
        let delivery = callback.delivery_id;
        let directory = scratch.path().to_owned();
        let url = database.url_text.clone();
        let output = tokio::task::spawn_blocking(move || {
            obol(&directory, &url)
                .args(["callback", "replay", "--delivery-id", &delivery, "--json"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let delivered = receiver
        .wait_for_deliveries(10, Duration::from_secs(30))
        .await;
    assert_eq!(
        delivered.len(),
        10,
        "every callback written before the kill arrives"
    );
    tokio::task::spawn_blocking(move || stop(&mut restarted, "-TERM"))
        .await
        .unwrap();
}

/// Creates invoices from `writers` concurrent clients until the node stops answering; returns
/// every reference the node acknowledged (answered 201).
async fn create_until_killed(address: &str, merchant: &Value, writers: usize) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let client = client.clone();
        let url = format!("http://{address}/api/payment-invoices");
        let login = merchant["api_login"].as_str().unwrap().to_owned();
        let secret = merchant["api_secret"].as_str().unwrap().to_owned();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for index in 0.. {
                let reference = format!("crash-{writer}-{index}");
                let answer = client
                    .post(&url)
                    .basic_auth(&login, Some(&secret))
                    .json(&json!({ "data": { "attributes": {
                        "reference_id": reference, "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp"
                    } } }))
                    .send()
                    .await;
                match answer {
                    Ok(response) if response.status() == 201 => acknowledged.push(reference),
                    Ok(response) => panic!("a creation answered {}", response.status()),
                    // The node is gone: what it acknowledged is what must survive.
                    Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// `kill -9` under a load of creations: every creation the node acknowledged is in the
/// database afterwards, and the ledger and every other invariant check clean.
async fn nothing_acknowledged_is_lost_to_kill_9(database: TestDatabase) {
    let scratch = Scratch::new("crash");
    let url = database.url_text.clone();
    let directory = scratch.path().to_owned();
    let (merchant, node, address) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let merchant = merchant(&directory, &url);
            let node = start_node(&directory, &url, "node");
            let address = node.address.clone();
            (merchant, node, address)
        }
    })
    .await
    .unwrap();
    let load = tokio::spawn({
        let (address, merchant) = (address.clone(), merchant.clone());
        async move { create_until_killed(&address, &merchant, 16).await }
    });
    // Kill the node once it has acknowledged a few hundred creations (bounded: at most 60 s).
    let store = obol_store::Store::open(&database.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count = store
            .read(|db| Box::pin(inspect::payment_count(db)))
            .await
            .unwrap();
        assert!(
            Instant::now() < deadline,
            "the node created too few invoices"
        );
        if count >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut node = node;
    tokio::task::spawn_blocking(move || stop(&mut node, "-KILL"))
        .await
        .unwrap();
    let acknowledged = load.await.unwrap();
    assert!(acknowledged.len() >= 100, "{}", acknowledged.len());

    // The kill cut some requests in flight: those were never acknowledged, and may or may not
    // have been written; every acknowledged one must be there.
    assert_stored(&store, &merchant, &acknowledged).await;
    drop(store);
    assert_verify_clean(scratch.path(), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_nothing_acknowledged_to_kill_9() {
    nothing_acknowledged_is_lost_to_kill_9(TestDatabase::sqlite()).await;
}

obol_store::postgres_test! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loses_nothing_acknowledged_to_kill_9() {
    nothing_acknowledged_is_lost_to_kill_9(TestDatabase::postgres().await).await;
}
}
