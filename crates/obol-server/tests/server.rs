//! The server over real HTTP on a loopback port, and the lifecycle worker driven by a clock the
//! tests move. Every scenario runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::PaymentStatus;
use obol_core::time::Clock;
use obol_server::commands::{self, Context};
use obol_server::serve::Running;
use obol_server::workers::Outcome;
use obol_server::workers::lifecycle::LifecycleWorker;
use obol_store::ops::payments;

use obol_testkit::{TestDatabase, TestServer, draft, on_both_backends};

fn url_of(running: &Running, path: &str) -> String {
    format!("http://{}{}", running.address, path)
}

async fn operational_endpoints_answer(database: TestDatabase) {
    let mut server = TestServer::start(database).await;
    let running = server.running.take().expect("running");
    let client = reqwest::Client::new();

    let health = client
        .get(url_of(&running, "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "every answer carries a request id"
    );
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );

    let ready = client
        .get(url_of(&running, "/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let echoed = client
        .get(url_of(&running, "/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");

    let metrics = client
        .get(url_of(&running, "/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("obol_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("obol_jobs_pending"), "{text}");

    let document: serde_json::Value = client
        .get(url_of(&running, "/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/healthz"]["get"]["responses"].is_object());
    assert_eq!(document["servers"][0]["url"], running.public_url.as_str());

    let missing = client
        .get(url_of(&running, "/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "not_found"
    );

    let wrong_method = client
        .post(url_of(&running, "/healthz"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);

    // Announce a body over 1 MiB and send none of it: the answer must come from the header
    // alone (a client streaming the body would see the connection closed under it).
    let mut stream = tokio::net::TcpStream::connect(running.address)
        .await
        .unwrap();
    let request = format!(
        "POST /healthz HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        running.address,
        1024 * 1024 + 1
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 256];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    let status_line = String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        status_line, "HTTP/1.1 413 Payload Too Large",
        "bodies over 1 MiB are refused before being read"
    );

    running.stop().await;
}

async fn graceful_shutdown_stops_serving(database: TestDatabase) {
    let mut server = TestServer::start(database).await;
    let running = server.running.take().expect("running");
    let address = running.address;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), running.stop())
        .await
        .expect("stops promptly");
    assert!(
        client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer accepting"
    );
}

async fn payment_with_expiry(server: &TestServer, expires_in_seconds: i64) -> PaymentId {
    let merchant = server.merchant_named("M", false, false).await;
    let draft = draft(
        ResellerId::new(merchant.reseller_id),
        MerchantId::new(merchant.id),
        Money::from_minor(1_000, Currency::EUR).unwrap(),
    )
    .expires_at(server.context.clock.now().plus_seconds(expires_in_seconds))
    .build()
    .expect("a valid draft");
    server.insert_payment(draft, None).await.id.clone()
}

async fn status_of(context: &Context, id: &PaymentId) -> PaymentStatus {
    let id = id.clone();
    context
        .store
        .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn lifecycle_worker_expires_payments_on_time(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let (clock, context) = (server.clock.clone(), &server.context);
    let id = payment_with_expiry(&server, 900).await;
    let worker = LifecycleWorker::new(
        context.store.clone(),
        clock.clone(),
        "node-test".into(),
        server.outbox(),
        server.registry(),
    );

    assert_eq!(
        worker.run_once().await.unwrap(),
        Outcome::Idle,
        "nothing is due before the deadline"
    );
    clock.advance_seconds(899);
    assert_eq!(worker.run_once().await.unwrap(), Outcome::Idle);
    assert_eq!(status_of(context, &id).await, PaymentStatus::Created);
    clock.advance_seconds(1);
    assert_eq!(worker.run_once().await.unwrap(), Outcome::Worked(1));
    assert_eq!(status_of(context, &id).await, PaymentStatus::Expired);
    assert_eq!(
        worker.run_once().await.unwrap(),
        Outcome::Idle,
        "done once, not again"
    );

    let history = {
        let id = id.clone();
        context
            .store
            .read(move |db| Box::pin(async move { payments::history(db, &id).await }))
            .await
            .unwrap()
    };
    let last = history.last().unwrap();
    assert_eq!(
        (last.to, last.actor.as_str()),
        (PaymentStatus::Expired, "job:payment_expiry")
    );
}

async fn lifecycle_catches_up_after_downtime_and_shares_work(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let (clock, context) = (server.clock.clone(), &server.context);
    let mut ids = Vec::new();
    for index in 0..12 {
        ids.push(payment_with_expiry(&server, 900 + index).await);
    }
    // The nodes were down for a day: every job is overdue.
    clock.advance_seconds(86_400);
    let workers: Vec<Arc<LifecycleWorker>> = (0..3)
        .map(|node| {
            Arc::new(LifecycleWorker::new(
                context.store.clone(),
                clock.clone(),
                format!("node-{node}"),
                server.outbox(),
                server.registry(),
            ))
        })
        .collect();
    let mut total = 0;
    loop {
        let mut tasks = Vec::new();
        for worker in &workers {
            let worker = Arc::clone(worker);
            tasks.push(tokio::spawn(
                async move { worker.run_once().await.unwrap() },
            ));
        }
        let mut worked = 0;
        for task in tasks {
            if let Outcome::Worked(count) = task.await.unwrap() {
                worked += count;
            }
        }
        if worked == 0 {
            break;
        }
        total += worked;
    }
    assert_eq!(total, 12, "each job run by exactly one node");
    for id in &ids {
        assert_eq!(status_of(context, id).await, PaymentStatus::Expired);
        let history = {
            let id = id.clone();
            context
                .store
                .read(move |db| Box::pin(async move { payments::history(db, &id).await }))
                .await
                .unwrap()
        };
        assert_eq!(
            history
                .iter()
                .filter(|change| change.to == PaymentStatus::Expired)
                .count(),
            1
        );
    }
    let report = commands::verify(context).await.unwrap();
    assert!(report.ok, "{:?}", report.violations);
}

async fn an_expiry_after_payment_does_nothing(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let (clock, context) = (server.clock.clone(), &server.context);
    let id = payment_with_expiry(&server, 900).await;
    {
        let id = id.clone();
        let now = clock.now();
        context
            .store
            .write(move |db| {
                Box::pin(async move {
                    use obol_core::payment::{Actor, PaymentEvent};
                    payments::transition(
                        db,
                        &id,
                        PaymentEvent::AttemptStarted {
                            service_id: None,
                            method_id: None,
                        },
                        Actor::Customer,
                        now,
                    )
                    .await?;
                    payments::transition(
                        db,
                        &id,
                        PaymentEvent::Succeeded { card: None },
                        Actor::Provider,
                        now,
                    )
                    .await
                })
            })
            .await
            .unwrap();
    }
    clock.advance_seconds(1_000);
    let worker = LifecycleWorker::new(
        context.store.clone(),
        clock.clone(),
        "node-test".into(),
        server.outbox(),
        server.registry(),
    );
    assert_eq!(
        worker.run_once().await.unwrap(),
        Outcome::Idle,
        "the paid payment's expiry job was cancelled"
    );
    assert_eq!(status_of(context, &id).await, PaymentStatus::Processed);
}

on_both_backends!(
    operational_endpoints_answer,
    graceful_shutdown_stops_serving,
    lifecycle_worker_expires_payments_on_time,
    lifecycle_catches_up_after_downtime_and_shares_work,
    an_expiry_after_payment_does_nothing,
);
