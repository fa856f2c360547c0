//! Test and live never meet (SPEC §2), and a public key never reveals another invoice (SPEC
//! §3.1): the attacks of a caller holding only a merchant's published key.

use obol_core::ledger::AccountCode;
use obol_core::{Currency, Mode};
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{client, private_post, seed_example};

async fn balance(server: &TestServer, merchant: i64, mode: Mode) -> i64 {
    let account = AccountCode::merchant(obol_core::ids::MerchantId::new(merchant));
    server
        .context
        .store
        .read(move |db| {
            Box::pin(async move {
                obol_store::ops::ledger::balance(db, &account, mode, Currency::USD).await
            })
        })
        .await
        .unwrap()
        .minor()
}

/// A live merchant's public key makes live invoices only: `test_mode` there is a 422 on the
/// public API, the form and the hosted checkout. A live merchant's test invoice (its private
/// API) settled by the `test` method books into test accounts and leaves its live balance as
/// it was.
async fn live_keys_make_live_invoices_and_test_money_stays_test(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let live = server.merchant(true, false).await;
    assert!(live.public_key.starts_with("pk_live_"));
    let http = client();
    for test_mode in [json!(true), json!(false)] {
        let answer = http
            .post(server.url("/public-api/payment-invoices"))
            .json(
                &json!({ "public_key": live.public_key, "currency": "USD", "amount": 10,
                           "test_mode": test_mode, "service": "test_usd_test",
                           "service_fields": { "status": "processed" },
                           "callback_url": "https://attacker.example/cb" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = answer.json().await.unwrap();
        assert!(body["errors"]["test_mode"].is_string(), "{body}");
    }
    let form = http
        .post(server.url("/public-api/payment-invoices/process"))
        .form(&[
            ("public_key", live.public_key.as_str()),
            ("currency", "USD"),
            ("amount", "10"),
            ("test_mode", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let checkout = http
        .get(server.url(&format!(
            "/hpp/?public_key={}&amount=10&currency=USD&test_mode=true",
            live.public_key
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(checkout.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Without `test_mode` the public key makes a live invoice (here through the form, which
    // needs no service), whose page offers no sandbox.
    let created = http
        .post(server.url("/public-api/payment-invoices/process"))
        .form(&[
            ("public_key", live.public_key.as_str()),
            ("currency", "USD"),
            ("amount", "10"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let page_url = created.headers()["location"].to_str().unwrap().to_owned();
    let page = http
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Online payment is not available"), "{page}");
    assert!(!page.contains("card_number"), "{page}");

    // The private API's test invoice, paid at once by the `test` method.
    let live_before = balance(&server, live.id, Mode::Live).await;
    let (status, test_invoice) = private_post(
        &server,
        &live,
        "/api/payment-invoices",
        json!({ "data": { "type": "payment-invoices", "attributes": {
            "reference_id": "test-1", "amount": 25, "currency": "USD", "test_mode": true,
            "service": "test_usd_test", "service_fields": { "status": "processed" } } } }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{test_invoice}");
    assert_eq!(test_invoice["data"]["attributes"]["status"], "processed");
    assert_eq!(test_invoice["data"]["attributes"]["test_mode"], true);
    assert_eq!(balance(&server, live.id, Mode::Live).await, live_before);
    assert_eq!(balance(&server, live.id, Mode::Test).await, 2_500);
    let balances = obol_server::commands::balances(&server.context, Some(live.id))
        .await
        .unwrap();
    assert_eq!(balances.balances.len(), 1, "{balances:?}");
    assert_eq!(balances.balances[0].mode, "test");
    assert_eq!(balances.balances[0].amount, "25.00");
    let unknown = obol_server::commands::balances(&server.context, Some(999_999)).await;
    assert!(
        unknown.is_err_and(|error| error.to_string().contains("merchant 999999 does not exist")),
        "an unknown merchant has no balances to show"
    );
    assert!(
        obol_server::commands::verify(&server.context)
            .await
            .unwrap()
            .ok
    );
    server.stop().await;
}

/// A repeated `reference_id` through the public API, the form or the hosted checkout shows the
/// existing invoice only for the same checkout again; a guess reveals nothing and opens no page.
async fn a_guessed_reference_reveals_nothing(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    // The merchant's own invoice, made through its private API.
    let (status, private) = private_post(
        &server,
        &merchant,
        "/api/payment-invoices",
        seed_example("order-77"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{private}");
    let private_id = private["data"]["id"].as_str().unwrap().to_owned();
    let http = client();
    let guess = json!({ "public_key": merchant.public_key, "currency": "USD", "amount": 100,
                        "reference_id": "order-77", "service": "payment_card_usd_hpp" });
    let answer = http
        .post(server.url("/public-api/payment-invoices"))
        .json(&guess)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    let text = answer.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["errors"][0]["code"], "409");
    assert!(body.get("data").is_none(), "{body}");
    assert!(!text.contains(&private_id), "the id never leaks: {text}");
    let form = http
        .post(server.url("/public-api/payment-invoices/process"))
        .form(&[
            ("public_key", merchant.public_key.as_str()),
            ("currency", "USD"),
            ("amount", "100"),
            ("reference_id", "order-77"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::CONFLICT);
    assert!(form.headers().get("location").is_none());
    assert!(!form.text().await.unwrap().contains(&private_id));
    let checkout = http
        .get(server.url(&format!(
            "/hpp/?public_key={}&amount=100&currency=USD&reference_id=order-77",
            merchant.public_key
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(checkout.status(), StatusCode::CONFLICT);
    assert!(checkout.headers().get("location").is_none());

    // A public checkout submitted twice: the same checkout again finds its invoice; another
    // amount with its reference does not.
    let mine = json!({ "public_key": merchant.public_key, "currency": "USD", "amount": 12,
                       "reference_id": "cart-9", "service": "payment_card_usd_hpp" });
    let first: Value = http
        .post(server.url("/public-api/payment-invoices"))
        .json(&mine)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = http
        .post(server.url("/public-api/payment-invoices"))
        .json(&mine)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"]["id"], first["data"]["id"], "{again}");
    let other = http
        .post(server.url("/public-api/payment-invoices"))
        .json(
            &json!({ "public_key": merchant.public_key, "currency": "USD", "amount": 13,
                       "reference_id": "cart-9", "service": "payment_card_usd_hpp" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::CONFLICT);
    let other: Value = other.json().await.unwrap();
    assert!(other.get("data").is_none(), "{other}");
    server.stop().await;
}

on_both_backends!(
    live_keys_make_live_invoices_and_test_money_stays_test,
    a_guessed_reference_reveals_nothing,
);
