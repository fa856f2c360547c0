//! A YooKassa-like upstream served on loopback by the test itself: it records every call, and
//! can be told to answer an error, garbage, an HTTP 500 or nothing at all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What the upstream does with the next call.
#[derive(Clone, Debug)]
pub(crate) enum Next {
    Status(u16, String),
    Garbage,
    Silence,
}

#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

#[derive(Clone, Default)]
pub(crate) struct Upstream {
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<VecDeque<Next>>>,
    payments: Arc<Mutex<HashMap<String, String>>>,
    /// Answers already given per Idempotence-Key, as YooKassa keeps them.
    answers: Arc<Mutex<HashMap<String, Value>>>,
}

impl Upstream {
    pub(crate) async fn start() -> (Upstream, String) {
        let upstream = Upstream::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v3", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/v3/payments", axum::routing::post(create_payment))
            .route("/v3/payments/{id}", axum::routing::get(get_payment))
            .route("/v3/refunds", axum::routing::post(create_refund))
            .with_state(upstream.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (upstream, base)
    }

    pub(crate) fn then(&self, next: Next) {
        self.script.lock().unwrap().push_back(next);
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn pay(&self, id: &str) {
        self.payments
            .lock()
            .unwrap()
            .insert(id.to_owned(), "succeeded".to_owned());
    }
}

async fn scripted(
    upstream: &Upstream,
    path: &str,
    headers: HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    upstream.calls.lock().unwrap().push(Call {
        path: path.to_owned(),
        headers,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    let next = upstream.script.lock().unwrap().pop_front();
    match next {
        None => None,
        Some(Next::Status(status, body)) => Some(
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
                .into_response(),
        ),
        Some(Next::Garbage) => Some((StatusCode::OK, "<html>gateway</html>").into_response()),
        Some(Next::Silence) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Some(StatusCode::OK.into_response())
        }
    }
}

fn remembered(upstream: &Upstream, headers: &HeaderMap, make: impl FnOnce() -> Value) -> Value {
    let key = headers
        .get("idempotence-key")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    upstream
        .answers
        .lock()
        .unwrap()
        .entry(key)
        .or_insert_with(make)
        .clone()
}

async fn create_payment(
    State(upstream): State<Upstream>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(answer) = scripted(&upstream, "/payments", headers.clone(), &body).await {
        return answer;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    // The shop `live-shop` (password `live_secret`) is a live shop; every other is a test shop.
    let live_shop = headers
        .get("authorization")
        .is_some_and(|value| value == "Basic bGl2ZS1zaG9wOmxpdmVfc2VjcmV0");
    let count = upstream.payments.lock().unwrap().len();
    let answer = remembered(&upstream, &headers, || {
        let id = format!("2f5f0{count:03}-000f-5000-8000-18db351245c7");
        upstream
            .payments
            .lock()
            .unwrap()
            .insert(id.clone(), "pending".to_owned());
        json!({ "id": id, "status": "pending", "paid": false, "amount": request["amount"],
                "confirmation": { "type": "embedded", "confirmation_token": format!("ct-{id}") },
                "created_at": "2026-11-23T12:00:00.000Z", "test": !live_shop })
    });
    axum::Json(answer).into_response()
}

async fn get_payment(
    State(upstream): State<Upstream>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = scripted(
        &upstream,
        &format!("/payments/{id}"),
        headers,
        &Bytes::new(),
    )
    .await
    {
        return answer;
    }
    match upstream.payments.lock().unwrap().get(&id) {
        Some(status) => axum::Json(json!({ "id": id, "status": status })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "type": "error", "id": "e1", "code": "not_found", "description": "Payment not found" })),
        )
            .into_response(),
    }
}

async fn create_refund(
    State(upstream): State<Upstream>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(answer) = scripted(&upstream, "/refunds", headers.clone(), &body).await {
        return answer;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let answer = remembered(&upstream, &headers, || {
        json!({ "id": "2f5f1000-0015-5000-9000-1a0b2c3d4e5f", "status": "succeeded",
                "payment_id": request["payment_id"], "amount": request["amount"] })
    });
    axum::Json(answer).into_response()
}
