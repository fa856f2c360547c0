//! How doors learn who calls: the client's address and the merchant logins several doors
//! accept (HTTP Basic `api_login:api_secret`, Softline's bearer tokens, public keys). Each door
//! maps [`AuthError`] to its own error body in one place.
//!
//! Every check here is throttled ([`crate::throttle`]): an address that failed too often is
//! refused before anything is looked up, and a credential that was guessed at too often
//! answers a wrong attempt with [`AuthError::Throttled`] instead of `Unauthorized`. A missing
//! credential is not a failure (a browser's first request has none); a malformed, overlong or
//! wrong one is.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use obol_core::credentials::SecretDigest;
use obol_core::tenancy::Merchant;
use obol_store::StoreError;
use obol_store::ops::bearer;

use crate::state::AppState;
use crate::throttle::{Attempt, Credential, Throttled};

/// Longest credential of any kind (login, secret, public key, token) that is looked at: a
/// longer one is refused before any look-up, digest or cache entry (SPEC §2). Issued ones are
/// far shorter.
pub const CREDENTIAL_LENGTH_MAX: usize = 256;
/// Longest Basic credentials text decoded: a login and a secret of the longest length.
const BASIC_ENCODED_MAX: usize = (2 * CREDENTIAL_LENGTH_MAX + 1).div_ceil(3) * 4;

/// Why a login was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed or wrong credentials: the door answers its 401.
    #[error("not authorized")]
    Unauthorized,
    /// Too many failed attempts from this address, or wrong ones with this credential: the
    /// door answers its 429 with `Retry-After`.
    #[error("too many failed attempts; retry after {} s", .0.retry_after_s)]
    Throttled(Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The client's address, when the server knows it: the connection's, or the one a trusted
/// proxy reports ([`crate::address::TrustedProxies::client_address`], SPEC §1
/// `trusted_proxies`).
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| {
                    state
                        .config
                        .trusted_proxies
                        .client_address(info.0.ip(), &parts.headers)
                        .to_string()
                }),
        ))
    }
}

/// The `Retry-After` header of a refusal.
pub fn retry_after(throttled: Throttled) -> (header::HeaderName, HeaderValue) {
    (
        header::RETRY_AFTER,
        HeaderValue::from(throttled.retry_after_s),
    )
}

/// Lets an authentication attempt from `client` begin, or refuses it (the address failed too
/// often). For doors that check a credential of their own (manager and P2P tokens): they
/// report a failure with [`failure`].
pub fn admit<'a>(state: &'a AppState, client: Option<&str>) -> Result<Attempt<'a>, AuthError> {
    state
        .throttle
        .admit(client, state.clock.now())
        .map_err(AuthError::Throttled)
}

/// Counts a failed check and says how to answer it: `Unauthorized`, or `Throttled` when the
/// credential is over its limit.
pub fn failure(attempt: &Attempt<'_>, credential: Option<Credential<'_>>) -> AuthError {
    match attempt.failed(credential) {
        Some(throttled) => AuthError::Throttled(throttled),
        None => AuthError::Unauthorized,
    }
}

/// The merchant named by HTTP Basic credentials (`api_login:api_secret`): one cached look-up
/// by login and one digest comparison, in constant time (SPEC §2).
pub async fn merchant_from_basic(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
) -> Result<Merchant, AuthError> {
    let attempt = admit(state, client)?;
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(AuthError::Unauthorized);
    };
    let encoded = value
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
        })
        .map(str::trim)
        .filter(|encoded| encoded.len() <= BASIC_ENCODED_MAX)
        .ok_or_else(|| failure(&attempt, None))?;
    let text = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .ok_or_else(|| failure(&attempt, None))?;
    let (login, secret) = text
        .split_once(':')
        .ok_or_else(|| failure(&attempt, None))?;
    check_login(state, &attempt, login, secret).await
}

/// The merchant whose API login and secret these are (HTTP Basic's pair, Softline's
/// `login_check`).
pub async fn merchant_from_login(
    state: &AppState,
    client: Option<&str>,
    login: &str,
    secret: &str,
) -> Result<Merchant, AuthError> {
    let attempt = admit(state, client)?;
    check_login(state, &attempt, login, secret).await
}

async fn check_login(
    state: &AppState,
    attempt: &Attempt<'_>,
    login: &str,
    secret: &str,
) -> Result<Merchant, AuthError> {
    if login.is_empty() || login.len() > CREDENTIAL_LENGTH_MAX {
        return Err(failure(attempt, None));
    }
    if secret.len() > CREDENTIAL_LENGTH_MAX {
        return Err(failure(attempt, Some(Credential::Name(login))));
    }
    // A secret the cached entry refuses is checked against the database again, so a new
    // secret works at once after a rotation (`Caches::merchant_by_credentials`).
    match state
        .caches
        .merchant_by_credentials(&state.store, login, secret)
        .await?
    {
        Some(merchant) => Ok(merchant),
        None => Err(failure(attempt, Some(Credential::Name(login)))),
    }
}

/// The merchant named by a public key (`pk_test_…`, `pk_live_…`), which merchants publish:
/// throttled like a login, since an unknown one is a guess.
pub async fn merchant_from_public_key(
    state: &AppState,
    client: Option<&str>,
    key: Option<&str>,
) -> Result<Merchant, AuthError> {
    let attempt = admit(state, client)?;
    let key = key
        .filter(|key| !key.is_empty())
        .ok_or(AuthError::Unauthorized)?;
    if key.len() > CREDENTIAL_LENGTH_MAX {
        return Err(failure(&attempt, None));
    }
    state
        .caches
        .merchant_by_public_key(&state.store, key)
        .await?
        .ok_or_else(|| failure(&attempt, Some(Credential::Name(key))))
}

/// The merchant named by a Softline bearer token (`Authorization: Bearer …`) that has not
/// expired.
pub async fn merchant_from_bearer(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
) -> Result<Merchant, AuthError> {
    let attempt = admit(state, client)?;
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(AuthError::Unauthorized);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty() && token.len() <= CREDENTIAL_LENGTH_MAX)
        .ok_or_else(|| failure(&attempt, None))?;
    let digest = SecretDigest::of(token);
    let now = state.clock.now();
    state
        .store
        .read(move |db| Box::pin(async move { bearer::merchant_of_token(db, digest, now).await }))
        .await?
        .ok_or_else(|| failure(&attempt, Some(Credential::Token(token))))
}
