//! The dashboard as the server mounts it.

use axum::http::StatusCode;
use axum::response::Response;
use obol_http::door::Door;
use obol_http::routes::Routes;
use serde_json::{Map, Value};

use crate::layout;

pub struct DashboardDoor;

impl Door for DashboardDoor {
    fn routes(&self) -> Routes {
        crate::router()
    }

    fn owns_path(&self, path: &str) -> bool {
        crate::owns_path(path)
    }

    fn not_found(&self, _path: &str) -> Response {
        layout::bare_message(StatusCode::NOT_FOUND)
    }

    fn method_not_allowed(&self, _path: &str) -> Response {
        layout::bare_message(StatusCode::METHOD_NOT_ALLOWED)
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        let mut paths = crate::login::openapi_paths();
        paths.extend(crate::payments::openapi_paths());
        paths.extend(crate::merchants::openapi_paths());
        paths.extend(crate::merchant_services::openapi_paths());
        paths.extend(crate::resellers::openapi_paths());
        paths.extend(crate::managers::openapi_paths());
        paths.extend(crate::balances::openapi_paths());
        paths.extend(crate::audit::openapi_paths());
        paths.extend(crate::p2p_clients::openapi_paths());
        paths.extend(crate::refund_requests::openapi_paths());
        paths
    }
}
