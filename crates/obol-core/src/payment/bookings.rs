//! What a payment books: its beneficiary and clearing accounts, the receipt of its money,
//! money received outside Obol (external settlement and corrections), and the window its
//! expiry may be set in.

use super::*;

impl Payment {
    /// The account that receives the payment's money: its merchant, else its reseller.
    pub fn beneficiary(&self) -> AccountCode {
        match self.merchant_id {
            Some(merchant) => AccountCode::merchant(merchant),
            None => AccountCode::reseller(self.reseller_id),
        }
    }

    /// Who brings this payment's money in: offline for a payment a manager completed, an
    /// upstream provider for one relayed to it (YooKassa's `PaymentCommit`) or sent to a live
    /// route, else the sandbox acquirer.
    pub fn clearing(&self) -> Clearing {
        if self.completed_by.is_some() {
            Clearing::Offline
        } else if self.source == Source::Yookassa || self.route.is_some() {
            Clearing::Upstream
        } else {
            Clearing::Sandbox
        }
    }

    /// The account its money enters and leaves the books through: the live route's own
    /// (`clearing:{route}`, SPEC §4) for a payment sent to one, else its [`Payment::clearing`]'s.
    pub fn clearing_account(&self) -> AccountCode {
        match (&self.route, self.clearing()) {
            (Some(route), Clearing::Upstream) => AccountCode::route_clearing(route),
            (_, clearing) => AccountCode::clearing(clearing),
        }
    }

    /// Whether the payment is in an upstream provider's hands: relayed to it, or sent to a
    /// live route. Then only the provider's reports move it.
    pub fn moves_upstream(&self) -> bool {
        self.source == Source::Yookassa || self.upstream_id.is_some()
    }

    /// Money received: the amount leaves the clearing account, the deposit goes to the
    /// beneficiary and the fee to the operator. A zero amount (card verification) moves
    /// nothing and books nothing.
    pub(super) fn receipt_transaction(
        &self,
        clearing: AccountCode,
    ) -> Result<Option<LedgerTransaction>, PaymentError> {
        if self.amount.is_zero() {
            return Ok(None);
        }
        Ok(Some(LedgerTransaction::new(
            TransactionKind::Payment,
            Some(self.id.clone()),
            self.mode(),
            vec![
                Posting {
                    account: clearing,
                    amount: self.amount.negated(),
                },
                Posting {
                    account: self.beneficiary(),
                    amount: self.deposit,
                },
                Posting {
                    account: AccountCode::operator_fees(),
                    amount: self.fee,
                },
            ],
        )?))
    }
}

/// What money received outside Obol for a payment does (ActivePlatform's completion by
/// document number, SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalSettlement {
    /// The payment is completed; what was received beyond its total is a correction.
    Complete { excess: Option<Money> },
    /// The payment stays as it is; all that was received is a correction (less than the total,
    /// or the payment was already completed or cancelled).
    Correction(Money),
}

impl Payment {
    /// Decides what `received` does to this payment.
    pub fn settle_external(&self, received: Money) -> Result<ExternalSettlement, PaymentError> {
        if received.currency() != self.amount.currency() || !received.is_positive() {
            return Err(PaymentError::Money(MoneyError::CurrencyMismatch));
        }
        let completable = matches!(
            self.status,
            PaymentStatus::Created | PaymentStatus::Pending | PaymentStatus::Expired
        );
        if !completable || received.minor() < self.amount.minor() {
            return Ok(ExternalSettlement::Correction(received));
        }
        let excess = received.checked_sub(self.amount)?;
        Ok(ExternalSettlement::Complete {
            excess: excess.is_positive().then_some(excess),
        })
    }

    /// The ledger transaction crediting `amount` to the payment's customer account as a
    /// correction; `None` for a payment without one.
    pub fn correction_transaction(
        &self,
        amount: Money,
    ) -> Result<Option<LedgerTransaction>, PaymentError> {
        let Some(account) = self.customer_account_id else {
            return Ok(None);
        };
        Ok(Some(LedgerTransaction::new(
            TransactionKind::Correction,
            Some(self.id.clone()),
            self.mode(),
            vec![
                Posting {
                    account: AccountCode::clearing(Clearing::Offline),
                    amount: amount.negated(),
                },
                Posting {
                    account: AccountCode::customer_account(account),
                    amount,
                },
            ],
        )?))
    }
}

/// Bounds of an expiry time relative to creation, inclusive (Paymega: 14 minutes to 2 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryWindow {
    pub min_seconds: i64,
    pub max_seconds: i64,
}

impl ExpiryWindow {
    pub fn check(self, now: Timestamp, expires_at: Timestamp) -> Result<(), PaymentError> {
        let earliest = now.plus_seconds(self.min_seconds);
        let latest = now.plus_seconds(self.max_seconds);
        if expires_at < earliest || expires_at > latest {
            return Err(PaymentError::ExpiryOutOfBounds);
        }
        Ok(())
    }
}
