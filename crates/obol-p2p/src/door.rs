//! The P2P door as the server mounts it.

use std::sync::Arc;

use axum::response::Response;
use futures_util::future::BoxFuture;
use obol_core::ids::Uuid;
use obol_core::time::Timestamp;
use obol_http::callbacks::outbox::Outbox;
use obol_http::door::{CallbackFormat, Door, JobRunner};
use obol_http::routes::Routes;
use obol_store::{Db, StoreError, StoreResult};
use serde_json::{Map, Value};

pub struct P2pDoor;

impl Door for P2pDoor {
    fn routes(&self) -> Routes {
        crate::router()
    }

    fn owns_path(&self, path: &str) -> bool {
        crate::owns_path(path)
    }

    fn not_found(&self, path: &str) -> Response {
        crate::fallback(path, false)
    }

    fn method_not_allowed(&self, path: &str) -> Response {
        crate::fallback(path, true)
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        crate::openapi::paths()
    }

    fn openapi_schemas(&self) -> Map<String, Value> {
        crate::openapi::schemas()
    }

    fn callback_format(&self) -> Option<Arc<dyn CallbackFormat>> {
        Some(Arc::new(crate::callbacks::P2pCallbacks))
    }

    fn jobs(&self) -> Vec<Arc<dyn JobRunner>> {
        vec![Arc::new(TransferExpiry)]
    }
}

/// A transfer's wait ended: unconfirmed ones are rejected, a BUCKET returns what was not
/// received; one decided meanwhile is left alone.
struct TransferExpiry;

impl JobRunner for TransferExpiry {
    fn kind(&self) -> &'static str {
        crate::transfers::EXPIRY_JOB
    }

    fn run<'a>(
        &'a self,
        db: &'a mut dyn Db,
        _outbox: &'a Outbox,
        subject: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let id = Uuid::parse(subject)
                .map_err(|_| StoreError::Corrupt(format!("job subject {subject}")))?;
            crate::transfers::expire(db, &id, now).await?;
            Ok(())
        })
    }
}
