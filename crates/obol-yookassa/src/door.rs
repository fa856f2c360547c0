//! The YooKassa door as the server mounts it: the partner API (`/api/yookassa/…`) and the
//! v3-compatible sandbox upstream (`/sandbox/yookassa/…`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use obol_http::door::{CallbackFormat, Door};
use obol_http::routes::Routes;
use obol_http::upstream::UpstreamConnector;
use serde_json::{Map, Value};

use crate::connector::Connector;
use crate::sandbox::{self, YkError};

pub struct YookassaDoor {
    connector: Connector,
}

impl YookassaDoor {
    pub fn new() -> Result<YookassaDoor, reqwest::Error> {
        Ok(YookassaDoor {
            connector: Connector::new()?,
        })
    }
}

impl Door for YookassaDoor {
    fn routes(&self) -> Routes {
        crate::router(self.connector.clone())
    }

    fn owns_path(&self, path: &str) -> bool {
        crate::owns_path(path) || sandbox::owns_path(path)
    }

    fn not_found(&self, path: &str) -> Response {
        if sandbox::owns_path(path) {
            return YkError::new(StatusCode::NOT_FOUND, "not_found", "Not found").into_response();
        }
        crate::fallback(StatusCode::NOT_FOUND, "No such method.")
    }

    fn method_not_allowed(&self, path: &str) -> Response {
        if path.starts_with(crate::route::NOTIFICATION_PREFIX) {
            return crate::route::method_not_allowed();
        }
        if sandbox::owns_path(path) {
            return YkError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "This method is not allowed here",
            )
            .into_response();
        }
        crate::fallback(
            StatusCode::METHOD_NOT_ALLOWED,
            "PaymentCommit is called with POST.",
        )
    }

    /// Live routes of `kind = "yookassa"` settle through YooKassa's API.
    fn upstream_connector(&self) -> Option<Arc<dyn UpstreamConnector>> {
        Some(Arc::new(crate::route::YookassaRoutes::new(
            self.connector.clone(),
        )))
    }

    /// The sandbox's payments notify their shop in YooKassa's format.
    fn callback_format(&self) -> Option<Arc<dyn CallbackFormat>> {
        Some(Arc::new(sandbox::SandboxNotifications))
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        crate::openapi::paths()
    }

    fn openapi_schemas(&self) -> Map<String, Value> {
        crate::openapi::schemas()
    }
}
