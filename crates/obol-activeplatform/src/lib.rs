//! The ActivePlatform dialect (seed `000`, SPEC §3.3): managers' JSON:API under `/api/v3`.
//! Scope is law: a manager acts on its own reseller and its descendants only; anything else is
//! 404, never a leak and never a change. Every action a manager takes is recorded.

mod auth;
mod completion;
pub mod door;
pub mod errors;
pub mod openapi;
pub mod render;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::idempotency::{RequestFingerprint, SavedResponse};
use obol_core::ids::{CustomerAccountId, PaymentId, PaymentMethodId, ResellerId};
use obol_core::ledger::TransactionKind;
use obol_core::money::{Money, Precision};
use obol_core::payment::{Payment, PaymentDraft, Source};
use obol_core::tenancy::Permission;
use obol_core::{Currency, Timestamp};
use obol_http::auth::ClientIp;
use obol_http::crypto::OsRandom;
use obol_http::idempotency::{self, KeyedRequest};
use obol_http::routes::Routes;
use obol_http::state::AppState;
use obol_store::ops::{audit, catalog, ledger, payments, tenancy};
use obol_store::{BoxFuture, Db, StoreError, StoreResult};
use serde_json::{Map, Value, json};

use auth::{Caller, caller, reseller_in_scope};
use errors::ApiError;

const MEDIA_TYPE: &str = "application/vnd.api+json";
/// Payments per page of the list: 50 unless asked, at most 250.
const PAGE_SIZE_DEFAULT: i64 = 50;
const PAGE_SIZE_MAX: i64 = 250;

pub fn router() -> Routes {
    Routes::new()
        .get("/api/v3/managers/me", me)
        .get("/api/v3/resellers/{reseller_id}", reseller)
        .get(
            "/api/v3/resellers/{reseller_id}/payment_methods",
            payment_methods,
        )
        .get("/api/v3/resellers/{reseller_id}/payments", list)
        .post("/api/v3/resellers/{reseller_id}/payments", create)
        .get(
            "/api/v3/resellers/{reseller_id}/payments/{payment_id}",
            read,
        )
        .patch(
            "/api/v3/resellers/{reseller_id}/payments/{payment_id}",
            completion::complete_by_id,
        )
        .post(
            "/api/v3/resellers/{reseller_id}/payments/{payment_id}",
            completion::complete_by_document,
        )
}

pub fn owns_path(path: &str) -> bool {
    path == "/api/v3" || path.starts_with("/api/v3/")
}

fn document(status: StatusCode, body: Value) -> Response {
    document_bytes(status, body.to_string().into_bytes())
}

fn document_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    response
}

pub(crate) fn answer(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) fn jsonapi_attributes(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => {
            match object.get("data").and_then(|data| data.get("attributes")) {
                Some(Value::Object(attributes)) => Ok(attributes.clone()),
                _ => Err(ApiError::bad_request(
                    "The body must be {\"data\": {\"attributes\": {…}}}.",
                )),
            }
        }
        _ => Err(ApiError::bad_request("The body is not valid JSON.")),
    }
}

pub(crate) async fn method_by_id(
    state: &AppState,
    id: Option<PaymentMethodId>,
) -> Result<Option<obol_core::catalog::PaymentMethod>, ApiError> {
    let Some(id) = id else { return Ok(None) };
    Ok(state
        .store
        .read(move |db| Box::pin(async move { catalog::get_method(db, id).await }))
        .await?)
}

/// The payment's document, rendered inside the write's transaction (so that an answer saved
/// under an idempotency key is the one the write produced).
async fn document_in(db: &mut dyn Db, payment: &Payment, public_url: &str) -> StoreResult<Vec<u8>> {
    let method = match payment.completed_method_id.or(payment.method_id) {
        Some(id) => catalog::get_method(db, id).await?,
        None => None,
    };
    let corrections = ledger::corrections_of_payment(db, &payment.id).await?;
    Ok(
        json!({ "data": render::payment(payment, method.as_ref(), &corrections, public_url) })
            .to_string()
            .into_bytes(),
    )
}

/// What makes a manager's write idempotent (SPEC §2): its `Idempotency-Key`, unique per
/// manager, and the request a repeat must match.
pub(crate) fn keyed_request(
    caller: &Caller,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<KeyedRequest>, ApiError> {
    KeyedRequest::from_headers(
        headers,
        &format!("activeplatform:manager:{}", caller.manager.id),
        RequestFingerprint::of(method, path, body),
    )
    .map_err(|_| ApiError::bad_request("Idempotency-Key is not valid."))
}

/// Runs a write that changes money and answers with the payment's document, rendered in the
/// same transaction; with a key it runs once and a repeat gets the saved answer.
pub(crate) async fn payment_write<F>(
    state: &AppState,
    request: Option<KeyedRequest>,
    status: StatusCode,
    operation: F,
) -> Result<Response, ApiError>
where
    F: for<'a> FnOnce(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<Payment>> + Send + 'static,
{
    let public_url = state.public_url.to_string();
    let code = status.as_u16();
    let outcome = idempotency::write(&state.store, state.clock.now(), request, move |db| {
        Box::pin(async move {
            let payment = operation(&mut *db).await?;
            let body = document_in(db, &payment, &public_url).await?;
            let saved = SavedResponse {
                status: code,
                content_type: MEDIA_TYPE.to_owned(),
                body,
            };
            Ok(((), saved))
        })
    })
    .await?;
    let saved = idempotency::answer(outcome);
    Ok(document_bytes(
        StatusCode::from_u16(saved.status).unwrap_or(status),
        saved.body,
    ))
}

async fn payment_document(
    state: &AppState,
    payment: &Payment,
    include: &[&str],
) -> Result<Value, ApiError> {
    let method = method_by_id(state, payment.completed_method_id.or(payment.method_id)).await?;
    let id = payment.id.clone();
    let corrections = state
        .store
        .read(move |db| Box::pin(async move { ledger::corrections_of_payment(db, &id).await }))
        .await?;
    let resource = render::payment(payment, method.as_ref(), &corrections, &state.public_url);
    let mut included = Vec::new();
    for member in include {
        match *member {
            "payment_method" => included.extend(method.as_ref().map(render::payment_method)),
            "reseller" => {
                let reseller_id = payment.reseller_id;
                let reseller = state
                    .store
                    .read(move |db| {
                        Box::pin(async move { tenancy::get_reseller(db, reseller_id).await })
                    })
                    .await?;
                included.push(render::reseller(&reseller));
            }
            "corrections" => {
                let id = payment.id.clone();
                let postings = state
                    .store
                    .read(move |db| {
                        Box::pin(async move { ledger::postings_of_payment(db, id.as_str()).await })
                    })
                    .await?;
                // A correction credits the customer account: that posting is its amount.
                included.extend(
                    postings
                        .iter()
                        .filter(|posting| {
                            posting.kind == TransactionKind::Correction
                                && corrections.contains(&posting.transaction_id)
                                && posting.amount.is_positive()
                        })
                        .map(|posting| render::correction(payment, posting)),
                );
            }
            "account" => {
                if let Some(account_id) = payment.customer_account_id {
                    let account = state
                        .store
                        .read(move |db| {
                            Box::pin(
                                async move { tenancy::get_customer_account(db, account_id).await },
                            )
                        })
                        .await?;
                    included.push(render::account(
                        account.id.get(),
                        account.reseller_id.get(),
                        account.name.as_str(),
                    ));
                }
            }
            _ => {}
        }
    }
    let mut body = json!({ "data": resource });
    if !include.is_empty() {
        body["included"] = Value::Array(included);
    }
    Ok(body)
}

/// The path's payment, if it is that reseller's (404 otherwise).
pub(crate) async fn payment_of(
    state: &AppState,
    reseller: ResellerId,
    number: &str,
) -> Result<Payment, ApiError> {
    let number: i64 = number.parse().map_err(|_| ApiError::not_found())?;
    let payment = state
        .store
        .read(move |db| Box::pin(async move { payments::get_by_number(db, number).await }))
        .await?;
    payment
        .filter(|payment| payment.reseller_id == reseller && payment.merchant_id.is_none())
        .ok_or_else(ApiError::not_found)
}

async fn me(State(state): State<AppState>, headers: HeaderMap, ClientIp(ip): ClientIp) -> Response {
    answer(
        async {
            let caller = caller(&state, &headers, false, ip).await?;
            Ok(document(
                StatusCode::OK,
                json!({ "data": render::manager(&caller.manager) }),
            ))
        }
        .await,
    )
}

async fn reseller(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(reseller_id): Path<String>,
) -> Response {
    answer(
        async {
            let caller = caller(&state, &headers, false, ip).await?;
            let reseller =
                reseller_in_scope(&state, &caller, &reseller_id, Permission::ReadPayments).await?;
            Ok(document(
                StatusCode::OK,
                json!({ "data": render::reseller(&reseller) }),
            ))
        }
        .await,
    )
}

async fn payment_methods(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(reseller_id): Path<String>,
) -> Response {
    answer(
        async {
            let caller = caller(&state, &headers, false, ip).await?;
            reseller_in_scope(&state, &caller, &reseller_id, Permission::ReadPayments).await?;
            let methods = state
                .store
                .read(|db| Box::pin(catalog::list_methods(db)))
                .await?;
            Ok(document(
                StatusCode::OK,
                json!({ "data": methods.iter().map(render::payment_method).collect::<Vec<_>>() }),
            ))
        }
        .await,
    )
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path((reseller_id, payment_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(
        async {
            let caller = caller(&state, &headers, false, ip).await?;
            let reseller =
                reseller_in_scope(&state, &caller, &reseller_id, Permission::ReadPayments).await?;
            let payment = payment_of(&state, reseller.id, &payment_id).await?;
            let include: Vec<&str> = query
                .get("include")
                .map(|text| text.split(',').map(str::trim).collect())
                .unwrap_or_default();
            Ok(document(
                StatusCode::OK,
                payment_document(&state, &payment, &include).await?,
            ))
        }
        .await,
    )
}

fn parse_time(text: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(text)
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(reseller_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(async {
        let caller = caller(&state, &headers, false, ip).await?;
        let reseller = reseller_in_scope(&state, &caller, &reseller_id, Permission::ReadPayments).await?;
        let number = |name: &str, default: i64, max: i64| -> Result<i64, ApiError> {
            match query.get(name) {
                None => Ok(default),
                Some(text) => text.parse::<i64>().ok().filter(|value| (1..=max).contains(value)).ok_or_else(|| ApiError::bad_request(&format!("{name} is not valid."))),
            }
        };
        let size = number("page[size]", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)?;
        let page = number("page[number]", 1, 1_000_000)?;
        let sort = match query.get("sort").map(String::as_str) {
            None | Some("-created_at") => ("created_at", false),
            Some("created_at") => ("created_at", true),
            Some("id") => ("number", true),
            Some("-id") => ("number", false),
            Some("total") => ("amount", true),
            Some("-total") => ("amount", false),
            Some("document_id") => ("document_id", true),
            Some("-document_id") => ("document_id", false),
            Some(_) => return Err(ApiError::bad_request("sort is not valid.")),
        };
        let statuses = match query.get("filter[status]") {
            None => Vec::new(),
            Some(status) => render::core_statuses(status).ok_or_else(|| ApiError::bad_request("filter[status] is not valid."))?.iter().map(|status| (*status).to_owned()).collect(),
        };
        let account_id = match query.get("filter[account_id]") {
            None => None,
            Some(text) => Some(text.parse::<i64>().map_err(|_| ApiError::bad_request("filter[account_id] is not valid."))?),
        };
        let time_filter = |name: &str| -> Result<Option<Timestamp>, ApiError> {
            match query.get(name) {
                None => Ok(None),
                Some(text) => parse_time(text).map(Some).ok_or_else(|| ApiError::bad_request(&format!("{name} is not valid."))),
            }
        };
        let reseller_query = payments::ResellerQuery {
            statuses,
            account_id,
            created_after: time_filter("filter[created_at][gt]")?,
            created_before: time_filter("filter[created_at][lt]")?,
            sort,
            limit: size,
            offset: (page - 1) * size,
        };
        let reseller_id = reseller.id;
        let (found, total) = state.store.read(move |db| Box::pin(async move { payments::list_for_reseller(db, reseller_id, reseller_query).await })).await?;
        let methods = state.store.read(|db| Box::pin(catalog::list_methods(db))).await?;
        let data: Vec<Value> = found
            .iter()
            .map(|payment| {
                let method = payment.completed_method_id.or(payment.method_id).and_then(|id| methods.iter().find(|method| method.id == id));
                render::payment(payment, method, &[], &state.public_url)
            })
            .collect();
        let pages = ((total + size - 1) / size).max(1);
        let link = |page: i64| format!("/api/v3/resellers/{}/payments?page[number]={page}&page[size]={size}", reseller.id);
        Ok(document(
            StatusCode::OK,
            json!({
                "data": data,
                "meta": { "total": total, "pages": pages, "page": page, "size": size },
                "links": {
                    "self": link(page),
                    "first": link(1),
                    "last": link(pages),
                    "next": if page < pages { Value::from(link(page + 1)) } else { Value::Null },
                    "prev": if page > 1 { Value::from(link(page - 1)) } else { Value::Null },
                }
            }),
        ))
    }
    .await)
}

pub(crate) fn decimal_text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(text)) => Some(text.trim().to_owned()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(reseller_id): Path<String>,
    body: Bytes,
) -> Response {
    answer(async {
        let caller = caller(&state, &headers, true, ip).await?;
        let reseller = reseller_in_scope(&state, &caller, &reseller_id, Permission::CreatePayments).await?;
        let attributes = jsonapi_attributes(&body)?;
        let account_id = attributes.get("account_id").and_then(Value::as_i64).ok_or_else(|| ApiError::unprocessable("account_id is not valid."))?;
        let currency = attributes.get("currency_code").and_then(Value::as_str).and_then(|code| Currency::parse(code).ok()).ok_or_else(|| ApiError::unprocessable("currency_code is not valid."))?;
        let total = decimal_text(attributes.get("total"))
            .and_then(|text| Money::parse_decimal_with(&text, currency, Precision::AllowTrailingZeros).ok())
            .filter(|total| total.is_positive())
            .ok_or_else(|| ApiError::unprocessable("total is not valid."))?;
        let text = |key: &str| -> Result<Option<String>, ApiError> {
            match attributes.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) if text.chars().count() <= 1024 => Ok(Some(text.clone())),
                Some(_) => Err(ApiError::unprocessable(&format!("{key} is not valid."))),
            }
        };
        let comment = text("comment")?;
        let purpose = text("purpose")?;
        let time = |key: &str| -> Result<Option<Timestamp>, ApiError> {
            match attributes.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => parse_time(text).map(Some).ok_or_else(|| ApiError::unprocessable(&format!("{key} is not valid."))),
                Some(_) => Err(ApiError::unprocessable(&format!("{key} is not valid."))),
            }
        };
        let due_date = time("due_date")?;
        let expiration_date = time("expiration_date")?;
        let account = CustomerAccountId::new(account_id);
        let owner = state.store.read(move |db| Box::pin(async move { tenancy::get_customer_account(db, account).await })).await;
        match owner {
            Ok(found) if found.reseller_id == reseller.id => {}
            Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::unprocessable("Account not found.")),
            Err(error) => return Err(error.into()),
        }
        let draft = PaymentDraft::builder(Source::Manager, reseller.id, total)
            .customer_account(account)
            .description(comment)
            .dialect_attributes(json!({ "purpose": purpose.unwrap_or_default(), "due_date": due_date.map(render::time) }).to_string())
            .expires_at(expiration_date)
            .requester_ip(caller.ip.clone())
            .build()?;
        let outbox = state.outbox.clone();
        let now = state.clock.now();
        let (manager, ip) = (caller.manager.id, caller.ip.clone());
        let path = format!("/api/v3/resellers/{}/payments", reseller.id);
        let request = keyed_request(&caller, &headers, "POST", &path, &body)?;
        payment_write(&state, request, StatusCode::CREATED, move |db| {
            Box::pin(async move {
                let payment = outbox.insert(db, draft, PaymentId::generate(&mut OsRandom), None, now).await?;
                audit::record(db, manager, "payment.create", payment.id.as_str(), ip.as_deref(), now).await?;
                Ok(payment)
            })
        })
        .await
    }
    .await)
}
