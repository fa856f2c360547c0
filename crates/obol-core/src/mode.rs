//! Test and live: two worlds whose money never meets (SPEC §2 "Test and live").
//!
//! Every payment, P2P transfer, ledger transaction, account and balance is in one mode. A
//! ledger account is the pair (code, mode): `merchant:5` in test and `merchant:5` in live are
//! two accounts. A [`crate::ledger::LedgerTransaction`] carries one mode for all its postings,
//! so a transaction that mixes modes cannot be built.
//!
//! Who settles a payment online also follows from its mode ([`OnlineRoute`]): the sandbox
//! acquirer settles test payments only; a live payment needs a live route (an upstream
//! provider the operator configured), and without one it is not payable online at all.

use std::fmt;

use crate::currency::Currency;

/// Test or live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    /// The mode of something that carries a `test_mode` flag.
    pub fn of_test_flag(test_mode: bool) -> Mode {
        if test_mode { Mode::Test } else { Mode::Live }
    }

    pub fn is_test(self) -> bool {
        self == Mode::Test
    }

    /// The stored and printed name: `test` or `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "test" => Some(Mode::Test),
            "live" => Some(Mode::Live),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How a caller reached a merchant's account: the mode of what it creates comes from this
/// and from the merchant, never from an unauthenticated field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The public key (`pk_test_…` / `pk_live_…`): the public API, the HTML form, the hosted
    /// page's checkout. Merchants publish it.
    PublicKey,
    /// The merchant's private credentials (`api_login` / `api_secret`, bearer tokens).
    Private,
}

/// A `test_mode` the caller may not ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("test_mode cannot be chosen with a live public key")]
pub struct ModeNotChosenByPublicKey;

/// The mode of a payment a merchant in `merchant_mode` creates, reached as `caller`, asking
/// for `requested_test` (a `test_mode` field, when given) — SPEC §2 "Test and live":
/// - a test merchant's payments are all test, whatever is asked;
/// - a live merchant's public key makes live payments only, and a `test_mode` field there is
///   refused (whoever holds the published key must not choose how the money is booked);
/// - a live merchant makes a test payment only through its private API (`test_mode: true`).
pub fn payment_mode(
    merchant_mode: Mode,
    caller: Caller,
    requested_test: Option<bool>,
) -> Result<Mode, ModeNotChosenByPublicKey> {
    match (merchant_mode, caller, requested_test) {
        (Mode::Test, _, _) => Ok(Mode::Test),
        (Mode::Live, Caller::PublicKey, Some(_)) => Err(ModeNotChosenByPublicKey),
        (Mode::Live, Caller::PublicKey, None) => Ok(Mode::Live),
        (Mode::Live, Caller::Private, requested) => {
            Ok(Mode::of_test_flag(requested.unwrap_or(false)))
        }
    }
}

/// A live route as the route choice sees it (SPEC §4 "Live routes"): an upstream provider the
/// operator configured, by name, and the currencies it settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRoute {
    pub name: String,
    pub currencies: Vec<Currency>,
}

impl LiveRoute {
    pub fn serves(&self, currency: Currency) -> bool {
        self.currencies.contains(&currency)
    }
}

/// The live route that settles a live payment in `currency` (SPEC §4): the one the merchant
/// chose (`obol merchant set-acquirer`), when it serves the currency; with no choice (a
/// merchant that named none, a reseller's own payment), the first configured route serving the
/// currency. A merchant's chosen route never gives way to another: its payments in a currency
/// the route does not serve have no route at all.
pub fn choose_live_route<'a>(
    routes: impl IntoIterator<Item = &'a LiveRoute>,
    merchant_choice: Option<&str>,
    currency: Currency,
) -> Option<&'a LiveRoute> {
    let mut routes = routes.into_iter();
    match merchant_choice {
        Some(chosen) => routes
            .find(|route| route.name == chosen)
            .filter(|route| route.serves(currency)),
        None => routes.find(|route| route.serves(currency)),
    }
}

/// Who settles a payment that a customer pays online (the hosted page's card step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnlineRoute {
    /// The built-in sandbox acquirer: test payments only.
    Sandbox,
    /// A live route: an upstream provider configured by the operator, by its name (SPEC §4
    /// "Live routes").
    Live(String),
    /// Nobody: a live payment with no live route for its currency. The page offers no card
    /// form and says that online payment is not available.
    Unavailable,
}

impl OnlineRoute {
    /// The one rule: a test payment goes to the sandbox, never anywhere else; a live payment
    /// goes to the live route serving it (`live_route`, chosen by the caller from the
    /// configuration for the payment's merchant and currency), or nowhere.
    pub fn choose(mode: Mode, live_route: Option<&str>) -> OnlineRoute {
        match (mode, live_route) {
            (Mode::Test, _) => OnlineRoute::Sandbox,
            (Mode::Live, Some(route)) => OnlineRoute::Live(route.to_owned()),
            (Mode::Live, None) => OnlineRoute::Unavailable,
        }
    }

    /// Whether the sandbox acquirer (its test cards, its `test` method) may settle it.
    pub fn is_sandbox(&self) -> bool {
        *self == OnlineRoute::Sandbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in [Mode::Test, Mode::Live] {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Mode::parse("Live"), None);
        assert_eq!(Mode::of_test_flag(true), Mode::Test);
        assert_eq!(Mode::of_test_flag(false), Mode::Live);
    }

    #[test]
    fn a_live_route_is_the_merchants_choice_else_the_first_serving_the_currency() {
        let (rub, usd) = (Currency::parse("RUB").unwrap(), Currency::USD);
        let routes = [
            LiveRoute {
                name: "main".to_owned(),
                currencies: vec![rub],
            },
            LiveRoute {
                name: "second".to_owned(),
                currencies: vec![rub, usd],
            },
        ];
        let chosen = |choice: Option<&str>, currency| {
            choose_live_route(&routes, choice, currency).map(|route| route.name.as_str())
        };
        assert_eq!(chosen(None, rub), Some("main"));
        assert_eq!(chosen(None, usd), Some("second"));
        assert_eq!(chosen(Some("second"), rub), Some("second"));
        assert_eq!(
            chosen(Some("main"), usd),
            None,
            "the choice never gives way"
        );
        assert_eq!(chosen(Some("gone"), rub), None);
        assert_eq!(chosen(None, Currency::EUR), None);
        assert_eq!(choose_live_route(&[] as &[LiveRoute], None, rub), None);
    }

    #[test]
    fn the_mode_comes_from_the_credential_and_the_merchant() {
        use Caller::{Private, PublicKey};
        let refused = Err(ModeNotChosenByPublicKey);
        let cases = [
            (Mode::Test, PublicKey, None, Ok(Mode::Test)),
            (Mode::Test, PublicKey, Some(false), Ok(Mode::Test)),
            (Mode::Test, Private, Some(false), Ok(Mode::Test)),
            (Mode::Live, PublicKey, None, Ok(Mode::Live)),
            (Mode::Live, PublicKey, Some(true), refused),
            (Mode::Live, PublicKey, Some(false), refused),
            (Mode::Live, Private, None, Ok(Mode::Live)),
            (Mode::Live, Private, Some(false), Ok(Mode::Live)),
            (Mode::Live, Private, Some(true), Ok(Mode::Test)),
        ];
        for (merchant, caller, requested, expected) in cases {
            assert_eq!(
                payment_mode(merchant, caller, requested),
                expected,
                "{merchant} merchant, {caller:?}, test_mode {requested:?}"
            );
        }
    }

    #[test]
    fn the_sandbox_settles_test_payments_only() {
        let cases = [
            (Mode::Test, None, OnlineRoute::Sandbox),
            // A live route never takes a test payment: test cards stay in the sandbox.
            (Mode::Test, Some("yookassa-main"), OnlineRoute::Sandbox),
            (
                Mode::Live,
                Some("yookassa-main"),
                OnlineRoute::Live("yookassa-main".to_owned()),
            ),
            (Mode::Live, None, OnlineRoute::Unavailable),
        ];
        for (mode, route, expected) in cases {
            let chosen = OnlineRoute::choose(mode, route);
            assert_eq!(chosen, expected, "{mode} with {route:?}");
            assert_eq!(chosen.is_sandbox(), mode == Mode::Test);
        }
    }
}
