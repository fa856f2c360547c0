//! The hosted payment page (SPEC §4): where a customer chooses a method, enters a card,
//! answers 3-D Secure or drives the `test` method, then returns to the merchant.
//!
//! Every page is server-rendered HTML that works without JavaScript. The form contract
//! (`card_number`, `card_expiry`, `card_cvv`, `card_holder`, `csrf_token`, `decision`, the test
//! service's field keys) is fixed: integrators and tests drive these pages without a browser.
//! See `docs/HPP.md`.
//!
//! The card number and security code live only in this request's memory: they are parsed,
//! handed to the acquirer and dropped. Only the card payload (first 6 / last 4, brand, expiry,
//! holder) is stored, nothing about the card is logged, and a form error re-renders the form
//! with the number and CVV fields empty.

pub mod door;
mod forms;
pub mod openapi;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware;
use axum::response::Response;
use obol_core::Timestamp;
use obol_core::catalog::{
    Localized, PaymentService, ServiceFlow, ServiceUse, canonical_method_code, service_usable,
};
use obol_core::ids::PaymentId;
use obol_core::mode::{OnlineRoute, choose_live_route};
use obol_core::payment::{CustomerOutcome, Payment};
use obol_store::StoreError;
use obol_store::error::Entity;
use obol_store::ops::attempts::{self, Attempt, AttemptStatus};
use obol_store::ops::{catalog, payments, tenancy};
use serde::Deserialize;

use obol_http::auth::ClientIp;
use obol_http::page::render::{self, CardFormValues, Frame, MethodChoice, Summary};
use obol_http::page::texts::Language;
use obol_http::page::{html, security_headers, see_other};
use obol_http::routes::Routes;
use obol_http::state::AppState;
use obol_http::tokens;

/// How long a page's forms stay valid: long enough to find a card, short enough that a token
/// copied out of an old page is useless.
const CSRF_LIFETIME_SECONDS: i64 = 3600;

/// The hosted pages, under `/hpp`.
pub fn router() -> Routes {
    Routes::new()
        .get("/hpp", entry)
        .get("/hpp/", entry)
        .post("/hpp/choose", forms::choose)
        .post("/hpp/pay", forms::pay)
        .get("/hpp/3ds", challenge_page)
        .post("/hpp/3ds", forms::challenge_answer)
        .post("/hpp/test", forms::test_submit)
        .get("/hpp/result", result)
        .get("/hpp/return", return_page)
        .wrap(|router| router.layer(middleware::map_response(security_headers)))
}

/// Why a request did not get the page it asked for.
#[derive(Debug)]
enum HppError {
    /// Unknown or malformed payment id.
    NotFound,
    /// Missing or wrong CSRF token.
    Forbidden,
    /// A body that is not a form, or a form without what it must carry.
    BadRequest,
    Store(StoreError),
    /// A live route's provider could not be reached or refused; nothing moved.
    Upstream,
    /// A page already rendered (a closed payment's status, a form with its errors); boxed
    /// because a response is large and every other error is small.
    Rendered(Box<Response>),
}

impl From<StoreError> for HppError {
    fn from(error: StoreError) -> HppError {
        HppError::Store(error)
    }
}

type HppResult = Result<Response, HppError>;

/// The query string of every page: `cpi` (the payment) and `lang`.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    cpi: Option<String>,
    lang: Option<String>,
}

/// What a request tells about the page it wants, before the payment is read.
struct PageRequest {
    payment_id: Option<String>,
    /// The GET page this request shows or comes back to, for the language switch: a post's
    /// answer (a form with its error) is the payment's page, `/hpp/`.
    page_path: &'static str,
    requested_language: Option<String>,
    accept_language: Option<String>,
}

impl PageRequest {
    fn new(headers: &HeaderMap, uri: &Uri) -> PageRequest {
        // A malformed query string is treated as an empty one: the page then answers 404.
        let query = Query::<PageQuery>::try_from_uri(uri)
            .map(|query| query.0)
            .unwrap_or_default();
        let page_path = match uri.path() {
            "/hpp/3ds" => "/hpp/3ds",
            "/hpp/result" | "/hpp/return" => "/hpp/result",
            _ => "/hpp/",
        };
        PageRequest {
            payment_id: query.cpi,
            page_path,
            requested_language: query.lang,
            accept_language: headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        }
    }

    fn payment_id(&self) -> Result<PaymentId, HppError> {
        self.payment_id
            .as_deref()
            .and_then(|text| PaymentId::parse(text).ok())
            .ok_or(HppError::NotFound)
    }

    fn language(&self, payment_locale: Option<&str>) -> Language {
        Language::choose(
            self.requested_language.as_deref(),
            payment_locale,
            self.accept_language.as_deref(),
        )
    }

    /// The page for an error, in the best language known without the payment.
    fn error_page(&self, error: HppError) -> Response {
        let language = self.language(None);
        let texts = language.texts();
        let (status, heading, text) = match error {
            HppError::Rendered(response) => return *response,
            HppError::NotFound => (
                StatusCode::NOT_FOUND,
                texts.not_found_heading,
                texts.not_found_text,
            ),
            HppError::Forbidden => (
                StatusCode::FORBIDDEN,
                texts.forbidden_heading,
                texts.forbidden_text,
            ),
            HppError::BadRequest => (
                StatusCode::BAD_REQUEST,
                texts.bad_request_heading,
                texts.bad_request_text,
            ),
            HppError::Upstream => (
                StatusCode::BAD_GATEWAY,
                texts.error_heading,
                texts.error_text,
            ),
            HppError::Store(error) => {
                tracing::error!(%error, "hosted page could not use the database");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    texts.error_heading,
                    texts.error_text,
                )
            }
        };
        let frame = Frame {
            language,
            summary: None,
            dark: false,
            payment_id: "",
            csrf_token: "",
            test_mode: false,
            here: None,
        };
        html(status, render::message_page(&frame, heading, text))
    }
}

/// A payment and what its pages need to know about it, read in one snapshot.
struct Loaded {
    payment: Payment,
    merchant_name: Option<String>,
    /// The merchant's own mode; `None` for a reseller's payment.
    merchant_test_mode: Option<bool>,
    /// The live route the merchant chose (`obol merchant set-acquirer`), if any.
    merchant_acquirer: Option<String>,
    attempt: Option<Attempt>,
    service: Option<PaymentService>,
}

impl Loaded {
    fn challenge_waiting(&self) -> bool {
        self.attempt
            .as_ref()
            .is_some_and(|attempt| attempt.status == AttemptStatus::Challenge)
    }
}

async fn load(state: &AppState, id: &PaymentId) -> Result<Loaded, HppError> {
    let id = id.clone();
    let loaded = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some(payment) = payments::get_payment(db, &id).await? else {
                    return Ok(None);
                };
                // A payment relayed to YooKassa is paid at YooKassa, never on this page.
                if payment.source == obol_core::payment::Source::Yookassa {
                    return Ok(None);
                }
                let (merchant_name, merchant_test_mode, merchant_acquirer) =
                    match payment.merchant_id {
                        Some(merchant) => {
                            let merchant = tenancy::get_merchant(db, merchant).await?;
                            (
                                Some(merchant.name.as_str().to_owned()),
                                Some(merchant.test_mode),
                                merchant.settings.acquirer,
                            )
                        }
                        None => (None, None, None),
                    };
                let attempt = attempts::latest(db, &id).await?;
                // The catalog is a few dozen rows, so reading it whole is cheaper than
                // another query shape to maintain.
                let service = match payment.service_id {
                    Some(service_id) => catalog::list_services(db)
                        .await?
                        .into_iter()
                        .find(|service| service.id == service_id),
                    None => None,
                };
                Ok(Some(Loaded {
                    payment,
                    merchant_name,
                    merchant_test_mode,
                    merchant_acquirer,
                    attempt,
                    service,
                }))
            })
        })
        .await?;
    loaded.ok_or(HppError::NotFound)
}

/// The merchant's page options (`show_methods`, `hide_methods`, `theme`), as stored with the
/// payment. Unreadable options are ignored rather than breaking the page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PageOptions {
    show_methods: Option<Vec<String>>,
    hide_methods: Option<Vec<String>>,
    theme: Option<String>,
}

impl PageOptions {
    fn of(payment: &Payment) -> PageOptions {
        payment
            .page_options
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }

    fn allows(&self, method_code: &str) -> bool {
        let listed = |list: &Option<Vec<String>>| {
            list.as_ref().map(|codes| {
                codes
                    .iter()
                    .any(|code| canonical_method_code(code) == method_code)
            })
        };
        listed(&self.show_methods).unwrap_or(true) && !listed(&self.hide_methods).unwrap_or(false)
    }
}

/// Everything a rendered page of one payment needs.
struct PaymentPage {
    language: Language,
    summary: Summary,
    dark: bool,
    payment_id: String,
    csrf_token: String,
    test_mode: bool,
    /// This page's address without `lang` (`/hpp/?cpi=…`), for the language switch.
    here: String,
}

impl PaymentPage {
    fn new(
        state: &AppState,
        request: &PageRequest,
        loaded: &Loaded,
        now: Timestamp,
    ) -> PaymentPage {
        let payment = &loaded.payment;
        PaymentPage {
            language: request.language(payment.locale.as_deref()),
            summary: Summary {
                merchant: loaded.merchant_name.clone(),
                amount: payment.amount.to_decimal_string(),
                currency: payment.amount.currency().code().to_owned(),
                description: payment.description.clone(),
            },
            dark: PageOptions::of(payment).theme.as_deref() == Some("dark"),
            payment_id: payment.id.as_str().to_owned(),
            test_mode: payment.test_mode,
            here: format!("{}?cpi={}", request.page_path, payment.id.as_str()),
            csrf_token: tokens::issue(
                &state.key,
                tokens::purpose::CSRF,
                payment.id.as_str(),
                now.plus_seconds(CSRF_LIFETIME_SECONDS),
            ),
        }
    }

    fn frame(&self) -> Frame<'_> {
        Frame {
            language: self.language,
            summary: Some(&self.summary),
            dark: self.dark,
            payment_id: &self.payment_id,
            csrf_token: &self.csrf_token,
            test_mode: self.test_mode,
            here: Some(&self.here),
        }
    }

    /// A page of this payment under `/hpp/{path}`, keeping the page's language.
    fn link(&self, path: &str) -> String {
        format!(
            "/hpp/{path}?cpi={}&lang={}",
            self.payment_id,
            self.language.code()
        )
    }

    fn status(&self, status: StatusCode, payment: &Payment, note: Option<&str>) -> Response {
        html(
            status,
            render::status_page(
                &self.frame(),
                payment.status,
                payment.resolution,
                note,
                payment.card.as_ref(),
            ),
        )
    }

    /// The page of a payment that can no longer take this attempt (paid in another tab,
    /// expired meanwhile): its status, never a form.
    fn closed(&self, payment: &Payment) -> Response {
        self.status(
            StatusCode::CONFLICT,
            payment,
            Some(self.language.texts().closed_text),
        )
    }

    /// Where the customer goes after an outcome: the merchant's return URL for it, else the
    /// result page.
    /// A live payment that no live route serves: it says online payment is not available.
    fn online_unavailable(&self, status: StatusCode) -> Response {
        let texts = self.language.texts();
        html(
            status,
            render::message_page(
                &self.frame(),
                texts.online_unavailable_heading,
                texts.online_unavailable_text,
            ),
        )
    }

    fn after_outcome(&self, payment: &Payment) -> Response {
        let urls = &payment.return_urls;
        let specific = match payment.customer_outcome() {
            CustomerOutcome::Succeeded => urls.success.as_ref(),
            CustomerOutcome::Pending => urls.pending.as_ref(),
            CustomerOutcome::Failed => urls.fail.as_ref(),
        };
        match specific.or(urls.default.as_ref()) {
            Some(url) if HeaderValue::from_str(url).is_ok() => see_other(url),
            _ => see_other(&self.link("result")),
        }
    }
}

/// Who settles this payment if its customer pays here (SPEC §2 "Test and live", §4 "Live
/// routes"): the sandbox for a test payment; for a live one, the live route the core chooses
/// from the configured routes and the merchant's choice (or the route it was already sent
/// to), else nobody.
pub(crate) fn online_route(state: &AppState, loaded: &Loaded) -> OnlineRoute {
    let chosen = choose_live_route(
        state
            .config
            .acquirers
            .iter()
            .map(|acquirer| &acquirer.route),
        loaded.merchant_acquirer.as_deref(),
        loaded.payment.amount.currency(),
    );
    let route = loaded
        .payment
        .route
        .as_deref()
        .or(chosen.map(|route| route.name.as_str()));
    loaded.payment.online_route(route)
}

/// The page a payment shows now: its status when closed, else the 3-D Secure challenge, the
/// form of its service, or the method choice.
async fn current_page(state: &AppState, page: &PaymentPage, loaded: &Loaded) -> HppResult {
    let payment = &loaded.payment;
    if !payment.takes_attempts() {
        return Ok(page.status(StatusCode::OK, payment, None));
    }
    match online_route(state, loaded) {
        OnlineRoute::Sandbox => {}
        OnlineRoute::Unavailable => return Ok(page.online_unavailable(StatusCode::OK)),
        // Through a live route the card is entered at the provider: the page offers the
        // route's card service, and choosing it sends the customer there.
        OnlineRoute::Live(route) => {
            let choices = match &loaded.service {
                Some(service) if service.route.as_deref() == Some(route.as_str()) => {
                    vec![(service.clone(), method_name(state, service).await?)]
                }
                Some(_) => return Ok(page.online_unavailable(StatusCode::OK)),
                None if payment.service_id.is_some() => {
                    return Err(HppError::Store(StoreError::NotFound(Entity::Service)));
                }
                None => available_services(state, loaded).await?,
            };
            return Ok(method_choice_page(page, choices));
        }
    }
    if loaded.challenge_waiting() {
        return Ok(see_other(&page.link("3ds")));
    }
    match &loaded.service {
        Some(service) => Ok(service_form(page, service, None, &HashMap::new())),
        None if payment.service_id.is_some() => {
            Err(HppError::Store(StoreError::NotFound(Entity::Service)))
        }
        None => Ok(method_choice_page(
            page,
            available_services(state, loaded).await?,
        )),
    }
}

fn method_choice_page(page: &PaymentPage, services: Vec<(PaymentService, Localized)>) -> Response {
    let choices = services
        .into_iter()
        .map(|(service, name)| MethodChoice {
            service_code: service.code,
            name: name.get(page.language.code()).to_owned(),
        })
        .collect::<Vec<_>>();
    html(
        StatusCode::OK,
        render::method_choice(&page.frame(), &choices),
    )
}

/// A service's method name in every language.
async fn method_name(state: &AppState, service: &PaymentService) -> Result<Localized, HppError> {
    let method = service.method_id;
    let found = state
        .store
        .read(move |db| Box::pin(async move { catalog::get_method(db, method).await }))
        .await?;
    found
        .map(|method| method.name)
        .ok_or(HppError::Store(StoreError::NotFound(Entity::Service)))
}

/// The form of a chosen service, with an error and the values to show again (for `test`).
fn service_form(
    page: &PaymentPage,
    service: &PaymentService,
    error: Option<&str>,
    values: &HashMap<String, String>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    match service.flow {
        ServiceFlow::Test => html(
            status,
            render::test_form(&page.frame(), &service.fields, values, error),
        ),
        ServiceFlow::Hpp => html(
            status,
            render::card_form(&page.frame(), error, &CardFormValues::default()),
        ),
        // Offline services are recorded by a manager; there is nothing to fill in.
        ServiceFlow::Offline => html(
            StatusCode::OK,
            render::message_page(
                &page.frame(),
                page.language.texts().page_title,
                page.language.texts().closed_text,
            ),
        ),
    }
}

/// The services a customer may choose for this payment, with the method's name in all its
/// languages: those the core lets this payment use ([`service_usable`]), online, within the
/// amount limits, allowed by the page options.
async fn available_services(
    state: &AppState,
    loaded: &Loaded,
) -> Result<Vec<(PaymentService, Localized)>, HppError> {
    let payment = &loaded.payment;
    // A merchant's payment is offered the services the merchant has linked; a reseller's own
    // payment (created by a manager through ActivePlatform) has no links, and the core says
    // which of the whole catalog it may use.
    let (merchant, usage) = match (payment.merchant_id, loaded.merchant_test_mode) {
        (Some(merchant), Some(merchant_test_mode)) => (
            Some(merchant),
            ServiceUse::merchant(merchant_test_mode, payment.test_mode, true),
        ),
        _ => (None, ServiceUse::reseller(payment.test_mode)),
    };
    let (services, methods) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let services = match merchant {
                    Some(merchant) => catalog::merchant_services(db, merchant)
                        .await?
                        .into_iter()
                        .map(|(_, service)| service)
                        .collect(),
                    None => catalog::list_services(db).await?,
                };
                Ok((services, catalog::list_methods(db).await?))
            })
        })
        .await?;
    let options = PageOptions::of(payment);
    // The sandbox offers the catalog's own services; a live route only its card service.
    let route = match online_route(state, loaded) {
        OnlineRoute::Live(route) => Some(route),
        OnlineRoute::Sandbox | OnlineRoute::Unavailable => None,
    };
    Ok(services
        .into_iter()
        .filter(|service| {
            service.route == route
                && service_usable(service, usage)
                && service.is_online()
                && service.check_amount(payment.amount).is_ok()
                && options.allows(&service.method_code)
        })
        .filter_map(|service| {
            let name = methods
                .iter()
                .find(|method| method.id == service.method_id)?
                .name
                .clone();
            Some((service, name))
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// GET pages

async fn entry(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ClientIp(ip): ClientIp,
) -> Response {
    // Corefy's checkout parameters (`?public_key=…&amount=…&currency=…`) create the invoice
    // first, then send the browser to its page, exactly as the HTML form does.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    if !pairs.iter().any(|(key, _)| key == "cpi") {
        let entries = state.registry.checkout_entries();
        if let Some(entry) = entries.iter().find(|entry| entry.claims(&pairs)) {
            return entry.enter(&state, &pairs, &headers, ip).await;
        }
    }
    let request = PageRequest::new(&headers, &uri);
    show_entry(&state, &request)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

async fn show_entry(state: &AppState, request: &PageRequest) -> HppResult {
    let id = request.payment_id()?;
    let loaded = load(state, &id).await?;
    let page = PaymentPage::new(state, request, &loaded, state.clock.now());
    current_page(state, &page, &loaded).await
}

async fn challenge_page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let request = PageRequest::new(&headers, &uri);
    show_challenge(&state, &request)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

async fn show_challenge(state: &AppState, request: &PageRequest) -> HppResult {
    let id = request.payment_id()?;
    let loaded = load(state, &id).await?;
    let page = PaymentPage::new(state, request, &loaded, state.clock.now());
    match &loaded.attempt {
        Some(attempt)
            if attempt.status == AttemptStatus::Challenge && loaded.payment.status.is_open() =>
        {
            Ok(html(
                StatusCode::OK,
                render::challenge(&page.frame(), &attempt.card),
            ))
        }
        _ => current_page(state, &page, &loaded).await,
    }
}

async fn result(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let request = PageRequest::new(&headers, &uri);
    show_result(&state, &request)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

/// `GET /hpp/return?cpi=…`: where a live route's provider sends the customer back. The
/// outcome is read from the provider (never from the query string) and applied, then the
/// customer goes on as after any outcome: to the merchant's return URL for it, else the
/// result page. A provider that does not answer leaves the payment pending, for the
/// notification and the reconciliation worker.
async fn return_page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let request = PageRequest::new(&headers, &uri);
    show_return(&state, &request)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

async fn show_return(state: &AppState, request: &PageRequest) -> HppResult {
    let id = request.payment_id()?;
    let loaded = load(state, &id).await?;
    if loaded.payment.awaits_upstream()
        && let Err(error) =
            obol_http::upstream::sync_payment(state, &id, obol_http::upstream::PAGE_DEADLINE).await
    {
        tracing::warn!(payment = %id, %error, "the provider could not be asked on the customer's return");
    }
    let loaded = load(state, &id).await?;
    let page = PaymentPage::new(state, request, &loaded, state.clock.now());
    Ok(page.after_outcome(&loaded.payment))
}

async fn show_result(state: &AppState, request: &PageRequest) -> HppResult {
    let id = request.payment_id()?;
    let loaded = load(state, &id).await?;
    let page = PaymentPage::new(state, request, &loaded, state.clock.now());
    Ok(page.status(StatusCode::OK, &loaded.payment, None))
}
