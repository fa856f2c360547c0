//! Ledger transactions and derived balances.

use obol_core::Currency;
use obol_core::ids::{PaymentId, Uuid};
use obol_core::ledger::{AccountCode, LedgerTransaction, TransactionKind};
use obol_core::mode::Mode;
use obol_core::money::Money;
use obol_core::time::Timestamp;

use super::parse_or_corrupt;
use crate::db::{Db, query_one};
use crate::error::{Entity, StoreResult};
use crate::params;

/// Writes a balanced transaction (the core refuses to build any other) and its postings.
pub async fn insert_transaction(
    db: &mut dyn Db,
    transaction: &LedgerTransaction,
    now: Timestamp,
) -> StoreResult<i64> {
    insert_with_transfer(db, transaction, None, now).await
}

/// Writes a step of a P2P transfer: a balanced transaction that belongs to the transfer.
pub async fn insert_transfer_transaction(
    db: &mut dyn Db,
    transaction: &LedgerTransaction,
    transfer: &Uuid,
    now: Timestamp,
) -> StoreResult<i64> {
    insert_with_transfer(db, transaction, Some(transfer), now).await
}

async fn insert_with_transfer(
    db: &mut dyn Db,
    transaction: &LedgerTransaction,
    transfer: Option<&Uuid>,
    now: Timestamp,
) -> StoreResult<i64> {
    let row = query_one(
        db,
        "INSERT INTO ledger_transactions (kind, payment_id, transfer_id, created_at, mode) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        params![
            transaction.kind().as_str(),
            transaction.payment_id().map(|id| id.as_str().to_owned()),
            transfer.map(|id| id.as_str().to_owned()),
            now.unix_micros(),
            transaction.mode().as_str()
        ],
        Entity::LedgerTransaction,
    )
    .await?;
    let id = row.int("id")?;
    // Each posting repeats its transaction's mode: balances are read per (account, mode)
    // from the postings alone, through their index.
    let mode = transaction.mode().as_str();
    for posting in transaction.postings() {
        db.execute(
            "INSERT INTO ledger_postings (transaction_id, account, currency, amount, mode) VALUES ($1, $2, $3, $4, $5)",
            params![id, posting.account.as_str(), posting.amount.currency().code(), posting.amount.minor(), mode],
        )
        .await?;
    }
    Ok(id)
}

/// The balance of an account of one mode in a currency: the sum of its postings.
pub async fn balance(
    db: &mut dyn Db,
    account: &AccountCode,
    mode: Mode,
    currency: Currency,
) -> StoreResult<Money> {
    let row = query_one(
        db,
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS balance FROM ledger_postings WHERE account = $1 AND mode = $2 AND currency = $3",
        params![account.as_str(), mode.as_str(), currency.code()],
        Entity::Balance,
    )
    .await?;
    parse_or_corrupt(Money::from_minor(row.int("balance")?, currency), "balance")
}

/// One account's balance in one mode and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub account: AccountCode,
    pub mode: Mode,
    pub amount: Money,
}

/// Every account with postings, per mode and currency (ordered by account, mode, currency);
/// with `account`, that account only. Amounts that net to zero are listed too: the account
/// has postings.
pub async fn balances(db: &mut dyn Db, account: Option<&AccountCode>) -> StoreResult<Vec<Balance>> {
    let rows = match account {
        Some(account) => {
            db.query(
                "SELECT account, mode, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_postings \
                 WHERE account = $1 GROUP BY account, mode, currency ORDER BY account, mode, currency",
                params![account.as_str()],
            )
            .await?
        }
        None => {
            db.query(
                "SELECT account, mode, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_postings \
                 GROUP BY account, mode, currency ORDER BY account, mode, currency",
                &[],
            )
            .await?
        }
    };
    rows.iter().map(balance_of_row).collect()
}

fn balance_of_row(row: &crate::value::Row) -> StoreResult<Balance> {
    let currency = parse_or_corrupt(Currency::parse(row.str("currency")?), "posting currency")?;
    Ok(Balance {
        account: AccountCode::from_stored(row.str("account")?)
            .ok_or_else(|| super::corrupt("account code"))?,
        mode: Mode::parse(row.str("mode")?).ok_or_else(|| super::corrupt("posting mode"))?,
        amount: parse_or_corrupt(Money::from_minor(row.int("balance")?, currency), "balance")?,
    })
}

/// What the migration that split the modes moved from live to test accounts: the sum of its
/// test-mode `reclassification` postings per account and currency (empty when it moved
/// nothing).
pub async fn reclassified_to_test(db: &mut dyn Db) -> StoreResult<Vec<Balance>> {
    let rows = db
        .query(
            "SELECT lp.account AS account, lp.mode AS mode, lp.currency AS currency, CAST(SUM(lp.amount) AS BIGINT) AS balance \
             FROM ledger_postings lp JOIN ledger_transactions t ON t.id = lp.transaction_id \
             WHERE t.kind = 'reclassification' AND t.mode = 'test' \
             GROUP BY lp.account, lp.mode, lp.currency ORDER BY lp.account, lp.currency",
            &[],
        )
        .await?;
    rows.iter().map(balance_of_row).collect()
}

/// One stored posting, as shown on a payment's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPosting {
    pub transaction_id: i64,
    pub kind: TransactionKind,
    pub mode: Mode,
    pub account: AccountCode,
    pub amount: Money,
    pub created_at: Timestamp,
}

pub async fn postings_of_payment(
    db: &mut dyn Db,
    payment_id: &str,
) -> StoreResult<Vec<StoredPosting>> {
    let rows = db
        .query(
            "SELECT t.id AS transaction_id, t.kind AS kind, p.mode AS mode, p.account AS account, p.currency AS currency, p.amount AS amount, \
             t.created_at AS created_at FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id \
             WHERE t.payment_id = $1 ORDER BY p.id",
            params![payment_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let currency =
                parse_or_corrupt(Currency::parse(row.str("currency")?), "posting currency")?;
            Ok(StoredPosting {
                transaction_id: row.int("transaction_id")?,
                kind: TransactionKind::parse(row.str("kind")?)
                    .ok_or_else(|| super::corrupt("transaction kind"))?,
                mode: Mode::parse(row.str("mode")?)
                    .ok_or_else(|| super::corrupt("posting mode"))?,
                account: AccountCode::from_stored(row.str("account")?)
                    .ok_or_else(|| super::corrupt("account code"))?,
                amount: parse_or_corrupt(
                    Money::from_minor(row.int("amount")?, currency),
                    "posting amount",
                )?,
                created_at: super::timestamp(row.int("created_at")?),
            })
        })
        .collect()
}

/// The ids of a payment's `correction` transactions, oldest first (ActivePlatform lists them on
/// a payment).
pub async fn corrections_of_payment(db: &mut dyn Db, payment: &PaymentId) -> StoreResult<Vec<i64>> {
    let rows = db
        .query(
            "SELECT id FROM ledger_transactions WHERE payment_id = $1 AND kind = 'correction' ORDER BY id",
            params![payment.as_str()],
        )
        .await?;
    rows.iter().map(|row| row.int("id")).collect()
}

/// The id of a payment's latest `refund` transaction, if it has one.
pub async fn latest_refund_of_payment(
    db: &mut dyn Db,
    payment: &PaymentId,
) -> StoreResult<Option<i64>> {
    let row = query_one(
        db,
        "SELECT CAST(MAX(id) AS BIGINT) AS latest_id FROM ledger_transactions WHERE payment_id = $1 AND kind = 'refund'",
        params![payment.as_str()],
        Entity::Refund,
    )
    .await?;
    row.opt_int("latest_id")
}

/// A stored `refund` transaction, as the YooKassa sandbox shows a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefund {
    pub transaction_id: i64,
    /// The refunded payment, as stored (every refund names one).
    pub payment_id: String,
    pub created_at: Timestamp,
    /// What the refund gave back through clearing accounts, in the payment's minor units.
    pub returned_minor: i64,
}

/// The `refund` transaction with this id; `None` if there is none, it is of another kind, it
/// has no postings or it names no payment.
pub async fn refund_transaction(db: &mut dyn Db, id: i64) -> StoreResult<Option<StoredRefund>> {
    let rows = db
        .query(
            "SELECT t.payment_id AS payment_id, t.created_at AS created_at, \
             CAST(SUM(CASE WHEN lp.account LIKE 'clearing:%' THEN lp.amount ELSE 0 END) AS BIGINT) AS returned \
             FROM ledger_transactions t JOIN ledger_postings lp ON lp.transaction_id = t.id \
             WHERE t.id = $1 AND t.kind = 'refund' GROUP BY t.payment_id, t.created_at",
            params![id],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let Some(payment_id) = row.opt_text("payment_id")? else {
        return Ok(None);
    };
    Ok(Some(StoredRefund {
        transaction_id: id,
        payment_id,
        created_at: super::timestamp(row.int("created_at")?),
        returned_minor: row.int("returned")?,
    }))
}
