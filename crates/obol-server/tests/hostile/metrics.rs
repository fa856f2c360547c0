//! `/metrics` costs no database work per scrape, and `metrics.listen` moves it off the main
//! listener.

use obol_core::Currency;
use obol_core::ids::{MerchantId, ResellerId};
use obol_core::money::Money;
use obol_testkit::{TestDatabase, TestServer, draft, on_both_backends};

fn gauge_line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|line| line.starts_with(prefix))
}

async fn a_scrape_reads_no_database(database: TestDatabase) {
    let server =
        TestServer::start_with(database, &[("OBOL_METRICS_REFRESH_INTERVAL_MS", "3600000")]).await;
    let scrape = || async {
        reqwest::get(server.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let first = scrape().await;
    assert!(
        gauge_line(&first, "obol_gauges_refreshed_timestamp_seconds ").is_some(),
        "{first}"
    );
    assert_eq!(
        gauge_line(&first, "obol_payments{"),
        None,
        "no payments yet: {first}"
    );

    let merchant = server.merchant(false, false).await;
    let payment = draft(
        ResellerId::new(merchant.reseller_id),
        MerchantId::new(merchant.id),
        Money::from_minor(1_000, Currency::EUR).unwrap(),
    )
    .build()
    .unwrap();
    let status = format!(
        "obol_payments{{status=\"{}\"}}",
        server.insert_payment(payment, None).await.status.as_str()
    );
    // Scraped again and again: the gauges are what the refresher read, not a new count.
    for _ in 0..3 {
        assert_eq!(gauge_line(&scrape().await, &status), None);
    }
    server.refresh_gauges().await;
    assert_eq!(
        gauge_line(&scrape().await, &status),
        Some(format!("{status} 1").as_str())
    );
    server.stop().await;
}

async fn metrics_can_have_their_own_listener(database: TestDatabase) {
    let server = TestServer::start_with(database, &[("OBOL_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let running = server.running.as_ref().expect("running");
    let metrics_address = running.metrics_address.expect("a metrics listener");
    assert_ne!(metrics_address, running.address);
    let main = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(main.status(), 404, "not on the public listener");
    let scraped = reqwest::get(format!("http://{metrics_address}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("obol_jobs_pending"), "{text}");
    assert!(
        text.contains("route=\"(unmatched)\",status=\"404\""),
        "the main listener's requests are counted: {text}"
    );
    let other = reqwest::get(format!("http://{metrics_address}/healthz"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "only /metrics there");
    server.stop().await;
}

on_both_backends!(
    a_scrape_reads_no_database,
    metrics_can_have_their_own_listener,
);
