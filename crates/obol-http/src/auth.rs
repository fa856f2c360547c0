//! How doors learn who calls: the client's address and the merchant logins several doors
//! accept (HTTP Basic `api_login:api_secret`, Softline's bearer tokens). Each door maps
//! [`AuthError`] to its own error body in one place.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use obol_core::credentials::SecretDigest;
use obol_core::tenancy::Merchant;
use obol_store::StoreError;
use obol_store::ops::bearer;

use crate::state::AppState;

/// Longest bearer token looked up; longer ones are refused unread.
const BEARER_TOKEN_MAX: usize = 256;

/// Why a login was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed or wrong credentials: the door answers its 401.
    #[error("not authorized")]
    Unauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The client's address, when the server knows it.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip().to_string()),
        ))
    }
}

/// The merchant named by HTTP Basic credentials (`api_login:api_secret`): one cached look-up
/// by login and one digest comparison, in constant time (SPEC §2).
pub async fn merchant_from_basic(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Merchant, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(AuthError::Unauthorized)?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or(AuthError::Unauthorized)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthError::Unauthorized)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthError::Unauthorized)?;
    let (login, secret) = text.split_once(':').ok_or(AuthError::Unauthorized)?;
    state
        .caches
        .merchant_by_credentials(&state.store, login, secret)
        .await?
        .ok_or(AuthError::Unauthorized)
}

/// The merchant named by a Softline bearer token (`Authorization: Bearer …`) that has not
/// expired.
pub async fn merchant_from_bearer(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Merchant, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(AuthError::Unauthorized)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AuthError::Unauthorized)?
        .trim();
    if token.is_empty() || token.len() > BEARER_TOKEN_MAX {
        return Err(AuthError::Unauthorized);
    }
    let digest = SecretDigest::of(token);
    let now = state.clock.now();
    state
        .store
        .read(move |db| Box::pin(async move { bearer::merchant_of_token(db, digest, now).await }))
        .await?
        .ok_or(AuthError::Unauthorized)
}
