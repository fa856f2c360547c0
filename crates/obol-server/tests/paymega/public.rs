//! The public API and the payment form.

use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{client, private_get};

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

on_both_backends!(public_api_and_form);
