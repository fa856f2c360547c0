//! Signing in with a manager's API token, and signing out (SPEC §7 "Dashboard contract":
//! `GET /dashboard/login` has a form with `api_token` and `csrf_token`; success answers 303 to
//! `/dashboard`; a wrong token shows the form again with an error, never a 5xx).

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::credentials::SecretDigest;
use obol_http::auth::{AuthError, CREDENTIAL_LENGTH_MAX, ClientIp, admit, failure};
use obol_http::state::AppState;
use obol_http::throttle::Credential;
use obol_store::ops::{audit, dashboard, tenancy};
use serde_json::{Map, Value, json};

use crate::layout::{self, Frame};
use crate::session;

type FormBody = Result<Form<HashMap<String, String>>, FormRejection>;

/// The sign-in page, with an error when a sign-in failed.
fn page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Option<&str>,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let language = session::language(headers, lang);
    let frame = Frame {
        language,
        staff: None,
        path: "/dashboard/login",
    };
    let words = frame.words();
    let csrf = session::login_csrf(state, state.clock.now());
    let body = html! {
        p { (words.sign_in_text) }
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form method="post" action="/dashboard/login" {
            input type="hidden" name="csrf_token" value=(csrf);
            label for="api_token" { (words.api_token) }
            input id="api_token" name="api_token" type="password" autocomplete="current-password" required;
            p { button type="submit" { (words.sign_in) } }
        }
    };
    let mut response = layout::respond(status, layout::document(&frame, words.sign_in, body));
    if let Some(lang) = lang.and_then(obol_http::page::texts::Language::parse) {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, session::language_cookie(state, lang));
    }
    response
}

pub(crate) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    page(
        &state,
        &headers,
        query.get("lang").map(String::as_str),
        StatusCode::OK,
        None,
    )
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page(&state, &headers, None, StatusCode::BAD_REQUEST, None);
    };
    let language = session::language(&headers, None);
    let words = crate::texts::words(language);
    if !session::login_csrf_valid(&state, fields.get("csrf_token").map(String::as_str)) {
        let frame = Frame {
            language,
            staff: None,
            path: "/dashboard/login",
        };
        return layout::forbidden(&frame);
    }
    let attempt = match admit(&state, ip.as_deref()) {
        Ok(attempt) => attempt,
        Err(_) => {
            return page(
                &state,
                &headers,
                None,
                StatusCode::TOO_MANY_REQUESTS,
                Some(words.too_many_attempts),
            );
        }
    };
    let token = fields
        .get("api_token")
        .map(|token| token.trim())
        .filter(|token| !token.is_empty() && token.len() <= CREDENTIAL_LENGTH_MAX);
    let Some(token) = token else {
        let _ = failure(&attempt, None);
        return page(
            &state,
            &headers,
            None,
            StatusCode::UNAUTHORIZED,
            Some(words.wrong_token),
        );
    };
    let digest = SecretDigest::of(token);
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move { tenancy::find_manager_by_token_with_standing(db, digest).await })
        })
        .await;
    let (manager, _, standing) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            let answer = match failure(&attempt, Some(Credential::Token(token))) {
                AuthError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, words.too_many_attempts),
                _ => (StatusCode::UNAUTHORIZED, words.wrong_token),
            };
            return page(&state, &headers, None, answer.0, Some(answer.1));
        }
        Err(error) => return layout::store_error(&error),
    };
    let id = session::new_session_id();
    let digest = session::digest_of(&id);
    let now = state.clock.now();
    let manager_id = manager.id;
    let generation = standing.token_generation;
    let address = ip.clone();
    let created = state
        .store
        .write(move |db| {
            Box::pin(async move {
                dashboard::create_session(
                    db,
                    &digest,
                    manager_id,
                    generation,
                    address.as_deref(),
                    now,
                )
                .await?;
                audit::record(
                    db,
                    manager_id,
                    "dashboard.sign_in",
                    &format!("manager:{manager_id}"),
                    address.as_deref(),
                    now,
                )
                .await
            })
        })
        .await;
    if let Err(error) = created {
        return layout::store_error(&error);
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static("/dashboard"))],
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::session_cookie(&state, &id));
    response
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let staff = match session::staff(&state, &headers, None, ip).await {
        Ok(staff) => staff,
        Err(denied) => return denied.into_response(),
    };
    let Ok(Form(fields)) = form else {
        return layout::bad_request(&staff.frame("/dashboard"));
    };
    if let Err(denied) = staff.check_csrf(&state, fields.get("csrf_token").map(String::as_str)) {
        return denied.into_response();
    }
    let digest = staff.digest().to_owned();
    let manager_id = staff.manager.id;
    let now = state.clock.now();
    let address = staff.ip.clone();
    let ended = state
        .store
        .write(move |db| {
            Box::pin(async move {
                dashboard::end_session(db, &digest).await?;
                audit::record(
                    db,
                    manager_id,
                    "dashboard.sign_out",
                    &format!("manager:{manager_id}"),
                    address.as_deref(),
                    now,
                )
                .await
            })
        })
        .await;
    if let Err(error) = ended {
        return layout::store_error(&error);
    }
    session::to_sign_in(&state)
}

/// An operation of a dashboard page in the OpenAPI document: HTML for people, documented so
/// that every route is. `form`: the fields a `POST` takes; `signed_in`: needs a session.
pub fn operation(summary: &str, form: Option<&[&str]>, signed_in: bool) -> Value {
    let html = json!({ "description": "An HTML page.", "content": { "text/html": { "schema": { "type": "string" } } } });
    let mut responses = Map::new();
    responses.insert("200".into(), html.clone());
    responses.insert(
        "303".into(),
        json!({ "description": "See other: the next page, or the sign-in page without a session." }),
    );
    let mut operation = json!({
        "tags": ["Dashboard"],
        "summary": summary,
        "security": if signed_in { json!([{ "dashboardSession": [] }]) } else { json!([]) },
    });
    if let Some(fields) = form {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|field| ((*field).to_owned(), json!({ "type": "string" })))
            .collect();
        operation["requestBody"] = json!({ "required": true, "content": { "application/x-www-form-urlencoded": { "schema": { "type": "object", "properties": properties } } } });
        responses.insert("400".into(), html.clone());
        responses.insert("403".into(), html.clone());
    }
    if signed_in {
        responses.insert("404".into(), html);
    }
    operation["responses"] = Value::Object(responses);
    operation
}

/// The sign-in pages and the overview in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        "/dashboard".into(),
        json!({ "get": operation("Overview", None, true) }),
    );
    let mut sign_in = operation(
        "Sign in with a manager's API token",
        Some(&["api_token", "csrf_token"]),
        false,
    );
    sign_in["responses"]["401"] =
        json!({ "description": "A wrong token: the form again, with an error." });
    sign_in["responses"]["429"] = json!({ "description": "Too many failed attempts." });
    paths.insert(
        "/dashboard/login".into(),
        json!({ "get": operation("The sign-in form", None, false), "post": sign_in }),
    );
    paths.insert(
        "/dashboard/transfers".into(),
        json!({ "get": operation("P2P transfers", None, true) }),
    );
    paths.insert(
        "/dashboard/logout".into(),
        json!({ "post": operation("Sign out", Some(&["csrf_token"]), true) }),
    );
    paths
}
