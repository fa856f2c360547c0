//! The customer's path: A's page → B's confirmation page → back to A.

use std::time::{Duration, Instant};

use obol_testkit::TestDatabase;
use reqwest::StatusCode;

use crate::{ROUTE, browser, pair};

/// Pay A's live invoice through A's page → B's confirmation page → back to A → `processed` on
/// A, with exactly one callback to the merchant, the money booked against `clearing:main` in
/// live accounts, and B's notification (which arrives too) changing nothing more.
pub async fn a_live_payment_goes_through_the_provider_and_back(database: TestDatabase) {
    let pair = pair(database, true).await;
    let id = pair.invoice("order-1").await;
    let confirmation = pair.choose_card(&id).await;
    let sent = pair.payment(&id).await;
    assert_eq!(sent.route.as_deref(), Some(ROUTE));
    let upstream_id = sent.upstream_id.clone().expect("the provider's id is kept");
    let at_b = pair.at_provider(&format!("payments/{upstream_id}")).await;
    assert_eq!(at_b["status"], "pending");
    assert_eq!(at_b["amount"]["value"], "100.00");
    assert_eq!(at_b["metadata"]["obol_payment_id"], id.as_str());
    assert_eq!(at_b["confirmation"]["type"], "redirect");
    assert_eq!(
        at_b["confirmation"]["return_url"],
        pair.a.url(&format!("/hpp/return?cpi={id}"))
    );

    // Choosing again (the back button, a second tab) sends the customer to the same payment.
    let again = pair.choose_card(&id).await;
    assert_eq!(
        again, confirmation,
        "one payment at the provider per invoice"
    );

    let back = pair
        .pay_at_provider(&confirmation, "4242424242424242")
        .await;
    assert_eq!(back, pair.a.url(&format!("/hpp/return?cpi={id}")));
    let returned_at = Instant::now();
    let returned = browser().get(&back).send().await.unwrap();
    let return_took = returned_at.elapsed();
    assert_eq!(returned.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        returned.headers()["location"],
        "https://shop.example/paid",
        "the customer goes on to the merchant's success URL"
    );
    let payment = pair.payment(&id).await;
    assert_eq!(payment.status.as_str(), "processed");
    let card = payment
        .card
        .clone()
        .expect("the card payload from the provider");
    assert_eq!(
        (card.first6.as_str(), card.last4.as_str()),
        ("424242", "4242")
    );
    eprintln!("return → processed (the return reads the provider): {return_took:?}");

    // The provider's notification arrives as well and changes nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    pair.processed_callback().await;
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("-100.00")
    );
    assert_eq!(
        pair.balance(&format!("merchant:{}", pair.merchant.id))
            .await
            .as_deref(),
        Some("97.50"),
        "the route's fee (2.5 %) is the merchant's service fee"
    );
    assert_eq!(pair.balance("operator:fees").await.as_deref(), Some("2.50"));
    assert_eq!(pair.balance("clearing:sandbox").await, None);
    pair.verified().await;
    pair.stop().await;
}

/// A declined card at the provider fails the payment on A, and the customer goes to the
/// merchant's fail URL.
pub async fn a_declined_card_fails_the_payment(database: TestDatabase) {
    let pair = pair(database, true).await;
    let id = pair.invoice("order-2").await;
    let confirmation = pair.choose_card(&id).await;
    let back = pair
        .pay_at_provider(&confirmation, "4000000000000002")
        .await;
    let returned = browser().get(&back).send().await.unwrap();
    assert_eq!(returned.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        returned.headers()["location"],
        "https://shop.example/failed"
    );
    let payment = pair.payment(&id).await;
    assert_eq!(payment.status.as_str(), "failed");
    assert_eq!(payment.resolution.as_str(), "declined");
    // A failed payment's page shows its status, never a way to pay.
    let page = browser()
        .get(pair.a.url(&format!("/hpp/?cpi={id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("payment_card_rub_hpp"));
    assert_eq!(pair.balance("clearing:main").await, None, "nothing booked");
    pair.verified().await;
    pair.stop().await;
}

/// B cannot reach A and the customer never comes back: the reconciliation worker asks B
/// (10 s after the customer left, by A's clock) and settles the payment, once.
pub async fn lost_notifications_are_made_up_for_by_the_reconciliation_worker(
    database: TestDatabase,
) {
    let pair = pair(database, false).await;
    let id = pair.invoice("order-3").await;
    let confirmation = pair.choose_card(&id).await;
    pair.pay_at_provider(&confirmation, "4242424242424242")
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        pair.payment(&id).await.status.as_str(),
        "pending",
        "nobody told A yet, and its first look is not due"
    );
    pair.a.clock.advance_seconds(11);
    let took = pair.wait_for_status(&id, "processed").await;
    eprintln!("due look → processed (no notification, no return): {took:?}");
    pair.processed_callback().await;
    // Later looks find nothing to do.
    pair.a.clock.advance_seconds(3_600);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("-100.00")
    );
    pair.verified().await;
    pair.stop().await;
}

/// A two-stage payment (created here without a door: none makes live two-stage payments yet)
/// is held at the provider (`capture: false`), then captured there and booked; another is
/// cancelled there and fails, with nothing booked.
pub async fn a_held_payment_is_captured_and_cancelled_at_the_provider(database: TestDatabase) {
    let pair = pair(database, true).await;
    let rub = obol_core::Currency::parse("RUB").unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let draft = obol_store::testing::draft(
            obol_core::ids::ResellerId::new(pair.merchant.reseller_id),
            obol_core::ids::MerchantId::new(pair.merchant.id),
            obol_core::money::Money::parse_decimal("100.00", rub).unwrap(),
        )
        .test_mode(false)
        .manual_capture(true)
        .build()
        .unwrap();
        let payment = pair.a.insert_payment(draft, None).await;
        let id = payment.id.to_string();
        let confirmation = pair.choose_card(&id).await;
        let back = pair
            .pay_at_provider(&confirmation, "4242424242424242")
            .await;
        browser().get(&back).send().await.unwrap();
        let held = pair.payment(&id).await;
        assert_eq!(held.status.as_str(), "pending");
        assert!(held.waits_for_capture(), "held, waiting for its capture");
        let upstream_id = held.upstream_id.clone().unwrap();
        let at_b = pair.at_provider(&format!("payments/{upstream_id}")).await;
        assert_eq!(at_b["status"], "waiting_for_capture");
        ids.push((id, upstream_id));
    }
    let state = pair.a.state();
    let (captured, captured_upstream) = &ids[0];
    let payment = pair.payment(captured).await;
    let after = obol_http::upstream::settle_hold(state, &payment, true)
        .await
        .unwrap();
    assert_eq!(after.status.as_str(), "processed");
    let at_b = pair
        .at_provider(&format!("payments/{captured_upstream}"))
        .await;
    assert_eq!(at_b["status"], "succeeded");

    let (cancelled, cancelled_upstream) = &ids[1];
    let payment = pair.payment(cancelled).await;
    let after = obol_http::upstream::settle_hold(state, &payment, false)
        .await
        .unwrap();
    assert_eq!(after.status.as_str(), "failed");
    assert_eq!(after.resolution.as_str(), "canceled");
    let at_b = pair
        .at_provider(&format!("payments/{cancelled_upstream}"))
        .await;
    assert_eq!(at_b["status"], "canceled");
    // Neither can be settled again.
    assert!(
        obol_http::upstream::settle_hold(state, &after, true)
            .await
            .is_err()
    );
    assert_eq!(
        pair.balance("clearing:main").await.as_deref(),
        Some("-100.00")
    );
    pair.verified().await;
    pair.stop().await;
}
