//! The Softline door as the server mounts it.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obol_http::door::{CallbackFormat, Door, JobRunner};
use obol_http::routes::Routes;
use serde_json::{Map, Value};

use crate::errors::{METHOD_NOT_ALLOWED, SoftlineError};

pub struct SoftlineDoor;

impl Door for SoftlineDoor {
    fn routes(&self) -> Routes {
        crate::router()
    }

    fn owns_path(&self, path: &str) -> bool {
        crate::owns_path(path)
    }

    fn not_found(&self, _path: &str) -> Response {
        SoftlineError::not_found().into_response()
    }

    fn method_not_allowed(&self, _path: &str) -> Response {
        SoftlineError::one(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED).into_response()
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        crate::openapi::paths()
    }

    fn openapi_schemas(&self) -> Map<String, Value> {
        crate::openapi::schemas()
    }

    fn callback_format(&self) -> Option<Arc<dyn CallbackFormat>> {
        Some(Arc::new(crate::callbacks::SoftlineCallbacks))
    }

    fn jobs(&self) -> Vec<Arc<dyn JobRunner>> {
        vec![Arc::new(crate::deletion::DeletionJob)]
    }
}
