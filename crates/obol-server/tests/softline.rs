//! The Softline dialect over real HTTP, on SQLite and PostgreSQL: tokens, every error code with
//! its exact message, the seed's examples, the order link paid through the hosted page,
//! orders, refund requests, card verification, webhooks and the 90-day life.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use obol_server::commands::{self, MerchantOptions, MerchantOutput};
use obol_testkit::{
    CallbackReceiver, Received, TestDatabase, TestServer, hidden_value, on_both_backends,
};
use reqwest::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn token(server: &TestServer, merchant: &MerchantOutput) -> (String, String) {
    let body: Value = client()
        .post(server.url("/v1/login_check"))
        .json(&json!({ "username": merchant.api_login, "password": merchant.api_secret }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        body["token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn pay(server: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    let response = client()
        .post(server.url("/v1/payment"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn minimal() -> Value {
    json!({
        "currency": "RUB",
        "amount": "112.50",
        "return_success_url": "https://shop.com/successful_payment",
        "payment_method": "CreditCard",
        "payment_id": "TEST12025",
        "customer": { "email": "customer@gmail.com", "first_name": "Иван", "last_name": "Петров" }
    })
}

fn full() -> Value {
    json!({
        "currency": "RUB",
        "amount": "112.50",
        "return_success_url": "https://shop.com/successful_payment",
        "payment_method": "CreditCard",
        "recurring_indicator": false,
        "payment_id": "TEST12025",
        "payment_description": "Тестовая оплата",
        "locale": "ru_RU",
        "customer": {
            "email": "customer@gmail.com",
            "first_name": "Иван",
            "last_name": "Петров",
            "phone": "7999991111",
            "vat_number": "12345654321",
            "company_name": "ООО Компания",
            "company_billing_address": "Москва, Ломоновоский проспект, 12",
            "company_delivery_address": "Москва, Ломоновоский проспект, 12",
            "kpp": "123456789"
        },
        "additional_data": { "referer7": "test", "referer8": "testA", "referer9": "testB", "referer10": "testC", "referer11": "testD", "referer12": "testF" }
    })
}

/// The body with the value at `pointer` set (added when absent).
fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut body
    } else {
        body.pointer_mut(parent)
            .unwrap_or_else(|| panic!("{pointer}"))
    };
    target
        .as_object_mut()
        .unwrap()
        .insert(key.to_owned(), value);
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

fn codes(body: &Value) -> Vec<(i64, String)> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|error| {
            (
                error["error"].as_i64().unwrap(),
                error["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn tokens_expire_and_refresh(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let bad = client()
        .post(server.url("/v1/login_check"))
        .json(&json!({ "username": merchant.api_login, "password": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(codes(&bad.json().await.unwrap())[0].0, 1001);
    let (first, refresh) = token(&server, &merchant).await;
    let (status, _) = pay(&server, &first, minimal()).await;
    assert_eq!(status, StatusCode::OK);
    let invalid = client()
        .post(server.url("/v1/payment"))
        .bearer_auth("nope")
        .json(&minimal())
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        invalid.json::<Value>().await.unwrap(),
        json!({ "errors": [{ "error": 1007, "message": "Your token is invalid." }] })
    );
    let missing = client()
        .get(server.url("/v1/order/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let (second, _) = token(&server, &merchant).await;
    assert_eq!(
        pay(&server, &first, minimal()).await.0,
        StatusCode::OK,
        "a new token does not revoke older ones"
    );
    server.clock.advance_seconds(24 * 3600 + 1);
    assert_eq!(
        pay(&server, &first, minimal()).await.0,
        StatusCode::UNAUTHORIZED,
        "tokens live 24 hours"
    );
    assert_eq!(
        pay(&server, &second, minimal()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let renewed: Value = client()
        .post(server.url("/v1/token/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let third = renewed["token"].as_str().unwrap();
    assert_eq!(pay(&server, third, minimal()).await.0, StatusCode::OK);
    let reused = client()
        .post(server.url("/v1/token/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reused.status(),
        StatusCode::UNAUTHORIZED,
        "a refresh token is used once"
    );
    let wrong = client()
        .post(server.url("/v1/token/refresh"))
        .json(&json!({ "refresh_token": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

async fn the_seeds_examples(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (token, _) = token(&server, &merchant).await;
    let (status, body) = pay(&server, &token, minimal()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let order_id = body["order_id"].as_i64().unwrap();
    let url = body["payment_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/order/status/{order_id}/", server.base))
            && url.contains("?lang="),
        "{url}"
    );
    let (again_status, again) = pay(&server, &token, minimal()).await;
    assert_eq!(again_status, StatusCode::OK);
    assert_ne!(
        again["order_id"], body["order_id"],
        "a repeated payment_id creates a new payment"
    );
    // The full example's vat_number has 11 digits, which the seed's own rule refuses.
    let (status, refused) = pay(&server, &token, full()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        codes(&refused),
        vec![(6010, "Invalid field value: customer.vat_number.".to_owned())]
    );
    let (status, created) = pay(
        &server,
        &token,
        with(full(), "/customer/vat_number", json!("123456543210")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let order: Value = client()
        .get(server.url(&format!("/v1/order/{}", created["order_id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "not paid");
    assert_eq!(order["amount"], "112.50");
    assert_eq!(order["payment_description"], "Тестовая оплата");
    assert_eq!(order["customer"]["company_name"], "ООО Компания");
    assert!(
        order.get("additional_data").is_none() && !order.to_string().contains("referer7"),
        "additional_data is never shown"
    );
    let minimal_order: Value = client()
        .get(server.url(&format!("/v1/order/{order_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        minimal_order["payment_description"], "Payment TEST12025",
        "the default description"
    );
    server.stop().await;
}

/// Every error code of `POST /v1/payment` and their order (docs/api/softline.md), in process:
/// the router is called with `oneshot`, no socket.
async fn every_error_code_in_process(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (token, _) = token(&server, &merchant).await;
    let raw = |body: &'static str, content_type: &'static str| {
        server.call(
            Request::post("/v1/payment")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", content_type)
                .body(Body::from(body))
                .unwrap(),
        )
    };
    // 111, then 110, then 6000, each alone.
    let answer = raw("{not json", "text/plain").await;
    assert_eq!(
        codes(&answer.json()),
        vec![(111, "Invalid data format (Content-type).".to_owned())],
        "111 before 110"
    );
    let answer = raw("{not json", "application/json").await;
    assert_eq!(
        codes(&answer.json()),
        vec![(110, "JSON is not valid.".to_owned())]
    );
    let answer = raw("{}", "text/plain").await;
    assert_eq!(
        codes(&answer.json()),
        vec![(111, "Invalid data format (Content-type).".to_owned())]
    );
    let (_, body) = pay_in_process(
        &server,
        &token,
        with(
            with(minimal(), "/currency", json!("JPY")),
            "/amount",
            json!(null),
        ),
    )
    .await;
    assert_eq!(
        codes(&body),
        vec![(
            6000,
            "Unable to generate payment. Please contact technical support.".to_owned()
        )],
        "6000 first and alone"
    );

    let single: Vec<(Value, i64, &str)> = vec![
        (
            without(minimal(), "currency"),
            6010,
            "Invalid field value: currency.",
        ),
        (
            with(minimal(), "/currency", json!("RUBB")),
            6010,
            "Invalid field value: currency.",
        ),
        (
            with(minimal(), "/amount", json!("112,50")),
            6010,
            "Invalid field value: amount.",
        ),
        (
            with(minimal(), "/amount", json!(1.234)),
            6010,
            "Invalid field value: amount.",
        ),
        (
            with(minimal(), "/amount", json!("-5")),
            6010,
            "Invalid field value: amount.",
        ),
        (
            with(minimal(), "/amount", json!(null)),
            6010,
            "Invalid field value: amount.",
        ),
        (
            with(minimal(), "/payment_id", json!("a/b")),
            6010,
            "Invalid field value: payment_id.",
        ),
        (
            with(
                minimal(),
                "/return_success_url",
                json!(format!("https://shop.com/{}", "x".repeat(250))),
            ),
            6010,
            "Invalid field value: return_success_url.",
        ),
        (
            with(minimal(), "/customer/first_name", json!(null)),
            6010,
            "Invalid field value: customer.first_name.",
        ),
        (
            with(minimal(), "/customer/last_name", json!(5)),
            6010,
            "Invalid field value: customer.last_name.",
        ),
        (
            with(full(), "/customer/kpp", json!("12345")),
            6010,
            "Invalid field value: customer.vat_number.",
        ),
        (
            with(minimal(), "/recurring_indicator", json!("yes")),
            6010,
            "Invalid field value: recurring_indicator.",
        ),
        (
            with(minimal(), "/unknown_field", json!(1)),
            6010,
            "Invalid field value: unknown_field.",
        ),
        (
            with(minimal(), "/locale", json!("xx_XX")),
            6020,
            "Locale not found.",
        ),
        (
            with(minimal(), "/amount", json!(0)),
            6030,
            "Creation of zero-amount payments is not available. Enable recurring_indicator = true or set the amount strictly greater than zero.",
        ),
        (
            with(minimal(), "/customer/email", json!("customer.gmail.com")),
            6060,
            "Email field is filled out incorrectly. Expected format: [name]@[domain].[zone]",
        ),
        (
            with(minimal(), "/payment_method", json!("Bitcoin")),
            6080,
            "This payment method is not available. Change payment method (payment_method).",
        ),
        (
            with(minimal(), "/payment_method", json!("LegalEntityInvoice")),
            6080,
            "This payment method is not available. Change payment method (payment_method).",
        ),
        (
            with(minimal(), "/amount", json!("1000000.01")),
            6090,
            "This payment method is not available for this payment amount. Change payment method (payment_method).",
        ),
        (
            with(
                with(
                    with(minimal(), "/payment_method", json!("LegalEntityInvoice")),
                    "/recurring_indicator",
                    json!(true),
                ),
                "/customer/company_name",
                json!("ООО"),
            ),
            6100,
            "This payment method does not support recurring payments. Change payment method (payment_method).",
        ),
    ];
    for (body, code, message) in single {
        let (status, answer) = pay_in_process(&server, &token, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let found = codes(&answer);
        assert!(
            found.contains(&(code, message.to_owned())),
            "{body} -> {found:?}"
        );
    }
    // The collected group comes back together.
    let (_, combined) = pay_in_process(
        &server,
        &token,
        with(
            with(
                with(with(minimal(), "/amount", json!(0)), "/locale", json!("xx")),
                "/customer/email",
                json!("bad"),
            ),
            "/payment_method",
            json!("Nope"),
        ),
    )
    .await;
    let found: Vec<i64> = codes(&combined).iter().map(|(code, _)| *code).collect();
    for code in [6030, 6020, 6060, 6080] {
        assert!(found.contains(&code), "{found:?}");
    }
    // A legal entity with its company name is fine; so is a zero-amount recurring parent.
    let (status, _) = pay_in_process(
        &server,
        &token,
        with(
            with(minimal(), "/payment_method", json!("LegalEntityInvoice")),
            "/customer/company_name",
            json!("ООО"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = pay_in_process(
        &server,
        &token,
        with(
            with(minimal(), "/amount", json!(0)),
            "/recurring_indicator",
            json!(true),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

async fn pay_in_process(server: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    let answer = server
        .call(
            Request::post("/v1/payment")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    let body = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    (answer.status, body)
}

async fn the_order_link_is_paid_and_reported(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let receiver = CallbackReceiver::start().await;
    let reseller = commands::create_reseller(&server.context, "R", None)
        .await
        .unwrap();
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Shop".into(),
            reseller: reseller.id,
            webhook_url: Some(receiver.url().to_owned()),
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let (token, _) = token(&server, &merchant).await;
    let (_, created) = pay(&server, &token, with(minimal(), "/locale", json!("ru_RU"))).await;
    let order_id = created["order_id"].as_i64().unwrap();
    let link = created["payment_url"].as_str().unwrap().to_owned();
    assert!(link.ends_with("?lang=ru_RU"));
    let wrong = client()
        .get(link.replace(&link[link.len() - 20..link.len() - 12], "0000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND, "a wrong hash is 404");
    let opened = client().get(&link).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    let page_url = opened.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        page_url.contains("/hpp/?cpi=cpi_") && page_url.ends_with("&lang=ru"),
        "{page_url}"
    );
    let page = client()
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_value(&page, "csrf_token");
    let cpi = page_url
        .split("cpi=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let paid = client()
        .post(server.url(&format!("/hpp/pay?cpi={cpi}")))
        .form(&[
            ("card_number", "5555555555554444"),
            ("card_expiry", "12/39"),
            ("card_cvv", "123"),
            ("card_holder", ""),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        paid.headers()["location"],
        "https://shop.com/successful_payment"
    );
    let again = client().get(&link).send().await.unwrap();
    assert_eq!(
        again.headers()["location"],
        "https://shop.com/successful_payment",
        "a paid order goes back to the shop, never a second payment"
    );
    let order: Value = client()
        .get(server.url(&format!("/v1/order/{order_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "paid");
    assert!(order["pay_date"].is_string());

    let webhooks = receiver.wait_for(2).await;
    let events: Vec<Value> = webhooks.iter().map(Received::json).collect();
    assert_eq!(events[0]["event"], "order.created");
    assert_eq!(events[1]["event"], "order.payment.succeeded");
    assert_eq!(events[1]["payment"]["card_last_4"], "4444");
    for (webhook, event) in webhooks.iter().zip(&events) {
        let (headers, body) = (&webhook.headers, &webhook.body);
        let expected: String = Sha512::digest(
            format!(
                "{};{};{};{};{};{};{}",
                merchant.callback_secret,
                event["event"].as_str().unwrap(),
                event["order_id"],
                event["create_date"].as_str().unwrap(),
                "CreditCard",
                "RUB",
                "customer@gmail.com"
            )
            .as_bytes(),
        )
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
        assert_eq!(headers["signature"].to_str().unwrap(), expected);
        assert!(obol_server::callbacks::signature::verify_obol(
            headers["x-obol-signature"].to_str().unwrap(),
            &merchant.callback_secret,
            body
        ));
        assert!(event["create_date"].as_str().unwrap().ends_with("+00:00"));
    }

    // A refund request for a paid order; one at a time; none for unpaid ones.
    let refund = |order: i64| {
        client()
            .post(server.url(&format!("/v1/order/{order}/refund")))
            .bearer_auth(&token)
            .json(&json!({ "description": "Broken", "email": "customer@gmail.com" }))
            .send()
    };
    let opened: Value = refund(order_id).await.unwrap().json().await.unwrap();
    assert_eq!(opened["status"], "open");
    let twice: Value = refund(order_id).await.unwrap().json().await.unwrap();
    assert_eq!(codes(&twice)[0].0, 6210);
    let (_, unpaid) = pay(&server, &token, minimal()).await;
    let refused: Value = refund(unpaid["order_id"].as_i64().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&refused)[0].0, 6200);

    // An operator carries the request out: fully refunded, the payment is `deleted`, and the
    // shop hears `product.returned`.
    let listed = commands::list_refund_requests(&server.context)
        .await
        .unwrap();
    let request = listed
        .refund_requests
        .iter()
        .find(|request| request.order_id == Some(order_id))
        .unwrap();
    assert_eq!(request.amount.as_deref(), Some("112.50"));
    let done = commands::close_refund_request(&server.context, request.id, false)
        .await
        .unwrap();
    assert_eq!(done.status, "done");
    assert!(
        commands::close_refund_request(&server.context, request.id, false)
            .await
            .is_err(),
        "a closed request stays closed"
    );
    let order: Value = client()
        .get(server.url(&format!("/v1/order/{order_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "deleted");
    // The unpaid order made above announced itself too: four webhooks in all.
    let webhooks = receiver.wait_for(4).await;
    let events: Vec<Value> = webhooks.iter().map(Received::json).collect();
    assert!(
        events
            .iter()
            .any(|event| event["event"] == "product.returned" && event["order_id"] == order_id),
        "{events:?}"
    );
    assert!(commands::verify(&server.context).await.unwrap().ok);
    server.stop().await;
}

async fn unpaid_payments_are_deleted_after_ninety_days(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (token, _) = token(&server, &merchant).await;
    let (_, created) = pay(&server, &token, minimal()).await;
    let order_id = created["order_id"].as_i64().unwrap();
    server.clock.advance_seconds(90 * 86_400 - 60);
    let (renewed, _) = self::token(&server, &merchant).await;
    let status = |token: String| {
        let url = server.url(&format!("/v1/order/{order_id}"));
        async move {
            client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["status"]
                .clone()
        }
    };
    assert_eq!(status(renewed.clone()).await, "not paid");
    server.clock.advance_seconds(61);
    let mut last = Value::Null;
    for _ in 0..400 {
        last = status(renewed.clone()).await;
        if last == "deleted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(last, "deleted");
    server.stop().await;
}

async fn idempotency_and_card_verification(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (token, _) = token(&server, &merchant).await;
    let send = || {
        client()
            .post(server.url("/v1/payment"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "retry-1")
            .json(&minimal())
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let second: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(
        first, second,
        "a retried request with its key creates nothing new"
    );
    let (_, parent) = pay(
        &server,
        &token,
        with(
            with(minimal(), "/amount", json!("0")),
            "/recurring_indicator",
            json!(true),
        ),
    )
    .await;
    let verification = client()
        .post(server.url("/v1/payment/card/verification"))
        .bearer_auth(&token)
        .json(&json!({ "order_id": parent["order_id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(verification.status(), StatusCode::OK);
    assert!(
        verification.json::<Value>().await.unwrap()["payment_url"]
            .as_str()
            .unwrap()
            .contains("/order/status/")
    );
    let refused: Value = client()
        .post(server.url("/v1/payment/card/verification"))
        .bearer_auth(&token)
        .json(&json!({ "order_id": first["order_id"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&refused)[0].0, 6220);
    let unknown = client()
        .get(server.url("/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(codes(&unknown.json().await.unwrap())[0].0, 404);
    server.stop().await;
}

on_both_backends!(
    every_error_code_in_process,
    tokens_expire_and_refresh,
    the_seeds_examples,
    the_order_link_is_paid_and_reported,
    unpaid_payments_are_deleted_after_ninety_days,
    idempotency_and_card_verification,
);
