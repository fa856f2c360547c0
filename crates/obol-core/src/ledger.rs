//! The double-entry ledger: every movement of money is a transaction whose postings sum to
//! zero in each currency. Balances are never stored; they are sums of postings.

use std::collections::BTreeMap;
use std::fmt;

use crate::currency::Currency;
use crate::error::{Coded, ErrorCode, codes};
use crate::ids::{CustomerAccountId, MerchantId, P2pClientId, PaymentId, ResellerId, Uuid};
use crate::mode::Mode;
use crate::money::Money;

/// A ledger account, written as a stable text code (`merchant:5`, `clearing:sandbox`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountCode(String);

/// Where money enters or leaves Obol's books: the acquirer or provider that moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clearing {
    /// The built-in sandbox acquirer.
    Sandbox,
    /// Money a manager recorded as received outside Obol (cash, bank transfer).
    Offline,
    /// An upstream provider reached through a connector.
    Upstream,
}

impl Clearing {
    pub fn as_str(self) -> &'static str {
        match self {
            Clearing::Sandbox => "sandbox",
            Clearing::Offline => "offline",
            Clearing::Upstream => "upstream",
        }
    }
}

pub const CLEARING_PREFIX: &str = "clearing:";

impl AccountCode {
    pub fn clearing(source: Clearing) -> AccountCode {
        AccountCode(format!("{CLEARING_PREFIX}{}", source.as_str()))
    }

    /// A live route's clearing account, `clearing:{route name}` (SPEC §4 "Live routes"). Route
    /// names never take the built-in clearings' names (the configuration refuses them).
    pub fn route_clearing(route: &str) -> AccountCode {
        AccountCode(format!("{CLEARING_PREFIX}{route}"))
    }

    pub fn merchant(id: MerchantId) -> AccountCode {
        AccountCode(format!("merchant:{id}"))
    }

    pub fn reseller(id: ResellerId) -> AccountCode {
        AccountCode(format!("reseller:{id}"))
    }

    pub fn customer_account(id: CustomerAccountId) -> AccountCode {
        AccountCode(format!("customer_account:{id}"))
    }

    pub fn p2p_transit(client: P2pClientId) -> AccountCode {
        AccountCode(format!("p2p_transit:{client}"))
    }

    /// A card of a P2P client: money debited from or credited to it through the acquirer.
    pub fn p2p_card(card: &Uuid) -> AccountCode {
        AccountCode(format!("p2p_card:{}", card.as_str()))
    }

    pub fn operator_fees() -> AccountCode {
        AccountCode("operator:fees".to_owned())
    }

    /// Reads back a stored code; any non-empty code without spaces is accepted, so codes added
    /// later remain readable by older tools.
    pub fn from_stored(text: &str) -> Option<AccountCode> {
        (!text.is_empty() && text.len() <= 128 && !text.contains(char::is_whitespace))
            .then(|| AccountCode(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_clearing(&self) -> bool {
        self.0.starts_with(CLEARING_PREFIX)
    }
}

impl fmt::Debug for AccountCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Why a ledger transaction was booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    /// A payment's money received.
    Payment,
    /// Money returned to the payer.
    Refund,
    /// A correction of a customer account's balance (partial or over-payment).
    Correction,
    /// A P2P transfer step.
    Transfer,
    /// Booked once by the migration that split test from live money: it moves what a test
    /// payment or transfer had booked into the accounts both modes shared before out of the
    /// live accounts (a live transaction reversing the original) and into the test accounts (a
    /// test transaction repeating it). Postings are never edited.
    Reclassification,
}

impl TransactionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Payment => "payment",
            TransactionKind::Refund => "refund",
            TransactionKind::Correction => "correction",
            TransactionKind::Transfer => "transfer",
            TransactionKind::Reclassification => "reclassification",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionKind> {
        match text {
            "payment" => Some(TransactionKind::Payment),
            "refund" => Some(TransactionKind::Refund),
            "correction" => Some(TransactionKind::Correction),
            "transfer" => Some(TransactionKind::Transfer),
            "reclassification" => Some(TransactionKind::Reclassification),
            _ => None,
        }
    }
}

/// One line of a transaction: money into (positive) or out of (negative) an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountCode,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("postings of {0} do not sum to zero")]
    Unbalanced(Currency),
    #[error("a transaction needs at least two non-zero postings")]
    TooFewPostings,
}

impl Coded for LedgerError {
    fn code(&self) -> ErrorCode {
        codes::LEDGER_UNBALANCED
    }
}

/// A balanced set of postings, all in one mode. The only constructor checks the balance, so an
/// unbalanced transaction cannot exist in memory, let alone reach storage; and since the mode
/// belongs to the transaction, not to each posting, none can mix test and live money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTransaction {
    kind: TransactionKind,
    payment_id: Option<PaymentId>,
    mode: Mode,
    postings: Vec<Posting>,
}

impl LedgerTransaction {
    pub fn new(
        kind: TransactionKind,
        payment_id: Option<PaymentId>,
        mode: Mode,
        postings: Vec<Posting>,
    ) -> Result<LedgerTransaction, LedgerError> {
        let postings: Vec<Posting> = postings
            .into_iter()
            .filter(|posting| !posting.amount.is_zero())
            .collect();
        if postings.len() < 2 {
            return Err(LedgerError::TooFewPostings);
        }
        for (currency, sum) in sums_by_currency(&postings) {
            if sum != 0 {
                return Err(LedgerError::Unbalanced(currency));
            }
        }
        Ok(LedgerTransaction {
            kind,
            payment_id,
            mode,
            postings,
        })
    }

    /// The mode of every posting: its accounts are this mode's.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn kind(&self) -> TransactionKind {
        self.kind
    }

    pub fn payment_id(&self) -> Option<&PaymentId> {
        self.payment_id.as_ref()
    }

    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }
}

/// Sum of postings per currency, in `i128` so that no sum of `i64` amounts can overflow.
pub fn sums_by_currency(postings: &[Posting]) -> BTreeMap<Currency, i128> {
    let mut sums = BTreeMap::new();
    for posting in postings {
        *sums.entry(posting.amount.currency()).or_insert(0i128) +=
            i128::from(posting.amount.minor());
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn posting(account: AccountCode, minor: i64, currency: Currency) -> Posting {
        Posting {
            account,
            amount: Money::from_minor(minor, currency).unwrap(),
        }
    }

    #[test]
    fn balanced_transactions_are_accepted() {
        let transaction = LedgerTransaction::new(
            TransactionKind::Payment,
            None,
            Mode::Live,
            vec![
                posting(
                    AccountCode::clearing(Clearing::Sandbox),
                    -10_000,
                    Currency::USD,
                ),
                posting(
                    AccountCode::merchant(MerchantId::new(5)),
                    9_750,
                    Currency::USD,
                ),
                posting(AccountCode::operator_fees(), 250, Currency::USD),
            ],
        )
        .unwrap();
        assert_eq!(transaction.postings().len(), 3);
    }

    #[test]
    fn unbalanced_transactions_are_refused() {
        let result = LedgerTransaction::new(
            TransactionKind::Payment,
            None,
            Mode::Live,
            vec![
                posting(
                    AccountCode::clearing(Clearing::Sandbox),
                    -100,
                    Currency::USD,
                ),
                posting(AccountCode::operator_fees(), 99, Currency::USD),
            ],
        );
        assert_eq!(result, Err(LedgerError::Unbalanced(Currency::USD)));
        let mixed = LedgerTransaction::new(
            TransactionKind::Payment,
            None,
            Mode::Live,
            vec![
                posting(
                    AccountCode::clearing(Clearing::Sandbox),
                    -100,
                    Currency::USD,
                ),
                posting(AccountCode::operator_fees(), 100, Currency::EUR),
            ],
        );
        assert!(
            matches!(mixed, Err(LedgerError::Unbalanced(_))),
            "balance holds per currency"
        );
        let single = LedgerTransaction::new(
            TransactionKind::Payment,
            None,
            Mode::Live,
            vec![posting(AccountCode::operator_fees(), 0, Currency::USD)],
        );
        assert_eq!(single, Err(LedgerError::TooFewPostings));
    }

    #[test]
    fn account_codes_are_stable_text() {
        assert_eq!(
            AccountCode::merchant(MerchantId::new(5)).as_str(),
            "merchant:5"
        );
        assert!(AccountCode::clearing(Clearing::Offline).is_clearing());
        assert!(!AccountCode::operator_fees().is_clearing());
        assert_eq!(
            AccountCode::from_stored("merchant:5"),
            Some(AccountCode::merchant(MerchantId::new(5)))
        );
        assert_eq!(AccountCode::from_stored("has space"), None);
    }

    proptest! {
        #[test]
        fn any_split_of_an_amount_balances(amount in 1i64..1_000_000_000, cut in 0i64..1_000_000_000) {
            let cut = cut % (amount + 1);
            let transaction = LedgerTransaction::new(TransactionKind::Payment, None, Mode::Live, vec![
                posting(AccountCode::clearing(Clearing::Sandbox), -amount, Currency::USD),
                posting(AccountCode::merchant(MerchantId::new(1)), amount - cut, Currency::USD),
                posting(AccountCode::operator_fees(), cut, Currency::USD),
            ]);
            prop_assert!(transaction.is_ok());
        }
    }
}
