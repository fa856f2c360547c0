//! The P2P dialect over real HTTP, on both backends: sessions, cards (API and hosted form),
//! DIRECT and BUCKET transfers, 3-D Secure and LOOKUP confirmation, declines, returns at
//! expiry (the test moves the server's clock), isolation between clients, signed requests,
//! idempotency and JWT callbacks received by a real HTTP receiver on loopback. Every scenario
//! ends with `obol verify` clean: the ledger balances and each transfer's transit matches.

use std::time::Duration;

use obol_server::commands::{self, P2pClientOutput, P2pTariff};
use obol_server::tokens;
use obol_store::testing::inspect;
use obol_testkit::{
    Behaviour, CallbackReceiver, START, TestDatabase, TestServer, hidden_value, on_both_backends,
};
use reqwest::Client;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

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

async fn direct_transfer_with_callbacks(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "1").await;
    let from = wallet.add_card(&server, VISA).await;
    let to = wallet.add_card(&server, MASTERCARD).await;
    let listed = wallet
        .call(&server, "/api/p2p/cards/list", json!({}), json!({}))
        .await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|card| card["cardId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [from.as_str(), to.as_str()]);
    assert!(!listed.to_string().contains(VISA), "never the full number");

    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    let mut data = transfer(&from, Some(&to), 10_000, "DIRECT");
    data["callbackUrl"] = json!(url);
    let created = wallet.create(&server, data).await;
    assert_eq!(created["status"], 1, "{created}");
    let created = &created["data"];
    assert_eq!(created["status"], "FINISHED");
    assert_eq!(created["type"], "DIRECT");
    assert_eq!(created["amount"], 10_000);
    assert_eq!(created["commissionAmount"], 100, "1 % of 100.00");
    assert_eq!(created["pendingAmount"], 0);
    assert_eq!(created["returnAmount"], Value::Null);
    assert_eq!(created["cardFromMasked"], "4111111111");
    assert_eq!(created["cardToMasked"], "5555554444");
    assert_eq!(created["callbackUrl"], url);
    let receipt = created["receiptId"].as_str().unwrap();
    assert_eq!(receipt.len(), 12);
    assert!(
        receipt
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    );
    assert_eq!(created["createdAt"], "2025-11-23T12:13:20.000Z");
    assert_eq!(
        operations(created),
        pairs(&[("SEND", "FINISHED"), ("RECEIVE", "FINISHED")])
    );
    assert_eq!(created["operations"][0]["externalId"], "ext-1");
    assert_eq!(created["operations"][0]["commissionAmount"], 100);
    assert_eq!(created["operations"][1]["amount"], 10_000);

    let id = created["id"].as_str().unwrap();
    let by_id = wallet.show(&server, id).await;
    let by_receipt = wallet
        .call(
            &server,
            "/api/p2p/payments/show",
            json!({ "receiptId": receipt }),
            json!({}),
        )
        .await;
    assert_eq!(&by_id, created);
    assert_eq!(by_receipt["data"], by_id);

    // The callback: {"token": JWT HS256 under the client's signing key}.
    let received = receiver.wait_for(1).await;
    let headers = &received[0].headers;
    let body = received[0].json();
    let claims = tokens::verify_with(
        wallet.client.signing_key.as_bytes(),
        body["token"].as_str().unwrap(),
    )
    .expect("signed with the client's key");
    assert_eq!(claims["paymentId"], id);
    assert_eq!(claims["paymentNumber"], receipt);
    assert_eq!(claims["externalId"], "ext-1");
    assert_eq!(claims["status"], "FINISHED");
    assert_eq!(claims["type"], "DIRECT");
    assert_eq!(claims["amount"], 10_000);
    assert_eq!(claims["cardFromMasked"], "4111111111");
    assert_eq!(claims["cardToMasked"], "5555554444");
    assert_eq!(
        claims["iat"],
        START.unix_seconds(),
        "signed when it is sent, by the server's clock"
    );
    assert!(tokens::verify_with(b"another key", body["token"].as_str().unwrap()).is_err());
    assert!(
        headers["x-obol-signature"]
            .to_str()
            .unwrap()
            .starts_with("t=")
    );
    assert!(headers.contains_key("x-obol-delivery-id"));
    assert_verified(&server).await;
    server.stop().await;
}

async fn bucket_received_in_two_parts(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let from = wallet.add_card(&server, VISA).await;
    let first = wallet.add_card(&server, MASTERCARD).await;
    let second = wallet.add_card(&server, "4242424242424242").await;
    let created = wallet
        .create(&server, transfer(&from, None, 400, "BUCKET"))
        .await;
    let created = &created["data"];
    assert_eq!(created["status"], "PROCESSING");
    assert_eq!(created["pendingAmount"], 400);
    assert_eq!(created["cardToId"], Value::Null);
    let id = created["id"].as_str().unwrap();

    let part = wallet.receive(&server, id, &first, 100).await;
    assert_eq!(part["status"], 1, "{part}");
    assert_eq!(part["data"]["status"], "PROCESSING");
    assert_eq!(part["data"]["pendingAmount"], 300);

    let too_much = wallet.receive(&server, id, &second, 301).await;
    assert_eq!(too_much["status"], 0);
    assert_eq!(too_much["error"]["code"], "AMOUNT_EXCEEDED");

    // The last part with an Idempotency-Key: a retry answers the first answer again, though
    // the bucket is finished by then.
    let mut rests = Vec::new();
    for _ in 0..2 {
        let response = Client::new()
            .post(server.url("/api/p2p/payments/receive"))
            .header("idempotency-key", "receive-rest")
            .json(
                &json!({ "params": { "sessionId": wallet.session, "id": id },
                           "data": { "cardTo": { "id": second }, "amount": 300 } }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        rests.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(rests[0], rests[1]);
    let rest = rests.remove(0);
    assert_eq!(rest["data"]["status"], "FINISHED");
    assert_eq!(rest["data"]["pendingAmount"], 0);
    assert_eq!(rest["data"]["cardToId"], second);
    let shown = wallet.show(&server, id).await;
    assert_eq!(
        operations(&shown),
        pairs(&[
            ("SEND", "FINISHED"),
            ("RECEIVE", "FINISHED"),
            ("RECEIVE", "FINISHED")
        ])
    );
    let after = wallet.receive(&server, id, &second, 1).await;
    assert_eq!(after["error"]["code"], "INVALID_PAYMENT_STATUS");
    assert_verified(&server).await;
    server.stop().await;
}

/// Only HTTP 200 delivers a P2P callback: a 204 and a 500 are retried 5 s and then 5 min
/// later (server time), each with a freshly signed token and the same delivery id.
async fn callbacks_retry_until_200(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let from = wallet.add_card(&server, VISA).await;
    let to = wallet.add_card(&server, MASTERCARD).await;
    let receiver =
        CallbackReceiver::scripted(&[Behaviour::Answer(500), Behaviour::Answer(204)]).await;
    let url = receiver.url().to_owned();
    let mut data = transfer(&from, Some(&to), 100, "DIRECT");
    data["callbackUrl"] = json!(url);
    wallet.create(&server, data).await;
    receiver.wait_for(1).await;
    // The clock moves only once the attempt is recorded: its retry is due 5 s after it ended.
    attempts_recorded(&server, 1).await;
    server.clock.advance_seconds(4);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 1, "not before 5 s");
    server.clock.advance_seconds(1);
    receiver.wait_for(2).await;
    attempts_recorded(&server, 2).await;
    server.clock.advance_seconds(300);
    let all = receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 3, "delivered: no more attempts");
    let ids: Vec<&str> = all
        .iter()
        .map(|received| received.headers["x-obol-delivery-id"].to_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    let iats: Vec<i64> = all
        .iter()
        .map(|received| {
            let body = received.json();
            tokens::verify_with(
                wallet.client.signing_key.as_bytes(),
                body["token"].as_str().unwrap(),
            )
            .unwrap()["iat"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let start = START.unix_seconds();
    assert_eq!(iats, [start, start + 5, start + 305]);
    server.stop().await;
}

/// Waits (in real time, briefly) until the server has recorded `count` delivery attempts.
async fn attempts_recorded(server: &TestServer, count: i64) {
    for _ in 0..400 {
        let recorded = server
            .context
            .store
            .read(|db| Box::pin(inspect::callback_attempt_count(db)))
            .await
            .unwrap();
        if recorded >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("expected {count} recorded attempts");
}

async fn three_ds_approve_and_reject(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let from = wallet.add_card(&server, THREE_DS).await;
    let to = wallet.add_card(&server, VISA).await;
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();
    for (decision, outcome) in [("approve", "FINISHED"), ("reject", "REJECTED")] {
        let created = wallet
            .create(&server, transfer(&from, Some(&to), 500, "DIRECT"))
            .await;
        let created = &created["data"];
        assert_eq!(created["status"], "NEEDS_CONFIRMATION");
        assert_eq!(created["confirmation"]["type"], "3DS");
        assert_eq!(operations(created), pairs(&[("SEND", "PROCESSING")]));
        let url = created["confirmation"]["url"].as_str().unwrap();
        assert!(url.starts_with(&server.base), "{url}");
        let page = browser.get(url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\">"));
        assert!(html.contains("name=\"decision\" value=\"approve\""));
        let csrf = hidden_value(&html, "csrf_token");
        let forged = browser
            .post(url)
            .form(&[("csrf_token", "forged"), ("decision", decision)])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let answered = browser
            .post(url)
            .form(&[("csrf_token", csrf.as_str()), ("decision", decision)])
            .send()
            .await
            .unwrap();
        assert_eq!(answered.status(), 303);
        let id = created["id"].as_str().unwrap();
        let shown = wallet.show(&server, id).await;
        assert_eq!(shown["status"], outcome);
        if outcome == "REJECTED" {
            assert_eq!(operations(&shown), pairs(&[("SEND", "REJECTED")]));
        }
        let result = browser.get(url).send().await.unwrap().text().await.unwrap();
        assert!(result.contains(&format!("data-status=\"{outcome}\"")));
    }
    assert_verified(&server).await;
    server.stop().await;
}

async fn lookup_codes(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let from = wallet.add_card(&server, LOOKUP).await;
    let to = wallet.add_card(&server, VISA).await;
    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    assert_eq!(created["data"]["status"], "NEEDS_CONFIRMATION");
    assert_eq!(created["data"]["confirmation"]["type"], "LOOKUP");
    let id = created["data"]["id"].as_str().unwrap();
    let wrong = wallet.confirm(&server, id, "000000").await;
    assert_eq!(wrong["status"], 0);
    assert_eq!(wrong["error"]["code"], "INVALID_CONFIRMATION_CODE");
    let right = wallet.confirm(&server, id, "123456").await;
    assert_eq!(right["status"], 1, "{right}");
    assert_eq!(right["data"]["status"], "FINISHED");

    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    let id = created["data"]["id"].as_str().unwrap();
    for attempt in 1..=3 {
        let wrong = wallet.confirm(&server, id, "111111").await;
        let expected = if attempt < 3 {
            "INVALID_CONFIRMATION_CODE"
        } else {
            "CONFIRMATION_ATTEMPTS_EXCEEDED"
        };
        assert_eq!(wrong["error"]["code"], expected, "attempt {attempt}");
    }
    assert_eq!(wallet.show(&server, id).await["status"], "REJECTED");
    let late = wallet.confirm(&server, id, "123456").await;
    assert_eq!(late["error"]["code"], "INVALID_PAYMENT_STATUS");

    // The same code on the hosted page: a wrong one shows the form again, the right one sends.
    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    let url = created["data"]["confirmation"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();
    let html = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"code\""));
    let csrf = hidden_value(&html, "csrf_token");
    let wrong = browser
        .post(&url)
        .form(&[("csrf_token", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 200);
    assert!(wrong.text().await.unwrap().contains("role=\"alert\""));
    let right = browser
        .post(&url)
        .form(&[("csrf_token", csrf.as_str()), ("code", "123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    assert_eq!(wallet.show(&server, &id).await["status"], "FINISHED");

    // The right code after the 15-minute window: refused, and the transfer is rejected.
    let created = wallet
        .create(&server, transfer(&from, Some(&to), 700, "DIRECT"))
        .await;
    let id = created["data"]["id"].as_str().unwrap();
    server.clock.advance_seconds(15 * 60);
    let overdue = wallet.confirm(&server, id, "123456").await;
    assert_eq!(overdue["error"]["code"], "INVALID_PAYMENT_STATUS");
    let shown = wallet.show(&server, id).await;
    assert_eq!(shown["status"], "REJECTED");
    assert_eq!(operations(&shown), pairs(&[("SEND", "REJECTED")]));
    assert_verified(&server).await;
    server.stop().await;
}

async fn declines_at_send_and_receive(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "2").await;
    let good = wallet.add_card(&server, VISA).await;
    let bad = wallet.add_card(&server, DECLINED).await;

    let rejected = wallet
        .create(&server, transfer(&bad, Some(&good), 1_000, "DIRECT"))
        .await;
    assert_eq!(rejected["status"], 1);
    assert_eq!(rejected["data"]["status"], "REJECTED");
    assert_eq!(
        operations(&rejected["data"]),
        pairs(&[("SEND", "REJECTED")])
    );

    let returned = wallet
        .create(&server, transfer(&good, Some(&bad), 1_000, "DIRECT"))
        .await;
    let returned = &returned["data"];
    assert_eq!(returned["status"], "RETURNED");
    assert_eq!(returned["returnAmount"], 1_000);
    assert_eq!(returned["returnCommissionAmount"], 20);
    assert_eq!(returned["pendingAmount"], 0);
    assert_eq!(
        operations(returned),
        pairs(&[
            ("SEND", "FINISHED"),
            ("RECEIVE", "REJECTED"),
            ("RETURN", "FINISHED")
        ])
    );

    let bucket = wallet
        .create(&server, transfer(&good, None, 1_000, "BUCKET"))
        .await;
    let id = bucket["data"]["id"].as_str().unwrap();
    let refused = wallet.receive(&server, id, &bad, 500).await;
    assert_eq!(refused["status"], 1, "{refused}");
    assert_eq!(refused["data"]["status"], "PROCESSING");
    assert_eq!(refused["data"]["pendingAmount"], 1_000);
    assert_eq!(
        operations(&refused["data"]),
        pairs(&[("SEND", "FINISHED"), ("RECEIVE", "REJECTED")])
    );
    assert_verified(&server).await;
    server.stop().await;
}

async fn bucket_expiry_returns_the_rest(database: TestDatabase) {
    let server = TestServer::start_with(database, &[("OBOL_P2P_BUCKET_LIFETIME_S", "60")]).await;
    let wallet = wallet(&server, false, "1").await;
    let from = wallet.add_card(&server, VISA).await;
    let to = wallet.add_card(&server, MASTERCARD).await;
    let created = wallet
        .create(&server, transfer(&from, None, 1_000, "BUCKET"))
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["commissionAmount"], 10);
    wallet.receive(&server, &id, &to, 400).await;
    server.clock.advance_seconds(59);
    assert_eq!(wallet.show(&server, &id).await["status"], "PROCESSING");
    server.clock.advance_seconds(1);
    let mut shown = Value::Null;
    for _ in 0..400 {
        shown = wallet.show(&server, &id).await;
        if shown["status"] != "PROCESSING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(shown["status"], "RETURNED");
    assert_eq!(shown["returnAmount"], 600);
    assert_eq!(shown["returnCommissionAmount"], 6);
    assert_eq!(shown["pendingAmount"], 0);
    assert_eq!(
        operations(&shown),
        pairs(&[
            ("SEND", "FINISHED"),
            ("RECEIVE", "FINISHED"),
            ("RETURN", "FINISHED")
        ])
    );
    assert_verified(&server).await;
    server.stop().await;
}

async fn clients_see_only_their_own(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let alice = wallet(&server, false, "0").await;
    let bob = wallet(&server, false, "0").await;
    let from = alice.add_card(&server, VISA).await;
    let bobs = bob.add_card(&server, MASTERCARD).await;
    let created = alice
        .create(&server, transfer(&from, None, 300, "BUCKET"))
        .await;
    let id = created["data"]["id"].as_str().unwrap();
    let receipt = created["data"]["receiptId"].as_str().unwrap();
    for params in [json!({ "id": id }), json!({ "receiptId": receipt })] {
        let seen = bob
            .call(&server, "/api/p2p/payments/show", params, json!({}))
            .await;
        assert_eq!(seen["error"]["code"], "PAYMENT_NOT_FOUND");
    }
    let taken = bob.receive(&server, id, &bobs, 300).await;
    assert_eq!(taken["error"]["code"], "PAYMENT_NOT_FOUND");
    let borrowed = bob
        .create(&server, transfer(&from, Some(&bobs), 100, "DIRECT"))
        .await;
    assert_eq!(borrowed["error"]["code"], "CARD_NOT_FOUND");
    let mine = alice.receive(&server, id, &bobs, 300).await;
    assert_eq!(mine["error"]["code"], "CARD_NOT_FOUND");
    let listed = bob
        .call(&server, "/api/p2p/cards/list", json!({}), json!({}))
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(alice.show(&server, id).await["pendingAmount"], 300);
    assert_verified(&server).await;
    server.stop().await;
}

async fn signed_requests_and_their_window(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, true, "0").await;
    let key = wallet.client.signing_key.clone();
    let plain = call(
        &server,
        "/api/sessions/create",
        json!({ "params": { "clientId": wallet.client.client_id } }),
    )
    .await;
    assert_eq!(plain["error"]["code"], "SIGNATURE_REQUIRED");
    let params = json!({ "sessionId": wallet.session });
    let data = json!({ "pan": VISA, "expiry": "12/30" });
    let now = START.unix_seconds();
    let late = call_signed(
        &server,
        "/api/p2p/cards/add",
        &key,
        params.clone(),
        data.clone(),
        now - 21,
    )
    .await;
    assert_eq!(late["error"]["code"], "TIMELIMIT_ERROR");
    let early = call_signed(
        &server,
        "/api/p2p/cards/add",
        &key,
        params.clone(),
        data.clone(),
        now + 21,
    )
    .await;
    assert_eq!(early["error"]["code"], "TIMELIMIT_ERROR");
    let forged = call_signed(
        &server,
        "/api/p2p/cards/add",
        "not the key",
        params.clone(),
        data.clone(),
        now,
    )
    .await;
    assert_eq!(forged["error"]["code"], "INVALID_SIGNATURE");
    let fine = call_signed(
        &server,
        "/api/p2p/cards/add",
        &key,
        params.clone(),
        data,
        now - 20,
    )
    .await;
    assert_eq!(fine["status"], 1, "{fine}");
    // An Idempotency-Key holds across re-signed retries (a new token, a new iat).
    let card = fine["data"]["cardId"].as_str().unwrap().to_owned();
    let other = call_signed(
        &server,
        "/api/p2p/cards/add",
        &key,
        params.clone(),
        json!({ "pan": MASTERCARD, "expiry": "12/30" }),
        now,
    )
    .await;
    let other = other["data"]["cardId"].as_str().unwrap().to_owned();
    let mut answers = Vec::new();
    for iat in [now - 5, now] {
        let token = tokens::sign_with(
            key.as_bytes(),
            &json!({ "params": params, "iat": iat, "data": transfer(&card, Some(&other), 100, "DIRECT") }),
        );
        let response = Client::new()
            .post(server.url("/api/p2p/payments/create"))
            .header("idempotency-key", "signed-1")
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap();
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0]["status"], 1, "{}", answers[0]);
    assert_eq!(answers[0], answers[1]);
    let unsigned = call(
        &server,
        "/api/p2p/cards/list",
        json!({ "params": params, "data": {} }),
    )
    .await;
    assert_eq!(unsigned["error"]["code"], "SIGNATURE_REQUIRED");
    assert_verified(&server).await;
    server.stop().await;
}

async fn envelope_errors_and_idempotency(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let from = wallet.add_card(&server, VISA).await;
    let to = wallet.add_card(&server, MASTERCARD).await;
    let http = Client::new();

    let response = http
        .post(server.url("/api/p2p/payments/show"))
        .header("content-type", "application/json")
        .body("{\"params\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 0);
    assert_eq!(body["error"]["code"], "INVALID_REQUEST");

    let response = http
        .get(server.url("/api/p2p/payments/show"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
    let (status, body) = post(&server, "/api/p2p/payments/nothing", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("NOT_FOUND"))
    );

    let unknown = call(
        &server,
        "/api/p2p/cards/list",
        json!({ "params": { "sessionId": "6d1b241b-6406-42a2-ae85-13d67b951841" } }),
    )
    .await;
    assert_eq!(unknown["error"]["code"], "SESSION_NOT_FOUND");
    let unknown_client = call(
        &server,
        "/api/sessions/create",
        json!({ "params": { "clientId": "6d1b241b-6406-42a2-ae85-13d67b951841" } }),
    )
    .await;
    assert_eq!(unknown_client["error"]["code"], "CLIENT_NOT_FOUND");

    for (field, value) in [
        ("amount", json!(1.5)),
        ("amount", json!("100")),
        ("amount", json!(0)),
        ("currency", json!(999)),
        ("type", json!("SIDEWAYS")),
        ("callbackUrl", json!("ftp://example.com/callbacks")),
    ] {
        let mut data = transfer(&from, Some(&to), 100, "DIRECT");
        data[field] = value.clone();
        let refused = wallet.create(&server, data).await;
        assert_eq!(
            refused["error"]["code"], "VALIDATION_ERROR",
            "{field} = {value}: {refused}"
        );
    }
    let mut no_code = transfer(&from, Some(&to), 100, "DIRECT");
    no_code["cardFrom"] = json!({ "id": from });
    assert_eq!(
        wallet.create(&server, no_code).await["error"]["code"],
        "VALIDATION_ERROR"
    );
    let bad_card = wallet
        .call(
            &server,
            "/api/p2p/cards/add",
            json!({}),
            json!({ "pan": "4111111111111112", "expiry": "12/30" }),
        )
        .await;
    assert_eq!(bad_card["error"]["code"], "INVALID_CARD");
    let alpha = wallet
        .create(&server, {
            let mut data = transfer(&from, Some(&to), 100, "DIRECT");
            data["currency"] = json!("UAH");
            data
        })
        .await;
    assert_eq!(alpha["data"]["currency"], 980);

    // Idempotency-Key: the same request once, another request with the key refused.
    let body = json!({ "params": { "sessionId": wallet.session }, "data": transfer(&from, Some(&to), 250, "DIRECT") });
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = http
            .post(server.url("/api/p2p/payments/create"))
            .header("idempotency-key", "transfer-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    let mut other = body.clone();
    other["data"]["amount"] = json!(251);
    let response = http
        .post(server.url("/api/p2p/payments/create"))
        .header("idempotency-key", "transfer-1")
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["status"], 0);
    assert_eq!(refused["error"]["code"], "IDEMPOTENCY_KEY_REUSED");

    server.clock.advance_seconds(3600);
    let expired = wallet
        .call(&server, "/api/p2p/cards/list", json!({}), json!({}))
        .await;
    assert_eq!(expired["error"]["code"], "SESSION_EXPIRED");
    assert_verified(&server).await;
    server.stop().await;
}

async fn hosted_card_form(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, false, "0").await;
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();
    let url = server.url(&format!("/p2p/cards/new?sessionId={}", wallet.session));
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for name in ["card_number", "card_expiry", "card_holder", "csrf_token"] {
        assert!(html.contains(&format!("name=\"{name}\"")), "{name}");
    }
    let csrf = hidden_value(&html, "csrf_token");
    let invalid = browser
        .post(&url)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("card_number", "4111111111111112"),
            ("card_expiry", "12/30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    assert!(!invalid.text().await.unwrap().contains("4111111111111112"));
    let saved = browser
        .post(&url)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("card_number", "4111 1111 1111 1111"),
            ("card_expiry", "12/30"),
            ("card_holder", "LESYA UKRAINKA"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let location = saved.headers()["location"].to_str().unwrap().to_owned();
    let added = browser
        .get(server.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(added.contains("4111111111"));
    let listed = wallet
        .call(&server, "/api/p2p/cards/list", json!({}), json!({}))
        .await;
    let card = &listed["data"][0];
    assert!(added.contains(card["cardId"].as_str().unwrap()));
    assert_eq!(card["panMasked"], "4111111111");
    assert_eq!(card["holder"], "LESYA UKRAINKA");
    // Only the vault token and the mask are stored.
    let tokens: Vec<String> = server
        .context
        .store
        .read(|db| Box::pin(inspect::stored_card_fields(db)))
        .await
        .unwrap();
    assert!(
        tokens
            .iter()
            .all(|stored| !stored.contains("4111111111111111"))
    );
    server.stop().await;
}

on_both_backends!(
    direct_transfer_with_callbacks,
    bucket_received_in_two_parts,
    three_ds_approve_and_reject,
    lookup_codes,
    declines_at_send_and_receive,
    bucket_expiry_returns_the_rest,
    clients_see_only_their_own,
    signed_requests_and_their_window,
    envelope_errors_and_idempotency,
    hosted_card_form,
    callbacks_retry_until_200,
);
