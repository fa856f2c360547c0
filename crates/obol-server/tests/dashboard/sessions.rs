//! Signing in and out, the session cookie, CSRF, and when a session ends.

use obol_server::commands;
use obol_testkit::{TestDatabase, TestServer};
use reqwest::StatusCode;

use crate::{client, reseller, sign_in, staff};

pub async fn signing_in_and_out(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let root = reseller(&server, "Top", None).await;

    // The form of the contract.
    let (status, form) = {
        let response = client()
            .get(server.url("/dashboard/login"))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("<form method=\"post\""), "{form}");
    assert!(form.contains("name=\"api_token\""));
    assert!(form.contains("name=\"csrf_token\""));

    // A wrong token: the form again, with an error, never a 5xx.
    let wrong = sign_in(&server, "not-a-token").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    let page = wrong.text().await.unwrap();
    assert!(page.contains("name=\"api_token\""));
    assert!(page.contains("not accepted"), "{page}");

    // The right one: 303 to /dashboard with the session cookie, flags set.
    let manager =
        commands::create_manager(&server.context, root, "admin", "<script>alert(1)</script>")
            .await
            .unwrap();
    let signed = sign_in(&server, &manager.api_token).await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed.headers()["location"], "/dashboard");
    let set_cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("obol_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"));
    assert!(set_cookie.contains("SameSite=Strict"));
    assert!(set_cookie.contains("Path=/dashboard"));
    assert!(
        !set_cookie.contains("Secure"),
        "the test server is plain http"
    );
    let value = set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("obol_session=");
    assert_eq!(value.len(), 64, "only a random id");
    assert!(!value.contains(&manager.api_token));
    let cookie = format!("obol_session={value}");

    let overview = client()
        .get(server.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), StatusCode::OK);
    assert!(
        overview.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(overview.headers()["x-frame-options"], "DENY");
    let html = overview.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"),
        "a manager's name renders as text"
    );
    // The same page in Russian, by the switch.
    let russian = client()
        .get(server.url("/dashboard?lang=ru"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(russian.contains("lang=\"ru\""));
    assert!(russian.contains("Обзор"));

    // Without a session: to the sign-in page.
    let anonymous = client().get(server.url("/dashboard")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/dashboard/login");
    let forged = client()
        .get(server.url("/dashboard"))
        .header("cookie", format!("obol_session={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);

    // Signing out ends the session: the cookie no longer opens anything.
    let csrf = crate::attribute(&html, "name=\"csrf_token\" value=\"");
    let out = client()
        .post(server.url("/dashboard/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "/dashboard/login");
    let after = client()
        .get(server.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    server.stop().await;
}

pub async fn forms_need_their_csrf_token(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let root = reseller(&server, "Top", None).await;
    let (other, _) = staff(&server, root, "admin", "Bob").await;
    let (staff, _) = staff(&server, root, "admin", "Ann").await;
    for token in [
        None,
        Some("nonsense".to_owned()),
        Some(other.csrf(&server).await),
    ] {
        let mut form = Vec::new();
        if let Some(token) = &token {
            form.push(("csrf_token", token.as_str()));
        }
        let response = client()
            .post(server.url("/dashboard/logout"))
            .header("cookie", &staff.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{token:?}");
    }
    // The sign-in form's token is checked too.
    let response = client()
        .post(server.url("/dashboard/login"))
        .form(&[("api_token", "x"), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _) = staff.get(&server, "/dashboard").await;
    assert_eq!(status, StatusCode::OK, "still signed in");
    server.stop().await;
}

pub async fn a_disabled_or_rotated_manager_is_signed_out_at_once(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let root = reseller(&server, "Top", None).await;
    let (disabled, _) = staff(&server, root, "manager", "Dana").await;
    let (rotated, _) = staff(&server, root, "viewer", "Rob").await;
    assert_eq!(disabled.get(&server, "/dashboard").await.0, StatusCode::OK);
    assert_eq!(rotated.get(&server, "/dashboard").await.0, StatusCode::OK);

    commands::disable_manager(&server.context, disabled.manager_id)
        .await
        .unwrap();
    let new_token = commands::rotate_manager_token(&server.context, rotated.manager_id)
        .await
        .unwrap()
        .api_token;
    assert_eq!(
        disabled.get(&server, "/dashboard").await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        rotated.get(&server, "/dashboard").await.0,
        StatusCode::SEE_OTHER
    );
    // The rotated manager signs in again with the new token; the disabled one cannot.
    assert_eq!(
        sign_in(&server, &new_token).await.status(),
        StatusCode::SEE_OTHER
    );
    server.stop().await;
}

pub async fn sessions_end_after_twelve_idle_hours(database: TestDatabase) {
    let server = TestServer::start(database).await;
    let root = reseller(&server, "Top", None).await;
    let (ida, _) = staff(&server, root, "viewer", "Ida").await;
    // Used every eleven hours, it lives on.
    for _ in 0..3 {
        server.clock.advance_seconds(11 * 3_600);
        assert_eq!(ida.get(&server, "/dashboard").await.0, StatusCode::OK);
    }
    server.clock.advance_seconds(12 * 3_600);
    assert_eq!(
        ida.get(&server, "/dashboard").await.0,
        StatusCode::SEE_OTHER
    );
    server.stop().await;
}
