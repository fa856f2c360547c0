//! Payments: one record serves every dialect. Its status moves only through [`Payment::plan`],
//! which decides a [`Transition`] (new status, history row, ledger transaction) without
//! touching anything; storage then persists the transition in one database transaction,
//! guarded so that two concurrent moves of one payment cannot both succeed.

use crate::catalog::PaymentService;
use crate::error::{Coded, ErrorCode, codes};
use crate::fee::FeeSchedule;
use crate::ids::{
    CustomerAccountId, CustomerId, DocumentNumber, ManagerId, MerchantId, OrderNumber, PaymentId,
    PaymentMethodId, PaymentNumber, PaymentServiceId, ResellerId,
};
use crate::ledger::{
    AccountCode, Clearing, LedgerError, LedgerTransaction, Posting, TransactionKind,
};
use crate::mode::{Mode, OnlineRoute};
use crate::money::{Money, MoneyError};
use crate::time::Timestamp;

mod bookings;
pub use bookings::{ExpiryWindow, ExternalSettlement};
mod draft;
mod rules;
mod upstream;
mod vocabulary;

pub use draft::{DraftError, PaymentDraftBuilder};
pub use rules::{RelayOrigin, RelayedRefund, UNPAID_LIFETIME_SECONDS};
pub use upstream::{
    UPSTREAM_GRACE_SECONDS, UpstreamMismatch, UpstreamPaymentView, UpstreamRefundStatus,
    UpstreamStatus, upstream_check_delay_seconds,
};
pub use vocabulary::{Actor, CardPayload, Flow, PaymentStatus, Resolution, ReturnUrls, Source};

/// What a payment is, field by field (SPEC §2 "Payments"): read through [`Payment`], which
/// only the core changes, and handed to [`Payment::restore`] by storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: PaymentId,
    pub number: PaymentNumber,
    pub document_id: DocumentNumber,
    pub order_id: OrderNumber,
    pub reseller_id: ResellerId,
    pub merchant_id: Option<MerchantId>,
    pub customer_account_id: Option<CustomerAccountId>,
    pub customer_id: Option<CustomerId>,
    /// The merchant's own id, unique per merchant (Paymega's `reference_id`).
    pub reference_id: Option<String>,
    /// An id of the merchant's that is not unique (Softline's `payment_id`).
    pub external_id: Option<String>,
    pub amount: Money,
    pub service_id: Option<PaymentServiceId>,
    pub method_id: Option<PaymentMethodId>,
    pub flow: Flow,
    pub status: PaymentStatus,
    pub resolution: Resolution,
    pub description: Option<String>,
    /// Merchant metadata as JSON text, stored and returned as given.
    pub metadata: Option<String>,
    /// The service's extra fields as given (JSON text).
    pub service_fields: Option<String>,
    /// Gateway options as given (JSON text).
    pub gateway_options: Option<String>,
    /// Hosted-page options (shown and hidden methods, theme) as JSON text.
    pub page_options: Option<String>,
    /// What a dialect keeps to answer as its seed does (Softline's method code, customer,
    /// `additional_data`), as JSON text the core never reads.
    pub dialect_attributes: Option<String>,
    pub return_urls: ReturnUrls,
    pub callback_url: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub fee: Money,
    pub deposit: Money,
    pub processed_amount: Money,
    pub refunded_amount: Money,
    pub card: Option<CardPayload>,
    pub source: Source,
    pub locale: Option<String>,
    pub test_mode: bool,
    pub requester_ip: Option<String>,
    pub completed_by: Option<ManagerId>,
    pub completed_method_id: Option<PaymentMethodId>,
    /// Two-stage: an approved card is only authorized (money held); a capture takes it.
    pub manual_capture: bool,
    /// The live route (an upstream provider, SPEC §4 "Live routes") the customer was sent
    /// to, by its configured name; its money books against `clearing:{route}`.
    pub route: Option<String>,
    /// The payment's id at that route's provider.
    pub upstream_id: Option<String>,
    /// When the card was authorized, for a two-stage payment waiting for its capture.
    pub authorized_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub processed_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// Incremented by every transition; storage updates only the version it read.
    pub version: i64,
}

/// A payment. Its fields are read through [`PaymentRecord`] (`payment.status`); they change
/// only through [`Payment::plan`] and [`Payment::apply`], so its status, amounts and version
/// always went through the transition table and its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    record: PaymentRecord,
}

impl std::ops::Deref for Payment {
    type Target = PaymentRecord;

    fn deref(&self) -> &PaymentRecord {
        &self.record
    }
}

impl Payment {
    /// A payment as storage reads it back: storage only, which wrote nothing but what
    /// [`Payment::create`] and [`Payment::apply`] made.
    pub fn restore(record: PaymentRecord) -> Payment {
        Payment { record }
    }

    /// The record, to take fields out by value.
    pub fn into_record(self) -> PaymentRecord {
        self.record
    }

    /// Test or live: every ledger transaction of this payment books into this mode's accounts.
    pub fn mode(&self) -> Mode {
        Mode::of_test_flag(self.test_mode)
    }

    /// Who settles it when its customer pays online: the sandbox for a test payment; for a
    /// live one the live route serving it (`live_route`, from the configuration), else
    /// nobody (SPEC §2 "Test and live", §4 "Live routes").
    pub fn online_route(&self, live_route: Option<&str>) -> OnlineRoute {
        OnlineRoute::choose(self.mode(), live_route)
    }
}

/// Everything needed to create a payment, checked by [`Payment::create`]. Build one with
/// [`PaymentDraft::builder`] or [`PaymentDraft::for_merchant`], which check it first.
#[derive(Debug, Clone)]
pub struct PaymentDraft {
    pub reseller_id: ResellerId,
    pub merchant_id: Option<MerchantId>,
    pub customer_account_id: Option<CustomerAccountId>,
    pub customer_id: Option<CustomerId>,
    pub reference_id: Option<String>,
    pub external_id: Option<String>,
    pub amount: Money,
    pub flow: Flow,
    pub description: Option<String>,
    pub metadata: Option<String>,
    pub service_fields: Option<String>,
    pub gateway_options: Option<String>,
    pub page_options: Option<String>,
    pub dialect_attributes: Option<String>,
    pub return_urls: ReturnUrls,
    pub callback_url: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub source: Source,
    pub locale: Option<String>,
    pub test_mode: bool,
    pub requester_ip: Option<String>,
    /// Two-stage: hold the money when the card is approved, take it at capture.
    pub manual_capture: bool,
}

/// The identifiers a new payment receives from storage and randomness.
#[derive(Debug, Clone)]
pub struct PaymentIdentity {
    pub id: PaymentId,
    pub number: PaymentNumber,
    pub document_id: DocumentNumber,
    pub order_id: OrderNumber,
}

/// Longest `reference_id` / `external_id` accepted.
pub const REFERENCE_LENGTH_MAX: usize = 255;
/// Longest description accepted.
pub const DESCRIPTION_LENGTH_MAX: usize = 1024;

/// Something that happens to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The customer started paying (chose a service, opened the card form).
    AttemptStarted {
        service_id: Option<PaymentServiceId>,
        method_id: Option<PaymentMethodId>,
    },
    /// The customer chose a service on the page for a payment created without one: the fee is
    /// the chosen service's (see [`Payment::choose_service`]).
    ServiceChosen {
        service_id: PaymentServiceId,
        method_id: PaymentMethodId,
        fee: Money,
        deposit: Money,
    },
    /// The acquirer took the money (for a two-stage payment: the merchant captured it).
    Succeeded { card: Option<CardPayload> },
    /// The acquirer held the money of a two-stage payment; a capture (`Succeeded`) takes it,
    /// a cancellation (`Failed`) releases it.
    Authorized { card: Option<CardPayload> },
    /// The attempt failed, or the payment was cancelled.
    Failed {
        reason: Resolution,
        card: Option<CardPayload>,
    },
    /// Its time ran out unpaid.
    Expired,
    /// Its life ended unpaid (Softline's 90 days).
    Deleted,
    /// A manager recorded the money as received with an offline method.
    CompletedByManager {
        manager_id: ManagerId,
        method_id: PaymentMethodId,
    },
    /// Part or all of the processed money returned.
    Refunded { amount: Money },
    /// The customer was sent to a live route's provider, where the payment `upstream_id` now
    /// waits for them (SPEC §4 "Live routes"); from here on only the provider's reports move it.
    SentUpstream { route: String, upstream_id: String },
}

/// How long a two-stage payment's authorization holds the money before it expires (seven
/// days, as card holds and YooKassa's `waiting_for_capture` do).
pub const HOLD_LIFETIME_SECONDS: i64 = 7 * 86_400;

impl PaymentEvent {
    /// An approved card: the money taken, or held when the payment is captured later.
    pub fn approved(manual_capture: bool, card: Option<CardPayload>) -> PaymentEvent {
        if manual_capture {
            PaymentEvent::Authorized { card }
        } else {
            PaymentEvent::Succeeded { card }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            PaymentEvent::AttemptStarted { .. } => "attempt_started",
            PaymentEvent::ServiceChosen { .. } => "service_chosen",
            PaymentEvent::Succeeded { .. } => "succeeded",
            PaymentEvent::Authorized { .. } => "authorized",
            PaymentEvent::Failed { .. } => "failed",
            PaymentEvent::Expired => "expired",
            PaymentEvent::Deleted => "deleted",
            PaymentEvent::CompletedByManager { .. } => "completed_by_manager",
            PaymentEvent::Refunded { .. } => "refunded",
            PaymentEvent::SentUpstream { .. } => "sent_upstream",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("a payment in status {from} cannot go through {event}")]
    TransitionNotAllowed {
        from: &'static str,
        event: &'static str,
    },
    #[error("the refund exceeds what is left to refund")]
    RefundExceedsProcessed,
    #[error("the refund amount must be positive and in the payment's currency")]
    InvalidRefundAmount,
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Service(#[from] crate::catalog::ServiceError),
    #[error("expiry is outside the allowed window")]
    ExpiryOutOfBounds,
    /// Completion with money received outside Obol needs an offline method.
    #[error("the payment method is not an offline method")]
    MethodNotOffline,
    /// A capture takes the whole held amount; the core has no partial capture.
    #[error("only the whole amount can be captured")]
    PartialCapture,
    /// The sandbox acquirer (its test cards and `test` method) was asked to settle a live
    /// payment: test money never pays for a live one.
    #[error("a live payment cannot be settled by the sandbox")]
    SandboxSettlesTestOnly,
    /// Only a live payment goes to a live route, once, and only while it takes attempts.
    #[error("the payment cannot be sent to a live route")]
    NotRoutable,
}

impl Coded for PaymentError {
    fn code(&self) -> ErrorCode {
        match self {
            PaymentError::TransitionNotAllowed { .. } => codes::TRANSITION_NOT_ALLOWED,
            PaymentError::RefundExceedsProcessed => codes::REFUND_EXCEEDS_PROCESSED,
            PaymentError::InvalidRefundAmount
            | PaymentError::TooLong(_)
            | PaymentError::ExpiryOutOfBounds => codes::FIELD_INVALID,
            PaymentError::MethodNotOffline => codes::METHOD_NOT_FOUND,
            PaymentError::PartialCapture => codes::PARTIAL_CAPTURE,
            PaymentError::SandboxSettlesTestOnly | PaymentError::NotRoutable => {
                codes::TRANSITION_NOT_ALLOWED
            }
            PaymentError::Money(error) => error.code(),
            PaymentError::Ledger(error) => error.code(),
            PaymentError::Service(error) => error.code(),
        }
    }
}

/// What a decided change of a payment says, field by field; read through [`Transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionFields {
    pub payment_id: PaymentId,
    pub event: PaymentEvent,
    pub from: PaymentStatus,
    pub to: PaymentStatus,
    pub resolution: Resolution,
    pub actor: Actor,
    pub at: Timestamp,
    /// The version the decision was made on; persisting fails if the row moved since.
    pub expected_version: i64,
    pub ledger: Option<LedgerTransaction>,
}

/// How a payment ended for its customer (see [`Payment::customer_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerOutcome {
    Succeeded,
    Pending,
    Failed,
}

/// A decided change of a payment, ready to be persisted. Only [`Payment::plan`] makes one, so
/// [`Payment::apply`] only ever applies what the transition table and its checks allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    fields: TransitionFields,
}

impl std::ops::Deref for Transition {
    type Target = TransitionFields;

    fn deref(&self) -> &TransitionFields {
        &self.fields
    }
}

/// The allowed moves (SPEC §2), as a table that tests enumerate.
pub fn allowed_target(from: PaymentStatus, event: &PaymentEvent) -> Option<PaymentStatus> {
    use PaymentStatus::*;
    match (from, event) {
        (Created, PaymentEvent::AttemptStarted { .. }) => Some(Pending),
        (Created, PaymentEvent::ServiceChosen { .. }) => Some(Pending),
        (Created | Pending, PaymentEvent::SentUpstream { .. }) => Some(Pending),
        (Pending, PaymentEvent::AttemptStarted { .. }) => Some(Pending),
        (Pending, PaymentEvent::Succeeded { .. }) => Some(Processed),
        (Pending, PaymentEvent::Authorized { .. }) => Some(Pending),
        (Created | Pending, PaymentEvent::Failed { .. }) => Some(Failed),
        (Created | Pending, PaymentEvent::Expired) => Some(Expired),
        // Softline's 90 days also end a payment that failed and was never paid.
        (Expired | Failed, PaymentEvent::Deleted) => Some(Deleted),
        (Created | Pending | Expired, PaymentEvent::CompletedByManager { .. }) => Some(Processed),
        (Processed | PartiallyRefunded, PaymentEvent::Refunded { .. }) => Some(PartiallyRefunded),
        _ => None,
    }
}

impl Payment {
    /// A new payment from a checked draft. With a service, the amount must lie within its
    /// limits, the fee comes from its schedule, and the payment starts `pending` (an attempt
    /// is under way); without one it starts `created` and is free of fees.
    pub fn create(
        draft: PaymentDraft,
        identity: PaymentIdentity,
        service: Option<&PaymentService>,
        now: Timestamp,
    ) -> Result<Payment, PaymentError> {
        let currency = draft.amount.currency();
        if draft
            .reference_id
            .as_ref()
            .is_some_and(|reference| reference.chars().count() > REFERENCE_LENGTH_MAX)
        {
            return Err(PaymentError::TooLong("reference_id"));
        }
        if draft
            .external_id
            .as_ref()
            .is_some_and(|reference| reference.chars().count() > REFERENCE_LENGTH_MAX)
        {
            return Err(PaymentError::TooLong("external_id"));
        }
        if draft
            .description
            .as_ref()
            .is_some_and(|description| description.chars().count() > DESCRIPTION_LENGTH_MAX)
        {
            return Err(PaymentError::TooLong("description"));
        }
        let fee_schedule = match service {
            Some(service) => {
                // A zero-amount card verification (a recurring parent) is below every service's
                // minimum by design; it moves no money.
                if !(draft.flow == Flow::Verify && draft.amount.is_zero()) {
                    service.check_amount(draft.amount)?;
                }
                service.fee
            }
            None => FeeSchedule::free(),
        };
        let breakdown = fee_schedule.compute(draft.amount)?;
        let zero = Money::zero(currency)?;
        Ok(Payment::restore(PaymentRecord {
            id: identity.id,
            number: identity.number,
            document_id: identity.document_id,
            order_id: identity.order_id,
            reseller_id: draft.reseller_id,
            merchant_id: draft.merchant_id,
            customer_account_id: draft.customer_account_id,
            customer_id: draft.customer_id,
            reference_id: draft.reference_id,
            external_id: draft.external_id,
            amount: draft.amount,
            service_id: service.map(|service| service.id),
            method_id: service.map(|service| service.method_id),
            flow: draft.flow,
            status: if service.is_some() {
                PaymentStatus::Pending
            } else {
                PaymentStatus::Created
            },
            resolution: Resolution::Ok,
            description: draft.description,
            metadata: draft.metadata,
            service_fields: draft.service_fields,
            gateway_options: draft.gateway_options,
            page_options: draft.page_options,
            dialect_attributes: draft.dialect_attributes,
            return_urls: draft.return_urls,
            callback_url: draft.callback_url,
            expires_at: draft.expires_at,
            fee: breakdown.fee,
            deposit: breakdown.deposit,
            processed_amount: zero,
            refunded_amount: zero,
            card: None,
            source: draft.source,
            locale: draft.locale,
            test_mode: draft.test_mode,
            requester_ip: draft.requester_ip,
            completed_by: None,
            completed_method_id: None,
            manual_capture: draft.manual_capture,
            route: None,
            upstream_id: None,
            authorized_at: None,
            created_at: now,
            updated_at: now,
            processed_at: None,
            closed_at: None,
            version: 0,
        }))
    }

    /// Decides what `event` does to this payment, without changing it.
    pub fn plan(
        &self,
        event: PaymentEvent,
        actor: Actor,
        now: Timestamp,
    ) -> Result<Transition, PaymentError> {
        let not_allowed = || PaymentError::TransitionNotAllowed {
            from: self.status.as_str(),
            event: event.name(),
        };
        let mut to = allowed_target(self.status, &event).ok_or_else(not_allowed)?;
        // A payment relayed or sent to an upstream provider moves only as the provider
        // reports: no door of Obol's may pay, complete, expire or refund it on its own (a
        // refund goes to the provider first and is booked from its answer). Only the end of
        // an unpaid payment's life (Softline's 90 days), which moves no money, is Obol's own.
        if self.moves_upstream()
            && actor != Actor::Provider
            && !matches!(event, PaymentEvent::Deleted)
        {
            return Err(not_allowed());
        }
        if let PaymentEvent::SentUpstream { route, upstream_id } = &event {
            let fresh = self.route.is_none() && self.upstream_id.is_none();
            if self.mode() != Mode::Live
                || !fresh
                || !self.takes_attempts()
                || route.is_empty()
                || upstream_id.is_empty()
            {
                return Err(PaymentError::NotRoutable);
            }
        }
        // Money a card brings in through the sandbox is test money: it settles test payments
        // only, whatever door asked (SPEC §2 "Test and live").
        if matches!(
            event,
            PaymentEvent::Succeeded { .. } | PaymentEvent::Authorized { .. }
        ) && self.clearing() == Clearing::Sandbox
            && self.mode() == Mode::Live
        {
            return Err(PaymentError::SandboxSettlesTestOnly);
        }
        // Two-stage payments: authorized once, then captured; one-stage ones never held.
        match &event {
            PaymentEvent::Authorized { .. }
                if !self.manual_capture || self.authorized_at.is_some() =>
            {
                return Err(not_allowed());
            }
            PaymentEvent::Succeeded { .. }
                if self.manual_capture && self.authorized_at.is_none() =>
            {
                return Err(not_allowed());
            }
            // A held payment is the merchant's to capture or cancel, or the clock's to expire:
            // no new attempt, no decline, no completion by hand.
            PaymentEvent::Succeeded { .. }
            | PaymentEvent::Expired
            | PaymentEvent::Failed {
                reason: Resolution::Canceled,
                ..
            } => {}
            _ if self.waits_for_capture() => return Err(not_allowed()),
            _ => {}
        }
        let mut resolution = Resolution::Ok;
        let mut ledger = None;
        match &event {
            PaymentEvent::Failed { reason, .. } => resolution = *reason,
            PaymentEvent::Expired | PaymentEvent::Deleted => resolution = Resolution::Expired,
            PaymentEvent::Succeeded { .. } => {
                ledger = self.receipt_transaction(self.clearing_account())?
            }
            PaymentEvent::CompletedByManager { .. } => {
                ledger = self.receipt_transaction(AccountCode::clearing(Clearing::Offline))?
            }
            PaymentEvent::Refunded { amount } => {
                to = self.refund_target(*amount)?;
                let clearing = self.clearing_account();
                ledger = Some(LedgerTransaction::new(
                    TransactionKind::Refund,
                    Some(self.id.clone()),
                    self.mode(),
                    vec![
                        Posting {
                            account: self.beneficiary(),
                            amount: amount.negated(),
                        },
                        Posting {
                            account: clearing,
                            amount: *amount,
                        },
                    ],
                )?);
            }
            PaymentEvent::AttemptStarted { .. }
            | PaymentEvent::ServiceChosen { .. }
            | PaymentEvent::Authorized { .. }
            | PaymentEvent::SentUpstream { .. } => {}
        }
        Ok(Transition {
            fields: TransitionFields {
                payment_id: self.id.clone(),
                event,
                from: self.status,
                to,
                resolution,
                actor,
                at: now,
                expected_version: self.version,
                ledger,
            },
        })
    }

    /// Applies a transition decided by [`Payment::plan`] to this in-memory record.
    pub fn apply(&mut self, transition: &Transition) -> Result<(), PaymentError> {
        debug_assert_eq!(
            transition.from, self.status,
            "transition planned on another status"
        );
        self.record.status = transition.to;
        self.record.resolution = transition.resolution;
        self.record.updated_at = transition.at;
        self.record.version += 1;
        match &transition.event {
            PaymentEvent::AttemptStarted {
                service_id,
                method_id,
            } => {
                if service_id.is_some() {
                    self.record.service_id = *service_id;
                }
                if method_id.is_some() {
                    self.record.method_id = *method_id;
                }
            }
            PaymentEvent::ServiceChosen {
                service_id,
                method_id,
                fee,
                deposit,
            } => {
                self.record.service_id = Some(*service_id);
                self.record.method_id = Some(*method_id);
                self.record.fee = *fee;
                self.record.deposit = *deposit;
            }
            PaymentEvent::Succeeded { card } => {
                self.record.processed_amount = self.amount;
                self.record.processed_at = Some(transition.at);
                self.record.closed_at = Some(transition.at);
                if card.is_some() {
                    self.record.card = card.clone();
                }
            }
            PaymentEvent::Authorized { card } => {
                self.record.authorized_at = Some(transition.at);
                // A hold does not last: uncaptured, it expires (and the money is released).
                self.record.expires_at = Some(transition.at.plus_seconds(HOLD_LIFETIME_SECONDS));
                if card.is_some() {
                    self.record.card = card.clone();
                }
            }
            PaymentEvent::Failed { card, .. } => {
                self.record.closed_at = Some(transition.at);
                if card.is_some() {
                    self.record.card = card.clone();
                }
            }
            PaymentEvent::Expired | PaymentEvent::Deleted => {
                self.record.closed_at = Some(transition.at)
            }
            PaymentEvent::CompletedByManager {
                manager_id,
                method_id,
            } => {
                self.record.processed_amount = self.amount;
                self.record.processed_at = Some(transition.at);
                self.record.closed_at = Some(transition.at);
                self.record.completed_by = Some(*manager_id);
                self.record.completed_method_id = Some(*method_id);
            }
            PaymentEvent::Refunded { amount } => {
                self.record.refunded_amount = self.refunded_amount.checked_add(*amount)?
            }
            PaymentEvent::SentUpstream { route, upstream_id } => {
                self.record.route = Some(route.clone());
                self.record.upstream_id = Some(upstream_id.clone());
            }
        }
        Ok(())
    }

    /// What an approved card does to this payment: takes the money, or for a two-stage
    /// payment only holds it until the merchant captures it.
    pub fn approval_event(&self, card: Option<CardPayload>) -> PaymentEvent {
        PaymentEvent::approved(self.manual_capture, card)
    }

    /// The merchant's capture (`take`) or cancellation of a held payment; anything but a
    /// payment waiting for its capture refuses both.
    pub fn settle_hold(&self, take: bool) -> Result<PaymentEvent, PaymentError> {
        if !self.waits_for_capture() {
            return Err(PaymentError::TransitionNotAllowed {
                from: self.status.as_str(),
                event: if take { "capture" } else { "cancel" },
            });
        }
        Ok(if take {
            PaymentEvent::Succeeded { card: None }
        } else {
            PaymentEvent::Failed {
                reason: Resolution::Canceled,
                card: None,
            }
        })
    }

    /// Whether a two-stage payment holds money waiting for its capture.
    pub fn waits_for_capture(&self) -> bool {
        self.manual_capture && self.authorized_at.is_some() && self.status == PaymentStatus::Pending
    }

    /// Whether the customer may still try to pay it (choose a method, enter a card, answer
    /// 3-D Secure): open, and not already holding money for its capture.
    pub fn takes_attempts(&self) -> bool {
        self.status.is_open() && !self.waits_for_capture()
    }

    /// Whether `service`'s test method (the payer picks the outcome) may settle this payment:
    /// only a `test`-flow service, and only for a test payment, so it never settles real money.
    pub fn takes_test_method(&self, service: &PaymentService) -> bool {
        service.flow == crate::catalog::ServiceFlow::Test && self.mode() == Mode::Test
    }

    /// How the payment ended as far as its customer is concerned, which picks the merchant's
    /// return URL: paid (or authorized, for a two-stage payment), still pending, or failed.
    pub fn customer_outcome(&self) -> CustomerOutcome {
        if self.status.is_paid() || self.waits_for_capture() {
            CustomerOutcome::Succeeded
        } else if self.status.is_open() {
            CustomerOutcome::Pending
        } else {
            CustomerOutcome::Failed
        }
    }

    /// The event of choosing `service` for this payment: the amount must fit the service's
    /// currency and limits, and the fee is the service's.
    pub fn choose_service(&self, service: &PaymentService) -> Result<PaymentEvent, PaymentError> {
        service.check_amount(self.amount)?;
        let breakdown = service.fee.compute(self.amount)?;
        Ok(PaymentEvent::ServiceChosen {
            service_id: service.id,
            method_id: service.method_id,
            fee: breakdown.fee,
            deposit: breakdown.deposit,
        })
    }
}

#[cfg(test)]
mod tests;
