//! Overlong credentials (SPEC §2: over 256 characters) are refused before any look-up, digest
//! or cache entry, and the caches count what they hold in bytes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use obol_testkit::{TestDatabase, TestServer, on_both_backends};
use serde_json::json;
use tower::ServiceExt;

use crate::ELSEWHERE;

/// Sends `request` in process as if from `peer`.
async fn call_from(app: &axum::Router, peer: SocketAddr, mut request: Request<Body>) -> StatusCode {
    request.extensions_mut().insert(ConnectInfo(peer));
    app.clone().oneshot(request).await.unwrap().status()
}

async fn overlong_credentials_never_reach_a_look_up_or_a_cache(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let merchant = server.merchant(false, false).await;
    let caches = &server.state().caches;
    let app = server.app();
    let before = caches.bytes();
    let username = "u".repeat(64 * 1024);
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:secret"))
    };
    for index in 0..300u32 {
        // Each from its own address, so that no address limit hides a look-up.
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + index)), 40_000);
        let private = Request::get("/api/payment-invoices")
            .header("authorization", format!("Basic {basic}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            call_from(&app, peer, private).await,
            StatusCode::UNAUTHORIZED
        );
        let login = Request::post("/v1/login_check")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({ "username": username, "password": "x" }).to_string(),
            ))
            .unwrap();
        assert_eq!(call_from(&app, peer, login).await, StatusCode::UNAUTHORIZED);
        let public = Request::post("/public-api/payment-prerequest")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({ "public_key": username, "currency": "USD" }).to_string(),
            ))
            .unwrap();
        assert_eq!(
            call_from(&app, peer, public).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        caches.bytes(),
        before,
        "no entry for an overlong credential"
    );

    // A credential of legal length is looked up and cached, and counted in bytes.
    let peer = SocketAddr::new(ELSEWHERE, 40_000);
    // (An unknown invoice: the answer needs the login and nothing else cached.)
    let right = Request::get("/api/payment-invoices/cpi_0000000000000000")
        .header(
            "authorization",
            format!("Basic {}", {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", merchant.api_login, merchant.api_secret))
            }),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(call_from(&app, peer, right).await, StatusCode::NOT_FOUND);
    let after = caches.bytes();
    assert!(
        after > before && after < before + 4096,
        "{before} → {after}"
    );
    server.stop().await;
}

on_both_backends!(overlong_credentials_never_reach_a_look_up_or_a_cache,);
