//! The Softline Payments dialect (seed `001`, SPEC §3.2): bearer tokens, `POST /v1/payment`,
//! the order link, orders, refund requests, card verification. It only translates; payments are
//! created and changed through the core, the store and the [`obol_http::callbacks::outbox::Outbox`].

pub mod callbacks;
pub mod deletion;
pub mod door;
pub mod errors;
pub mod openapi;
pub mod payment;
pub mod render;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::Timestamp;
use obol_core::catalog::{PaymentService, ServiceUse, service_usable};
use obol_core::credentials::{IssuedSecret, SecretDigest};
use obol_core::idempotency::{RequestFingerprint, SavedResponse};
use obol_core::ids::{MerchantId, PaymentId};
use obol_core::payment::Payment;
use obol_core::tenancy::Merchant;
use obol_http::idempotency::{self, KeyedRequest};
use obol_store::ops::{bearer, jobs, payments, refund_requests};
use serde_json::{Value, json};

use errors::SoftlineError;
use obol_http::auth::{AuthError, CREDENTIAL_LENGTH_MAX, ClientIp};
use obol_http::crypto::OsRandom;
use obol_http::routes::Routes;
use obol_http::state::AppState;
use obol_http::throttle::Credential;

/// Bearer tokens live 24 hours; refresh tokens 30 days.
pub const TOKEN_LIFETIME_SECONDS: i64 = 24 * 3600;
pub const REFRESH_LIFETIME_SECONDS: i64 = 30 * 86_400;
/// An unpaid payment is deleted this long after its creation (the seed's 90 days): the core's
/// rule, re-exported where Softline's readers look for it.
pub use obol_core::payment::UNPAID_LIFETIME_SECONDS;
/// The lifecycle job that does it.
pub const DELETION_JOB: &str = "payment_deletion";

pub fn router() -> Routes {
    Routes::new()
        .post("/v1/login_check", login_check)
        .post("/v1/token/refresh", refresh)
        .post("/v1/payment", create_payment)
        .post("/v1/payment/card/verification", card_verification)
        .get("/v1/order/{order_id}", order)
        .post("/v1/order/{order_id}/refund", refund_request)
        .get("/order/status/{order_id}/{hash}", order_page)
}

/// Whether a path belongs to this dialect (for its 404 and 405 bodies).
pub fn owns_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

fn answer(result: Result<Response, SoftlineError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn json_ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The merchant named by a bearer token from `/v1/login_check`, from the client at `client`
/// (failures are throttled per address and token).
async fn merchant_from_bearer(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
) -> Result<Merchant, SoftlineError> {
    Ok(obol_http::auth::merchant_from_bearer(state, client, headers).await?)
}

/// A new pair of a bearer token and its refresh token, shown once and stored as digests.
struct TokenPair {
    token: IssuedSecret,
    refresh: IssuedSecret,
}

impl TokenPair {
    fn generate() -> TokenPair {
        TokenPair {
            token: IssuedSecret::generate(&mut OsRandom, ""),
            refresh: IssuedSecret::generate(&mut OsRandom, ""),
        }
    }

    fn digests(&self) -> (SecretDigest, SecretDigest) {
        (self.token.digest(), self.refresh.digest())
    }

    fn answer(&self) -> Response {
        json_ok(json!({ "token": self.token.expose(), "refresh_token": self.refresh.expose() }))
    }
}

/// Stores a pair's digests for `merchant`, with their lifetimes, in the caller's transaction.
async fn store_pair(
    db: &mut dyn obol_store::Db,
    merchant: MerchantId,
    (token, refresh): (SecretDigest, SecretDigest),
    now: Timestamp,
) -> obol_store::StoreResult<()> {
    bearer::issue(
        db,
        merchant,
        token,
        refresh,
        now.plus_seconds(TOKEN_LIFETIME_SECONDS),
        now.plus_seconds(REFRESH_LIFETIME_SECONDS),
        now,
    )
    .await
}

async fn issue_tokens(state: &AppState, merchant: &Merchant) -> Result<Response, SoftlineError> {
    let pair = TokenPair::generate();
    let (merchant, digests, now) = (merchant.id, pair.digests(), state.clock.now());
    state
        .store
        .write(move |db| Box::pin(store_pair(db, merchant, digests, now)))
        .await?;
    Ok(pair.answer())
}

fn json_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, SoftlineError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(SoftlineError::one(
            StatusCode::BAD_REQUEST,
            errors::JSON_INVALID,
        )),
    }
}

async fn login_check(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    answer(login_check_inner(&state, ip.as_deref(), &body).await)
}

async fn login_check_inner(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
) -> Result<Response, SoftlineError> {
    let object = json_body(body)?;
    let (Some(username), Some(password)) = (
        object.get("username").and_then(Value::as_str),
        object.get("password").and_then(Value::as_str),
    ) else {
        return Err(SoftlineError::one(
            StatusCode::UNAUTHORIZED,
            errors::CREDENTIALS_INVALID,
        ));
    };
    match obol_http::auth::merchant_from_login(state, client, username, password).await {
        Ok(merchant) => issue_tokens(state, &merchant).await,
        Err(AuthError::Unauthorized) => Err(SoftlineError::one(
            StatusCode::UNAUTHORIZED,
            errors::CREDENTIALS_INVALID,
        )),
        Err(error) => Err(error.into()),
    }
}

async fn refresh(State(state): State<AppState>, ClientIp(ip): ClientIp, body: Bytes) -> Response {
    answer(refresh_inner(&state, ip.as_deref(), &body).await)
}

/// `POST /v1/token/refresh`: a new pair for a refresh token that is used here, once. Using it
/// and storing the new pair are one transaction, and using it is one atomic statement, so two
/// refreshes with one token at once give one pair; nothing else is revoked (the access token
/// issued with the refresh token keeps working until it expires).
async fn refresh_inner(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
) -> Result<Response, SoftlineError> {
    let object = json_body(body)?;
    let attempt = obol_http::auth::admit(state, client)?;
    let refused =
        |credential: Option<Credential<'_>>| match obol_http::auth::failure(&attempt, credential) {
            AuthError::Unauthorized => {
                SoftlineError::one(StatusCode::UNAUTHORIZED, errors::REFRESH_INVALID)
            }
            error => error.into(),
        };
    let refresh = object
        .get("refresh_token")
        .and_then(Value::as_str)
        .ok_or_else(|| SoftlineError::one(StatusCode::UNAUTHORIZED, errors::REFRESH_INVALID))?;
    if refresh.is_empty() || refresh.len() > CREDENTIAL_LENGTH_MAX {
        return Err(refused(None));
    }
    let digest = SecretDigest::of(refresh);
    let now = state.clock.now();
    let pair = TokenPair::generate();
    let digests = pair.digests();
    let renewed = state
        .store
        .write(move |db| {
            Box::pin(async move {
                match bearer::consume_refresh(db, digest, now).await? {
                    Some(merchant) => {
                        store_pair(db, merchant, digests, now).await?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            })
        })
        .await?;
    if renewed {
        Ok(pair.answer())
    } else {
        Err(refused(Some(Credential::Token(refresh))))
    }
}

async fn create_payment(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(create_payment_inner(&state, ip.as_deref(), &headers, &body).await)
}

async fn create_payment_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SoftlineError> {
    let merchant = merchant_from_bearer(state, client, headers).await?;
    let available = usable_services(state, &merchant).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let checked = payment::check(body, content_type, &merchant, &available)
        .map_err(SoftlineError::bad_request)?;
    // The key is read after the body's checks: the seed's errors come first.
    let keyed = KeyedRequest::from_headers(
        headers,
        &format!("softline:merchant:{}", merchant.id),
        RequestFingerprint::of("POST", "/v1/payment", body),
    )
    .map_err(|_| SoftlineError::bad_request(vec![errors::invalid_field("Idempotency-Key")]))?;
    let now = state.clock.now();
    let outbox = state.outbox.clone();
    let (public_url, key, default_locale) = (
        state.public_url.to_string(),
        state.key.clone(),
        merchant.settings.default_locale.clone(),
    );
    let outcome = idempotency::write(&state.store, now, keyed, move |db| {
        Box::pin(create_in(
            db,
            outbox,
            checked,
            now,
            public_url,
            key,
            default_locale,
        ))
    })
    .await
    .map_err(|error| match error {
        obol_store::StoreError::Idempotency(_) => SoftlineError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            errors: vec![errors::invalid_field("Idempotency-Key")],
            retry_after_s: None,
        },
        error => error.into(),
    })?;
    // A repeat gets the first answer again, byte for byte and with the same headers.
    let response = idempotency::answer(outcome);
    let mut answer = (
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK),
        response.body,
    )
        .into_response();
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(answer)
}

/// The merchant's services that a Softline payment may use: linked to the merchant and usable
/// in the merchant's mode (Softline has no test invoices of its own), as the core rules.
async fn usable_services(
    state: &AppState,
    merchant: &Merchant,
) -> Result<Vec<PaymentService>, SoftlineError> {
    let usage = ServiceUse::merchant(merchant.test_mode, merchant.test_mode, true);
    Ok(state
        .caches
        .merchant_services(&state.store, merchant.id)
        .await?
        .iter()
        .map(|(_, service)| service.clone())
        .filter(|service| service_usable(service, usage))
        .collect())
}

/// Creates the payment, its 90-day deletion job and its answer, in one transaction.
async fn create_in(
    db: &mut dyn obol_store::Db,
    outbox: obol_http::callbacks::outbox::Outbox,
    checked: payment::CheckedPayment,
    now: obol_core::Timestamp,
    public_url: String,
    key: obol_http::crypto::OperatorKey,
    default_locale: String,
) -> obol_store::StoreResult<(Payment, SavedResponse)> {
    let payment::CheckedPayment { draft, service } = checked;
    let payment = outbox
        .insert(
            db,
            draft,
            PaymentId::generate(&mut OsRandom),
            service.as_ref(),
            now,
        )
        .await?;
    jobs::schedule(
        db,
        DELETION_JOB,
        payment.id.as_str(),
        now.plus_seconds(UNPAID_LIFETIME_SECONDS),
        now,
    )
    .await?;
    let body = json!({ "payment_url": render::payment_url(&public_url, &key, &payment, &default_locale), "order_id": payment.order_id.get() });
    let response = SavedResponse {
        status: 200,
        content_type: "application/json".to_owned(),
        body: body.to_string().into_bytes(),
    };
    Ok((payment, response))
}

/// A payment of this merchant by order number, or 404.
async fn merchant_order(
    state: &AppState,
    merchant: &Merchant,
    order_id: &str,
) -> Result<Payment, SoftlineError> {
    let order_id: i64 = order_id.parse().map_err(|_| SoftlineError::not_found())?;
    let payment = state
        .store
        .read(move |db| Box::pin(async move { payments::get_by_order_id(db, order_id).await }))
        .await?;
    payment
        .filter(|payment| payment.merchant_id == Some(merchant.id))
        .ok_or_else(SoftlineError::not_found)
}

async fn order(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Response {
    answer(order_inner(&state, ip.as_deref(), &headers, &order_id).await)
}

async fn order_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    order_id: &str,
) -> Result<Response, SoftlineError> {
    let merchant = merchant_from_bearer(state, client, headers).await?;
    let payment = merchant_order(state, &merchant, order_id).await?;
    let url = render::payment_url(
        &state.public_url,
        &state.key,
        &payment,
        &merchant.settings.default_locale,
    );
    Ok(json_ok(render::order(&payment, &url)))
}

async fn refund_request(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(order_id): Path<String>,
    body: Bytes,
) -> Response {
    answer(refund_request_inner(&state, ip.as_deref(), &headers, &order_id, &body).await)
}

async fn refund_request_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    order_id: &str,
    body: &[u8],
) -> Result<Response, SoftlineError> {
    let merchant = merchant_from_bearer(state, client, headers).await?;
    let object = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        json_body(body)?
    };
    let mut problems = Vec::new();
    let text = |key: &str, problems: &mut Vec<(u32, String)>| match object.get(key) {
        None => None,
        Some(Value::String(text)) if text.chars().count() <= 255 => Some(text.clone()),
        _ => {
            problems.push(errors::invalid_field(key));
            None
        }
    };
    let description = text("description", &mut problems);
    let email = text("email", &mut problems);
    if !problems.is_empty() {
        return Err(SoftlineError::bad_request(problems));
    }
    let payment = merchant_order(state, &merchant, order_id).await?;
    if !payment.is_refundable() {
        return Err(SoftlineError::one(
            StatusCode::BAD_REQUEST,
            errors::REFUND_UNAVAILABLE,
        ));
    }
    let now = state.clock.now();
    let id = payment.id.clone();
    let opened = state
        .store
        .write(move |db| {
            Box::pin(async move { refund_requests::open(db, &id, description, email, now).await })
        })
        .await;
    match opened {
        Ok(request) => Ok(json_ok(
            json!({ "order_id": payment.order_id.get(), "refund_request_id": request.id, "status": request.status.as_str() }),
        )),
        Err(obol_store::StoreError::Conflict) => Err(SoftlineError::one(
            StatusCode::BAD_REQUEST,
            errors::REFUND_OPEN,
        )),
        Err(error) => Err(error.into()),
    }
}

async fn card_verification(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(card_verification_inner(&state, ip.as_deref(), &headers, &body).await)
}

async fn card_verification_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SoftlineError> {
    let merchant = merchant_from_bearer(state, client, headers).await?;
    let object = json_body(body)?;
    let order_id = match object.get("order_id") {
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::String(text)) => text.clone(),
        _ => {
            return Err(SoftlineError::bad_request(vec![errors::invalid_field(
                "order_id",
            )]));
        }
    };
    let payment = merchant_order(state, &merchant, &order_id).await?;
    if !payment.card_verification_allowed(payment::recurring_card(&payment)) {
        return Err(SoftlineError::one(
            StatusCode::BAD_REQUEST,
            errors::VERIFICATION_UNAVAILABLE,
        ));
    }
    let url = render::payment_url(
        &state.public_url,
        &state.key,
        &payment,
        &merchant.settings.default_locale,
    );
    Ok(json_ok(
        json!({ "payment_url": url, "order_id": payment.order_id.get() }),
    ))
}

async fn order_page(
    State(state): State<AppState>,
    Path((order_id, hash)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not found").into_response();
    let Ok(order_id) = order_id.parse::<i64>() else {
        return not_found();
    };
    if !render::order_hash_matches(&state.key, order_id, &hash) {
        return not_found();
    }
    let payment = match state
        .store
        .read(move |db| Box::pin(async move { payments::get_by_order_id(db, order_id).await }))
        .await
    {
        Ok(Some(payment)) => payment,
        Ok(None) => return not_found(),
        Err(error) => {
            tracing::error!(%error, "storage failed while opening an order link");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response();
        }
    };
    // Paid (money received and not all returned): back to the shop, as the seed says; never a
    // second payment.
    let location = match (payment.status.holds_money(), &payment.return_urls.success) {
        (true, Some(url)) => url.clone(),
        _ => {
            let locale = query
                .get("lang")
                .cloned()
                .or_else(|| payment.locale.clone())
                .unwrap_or_else(|| "en_EN".to_owned());
            format!(
                "{}/hpp/?cpi={}&lang={}",
                state.public_url,
                payment.id,
                payment::page_language(&locale)
            )
        }
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
