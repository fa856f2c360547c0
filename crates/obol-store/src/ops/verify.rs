//! `obol verify`: the ledger and payment invariants, checked against what is stored.

use crate::db::Db;
use crate::error::StoreResult;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which check found it (stable, for scripts).
    pub check: &'static str,
    pub detail: String,
}

/// What `verify` looked at and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    pub payments: i64,
    pub transactions: i64,
    pub postings: i64,
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Violations are reported up to this many per check; one is enough to fail.
const VIOLATIONS_PER_CHECK_MAX: i64 = 100;

/// Runs every check of `obol verify`. Long on purpose: a flat list of independent checks, each
/// a query and its violations, read top to bottom like the list in docs/CLI.md.
pub async fn verify(db: &mut dyn Db) -> StoreResult<VerifyReport> {
    let mut report = VerifyReport::default();
    let count = async |db: &mut dyn Db, table: &str| -> StoreResult<i64> {
        db.query(
            &format!("SELECT CAST(COUNT(*) AS BIGINT) AS count FROM {table}"),
            &[],
        )
        .await?
        .first()
        .map_or(Ok(0), |row| row.int("count"))
    };
    report.payments = count(db, "payments").await?;
    report.transactions = count(db, "ledger_transactions").await?;
    report.postings = count(db, "ledger_postings").await?;
    let limit = VIOLATIONS_PER_CHECK_MAX;

    let rows = db.query("SELECT mode, currency, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_postings GROUP BY mode, currency HAVING SUM(amount) <> 0 ORDER BY mode, currency", &[]).await?;
    for row in rows {
        report.violations.push(Violation {
            check: "currency_sums_to_zero",
            detail: format!(
                "{} postings in {} sum to {}",
                row.str("mode")?,
                row.str("currency")?,
                row.int("total")?
            ),
        });
    }

    // Test and live never meet: a transaction's postings are all in its mode.
    let sql = format!(
        "SELECT t.id AS id, t.mode AS mode, CAST(COUNT(lp.id) AS BIGINT) AS others FROM ledger_transactions t \
         JOIN ledger_postings lp ON lp.transaction_id = t.id WHERE lp.mode <> t.mode \
         GROUP BY t.id, t.mode ORDER BY t.id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "transaction_single_mode",
            detail: format!(
                "transaction {} is {} but mixes in {} posting(s) of the other mode",
                row.int("id")?,
                row.str("mode")?,
                row.int("others")?
            ),
        });
    }

    // A payment's money stays in its own mode's accounts (a test payment is test, a transfer
    // is test): what it left in the other mode's accounts nets to zero.
    let sql = format!(
        "SELECT owner, account, mode, currency, total FROM (\
           SELECT COALESCE(t.payment_id, t.transfer_id) AS owner, lp.account AS account, lp.mode AS mode, lp.currency AS currency, \
             CAST(SUM(lp.amount) AS BIGINT) AS total \
           FROM ledger_postings lp JOIN ledger_transactions t ON t.id = lp.transaction_id \
           LEFT JOIN payments p ON p.id = t.payment_id \
           WHERE (p.id IS NOT NULL AND lp.mode <> CASE WHEN p.test_mode THEN 'test' ELSE 'live' END) \
              OR (t.transfer_id IS NOT NULL AND lp.mode <> 'test') \
           GROUP BY COALESCE(t.payment_id, t.transfer_id), lp.account, lp.mode, lp.currency) misplaced \
         WHERE total <> 0 ORDER BY owner, account LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "money_in_its_mode",
            detail: format!(
                "{} left {} {} in the {} account {}",
                row.str("owner")?,
                row.int("total")?,
                row.str("currency")?,
                row.str("mode")?,
                row.str("account")?
            ),
        });
    }

    let sql = format!(
        "SELECT transaction_id, currency, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_postings GROUP BY transaction_id, currency \
         HAVING SUM(amount) <> 0 ORDER BY transaction_id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "transaction_balances",
            detail: format!(
                "transaction {} is off by {} {}",
                row.int("transaction_id")?,
                row.int("total")?,
                row.str("currency")?
            ),
        });
    }

    let sql = format!(
        "SELECT t.id AS id, CAST(COUNT(p.id) AS BIGINT) AS postings FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.transaction_id = t.id GROUP BY t.id \
         HAVING COUNT(p.id) < 2 ORDER BY t.id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "transaction_has_postings",
            detail: format!(
                "transaction {} has {} posting(s)",
                row.int("id")?,
                row.int("postings")?
            ),
        });
    }

    let sql = format!(
        "SELECT t.id AS id, t.payment_id AS payment_id FROM ledger_transactions t LEFT JOIN payments p ON p.id = t.payment_id \
         WHERE t.payment_id IS NOT NULL AND p.id IS NULL ORDER BY t.id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "posting_has_payment",
            detail: format!(
                "transaction {} names payment {} which does not exist",
                row.int("id")?,
                row.str("payment_id")?
            ),
        });
    }

    let sql = format!(
        "SELECT id FROM ledger_transactions WHERE kind = 'transfer' AND transfer_id IS NULL ORDER BY id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "transfer_posting_has_transfer",
            detail: format!("transfer transaction {} names no transfer", row.int("id")?),
        });
    }

    // A P2P transfer's transit account holds exactly what still waits to be received while
    // it is PROCESSING, and nothing once it is decided or before money left the sender.
    // Set-based, not a sub-query per transfer: one pass over the transit postings, joined to
    // the transfers (a correlated sub-query let the planners scan the postings per transfer).
    let sql = format!(
        "SELECT t.id AS id, t.status AS status, t.pending_amount AS pending_amount, \
           CAST(COALESCE(booked.in_transit, 0) AS BIGINT) AS in_transit \
         FROM p2p_transfers t LEFT JOIN (\
           SELECT lt.transfer_id AS transfer_id, SUM(lp.amount) AS in_transit \
           FROM ledger_transactions lt JOIN ledger_postings lp ON lp.transaction_id = lt.id \
           WHERE lt.transfer_id IS NOT NULL AND lp.account LIKE 'p2p_transit:%' \
           GROUP BY lt.transfer_id) booked ON booked.transfer_id = t.id \
         WHERE COALESCE(booked.in_transit, 0) <> CASE WHEN t.status = 'PROCESSING' THEN t.pending_amount ELSE 0 END \
         ORDER BY t.id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "transfer_matches_postings",
            detail: format!(
                "transfer {} is {} with {} pending but {} in transit",
                row.str("id")?,
                row.str("status")?,
                row.int("pending_amount")?,
                row.int("in_transit")?
            ),
        });
    }

    // Set-based as well: one pass over the clearing postings of payments and refunds.
    let sql = format!(
        "SELECT p.id AS id, p.processed_amount AS processed_amount, p.refunded_amount AS refunded_amount, \
           CAST(COALESCE(booked.booked_in, 0) AS BIGINT) AS booked_in, \
           CAST(COALESCE(booked.booked_back, 0) AS BIGINT) AS booked_back \
         FROM payments p LEFT JOIN (\
           SELECT lt.payment_id AS payment_id, \
             -SUM(CASE WHEN lt.kind = 'payment' THEN lp.amount ELSE 0 END) AS booked_in, \
             SUM(CASE WHEN lt.kind = 'refund' THEN lp.amount ELSE 0 END) AS booked_back \
           FROM ledger_transactions lt JOIN ledger_postings lp ON lp.transaction_id = lt.id \
           WHERE lt.payment_id IS NOT NULL AND lt.kind IN ('payment', 'refund') AND lp.account LIKE 'clearing:%' \
           GROUP BY lt.payment_id) booked ON booked.payment_id = p.id \
         WHERE p.processed_amount <> COALESCE(booked.booked_in, 0) OR p.refunded_amount <> COALESCE(booked.booked_back, 0) \
         ORDER BY p.id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "payment_matches_postings",
            detail: format!(
                "payment {}: processed {} / refunded {} but the ledger says {} / {}",
                row.str("id")?,
                row.int("processed_amount")?,
                row.int("refunded_amount")?,
                row.int("booked_in")?,
                row.int("booked_back")?
            ),
        });
    }

    let sql = format!(
        "SELECT id, status FROM payments p WHERE status IN ('processed', 'partially_refunded', 'refunded') AND amount > 0 \
         AND NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.payment_id = p.id AND t.kind = 'payment') ORDER BY id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "processed_payment_has_postings",
            detail: format!(
                "payment {} is {} but has no payment postings",
                row.str("id")?,
                row.str("status")?
            ),
        });
    }

    let sql = format!(
        "SELECT id, status, amount, processed_amount, refunded_amount FROM payments WHERE \
           refunded_amount > processed_amount \
           OR (status IN ('processed', 'partially_refunded', 'refunded') AND processed_amount <> amount) \
           OR (status NOT IN ('processed', 'partially_refunded', 'refunded') AND processed_amount <> 0) \
           OR (status = 'refunded' AND refunded_amount <> processed_amount) \
           OR (status = 'partially_refunded' AND (refunded_amount = 0 OR refunded_amount >= processed_amount)) \
           OR (status = 'processed' AND refunded_amount <> 0) \
         ORDER BY id LIMIT {limit}"
    );
    for row in db.query(&sql, &[]).await? {
        report.violations.push(Violation {
            check: "payment_status_matches_amounts",
            detail: format!(
                "payment {} is {} with amount {}, processed {}, refunded {}",
                row.str("id")?,
                row.str("status")?,
                row.int("amount")?,
                row.int("processed_amount")?,
                row.int("refunded_amount")?
            ),
        });
    }
    Ok(report)
}
