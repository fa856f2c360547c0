//! The P2P transfer dialect (seed `002`, SPEC §3.4): an RPC envelope over `POST`. Requests are
//! `{"params": {…}, "data": {…}}` (or, for clients that sign, `{"token": "<JWT HS256 over
//! {params, data, iat}>"}`); answers are `{"status": 1, "data": …}` or `{"status": 0, "error":
//! {"code", "message"}}`. This module reads the envelope, finds the client (by `clientId` or
//! by session, both looked up by their digest), checks signatures and spends each signed
//! token once, turns fields into core values and renders the result; the rules of transfers
//! and of which cards a session may use are `obol_core::p2p`'s, the steps around them
//! `transfers.rs`'s.

pub mod callbacks;
pub mod door;
pub mod errors;
mod fields;
pub mod openapi;
pub mod pages;
pub mod render;
pub mod transfers;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::Timestamp;
use obol_core::card::{CardExpiry, CardNumber, check_security_code};
use obol_core::credentials::{IssuedSecret, SecretDigest};
use obol_core::idempotency::{RequestFingerprint, SavedResponse};
use obol_core::ids::{ReceiptId, Uuid};
use obol_core::money::Money;
use obol_core::p2p::{
    self as core_p2p, CardForm, CardUse, DESCRIPTION_MAX, P2pCard, P2pUserId, SessionScope,
    Transfer, TransferDraft, TransferKind,
};
use obol_core::sandbox::CardDecision;
use obol_store::ops::p2p::{self, ClientRecord, Session};
use obol_store::{BoxFuture, Db, StoreResult};
use serde_json::{Map, Value, json};

use errors::{ApiError, code};
use fields::*;
use obol_http::auth::{AuthError, ClientIp};
use obol_http::crypto::{OsRandom, purpose};
use obol_http::idempotency::{self, KeyedRequest};
use obol_http::json::canonical_json;
use obol_http::routes::Routes;
use obol_http::state::AppState;
use obol_http::throttle::{Attempt, Credential};
use obol_http::tokens;

/// How far a signed request's `iat` may be from the server's clock (the core's rule).
pub use obol_core::p2p::SIGNATURE_WINDOW_SECONDS;
/// Longest credential (`clientId`, `sessionId`, a card-form token) looked up: anything longer is
/// refused before any digest or look-up (SPEC §2).
pub const CREDENTIAL_LENGTH_MAX: usize = 256;
const HOLDER_MAX: usize = 64;
pub(crate) const URL_MAX: usize = 2048;

pub fn router() -> Routes {
    Routes::new()
        .post("/api/sessions/create", sessions_create)
        .post("/api/p2p/cards/add", cards_add)
        .post("/api/p2p/cards/list", cards_list)
        .post("/api/p2p/cards/form", cards_form)
        .post("/api/p2p/payments/create", payments_create)
        .post("/api/p2p/payments/confirm", payments_confirm)
        .post("/api/p2p/payments/receive", payments_receive)
        .post("/api/p2p/payments/show", payments_show)
        .merge(pages::router())
}

/// Paths of this dialect (for the 404 and 405 answers in its own format).
pub fn owns_path(path: &str) -> bool {
    path == "/api/sessions"
        || path.starts_with("/api/sessions/")
        || path == "/api/p2p"
        || path.starts_with("/api/p2p/")
}

/// Answers for paths of this dialect that do not exist, or do not take the method.
pub fn fallback(path: &str, method_allowed_elsewhere: bool) -> Response {
    if method_allowed_elsewhere {
        ApiError::with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            "Every P2P method is called with POST.",
        )
        .into_response()
    } else {
        ApiError::with_status(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("No method at {path}."),
        )
        .into_response()
    }
}

fn success(data: Value) -> Value {
    json!({ "status": 1, "data": data })
}

fn answer(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// A request after its envelope was read and its caller identified.
struct Call {
    params: Map<String, Value>,
    data: Map<String, Value>,
    client: ClientRecord,
    /// Whom the session acts for (the whole client when the call opens a session).
    scope: SessionScope,
}

/// Whom a request names: a client (opening a session) or a session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    Client,
    Session,
}

fn object_member(object: &Map<String, Value>, name: &str) -> Result<Map<String, Value>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(member)) => Ok(member.clone()),
        Some(_) => Err(ApiError::with_status(
            StatusCode::BAD_REQUEST,
            code::INVALID_REQUEST,
            format!("{name} must be an object."),
        )),
    }
}

/// Reads the envelope and identifies the caller. Failed identifications (an unknown client
/// or session, a bad signature) are throttled per address and credential: an address over its
/// limit is refused before its envelope is read.
async fn open_call(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
    caller: Caller,
) -> Result<Call, ApiError> {
    let attempt = obol_http::auth::admit(state, client).map_err(errors::refused)?;
    let Ok(Value::Object(envelope)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::unreadable());
    };
    let token = match envelope.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if !token.is_empty() && token.len() <= 64 * 1024 => {
            Some(token.clone())
        }
        Some(_) => {
            return Err(failed(
                &attempt,
                None,
                ApiError::business(
                    code::INVALID_SIGNATURE,
                    "token must be a JWT signed with HS256.",
                ),
            ));
        }
    };
    let source = match &token {
        Some(token) => match tokens::peek_claims(token) {
            Ok(Value::Object(claims)) => claims,
            _ => {
                return Err(failed(
                    &attempt,
                    None,
                    ApiError::business(code::INVALID_SIGNATURE, "token is not a readable JWT."),
                ));
            }
        },
        None => envelope,
    };
    let params = object_member(&source, "params")?;
    let data = object_member(&source, "data")?;
    let now = state.clock.now();
    let (client, scope, presented) = match caller {
        Caller::Client => {
            let presented = text_param(&params, "clientId")?;
            let unknown = || {
                failed(
                    &attempt,
                    Some(Credential::Token(presented)),
                    ApiError::business(code::CLIENT_NOT_FOUND, "Client not found."),
                )
            };
            let key = credential(presented).ok_or_else(unknown)?;
            let client = state
                .store
                .read(move |db| Box::pin(async move { p2p::client_by_key(db, &key).await }))
                .await?
                .ok_or_else(unknown)?;
            let scope = SessionScope::whole_client(client.client.id);
            (client, scope, presented)
        }
        Caller::Session => session_client(state, &attempt, &params, now).await?,
    };
    match token {
        Some(token) => {
            let remembered_until =
                check_signature(state, &client, &token, now).map_err(|error| {
                    if error.code == code::INVALID_SIGNATURE {
                        failed(&attempt, Some(Credential::Token(presented)), error)
                    } else {
                        error
                    }
                })?;
            spend_token(state, &client, &token, remembered_until).await?;
        }
        None if client.client.require_signed_requests => {
            return Err(ApiError::business(
                code::SIGNATURE_REQUIRED,
                "This client must sign its requests: send {\"token\": \"<JWT HS256>\"}.",
            ));
        }
        None => {}
    }
    Ok(Call {
        params,
        data,
        client,
        scope,
    })
}

/// A credential's text from `params` (`clientId`, `sessionId`), required.
fn text_param<'p>(params: &'p Map<String, Value>, name: &str) -> Result<&'p str, ApiError> {
    params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation(format!("params.{name} is required.")))
}

/// The digest a credential (`clientId`, `sessionId`: UUIDs) is looked up by; `None` for one
/// that cannot exist, refused before any digest or look-up (longer than
/// [`CREDENTIAL_LENGTH_MAX`] or not a UUID).
fn credential(text: &str) -> Option<SecretDigest> {
    if text.len() > CREDENTIAL_LENGTH_MAX {
        return None;
    }
    // The UUID's own spelling (lower case), so the id is found however its letters are cased.
    Uuid::parse(text)
        .ok()
        .map(|id| SecretDigest::of(id.as_str()))
}

/// A failed identification, counted: `error` as it is, or the throttle's refusal when the
/// credential is over its limit.
fn failed(attempt: &Attempt<'_>, credential: Option<Credential<'_>>, error: ApiError) -> ApiError {
    match obol_http::auth::failure(attempt, credential) {
        AuthError::Unauthorized => error,
        other => errors::refused(other),
    }
}

/// The client behind `params.sessionId`, whom the session acts for, while it lasts, and the id
/// presented.
async fn session_client<'p>(
    state: &AppState,
    attempt: &Attempt<'_>,
    params: &'p Map<String, Value>,
    now: Timestamp,
) -> Result<(ClientRecord, SessionScope, &'p str), ApiError> {
    let presented = text_param(params, "sessionId")?;
    let unknown = || {
        failed(
            attempt,
            Some(Credential::Token(presented)),
            ApiError::business(code::SESSION_NOT_FOUND, "Session not found."),
        )
    };
    let id = credential(presented).ok_or_else(unknown)?;
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some(session) = p2p::find_session(db, &id).await? else {
                    return Ok(None);
                };
                let client = p2p::client_by_id(db, session.client_id).await?;
                Ok(Some((session, client)))
            })
        })
        .await?;
    let (session, client) = found.ok_or_else(unknown)?;
    if session.expires_at <= now {
        return Err(ApiError::business(
            code::SESSION_EXPIRED,
            "The session has expired; open a new one.",
        ));
    }
    let scope = SessionScope {
        client_id: client.client.id,
        user_id: session.user_id,
    };
    Ok((client, scope, presented))
}

/// Spends a verified signed request's token: the same token again, while it could still be
/// accepted, is refused. What is remembered is the digest of the client and the token's signed
/// part (`header.payload`), which no re-encoding of the signature changes.
async fn spend_token(
    state: &AppState,
    client: &ClientRecord,
    token: &str,
    remembered_until: Timestamp,
) -> Result<(), ApiError> {
    let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
    let digest = SecretDigest::of(&format!("{}:{signed}", client.client.id));
    let fresh = state
        .store
        .write(move |db| {
            Box::pin(async move { p2p::spend_request_token(db, &digest, remembered_until).await })
        })
        .await?;
    if fresh {
        Ok(())
    } else {
        Err(ApiError::business(
            code::TOKEN_ALREADY_USED,
            "This signed request was already accepted; sign every request anew (a new iat).",
        ))
    }
}

/// Checks a signed request's token; returns until when it must be remembered as spent.
fn check_signature(
    state: &AppState,
    client: &ClientRecord,
    token: &str,
    now: Timestamp,
) -> Result<Timestamp, ApiError> {
    let key = state
        .key
        .decrypt(purpose::P2P_SIGNING_KEY, &client.signing_key_encrypted)
        .map_err(|error| {
            tracing::error!(%error, "a P2P signing key cannot be decrypted");
            ApiError::with_status(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL_ERROR,
                "Internal error.",
            )
        })?;
    let claims = tokens::verify_with(&key, token).map_err(|_| {
        ApiError::business(
            code::INVALID_SIGNATURE,
            "The token's signature does not match the client's signing key.",
        )
    })?;
    let iat = claims
        .get("iat")
        .and_then(|value| value.as_i64().or_else(|| value.as_f64().map(|f| f as i64)));
    iat.and_then(|iat| core_p2p::signed_request_window(iat, now))
        .ok_or_else(|| {
            ApiError::business(
                code::TIMELIMIT_ERROR,
                format!(
                    "iat must be within {SIGNATURE_WINDOW_SECONDS} seconds of the server's time."
                ),
            )
        })
}

/// A card of the session's client that the session may use this way (the core's rule); any
/// other answers `CARD_NOT_FOUND`, exactly like an unknown card.
async fn card_of(
    state: &AppState,
    scope: &SessionScope,
    id: Uuid,
    usage: CardUse,
    which: &str,
) -> Result<P2pCard, ApiError> {
    let client_id = scope.client_id;
    state
        .store
        .read(move |db| Box::pin(async move { p2p::get_card(db, client_id, &id).await }))
        .await?
        .filter(|card| scope.may_use(card, usage))
        .ok_or_else(|| ApiError::card_not_found(which))
}

/// A transfer of the caller's client, by `params.id` or `params.receiptId` (another client's
/// transfer is not found).
async fn transfer_of(state: &AppState, call: &Call) -> Result<Transfer, ApiError> {
    let id = text(&call.params, "params", "id", 64)?.filter(|id| !id.is_empty());
    let receipt = text(&call.params, "params", "receiptId", 64)?.filter(|id| !id.is_empty());
    let found = match (id, receipt) {
        (Some(id), _) => {
            let Ok(id) = Uuid::parse(id) else {
                return Err(ApiError::payment_not_found());
            };
            state
                .store
                .read(move |db| Box::pin(async move { p2p::get_transfer(db, &id, false).await }))
                .await?
        }
        (None, Some(receipt)) => {
            let Ok(receipt) = ReceiptId::parse(receipt) else {
                return Err(ApiError::payment_not_found());
            };
            state
                .store
                .read(move |db| Box::pin(async move { p2p::find_by_receipt(db, &receipt).await }))
                .await?
        }
        (None, None) => {
            return Err(ApiError::validation(
                "params.id or params.receiptId is required.",
            ));
        }
    };
    found
        .filter(|transfer| transfer.client_id == call.client.client.id)
        .ok_or_else(ApiError::payment_not_found)
}

/// The link to the hosted confirmation page of a transfer waiting for its sender.
pub fn confirmation_url(state: &AppState, transfer: &Transfer) -> Option<String> {
    if !transfer.awaits_confirmation() {
        return None;
    }
    let expires = transfer.expires_at.unwrap_or_else(|| {
        state
            .clock
            .now()
            .plus_seconds(core_p2p::CONFIRMATION_WINDOW_SECONDS)
    });
    let token = tokens::issue(
        &state.key,
        transfers::CONFIRM_PAGE_PURPOSE,
        transfer.id.as_str(),
        expires,
    );
    Some(format!(
        "{}/p2p/confirm/{}?token={token}",
        state.public_url,
        transfer.id.as_str()
    ))
}

fn transfer_answer(state: &AppState, transfer: &Transfer) -> Value {
    success(render::transfer_with_confirmation(
        transfer,
        confirmation_url(state, transfer).as_deref(),
    ))
}

/// Runs a write that moves money. With an `Idempotency-Key` (SPEC §2) it runs once per key:
/// the answer is made in the same transaction and a repeat of the same request gets it again.
/// The operation answers the whole envelope, so a business refusal that changed something
/// (a wrong code counted) is kept and replayed too.
async fn money_write<F>(
    state: &AppState,
    call: &Call,
    headers: &HeaderMap,
    path: &str,
    operation: F,
) -> Result<Value, ApiError>
where
    F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<Value>> + Send + 'static,
{
    let keyed = KeyedRequest::from_headers(
        headers,
        &format!("p2p:client:{}", call.client.client.id),
        RequestFingerprint::of("POST", path, &fingerprinted(call)),
    )
    .map_err(|_| {
        ApiError::with_status(
            StatusCode::BAD_REQUEST,
            code::IDEMPOTENCY_KEY_INVALID,
            "Idempotency-Key must be 1 to 255 visible ASCII characters.",
        )
    })?;
    let outcome = idempotency::write(&state.store, state.clock.now(), keyed, move |db| {
        Box::pin(async move {
            let answer = operation(&mut *db).await?;
            let saved = SavedResponse {
                status: 200,
                content_type: "application/json".to_owned(),
                body: answer.to_string().into_bytes(),
            };
            Ok((answer, saved))
        })
    })
    .await?;
    Ok(match outcome {
        obol_store::Idempotent::Fresh(answer, _) => answer,
        obol_store::Idempotent::Replayed(saved) => {
            serde_json::from_slice(&saved.body).unwrap_or(Value::Null)
        }
    })
}

/// What an `Idempotency-Key` compares requests by: the verified `params` and `data` with their
/// keys sorted. Not the raw body: a signed request's token carries a fresh `iat` on every
/// retry. Not the card's security code: not even a digest of a CVV is kept.
fn fingerprinted(call: &Call) -> Vec<u8> {
    let mut data = call.data.clone();
    if let Some(Value::Object(card)) = data.get_mut("cardFrom") {
        card.remove("securityCode");
    }
    canonical_json(&json!({ "params": call.params, "data": data }))
        .to_string()
        .into_bytes()
}

// ---- handlers -----------------------------------------------------------------------------

async fn sessions_create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    answer(create_session(&state, ip.as_deref(), &body).await)
}

/// `params.userId`: the client's own id of the end user a session acts for, if any.
fn user_of(params: &Map<String, Value>) -> Result<Option<P2pUserId>, ApiError> {
    let invalid = || {
        ApiError::validation(format!(
            "params.userId must be 1 to {} visible characters.",
            core_p2p::USER_ID_LENGTH_MAX
        ))
    };
    match params.get("userId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => P2pUserId::parse(text).map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

async fn create_session(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Client).await?;
    let user_id = user_of(&call.params)?;
    let now = state.clock.now();
    // The id is shown once, here; the database keeps its digest only.
    let id = Uuid::generate_v4(&mut OsRandom);
    let digest = SecretDigest::of(id.as_str());
    let session = Session {
        client_id: call.client.client.id,
        user_id,
        created_at: now,
        expires_at: now.plus_seconds(transfers::SESSION_LIFETIME_SECONDS),
    };
    let expires_at = session.expires_at;
    state
        .store
        .write(move |db| Box::pin(async move { p2p::create_session(db, &digest, &session).await }))
        .await?;
    Ok(success(json!({
        "id": id.as_str(),
        "expiresAt": render::time(expires_at),
    })))
}

async fn cards_add(State(state): State<AppState>, ClientIp(ip): ClientIp, body: Bytes) -> Response {
    answer(add_card(&state, ip.as_deref(), &body).await)
}

/// Checks a card's fields and stores it in the vault; the number goes no further. The card
/// belongs to the scope's client and, when it has one, its user.
pub fn new_card(
    state: &AppState,
    scope: &SessionScope,
    pan: &str,
    expiry: &str,
    holder: Option<&str>,
) -> Result<P2pCard, ApiError> {
    let number = CardNumber::parse(pan)
        .map_err(|_| ApiError::business(code::INVALID_CARD, "The card number is not valid."))?;
    let expiry = CardExpiry::parse(expiry)
        .map_err(|_| ApiError::business(code::INVALID_CARD, "The card expiry must be MM/YY."))?;
    let holder = holder.map(str::trim).filter(|holder| !holder.is_empty());
    if holder.is_some_and(|holder| {
        holder.chars().count() > HOLDER_MAX || holder.chars().any(char::is_control)
    }) {
        return Err(ApiError::validation(format!(
            "data.holder must be at most {HOLDER_MAX} printable characters."
        )));
    }
    let mut payload = number.payload(expiry, holder.map(str::to_owned));
    payload.issuer = payload.issuer.filter(|issuer| !issuer.is_empty());
    Ok(P2pCard {
        id: Uuid::generate_v4(&mut OsRandom),
        client_id: scope.client_id,
        user_id: scope.owner_of_new_cards().cloned(),
        token: state.vault.tokenize(&number, &mut OsRandom),
        payload,
        created_at: state.clock.now(),
    })
}

async fn add_card(state: &AppState, client: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Session).await?;
    let pan = required_text(&call.data, "data", "pan", 32)?;
    let expiry = required_text(&call.data, "data", "expiry", 7)?;
    let holder = text(&call.data, "data", "holder", 256)?;
    let card = new_card(state, &call.scope, pan, expiry, holder)?;
    let stored = card.clone();
    state
        .store
        .write(move |db| Box::pin(async move { p2p::insert_card(db, &stored).await }))
        .await?;
    Ok(success(render::card(&card)))
}

async fn cards_list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    answer(list_cards(&state, ip.as_deref(), &body).await)
}

async fn list_cards(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Session).await?;
    let scope = call.scope.clone();
    let cards = state
        .store
        .read(move |db| {
            Box::pin(
                async move { p2p::list_cards(db, scope.client_id, scope.user_id.as_ref()).await },
            )
        })
        .await?;
    Ok(success(Value::Array(
        cards
            .iter()
            .filter(|card| call.scope.may_use(card, CardUse::List))
            .map(render::card)
            .collect(),
    )))
}

async fn cards_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    answer(card_form_link(&state, ip.as_deref(), &body).await)
}

/// A link to the hosted card form for one card of the session's client and user, good for
/// 15 minutes. It carries a token of its own, never the session: the browser that opens it
/// gets nothing it could call the API with. The token is shown here once and kept as a digest.
async fn card_form_link(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Session).await?;
    let form = CardForm::issue(&call.scope, state.clock.now());
    let token = IssuedSecret::generate(&mut OsRandom, "");
    let digest = token.digest();
    let expires_at = form.expires_at;
    state
        .store
        .write(move |db| Box::pin(async move { p2p::create_card_form(db, &digest, &form).await }))
        .await?;
    Ok(success(json!({
        "url": format!("{}/p2p/cards/new?token={}", state.public_url, token.expose()),
        "expiresAt": render::time(expires_at),
    })))
}

async fn payments_create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(create_transfer(&state, ip.as_deref(), &headers, &body).await)
}

async fn create_transfer(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Session).await?;
    let data = &call.data;
    let kind = TransferKind::parse(required_text(data, "data", "type", 16)?)
        .ok_or_else(|| ApiError::validation("data.type must be DIRECT or BUCKET."))?;
    let external_id = loose_text(data, "data", "externalId")?;
    let description = text(data, "data", "description", DESCRIPTION_MAX)?.map(str::to_owned);
    let currency = currency_of(data)?;
    let amount = Money::from_minor(amount_of(data)?, currency)
        .map_err(|_| ApiError::validation("data.amount is out of range."))?;
    let callback_url = callback_url_of(state, data)?;
    let from = card_reference(data, "cardFrom")?
        .ok_or_else(|| ApiError::validation("data.cardFrom is required."))?;
    let from_id = uuid_of(&from, "data.cardFrom", "id")?;
    let security_code = match from.get("securityCode") {
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::String(text)) => Some(text.clone()),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(ApiError::validation(
                "data.cardFrom.securityCode must be 3 or 4 digits.",
            ));
        }
    }
    .ok_or_else(|| ApiError::validation("data.cardFrom.securityCode is required."))?;
    check_security_code(&security_code)
        .map_err(|_| ApiError::validation("data.cardFrom.securityCode must be 3 or 4 digits."))?;
    let to_id = match card_reference(data, "cardTo")? {
        Some(to) => Some(uuid_of(&to, "data.cardTo", "id")?),
        None => None,
    };
    let now = state.clock.now();
    let card_from = card_of(state, &call.scope, from_id, CardUse::Send, "cardFrom").await?;
    let card_to = match to_id {
        Some(id) => Some(card_of(state, &call.scope, id, CardUse::NameRecipient, "cardTo").await?),
        None => None,
    };
    let commission = core_p2p::commission(&call.client.tariff, amount)
        .map_err(|_| ApiError::validation("data.amount is out of range."))?;
    let draft = TransferDraft {
        client_id: call.client.client.id,
        external_id,
        kind,
        amount,
        description,
        callback_url,
        card_from: card_from.as_ref(),
        card_to: card_to.as_ref().map(P2pCard::as_ref),
    };
    let mut transfer = Transfer::create(draft, commission, &mut OsRandom, now)?;
    let send = transfers::judge_send(state, &card_from, now)?;
    let recipient = match &card_to {
        Some(card) => transfers::judge_receive(state, card, now)?,
        None => CardDecision::Approved,
    };
    let bucket_due = transfers::bucket_due(state, now);
    let transactions = transfer.apply_send(send, recipient, bucket_due, &mut OsRandom, now)?;
    let answer_state = state.clone();
    money_write(
        state,
        &call,
        headers,
        "/api/p2p/payments/create",
        move |db| {
            Box::pin(async move {
                let stored = transfers::persist(db, &transfer, None, &transactions, now).await?;
                Ok(transfer_answer(&answer_state, &stored))
            })
        },
    )
    .await
}

async fn payments_confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(confirm_transfer(&state, ip.as_deref(), &headers, &body).await)
}

async fn confirm_transfer(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Session).await?;
    let transfer = transfer_of(state, &call).await?;
    // Confirming is the sender's act: a user's session confirms only what its user sends.
    let sender = card_of(
        state,
        &call.scope,
        transfer.card_from.id.clone(),
        CardUse::Send,
        "cardFrom",
    )
    .await;
    match sender {
        Err(error) if error.code == code::CARD_NOT_FOUND => {
            return Err(ApiError::payment_not_found());
        }
        other => other?,
    };
    let code = match call.params.get("code").or_else(|| call.data.get("code")) {
        Some(Value::String(code)) if !code.is_empty() && code.len() <= 16 => code.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => return Err(ApiError::validation("params.code is required.")),
    };
    let now = state.clock.now();
    let answer = core_p2p::SenderAnswer::Code {
        matches: state.acquirer.confirm_code(&code),
    };
    let recipient = recipient_decision(state, &transfer, now).await?;
    let bucket_due = transfers::bucket_due(state, now);
    let answer_state = state.clone();
    let id = transfer.id.clone();
    money_write(
        state,
        &call,
        headers,
        "/api/p2p/payments/confirm",
        move |db| {
            Box::pin(async move {
                // A refusal is an answer too: it is kept under the idempotency key, and what
                // was decided before it (an overdue transfer expired, a wrong code counted)
                // commits.
                Ok(
                    match transfers::confirm(db, &id, answer, recipient, bucket_due, now).await? {
                        transfers::Confirmed::Done(stored) => {
                            transfer_answer(&answer_state, &stored)
                        }
                        transfers::Confirmed::WrongCode(_, refusal)
                        | transfers::Confirmed::Refused(refusal) => ApiError::from(refusal).body(),
                    },
                )
            })
        },
    )
    .await
}

/// What the acquirer says about the recipient's card of a DIRECT transfer (approved for a
/// BUCKET, whose recipients are judged when they claim).
pub async fn recipient_decision(
    state: &AppState,
    transfer: &Transfer,
    now: Timestamp,
) -> Result<CardDecision, ApiError> {
    let Some(card_to) = &transfer.card_to else {
        return Ok(CardDecision::Approved);
    };
    if transfer.kind != TransferKind::Direct {
        return Ok(CardDecision::Approved);
    }
    // The transfer's own recipient, named when it was created: any card of its client.
    let scope = SessionScope::whole_client(transfer.client_id);
    let card = card_of(
        state,
        &scope,
        card_to.id.clone(),
        CardUse::NameRecipient,
        "cardTo",
    )
    .await?;
    Ok(transfers::judge_receive(state, &card, now)?)
}

async fn payments_receive(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(receive_transfer(&state, ip.as_deref(), &headers, &body).await)
}

async fn receive_transfer(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Session).await?;
    let transfer = transfer_of(state, &call).await?;
    let to = card_reference(&call.data, "cardTo")?
        .ok_or_else(|| ApiError::validation("data.cardTo is required."))?;
    let to_id = uuid_of(&to, "data.cardTo", "id")?;
    let amount = Money::from_minor(amount_of(&call.data)?, transfer.amount.currency())
        .map_err(|_| ApiError::validation("data.amount is out of range."))?;
    let external_id = loose_text(&call.data, "data", "externalId")?;
    let card = card_of(state, &call.scope, to_id, CardUse::ClaimBucket, "cardTo").await?;
    let now = state.clock.now();
    let decision = transfers::judge_receive(state, &card, now)?;
    let answer_state = state.clone();
    let id = transfer.id.clone();
    let card = card.as_ref();
    money_write(
        state,
        &call,
        headers,
        "/api/p2p/payments/receive",
        move |db| {
            Box::pin(async move {
                let mut transfer = transfers::lock_current(db, &id, now).await?;
                let before = transfer.status;
                let transactions: Vec<_> =
                    match transfer.claim(card, amount, decision, external_id, &mut OsRandom, now) {
                        Ok(step) => step.into_iter().collect(),
                        // Kept under the idempotency key like any answer.
                        Err(error) => return Ok(ApiError::from(error).body()),
                    };
                let stored =
                    transfers::persist(db, &transfer, Some(before), &transactions, now).await?;
                Ok(transfer_answer(&answer_state, &stored))
            })
        },
    )
    .await
}

async fn payments_show(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    answer(show_transfer(&state, ip.as_deref(), &body).await)
}

async fn show_transfer(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let call = open_call(state, client, body, Caller::Session).await?;
    let transfer = transfer_of(state, &call).await?;
    Ok(success(render::transfer(&transfer)))
}
