//! The Paymega door as the server mounts it.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use obol_http::door::{CallbackFormat, CheckoutEntry, Door};
use obol_http::routes::Routes;
use obol_http::state::AppState;
use serde_json::{Map, Value};

use crate::errors::PaymegaError;

pub struct PaymegaDoor;

impl Door for PaymegaDoor {
    fn routes(&self) -> Routes {
        crate::router()
    }

    fn owns_path(&self, path: &str) -> bool {
        crate::owns_path(path)
    }

    fn not_found(&self, _path: &str) -> Response {
        PaymegaError::NotFound.into_response()
    }

    fn method_not_allowed(&self, _path: &str) -> Response {
        PaymegaError::MethodNotAllowed.into_response()
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        crate::openapi::paths()
    }

    fn openapi_schemas(&self) -> Map<String, Value> {
        crate::openapi::schemas()
    }

    fn callback_format(&self) -> Option<Arc<dyn CallbackFormat>> {
        Some(Arc::new(crate::callbacks::PaymegaCallbacks))
    }

    fn checkout_entry(&self) -> Option<Arc<dyn CheckoutEntry>> {
        Some(Arc::new(PaymegaCheckout))
    }
}

/// Corefy's checkout parameters (`/hpp/?public_key=…&amount=…&currency=…`) create the invoice
/// first, then send the browser to its page, exactly as the HTML form does.
struct PaymegaCheckout;

impl CheckoutEntry for PaymegaCheckout {
    fn claims(&self, pairs: &[(String, String)]) -> bool {
        pairs.iter().any(|(key, _)| key == "public_key")
    }

    fn enter<'a>(
        &'a self,
        state: &'a AppState,
        pairs: &'a [(String, String)],
        headers: &'a HeaderMap,
        client_ip: Option<String>,
    ) -> BoxFuture<'a, Response> {
        Box::pin(crate::form::create_and_redirect(
            state, pairs, headers, client_ip,
        ))
    }
}
