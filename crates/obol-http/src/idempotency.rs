//! The one idempotent write every door uses (SPEC §2). A door reads the `Idempotency-Key`
//! header with [`key_header`], names the key's scope and what a repeat must match, and runs its
//! write through [`write`]: without a key the write simply runs; with one it runs once per
//! (scope, key), its answer saved in the same transaction, and a repeat of the same request
//! gets that answer again. Each door renders the answer inside the operation and maps the
//! errors to its own body.

use axum::http::HeaderMap;
use obol_core::idempotency::{IdempotencyKey, IdempotencyScope, RequestFingerprint, SavedResponse};
use obol_core::time::Timestamp;
use obol_store::{BoxFuture, Db, Idempotent, Store, StoreResult};

/// The header's value is not a key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
pub struct InvalidKey;

/// The `Idempotency-Key` header: `None` when absent.
pub fn key_header(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, InvalidKey> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| IdempotencyKey::parse(text).ok())
        .map(Some)
        .ok_or(InvalidKey)
}

/// What makes a write idempotent: the key, where it is unique, and what a repeat must match.
pub struct KeyedRequest {
    pub scope: IdempotencyScope,
    pub key: IdempotencyKey,
    pub fingerprint: RequestFingerprint,
}

impl KeyedRequest {
    /// A key from `headers` (if any) in `scope`, compared by `fingerprint`.
    pub fn from_headers(
        headers: &HeaderMap,
        scope: &str,
        fingerprint: RequestFingerprint,
    ) -> Result<Option<KeyedRequest>, InvalidKey> {
        Ok(key_header(headers)?.map(|key| KeyedRequest {
            scope: IdempotencyScope::new(scope),
            key,
            fingerprint,
        }))
    }
}

/// Runs `operation` in one transaction: once per key when `request` has one. The operation
/// returns its value and the answer to save; a repeat gets [`Idempotent::Replayed`] with the
/// saved answer, a different request under the same key fails with the store's idempotency
/// error, which the door maps to its body.
pub async fn write<T, F>(
    store: &Store,
    now: Timestamp,
    request: Option<KeyedRequest>,
    operation: F,
) -> StoreResult<Idempotent<T>>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<(T, SavedResponse)>>
        + Send
        + 'static,
{
    match request {
        None => {
            let (value, response) = store.write(operation).await?;
            Ok(Idempotent::Fresh(value, response))
        }
        Some(KeyedRequest {
            scope,
            key,
            fingerprint,
        }) => {
            store
                .write_idempotent(scope, key, fingerprint, now, operation)
                .await
        }
    }
}

/// The answer saved (or replayed) by a write.
pub fn answer<T>(outcome: Idempotent<T>) -> SavedResponse {
    match outcome {
        Idempotent::Fresh(_, saved) | Idempotent::Replayed(saved) => saved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_header_is_absent_valid_or_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(key_header(&headers), Ok(None));
        headers.insert("idempotency-key", HeaderValue::from_static("order-1"));
        assert!(matches!(key_header(&headers), Ok(Some(_))));
        headers.insert("idempotency-key", HeaderValue::from_static(""));
        assert_eq!(key_header(&headers), Err(InvalidKey));
        headers.insert("idempotency-key", HeaderValue::from_static("with space"));
        assert_eq!(key_header(&headers), Err(InvalidKey));
    }
}
