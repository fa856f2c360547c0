//! The Paymega dialect (seed `004`, SPEC §3.1): the public API (`/public-api/…`, merchant
//! public key), the private API (`/api/…`, HTTP Basic) and the HTML form. It only translates:
//! requests become [`crate::invoices`] calls, results and errors are rendered as the seed writes
//! them ([`render`], [`errors`]).

pub mod callbacks;
pub mod door;
pub mod errors;
pub mod form;
pub mod invoices;
pub mod openapi;
pub mod render;
pub mod wire;

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol_core::Currency;
use obol_core::catalog::{PaymentService, ServiceUse, service_usable};
use obol_core::idempotency::{RequestFingerprint, SavedResponse};
use obol_core::ids::PaymentId;
use obol_core::payment::{Actor, Payment, Source};
use obol_core::tenancy::Merchant;
use obol_store::ops::payments::PaymentQuery;
use obol_store::ops::{catalog, payments};
use serde_json::{Map, Value, json};

pub use obol_http::auth::ClientIp;

use crate::invoices::{
    Created, IdempotencyRequest, InvoiceError, InvoiceRequest, Problem, RefundError, Refunded,
    Renderer,
};
use errors::PaymegaError;
use obol_http::idempotency::KeyedRequest;
use obol_http::metrics::CreationPhases;
use obol_http::routes::Routes;
use obol_http::state::AppState;

/// Invoices per page of the list: 20 unless asked, at most 100.
const LIST_PAGE_SIZE_DEFAULT: i64 = 20;
const LIST_PAGE_SIZE_MAX: i64 = 100;
/// Services per page of the services list.
const SERVICES_PAGE_SIZE_DEFAULT: usize = 20;
const SERVICES_PAGE_SIZE_MAX: usize = 100;

pub fn router() -> Routes {
    Routes::new()
        .post("/public-api/payment-prerequest", prerequest)
        .post("/public-api/payment-invoices", public_create)
        .post("/public-api/payment-invoices/process", form::process)
        .get("/public-api/payment-invoices/{id}", public_get)
        .get("/api/payment-services", services_list)
        .get("/api/payment-services/{id}", service_get)
        .get("/api/payment-invoices", invoices_list)
        .post("/api/payment-invoices", private_create)
        .get("/api/payment-invoices/{id}", private_get)
        .post("/api/payment-invoices/{id}/refund", refund)
}

/// Whether a path belongs to this dialect (for its 404 and 405 bodies). `/api/` is shared:
/// the other dialects' prefixes are carved out as they arrive.
pub fn owns_path(path: &str) -> bool {
    let other_dialect = ["/api/v3", "/api/sessions", "/api/p2p", "/api/yookassa"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")));
    !other_dialect
        && (path == "/api"
            || path.starts_with("/api/")
            || path == "/public-api"
            || path.starts_with("/public-api/"))
}

fn answer(result: Result<Response, PaymegaError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The merchant named by HTTP Basic credentials (`api_login:api_secret`), from the client at
/// `client` (failures are throttled per address and login).
async fn merchant_from_basic(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
) -> Result<Merchant, PaymegaError> {
    Ok(obol_http::auth::merchant_from_basic(state, client, headers).await?)
}

/// The merchant named by a public key (unknown keys are throttled like wrong logins).
async fn merchant_from_public_key(
    state: &AppState,
    client: Option<&str>,
    key: Option<&str>,
) -> Result<Merchant, PaymegaError> {
    Ok(obol_http::auth::merchant_from_public_key(state, client, key).await?)
}

/// A payment's `callback_logs`.
async fn logs_of(state: &AppState, id: &PaymentId) -> Result<Value, PaymegaError> {
    let id = id.clone();
    let callbacks = state
        .store
        .read(move |db| {
            Box::pin(async move { obol_store::ops::callbacks::for_payment(db, &id).await })
        })
        .await?;
    Ok(render::callback_logs(&callbacks))
}

async fn all_services(
    state: &AppState,
) -> Result<std::sync::Arc<Vec<PaymentService>>, PaymegaError> {
    Ok(state.caches.services(&state.store).await?)
}

fn service_of<'a>(services: &'a [PaymentService], payment: &Payment) -> Option<&'a PaymentService> {
    payment
        .service_id
        .and_then(|id| services.iter().find(|service| service.id == id))
}

/// A payment of this merchant, or 404 (another merchant's invoice does not exist here).
async fn merchant_payment(
    state: &AppState,
    merchant: &Merchant,
    id: &str,
) -> Result<Payment, PaymegaError> {
    let id = PaymentId::parse(id).map_err(|_| PaymegaError::NotFound)?;
    let payment = state
        .store
        .read(move |db| Box::pin(async move { payments::get_payment(db, &id).await }))
        .await?;
    payment
        .filter(|payment| payment.merchant_id == Some(merchant.id))
        .ok_or(PaymegaError::NotFound)
}

/// The `Idempotency-Key` header as a request for idempotency, if present.
fn idempotency(
    headers: &HeaderMap,
    merchant: &Merchant,
    path: &str,
    body: &[u8],
    render: Renderer,
) -> Result<Option<IdempotencyRequest>, PaymegaError> {
    // Most requests carry no key: the scope and the body's digest are made only for one.
    if headers.get("idempotency-key").is_none() {
        return Ok(None);
    }
    let keyed = KeyedRequest::from_headers(
        headers,
        &format!("paymega:merchant:{}", merchant.id),
        RequestFingerprint::of("POST", path, body),
    )
    .map_err(|_| PaymegaError::BadRequest)?;
    Ok(keyed.map(|keyed| IdempotencyRequest { keyed, render }))
}

fn saved(response: SavedResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut answer = (status, response.body).into_response();
    if let Ok(value) = HeaderValue::from_str(&response.content_type) {
        answer.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    answer
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    answer
}

/// Which view of an invoice an answer shows.
#[derive(Clone, Copy)]
enum View {
    Public,
    Private,
}

/// Renders the answer saved under an idempotency key, inside the transaction that makes it.
fn renderer(state: &AppState, services: &[PaymentService], status: u16, view: View) -> Renderer {
    let (services, public_url, key) = (
        services.to_vec(),
        state.public_url.to_string(),
        state.key.clone(),
    );
    Box::new(move |payment: &Payment| {
        let service = service_of(&services, payment);
        let data = match view {
            View::Public => render::public_invoice(payment, service, &public_url, &key),
            View::Private => {
                render::private_invoice(payment, service, &public_url, &key, json!([]))
            }
        };
        SavedResponse {
            status,
            content_type: "application/json".to_owned(),
            body: render::document(data).to_string().into_bytes(),
        }
    })
}

fn invoice_error(
    error: InvoiceError,
    state: &AppState,
    services: &[PaymentService],
    private: bool,
) -> PaymegaError {
    match error {
        InvoiceError::Invalid(problems) => PaymegaError::fields(problems),
        InvoiceError::PublicAccessForbidden => PaymegaError::Forbidden,
        InvoiceError::Duplicate(existing) => {
            let service = service_of(services, &existing);
            let body = if private {
                render::private_invoice(
                    &existing,
                    service,
                    &state.public_url,
                    &state.key,
                    json!([]),
                )
            } else {
                render::public_invoice(&existing, service, &state.public_url, &state.key)
            };
            PaymegaError::Conflict {
                title: "An invoice with this reference_id already exists.".to_owned(),
                existing: Some(body),
            }
        }
        // A public caller's repeated reference that is not its own checkout again: the error
        // alone, so a public key never reveals another invoice.
        InvoiceError::DuplicateHidden => PaymegaError::Conflict {
            title: "An invoice with this reference_id already exists.".to_owned(),
            existing: None,
        },
        InvoiceError::Store(obol_store::StoreError::Idempotency(
            obol_core::idempotency::IdempotencyError::ReusedWithDifferentRequest,
        )) => PaymegaError::field("Idempotency-Key", Problem::Invalid),
        InvoiceError::Store(error) => error.into(),
    }
}

// ---- public API ----

async fn prerequest(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    answer(prerequest_inner(&state, ip.as_deref(), &body).await)
}

async fn prerequest_inner(
    state: &AppState,
    client: Option<&str>,
    body: &[u8],
) -> Result<Response, PaymegaError> {
    let object = wire::json_object(body)?;
    let mut reader = wire::Reader::default();
    let public_key = reader.string(&object, "public_key", "public_key");
    let merchant = merchant_from_public_key(state, client, public_key.as_deref()).await?;
    let currency_text = reader.string(&object, "currency", "currency");
    if !reader.problems.is_empty() {
        return Err(PaymegaError::fields(reader.problems));
    }
    let currency = match currency_text.as_deref().map(Currency::parse) {
        Some(Ok(currency)) => currency,
        Some(Err(_)) => return Err(PaymegaError::field("currency", Problem::Invalid)),
        None => return Err(PaymegaError::field("currency", Problem::Required)),
    };
    let merchant_id = merchant.id;
    let (services, methods) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                Ok((
                    catalog::merchant_services(db, merchant_id).await?,
                    catalog::list_methods(db).await?,
                ))
            })
        })
        .await?;
    let mut service_map = Map::new();
    let mut method_map = Map::new();
    // What the public form may offer: the merchant's services usable in its own mode.
    let usage = ServiceUse::merchant(merchant.test_mode, merchant.test_mode, true);
    for (_, service) in services
        .iter()
        .filter(|(_, service)| service.currency == currency && service_usable(service, usage))
    {
        service_map.insert(service.code.clone(), render::prerequest_service(service));
        if let Some(method) = methods.iter().find(|method| method.id == service.method_id) {
            method_map.insert(method.code.clone(), render::prerequest_method(method));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        json!({
            "data": {
                "currency": currency.code(),
                "test_mode": merchant.test_mode,
                "services": service_map,
                "methods": method_map,
                "account": { "name": merchant.name.as_str(), "description": "", "icon": null, "website": null },
            }
        }),
    ))
}

async fn public_create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(public_create_inner(&state, ip, &headers, &body).await)
}

async fn public_create_inner(
    state: &AppState,
    ip: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, PaymegaError> {
    let object = wire::json_object(body)?;
    let merchant = merchant_from_public_key(
        state,
        ip.as_deref(),
        object.get("public_key").and_then(Value::as_str),
    )
    .await?;
    let mut request = wire::invoice_from_object(&object)?;
    require_service(&request)?;
    request.requester_ip = ip;
    let services = all_services(state).await?;
    let render = renderer(state, &services, 201, View::Public);
    let idempotency = idempotency(
        headers,
        &merchant,
        "/public-api/payment-invoices",
        body,
        render,
    )?;
    match invoices::create(state, &merchant, request, Source::PublicApi, idempotency).await {
        Ok(Created::New(payment)) => {
            let body = render::public_invoice(
                &payment,
                service_of(&services, &payment),
                &state.public_url,
                &state.key,
            );
            Ok(json_response(StatusCode::CREATED, render::document(body)))
        }
        Ok(Created::Replayed(response)) => Ok(saved(response)),
        Err(error) => Err(invoice_error(error, state, &services, false)),
    }
}

fn require_service(request: &InvoiceRequest) -> Result<(), PaymegaError> {
    let mut problems = Vec::new();
    if request.service.is_none() {
        problems.push(("service".to_owned(), Problem::Required));
    }
    if request.currency.is_empty() {
        problems.push(("currency".to_owned(), Problem::Required));
    }
    if request.amount.is_empty() {
        problems.push(("amount".to_owned(), Problem::Required));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PaymegaError::fields(problems))
    }
}

async fn public_get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(public_get_inner(&state, ip.as_deref(), &id, &query).await)
}

async fn public_get_inner(
    state: &AppState,
    client: Option<&str>,
    id: &str,
    query: &HashMap<String, String>,
) -> Result<Response, PaymegaError> {
    let merchant =
        merchant_from_public_key(state, client, query.get("public_key").map(String::as_str))
            .await?;
    let payment = merchant_payment(state, &merchant, id).await?;
    let services = all_services(state).await?;
    let body = render::public_invoice(
        &payment,
        service_of(&services, &payment),
        &state.public_url,
        &state.key,
    );
    Ok(json_response(StatusCode::OK, render::document(body)))
}

// ---- private API ----

async fn private_create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(private_create_inner(&state, ip, &headers, &body).await)
}

async fn private_create_inner(
    state: &AppState,
    ip: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, PaymegaError> {
    let mut phases = CreationPhases::default();
    let started = Instant::now();
    let merchant = merchant_from_basic(state, ip.as_deref(), headers).await?;
    let parsing = Instant::now();
    phases.auth = parsing.duration_since(started);
    let attributes = wire::jsonapi_attributes(body)?;
    let mut request = wire::invoice_from_object(&attributes)?;
    require_service(&request)?;
    if request.reference_id.is_none() {
        return Err(PaymegaError::field("reference_id", Problem::Required));
    }
    request.requester_ip = ip;
    let services = all_services(state).await?;
    let render = renderer(state, &services, 201, View::Private);
    let idempotency = idempotency(headers, &merchant, "/api/payment-invoices", body, render)?;
    phases.parse = parsing.elapsed();
    let created = invoices::create_timed(
        state,
        &merchant,
        request,
        Source::MerchantApi,
        idempotency,
        &mut phases,
    )
    .await;
    match created {
        Ok(Created::New(payment)) => {
            let rendering = Instant::now();
            // No callback has been attempted yet: `callback_logs` is `[]`, as in the seed.
            let body = render::private_invoice(
                &payment,
                service_of(&services, &payment),
                &state.public_url,
                &state.key,
                json!([]),
            );
            let response = json_response(StatusCode::CREATED, render::document(body));
            phases.render = rendering.elapsed();
            state.metrics.record_creation(&phases);
            Ok(response)
        }
        Ok(Created::Replayed(response)) => Ok(saved(response)),
        Err(error) => Err(invoice_error(error, state, &services, true)),
    }
}

async fn private_get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(private_get_inner(&state, ip.as_deref(), &headers, &id).await)
}

async fn private_get_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, PaymegaError> {
    let merchant = merchant_from_basic(state, client, headers).await?;
    let payment = merchant_payment(state, &merchant, id).await?;
    let services = all_services(state).await?;
    let logs = logs_of(state, &payment.id).await?;
    let body = render::private_invoice(
        &payment,
        service_of(&services, &payment),
        &state.public_url,
        &state.key,
        logs,
    );
    Ok(json_response(StatusCode::OK, render::document(body)))
}

async fn invoices_list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(invoices_list_inner(&state, ip.as_deref(), &headers, &query).await)
}

async fn invoices_list_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, PaymegaError> {
    let merchant = merchant_from_basic(state, client, headers).await?;
    let size = match query.get("page[size]") {
        None => LIST_PAGE_SIZE_DEFAULT,
        Some(text) => match text.parse::<i64>() {
            Ok(size) if (1..=LIST_PAGE_SIZE_MAX).contains(&size) => size,
            _ => return Err(PaymegaError::field("page[size]", Problem::Invalid)),
        },
    };
    let cursor = |name: &str| -> Result<Option<PaymentId>, PaymegaError> {
        match query.get(name).filter(|text| !text.is_empty()) {
            None => Ok(None),
            Some(text) => PaymentId::parse(text)
                .map(Some)
                .map_err(|_| PaymegaError::field(name, Problem::Invalid)),
        }
    };
    let page_query = PaymentQuery {
        reference_id: query.get("filter[reference_id]").cloned(),
        after: cursor("page[after]")?,
        before: cursor("page[before]")?,
        limit: size,
    };
    let merchant_id = merchant.id;
    let page = state
        .store
        .read(move |db| {
            Box::pin(async move { payments::list_for_merchant(db, merchant_id, page_query).await })
        })
        .await?;
    let services = all_services(state).await?;
    let ids: Vec<PaymentId> = page
        .payments
        .iter()
        .map(|payment| payment.id.clone())
        .collect();
    let all_logs = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let mut logs = Vec::with_capacity(ids.len());
                for id in &ids {
                    logs.push(obol_store::ops::callbacks::for_payment(db, id).await?);
                }
                Ok(logs)
            })
        })
        .await?;
    let data: Vec<Value> = page
        .payments
        .iter()
        .zip(&all_logs)
        .map(|(payment, logs)| {
            render::private_invoice(
                payment,
                service_of(&services, payment),
                &state.public_url,
                &state.key,
                render::callback_logs(logs),
            )
        })
        .collect();
    let first = page.payments.first().map(|payment| payment.id.to_string());
    let last = page.payments.last().map(|payment| payment.id.to_string());
    let filter = query
        .get("filter[reference_id]")
        .map(|reference| format!("&filter[reference_id]={}", form_encode(reference)))
        .unwrap_or_default();
    let link = |direction: &str, id: &Option<String>, exists: bool| match (exists, id) {
        (true, Some(id)) => {
            format!("/api/payment-invoices?page[size]={size}&page[{direction}]={id}{filter}")
        }
        _ => String::new(),
    };
    Ok(json_response(
        StatusCode::OK,
        json!({
            "meta": { "count": data.len(), "size": size, "before": first, "after": last },
            "links": { "prev": link("before", &first, page.has_newer), "next": link("after", &last, page.has_older) },
            "data": data,
        }),
    ))
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn refund(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(refund_inner(&state, ip.as_deref(), &headers, &id, &body).await)
}

async fn refund_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
) -> Result<Response, PaymegaError> {
    let merchant = merchant_from_basic(state, client, headers).await?;
    let payment = merchant_payment(state, &merchant, id).await?;
    let amount = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let attributes = wire::jsonapi_attributes(body)?;
        let mut reader = wire::Reader::default();
        let amount = reader.decimal(&attributes, "amount", "amount");
        if !reader.problems.is_empty() {
            return Err(PaymegaError::fields(reader.problems));
        }
        amount
    };
    let services = all_services(state).await?;
    let render = renderer(state, &services, 200, View::Private);
    let idempotency = idempotency(
        headers,
        &merchant,
        &format!("/api/payment-invoices/{id}/refund"),
        body,
        render,
    )?;
    match invoices::refund(
        state,
        &payment,
        amount,
        Actor::Merchant(merchant.id),
        idempotency,
    )
    .await
    {
        Ok(Refunded::Done(refunded)) => Ok(json_response(
            StatusCode::OK,
            render::document(render::private_invoice(
                &refunded,
                service_of(&services, &refunded),
                &state.public_url,
                &state.key,
                logs_of(state, &refunded.id).await?,
            )),
        )),
        Ok(Refunded::Replayed(response)) => Ok(saved(response)),
        Err(error) => Err(refund_error(error)),
    }
}

fn refund_error(error: RefundError) -> PaymegaError {
    match error {
        RefundError::InvalidAmount(problem) => PaymegaError::field("amount", problem),
        RefundError::Exceeds => PaymegaError::Unprocessable(std::collections::BTreeMap::from([(
            "amount".to_owned(),
            "This value should be less than or equal to the amount left to refund.".to_owned(),
        )])),
        RefundError::NotRefundable => {
            PaymegaError::Unprocessable(std::collections::BTreeMap::from([(
                "status".to_owned(),
                "Only processed invoices can be refunded.".to_owned(),
            )]))
        }
        RefundError::Store(obol_store::StoreError::Idempotency(_)) | RefundError::KeyReused => {
            PaymegaError::field("Idempotency-Key", Problem::Invalid)
        }
        RefundError::Upstream(message) => {
            PaymegaError::Unprocessable(std::collections::BTreeMap::from([(
                "provider".to_owned(),
                format!("The payment provider did not refund: {message}"),
            )]))
        }
        RefundError::Store(error) => error.into(),
    }
}

async fn services_list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(services_list_inner(&state, ip.as_deref(), &headers, &query).await)
}

async fn services_list_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, PaymegaError> {
    let merchant = merchant_from_basic(state, client, headers).await?;
    let number = match query.get("page[number]") {
        None => 1,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|number| (1..=1_000_000).contains(number))
            .ok_or_else(|| PaymegaError::field("page[number]", Problem::Invalid))?,
    };
    let size = match query.get("page[size]") {
        None => SERVICES_PAGE_SIZE_DEFAULT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|size| (1..=SERVICES_PAGE_SIZE_MAX).contains(size))
            .ok_or_else(|| PaymegaError::field("page[size]", Problem::Invalid))?,
    };
    let merchant_id = merchant.id;
    let services = state
        .store
        .read(move |db| Box::pin(catalog::merchant_services(db, merchant_id)))
        .await?;
    let total = services.len();
    let pages = total.div_ceil(size).max(1);
    let data: Vec<Value> = services
        .iter()
        .skip((number - 1) * size)
        .take(size)
        .map(|(link, service)| render::service_resource(link.as_str(), service))
        .collect();
    let page_link =
        |page: usize| format!("/api/payment-services?page[number]={page}&page[size]={size}");
    Ok(json_response(
        StatusCode::OK,
        json!({
            "meta": { "total": total, "pages": pages, "page": number },
            "links": {
                "first": page_link(1),
                "next": if number < pages { Value::from(page_link(number + 1)) } else { Value::Null },
                "last": page_link(pages),
            },
            "data": data,
        }),
    ))
}

async fn service_get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(service_get_inner(&state, ip.as_deref(), &headers, &id).await)
}

async fn service_get_inner(
    state: &AppState,
    client: Option<&str>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, PaymegaError> {
    let merchant = merchant_from_basic(state, client, headers).await?;
    let merchant_id = merchant.id;
    let services = state
        .store
        .read(move |db| Box::pin(catalog::merchant_services(db, merchant_id)))
        .await?;
    // The list's link id, or the service code, name one of the merchant's services.
    let (link, service) = services
        .iter()
        .find(|(link, service)| link.as_str() == id || service.code == id)
        .ok_or(PaymegaError::NotFound)?;
    Ok(json_response(
        StatusCode::OK,
        render::document(render::service_resource(link.as_str(), service)),
    ))
}
