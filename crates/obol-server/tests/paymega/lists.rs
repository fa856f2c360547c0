//! Lists and refunds, idempotency keys, and services listed by page.

use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{client, invoice, private_get, private_post};

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
    lists_and_refunds,
    idempotency_keys_replay_the_first_answer,
    services_are_listed_by_page,
);
