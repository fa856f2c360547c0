//! The hosted payment page as the server mounts it. Its unknown paths fall through to the
//! server's own 404.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obol_http::door::Door;
use obol_http::routes::Routes;
use serde_json::{Map, Value};

pub struct HostedPageDoor;

impl Door for HostedPageDoor {
    fn routes(&self) -> Routes {
        crate::router()
    }

    fn not_found(&self, _path: &str) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn method_not_allowed(&self, _path: &str) -> Response {
        StatusCode::METHOD_NOT_ALLOWED.into_response()
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        crate::openapi::paths()
    }
}
