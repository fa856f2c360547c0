//! `PaymentCommit` against the scripted upstream: JSON and XML, idempotence, the allow-list,
//! upstream failures as `ErrorCode`s, refunds in the books, bad bodies and callers.

use std::time::Duration;

use obol_server::commands::MerchantOutput;
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::Client;
use serde_json::{Value, json};

use crate::upstream::{Next, Upstream};
use crate::{assert_verified, post_json};

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

    // A refund goes only through the upstream address and login that made the payment:
    // another login is refused before any upstream call, and the books do not move.
    let calls_before = upstream.calls().len();
    let steered = json!({ "Refund": true, "Amount": 1, "PaymentRefund": payment_id,
                          "ApiParams": { "Url": base, "Login": "shop-2", "Password": "test_secret" } });
    let (status, answer) = post_json(&server, &merchant, &steered).await;
    assert_eq!(status, 200);
    assert_eq!(answer["ErrorCode"], 12, "{answer}");
    assert_eq!(
        upstream.calls().len(),
        calls_before,
        "nothing was contacted"
    );

    let recorded = recorded(&server, &merchant, &payment_id).await;
    assert!(
        recorded.test_mode,
        "the upstream said it is a test shop's payment"
    );
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
                    obol_core::Mode::Test,
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

/// A relay takes its upstream's mode (SPEC §2): a live shop at a live upstream makes a live
/// payment; this server's own sandbox makes test payments whatever its shop says.
async fn relays_take_their_upstreams_mode(database: TestDatabase) {
    let (_upstream, base) = Upstream::start().await;
    let (server, merchant) = start(database, &base).await;
    let live = json!({ "Refund": false, "Amount": 3, "Description": "Order 1",
                       "ApiParams": { "Url": base, "Login": "live-shop", "Password": "live_secret" } });
    let answer = post_json(&server, &merchant, &live).await.1;
    assert_eq!(answer["ErrorCode"], 0, "{answer}");
    let relayed = recorded(&server, &merchant, answer["PaymentId"].as_str().unwrap()).await;
    assert!(!relayed.test_mode, "a live upstream's payment is live");
    let test = post_json(&server, &merchant, &commit(&base, json!(3), None))
        .await
        .1;
    let relayed = recorded(&server, &merchant, test["PaymentId"].as_str().unwrap()).await;
    assert!(relayed.test_mode, "a test shop's payment is test");
    server.stop().await;
}

/// A relay through this server's own sandbox (allowed by default) is a test payment, whatever
/// the mode of the merchant relaying it.
async fn a_relay_through_the_own_sandbox_is_test(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let live_merchant = server.merchant(true, false).await;
    let shop = server.merchant(false, false).await;
    let sandboxed = json!({ "Refund": false, "Amount": 3, "Description": "Order 2",
                            "ApiParams": { "Url": server.url("/sandbox/yookassa/v3"),
                                           "Login": shop.api_login, "Password": shop.api_secret } });
    let answer = post_json(&server, &live_merchant, &sandboxed).await.1;
    assert_eq!(answer["ErrorCode"], 0, "{answer}");
    let relayed = recorded(
        &server,
        &live_merchant,
        answer["PaymentId"].as_str().unwrap(),
    )
    .await;
    assert!(relayed.test_mode, "this server's own sandbox is test");
    server.stop().await;
}

/// The relay records the caller's address by the one rule of `trusted_proxies`: a client's own
/// `X-Forwarded-For` is ignored, a trusted proxy's is read from the right.
async fn requester_ip_believes_only_trusted_proxies(database: TestDatabase) {
    let (_upstream, base) = Upstream::start().await;
    let server = TestServer::start_with(
        database,
        &[
            ("OBOL_YOOKASSA_ALLOWED_URLS", &base),
            ("OBOL_TRUSTED_PROXIES", "127.0.0.2"),
        ],
    )
    .await;
    let merchant = server.merchant(false, false).await;
    let from = |address: [u8; 4], key: &str| {
        let client = Client::builder()
            .local_address(std::net::IpAddr::from(address))
            .build()
            .unwrap();
        client
            .post(server.url("/api/yookassa/PaymentCommit"))
            .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .json(&commit(&base, json!(1), Some(key)))
            .send()
    };
    let direct: Value = from([127, 0, 0, 1], "direct")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let direct = recorded(&server, &merchant, direct["PaymentId"].as_str().unwrap()).await;
    assert_eq!(direct.requester_ip.as_deref(), Some("127.0.0.1"));
    let proxied: Value = from([127, 0, 0, 2], "proxied")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let proxied = recorded(&server, &merchant, proxied["PaymentId"].as_str().unwrap()).await;
    assert_eq!(proxied.requester_ip.as_deref(), Some("203.0.113.9"));
    server.stop().await;
}

on_both_backends!(
    relays_take_their_upstreams_mode,
    a_relay_through_the_own_sandbox_is_test,
    requester_ip_believes_only_trusted_proxies,
    json_and_xml_round_trips,
    idempotence,
    allow_list_refusal,
    upstream_failures,
    unreachable_upstream,
    refund_books_the_ledger,
    bad_bodies_and_callers,
);
