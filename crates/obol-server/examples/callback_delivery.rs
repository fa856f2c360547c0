//! How fast the delivery worker gets callbacks to one fast receiver (issue #17): a test server
//! takes Paymega invoice creations at a steady rate, each invoice paid at once by the test
//! service (two callbacks: created, then processed), all calling back one receiver on loopback
//! that answers 200 at once over keep-alive connections. Prints the creation rate reached, the
//! callbacks per second delivered, and the time from an invoice's acknowledgement (the commit
//! that enqueued its callbacks) to each callback's arrival.
//!
//! ```sh
//! cargo run --release -p obol-server --example callback_delivery -- [rate/s] [seconds]
//! OBOL_TEST_DATABASE_URL=postgres://root@127.0.0.1:5432/test \
//!   cargo run --release -p obol-server --example callback_delivery -- 400 5 postgres
//! ```
//!
//! With `CALLBACK_DELIVERY_BURST=N` it makes no HTTP requests: N payments, each paid and
//! refunded (three callbacks), are committed through the server's own store and outbox in
//! transactions of 250, as fast as they go, and the worker's own pace is measured from there.
//! `CALLBACK_DELIVERY_DETAIL=1` prints more percentiles and when the slow callbacks' invoices
//! were acknowledged.
//!
//! Not a test: it asserts nothing and its numbers depend on the machine. The project's
//! benchmark (SPEC §9) is the judge; this isolates the callbacks' part.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, PaymentEvent};
use obol_server::commands::MerchantOutput;
use obol_server::crypto::OsRandom;
use obol_store::ops::catalog;
use obol_testkit::{TestDatabase, TestServer};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Creations under way at once, at most.
const CREATIONS_IN_FLIGHT_MAX: usize = 64;
/// Callbacks each invoice makes: created, processed.
const CALLBACKS_PER_INVOICE: usize = 2;
/// How long to wait for the last callbacks after the creations stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(180);

#[derive(Default)]
struct Arrivals {
    /// (invoice id, delivery id, when it arrived).
    seen: Mutex<Vec<(String, String, Instant)>>,
}

async fn receive(
    State(arrivals): State<Arc<Arrivals>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let invoice = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| body["data"]["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let delivery = headers
        .get("x-obol-delivery-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut seen) = arrivals.seen.lock() {
        seen.push((invoice, delivery, at));
    }
    StatusCode::OK
}

/// Commits `count` payments, each paid and refunded at once, in transactions of 250; when each
/// payment's transaction committed.
async fn burst(
    server: &TestServer,
    merchant: &MerchantOutput,
    url: &str,
    count: usize,
) -> HashMap<String, Instant> {
    let store = server.state().store.clone();
    let mut committed = HashMap::with_capacity(count);
    for chunk in 0..count.div_ceil(250) {
        let (outbox, now, url) = (server.outbox(), server.context.clock.now(), url.to_owned());
        let (reseller, merchant_id) = (
            ResellerId::new(merchant.reseller_id),
            MerchantId::new(merchant.id),
        );
        let size = (count - chunk * 250).min(250);
        let ids = store
            .write(move |db| {
                Box::pin(async move {
                    let Some(service) =
                        catalog::get_service_by_code(db, "payment_card_usd_hpp").await?
                    else {
                        return Ok(Vec::new());
                    };
                    let mut ids = Vec::with_capacity(size);
                    for _ in 0..size {
                        let Ok(amount) = Money::from_minor(1_000, Currency::USD) else {
                            break;
                        };
                        let Ok(draft) = obol_testkit::draft(reseller, merchant_id, amount)
                            .callback_url(Some(url.clone()))
                            .service(&service)
                            .build()
                        else {
                            break;
                        };
                        let id = PaymentId::generate(&mut OsRandom);
                        outbox
                            .insert(db, draft, id.clone(), Some(&service), now)
                            .await?;
                        let paid = PaymentEvent::Succeeded { card: None };
                        outbox
                            .transition(db, &id, paid, Actor::Provider, now)
                            .await?;
                        let refunded = PaymentEvent::Refunded { amount };
                        let merchant = Actor::Merchant(merchant_id);
                        outbox.transition(db, &id, refunded, merchant, now).await?;
                        ids.push(id.as_str().to_owned());
                    }
                    Ok(ids)
                })
            })
            .await;
        let at = Instant::now();
        if let Ok(ids) = ids {
            committed.extend(ids.into_iter().map(|id| (id, at)));
        }
    }
    committed
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let rate: u64 = arguments
        .first()
        .and_then(|text| text.parse().ok())
        .unwrap_or(400);
    let seconds: u64 = arguments
        .get(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(5);
    let postgres = arguments.get(2).is_some_and(|text| text == "postgres");
    let database = if postgres {
        TestDatabase::postgres().await
    } else {
        TestDatabase::sqlite()
    };
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;

    let arrivals = Arc::new(Arrivals::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/callbacks",
        listener.local_addr().expect("an address")
    );
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(Arc::clone(&arrivals));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let acknowledged: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let burst_size: Option<usize> = std::env::var("CALLBACK_DELIVERY_BURST")
        .ok()
        .and_then(|text| text.parse().ok());
    let client = reqwest::Client::new();
    let permits = Arc::new(Semaphore::new(CREATIONS_IN_FLIGHT_MAX));
    let total = if burst_size.is_some() {
        0
    } else {
        rate * seconds
    };
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for index in 0..total {
        let due = started + interval * index as u32;
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let (client, acknowledged, url) = (client.clone(), Arc::clone(&acknowledged), url.clone());
        let endpoint = server.url("/api/payment-invoices");
        let (login, secret) = (merchant.api_login.clone(), merchant.api_secret.clone());
        tasks.push(tokio::spawn(async move {
            let attributes = json!({ "reference_id": format!("load-{index}"), "amount": 10, "currency": "USD", "service": "test_usd_test", "service_fields": { "status": "processed" }, "callback_url": url });
            let response = client
                .post(endpoint)
                .basic_auth(login, Some(secret))
                .json(&json!({ "data": { "type": "payment-invoices", "attributes": attributes } }))
                .send()
                .await;
            let at = Instant::now();
            drop(permit);
            let Ok(response) = response else { return };
            if response.status() != 201 {
                return;
            }
            let Ok(body) = response.json::<Value>().await else { return };
            if let (Some(id), Ok(mut acknowledged)) = (body["data"]["id"].as_str(), acknowledged.lock()) {
                acknowledged.insert(id.to_owned(), at);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    if let Some(count) = burst_size {
        let committed = burst(&server, &merchant, &url, count).await;
        if let Ok(mut acknowledged) = acknowledged.lock() {
            acknowledged.extend(committed);
        }
    }
    let creating = started.elapsed();
    let created = acknowledged
        .lock()
        .map_or(0, |acknowledged| acknowledged.len());
    let per_invoice = if burst_size.is_some() {
        3
    } else {
        CALLBACKS_PER_INVOICE
    };
    let expected = created * per_invoice;
    let drain_started = Instant::now();
    loop {
        let count = arrivals.seen.lock().map_or(0, |seen| {
            seen.iter()
                .map(|(_, delivery, _)| delivery.as_str())
                .collect::<std::collections::HashSet<_>>()
                .len()
        });
        if count >= expected || drain_started.elapsed() > DRAIN_LIMIT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = arrivals
        .seen
        .lock()
        .map(|seen| seen.clone())
        .unwrap_or_default();
    let acknowledged = acknowledged
        .lock()
        .map(|map| map.clone())
        .unwrap_or_default();
    let mut latencies: Vec<Duration> = seen
        .iter()
        .filter_map(|(invoice, _, at)| {
            acknowledged
                .get(invoice)
                .map(|ack| at.saturating_duration_since(*ack))
        })
        .collect();
    latencies.sort();
    let distinct = seen
        .iter()
        .map(|(_, delivery, _)| delivery.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let first = seen.iter().map(|(_, _, at)| *at).min();
    let last = seen.iter().map(|(_, _, at)| *at).max();
    let span = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first).max(Duration::from_millis(1)),
        _ => Duration::from_millis(1),
    };
    if std::env::var_os("CALLBACK_DELIVERY_DETAIL").is_some() {
        // Where the slow arrivals fall in the run, by the second.
        let mut slow: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
        for (invoice, _, at) in &seen {
            if let Some(ack) = acknowledged.get(invoice)
                && at.saturating_duration_since(*ack) > Duration::from_millis(300)
            {
                *slow
                    .entry(ack.duration_since(started).as_secs())
                    .or_default() += 1;
            }
        }
        println!(
            "p90 {:.1} ms, p95 {:.1} ms; acknowledged in second → callbacks over 300 ms: {slow:?}",
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.95).as_secs_f64() * 1e3,
        );
    }
    println!(
        "backend {}: {created} invoices in {:.2} s ({:.0}/s asked {rate}/s); {distinct} of {expected} callbacks arrived ({} requests), {:.0} callbacks/s between the first and the last; commit → arrival p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        if postgres { "postgres" } else { "sqlite" },
        creating.as_secs_f64(),
        created as f64 / creating.as_secs_f64(),
        seen.len(),
        seen.len() as f64 / span.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    server.stop().await;
}
