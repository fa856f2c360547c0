//! The hosted pages' forms: choosing a method, paying by card, answering 3-D Secure and the
//! `test` method. Every post is checked the same way first ([`accept_post`]): a readable form,
//! a known payment, a valid CSRF token and a payment still open.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use obol_core::Timestamp;
use obol_core::card::{self, CardExpiry, CardNumber, HOLDER_LENGTH_MAX};
use obol_core::catalog::ServiceFlow;
use obol_core::ids::PaymentId;
use obol_core::payment::{Actor, PaymentError, PaymentEvent, Resolution};
use obol_core::sandbox::{self, CardDecision, TestOutcome};
use obol_store::StoreError;
use obol_store::ops::attempts::{self, AttemptStatus};

use super::{
    HppError, HppResult, Loaded, PageRequest, PaymentPage, available_services, html, load,
    see_other, service_form,
};
use obol_core::mode::OnlineRoute;
use obol_http::page::render::{self, CardFormValues};
use obol_http::state::AppState;
use obol_http::tokens;
use obol_http::upstream::{self, RouteError};

type FormBody = Result<Form<HashMap<String, String>>, FormRejection>;

/// What every post shares: a readable form, a known payment, a valid CSRF token for it, and a
/// payment still open for an attempt.
struct Posted {
    loaded: Loaded,
    page: PaymentPage,
    fields: HashMap<String, String>,
    now: Timestamp,
}

/// Whether a form may be posted for a payment a live route settles: only the method choice,
/// which sends the customer to the provider; the sandbox's card, 3-D Secure and `test` forms
/// never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Through {
    SandboxOnly,
    SandboxOrRoute,
}

async fn accept_post(
    state: &AppState,
    request: &PageRequest,
    form: FormBody,
    through: Through,
) -> Result<Posted, HppError> {
    let Form(mut fields) = form.map_err(|_| HppError::BadRequest)?;
    let id = request.payment_id()?;
    let loaded = load(state, &id).await?;
    let now = state.clock.now();
    let token = fields.remove("csrf_token").ok_or(HppError::Forbidden)?;
    tokens::check(&state.key, &token, tokens::purpose::CSRF, id.as_str(), now)
        .map_err(|_| HppError::Forbidden)?;
    let page = PaymentPage::new(state, request, &loaded, now);
    if !loaded.payment.takes_attempts() {
        return Err(HppError::Rendered(Box::new(page.closed(&loaded.payment))));
    }
    // Every form here is the sandbox's (its cards, its `test` method, its 3-D Secure): a
    // payment it may not settle takes no attempt from it, not even a decline.
    let allowed = match super::online_route(state, &loaded) {
        OnlineRoute::Sandbox => true,
        OnlineRoute::Live(_) => through == Through::SandboxOrRoute,
        OnlineRoute::Unavailable => false,
    };
    if !allowed {
        return Err(HppError::Rendered(Box::new(
            page.online_unavailable(StatusCode::FORBIDDEN),
        )));
    }
    Ok(Posted {
        loaded,
        page,
        fields,
        now,
    })
}

/// Applies a customer's outcome to the payment and sends the customer on. A payment that
/// moved meanwhile (paid in another tab, expired) answers its status page: the state machine
/// refuses a second outcome, so a payment is never taken twice.
async fn apply_outcome(
    state: &AppState,
    page: &PaymentPage,
    id: &PaymentId,
    event: PaymentEvent,
    now: Timestamp,
) -> HppResult {
    let target = id.clone();
    let outbox = state.outbox.clone();
    let applied = state
        .store
        .write(move |db| {
            Box::pin(async move {
                outbox
                    .transition(db, &target, event, Actor::Customer, now)
                    .await
                    .map(|(payment, _)| payment)
            })
        })
        .await;
    match applied {
        Ok(payment) => Ok(page.after_outcome(&payment)),
        Err(error) if moved_meanwhile(&error) => closed_now(state, page, id).await,
        Err(error) => Err(error.into()),
    }
}

fn moved_meanwhile(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Payment(PaymentError::TransitionNotAllowed { .. }) | StoreError::Conflict
    )
}

/// The status page of a payment as it is now, after a post found it moved.
async fn closed_now(state: &AppState, page: &PaymentPage, id: &PaymentId) -> HppResult {
    let loaded = load(state, id).await?;
    Ok(page.closed(&loaded.payment))
}

pub(super) async fn choose(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    form: FormBody,
) -> Response {
    let request = PageRequest::new(&headers, &uri);
    choose_service(&state, &request, form)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

async fn choose_service(state: &AppState, request: &PageRequest, form: FormBody) -> HppResult {
    let Posted {
        loaded,
        page,
        fields,
        now,
    } = accept_post(state, request, form, Through::SandboxOrRoute).await?;
    if let OnlineRoute::Live(route) = super::online_route(state, &loaded) {
        return send_upstream(state, &loaded, &page, &route, &fields).await;
    }
    if loaded.payment.service_id.is_some() {
        // Chosen already (a second tab, the back button): show what is current.
        return Ok(see_other(&page.link("")));
    }
    let code = fields.get("service").ok_or(HppError::BadRequest)?;
    let service = available_services(state, &loaded)
        .await?
        .into_iter()
        .map(|(service, _)| service)
        .find(|service| &service.code == code)
        .ok_or(HppError::BadRequest)?;
    let id = loaded.payment.id.clone();
    // The chosen service's limits and fee apply from now on.
    let event = loaded
        .payment
        .choose_service(&service)
        .map_err(|_| HppError::BadRequest)?;
    let target = id.clone();
    let outbox = state.outbox.clone();
    let applied = state
        .store
        .write(move |db| {
            Box::pin(async move {
                outbox
                    .transition(db, &target, event, Actor::Customer, now)
                    .await
            })
        })
        .await;
    match applied {
        Ok(_) => Ok(see_other(&page.link(""))),
        Err(error) if moved_meanwhile(&error) => closed_now(state, &page, &id).await,
        Err(error) => Err(error.into()),
    }
}

/// The card method of a live route chosen: the payment is created at the provider (or read
/// there, when it already was) and the customer sent to its confirmation page (303); a
/// payment the provider already settled shows its outcome.
async fn send_upstream(
    state: &AppState,
    loaded: &Loaded,
    page: &PaymentPage,
    route: &str,
    fields: &HashMap<String, String>,
) -> HppResult {
    let payment = &loaded.payment;
    let service = match (&loaded.service, payment.upstream_id.is_some()) {
        (_, true) => None,
        (Some(service), false) => Some(service.clone()),
        (None, false) => {
            let code = fields.get("service").ok_or(HppError::BadRequest)?;
            Some(
                available_services(state, loaded)
                    .await?
                    .into_iter()
                    .map(|(service, _)| service)
                    .find(|service| &service.code == code)
                    .ok_or(HppError::BadRequest)?,
            )
        }
    };
    if service
        .as_ref()
        .is_some_and(|service| service.route.as_deref() != Some(route))
    {
        return Err(HppError::Rendered(Box::new(
            page.online_unavailable(StatusCode::FORBIDDEN),
        )));
    }
    match upstream::send_customer(state, payment, route, service.as_ref()).await {
        Ok(Some(url)) if HeaderValue::from_str(&url).is_ok() => Ok(see_other(&url)),
        Ok(_) => {
            let loaded = super::load(state, &payment.id).await?;
            Ok(page.after_outcome(&loaded.payment))
        }
        Err(RouteError::Payment(_)) => closed_now(state, page, &payment.id).await,
        Err(RouteError::Store(error)) if moved_meanwhile(&error) => {
            closed_now(state, page, &payment.id).await
        }
        Err(RouteError::Store(error)) => Err(error.into()),
        Err(error) => {
            tracing::warn!(payment = %payment.id, %error, "the customer could not be sent to the live route");
            Err(HppError::Upstream)
        }
    }
}

pub(super) async fn pay(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    form: FormBody,
) -> Response {
    let request = PageRequest::new(&headers, &uri);
    pay_by_card(&state, &request, form)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

/// Why a card form was refused, before any payment attempt.
fn card_form_error(
    page: &PaymentPage,
    message: &str,
    fields: &HashMap<String, String>,
) -> HppError {
    // The expiry and holder are shown again; the number and CVV never are.
    let values = CardFormValues {
        expiry: fields.get("card_expiry").cloned().unwrap_or_default(),
        holder: fields.get("card_holder").cloned().unwrap_or_default(),
        brand: fields
            .get("card_number")
            .and_then(|number| card::brand_of_typed(number)),
    };
    HppError::Rendered(Box::new(html(
        StatusCode::UNPROCESSABLE_ENTITY,
        render::card_form(&page.frame(), Some(message), &values),
    )))
}

async fn pay_by_card(state: &AppState, request: &PageRequest, form: FormBody) -> HppResult {
    let Posted {
        loaded,
        page,
        fields,
        now,
    } = accept_post(state, request, form, Through::SandboxOnly).await?;
    if loaded.challenge_waiting() {
        return Ok(see_other(&page.link("3ds")));
    }
    if !matches!(&loaded.service, Some(service) if service.flow == ServiceFlow::Hpp) {
        // No card service chosen for this payment: back to what the payment shows.
        return Ok(see_other(&page.link("")));
    }
    let texts = page.language.texts();
    let text = |name: &str| fields.get(name).map_or("", String::as_str);
    let number = CardNumber::parse(text("card_number"))
        .map_err(|_| card_form_error(&page, texts.invalid_number, &fields))?;
    let expiry = CardExpiry::parse(text("card_expiry"))
        .map_err(|_| card_form_error(&page, texts.invalid_expiry, &fields))?;
    card::check_security_code(text("card_cvv").trim())
        .map_err(|_| card_form_error(&page, texts.invalid_cvv, &fields))?;
    let holder = text("card_holder").trim();
    if holder.chars().count() > HOLDER_LENGTH_MAX {
        return Err(card_form_error(&page, texts.invalid_holder, &fields));
    }
    let holder = (!holder.is_empty()).then(|| holder.to_owned());
    let payload = number.payload(expiry, holder);
    let decision = state.acquirer.authorize(&number, expiry, now);
    let id = loaded.payment.id.clone();
    match decision {
        CardDecision::Approved => {
            let event = loaded.payment.approval_event(Some(payload));
            apply_outcome(state, &page, &id, event, now).await
        }
        CardDecision::Declined(reason) => {
            let event = PaymentEvent::Failed {
                reason,
                card: Some(payload),
            };
            apply_outcome(state, &page, &id, event, now).await
        }
        CardDecision::ChallengeThreeDs => {
            let target = id.clone();
            state
                .store
                .write(move |db| {
                    Box::pin(async move { attempts::create(db, &target, &payload, now).await })
                })
                .await?;
            Ok(see_other(&page.link("3ds")))
        }
    }
}

pub(super) async fn challenge_answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    form: FormBody,
) -> Response {
    let request = PageRequest::new(&headers, &uri);
    answer_challenge(&state, &request, form)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

async fn answer_challenge(state: &AppState, request: &PageRequest, form: FormBody) -> HppResult {
    let Posted {
        loaded,
        page,
        fields,
        now,
    } = accept_post(state, request, form, Through::SandboxOnly).await?;
    let approved = match fields.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("reject") => false,
        _ => return Err(HppError::BadRequest),
    };
    let decision = state.acquirer.challenge(approved);
    let manual_capture = loaded.payment.manual_capture;
    let id = loaded.payment.id.clone();
    let target = id.clone();
    let outbox = state.outbox.clone();
    // Closing the challenge and moving the payment are one transaction, so a double click or
    // two tabs answer it once: the second finds the attempt closed and does nothing.
    let answered = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let Some(attempt) = attempts::latest(db, &target).await? else {
                    return Ok(None);
                };
                if attempt.status != AttemptStatus::Challenge {
                    return Ok(None);
                }
                let (attempt_status, event) = match decision {
                    CardDecision::Approved => (
                        AttemptStatus::Approved,
                        PaymentEvent::approved(manual_capture, Some(attempt.card)),
                    ),
                    CardDecision::Declined(reason) => (
                        AttemptStatus::Declined,
                        PaymentEvent::Failed {
                            reason,
                            card: Some(attempt.card),
                        },
                    ),
                    // A challenge cannot be answered with another challenge; an acquirer
                    // that tries has failed the customer's authentication.
                    CardDecision::ChallengeThreeDs => (
                        AttemptStatus::Declined,
                        PaymentEvent::Failed {
                            reason: Resolution::ThreeDsFailed,
                            card: Some(attempt.card),
                        },
                    ),
                };
                if !attempts::close(db, attempt.id, attempt_status, now).await? {
                    return Ok(None);
                }
                let (payment, _) = outbox
                    .transition(db, &target, event, Actor::Customer, now)
                    .await?;
                Ok(Some(payment))
            })
        })
        .await;
    match answered {
        Ok(Some(payment)) => Ok(page.after_outcome(&payment)),
        Ok(None) => {
            let current = load(state, &id).await?;
            if current.payment.status.is_open() {
                Ok(see_other(&page.link("")))
            } else {
                Ok(page.closed(&current.payment))
            }
        }
        Err(error) if moved_meanwhile(&error) => closed_now(state, &page, &id).await,
        Err(error) => Err(error.into()),
    }
}

pub(super) async fn test_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    form: FormBody,
) -> Response {
    let request = PageRequest::new(&headers, &uri);
    pay_by_test_method(&state, &request, form)
        .await
        .unwrap_or_else(|error| request.error_page(error))
}

async fn pay_by_test_method(state: &AppState, request: &PageRequest, form: FormBody) -> HppResult {
    let Posted {
        loaded,
        page,
        fields,
        now,
    } = accept_post(state, request, form, Through::SandboxOnly).await?;
    let service = match &loaded.service {
        Some(service) if loaded.payment.takes_test_method(service) => service,
        _ => return Ok(see_other(&page.link(""))),
    };
    let values: BTreeMap<String, String> = fields.clone().into_iter().collect();
    let outcome = service
        .check_fields(&values)
        .ok()
        .and_then(|()| sandbox::test_outcome(values.get("status").map_or("", String::as_str)));
    let Some(outcome) = outcome else {
        return Ok(service_form(
            &page,
            service,
            Some(page.language.texts().invalid_fields),
            &fields,
        ));
    };
    let id = loaded.payment.id.clone();
    match outcome {
        TestOutcome::Processed => {
            apply_outcome(state, &page, &id, loaded.payment.approval_event(None), now).await
        }
        TestOutcome::Failed => {
            let event = PaymentEvent::Failed {
                reason: Resolution::Declined,
                card: None,
            };
            apply_outcome(state, &page, &id, event, now).await
        }
        // The payment stays pending, as a provider that has not answered yet would leave it.
        TestOutcome::Pending => Ok(page.after_outcome(&loaded.payment)),
    }
}
