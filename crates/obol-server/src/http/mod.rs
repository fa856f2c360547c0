//! The HTTP surface: the router, the middleware every request passes (request id, tracing,
//! metrics, body limit, timeout), and the operational endpoints. Dialects mount their own
//! routers here as they arrive. [`connections`] serves a router on a listener.

pub mod connections;
pub mod openapi;

pub use obol_http::metrics;

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use obol_http::crypto::OsRandom;
use obol_http::state::AppState;

/// Largest request body accepted (SPEC §8); larger ones answer 413 before being read whole.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// Longest a request may take from its headers to its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: 16 random bytes in hex, unless the client sent one.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 16];
        obol_core::ids::RandomSource::fill_bytes(&mut OsRandom, &mut bytes);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 32];
        for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        HeaderValue::from_bytes(&text).ok().map(RequestId::new)
    }
}

/// The whole application. `/metrics` is part of it unless `metrics.listen` gives it a
/// listener of its own ([`metrics_router`]); then this one answers 404 for it.
pub fn router(state: AppState) -> Router {
    let mut operational = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi_json));
    if state.config.metrics_listen.is_none() {
        operational = operational.route("/metrics", get(metrics_text));
    }
    let mut router = Router::new().merge(operational);
    for door in state.registry.doors() {
        router = router.merge(door.routes().into_router());
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER.clone(), RandomRequestId))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let request_id = request.headers().get("x-request-id").and_then(|value| value.to_str().ok()).unwrap_or_default();
                    // The path only: query strings may carry keys.
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER.clone()))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT)),
        )
        .with_state(state)
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Extension methods are folded into one label so clients cannot grow the series at will.
    let method = match *request.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => request.method().as_str().to_owned(),
        _ => "OTHER".to_owned(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database unavailable" })),
            )
                .into_response()
        }
    }
}

/// `/metrics` alone, for the listener `metrics.listen` names (request metrics and the
/// request timeout still apply; other paths answer 404).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": { "code": "not_found", "message": "No such route." } })),
            )
        })
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// The process's counters and the database gauges the background refresher last read
/// ([`crate::workers::gauges`]): no database work per scrape.
async fn metrics_text(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    if let Some(stats) = state.store.writer_stats() {
        text.push_str(&obol_http::metrics::render_writer(&stats));
    }
    if let Some(stats) = state.store.connection_stats() {
        text.push_str(&obol_http::metrics::render_connections(&stats));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn openapi_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(openapi::document(&state.public_url, state.registry.doors()))
}

/// Unknown routes answer in the format of the door that owns the prefix.
async fn not_found(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    if let Some(door) = state.registry.owner_of(uri.path()) {
        return door.not_found(uri.path());
    }
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": { "code": "not_found", "message": "No such route." } })),
    )
        .into_response()
}

/// A known route with another method (TRACE, QUERY, …) answers 405 in the owner's format,
/// never 501.
async fn method_not_allowed(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    if let Some(door) = state.registry.owner_of(uri.path()) {
        return door.method_not_allowed(uri.path());
    }
    (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "error": { "code": "method_not_allowed", "message": "This route does not take this method." } })))
        .into_response()
}
