//! The words a payment is described in: its statuses and resolutions, its flow, the door it
//! came through, the card it was paid with, its return URLs and who acted on it.

use std::fmt;

use crate::ids::{ManagerId, MerchantId};

/// The core statuses (SPEC §2). Each dialect shows them under its own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Accepted, no payment attempt yet.
    Created,
    /// A payment attempt is under way.
    Pending,
    /// Money received.
    Processed,
    /// Declined or cancelled.
    Failed,
    /// Time ran out unpaid.
    Expired,
    /// An unpaid payment past its life.
    Deleted,
    /// Part of the money returned.
    PartiallyRefunded,
    /// All of it returned.
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 8] = [
        PaymentStatus::Created,
        PaymentStatus::Pending,
        PaymentStatus::Processed,
        PaymentStatus::Failed,
        PaymentStatus::Expired,
        PaymentStatus::Deleted,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Created => "created",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Processed => "processed",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Deleted => "deleted",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Whether money was received (and not all of it returned yet, or returned).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            PaymentStatus::Processed | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded
        )
    }

    /// Whether the payment is still open for a payment attempt or a completion.
    pub fn is_open(self) -> bool {
        matches!(self, PaymentStatus::Created | PaymentStatus::Pending)
    }
}

/// Why a payment is in its status: `ok`, or the reason of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    Ok,
    Declined,
    InsufficientFunds,
    ExpiredCard,
    ThreeDsFailed,
    ProcessingError,
    Expired,
    Canceled,
}

impl Resolution {
    pub const ALL: [Resolution; 8] = [
        Resolution::Ok,
        Resolution::Declined,
        Resolution::InsufficientFunds,
        Resolution::ExpiredCard,
        Resolution::ThreeDsFailed,
        Resolution::ProcessingError,
        Resolution::Expired,
        Resolution::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Ok => "ok",
            Resolution::Declined => "declined",
            Resolution::InsufficientFunds => "insufficient_funds",
            Resolution::ExpiredCard => "expired_card",
            Resolution::ThreeDsFailed => "3ds_failed",
            Resolution::ProcessingError => "processing_error",
            Resolution::Expired => "expired",
            Resolution::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Resolution> {
        Resolution::ALL
            .into_iter()
            .find(|resolution| resolution.as_str() == text)
    }
}

/// What the merchant asked for: take money, or only verify the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    Charge,
    Verify,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Charge => "charge",
            Flow::Verify => "verify",
        }
    }

    pub fn parse(text: &str) -> Option<Flow> {
        match text {
            "charge" => Some(Flow::Charge),
            "verify" => Some(Flow::Verify),
            _ => None,
        }
    }
}

/// Through which door a payment came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    PublicApi,
    MerchantApi,
    Form,
    SoftlineApi,
    Manager,
    P2p,
    Yookassa,
    /// The YooKassa v3-compatible sandbox (`/sandbox/yookassa/v3`).
    YookassaSandbox,
    Cli,
}

impl Source {
    /// Who reaches a merchant's account through this door: the public API and the HTML form
    /// hold only the merchant's public key, which merchants publish; every other door holds a
    /// private credential (or is the operator's).
    pub fn caller(self) -> crate::mode::Caller {
        match self {
            Source::PublicApi | Source::Form => crate::mode::Caller::PublicKey,
            _ => crate::mode::Caller::Private,
        }
    }

    pub const ALL: [Source; 9] = [
        Source::PublicApi,
        Source::MerchantApi,
        Source::Form,
        Source::SoftlineApi,
        Source::Manager,
        Source::P2p,
        Source::Yookassa,
        Source::YookassaSandbox,
        Source::Cli,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::PublicApi => "public_api",
            Source::MerchantApi => "merchant_api",
            Source::Form => "form",
            Source::SoftlineApi => "softline_api",
            Source::Manager => "manager",
            Source::P2p => "p2p",
            Source::Yookassa => "yookassa",
            Source::YookassaSandbox => "yookassa_sandbox",
            Source::Cli => "cli",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == text)
    }
}

/// What is kept of a card: never the full number, never the CVV.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CardPayload {
    pub first6: String,
    pub last4: String,
    pub brand: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub holder: Option<String>,
    pub issuer: Option<String>,
}

impl CardPayload {
    /// The mask shown to people: `424242******4242`.
    pub fn mask(&self) -> String {
        format!("{}******{}", self.first6, self.last4)
    }
}

impl fmt::Debug for CardPayload {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "CardPayload({} {} {:02}/{})",
            self.brand,
            self.mask(),
            self.expiry_month,
            self.expiry_year
        )
    }
}

/// Where the customer goes after the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnUrls {
    pub default: Option<String>,
    pub success: Option<String>,
    pub fail: Option<String>,
    pub pending: Option<String>,
}

/// Who or what caused a change, as kept in the status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Customer,
    Merchant(MerchantId),
    Manager(ManagerId),
    /// A lifecycle job, by name (`payment_expiry`).
    Job(String),
    /// The acquirer or upstream provider.
    Provider,
    /// An operator at the command line.
    Operator,
    /// The door a payment came through, for its creation.
    Source(Source),
}

impl Actor {
    pub fn encode(&self) -> String {
        match self {
            Actor::Customer => "customer".to_owned(),
            Actor::Merchant(id) => format!("merchant:{id}"),
            Actor::Manager(id) => format!("manager:{id}"),
            Actor::Job(name) => format!("job:{name}"),
            Actor::Provider => "provider".to_owned(),
            Actor::Operator => "operator".to_owned(),
            Actor::Source(source) => format!("source:{}", source.as_str()),
        }
    }

    pub fn decode(text: &str) -> Option<Actor> {
        match text.split_once(':') {
            None => match text {
                "customer" => Some(Actor::Customer),
                "provider" => Some(Actor::Provider),
                "operator" => Some(Actor::Operator),
                _ => None,
            },
            Some(("merchant", id)) => MerchantId::parse(id).ok().map(Actor::Merchant),
            Some(("manager", id)) => ManagerId::parse(id).ok().map(Actor::Manager),
            Some(("job", name)) => Some(Actor::Job(name.to_owned())),
            Some(("source", source)) => Source::parse(source).map(Actor::Source),
            Some(_) => None,
        }
    }
}
