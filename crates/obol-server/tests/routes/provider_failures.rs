//! A provider that misbehaves never moves money and never holds a request past its deadline.
//! Server A's route points at a fake YooKassa served by the test itself on loopback, which
//! keeps every call and answers as the test scripts it: HTTP 500s, garbage, YooKassa's error
//! objects, payments that are not the one asked about, or nothing at all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use obol_server::commands::MerchantOutput;
use obol_testkit::{CallbackReceiver, TestDatabase, TestServer};
use serde_json::{Value, json};

use crate::{ROUTE, browser, choose_card, invoice, live_balance, stored_payment, verified};

/// The calls the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Endpoint {
    CreatePayment,
    GetPayment,
    CreateRefund,
    GetRefund,
}

/// What the fake does with the next call to an endpoint, instead of answering as YooKassa.
#[derive(Clone, Debug)]
enum Next {
    /// This status, with this JSON body.
    Answer(u16, Value),
    /// 200 with a body that is no JSON at all.
    Garbage,
    /// Accepts the call and never answers.
    Silence,
}

/// YooKassa's answer to a request it could not process: the outcome is unknown.
fn internal_error() -> Next {
    Next::Answer(
        500,
        json!({ "type": "error", "id": "e-500", "code": "internal_server_error",
                "description": "Internal server error" }),
    )
}

/// YooKassa refusing a request.
fn refusal() -> Next {
    Next::Answer(
        400,
        json!({ "type": "error", "id": "e-400", "code": "invalid_request",
                "description": "Refused by the fake", "parameter": "amount" }),
    )
}

#[derive(Clone, Debug)]
struct Call {
    endpoint: Endpoint,
    idempotence_key: Option<String>,
    body: Value,
}

/// A YooKassa-like provider on loopback: payments and refunds as YooKassa shows them (each
/// creation answered once per `Idempotence-Key`), unless the script says otherwise.
#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<HashMap<Endpoint, VecDeque<Next>>>>,
    payments: Arc<Mutex<HashMap<String, Value>>>,
    refunds: Arc<Mutex<HashMap<String, Value>>>,
    answers: Arc<Mutex<HashMap<String, Value>>>,
}

impl Fake {
    async fn start() -> (Fake, String) {
        let fake = Fake::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v3", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/v3/payments", axum::routing::post(create_payment))
            .route("/v3/payments/{id}", axum::routing::get(get_payment))
            .route("/v3/refunds", axum::routing::post(create_refund))
            .route("/v3/refunds/{id}", axum::routing::get(get_refund))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, base)
    }

    fn then(&self, endpoint: Endpoint, next: Next) {
        self.script
            .lock()
            .unwrap()
            .entry(endpoint)
            .or_default()
            .push_back(next);
    }

    fn calls(&self, endpoint: Endpoint) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|call| call.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// The customer paid `id` at the provider.
    fn pay(&self, id: &str) {
        let mut payments = self.payments.lock().unwrap();
        let payment = payments.get_mut(id).expect("a payment at the fake");
        payment["status"] = json!("succeeded");
        payment["paid"] = json!(true);
        payment["payment_method"] = json!({ "type": "bank_card", "id": id, "saved": false,
            "card": { "first6": "555555", "last4": "4444", "expiry_month": "12",
                      "expiry_year": "2030", "card_type": "MasterCard" } });
    }

    /// `id` as the fake shows it now, changed by `change`: what a provider that lies would say.
    fn payment_but(&self, id: &str, change: impl FnOnce(&mut Value)) -> Value {
        let mut payment = self.payments.lock().unwrap()[id].clone();
        change(&mut payment);
        payment
    }

    /// Waits (real time, bounded) until the fake has served `count` calls to `endpoint`.
    async fn wait_for_calls(&self, endpoint: Endpoint, count: usize) {
        for _ in 0..500 {
            if self.calls(endpoint).len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "expected {count} calls to {endpoint:?}, got {}",
            self.calls(endpoint).len()
        );
    }

    async fn scripted(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<Response> {
        self.calls.lock().unwrap().push(Call {
            endpoint,
            idempotence_key: headers
                .get("idempotence-key")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        });
        let next = self
            .script
            .lock()
            .unwrap()
            .get_mut(&endpoint)
            .and_then(VecDeque::pop_front);
        match next? {
            Next::Answer(status, body) => {
                Some((StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response())
            }
            Next::Garbage => Some((StatusCode::OK, "<html>gateway</html>").into_response()),
            Next::Silence => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                Some(StatusCode::OK.into_response())
            }
        }
    }

    /// The first answer given for this `Idempotence-Key`, as YooKassa keeps it.
    fn remembered(&self, headers: &HeaderMap, make: impl FnOnce() -> Value) -> Value {
        let key = headers
            .get("idempotence-key")
            .map(|value| value.to_str().unwrap().to_owned())
            .expect("every creation carries an Idempotence-Key");
        self.answers
            .lock()
            .unwrap()
            .entry(key)
            .or_insert_with(make)
            .clone()
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "type": "error", "id": "e-404", "code": "not_found",
                           "description": "Not found" })),
    )
        .into_response()
}

async fn create_payment(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(answer) = fake
        .scripted(Endpoint::CreatePayment, &headers, &body)
        .await
    {
        return answer;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let answer = fake.remembered(&headers, || {
        let number = fake.payments.lock().unwrap().len();
        let id = format!("3a{number:06}-000f-5000-8000-18db351245c7");
        let payment = json!({
            "id": id, "status": "pending", "paid": false, "test": false,
            "amount": request["amount"], "description": request["description"],
            "metadata": request["metadata"], "created_at": "2025-11-23T12:00:00.000Z",
            "confirmation": { "type": "redirect",
                              "confirmation_url": format!("https://provider.example/confirm/{id}") },
        });
        fake.payments.lock().unwrap().insert(id, payment.clone());
        payment
    });
    axum::Json(answer).into_response()
}

async fn get_payment(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .scripted(Endpoint::GetPayment, &headers, &Bytes::new())
        .await
    {
        return answer;
    }
    match fake.payments.lock().unwrap().get(&id) {
        Some(payment) => axum::Json(payment.clone()).into_response(),
        None => not_found(),
    }
}

async fn create_refund(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(answer) = fake.scripted(Endpoint::CreateRefund, &headers, &body).await {
        return answer;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let answer = fake.remembered(&headers, || {
        let number = fake.refunds.lock().unwrap().len();
        let id = format!("3b{number:06}-0015-5000-9000-1a0b2c3d4e5f");
        let refund = json!({ "id": id, "status": "succeeded", "payment_id": request["payment_id"],
                             "amount": request["amount"], "created_at": "2025-11-23T12:00:00.000Z" });
        fake.refunds.lock().unwrap().insert(id, refund.clone());
        refund
    });
    axum::Json(answer).into_response()
}

async fn get_refund(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .scripted(Endpoint::GetRefund, &headers, &Bytes::new())
        .await
    {
        return answer;
    }
    match fake.refunds.lock().unwrap().get(&id) {
        Some(refund) => axum::Json(refund.clone()).into_response(),
        None => not_found(),
    }
}

/// Server A with a live merchant and its route `main` to the fake.
struct Setup {
    a: TestServer,
    fake: Fake,
    merchant: MerchantOutput,
    callbacks: CallbackReceiver,
}

async fn setup(database: TestDatabase) -> Setup {
    let (fake, base) = Fake::start().await;
    let file = format!(
        "[[acquirers]]\nname = \"{ROUTE}\"\nkind = \"yookassa\"\napi_url = \"{base}\"\n\
         shop_id = \"live-shop\"\nsecret_key = \"live_secret\"\ncurrencies = [\"RUB\"]\n"
    );
    let a = TestServer::start_with_file(database, &[], Some(&file)).await;
    let merchant = a.merchant(true, false).await;
    Setup {
        a,
        fake,
        merchant,
        callbacks: CallbackReceiver::start().await,
    }
}

impl Setup {
    async fn invoice(&self, reference: &str) -> String {
        invoice(&self.a, &self.merchant, self.callbacks.url(), reference).await
    }

    /// Asserts that the payment is still waiting for its customer and that nothing moved.
    async fn nothing_moved(&self, id: &str) {
        let payment = stored_payment(&self.a, id).await;
        assert_eq!(payment.status.as_str(), "pending");
        assert_eq!(
            live_balance(&self.a, "clearing:main").await,
            None,
            "nothing booked"
        );
        verified(&self.a).await;
    }

    /// The customer chooses the card and is sent to the fake's confirmation page; the
    /// provider's id of the payment.
    async fn sent(&self, id: &str) -> String {
        let chosen = choose_card(&self.a, id).await;
        assert_eq!(chosen.status(), StatusCode::SEE_OTHER);
        let location = chosen.headers()["location"].to_str().unwrap().to_owned();
        let upstream_id = stored_payment(&self.a, id)
            .await
            .upstream_id
            .clone()
            .expect("the provider's id is kept");
        assert_eq!(
            location,
            format!("https://provider.example/confirm/{upstream_id}")
        );
        upstream_id
    }

    /// The customer comes back from the provider; where A sends them on.
    async fn returns(&self, id: &str) -> String {
        let returned = browser()
            .get(self.a.url(&format!("/hpp/return?cpi={id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(returned.status(), StatusCode::SEE_OTHER);
        returned.headers()["location"].to_str().unwrap().to_owned()
    }

    /// A paid invoice: sent to the fake, paid there, back at A and processed.
    async fn paid_invoice(&self, reference: &str) -> String {
        let id = self.invoice(reference).await;
        let upstream_id = self.sent(&id).await;
        self.fake.pay(&upstream_id);
        assert_eq!(self.returns(&id).await, "https://shop.example/paid");
        assert_eq!(
            stored_payment(&self.a, &id).await.status.as_str(),
            "processed"
        );
        id
    }

    async fn refund(&self, id: &str, amount: Option<&str>) -> (StatusCode, Value) {
        let attributes = match amount {
            Some(amount) => json!({ "amount": amount }),
            None => json!({}),
        };
        let response = browser()
            .post(self.a.url(&format!("/api/payment-invoices/{id}/refund")))
            .basic_auth(&self.merchant.api_login, Some(&self.merchant.api_secret))
            .json(&json!({ "data": { "type": "payment-invoices", "attributes": attributes } }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn refunded(&self, id: &str) -> String {
        stored_payment(&self.a, id)
            .await
            .refunded_amount
            .to_decimal_string()
    }

    async fn notify(&self, upstream_id: &str) -> StatusCode {
        browser()
            .post(self.a.url(&format!("/notifications/yookassa/{ROUTE}")))
            .json(
                &json!({ "type": "notification", "event": "payment.succeeded",
                           "object": { "id": upstream_id, "status": "succeeded" } }),
            )
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// The provider answers the customer's choice with HTTP 500 three times (with and without
/// YooKassa's error object), with garbage, with an error object: A's page answers 502 at once,
/// the payment stays pending with no provider id and nothing booked. Once the provider
/// behaves, the choice works, under the same idempotence key every time.
pub async fn a_provider_failing_the_choice_answers_bad_gateway_and_moves_nothing(
    database: TestDatabase,
) {
    let setup = setup(database).await;
    let id = setup.invoice("order-f1").await;
    let failures: [(&str, Vec<Next>); 4] = [
        (
            "500 three times",
            vec![
                Next::Answer(500, json!("oops")),
                Next::Answer(500, json!("oops")),
                Next::Answer(500, json!("oops")),
            ],
        ),
        (
            "YooKassa's 500 three times",
            vec![internal_error(), internal_error(), internal_error()],
        ),
        ("garbage", vec![Next::Garbage]),
        ("an error object", vec![refusal()]),
    ];
    let mut calls = 0;
    for (what, script) in failures {
        calls += script.len();
        for next in script {
            setup.fake.then(Endpoint::CreatePayment, next);
        }
        let started = Instant::now();
        let chosen = choose_card(&setup.a, &id).await;
        let took = started.elapsed();
        assert_eq!(chosen.status(), StatusCode::BAD_GATEWAY, "{what}");
        assert!(
            took < Duration::from_secs(5),
            "{what}: answered in {took:?}"
        );
        assert_eq!(
            setup.fake.calls(Endpoint::CreatePayment).len(),
            calls,
            "{what}"
        );
        let payment = stored_payment(&setup.a, &id).await;
        assert_eq!(payment.upstream_id, None, "{what}");
        setup.nothing_moved(&id).await;
    }
    // A provider that creates a payment of another amount, or for another payment, is not
    // where the customer is sent.
    setup.fake.then(
        Endpoint::CreatePayment,
        Next::Answer(
            200,
            json!({ "id": "3a999999-000f-5000-8000-18db351245c7", "status": "pending",
                    "amount": { "value": "1.00", "currency": "RUB" },
                    "metadata": { "obol_payment_id": id },
                    "confirmation": { "type": "redirect",
                                      "confirmation_url": "https://provider.example/cheap" } }),
        ),
    );
    let chosen = choose_card(&setup.a, &id).await;
    assert_eq!(chosen.status(), StatusCode::BAD_GATEWAY, "another amount");
    assert_eq!(stored_payment(&setup.a, &id).await.upstream_id, None);
    setup.fake.then(
        Endpoint::CreatePayment,
        Next::Answer(
            200,
            json!({ "id": "3a999998-000f-5000-8000-18db351245c7", "status": "pending",
                    "amount": { "value": "100.00", "currency": "RUB" },
                    "metadata": { "obol_payment_id": "cpi_0000000000000000" },
                    "confirmation": { "type": "redirect",
                                      "confirmation_url": "https://provider.example/other" } }),
        ),
    );
    let chosen = choose_card(&setup.a, &id).await;
    assert_eq!(chosen.status(), StatusCode::BAD_GATEWAY, "another payment");
    setup.nothing_moved(&id).await;

    // The provider behaves again.
    let upstream_id = setup.sent(&id).await;
    let creations = setup.fake.calls(Endpoint::CreatePayment);
    let keys: Vec<Option<String>> = creations
        .iter()
        .map(|call| call.idempotence_key.clone())
        .collect();
    assert!(
        keys.iter().all(|key| *key == Some(format!("obol-{id}"))),
        "one idempotence key for the payment, whatever failed: {keys:?}"
    );
    let last = &creations.last().unwrap().body;
    assert_eq!(
        last["amount"],
        json!({ "value": "100.00", "currency": "RUB" })
    );
    assert_eq!(last["metadata"]["obol_payment_id"], id);
    setup.fake.pay(&upstream_id);
    assert_eq!(setup.returns(&id).await, "https://shop.example/paid");
    assert_eq!(
        live_balance(&setup.a, "clearing:main").await.as_deref(),
        Some("-100.00")
    );
    verified(&setup.a).await;
    setup.a.stop().await;
}

/// The provider reports the payment `succeeded`, but for another amount or naming another
/// Obol payment: on the customer's return, on a notification, to the reconciliation worker.
/// Nothing moves; the customer goes on as for a pending payment. The true report settles it.
pub async fn a_provider_report_of_something_else_moves_nothing(database: TestDatabase) {
    let setup = setup(database).await;
    let id = setup.invoice("order-f2").await;
    let upstream_id = setup.sent(&id).await;
    setup.fake.pay(&upstream_id);
    let cheaper = setup.fake.payment_but(&upstream_id, |payment| {
        payment["amount"]["value"] = json!("1.00");
    });
    let dollars = setup.fake.payment_but(&upstream_id, |payment| {
        payment["amount"]["currency"] = json!("USD");
    });
    let another = setup.fake.payment_but(&upstream_id, |payment| {
        payment["metadata"]["obol_payment_id"] = json!("cpi_0000000000000000");
    });
    let elsewhere = setup.fake.payment_but(&upstream_id, |payment| {
        payment["id"] = json!("3a999999-000f-5000-8000-18db351245c7");
    });

    setup
        .fake
        .then(Endpoint::GetPayment, Next::Answer(200, cheaper.clone()));
    assert_eq!(
        setup.returns(&id).await,
        "https://shop.example/wait",
        "the customer goes on as for a pending payment"
    );
    setup.nothing_moved(&id).await;
    for report in [&dollars, &another, &elsewhere] {
        setup
            .fake
            .then(Endpoint::GetPayment, Next::Answer(200, report.clone()));
        assert_eq!(setup.notify(&upstream_id).await, StatusCode::OK);
        setup.nothing_moved(&id).await;
    }
    // The reconciliation worker's look (due 10 s after the customer left) reads the same lie.
    let looks = setup.fake.calls(Endpoint::GetPayment).len();
    setup
        .fake
        .then(Endpoint::GetPayment, Next::Answer(200, another.clone()));
    setup.a.clock.advance_seconds(11);
    setup
        .fake
        .wait_for_calls(Endpoint::GetPayment, looks + 1)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    setup.nothing_moved(&id).await;
    assert!(
        setup
            .callbacks
            .all()
            .iter()
            .all(|callback| { callback.json()["data"]["attributes"]["status"] != "processed" })
    );

    // The provider's true report, read again on the next notification, settles it once.
    assert_eq!(setup.notify(&upstream_id).await, StatusCode::OK);
    let payment = stored_payment(&setup.a, &id).await;
    assert_eq!(payment.status.as_str(), "processed");
    assert_eq!(
        payment.card.as_ref().map(|card| card.last4.as_str()),
        Some("4444")
    );
    assert_eq!(setup.notify(&upstream_id).await, StatusCode::OK);
    assert_eq!(
        live_balance(&setup.a, "clearing:main").await.as_deref(),
        Some("-100.00")
    );
    verified(&setup.a).await;
    setup.a.stop().await;
}

/// A provider that accepts the connection and never answers: the customer's choice and the
/// customer's return each answer within the page's deadline (10 s), well before the server's
/// own 30 s; nothing moves, and the customer can choose again.
pub async fn a_silent_provider_never_holds_the_customer_past_the_deadline(database: TestDatabase) {
    let setup = setup(database).await;
    let id = setup.invoice("order-f3").await;
    setup.fake.then(Endpoint::CreatePayment, Next::Silence);
    let started = Instant::now();
    let chosen = choose_card(&setup.a, &id).await;
    let took = started.elapsed();
    assert_eq!(chosen.status(), StatusCode::BAD_GATEWAY);
    assert!(took < Duration::from_secs(15), "the choice took {took:?}");
    eprintln!("a silent provider: the choice answered after {took:?}");
    assert_eq!(stored_payment(&setup.a, &id).await.upstream_id, None);
    setup.nothing_moved(&id).await;

    let upstream_id = setup.sent(&id).await;
    setup.fake.pay(&upstream_id);
    setup.fake.then(Endpoint::GetPayment, Next::Silence);
    let started = Instant::now();
    let after = setup.returns(&id).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "the return took {took:?}");
    eprintln!("a silent provider: the return answered after {took:?}");
    assert_eq!(after, "https://shop.example/wait");
    setup.nothing_moved(&id).await;
    // The provider speaks again: the worker's look settles the payment.
    setup.a.clock.advance_seconds(11);
    for _ in 0..500 {
        if stored_payment(&setup.a, &id).await.status.as_str() == "processed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        stored_payment(&setup.a, &id).await.status.as_str(),
        "processed"
    );
    verified(&setup.a).await;
    setup.a.stop().await;
}

/// A refund whose answer is garbage, or YooKassa's 500 three times (the outcome unknown):
/// Paymega answers 200 with nothing booked, the money stays on its way (no second refund may
/// take it), and once A's clock reaches the retry the refund is sent again with the SAME
/// Idempotence-Key and booked once.
pub async fn a_refund_with_an_unknown_outcome_is_sent_again_with_its_key(database: TestDatabase) {
    let setup = setup(database).await;
    let id = setup.paid_invoice("order-f4").await;

    setup.fake.then(Endpoint::CreateRefund, Next::Garbage);
    let (status, answer) = setup.refund(&id, Some("40.00")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["data"]["attributes"]["status"], "processed",
        "{answer}"
    );
    for _ in 0..3 {
        setup.fake.then(Endpoint::CreateRefund, internal_error());
    }
    let (status, answer) = setup.refund(&id, Some("35.00")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["data"]["attributes"]["status"], "processed",
        "{answer}"
    );
    assert_eq!(setup.refunded(&id).await, "0.00", "nothing booked");
    assert_eq!(
        live_balance(&setup.a, "clearing:main").await.as_deref(),
        Some("-100.00")
    );
    let (status, answer) = setup.refund(&id, Some("30.00")).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "75.00 is on its way: 30.00 more would exceed what was paid ({answer})"
    );
    let sent = setup.fake.calls(Endpoint::CreateRefund);
    assert_eq!(sent.len(), 4, "one garbage answer, three 500s: {sent:?}");
    let first_key = sent[0].idempotence_key.clone().expect("a key");
    let second_key = sent[1].idempotence_key.clone().expect("a key");
    assert_ne!(first_key, second_key, "two refunds, two keys");
    assert!(
        sent[1..]
            .iter()
            .all(|call| call.idempotence_key.as_ref() == Some(&second_key))
    );
    verified(&setup.a).await;

    // Not yet due: nothing is sent again.
    setup.a.clock.advance_seconds(5);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(setup.fake.calls(Endpoint::CreateRefund).len(), 4);
    setup.a.clock.advance_seconds(31);
    setup.fake.wait_for_calls(Endpoint::CreateRefund, 6).await;
    for _ in 0..500 {
        if setup.refunded(&id).await == "75.00" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(setup.refunded(&id).await, "75.00");
    let sent = setup.fake.calls(Endpoint::CreateRefund);
    let retried: Vec<(Option<String>, Value)> = sent[4..]
        .iter()
        .map(|call| {
            (
                call.idempotence_key.clone(),
                call.body["amount"]["value"].clone(),
            )
        })
        .collect();
    assert!(
        retried.contains(&(Some(first_key.clone()), json!("40.00")))
            && retried.contains(&(Some(second_key.clone()), json!("35.00"))),
        "each refund is sent again with its own key: {retried:?}"
    );
    // Later tries find both done.
    setup.a.clock.advance_seconds(3_600);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(setup.fake.calls(Endpoint::CreateRefund).len(), 6);
    let payment = stored_payment(&setup.a, &id).await;
    assert_eq!(payment.status.as_str(), "partially_refunded");
    assert_eq!(
        payment.refunded_amount.to_decimal_string(),
        "75.00",
        "booked once"
    );
    assert_eq!(
        live_balance(&setup.a, "clearing:main").await.as_deref(),
        Some("-25.00")
    );
    verified(&setup.a).await;
    setup.a.stop().await;
}

/// A refund the provider refuses (its error object): Paymega answers 422 naming the provider,
/// nothing is booked and nothing stays on its way: a refund of the whole amount then goes
/// through.
pub async fn a_refund_the_provider_refuses_is_not_on_its_way_any_more(database: TestDatabase) {
    let setup = setup(database).await;
    let id = setup.paid_invoice("order-f5").await;
    setup.fake.then(Endpoint::CreateRefund, refusal());
    let (status, answer) = setup.refund(&id, Some("60.00")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["errors"]["provider"]
            .as_str()
            .is_some_and(|text| text.contains("invalid_request")),
        "{answer}"
    );
    assert_eq!(setup.refunded(&id).await, "0.00");
    assert_eq!(
        stored_payment(&setup.a, &id).await.status.as_str(),
        "processed"
    );
    verified(&setup.a).await;
    // The refused refund is not tried again.
    setup.a.clock.advance_seconds(3_600);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(setup.fake.calls(Endpoint::CreateRefund).len(), 1);

    let (status, answer) = setup.refund(&id, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["data"]["attributes"]["status"], "refunded",
        "{answer}"
    );
    let sent = setup.fake.calls(Endpoint::CreateRefund);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["amount"]["value"], "100.00");
    assert_ne!(
        sent[0].idempotence_key, sent[1].idempotence_key,
        "a new refund, not the refused one again"
    );
    assert_eq!(
        live_balance(&setup.a, "clearing:main").await.as_deref(),
        Some("0.00")
    );
    verified(&setup.a).await;
    setup.a.stop().await;
}

/// The provider made a refund but its answer was lost; then its `refund.succeeded` notification
/// arrives before Obol's retry: it is recognised as Obol's own refund (still `requested`, the
/// same amount) and booked once; it is not sent again, and nothing stays counted as on its way.
pub async fn a_lost_refund_answer_then_its_notification_books_it_once(database: TestDatabase) {
    let setup = setup(database).await;
    let id = setup.paid_invoice("order-f6").await;
    setup.fake.then(Endpoint::CreateRefund, Next::Garbage);
    let (status, answer) = setup.refund(&id, Some("40.00")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(setup.refunded(&id).await, "0.00");
    let key = setup.fake.calls(Endpoint::CreateRefund)[0]
        .idempotence_key
        .clone()
        .expect("a key");
    // What the provider did, as it would answer a retry with that key.
    let upstream_payment = stored_payment(&setup.a, &id)
        .await
        .upstream_id
        .clone()
        .unwrap();
    let refund_id = "3b999999-0015-5000-9000-1a0b2c3d4e5f".to_owned();
    let refund = json!({ "id": refund_id, "status": "succeeded", "payment_id": upstream_payment,
                         "amount": { "value": "40.00", "currency": "RUB" },
                         "created_at": "2025-11-23T12:00:00.000Z" });
    setup
        .fake
        .refunds
        .lock()
        .unwrap()
        .insert(refund_id.clone(), refund.clone());
    setup.fake.answers.lock().unwrap().insert(key, refund);

    let notified = reqwest::Client::new()
        .post(setup.a.url("/notifications/yookassa/main"))
        .json(
            &json!({ "type": "notification", "event": "refund.succeeded",
                       "object": { "id": refund_id } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(notified.status(), StatusCode::OK);
    assert_eq!(setup.refunded(&id).await, "40.00");

    // Obol asked the provider what its key made (sent again with the same key) before taking
    // the notified refund for its own; known done now, it is not sent again, nothing is booked
    // again, nothing is on its way.
    let sent = setup.fake.calls(Endpoint::CreateRefund);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].idempotence_key, sent[1].idempotence_key);
    setup.a.clock.advance_seconds(3_600);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(setup.fake.calls(Endpoint::CreateRefund).len(), 2);
    assert_eq!(setup.refunded(&id).await, "40.00");
    let (status, answer) = setup.refund(&id, Some("60.00")).await;
    assert_eq!(status, StatusCode::OK, "the rest is refundable: {answer}");
    assert_eq!(setup.refunded(&id).await, "100.00");
    verified(&setup.a).await;
    setup.a.stop().await;
}

/// While Obol's refund waits for an answer that was lost, a refund of the same amount made in
/// the provider's own dashboard is notified: Obol asks what its own key made, and books both
/// as the separate refunds they are — never one for the other.
pub async fn a_refund_made_elsewhere_is_not_taken_for_a_lost_one(database: TestDatabase) {
    let setup = setup(database).await;
    let id = setup.paid_invoice("order-f7").await;
    setup.fake.then(Endpoint::CreateRefund, Next::Garbage);
    let (status, answer) = setup.refund(&id, Some("40.00")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let upstream_payment = stored_payment(&setup.a, &id)
        .await
        .upstream_id
        .clone()
        .unwrap();
    let elsewhere = "3b888888-0015-5000-9000-1a0b2c3d4e5f".to_owned();
    setup.fake.refunds.lock().unwrap().insert(
        elsewhere.clone(),
        json!({ "id": elsewhere, "status": "succeeded", "payment_id": upstream_payment,
                "amount": { "value": "40.00", "currency": "RUB" },
                "created_at": "2025-11-23T12:00:00.000Z" }),
    );
    let notified = reqwest::Client::new()
        .post(setup.a.url("/notifications/yookassa/main"))
        .json(
            &json!({ "type": "notification", "event": "refund.succeeded",
                       "object": { "id": elsewhere } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(notified.status(), StatusCode::OK);
    assert_eq!(
        setup.refunded(&id).await,
        "80.00",
        "Obol's own refund (made now, with its key) and the one made elsewhere"
    );
    assert_eq!(setup.fake.refunds.lock().unwrap().len(), 2);
    verified(&setup.a).await;
    setup.a.stop().await;
}
