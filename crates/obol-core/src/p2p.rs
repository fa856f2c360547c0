//! P2P card-to-card transfers (SPEC §3.4): a transfer moves money from a sender's card to one
//! or more recipients' cards, split into operations. `SEND` debits the sender (amount plus
//! commission) into the client's transit account; `RECEIVE` credits a recipient from it;
//! `RETURN` gives back what was not received, with its share of the commission.
//!
//! Every step is a method of [`Transfer`] that checks the transfer's state, changes it and
//! returns the balanced ledger transaction of the money it moved. Nothing here reads a clock,
//! a card vault or a database: the caller passes the acquirer's decisions and the time.

use crate::error::{Coded, ErrorCode, codes};
use crate::fee::FeeSchedule;
use crate::ids::{P2pClientId, RandomSource, ReceiptId, Uuid};
use crate::ledger::{AccountCode, LedgerError, LedgerTransaction, Posting, TransactionKind};
use crate::mode::Mode;
use crate::money::{Money, MoneyError};
use crate::payment::Resolution;
use crate::sandbox::CardDecision;
use crate::time::Timestamp;

mod access;
mod vocabulary;
pub use access::{
    CARD_FORM_LIFETIME_SECONDS, CardForm, CardUse, InvalidUserId, P2pUserId,
    SIGNATURE_WINDOW_SECONDS, SessionScope, USER_ID_LENGTH_MAX, signed_request_window,
};
pub use vocabulary::{
    CardRef, Confirmation, Operation, OperationKind, OperationStatus, P2pCard, SendDecision,
    SenderAnswer, TransferDraft, TransferKind, TransferStatus,
};

/// Wrong one-time codes accepted before a `LOOKUP` transfer is rejected (the third rejects).
pub const LOOKUP_ATTEMPTS_MAX: u32 = 3;
/// How long a transfer waits for its sender's confirmation (3-D Secure or code).
pub const CONFIRMATION_WINDOW_SECONDS: i64 = 15 * 60;
/// Longest `externalId` and `description` kept.
pub const EXTERNAL_ID_MAX: usize = 128;
pub const DESCRIPTION_MAX: usize = 1024;

/// What a transfer is, field by field: read through [`Transfer`], which only the core's steps
/// change, and handed to [`Transfer::restore`] by storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    pub id: Uuid,
    pub receipt_id: ReceiptId,
    pub client_id: P2pClientId,
    pub external_id: Option<String>,
    pub kind: TransferKind,
    pub status: TransferStatus,
    pub description: Option<String>,
    pub callback_url: Option<String>,
    pub amount: Money,
    pub commission: Money,
    /// What still waits to be received.
    pub pending: Money,
    pub returned: Option<Money>,
    pub returned_commission: Option<Money>,
    pub card_from: CardRef,
    pub card_to: Option<CardRef>,
    pub confirmation: Option<Confirmation>,
    pub wrong_codes: u32,
    /// When the confirmation window ends or (for a BUCKET) when the rest is returned.
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Optimistic concurrency: bumped by every stored change.
    pub version: i64,
    pub operations: Vec<Operation>,
}

/// A P2P transfer. Its fields are read through [`TransferRecord`]; they change only through
/// its steps (`apply_send`, `answer`, `claim`, `wrong_code`, `expire`, `return_rest`), each of
/// which returns the balanced ledger transactions of the money it moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    record: TransferRecord,
}

impl std::ops::Deref for Transfer {
    type Target = TransferRecord;

    fn deref(&self) -> &TransferRecord {
        &self.record
    }
}

impl Transfer {
    /// A transfer as storage reads it back: storage only, which wrote nothing but what the
    /// core's steps made.
    pub fn restore(record: TransferRecord) -> Transfer {
        Transfer { record }
    }

    /// Every transfer is a test transfer: its cards are resolved and charged by the sandbox
    /// acquirer, which settles test money only (SPEC §2 "Test and live"). The mode is derived,
    /// not stored, until a live route for card-to-card transfers exists.
    pub fn mode(&self) -> Mode {
        Mode::Test
    }

    /// Whether it waits for its sender's answer (3-D Secure or a one-time code): only then is
    /// there a confirmation page to show or an answer to take.
    pub fn awaits_confirmation(&self) -> bool {
        self.status == TransferStatus::NeedsConfirmation
    }

    /// The transfer as it is once storage wrote this version of it: the next version
    /// (optimistic concurrency: a step planned on an older version fails to persist).
    pub fn persisted(&self) -> Transfer {
        let mut stored = self.clone();
        stored.record.version += 1;
        stored
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    #[error("the amount must be a positive whole number of minor units")]
    InvalidAmount,
    #[error("a DIRECT transfer needs cardTo")]
    CardToRequired,
    #[error("the sender's and the recipient's card are the same")]
    SameCard,
    #[error("the transfer is {0} and cannot do this")]
    WrongStatus(&'static str),
    #[error("the amount is more than the {0} minor units still pending")]
    AmountExceedsPending(i64),
    #[error("the currency does not match the transfer's")]
    CurrencyMismatch,
    #[error("the confirmation code is wrong ({0} attempts left)")]
    WrongCode(u32),
    #[error("the confirmation code was wrong too many times; the transfer is rejected")]
    CodeAttemptsExhausted,
    #[error("this transfer is not confirmed with a code")]
    NotLookup,
    #[error("only a BUCKET transfer is received by request")]
    NotBucket,
    #[error("this transfer is not confirmed on the 3-D Secure page")]
    NotThreeDs,
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Coded for P2pError {
    fn code(&self) -> ErrorCode {
        match self {
            P2pError::InvalidAmount | P2pError::Money(_) => codes::AMOUNT_OUT_OF_RANGE,
            P2pError::CardToRequired => codes::FIELD_REQUIRED,
            P2pError::SameCard => codes::FIELD_INVALID,
            P2pError::CurrencyMismatch => codes::CURRENCY_MISMATCH,
            P2pError::WrongStatus(_)
            | P2pError::NotLookup
            | P2pError::NotThreeDs
            | P2pError::NotBucket => codes::TRANSITION_NOT_ALLOWED,
            P2pError::AmountExceedsPending(_) => codes::REFUND_EXCEEDS_PROCESSED,
            P2pError::WrongCode(_) | P2pError::CodeAttemptsExhausted => codes::FIELD_INVALID,
            P2pError::Ledger(error) => error.code(),
        }
    }
}

/// The commission of a transfer of `amount` under a client's tariff (rounded half-up).
pub fn commission(tariff: &FeeSchedule, amount: Money) -> Result<Money, MoneyError> {
    Ok(tariff.compute(amount)?.fee)
}

impl Transfer {
    /// A new transfer, not yet sent: its `SEND` operation is `PROCESSING` until [`send`],
    /// [`reject`] or [`ask_confirmation`] decides it.
    ///
    /// [`send`]: Transfer::send
    /// [`reject`]: Transfer::reject
    /// [`ask_confirmation`]: Transfer::ask_confirmation
    pub fn create(
        draft: TransferDraft,
        commission: Money,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<Transfer, P2pError> {
        if draft.amount.minor() <= 0 {
            return Err(P2pError::InvalidAmount);
        }
        if commission.currency() != draft.amount.currency() {
            return Err(P2pError::CurrencyMismatch);
        }
        // What the sender's card is debited must itself be an amount Obol can hold.
        draft.amount.checked_add(commission)?;
        if draft.kind == TransferKind::Direct && draft.card_to.is_none() {
            return Err(P2pError::CardToRequired);
        }
        if draft
            .card_to
            .as_ref()
            .is_some_and(|card| card.id == draft.card_from.id)
        {
            return Err(P2pError::SameCard);
        }
        let send = Operation {
            id: Uuid::generate_v4(random),
            kind: OperationKind::Send,
            status: OperationStatus::Processing,
            amount: draft.amount,
            commission,
            external_id: draft.external_id.clone(),
            card_id: Some(draft.card_from.id.clone()),
            reason: None,
            created_at: now,
            updated_at: now,
        };
        Ok(Transfer::restore(TransferRecord {
            id: Uuid::generate_v4(random),
            receipt_id: ReceiptId::generate(random),
            client_id: draft.client_id,
            external_id: draft.external_id,
            kind: draft.kind,
            status: TransferStatus::Processing,
            description: draft.description,
            callback_url: draft.callback_url,
            amount: draft.amount,
            commission,
            pending: draft.amount,
            returned: None,
            returned_commission: None,
            card_from: draft.card_from,
            card_to: draft.card_to,
            confirmation: None,
            wrong_codes: 0,
            expires_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
            operations: vec![send],
        }))
    }

    fn zero(&self) -> Result<Money, P2pError> {
        Ok(Money::zero(self.amount.currency())?)
    }

    fn send_operation(&mut self) -> Option<&mut Operation> {
        self.record
            .operations
            .iter_mut()
            .find(|operation| operation.kind == OperationKind::Send)
    }

    /// Whether the `SEND` has not been decided yet (just created, or waiting for confirmation).
    pub fn awaits_send(&self) -> bool {
        self.operations.iter().any(|operation| {
            operation.kind == OperationKind::Send && operation.status == OperationStatus::Processing
        }) && !self.status.is_final()
    }

    fn require_unsent(&self) -> Result<(), P2pError> {
        if self.awaits_send() {
            Ok(())
        } else {
            Err(P2pError::WrongStatus(self.status.as_str()))
        }
    }

    /// The sender must confirm first; the transfer waits until `now + window`.
    pub fn ask_confirmation(
        &mut self,
        confirmation: Confirmation,
        now: Timestamp,
    ) -> Result<(), P2pError> {
        self.require_unsent()?;
        self.record.status = TransferStatus::NeedsConfirmation;
        self.record.confirmation = Some(confirmation);
        self.record.expires_at = Some(now.plus_seconds(CONFIRMATION_WINDOW_SECONDS));
        self.record.updated_at = now;
        Ok(())
    }

    /// The sender's card was not debited: the transfer is rejected and no money moved.
    pub fn reject(&mut self, reason: Resolution, now: Timestamp) -> Result<(), P2pError> {
        self.require_unsent()?;
        if let Some(send) = self.send_operation() {
            send.status = OperationStatus::Rejected;
            send.reason = Some(reason);
            send.updated_at = now;
        }
        self.record.status = TransferStatus::Rejected;
        self.record.pending = self.zero()?;
        self.record.expires_at = None;
        self.record.updated_at = now;
        Ok(())
    }

    /// The sender's card was debited (amount + commission): the money waits in transit.
    /// A BUCKET waits until `bucket_expires_at` to be received.
    pub fn send(
        &mut self,
        bucket_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<LedgerTransaction, P2pError> {
        self.require_unsent()?;
        let total = self.amount.checked_add(self.commission)?;
        let transaction = LedgerTransaction::new(
            TransactionKind::Transfer,
            None,
            self.mode(),
            vec![
                Posting {
                    account: AccountCode::p2p_card(&self.card_from.id),
                    amount: total.negated(),
                },
                Posting {
                    account: AccountCode::p2p_transit(self.client_id),
                    amount: self.amount,
                },
                Posting {
                    account: AccountCode::operator_fees(),
                    amount: self.commission,
                },
            ],
        )?;
        if let Some(send) = self.send_operation() {
            send.status = OperationStatus::Finished;
            send.updated_at = now;
        }
        self.record.status = TransferStatus::Processing;
        self.record.expires_at = match self.kind {
            TransferKind::Bucket => Some(bucket_expires_at),
            TransferKind::Direct => None,
        };
        self.record.updated_at = now;
        Ok(transaction)
    }

    fn require_receivable(&self, amount: Money) -> Result<(), P2pError> {
        if self.status != TransferStatus::Processing || self.awaits_send() {
            return Err(P2pError::WrongStatus(self.status.as_str()));
        }
        if amount.currency() != self.amount.currency() {
            return Err(P2pError::CurrencyMismatch);
        }
        if amount.minor() <= 0 {
            return Err(P2pError::InvalidAmount);
        }
        if amount.minor() > self.pending.minor() {
            return Err(P2pError::AmountExceedsPending(self.pending.minor()));
        }
        Ok(())
    }

    /// Checks that a recipient may claim `amount` of a BUCKET, without changing anything (so
    /// the caller asks the acquirer only about a receive that could happen).
    pub fn check_claim(&self, amount: Money) -> Result<(), P2pError> {
        if self.kind != TransferKind::Bucket {
            return Err(P2pError::NotBucket);
        }
        self.require_receivable(amount)
    }

    /// A recipient claims `amount` of a BUCKET with `card`, which the acquirer judged.
    pub fn claim(
        &mut self,
        card: CardRef,
        amount: Money,
        decision: CardDecision,
        external_id: Option<String>,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<Option<LedgerTransaction>, P2pError> {
        self.check_claim(amount)?;
        match decision {
            CardDecision::Declined(reason) => {
                self.receive_declined(card, amount, reason, external_id, random, now)
            }
            CardDecision::Approved | CardDecision::ChallengeThreeDs => self
                .receive(card, amount, external_id, random, now)
                .map(Some),
        }
    }

    /// Applies the acquirer's answer about the sender's card. Approved: the money is sent, and
    /// a DIRECT transfer is received at once by `cardTo` (`recipient` is the acquirer's answer
    /// about that card; a refusal returns everything to the sender). Declined: rejected, no
    /// money moved. Confirm: the transfer waits for the sender.
    pub fn apply_send(
        &mut self,
        decision: SendDecision,
        recipient: CardDecision,
        bucket_expires_at: Timestamp,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<Vec<LedgerTransaction>, P2pError> {
        match decision {
            SendDecision::Declined(reason) => {
                self.reject(reason, now)?;
                Ok(Vec::new())
            }
            SendDecision::Confirm(confirmation) => {
                self.ask_confirmation(confirmation, now)?;
                Ok(Vec::new())
            }
            SendDecision::Approved => {
                let mut transactions = vec![self.send(bucket_expires_at, now)?];
                if self.kind == TransferKind::Direct {
                    let card = self.card_to.clone().ok_or(P2pError::CardToRequired)?;
                    let amount = self.amount;
                    match recipient {
                        CardDecision::Declined(reason) => transactions.extend(
                            self.receive_declined(card, amount, reason, None, random, now)?,
                        ),
                        CardDecision::Approved | CardDecision::ChallengeThreeDs => {
                            transactions.push(self.receive(card, amount, None, random, now)?)
                        }
                    }
                }
                Ok(transactions)
            }
        }
    }

    /// `card` received `amount` from transit; when nothing is left pending the transfer is
    /// finished.
    pub fn receive(
        &mut self,
        card: CardRef,
        amount: Money,
        external_id: Option<String>,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<LedgerTransaction, P2pError> {
        self.require_receivable(amount)?;
        let transaction = LedgerTransaction::new(
            TransactionKind::Transfer,
            None,
            self.mode(),
            vec![
                Posting {
                    account: AccountCode::p2p_transit(self.client_id),
                    amount: amount.negated(),
                },
                Posting {
                    account: AccountCode::p2p_card(&card.id),
                    amount,
                },
            ],
        )?;
        self.record.operations.push(Operation {
            id: Uuid::generate_v4(random),
            kind: OperationKind::Receive,
            status: OperationStatus::Finished,
            amount,
            commission: self.zero()?,
            external_id,
            card_id: Some(card.id.clone()),
            reason: None,
            created_at: now,
            updated_at: now,
        });
        self.record.pending = self.pending.checked_sub(amount)?;
        self.record.card_to = Some(card);
        if self.pending.minor() == 0 {
            self.record.status = TransferStatus::Finished;
            self.record.expires_at = None;
        }
        self.record.updated_at = now;
        Ok(transaction)
    }

    /// The recipient's card refused `amount`: a rejected RECEIVE is recorded. A DIRECT
    /// transfer then returns everything to the sender; a BUCKET keeps waiting for another card.
    pub fn receive_declined(
        &mut self,
        card: CardRef,
        amount: Money,
        reason: Resolution,
        external_id: Option<String>,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<Option<LedgerTransaction>, P2pError> {
        self.require_receivable(amount)?;
        self.record.operations.push(Operation {
            id: Uuid::generate_v4(random),
            kind: OperationKind::Receive,
            status: OperationStatus::Rejected,
            amount,
            commission: self.zero()?,
            external_id,
            card_id: Some(card.id.clone()),
            reason: Some(reason),
            created_at: now,
            updated_at: now,
        });
        self.record.updated_at = now;
        match self.kind {
            TransferKind::Direct => self.return_rest(random, now).map(Some),
            TransferKind::Bucket => Ok(None),
        }
    }

    /// What was not received goes back to the sender with its share of the commission
    /// (`commission × pending / amount`, rounded down: the operator keeps the remainder).
    pub fn return_rest(
        &mut self,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<LedgerTransaction, P2pError> {
        if self.status != TransferStatus::Processing || self.awaits_send() {
            return Err(P2pError::WrongStatus(self.status.as_str()));
        }
        let rest = self.pending;
        let share = i128::from(self.commission.minor()) * i128::from(rest.minor())
            / i128::from(self.amount.minor().max(1));
        let returned_commission = Money::from_minor(
            i64::try_from(share).map_err(|_| MoneyError::OutOfRange)?,
            self.amount.currency(),
        )?;
        let total = rest.checked_add(returned_commission)?;
        let transaction = LedgerTransaction::new(
            TransactionKind::Transfer,
            None,
            self.mode(),
            vec![
                Posting {
                    account: AccountCode::p2p_transit(self.client_id),
                    amount: rest.negated(),
                },
                Posting {
                    account: AccountCode::operator_fees(),
                    amount: returned_commission.negated(),
                },
                Posting {
                    account: AccountCode::p2p_card(&self.card_from.id),
                    amount: total,
                },
            ],
        )?;
        self.record.operations.push(Operation {
            id: Uuid::generate_v4(random),
            kind: OperationKind::Return,
            status: OperationStatus::Finished,
            amount: rest,
            commission: returned_commission,
            external_id: None,
            card_id: Some(self.card_from.id.clone()),
            reason: None,
            created_at: now,
            updated_at: now,
        });
        self.record.returned = Some(rest);
        self.record.returned_commission = Some(returned_commission);
        self.record.pending = self.zero()?;
        self.record.status = TransferStatus::Returned;
        self.record.expires_at = None;
        self.record.updated_at = now;
        Ok(transaction)
    }

    /// The sender's answer to the confirmation this transfer asked for: the money is sent (and
    /// a DIRECT received, as [`Transfer::apply_send`] does), the transfer rejected, or a wrong
    /// code counted, whose refusal comes back beside the (possibly empty) ledger transactions.
    pub fn answer(
        &mut self,
        answer: SenderAnswer,
        recipient: CardDecision,
        bucket_expires_at: Timestamp,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<(Vec<LedgerTransaction>, Option<P2pError>), P2pError> {
        let decision = match (self.confirmation, answer) {
            (Some(Confirmation::Lookup), SenderAnswer::Code { matches: true }) => {
                SendDecision::Approved
            }
            (Some(Confirmation::Lookup), SenderAnswer::Code { matches: false }) => {
                return self
                    .wrong_code(now)
                    .map(|refusal| (Vec::new(), Some(refusal)));
            }
            (Some(Confirmation::ThreeDs), SenderAnswer::ThreeDs(decision)) => decision,
            (_, SenderAnswer::Code { .. }) => return Err(P2pError::NotLookup),
            (_, SenderAnswer::ThreeDs(_)) => return Err(P2pError::NotThreeDs),
        };
        self.apply_send(decision, recipient, bucket_expires_at, random, now)
            .map(|transactions| (transactions, None))
    }

    /// A wrong one-time code: counts it, and the last allowed one rejects the transfer.
    pub fn wrong_code(&mut self, now: Timestamp) -> Result<P2pError, P2pError> {
        self.require_unsent()?;
        if self.confirmation != Some(Confirmation::Lookup) {
            return Err(P2pError::NotLookup);
        }
        self.record.wrong_codes += 1;
        self.record.updated_at = now;
        if self.wrong_codes >= LOOKUP_ATTEMPTS_MAX {
            self.reject(Resolution::ThreeDsFailed, now)?;
            Ok(P2pError::CodeAttemptsExhausted)
        } else {
            Ok(P2pError::WrongCode(LOOKUP_ATTEMPTS_MAX - self.wrong_codes))
        }
    }

    /// The transfer's deadline passed: an unconfirmed transfer is rejected, a BUCKET returns
    /// what was not received. Anything else has nothing to do (`Ok(None)` and no change).
    pub fn expire(
        &mut self,
        random: &mut dyn RandomSource,
        now: Timestamp,
    ) -> Result<Option<LedgerTransaction>, P2pError> {
        if self.expires_at.is_none_or(|due| due > now) || self.status.is_final() {
            return Ok(None);
        }
        if self.awaits_send() {
            self.reject(Resolution::Expired, now)?;
            return Ok(None);
        }
        if self.kind == TransferKind::Bucket && self.status == TransferStatus::Processing {
            return self.return_rest(random, now).map(Some);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
