//! `X-Forwarded-For` is believed only from `trusted_proxies`, for the recorded address and the
//! throttle alike.

use obol_core::ids::MerchantId;
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use serde_json::json;

use crate::{ADDRESS, ATTACKER, ELSEWHERE, client_from};

async fn forwarded_for_is_believed_only_from_trusted_proxies(database: TestDatabase) {
    // The proxy is 127.0.0.2; 127.0.0.1 is anyone.
    let server =
        TestServer::start_with(database, &[("OBOL_TRUSTED_PROXIES", "127.0.0.2/32")]).await;
    let merchant = server.merchant(false, false).await;
    let create = |client: reqwest::Client, forwarded: &'static str, reference: &'static str| {
        let request = client
            .post(server.url("/api/payment-invoices"))
            .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
            .header("x-forwarded-for", forwarded)
            .json(
                &json!({ "data": { "type": "payment-invoices", "attributes": {
                "reference_id": reference, "service": "payment_card_usd_hpp",
                "currency": "USD", "amount": 10 } } }),
            );
        let (store, merchant_id) = (server.context.store.clone(), MerchantId::new(merchant.id));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
            let payment = store
                .read(move |db| {
                    Box::pin(async move {
                        obol_store::ops::payments::find_by_reference(db, merchant_id, reference)
                            .await
                    })
                })
                .await
                .unwrap()
                .expect("recorded");
            payment.requester_ip.clone().expect("an address")
        }
    };
    assert_eq!(
        create(client_from(ATTACKER), "203.0.113.9", "direct").await,
        "127.0.0.1",
        "a client's own X-Forwarded-For is ignored"
    );
    assert_eq!(
        create(
            client_from(ELSEWHERE),
            "198.51.100.1, 203.0.113.9",
            "proxied"
        )
        .await,
        "203.0.113.9",
        "the proxy's right-most entry is the client"
    );

    // The throttle follows the same rule: forging the header does not escape it...
    let wrong = |client: &reqwest::Client, forwarded: String| {
        client
            .get(server.url("/api/payment-invoices"))
            .basic_auth(&merchant.api_login, Some("wrong"))
            .header("x-forwarded-for", forwarded)
            .send()
    };
    let anyone = client_from(ATTACKER);
    let mut statuses = Vec::new();
    for index in 0..25 {
        statuses.push(
            wrong(&anyone, format!("192.0.2.{index}"))
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(
        statuses[ADDRESS..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    // ...and behind the proxy each client is counted on its own.
    let proxy = client_from(ELSEWHERE);
    for _ in 0..25 {
        wrong(&proxy, "203.0.113.50".to_owned()).await.unwrap();
    }
    let other_client = proxy
        .get(server.url("/api/payment-invoices"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .header("x-forwarded-for", "203.0.113.51")
        .send()
        .await
        .unwrap();
    assert_eq!(other_client.status(), 200);
    let same_client = proxy
        .get(server.url("/api/payment-invoices"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .header("x-forwarded-for", "203.0.113.50")
        .send()
        .await
        .unwrap();
    assert_eq!(same_client.status(), 429);
    server.stop().await;
}

on_both_backends!(forwarded_for_is_believed_only_from_trusted_proxies,);
