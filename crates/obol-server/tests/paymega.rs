//! The Paymega dialect over real HTTP, checked against the seed's examples and SPEC §3.1, on
//! SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use obol_server::commands::MerchantOutput;
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn private_post(
    server: &TestServer,
    merchant: &MerchantOutput,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = client()
        .post(server.url(path))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn private_get(
    server: &TestServer,
    merchant: &MerchantOutput,
    path: &str,
) -> (StatusCode, Value) {
    let response = client()
        .get(server.url(path))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn invoice(attributes: Value) -> Value {
    json!({ "data": { "type": "payment-invoices", "attributes": attributes } })
}

/// The seed's full private example, with an expiry inside the allowed window.
fn seed_example(reference: &str) -> Value {
    invoice(json!({
        "reference_id": reference,
        "amount": 100,
        "currency": "USD",
        "service": "payment_card_usd_hpp",
        "flow": "charge",
        "test_mode": true,
        "description": "Invoice Example",
        "gateway_options": { "cardgate": { "tokenize": false } },
        "customer": {
            "reference_id": "1203515",
            "email": "john@example.com",
            "name": "John Wick",
            "phone": "+380987654321",
            "metadata": { "key1": "value1", "key2": "value2" }
        },
        "metadata": { "key": "value" },
        "return_url": "https://example.com",
        "return_urls": { "success": "https://example.com/1", "pending": "https://example.com/2", "fail": "https://example.com/3" },
        "callback_url": "http://127.0.0.1:9/callback",
        "expires": "2025-11-24T12:00:00+00:00"
    }))
}

const PRIVATE_ATTRIBUTES: &[&str] = &[
    "serial_number",
    "status",
    "resolution",
    "moderation_required",
    "amount",
    "payment_amount",
    "currency",
    "service_currency",
    "reference_id",
    "test_mode",
    "fee",
    "deposit",
    "processed",
    "processed_amount",
    "refunded_amount",
    "processed_fee",
    "processed_deposit",
    "metadata",
    "flow_data",
    "flow",
    "payment_flow",
    "created",
    "updated",
    "payload",
    "description",
    "descriptor",
    "callback_url",
    "return_url",
    "original_data",
    "rrn",
    "approval_code",
    "reserved_amount",
    "reserve_expires",
    "unreserved",
    "source",
    "callback_logs",
];

async fn private_invoice_matches_the_seed(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (status, body) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        seed_example("a30ebec4"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert_eq!(data["type"], "payment-invoices");
    let id = data["id"].as_str().unwrap();
    assert!(id.starts_with("cpi_") && id.len() == 20);
    let attributes = data["attributes"].as_object().unwrap();
    for key in PRIVATE_ATTRIBUTES {
        assert!(attributes.contains_key(*key), "attribute {key} missing");
    }
    assert_eq!(attributes["serial_number"], &id[4..]);
    assert_eq!(attributes["status"], "process_pending");
    assert_eq!(attributes["resolution"], "ok");
    assert_eq!(attributes["amount"], json!(100));
    assert_eq!(
        attributes["amount"].to_string(),
        "100",
        "an integer amount is written as the seed writes it"
    );
    assert_eq!(attributes["fee"], json!(0));
    assert_eq!(attributes["deposit"], json!(100));
    assert_eq!(attributes["processed_amount"], Value::Null);
    assert_eq!(attributes["flow"], "hpp");
    assert_eq!(attributes["payment_flow"], "charge");
    assert_eq!(attributes["test_mode"], true);
    assert_eq!(attributes["metadata"], json!({ "key": "value" }));
    assert_eq!(attributes["source"], "merchant_api");
    assert_eq!(attributes["callback_logs"], json!([]));
    assert_eq!(
        attributes["created"],
        json!(obol_testkit::START.unix_seconds())
    );
    assert_eq!(
        attributes["flow_data"]["action"],
        format!("{}/hpp/?cpi={id}", server.base)
    );
    assert_eq!(attributes["flow_data"]["method"], "GET");
    assert_eq!(attributes["flow_data"]["params"], json!([]));
    assert_eq!(attributes["flow_data"]["metadata"]["sid"], id);
    assert_eq!(
        attributes["flow_data"]["metadata"]["token"]
            .as_str()
            .unwrap()
            .split('.')
            .count(),
        3,
        "a JWT"
    );
    assert_eq!(
        data["relationships"]["payment-service"]["data"],
        json!({ "type": "payment-services", "id": "payment_card_usd_hpp" })
    );
    assert_eq!(
        data["relationships"]["payment-method"]["data"],
        json!({ "type": "payment-methods", "id": "payment_card" })
    );
    assert!(
        data["relationships"]["customer"]["data"]["id"]
            .as_str()
            .unwrap()
            .starts_with("cus_")
    );
    assert_eq!(data["links"]["self"], format!("/api/payment-invoices/{id}"));

    let (status, read) =
        private_get(&server, &merchant, &format!("/api/payment-invoices/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["data"]["attributes"]["reference_id"], "a30ebec4");
    let (_, again) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        seed_example("a30ebec4-2"),
    )
    .await;
    assert_eq!(
        again["data"]["relationships"]["customer"], data["relationships"]["customer"],
        "the same customer reference is the same cus_"
    );
    server.stop().await;
}

async fn exact_amounts_and_the_test_method(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (status, body) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        invoice(json!({ "reference_id": "t1", "amount": 123.45, "currency": "USD", "service": "test_usd_test", "service_fields": { "status": "processed" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let attributes = &body["data"]["attributes"];
    assert_eq!(attributes["amount"].to_string(), "123.45");
    assert_eq!(attributes["status"], "processed");
    assert_eq!(attributes["processed_amount"].to_string(), "123.45");
    assert_eq!(attributes["flow"], "test");
    let (_, failed) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        invoice(json!({ "reference_id": "t2", "amount": "0.29", "currency": "USD", "service": "test_usd_test", "service_fields": { "status": "process_failed" } })),
    )
    .await;
    assert_eq!(failed["data"]["attributes"]["status"], "process_failed");
    assert_eq!(failed["data"]["attributes"]["amount"].to_string(), "0.29");
    let report = obol_server::commands::verify(&server.context)
        .await
        .unwrap();
    assert!(report.ok && report.transactions == 1, "{report:?}");
    server.stop().await;
}

/// Every 422 of invoice creation names its field (docs/api/paymega.md), in process: the
/// router is called with `oneshot`, no socket.
async fn validation_errors_name_their_fields_in_process(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "reference_id": "v", "amount": 0, "currency": "USD", "service": "payment_card_usd_hpp" }),
            "amount",
            "This value should be greater than 0.",
        ),
        (
            json!({ "reference_id": "v", "amount": 1.001, "currency": "USD", "service": "payment_card_usd_hpp" }),
            "amount",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 2000000, "currency": "USD", "service": "payment_card_usd_hpp" }),
            "amount",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "XYZ", "service": "payment_card_usd_hpp" }),
            "currency",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "payment_card_eur_hpp" }),
            "service",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "no_such_service" }),
            "service",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD" }),
            "service",
            "This value should not be blank.",
        ),
        (
            json!({ "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp" }),
            "reference_id",
            "This value should not be blank.",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "flow": "steal" }),
            "flow",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "expires": "2025-11-23T12:20:00+00:00" }),
            "expires",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "return_urls": { "success": "https://a" } }),
            "return_urls.pending",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "customer": { "name": "x" } }),
            "customer.reference_id",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "test_usd_test", "service_fields": { "status": "not valid!" } }),
            "service_fields.status",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": "ftp://x" }),
            "callback_url",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": "http://user:password@shop.example/cb" }),
            "callback_url",
            "",
        ),
        (
            json!({ "reference_id": "v", "amount": true, "currency": "USD", "service": "payment_card_usd_hpp" }),
            "amount",
            "",
        ),
    ];
    for (attributes, field, message) in cases {
        let (status, body) = post_in_process(
            &server,
            &merchant,
            "/api/payment-invoices",
            invoice(attributes.clone()),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{attributes} -> {body}"
        );
        let text = body["errors"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {body}"));
        if !message.is_empty() {
            assert_eq!(text, message);
        }
    }
    // Exactly the 14-minute and 2-day bounds are allowed.
    let (status, _) = post_in_process(
        &server,
        &merchant,
        "/api/payment-invoices",
        invoice(json!({ "reference_id": "edge", "amount": 1, "currency": "USD", "service": "payment_card_usd_hpp", "expires": obol_testkit::START.plus_seconds(14 * 60).unix_seconds() })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    server.stop().await;
}

async fn post_in_process(
    server: &TestServer,
    merchant: &MerchantOutput,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let login = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", merchant.api_login, merchant.api_secret));
    let answer = server
        .call(
            Request::post(path)
                .header("authorization", format!("Basic {login}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    let body = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    (answer.status, body)
}

async fn errors_use_the_seed_bodies(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let http = client();
    let unauthorized = http
        .get(server.url("/api/payment-invoices"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unauthorized.json::<Value>().await.unwrap(),
        json!({ "errors": [{ "status": "Unauthorized", "code": "401" }] })
    );
    let wrong = http
        .get(server.url("/api/payment-invoices"))
        .basic_auth(&merchant.api_login, Some("sk_test_wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let missing = http
        .get(server.url("/api/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({ "errors": [{ "status": "Not Found", "code": "404" }] })
    );
    let method = http
        .delete(server.url("/api/payment-invoices"))
        .send()
        .await
        .unwrap();
    assert_eq!(method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        method.json::<Value>().await.unwrap(),
        json!({ "errors": [{ "status": "Method Not Allowed", "code": "405" }] })
    );
    let trace = http
        .request(
            reqwest::Method::from_bytes(b"TRACE").unwrap(),
            server.url("/public-api/payment-prerequest"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), StatusCode::METHOD_NOT_ALLOWED);
    let malformed = http
        .post(server.url("/api/payment-invoices"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["errors"][0]["code"],
        "400"
    );
    let (_, created) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        seed_example("mine"),
    )
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let other = server.merchant(false, false).await;
    let (status, body) = private_get(&server, &other, &format!("/api/payment-invoices/{id}")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({ "errors": [{ "status": "Not Found", "code": "404" }] })
        ),
        "another merchant's invoice does not exist"
    );
    let public = http
        .get(server.url(&format!(
            "/public-api/payment-invoices/{id}?public_key={}",
            other.public_key
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn duplicate_references_answer_409_with_the_invoice(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (_, first) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        seed_example("dup"),
    )
    .await;
    let (status, conflict) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        seed_example("dup"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["errors"][0]["status"], "Conflict");
    assert_eq!(conflict["errors"][0]["code"], "409");
    assert_eq!(conflict["data"]["id"], first["data"]["id"]);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = server.url("/api/payment-invoices");
        let (login, secret) = (merchant.api_login.clone(), merchant.api_secret.clone());
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .basic_auth(login, Some(secret))
                .json(&seed_example("race"))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == StatusCode::CONFLICT)
            .count(),
        7,
        "{statuses:?}"
    );
    server.stop().await;
}

async fn public_api_and_form(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let http = client();
    let prerequest: Value = http
        .post(server.url("/public-api/payment-prerequest"))
        .json(&json!({ "public_key": merchant.public_key, "currency": "USD" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = &prerequest["data"];
    assert_eq!(data["currency"], "USD");
    assert_eq!(data["test_mode"], true);
    assert_eq!(
        data["services"]["payment_card_usd_hpp"]["amount_min"].to_string(),
        "0.01"
    );
    assert_eq!(
        data["services"]["payment_card_usd_hpp"]["amount_max"].to_string(),
        "1000000"
    );
    assert_eq!(
        data["services"]["test_usd_test"]["fields"][0]["regexp"],
        "^[a-zA-Z_]*$"
    );
    assert_eq!(
        data["methods"]["payment_card"]["name"]["ru"],
        "Платежная карта"
    );
    assert_eq!(data["account"]["name"], "4Docs");
    assert!(
        data["services"].get("payment_card_eur_hpp").is_none(),
        "only the asked currency"
    );
    let unknown = http
        .post(server.url("/public-api/payment-prerequest"))
        .json(&json!({ "public_key": "pk_test_nope", "currency": "USD" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    let created = http
        .post(server.url("/public-api/payment-invoices"))
        .json(&json!({ "public_key": merchant.public_key, "description": "Invoice Example", "service": "payment_card_usd_hpp", "currency": "USD", "amount": 123.45 }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    let data = &body["data"];
    assert!(
        data["reference_id"]
            .as_str()
            .is_some_and(|reference| !reference.is_empty()),
        "a reference is generated"
    );
    assert_eq!(data["status"], "process_pending");
    assert_eq!(data["resolution"], "OK");
    assert_eq!(data["amount"].to_string(), "123.45");
    assert_eq!(data["service_flow"], "hpp");
    assert_eq!(data["has_return_url"], false);
    assert_eq!(data["active_payment"]["status"], "invoked");
    assert_eq!(data["active_payment"]["payload"]["method"], "GET");
    let id = data["id"].as_str().unwrap();
    let read: Value = http
        .get(server.url(&format!(
            "/public-api/payment-invoices/{id}?public_key={}",
            merchant.public_key
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"]["id"], id);
    let no_key = http
        .get(server.url(&format!("/public-api/payment-invoices/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);

    let form = http
        .post(server.url("/public-api/payment-invoices/process"))
        .form(&[
            ("public_key", merchant.public_key.as_str()),
            ("currency", "USD"),
            ("amount", "100"),
            ("service", "payment_card_usd_hpp"),
            ("customer[reference_id]", "test12345"),
            ("customer[name]", "Test Customer"),
            ("customer[address][full_address]", "Test Address"),
            ("return_urls[pending]", "https://shop.example/pending"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    let location = form.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/hpp/?cpi=cpi_", server.base)),
        "{location}"
    );
    let bad_form = http
        .post(server.url("/public-api/payment-invoices/process"))
        .header("accept-language", "ru-RU,ru;q=0.9")
        .form(&[
            ("public_key", merchant.public_key.as_str()),
            ("currency", "USD"),
            ("amount", "-5"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_form.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_form.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        bad_form
            .text()
            .await
            .unwrap()
            .contains("Не удалось создать платёж")
    );

    // Corefy's checkout parameters on the hosted page create the invoice and redirect to it.
    let checkout = http
        .get(server.url(&format!(
            "/hpp/?public_key={}&amount=10.50&currency=USD&reference_id=checkout-1&locale=uk&show_methods[]=payment_card",
            merchant.public_key
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(checkout.status(), StatusCode::SEE_OTHER);
    let location = checkout.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("/hpp/?cpi=cpi_") && location.ends_with("&lang=uk"),
        "{location}"
    );
    let choice = http
        .get(&location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        choice.contains("payment_card") && !choice.contains("test_usd_test"),
        "only the shown methods: {choice}"
    );
    let (_, listed) = private_get(
        &server,
        &merchant,
        "/api/payment-invoices?filter[reference_id]=checkout-1",
    )
    .await;
    assert_eq!(
        listed["data"][0]["attributes"]["status"], "created",
        "no service chosen yet"
    );
    assert_eq!(listed["data"][0]["attributes"]["source"], "form");

    let closed = server.merchant(false, true).await;
    let forbidden = http
        .post(server.url("/public-api/payment-invoices"))
        .json(&json!({ "public_key": closed.public_key, "service": "payment_card_usd_hpp", "currency": "USD", "amount": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.json::<Value>().await.unwrap(),
        json!({ "errors": [{ "status": "Forbidden", "code": "403" }] })
    );
    let forbidden_form = http
        .post(server.url("/public-api/payment-invoices/process"))
        .form(&[
            ("public_key", closed.public_key.as_str()),
            ("currency", "USD"),
            ("amount", "1"),
            ("service", "payment_card_usd_hpp"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden_form.status(), StatusCode::FORBIDDEN);
    server.stop().await;
}

async fn lists_and_refunds(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let mut ids = Vec::new();
    for index in 0..3 {
        let (_, body) = private_post(
            &server,
            &merchant,
            "/api/payment-invoices",
            invoice(json!({ "reference_id": format!("l{index}"), "amount": 100, "currency": "USD", "service": "test_usd_test", "service_fields": { "status": "processed" } })),
        )
        .await;
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let (status, page) =
        private_get(&server, &merchant, "/api/payment-invoices?page[size]=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["meta"]["count"], 2);
    assert_eq!(page["meta"]["size"], 2);
    assert_eq!(page["data"][0]["id"], ids[2], "newest first");
    assert_eq!(page["meta"]["before"], ids[2]);
    assert_eq!(page["meta"]["after"], ids[1]);
    assert_eq!(page["links"]["prev"], "");
    let next = page["links"]["next"].as_str().unwrap().to_owned();
    let (_, second) = private_get(&server, &merchant, &next).await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], ids[0]);
    assert_eq!(second["links"]["next"], "");
    let (_, filtered) = private_get(
        &server,
        &merchant,
        "/api/payment-invoices?filter[reference_id]=l1",
    )
    .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["data"][0]["id"], ids[1]);
    let (status, _) = private_get(&server, &merchant, "/api/payment-invoices?page[size]=101").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let refund = |amount: Option<f64>| {
        let body = match amount {
            Some(amount) => {
                json!({ "data": { "type": "payment-invoices", "attributes": { "amount": amount } } })
            }
            None => json!({ "data": { "type": "payment-invoices", "attributes": {} } }),
        };
        (format!("/api/payment-invoices/{}/refund", ids[0]), body)
    };
    let (path, body) = refund(Some(30.0));
    let (status, partial) = private_post(&server, &merchant, &path, body).await;
    assert_eq!(status, StatusCode::OK, "{partial}");
    assert_eq!(
        partial["data"]["attributes"]["status"],
        "partially_refunded"
    );
    assert_eq!(
        partial["data"]["attributes"]["refunded_amount"].to_string(),
        "30"
    );
    let (path, body) = refund(Some(80.0));
    let (status, over) = private_post(&server, &merchant, &path, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{over}");
    assert!(over["errors"]["amount"].is_string());
    let (path, body) = refund(None);
    let (_, full) = private_post(&server, &merchant, &path, body).await;
    assert_eq!(full["data"]["attributes"]["status"], "refunded");
    assert_eq!(
        full["data"]["attributes"]["refunded_amount"].to_string(),
        "100"
    );

    // Concurrent refunds of 40.00 on a 100.00 invoice: two succeed, never three.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = server.url(&format!("/api/payment-invoices/{}/refund", ids[1]));
        let (login, secret) = (merchant.api_login.clone(), merchant.api_secret.clone());
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .basic_auth(login, Some(secret))
                .json(&json!({ "data": { "attributes": { "amount": "40.00" } } }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            succeeded += 1;
        }
    }
    assert_eq!(succeeded, 2);
    let report = obol_server::commands::verify(&server.context)
        .await
        .unwrap();
    assert!(report.ok, "{:?}", report.violations);
    server.stop().await;
}

async fn idempotency_keys_replay_the_first_answer(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let send = |body: Value| {
        let request = client()
            .post(server.url("/api/payment-invoices"))
            .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
            .header("Idempotency-Key", "key-1")
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let body = invoice(
        json!({ "reference_id": "idem", "amount": 5, "currency": "USD", "service": "payment_card_usd_hpp" }),
    );
    let first = send(body.clone()).await;
    let second = send(body).await;
    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!(
        first, second,
        "the same key and request answer the first response again"
    );
    let different = send(invoice(json!({ "reference_id": "idem-2", "amount": 6, "currency": "USD", "service": "payment_card_usd_hpp" }))).await;
    assert_eq!(
        different.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        different.1
    );
    server.stop().await;
}

async fn services_are_listed_by_page(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (status, list) = private_get(
        &server,
        &merchant,
        "/api/payment-services?page[number]=1&page[size]=3",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["meta"], json!({ "total": 8, "pages": 3, "page": 1 }));
    assert_eq!(
        list["links"]["first"],
        "/api/payment-services?page[number]=1&page[size]=3"
    );
    assert_eq!(
        list["links"]["next"],
        "/api/payment-services?page[number]=2&page[size]=3"
    );
    assert_eq!(
        list["links"]["last"],
        "/api/payment-services?page[number]=3&page[size]=3"
    );
    let item = &list["data"][0];
    assert_eq!(item["type"], "payment-services");
    let id = item["id"].as_str().unwrap();
    assert!(id.starts_with("comcps_"));
    for key in [
        "service",
        "service_method",
        "service_currency",
        "available",
        "active",
        "enabled",
        "amount_min",
        "amount_max",
        "fee_min",
        "fee_max",
        "fee_rate",
        "fee_fix",
        "reserve_lifetime",
        "reserve_rate",
        "currency",
        "test_mode",
    ] {
        assert!(item["attributes"].get(key).is_some(), "{key}");
    }
    let (status, one) =
        private_get(&server, &merchant, &format!("/api/payment-services/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["data"]["id"], id);
    assert_eq!(
        one["data"]["links"]["self"],
        format!("/api/payment-services/{id}")
    );
    let (status, _) = private_get(
        &server,
        &merchant,
        "/api/payment-services/comcps_0000000000000000",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

on_both_backends!(
    validation_errors_name_their_fields_in_process,
    private_invoice_matches_the_seed,
    exact_amounts_and_the_test_method,
    errors_use_the_seed_bodies,
    duplicate_references_answer_409_with_the_invoice,
    public_api_and_form,
    lists_and_refunds,
    idempotency_keys_replay_the_first_answer,
    services_are_listed_by_page,
);
