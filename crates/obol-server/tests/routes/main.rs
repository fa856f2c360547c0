//! Live routes (SPEC §4) with two real servers on loopback: server B runs Obol's YooKassa
//! sandbox (its test shop's webhook URL is server A's notification endpoint) and plays the
//! provider; server A has a live merchant whose payments in RUB go through a route to B. A has
//! no idea B is a sandbox: it only speaks YooKassa's v3 API to it.
//!
//! Server A runs on SQLite and on PostgreSQL; B, the provider, always on SQLite.

use std::time::{Duration, Instant};

use obol_core::ids::PaymentId;
use obol_server::commands::{self, MerchantOptions, MerchantOutput};
use obol_store::ops::payments;
use obol_testkit::{CallbackReceiver, Received, TestDatabase, TestServer, on_both_backends};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

mod doors;
mod failures;
mod flows;
mod provider_failures;
mod refund_requests;

pub(crate) const ROUTE: &str = "main";

/// The two servers, A's live merchant, B's shop (the route's credentials) and the receiver of
/// A's merchant's callbacks.
pub(crate) struct Pair {
    pub a: TestServer,
    pub b: TestServer,
    pub merchant: MerchantOutput,
    pub shop: MerchantOutput,
    pub callbacks: CallbackReceiver,
    /// B's operator key and address, to start it again after stopping it.
    pub b_key: String,
    pub b_address: String,
}

pub(crate) fn browser() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Starts B (its shop notifies A when `notify`, else a port nobody listens on), then A with a
/// route to B's sandbox and a live merchant.
pub(crate) async fn pair(database: TestDatabase, notify: bool) -> Pair {
    let b_key =
        obol_server::crypto::OperatorKey::generate(&mut obol_server::crypto::OsRandom).to_base64();
    let b_address = CallbackReceiver::free_address().to_string();
    let b = TestServer::start_with(
        TestDatabase::sqlite(),
        &[("OBOL_LISTEN", &b_address), ("OBOL_SECRET_KEY", &b_key)],
    )
    .await;
    let a_address = CallbackReceiver::free_address();
    let webhook = if notify {
        format!("http://{a_address}/notifications/yookassa/{ROUTE}")
    } else {
        "http://127.0.0.1:9/nobody".to_owned()
    };
    let reseller = commands::create_reseller(&b.context, "Provider", None)
        .await
        .unwrap();
    let shop = commands::create_merchant(
        &b.context,
        MerchantOptions {
            name: "Shop at the provider".into(),
            reseller: reseller.id,
            webhook_url: Some(webhook),
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let file = format!(
        "[[acquirers]]\nname = \"{ROUTE}\"\nkind = \"yookassa\"\napi_url = \"{}/sandbox/yookassa/v3\"\n\
         shop_id = \"{}\"\nsecret_key = \"{}\"\ncurrencies = [\"RUB\"]\nfee_rate = \"2.5\"\n",
        b.base, shop.api_login, shop.api_secret
    );
    let a = TestServer::start_with_file(
        database,
        &[("OBOL_LISTEN", &a_address.to_string())],
        Some(&file),
    )
    .await;
    let merchant = a.merchant(true, false).await;
    Pair {
        a,
        b,
        merchant,
        shop,
        callbacks: CallbackReceiver::start().await,
        b_key,
        b_address,
    }
}

impl Pair {
    /// A live invoice of 100.00 RUB through A's Paymega private API; its id.
    pub async fn invoice(&self, reference: &str) -> String {
        invoice(&self.a, &self.merchant, self.callbacks.url(), reference).await
    }

    /// The customer on A's page chooses the card method: A creates the payment at B and sends
    /// the customer there (303 to B's confirmation page); returns that URL.
    pub async fn choose_card(&self, id: &str) -> String {
        let chosen = choose_card(&self.a, id).await;
        assert_eq!(chosen.status(), StatusCode::SEE_OTHER);
        let location = chosen.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(&self.b.url("/sandbox/yookassa/confirmation/")),
            "{location}"
        );
        location
    }

    /// The customer pays on B's confirmation page with `card`; returns where B sends them back
    /// (A's `/hpp/return?cpi=…`).
    pub async fn pay_at_provider(&self, confirmation: &str, card: &str) -> String {
        let opened = browser().get(confirmation).send().await.unwrap();
        assert_eq!(opened.status(), StatusCode::SEE_OTHER);
        let page = opened.headers()["location"].to_str().unwrap().to_owned();
        let html = browser()
            .get(self.b.url(&page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let paid = browser()
            .post(
                self.b
                    .url(&attribute(&html, "<form method=\"post\" action=\"")),
            )
            .form(&[
                (
                    "csrf_token",
                    attribute(&html, "name=\"csrf_token\" value=\""),
                ),
                ("card_number", card.to_owned()),
                ("card_expiry", "12/30".to_owned()),
                ("card_cvv", "123".to_owned()),
                ("card_holder", "IVAN PETROV".to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), StatusCode::SEE_OTHER);
        paid.headers()["location"].to_str().unwrap().to_owned()
    }

    /// A's payment as stored.
    pub async fn payment(&self, id: &str) -> obol_core::payment::Payment {
        stored_payment(&self.a, id).await
    }

    /// Waits (real time, bounded) until A's payment has `status`; how long it took.
    pub async fn wait_for_status(&self, id: &str, status: &str) -> Duration {
        let started = Instant::now();
        for _ in 0..500 {
            if self.payment(id).await.status.as_str() == status {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "payment {id} never became {status}: {:?}",
            self.payment(id).await.status
        );
    }

    /// B's payment (as YooKassa's API shows it to the shop).
    pub async fn at_provider(&self, path: &str) -> Value {
        let response = browser()
            .get(self.b.url(&format!("/sandbox/yookassa/v3/{path}")))
            .basic_auth(&self.shop.api_login, Some(&self.shop.api_secret))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// A's balances of one account in live RUB, as `obol balances` prints them.
    pub async fn balance(&self, account: &str) -> Option<String> {
        live_balance(&self.a, account).await
    }

    /// `obol verify` is clean on both servers.
    pub async fn verified(&self) {
        verified(&self.a).await;
        verified(&self.b).await;
    }

    /// The merchant's callbacks that report `status`.
    pub fn callbacks_with_status(&self, status: &str) -> Vec<Received> {
        self.callbacks
            .all()
            .into_iter()
            .filter(|received| received.json()["data"]["attributes"]["status"] == status)
            .collect()
    }

    /// Waits (real time, bounded) for the merchant's callback saying `processed`, then a
    /// little longer: exactly one ever says so.
    pub async fn processed_callback(&self) {
        for _ in 0..500 {
            if !self.callbacks_with_status("processed").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            self.callbacks_with_status("processed").len(),
            1,
            "exactly one callback says processed"
        );
    }

    pub async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

/// A live invoice of 100.00 RUB for the card service, made by `merchant` through `server`'s
/// Paymega private API, its callbacks to `callback_url`; its id.
pub(crate) async fn invoice(
    server: &TestServer,
    merchant: &MerchantOutput,
    callback_url: &str,
    reference: &str,
) -> String {
    let response = browser()
        .post(server.url("/api/payment-invoices"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(
            &json!({ "data": { "type": "payment-invoices", "attributes": {
                "reference_id": reference,
                "amount": "100.00",
                "currency": "RUB",
                "service": "payment_card_rub_hpp",
                "description": "Order 42",
                "return_urls": {
                    "success": "https://shop.example/paid",
                    "fail": "https://shop.example/failed",
                    "pending": "https://shop.example/wait"
                },
                "callback_url": callback_url,
            }}}),
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

/// The customer opens the payment's page on `server`, which offers the route's card service
/// and asks for no card data, and chooses it; the answer to that choice.
pub(crate) async fn choose_card(server: &TestServer, id: &str) -> reqwest::Response {
    let page = browser()
        .get(server.url(&format!("/hpp/?cpi={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("value=\"payment_card_rub_hpp\""),
        "the route's card service is offered: {html}"
    );
    assert!(
        !html.contains("name=\"card_number\""),
        "no card data is entered at Obol"
    );
    browser()
        .post(server.url(&attribute(&html, "<form method=\"post\" action=\"")))
        .form(&[
            (
                "csrf_token",
                attribute(&html, "name=\"csrf_token\" value=\""),
            ),
            ("service", "payment_card_rub_hpp".to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

/// A payment as `server` stores it.
pub(crate) async fn stored_payment(server: &TestServer, id: &str) -> obol_core::payment::Payment {
    let id = PaymentId::parse(id).unwrap();
    server
        .context
        .store
        .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
        .await
        .unwrap()
        .unwrap()
}

/// `server`'s balance of one account in live RUB, as `obol balances` prints it.
pub(crate) async fn live_balance(server: &TestServer, account: &str) -> Option<String> {
    commands::balances(&server.context, None)
        .await
        .unwrap()
        .balances
        .into_iter()
        .find(|balance| {
            balance.account == account && balance.mode == "live" && balance.currency == "RUB"
        })
        .map(|balance| balance.amount)
}

/// `obol verify` is clean on `server`.
pub(crate) async fn verified(server: &TestServer) {
    let report = commands::verify(&server.context).await.unwrap();
    assert!(report.ok, "{:?}", report.violations);
}

/// The value after `marker` up to the next `"`, unescaped.
pub(crate) fn attribute(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
}

use doors::{
    a_currency_the_route_does_not_serve_is_not_paid_online,
    a_softline_payment_goes_through_the_route, an_activeplatform_payment_goes_through_the_route,
    paymega_lists_the_routes_card_service_to_live_merchants_only,
};
use failures::{
    a_refund_while_the_provider_is_down_is_retried_and_booked_once,
    forged_and_repeated_notifications_change_nothing_they_should_not,
    refunds_go_to_the_provider_first_and_are_booked_once,
};
use flows::{
    a_declined_card_fails_the_payment, a_held_payment_is_captured_and_cancelled_at_the_provider,
    a_live_payment_goes_through_the_provider_and_back,
    lost_notifications_are_made_up_for_by_the_reconciliation_worker,
    the_notification_alone_settles_the_payment,
};
use refund_requests::a_refund_request_is_carried_out_at_the_provider;

use provider_failures::{
    a_lost_refund_answer_then_its_notification_books_it_once,
    a_provider_failing_the_choice_answers_bad_gateway_and_moves_nothing,
    a_provider_report_of_something_else_moves_nothing,
    a_refund_made_elsewhere_is_not_taken_for_a_lost_one,
    a_refund_the_provider_refuses_is_not_on_its_way_any_more,
    a_refund_with_an_unknown_outcome_is_sent_again_with_its_key,
    a_silent_provider_never_holds_the_customer_past_the_deadline,
};

on_both_backends!(
    a_live_payment_goes_through_the_provider_and_back,
    a_declined_card_fails_the_payment,
    a_held_payment_is_captured_and_cancelled_at_the_provider,
    lost_notifications_are_made_up_for_by_the_reconciliation_worker,
    the_notification_alone_settles_the_payment,
    forged_and_repeated_notifications_change_nothing_they_should_not,
    refunds_go_to_the_provider_first_and_are_booked_once,
    a_refund_while_the_provider_is_down_is_retried_and_booked_once,
    a_refund_request_is_carried_out_at_the_provider,
    a_softline_payment_goes_through_the_route,
    an_activeplatform_payment_goes_through_the_route,
    paymega_lists_the_routes_card_service_to_live_merchants_only,
    a_currency_the_route_does_not_serve_is_not_paid_online,
    a_provider_failing_the_choice_answers_bad_gateway_and_moves_nothing,
    a_provider_report_of_something_else_moves_nothing,
    a_silent_provider_never_holds_the_customer_past_the_deadline,
    a_refund_with_an_unknown_outcome_is_sent_again_with_its_key,
    a_refund_the_provider_refuses_is_not_on_its_way_any_more,
    a_lost_refund_answer_then_its_notification_books_it_once,
    a_refund_made_elsewhere_is_not_taken_for_a_lost_one,
);
