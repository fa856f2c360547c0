//! The Paymega dialect over real HTTP, checked against the seed's examples and SPEC §3.1, on
//! SQLite and PostgreSQL.

use obol_server::commands::MerchantOutput;
use obol_testkit::TestServer;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

mod invoices;
mod lists;
mod modes;
mod public;

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn private_post(
    server: &TestServer,
    merchant: &MerchantOutput,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = client()
        .post(server.url(path))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn private_get(
    server: &TestServer,
    merchant: &MerchantOutput,
    path: &str,
) -> (StatusCode, Value) {
    let response = client()
        .get(server.url(path))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn invoice(attributes: Value) -> Value {
    json!({ "data": { "type": "payment-invoices", "attributes": attributes } })
}

/// The seed's full private example, with an expiry inside the allowed window.
fn seed_example(reference: &str) -> Value {
    invoice(json!({
        "reference_id": reference,
        "amount": 100,
        "currency": "USD",
        "service": "payment_card_usd_hpp",
        "flow": "charge",
        "test_mode": true,
        "description": "Invoice Example",
        "gateway_options": { "cardgate": { "tokenize": false } },
        "customer": {
            "reference_id": "1203515",
            "email": "john@example.com",
            "name": "John Wick",
            "phone": "+380987654321",
            "metadata": { "key1": "value1", "key2": "value2" }
        },
        "metadata": { "key": "value" },
        "return_url": "https://example.com",
        "return_urls": { "success": "https://example.com/1", "pending": "https://example.com/2", "fail": "https://example.com/3" },
        "callback_url": "http://127.0.0.1:9/callback",
        "expires": "2025-11-24T12:00:00+00:00"
    }))
}

const PRIVATE_ATTRIBUTES: &[&str] = &[
    "serial_number",
    "status",
    "resolution",
    "moderation_required",
    "amount",
    "payment_amount",
    "currency",
    "service_currency",
    "reference_id",
    "test_mode",
    "fee",
    "deposit",
    "processed",
    "processed_amount",
    "refunded_amount",
    "processed_fee",
    "processed_deposit",
    "metadata",
    "flow_data",
    "flow",
    "payment_flow",
    "created",
    "updated",
    "payload",
    "description",
    "descriptor",
    "callback_url",
    "return_url",
    "original_data",
    "rrn",
    "approval_code",
    "reserved_amount",
    "reserve_expires",
    "unreserved",
    "source",
    "callback_logs",
];
