//! The P2P dialect over real HTTP, on both backends: sessions, cards (API and hosted form),
//! DIRECT and BUCKET transfers, 3-D Secure and LOOKUP confirmation, declines, returns at
//! expiry (the test moves the server's clock), isolation between clients, signed requests,
//! idempotency and JWT callbacks received by a real HTTP receiver on loopback. Every scenario
//! ends with `obol verify` clean: the ledger balances and each transfer's transit matches.

use obol_server::commands::{self, P2pClientOutput, P2pTariff};
use obol_server::tokens;
use obol_testkit::{START, TestServer};
use reqwest::Client;
use serde_json::{Value, json};

mod cards;
mod requests;
mod security;
mod transfers;

const VISA: &str = "4111111111111111";
const MASTERCARD: &str = "5555555555554444";
const DECLINED: &str = "4000000000000002";
const THREE_DS: &str = "4000000000003220";
const LOOKUP: &str = "4000000000003063";

struct Wallet {
    client: P2pClientOutput,
    session: String,
}

async fn wallet(server: &TestServer, signed: bool, rate: &str) -> Wallet {
    let client = commands::create_p2p_client_with(
        &server.context,
        "Wallet",
        signed,
        &P2pTariff {
            rate: rate.to_owned(),
            ..P2pTariff::default()
        },
    )
    .await
    .unwrap();
    let opened = if signed {
        call_signed(
            server,
            "/api/sessions/create",
            &client.signing_key,
            json!({ "clientId": client.client_id }),
            json!({}),
            START.unix_seconds(),
        )
        .await
    } else {
        call(
            server,
            "/api/sessions/create",
            json!({ "params": { "clientId": client.client_id } }),
        )
        .await
    };
    assert_eq!(opened["status"], 1, "{opened}");
    let session = opened["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        opened["data"]["expiresAt"], "2025-11-23T13:13:20.000Z",
        "one hour after the server's clock"
    );
    Wallet { client, session }
}

/// Another session of an unsigned client: for one of its users, or for the whole client.
async fn session_of(server: &TestServer, client: &P2pClientOutput, user: Option<&str>) -> Wallet {
    let mut params = json!({ "clientId": client.client_id });
    if let Some(user) = user {
        params["userId"] = json!(user);
    }
    let opened = call(server, "/api/sessions/create", json!({ "params": params })).await;
    assert_eq!(opened["status"], 1, "{opened}");
    Wallet {
        client: client.clone(),
        session: opened["data"]["id"].as_str().unwrap().to_owned(),
    }
}

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let response = Client::new()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn call(server: &TestServer, path: &str, body: Value) -> Value {
    let (status, body) = post(server, path, body).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn call_signed(
    server: &TestServer,
    path: &str,
    key: &str,
    params: Value,
    data: Value,
    iat: i64,
) -> Value {
    let token = tokens::sign_with(
        key.as_bytes(),
        &json!({ "params": params, "data": data, "iat": iat }),
    );
    call(server, path, json!({ "token": token })).await
}

impl Wallet {
    async fn call(&self, server: &TestServer, path: &str, params: Value, data: Value) -> Value {
        let mut params = params;
        params["sessionId"] = json!(self.session);
        call(server, path, json!({ "params": params, "data": data })).await
    }

    async fn add_card(&self, server: &TestServer, pan: &str) -> String {
        let added = self
            .call(
                server,
                "/api/p2p/cards/add",
                json!({}),
                json!({ "pan": pan, "expiry": "12/30", "holder": "TARAS SHEVCHENKO" }),
            )
            .await;
        assert_eq!(added["status"], 1, "{added}");
        assert_eq!(
            added["data"]["panMasked"],
            format!("{}{}", &pan[..6], &pan[pan.len() - 4..])
        );
        added["data"]["cardId"].as_str().unwrap().to_owned()
    }

    /// A link to the hosted card form, from `cards/form`.
    async fn card_form_link(&self, server: &TestServer) -> String {
        let answered = self
            .call(server, "/api/p2p/cards/form", json!({}), json!({}))
            .await;
        assert_eq!(answered["status"], 1, "{answered}");
        answered["data"]["url"].as_str().unwrap().to_owned()
    }

    async fn list(&self, server: &TestServer) -> Vec<String> {
        let listed = self
            .call(server, "/api/p2p/cards/list", json!({}), json!({}))
            .await;
        assert_eq!(listed["status"], 1, "{listed}");
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|card| card["cardId"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn create(&self, server: &TestServer, data: Value) -> Value {
        self.call(server, "/api/p2p/payments/create", json!({}), data)
            .await
    }

    async fn show(&self, server: &TestServer, id: &str) -> Value {
        let shown = self
            .call(
                server,
                "/api/p2p/payments/show",
                json!({ "id": id }),
                json!({}),
            )
            .await;
        assert_eq!(shown["status"], 1, "{shown}");
        shown["data"].clone()
    }

    async fn receive(&self, server: &TestServer, id: &str, card: &str, amount: i64) -> Value {
        self.call(
            server,
            "/api/p2p/payments/receive",
            json!({ "id": id }),
            json!({ "cardTo": { "id": card }, "amount": amount }),
        )
        .await
    }

    async fn confirm(&self, server: &TestServer, id: &str, code: &str) -> Value {
        self.call(
            server,
            "/api/p2p/payments/confirm",
            json!({ "id": id, "code": code }),
            json!({}),
        )
        .await
    }
}

fn transfer(from: &str, to: Option<&str>, amount: i64, kind: &str) -> Value {
    let mut data = json!({
        "externalId": "ext-1",
        "cardFrom": { "id": from, "securityCode": "123" },
        "amount": amount,
        "currency": 980,
        "description": "Gift",
        "type": kind,
    });
    if let Some(to) = to {
        data["cardTo"] = json!({ "id": to });
    }
    data
}

fn operations(transfer: &Value) -> Vec<(String, String)> {
    transfer["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|operation| {
            (
                operation["type"].as_str().unwrap().to_owned(),
                operation["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(kind, status)| (kind.to_string(), status.to_string()))
        .collect()
}

async fn assert_verified(server: &TestServer) {
    let report = commands::verify(&server.context).await.unwrap();
    assert!(report.ok, "{:?}", report.violations);
}
