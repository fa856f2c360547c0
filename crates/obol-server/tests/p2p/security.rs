//! The attacks of issue #14 on the P2P door, each tried and shown to fail: one user's session
//! reaching another user's cards, a card-form link that opens a session (or works twice), a
//! replayed signed request, credentials readable in the database.

use obol_core::credentials::SecretDigest;
use obol_server::commands;
use obol_server::tokens;
use obol_store::ops::p2p::digest_text;
use obol_store::testing::inspect;
use obol_testkit::{START, TestDatabase, TestServer, hidden_value, on_both_backends};
use reqwest::Client;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::{
    LOOKUP, MASTERCARD, VISA, assert_verified, call, call_signed, session_of, transfer, wallet,
};

async fn users_reach_only_their_own_cards(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let whole = wallet(&server, false, "0").await;
    let alice = session_of(&server, &whole.client, Some("alice")).await;
    let bob = session_of(&server, &whole.client, Some("bob")).await;
    let alices = alice.add_card(&server, VISA).await;
    let alices_lookup = alice.add_card(&server, LOOKUP).await;
    let bobs = bob.add_card(&server, MASTERCARD).await;

    // Each user sees only its own cards; a session without userId sees the client's.
    assert_eq!(
        alice.list(&server).await,
        vec![alices.clone(), alices_lookup.clone()]
    );
    assert_eq!(bob.list(&server).await, vec![bobs.clone()]);
    assert_eq!(
        whole.list(&server).await,
        vec![alices.clone(), alices_lookup.clone(), bobs.clone()]
    );

    // Bob cannot send from Alice's card, to himself or to anyone.
    for to in [&bobs, &alices_lookup] {
        let stolen = bob
            .create(&server, transfer(&alices, Some(to), 1_000, "DIRECT"))
            .await;
        assert_eq!(stolen["error"]["code"], "CARD_NOT_FOUND", "{stolen}");
    }
    let bucket = bob
        .create(&server, transfer(&alices, None, 1_000, "BUCKET"))
        .await;
    assert_eq!(bucket["error"]["code"], "CARD_NOT_FOUND", "{bucket}");

    // He may pay Alice: cardTo of a DIRECT is any card of the client.
    let gift = bob
        .create(&server, transfer(&bobs, Some(&alices), 300, "DIRECT"))
        .await;
    assert_eq!(gift["data"]["status"], "FINISHED", "{gift}");

    // A BUCKET of Alice's is claimed by Bob only into his own card.
    let bucket = alice
        .create(&server, transfer(&alices, None, 500, "BUCKET"))
        .await;
    let id = bucket["data"]["id"].as_str().unwrap().to_owned();
    let into_alices = bob.receive(&server, &id, &alices, 500).await;
    assert_eq!(into_alices["error"]["code"], "CARD_NOT_FOUND");
    let into_his = bob.receive(&server, &id, &bobs, 500).await;
    assert_eq!(into_his["data"]["status"], "FINISHED", "{into_his}");

    // Alice's transfer waiting for its one-time code is confirmed by Alice only.
    let waiting = alice
        .create(
            &server,
            transfer(&alices_lookup, Some(&bobs), 200, "DIRECT"),
        )
        .await;
    assert_eq!(waiting["data"]["status"], "NEEDS_CONFIRMATION");
    let id = waiting["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        bob.confirm(&server, &id, "123456").await["error"]["code"],
        "PAYMENT_NOT_FOUND"
    );
    assert_eq!(
        alice.confirm(&server, &id, "123456").await["data"]["status"],
        "FINISHED"
    );

    // The whole client's session still acts for every user, as before.
    let by_client = whole
        .create(&server, transfer(&alices, Some(&bobs), 100, "DIRECT"))
        .await;
    assert_eq!(by_client["data"]["status"], "FINISHED", "{by_client}");

    // userId is 1 to 64 visible characters.
    for user in [
        json!(""),
        json!(" "),
        json!("a b"),
        json!("x".repeat(65)),
        json!(42),
        json!({}),
    ] {
        let refused = call(
            &server,
            "/api/sessions/create",
            json!({ "params": { "clientId": whole.client.client_id, "userId": user } }),
        )
        .await;
        assert_eq!(
            refused["error"]["code"], "VALIDATION_ERROR",
            "{user}: {refused}"
        );
    }
    assert_verified(&server).await;
    server.stop().await;
}

fn query_value(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, query)| query).unwrap_or("");
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_default()
        .to_owned()
}

async fn a_card_form_link_works_once_and_carries_no_session(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let whole = wallet(&server, false, "0").await;
    let alice = session_of(&server, &whole.client, Some("alice")).await;
    let bob = session_of(&server, &whole.client, Some("bob")).await;
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();

    let answered = alice
        .call(&server, "/api/p2p/cards/form", json!({}), json!({}))
        .await;
    assert_eq!(answered["status"], 1, "{answered}");
    assert_eq!(answered["data"]["expiresAt"], "2025-11-23T12:28:20.000Z");
    let url = answered["data"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/p2p/cards/new?token=", server.base)),
        "{url}"
    );
    let token = query_value(&url, "token");
    assert!(token.len() >= 32, "{url}");
    for session in [&whole.session, &alice.session, &bob.session] {
        assert!(!url.contains(session.as_str()), "no session in the link");
    }
    assert!(!url.contains("sessionId"));

    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(page.headers()[name], value, "{name}");
    }
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    for session in [&whole.session, &alice.session, &bob.session] {
        assert!(!html.contains(session.as_str()), "no session in the page");
    }
    assert!(!html.contains("sessionId"));
    let csrf = hidden_value(&html, "csrf_token");
    let forged = browser
        .post(&url)
        .form(&[
            ("csrf_token", "forged"),
            ("card_number", VISA),
            ("card_expiry", "12/30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let card = [
        ("csrf_token", csrf.as_str()),
        ("card_number", VISA),
        ("card_expiry", "12/30"),
        ("card_holder", "LESYA UKRAINKA"),
    ];
    let saved = browser.post(&url).form(&card).send().await.unwrap();
    assert_eq!(saved.status(), 303);
    let location = saved.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains("sessionId"), "{location}");
    let added = browser
        .get(server.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cards = alice.list(&server).await;
    assert_eq!(cards.len(), 1, "the card is Alice's");
    assert!(added.contains(&cards[0]));
    assert!(bob.list(&server).await.is_empty(), "and not Bob's");
    assert_eq!(whole.list(&server).await, cards, "of the client");

    // Used once: the page and its form answer the error page, and add nothing.
    let again = browser.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 404);
    assert!(!again.text().await.unwrap().contains("card_number"));
    let twice = browser.post(&url).form(&card).send().await.unwrap();
    assert_eq!(twice.status(), 404);
    assert_eq!(alice.list(&server).await.len(), 1);

    // The page that took a session in its address opens nothing any more.
    let old = server.url(&format!("/p2p/cards/new?sessionId={}", whole.session));
    assert_eq!(browser.get(&old).send().await.unwrap().status(), 404);
    let posted = browser.post(&old).form(&card).send().await.unwrap();
    assert_eq!(posted.status(), 404);
    assert_eq!(whole.list(&server).await.len(), 1);

    // A link lasts 15 minutes.
    let late = alice.card_form_link(&server).await;
    server.clock.advance_seconds(15 * 60);
    assert_eq!(browser.get(&late).send().await.unwrap().status(), 404);

    // Only digests are stored: of the client id, of each session, of each link's token.
    let stored: Vec<String> = server
        .context
        .store
        .read(|db| Box::pin(inspect::stored_p2p_credentials(db)))
        .await
        .unwrap();
    for clear in [
        &whole.client.client_id,
        &whole.session,
        &alice.session,
        &bob.session,
        &token,
    ] {
        assert!(
            stored.iter().all(|value| !value.contains(clear.as_str())),
            "{clear} is stored in clear"
        );
        assert!(
            stored.contains(&digest_text(&SecretDigest::of(clear))),
            "{clear} is stored as its digest"
        );
    }
    server.stop().await;
}

async fn a_replayed_signed_request_is_refused(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, true, "0").await;
    let key = wallet.client.signing_key.clone();
    let now = START.unix_seconds();
    let params = json!({ "sessionId": wallet.session });
    let signed = |data: Value, iat: i64| {
        tokens::sign_with(
            key.as_bytes(),
            &json!({ "params": params, "data": data, "iat": iat }),
        )
    };
    let add = json!({ "pan": VISA, "expiry": "12/30" });
    let token = signed(add.clone(), now);
    let first = call(&server, "/api/p2p/cards/add", json!({ "token": token })).await;
    assert_eq!(first["status"], 1, "{first}");
    let replayed = call(&server, "/api/p2p/cards/add", json!({ "token": token })).await;
    assert_eq!(
        replayed["error"]["code"], "TOKEN_ALREADY_USED",
        "{replayed}"
    );
    // Sent to another method, the token is as spent.
    let elsewhere = call(&server, "/api/p2p/cards/list", json!({ "token": token })).await;
    assert_eq!(elsewhere["error"]["code"], "TOKEN_ALREADY_USED");
    let listed = call_signed(
        &server,
        "/api/p2p/cards/list",
        &key,
        params.clone(),
        json!({}),
        now,
    )
    .await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "the replay added no card: {listed}"
    );
    // A fresh token (a new iat) of the same request passes.
    let fresh = call(
        &server,
        "/api/p2p/cards/add",
        json!({ "token": signed(add.clone(), now - 1) }),
    )
    .await;
    assert_eq!(fresh["status"], 1, "{fresh}");

    // A replayed transfer moves money once, also when both copies arrive together.
    let from = first["data"]["cardId"].as_str().unwrap().to_owned();
    let to = fresh["data"]["cardId"].as_str().unwrap().to_owned();
    let create = signed(transfer(&from, Some(&to), 100, "DIRECT"), now);
    let send = || {
        let body = json!({ "token": create });
        let server = &server;
        async move { call(server, "/api/p2p/payments/create", body).await }
    };
    let (one, two) = tokio::join!(send(), send());
    let accepted = [&one, &two]
        .iter()
        .filter(|answer| answer["status"] == 1)
        .count();
    assert_eq!(accepted, 1, "{one}\n{two}");
    let refused = if one["status"] == 1 { &two } else { &one };
    assert_eq!(refused["error"]["code"], "TOKEN_ALREADY_USED");

    // Opening a session with a replayed token is refused too.
    let open = tokens::sign_with(
        key.as_bytes(),
        &json!({ "params": { "clientId": wallet.client.client_id }, "data": {}, "iat": now + 3 }),
    );
    let opened = call(&server, "/api/sessions/create", json!({ "token": open })).await;
    assert_eq!(opened["status"], 1, "{opened}");
    let reopened = call(&server, "/api/sessions/create", json!({ "token": open })).await;
    assert_eq!(reopened["error"]["code"], "TOKEN_ALREADY_USED");

    // Out of its window a token is refused for its time, spent or not.
    server.clock.advance_seconds(21);
    let late = call(&server, "/api/p2p/cards/add", json!({ "token": token })).await;
    assert_eq!(late["error"]["code"], "TIMELIMIT_ERROR");
    assert_verified(&server).await;
    server.stop().await;
}

async fn overlong_credentials_are_refused(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let long = "6d1b241b-6406-42a2-ae85-13d67b951841".repeat(8);
    let client = call(
        &server,
        "/api/sessions/create",
        json!({ "params": { "clientId": long } }),
    )
    .await;
    assert_eq!(client["error"]["code"], "CLIENT_NOT_FOUND");
    let session = call(
        &server,
        "/api/p2p/cards/list",
        json!({ "params": { "sessionId": long } }),
    )
    .await;
    assert_eq!(session["error"]["code"], "SESSION_NOT_FOUND");
    let page = Client::new()
        .get(server.url(&format!("/p2p/cards/new?token={}", "a".repeat(300))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    // A clientId spelled in capitals is the same id.
    let wallet = wallet(&server, false, "0").await;
    let upper = call(
        &server,
        "/api/sessions/create",
        json!({ "params": { "clientId": wallet.client.client_id.to_uppercase() } }),
    )
    .await;
    assert_eq!(upper["status"], 1, "{upper}");
    server.stop().await;
}

async fn a_rotated_signing_key_stops_at_once(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let wallet = wallet(&server, true, "0").await;
    let old = wallet.client.signing_key.clone();
    let now = START.unix_seconds();
    let params = json!({ "sessionId": wallet.session });
    let before = call_signed(
        &server,
        "/api/p2p/cards/list",
        &old,
        params.clone(),
        json!({}),
        now,
    )
    .await;
    assert_eq!(before["status"], 1, "{before}");
    let rotated = commands::rotate_p2p_signing_key(&server.context, &wallet.client.client_id)
        .await
        .unwrap();
    assert_eq!(rotated.client_id, wallet.client.client_id);
    assert_ne!(rotated.signing_key, old);
    let refused = call_signed(
        &server,
        "/api/p2p/cards/list",
        &old,
        params.clone(),
        json!({}),
        now - 1,
    )
    .await;
    assert_eq!(refused["error"]["code"], "INVALID_SIGNATURE", "{refused}");
    let fine = call_signed(
        &server,
        "/api/p2p/cards/list",
        &rotated.signing_key,
        params.clone(),
        json!({}),
        now - 2,
    )
    .await;
    assert_eq!(fine["status"], 1, "{fine}");

    // Signing switched off, then on again.
    let unsigned = json!({ "params": params, "data": {} });
    let off = commands::update_p2p_client(&server.context, &wallet.client.client_id, false)
        .await
        .unwrap();
    assert!(!off.require_signed_requests);
    assert_eq!(
        call(&server, "/api/p2p/cards/list", unsigned.clone()).await["status"],
        1
    );
    commands::update_p2p_client(&server.context, &wallet.client.client_id, true)
        .await
        .unwrap();
    assert_eq!(
        call(&server, "/api/p2p/cards/list", unsigned).await["error"]["code"],
        "SIGNATURE_REQUIRED"
    );
    let unknown =
        commands::rotate_p2p_signing_key(&server.context, "6d1b241b-6406-42a2-ae85-13d67b951841")
            .await;
    assert!(unknown.is_err());
    server.stop().await;
}

on_both_backends!(
    a_rotated_signing_key_stops_at_once,
    users_reach_only_their_own_cards,
    a_card_form_link_works_once_and_carries_no_session,
    a_replayed_signed_request_is_refused,
    overlong_credentials_are_refused,
);
