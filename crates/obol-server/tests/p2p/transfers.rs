//! DIRECT and BUCKET transfers: callbacks and their retries, a bucket received in two parts, the
//! rest returned at expiry.

use std::time::Duration;

use obol_server::tokens;
use obol_store::testing::inspect;
use obol_testkit::{
    Behaviour, CallbackReceiver, START, TestDatabase, TestServer, on_both_backends,
};
use reqwest::Client;
use serde_json::{Value, json};

use crate::{MASTERCARD, VISA, assert_verified, operations, pairs, transfer, wallet};

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

on_both_backends!(
    direct_transfer_with_callbacks,
    bucket_received_in_two_parts,
    bucket_expiry_returns_the_rest,
    callbacks_retry_until_200,
);
