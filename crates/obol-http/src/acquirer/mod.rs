//! The acquirer interface: what the hosted page asks to decide a card attempt. The sandbox
//! acquirer implements it today; upstream connectors will implement the same trait, so the
//! pages never know which one answers.

use obol_core::Timestamp;
use obol_core::card::{CardExpiry, CardNumber};
use obol_core::p2p::SendDecision;
use obol_core::sandbox::{self, CardDecision};

pub mod vault;

/// Decides card attempts. Synchronous because the sandbox answers from rules in memory; a
/// connector that talks to a network would get an async sibling of this trait.
pub trait Acquirer: Send + Sync {
    /// The first answer to a card: approved, declined (with the reason), or a 3-D Secure
    /// challenge the customer must answer first.
    fn authorize(&self, card: &CardNumber, expiry: CardExpiry, now: Timestamp) -> CardDecision;

    /// The answer after the customer approved or rejected the 3-D Secure challenge.
    fn challenge(&self, approved: bool) -> CardDecision;

    /// Debiting the sender of a P2P transfer: approved, declined, or the sender must confirm
    /// (3-D Secure on the hosted page, or a one-time code).
    fn authorize_send(&self, card: &CardNumber, expiry: CardExpiry, now: Timestamp)
    -> SendDecision;

    /// Crediting the recipient of a P2P transfer.
    fn authorize_receive(
        &self,
        card: &CardNumber,
        expiry: CardExpiry,
        now: Timestamp,
    ) -> CardDecision;

    /// Whether a one-time code confirms a `LOOKUP` transfer.
    fn confirm_code(&self, code: &str) -> bool;
}

/// The deterministic, offline acquirer of SPEC §4 (test cards in `obol_core::sandbox`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SandboxAcquirer;

impl Acquirer for SandboxAcquirer {
    fn authorize(&self, card: &CardNumber, expiry: CardExpiry, now: Timestamp) -> CardDecision {
        // Cards expire at the end of their month, in UTC like every other date in Obol.
        let today = now.to_utc_fields();
        sandbox::decide(card, expiry, today.year, today.month)
    }

    fn challenge(&self, approved: bool) -> CardDecision {
        sandbox::decide_challenge(approved)
    }

    fn authorize_send(
        &self,
        card: &CardNumber,
        expiry: CardExpiry,
        now: Timestamp,
    ) -> SendDecision {
        let today = now.to_utc_fields();
        sandbox::decide_send(card, expiry, today.year, today.month)
    }

    fn authorize_receive(
        &self,
        card: &CardNumber,
        expiry: CardExpiry,
        now: Timestamp,
    ) -> CardDecision {
        let today = now.to_utc_fields();
        sandbox::decide_receive(card, expiry, today.year, today.month)
    }

    fn confirm_code(&self, code: &str) -> bool {
        sandbox::lookup_code_matches(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol_core::payment::Resolution;

    #[test]
    fn sandbox_uses_the_calendar_month_of_now() {
        // 2025-11-23 UTC.
        let now = Timestamp::from_unix_seconds(1_763_900_000);
        let card = CardNumber::parse("4242424242424242").unwrap();
        let acquirer = SandboxAcquirer;
        assert_eq!(
            acquirer.authorize(&card, CardExpiry::parse("11/25").unwrap(), now),
            CardDecision::Approved
        );
        assert_eq!(
            acquirer.authorize(&card, CardExpiry::parse("10/25").unwrap(), now),
            CardDecision::Declined(Resolution::ExpiredCard)
        );
        assert_eq!(
            acquirer.challenge(false),
            CardDecision::Declined(Resolution::ThreeDsFailed)
        );
    }
}
