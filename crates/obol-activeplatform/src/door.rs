//! The ActivePlatform door as the server mounts it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obol_http::door::Door;
use obol_http::routes::Routes;
use serde_json::{Map, Value};

use crate::errors::ApiError;

pub struct ActivePlatformDoor;

impl Door for ActivePlatformDoor {
    fn routes(&self) -> Routes {
        crate::router()
    }

    fn owns_path(&self, path: &str) -> bool {
        crate::owns_path(path)
    }

    fn not_found(&self, _path: &str) -> Response {
        ApiError::not_found().into_response()
    }

    fn method_not_allowed(&self, _path: &str) -> Response {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response()
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        crate::openapi::paths()
    }

    fn openapi_schemas(&self) -> Map<String, Value> {
        crate::openapi::schemas()
    }
}
