//! The steps of a P2P transfer around the core: asking the acquirer about cards (through the
//! vault), and writing a transfer's new state in one transaction with its ledger postings, its
//! callback and its deadline job. The rules themselves are `obol_core::p2p::Transfer`'s.

use obol_core::Timestamp;
use obol_core::ids::Uuid;
use obol_core::ledger::LedgerTransaction;
use obol_core::p2p::{P2pCard, P2pError, SendDecision, SenderAnswer, Transfer, TransferStatus};
use obol_core::sandbox::CardDecision;
use obol_store::error::Entity;
use obol_store::ops::{jobs, ledger, p2p};
use obol_store::{Db, StoreError, StoreResult};

use obol_http::crypto::OsRandom;
use obol_http::state::AppState;

/// The lifecycle job that ends a transfer's wait: an unconfirmed one is rejected, a BUCKET
/// returns what was not received.
pub const EXPIRY_JOB: &str = "p2p_transfer_expiry";
/// How long a session lives.
pub const SESSION_LIFETIME_SECONDS: i64 = 3600;
/// Purpose of the token in a confirmation page's link.
pub const CONFIRM_PAGE_PURPOSE: &str = "p2p_confirm";

#[derive(Debug, thiserror::Error)]
#[error("the card cannot be used: its vault token does not resolve")]
pub struct VaultUnavailable;

/// When a BUCKET sent at `now` returns what was not received (`p2p.bucket_lifetime_s`).
pub fn bucket_due(state: &AppState, now: Timestamp) -> Timestamp {
    now.plus_seconds(i64::try_from(state.config.p2p_bucket_lifetime_s).unwrap_or(i64::MAX / 4))
}

/// What the sender's answer to a confirmation did.
pub enum Confirmed {
    /// Sent (and, for a DIRECT, received) or rejected: the transfer as stored.
    Done(Transfer),
    /// A wrong code was counted: the transfer as stored, and the refusal to answer.
    WrongCode(Transfer, P2pError),
    /// The transfer's state does not take this answer; nothing changed (beyond ending an
    /// overdue transfer, which is kept).
    Refused(P2pError),
}

/// The sender's answer to a confirmation, in one transaction: the transfer (ended first if
/// overdue) takes it as the core decides, with its ledger, callback and deadline job.
pub async fn confirm(
    db: &mut dyn Db,
    id: &Uuid,
    answer: SenderAnswer,
    recipient: CardDecision,
    bucket_due: Timestamp,
    now: Timestamp,
) -> StoreResult<Confirmed> {
    let mut transfer = lock_current(db, id, now).await?;
    let before = transfer.status;
    let (transactions, refusal) =
        match transfer.answer(answer, recipient, bucket_due, &mut OsRandom, now) {
            Ok(step) => step,
            Err(error) => return Ok(Confirmed::Refused(error)),
        };
    let stored = persist(db, &transfer, Some(before), &transactions, now).await?;
    Ok(match refusal {
        Some(refusal) => Confirmed::WrongCode(stored, refusal),
        None => Confirmed::Done(stored),
    })
}

/// The acquirer's answer about debiting `card`.
pub fn judge_send(
    state: &AppState,
    card: &P2pCard,
    now: Timestamp,
) -> Result<SendDecision, VaultUnavailable> {
    let number = state
        .vault
        .resolve(&card.token)
        .map_err(|_| VaultUnavailable)?;
    Ok(state
        .acquirer
        .authorize_send(&number, p2p::card_expiry(card), now))
}

/// The acquirer's answer about crediting `card`.
pub fn judge_receive(
    state: &AppState,
    card: &P2pCard,
    now: Timestamp,
) -> Result<CardDecision, VaultUnavailable> {
    let number = state
        .vault
        .resolve(&card.token)
        .map_err(|_| VaultUnavailable)?;
    Ok(state
        .acquirer
        .authorize_receive(&number, p2p::card_expiry(card), now))
}

/// Writes a transfer's state (new when `before` is `None`), the ledger transactions of the
/// step, its callback when the status changed, and its deadline job; returns it as stored.
pub async fn persist(
    db: &mut dyn Db,
    transfer: &Transfer,
    before: Option<TransferStatus>,
    transactions: &[LedgerTransaction],
    now: Timestamp,
) -> StoreResult<Transfer> {
    let stored = match before {
        None => {
            p2p::insert_transfer(db, transfer).await?;
            transfer.clone()
        }
        Some(_) => p2p::update_transfer(db, transfer).await?,
    };
    for transaction in transactions {
        ledger::insert_transfer_transaction(db, transaction, &stored.id, now).await?;
    }
    match stored.expires_at {
        Some(due) if !stored.status.is_final() => {
            jobs::schedule(db, EXPIRY_JOB, stored.id.as_str(), due, now).await?
        }
        _ if before.is_some() => jobs::cancel(db, EXPIRY_JOB, stored.id.as_str(), now).await?,
        _ => {}
    }
    crate::callbacks::record(db, &stored, before, now).await?;
    Ok(stored)
}

/// Reads a transfer under a row lock for a step; `NotFound` when it is gone.
pub async fn lock(db: &mut dyn Db, id: &Uuid) -> StoreResult<Transfer> {
    p2p::get_transfer(db, id, true)
        .await?
        .ok_or(StoreError::NotFound(Entity::Transfer))
}

/// Reads a transfer under a row lock for a step, first ending its wait if its deadline has
/// passed (so an overdue transfer is never confirmed or received, even before the lifecycle
/// job runs).
pub async fn lock_current(db: &mut dyn Db, id: &Uuid, now: Timestamp) -> StoreResult<Transfer> {
    let transfer = lock(db, id).await?;
    Ok(end_if_overdue(db, transfer, now).await?.0)
}

/// Ends the wait of a locked transfer whose deadline passed; says whether it changed.
async fn end_if_overdue(
    db: &mut dyn Db,
    mut transfer: Transfer,
    now: Timestamp,
) -> StoreResult<(Transfer, bool)> {
    let before = transfer.status;
    let transactions: Vec<LedgerTransaction> =
        transfer.expire(&mut OsRandom, now)?.into_iter().collect();
    if transfer.status == before && transactions.is_empty() {
        return Ok((transfer, false));
    }
    let stored = persist(db, &transfer, Some(before), &transactions, now).await?;
    Ok((stored, true))
}

/// The deadline job: ends the wait of a transfer whose time ran out (nothing when it was
/// decided meanwhile).
pub async fn expire(db: &mut dyn Db, id: &Uuid, now: Timestamp) -> StoreResult<Option<Transfer>> {
    let Some(transfer) = p2p::get_transfer(db, id, true).await? else {
        return Ok(None);
    };
    let (transfer, changed) = end_if_overdue(db, transfer, now).await?;
    Ok(changed.then_some(transfer))
}
