//! The overview's numbers and chart, and the P2P transfers list, each in the manager's scope.

use obol_core::Currency;
use obol_core::ids::{MerchantId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, PaymentEvent, Resolution};
use obol_server::commands::{self, MerchantOptions};
use obol_store::ops::payments;
use obol_testkit::{TestDatabase, TestServer, draft};
use reqwest::StatusCode;

use crate::{reseller, staff};

/// A test payment of `minor` USD cents of a new merchant of `reseller`, moved by `events`.
async fn payment(server: &TestServer, reseller: i64, minor: i64, events: Vec<PaymentEvent>) {
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Shop".into(),
            reseller,
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let draft = draft(
        ResellerId::new(reseller),
        MerchantId::new(merchant.id),
        Money::from_minor(minor, Currency::USD).unwrap(),
    )
    .build()
    .unwrap();
    let payment = server
        .insert_payment(draft, Some("payment_card_usd_hpp"))
        .await;
    for event in events {
        let id = payment.id.clone();
        let now = server.context.clock.now();
        server
            .context
            .store
            .write(move |db| {
                Box::pin(
                    async move { payments::transition(db, &id, event, Actor::Customer, now).await },
                )
            })
            .await
            .unwrap();
    }
}

pub async fn the_overview_counts_the_managers_subtree(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let top = reseller(&server, "Top", None).await;
    let child = reseller(&server, "Child", Some(top)).await;
    let sibling = reseller(&server, "Sibling", Some(top)).await;
    let paid = || vec![PaymentEvent::Succeeded { card: None }];
    payment(&server, child, 10_000, paid()).await;
    payment(&server, child, 2_550, paid()).await;
    payment(
        &server,
        child,
        700,
        vec![PaymentEvent::Failed {
            reason: Resolution::Declined,
            card: None,
        }],
    )
    .await;
    payment(&server, child, 100, vec![]).await;
    payment(&server, sibling, 99_999, paid()).await;

    let (child_admin, _) = staff(&server, child, "viewer", "Cleo").await;
    let (_, html) = child_admin.get(&server, "/dashboard").await;
    // USD test: 4 payments, 2 paid, 1 failed, 66.7 % of those that ended, 125.50 processed.
    let row = html
        .split("<tr>")
        .find(|row| row.contains("<td>USD</td>"))
        .unwrap_or_else(|| panic!("{html}"));
    for cell in [">4<", ">2<", ">1<", "66.7 %", "125.50"] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    assert!(
        !html.contains("999.99"),
        "a sibling's payments are not counted"
    );
    assert!(html.contains("<svg"), "the chart");
    assert!(!html.contains("<script"));

    let (top_admin, _) = staff(&server, top, "admin", "Tom").await;
    let (_, html) = top_admin.get(&server, "/dashboard?period=30").await;
    assert!(html.contains("1125.49"), "the whole subtree: {html}");

    // Nothing today after a month.
    server.clock.advance_seconds(40 * 86_400);
    let (_, html) = top_admin.get(&server, "/dashboard?period=1").await;
    assert!(!html.contains("1125.49"));
    server.stop().await;
}

pub async fn p2p_transfers_are_the_operators(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let other = reseller(&server, "Reseller", None).await;
    let (operator, _) = staff(&server, 1, "viewer", "Olga").await;
    let (reseller_staff, _) = staff(&server, other, "admin", "Rita").await;
    let (status, html) = operator.get(&server, "/dashboard/transfers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"status\""));
    let (status, _) = operator
        .get(
            &server,
            "/dashboard/transfers?status=SUCCESS&cursor=nonsense",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a bad cursor is the first page");
    let (status, _) = reseller_staff.get(&server, "/dashboard/transfers").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
