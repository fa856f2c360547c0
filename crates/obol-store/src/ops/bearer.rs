//! Bearer tokens (Softline's Authentication API): a token and a refresh token per login, both
//! stored as SHA-256 digests. A new token does not revoke older ones; a refresh token is used
//! once and revokes nothing else; rotating the merchant's `api_secret` revokes them all.

use obol_core::credentials::SecretDigest;
use obol_core::ids::MerchantId;
use obol_core::tenancy::Merchant;
use obol_core::time::Timestamp;

use crate::db::{Db, query_opt};
use crate::error::StoreResult;
use crate::params;

pub async fn issue(
    db: &mut dyn Db,
    merchant: MerchantId,
    token: SecretDigest,
    refresh: SecretDigest,
    expires_at: Timestamp,
    refresh_expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO bearer_tokens (merchant_id, token_digest, refresh_digest, expires_at, refresh_expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![merchant.get(), token.as_bytes().to_vec(), refresh.as_bytes().to_vec(), expires_at.unix_micros(), refresh_expires_at.unix_micros(), now.unix_micros()],
    )
    .await?;
    Ok(())
}

/// The merchant a live token belongs to.
pub async fn merchant_of_token(
    db: &mut dyn Db,
    token: SecretDigest,
    now: Timestamp,
) -> StoreResult<Option<Merchant>> {
    let row = query_opt(
        db,
        "SELECT merchant_id FROM bearer_tokens WHERE token_digest = $1 AND expires_at > $2 AND revoked_at IS NULL",
        params![token.as_bytes().to_vec(), now.unix_micros()],
    )
    .await?;
    match row {
        Some(row) => Ok(Some(
            super::tenancy::get_merchant(db, MerchantId::new(row.int("merchant_id")?)).await?,
        )),
        None => Ok(None),
    }
}

/// Forgets tokens whose refresh life has ended.
pub async fn purge_expired(db: &mut dyn Db, now: Timestamp, limit: i64) -> StoreResult<u64> {
    db.execute("DELETE FROM bearer_tokens WHERE id IN (SELECT id FROM bearer_tokens WHERE refresh_expires_at <= $1 LIMIT $2)", params![now.unix_micros(), limit]).await
}

/// Uses a refresh token up, once: the merchant it belonged to, or `None` when it is unknown,
/// expired, revoked or already used. One statement both checks and marks it, so of two
/// refreshes with one token at the same moment exactly one gets the merchant, on either backend
/// (PostgreSQL's second `UPDATE` waits for the first's row lock, then finds `refresh_used_at`
/// set). Using it revokes nothing: the access token issued with it stays valid until it
/// expires, as every older token does.
pub async fn consume_refresh(
    db: &mut dyn Db,
    refresh: SecretDigest,
    now: Timestamp,
) -> StoreResult<Option<MerchantId>> {
    let row = query_opt(
        db,
        "UPDATE bearer_tokens SET refresh_used_at = $1 WHERE refresh_digest = $2 AND refresh_used_at IS NULL AND revoked_at IS NULL \
         AND refresh_expires_at > $1 RETURNING merchant_id",
        params![now.unix_micros(), refresh.as_bytes().to_vec()],
    )
    .await?;
    row.map(|row| row.int("merchant_id").map(MerchantId::new))
        .transpose()
}

/// Revokes every bearer token and refresh token of a merchant (its `api_secret` was rotated).
pub async fn revoke_merchant_tokens(
    db: &mut dyn Db,
    merchant: MerchantId,
    now: Timestamp,
) -> StoreResult<u64> {
    db.execute(
        "UPDATE bearer_tokens SET revoked_at = $1 WHERE merchant_id = $2 AND revoked_at IS NULL",
        params![now.unix_micros(), merchant.get()],
    )
    .await
}
