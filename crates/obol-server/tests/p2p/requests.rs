//! The requests themselves: isolation between clients, signed requests and their window, envelope
//! errors and idempotency.

use obol_server::tokens;
use obol_testkit::{START, TestDatabase, TestServer, on_both_backends};
use reqwest::Client;
use serde_json::{Value, json};

use crate::{MASTERCARD, VISA, assert_verified, call, call_signed, post, transfer, wallet};

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

on_both_backends!(
    clients_see_only_their_own,
    signed_requests_and_their_window,
    envelope_errors_and_idempotency,
);
