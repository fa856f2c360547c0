//! Callbacks end to end: a real HTTP receiver on loopback, the server's own delivery worker,
//! and a clock the tests move (retries are minutes apart in server time, never slept through).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, PaymentEvent};
use obol_server::callbacks::signature;
use obol_server::commands::{self, MerchantOptions, MerchantOutput};
use obol_server::crypto::OsRandom;
use obol_store::ops::callbacks::CallbackStatus;
use obol_store::ops::catalog;
use obol_store::testing::inspect;
use obol_testkit::{Behaviour, CallbackReceiver, TestDatabase, TestServer, on_both_backends};
use reqwest::Client;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

async fn create(server: &TestServer, merchant: &MerchantOutput, attributes: Value) -> Value {
    let response = Client::new()
        .post(server.url("/api/payment-invoices"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(&json!({ "data": { "type": "payment-invoices", "attributes": attributes } }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn read(server: &TestServer, merchant: &MerchantOutput, id: &str) -> Value {
    Client::new()
        .get(server.url(&format!("/api/payment-invoices/{id}")))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn paymega_signature(secret: &str, body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(secret.as_bytes());
    hasher.update(body);
    hasher.update(secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

fn paid_test_invoice(reference: &str, callback_url: &str) -> Value {
    json!({ "reference_id": reference, "amount": 10, "currency": "USD", "service": "test_usd_test", "service_fields": { "status": "processed" }, "callback_url": callback_url })
}

async fn callbacks_are_signed_ordered_and_logged(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    let created = create(&server, &merchant, paid_test_invoice("signed", &url)).await;
    let id = created["data"]["id"].as_str().unwrap();
    let received = receiver.wait_for(2).await;
    let statuses: Vec<String> = received
        .iter()
        .map(|callback| {
            callback.json()["data"]["attributes"]["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        statuses,
        ["process_pending", "processed"],
        "creation first, then the change, in order"
    );
    for callback in &received {
        assert_eq!(callback.json()["data"]["id"], id);
        assert_eq!(callback.header("content-type"), "application/json");
        assert_eq!(
            callback.header("x-signature"),
            paymega_signature(&merchant.callback_secret, &callback.body),
            "Paymega's X-Signature"
        );
        assert!(signature::verify_obol(
            &callback.header("x-obol-signature"),
            &merchant.callback_secret,
            &callback.body
        ));
        assert!(!signature::verify_obol(
            &callback.header("x-obol-signature"),
            "whsec_other",
            &callback.body
        ));
        assert_eq!(callback.header("x-obol-delivery-id").len(), 36);
        assert_eq!(
            callback.header("x-obol-mode"),
            "test",
            "a test merchant's invoice says it is test money"
        );
        assert_eq!(callback.json()["data"]["attributes"]["test_mode"], true);
    }
    assert_ne!(
        received[0].header("x-obol-delivery-id"),
        received[1].header("x-obol-delivery-id")
    );
    // The log is written after the answer arrives: give the worker a moment.
    let mut logs = Value::Null;
    for _ in 0..100 {
        logs = read(&server, &merchant, id).await["data"]["attributes"]["callback_logs"].clone();
        if logs.as_object().is_some_and(|logs| {
            logs.len() == 2 && logs.values().all(|entry| entry["status"] == "done")
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let entries: Vec<&Value> = logs
        .as_object()
        .unwrap_or_else(|| panic!("{logs}"))
        .values()
        .collect();
    assert_eq!(entries.len(), 2, "{logs}");
    assert_eq!(entries[0]["status"], "done");
    assert_eq!(entries[0]["response_code"], 200);
    assert_eq!(entries[0]["transaction_status"], "process_pending");
    assert_eq!(entries[1]["transaction_status"], "processed");
    assert!(entries[0]["processed"].is_i64());
    // The database gauges are read in the background, not by a scrape.
    server.refresh_gauges().await;
    let metrics = Client::new()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("obol_callback_attempts_total{outcome=\"delivered\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("obol_callbacks{status=\"delivered\"} 2"),
        "{metrics}"
    );
    server.stop().await;
}

/// Waits until the (only) callback has this many attempts recorded.
async fn attempts_recorded(server: &TestServer, attempts: i64) {
    for _ in 0..300 {
        let callbacks = server
            .context
            .store
            .read(|db| Box::pin(inspect::all_callbacks(db)))
            .await
            .unwrap();
        let most = callbacks.iter().map(|callback| callback.attempts).max();
        if most.unwrap_or(0) >= attempts {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{attempts} attempts were never recorded");
}

async fn failures_are_retried_on_paymegas_schedule(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    // A server error, a 2xx that is not 200 (Paymega wants 200), a timeout, then success.
    let receiver = CallbackReceiver::scripted(&[
        Behaviour::Answer(500),
        Behaviour::Answer(201),
        Behaviour::Stall(2_500),
        Behaviour::Answer(200),
    ])
    .await;
    let url = receiver.url().to_owned();
    let created = create(&server, &merchant, json!({ "reference_id": "retry", "amount": 10, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": url })).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    receiver.wait_for(1).await;
    attempts_recorded(&server, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 1, "no retry before its time");
    let logs = read(&server, &merchant, &id).await["data"]["attributes"]["callback_logs"].clone();
    let entry = logs.as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(
        (entry["status"].as_str(), entry["response_code"].as_i64()),
        (Some("pending"), Some(500))
    );
    // Each retry is due a minute later than the one before: move the clock once the previous
    // attempt is recorded (the timed-out one takes the server's 1 s timeout to end).
    for (attempts, minutes) in [(1, 1), (2, 2), (3, 3)] {
        attempts_recorded(&server, attempts).await;
        server.clock.advance_seconds(60 * minutes);
        receiver.wait_for(attempts as usize + 1).await;
    }
    let received = receiver.all();
    let delivery_ids: Vec<String> = received
        .iter()
        .map(|callback| callback.header("x-obol-delivery-id"))
        .collect();
    assert!(
        delivery_ids
            .iter()
            .all(|delivery| delivery == &delivery_ids[0]),
        "one delivery id across retries"
    );
    assert!(
        received
            .iter()
            .all(|callback| callback.body == received[0].body),
        "the same body across retries"
    );
    for _ in 0..100 {
        let logs =
            read(&server, &merchant, &id).await["data"]["attributes"]["callback_logs"].clone();
        if logs.as_object().unwrap().values().next().unwrap()["status"] == "done" {
            server.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the callback was never marked done");
}

async fn a_refused_connection_is_retried_and_a_later_callback_waits(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    // A port nobody listens on: bind, note, close.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/callbacks");
    create(&server, &merchant, paid_test_invoice("refused", &url)).await;
    let store = server.context.store.clone();
    let mut first = None;
    for _ in 0..200 {
        let callbacks = store
            .read(|db| Box::pin(inspect::all_callbacks(db)))
            .await
            .unwrap();
        if callbacks
            .first()
            .is_some_and(|callback| callback.attempts >= 1)
        {
            first = Some(callbacks);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let callbacks = first.expect("an attempt was made");
    assert!(
        callbacks[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("connect"),
        "{:?}",
        callbacks[0]
    );
    assert!(
        !callbacks[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains(&closed.to_string()),
        "the reason names no URL, which may carry a merchant's token: {:?}",
        callbacks[0]
    );
    assert_eq!(
        callbacks[1].attempts, 0,
        "the payment's later callback waits for the earlier one"
    );
    server.stop().await;
}

async fn webhook_url_rotation_and_replay(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    let reseller = commands::create_reseller(&server.context, "R", None)
        .await
        .unwrap();
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Hooked".into(),
            reseller: reseller.id,
            webhook_url: Some(url.clone()),
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    create(&server, &merchant, json!({ "reference_id": "hook", "amount": 5, "currency": "USD", "service": "payment_card_usd_hpp" })).await;
    let first = receiver.wait_for(1).await.remove(0);
    assert!(
        signature::verify_obol(
            &first.header("x-obol-signature"),
            &merchant.callback_secret,
            &first.body
        ),
        "the merchant's default webhook URL is used"
    );

    let rotated = commands::rotate_callback_secret(&server.context, merchant.id)
        .await
        .unwrap();
    create(&server, &merchant, json!({ "reference_id": "hook-2", "amount": 5, "currency": "USD", "service": "payment_card_usd_hpp" })).await;
    let second = receiver.wait_for(2).await.remove(1);
    let header = second.header("x-obol-signature");
    assert_eq!(
        header.matches("v1=").count(),
        2,
        "two signatures during a rotation: {header}"
    );
    assert!(signature::verify_obol(
        &header,
        &rotated.callback_secret,
        &second.body
    ));
    assert!(signature::verify_obol(
        &header,
        &merchant.callback_secret,
        &second.body
    ));
    assert_eq!(
        second.header("x-signature"),
        paymega_signature(&rotated.callback_secret, &second.body),
        "X-Signature uses the new secret"
    );

    let delivery = first.header("x-obol-delivery-id");
    let replayed = commands::replay_callback(&server.context, &delivery)
        .await
        .unwrap();
    assert_eq!(replayed.status, "pending");
    let third = receiver.wait_for(3).await.remove(2);
    assert_eq!(third.header("x-obol-delivery-id"), delivery);
    assert_eq!(third.body, first.body, "a replay sends the same callback");
    assert!(
        commands::replay_callback(&server.context, "00000000-0000-4000-8000-000000000000")
            .await
            .is_err()
    );
    server.stop().await;
}

async fn expiry_reports_by_callback(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    let expires = obol_testkit::START.plus_seconds(15 * 60).unix_seconds();
    create(&server, &merchant, json!({ "reference_id": "expiring", "amount": 5, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": url, "expires": expires })).await;
    receiver.wait_for(1).await;
    server.clock.advance_seconds(15 * 60);
    let received = receiver.wait_for(2).await;
    let attributes = &received[1].json()["data"]["attributes"];
    assert_eq!(
        (
            attributes["status"].as_str(),
            attributes["resolution"].as_str()
        ),
        (Some("process_failed"), Some("expired"))
    );
    server.stop().await;
}

async fn the_guard_refuses_private_callback_urls_at_creation(database: TestDatabase) {
    let server = TestServer::start_with(
        database,
        &[("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "false")],
    )
    .await;
    let merchant = server.merchant(false, false).await;
    for url in [
        "http://127.0.0.1/cb",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://169.254.169.254/",
        "http://10.1.2.3/",
        "http://localhost:8080/",
    ] {
        let response = Client::new()
            .post(server.url("/api/payment-invoices"))
            .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
            .json(&json!({ "data": { "attributes": { "reference_id": format!("ssrf-{url}"), "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": url } } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{url}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["errors"]["callback_url"],
            "This value is not valid.",
            "{url}"
        );
    }
    server.stop().await;
}

/// Payments made through the running server's own store and outbox, each paid and refunded
/// at once: a burst of callbacks committed in a few transactions, as a busy node makes them.
async fn burst_of_paid_and_refunded_payments(
    server: &TestServer,
    merchant: &MerchantOutput,
    url: &str,
    count: usize,
) -> Vec<PaymentId> {
    let store = server.state().store.clone();
    let mut ids = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(100) {
        let (outbox, now, url) = (server.outbox(), server.context.clock.now(), url.to_owned());
        let (reseller, merchant_id) = (
            ResellerId::new(merchant.reseller_id),
            MerchantId::new(merchant.id),
        );
        let size = (count - chunk * 100).min(100);
        let made = store
            .write(move |db| {
                Box::pin(async move {
                    let service = catalog::get_service_by_code(db, "payment_card_usd_hpp")
                        .await?
                        .expect("a seeded service");
                    let mut ids = Vec::with_capacity(size);
                    for index in 0..size {
                        let draft = obol_testkit::draft(
                            reseller,
                            merchant_id,
                            Money::from_minor(1_000, Currency::USD).expect("an amount"),
                        )
                        .reference_id(Some(format!("burst-{chunk}-{index}")))
                        .callback_url(Some(url.clone()))
                        .service(&service)
                        .build()
                        .expect("a draft");
                        let id = PaymentId::generate(&mut OsRandom);
                        outbox
                            .insert(db, draft, id.clone(), Some(&service), now)
                            .await?;
                        let paid = PaymentEvent::Succeeded { card: None };
                        outbox
                            .transition(db, &id, paid, Actor::Provider, now)
                            .await?;
                        let amount = Money::from_minor(1_000, Currency::USD).expect("an amount");
                        let refunded = PaymentEvent::Refunded { amount };
                        outbox
                            .transition(db, &id, refunded, Actor::Merchant(merchant_id), now)
                            .await?;
                        ids.push(id);
                    }
                    Ok(ids)
                })
            })
            .await
            .unwrap();
        ids.extend(made);
    }
    ids
}

/// The statuses a payment's callbacks reported, in the order they arrived.
fn arrived_statuses(received: &[obol_testkit::Received], payment: &PaymentId) -> Vec<String> {
    received
        .iter()
        .map(|callback| callback.json())
        .filter(|body| body["data"]["id"] == payment.as_str())
        .map(|body| {
            body["data"]["attributes"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Many payments' callbacks committed at once, to one receiver: all delivered, each once (no
/// lease can lapse here: the clock stands still), each payment's in order.
async fn a_burst_to_one_receiver_is_delivered_whole_and_in_order(database: TestDatabase) {
    const PAYMENTS: usize = 500;
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let receiver = CallbackReceiver::start().await;
    let payments =
        burst_of_paid_and_refunded_payments(&server, &merchant, receiver.url(), PAYMENTS).await;
    let stored = server
        .context
        .store
        .read(|db| Box::pin(inspect::all_callbacks(db)))
        .await
        .unwrap();
    assert_eq!(stored.len(), PAYMENTS * 3, "created, processed, refunded");
    let deliveries = receiver
        .wait_for_deliveries(PAYMENTS * 3, Duration::from_secs(120))
        .await;
    assert!(
        deliveries.values().all(|count| *count == 1),
        "each callback once: {:?}",
        deliveries.values().filter(|count| **count > 1).count()
    );
    assert_eq!(receiver.count(), PAYMENTS * 3);
    let received = receiver.all();
    for payment in &payments {
        assert_eq!(
            arrived_statuses(&received, payment),
            ["process_pending", "processed", "refunded"],
            "{payment:?}"
        );
    }
    // Every attempt is recorded once, and counted once.
    for _ in 0..500 {
        let attempts = server
            .context
            .store
            .read(|db| Box::pin(inspect::callback_attempt_count(db)))
            .await
            .unwrap();
        if attempts as usize >= PAYMENTS * 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let callbacks = server
        .context
        .store
        .read(|db| Box::pin(inspect::all_callbacks(db)))
        .await
        .unwrap();
    assert!(
        callbacks
            .iter()
            .all(|callback| callback.status == CallbackStatus::Delivered && callback.attempts == 1),
        "every callback delivered at its first attempt"
    );
    assert_eq!(
        server
            .context
            .store
            .read(|db| Box::pin(inspect::callback_attempt_count(db)))
            .await
            .unwrap(),
        (PAYMENTS * 3) as i64
    );
    let metrics = Client::new()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "obol_callback_attempts_total{{outcome=\"delivered\"}} {}",
            PAYMENTS * 3
        )),
        "{metrics}"
    );
    assert!(metrics.contains("obol_callbacks_in_flight 0"), "{metrics}");
    server.stop().await;
}

/// With the poll an hour apart, a callback committed on this node still goes at once: the
/// commit wakes the worker, and a recorded attempt lets the payment's next callback go.
async fn a_new_callback_goes_without_waiting_for_the_poll(database: TestDatabase) {
    let server =
        TestServer::start_with(database, &[("OBOL_CALLBACKS_POLL_INTERVAL_MS", "3600000")]).await;
    let merchant = server.merchant(false, false).await;
    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    // The worker has looked once at start, found nothing, and waits for the hour or a wake.
    let created = create(&server, &merchant, paid_test_invoice("prompt", &url)).await;
    // `wait_for` gives up after seconds: only a wake, not the poll, can deliver in time.
    let received = receiver.wait_for(2).await;
    assert_eq!(
        arrived_statuses(
            &received,
            &PaymentId::parse(created["data"]["id"].as_str().unwrap()).unwrap()
        ),
        ["process_pending", "processed"]
    );
    // And again once the worker is idle: a later change of the same payment.
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    attempts_recorded_for_all(&server, 2).await;
    let refund = Client::new()
        .post(server.url(&format!("/api/payment-invoices/{id}/refund")))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(&json!({ "data": { "type": "payment-invoices", "attributes": { "amount": 10 } } }))
        .send()
        .await
        .unwrap();
    assert!(
        refund.status().is_success(),
        "{}",
        refund.text().await.unwrap()
    );
    let received = receiver.wait_for(3).await;
    assert_eq!(
        received[2].json()["data"]["attributes"]["status"],
        "refunded"
    );
    server.stop().await;
}

/// Waits until `count` callbacks have an attempt recorded.
async fn attempts_recorded_for_all(server: &TestServer, count: usize) {
    for _ in 0..500 {
        let callbacks = server
            .context
            .store
            .read(|db| Box::pin(inspect::all_callbacks(db)))
            .await
            .unwrap();
        if callbacks
            .iter()
            .filter(|callback| callback.attempts > 0)
            .count()
            >= count
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{count} callbacks were never attempted");
}

/// A slow receiver that counts the requests it holds at once: each is answered 200 after
/// [`SLOW_ANSWER`] (well within the test server's 1 s request timeout).
#[derive(Clone, Default)]
struct CountingReceiver {
    current: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

const SLOW_ANSWER: Duration = Duration::from_millis(150);

impl CountingReceiver {
    async fn start() -> (CountingReceiver, String) {
        let receiver = CountingReceiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callbacks", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(axum::routing::post(
                |axum::extract::State(receiver): axum::extract::State<CountingReceiver>| async move {
                    let now = receiver.current.fetch_add(1, Ordering::SeqCst) + 1;
                    receiver.most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(SLOW_ANSWER).await;
                    receiver.current.fetch_sub(1, Ordering::SeqCst);
                    receiver.total.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::OK
                },
            ))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }
}

/// At most `callbacks.per_host_concurrency` attempts go to one host at once, though more are
/// claimed and waiting.
async fn one_host_gets_at_most_its_bound_at_once(database: TestDatabase) {
    const PER_HOST: usize = 3;
    let server = TestServer::start_with(
        database,
        &[
            ("OBOL_CALLBACKS_PER_HOST_CONCURRENCY", "3"),
            ("OBOL_CALLBACKS_MAX_IN_FLIGHT", "64"),
        ],
    )
    .await;
    let merchant = server.merchant(false, false).await;
    let (receiver, url) = CountingReceiver::start().await;
    let payments = burst_of_paid_and_refunded_payments(&server, &merchant, &url, 12).await;
    let expected = payments.len() * 3;
    for _ in 0..1_000 {
        if receiver.total.load(Ordering::SeqCst) >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receiver.total.load(Ordering::SeqCst), expected);
    assert_eq!(
        receiver.most.load(Ordering::SeqCst),
        PER_HOST,
        "twelve payments' callbacks were due together; the host had three at a time"
    );
    server.stop().await;
}

/// A callback secret rotated from outside the server (the CLI, another node) signs the very
/// next callback, and rotated again at once, the next one after that: nothing this node
/// remembers about secrets outlives a rotation.
async fn a_rotated_secret_signs_the_next_callback(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    let mut secrets = vec![merchant.callback_secret.clone()];
    for round in 0..3 {
        create(
            &server,
            &merchant,
            json!({ "reference_id": format!("rotation-{round}"), "amount": 5, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": url }),
        )
        .await;
        let callback = receiver.wait_for(round + 1).await.remove(round);
        let current = secrets.last().unwrap();
        assert_eq!(
            callback.header("x-signature"),
            paymega_signature(current, &callback.body),
            "round {round}: the newest secret signs"
        );
        let header = callback.header("x-obol-signature");
        assert!(signature::verify_obol(&header, current, &callback.body));
        if secrets.len() > 1 {
            assert!(
                signature::verify_obol(&header, &secrets[secrets.len() - 2], &callback.body),
                "round {round}: the secret it replaced signs beside it"
            );
        }
        let rotated = commands::rotate_callback_secret(&server.context, merchant.id)
            .await
            .unwrap();
        secrets.push(rotated.callback_secret);
    }
    server.stop().await;
}

on_both_backends!(
    a_burst_to_one_receiver_is_delivered_whole_and_in_order,
    a_new_callback_goes_without_waiting_for_the_poll,
    one_host_gets_at_most_its_bound_at_once,
    a_rotated_secret_signs_the_next_callback,
    callbacks_are_signed_ordered_and_logged,
    failures_are_retried_on_paymegas_schedule,
    a_refused_connection_is_retried_and_a_later_callback_waits,
    webhook_url_rotation_and_replay,
    expiry_reports_by_callback,
    the_guard_refuses_private_callback_urls_at_creation,
);
