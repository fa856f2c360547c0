//! A merchant's enabled services, switched by an admin, as the doors then see them.

use obol_server::commands::{self, MerchantOptions};
use obol_testkit::{TestDatabase, TestServer};
use reqwest::StatusCode;
use serde_json::json;

use crate::{attribute, client, reseller, staff};

pub async fn an_admin_switches_a_merchants_services(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Shop".into(),
            reseller: top,
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let path = format!("/dashboard/merchants/{}/services", merchant.id);
    let (admin, _) = staff(&server, top, "admin", "Ann").await;
    let (viewer, _) = staff(&server, top, "viewer", "Vic").await;

    let (status, page) = admin.get(&server, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("payment_card_usd_hpp"), "{page}");
    // Every linked service starts on; switch all off but the EUR card.
    let eur_link = {
        let row = page
            .split("<tr>")
            .find(|row| row.contains("payment_card_eur_hpp"))
            .unwrap();
        attribute(row, "name=\"")
    };
    let (status, location, _) = admin.post(&server, &path, &[(&eur_link, "on")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(path.as_str()));
    let (_, page) = admin.get(&server, &path).await;
    assert_eq!(page.matches(" checked").count(), 1, "{page}");

    // The doors see it: a USD card invoice is refused, a EUR one made.
    let invoice = |currency: &str, service: &str| {
        client()
            .post(server.url("/api/payment-invoices"))
            .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
            .json(&json!({ "data": { "attributes": {
                "reference_id": format!("r-{currency}"), "amount": 10, "currency": currency, "service": service
            } } }))
            .send()
    };
    assert_eq!(
        invoice("USD", "payment_card_usd_hpp")
            .await
            .unwrap()
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        invoice("EUR", "payment_card_eur_hpp")
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );

    // A viewer reads, changes nothing.
    let (status, page) = viewer.get(&server, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("type=\"checkbox\""));
    let (status, _, _) = viewer.post(&server, &path, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another reseller's admin does not even find it.
    let other = reseller(&server, "Other", None).await;
    let (stranger, _) = staff(&server, other, "admin", "Sam").await;
    assert_eq!(stranger.get(&server, &path).await.0, StatusCode::NOT_FOUND);
    server.stop().await;
}

/// A manager cannot point a merchant's callbacks at a private or loopback address (SPEC §5),
/// unless the operator allows it.
pub async fn webhook_urls_may_not_name_private_addresses(database: TestDatabase) {
    let server = TestServer::start_with(
        database,
        &[("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "false")],
    )
    .await;
    let top = reseller(&server, "Top", None).await;
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Shop".into(),
            reseller: top,
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let (admin, _) = staff(&server, top, "admin", "Ann").await;
    let path = format!("/dashboard/merchants/{}/settings", merchant.id);
    for url in [
        "http://169.254.169.254/latest",
        "http://127.0.0.1:9/hook",
        "http://[::1]/x",
    ] {
        let (status, _, _) = admin
            .post(
                &server,
                &path,
                &[("webhook_url", url), ("acquirer", "none")],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
    let (status, _, _) = admin
        .post(
            &server,
            &path,
            &[
                ("webhook_url", "https://shop.example/hook"),
                ("acquirer", "none"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    server.stop().await;
}
