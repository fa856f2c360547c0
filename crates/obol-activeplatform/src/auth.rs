//! Who is calling: JSON:API negotiation, the manager's token, and the manager's scope over
//! the path's reseller (404 outside it: never a leak).

use axum::http::{HeaderMap, StatusCode, header};
use obol_core::credentials::SecretDigest;
use obol_core::ids::ResellerId;
use obol_core::tenancy::{Manager, ManagerScope, Permission, Reseller, TenancyError};
use obol_http::auth::{CREDENTIAL_LENGTH_MAX, admit, failure};
use obol_http::state::AppState;
use obol_http::throttle::Credential;
use obol_store::StoreError;
use obol_store::ops::tenancy;

use crate::MEDIA_TYPE;
use crate::errors::ApiError;

/// A manager acting, with the ancestry of its reseller.
pub(crate) struct Caller {
    pub(crate) manager: Manager,
    scope: ManagerScope,
    pub(crate) ip: Option<String>,
}

/// JSON:API negotiation, then the manager's token.
pub(crate) async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    has_body: bool,
    ip: Option<String>,
) -> Result<Caller, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !accept
        .split(',')
        .any(|part| part.trim().starts_with(MEDIA_TYPE))
    {
        return Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "Not Acceptable"));
    }
    if has_body {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !content_type.trim().starts_with(MEDIA_TYPE) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
            ));
        }
    }
    // Failed tokens are throttled per address and token (an address over its limit is
    // refused here, before its token is looked at).
    let attempt = admit(state, ip.as_deref())?;
    let token = headers
        .get("x-api-token")
        .ok_or_else(ApiError::unauthorized)?
        .to_str()
        .ok()
        .filter(|token| !token.is_empty() && token.len() <= CREDENTIAL_LENGTH_MAX)
        .ok_or_else(|| failure(&attempt, None))?;
    let digest = SecretDigest::of(token);
    let (manager, _) = state
        .store
        .read(move |db| Box::pin(async move { tenancy::find_manager_by_token(db, digest).await }))
        .await?
        .ok_or_else(|| failure(&attempt, Some(Credential::Token(token))))?;
    let scope = ManagerScope {
        manager_id: manager.id,
        reseller_id: manager.reseller_id,
        role: manager.role,
    };
    Ok(Caller { manager, scope, ip })
}

/// The path's reseller, if the caller may see it (404 otherwise: never a leak).
pub(crate) async fn reseller_in_scope(
    state: &AppState,
    caller: &Caller,
    reseller: &str,
    permission: Permission,
) -> Result<Reseller, ApiError> {
    let id = ResellerId::parse(reseller).map_err(|_| ApiError::not_found())?;
    let found = state
        .store
        .read(move |db| Box::pin(async move { tenancy::get_reseller(db, id).await }))
        .await;
    let reseller = match found {
        Ok(reseller) => reseller,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found()),
        Err(error) => return Err(error.into()),
    };
    match caller.scope.authorize(&reseller.ancestry, permission) {
        Ok(()) => Ok(reseller),
        Err(TenancyError::PermissionDenied) => Err(ApiError::forbidden()),
        Err(_) => Err(ApiError::not_found()),
    }
}
