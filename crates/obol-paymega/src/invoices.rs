//! Creating and refunding invoices: the one place where a request to take money becomes a
//! payment, whichever door it came through (Paymega's public API, private API and HTML form,
//! the hosted page's checkout). Dialects parse their wire format into an [`InvoiceRequest`],
//! call [`create`], and render the result or the [`Problem`]s in their own vocabulary.

use std::collections::BTreeMap;
use std::time::Instant;

use obol_core::Currency;
use obol_core::catalog::{
    FieldProblem, PaymentService, ServiceError, ServiceFlow, ServiceUse, service_for_code,
    service_usable,
};
use obol_core::customer::CustomerDraft;
use obol_core::idempotency::SavedResponse;
use obol_core::ids::{CustomerId, PaymentId, Uuid};
use obol_core::mode::{Caller, Mode, payment_mode};
use obol_core::money::{Money, MoneyError};
use obol_core::payment::{
    Actor, DraftError, ExpiryWindow, Flow, Payment, PaymentDraft, PaymentError, PaymentEvent,
    Resolution, ReturnUrls, Source,
};
use obol_core::sandbox::{TestOutcome, test_outcome};
use obol_core::tenancy::Merchant;
use obol_core::time::Timestamp;
use obol_store::ops::customers;
use obol_store::{Db, Idempotent, StoreError};

use obol_http::callbacks::guard::{self, AddressPolicy};
use obol_http::callbacks::outbox::Outbox;
use obol_http::crypto::OsRandom;
use obol_http::idempotency::{self, KeyedRequest};
use obol_http::metrics::CreationPhases;
use obol_http::state::AppState;
use obol_http::upstream::{self, RefundOutcome, RouteError};

/// Invoices expire between 14 minutes and 2 days after creation (inclusive), as Paymega says.
pub const EXPIRY_WINDOW: ExpiryWindow = ExpiryWindow {
    min_seconds: 14 * 60,
    max_seconds: 2 * 86_400,
};
/// Longest URL accepted for return and callback URLs.
pub const URL_LENGTH_MAX: usize = 2048;
/// Longest text accepted in a customer field.
const CUSTOMER_TEXT_MAX: usize = 255;

/// Where to send the customer after the outcome, as requested.
#[derive(Debug, Clone, Default)]
pub struct ReturnUrlsRequest {
    pub success: Option<String>,
    pub fail: Option<String>,
    pub pending: Option<String>,
}

/// An invoice as a dialect understood it; semantic checks happen in [`create`].
#[derive(Debug, Clone, Default)]
pub struct InvoiceRequest {
    pub reference_id: Option<String>,
    pub service: Option<String>,
    pub currency: String,
    /// The amount's decimal text exactly as the wire carried it.
    pub amount: String,
    pub flow: Option<String>,
    /// Service field values, and the object as given (JSON text) to store.
    pub service_fields: BTreeMap<String, String>,
    pub service_fields_json: Option<String>,
    pub test_mode: Option<bool>,
    pub description: Option<String>,
    pub customer: Option<CustomerDraft>,
    pub metadata: Option<String>,
    pub return_url: Option<String>,
    pub return_urls: Option<ReturnUrlsRequest>,
    pub callback_url: Option<String>,
    pub gateway_options: Option<String>,
    pub expires: Option<Timestamp>,
    pub locale: Option<String>,
    pub page_options: Option<String>,
    pub requester_ip: Option<String>,
}

/// What is wrong with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Required,
    Invalid,
    /// More fraction digits than the currency has.
    TooPrecise,
    /// Must be greater than zero.
    NotPositive,
    /// The service does not exist, is off, or is not the merchant's.
    NotAvailable,
    /// Below the service's minimum (the minimum as decimal text).
    BelowMinimum(String),
    /// Above the service's maximum (the maximum as decimal text).
    AboveMaximum(String),
    /// Outside the 14 minutes – 2 days window.
    OutOfWindow,
    /// A key the service does not define.
    Unknown,
    TooLong,
    /// `test_mode` sent with a live public key (SPEC §2 "Test and live").
    LivePublicKey,
}

#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    #[error("the request is invalid")]
    Invalid(Vec<(String, Problem)>),
    #[error("the merchant's settings forbid creating invoices through the public API")]
    PublicAccessForbidden,
    #[error("the reference is already used")]
    Duplicate(Box<Payment>),
    /// The reference is used by an invoice a public caller may not see (not the same public
    /// checkout again).
    #[error("the reference is already used")]
    DuplicateHidden,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for InvoiceError {
    fn from(error: StoreError) -> InvoiceError {
        match error {
            StoreError::DuplicateReference(existing) => InvoiceError::Duplicate(existing),
            other => InvoiceError::Store(other),
        }
    }
}

/// Renders the answer saved under an idempotency key, inside the transaction that makes it.
pub type Renderer = Box<dyn FnOnce(&Payment) -> SavedResponse + Send>;

/// An idempotency key to honour, with the way to render the response saved under it.
pub struct IdempotencyRequest {
    pub keyed: KeyedRequest,
    pub render: Renderer,
}

/// The key (if any) for [`idempotency::write`], and how to make the answer it saves. Without a
/// key nothing is saved, so nothing is rendered: the answer is an empty placeholder that
/// `write` drops.
fn split(idempotency: Option<IdempotencyRequest>) -> (Option<KeyedRequest>, Renderer) {
    match idempotency {
        Some(IdempotencyRequest { keyed, render }) => (Some(keyed), render),
        None => (
            None,
            Box::new(|_: &Payment| SavedResponse {
                status: 0,
                content_type: String::new(),
                body: Vec::new(),
            }),
        ),
    }
}

/// The result of a creation: the payment, or the response saved for a repeated key.
pub enum Created {
    New(Box<Payment>),
    Replayed(SavedResponse),
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > 8
        && url.len() <= URL_LENGTH_MAX
        && !url.contains(char::is_whitespace)
}

struct Checked {
    draft: PaymentDraft,
    service: Option<PaymentService>,
    customer: Option<CustomerDraft>,
    test_outcome: Option<TestOutcome>,
}

/// Reads an invoice request into a draft, reporting every problem at once. Long because it
/// follows the request field by field in the order Paymega reports them (the HTML form lists
/// them in this order); the independent groups (URLs, customer) are helpers.
async fn check(
    state: &AppState,
    merchant: &Merchant,
    request: InvoiceRequest,
    source: Source,
) -> Result<Checked, InvoiceError> {
    let now = state.clock.now();
    let mut problems: Vec<(String, Problem)> = Vec::new();
    let currency = match Currency::parse(&request.currency) {
        Ok(currency) if currency.exponent().is_ok() => Some(currency),
        _ => {
            problems.push((
                "currency".into(),
                if request.currency.is_empty() {
                    Problem::Required
                } else {
                    Problem::Invalid
                },
            ));
            None
        }
    };
    let flow = match request.flow.as_deref() {
        None => Flow::Charge,
        Some(text) => Flow::parse(text).unwrap_or_else(|| {
            problems.push(("flow".into(), Problem::Invalid));
            Flow::Charge
        }),
    };
    let amount = match currency {
        Some(currency) if !request.amount.is_empty() => {
            match Money::parse_decimal(&request.amount, currency) {
                Ok(amount)
                    if amount.is_positive() || (amount.is_zero() && flow == Flow::Verify) =>
                {
                    Some(amount)
                }
                Ok(_) => {
                    problems.push(("amount".into(), Problem::NotPositive));
                    None
                }
                Err(MoneyError::TooPrecise) => {
                    problems.push(("amount".into(), Problem::TooPrecise));
                    None
                }
                Err(_) => {
                    problems.push(("amount".into(), Problem::Invalid));
                    None
                }
            }
        }
        _ => {
            if request.amount.is_empty() {
                problems.push(("amount".into(), Problem::Required));
            }
            None
        }
    };
    let test_mode = match payment_mode(
        Mode::of_test_flag(merchant.test_mode),
        source.caller(),
        request.test_mode,
    ) {
        Ok(mode) => mode.is_test(),
        Err(_) => {
            problems.push(("test_mode".into(), Problem::LivePublicKey));
            false
        }
    };
    let service = match &request.service {
        None => None,
        Some(code) => {
            let services = state.caches.services(&state.store).await?;
            let enabled = state
                .caches
                .merchant_services(&state.store, merchant.id)
                .await?;
            let candidates = services
                .iter()
                .filter(|service| &service.code == code)
                .cloned()
                .map(|service| {
                    let is_enabled = enabled.iter().any(|(_, mine)| mine.id == service.id);
                    (service, is_enabled)
                })
                .collect();
            let found = service_for_code(candidates, |linked| {
                ServiceUse::merchant(merchant.test_mode, test_mode, linked)
            });
            match found {
                Some((service, linked))
                    if service_usable(
                        &service,
                        ServiceUse::merchant(merchant.test_mode, test_mode, linked),
                    ) && currency.is_none_or(|currency| currency == service.currency) =>
                {
                    Some(service)
                }
                _ => {
                    problems.push(("service".into(), Problem::NotAvailable));
                    None
                }
            }
        }
    };
    if let (Some(service), Some(amount)) = (&service, amount) {
        match service.check_amount(amount) {
            Ok(()) => {}
            Err(ServiceError::AmountBelowMinimum)
                if !(amount.is_zero() && flow == Flow::Verify) =>
            {
                problems.push((
                    "amount".into(),
                    Problem::BelowMinimum(service.amount_min.to_decimal_trimmed(0)),
                ))
            }
            Err(ServiceError::AmountAboveMaximum) => problems.push((
                "amount".into(),
                Problem::AboveMaximum(service.amount_max.to_decimal_trimmed(0)),
            )),
            Err(_) => {}
        }
    }
    let mut outcome = None;
    if let Some(service) = &service {
        // The page asks for missing fields later; what is given must already be right.
        let fields_to_check: BTreeMap<String, String> = request.service_fields.clone();
        if let Err(ServiceError::Fields(field_problems)) = service.check_fields(&fields_to_check) {
            for (key, problem) in field_problems {
                let problem = match problem {
                    FieldProblem::Missing if !request.service_fields.contains_key(&key) => continue,
                    FieldProblem::Missing => Problem::Required,
                    FieldProblem::DoesNotMatch => Problem::Invalid,
                    FieldProblem::Unknown => Problem::Unknown,
                };
                problems.push((format!("service_fields.{key}"), problem));
            }
        }
        if service.flow == ServiceFlow::Test
            && let Some(status) = request.service_fields.get("status")
        {
            outcome = test_outcome(status);
        }
    } else if !request.service_fields.is_empty() && request.service.is_some() {
        // Already reported as an unavailable service.
    }
    if let Some(expires) = request.expires
        && EXPIRY_WINDOW.check(now, expires).is_err()
    {
        problems.push(("expires".into(), Problem::OutOfWindow));
    }
    let return_urls = check_urls(state, &request, &mut problems);
    if let Some(customer) = &request.customer {
        check_customer(customer, &mut problems);
    }
    if request
        .reference_id
        .as_ref()
        .is_some_and(|reference| reference.is_empty())
    {
        problems.push(("reference_id".into(), Problem::Invalid));
    }
    if request.reference_id.as_ref().is_some_and(|reference| {
        reference.chars().count() > obol_core::payment::REFERENCE_LENGTH_MAX
    }) {
        problems.push(("reference_id".into(), Problem::TooLong));
    }
    if request.description.as_ref().is_some_and(|description| {
        description.chars().count() > obol_core::payment::DESCRIPTION_LENGTH_MAX
    }) {
        problems.push(("description".into(), Problem::TooLong));
    }
    let Some(amount) = amount else {
        return Err(InvoiceError::Invalid(problems));
    };
    if !problems.is_empty() {
        return Err(InvoiceError::Invalid(problems));
    }
    let reference_id = request
        .reference_id
        .clone()
        .unwrap_or_else(|| Uuid::generate_v4(&mut OsRandom).as_str().to_owned());
    // The checks above report every problem at once, as Paymega does; the core's builder
    // then makes the draft and refuses nothing they let through.
    let builder = PaymentDraft::for_merchant(merchant, source, amount)
        .reference_id(reference_id)
        .flow(flow)
        .description(request.description)
        .metadata(request.metadata)
        .service_fields(request.service_fields_json)
        .gateway_options(request.gateway_options)
        .page_options(request.page_options)
        .return_urls(return_urls)
        .callback_url(request.callback_url)
        .expires_at(request.expires)
        .locale(request.locale)
        .test_mode(test_mode)
        .requester_ip(request.requester_ip);
    let draft = match &service {
        Some(service) => builder.service(service),
        None => builder,
    }
    .build()
    .map_err(|error| InvoiceError::Invalid(vec![draft_problem(&error, service.as_ref())]))?;
    Ok(Checked {
        draft,
        service,
        customer: request.customer,
        test_outcome: outcome,
    })
}

/// The return and callback URLs: the merchant's return URLs for the draft, and a problem for
/// each one that is not an acceptable `http(s)` URL.
fn check_urls(
    state: &AppState,
    request: &InvoiceRequest,
    problems: &mut Vec<(String, Problem)>,
) -> ReturnUrls {
    let mut return_urls = ReturnUrls {
        default: request.return_url.clone(),
        ..ReturnUrls::default()
    };
    if let Some(url) = &request.return_url
        && !is_http_url(url)
    {
        problems.push(("return_url".into(), Problem::Invalid));
    }
    if let Some(urls) = &request.return_urls {
        for (name, url) in [
            ("success", &urls.success),
            ("fail", &urls.fail),
            ("pending", &urls.pending),
        ] {
            if let Some(url) = url
                && !is_http_url(url)
            {
                problems.push((format!("return_urls.{name}"), Problem::Invalid));
            }
        }
        if urls.pending.is_none() {
            problems.push(("return_urls.pending".into(), Problem::Required));
        }
        return_urls.success = urls.success.clone();
        return_urls.fail = urls.fail.clone();
        return_urls.pending = urls.pending.clone();
    }
    if let Some(url) = &request.callback_url {
        // The SSRF guard: no callbacks to loopback, private or reserved addresses (unless the
        // operator allows them), checked again when each callback connects.
        let policy = AddressPolicy {
            allow_private_addresses: state.config.callbacks_allow_private_addresses,
        };
        if !is_http_url(url) || guard::check_url(url, policy).is_err() {
            problems.push(("callback_url".into(), Problem::Invalid));
        }
    }
    return_urls
}

/// The customer's texts: a reference, and nothing over its limit.
fn check_customer(customer: &CustomerDraft, problems: &mut Vec<(String, Problem)>) {
    if customer.reference_id.is_empty() {
        problems.push(("customer.reference_id".into(), Problem::Required));
    }
    for (name, value) in [
        ("reference_id", Some(&customer.reference_id)),
        ("name", customer.name.as_ref()),
        ("email", customer.email.as_ref()),
        ("phone", customer.phone.as_ref()),
        ("address.country", customer.address.country.as_ref()),
        ("address.region", customer.address.region.as_ref()),
        ("address.city", customer.address.city.as_ref()),
        (
            "address.full_address",
            customer.address.full_address.as_ref(),
        ),
        ("address.postcode", customer.address.postcode.as_ref()),
    ] {
        if value.is_some_and(|value| value.chars().count() > CUSTOMER_TEXT_MAX) {
            problems.push((format!("customer.{name}"), Problem::TooLong));
        }
    }
}

/// A draft the core refused, as a problem with one of this dialect's fields.
fn draft_problem(error: &DraftError, service: Option<&PaymentService>) -> (String, Problem) {
    let (field, problem) = match error {
        DraftError::AmountNotPositive => ("amount", Problem::NotPositive),
        DraftError::EmptyReference => ("reference_id", Problem::Invalid),
        DraftError::TooLong(field) => (*field, Problem::TooLong),
        DraftError::Service(ServiceError::AmountBelowMinimum) => (
            "amount",
            Problem::BelowMinimum(service.map_or_else(String::new, |service| {
                service.amount_min.to_decimal_trimmed(0)
            })),
        ),
        DraftError::Service(ServiceError::AmountAboveMaximum) => (
            "amount",
            Problem::AboveMaximum(service.map_or_else(String::new, |service| {
                service.amount_max.to_decimal_trimmed(0)
            })),
        ),
        DraftError::Service(_) => ("service", Problem::NotAvailable),
    };
    (field.to_owned(), problem)
}

/// The write of a checked invoice: its customer, the payment, and a `test` service's outcome,
/// in one transaction.
async fn insert(
    db: &mut dyn Db,
    outbox: &Outbox,
    checked: Checked,
    merchant: &Merchant,
    now: Timestamp,
) -> Result<Payment, StoreError> {
    let Checked {
        mut draft,
        service,
        customer,
        test_outcome,
    } = checked;
    if let Some(customer) = customer {
        let stored = customers::upsert(
            db,
            merchant.id,
            customer,
            CustomerId::generate(&mut OsRandom),
            now,
        )
        .await?;
        draft.customer_id = Some(stored.id);
    }
    let id = PaymentId::generate(&mut OsRandom);
    let payment = outbox.insert(db, draft, id, service.as_ref(), now).await?;
    let event = match test_outcome {
        Some(TestOutcome::Processed) => Some(PaymentEvent::Succeeded { card: None }),
        Some(TestOutcome::Failed) => Some(PaymentEvent::Failed {
            reason: Resolution::Declined,
            card: None,
        }),
        Some(TestOutcome::Pending) | None => None,
    };
    match event {
        Some(event) => Ok(outbox
            .transition(db, &payment.id, event, Actor::Provider, now)
            .await?
            .0),
        None => Ok(payment),
    }
}

/// Creates an invoice for `merchant` (checks, then one transaction), honouring an
/// idempotency key when one is given.
pub async fn create(
    state: &AppState,
    merchant: &Merchant,
    request: InvoiceRequest,
    source: Source,
    idempotency: Option<IdempotencyRequest>,
) -> Result<Created, InvoiceError> {
    let mut phases = CreationPhases::default();
    create_timed(state, merchant, request, source, idempotency, &mut phases).await
}

/// [`create`], noting in `phases` how long the checks (`rules`) and the write (`storage`)
/// took.
pub async fn create_timed(
    state: &AppState,
    merchant: &Merchant,
    request: InvoiceRequest,
    source: Source,
    idempotency: Option<IdempotencyRequest>,
    phases: &mut CreationPhases,
) -> Result<Created, InvoiceError> {
    if merchant.settings.forbid_public_access && source.caller() == Caller::PublicKey {
        return Err(InvoiceError::PublicAccessForbidden);
    }
    let checking = Instant::now();
    let checked = check(state, merchant, request, source).await?;
    let writing = Instant::now();
    phases.rules = writing.duration_since(checking);
    let (amount, service) = (checked.draft.amount, checked.service.as_ref().map(|s| s.id));
    let now = state.clock.now();
    let merchant = merchant.clone();
    let outbox = state.outbox.clone();
    let (keyed, render) = split(idempotency);
    let outcome = idempotency::write(&state.store, now, keyed, move |db| {
        Box::pin(async move {
            let payment = insert(db, &outbox, checked, &merchant, now).await?;
            let response = render(&payment);
            Ok((payment, response))
        })
    })
    .await
    .map_err(InvoiceError::from)
    .map_err(|error| match error {
        // A public key, which merchants publish, sees an existing invoice only for the same
        // checkout again (the core's rule).
        InvoiceError::Duplicate(existing) if !existing.shown_to_repeat(source, amount, service) => {
            InvoiceError::DuplicateHidden
        }
        other => other,
    })?;
    phases.storage = writing.elapsed();
    Ok(match outcome {
        Idempotent::Fresh(payment, _) => Created::New(Box::new(payment)),
        Idempotent::Replayed(response) => Created::Replayed(response),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("the amount is invalid")]
    InvalidAmount(Problem),
    #[error("the refund exceeds what is left to refund")]
    Exceeds,
    #[error("the invoice cannot be refunded in its status")]
    NotRefundable,
    /// The payment's live route refused the refund, or could not be asked.
    #[error("the payment provider did not refund: {0}")]
    Upstream(String),
    /// The `Idempotency-Key` was used for another refund.
    #[error("the idempotency key was used for another refund")]
    KeyReused,
    #[error(transparent)]
    Store(StoreError),
}

/// The result of a refund: the payment after it, or the response saved for a repeated key.
pub enum Refunded {
    Done(Box<Payment>),
    Replayed(SavedResponse),
}

/// Refunds `amount_text` (decimal text; `None` = all that is left) of a merchant's payment,
/// honouring an idempotency key when one is given.
pub async fn refund(
    state: &AppState,
    payment: &Payment,
    amount_text: Option<String>,
    actor: Actor,
    idempotency: Option<IdempotencyRequest>,
) -> Result<Refunded, RefundError> {
    let amount = match amount_text {
        None => None,
        Some(text) => match Money::parse_decimal(&text, payment.amount.currency()) {
            Ok(amount) if amount.is_positive() => Some(amount),
            Ok(_) => return Err(RefundError::InvalidAmount(Problem::NotPositive)),
            Err(MoneyError::TooPrecise) => {
                return Err(RefundError::InvalidAmount(Problem::TooPrecise));
            }
            Err(_) => return Err(RefundError::InvalidAmount(Problem::Invalid)),
        },
    };
    // A payment a live route settled is refunded at its provider first (SPEC §4).
    if payment.route.is_some() {
        let request = idempotency.as_ref().map(|request| &request.keyed);
        return match upstream::refund(state, &payment.id, amount, &actor, request).await {
            Ok(RefundOutcome::Booked(payment) | RefundOutcome::Pending(payment)) => {
                Ok(Refunded::Done(payment))
            }
            Err(RouteError::Payment(PaymentError::RefundExceedsProcessed)) => {
                Err(RefundError::Exceeds)
            }
            Err(RouteError::Payment(PaymentError::InvalidRefundAmount)) => {
                Err(RefundError::InvalidAmount(Problem::NotPositive))
            }
            Err(RouteError::Payment(_)) => Err(RefundError::NotRefundable),
            Err(RouteError::Store(error)) => Err(RefundError::Store(error)),
            Err(RouteError::KeyReused) => Err(RefundError::KeyReused),
            Err(error) => Err(RefundError::Upstream(error.to_string())),
        };
    }
    // No amount: all that is left. Whether the refund may happen is decided when storage plans
    // the event inside the transaction, so that a repeated key replays its first answer.
    let event = payment
        .refund_event(amount)
        .map_err(|_| RefundError::NotRefundable)?;
    let id = payment.id.clone();
    let now = state.clock.now();
    let outbox = state.outbox.clone();
    let (keyed, render) = split(idempotency);
    let result = idempotency::write(&state.store, now, keyed, move |db| {
        Box::pin(async move {
            let (payment, _) = outbox.transition(db, &id, event, actor, now).await?;
            let response = render(&payment);
            Ok((payment, response))
        })
    })
    .await
    .map(|outcome| match outcome {
        Idempotent::Fresh(payment, _) => Refunded::Done(Box::new(payment)),
        Idempotent::Replayed(response) => Refunded::Replayed(response),
    });
    result.map_err(|error| match error {
        StoreError::Payment(PaymentError::RefundExceedsProcessed) => RefundError::Exceeds,
        StoreError::Payment(PaymentError::InvalidRefundAmount) => {
            RefundError::InvalidAmount(Problem::NotPositive)
        }
        StoreError::Payment(PaymentError::TransitionNotAllowed { .. }) => {
            RefundError::NotRefundable
        }
        other => RefundError::Store(other),
    })
}
