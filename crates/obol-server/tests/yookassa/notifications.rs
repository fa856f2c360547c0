//! The sandbox's notifications, as YooKassa sends them, to the shop's webhook URL through the
//! callbacks outbox: every status change of a payment and every refund, the object exactly as
//! `GET` shows it, signed with Obol's headers, retried, and in order per payment; and a
//! redirect confirmation that sends the customer back to `return_url`.

use std::time::Duration;

use obol_server::callbacks::signature;
use obol_server::commands::{self, MerchantOptions, MerchantOutput};
use obol_store::testing::inspect;
use obol_testkit::{
    Behaviour, CallbackReceiver, Received, TestDatabase, TestServer, on_both_backends,
};
use reqwest::{Client, Method};
use serde_json::json;

use crate::sandbox::{Shop, new_payment, pay};

/// A shop (an Obol merchant) whose webhook URL is `url`.
pub(crate) async fn shop_with_webhook(server: &TestServer, url: &str) -> (MerchantOutput, Shop) {
    let reseller = commands::create_reseller(&server.context, "R", None)
        .await
        .unwrap();
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Shop".into(),
            reseller: reseller.id,
            webhook_url: Some(url.to_owned()),
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let shop = Shop {
        login: merchant.api_login.clone(),
        secret: merchant.api_secret.clone(),
    };
    (merchant, shop)
}

/// Waits until the callbacks of the server have at least this many attempts in all.
async fn attempts_recorded(server: &TestServer, attempts: i64) {
    for _ in 0..300 {
        let callbacks = server
            .context
            .store
            .read(|db| Box::pin(inspect::all_callbacks(db)))
            .await
            .unwrap();
        if callbacks
            .iter()
            .map(|callback| callback.attempts)
            .sum::<i64>()
            >= attempts
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{attempts} attempts were never recorded");
}

fn event(received: &Received) -> String {
    received.json()["event"].as_str().unwrap().to_owned()
}

async fn notifications_report_every_change(database: TestDatabase) {
    let server = TestServer::start(database).await;
    // The first delivery fails: it is retried, and nothing of that payment overtakes it.
    let receiver = CallbackReceiver::scripted(&[Behaviour::Answer(500)]).await;
    let (merchant, shop) = shop_with_webhook(&server, receiver.url()).await;

    let (_, created) = shop
        .send(
            &server,
            Method::POST,
            "/payments",
            None,
            Some(new_payment("100.00", false)),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.count(),
        0,
        "a pending payment's creation is not notified"
    );

    pay(
        &server,
        created["confirmation"]["confirmation_token"]
            .as_str()
            .unwrap(),
        "4242424242424242",
    )
    .await;
    let first = receiver.wait_for(1).await;
    assert_eq!(event(&first[0]), "payment.waiting_for_capture");
    attempts_recorded(&server, 1).await;

    // Captured while the first notification waits for its retry.
    let (status, captured) = shop
        .send(
            &server,
            Method::POST,
            &format!("/payments/{id}/capture"),
            Some("capture-1"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{captured}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.count(),
        1,
        "nothing overtakes the failed notification"
    );

    server.clock.advance_seconds(40);
    let received = receiver.wait_for(3).await;
    let events: Vec<String> = received.iter().map(event).collect();
    assert_eq!(
        events,
        [
            "payment.waiting_for_capture",
            "payment.waiting_for_capture",
            "payment.succeeded"
        ]
    );
    assert_eq!(
        received[0].body, received[1].body,
        "a retry sends the same body"
    );
    assert_eq!(
        received[0].header("x-obol-delivery-id"),
        received[1].header("x-obol-delivery-id")
    );
    assert_ne!(
        received[1].header("x-obol-delivery-id"),
        received[2].header("x-obol-delivery-id")
    );
    let held = received[1].json();
    assert_eq!(held["type"], "notification");
    assert_eq!(held["object"]["id"], id);
    assert_eq!(held["object"]["status"], "waiting_for_capture");
    assert_eq!(held["object"]["paid"], true);
    assert_eq!(held["object"]["payment_method"]["card"]["last4"], "4242");
    // The succeeded payment exactly as GET shows it (and as the capture answered).
    let (_, read) = shop
        .send(&server, Method::GET, &format!("/payments/{id}"), None, None)
        .await;
    assert_eq!(received[2].json()["object"], read);
    assert_eq!(received[2].json()["object"], captured);

    // A refund is notified as refund.succeeded with the refund as GET shows it.
    let (status, refund) = shop
        .send(
            &server,
            Method::POST,
            "/refunds",
            Some("refund-1"),
            Some(json!({ "payment_id": id, "amount": { "value": "40.00", "currency": "RUB" } })),
        )
        .await;
    assert_eq!(status, 200, "{refund}");
    let received = receiver.wait_for(4).await;
    assert_eq!(event(&received[3]), "refund.succeeded");
    let (_, refund_read) = shop
        .send(
            &server,
            Method::GET,
            &format!("/refunds/{}", refund["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(received[3].json()["object"], refund_read);
    assert_eq!(received[3].json()["object"], refund);

    // A declined card cancels: payment.canceled.
    let (_, declined) = shop
        .send(
            &server,
            Method::POST,
            "/payments",
            None,
            Some(new_payment("5.00", true)),
        )
        .await;
    pay(
        &server,
        declined["confirmation"]["confirmation_token"]
            .as_str()
            .unwrap(),
        "4000000000000002",
    )
    .await;
    let received = receiver.wait_for(5).await;
    assert_eq!(event(&received[4]), "payment.canceled");
    assert_eq!(received[4].json()["object"]["id"], declined["id"]);
    assert_eq!(
        received[4].json()["object"]["cancellation_details"],
        json!({ "party": "payment_network", "reason": "general_decline" })
    );

    // Every delivery carries Obol's headers, signed with the shop's callback secret.
    for delivery in receiver.all() {
        assert!(
            signature::verify_obol(
                &delivery.header("x-obol-signature"),
                &merchant.callback_secret,
                &delivery.body
            ),
            "{delivery:?}"
        );
        assert!(!signature::verify_obol(
            &delivery.header("x-obol-signature"),
            "forged",
            &delivery.body
        ));
        assert_eq!(delivery.header("x-obol-mode"), "test");
        assert_eq!(delivery.header("x-obol-delivery-id").len(), 36);
        assert_eq!(delivery.header("content-type"), "application/json");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 5, "each change once, once delivered");
    server.stop().await;
}

/// A hold nobody captures is released at `expires_at` by the lifecycle worker: notified as
/// `payment.canceled` (`expired_on_capture`).
async fn a_released_hold_is_notified(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let receiver = CallbackReceiver::start().await;
    let (_, shop) = shop_with_webhook(&server, receiver.url()).await;
    let (_, created) = shop
        .send(
            &server,
            Method::POST,
            "/payments",
            None,
            Some(new_payment("10.00", false)),
        )
        .await;
    pay(
        &server,
        created["confirmation"]["confirmation_token"]
            .as_str()
            .unwrap(),
        "4242424242424242",
    )
    .await;
    receiver.wait_for(1).await;
    server.clock.advance_seconds(7 * 86_400);
    let received = receiver.wait_for(2).await;
    assert_eq!(
        received.iter().map(event).collect::<Vec<_>>(),
        ["payment.waiting_for_capture", "payment.canceled"]
    );
    let object = received[1].json()["object"].clone();
    assert_eq!(object["id"], created["id"]);
    assert_eq!(
        object["cancellation_details"],
        json!({ "party": "yoo_money", "reason": "expired_on_capture" })
    );
    server.stop().await;
}

/// A shop without a webhook URL gets no notification (and its payments work as before); another
/// shop's payments never reach this shop's URL.
async fn notifications_go_to_their_own_shop(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let receiver = CallbackReceiver::start().await;
    let (_, shop) = shop_with_webhook(&server, receiver.url()).await;
    let quiet = server.merchant(false, false).await;
    let quiet = Shop {
        login: quiet.api_login,
        secret: quiet.api_secret,
    };
    for owner in [&quiet, &shop] {
        let (_, created) = owner
            .send(
                &server,
                Method::POST,
                "/payments",
                None,
                Some(new_payment("10.00", true)),
            )
            .await;
        pay(
            &server,
            created["confirmation"]["confirmation_token"]
                .as_str()
                .unwrap(),
            "4242424242424242",
        )
        .await;
        if std::ptr::eq(owner, &shop) {
            let received = receiver.wait_for(1).await;
            assert_eq!(received[0].json()["object"]["id"], created["id"]);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 1);
    let callbacks = server
        .context
        .store
        .read(|db| Box::pin(inspect::all_callbacks(db)))
        .await
        .unwrap();
    assert_eq!(
        callbacks.len(),
        1,
        "nothing is written for a shop with no URL"
    );
    server.stop().await;
}

/// `confirmation.type: "redirect"`: the confirmation URL opens the hosted page, and after the
/// card step the customer is sent to `return_url`.
async fn redirect_confirmation_returns_to_the_shop(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let shop = Shop {
        login: merchant.api_login.clone(),
        secret: merchant.api_secret.clone(),
    };
    let mut body = new_payment("12.00", true);
    body["confirmation"] =
        json!({ "type": "redirect", "return_url": "https://shop.example/back?order=7" });
    let (_, created) = shop
        .send(&server, Method::POST, "/payments", None, Some(body))
        .await;
    let url = created["confirmation"]["confirmation_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser.get(&url).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    let page = opened.headers()["location"].to_str().unwrap().to_owned();
    let html = browser
        .get(server.url(&page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attribute = |marker: &str| {
        let start = html.find(marker).expect(marker) + marker.len();
        html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
    };
    let action = attribute("<form method=\"post\" action=\"");
    let csrf = attribute("name=\"csrf_token\" value=\"");
    let paid = browser
        .post(server.url(&action))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12/30"),
            ("card_cvv", "123"),
            ("card_holder", "IVAN PETROV"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    // Follow the page's own redirects until it leaves the server.
    let mut location = paid.headers()["location"].to_str().unwrap().to_owned();
    for _ in 0..5 {
        if location.starts_with("https://shop.example/") {
            break;
        }
        let next = browser.get(server.url(&location)).send().await.unwrap();
        match next.headers().get("location") {
            Some(value) => location = value.to_str().unwrap().to_owned(),
            None => {
                let text = next.text().await.unwrap();
                panic!("the page stayed at {location}: {text}");
            }
        }
    }
    assert!(
        location.starts_with("https://shop.example/back?order=7"),
        "{location}"
    );
    let (_, read) = shop
        .send(
            &server,
            Method::GET,
            &format!("/payments/{}", created["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(read["status"], "succeeded");
    assert!(read.get("confirmation").is_none());
    server.stop().await;
}

on_both_backends!(
    notifications_report_every_change,
    notifications_go_to_their_own_shop,
    a_released_hold_is_notified,
    redirect_confirmation_returns_to_the_shop,
);
