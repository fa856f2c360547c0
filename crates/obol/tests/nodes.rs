//! Callbacks across processes: two `obol serve` nodes on one PostgreSQL database deliver each
//! callback once, and a node killed with `kill -9` while callbacks are pending delivers them
//! all after a restart. Real binaries, a real receiver on loopback, nothing else on the network.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use obol_store::ops::callbacks::CallbackStatus;
use obol_store::testing::inspect;
use obol_testkit::{CallbackReceiver, Scratch, TestDatabase};
use serde_json::{Value, json};

const OPERATOR_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn obol(directory: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_obol"));
    command
        .current_dir(directory)
        .env("OBOL_DATABASE_URL", database_url)
        .env("OBOL_SECRET_KEY", OPERATOR_KEY)
        .env("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "true")
        .env("OBOL_CALLBACKS_LEASE_S", "2")
        .env("OBOL_CALLBACKS_REQUEST_TIMEOUT_MS", "1000");
    command
}

/// Starts a node and returns it with its address.
#[allow(clippy::zombie_processes)]
fn start_node(directory: &Path, database_url: &str) -> (Child, String) {
    let mut child = obol(directory, database_url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a node ended before listening");
        }
        if let Some(address) = line.trim().strip_prefix("listening on http://") {
            return (child, address.to_owned());
        }
    }
}

fn stop(child: &mut Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "a node did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn merchant(directory: &Path, database_url: &str) -> Value {
    let reseller: Value = serde_json::from_slice(
        &obol(directory, database_url)
            .args(["reseller", "create", "--name", "R", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let output = obol(directory, database_url)
        .args([
            "merchant",
            "create",
            "--name",
            "M",
            "--reseller",
            &reseller["id"].to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

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
    let (merchant, mut first, mut second, first_address) = tokio::task::spawn_blocking(move || {
        let merchant = merchant(&directory, &url);
        let (first, first_address) = start_node(&directory, &url);
        let (second, _) = start_node(&directory, &url);
        (merchant, first, second, first_address)
    })
    .await
    .unwrap();
    let receiver = CallbackReceiver::start().await;
    let callback_url = receiver.url().to_owned();
    create_invoices(&first_address, &merchant, &callback_url, "two", 30).await;
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
            let (node, address) = start_node(&directory, &url);
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
    let (mut restarted, _) = tokio::task::spawn_blocking(move || start_node(&directory, &url))
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
            let (node, address) = start_node(&directory, &url);
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

    let merchant_id = obol_core::ids::MerchantId::new(merchant["id"].as_i64().unwrap());
    // The kill cut some requests in flight: those were never acknowledged, and may or may not
    // have been written; every acknowledged one must be there.
    for reference in &acknowledged {
        let reference = reference.clone();
        let found = store
            .read(move |db| {
                Box::pin(async move {
                    obol_store::ops::payments::find_by_reference(db, merchant_id, &reference).await
                })
            })
            .await
            .unwrap();
        assert!(found.is_some(), "an acknowledged creation was lost");
    }
    drop(store);
    let directory = scratch.path().to_owned();
    let verified = tokio::task::spawn_blocking(move || {
        obol(&directory, &url).args(["verify"]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
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
