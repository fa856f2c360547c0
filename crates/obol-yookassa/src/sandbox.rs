//! A YooKassa v3-compatible sandbox upstream under `/sandbox/yookassa/v3` (SPEC §3.5), so
//! partner backends (and YooKassa's own client libraries) run offline against Obol. Shop id and
//! secret key are a merchant's `api_login` and `api_secret`. Its payments are Obol payments of
//! that merchant, paid on Obol's hosted page (the embedded confirmation token opens it) where
//! the sandbox cards decide; `capture: false` makes them two-stage (`waiting_for_capture`).
//! Every answer is JSON; success is HTTP 200, as YooKassa's libraries expect.
//!
//! This file holds what every route shares (the shop's login, YooKassa's error object and the
//! mapping of the core's errors to it, the idempotent write, amounts) and the confirmation
//! page; [`payments`] and [`refunds`] hold the routes.

mod lists;
mod notifications;
mod payments;
mod refunds;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::Coded;
use obol_core::Currency;
use obol_core::idempotency::{
    IdempotencyError, IdempotencyKey, IdempotencyScope, RequestFingerprint, SavedResponse,
};
use obol_core::ids::{PaymentId, Uuid};
use obol_core::money::{Money, Precision};
use obol_core::payment::{DraftError, Payment, PaymentError, Source};
use obol_core::tenancy::Merchant;
use obol_http::auth::AuthError;
use obol_http::crypto::OsRandom;
use obol_http::idempotency::{self, KeyedRequest};
use obol_http::routes::Routes;
use obol_http::state::AppState;
use obol_http::tokens;
use obol_store::ops::payments as stored_payments;
use obol_store::{BoxFuture, Db, Idempotent, StoreError, StoreResult};
use serde_json::{Map, Value, json};

pub use notifications::SandboxNotifications;
pub use payments::{payment_object, status};

/// Purpose of the embedded confirmation token.
const CONFIRMATION_PURPOSE: &str = "yookassa_confirmation";
const IDEMPOTENCE_KEY_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 128;

pub fn router() -> Routes {
    Routes::new()
        .post("/sandbox/yookassa/v3/payments", payments::create_payment)
        .get("/sandbox/yookassa/v3/payments", lists::list_payments)
        .get(
            "/sandbox/yookassa/v3/payments/{payment_id}",
            payments::read_payment,
        )
        .post(
            "/sandbox/yookassa/v3/payments/{payment_id}/capture",
            payments::capture,
        )
        .post(
            "/sandbox/yookassa/v3/payments/{payment_id}/cancel",
            payments::cancel,
        )
        .post("/sandbox/yookassa/v3/refunds", refunds::create_refund)
        .get("/sandbox/yookassa/v3/refunds", lists::list_refunds)
        .get(
            "/sandbox/yookassa/v3/refunds/{refund_id}",
            refunds::read_refund,
        )
        .get(
            "/sandbox/yookassa/confirmation/{confirmation_token}",
            confirmation,
        )
}

pub fn owns_path(path: &str) -> bool {
    path.starts_with("/sandbox/yookassa/")
}

/// YooKassa's error object.
#[derive(Debug)]
pub struct YkError {
    http: StatusCode,
    code: &'static str,
    description: String,
    parameter: Option<&'static str>,
    /// `Retry-After` of a 429, in seconds.
    retry_after_s: Option<u64>,
}

impl YkError {
    pub fn new(http: StatusCode, code: &'static str, description: impl Into<String>) -> YkError {
        YkError {
            http,
            code,
            description: description.into(),
            parameter: None,
            retry_after_s: None,
        }
    }

    fn invalid(description: impl Into<String>, parameter: &'static str) -> YkError {
        YkError {
            parameter: Some(parameter),
            ..YkError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
        }
    }

    fn not_found(description: &str) -> YkError {
        YkError::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    fn body(&self) -> Value {
        let mut body = json!({
            "type": "error",
            "id": Uuid::generate_v4(&mut OsRandom).as_str(),
            "code": self.code,
            "description": self.description,
        });
        if let Some(parameter) = self.parameter {
            body["parameter"] = json!(parameter);
        }
        body
    }
}

impl IntoResponse for YkError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.http, &self.body());
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for YkError {
    fn from(error: StoreError) -> YkError {
        match error {
            StoreError::Idempotency(IdempotencyError::ReusedWithDifferentRequest) => {
                YkError::invalid("Idempotence key duplicated", "Idempotence-Key")
            }
            StoreError::Idempotency(IdempotencyError::InFlight) => YkError::new(
                StatusCode::CONFLICT,
                "invalid_request",
                "A request with this Idempotence-Key is still being processed; repeat it later",
            ),
            StoreError::Payment(error) => error.into(),
            StoreError::NotFound(what) => YkError::not_found(&format!("{what} not found")),
            StoreError::Conflict => YkError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                "The payment changed meanwhile; repeat the request with the same Idempotence-Key",
            ),
            other => {
                tracing::error!(error = %other, code = other.code().code(), "YooKassa sandbox failed");
                YkError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_server_error",
                    "Internal server error",
                )
            }
        }
    }
}

impl From<PaymentError> for YkError {
    fn from(error: PaymentError) -> YkError {
        match error {
            PaymentError::RefundExceedsProcessed => YkError::invalid(
                "The refund amount exceeds what is left of the payment",
                "amount.value",
            ),
            // The core has no partial capture.
            PaymentError::PartialCapture => YkError::invalid(
                "Only the whole amount can be captured in the sandbox",
                "amount.value",
            ),
            error => YkError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.to_string(),
            ),
        }
    }
}

/// The sandbox reads its wire before it builds a draft (a positive amount, a description
/// within YooKassa's limit, no reference): what is left is the chosen service's limits.
impl From<DraftError> for YkError {
    fn from(error: DraftError) -> YkError {
        match error {
            DraftError::Service(error) => YkError::invalid(error.to_string(), "amount.value"),
            DraftError::AmountNotPositive => {
                YkError::invalid("amount.value must be a positive amount", "amount.value")
            }
            DraftError::TooLong("description") => YkError::invalid(
                format!("description must be a string of at most {DESCRIPTION_MAX} characters"),
                "description",
            ),
            other => YkError::invalid(other.to_string(), "amount"),
        }
    }
}

fn json_response(http: StatusCode, body: &Value) -> Response {
    let mut response = (http, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn answer(result: Result<Value, YkError>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

/// The shop (a merchant) named by HTTP Basic shop id and secret key, from the client at
/// `client`; failures are throttled per address and shop id (429 `too_many_requests`).
async fn shop(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
) -> Result<Merchant, YkError> {
    obol_http::auth::merchant_from_basic(state, client, headers)
        .await
        .map_err(|error| match error {
            AuthError::Unauthorized => YkError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Authentication by given credentials failed (HTTP Basic: shop id and secret key)",
            ),
            AuthError::Throttled(throttled) => YkError {
                retry_after_s: Some(throttled.retry_after_s),
                ..YkError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!(
                        "Too many failed authentication attempts; retry in {} seconds",
                        throttled.retry_after_s
                    ),
                )
            },
            AuthError::Store(error) => error.into(),
        })
}

/// A body that YooKassa takes no parameters in may be absent, empty or `{}`.
fn object(body: &[u8]) -> Result<Map<String, Value>, YkError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(YkError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body is not a JSON object",
        )),
    }
}

/// What makes a shop's write idempotent: YooKassa's `Idempotence-Key` header (its own name
/// and length limit), unique per shop, and the request a repeat must match (its body in
/// canonical form, so that the order of keys does not matter).
fn keyed_request(
    merchant: &Merchant,
    headers: &HeaderMap,
    path: &str,
    body: &Map<String, Value>,
) -> Result<Option<KeyedRequest>, YkError> {
    let Some(value) = headers.get("idempotence-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.len() <= IDEMPOTENCE_KEY_MAX)
        .and_then(|key| IdempotencyKey::parse(key).ok())
        .ok_or_else(|| {
            YkError::invalid(
                format!("Idempotence-Key must be 1 to {IDEMPOTENCE_KEY_MAX} characters"),
                "Idempotence-Key",
            )
        })?;
    let canonical = obol_http::json::canonical_json(&Value::Object(body.clone())).to_string();
    Ok(Some(KeyedRequest {
        scope: IdempotencyScope::new(&format!("yookassa_sandbox:merchant:{}", merchant.id)),
        key,
        fingerprint: RequestFingerprint::of("POST", path, canonical.as_bytes()),
    }))
}

/// Runs a write; with an `Idempotence-Key` it runs once per key (24 hours), a repeat with the
/// same body answers the first answer, another body answers YooKassa's exact 400.
async fn money_write<F>(
    state: &AppState,
    merchant: &Merchant,
    headers: &HeaderMap,
    path: &str,
    body: &Map<String, Value>,
    operation: F,
) -> Result<Value, YkError>
where
    F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<Value>> + Send + 'static,
{
    let request = keyed_request(merchant, headers, path, body)?;
    let outcome = idempotency::write(&state.store, state.clock.now(), request, move |db| {
        Box::pin(async move {
            let value = operation(&mut *db).await?;
            let saved = SavedResponse {
                status: 200,
                content_type: "application/json".to_owned(),
                body: value.to_string().into_bytes(),
            };
            Ok((value, saved))
        })
    })
    .await?;
    match outcome {
        Idempotent::Fresh(value, _) => Ok(value),
        Idempotent::Replayed(saved) => serde_json::from_slice(&saved.body)
            .map_err(|error| YkError::from(StoreError::Corrupt(error.to_string()))),
    }
}

fn money_object(amount: Money) -> Value {
    json!({ "value": amount.to_decimal_string(), "currency": amount.currency().code() })
}

fn amount_of(value: Option<&Value>) -> Result<Money, YkError> {
    let object = value
        .and_then(Value::as_object)
        .ok_or_else(|| YkError::invalid("amount is required", "amount"))?;
    let currency = object
        .get("currency")
        .and_then(Value::as_str)
        .and_then(|code| Currency::parse(code).ok())
        .ok_or_else(|| {
            YkError::invalid(
                "amount.currency must be an ISO 4217 code",
                "amount.currency",
            )
        })?;
    let text = match object.get("value") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => return Err(YkError::invalid("amount.value is required", "amount.value")),
    };
    Money::parse_decimal_with(&text, currency, Precision::AllowTrailingZeros)
        .ok()
        .filter(|amount| amount.is_positive())
        .ok_or_else(|| YkError::invalid("amount.value must be a positive amount", "amount.value"))
}

/// The shop's payment (another shop's is not found).
async fn shop_payment(state: &AppState, merchant: &Merchant, id: &str) -> Result<Payment, YkError> {
    let missing = || YkError::not_found("Payment not found");
    // YooKassa's clients want 36-character ids: the sandbox shows payments in their UUID form
    // (and takes Obol's own `cpi_…` ids too).
    let id = PaymentId::from_uuid_form(id)
        .or_else(|_| PaymentId::parse(id))
        .map_err(|_| missing())?;
    let payment = state
        .store
        .read(move |db| Box::pin(async move { stored_payments::get_payment(db, &id).await }))
        .await?
        .filter(|payment| {
            payment.merchant_id == Some(merchant.id) && payment.source == Source::YookassaSandbox
        })
        .ok_or_else(missing)?;
    Ok(payment)
}

/// A path's id; one that cannot be read (bad percent-encoding) is YooKassa's 404, in JSON.
fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, YkError> {
    id.map(|Path(id)| id)
        .map_err(|_| YkError::not_found("Not found"))
}

/// The embedded confirmation's stand-in for YooKassa's widget: the token opens Obol's hosted
/// page of the payment.
async fn confirmation(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return YkError::not_found("Confirmation token not found or expired").into_response();
    };
    let subject = tokens::peek_claims(&token)
        .ok()
        .and_then(|claims| claims.get("sid").and_then(Value::as_str).map(str::to_owned));
    let valid = subject.as_deref().is_some_and(|subject| {
        tokens::check(
            &state.key,
            &token,
            CONFIRMATION_PURPOSE,
            subject,
            state.clock.now(),
        )
        .is_ok()
    });
    match (valid, subject) {
        (true, Some(payment)) => obol_http::page::see_other(&format!("/hpp/?cpi={payment}")),
        _ => YkError::not_found("Confirmation token not found or expired").into_response(),
    }
}
