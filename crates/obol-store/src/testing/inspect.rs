//! Reads (and one deliberate breakage) that only tests need: what a test checks underneath the
//! API, written here because SQL lives in this crate alone. Not for the product: nothing in
//! the server or the binary calls these.

use crate::db::Db;
use crate::error::StoreResult;
use crate::ops::callbacks::{self, Callback};

/// Every callback, oldest first.
pub async fn all_callbacks(db: &mut dyn Db) -> StoreResult<Vec<Callback>> {
    callbacks::all(db).await
}

/// How many delivery attempts were recorded, over all callbacks.
pub async fn callback_attempt_count(db: &mut dyn Db) -> StoreResult<i64> {
    db.query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS count FROM callback_attempts",
        &[],
    )
    .await?[0]
        .int("count")
}

/// How many payments there are.
pub async fn payment_count(db: &mut dyn Db) -> StoreResult<i64> {
    db.query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS count FROM payments",
        &[],
    )
    .await?[0]
        .int("count")
}

/// How many delivery attempts were recorded for one callback.
pub async fn attempts_of_callback(db: &mut dyn Db, callback_id: i64) -> StoreResult<i64> {
    db.query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS count FROM callback_attempts WHERE callback_id = $1",
        crate::params![callback_id],
    )
    .await?[0]
        .int("count")
}

/// How many audit entries record `action`.
pub async fn audit_count(db: &mut dyn Db, action: &str) -> StoreResult<i64> {
    db.query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS count FROM audit_log WHERE action = $1",
        crate::params![action],
    )
    .await?[0]
        .int("count")
}

/// What is stored of every P2P card (vault token, first six and last four digits), one
/// string a card: a test checks that no full card number is among them.
pub async fn stored_card_fields(db: &mut dyn Db) -> StoreResult<Vec<String>> {
    db.query("SELECT token, first6, last4 FROM p2p_cards", &[])
        .await?
        .iter()
        .map(|row| {
            Ok(format!(
                "{}{}{}",
                row.text("token")?,
                row.text("first6")?,
                row.text("last4")?
            ))
        })
        .collect()
}

/// Every P2P credential as stored: clients' `clientId` digests, sessions' id digests and
/// card-form links' token digests, one string each: a test checks that no clear id is among
/// them.
pub async fn stored_p2p_credentials(db: &mut dyn Db) -> StoreResult<Vec<String>> {
    let mut stored = Vec::new();
    for (table, column) in [
        ("p2p_clients", "client_key_digest"),
        ("p2p_sessions", "id_digest"),
        ("p2p_card_forms", "token_digest"),
    ] {
        for row in db
            .query(&format!("SELECT {column} AS stored FROM {table}"), &[])
            .await?
        {
            stored.push(row.text("stored")?);
        }
    }
    Ok(stored)
}

/// Plants a ledger correction that does not balance (one posting of 1 USD to the operator's
/// fees), for tests of `verify`.
pub async fn plant_unbalanced_correction(db: &mut dyn Db) -> StoreResult<()> {
    let rows = db
        .query(
            "INSERT INTO ledger_transactions (kind, payment_id, created_at) \
             VALUES ('correction', NULL, 0) RETURNING id",
            &[],
        )
        .await?;
    let id = rows[0].int("id")?;
    db.execute(
        "INSERT INTO ledger_postings (transaction_id, account, currency, amount) \
         VALUES ($1, 'operator:fees', 'USD', 1)",
        crate::params![id],
    )
    .await?;
    Ok(())
}

/// Replaces a merchant's sealed callback secret with `sealed` as it is, for tests of values
/// sealed the way an older version did.
pub async fn plant_callback_secret(
    db: &mut dyn Db,
    merchant: obol_core::ids::MerchantId,
    sealed: Vec<u8>,
) -> StoreResult<()> {
    db.execute(
        "UPDATE merchants SET callback_secret_enc = $1 WHERE id = $2",
        crate::params![sealed, merchant.get()],
    )
    .await?;
    Ok(())
}

/// The sealed callback secrets of a merchant: the current one and the previous one, as stored.
pub async fn sealed_callback_secrets(
    db: &mut dyn Db,
    merchant: obol_core::ids::MerchantId,
) -> StoreResult<(Vec<u8>, Option<Vec<u8>>)> {
    let rows = db
        .query(
            "SELECT callback_secret_enc, previous_callback_secret_enc FROM merchants WHERE id = $1",
            crate::params![merchant.get()],
        )
        .await?;
    let row = rows
        .first()
        .ok_or(crate::StoreError::NotFound(crate::error::Entity::Merchant))?;
    Ok((
        row.blob("callback_secret_enc")?,
        row.opt_blob("previous_callback_secret_enc")?,
    ))
}

/// The TLS version of this connection as the PostgreSQL server sees it (`pg_stat_ssl`), `None`
/// when it is plain TCP: the proof that a URL's `sslmode` really encrypted the connection.
/// PostgreSQL only.
pub async fn connection_tls_version(db: &mut dyn Db) -> StoreResult<Option<String>> {
    let rows = db
        .query(
            "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) AS encrypted, \
             COALESCE(version, '') AS version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    let row = rows.first().ok_or_else(|| {
        crate::StoreError::Database("pg_stat_ssl has no row for this connection".to_owned())
    })?;
    (row.int("encrypted")? == 1)
        .then(|| row.text("version"))
        .transpose()
}
