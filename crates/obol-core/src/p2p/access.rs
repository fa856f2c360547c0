//! Who a P2P session acts for, which cards it may use, and how long a signed request is
//! remembered (SPEC §3.4).
//!
//! A session opened with a `userId` acts for that end user of the client only: the cards it
//! adds are the user's, it lists only the user's cards, and it may debit (`cardFrom`) or claim
//! a BUCKET into (the receiving card) only a card of the user. It may still name any card of
//! its client as the recipient of a transfer (`cardTo`): card ids are unguessable, and sending
//! to someone is what a transfer is for. A session without a `userId` acts for the whole
//! client, as every session did before users existed.

use std::fmt;

use crate::ids::{P2pClientId, Uuid};
use crate::p2p::P2pCard;
use crate::time::Timestamp;

/// Longest `userId`, in characters.
pub const USER_ID_LENGTH_MAX: usize = 64;
/// How far a signed request's `iat` may be from the server's clock, either way.
pub const SIGNATURE_WINDOW_SECONDS: i64 = 20;

/// The client's own id of one of its end users: 1 to 64 visible characters (no whitespace,
/// no control characters).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct P2pUserId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("userId must be 1 to 64 visible characters")]
pub struct InvalidUserId;

impl P2pUserId {
    pub fn parse(text: &str) -> Result<P2pUserId, InvalidUserId> {
        let length = text.chars().count();
        let visible = text
            .chars()
            .all(|character| !character.is_whitespace() && !character.is_control());
        if length == 0 || length > USER_ID_LENGTH_MAX || !visible {
            return Err(InvalidUserId);
        }
        Ok(P2pUserId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for P2pUserId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "P2pUserId({:?})", self.0)
    }
}

/// What a session wants to do with a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardUse {
    /// Debit it: a transfer's `cardFrom`.
    Send,
    /// Name it as a transfer's recipient: `cardTo` of `payments/create`.
    NameRecipient,
    /// Credit it with (part of) a BUCKET: the card of `payments/receive`.
    ClaimBucket,
    /// See it in `cards/list`.
    List,
}

/// Whom a session acts for: its client, and within it one user or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionScope {
    pub client_id: P2pClientId,
    pub user_id: Option<P2pUserId>,
}

impl SessionScope {
    pub fn whole_client(client_id: P2pClientId) -> SessionScope {
        SessionScope {
            client_id,
            user_id: None,
        }
    }

    /// Whether the session may use `card` this way. Another client's card is never usable.
    pub fn may_use(&self, card: &P2pCard, usage: CardUse) -> bool {
        if card.client_id != self.client_id {
            return false;
        }
        match (&self.user_id, usage) {
            (None, _) | (Some(_), CardUse::NameRecipient) => true,
            (Some(user), CardUse::Send | CardUse::ClaimBucket | CardUse::List) => {
                card.user_id.as_ref() == Some(user)
            }
        }
    }

    /// Whose a card added in this session is: the session's user, or the client's alone.
    pub fn owner_of_new_cards(&self) -> Option<&P2pUserId> {
        self.user_id.as_ref()
    }
}

/// How long a hosted card-form link works.
pub const CARD_FORM_LIFETIME_SECONDS: i64 = 15 * 60;

/// A hosted card-form link (`/p2p/cards/new?token=…`): it adds one card for the client (and
/// user) of the session that asked for it, for a while, and carries no session itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardForm {
    pub client_id: P2pClientId,
    pub user_id: Option<P2pUserId>,
    /// The card added through it, once it was used.
    pub card_id: Option<Uuid>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

impl CardForm {
    /// A new link for a session's client and user.
    pub fn issue(scope: &SessionScope, now: Timestamp) -> CardForm {
        CardForm {
            client_id: scope.client_id,
            user_id: scope.user_id.clone(),
            card_id: None,
            created_at: now,
            expires_at: now.plus_seconds(CARD_FORM_LIFETIME_SECONDS),
            used_at: None,
        }
    }

    /// Whom the card added through it belongs to.
    pub fn scope(&self) -> SessionScope {
        SessionScope {
            client_id: self.client_id,
            user_id: self.user_id.clone(),
        }
    }

    /// Whether it still takes a card: never used, and not run out.
    pub fn takes_a_card(&self, now: Timestamp) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }

    /// The card added through it, shown until the link runs out.
    pub fn added_card(&self, now: Timestamp) -> Option<&Uuid> {
        self.card_id.as_ref().filter(|_| now < self.expires_at)
    }
}

/// Whether a signed request issued at `iat` (Unix seconds) is within its window at `now`; if
/// it is, until when its token must be remembered so that the same token is refused again
/// (the last moment it could still be accepted, rounded up to the next second).
pub fn signed_request_window(iat: i64, now: Timestamp) -> Option<Timestamp> {
    if now.unix_seconds().abs_diff(iat) > SIGNATURE_WINDOW_SECONDS.unsigned_abs() {
        return None;
    }
    Some(Timestamp::from_unix_seconds(
        iat + SIGNATURE_WINDOW_SECONDS + 1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Uuid;
    use crate::ids::test_random::TestRandom;
    use crate::payment::CardPayload;

    fn user(text: &str) -> P2pUserId {
        P2pUserId::parse(text).unwrap()
    }

    fn card(client: i64, owner: Option<&str>) -> P2pCard {
        P2pCard {
            id: Uuid::generate_v4(&mut TestRandom(7)),
            client_id: P2pClientId::new(client),
            user_id: owner.map(user),
            token: "vault-token".to_owned(),
            payload: CardPayload {
                first6: "411111".to_owned(),
                last4: "1111".to_owned(),
                brand: "visa".to_owned(),
                issuer: None,
                expiry_month: 12,
                expiry_year: 2030,
                holder: None,
            },
            created_at: Timestamp::from_unix_seconds(0),
        }
    }

    fn scope(client: i64, user_id: Option<&str>) -> SessionScope {
        SessionScope {
            client_id: P2pClientId::new(client),
            user_id: user_id.map(user),
        }
    }

    #[test]
    fn user_ids_are_one_to_sixty_four_visible_characters() {
        for good in ["u", "user-42", "користувач", &"x".repeat(64)] {
            assert_eq!(P2pUserId::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            " ",
            "a b",
            "tab\there",
            "line\n",
            "nul\0",
            &"x".repeat(65),
        ] {
            assert_eq!(P2pUserId::parse(bad), Err(InvalidUserId), "{bad:?}");
        }
    }

    #[test]
    fn a_users_session_uses_only_the_users_cards_but_pays_anyone_of_the_client() {
        let alice = scope(1, Some("alice"));
        let alices = card(1, Some("alice"));
        let bobs = card(1, Some("bob"));
        let clients = card(1, None);
        let uses = [
            CardUse::Send,
            CardUse::ClaimBucket,
            CardUse::List,
            CardUse::NameRecipient,
        ];
        for usage in uses {
            assert!(alice.may_use(&alices, usage), "{usage:?}");
        }
        for card in [&bobs, &clients] {
            assert!(!alice.may_use(card, CardUse::Send));
            assert!(!alice.may_use(card, CardUse::ClaimBucket));
            assert!(!alice.may_use(card, CardUse::List));
            assert!(alice.may_use(card, CardUse::NameRecipient));
        }
        assert_eq!(alice.owner_of_new_cards(), Some(&user("alice")));
    }

    #[test]
    fn a_client_wide_session_uses_every_card_of_its_client_and_no_other() {
        let wallet = scope(1, None);
        let uses = [
            CardUse::Send,
            CardUse::ClaimBucket,
            CardUse::List,
            CardUse::NameRecipient,
        ];
        for usage in uses {
            for card in [card(1, Some("alice")), card(1, None)] {
                assert!(wallet.may_use(&card, usage), "{usage:?}");
            }
            assert!(!wallet.may_use(&card(2, None), usage));
            assert!(!scope(2, Some("alice")).may_use(&card(1, Some("alice")), usage));
        }
        assert_eq!(wallet.owner_of_new_cards(), None);
        assert_eq!(SessionScope::whole_client(P2pClientId::new(1)), wallet);
    }

    #[test]
    fn a_card_form_takes_one_card_for_fifteen_minutes() {
        let now = Timestamp::from_unix_seconds(1_000_000);
        let alice = scope(1, Some("alice"));
        let mut form = CardForm::issue(&alice, now);
        assert_eq!(form.scope(), alice);
        assert_eq!(form.expires_at, now.plus_seconds(15 * 60));
        assert!(form.takes_a_card(now));
        assert!(form.takes_a_card(now.plus_seconds(15 * 60 - 1)));
        assert!(!form.takes_a_card(now.plus_seconds(15 * 60)));
        assert_eq!(form.added_card(now), None);
        let card = Uuid::generate_v4(&mut TestRandom(3));
        form.card_id = Some(card.clone());
        form.used_at = Some(now.plus_seconds(60));
        assert!(!form.takes_a_card(now.plus_seconds(61)), "one card only");
        assert_eq!(form.added_card(now.plus_seconds(61)), Some(&card));
        assert_eq!(form.added_card(now.plus_seconds(15 * 60)), None);
    }

    #[test]
    fn a_signed_request_is_remembered_for_as_long_as_it_could_be_accepted() {
        let now = Timestamp::from_unix_seconds(1_000_000);
        for iat in [1_000_000 - 20, 1_000_000, 1_000_000 + 20] {
            let until = signed_request_window(iat, now).unwrap();
            assert_eq!(until, Timestamp::from_unix_seconds(iat + 21));
            // At its last acceptable moment it is still remembered.
            let last = Timestamp::from_unix_micros((iat + 20) * 1_000_000 + 999_999);
            assert!(signed_request_window(iat, last).is_some());
            assert!(last < until);
        }
        assert_eq!(signed_request_window(1_000_000 - 21, now), None);
        assert_eq!(signed_request_window(1_000_000 + 21, now), None);
        assert_eq!(signed_request_window(i64::MIN, now), None);
        assert_eq!(signed_request_window(i64::MAX, now), None);
    }
}
