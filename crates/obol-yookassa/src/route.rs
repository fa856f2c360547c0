//! YooKassa as a live route (SPEC §4 "Live routes"): the [`UpstreamConnector`] Obol's shared
//! route machinery (`obol_http::upstream`) calls for routes of `kind = "yookassa"`, and the
//! notification endpoint `POST /notifications/yookassa/{route}`.
//!
//! The connector only translates: Obol's requests into YooKassa API v3 calls (through the same
//! bounded, retrying [`Connector`] the partner API uses) and YooKassa's objects into the
//! provider-neutral views the core decides on. A notification's body is read for one thing,
//! the id of the payment or refund it is about; what happened is read again from YooKassa.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use obol_core::Currency;
use obol_core::money::Money;
use obol_core::payment::{
    CardPayload, Resolution, UpstreamPaymentView, UpstreamRefundStatus, UpstreamStatus,
};
use obol_http::config::{AcquirerConfig, AcquirerKind};
use obol_http::state::AppState;
use obol_http::upstream::{
    self, NewUpstreamPayment, NotificationSubject, RouteError, UpstreamConnector, UpstreamError,
    UpstreamPayment, UpstreamRefundView,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::connector::{self, Account, Connector};

/// Where YooKassa notifies a route's shop.
pub const NOTIFICATION_PREFIX: &str = "/notifications/yookassa/";

/// YooKassa's connector for live routes.
pub struct YookassaRoutes {
    connector: Connector,
}

impl YookassaRoutes {
    pub fn new(connector: Connector) -> YookassaRoutes {
        YookassaRoutes { connector }
    }

    async fn call(
        &self,
        route: &AcquirerConfig,
        path: &str,
        idempotence_key: Option<&str>,
        body: Option<&Value>,
        deadline: Instant,
    ) -> Result<Value, UpstreamError> {
        let account = Account {
            base: &route.api_url,
            login: &route.shop_id,
            password: route.secret_key.expose(),
        };
        self.connector
            .call(deadline, &account, path, idempotence_key, body)
            .await
            .map_err(neutral)
    }
}

fn neutral(error: connector::UpstreamError) -> UpstreamError {
    match error {
        // YooKassa's error object with HTTP 5xx (`internal_server_error`) says the outcome is
        // unknown and the request is to be repeated with the same key (the connector already
        // did, in vain): never a refusal, which would let a refund that may have been made be
        // made again under another key.
        connector::UpstreamError::Refused {
            http_status,
            code,
            description,
            ..
        } if http_status >= 500 => {
            UpstreamError::Unreachable(format!("HTTP {http_status}: {code}: {description}"))
        }
        connector::UpstreamError::Refused {
            code, description, ..
        } => UpstreamError::Refused { code, description },
        connector::UpstreamError::Timeout => UpstreamError::Timeout,
        connector::UpstreamError::Connect(text) => UpstreamError::Unreachable(text),
        connector::UpstreamError::Unreadable(text) => UpstreamError::Unreadable(text),
    }
}

fn unreadable(what: &str) -> UpstreamError {
    UpstreamError::Unreadable(format!("the answer has no valid `{what}`"))
}

/// An id YooKassa gave: it becomes part of a URL, so an id's characters only.
fn id_of(value: &Value, name: &str) -> Result<String, UpstreamError> {
    value
        .get(name)
        .and_then(Value::as_str)
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        })
        .map(str::to_owned)
        .ok_or_else(|| unreadable(name))
}

fn money_of(value: &Value) -> Result<Money, UpstreamError> {
    let amount = value.get("amount").ok_or_else(|| unreadable("amount"))?;
    let currency = amount
        .get("currency")
        .and_then(Value::as_str)
        .and_then(|code| Currency::parse(code).ok())
        .ok_or_else(|| unreadable("amount.currency"))?;
    amount
        .get("value")
        .and_then(Value::as_str)
        .and_then(|text| Money::parse_decimal(text, currency).ok())
        .ok_or_else(|| unreadable("amount.value"))
}

/// YooKassa's `cancellation_details.reason` in the core's words; `expired_on_*`: ran out of
/// time there.
fn cancellation_of(payment: &Value) -> UpstreamStatus {
    let reason = payment
        .pointer("/cancellation_details/reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resolution = match reason {
        "insufficient_funds" => Resolution::InsufficientFunds,
        "card_expired" => Resolution::ExpiredCard,
        "3d_secure_failed" => Resolution::ThreeDsFailed,
        "canceled_by_merchant" => Resolution::Canceled,
        "expired_on_confirmation" | "expired_on_capture" => Resolution::Expired,
        "internal_timeout" | "general_decline" | "" => Resolution::Declined,
        _ => Resolution::Declined,
    };
    UpstreamStatus::Canceled {
        reason: resolution,
        expired: resolution == Resolution::Expired,
    }
}

fn card_of(payment: &Value) -> Option<CardPayload> {
    let card = payment.pointer("/payment_method/card")?;
    let text = |name: &str| card.get(name).and_then(Value::as_str);
    let first6 = text("first6").filter(|digits| digits.len() == 6)?;
    let last4 = text("last4").filter(|digits| digits.len() == 4)?;
    if !(first6.bytes().chain(last4.bytes())).all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let brand = match text("card_type").unwrap_or_default() {
        "Visa" => "visa",
        "MasterCard" => "mastercard",
        "Mir" => "mir",
        "AmericanExpress" => "amex",
        "JCB" => "jcb",
        "UnionPay" => "unionpay",
        "DiscoverCard" => "discover",
        "DinersClub" => "diners",
        _ => "unknown",
    };
    Some(CardPayload {
        first6: first6.to_owned(),
        last4: last4.to_owned(),
        brand: brand.to_owned(),
        expiry_month: text("expiry_month")
            .and_then(|month| month.parse().ok())
            .unwrap_or_default(),
        expiry_year: text("expiry_year")
            .and_then(|year| year.parse().ok())
            .unwrap_or_default(),
        holder: None,
        issuer: text("issuer_name").map(|name| name.chars().take(64).collect()),
    })
}

/// A YooKassa payment object as the core reads it.
pub fn payment_of(value: &Value) -> Result<UpstreamPayment, UpstreamError> {
    let status = match value.get("status").and_then(Value::as_str) {
        Some("pending") => UpstreamStatus::Pending,
        Some("waiting_for_capture") => UpstreamStatus::WaitingForCapture,
        Some("succeeded") => UpstreamStatus::Succeeded,
        Some("canceled") => cancellation_of(value),
        _ => return Err(unreadable("status")),
    };
    Ok(UpstreamPayment {
        view: UpstreamPaymentView {
            id: id_of(value, "id")?,
            status,
            amount: money_of(value)?,
            obol_payment_id: value
                .pointer("/metadata/obol_payment_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            card: card_of(value),
        },
        confirmation_url: value
            .pointer("/confirmation/confirmation_url")
            .and_then(Value::as_str)
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            .map(str::to_owned),
    })
}

fn refund_of(value: &Value) -> Result<UpstreamRefundView, UpstreamError> {
    Ok(UpstreamRefundView {
        id: id_of(value, "id")?,
        payment_id: id_of(value, "payment_id")?,
        status: match value.get("status").and_then(Value::as_str) {
            Some("pending") => UpstreamRefundStatus::Pending,
            Some("succeeded") => UpstreamRefundStatus::Succeeded,
            Some("canceled") => UpstreamRefundStatus::Canceled,
            _ => return Err(unreadable("status")),
        },
        amount: money_of(value)?,
    })
}

fn amount_json(amount: Money) -> Value {
    json!({ "value": amount.to_decimal_string(), "currency": amount.currency().code() })
}

impl UpstreamConnector for YookassaRoutes {
    fn kind(&self) -> AcquirerKind {
        AcquirerKind::Yookassa
    }

    fn create_payment<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        request: NewUpstreamPayment<'a>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>> {
        Box::pin(async move {
            let mut body = json!({
                "amount": amount_json(request.amount),
                "capture": request.capture,
                "confirmation": { "type": "redirect", "return_url": request.return_url },
                "metadata": { "obol_payment_id": request.obol_payment_id },
            });
            if let Some(description) = request.description {
                // YooKassa takes at most 128 characters.
                body["description"] = json!(description.chars().take(128).collect::<String>());
            }
            let answer = self
                .call(
                    route,
                    "payments",
                    Some(request.idempotence_key),
                    Some(&body),
                    deadline,
                )
                .await?;
            payment_of(&answer)
        })
    }

    fn get_payment<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>> {
        Box::pin(async move {
            let answer = self
                .call(route, &format!("payments/{id}"), None, None, deadline)
                .await?;
            payment_of(&answer)
        })
    }

    fn capture<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        amount: Money,
        idempotence_key: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>> {
        Box::pin(async move {
            let body = json!({ "amount": amount_json(amount) });
            let answer = self
                .call(
                    route,
                    &format!("payments/{id}/capture"),
                    Some(idempotence_key),
                    Some(&body),
                    deadline,
                )
                .await?;
            payment_of(&answer)
        })
    }

    fn cancel<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        idempotence_key: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>> {
        Box::pin(async move {
            let answer = self
                .call(
                    route,
                    &format!("payments/{id}/cancel"),
                    Some(idempotence_key),
                    Some(&json!({})),
                    deadline,
                )
                .await?;
            payment_of(&answer)
        })
    }

    fn create_refund<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        payment_id: &'a str,
        amount: Money,
        idempotence_key: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamRefundView, UpstreamError>> {
        Box::pin(async move {
            let body = json!({ "payment_id": payment_id, "amount": amount_json(amount) });
            let answer = self
                .call(
                    route,
                    "refunds",
                    Some(idempotence_key),
                    Some(&body),
                    deadline,
                )
                .await?;
            refund_of(&answer)
        })
    }

    fn get_refund<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamRefundView, UpstreamError>> {
        Box::pin(async move {
            let answer = self
                .call(route, &format!("refunds/{id}"), None, None, deadline)
                .await?;
            refund_of(&answer)
        })
    }

    fn notification_subject(&self, body: &[u8]) -> Option<NotificationSubject> {
        notification_subject(body)
    }
}

/// Whom a YooKassa notification (`{"type": "notification", "event": …, "object": {…}}`) is
/// about: the payment for `payment.*` events, the refund for `refund.*`.
pub fn notification_subject(body: &[u8]) -> Option<NotificationSubject> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value.get("type").and_then(Value::as_str) != Some("notification") {
        return None;
    }
    let event = value.get("event").and_then(Value::as_str)?;
    let object = value.get("object")?;
    let id = id_of(object, "id").ok()?;
    if event.starts_with("payment.") {
        Some(NotificationSubject::Payment(id))
    } else if event.starts_with("refund.") {
        Some(NotificationSubject::Refund(id))
    } else {
        None
    }
}

fn answer(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "status": text }))).into_response()
}

/// `POST /notifications/yookassa/{route}`: YooKassa tells a route's shop that something
/// changed. 200 once it is applied (or when Obol has no such payment, which is logged); 400
/// for a body that is not a notification; 404 for a route that is not configured; 503 when
/// YooKassa could not be asked, so that it notifies again (the reconciliation worker asks too).
pub(crate) async fn notification(
    State(state): State<AppState>,
    Path(route): Path<String>,
    body: Bytes,
) -> Response {
    let configured = state
        .config
        .acquirer(&route)
        .is_some_and(|acquirer| acquirer.kind == AcquirerKind::Yookassa);
    if !configured {
        return answer(StatusCode::NOT_FOUND, "unknown route");
    }
    let Some(subject) = notification_subject(&body) else {
        return answer(StatusCode::BAD_REQUEST, "not a notification");
    };
    match upstream::notified(&state, &route, subject.clone()).await {
        Ok(true) => answer(StatusCode::OK, "ok"),
        Ok(false) => {
            tracing::info!(route = %route, subject = ?subject, "a notification about nothing Obol sent to this route");
            answer(StatusCode::OK, "ok")
        }
        // Logged where found; a report that does not match moved nothing, and sending it again
        // would not change that.
        Err(RouteError::Mismatch(_)) => answer(StatusCode::OK, "ok"),
        Err(error) => {
            tracing::warn!(route = %route, %error, "a notification could not be applied; the provider will send it again");
            answer(StatusCode::SERVICE_UNAVAILABLE, "retry later")
        }
    }
}
