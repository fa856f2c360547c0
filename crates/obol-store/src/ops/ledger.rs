//! Ledger transactions and derived balances.

use obol_core::Currency;
use obol_core::ids::Uuid;
use obol_core::ledger::{AccountCode, LedgerTransaction, TransactionKind};
use obol_core::money::Money;
use obol_core::time::Timestamp;

use super::parse_or_corrupt;
use crate::db::{Db, query_one};
use crate::error::StoreResult;
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
        "INSERT INTO ledger_transactions (kind, payment_id, transfer_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        params![
            transaction.kind().as_str(),
            transaction.payment_id().map(|id| id.as_str().to_owned()),
            transfer.map(|id| id.as_str().to_owned()),
            now.unix_micros()
        ],
        "ledger transaction",
    )
    .await?;
    let id = row.int(0)?;
    for posting in transaction.postings() {
        db.execute(
            "INSERT INTO ledger_postings (transaction_id, account, currency, amount) VALUES ($1, $2, $3, $4)",
            params![id, posting.account.as_str(), posting.amount.currency().code(), posting.amount.minor()],
        )
        .await?;
    }
    Ok(id)
}

/// The balance of an account in a currency: the sum of its postings.
pub async fn balance(
    db: &mut dyn Db,
    account: &AccountCode,
    currency: Currency,
) -> StoreResult<Money> {
    let row = query_one(
        db,
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_postings WHERE account = $1 AND currency = $2",
        params![account.as_str(), currency.code()],
        "balance",
    )
    .await?;
    parse_or_corrupt(Money::from_minor(row.int(0)?, currency), "balance")
}

/// One stored posting, as shown on a payment's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPosting {
    pub transaction_id: i64,
    pub kind: TransactionKind,
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
            "SELECT t.id, t.kind, p.account, p.currency, p.amount, t.created_at FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id \
             WHERE t.payment_id = $1 ORDER BY p.id",
            params![payment_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let currency = parse_or_corrupt(Currency::parse(&row.text(3)?), "posting currency")?;
            Ok(StoredPosting {
                transaction_id: row.int(0)?,
                kind: TransactionKind::parse(&row.text(1)?)
                    .ok_or_else(|| super::corrupt("transaction kind"))?,
                account: AccountCode::from_stored(&row.text(2)?)
                    .ok_or_else(|| super::corrupt("account code"))?,
                amount: parse_or_corrupt(
                    Money::from_minor(row.int(4)?, currency),
                    "posting amount",
                )?,
                created_at: super::timestamp(row.int(5)?),
            })
        })
        .collect()
}
