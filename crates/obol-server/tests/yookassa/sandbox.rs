//! Obol's own YooKassa sandbox: its rules, expiry of uncaptured payments, `PaymentCommit` against
//! it, and YooKassa's official Python library against it.

use std::time::Duration;

use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use reqwest::Client;
use serde_json::{Value, json};

use crate::{assert_verified, post_json};

/// Pays a sandbox payment on the hosted page its confirmation token opens, with `card`.
pub(crate) async fn pay(server: &TestServer, token: &str, card: &str) {
    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser
        .get(server.url(&format!("/sandbox/yookassa/confirmation/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303);
    let page = opened.headers()["location"].to_str().unwrap().to_owned();
    assert!(page.starts_with("/hpp/?cpi="), "{page}");
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
            ("card_number", card),
            ("card_expiry", "12/30"),
            ("card_cvv", "123"),
            ("card_holder", "IVAN PETROV"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
}

pub(crate) struct Shop {
    pub(crate) login: String,
    pub(crate) secret: String,
}

impl Shop {
    pub(crate) async fn send(
        &self,
        server: &TestServer,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = Client::new()
            .request(method, server.url(&format!("/sandbox/yookassa/v3{path}")))
            .basic_auth(&self.login, Some(&self.secret));
        if let Some(key) = key {
            request = request.header("idempotence-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        (status, response.json().await.unwrap())
    }
}

pub(crate) fn new_payment(value: &str, capture: bool) -> Value {
    json!({ "amount": { "value": value, "currency": "RUB" }, "capture": capture,
            "confirmation": { "type": "embedded" }, "description": "Order 7",
            "metadata": { "cms_name": "tests" }, "statements": [], "transfers": [] })
}

async fn sandbox_rules(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let shop = Shop {
        login: merchant.api_login.clone(),
        secret: merchant.api_secret.clone(),
    };
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    let stranger = Shop {
        login: merchant.api_login.clone(),
        secret: "wrong".into(),
    };
    let (status, refused) = stranger
        .send(&server, get.clone(), "/payments/x", None, None)
        .await;
    assert_eq!(
        (status, refused["code"].clone()),
        (401, json!("invalid_credentials"))
    );
    assert_eq!(refused["type"], "error");

    let (status, created) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-1"),
            Some(new_payment("100.00", false)),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["paid"], false);
    assert_eq!(created["test"], true);
    assert_eq!(
        created["amount"],
        json!({ "value": "100.00", "currency": "RUB" })
    );
    assert_eq!(created["recipient"]["account_id"], merchant.id.to_string());
    assert_eq!(created["metadata"], json!({ "cms_name": "tests" }));
    assert!(created["created_at"].as_str().unwrap().ends_with(".000Z"));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    let token = created["confirmation"]["confirmation_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, again) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-1"),
            Some(new_payment("100.00", false)),
        )
        .await;
    assert_eq!(again, created, "the same key and body: the first answer");
    let (status, duplicated) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-1"),
            Some(new_payment("99.00", false)),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(duplicated["type"], "error");
    assert_eq!(duplicated["code"], "invalid_request");
    assert_eq!(duplicated["description"], "Idempotence key duplicated");
    assert_eq!(duplicated["parameter"], "Idempotence-Key");
    assert!(duplicated["id"].is_string());
    let long = "k".repeat(65);
    let (status, too_long) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some(&long),
            Some(new_payment("1.00", false)),
        )
        .await;
    assert_eq!(
        (status, too_long["parameter"].clone()),
        (400, json!("Idempotence-Key"))
    );

    let (status, early) = shop
        .send(
            &server,
            post.clone(),
            &format!("/payments/{id}/capture"),
            Some("c-0"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, early["code"].clone()),
        (400, json!("invalid_request"))
    );
    let (status, missing) = shop
        .send(
            &server,
            get.clone(),
            "/payments/2f5f0000-000f-5000-8000-18db351245c7",
            None,
            None,
        )
        .await;
    assert_eq!((status, missing["code"].clone()), (404, json!("not_found")));

    // Approved, held, cancelled.
    pay(&server, &token, "4242424242424242").await;
    let (_, held) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{id}"),
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(held["status"], "waiting_for_capture");
    assert_eq!(held["paid"], true);
    assert_eq!(held["payment_method"]["card"]["last4"], "4242");
    assert_eq!(held["payment_method"]["card"]["card_type"], "Visa");
    let (status, canceled) = shop
        .send(
            &server,
            post.clone(),
            &format!("/payments/{id}/cancel"),
            Some("x-1"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(
        canceled["cancellation_details"],
        json!({ "party": "merchant", "reason": "canceled_by_merchant" })
    );

    // A declined card cancels.
    let (_, declined) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-2"),
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
    let (_, declined) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{}", declined["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(declined["status"], "canceled");
    assert_eq!(
        declined["cancellation_details"],
        json!({ "party": "payment_network", "reason": "general_decline" })
    );

    // One stage: paid means succeeded; refunds within what was paid.
    let (_, one) = shop
        .send(
            &server,
            post.clone(),
            "/payments",
            Some("k-3"),
            Some(new_payment("50.00", true)),
        )
        .await;
    let one_id = one["id"].as_str().unwrap().to_owned();
    pay(
        &server,
        one["confirmation"]["confirmation_token"].as_str().unwrap(),
        "5555555555554444",
    )
    .await;
    let (_, succeeded) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{one_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(succeeded["status"], "succeeded");
    assert_eq!(succeeded["refundable"], true);
    assert!(succeeded["captured_at"].is_string());
    let refund = |value: &str| json!({ "payment_id": one_id, "amount": { "value": value, "currency": "RUB" } });
    let (status, too_much) = shop
        .send(
            &server,
            post.clone(),
            "/refunds",
            Some("r-1"),
            Some(refund("50.01")),
        )
        .await;
    assert_eq!(
        (status, too_much["code"].clone()),
        (400, json!("invalid_request"))
    );
    let (status, refunded) = shop
        .send(
            &server,
            post.clone(),
            "/refunds",
            Some("r-2"),
            Some(refund("20.00")),
        )
        .await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(refunded["status"], "succeeded");
    assert_eq!(refunded["payment_id"], one_id);
    let (_, found) = shop
        .send(
            &server,
            get.clone(),
            &format!("/refunds/{}", refunded["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(found, refunded);
    let (_, after) = shop
        .send(
            &server,
            get.clone(),
            &format!("/payments/{one_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        after["refunded_amount"],
        json!({ "value": "20.00", "currency": "RUB" })
    );

    // A redirect confirmation carries its URL, which opens the same page.
    let mut redirect = new_payment("3.00", true);
    redirect["confirmation"] =
        json!({ "type": "redirect", "return_url": "https://shop.example/back", "locale": "en_US" });
    let (status, redirected) = shop
        .send(&server, post.clone(), "/payments", None, Some(redirect))
        .await;
    assert_eq!(status, 200, "{redirected}");
    assert_eq!(redirected["confirmation"]["type"], "redirect");
    assert_eq!(
        redirected["confirmation"]["return_url"],
        "https://shop.example/back"
    );
    let url = redirected["confirmation"]["confirmation_url"]
        .as_str()
        .unwrap();
    assert!(
        url.starts_with(&server.url("/sandbox/yookassa/confirmation/")),
        "{url}"
    );
    let mut bad_locale = new_payment("3.00", true);
    bad_locale["confirmation"]["locale"] = json!("xx");
    let (status, _) = shop
        .send(&server, post.clone(), "/payments", None, Some(bad_locale))
        .await;
    assert_eq!(status, 400);
    let mut big_metadata = new_payment("3.00", true);
    big_metadata["metadata"] = json!({ "k": "v".repeat(513) });
    let (status, _) = shop
        .send(&server, post.clone(), "/payments", None, Some(big_metadata))
        .await;
    assert_eq!(status, 400);
    let (status, bad_path) = shop
        .send(&server, get.clone(), "/payments/%FF", None, None)
        .await;
    assert_eq!((status, bad_path["type"].clone()), (404, json!("error")));

    // Another shop sees none of it.
    let other = server.merchant(false, false).await;
    let other = Shop {
        login: other.api_login,
        secret: other.api_secret,
    };
    let (status, _) = other
        .send(&server, get, &format!("/payments/{one_id}"), None, None)
        .await;
    assert_eq!(status, 404);
    assert_verified(&server).await;
    server.stop().await;
}

/// An authorized payment nobody captures is released after seven days (server time): the
/// lifecycle worker expires it and the sandbox shows it `canceled` (`expired_on_capture`).
async fn uncaptured_payments_expire(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let shop = Shop {
        login: merchant.api_login.clone(),
        secret: merchant.api_secret.clone(),
    };
    let (_, created) = shop
        .send(
            &server,
            reqwest::Method::POST,
            "/payments",
            None,
            Some(new_payment("10.00", false)),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    pay(
        &server,
        created["confirmation"]["confirmation_token"]
            .as_str()
            .unwrap(),
        "4242424242424242",
    )
    .await;
    let (_, held) = shop
        .send(
            &server,
            reqwest::Method::GET,
            &format!("/payments/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(held["status"], "waiting_for_capture");
    assert_eq!(held["expires_at"], "2025-11-30T12:13:20.000Z");
    server.clock.advance_seconds(7 * 86_400);
    let mut seen = Value::Null;
    for _ in 0..400 {
        seen = shop
            .send(
                &server,
                reqwest::Method::GET,
                &format!("/payments/{id}"),
                None,
                None,
            )
            .await
            .1;
        if seen["status"] != "waiting_for_capture" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen["status"], "canceled");
    assert_eq!(
        seen["cancellation_details"],
        json!({ "party": "yoo_money", "reason": "expired_on_capture" })
    );
    assert_verified(&server).await;
    server.stop().await;
}

/// `PaymentCommit` with `ApiParams.Url` at Obol's own sandbox (on the default allow-list): the
/// flow a developer runs offline.
async fn commit_against_the_sandbox(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let url = server.url("/sandbox/yookassa/v3");
    let api = json!({ "Url": url, "Login": merchant.api_login, "Password": merchant.api_secret });
    let (status, created) = post_json(
        &server,
        &merchant,
        &json!({ "Refund": false, "Amount": 5, "Description": "Offline", "ApiParams": api }),
    )
    .await;
    assert_eq!(
        (status, created["ErrorCode"].clone()),
        (200, json!(0)),
        "{created}"
    );
    assert_eq!(created["Status"], "pending");
    let payment = created["PaymentId"].as_str().unwrap().to_owned();
    pay(
        &server,
        created["ConfirmationToken"].as_str().unwrap(),
        "4242424242424242",
    )
    .await;
    let (_, refunded) = post_json(
        &server,
        &merchant,
        &json!({ "Refund": true, "Amount": "2.00", "PaymentRefund": payment, "ApiParams": api }),
    )
    .await;
    assert_eq!(refunded["ErrorCode"], 0, "{refunded}");
    assert_eq!(refunded["Status"], "succeeded");
    assert_eq!(refunded["RefundId"].as_str().unwrap().len(), 36);
    assert_verified(&server).await;
    server.stop().await;
}

/// YooKassa's official Python library against the sandbox (scripts/test installs it and sets
/// OBOL_YOOKASSA_PYTHON).
async fn official_library(database: TestDatabase) {
    // Built to run (the variable was set, or CI is set): without it the test fails.
    let python = std::env::var_os("OBOL_YOOKASSA_PYTHON")
        .expect("OBOL_YOOKASSA_PYTHON must name a python with the yookassa library");
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/yookassa_official.py"
    );
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, &base, &merchant.api_login, &merchant.api_secret])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["created_status"], "pending");
    assert_eq!(seen["created_paid"], false);
    assert_eq!(seen["found_status"], "waiting_for_capture");
    assert_eq!(seen["found_card_last4"], "4242");
    assert_eq!(seen["captured_status"], "succeeded");
    assert_eq!(seen["refund_status"], "succeeded");
    assert_eq!(seen["refund_found_amount"], "30.00");
    assert_eq!(seen["refund_payment"], seen["payment_id"]);
    assert_eq!(seen["after_refunded"], "30.00");
    assert_eq!(seen["metadata"]["order_id"], "72");
    assert_verified(&server).await;
    server.stop().await;
}

/// The official library on both backends, each ignored when the tests were built without it.
mod official_library_on {
    use obol_testkit::TestDatabase;

    obol_testkit::requires! { [yookassa_python]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            super::official_library(TestDatabase::sqlite()).await;
        }
    }

    obol_testkit::requires! { [yookassa_python, postgres]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            super::official_library(TestDatabase::postgres().await).await;
        }
    }
}

on_both_backends!(
    sandbox_rules,
    uncaptured_payments_expire,
    commit_against_the_sandbox,
);
