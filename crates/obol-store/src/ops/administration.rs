//! What the dashboard's administration reads and changes (SPEC §7): the resellers, merchants
//! and managers of a subtree, each with the ancestry of its reseller so that the core decides
//! whether a manager reaches it, merchant settings, and the P2P clients.
//!
//! A subtree is selected by the prefix of the encoded ancestry (`/1/2/%`): ids and slashes
//! only, so the prefix never holds a `LIKE` wildcard.

use obol_core::credentials::rotation::ManagerStanding;
use obol_core::ids::{CustomerAccountId, ManagerId, MerchantId};
use obol_core::tenancy::{Ancestry, Manager, Merchant, P2pClient, Reseller};
use obol_core::time::Timestamp;

use super::p2p::{CLIENT_COLUMNS, client_from_row};
use super::tenancy::{
    MERCHANT_COLUMNS, RESELLER_COLUMNS, get_merchant, manager_from_row, merchant_from_row,
    reseller_from_row,
};
use super::{corrupt, opt_timestamp};
use crate::db::{Db, query_opt};
use crate::error::{Entity, StoreError, StoreResult};
use crate::params;
use crate::value::Row;

/// At most this many rows of one kind on one page: a dashboard list is read by people.
pub const LIST_ROWS_MAX: i64 = 1_000;

fn subtree(scope: &Ancestry) -> String {
    format!("{}%", scope.encode())
}

fn ancestry_of(row: &Row) -> StoreResult<Ancestry> {
    Ancestry::decode(row.str("ancestry")?).ok_or_else(|| corrupt("reseller ancestry"))
}

/// The resellers of the subtree `scope` (itself first), by id.
pub async fn resellers_within(db: &mut dyn Db, scope: &Ancestry) -> StoreResult<Vec<Reseller>> {
    let sql = format!(
        "SELECT {RESELLER_COLUMNS} FROM resellers WHERE ancestry LIKE $1 ORDER BY id LIMIT {LIST_ROWS_MAX}"
    );
    db.query(&sql, params![subtree(scope)])
        .await?
        .iter()
        .map(reseller_from_row)
        .collect()
}

/// The merchants of the subtree `scope`, newest first, each with its reseller's ancestry.
pub async fn merchants_within(
    db: &mut dyn Db,
    scope: &Ancestry,
) -> StoreResult<Vec<(Merchant, Ancestry)>> {
    let columns = MERCHANT_COLUMNS
        .split(", ")
        .map(|column| format!("m.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, r.ancestry FROM merchants m JOIN resellers r ON r.id = m.reseller_id \
         WHERE r.ancestry LIKE $1 ORDER BY m.id DESC LIMIT {LIST_ROWS_MAX}"
    );
    db.query(&sql, params![subtree(scope)])
        .await?
        .iter()
        .map(|row| Ok((merchant_from_row(row)?, ancestry_of(row)?)))
        .collect()
}

/// A merchant with its reseller's ancestry; `None` when there is no such merchant.
pub async fn merchant(
    db: &mut dyn Db,
    id: MerchantId,
) -> StoreResult<Option<(Merchant, Ancestry)>> {
    let merchant = match get_merchant(db, id).await {
        Ok(merchant) => merchant,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error),
    };
    let row = query_opt(
        db,
        "SELECT ancestry FROM resellers WHERE id = $1",
        params![merchant.reseller_id.get()],
    )
    .await?
    .ok_or(StoreError::NotFound(Entity::Reseller))?;
    Ok(Some((merchant, ancestry_of(&row)?)))
}

/// Sets a merchant's webhook URL and whether its public API may create invoices.
pub async fn set_merchant_settings(
    db: &mut dyn Db,
    id: MerchantId,
    webhook_url: Option<&str>,
    forbid_public_access: bool,
    now: Timestamp,
) -> StoreResult<Merchant> {
    let changed = db
        .execute(
            "UPDATE merchants SET webhook_url = $1, forbid_public_access = $2, updated_at = $3 WHERE id = $4",
            params![
                webhook_url.map(str::to_owned),
                forbid_public_access,
                now.unix_micros(),
                id.get()
            ],
        )
        .await?;
    if changed != 1 {
        return Err(StoreError::NotFound(Entity::Merchant));
    }
    get_merchant(db, id).await
}

/// A manager as the administration lists it: where it stands, and its reseller's ancestry.
#[derive(Debug, Clone)]
pub struct ManagerRecord {
    pub manager: Manager,
    pub ancestry: Ancestry,
    pub standing: ManagerStanding,
}

const MANAGER_SELECT: &str = "SELECT m.id, m.reseller_id, m.role, m.name, m.created_at, m.disabled_at, m.token_generation, r.ancestry \
                              FROM managers m JOIN resellers r ON r.id = m.reseller_id";

fn manager_record(row: &Row) -> StoreResult<ManagerRecord> {
    Ok(ManagerRecord {
        manager: manager_from_row(row)?,
        ancestry: ancestry_of(row)?,
        standing: ManagerStanding {
            disabled_at: opt_timestamp(row.opt_int("disabled_at")?),
            token_generation: row.int("token_generation")?,
        },
    })
}

/// The managers of the subtree `scope`, by id.
pub async fn managers_within(db: &mut dyn Db, scope: &Ancestry) -> StoreResult<Vec<ManagerRecord>> {
    let sql =
        format!("{MANAGER_SELECT} WHERE r.ancestry LIKE $1 ORDER BY m.id LIMIT {LIST_ROWS_MAX}");
    db.query(&sql, params![subtree(scope)])
        .await?
        .iter()
        .map(manager_record)
        .collect()
}

/// One manager; `None` when there is no such manager.
pub async fn manager(db: &mut dyn Db, id: ManagerId) -> StoreResult<Option<ManagerRecord>> {
    let sql = format!("{MANAGER_SELECT} WHERE m.id = $1");
    query_opt(db, &sql, params![id.get()])
        .await?
        .map(|row| manager_record(&row))
        .transpose()
}

/// The customer accounts of the subtree `scope` (their ids: for the balances in scope).
pub async fn customer_accounts_within(
    db: &mut dyn Db,
    scope: &Ancestry,
) -> StoreResult<Vec<CustomerAccountId>> {
    db.query(
        "SELECT c.id FROM customer_accounts c JOIN resellers r ON r.id = c.reseller_id WHERE r.ancestry LIKE $1",
        params![subtree(scope)],
    )
    .await?
    .iter()
    .map(|row| Ok(CustomerAccountId::new(row.int("id")?)))
    .collect()
}

/// Every P2P client, newest first.
pub async fn p2p_clients(db: &mut dyn Db) -> StoreResult<Vec<P2pClient>> {
    let sql =
        format!("SELECT {CLIENT_COLUMNS} FROM p2p_clients ORDER BY id DESC LIMIT {LIST_ROWS_MAX}");
    db.query(&sql, &[])
        .await?
        .iter()
        .map(|row| Ok(client_from_row(row)?.client))
        .collect()
}
