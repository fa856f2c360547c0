//! The dashboard's sessions (SPEC §7): stored server-side by the digest of the random id the
//! cookie carries, with the manager's token generation they were signed in with.

use obol_core::credentials::rotation::ManagerStanding;
use obol_core::ids::ManagerId;
use obol_core::tenancy::{Ancestry, Manager};
use obol_core::time::Timestamp;

use super::tenancy::manager_from_row;
use super::{corrupt, opt_timestamp, timestamp};
use crate::db::{Db, query_opt};
use crate::error::StoreResult;
use crate::params;
use crate::value::Value;

/// A session as a request finds it, with its manager as the manager stands now.
#[derive(Debug, Clone)]
pub struct Session {
    pub manager: Manager,
    pub ancestry: Ancestry,
    pub standing: ManagerStanding,
    /// The token generation the session was signed in with.
    pub token_generation: i64,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// Starts a session for `manager`, known by `id_digest` (hex SHA-256 of the cookie's id).
pub async fn create_session(
    db: &mut dyn Db,
    id_digest: &str,
    manager: ManagerId,
    token_generation: i64,
    ip: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO dashboard_sessions (id_digest, manager_id, token_generation, created_at, last_seen_at, ip) \
         VALUES ($1, $2, $3, $4, $4, $5)",
        params![
            id_digest,
            manager.get(),
            token_generation,
            now.unix_micros(),
            Value::from(ip.map(str::to_owned))
        ],
    )
    .await?;
    Ok(())
}

/// The session known by `id_digest`, with its manager.
pub async fn session(db: &mut dyn Db, id_digest: &str) -> StoreResult<Option<Session>> {
    let sql = "SELECT m.id, m.reseller_id, m.role, m.name, m.created_at, m.disabled_at, m.token_generation AS current_generation, \
               r.ancestry, s.token_generation, s.created_at AS session_created_at, s.last_seen_at \
               FROM dashboard_sessions s JOIN managers m ON m.id = s.manager_id JOIN resellers r ON r.id = m.reseller_id \
               WHERE s.id_digest = $1";
    let Some(row) = query_opt(db, sql, params![id_digest]).await? else {
        return Ok(None);
    };
    Ok(Some(Session {
        manager: manager_from_row(&row)?,
        ancestry: Ancestry::decode(row.str("ancestry")?)
            .ok_or_else(|| corrupt("reseller ancestry"))?,
        standing: ManagerStanding {
            disabled_at: opt_timestamp(row.opt_int("disabled_at")?),
            token_generation: row.int("current_generation")?,
        },
        token_generation: row.int("token_generation")?,
        created_at: timestamp(row.int("session_created_at")?),
        last_seen_at: timestamp(row.int("last_seen_at")?),
    }))
}

/// Marks the session used at `now` (its idle time starts again).
pub async fn touch_session(db: &mut dyn Db, id_digest: &str, now: Timestamp) -> StoreResult<()> {
    db.execute(
        "UPDATE dashboard_sessions SET last_seen_at = $1 WHERE id_digest = $2",
        params![now.unix_micros(), id_digest],
    )
    .await?;
    Ok(())
}

/// Ends a session (sign-out, or found no longer active).
pub async fn end_session(db: &mut dyn Db, id_digest: &str) -> StoreResult<()> {
    db.execute(
        "DELETE FROM dashboard_sessions WHERE id_digest = $1",
        params![id_digest],
    )
    .await?;
    Ok(())
}

/// Removes sessions idle since before `before`; how many.
pub async fn purge_idle_sessions(db: &mut dyn Db, before: Timestamp) -> StoreResult<u64> {
    db.execute(
        "DELETE FROM dashboard_sessions WHERE last_seen_at < $1",
        params![before.unix_micros()],
    )
    .await
}
