//! Creating invoices through the private API: the seed's example, exact amounts, validation errors,
//! error bodies, duplicate references.

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use obol_server::commands::MerchantOutput;
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{PRIVATE_ATTRIBUTES, client, invoice, private_get, private_post, seed_example};

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

on_both_backends!(
    validation_errors_name_their_fields_in_process,
    private_invoice_matches_the_seed,
    exact_amounts_and_the_test_method,
    errors_use_the_seed_bodies,
    duplicate_references_answer_409_with_the_invoice,
);
