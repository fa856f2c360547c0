//! The sandbox acquirer's rules (SPEC §4), deterministic and offline: which test card gives
//! which outcome. The server's acquirer interface calls these; later upstream connectors
//! implement the same interface with real providers.

use crate::card::{CardExpiry, CardNumber};
use crate::p2p::{Confirmation, SendDecision};
use crate::payment::Resolution;

/// What the acquirer says about a card payment attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardDecision {
    Approved,
    Declined(Resolution),
    /// The issuer wants 3-D Secure; the customer's answer decides.
    ChallengeThreeDs,
}

/// The sandbox's test cards.
pub mod cards {
    /// Succeeds. Any Luhn-valid number not listed here does; this is the one the hosted page's
    /// test banner suggests.
    pub const SUCCESS: &str = "4242424242424242";
    pub const DECLINED: &str = "4000000000000002";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    pub const THREE_DS: &str = "4000000000003220";
    pub const PROCESSING_ERROR: &str = "4000000000000119";
    /// Asks for a one-time code (P2P `LOOKUP`).
    pub const LOOKUP: &str = "4000000000003063";
}

/// Decides a card attempt in the month `(year, month)`.
pub fn decide(number: &CardNumber, expiry: CardExpiry, year: i64, month: u32) -> CardDecision {
    if !expiry.is_valid_in(year, month) {
        return CardDecision::Declined(Resolution::ExpiredCard);
    }
    match number.digits() {
        cards::DECLINED => CardDecision::Declined(Resolution::Declined),
        cards::INSUFFICIENT_FUNDS => CardDecision::Declined(Resolution::InsufficientFunds),
        cards::PROCESSING_ERROR => CardDecision::Declined(Resolution::ProcessingError),
        cards::THREE_DS => CardDecision::ChallengeThreeDs,
        _ => CardDecision::Approved,
    }
}

/// The one-time code that confirms a `LOOKUP` transfer in the sandbox.
pub const LOOKUP_CODE: &str = "123456";

/// Decides the `SEND` of a P2P transfer: like a card payment, except that the `LOOKUP` card
/// asks for a one-time code and the 3-D Secure card for the hosted challenge.
pub fn decide_send(number: &CardNumber, expiry: CardExpiry, year: i64, month: u32) -> SendDecision {
    match decide(number, expiry, year, month) {
        CardDecision::Declined(reason) => SendDecision::Declined(reason),
        CardDecision::ChallengeThreeDs => SendDecision::Confirm(Confirmation::ThreeDs),
        CardDecision::Approved if number.digits() == cards::LOOKUP => {
            SendDecision::Confirm(Confirmation::Lookup)
        }
        CardDecision::Approved => SendDecision::Approved,
    }
}

/// Decides a `RECEIVE` to a card: declined and expired cards refuse it; a card that would ask
/// its holder to confirm a payment accepts money without asking.
pub fn decide_receive(
    number: &CardNumber,
    expiry: CardExpiry,
    year: i64,
    month: u32,
) -> CardDecision {
    match decide(number, expiry, year, month) {
        CardDecision::ChallengeThreeDs => CardDecision::Approved,
        other => other,
    }
}

/// Whether a one-time code confirms a `LOOKUP` transfer (compared in constant time).
pub fn lookup_code_matches(code: &str) -> bool {
    crate::credentials::constant_time_eq(code.as_bytes(), LOOKUP_CODE.as_bytes())
}

/// What the customer answered to a 3-D Secure challenge.
pub fn decide_challenge(approved: bool) -> CardDecision {
    if approved {
        CardDecision::Approved
    } else {
        CardDecision::Declined(Resolution::ThreeDsFailed)
    }
}

/// The `test` method's outcome, chosen by its `status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    Processed,
    Failed,
    Pending,
}

/// Reads the `status` field of the `test` method (`processed`, `process_failed`,
/// `process_pending`); anything else is not an outcome.
pub fn test_outcome(status: &str) -> Option<TestOutcome> {
    match status {
        "processed" => Some(TestOutcome::Processed),
        "process_failed" => Some(TestOutcome::Failed),
        "process_pending" => Some(TestOutcome::Pending),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(number: &str) -> CardNumber {
        CardNumber::parse(number).unwrap()
    }

    #[test]
    fn test_cards_decide_as_documented() {
        let expiry = CardExpiry {
            month: 12,
            year: 2030,
        };
        assert_eq!(
            decide(&card("4242424242424242"), expiry, 2026, 11),
            CardDecision::Approved
        );
        assert_eq!(
            decide(&card(cards::DECLINED), expiry, 2026, 11),
            CardDecision::Declined(Resolution::Declined)
        );
        assert_eq!(
            decide(&card(cards::INSUFFICIENT_FUNDS), expiry, 2026, 11),
            CardDecision::Declined(Resolution::InsufficientFunds)
        );
        assert_eq!(
            decide(&card(cards::PROCESSING_ERROR), expiry, 2026, 11),
            CardDecision::Declined(Resolution::ProcessingError)
        );
        assert_eq!(
            decide(&card(cards::THREE_DS), expiry, 2026, 11),
            CardDecision::ChallengeThreeDs
        );
        let past = CardExpiry {
            month: 10,
            year: 2026,
        };
        assert_eq!(
            decide(&card("4242424242424242"), past, 2026, 11),
            CardDecision::Declined(Resolution::ExpiredCard)
        );
        assert_eq!(
            decide_challenge(false),
            CardDecision::Declined(Resolution::ThreeDsFailed)
        );
        assert_eq!(
            decide_send(&card(cards::LOOKUP), expiry, 2026, 11),
            SendDecision::Confirm(Confirmation::Lookup)
        );
        assert_eq!(
            decide_send(&card(cards::THREE_DS), expiry, 2026, 11),
            SendDecision::Confirm(Confirmation::ThreeDs)
        );
        assert_eq!(
            decide_receive(&card(cards::THREE_DS), expiry, 2026, 11),
            CardDecision::Approved
        );
        assert_eq!(
            decide_receive(&card(cards::DECLINED), expiry, 2026, 11),
            CardDecision::Declined(Resolution::Declined)
        );
        assert!(lookup_code_matches("123456"));
        assert!(!lookup_code_matches("654321"));
        assert_eq!(test_outcome("processed"), Some(TestOutcome::Processed));
        assert_eq!(test_outcome("whatever"), None);
    }
}
