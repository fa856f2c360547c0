//! YooKassa v3's lists: `GET /payments` and `GET /refunds`, newest first, only the shop's own,
//! `limit` (1–100, default 10), an opaque `cursor` answered as `next_cursor` (absent on the
//! last page), `status`, `created_at.gte|gt|lte|lt` and, for refunds, `payment_id`. Items are
//! written exactly as the single reads write them. The store reads by keyset.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use obol_core::Timestamp;
use obol_core::ids::{MerchantId, PaymentId};
use obol_core::payment::{PaymentStatus, Source};
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::ops::listing::{self, CreatedRange, PaymentList, RefundList, StatusFilter};
use serde_json::{Value, json};

use super::refunds::refund_object;
use super::{YkError, answer, payment_object, shop};

const LIMIT_DEFAULT: i64 = 10;
const LIMIT_MAX: i64 = listing::LIMIT_MAX;
const PAYMENT_CURSOR: &str = "payments";
const REFUND_CURSOR: &str = "refunds";

/// A list's parameters, read from the query string.
#[derive(Debug, Default)]
struct Params {
    limit: Option<i64>,
    cursor: Option<i64>,
    status: Option<String>,
    created: CreatedRange,
    payment_id: Option<String>,
}

/// A cursor: which list of which shop it pages and the position below which the next page
/// starts, in a form clients treat as opaque. Another list's or another shop's cursor is
/// refused.
fn cursor_text(list: &str, shop: MerchantId, position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}:{shop}:{position}"))
}

fn cursor_position(list: &str, shop: MerchantId, text: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split(':');
    let (kind, owner, position) = (parts.next()?, parts.next()?, parts.next()?);
    if kind != list || owner != shop.to_string() || parts.next().is_some() {
        return None;
    }
    position
        .parse::<i64>()
        .ok()
        .filter(|position| *position > 0)
}

fn parse(
    query: Option<&str>,
    list: &'static str,
    shop: MerchantId,
    refunds: bool,
) -> Result<Params, YkError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| YkError::invalid("The query string cannot be read", "query"))?;
    let mut params = Params::default();
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => {
                params.limit = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|limit| (1..=LIMIT_MAX).contains(limit))
                        .ok_or_else(|| {
                            YkError::invalid(
                                format!("limit must be an integer from 1 to {LIMIT_MAX}"),
                                "limit",
                            )
                        })?,
                );
            }
            "cursor" => {
                params.cursor = Some(
                    cursor_position(list, shop, &value)
                        .ok_or_else(|| YkError::invalid("cursor is not valid", "cursor"))?,
                );
            }
            "status" => params.status = Some(value),
            "created_at.gte" => params.created.gte = Some(instant(&value, "created_at.gte")?),
            "created_at.gt" => params.created.gt = Some(instant(&value, "created_at.gt")?),
            "created_at.lte" => params.created.lte = Some(instant(&value, "created_at.lte")?),
            "created_at.lt" => params.created.lt = Some(instant(&value, "created_at.lt")?),
            "payment_id" if refunds => params.payment_id = Some(value),
            // YooKassa's other filters (`captured_at`, `payment_method`, …) and unknown
            // parameters are not the sandbox's: they are ignored.
            _ => {}
        }
    }
    Ok(params)
}

fn instant(text: &str, parameter: &'static str) -> Result<Timestamp, YkError> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| {
        YkError::invalid(
            format!("{parameter} must be a date and time in ISO 8601"),
            parameter,
        )
    })
}

/// The core statuses behind a YooKassa payment status.
fn status_filter(status: &str) -> Result<StatusFilter, YkError> {
    let (statuses, held) = match status {
        "pending" => (
            vec![PaymentStatus::Created, PaymentStatus::Pending],
            Some(false),
        ),
        "waiting_for_capture" => (vec![PaymentStatus::Pending], Some(true)),
        "succeeded" => (
            vec![
                PaymentStatus::Processed,
                PaymentStatus::PartiallyRefunded,
                PaymentStatus::Refunded,
            ],
            None,
        ),
        "canceled" => (
            vec![
                PaymentStatus::Failed,
                PaymentStatus::Expired,
                PaymentStatus::Deleted,
            ],
            None,
        ),
        _ => {
            return Err(YkError::invalid(
                "status must be pending, waiting_for_capture, succeeded or canceled",
                "status",
            ));
        }
    };
    Ok(StatusFilter { statuses, held })
}

fn list_body(items: Vec<Value>, next: Option<String>) -> Value {
    let mut body = json!({ "type": "list", "items": items });
    if let Some(next) = next {
        body["next_cursor"] = json!(next);
    }
    body
}

pub(super) async fn list_payments(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let merchant = shop(&state, client.as_deref(), &headers).await?;
            let params = parse(query.as_deref(), PAYMENT_CURSOR, merchant.id, false)?;
            let status = params.status.as_deref().map(status_filter).transpose()?;
            let list = PaymentList {
                merchant: merchant.id,
                source: Source::YookassaSandbox,
                status,
                created: params.created,
                below: params.cursor,
                limit: params.limit.unwrap_or(LIMIT_DEFAULT),
            };
            let page = state
                .store
                .read(move |db| Box::pin(async move { listing::payments(db, list).await }))
                .await?;
            let items = page
                .payments
                .iter()
                .map(|payment| payment_object(&state, payment))
                .collect();
            Ok(list_body(
                items,
                page.next
                    .map(|number| cursor_text(PAYMENT_CURSOR, merchant.id, number)),
            ))
        }
        .await,
    )
}

pub(super) async fn list_refunds(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let merchant = shop(&state, client.as_deref(), &headers).await?;
            let params = parse(query.as_deref(), REFUND_CURSOR, merchant.id, true)?;
            // Every sandbox refund succeeds at once: another status lists nothing.
            let none = match params.status.as_deref() {
                None | Some("succeeded") => false,
                Some("pending" | "canceled") => true,
                Some(_) => {
                    return Err(YkError::invalid(
                        "status must be pending, succeeded or canceled",
                        "status",
                    ));
                }
            };
            let payment = match params.payment_id.as_deref() {
                None => None,
                Some(id) => Some(
                    PaymentId::from_uuid_form(id)
                        .or_else(|_| PaymentId::parse(id))
                        .map_err(|_| {
                            YkError::invalid("payment_id is not a payment's id", "payment_id")
                        })?,
                ),
            };
            if none {
                return Ok(list_body(Vec::new(), None));
            }
            let list = RefundList {
                merchant: merchant.id,
                source: Source::YookassaSandbox,
                payment,
                created: params.created,
                below: params.cursor,
                limit: params.limit.unwrap_or(LIMIT_DEFAULT),
            };
            let page = state
                .store
                .read(move |db| Box::pin(async move { listing::refunds(db, list).await }))
                .await?;
            let items = page
                .refunds
                .iter()
                .map(|refund| {
                    refund_object(
                        refund.transaction_id,
                        &refund.payment_id,
                        refund.amount,
                        refund.created_at,
                    )
                })
                .collect();
            Ok(list_body(
                items,
                page.next
                    .map(|id| cursor_text(REFUND_CURSOR, merchant.id, id)),
            ))
        }
        .await,
    )
}
