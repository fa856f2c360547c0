//! Who a request comes from: a manager signed in to the dashboard.
//!
//! Signing in with an API token makes a session stored server-side; the cookie carries only
//! its random id (256 bits, hex), the database only the id's SHA-256. On every request the
//! session is read with its manager as the manager stands now, and the core decides whether it
//! still lets them in (`ManagerStanding::session_active`: not disabled, token not rotated, used
//! within 12 hours). Every form carries a CSRF token bound to the session.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::ids::RandomSource;
use obol_core::tenancy::{Ancestry, Manager, ManagerScope, Permission, TenancyError};
use obol_core::time::Timestamp;
use obol_http::crypto::OsRandom;
use obol_http::page::texts::Language;
use obol_http::state::AppState;
use obol_http::tokens;
use obol_store::ops::dashboard;
use sha2::{Digest, Sha256};

use crate::layout::{self, Frame};

/// The session cookie's name.
pub const COOKIE: &str = "obol_session";
/// The language cookie's name (set by the language switch).
pub const LANGUAGE_COOKIE: &str = "obol_lang";
/// A session is written as used at most this often: reading a page is not a write per request.
const TOUCH_EVERY_SECONDS: i64 = 60;
/// The CSRF token's purpose.
pub const CSRF_PURPOSE: &str = "dashboard-csrf";
/// How long the sign-in form's token is good for.
const LOGIN_FORM_SECONDS: i64 = 3_600;

/// The answer a request gets instead of its page (the sign-in page, 403, a failure); boxed,
/// as a response is large.
pub struct Denied(pub Box<Response>);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for Denied {
    fn from(response: Response) -> Denied {
        Denied(Box::new(response))
    }
}

/// A manager signed in, and what every page needs about them.
pub struct Staff {
    pub manager: Manager,
    pub ancestry: Ancestry,
    pub language: Language,
    pub ip: Option<String>,
    /// The token every form of this session's pages carries.
    pub csrf_token: String,
    digest: String,
}

impl Staff {
    pub fn scope(&self) -> ManagerScope {
        ManagerScope {
            manager_id: self.manager.id,
            reseller_id: self.manager.reseller_id,
            role: self.manager.role,
        }
    }

    /// Whether the manager is the operator's: of the root reseller, which alone sees what
    /// belongs to no reseller (P2P clients and their transfers).
    pub fn is_operator(&self) -> bool {
        self.scope().is_operator()
    }

    /// Whether the manager's role allows `permission` (on its own subtree).
    pub fn may(&self, permission: Permission) -> bool {
        self.scope().authorize(&self.ancestry, permission).is_ok()
    }

    /// Whether something of reseller `ancestry` is in this manager's subtree, for `permission`.
    pub fn reaches(&self, ancestry: &Ancestry, permission: Permission) -> Result<(), TenancyError> {
        self.scope().authorize(ancestry, permission)
    }

    /// The frame of this manager's pages, on `path`.
    pub fn frame<'a>(&'a self, path: &'a str) -> Frame<'a> {
        Frame {
            language: self.language,
            staff: Some(self),
            path,
        }
    }

    /// The form's CSRF token checked: 403 when missing or not this session's.
    pub fn check_csrf(&self, state: &AppState, token: Option<&str>) -> Result<(), Denied> {
        let valid = token.is_some_and(|token| {
            tokens::check(
                &state.key,
                token,
                CSRF_PURPOSE,
                &self.digest,
                state.clock.now(),
            )
            .is_ok()
        });
        if valid {
            Ok(())
        } else {
            Err(layout::forbidden(&self.frame("")).into())
        }
    }

    pub(crate) fn digest(&self) -> &str {
        &self.digest
    }
}

/// The digest under which a session id is stored.
pub fn digest_of(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A new session id: 32 random bytes, hex.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    OsRandom.fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A cookie's value from the request, if it has that cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The language of a page: `?lang=`, else the language cookie, else `Accept-Language`.
pub fn language(headers: &HeaderMap, query_lang: Option<&str>) -> Language {
    Language::choose(
        query_lang,
        cookie(headers, LANGUAGE_COOKIE),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok()),
    )
}

/// `Secure` when the dashboard is served over https (from `public_url`).
fn secure(state: &AppState) -> &'static str {
    if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// The `Set-Cookie` of a new session.
pub fn session_cookie(state: &AppState, id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/dashboard; HttpOnly; SameSite=Strict{}",
        secure(state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("obol_session=; Max-Age=0"))
}

/// The `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(state: &AppState) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/dashboard; Max-Age=0; HttpOnly; SameSite=Strict{}",
        secure(state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("obol_session=; Max-Age=0"))
}

/// The `Set-Cookie` remembering a chosen language.
pub fn language_cookie(state: &AppState, language: Language) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{LANGUAGE_COOKIE}={}; Path=/dashboard; Max-Age=31536000; SameSite=Strict{}",
        language.code(),
        secure(state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("obol_lang=en"))
}

/// To the sign-in page, forgetting the session cookie.
pub fn to_sign_in(state: &AppState) -> Response {
    let mut response = (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_static("/dashboard/login"),
        )],
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(state));
    response
}

/// The manager a request comes from, or the answer to give instead: to the sign-in page when
/// there is no session or it no longer lets them in (it is then ended).
pub async fn staff(
    state: &AppState,
    headers: &HeaderMap,
    query_lang: Option<&str>,
    ip: Option<String>,
) -> Result<Staff, Denied> {
    let Some(id) = cookie(headers, COOKIE)
        .filter(|id| id.len() == 64 && id.bytes().all(|byte| byte.is_ascii_hexdigit()))
    else {
        return Err(to_sign_in(state).into());
    };
    let digest = digest_of(id);
    let now = state.clock.now();
    let key = digest.clone();
    let found = state
        .store
        .read(move |db| Box::pin(async move { dashboard::session(db, &key).await }))
        .await
        .map_err(|error| Denied::from(layout::store_error(&error)))?;
    let Some(session) = found else {
        return Err(to_sign_in(state).into());
    };
    if !session
        .standing
        .session_active(session.token_generation, session.last_seen_at, now)
    {
        let key = digest.clone();
        let _ = state
            .store
            .write(move |db| Box::pin(async move { dashboard::end_session(db, &key).await }))
            .await;
        return Err(to_sign_in(state).into());
    }
    if now >= session.last_seen_at.plus_seconds(TOUCH_EVERY_SECONDS) {
        let key = digest.clone();
        state
            .store
            .write(move |db| Box::pin(async move { dashboard::touch_session(db, &key, now).await }))
            .await
            .map_err(|error| Denied::from(layout::store_error(&error)))?;
    }
    Ok(Staff {
        csrf_token: tokens::issue(
            &state.key,
            CSRF_PURPOSE,
            &digest,
            now.plus_seconds(obol_core::credentials::rotation::SESSION_IDLE_SECONDS),
        ),
        manager: session.manager,
        ancestry: session.ancestry,
        language: language(headers, query_lang),
        ip,
        digest,
    })
}

/// The sign-in form's CSRF token (there is no session yet).
pub fn login_csrf(state: &AppState, now: Timestamp) -> String {
    tokens::issue(
        &state.key,
        CSRF_PURPOSE,
        "login",
        now.plus_seconds(LOGIN_FORM_SECONDS),
    )
}

pub fn login_csrf_valid(state: &AppState, token: Option<&str>) -> bool {
    token.is_some_and(|token| {
        tokens::check(&state.key, token, CSRF_PURPOSE, "login", state.clock.now()).is_ok()
    })
}
