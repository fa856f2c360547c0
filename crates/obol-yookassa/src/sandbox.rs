//! A YooKassa v3-compatible sandbox upstream under `/sandbox/yookassa/v3` (SPEC §3.5), so
//! partner backends (and YooKassa's own client libraries) run offline against Obol. Shop id and
//! secret key are a merchant's `api_login` and `api_secret`. Its payments are Obol payments of
//! that merchant, paid on Obol's hosted page (the embedded confirmation token opens it) where
//! the sandbox cards decide; `capture: false` makes them two-stage (`waiting_for_capture`).
//! Every answer is JSON; success is HTTP 200, as YooKassa's libraries expect.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use obol_core::Currency;
use obol_core::idempotency::{
    IdempotencyError, IdempotencyKey, IdempotencyScope, RequestFingerprint, SavedResponse,
};
use obol_core::ids::{PaymentId, Uuid};
use obol_core::money::{Money, Precision};
use obol_core::payment::{
    Actor, Flow, Payment, PaymentDraft, PaymentError, PaymentEvent, PaymentStatus, Resolution,
    ReturnUrls, Source,
};
use obol_core::tenancy::Merchant;
use obol_core::{Coded, Timestamp};
use obol_store::error::Entity;
use obol_store::ops::payments;
use obol_store::{BoxFuture, Db, StoreError, StoreResult, params};
use serde_json::{Map, Value, json};

use obol_http::crypto::OsRandom;
use obol_http::state::AppState;
use obol_http::tokens;

/// Purpose of the embedded confirmation token.
const CONFIRMATION_PURPOSE: &str = "yookassa_confirmation";
/// How long a confirmation token opens the page.
const CONFIRMATION_LIFETIME_SECONDS: i64 = 30 * 86_400;
/// YooKassa cancels an uncaptured payment after seven days.
const CAPTURE_WINDOW_SECONDS: i64 = 7 * 86_400;
const IDEMPOTENCE_KEY_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 128;
const METADATA_KEYS_MAX: usize = 16;
const METADATA_KEY_MAX: usize = 32;
const METADATA_VALUE_MAX: usize = 512;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sandbox/yookassa/v3/payments", post(create_payment))
        .route("/sandbox/yookassa/v3/payments/{id}", get(read_payment))
        .route("/sandbox/yookassa/v3/payments/{id}/capture", post(capture))
        .route("/sandbox/yookassa/v3/payments/{id}/cancel", post(cancel))
        .route("/sandbox/yookassa/v3/refunds", post(create_refund))
        .route("/sandbox/yookassa/v3/refunds/{id}", get(read_refund))
        .route("/sandbox/yookassa/confirmation/{token}", get(confirmation))
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
}

impl YkError {
    pub fn new(http: StatusCode, code: &'static str, description: impl Into<String>) -> YkError {
        YkError {
            http,
            code,
            description: description.into(),
            parameter: None,
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
        json_response(self.http, &self.body())
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
            StoreError::Payment(PaymentError::RefundExceedsProcessed) => YkError::invalid(
                "The refund amount exceeds what is left of the payment",
                "amount.value",
            ),
            StoreError::Payment(error) => YkError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.to_string(),
            ),
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

async fn shop(state: &AppState, headers: &HeaderMap) -> Result<Merchant, YkError> {
    obol_http::auth::merchant_from_basic(state, headers)
        .await
        .map_err(|_| {
            YkError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Authentication by given credentials failed (HTTP Basic: shop id and secret key)",
            )
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
    let Some(value) = headers.get("idempotence-key") else {
        return Ok(state.store.write(operation).await?);
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
    let scope = IdempotencyScope::new(&format!("yookassa_sandbox:merchant:{}", merchant.id));
    let canonical = obol_http::json::canonical_json(&Value::Object(body.clone())).to_string();
    let fingerprint = RequestFingerprint::of("POST", path, canonical.as_bytes());
    let outcome = state
        .store
        .write_idempotent(scope, key, fingerprint, state.clock.now(), move |db| {
            Box::pin(async move {
                let value = operation(&mut *db).await?;
                let saved = SavedResponse {
                    status: 200,
                    content_type: "application/json".to_owned(),
                    body: value.to_string().into_bytes(),
                };
                Ok(((), saved))
            })
        })
        .await?;
    let saved = match outcome {
        obol_store::Idempotent::Fresh(_, saved) | obol_store::Idempotent::Replayed(saved) => saved,
    };
    serde_json::from_slice(&saved.body)
        .map_err(|error| YkError::from(StoreError::Corrupt(error.to_string())))
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

/// The YooKassa status of a payment.
pub fn status(payment: &Payment) -> &'static str {
    match payment.status {
        PaymentStatus::Created | PaymentStatus::Pending if payment.waits_for_capture() => {
            "waiting_for_capture"
        }
        PaymentStatus::Created | PaymentStatus::Pending => "pending",
        PaymentStatus::Processed | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => {
            "succeeded"
        }
        PaymentStatus::Failed | PaymentStatus::Expired | PaymentStatus::Deleted => "canceled",
    }
}

/// `cancellation_details` in YooKassa's own names.
fn cancellation(payment: &Payment) -> Value {
    let (party, reason) = match payment.resolution {
        Resolution::Declined => ("payment_network", "general_decline"),
        Resolution::InsufficientFunds => ("payment_network", "insufficient_funds"),
        Resolution::ExpiredCard => ("payment_network", "card_expired"),
        Resolution::ThreeDsFailed => ("payment_network", "3d_secure_failed"),
        Resolution::ProcessingError => ("yoo_money", "general_decline"),
        Resolution::Canceled => ("merchant", "canceled_by_merchant"),
        Resolution::Expired if payment.authorized_at.is_some() => {
            ("yoo_money", "expired_on_capture")
        }
        Resolution::Expired | Resolution::Ok => ("yoo_money", "expired_on_confirmation"),
    };
    json!({ "party": party, "reason": reason })
}

fn confirmation_token(state: &AppState, payment: &Payment) -> String {
    tokens::issue(
        &state.key,
        CONFIRMATION_PURPOSE,
        payment.id.as_str(),
        payment
            .created_at
            .plus_seconds(CONFIRMATION_LIFETIME_SECONDS),
    )
}

/// A payment as YooKassa v3 writes it.
pub fn payment_object(state: &AppState, payment: &Payment) -> Value {
    let status = status(payment);
    let mut object = json!({
        "id": payment.id.uuid_form(),
        "status": status,
        "amount": money_object(payment.amount),
        "description": payment.description,
        "recipient": {
            "account_id": payment.merchant_id.map(|id| id.to_string()).unwrap_or_default(),
            "gateway_id": payment.merchant_id.map(|id| id.to_string()).unwrap_or_default(),
        },
        "created_at": payment.created_at.to_rfc3339_millis(),
        "test": payment.test_mode,
        "paid": matches!(status, "waiting_for_capture" | "succeeded"),
        "refundable": status == "succeeded" && payment.refunded_amount.minor() < payment.processed_amount.minor(),
        "metadata": payment.metadata.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok()).unwrap_or_else(|| json!({})),
    });
    if status == "pending" {
        let redirect = payment
            .dialect_attributes
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .is_some_and(|attributes| attributes["confirmation"] == "redirect");
        let token = confirmation_token(state, payment);
        object["confirmation"] = if redirect {
            json!({
                "type": "redirect",
                "confirmation_url": format!("{}/sandbox/yookassa/confirmation/{token}", state.public_url),
                "return_url": payment.return_urls.default,
            })
        } else {
            json!({ "type": "embedded", "confirmation_token": token })
        };
    }
    if status == "waiting_for_capture"
        && let Some(at) = payment.authorized_at
    {
        object["expires_at"] = json!(at.plus_seconds(CAPTURE_WINDOW_SECONDS).to_rfc3339_millis());
    }
    if status == "succeeded" {
        if let Some(at) = payment.processed_at {
            object["captured_at"] = json!(at.to_rfc3339_millis());
        }
        object["income_amount"] = money_object(payment.deposit);
        object["refunded_amount"] = money_object(payment.refunded_amount);
    }
    if status == "canceled" {
        object["cancellation_details"] = cancellation(payment);
    }
    if let Some(card) = &payment.card {
        object["payment_method"] = json!({
            "type": "bank_card",
            "id": payment.id.uuid_form(),
            "saved": false,
            "status": "inactive",
            "title": format!("Bank card *{}", card.last4),
            "card": {
                "first6": card.first6,
                "last4": card.last4,
                "expiry_year": format!("{:04}", card.expiry_year),
                "expiry_month": format!("{:02}", card.expiry_month),
                "card_type": match card.brand.as_str() {
                    "visa" => "Visa",
                    "mastercard" => "MasterCard",
                    "mir" => "Mir",
                    "amex" => "AmericanExpress",
                    "maestro" => "Maestro",
                    _ => "Unknown",
                },
            },
        });
    }
    object
}

async fn create_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(create(&state, &headers, &body).await)
}

async fn create(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, YkError> {
    let merchant = shop(state, headers).await?;
    let request = object(body)?;
    let amount = amount_of(request.get("amount"))?;
    let manual_capture = match request.get("capture") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(capture)) => !capture,
        Some(_) => return Err(YkError::invalid("capture must be true or false", "capture")),
    };
    let description = match request.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.chars().count() <= DESCRIPTION_MAX => Some(text.clone()),
        Some(_) => {
            return Err(YkError::invalid(
                format!("description must be a string of at most {DESCRIPTION_MAX} characters"),
                "description",
            ));
        }
    };
    let metadata = match request.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(metadata))
            if metadata.len() <= METADATA_KEYS_MAX
                && metadata.iter().all(|(key, value)| {
                    key.chars().count() <= METADATA_KEY_MAX
                        && match value {
                            Value::String(text) => text.chars().count() <= METADATA_VALUE_MAX,
                            Value::Number(_) | Value::Bool(_) | Value::Null => {
                                value.to_string().len() <= METADATA_VALUE_MAX
                            }
                            _ => false,
                        }
                }) =>
        {
            Some(Value::Object(metadata.clone()).to_string())
        }
        Some(_) => {
            return Err(YkError::invalid(
                format!(
                    "metadata must be an object of at most {METADATA_KEYS_MAX} keys of at most \
                     {METADATA_KEY_MAX} characters, with plain values of at most {METADATA_VALUE_MAX}"
                ),
                "metadata",
            ));
        }
    };
    let (return_url, locale, redirect) = match request.get("confirmation") {
        None | Some(Value::Null) => (None, None, false),
        Some(Value::Object(confirmation)) => {
            let redirect = match confirmation.get("type").and_then(Value::as_str) {
                Some("embedded") => false,
                Some("redirect") => true,
                _ => {
                    return Err(YkError::invalid(
                        "confirmation.type must be embedded or redirect",
                        "confirmation.type",
                    ));
                }
            };
            let locale = match confirmation.get("locale") {
                None | Some(Value::Null) => None,
                Some(Value::String(locale)) if locale == "ru_RU" => Some("ru".to_owned()),
                Some(Value::String(locale)) if locale == "en_US" => Some("en".to_owned()),
                Some(_) => {
                    return Err(YkError::invalid(
                        "confirmation.locale must be ru_RU or en_US",
                        "confirmation.locale",
                    ));
                }
            };
            (
                confirmation
                    .get("return_url")
                    .and_then(Value::as_str)
                    .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
                    .filter(|url| url.len() <= 2048)
                    .map(str::to_owned),
                locale,
                redirect,
            )
        }
        Some(_) => {
            return Err(YkError::invalid(
                "confirmation must be an object",
                "confirmation",
            ));
        }
    };
    let code = format!(
        "payment_card_{}_hpp",
        amount.currency().code().to_ascii_lowercase()
    );
    let service = state
        .caches
        .merchant_services(&state.store, merchant.id)
        .await?
        .into_iter()
        .map(|(_, service)| service)
        .find(|service| service.code == code && service.available && service.active)
        .ok_or_else(|| {
            YkError::invalid(
                format!(
                    "Payments in {} are not available to this shop",
                    amount.currency().code()
                ),
                "amount.currency",
            )
        })?;
    service
        .check_amount(amount)
        .map_err(|error| YkError::invalid(error.to_string(), "amount.value"))?;
    let draft = PaymentDraft {
        reseller_id: merchant.reseller_id,
        merchant_id: Some(merchant.id),
        customer_account_id: None,
        customer_id: None,
        reference_id: None,
        external_id: None,
        amount,
        flow: Flow::Charge,
        description,
        metadata,
        service_fields: None,
        gateway_options: None,
        page_options: None,
        // How the shop asked to confirm: the answer's `confirmation` follows it.
        dialect_attributes: redirect.then(|| json!({ "confirmation": "redirect" }).to_string()),
        return_urls: ReturnUrls {
            default: return_url,
            ..ReturnUrls::default()
        },
        callback_url: None,
        expires_at: None,
        source: Source::YookassaSandbox,
        locale,
        test_mode: merchant.test_mode,
        requester_ip: None,
        manual_capture,
    };
    let outbox = state.outbox.clone();
    let answer_state = state.clone();
    let now = state.clock.now();
    money_write(
        state,
        &merchant,
        headers,
        "/payments",
        &request,
        move |db| {
            Box::pin(async move {
                let payment = outbox
                    .insert(
                        db,
                        draft,
                        PaymentId::generate(&mut OsRandom),
                        Some(&service),
                        now,
                    )
                    .await?;
                Ok(payment_object(&answer_state, &payment))
            })
        },
    )
    .await
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
        .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
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

async fn read_payment(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let merchant = shop(&state, &headers).await?;
            let id = path_id(id)?;
            let payment = shop_payment(&state, &merchant, &id).await?;
            Ok(payment_object(&state, &payment))
        }
        .await,
    )
}

async fn capture(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(match path_id(id) {
        Ok(id) => finish(&state, &headers, &id, &body, true).await,
        Err(error) => Err(error),
    })
}

async fn cancel(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(match path_id(id) {
        Ok(id) => finish(&state, &headers, &id, &body, false).await,
        Err(error) => Err(error),
    })
}

/// Captures (takes the held money) or cancels (releases it) a `waiting_for_capture` payment.
async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
    take: bool,
) -> Result<Value, YkError> {
    let merchant = shop(state, headers).await?;
    let request = object(body)?;
    let payment = shop_payment(state, &merchant, id).await?;
    if take
        && let Some(amount) = request.get("amount").filter(|value| !value.is_null())
        && amount_of(Some(amount))? != payment.amount
    {
        return Err(YkError::invalid(
            "Only the whole amount can be captured in the sandbox",
            "amount.value",
        ));
    }
    let outbox = state.outbox.clone();
    let answer_state = state.clone();
    let now = state.clock.now();
    let path = format!("/payments/{id}/{}", if take { "capture" } else { "cancel" });
    let payment_id = payment.id.clone();
    let merchant_id = merchant.id;
    money_write(state, &merchant, headers, &path, &request, move |db| {
        Box::pin(async move {
            let current = payments::get_payment(db, &payment_id)
                .await?
                .ok_or(StoreError::NotFound(Entity::Payment))?;
            let event = current.settle_hold(take)?;
            let (payment, _) = outbox
                .transition(db, &payment_id, event, Actor::Merchant(merchant_id), now)
                .await?;
            Ok(payment_object(&answer_state, &payment))
        })
    })
    .await
}

/// A refund's id: its ledger transaction's number in a UUID's shape.
fn refund_id(transaction: i64) -> String {
    format!("00000000-0000-5000-a000-{transaction:012x}")
}

fn transaction_of_refund(id: &str) -> Option<i64> {
    let hex = id.strip_prefix("00000000-0000-5000-a000-")?;
    if hex.len() != 12 {
        return None;
    }
    i64::from_str_radix(hex, 16).ok().filter(|id| *id > 0)
}

fn refund_object(id: i64, payment: &PaymentId, amount: Money, at: Timestamp) -> Value {
    json!({
        "id": refund_id(id),
        "payment_id": payment.uuid_form(),
        "status": "succeeded",
        "amount": money_object(amount),
        "created_at": at.to_rfc3339_millis(),
    })
}

async fn create_refund(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(refund(&state, &headers, &body).await)
}

async fn refund(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, YkError> {
    let merchant = shop(state, headers).await?;
    let request = object(body)?;
    let payment_id = request
        .get("payment_id")
        .and_then(Value::as_str)
        .ok_or_else(|| YkError::invalid("payment_id is required", "payment_id"))?;
    let amount = amount_of(request.get("amount"))?;
    let payment = shop_payment(state, &merchant, payment_id).await?;
    if amount.currency() != payment.amount.currency() {
        return Err(YkError::invalid(
            "The refund's currency is not the payment's",
            "amount.currency",
        ));
    }
    if status(&payment) != "succeeded" {
        return Err(YkError::invalid(
            "Only a succeeded payment can be refunded",
            "payment_id",
        ));
    }
    let outbox = state.outbox.clone();
    let now = state.clock.now();
    let id = payment.id.clone();
    let merchant_id = merchant.id;
    money_write(state, &merchant, headers, "/refunds", &request, move |db| {
        Box::pin(async move {
            outbox
                .transition(db, &id, PaymentEvent::Refunded { amount }, Actor::Merchant(merchant_id), now)
                .await?;
            let row = db
                .query(
                    "SELECT CAST(MAX(id) AS BIGINT) FROM ledger_transactions WHERE payment_id = $1 AND kind = 'refund'",
                    params![id.as_str()],
                )
                .await?;
            let transaction = row
                .first()
                .map(|row| row.int(0))
                .transpose()?
                .ok_or(StoreError::NotFound(Entity::Refund))?;
            Ok(refund_object(transaction, &id, amount, now))
        })
    })
    .await
}

async fn read_refund(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let merchant = shop(&state, &headers).await?;
            let missing = || YkError::not_found("Refund not found");
            let id = path_id(id)?;
            let transaction = transaction_of_refund(&id).ok_or_else(missing)?;
            let found = state
                .store
                .read(move |db| {
                    Box::pin(async move {
                        let rows = db
                            .query(
                                "SELECT t.payment_id, t.created_at, CAST(SUM(CASE WHEN lp.account LIKE 'clearing:%' THEN lp.amount ELSE 0 END) AS BIGINT) \
                                 FROM ledger_transactions t JOIN ledger_postings lp ON lp.transaction_id = t.id \
                                 WHERE t.id = $1 AND t.kind = 'refund' GROUP BY t.payment_id, t.created_at",
                                params![transaction],
                            )
                            .await?;
                        let Some(row) = rows.first() else { return Ok(None) };
                        let Some(payment) = row.opt_text(0)? else { return Ok(None) };
                        Ok(Some((payment, row.int(1)?, row.int(2)?)))
                    })
                })
                .await?
                .ok_or_else(missing)?;
            let (payment_id, at, minor) = found;
            let payment = shop_payment(&state, &merchant, &payment_id)
                .await
                .map_err(|_| missing())?;
            let amount = Money::from_minor(minor, payment.amount.currency())
                .map_err(|_| missing())?;
            Ok(refund_object(
                transaction,
                &payment.id,
                amount,
                Timestamp::from_unix_micros(at),
            ))
        }
        .await,
    )
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
