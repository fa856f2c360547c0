//! `PaymentCommit` over real HTTP, on both backends, against a YooKassa-like upstream served on
//! loopback by the test itself (it records every call, and can be told to answer an error,
//! garbage, an HTTP 500 or nothing at all): JSON and XML, idempotence, the allow-list, upstream
//! failures as `ErrorCode`s, and payments and refunds recorded in Obol's books.

use obol_server::commands::{self, MerchantOutput};
use obol_testkit::TestServer;
use reqwest::Client;
use serde_json::Value;

mod commit;
mod lists;
mod notifications;
mod python;
mod sandbox;
mod upstream;

async fn post_json(server: &TestServer, merchant: &MerchantOutput, body: &Value) -> (u16, Value) {
    let response = Client::new()
        .post(server.url("/api/yookassa/PaymentCommit"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn assert_verified(server: &TestServer) {
    let report = commands::verify(&server.context).await.unwrap();
    assert!(report.ok, "{:?}", report.violations);
}
