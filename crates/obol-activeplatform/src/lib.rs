//! The ActivePlatform dialect (seed `000`, SPEC §3.3): managers' JSON:API under `/api/v3`.
//! Scope is law: a manager acts on its own reseller and its descendants only; anything else is
//! 404, never a leak and never a change. Every action a manager takes is recorded.

pub mod door;
pub mod errors;
pub mod openapi;
pub mod render;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use obol_core::credentials::SecretDigest;
use obol_core::idempotency::{IdempotencyKey, IdempotencyScope, RequestFingerprint, SavedResponse};
use obol_core::ids::{CustomerAccountId, ManagerId, PaymentId, PaymentMethodId, ResellerId};
use obol_core::money::{Money, Precision};
use obol_core::payment::{
    Actor, ExternalSettlement, Flow, Payment, PaymentDraft, PaymentError, PaymentEvent, ReturnUrls,
    Source,
};
use obol_core::tenancy::{Manager, ManagerScope, Permission, TenancyError};
use obol_core::{Currency, Timestamp};
use obol_store::error::Entity;
use obol_store::ops::{audit, catalog, ledger, payments, tenancy};
use obol_store::{Db, StoreError, StoreResult};
use serde_json::{Map, Value, json};

use errors::{ApiError, ONLY_WAITING_OR_EXPIRED};
use obol_http::auth::ClientIp;
use obol_http::crypto::OsRandom;
use obol_http::state::AppState;

const MEDIA_TYPE: &str = "application/vnd.api+json";
/// Payments per page of the list: 50 unless asked, at most 250.
const PAGE_SIZE_DEFAULT: i64 = 50;
const PAGE_SIZE_MAX: i64 = 250;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v3/managers/me", get(me))
        .route("/api/v3/resellers/{reseller_id}", get(reseller))
        .route(
            "/api/v3/resellers/{reseller_id}/payment_methods",
            get(payment_methods),
        )
        .route(
            "/api/v3/resellers/{reseller_id}/payments",
            get(list).post(create),
        )
        .route(
            "/api/v3/resellers/{reseller_id}/payments/{payment_id}",
            get(read).patch(complete_by_id).post(complete_by_document),
        )
}

pub fn owns_path(path: &str) -> bool {
    path == "/api/v3" || path.starts_with("/api/v3/")
}

fn document(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    response
}

fn answer(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A manager acting, with the ancestry of its reseller.
struct Caller {
    manager: Manager,
    scope: ManagerScope,
    ip: Option<String>,
}

/// JSON:API negotiation, then the manager's token.
async fn caller(
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
    let token = headers
        .get("x-api-token")
        .and_then(|value| value.to_str().ok())
        .filter(|token| !token.is_empty() && token.len() <= 256)
        .ok_or_else(ApiError::unauthorized)?;
    let digest = SecretDigest::of(token);
    let (manager, _) = state
        .store
        .read(move |db| Box::pin(async move { tenancy::find_manager_by_token(db, digest).await }))
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let scope = ManagerScope {
        manager_id: manager.id,
        reseller_id: manager.reseller_id,
        role: manager.role,
    };
    Ok(Caller { manager, scope, ip })
}

/// The path's reseller, if the caller may see it (404 otherwise: never a leak).
async fn reseller_in_scope(
    state: &AppState,
    caller: &Caller,
    reseller: &str,
    permission: Permission,
) -> Result<obol_core::tenancy::Reseller, ApiError> {
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

fn jsonapi_attributes(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
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

async fn method_by_id(
    state: &AppState,
    id: Option<PaymentMethodId>,
) -> Result<Option<obol_core::catalog::PaymentMethod>, ApiError> {
    let Some(id) = id else { return Ok(None) };
    Ok(state
        .store
        .read(move |db| Box::pin(async move { catalog::get_method(db, id).await }))
        .await?)
}

async fn corrections_of(db: &mut dyn Db, payment: &PaymentId) -> StoreResult<Vec<i64>> {
    let rows = db.query("SELECT id FROM ledger_transactions WHERE payment_id = $1 AND kind = 'correction' ORDER BY id", obol_store::params![payment.as_str()]).await?;
    rows.iter().map(|row| row.int(0)).collect()
}

/// The payment's document, rendered inside a transaction (for answers saved under an
/// idempotency key).
async fn document_in(db: &mut dyn Db, payment: &Payment, public_url: &str) -> StoreResult<Vec<u8>> {
    let method = match payment.completed_method_id.or(payment.method_id) {
        Some(id) => catalog::get_method(db, id).await?,
        None => None,
    };
    let corrections = corrections_of(db, &payment.id).await?;
    Ok(
        json!({ "data": render::payment(payment, method.as_ref(), &corrections, public_url) })
            .to_string()
            .into_bytes(),
    )
}

fn write_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Payment(PaymentError::TransitionNotAllowed { .. }) => {
            ApiError::unprocessable(ONLY_WAITING_OR_EXPIRED)
        }
        StoreError::Idempotency(_) => {
            ApiError::unprocessable("Idempotency-Key was used with another request.")
        }
        other => other.into(),
    }
}

/// Runs a write that changes money and answers with the payment. With an `Idempotency-Key`
/// (SPEC §2), it runs once per key: the answer is rendered in the same transaction and a
/// repeat of the same request gets it again.
#[allow(clippy::too_many_arguments)]
async fn money_write<F>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
    status: StatusCode,
    operation: F,
) -> Result<Response, ApiError>
where
    F: for<'a> FnOnce(&'a mut dyn Db) -> obol_store::BoxFuture<'a, StoreResult<Payment>>
        + Send
        + 'static,
{
    let Some(value) = headers.get("idempotency-key") else {
        let payment = state.store.write(operation).await.map_err(write_error)?;
        return Ok(document(
            status,
            payment_document(state, &payment, &[]).await?,
        ));
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|text| IdempotencyKey::parse(text).ok())
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key is not valid."))?;
    let scope = IdempotencyScope::new(&format!("activeplatform:manager:{}", caller.manager.id));
    let fingerprint = RequestFingerprint::of(method, path, body);
    let public_url = state.public_url.to_string();
    let code = status.as_u16();
    let outcome = state
        .store
        .write_idempotent(scope, key, fingerprint, state.clock.now(), move |db| {
            Box::pin(async move {
                let payment = operation(&mut *db).await?;
                let body = document_in(db, &payment, &public_url).await?;
                Ok((
                    (),
                    SavedResponse {
                        status: code,
                        content_type: MEDIA_TYPE.to_owned(),
                        body,
                    },
                ))
            })
        })
        .await
        .map_err(write_error)?;
    let saved = match outcome {
        obol_store::Idempotent::Fresh(_, saved) | obol_store::Idempotent::Replayed(saved) => saved,
    };
    Ok(document(
        StatusCode::from_u16(saved.status).unwrap_or(status),
        serde_json::from_slice(&saved.body).unwrap_or(Value::Null),
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
        .read(move |db| Box::pin(async move { corrections_of(db, &id).await }))
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
async fn payment_of(
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

fn decimal_text(value: Option<&Value>) -> Option<String> {
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
        let draft = PaymentDraft {
            reseller_id: reseller.id,
            merchant_id: None,
            customer_account_id: Some(account),
            customer_id: None,
            reference_id: None,
            external_id: None,
            amount: total,
            flow: Flow::Charge,
            description: comment,
            metadata: None,
            service_fields: None,
            gateway_options: None,
            page_options: None,
            dialect_attributes: Some(json!({ "purpose": purpose.unwrap_or_default(), "due_date": due_date.map(render::time) }).to_string()),
            return_urls: ReturnUrls::default(),
            callback_url: None,
            expires_at: expiration_date,
            source: Source::Manager,
            locale: None,
            test_mode: false,
            requester_ip: caller.ip.clone(),
            manual_capture: false,
        };
        let outbox = state.outbox.clone();
        let now = state.clock.now();
        let (manager, ip) = (caller.manager.id, caller.ip.clone());
        let path = format!("/api/v3/resellers/{}/payments", reseller.id);
        money_write(&state, &caller, &headers, "POST", &path, &body, StatusCode::CREATED, move |db| {
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

fn method_id_of(attributes: &Map<String, Value>) -> Result<PaymentMethodId, ApiError> {
    attributes
        .get("payment_method_id")
        .and_then(|value| {
            value
                .as_i64()
                .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
        })
        .map(PaymentMethodId::new)
        .ok_or_else(|| ApiError::unprocessable("payment_method_id is not valid."))
}

async fn complete_by_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path((reseller_id, payment_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    answer(
        async {
            let caller = caller(&state, &headers, true, ip).await?;
            let reseller =
                reseller_in_scope(&state, &caller, &reseller_id, Permission::CompletePayments)
                    .await?;
            let payment = payment_of(&state, reseller.id, &payment_id).await?;
            let method_id = method_id_of(&jsonapi_attributes(&body)?)?;
            // Completion records money received outside Obol: an offline method (cash, bank transfer).
            if method_by_id(&state, Some(method_id))
                .await?
                .is_none_or(|method| method.online)
            {
                return Err(ApiError::unprocessable("Payment method not found."));
            }
            let outbox = state.outbox.clone();
            let now = state.clock.now();
            let (manager, client_ip, target) =
                (caller.manager.id, caller.ip.clone(), payment.id.clone());
            let path = format!("/api/v3/resellers/{}/payments/{payment_id}", reseller.id);
            money_write(
                &state,
                &caller,
                &headers,
                "PATCH",
                &path,
                &body,
                StatusCode::OK,
                move |db| {
                    Box::pin(async move {
                        let (payment, _) = outbox
                            .transition(
                                db,
                                &target,
                                PaymentEvent::CompletedByManager {
                                    manager_id: manager,
                                    method_id,
                                },
                                Actor::Manager(manager),
                                now,
                            )
                            .await?;
                        audit::record(
                            db,
                            manager,
                            "payment.complete",
                            target.as_str(),
                            client_ip.as_deref(),
                            now,
                        )
                        .await?;
                        Ok(payment)
                    })
                },
            )
            .await
        }
        .await,
    )
}

/// Credits `amount` to the payment's customer account as a correction (money received outside
/// Obol that was not, or not all, the payment's).
async fn book_correction(
    db: &mut dyn Db,
    payment: &Payment,
    amount: Money,
    manager: ManagerId,
    ip: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    let Some(transaction) = payment.correction_transaction(amount)? else {
        return Ok(());
    };
    ledger::insert_transaction(db, &transaction, now).await?;
    audit::record(
        db,
        manager,
        "payment.correction",
        payment.id.as_str(),
        ip,
        now,
    )
    .await
}

async fn complete_by_document(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path((reseller_id, document_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    answer(
        async {
            let caller = caller(&state, &headers, true, ip).await?;
            let reseller =
                reseller_in_scope(&state, &caller, &reseller_id, Permission::CompletePayments)
                    .await?;
            let document_number: i64 = document_id.parse().map_err(|_| ApiError::not_found())?;
            let payment = state
                .store
                .read(move |db| {
                    Box::pin(async move { payments::get_by_document_id(db, document_number).await })
                })
                .await?;
            let payment = payment
                .filter(|payment| {
                    payment.reseller_id == reseller.id && payment.merchant_id.is_none()
                })
                .ok_or_else(ApiError::not_found)?;
            let attributes = jsonapi_attributes(&body)?;
            let method_id = method_id_of(&attributes)?;
            // Completion records money received outside Obol: an offline method (cash, bank transfer).
            if method_by_id(&state, Some(method_id))
                .await?
                .is_none_or(|method| method.online)
            {
                return Err(ApiError::unprocessable("Payment method not found."));
            }
            let currency = payment.amount.currency();
            if let Some(code) = attributes.get("currency_code")
                && code.as_str() != Some(currency.code())
            {
                return Err(ApiError::unprocessable(
                    "currency_code does not match the payment's currency.",
                ));
            }
            let amount = match decimal_text(attributes.get("amount")) {
                None => payment.amount,
                Some(text) => {
                    Money::parse_decimal_with(&text, currency, Precision::AllowTrailingZeros)
                        .ok()
                        .filter(|amount| amount.is_positive())
                        .ok_or_else(|| ApiError::unprocessable("amount is not valid."))?
                }
            };
            let outbox = state.outbox.clone();
            let now = state.clock.now();
            let (manager, ip, id) = (caller.manager.id, caller.ip.clone(), payment.id.clone());
            let path = format!("/api/v3/resellers/{}/payments/{document_id}", reseller.id);
            money_write(
                &state,
                &caller,
                &headers,
                "POST",
                &path,
                &body,
                StatusCode::OK,
                move |db| {
                    Box::pin(async move {
                        let current = payments::get_payment(db, &id)
                            .await?
                            .ok_or(StoreError::NotFound(Entity::Payment))?;
                        match current.settle_external(amount)? {
                            ExternalSettlement::Correction(received) => {
                                book_correction(
                                    db,
                                    &current,
                                    received,
                                    manager,
                                    ip.as_deref(),
                                    now,
                                )
                                .await?;
                            }
                            ExternalSettlement::Complete { excess } => {
                                let completed = outbox
                                    .transition(
                                        db,
                                        &id,
                                        PaymentEvent::CompletedByManager {
                                            manager_id: manager,
                                            method_id,
                                        },
                                        Actor::Manager(manager),
                                        now,
                                    )
                                    .await;
                                match completed {
                                    Ok(_) => {
                                        audit::record(
                                            db,
                                            manager,
                                            "payment.complete_by_document",
                                            id.as_str(),
                                            ip.as_deref(),
                                            now,
                                        )
                                        .await?;
                                        if let Some(excess) = excess {
                                            book_correction(
                                                db,
                                                &current,
                                                excess,
                                                manager,
                                                ip.as_deref(),
                                                now,
                                            )
                                            .await?;
                                        }
                                    }
                                    // Completed by someone else since it was read: like any
                                    // completed payment, the whole amount becomes a correction.
                                    Err(
                                        StoreError::Payment(PaymentError::TransitionNotAllowed {
                                            ..
                                        })
                                        | StoreError::Conflict,
                                    ) => {
                                        book_correction(
                                            db,
                                            &current,
                                            amount,
                                            manager,
                                            ip.as_deref(),
                                            now,
                                        )
                                        .await?;
                                    }
                                    Err(error) => return Err(error),
                                }
                            }
                        }
                        payments::get_payment(db, &id)
                            .await?
                            .ok_or(StoreError::NotFound(Entity::Payment))
                    })
                },
            )
            .await
        }
        .await,
    )
}
