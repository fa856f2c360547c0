//! The words a transfer is described in: its kind and status, its operations, the sender's
//! confirmation, the acquirer's decisions, cards as the vault keeps them, and a new transfer's
//! draft.

use std::fmt;

use crate::ids::{P2pClientId, Uuid};
use crate::money::Money;
use crate::p2p::P2pUserId;
use crate::payment::{CardPayload, Resolution};
use crate::time::Timestamp;

/// `DIRECT`: received at once by `cardTo`. `BUCKET`: held until claimed, in one or more parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    Direct,
    Bucket,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Direct => "DIRECT",
            TransferKind::Bucket => "BUCKET",
        }
    }

    pub fn parse(text: &str) -> Option<TransferKind> {
        match text {
            "DIRECT" => Some(TransferKind::Direct),
            "BUCKET" => Some(TransferKind::Bucket),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    /// The sender must confirm (3-D Secure or a one-time code) before money moves.
    NeedsConfirmation,
    /// Money left the sender; (part of) it waits to be received.
    Processing,
    /// Everything was received.
    Finished,
    /// The sender's card was not debited; no money moved.
    Rejected,
    /// What was not received went back to the sender.
    Returned,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::NeedsConfirmation => "NEEDS_CONFIRMATION",
            TransferStatus::Processing => "PROCESSING",
            TransferStatus::Finished => "FINISHED",
            TransferStatus::Rejected => "REJECTED",
            TransferStatus::Returned => "RETURNED",
        }
    }

    pub fn parse(text: &str) -> Option<TransferStatus> {
        [
            TransferStatus::NeedsConfirmation,
            TransferStatus::Processing,
            TransferStatus::Finished,
            TransferStatus::Rejected,
            TransferStatus::Returned,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            TransferStatus::Finished | TransferStatus::Rejected | TransferStatus::Returned
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Send,
    Receive,
    Return,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Send => "SEND",
            OperationKind::Receive => "RECEIVE",
            OperationKind::Return => "RETURN",
        }
    }

    pub fn parse(text: &str) -> Option<OperationKind> {
        match text {
            "SEND" => Some(OperationKind::Send),
            "RECEIVE" => Some(OperationKind::Receive),
            "RETURN" => Some(OperationKind::Return),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationStatus {
    Processing,
    Finished,
    Rejected,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Processing => "PROCESSING",
            OperationStatus::Finished => "FINISHED",
            OperationStatus::Rejected => "REJECTED",
        }
    }

    pub fn parse(text: &str) -> Option<OperationStatus> {
        match text {
            "PROCESSING" => Some(OperationStatus::Processing),
            "FINISHED" => Some(OperationStatus::Finished),
            "REJECTED" => Some(OperationStatus::Rejected),
            _ => None,
        }
    }
}

/// How the sender confirms: on the hosted 3-D Secure page, or with a one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    ThreeDs,
    Lookup,
}

impl Confirmation {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::ThreeDs => "3DS",
            Confirmation::Lookup => "LOOKUP",
        }
    }

    pub fn parse(text: &str) -> Option<Confirmation> {
        match text {
            "3DS" => Some(Confirmation::ThreeDs),
            "LOOKUP" => Some(Confirmation::Lookup),
            _ => None,
        }
    }
}

/// What the acquirer says about debiting the sender's card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendDecision {
    Approved,
    Declined(Resolution),
    Confirm(Confirmation),
}

/// What the sender answered to a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderAnswer {
    /// The 3-D Secure challenge, as the acquirer judged the sender's decision.
    ThreeDs(SendDecision),
    /// A one-time code, and whether the acquirer accepts it.
    Code { matches: bool },
}

/// A card a client stored: a token only the acquirer can resolve, plus what may be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct P2pCard {
    pub id: Uuid,
    pub client_id: P2pClientId,
    /// The client's end user it belongs to, when a user's session added it.
    pub user_id: Option<P2pUserId>,
    /// The acquirer's vault token; never the number.
    pub token: String,
    pub payload: CardPayload,
    pub created_at: Timestamp,
}

impl P2pCard {
    /// The mask the seed writes: first 6 and last 4 digits with nothing between.
    pub fn masked(&self) -> String {
        format!("{}{}", self.payload.first6, self.payload.last4)
    }

    pub fn as_ref(&self) -> CardRef {
        CardRef {
            id: self.id.clone(),
            masked: self.masked(),
        }
    }
}

impl fmt::Debug for P2pCard {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("P2pCard")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("masked", &self.masked())
            .finish_non_exhaustive()
    }
}

/// A card as a transfer refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRef {
    pub id: Uuid,
    pub masked: String,
}

/// One debit or credit of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: Uuid,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub amount: Money,
    pub commission: Money,
    /// The client's own id of the step (`externalId`): the transfer's for `SEND`.
    pub external_id: Option<String>,
    pub card_id: Option<Uuid>,
    /// Why a rejected operation was rejected.
    pub reason: Option<Resolution>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a client asks for when it creates a transfer (already validated as wire input).
#[derive(Debug, Clone)]
pub struct TransferDraft {
    pub client_id: P2pClientId,
    pub external_id: Option<String>,
    pub kind: TransferKind,
    pub amount: Money,
    pub description: Option<String>,
    pub callback_url: Option<String>,
    pub card_from: CardRef,
    pub card_to: Option<CardRef>,
}
