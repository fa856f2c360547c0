//! Softline's refund requests, carried out by an operator at the command line, for a payment a
//! live route settled: the refund is made at the provider first and booked once.

use obol_server::commands;
use obol_testkit::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Pair, browser, pair};

async fn softline_token(pair: &Pair) -> String {
    let body: Value = browser()
        .post(pair.a.url("/v1/login_check"))
        .json(&json!({ "username": pair.merchant.api_login, "password": pair.merchant.api_secret }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// A live Softline payment paid through the route, then a refund request carried out with
/// `obol refund-request close`: B refunds it once, A books it once, the order is `deleted`.
pub async fn a_refund_request_is_carried_out_at_the_provider(database: TestDatabase) {
    let pair = pair(database, true).await;
    let token = softline_token(&pair).await;
    let created: Value = browser()
        .post(pair.a.url("/v1/payment"))
        .bearer_auth(&token)
        .json(&json!({
            "currency": "RUB",
            "amount": "112.50",
            "return_success_url": "https://shop.example/ok",
            "payment_method": "CreditCard",
            "payment_id": "SL-1",
            "customer": { "email": "customer@example.com", "first_name": "Ivan", "last_name": "Petrov" }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id = created["order_id"].as_i64().expect("an order id");
    let link = browser()
        .get(created["payment_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), StatusCode::SEE_OTHER);
    let page = link.headers()["location"].to_str().unwrap().to_owned();
    let cpi = page
        .split("cpi=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap()
        .to_owned();
    let confirmation = pair.choose_card(&cpi).await;
    let back = pair
        .pay_at_provider(&confirmation, "4242424242424242")
        .await;
    browser().get(&back).send().await.unwrap();
    assert_eq!(pair.payment(&cpi).await.status.as_str(), "processed");

    let opened: Value = browser()
        .post(pair.a.url(&format!("/v1/order/{order_id}/refund")))
        .bearer_auth(&token)
        .json(&json!({ "description": "Broken", "email": "customer@example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(opened["status"], "open", "{opened}");
    let listed = commands::list_refund_requests(&pair.a.context)
        .await
        .unwrap();
    let request = listed
        .refund_requests
        .iter()
        .find(|request| request.order_id == Some(order_id))
        .unwrap();
    let done = commands::close_refund_request(&pair.a.context, request.id, false)
        .await
        .unwrap();
    assert_eq!(done.status, "done");
    assert!(
        commands::close_refund_request(&pair.a.context, request.id, false)
            .await
            .is_err(),
        "a closed request stays closed, and refunds nothing more"
    );
    let upstream_id = pair.payment(&cpi).await.upstream_id.clone().unwrap();
    let refunds = pair
        .at_provider(&format!("refunds?payment_id={upstream_id}"))
        .await;
    let items = refunds["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{refunds}");
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!(items[0]["amount"]["value"], "112.50");
    let payment = pair.payment(&cpi).await;
    assert_eq!(payment.status.as_str(), "refunded");
    assert_eq!(payment.refunded_amount.to_decimal_string(), "112.50");
    let order: Value = browser()
        .get(pair.a.url(&format!("/v1/order/{order_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "deleted");
    pair.verified().await;
    pair.stop().await;
}
