//! Replaceable credentials over real HTTP, on SQLite and PostgreSQL: a merchant's rotated
//! `api_secret` stops at every door that takes it (and takes its bearer tokens with it), a
//! rotated callback secret signs beside the new one for a day, a manager's rotated token and a
//! disabled manager stop at once, Softline's refresh token works once and revokes nothing, and
//! what was signed or sealed under the operator key itself before per-purpose keys still works.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use obol_core::ids::MerchantId;
use obol_server::callbacks::signature;
use obol_server::commands::{self, MerchantOptions, MerchantOutput};
use obol_server::crypto::{hex, hmac_sha256};
use obol_store::testing::inspect;
use obol_testkit::{
    CallbackReceiver, Received, TestDatabase, TestServer, hidden_value, on_both_backends,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha512};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Paymega's private API with HTTP Basic.
async fn paymega(server: &TestServer, login: &str, secret: &str) -> StatusCode {
    client()
        .get(server.url("/api/payment-invoices"))
        .basic_auth(login, Some(secret))
        .send()
        .await
        .unwrap()
        .status()
}

/// Softline's `login_check`: the status and the pair (`token`, `refresh_token`) when given.
async fn login_check(server: &TestServer, login: &str, secret: &str) -> (StatusCode, Value) {
    let response = client()
        .post(server.url("/v1/login_check"))
        .json(&json!({ "username": login, "password": secret }))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn tokens(server: &TestServer, login: &str, secret: &str) -> (String, String) {
    let (status, body) = login_check(server, login, secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// A bearer token on Softline: 404 for an order that does not exist when the token is good,
/// 401 when it is not.
async fn softline_bearer(server: &TestServer, token: &str) -> StatusCode {
    client()
        .get(server.url("/v1/order/999999999"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn refresh(server: &TestServer, refresh_token: &str) -> (StatusCode, Value) {
    let response = client()
        .post(server.url("/v1/token/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// YooKassa's `PaymentCommit` with an empty body: 400 (the body is refused) once the caller is
/// known, 401 when not.
async fn commit(
    server: &TestServer,
    authorize: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> StatusCode {
    authorize(client().post(server.url("/api/yookassa/PaymentCommit")))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
}

/// A payment that does not exist, asked of the YooKassa sandbox with the shop id and secret
/// key: 404 for a known shop, 401 otherwise.
async fn sandbox(server: &TestServer, login: &str, secret: &str) -> StatusCode {
    client()
        .get(server.url("/sandbox/yookassa/v3/payments/00000000-0000-4000-8000-000000000000"))
        .basic_auth(login, Some(secret))
        .send()
        .await
        .unwrap()
        .status()
}

fn error_code(body: &Value) -> i64 {
    body["errors"][0]["error"].as_i64().unwrap_or_default()
}

async fn a_rotated_api_secret_stops_at_every_door(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (login, old) = (merchant.api_login.as_str(), merchant.api_secret.as_str());
    assert_eq!(paymega(&server, login, old).await, StatusCode::OK);
    let (bearer, refresh_token) = tokens(&server, login, old).await;
    assert_eq!(
        softline_bearer(&server, &bearer).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        commit(&server, |request| request.basic_auth(login, Some(old))).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        commit(&server, |request| request.bearer_auth(&bearer)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sandbox(&server, login, old).await, StatusCode::NOT_FOUND);

    let rotated = commands::rotate_api_secret(&server.context, merchant.id)
        .await
        .unwrap();
    assert_eq!(rotated.id, merchant.id);
    assert_eq!(rotated.api_login, merchant.api_login, "the login stays");
    let new = rotated.api_secret.as_str();
    assert!(new.starts_with("sk_test_") && new != old, "{new}");

    // The new secret works at once, even on a node that had the old one in its cache; from
    // then on that node refuses the old one.
    assert_eq!(paymega(&server, login, new).await, StatusCode::OK);
    assert_eq!(paymega(&server, login, old).await, StatusCode::UNAUTHORIZED);
    let (status, body) = login_check(&server, login, old).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 1001)
    );
    assert_eq!(login_check(&server, login, new).await.0, StatusCode::OK);
    assert_eq!(
        commit(&server, |request| request.basic_auth(login, Some(old))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        commit(&server, |request| request.basic_auth(login, Some(new))).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sandbox(&server, login, old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(sandbox(&server, login, new).await, StatusCode::NOT_FOUND);

    // A rotation usually follows a leak: the bearer tokens bought with the old secret go too.
    assert_eq!(
        softline_bearer(&server, &bearer).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        commit(&server, |request| request.bearer_auth(&bearer)).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = refresh(&server, &refresh_token).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 1008)
    );
    let (fresh, _) = tokens(&server, login, new).await;
    assert_eq!(
        softline_bearer(&server, &fresh).await,
        StatusCode::NOT_FOUND
    );

    let unknown = commands::rotate_api_secret(&server.context, 999_999)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "invalid_argument");
    assert_eq!(unknown.to_string(), "merchant 999999 does not exist");
    server.stop().await;
}

async fn a_refresh_token_gives_one_new_pair_and_revokes_nothing(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let (login, secret) = (merchant.api_login.as_str(), merchant.api_secret.as_str());
    let (older, older_refresh) = tokens(&server, login, secret).await;
    let (first, first_refresh) = tokens(&server, login, secret).await;

    let (status, renewed) = refresh(&server, &first_refresh).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (second, second_refresh) = (
        renewed["token"].as_str().unwrap().to_owned(),
        renewed["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert!(second != first && second_refresh != first_refresh);
    for token in [&older, &first, &second] {
        assert_eq!(
            softline_bearer(&server, token).await,
            StatusCode::NOT_FOUND,
            "using a refresh token revokes no access token, its own included"
        );
    }
    let (status, body) = refresh(&server, &first_refresh).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 1008),
        "a refresh token works once"
    );
    assert_eq!(refresh(&server, &second_refresh).await.0, StatusCode::OK);
    assert_eq!(
        refresh(&server, &older_refresh).await.0,
        StatusCode::OK,
        "another pair's refresh token is untouched"
    );

    // Many refreshes with one token at the same moment: one new pair.
    let (raced, raced_refresh) = tokens(&server, login, secret).await;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (
                server.url("/v1/token/refresh"),
                json!({ "refresh_token": raced_refresh }),
            );
            tokio::spawn(async move {
                let response = client().post(url).json(&body).send().await.unwrap();
                (response.status(), response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut pairs = Vec::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        match status {
            StatusCode::OK => pairs.push(body),
            StatusCode::UNAUTHORIZED => assert_eq!(error_code(&body), 1008, "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(pairs.len(), 1, "exactly one new pair: {pairs:?}");
    let winner = pairs[0]["token"].as_str().unwrap();
    assert_eq!(
        softline_bearer(&server, winner).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        softline_bearer(&server, &raced).await,
        StatusCode::NOT_FOUND
    );

    let (status, body) = refresh(&server, "not-a-refresh-token").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, 1008)
    );
    // Refresh tokens live 30 days.
    let (_, late_refresh) = tokens(&server, login, secret).await;
    server.clock.advance_seconds(30 * 86_400);
    assert_eq!(
        refresh(&server, &late_refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}

fn paymega_signature(secret: &str, body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(secret.as_bytes());
    hasher.update(body);
    hasher.update(secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

async fn invoice(server: &TestServer, merchant: &MerchantOutput, reference: &str, url: &str) {
    let response = client()
        .post(server.url("/api/payment-invoices"))
        .basic_auth(&merchant.api_login, Some(&merchant.api_secret))
        .json(&json!({ "data": { "type": "payment-invoices", "attributes": { "reference_id": reference, "amount": 5, "currency": "USD", "service": "payment_card_usd_hpp", "callback_url": url } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// The first callback whose body mentions `needle`, waiting for it.
async fn callback_with(receiver: &CallbackReceiver, needle: &str) -> Received {
    for count in 1.. {
        let received = receiver.wait_for(count).await;
        if let Some(found) = received
            .iter()
            .find(|callback| String::from_utf8_lossy(&callback.body).contains(needle))
        {
            return found.clone();
        }
    }
    unreachable!()
}

/// `t` and every `v1` of an `X-Obol-Signature`, in order.
fn parse_obol(header: &str) -> (i64, Vec<String>) {
    let mut timestamp = 0;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value.parse().unwrap(),
            Some(("v1", value)) => signatures.push(value.to_owned()),
            _ => panic!("unexpected part {part} in {header}"),
        }
    }
    (timestamp, signatures)
}

fn obol_v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    hex(&hmac_sha256(secret.as_bytes(), &message))
}

fn softline_signature(secret: &str, event: &Value) -> String {
    hex(&Sha512::digest(
        format!(
            "{secret};{};{};{};{};{};{}",
            event["event"].as_str().unwrap(),
            event["order_id"],
            event["create_date"].as_str().unwrap(),
            event["payment"]["payment_method"].as_str().unwrap(),
            event["currency"].as_str().unwrap(),
            event["customer"]["email"].as_str().unwrap()
        )
        .as_bytes(),
    ))
}

async fn a_rotated_callback_secret_signs_beside_the_old_one_for_a_day(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    let reseller = commands::create_reseller(&server.context, "R", None)
        .await
        .unwrap();
    let merchant = commands::create_merchant(
        &server.context,
        MerchantOptions {
            name: "Hooked".into(),
            reseller: reseller.id,
            webhook_url: Some(url.clone()),
            ..MerchantOptions::default()
        },
    )
    .await
    .unwrap();
    let old = merchant.callback_secret.clone();
    invoice(&server, &merchant, "before", &url).await;
    let before = callback_with(&receiver, "\"before\"").await;
    let (_, signatures) = parse_obol(&before.header("x-obol-signature"));
    assert_eq!(signatures.len(), 1, "one secret, one v1");

    let rotated = commands::rotate_callback_secret(&server.context, merchant.id)
        .await
        .unwrap();
    assert_eq!(rotated.id, merchant.id);
    let new = rotated.callback_secret.clone();
    assert!(new.starts_with("whsec_") && new != old);
    let (sealed, previous) = server
        .context
        .store
        .read(move |db| {
            Box::pin(inspect::sealed_callback_secrets(
                db,
                MerchantId::new(merchant.id),
            ))
        })
        .await
        .unwrap();
    assert!(
        !sealed
            .windows(new.len())
            .any(|window| window == new.as_bytes())
            && previous.is_some(),
        "stored sealed, like the one it replaces"
    );

    invoice(&server, &merchant, "during", &url).await;
    let during = callback_with(&receiver, "\"during\"").await;
    let (timestamp, signatures) = parse_obol(&during.header("x-obol-signature"));
    assert_eq!(
        signatures,
        vec![
            obol_v1(&new, timestamp, &during.body),
            obol_v1(&old, timestamp, &during.body)
        ],
        "t=…,v1=<new>,v1=<old>"
    );
    assert_eq!(
        during.header("x-signature"),
        paymega_signature(&new, &during.body),
        "Paymega's own signature uses the new secret only"
    );

    let (bearer, _) = tokens(&server, &merchant.api_login, &merchant.api_secret).await;
    let created = client()
        .post(server.url("/v1/payment"))
        .bearer_auth(&bearer)
        .json(&json!({ "currency": "RUB", "amount": "10.00", "return_success_url": "https://shop.example/ok", "payment_method": "CreditCard", "payment_id": "rotated-7", "customer": { "email": "buyer@example.com", "first_name": "A", "last_name": "B" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let webhook = callback_with(&receiver, "rotated-7").await;
    let event = webhook.json();
    assert_eq!(event["event"], "order.created");
    assert_eq!(
        webhook.header("signature"),
        softline_signature(&new, &event),
        "Softline's own signature uses the new secret only"
    );
    let (timestamp, signatures) = parse_obol(&webhook.header("x-obol-signature"));
    assert_eq!(
        signatures,
        vec![
            obol_v1(&new, timestamp, &webhook.body),
            obol_v1(&old, timestamp, &webhook.body)
        ]
    );

    // A day later the old secret no longer signs.
    server.clock.advance_seconds(24 * 3600);
    invoice(&server, &merchant, "after", &url).await;
    let after = callback_with(&receiver, "\"after\"").await;
    let header = after.header("x-obol-signature");
    let (timestamp, signatures) = parse_obol(&header);
    assert_eq!(signatures, vec![obol_v1(&new, timestamp, &after.body)]);
    assert!(!signature::verify_obol(&header, &old, &after.body));

    let unknown = commands::rotate_callback_secret(&server.context, 999_999)
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), "merchant 999999 does not exist");
    server.stop().await;
}

async fn me(server: &TestServer, token: &str) -> StatusCode {
    client()
        .get(server.url("/api/v3/managers/me"))
        .header("X-Api-Token", token)
        .header("Accept", "application/vnd.api+json")
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_managers_token_is_rotated_and_the_manager_disabled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let reseller = commands::create_reseller(&server.context, "R", None)
        .await
        .unwrap();
    let manager = commands::create_manager(&server.context, reseller.id, "admin", "Ann")
        .await
        .unwrap();
    let colleague = commands::create_manager(&server.context, reseller.id, "viewer", "Bob")
        .await
        .unwrap();
    assert_eq!(me(&server, &manager.api_token).await, StatusCode::OK);

    let rotated = commands::rotate_manager_token(&server.context, manager.id)
        .await
        .unwrap();
    assert_eq!(rotated.id, manager.id);
    assert_ne!(rotated.api_token, manager.api_token);
    assert_eq!(
        me(&server, &manager.api_token).await,
        StatusCode::UNAUTHORIZED,
        "the old token stops at once"
    );
    assert_eq!(me(&server, &rotated.api_token).await, StatusCode::OK);

    let disabled = commands::disable_manager(&server.context, manager.id)
        .await
        .unwrap();
    assert_eq!((disabled.id, disabled.disabled), (manager.id, true));
    assert_eq!(
        me(&server, &rotated.api_token).await,
        StatusCode::UNAUTHORIZED,
        "a disabled manager's token stops at once"
    );
    assert_eq!(
        me(&server, &colleague.api_token).await,
        StatusCode::OK,
        "other managers go on"
    );
    assert!(
        commands::disable_manager(&server.context, manager.id)
            .await
            .unwrap()
            .disabled,
        "disabling again changes nothing"
    );
    for error in [
        commands::rotate_manager_token(&server.context, 999_999)
            .await
            .unwrap_err(),
        commands::disable_manager(&server.context, 999_999)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.code(), "invalid_argument");
        assert_eq!(error.to_string(), "manager 999999 does not exist");
    }
    server.stop().await;
}

/// The test server's operator key itself, as the version before per-purpose keys used it.
fn raw_operator_key(server: &TestServer) -> Vec<u8> {
    let text = server.config.secret_key.as_ref().unwrap().expose();
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
}

/// A secret sealed as before per-purpose keys: version 1, under the operator key itself.
fn sealed_the_old_way(raw_key: &[u8], purpose: &str, secret: &str) -> Vec<u8> {
    let nonce = [9u8; 12];
    let ciphertext = ChaCha20Poly1305::new(Key::from_slice(raw_key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: purpose.as_bytes(),
            },
        )
        .unwrap();
    [vec![1], nonce.to_vec(), ciphertext].concat()
}

async fn what_was_made_under_the_operator_key_itself_keeps_working(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let raw = raw_operator_key(&server);
    let receiver = CallbackReceiver::start().await;
    let url = receiver.url().to_owned();
    let merchant = server.merchant(false, false).await;

    // A callback secret sealed by the old version still signs.
    let sealed = sealed_the_old_way(&raw, "merchant_callback_secret", "whsec_sealed_long_ago");
    let id = MerchantId::new(merchant.id);
    server
        .context
        .store
        .write(move |db| Box::pin(inspect::plant_callback_secret(db, id, sealed)))
        .await
        .unwrap();
    invoice(&server, &merchant, "legacy-sealed", &url).await;
    let callback = callback_with(&receiver, "legacy-sealed").await;
    assert!(signature::verify_obol(
        &callback.header("x-obol-signature"),
        "whsec_sealed_long_ago",
        &callback.body
    ));
    assert_eq!(
        callback.header("x-signature"),
        paymega_signature("whsec_sealed_long_ago", &callback.body)
    );

    // A Softline order link handed out before still opens; the new one too; a wrong one not.
    let (bearer, _) = tokens(&server, &merchant.api_login, &merchant.api_secret).await;
    let created: Value = client()
        .post(server.url("/v1/payment"))
        .bearer_auth(&bearer)
        .json(&json!({ "currency": "RUB", "amount": "10.00", "return_success_url": "https://shop.example/ok", "payment_method": "CreditCard", "payment_id": "old-link", "customer": { "email": "buyer@example.com", "first_name": "A", "last_name": "B" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id = created["order_id"].as_i64().unwrap();
    let link = created["payment_url"].as_str().unwrap();
    let legacy_hash =
        hex(&hmac_sha256(&raw, format!("softline-order:{order_id}").as_bytes())[..16]);
    assert!(
        !link.contains(&legacy_hash),
        "new links use the order-link key"
    );
    let legacy_link = server.url(&format!(
        "/order/status/{order_id}/{legacy_hash}?lang=en_EN"
    ));
    for (url, expected) in [
        (legacy_link.as_str(), StatusCode::SEE_OTHER),
        (link, StatusCode::SEE_OTHER),
        (
            &server.url(&format!("/order/status/{order_id}/{}", "0".repeat(32))),
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(
            client().get(url).send().await.unwrap().status(),
            expected,
            "{url}"
        );
    }

    // A page's CSRF token signed with the operator key itself (a form opened before the
    // upgrade) is still taken; one signed with another key is not.
    let page_url = client().get(&legacy_link).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = client()
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!hidden_value(&page, "csrf_token").is_empty());
    let cpi = page_url
        .split("cpi=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let expires = server.context.clock.now().unix_seconds() + 600;
    let claims = json!({ "sid": cpi, "pur": "csrf", "exp": expires });
    let forged = obol_server::tokens::sign_with(&[7u8; 32], &claims);
    let pay = |csrf: String| {
        client()
            .post(server.url(&format!("/hpp/pay?cpi={cpi}")))
            .form(&[
                ("card_number", "4242424242424242"),
                ("card_expiry", "12/39"),
                ("card_cvv", "123"),
                ("card_holder", ""),
                ("csrf_token", csrf.as_str()),
            ])
            .send()
    };
    let refused = pay(forged).await.unwrap();
    assert_ne!(
        refused.status(),
        StatusCode::SEE_OTHER,
        "a foreign key's token is refused"
    );
    let paid = pay(obol_server::tokens::sign_with(&raw, &claims))
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert_eq!(paid.headers()["location"], "https://shop.example/ok");
    server.stop().await;
}

on_both_backends!(
    a_rotated_api_secret_stops_at_every_door,
    a_refresh_token_gives_one_new_pair_and_revokes_nothing,
    a_rotated_callback_secret_signs_beside_the_old_one_for_a_day,
    a_managers_token_is_rotated_and_the_manager_disabled,
    what_was_made_under_the_operator_key_itself_keeps_working,
);
