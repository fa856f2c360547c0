//! The first page after sign-in.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_http::auth::ClientIp;
use obol_http::state::AppState;

use crate::layout;
use crate::session;

pub(crate) async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let staff =
        match session::staff(&state, &headers, query.get("lang").map(String::as_str), ip).await {
            Ok(staff) => staff,
            Err(denied) => return denied.into_response(),
        };
    let frame = staff.frame("/dashboard");
    let words = frame.words();
    let body = html! {
        p { (words.signed_in_as) " " strong { (staff.manager.name.as_str()) } }
    };
    layout::respond(
        StatusCode::OK,
        layout::document(&frame, words.overview, body),
    )
}
