//! Live routes (SPEC §4): live payments settled by an upstream provider the operator
//! configured (`[[acquirers]]`). This module is the one path money takes through a route, for
//! every door: sending the customer to the provider, learning the outcome (the customer's
//! return, the provider's notification, the reconciliation worker), refunds, capture and
//! cancel of a hold.
//!
//! A connector ([`UpstreamConnector`]) speaks one provider's API; a door that knows the provider
//! registers it (`Door::upstream_connector`), and nothing here names a provider. The core
//! decides what every answer does ([`obol_core::payment::Payment::upstream_events`],
//! [`obol_core::payment::Payment::upstream_refund_amount`]); this module only calls, and has
//! the store persist the decision.
//!
//! The rules that keep money right:
//! - Nothing the provider did not say, read with the route's own credentials, moves a payment:
//!   a notification only names whom to ask.
//! - Every call has a deadline; an error, a timeout or an unreadable answer moves nothing and
//!   is tried again later (the payment or refund stays due for the worker).
//! - Creating a payment and each refund carry an idempotence key stored before the call, so
//!   a retry after a lost answer makes nothing twice at the provider.
//! - Each outcome is applied in one transaction that re-reads the payment, so duplicated and
//!   concurrent reports settle once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use obol_core::catalog::PaymentService;
use obol_core::ids::{PaymentId, Uuid};
use obol_core::money::Money;
use obol_core::payment::{
    Actor, Payment, PaymentError, PaymentEvent, UpstreamMismatch, UpstreamPaymentView,
    UpstreamRefundStatus, upstream_check_delay_seconds,
};
use obol_store::error::Entity;
use obol_store::ops::payments;
use obol_store::ops::upstream::{self as store_upstream, UpstreamRefund, UpstreamRefundState};
use obol_store::{StoreError, StoreResult};
use tokio::time::Instant;

use crate::config::{AcquirerConfig, AcquirerKind};
use crate::crypto::OsRandom;
use crate::idempotency::KeyedRequest;
use crate::state::AppState;
use sha2::{Digest, Sha256};

/// The most a customer's request waits for the provider (creating a payment, reading it on
/// return): the page must answer well inside the server's 30 s.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(10);
/// The most a refund, capture or cancel asked for through a door waits for the provider.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long a refund or check taken by a node stays its own before another node may try.
const LEASE_SECONDS: i64 = 60;
/// First wait before a refund whose answer was lost (or is pending) is tried again.
const REFUND_RETRY_SECONDS: i64 = 30;

/// Why a provider gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The provider refused the request (its own error code and description).
    #[error("the provider refused: {code}: {description}")]
    Refused { code: String, description: String },
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider's answer is unreadable: {0}")]
    Unreadable(String),
}

impl UpstreamError {
    /// Whether the provider may have done it anyway: then it is asked again with the same key,
    /// never assumed undone.
    pub fn outcome_unknown(&self) -> bool {
        !matches!(self, UpstreamError::Refused { .. })
    }
}

/// A payment as the provider describes it, with where its customer confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPayment {
    pub view: UpstreamPaymentView,
    /// The provider's page the customer is sent to, while the payment waits for them.
    pub confirmation_url: Option<String>,
}

/// A refund as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRefundView {
    pub id: String,
    /// The provider's id of the refunded payment.
    pub payment_id: String,
    pub status: UpstreamRefundStatus,
    pub amount: Money,
}

/// What creating a payment at the provider needs.
#[derive(Debug, Clone)]
pub struct NewUpstreamPayment<'a> {
    pub amount: Money,
    /// `false`: two-stage, the money is held until captured.
    pub capture: bool,
    /// Where the provider sends the customer back (`{public_url}/hpp/return?cpi=…`).
    pub return_url: &'a str,
    pub description: Option<&'a str>,
    pub obol_payment_id: &'a str,
    pub idempotence_key: &'a str,
}

/// What a provider's notification is about (only whom to ask: its body is never believed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationSubject {
    Payment(String),
    Refund(String),
}

/// One provider's API, as Obol needs it. Every call ends by `deadline`, including its own
/// retries; a connector never follows redirects and reads bounded answers.
pub trait UpstreamConnector: Send + Sync {
    /// The `kind` of the routes it serves.
    fn kind(&self) -> AcquirerKind;

    fn create_payment<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        request: NewUpstreamPayment<'a>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>>;

    fn get_payment<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>>;

    /// Takes the held money of a two-stage payment.
    fn capture<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        amount: Money,
        idempotence_key: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>>;

    /// Releases the held money of a two-stage payment.
    fn cancel<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        idempotence_key: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamPayment, UpstreamError>>;

    fn create_refund<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        payment_id: &'a str,
        amount: Money,
        idempotence_key: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamRefundView, UpstreamError>>;

    fn get_refund<'a>(
        &'a self,
        route: &'a AcquirerConfig,
        id: &'a str,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<UpstreamRefundView, UpstreamError>>;

    /// Reads whom a notification posted to `/notifications/{kind}/{route}` is about; `None`
    /// for a body that is not one of the provider's notifications.
    fn notification_subject(&self, body: &[u8]) -> Option<NotificationSubject>;
}

/// Why money could not go through a route.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No such route is configured (any more), or no connector speaks its kind.
    #[error("the live route `{0}` is not configured")]
    UnknownRoute(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The core refused (not refundable, too much, a payment not sent to a route …).
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// The provider's report does not describe this payment: nothing moved.
    #[error("the provider's report does not match the payment: {0}")]
    Mismatch(#[from] UpstreamMismatch),
    /// The caller's idempotency key was used for another refund.
    #[error("the idempotency key was used for another refund")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The route a payment goes through and the connector speaking to it.
fn route_of<'a>(
    state: &'a AppState,
    name: &str,
) -> Result<(&'a AcquirerConfig, Arc<dyn UpstreamConnector>), RouteError> {
    let route = state
        .config
        .acquirer(name)
        .ok_or_else(|| RouteError::UnknownRoute(name.to_owned()))?;
    let connector = state
        .registry
        .upstream_connector(route.kind)
        .ok_or_else(|| RouteError::UnknownRoute(name.to_owned()))?;
    Ok((route, connector))
}

fn deadline(after: Duration) -> Instant {
    Instant::now() + after
}

/// Where the customer goes to pay `payment` through the live route `route_name`: creates the
/// payment at the provider (one per Obol payment, whatever is retried) and records that it is
/// there, choosing `service` first for a payment that has none. For a payment already at the
/// provider, reads it there: its confirmation page while it still waits for the customer,
/// else `None` once its outcome is applied (the caller shows it).
pub async fn send_customer(
    state: &AppState,
    payment: &Payment,
    route_name: &str,
    service: Option<&PaymentService>,
) -> Result<Option<String>, RouteError> {
    if payment.upstream_id.is_some() {
        let (payment, confirmation_url) = sync_payment(state, &payment.id, PAGE_DEADLINE).await?;
        return Ok(confirmation_url.filter(|_| payment.awaits_upstream()));
    }
    let (route, connector) = route_of(state, route_name)?;
    // Decided before the provider is called, so a payment the core would refuse never
    // reaches it.
    let chosen = match (payment.service_id, service) {
        (None, Some(service)) => Some(payment.choose_service(service)?),
        _ => None,
    };
    if !payment.takes_attempts() {
        return Err(RouteError::Payment(PaymentError::NotRoutable));
    }
    let key = payment.upstream_idempotence_key();
    let return_url = format!("{}/hpp/return?cpi={}", state.public_url, payment.id);
    let created = connector
        .create_payment(
            route,
            NewUpstreamPayment {
                amount: payment.amount,
                capture: !payment.manual_capture,
                return_url: &return_url,
                description: payment.description.as_deref(),
                obol_payment_id: payment.id.as_str(),
                idempotence_key: &key,
            },
            deadline(PAGE_DEADLINE),
        )
        .await?;
    // The provider's answer is read as any report of it: a payment it made for another amount
    // or another Obol payment is not where the customer is sent to pay this one.
    if let Err(mismatch) = payment.check_created_upstream(&created.view) {
        tracing::error!(payment = %payment.id, %mismatch, "the provider created a payment that does not match the one asked for; the customer is not sent there");
        return Err(RouteError::Mismatch(mismatch));
    }
    let upstream_id = created.view.id.clone();
    let id = payment.id.clone();
    let route_name = route.route.name.clone();
    let outbox = state.outbox.clone();
    let now = state.clock.now();
    let first_check = now.plus_seconds(upstream_check_delay_seconds(0));
    let logged = (payment.id.clone(), created.view.id.clone());
    let recorded = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let current = payments::get_payment(db, &id)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Payment))?;
                // Two clicks raced to the provider with one key, and it answered both with the
                // same payment: the first recorded it.
                if current.upstream_id.as_deref() == Some(upstream_id.as_str()) {
                    return Ok(current);
                }
                if let Some(chosen) = chosen.filter(|_| current.service_id.is_none()) {
                    outbox
                        .transition(db, &id, chosen, Actor::Customer, now)
                        .await?;
                }
                let event = PaymentEvent::SentUpstream {
                    route: route_name,
                    upstream_id,
                };
                let (payment, _) = outbox
                    .transition(db, &id, event, Actor::Customer, now)
                    .await?;
                store_upstream::schedule_check(db, &id, first_check, 0).await?;
                Ok(payment)
            })
        })
        .await
        .inspect_err(|error| {
            // The payment moved meanwhile (expired, paid another way): the provider's payment
            // waits for a customer who is not sent to it, and ends there unpaid. It names its
            // Obol payment in its metadata, should anyone pay it anyway.
            tracing::error!(payment = %logged.0, upstream = %logged.1, %error, "a payment created at the provider could not be recorded");
        })?;
    // What the provider answered may already be final (a payment it declined at once).
    if created.view.status.is_final() {
        let (payment, url) = sync_payment(state, &recorded.id, PAGE_DEADLINE).await?;
        return Ok(url.filter(|_| payment.awaits_upstream()));
    }
    Ok(created.confirmation_url)
}

/// Reads a payment sent to a route from its provider and applies what the provider says, once;
/// returns the payment as it is now and the provider's confirmation page, if it has one. A
/// payment not waiting for its provider is returned as it is, without a call.
pub async fn sync_payment(
    state: &AppState,
    id: &PaymentId,
    within: Duration,
) -> Result<(Payment, Option<String>), RouteError> {
    let read_id = id.clone();
    let payment = state
        .store
        .read(move |db| Box::pin(async move { payments::get_payment(db, &read_id).await }))
        .await?
        .ok_or(RouteError::Store(StoreError::NotFound(Entity::Payment)))?;
    let (Some(route_name), Some(upstream_id)) = (&payment.route, &payment.upstream_id) else {
        return Ok((payment, None));
    };
    if !payment.awaits_upstream() {
        return Ok((payment, None));
    }
    let (route, connector) = route_of(state, route_name)?;
    let upstream = connector
        .get_payment(route, upstream_id, deadline(within))
        .await?;
    let payment = apply_payment_view(state, id, upstream.view).await?;
    Ok((payment, upstream.confirmation_url))
}

/// Applies the provider's report of a payment in one transaction that re-reads it: what the
/// core decides from the report is persisted with its ledger and callbacks, and a report seen
/// before changes nothing. A payment no longer waiting for its provider leaves the worker's
/// list in the same transaction.
async fn apply_payment_view(
    state: &AppState,
    id: &PaymentId,
    view: UpstreamPaymentView,
) -> Result<Payment, RouteError> {
    let logged = id.clone();
    let id = id.clone();
    let outbox = state.outbox.clone();
    let now = state.clock.now();
    let result = state
        .store
        .write(move |db| {
            Box::pin(async move {
                // Locked, so concurrent reports of one payment are decided one after the other,
                // each on what the one before it left.
                let mut payment = payments::lock_payment(db, &id).await?;
                let events = match payment.upstream_events(&view, now) {
                    Ok(events) => events,
                    Err(mismatch) => return Ok(Err(mismatch)),
                };
                for event in events {
                    payment = outbox
                        .transition(db, &id, event, Actor::Provider, now)
                        .await?
                        .0;
                }
                if !payment.awaits_upstream() {
                    store_upstream::finish_check(db, &id).await?;
                }
                Ok(Ok(payment))
            })
        })
        .await?;
    result.map_err(|mismatch| {
        tracing::error!(payment = %logged, %mismatch, "a provider's report does not match its payment; nothing moved");
        RouteError::Mismatch(mismatch)
    })
}

/// A provider's notification about `subject` on route `route_name`: the payment or refund is
/// read again from the provider and what it says applied. `Ok(false)`: Obol has no such
/// payment (answered 200 and logged by the caller, as SPEC §4 asks).
pub async fn notified(
    state: &AppState,
    route_name: &str,
    subject: NotificationSubject,
) -> Result<bool, RouteError> {
    let (route, connector) = route_of(state, route_name)?;
    match subject {
        NotificationSubject::Payment(upstream_id) => {
            let Some(payment) = payment_at(state, route_name, &upstream_id).await? else {
                return Ok(false);
            };
            match sync_payment(state, &payment.id, REQUEST_DEADLINE).await {
                Ok(_) => Ok(true),
                Err(RouteError::Upstream(UpstreamError::Refused { .. })) => Ok(false),
                Err(error) => Err(error),
            }
        }
        NotificationSubject::Refund(refund_id) => {
            let view = match connector
                .get_refund(route, &refund_id, deadline(REQUEST_DEADLINE))
                .await
            {
                Ok(view) => view,
                // The provider does not know it (a forged or mistyped id): nothing to do.
                Err(UpstreamError::Refused { .. }) => return Ok(false),
                Err(error) => return Err(error.into()),
            };
            let Some(payment) = payment_at(state, route_name, &view.payment_id).await? else {
                return Ok(false);
            };
            let key_name = route_name.to_owned();
            let refund_upstream = view.id.clone();
            let (payment_id, amount) = (payment.id.clone(), view.amount.minor());
            let known = state
                .store
                .read(move |db| {
                    Box::pin(async move {
                        if let Some(known) =
                            store_upstream::refund_by_upstream_id(db, &key_name, &refund_upstream)
                                .await?
                        {
                            return Ok(Some(known));
                        }
                        // One of Obol's own refunds whose answer was lost: still `requested`,
                        // without the provider's id, for the same amount. It is that refund
                        // (the oldest such), not one made elsewhere.
                        Ok(store_upstream::refunds_of_payment(db, &payment_id)
                            .await?
                            .into_iter()
                            .find(|refund| {
                                refund.upstream_id.is_none()
                                    && refund.state == UpstreamRefundState::Requested
                                    && refund.amount_minor == amount
                            }))
                    })
                })
                .await?;
            match known {
                Some(refund) if refund.upstream_id.is_some() => {
                    apply_refund_view(state, &refund, Ok(view)).await?
                }
                // Possibly Obol's own refund whose answer was lost: sent again with its key,
                // the provider answers what that key made. Only if that is the notified refund
                // is it this one; otherwise the notified one was made elsewhere.
                Some(candidate) => {
                    retry_refund(state, &candidate).await?;
                    let (route, id) = (route_name.to_owned(), view.id.clone());
                    let adopted = state
                        .store
                        .read(move |db| {
                            Box::pin(async move {
                                store_upstream::refund_by_upstream_id(db, &route, &id).await
                            })
                        })
                        .await?;
                    if adopted.is_none() {
                        book_outside_refund(state, &payment, route_name, view).await?;
                    }
                }
                None => book_outside_refund(state, &payment, route_name, view).await?,
            }
            Ok(true)
        }
    }
}

async fn payment_at(
    state: &AppState,
    route: &str,
    upstream_id: &str,
) -> StoreResult<Option<Payment>> {
    let (route, upstream_id) = (route.to_owned(), upstream_id.to_owned());
    state
        .store
        .read(move |db| {
            Box::pin(async move {
                store_upstream::payment_by_upstream_id(db, &route, &upstream_id).await
            })
        })
        .await
}

/// A refund the provider made that Obol did not ask for (made in the provider's own
/// dashboard): the money left, so it is booked, within what is left to refund.
async fn book_outside_refund(
    state: &AppState,
    payment: &Payment,
    route_name: &str,
    view: UpstreamRefundView,
) -> Result<(), RouteError> {
    if view.status != UpstreamRefundStatus::Succeeded {
        return Ok(());
    }
    let refund = UpstreamRefund {
        idempotence_key: format!("provider-{}", view.id),
        payment_id: payment.id.clone(),
        route: route_name.to_owned(),
        amount_minor: view.amount.minor(),
        state: UpstreamRefundState::Pending,
        upstream_id: Some(view.id.clone()),
        requested_by: "provider".to_owned(),
        booked: false,
        tries: 0,
        next_try_at: None,
        created_at: state.clock.now(),
    };
    let row = refund.clone();
    let inserted = state
        .store
        .write(move |db| {
            Box::pin(async move {
                if store_upstream::refund_by_key(db, &row.idempotence_key)
                    .await?
                    .is_none()
                {
                    store_upstream::insert_refund(db, &row, row.created_at).await?;
                }
                store_upstream::refund_by_key(db, &row.idempotence_key).await
            })
        })
        .await?;
    match inserted {
        Some(refund) => apply_refund_view(state, &refund, Ok(view)).await,
        None => Ok(()),
    }
}

/// Where a refund asked for through a door stands after its first try.
#[derive(Debug)]
pub enum RefundOutcome {
    /// The provider refunded it and it is booked: the payment after it.
    Booked(Box<Payment>),
    /// The provider has not finished (or its answer was lost): it is tried and read again
    /// until it has, and booked then.
    Pending(Box<Payment>),
}

/// The refund key a caller's own idempotency key (scope and key) stands for: the same request
/// key always names the same refund at the provider.
pub fn refund_key_of(request: &KeyedRequest) -> String {
    let digest = Sha256::digest(
        format!("refund:{}:{}", request.scope.as_str(), request.key.as_str()).as_bytes(),
    );
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Refunds `amount` (`None`: all that is left) of a payment settled by a live route: checked
/// by the core against what is left less what is already on its way, recorded with its
/// idempotence key, sent to the provider, and booked when the provider answers `succeeded`.
/// With the caller's idempotency key (`request`), a repeat returns the refund the first made
/// as it stands now; the same key for another payment or amount is refused.
pub async fn refund(
    state: &AppState,
    id: &PaymentId,
    amount: Option<Money>,
    requested_by: &Actor,
    request: Option<&KeyedRequest>,
) -> Result<RefundOutcome, RouteError> {
    let now = state.clock.now();
    let key = match request {
        Some(request) => refund_key_of(request),
        None => Uuid::generate_v4(&mut OsRandom).as_str().to_owned(),
    };
    // A route no longer configured refuses before anything is recorded: a refund the caller
    // is told failed is never made later.
    let route_name = state
        .store
        .read({
            let id = id.clone();
            move |db| Box::pin(async move { payments::get_payment(db, &id).await })
        })
        .await?
        .and_then(|payment| payment.route.clone());
    if let Some(name) = &route_name {
        route_of(state, name)?;
    }
    let (payment_id, requested) = (id.clone(), requested_by.encode());
    let row_key = key.clone();
    let recorded = state
        .store
        .write(move |db| {
            Box::pin(async move {
                // The payment's row is locked for the check, so two refunds racing here are
                // checked one after the other.
                let payment = payments::lock_payment(db, &payment_id).await?;
                if let Some(earlier) = store_upstream::refund_by_key(db, &row_key).await? {
                    let same = earlier.payment_id == payment_id
                        && amount.is_none_or(|amount| amount.minor() == earlier.amount_minor);
                    return Ok(Err(if same { Repeat::Same } else { Repeat::Other }));
                }
                let in_flight = store_upstream::refunds_of_payment(db, &payment_id)
                    .await?
                    .iter()
                    .filter(|refund| refund.state.in_flight() && !refund.booked)
                    .map(|refund| refund.amount_minor)
                    .sum::<i64>();
                let in_flight = Money::from_minor(in_flight, payment.amount.currency())
                    .map_err(|error| StoreError::Payment(error.into()))?;
                let amount = match payment.upstream_refund_amount(amount, in_flight) {
                    Ok(amount) => amount,
                    Err(error) => return Ok(Err(Repeat::Refused(error))),
                };
                let route = payment
                    .route
                    .clone()
                    .ok_or(StoreError::Payment(PaymentError::NotRoutable))?;
                let refund = UpstreamRefund {
                    idempotence_key: row_key,
                    payment_id: payment_id.clone(),
                    route,
                    amount_minor: amount.minor(),
                    state: UpstreamRefundState::Requested,
                    upstream_id: None,
                    requested_by: requested,
                    booked: false,
                    tries: 1,
                    next_try_at: None,
                    created_at: now,
                };
                // Should this node die before the answer is recorded, another tries again
                // with the same key once the lease runs out.
                store_upstream::insert_refund(db, &refund, now.plus_seconds(LEASE_SECONDS)).await?;
                Ok(Ok((payment, refund, amount)))
            })
        })
        .await?;
    let (payment, refund, amount) = match recorded {
        Ok(recorded) => recorded,
        Err(Repeat::Refused(error)) => return Err(RouteError::Payment(error)),
        Err(Repeat::Other) => return Err(RouteError::KeyReused),
        Err(Repeat::Same) => return refund_as_it_stands(state, id, key).await,
    };
    let upstream_payment = payment
        .upstream_id
        .clone()
        .ok_or(RouteError::Payment(PaymentError::NotRoutable))?;
    let (route, connector) = route_of(state, &refund.route)?;
    let answer = connector
        .create_refund(
            route,
            &upstream_payment,
            amount,
            &key,
            deadline(REQUEST_DEADLINE),
        )
        .await;
    let refused = match &answer {
        Err(error) if !error.outcome_unknown() => Some(error.clone()),
        _ => None,
    };
    apply_refund_view(state, &refund, answer).await?;
    if let Some(error) = refused {
        return Err(RouteError::Upstream(error));
    }
    refund_as_it_stands(state, id, key).await
}

/// What a refund request found before it recorded anything.
enum Repeat {
    /// The core refused the refund.
    Refused(PaymentError),
    /// The caller's key made this same refund before.
    Same,
    /// The caller's key made another refund before.
    Other,
}

/// The payment and whether the refund under `key` is booked.
async fn refund_as_it_stands(
    state: &AppState,
    id: &PaymentId,
    key: String,
) -> Result<RefundOutcome, RouteError> {
    let id = id.clone();
    let (payment, refund_now) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let payment = payments::get_payment(db, &id)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Payment))?;
                let refund = store_upstream::refund_by_key(db, &key).await?;
                Ok((payment, refund))
            })
        })
        .await?;
    let booked = refund_now.is_some_and(|refund| refund.booked);
    Ok(if booked {
        RefundOutcome::Booked(Box::new(payment))
    } else {
        RefundOutcome::Pending(Box::new(payment))
    })
}

/// Records the provider's answer about a refund (or the failure to get one) and books it,
/// once, when the provider says it succeeded.
async fn apply_refund_view(
    state: &AppState,
    refund: &UpstreamRefund,
    answer: Result<UpstreamRefundView, UpstreamError>,
) -> Result<(), RouteError> {
    let now = state.clock.now();
    let retry_at = now.plus_seconds(refund_retry_seconds(refund.tries));
    let refund = refund.clone();
    let outbox = state.outbox.clone();
    let mismatch = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let key = refund.idempotence_key.as_str();
                let view = match answer {
                    Ok(view) => view,
                    Err(error) if error.outcome_unknown() => {
                        tracing::warn!(%error, refund = key, "a refund's answer from the provider is unknown; it will be sent again");
                        let state = refund.state;
                        store_upstream::update_refund(db, key, state, None, Some(retry_at), now)
                            .await?;
                        return Ok(None);
                    }
                    Err(error) => {
                        tracing::warn!(%error, refund = key, "the provider refused a refund");
                        store_upstream::update_refund(
                            db,
                            key,
                            UpstreamRefundState::Canceled,
                            None,
                            None,
                            now,
                        )
                        .await?;
                        return Ok(None);
                    }
                };
                let payment = payments::lock_payment(db, &refund.payment_id).await?;
                // The provider's id of this refund, once known, never changes: an answer naming
                // another refund is not about this one.
                let known_id = store_upstream::refund_by_key(db, key)
                    .await?
                    .and_then(|stored| stored.upstream_id);
                if payment.upstream_id.as_deref() != Some(view.payment_id.as_str())
                    || view.amount.minor() != refund.amount_minor
                    || view.amount.currency() != payment.amount.currency()
                    || known_id.is_some_and(|known| known != view.id)
                {
                    store_upstream::update_refund(
                        db,
                        key,
                        UpstreamRefundState::Pending,
                        None,
                        None,
                        now,
                    )
                    .await?;
                    return Ok(Some(refund.payment_id.clone()));
                }
                let (state, next) = match view.status {
                    UpstreamRefundStatus::Pending => (UpstreamRefundState::Pending, Some(retry_at)),
                    UpstreamRefundStatus::Succeeded => (UpstreamRefundState::Succeeded, None),
                    UpstreamRefundStatus::Canceled => (UpstreamRefundState::Canceled, None),
                };
                // Money the provider returned beyond what is left here (a refund also made in
                // its own dashboard) cannot be booked: it waits for an operator, out of the
                // retries, still counted as on its way so nothing more is refunded meanwhile.
                if state == UpstreamRefundState::Succeeded && payment.check_refund(view.amount).is_err() {
                    store_upstream::update_refund(db, key, UpstreamRefundState::Pending, Some(&view.id), None, now)
                        .await?;
                    return Ok(Some(refund.payment_id.clone()));
                }
                store_upstream::update_refund(db, key, state, Some(&view.id), next, now).await?;
                if state == UpstreamRefundState::Succeeded
                    && store_upstream::mark_refund_booked(db, key, now).await?
                {
                    let event = PaymentEvent::Refunded {
                        amount: view.amount,
                    };
                    outbox
                        .transition(db, &refund.payment_id, event, Actor::Provider, now)
                        .await?;
                }
                Ok(None)
            })
        })
        .await?;
    if let Some(payment) = mismatch {
        tracing::error!(payment = %payment, "the provider's refund does not match the one asked for; nothing booked, it needs an operator");
    }
    Ok(())
}

fn refund_retry_seconds(tries: i64) -> i64 {
    let doublings = u32::try_from(tries.clamp(1, 8) - 1).unwrap_or(0);
    (REFUND_RETRY_SECONDS << doublings).min(3_600)
}

/// Tries a refund that is due again: sent again with its key when the provider's answer was
/// never recorded, else read again.
pub async fn retry_refund(state: &AppState, refund: &UpstreamRefund) -> Result<(), RouteError> {
    let (route, connector) = route_of(state, &refund.route)?;
    let answer = match &refund.upstream_id {
        Some(upstream_id) => {
            connector
                .get_refund(route, upstream_id, deadline(REQUEST_DEADLINE))
                .await
        }
        None => {
            let payment_id = refund.payment_id.clone();
            let payment = state
                .store
                .read(move |db| {
                    Box::pin(async move { payments::get_payment(db, &payment_id).await })
                })
                .await?
                .ok_or(RouteError::Store(StoreError::NotFound(Entity::Payment)))?;
            let upstream_payment = payment
                .upstream_id
                .clone()
                .ok_or(RouteError::Payment(PaymentError::NotRoutable))?;
            let amount = Money::from_minor(refund.amount_minor, payment.amount.currency())
                .map_err(PaymentError::from)?;
            connector
                .create_refund(
                    route,
                    &upstream_payment,
                    amount,
                    &refund.idempotence_key,
                    deadline(REQUEST_DEADLINE),
                )
                .await
        }
    };
    apply_refund_view(state, refund, answer).await
}

/// Captures (`take`) or cancels the held money of a two-stage payment settled by a live route:
/// the core decides whether it may, the provider does it, and its answer is applied.
pub async fn settle_hold(
    state: &AppState,
    payment: &Payment,
    take: bool,
) -> Result<Payment, RouteError> {
    payment.settle_hold(take)?;
    let (Some(route_name), Some(upstream_id)) = (&payment.route, &payment.upstream_id) else {
        return Err(RouteError::Payment(PaymentError::NotRoutable));
    };
    let (route, connector) = route_of(state, route_name)?;
    let key = format!(
        "{}-{}",
        payment.upstream_idempotence_key(),
        if take { "capture" } else { "cancel" }
    );
    let answer = if take {
        connector
            .capture(
                route,
                upstream_id,
                payment.amount,
                &key,
                deadline(REQUEST_DEADLINE),
            )
            .await?
    } else {
        connector
            .cancel(route, upstream_id, &key, deadline(REQUEST_DEADLINE))
            .await?
    };
    apply_payment_view(state, &payment.id, answer.view).await
}

/// Due work of the reconciliation worker, done once: every payment still pending at its
/// provider whose look is due is read again (and asked about later, backing off, while it
/// stays pending), and every refund due another try is tried. Returns how many were handled.
pub async fn reconcile_due(state: &AppState, batch: i64) -> StoreResult<usize> {
    let now = state.clock.now();
    let lease = now.plus_seconds(LEASE_SECONDS);
    let checks = state
        .store
        .read(move |db| Box::pin(async move { store_upstream::due_checks(db, now, batch).await }))
        .await?;
    let mut handled = 0;
    for check in checks {
        let claimed = check.clone();
        let taken = state
            .store
            .write(move |db| {
                Box::pin(async move { store_upstream::claim_check(db, &claimed, lease).await })
            })
            .await?;
        if !taken {
            continue;
        }
        handled += 1;
        let result = sync_payment(state, &check.payment_id, REQUEST_DEADLINE).await;
        let still_waiting = match &result {
            Ok((payment, _)) => payment.awaits_upstream(),
            Err(error) => {
                tracing::warn!(payment = %check.payment_id, %error, "reconciliation could not read a payment from its provider; it will ask again");
                true
            }
        };
        let id = check.payment_id.clone();
        let checks_made = check.checks + 1;
        let delay = upstream_check_delay_seconds(u32::try_from(checks_made).unwrap_or(u32::MAX));
        let next = state.clock.now().plus_seconds(delay);
        state
            .store
            .write(move |db| {
                Box::pin(async move {
                    let open = payments::get_payment(db, &id)
                        .await?
                        .is_some_and(|payment| payment.awaits_upstream());
                    if still_waiting && open {
                        store_upstream::schedule_check(db, &id, next, checks_made).await
                    } else {
                        store_upstream::finish_check(db, &id).await
                    }
                })
            })
            .await?;
    }
    let refunds = state
        .store
        .read(move |db| Box::pin(async move { store_upstream::due_refunds(db, now, batch).await }))
        .await?;
    for refund in refunds {
        let claimed = refund.clone();
        let taken = state
            .store
            .write(move |db| {
                Box::pin(async move { store_upstream::claim_refund(db, &claimed, lease).await })
            })
            .await?;
        if !taken {
            continue;
        }
        handled += 1;
        let tried = UpstreamRefund {
            tries: refund.tries + 1,
            ..refund
        };
        if let Err(error) = retry_refund(state, &tried).await {
            tracing::warn!(refund = %tried.idempotence_key, %error, "a refund could not be tried again at its provider; it will be");
        }
    }
    Ok(handled)
}
