//! A manager's completion of a payment with money received outside Obol: by the payment's id
//! (`PATCH`, the whole amount) or by its document number (`POST`, any amount: what does not
//! complete the payment is booked as a correction to the customer's account). The core
//! decides which method may complete ([`PaymentEvent::offline_completion`]) and what an
//! amount settles ([`Payment::settle_external`]); this module reads the wire and applies them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use obol_core::Timestamp;
use obol_core::ids::{ManagerId, PaymentId, PaymentMethodId};
use obol_core::money::{Money, Precision};
use obol_core::payment::{Actor, ExternalSettlement, Payment, PaymentError, PaymentEvent};
use obol_core::tenancy::Permission;
use obol_http::auth::ClientIp;
use obol_http::callbacks::outbox::Outbox;
use obol_http::state::AppState;
use obol_store::Entity;
use obol_store::ops::{audit, ledger, payments};
use obol_store::{Db, StoreError, StoreResult};
use serde_json::{Map, Value};

use crate::auth::{caller, reseller_in_scope};
use crate::errors::ApiError;
use crate::{
    answer, decimal_text, jsonapi_attributes, keyed_request, method_by_id, payment_of,
    payment_write,
};

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

/// The completion event for the body's `payment_method_id`, if the core lets that method
/// complete a payment.
async fn completion_event(
    state: &AppState,
    manager: ManagerId,
    attributes: &Map<String, Value>,
) -> Result<PaymentEvent, ApiError> {
    let method = method_by_id(state, Some(method_id_of(attributes)?)).await?;
    Ok(PaymentEvent::offline_completion(manager, method.as_ref())?)
}

pub(crate) async fn complete_by_id(
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
            let event =
                completion_event(&state, caller.manager.id, &jsonapi_attributes(&body)?).await?;
            let outbox = state.outbox.clone();
            let now = state.clock.now();
            let (manager, client_ip, target) =
                (caller.manager.id, caller.ip.clone(), payment.id.clone());
            let path = format!("/api/v3/resellers/{}/payments/{payment_id}", reseller.id);
            let request = keyed_request(&caller, &headers, "PATCH", &path, &body)?;
            payment_write(&state, request, StatusCode::OK, move |db| {
                Box::pin(async move {
                    let (payment, _) = outbox
                        .transition(db, &target, event, Actor::Manager(manager), now)
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
            })
            .await
        }
        .await,
    )
}

pub(crate) async fn complete_by_document(
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
                .await?
                .filter(|payment| {
                    payment.reseller_id == reseller.id && payment.merchant_id.is_none()
                })
                .ok_or_else(ApiError::not_found)?;
            let attributes = jsonapi_attributes(&body)?;
            let event = completion_event(&state, caller.manager.id, &attributes).await?;
            let amount = document_amount(&payment, &attributes)?;
            let settlement = DocumentSettlement {
                outbox: state.outbox.clone(),
                id: payment.id.clone(),
                amount,
                event,
                manager: caller.manager.id,
                ip: caller.ip.clone(),
                now: state.clock.now(),
            };
            let path = format!("/api/v3/resellers/{}/payments/{document_id}", reseller.id);
            let request = keyed_request(&caller, &headers, "POST", &path, &body)?;
            payment_write(&state, request, StatusCode::OK, move |db| {
                Box::pin(settlement.apply(db))
            })
            .await
        }
        .await,
    )
}

/// The amount received: the body's `amount` in the payment's currency, or the whole amount.
fn document_amount(payment: &Payment, attributes: &Map<String, Value>) -> Result<Money, ApiError> {
    let currency = payment.amount.currency();
    if let Some(code) = attributes.get("currency_code")
        && code.as_str() != Some(currency.code())
    {
        return Err(ApiError::unprocessable(
            "currency_code does not match the payment's currency.",
        ));
    }
    match decimal_text(attributes.get("amount")) {
        None => Ok(payment.amount),
        Some(text) => Money::parse_decimal_with(&text, currency, Precision::AllowTrailingZeros)
            .ok()
            .filter(|amount| amount.is_positive())
            .ok_or_else(|| ApiError::unprocessable("amount is not valid.")),
    }
}

/// Money received against a document number, applied in the write's transaction on the
/// payment as it is then.
struct DocumentSettlement {
    outbox: Outbox,
    id: PaymentId,
    amount: Money,
    /// The completion the core allowed for the body's method.
    event: PaymentEvent,
    manager: ManagerId,
    ip: Option<String>,
    now: Timestamp,
}

impl DocumentSettlement {
    async fn apply(self, db: &mut dyn Db) -> StoreResult<Payment> {
        let current = payments::get_payment(db, &self.id)
            .await?
            .ok_or(StoreError::NotFound(Entity::Payment))?;
        match current.settle_external(self.amount)? {
            ExternalSettlement::Correction(received) => {
                self.correct(db, &current, received).await?;
            }
            ExternalSettlement::Complete { excess } => {
                let completed = self
                    .outbox
                    .transition(
                        db,
                        &self.id,
                        self.event.clone(),
                        Actor::Manager(self.manager),
                        self.now,
                    )
                    .await;
                match completed {
                    Ok(_) => {
                        audit::record(
                            db,
                            self.manager,
                            "payment.complete_by_document",
                            self.id.as_str(),
                            self.ip.as_deref(),
                            self.now,
                        )
                        .await?;
                        if let Some(excess) = excess {
                            self.correct(db, &current, excess).await?;
                        }
                    }
                    // Completed by someone else since it was read: like any completed
                    // payment, the whole amount becomes a correction.
                    Err(
                        StoreError::Payment(PaymentError::TransitionNotAllowed { .. })
                        | StoreError::Conflict,
                    ) => {
                        self.correct(db, &current, self.amount).await?;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        payments::get_payment(db, &self.id)
            .await?
            .ok_or(StoreError::NotFound(Entity::Payment))
    }

    /// Credits `amount` to the payment's customer account as a correction (money received
    /// outside Obol that was not, or not all, the payment's).
    async fn correct(&self, db: &mut dyn Db, payment: &Payment, amount: Money) -> StoreResult<()> {
        let Some(transaction) = payment.correction_transaction(amount)? else {
            return Ok(());
        };
        ledger::insert_transaction(db, &transaction, self.now).await?;
        audit::record(
            db,
            self.manager,
            "payment.correction",
            payment.id.as_str(),
            self.ip.as_deref(),
            self.now,
        )
        .await
    }
}
