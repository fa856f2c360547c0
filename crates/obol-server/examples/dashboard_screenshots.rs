//! Screenshots of the dashboard's main pages in English and Russian at 1280 and 390 px wide,
//! written to `docs/dashboard/` (SPEC §7; the README shows one). Runs a test server on SQLite
//! with a little data and headless Chromium through chromedriver:
//!
//! ```sh
//! cargo run -p obol-server --example dashboard_screenshots
//! ```

use std::path::Path;

use fantoccini::Locator;
use obol_core::Currency;
use obol_core::ids::{MerchantId, ResellerId};
use obol_core::money::Money;
use obol_core::payment::{Actor, CardPayload, PaymentEvent, Resolution};
use obol_server::commands::{self, MerchantOptions};
use obol_store::ops::payments;
use obol_testkit::browser::Chromedriver;
use obol_testkit::{TestDatabase, TestServer, draft};

/// A payment of `minor` cents of `currency` of `merchant`, moved by `events`.
async fn payment(
    server: &TestServer,
    reseller: i64,
    merchant: i64,
    minor: i64,
    description: &str,
    events: Vec<PaymentEvent>,
) {
    let draft = draft(
        ResellerId::new(reseller),
        MerchantId::new(merchant),
        Money::from_minor(minor, Currency::USD).expect("an amount"),
    )
    .description(Some(description.to_owned()))
    .build()
    .expect("a draft");
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
            .expect("a transition");
    }
}

fn card() -> Option<CardPayload> {
    Some(CardPayload {
        first6: "424242".into(),
        last4: "4242".into(),
        brand: "visa".into(),
        expiry_month: 12,
        expiry_year: 2030,
        holder: Some("IVAN PETROV".into()),
        issuer: None,
    })
}

#[tokio::main]
async fn main() {
    let server = TestServer::start(TestDatabase::sqlite()).await;
    let reseller = commands::create_reseller(&server.context, "Acme Resellers", None)
        .await
        .expect("a reseller")
        .id;
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Tea House".into(),
            reseller,
            ..MerchantOptions::default()
        },
    )
    .await
    .expect("a merchant")
    .id;
    let paid = || vec![PaymentEvent::Succeeded { card: card() }];
    for (minor, description, events) in [
        (12_500, "Green tea, 2 kg", paid()),
        (4_990, "Oolong sampler", paid()),
        (
            2_000,
            "Gift card",
            vec![PaymentEvent::Failed {
                reason: Resolution::Declined,
                card: card(),
            }],
        ),
        (89_900, "Samovar", paid()),
        (1_500, "Teapot lid", vec![]),
    ] {
        payment(&server, reseller, merchant, minor, description, events).await;
    }
    let token = commands::create_manager(&server.context, reseller, "admin", "Anna Admin")
        .await
        .expect("a manager")
        .api_token;

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dashboard");
    std::fs::create_dir_all(&out).expect("docs/dashboard");
    let driver = Chromedriver::start().await;
    for (width, height) in [(1280, 860), (390, 844)] {
        for language in ["en", "ru"] {
            let browser = driver.session(width, height).await;
            browser
                .goto(&server.url(&format!("/dashboard/login?lang={language}")))
                .await
                .expect("the sign-in page");
            browser
                .find(Locator::Css("input[name=api_token]"))
                .await
                .expect("the token field")
                .send_keys(&token)
                .await
                .expect("typing");
            browser
                .find(Locator::Css("form button[type=submit]"))
                .await
                .expect("the button")
                .click()
                .await
                .expect("signing in");
            let first_payment = {
                browser
                    .goto(&server.url("/dashboard/payments"))
                    .await
                    .expect("payments");
                match browser
                    .find(Locator::Css("a[href^='/dashboard/payments/cpi_']"))
                    .await
                {
                    Ok(link) => link.attr("href").await.ok().flatten(),
                    Err(_) => None,
                }
            };
            let mut pages = vec![
                ("overview", "/dashboard".to_owned()),
                ("payments", "/dashboard/payments".to_owned()),
                ("merchants", "/dashboard/merchants".to_owned()),
            ];
            if let Some(payment) = first_payment {
                pages.push(("payment", payment));
            }
            for (name, path) in pages {
                let separator = if path.contains('?') { '&' } else { '?' };
                browser
                    .goto(&server.url(&format!("{path}{separator}lang={language}")))
                    .await
                    .expect("a page");
                let png = browser.screenshot().await.expect("a screenshot");
                let file = out.join(format!("{name}-{language}-{width}.png"));
                std::fs::write(&file, png).expect("the screenshot is written");
                println!("{}", file.display());
            }
            browser.close().await.expect("the session ends");
        }
    }
    server.stop().await;
}
