//! Repeated failed authentication, door by door: after the burst the attacker's address is
//! refused before any check and wrong attempts with the attacked credential get 429 (in the
//! door's own format, with `Retry-After`), while the right credential from another address
//! keeps working.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};

use obol_server::commands;
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use serde_json::{Value, json};

use crate::{ADDRESS, ATTACKER, CREDENTIAL, ELSEWHERE, WRONG_ATTEMPTS, body_of, client_from};

/// What a brute-force scenario saw.
struct Verdicts {
    /// The attacker's wrong attempts, in order.
    attacker: Vec<reqwest::Response>,
    /// The right credential from another address.
    right_elsewhere: reqwest::Response,
    /// A wrong one from that other address.
    wrong_elsewhere: reqwest::Response,
    /// The right credential from the attacker's address.
    right_from_attacker: reqwest::Response,
}

/// `WRONG_ATTEMPTS` wrong attempts from [`ATTACKER`], then the right and a wrong credential
/// from [`ELSEWHERE`], then the right one from the attacker. `attempt(client, right)` sends one.
async fn brute_force<F, Answer>(attempt: F) -> Verdicts
where
    F: Fn(reqwest::Client, bool) -> Answer,
    Answer: Future<Output = reqwest::Response>,
{
    let (attacker, elsewhere) = (client_from(ATTACKER), client_from(ELSEWHERE));
    let mut attempts = Vec::new();
    for _ in 0..WRONG_ATTEMPTS {
        attempts.push(attempt(attacker.clone(), false).await);
    }
    Verdicts {
        attacker: attempts,
        right_elsewhere: attempt(elsewhere.clone(), true).await,
        wrong_elsewhere: attempt(elsewhere, false).await,
        right_from_attacker: attempt(attacker, true).await,
    }
}

/// The HTTP statuses of the attacker's attempts.
fn statuses(verdicts: &Verdicts) -> Vec<u16> {
    verdicts
        .attacker
        .iter()
        .map(|response| response.status().as_u16())
        .collect()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}", response.status()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn paymega_basic_is_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let url = server.url("/api/payment-invoices");
    let verdicts = brute_force(|client, right| {
        let secret = if right {
            merchant.api_secret.clone()
        } else {
            "sk_test_wrong".to_owned()
        };
        let request = client
            .get(&url)
            .basic_auth(&merchant.api_login, Some(secret));
        async move { request.send().await.unwrap() }
    })
    .await;
    let statuses = statuses(&verdicts);
    assert!(
        statuses[..CREDENTIAL].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[CREDENTIAL..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    assert_eq!(
        verdicts.right_elsewhere.status(),
        200,
        "the owner is not locked out"
    );
    assert_eq!(verdicts.right_from_attacker.status(), 429);
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 429);
    assert!(retry_after(&wrong) >= 1);
    assert_eq!(
        body_of(wrong).await,
        json!({ "errors": [{ "status": "Too Many Requests", "code": "429" }] })
    );
    server.stop().await;
}

async fn paymega_public_keys_are_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let url = server.url("/public-api/payment-prerequest");
    let verdicts = brute_force(|client, right| {
        let key = if right {
            merchant.public_key.clone()
        } else {
            "pk_test_guessed".to_owned()
        };
        let request = client
            .post(&url)
            .json(&json!({ "public_key": key, "currency": "USD" }));
        async move { request.send().await.unwrap() }
    })
    .await;
    let statuses = statuses(&verdicts);
    assert!(
        statuses[..CREDENTIAL].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[CREDENTIAL..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    assert_eq!(verdicts.right_elsewhere.status(), 200);
    assert_eq!(verdicts.right_from_attacker.status(), 429);
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 429);
    assert!(retry_after(&wrong) >= 1);
    assert_eq!(
        body_of(wrong).await,
        json!({ "errors": [{ "status": "Too Many Requests", "code": "429" }] })
    );
    // The HTML form answers a page, with the same status and header.
    let form = client_from(ATTACKER)
        .post(server.url("/public-api/payment-invoices/process"))
        .form(&[
            ("public_key", merchant.public_key.as_str()),
            ("amount", "10"),
            ("currency", "USD"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    assert!(retry_after(&form) >= 1);
    assert!(
        form.text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
    server.stop().await;
}

async fn softline_logins_and_tokens_are_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let login = server.url("/v1/login_check");
    let verdicts = brute_force(|client, right| {
        let password = if right {
            merchant.api_secret.clone()
        } else {
            "wrong".to_owned()
        };
        let request = client
            .post(&login)
            .json(&json!({ "username": merchant.api_login, "password": password }));
        async move { request.send().await.unwrap() }
    })
    .await;
    let statuses = statuses(&verdicts);
    assert!(
        statuses[..CREDENTIAL].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[CREDENTIAL..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    assert_eq!(verdicts.right_from_attacker.status(), 429);
    let right = verdicts.right_elsewhere;
    assert_eq!(right.status(), 200);
    let token = body_of(right).await["token"].as_str().unwrap().to_owned();
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 429);
    assert!(retry_after(&wrong) >= 1);
    assert_eq!(
        body_of(wrong).await,
        json!({ "errors": [{ "error": 1009, "message": "Too many failed authentication attempts. Try again later." }] })
    );

    // Bearer tokens: the address over its limit is refused before its token is looked at;
    // the token obtained elsewhere works elsewhere.
    let order = server.url("/v1/order/1");
    let refused = client_from(ATTACKER)
        .get(&order)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let served = client_from(ELSEWHERE)
        .get(&order)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        served.status(),
        404,
        "authenticated: the order does not exist"
    );
    server.stop().await;
}

async fn softline_bearer_guesses_are_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let token: Value = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))
        .post(server.url("/v1/login_check"))
        .json(&json!({ "username": merchant.api_login, "password": merchant.api_secret }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let url = server.url("/v1/order/1");
    let verdicts = brute_force(|client, right| {
        let presented = if right {
            token.clone()
        } else {
            "guessed-token-0000000000000000".to_owned()
        };
        let request = client.get(&url).bearer_auth(presented);
        async move { request.send().await.unwrap() }
    })
    .await;
    let statuses = statuses(&verdicts);
    assert!(
        statuses[..CREDENTIAL].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[CREDENTIAL..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    assert_eq!(verdicts.right_elsewhere.status(), 404, "authenticated");
    assert_eq!(verdicts.right_from_attacker.status(), 429);
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 429);
    assert!(retry_after(&wrong) >= 1);
    assert_eq!(body_of(wrong).await["errors"][0]["error"], 1009);
    server.stop().await;
}

async fn activeplatform_tokens_are_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let manager = commands::create_manager(&server.context, 1, "viewer", "Viewer")
        .await
        .unwrap();
    let url = server.url("/api/v3/managers/me");
    let verdicts = brute_force(|client, right| {
        let token = if right {
            manager.api_token.clone()
        } else {
            "guessed-api-token-000000000000".to_owned()
        };
        let request = client
            .get(&url)
            .header("Accept", "application/vnd.api+json")
            .header("X-Api-Token", token);
        async move { request.send().await.unwrap() }
    })
    .await;
    let statuses = statuses(&verdicts);
    assert!(
        statuses[..CREDENTIAL].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[CREDENTIAL..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    assert_eq!(verdicts.right_elsewhere.status(), 200);
    assert_eq!(verdicts.right_from_attacker.status(), 429);
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 429);
    assert!(retry_after(&wrong) >= 1);
    assert_eq!(
        wrong.text().await.unwrap(),
        json!({ "errors": { "title": "Too Many Requests", "status": "429" } }).to_string()
    );
    server.stop().await;
}

async fn p2p_clients_and_sessions_are_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let client = commands::create_p2p_client(&server.context, "Wallet", false)
        .await
        .unwrap();
    let url = server.url("/api/sessions/create");
    let verdicts = brute_force(|http, right| {
        let client_id = if right {
            client.client_id.clone()
        } else {
            "5b1f0c2e-0000-4000-8000-000000000000".to_owned()
        };
        let request = http
            .post(&url)
            .json(&json!({ "params": { "clientId": client_id }, "data": {} }));
        async move { request.send().await.unwrap() }
    })
    .await;
    // Identification faults are business answers (HTTP 200, status 0), the throttle's too.
    let mut codes = Vec::new();
    for response in verdicts.attacker {
        assert_eq!(response.status(), 200);
        codes.push(
            body_of(response).await["error"]["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(
        codes[..CREDENTIAL]
            .iter()
            .all(|code| code == "CLIENT_NOT_FOUND"),
        "{codes:?}"
    );
    assert!(
        codes[CREDENTIAL..]
            .iter()
            .all(|code| code == "TOO_MANY_REQUESTS"),
        "{codes:?}"
    );
    let right = body_of(verdicts.right_elsewhere).await;
    assert_eq!(right["status"], 1, "{right}");
    assert_eq!(
        body_of(verdicts.right_from_attacker).await["error"]["code"],
        "TOO_MANY_REQUESTS"
    );
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 200);
    assert!(retry_after(&wrong) >= 1);
    let body = body_of(wrong).await;
    assert_eq!(body["status"], 0);
    assert_eq!(body["error"]["code"], "TOO_MANY_REQUESTS");

    // Sessions: guessed session ids count against the address as well.
    let session = right["data"]["id"].as_str().unwrap().to_owned();
    let list = server.url("/api/p2p/cards/list");
    let guesser = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)));
    let mut codes = Vec::new();
    for index in 0..25 {
        let guessed = format!("{index:08x}-0000-4000-8000-000000000000");
        let answer: Value = guesser
            .post(&list)
            .json(&json!({ "params": { "sessionId": guessed } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(answer["error"]["code"].as_str().unwrap().to_owned());
    }
    assert!(
        codes[..ADDRESS]
            .iter()
            .all(|code| code == "SESSION_NOT_FOUND"),
        "{codes:?}"
    );
    assert!(
        codes[ADDRESS..]
            .iter()
            .all(|code| code == "TOO_MANY_REQUESTS"),
        "{codes:?}"
    );
    let listed: Value = client_from(ELSEWHERE)
        .post(&list)
        .json(&json!({ "params": { "sessionId": session } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["status"], 1, "{listed}");
    server.stop().await;
}

async fn yookassa_sandbox_logins_are_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let url = server.url("/sandbox/yookassa/v3/payments/000000000000000000000000000000000000");
    let verdicts = brute_force(|client, right| {
        let secret = if right {
            merchant.api_secret.clone()
        } else {
            "wrong".to_owned()
        };
        let request = client
            .get(&url)
            .basic_auth(&merchant.api_login, Some(secret));
        async move { request.send().await.unwrap() }
    })
    .await;
    let statuses = statuses(&verdicts);
    assert!(
        statuses[..CREDENTIAL].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[20..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    let right = verdicts.right_elsewhere;
    assert_eq!(right.status(), 404, "authenticated: no such payment");
    assert_eq!(body_of(right).await["code"], "not_found");
    assert_eq!(verdicts.right_from_attacker.status(), 429);
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 429);
    assert!(retry_after(&wrong) >= 1);
    let body = body_of(wrong).await;
    assert_eq!(body["type"], "error");
    assert_eq!(body["code"], "too_many_requests");
    assert!(
        body["id"].is_string() && body["description"].is_string(),
        "{body}"
    );
    server.stop().await;
}

async fn yookassa_payment_commit_logins_are_throttled(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let url = server.url("/api/yookassa/PaymentCommit");
    let verdicts = brute_force(|client, right| {
        let secret = if right {
            merchant.api_secret.clone()
        } else {
            "wrong".to_owned()
        };
        // No `Amount`: an authenticated caller gets the 400 of a bad body.
        let request = client
            .post(&url)
            .basic_auth(&merchant.api_login, Some(secret))
            .json(&json!({ "Refund": false }));
        async move { request.send().await.unwrap() }
    })
    .await;
    let statuses = statuses(&verdicts);
    assert!(
        statuses[..CREDENTIAL].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[20..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    let right = verdicts.right_elsewhere;
    assert_eq!(right.status(), 400);
    assert_eq!(body_of(right).await["ErrorCode"], 1);
    assert_eq!(verdicts.right_from_attacker.status(), 429);
    let wrong = verdicts.wrong_elsewhere;
    assert_eq!(wrong.status(), 429);
    assert!(retry_after(&wrong) >= 1);
    let body = body_of(wrong).await;
    assert_eq!(body["ErrorCode"], 11, "{body}");
    assert!(body["Message"].is_string(), "{body}");
    server.stop().await;
}

on_both_backends!(
    paymega_basic_is_throttled,
    paymega_public_keys_are_throttled,
    softline_logins_and_tokens_are_throttled,
    softline_bearer_guesses_are_throttled,
    activeplatform_tokens_are_throttled,
    p2p_clients_and_sessions_are_throttled,
    yookassa_sandbox_logins_are_throttled,
    yookassa_payment_commit_logins_are_throttled,
);
