//! The dashboard in a real browser (headless Chromium over WebDriver), once per role: sign in,
//! filter the payments, open one, refund part of it, replay its callback, download the
//! transactions CSV, sign out — as far as the role allows; a viewer sees no action forms.
//!
//! Ignored when Chromium or chromedriver was not installed when the tests were built, except
//! under CI, where a missing browser fails.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use obol_core::Currency;
use obol_core::ids::{MerchantId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, PaymentEvent};
use obol_server::commands::{self, MerchantOptions};
use obol_store::ops::payments;
use obol_testkit::browser::Chromedriver;
use obol_testkit::{CallbackReceiver, TestDatabase, TestServer, draft};

const WAIT: Duration = Duration::from_secs(20);

/// Waits until the browser's location contains `part`.
async fn arrive(browser: &Client, part: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let location = browser.current_url().await.expect("a location").to_string();
        if location.contains(part) {
            return location;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {part}: {location}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn body(browser: &Client) -> String {
    browser
        .find(Locator::Css("body"))
        .await
        .expect("a body")
        .text()
        .await
        .expect("its text")
}

/// The page's text once it contains `text`: after a form that answers with the page it was
/// sent from, the location alone does not say the answer has arrived.
async fn body_containing(browser: &Client, text: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        // While the answer replaces the page, the old body may go stale under the reading.
        let body = match browser.find(Locator::Css("body")).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if body.contains(text) {
            return body;
        }
        assert!(Instant::now() < deadline, "never showed {text}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("{css}: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("{css}: {error}"));
}

/// A shop of `reseller` with two paid test payments whose callbacks go to `receiver`.
async fn paid_payments(server: &TestServer, reseller: i64, receiver: &CallbackReceiver) {
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Tea House".into(),
            reseller,
            webhook_url: Some(receiver.url().to_owned()),
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    for minor in [12_500, 4_000] {
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
        let id = payment.id.clone();
        let now = server.context.clock.now();
        server
            .context
            .store
            .write(move |db| {
                Box::pin(async move {
                    payments::transition(
                        db,
                        &id,
                        PaymentEvent::Succeeded { card: None },
                        Actor::Customer,
                        now,
                    )
                    .await
                })
            })
            .await
            .unwrap();
    }
}

/// One role's session, from sign-in to sign-out.
async fn walk_through(
    server: &TestServer,
    driver: &Chromedriver,
    token: &str,
    acts: bool,
    receiver: &CallbackReceiver,
) {
    let browser = driver.session(1280, 900).await;
    browser.goto(&server.url("/dashboard/login")).await.unwrap();
    browser
        .find(Locator::Css("input[name=api_token]"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    click(&browser, "form button[type=submit]").await;
    // The login page's own address contains "/dashboard": wait for the signed-in page itself.
    body_containing(&browser, "Signed in as").await;

    // Filter: paid payments only.
    browser
        .goto(&server.url("/dashboard/payments"))
        .await
        .unwrap();
    browser
        .find(Locator::Css("select[name=status]"))
        .await
        .unwrap()
        .select_by_value("processed")
        .await
        .unwrap();
    click(&browser, "form.filters button[type=submit]").await;
    arrive(&browser, "status=processed").await;
    let list = body(&browser).await;
    assert!(list.contains("125.00"), "{list}");

    // Open the 125.00 one.
    let link = browser
        .find(Locator::XPath(
            "//tr[contains(., '125.00')]//a[starts-with(@href, '/dashboard/payments/cpi_')]",
        ))
        .await
        .expect("a link to the payment");
    link.click().await.unwrap();
    let page_url = arrive(&browser, "/dashboard/payments/cpi_").await;
    let page = browser.source().await.unwrap();
    if !acts {
        assert!(!page.contains("/refund\""), "a viewer gets no refund form");
        assert!(!page.contains("/replay\""), "nor a replay form");
    } else {
        // Refund part of it.
        browser
            .find(Locator::Css("input[name=amount]"))
            .await
            .unwrap()
            .send_keys("25.00")
            .await
            .unwrap();
        click(&browser, "form[action$='/refund'] button[type=submit]").await;
        arrive(&browser, &page_url).await;
        body_containing(&browser, "partially_refunded").await;
        // Replay its first callback, once delivered.
        let delivered = receiver.count();
        browser.refresh().await.unwrap();
        click(&browser, "form[action$='/replay'] button[type=submit]").await;
        arrive(&browser, &page_url).await;
        let deadline = Instant::now() + WAIT;
        while receiver.count() <= delivered {
            assert!(
                Instant::now() < deadline,
                "the replayed callback never arrived"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The CSV, downloaded with the browser's own session.
    let cookie = browser
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|cookie| cookie.name() == "obol_session")
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    let csv = reqwest::Client::new()
        .get(server.url("/dashboard/reports/transactions.csv?from=2025-11-01&to=2025-12-31"))
        .header("cookie", format!("obol_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("payment_id,created_at,merchant_id,reference_id,status,mode,amount,currency,fee,processed_amount,refunded_amount,method"));
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // Sign out: the cookie no longer opens the dashboard.
    click(&browser, "header form button[type=submit]").await;
    arrive(&browser, "/dashboard/login").await;
    browser
        .goto(&server.url("/dashboard/payments"))
        .await
        .unwrap();
    arrive(&browser, "/dashboard/login").await;
    browser.close().await.unwrap();
}

obol_testkit::requires! { [browser]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_in_a_real_browser() {
    let server = TestServer::start(TestDatabase::sqlite()).await;
    let receiver = CallbackReceiver::start().await;
    let driver = Chromedriver::start().await;
    for (role, acts) in [("admin", true), ("manager", true), ("viewer", false)] {
        let reseller = commands::create_reseller(&server.context, role, None).await.unwrap().id;
        paid_payments(&server, reseller, &receiver).await;
        let token = commands::create_manager(&server.context, reseller, role, "Staff")
            .await
            .unwrap()
            .api_token;
        walk_through(&server, &driver, &token, acts, &receiver).await;
    }
    server.stop().await;
}
}
