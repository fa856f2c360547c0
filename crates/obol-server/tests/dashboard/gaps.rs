//! What the other areas leave out: a paid Softline payment's refund request carried out from
//! the dashboard, the balances' scope, and the payments' search by a customer's email.

use obol_core::Currency;
use obol_core::ids::{MerchantId, PaymentId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, CardPayload, Payment, PaymentEvent};
use obol_server::commands::{self, MerchantOptions};
use obol_store::ops::payments;
use obol_testkit::{TestDatabase, TestServer, draft};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{attribute, client, reseller, staff};

async fn merchant(server: &TestServer, reseller: i64, name: &str) -> commands::MerchantOutput {
    commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: name.into(),
            reseller,
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap()
}

/// Pays a payment with a card, through the core as the sandbox would.
async fn pay(server: &TestServer, id: &PaymentId) -> Payment {
    let outbox = server.outbox();
    let now = server.context.clock.now();
    let id = id.clone();
    server
        .context
        .store
        .write(move |db| {
            Box::pin(async move {
                outbox
                    .transition(
                        db,
                        &id,
                        PaymentEvent::AttemptStarted {
                            service_id: None,
                            method_id: None,
                        },
                        Actor::Customer,
                        now,
                    )
                    .await?;
                let card = CardPayload {
                    first6: "424242".into(),
                    last4: "4242".into(),
                    brand: "visa".into(),
                    expiry_month: 12,
                    expiry_year: 2034,
                    holder: Some("Jane Doe".into()),
                    issuer: None,
                };
                let (payment, _) = outbox
                    .transition(
                        db,
                        &id,
                        PaymentEvent::Succeeded { card: Some(card) },
                        Actor::Provider,
                        now,
                    )
                    .await?;
                Ok(payment)
            })
        })
        .await
        .unwrap()
}

async fn read(server: &TestServer, id: &PaymentId) -> Payment {
    let id = id.clone();
    server
        .context
        .store
        .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
        .await
        .unwrap()
        .unwrap()
}

async fn softline_order(server: &TestServer, token: &str, order_id: i64) -> Value {
    client()
        .get(server.url(&format!("/v1/order/{order_id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A paid Softline payment's refund request, carried out by a manager from the dashboard:
/// the payment is refunded in full, the order `deleted`, the request closed and audited; a
/// second carry-out is refused and refunds nothing more.
pub async fn gaps_a_paid_softline_refund_request_is_carried_out_once(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let shop = merchant(&server, top, "Shop").await;
    let login: Value = client()
        .post(server.url("/v1/login_check"))
        .json(&json!({ "username": shop.api_login, "password": shop.api_secret }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a token").to_owned();
    let created: Value = client()
        .post(server.url("/v1/payment"))
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
    let link = client()
        .get(created["payment_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), StatusCode::SEE_OTHER);
    let location = link.headers()["location"].to_str().unwrap().to_owned();
    let cpi = location
        .split("cpi=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap()
        .to_owned();
    let id = PaymentId::parse(&cpi).unwrap();
    let paid = pay(&server, &id).await;
    assert_eq!(paid.status.as_str(), "processed");

    let opened: Value = client()
        .post(server.url(&format!("/v1/order/{order_id}/refund")))
        .bearer_auth(&token)
        .json(&json!({ "description": "Broken", "email": "customer@example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(opened["status"], "open", "{opened}");

    let (manager, _) = staff(&server, top, "manager", "Mia").await;
    let (status, list) = manager.get(&server, "/dashboard/refund-requests").await;
    assert_eq!(status, StatusCode::OK);
    let request = attribute(&list, "action=\"/dashboard/refund-requests/");
    let request = request.trim_end_matches("/carry-out").to_owned();
    assert!(list.contains("112.50"), "{list}");
    let path = format!("/dashboard/refund-requests/{request}/carry-out");

    let (status, location, _) = manager.post(&server, &path, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/refund-requests"));
    let refunded = read(&server, &id).await;
    assert_eq!(refunded.status.as_str(), "refunded");
    assert_eq!(refunded.refunded_amount.to_decimal_string(), "112.50");
    let order = softline_order(&server, &token, order_id).await;
    assert_eq!(order["status"], "deleted", "{order}");
    let (_, list) = manager.get(&server, "/dashboard/refund-requests").await;
    assert!(
        !list.contains(&format!("/dashboard/refund-requests/{request}/")),
        "no longer open: {list}"
    );
    let (_, log) = manager.get(&server, "/dashboard/audit").await;
    assert!(
        log.contains("refund_request.carry_out")
            && log.contains(&format!("refund_request:{request}")),
        "{log}"
    );

    let (status, _, page) = manager.post(&server, &path, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("no longer open"), "{page}");
    let again = read(&server, &id).await;
    assert_eq!(again.refunded_amount.to_decimal_string(), "112.50");
    assert_eq!(again.version, refunded.version, "refunded nothing more");
}

/// The `<tr>` of the balances page whose account is `account`, if shown.
fn balance_row<'a>(html: &'a str, account: &str) -> Option<&'a str> {
    let marker = format!("<code>{account}</code>");
    html.split("<tr>").find(|row| row.contains(&marker))
}

async fn paid_payment(server: &TestServer, reseller: i64, merchant: i64, minor: i64) -> Payment {
    let draft = draft(
        ResellerId::new(reseller),
        MerchantId::new(merchant),
        Money::from_minor(minor, Currency::USD).unwrap(),
    )
    .build()
    .unwrap();
    let payment = server
        .insert_payment(draft, Some("payment_card_usd_hpp"))
        .await;
    pay(server, &payment.id).await
}

/// A child reseller's admin sees its merchant's balance and nothing of its sibling's nor the
/// operator's; the root reseller's manager sees the operator's accounts too.
pub async fn gaps_balances_are_scoped_to_the_subtree(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let child = reseller(&server, "Child", Some(top)).await;
    let sibling = reseller(&server, "Sibling", Some(top)).await;
    let own = merchant(&server, child, "Own").await;
    let other = merchant(&server, sibling, "Other").await;
    let first = paid_payment(&server, child, own.id, 1_000).await;
    let second = paid_payment(&server, child, own.id, 250).await;
    paid_payment(&server, sibling, other.id, 777).await;
    let expected = first.deposit.checked_add(second.deposit).unwrap();

    let (admin, _) = staff(&server, child, "admin", "Ada").await;
    let (status, html) = admin.get(&server, "/dashboard/balances").await;
    assert_eq!(status, StatusCode::OK);
    let row = balance_row(&html, &format!("merchant:{}", own.id))
        .unwrap_or_else(|| panic!("its merchant's account in {html}"));
    assert!(
        row.contains(&format!(">{}<", expected.to_decimal_string())) && row.contains("USD"),
        "{} in {row}",
        expected.to_decimal_string()
    );
    assert!(
        balance_row(&html, &format!("merchant:{}", other.id)).is_none(),
        "not its sibling's merchant: {html}"
    );
    assert!(
        !html.contains("clearing:") && !html.contains("operator:fees"),
        "not the operator's: {html}"
    );

    let (root, _) = staff(&server, 1, "manager", "Root").await;
    let (status, html) = root.get(&server, "/dashboard/balances").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<code>clearing:"), "{html}");
    // No route charged a fee here, so `operator:fees` has no postings to show; the clearing
    // account stands for the operator's accounts.
    assert!(balance_row(&html, &format!("merchant:{}", own.id)).is_some());
    assert!(balance_row(&html, &format!("merchant:{}", other.id)).is_some());
}

async fn paymega_invoice(
    server: &TestServer,
    shop: &commands::MerchantOutput,
    reference: &str,
    email: &str,
) -> String {
    let response = client()
        .post(server.url("/api/payment-invoices"))
        .basic_auth(&shop.api_login, Some(&shop.api_secret))
        .json(
            &json!({ "data": { "type": "payment-invoices", "attributes": {
            "reference_id": reference, "amount": 10, "currency": "USD",
            "service": "payment_card_usd_hpp",
            "customer": { "reference_id": reference, "email": email, "name": "John Wick" }
        } } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["data"]["id"].as_str().expect("an id").to_owned()
}

/// The payments' search finds a Paymega invoice by its customer's email, whatever its case,
/// and lists no other.
pub async fn gaps_payments_are_found_by_customer_email(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let shop = merchant(&server, top, "Shop").await;
    let wanted = paymega_invoice(&server, &shop, "a-1", "john@example.com").await;
    let other = paymega_invoice(&server, &shop, "a-2", "jane@example.com").await;
    let (viewer, _) = staff(&server, top, "viewer", "Vera").await;

    for query in ["john@example.com", "John@Example.COM"] {
        let (status, html) = viewer
            .get(&server, &format!("/dashboard/payments?q={query}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains(&format!("href=\"/dashboard/payments/{wanted}\"")),
            "{query} finds {wanted}: {html}"
        );
        assert!(!html.contains(&other), "{query} lists not {other}");
    }
    let (_, html) = viewer
        .get(&server, "/dashboard/payments?q=nobody@example.com")
        .await;
    assert!(!html.contains(&wanted) && !html.contains(&other));
}
