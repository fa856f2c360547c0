//! From any door: a live payment made through Softline or ActivePlatform goes through the route
//! exactly as a Paymega invoice does, Paymega lists the route's card service to the merchants it
//! serves (and only to them), and a currency no route serves is never paid online.

use std::time::Duration;

use obol_server::commands::{self, MerchantOptions};
use obol_testkit::{CallbackReceiver, Received, TestDatabase, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Pair, ROUTE, browser, pair};

/// The payment id (`cpi_…`) a hosted page's address names.
fn cpi_of(url: &str) -> String {
    url.split("cpi=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_else(|| panic!("no cpi in {url}"))
        .to_owned()
}

/// The customer pays the payment `id`, already on A's page, at B and comes back to A; where A
/// sends them then.
async fn pay_through_the_route(pair: &Pair, id: &str) -> String {
    let confirmation = pair.choose_card(id).await;
    let sent = pair.payment(id).await;
    assert_eq!(sent.route.as_deref(), Some(ROUTE));
    let upstream_id = sent.upstream_id.clone().expect("the provider's id is kept");
    let at_b = pair.at_provider(&format!("payments/{upstream_id}")).await;
    assert_eq!(at_b["metadata"]["obol_payment_id"], id);
    assert_eq!(at_b["amount"]["value"], "100.00");
    let back = pair
        .pay_at_provider(&confirmation, "4242424242424242")
        .await;
    assert_eq!(back, pair.a.url(&format!("/hpp/return?cpi={id}")));
    let returned = browser().get(&back).send().await.unwrap();
    assert_eq!(returned.status(), StatusCode::SEE_OTHER);
    returned.headers()["location"].to_str().unwrap().to_owned()
}

/// A Softline payment of A's live merchant: its order link opens A's page with the route's
/// card method, the customer pays at B, and Softline's own API and webhook say `paid`, once,
/// with the card B reported. The money is booked against `clearing:main`, in live accounts.
pub async fn a_softline_payment_goes_through_the_route(database: TestDatabase) {
    let pair = pair(database, true).await;
    let webhooks = CallbackReceiver::start().await;
    let reseller = commands::create_reseller(&pair.a.context, "Softline reseller", None)
        .await
        .unwrap();
    let merchant = commands::create_merchant(
        &pair.a.context,
        MerchantOptions {
            name: "Softline shop".into(),
            reseller: reseller.id,
            live: true,
            webhook_url: Some(webhooks.url().to_owned()),
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let login: Value = browser()
        .post(pair.a.url("/v1/login_check"))
        .json(&json!({ "username": merchant.api_login, "password": merchant.api_secret }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a bearer token").to_owned();
    let created = browser()
        .post(pair.a.url("/v1/payment"))
        .bearer_auth(&token)
        .json(&json!({
            "currency": "RUB",
            "amount": "100.00",
            "return_success_url": "https://shop.example/softline/paid",
            "payment_method": "CreditCard",
            "payment_id": "SL-1",
            "customer": { "email": "customer@gmail.com", "first_name": "Ivan", "last_name": "Petrov" }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let created: Value = created.json().await.unwrap();
    let order_id = created["order_id"].as_i64().expect("an order id");
    let link = created["payment_url"].as_str().unwrap().to_owned();
    let read_order = || async {
        let response = browser()
            .get(pair.a.url(&format!("/v1/order/{order_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    assert_eq!(read_order().await["status"], "not paid");

    let opened = browser().get(&link).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER, "the order link");
    let page_url = opened.headers()["location"].to_str().unwrap().to_owned();
    let id = cpi_of(&page_url);
    let page = browser()
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("value=\"payment_card_rub_hpp\"") && !page.contains("card_number"),
        "the order link's page offers the route's card method, and no card form: {page}"
    );
    let stored = pair.payment(&id).await;
    assert!(
        !stored.test_mode,
        "a live merchant's Softline payment is live"
    );

    let after = pay_through_the_route(&pair, &id).await;
    assert_eq!(
        after, "https://shop.example/softline/paid",
        "the customer goes on to Softline's return_success_url"
    );
    assert_eq!(pair.payment(&id).await.status.as_str(), "processed");
    let order = read_order().await;
    assert_eq!(order["status"], "paid", "{order}");
    assert!(order["pay_date"].is_string(), "{order}");
    // The order link of a paid order goes back to the shop, never to a second payment.
    let again = browser().get(&link).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        again.headers()["location"],
        "https://shop.example/softline/paid"
    );

    // The webhooks: created, then paid with the card B reported; B's notification arrives too
    // and adds nothing.
    webhooks.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let events: Vec<Value> = webhooks.all().iter().map(Received::json).collect();
    assert_eq!(events[0]["event"], "order.created", "{events:?}");
    let paid: Vec<&Value> = events
        .iter()
        .filter(|event| event["event"] == "order.payment.succeeded")
        .collect();
    assert_eq!(paid.len(), 1, "one webhook says paid: {events:?}");
    assert_eq!(paid[0]["order_id"], order_id);
    assert_eq!(paid[0]["status"], "paid");
    assert_eq!(paid[0]["payment"]["card_last_4"], "4242");
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("-100.00")
    );
    assert_eq!(
        pair.balance(&format!("merchant:{}", merchant.id))
            .await
            .as_deref(),
        Some("97.50"),
        "the route's fee applies to Softline's payment as to any"
    );
    pair.verified().await;
    pair.stop().await;
}

const MEDIA: &str = "application/vnd.api+json";

/// A call to A's ActivePlatform API as the manager holding `token`.
async fn activeplatform(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = browser()
        .request(method, server.url(path))
        .header("X-Api-Token", token)
        .header("Accept", MEDIA);
    if let Some(body) = body {
        request = request.header("Content-Type", MEDIA).body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A reseller of A with a customer account and a manager; a payment of `total` in `currency`
/// made by the manager: its API path, its page's address and the manager's token.
async fn managers_payment(
    server: &TestServer,
    total: &str,
    currency: &str,
) -> (String, String, String) {
    let reseller = commands::create_reseller(&server.context, "Hosting", None)
        .await
        .unwrap()
        .id;
    let account = commands::create_customer_account(&server.context, reseller, "Payer")
        .await
        .unwrap()
        .id;
    let token = commands::create_manager(&server.context, reseller, "manager", "M")
        .await
        .unwrap()
        .api_token;
    let (status, created) = activeplatform(
        server,
        Method::POST,
        &format!("/api/v3/resellers/{reseller}/payments"),
        &token,
        Some(json!({ "data": { "attributes": {
            "account_id": account, "total": total, "currency_code": currency,
            "comment": "online", "purpose": "Hosting"
        } } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    let path = format!("/api/v3/resellers/{reseller}/payments/{id}");
    let (status, read) = activeplatform(server, Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["data"]["attributes"]["status"], "waiting_for_payment");
    let page = read["data"]["links"]["payment_page"]
        .as_str()
        .unwrap_or_else(|| panic!("a payment link: {read}"))
        .to_owned();
    (path, page, token)
}

/// A manager's payment in RUB (a reseller's own payment: it uses the first route serving its
/// currency) is paid on its page through B and ends `completed` in ActivePlatform's API, booked
/// once against `clearing:main` in live accounts.
pub async fn an_activeplatform_payment_goes_through_the_route(database: TestDatabase) {
    let pair = pair(database, true).await;
    let (path, page, token) = managers_payment(&pair.a, "100.0", "RUB").await;
    assert!(page.starts_with(&pair.a.url("/hpp/?cpi=")), "{page}");
    let id = cpi_of(&page);
    let after = pay_through_the_route(&pair, &id).await;
    assert!(
        after.starts_with(&format!("/hpp/result?cpi={id}")),
        "no return URL: the result page ({after})"
    );
    let result = browser().get(pair.a.url(&after)).send().await.unwrap();
    assert_eq!(result.status(), StatusCode::OK);
    let (status, read) = activeplatform(&pair.a, Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["data"]["attributes"]["status"], "completed", "{read}");
    // Paid online, it cannot be completed offline as well.
    let (status, _) = activeplatform(
        &pair.a,
        Method::PATCH,
        &path,
        &token,
        Some(json!({ "data": { "attributes": { "payment_method_id": 2 } } })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("-100.00")
    );
    pair.verified().await;
    pair.stop().await;
}

/// The route's card service in Paymega's lists: A's live merchant has it (`test_mode: false`,
/// the route's fee) in `payment-services` and the pre-request; a test merchant of A has the
/// sandbox's service of that code instead, never the route's.
pub async fn paymega_lists_the_routes_card_service_to_live_merchants_only(database: TestDatabase) {
    let pair = pair(database, true).await;
    let test_merchant = pair.a.merchant(false, false).await;
    for (merchant, live) in [(&pair.merchant, true), (&test_merchant, false)] {
        let list: Value = browser()
            .get(pair.a.url("/api/payment-services?page[size]=100"))
            .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cards: Vec<&Value> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["attributes"]["service"] == "payment_card_rub_hpp")
            .collect();
        assert_eq!(cards.len(), 1, "one card service in RUB: {list}");
        let attributes = &cards[0]["attributes"];
        assert_eq!(attributes["test_mode"], !live, "{attributes}");
        assert_eq!(attributes["currency"], "RUB");
        if live {
            assert_eq!(attributes["fee_rate"].to_string(), "2.5", "the route's fee");
            assert_eq!(
                list["meta"]["total"], 1,
                "a live merchant has no sandbox service: {list}"
            );
        } else {
            assert_ne!(attributes["fee_rate"].to_string(), "2.5", "{attributes}");
        }
        // The service is found by its list id and by its code, the same one.
        let link = cards[0]["id"].as_str().unwrap();
        for key in [link, "payment_card_rub_hpp"] {
            let one: Value = browser()
                .get(pair.a.url(&format!("/api/payment-services/{key}")))
                .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(one["data"]["id"], link, "{key}: {one}");
            assert_eq!(one["data"]["attributes"]["test_mode"], !live, "{key}");
        }
        let prerequest: Value = browser()
            .post(pair.a.url("/public-api/payment-prerequest"))
            .json(&json!({ "public_key": merchant.public_key, "currency": "RUB" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = &prerequest["data"];
        assert_eq!(data["test_mode"], !live, "{prerequest}");
        assert_eq!(
            data["services"]["payment_card_rub_hpp"]["flow"], "hpp",
            "{prerequest}"
        );
        assert_eq!(
            data["services"].get("test_rub_test").is_some(),
            !live,
            "the test method is the sandbox's: {prerequest}"
        );
        // No route serves USD: the live merchant has nothing to offer in it.
        let usd: Value = browser()
            .post(pair.a.url("/public-api/payment-prerequest"))
            .json(&json!({ "public_key": merchant.public_key, "currency": "USD" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            usd["data"]["services"].as_object().unwrap().is_empty(),
            live,
            "{usd}"
        );
    }
    pair.stop().await;
}

/// A live payment in USD, which the route does not serve, through Paymega and ActivePlatform:
/// its page says online payment is not available and offers nothing, every form posted to it
/// anyway is refused with 403, and nothing reaches B.
pub async fn a_currency_the_route_does_not_serve_is_not_paid_online(database: TestDatabase) {
    let pair = pair(database, true).await;
    // A live invoice through the public form, which needs no service.
    let created = browser()
        .post(pair.a.url("/public-api/payment-invoices/process"))
        .form(&[
            ("public_key", pair.merchant.public_key.as_str()),
            ("currency", "USD"),
            ("amount", "100.00"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let invoice = cpi_of(created.headers()["location"].to_str().unwrap());
    // A route's card service in another currency is not the merchant's to use in USD.
    let refused = browser()
        .post(pair.a.url("/api/payment-invoices"))
        .basic_auth(&pair.merchant.api_login, Some(&pair.merchant.api_secret))
        .json(
            &json!({ "data": { "type": "payment-invoices", "attributes": {
                "reference_id": "usd-2", "amount": "100.00", "currency": "USD",
                "service": "payment_card_usd_hpp",
            }}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, page, _) = managers_payment(&pair.a, "100.0", "USD").await;
    let managers = cpi_of(&page);

    for id in [invoice, managers] {
        let page = browser()
            .get(pair.a.url(&format!("/hpp/?cpi={id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("Online payment is not available"), "{html}");
        for absent in ["payment_card_", "test_usd_test", "card_number", "<form"] {
            assert!(!html.contains(absent), "no {absent} on the page: {html}");
        }
        // A CSRF token from elsewhere does not open a way to pay.
        let csrf = obol_server::tokens::issue(
            &pair.a.context.key().unwrap().clone(),
            obol_server::tokens::purpose::CSRF,
            &id,
            obol_core::time::Clock::now(pair.a.clock.as_ref()).plus_seconds(600),
        );
        for (step, form) in [
            ("choose", vec![("service", "payment_card_rub_hpp")]),
            ("choose", vec![("service", "payment_card_usd_hpp")]),
            (
                "pay",
                vec![
                    ("card_number", "4242424242424242"),
                    ("card_expiry", "12/39"),
                    ("card_cvv", "123"),
                ],
            ),
            ("test", vec![("status", "processed")]),
        ] {
            let mut form = form;
            form.push(("csrf_token", csrf.as_str()));
            let answer = browser()
                .post(pair.a.url(&format!("/hpp/{step}?cpi={id}")))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{step}: {form:?}");
            let text = answer.text().await.unwrap();
            assert!(text.contains("Online payment is not available"), "{text}");
        }
        let payment = pair.payment(&id).await;
        assert!(payment.status.is_open(), "{:?}", payment.status);
        assert_eq!(payment.route, None);
        assert_eq!(payment.upstream_id, None);
    }
    let at_b = pair.at_provider("payments").await;
    assert_eq!(at_b["items"], json!([]), "nothing reached the provider");
    pair.verified().await;
    pair.stop().await;
}
