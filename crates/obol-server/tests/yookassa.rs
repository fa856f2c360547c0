//! `PaymentCommit` over real HTTP, on both backends, against a YooKassa-like upstream served on
//! loopback by the test itself (it records every call, and can be told to answer an error,
//! garbage, an HTTP 500 or nothing at all): JSON and XML, idempotence, the allow-list, upstream
//! failures as `ErrorCode`s, and payments and refunds recorded in Obol's books.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use obol_server::commands::{self, MerchantOutput};
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::Client;
use serde_json::{Value, json};

/// What the upstream does with the next call.
#[derive(Clone, Debug)]
enum Next {
    Status(u16, String),
    Garbage,
    Silence,
}

#[derive(Clone, Debug)]
struct Call {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct Upstream {
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<VecDeque<Next>>>,
    payments: Arc<Mutex<HashMap<String, String>>>,
    /// Answers already given per Idempotence-Key, as YooKassa keeps them.
    answers: Arc<Mutex<HashMap<String, Value>>>,
}

impl Upstream {
    async fn start() -> (Upstream, String) {
        let upstream = Upstream::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v3", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/v3/payments", axum::routing::post(create_payment))
            .route("/v3/payments/{id}", axum::routing::get(get_payment))
            .route("/v3/refunds", axum::routing::post(create_refund))
            .with_state(upstream.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (upstream, base)
    }

    fn then(&self, next: Next) {
        self.script.lock().unwrap().push_back(next);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn pay(&self, id: &str) {
        self.payments
            .lock()
            .unwrap()
            .insert(id.to_owned(), "succeeded".to_owned());
    }
}

async fn scripted(
    upstream: &Upstream,
    path: &str,
    headers: HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    upstream.calls.lock().unwrap().push(Call {
        path: path.to_owned(),
        headers,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    let next = upstream.script.lock().unwrap().pop_front();
    match next {
        None => None,
        Some(Next::Status(status, body)) => Some(
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
                .into_response(),
        ),
        Some(Next::Garbage) => Some((StatusCode::OK, "<html>gateway</html>").into_response()),
        Some(Next::Silence) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Some(StatusCode::OK.into_response())
        }
    }
}

fn remembered(upstream: &Upstream, headers: &HeaderMap, make: impl FnOnce() -> Value) -> Value {
    let key = headers
        .get("idempotence-key")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    upstream
        .answers
        .lock()
        .unwrap()
        .entry(key)
        .or_insert_with(make)
        .clone()
}

async fn create_payment(
    State(upstream): State<Upstream>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(answer) = scripted(&upstream, "/payments", headers.clone(), &body).await {
        return answer;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let count = upstream.payments.lock().unwrap().len();
    let answer = remembered(&upstream, &headers, || {
        let id = format!("2f5f0{count:03}-000f-5000-8000-18db351245c7");
        upstream
            .payments
            .lock()
            .unwrap()
            .insert(id.clone(), "pending".to_owned());
        json!({ "id": id, "status": "pending", "paid": false, "amount": request["amount"],
                "confirmation": { "type": "embedded", "confirmation_token": format!("ct-{id}") },
                "created_at": "2026-11-23T12:00:00.000Z", "test": true })
    });
    axum::Json(answer).into_response()
}

async fn get_payment(
    State(upstream): State<Upstream>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = scripted(
        &upstream,
        &format!("/payments/{id}"),
        headers,
        &Bytes::new(),
    )
    .await
    {
        return answer;
    }
    match upstream.payments.lock().unwrap().get(&id) {
        Some(status) => axum::Json(json!({ "id": id, "status": status })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "type": "error", "id": "e1", "code": "not_found", "description": "Payment not found" })),
        )
            .into_response(),
    }
}

async fn create_refund(
    State(upstream): State<Upstream>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(answer) = scripted(&upstream, "/refunds", headers.clone(), &body).await {
        return answer;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let answer = remembered(&upstream, &headers, || {
        json!({ "id": "2f5f1000-0015-5000-9000-1a0b2c3d4e5f", "status": "succeeded",
                "payment_id": request["payment_id"], "amount": request["amount"] })
    });
    axum::Json(answer).into_response()
}

async fn start(database: TestDatabase, allowed: &str) -> (TestServer, MerchantOutput) {
    let server = TestServer::start_with(
        database,
        &[
            ("OBOL_YOOKASSA_ALLOWED_URLS", allowed),
            ("OBOL_YOOKASSA_REQUEST_TIMEOUT_MS", "400"),
        ],
    )
    .await;
    let merchant = server.merchant(false, false).await;
    (server, merchant)
}

fn commit(base: &str, amount: Value, key: Option<&str>) -> Value {
    let mut api = json!({ "Url": base, "Login": "shop-1", "Password": "test_secret" });
    if let Some(key) = key {
        api["IdempotenceKey"] = json!(key);
    }
    json!({ "Refund": false, "Amount": amount, "Description": "Order 1", "ApiParams": api })
}

async fn post_json(server: &TestServer, merchant: &MerchantOutput, body: &Value) -> (u16, Value) {
    let response = Client::new()
        .post(server.url("/api/yookassa/PaymentCommit"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The Obol payment recorded for an upstream payment.
async fn recorded(
    server: &TestServer,
    merchant: &MerchantOutput,
    upstream_id: &str,
) -> obol_core::payment::Payment {
    let merchant_id = obol_core::ids::MerchantId::new(merchant.id);
    let upstream_id = upstream_id.to_owned();
    server
        .context
        .store
        .read(move |db| {
            Box::pin(async move {
                obol_store::ops::payments::find_by_reference(db, merchant_id, &upstream_id).await
            })
        })
        .await
        .unwrap()
        .expect("recorded")
}

async fn assert_verified(server: &TestServer) {
    let report = commands::verify(&server.context).await.unwrap();
    assert!(report.ok, "{:?}", report.violations);
}

async fn json_and_xml_round_trips(database: TestDatabase) {
    let (upstream, base) = Upstream::start().await;
    let (server, merchant) = start(database, &base).await;
    let (status, answer) = post_json(
        &server,
        &merchant,
        &commit(&base, json!(2.5), Some("key-1")),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ErrorCode"], 0, "{answer}");
    assert_eq!(answer["Status"], "pending");
    assert_eq!(answer["IdempotenceKey"], "key-1");
    assert_eq!(answer["RefundId"], Value::Null);
    assert_eq!(answer["Message"], Value::Null);
    let payment_id = answer["PaymentId"].as_str().unwrap().to_owned();
    assert_eq!(answer["ConfirmationToken"], format!("ct-{payment_id}"));
    let calls = upstream.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/payments");
    assert_eq!(calls[0].headers["idempotence-key"], "key-1");
    assert_eq!(
        calls[0].headers["authorization"], "Basic c2hvcC0xOnRlc3Rfc2VjcmV0",
        "shop-1:test_secret"
    );
    assert_eq!(
        calls[0].body,
        json!({ "amount": { "value": "2.50", "currency": "RUB" }, "capture": true,
                "confirmation": { "type": "embedded" }, "description": "Order 1" })
    );

    // XML in, XML out, with the seed's namespaces and order.
    let xml = format!(
        "<PaymentCommitRequest xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Request.YooKassaRequest\">\
         <Amount>3</Amount><ApiParams><IdempotenceKey>key-2</IdempotenceKey><Login>shop-1</Login><Password>test_secret</Password><Url>{base}</Url></ApiParams>\
         <Description>Order 2</Description><Refund>false</Refund></PaymentCommitRequest>"
    );
    let response = Client::new()
        .post(server.url("/api/yookassa/PaymentCommit"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .header("content-type", "text/xml")
        .body(xml.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("<PaymentCommitResponse xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Response.YooKassaResponse\"><ErrorCode xmlns=\"http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Abstractions\">0</ErrorCode>"), "{text}");
    assert!(
        text.contains("<IdempotenceKey>key-2</IdempotenceKey><PaymentId>"),
        "{text}"
    );
    assert!(
        text.contains("<RefundId i:nil=\"true\"/><Status>pending</Status></PaymentCommitResponse>")
    );
    assert_eq!(upstream.calls()[1].body["amount"]["value"], "3.00");

    // XML in, JSON out when the caller accepts JSON.
    let response = Client::new()
        .post(server.url("/api/yookassa/PaymentCommit"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .header("content-type", "application/xml")
        .header("accept", "application/json")
        .body(xml)
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["IdempotenceKey"], "key-2");
    assert_eq!(
        upstream.calls().len(),
        2,
        "a repeat is answered from Obol's record"
    );

    // Recorded as the merchant's payment.
    let recorded = recorded(&server, &merchant, &payment_id).await;
    assert_eq!(recorded.amount.minor(), 250);
    assert_eq!(recorded.amount.currency().code(), "RUB");
    assert_eq!(recorded.source, obol_core::payment::Source::Yookassa);
    // Paid at YooKassa, never on Obol's page.
    let page = Client::new()
        .get(server.url(&format!("/hpp/?cpi={}", recorded.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    server.stop().await;
}

async fn idempotence(database: TestDatabase) {
    let (upstream, base) = Upstream::start().await;
    let (server, merchant) = start(database, &base).await;
    let first = post_json(
        &server,
        &merchant,
        &commit(&base, json!("10.00"), Some("same")),
    )
    .await
    .1;
    let again = post_json(&server, &merchant, &commit(&base, json!(10), Some("same")))
        .await
        .1;
    assert_eq!(first, again);
    assert_eq!(upstream.calls().len(), 1);
    let other = post_json(&server, &merchant, &commit(&base, json!(11), Some("same"))).await;
    assert_eq!(other.0, 200);
    assert_eq!(other.1["ErrorCode"], 7);
    assert_eq!(upstream.calls().len(), 1);

    let generated = post_json(&server, &merchant, &commit(&base, json!(1), None))
        .await
        .1;
    let key = generated["IdempotenceKey"].as_str().unwrap();
    assert_eq!(key.len(), 36, "a UUID v4: {key}");
    assert_eq!(&key[14..15], "4");
    assert_eq!(upstream.calls()[1].headers["idempotence-key"], key);
    let long = "k".repeat(65);
    let refused = post_json(&server, &merchant, &commit(&base, json!(1), Some(&long))).await;
    assert_eq!((refused.0, refused.1["ErrorCode"].clone()), (400, json!(1)));
    // PaymentRefund becomes part of the upstream's URL: only an id's characters.
    for sneaky in ["../../metrics", "abc?x=1", "a/b", "a%2e"] {
        let refund = json!({ "Refund": true, "Amount": 1, "PaymentRefund": sneaky,
                             "ApiParams": { "Url": base, "Login": "shop-1", "Password": "test_secret" } });
        let refused = post_json(&server, &merchant, &refund).await;
        assert_eq!(
            (refused.0, refused.1["ErrorCode"].clone()),
            (400, json!(1)),
            "{sneaky}"
        );
    }
    assert_eq!(upstream.calls().len(), 2, "nothing more was called");
    server.stop().await;
}

async fn allow_list_refusal(database: TestDatabase) {
    let (allowed, base) = Upstream::start().await;
    let (elsewhere, other_base) = Upstream::start().await;
    let (server, merchant) = start(database, &base).await;
    for url in [
        other_base.clone(),
        format!("{base}.evil.example"),
        format!("{base}?next=1"),
        "file:///etc/passwd".to_owned(),
    ] {
        let answer = post_json(&server, &merchant, &commit(&url, json!(1), None)).await;
        assert_eq!(answer.0, 200);
        assert_eq!(answer.1["ErrorCode"], 2, "{url}");
    }
    assert!(
        elsewhere.calls().is_empty() && allowed.calls().is_empty(),
        "nothing contacted"
    );
    let below = post_json(
        &server,
        &merchant,
        &commit(&format!("{base}/"), json!(1), None),
    )
    .await;
    assert_eq!(below.1["ErrorCode"], 0);
    server.stop().await;
}

async fn upstream_failures(database: TestDatabase) {
    let (upstream, base) = Upstream::start().await;
    let (server, merchant) = start(database, &base).await;
    upstream.then(Next::Status(400, json!({ "type": "error", "id": "e-1", "code": "invalid_request", "description": "Amount is too small", "parameter": "amount.value" }).to_string()));
    let refused = post_json(&server, &merchant, &commit(&base, json!(1), Some("f-1")))
        .await
        .1;
    assert_eq!(refused["ErrorCode"], 3);
    assert_eq!(
        refused["Message"],
        "invalid_request: Amount is too small (amount.value)"
    );
    assert_eq!(refused["IdempotenceKey"], "f-1");
    assert_eq!(upstream.calls().len(), 1, "a refusal is not retried");

    upstream.then(Next::Status(500, "{}".to_owned()));
    let retried = post_json(&server, &merchant, &commit(&base, json!(1), Some("f-2")))
        .await
        .1;
    assert_eq!(retried["ErrorCode"], 0, "{retried}");
    let calls = upstream.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[1].headers["idempotence-key"], "f-2");
    assert_eq!(calls[2].headers["idempotence-key"], "f-2");

    upstream.then(Next::Garbage);
    let garbage = post_json(&server, &merchant, &commit(&base, json!(1), Some("f-3")))
        .await
        .1;
    assert_eq!(garbage["ErrorCode"], 6);

    upstream.then(Next::Silence);
    let started = std::time::Instant::now();
    let silent = post_json(&server, &merchant, &commit(&base, json!(1), Some("f-4")))
        .await
        .1;
    assert_eq!(silent["ErrorCode"], 4, "{silent}");
    assert_eq!(
        upstream.calls().len(),
        5,
        "one budget for every attempt: the silent one used it all"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the budget"
    );
    server.stop().await;
}

async fn unreachable_upstream(database: TestDatabase) {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{address}/v3")
    };
    let (server, merchant) = start(database, &closed).await;
    let answer = post_json(&server, &merchant, &commit(&closed, json!(1), None))
        .await
        .1;
    assert_eq!(answer["ErrorCode"], 5, "{answer}");
    server.stop().await;
}

async fn refund_books_the_ledger(database: TestDatabase) {
    let (upstream, base) = Upstream::start().await;
    let (server, merchant) = start(database, &base).await;
    let created = post_json(&server, &merchant, &commit(&base, json!(5), None))
        .await
        .1;
    let payment_id = created["PaymentId"].as_str().unwrap().to_owned();
    upstream.pay(&payment_id);
    let refund = json!({ "Refund": true, "Amount": 2, "PaymentRefund": payment_id,
                         "ApiParams": { "Url": base, "Login": "shop-1", "Password": "test_secret" } });
    let (status, answer) = post_json(&server, &merchant, &refund).await;
    assert_eq!(status, 200);
    assert_eq!(answer["ErrorCode"], 0, "{answer}");
    assert_eq!(answer["Status"], "succeeded");
    assert_eq!(answer["RefundId"], "2f5f1000-0015-5000-9000-1a0b2c3d4e5f");
    let last = upstream.calls().pop().unwrap();
    assert_eq!(last.path, "/refunds");
    assert_eq!(
        last.body,
        json!({ "payment_id": payment_id, "amount": { "value": "2.00", "currency": "RUB" } })
    );

    let recorded = recorded(&server, &merchant, &payment_id).await;
    assert_eq!(
        recorded.status,
        obol_core::payment::PaymentStatus::PartiallyRefunded
    );
    assert_eq!(recorded.processed_amount.minor(), 500);
    assert_eq!(recorded.refunded_amount.minor(), 200);
    let clearing = server
        .context
        .store
        .read(|db| {
            Box::pin(async move {
                obol_store::ops::ledger::balance(
                    db,
                    &obol_core::ledger::AccountCode::clearing(
                        obol_core::ledger::Clearing::Upstream,
                    ),
                    obol_core::Currency::parse("RUB").unwrap(),
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(
        clearing.minor(),
        -300,
        "500 in through the upstream, 200 back"
    );
    assert_verified(&server).await;
    server.stop().await;
}

async fn bad_bodies_and_callers(database: TestDatabase) {
    let (upstream, base) = Upstream::start().await;
    let (server, merchant) = start(database, &base).await;
    let http = Client::new();
    let send = |content_type: &'static str, body: &'static str| {
        http.post(server.url("/api/yookassa/PaymentCommit"))
            .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = send("application/json", "{\"Amount\": ").await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ErrorCode"], 1);
    let response = send("text/xml", "<PaymentCommitRequest><Amount>1</Amount>")
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("<ErrorCode xmlns=\"http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Abstractions\">1</ErrorCode>"), "{text}");
    let response = send("text/plain", "hello").await.unwrap();
    assert_eq!(response.status(), 415);
    for body in [
        json!({ "Refund": false, "ApiParams": { "Url": base, "Login": "a", "Password": "b" } }),
        json!({ "Refund": false, "Amount": 1.005, "ApiParams": { "Url": base, "Login": "a", "Password": "b" } }),
        json!({ "Refund": false, "Amount": -1, "ApiParams": { "Url": base, "Login": "a", "Password": "b" } }),
        json!({ "Refund": true, "Amount": 1, "ApiParams": { "Url": base, "Login": "a", "Password": "b" } }),
        json!({ "Refund": false, "Amount": 1, "ApiParams": { "Url": base, "Login": "a" } }),
        json!({ "Refund": "yes", "Amount": 1 }),
    ] {
        let (status, answer) = post_json(&server, &merchant, &body).await;
        assert_eq!(
            (status, answer["ErrorCode"].clone()),
            (400, json!(1)),
            "{body}"
        );
    }
    let anonymous = http
        .post(server.url("/api/yookassa/PaymentCommit"))
        .json(&commit(&base, json!(1), None))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = http
        .post(server.url("/api/yookassa/PaymentCommit"))
        .basic_auth(&merchant.api_login, Some("wrong"))
        .json(&commit(&base, json!(1), None))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // A form, as the seed lists it: answered in JSON unless XML is asked for.
    let form = http
        .post(server.url("/api/yookassa/PaymentCommit"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .header("accept", "application/xml")
        .form(&[
            ("Refund", "false"),
            ("Amount", "0.50"),
            ("ApiParams.Url", base.as_str()),
            ("ApiParams.Login", "shop-1"),
            ("ApiParams.Password", "test_secret"),
            ("ApiParams.IdempotenceKey", "form-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let text = form.text().await.unwrap();
    assert!(
        text.contains("<IdempotenceKey>form-1</IdempotenceKey>"),
        "{text}"
    );
    assert_eq!(upstream.calls().len(), 1);
    assert_eq!(upstream.calls()[0].body["amount"]["value"], "0.50");
    let get = http
        .get(server.url("/api/yookassa/PaymentCommit"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(
        upstream.calls().len(),
        1,
        "only the form reached the upstream"
    );
    server.stop().await;
}

/// Pays a sandbox payment on the hosted page its confirmation token opens, with `card`.
async fn pay(server: &TestServer, token: &str, card: &str) {
    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser
        .get(server.url(&format!("/sandbox/yookassa/confirmation/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303);
    let page = opened.headers()["location"].to_str().unwrap().to_owned();
    assert!(page.starts_with("/hpp/?cpi="), "{page}");
    let html = browser
        .get(server.url(&page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attribute = |marker: &str| {
        let start = html.find(marker).expect(marker) + marker.len();
        html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
    };
    let action = attribute("<form method=\"post\" action=\"");
    let csrf = attribute("name=\"csrf_token\" value=\"");
    let paid = browser
        .post(server.url(&action))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("card_number", card),
            ("card_expiry", "12/30"),
            ("card_cvv", "123"),
            ("card_holder", "IVAN PETROV"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
}

struct Shop {
    login: String,
    secret: String,
}

impl Shop {
    async fn send(
        &self,
        server: &TestServer,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = Client::new()
            .request(method, server.url(&format!("/sandbox/yookassa/v3{path}")))
            .basic_auth(&self.login, Some(&self.secret));
        if let Some(key) = key {
            request = request.header("idempotence-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        (status, response.json().await.unwrap())
    }
}

fn new_payment(value: &str, capture: bool) -> Value {
    json!({ "amount": { "value": value, "currency": "RUB" }, "capture": capture,
            "confirmation": { "type": "embedded" }, "description": "Order 7",
            "metadata": { "cms_name": "tests" }, "statements": [], "transfers": [] })
}

async fn sandbox_rules(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let shop = Shop {
        login: merchant.api_login.clone(),
        secret: merchant.api_secret.clone(),
    };
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    let stranger = Shop {
        login: merchant.api_login.clone(),
        secret: "wrong".into(),
    };
    let (status, refused) = stranger
        .send(&server, get.clone(), "/payments/x", None, None)
        .await;
    assert_eq!(
        (status, refused["code"].clone()),
        (401, json!("invalid_credentials"))
    );
    assert_eq!(refused["type"], "error");

    let (status, created) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-1"),
            Some(new_payment("100.00", false)),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["paid"], false);
    assert_eq!(created["test"], true);
    assert_eq!(
        created["amount"],
        json!({ "value": "100.00", "currency": "RUB" })
    );
    assert_eq!(created["recipient"]["account_id"], merchant.id.to_string());
    assert_eq!(created["metadata"], json!({ "cms_name": "tests" }));
    assert!(created["created_at"].as_str().unwrap().ends_with(".000Z"));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    let token = created["confirmation"]["confirmation_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, again) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-1"),
            Some(new_payment("100.00", false)),
        )
        .await;
    assert_eq!(again, created, "the same key and body: the first answer");
    let (status, duplicated) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-1"),
            Some(new_payment("99.00", false)),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(duplicated["type"], "error");
    assert_eq!(duplicated["code"], "invalid_request");
    assert_eq!(duplicated["description"], "Idempotence key duplicated");
    assert_eq!(duplicated["parameter"], "Idempotence-Key");
    assert!(duplicated["id"].is_string());
    let long = "k".repeat(65);
    let (status, too_long) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some(&long),
            Some(new_payment("1.00", false)),
        )
        .await;
    assert_eq!(
        (status, too_long["parameter"].clone()),
        (400, json!("Idempotence-Key"))
    );

    let (status, early) = shop
        .send(
            &server,
            post.clone(),
            &format!("/payments/{id}/capture"),
            Some("c-0"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, early["code"].clone()),
        (400, json!("invalid_request"))
    );
    let (status, missing) = shop
        .send(
            &server,
            get.clone(),
            "/payments/2f5f0000-000f-5000-8000-18db351245c7",
            None,
            None,
        )
        .await;
    assert_eq!((status, missing["code"].clone()), (404, json!("not_found")));

    // Approved, held, cancelled.
    pay(&server, &token, "4242424242424242").await;
    let (_, held) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{id}"),
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(held["status"], "waiting_for_capture");
    assert_eq!(held["paid"], true);
    assert_eq!(held["payment_method"]["card"]["last4"], "4242");
    assert_eq!(held["payment_method"]["card"]["card_type"], "Visa");
    let (status, canceled) = shop
        .send(
            &server,
            post.clone(),
            &format!("/payments/{id}/cancel"),
            Some("x-1"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(
        canceled["cancellation_details"],
        json!({ "party": "merchant", "reason": "canceled_by_merchant" })
    );

    // A declined card cancels.
    let (_, declined) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-2"),
            Some(new_payment("5.00", true)),
        )
        .await;
    pay(
        &server,
        declined["confirmation"]["confirmation_token"]
            .as_str()
            .unwrap(),
        "4000000000000002",
    )
    .await;
    let (_, declined) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{}", declined["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(declined["status"], "canceled");
    assert_eq!(
        declined["cancellation_details"],
        json!({ "party": "payment_network", "reason": "general_decline" })
    );

    // One stage: paid means succeeded; refunds within what was paid.
    let (_, one) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-3"),
            Some(new_payment("50.00", true)),
        )
        .await;
    let one_id = one["id"].as_str().unwrap().to_owned();
    pay(
        &server,
        one["confirmation"]["confirmation_token"].as_str().unwrap(),
        "5555555555554444",
    )
    .await;
    let (_, succeeded) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{one_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(succeeded["status"], "succeeded");
    assert_eq!(succeeded["refundable"], true);
    assert!(succeeded["captured_at"].is_string());
    let refund = |value: &str| json!({ "payment_id": one_id, "amount": { "value": value, "currency": "RUB" } });
    let (status, too_much) = shop
        .send(
            &server,
            post.clone(),
            "/refunds",
            Some("r-1"),
            Some(refund("50.01")),
        )
        .await;
    assert_eq!(
        (status, too_much["code"].clone()),
        (400, json!("invalid_request"))
    );
    let (status, refunded) = shop
        .send(
            &server,
            post.clone(),
            "/refunds",
            Some("r-2"),
            Some(refund("20.00")),
        )
        .await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(refunded["status"], "succeeded");
    assert_eq!(refunded["payment_id"], one_id);
    let (_, found) = shop
        .send(
            &server,
            get.clone(),
            &format!("/refunds/{}", refunded["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(found, refunded);
    let (_, after) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{one_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        after["refunded_amount"],
        json!({ "value": "20.00", "currency": "RUB" })
    );

    // A redirect confirmation carries its URL, which opens the same page.
    let mut redirect = new_payment("3.00", true);
    redirect["confirmation"] =
        json!({ "type": "redirect", "return_url": "https://shop.example/back", "locale": "en_US" });
    let (status, redirected) = shop
        .send(&server, post.clone(), "/payments", None, Some(redirect))
        .await;
    assert_eq!(status, 200, "{redirected}");
    assert_eq!(redirected["confirmation"]["type"], "redirect");
    assert_eq!(
        redirected["confirmation"]["return_url"],
        "https://shop.example/back"
    );
    let url = redirected["confirmation"]["confirmation_url"]
        .as_str()
        .unwrap();
    assert!(
        url.starts_with(&server.url("/sandbox/yookassa/confirmation/")),
        "{url}"
    );
    let mut bad_locale = new_payment("3.00", true);
    bad_locale["confirmation"]["locale"] = json!("xx");
    let (status, _) = shop
        .send(&server, post.clone(), "/payments", None, Some(bad_locale))
        .await;
    assert_eq!(status, 400);
    let mut big_metadata = new_payment("3.00", true);
    big_metadata["metadata"] = json!({ "k": "v".repeat(513) });
    let (status, _) = shop
        .send(&server, post.clone(), "/payments", None, Some(big_metadata))
        .await;
    assert_eq!(status, 400);
    let (status, bad_path) = shop
        .send(&server, get.clone(), "/payments/%FF", None, None)
        .await;
    assert_eq!((status, bad_path["type"].clone()), (404, json!("error")));

    // Another shop sees none of it.
    let other = server.merchant(false, false).await;
    let other = Shop {
        login: other.api_login,
        secret: other.api_secret,
    };
    let (status, _) = other
        .send(&server, get, &format!("/payments/{one_id}"), None, None)
        .await;
    assert_eq!(status, 404);
    assert_verified(&server).await;
    server.stop().await;
}

/// An authorized payment nobody captures is released after seven days (server time): the
/// lifecycle worker expires it and the sandbox shows it `canceled` (`expired_on_capture`).
async fn uncaptured_payments_expire(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let shop = Shop {
        login: merchant.api_login.clone(),
        secret: merchant.api_secret.clone(),
    };
    let (_, created) = shop
        .send(
            &server,
            reqwest::Method::POST,
            "/payments",
            None,
            Some(new_payment("10.00", false)),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    pay(
        &server,
        created["confirmation"]["confirmation_token"]
            .as_str()
            .unwrap(),
        "4242424242424242",
    )
    .await;
    let (_, held) = shop
        .send(
            &server,
            reqwest::Method::GET,
            &format!("/payments/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(held["status"], "waiting_for_capture");
    assert_eq!(held["expires_at"], "2025-11-30T12:13:20.000Z");
    server.clock.advance_seconds(7 * 86_400);
    let mut seen = Value::Null;
    for _ in 0..400 {
        seen = shop
            .send(
                &server,
                reqwest::Method::GET,
                &format!("/payments/{id}"),
                None,
                None,
            )
            .await
            .1;
        if seen["status"] != "waiting_for_capture" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen["status"], "canceled");
    assert_eq!(
        seen["cancellation_details"],
        json!({ "party": "yoo_money", "reason": "expired_on_capture" })
    );
    assert_verified(&server).await;
    server.stop().await;
}

/// `PaymentCommit` with `ApiParams.Url` at Obol's own sandbox (on the default allow-list): the
/// flow a developer runs offline.
async fn commit_against_the_sandbox(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let url = server.url("/sandbox/yookassa/v3");
    let api = json!({ "Url": url, "Login": merchant.api_login, "Password": merchant.api_secret });
    let (status, created) = post_json(
        &server,
        &merchant,
        &json!({ "Refund": false, "Amount": 5, "Description": "Offline", "ApiParams": api }),
    )
    .await;
    assert_eq!(
        (status, created["ErrorCode"].clone()),
        (200, json!(0)),
        "{created}"
    );
    assert_eq!(created["Status"], "pending");
    let payment = created["PaymentId"].as_str().unwrap().to_owned();
    pay(
        &server,
        created["ConfirmationToken"].as_str().unwrap(),
        "4242424242424242",
    )
    .await;
    let (_, refunded) = post_json(
        &server,
        &merchant,
        &json!({ "Refund": true, "Amount": "2.00", "PaymentRefund": payment, "ApiParams": api }),
    )
    .await;
    assert_eq!(refunded["ErrorCode"], 0, "{refunded}");
    assert_eq!(refunded["Status"], "succeeded");
    assert_eq!(refunded["RefundId"].as_str().unwrap().len(), 36);
    assert_verified(&server).await;
    server.stop().await;
}

/// YooKassa's official Python library against the sandbox (scripts/test installs it and sets
/// OBOL_YOOKASSA_PYTHON).
async fn official_library(database: TestDatabase) {
    // Built to run (the variable was set, or CI is set): without it the test fails.
    let python = std::env::var_os("OBOL_YOOKASSA_PYTHON")
        .expect("OBOL_YOOKASSA_PYTHON must name a python with the yookassa library");
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/yookassa_official.py"
    );
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, &base, &merchant.api_login, &merchant.api_secret])
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
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["created_status"], "pending");
    assert_eq!(seen["created_paid"], false);
    assert_eq!(seen["found_status"], "waiting_for_capture");
    assert_eq!(seen["found_card_last4"], "4242");
    assert_eq!(seen["captured_status"], "succeeded");
    assert_eq!(seen["refund_status"], "succeeded");
    assert_eq!(seen["refund_found_amount"], "30.00");
    assert_eq!(seen["refund_payment"], seen["payment_id"]);
    assert_eq!(seen["after_refunded"], "30.00");
    assert_eq!(seen["metadata"]["order_id"], "72");
    assert_verified(&server).await;
    server.stop().await;
}

on_both_backends!(
    sandbox_rules,
    uncaptured_payments_expire,
    commit_against_the_sandbox,
    json_and_xml_round_trips,
    idempotence,
    allow_list_refusal,
    upstream_failures,
    unreachable_upstream,
    refund_books_the_ledger,
    bad_bodies_and_callers,
);

/// The official library on both backends, each ignored when the tests were built without it.
mod official_library_on {
    use obol_testkit::TestDatabase;

    obol_testkit::requires! { [yookassa_python]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            super::official_library(TestDatabase::sqlite()).await;
        }
    }

    obol_testkit::requires! { [yookassa_python, postgres]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            super::official_library(TestDatabase::postgres().await).await;
        }
    }
}
