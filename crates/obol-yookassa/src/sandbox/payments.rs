//! The sandbox's payments: how YooKassa v3 shows one, creating it on a card service of the
//! shop, reading it, and the capture or cancellation of a held (two-stage) payment. The core
//! decides which service may be used ([`service_usable`]), checks the draft
//! ([`PaymentDraft::builder`]) and whether a hold may be captured or released.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use obol_core::catalog::{PaymentService, ServiceUse, service_usable};
use obol_core::ids::PaymentId;
use obol_core::money::Money;
use obol_core::payment::{
    Actor, Payment, PaymentDraft, PaymentStatus, Resolution, ReturnUrls, Source,
};
use obol_core::tenancy::Merchant;
use obol_http::auth::ClientIp;
use obol_http::crypto::{OperatorKey, OsRandom};
use obol_http::state::AppState;
use obol_http::tokens;
use obol_store::Entity;
use obol_store::StoreError;
use obol_store::ops::payments as stored_payments;
use serde_json::{Value, json};

use super::{
    CONFIRMATION_PURPOSE, DESCRIPTION_MAX, YkError, amount_of, answer, money_object, money_write,
    object, path_id, shop, shop_payment,
};

/// How long a confirmation token opens the page.
const CONFIRMATION_LIFETIME_SECONDS: i64 = 30 * 86_400;
/// YooKassa cancels an uncaptured payment after seven days.
const CAPTURE_WINDOW_SECONDS: i64 = 7 * 86_400;
/// YooKassa's limits on `metadata`.
const METADATA_KEYS_MAX: usize = 16;
const METADATA_KEY_MAX: usize = 32;
const METADATA_VALUE_MAX: usize = 512;

/// A payment's status in YooKassa's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum YkStatus {
    Pending,
    WaitingForCapture,
    Succeeded,
    Canceled,
}

impl YkStatus {
    pub(crate) fn of(payment: &Payment) -> YkStatus {
        match payment.status {
            PaymentStatus::Created | PaymentStatus::Pending if payment.waits_for_capture() => {
                YkStatus::WaitingForCapture
            }
            PaymentStatus::Created | PaymentStatus::Pending => YkStatus::Pending,
            PaymentStatus::Processed
            | PaymentStatus::PartiallyRefunded
            | PaymentStatus::Refunded => YkStatus::Succeeded,
            PaymentStatus::Failed | PaymentStatus::Expired | PaymentStatus::Deleted => {
                YkStatus::Canceled
            }
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            YkStatus::Pending => "pending",
            YkStatus::WaitingForCapture => "waiting_for_capture",
            YkStatus::Succeeded => "succeeded",
            YkStatus::Canceled => "canceled",
        }
    }
}

/// The YooKassa status of a payment.
pub fn status(payment: &Payment) -> &'static str {
    YkStatus::of(payment).as_str()
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

fn confirmation_token(key: &OperatorKey, payment: &Payment) -> String {
    tokens::issue(
        key,
        CONFIRMATION_PURPOSE,
        payment.id.as_str(),
        payment
            .created_at
            .plus_seconds(CONFIRMATION_LIFETIME_SECONDS),
    )
}

/// A payment as YooKassa v3 writes it.
pub fn payment_object(state: &AppState, payment: &Payment) -> Value {
    payment_json(&state.public_url, &state.key, payment)
}

/// A payment as YooKassa v3 writes it, from what a callback's rendering has: the public URL
/// and the key that signs its confirmation token.
pub(crate) fn payment_json(public_url: &str, key: &OperatorKey, payment: &Payment) -> Value {
    let status = YkStatus::of(payment);
    let mut object = json!({
        "id": payment.id.uuid_form(),
        "status": status.as_str(),
        "amount": money_object(payment.amount),
        "description": payment.description,
        "recipient": {
            "account_id": payment.merchant_id.map(|id| id.to_string()).unwrap_or_default(),
            "gateway_id": payment.merchant_id.map(|id| id.to_string()).unwrap_or_default(),
        },
        "created_at": payment.created_at.to_rfc3339_millis(),
        "test": payment.test_mode,
        "paid": payment.waits_for_capture() || payment.status.is_paid(),
        "refundable": payment.has_refundable_rest(),
        "metadata": payment.metadata.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok()).unwrap_or_else(|| json!({})),
    });
    if status == YkStatus::Pending {
        let redirect = payment
            .dialect_attributes
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .is_some_and(|attributes| attributes["confirmation"] == "redirect");
        let token = confirmation_token(key, payment);
        object["confirmation"] = if redirect {
            json!({
                "type": "redirect",
                "confirmation_url": format!("{public_url}/sandbox/yookassa/confirmation/{token}"),
                "return_url": payment.return_urls.default,
            })
        } else {
            json!({ "type": "embedded", "confirmation_token": token })
        };
    }
    if status == YkStatus::WaitingForCapture
        && let Some(at) = payment.authorized_at
    {
        object["expires_at"] = json!(at.plus_seconds(CAPTURE_WINDOW_SECONDS).to_rfc3339_millis());
    }
    if status == YkStatus::Succeeded {
        if let Some(at) = payment.processed_at {
            object["captured_at"] = json!(at.to_rfc3339_millis());
        }
        object["income_amount"] = money_object(payment.deposit);
        object["refunded_amount"] = money_object(payment.refunded_amount);
    }
    if status == YkStatus::Canceled {
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
                    "mir" => "Mir",
                    // YooKassa's own set only (strict clients refuse any other value):
                    // Maestro is shown as MasterCard, as YooKassa does.
                    "mastercard" | "maestro" => "MasterCard",
                    "amex" => "AmericanExpress",
                    "jcb" => "JCB",
                    "unionpay" => "UnionPay",
                    "discover" => "DiscoverCard",
                    _ => "Unknown",
                },
            },
        });
    }
    object
}

pub(super) async fn create_payment(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(create(&state, client.as_deref(), &headers, &body).await)
}

/// How the shop asked to confirm the payment (`confirmation`).
#[derive(Default)]
struct Confirmation {
    return_url: Option<String>,
    /// Obol's page language for YooKassa's `locale`.
    locale: Option<String>,
    /// `redirect` rather than `embedded`: the answer's `confirmation` follows it.
    redirect: bool,
}

async fn create(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, YkError> {
    let merchant = shop(state, client, headers).await?;
    let request = object(body)?;
    let amount = amount_of(request.get("amount"))?;
    let manual_capture = match request.get("capture") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(capture)) => !capture,
        Some(_) => return Err(YkError::invalid("capture must be true or false", "capture")),
    };
    let description = description_of(request.get("description"))?;
    let metadata = metadata_of(request.get("metadata"))?;
    let confirmation = confirmation_of(request.get("confirmation"))?;
    let service = card_service(state, &merchant, amount).await?;
    let draft = PaymentDraft::for_merchant(&merchant, Source::YookassaSandbox, amount)
        .test_mode(true)
        .description(description)
        .metadata(metadata)
        .dialect_attributes(
            confirmation
                .redirect
                .then(|| json!({ "confirmation": "redirect" }).to_string()),
        )
        .return_urls(ReturnUrls {
            default: confirmation.return_url,
            ..ReturnUrls::default()
        })
        .locale(confirmation.locale)
        .manual_capture(manual_capture)
        .service(&service)
        .build()?;
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

/// The shop's card service in the amount's currency, if the core lets this shop's payment use
/// it (its amount limits are the draft's to check).
async fn card_service(
    state: &AppState,
    merchant: &Merchant,
    amount: Money,
) -> Result<PaymentService, YkError> {
    let code = format!(
        "payment_card_{}_hpp",
        amount.currency().code().to_ascii_lowercase()
    );
    // The sandbox settles test payments only (SPEC §2): every payment it makes is a test
    // payment, whatever the shop's mode; the shop's list holds only the services linked to it.
    let usage = ServiceUse::merchant(merchant.test_mode, true, true);
    state
        .caches
        .merchant_services(&state.store, merchant.id)
        .await?
        .iter()
        .map(|(_, service)| service.clone())
        .find(|service| service.code == code && service_usable(service, usage))
        .ok_or_else(|| {
            YkError::invalid(
                format!(
                    "Payments in {} are not available to this shop",
                    amount.currency().code()
                ),
                "amount.currency",
            )
        })
}

fn description_of(value: Option<&Value>) -> Result<Option<String>, YkError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= DESCRIPTION_MAX => {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(YkError::invalid(
            format!("description must be a string of at most {DESCRIPTION_MAX} characters"),
            "description",
        )),
    }
}

/// YooKassa's `metadata`: a small object of plain values, kept as JSON text.
fn metadata_of(value: Option<&Value>) -> Result<Option<String>, YkError> {
    match value {
        None | Some(Value::Null) => Ok(None),
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
            Ok(Some(Value::Object(metadata.clone()).to_string()))
        }
        Some(_) => Err(YkError::invalid(
            format!(
                "metadata must be an object of at most {METADATA_KEYS_MAX} keys of at most \
                 {METADATA_KEY_MAX} characters, with plain values of at most {METADATA_VALUE_MAX}"
            ),
            "metadata",
        )),
    }
}

fn confirmation_of(value: Option<&Value>) -> Result<Confirmation, YkError> {
    let confirmation = match value {
        None | Some(Value::Null) => return Ok(Confirmation::default()),
        Some(Value::Object(confirmation)) => confirmation,
        Some(_) => {
            return Err(YkError::invalid(
                "confirmation must be an object",
                "confirmation",
            ));
        }
    };
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
    let return_url = confirmation
        .get("return_url")
        .and_then(Value::as_str)
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .filter(|url| url.len() <= 2048)
        .map(str::to_owned);
    Ok(Confirmation {
        return_url,
        locale,
        redirect,
    })
}

pub(super) async fn read_payment(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let merchant = shop(&state, client.as_deref(), &headers).await?;
            let id = path_id(id)?;
            let payment = shop_payment(&state, &merchant, &id).await?;
            Ok(payment_object(&state, &payment))
        }
        .await,
    )
}

pub(super) async fn capture(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(match path_id(id) {
        Ok(id) => finish(&state, client.as_deref(), &headers, &id, &body, true).await,
        Err(error) => Err(error),
    })
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(match path_id(id) {
        Ok(id) => finish(&state, client.as_deref(), &headers, &id, &body, false).await,
        Err(error) => Err(error),
    })
}

/// Captures (takes the held money) or cancels (releases it) a `waiting_for_capture` payment.
async fn finish(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
    take: bool,
) -> Result<Value, YkError> {
    let merchant = shop(state, client, headers).await?;
    let request = object(body)?;
    let payment = shop_payment(state, &merchant, id).await?;
    if take && let Some(amount) = request.get("amount").filter(|value| !value.is_null()) {
        payment.check_capture_amount(amount_of(Some(amount))?)?;
    }
    let outbox = state.outbox.clone();
    let answer_state = state.clone();
    let now = state.clock.now();
    let path = format!("/payments/{id}/{}", if take { "capture" } else { "cancel" });
    let payment_id = payment.id.clone();
    let merchant_id = merchant.id;
    money_write(state, &merchant, headers, &path, &request, move |db| {
        Box::pin(async move {
            let current = stored_payments::get_payment(db, &payment_id)
                .await?
                .ok_or(StoreError::NotFound(Entity::Payment))?;
            // The whole amount was checked above: a capture takes exactly that.
            let event = if take {
                current.capture(None)?
            } else {
                current.cancel_hold()?
            };
            let (payment, _) = outbox
                .transition(db, &payment_id, event, Actor::Merchant(merchant_id), now)
                .await?;
            Ok(payment_object(&answer_state, &payment))
        })
    })
    .await
}
