//! Replacing and withdrawing credentials (SPEC §2), each carried out in one transaction as the
//! core's rotation decisions say (`obol_core::credentials::rotation`): a merchant's
//! `api_secret` (with the bearer tokens bought with it) and callback secret, a manager's token,
//! disabling a manager. The command line calls these today, the dashboard will tomorrow.

use obol_core::credentials::SecretDigest;
use obol_core::credentials::rotation::{
    ApiSecretRotation, CallbackSecretRotation, ManagerStanding,
};
use obol_core::ids::{ManagerId, MerchantId};
use obol_core::tenancy::Merchant;
use obol_core::time::Timestamp;

use super::{bearer, opt_timestamp, tenancy};
use crate::db::{Db, query_one};
use crate::error::{Entity, StoreError, StoreResult};
use crate::params;
use crate::value::Row;

/// Replaces a merchant's `api_secret` (its new digest): the old secret stops at once and, as
/// the rotation says, every bearer and refresh token of the merchant is revoked with it.
/// Returns the merchant (its `api_login` is unchanged).
pub async fn rotate_api_secret(
    db: &mut dyn Db,
    merchant: MerchantId,
    new_secret: SecretDigest,
    rotation: ApiSecretRotation,
) -> StoreResult<Merchant> {
    let changed = db
        .execute(
            "UPDATE merchants SET api_secret_digest = $1, updated_at = $2 WHERE id = $3",
            params![
                new_secret.as_bytes().to_vec(),
                rotation.at.unix_micros(),
                merchant.get()
            ],
        )
        .await?;
    if changed != 1 {
        return Err(StoreError::NotFound(Entity::Merchant));
    }
    if rotation.revokes_bearer_tokens {
        bearer::revoke_merchant_tokens(db, merchant, rotation.at).await?;
    }
    tenancy::get_merchant(db, merchant).await
}

/// Replaces a merchant's callback secret (sealed under the operator key): the new one signs
/// from now on, the previous one beside it until `rotation.previous_until`. A second rotation
/// within the overlap keeps only the secret it replaces, which is the one receivers were told
/// last.
pub async fn rotate_callback_secret(
    db: &mut dyn Db,
    merchant: MerchantId,
    new_secret_sealed: Vec<u8>,
    rotation: CallbackSecretRotation,
) -> StoreResult<()> {
    let changed = db
        .execute(
            "UPDATE merchants SET previous_callback_secret_enc = callback_secret_enc, previous_callback_secret_until = $1, callback_secret_enc = $2, \
             updated_at = $3 WHERE id = $4",
            params![rotation.previous_until.unix_micros(), new_secret_sealed, rotation.at.unix_micros(), merchant.get()],
        )
        .await?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(Entity::Merchant))
    }
}

fn standing_from_row(row: &Row) -> StoreResult<ManagerStanding> {
    Ok(ManagerStanding {
        disabled_at: opt_timestamp(row.opt_int("disabled_at")?),
        token_generation: row.int("token_generation")?,
    })
}

/// Replaces a manager's API token (its new digest): the old token stops at once, and so does
/// every dashboard session made with it (the token's generation moves on).
pub async fn rotate_manager_token(
    db: &mut dyn Db,
    manager: ManagerId,
    new_token: SecretDigest,
) -> StoreResult<ManagerStanding> {
    let row = query_one(
        db,
        "UPDATE managers SET token_digest = $1, token_generation = token_generation + 1 WHERE id = $2 RETURNING disabled_at, token_generation",
        params![new_token.as_bytes().to_vec(), manager.get()],
        Entity::Manager,
    )
    .await?;
    standing_from_row(&row)
}

/// Disables a manager: its token and its dashboard sessions stop at once. Disabling again
/// keeps the first time.
pub async fn disable_manager(
    db: &mut dyn Db,
    manager: ManagerId,
    now: Timestamp,
) -> StoreResult<ManagerStanding> {
    let row = query_one(
        db,
        "UPDATE managers SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2 RETURNING disabled_at, token_generation",
        params![now.unix_micros(), manager.get()],
        Entity::Manager,
    )
    .await?;
    standing_from_row(&row)
}

/// Where a manager stands: what a dashboard session check reads, on every request, to end the
/// session at once when the manager is disabled or its token rotated
/// ([`ManagerStanding::session_stands`]).
pub async fn manager_standing(db: &mut dyn Db, manager: ManagerId) -> StoreResult<ManagerStanding> {
    let row = query_one(
        db,
        "SELECT disabled_at, token_generation FROM managers WHERE id = $1",
        params![manager.get()],
        Entity::Manager,
    )
    .await?;
    standing_from_row(&row)
}
