//! A small key–value table for facts about the installation (such as "demo seeded").

use crate::db::{Db, query_opt};
use crate::error::StoreResult;
use crate::params;

pub async fn get(db: &mut dyn Db, key: &str) -> StoreResult<Option<String>> {
    query_opt(
        db,
        "SELECT value FROM settings WHERE key = $1",
        params![key],
    )
    .await?
    .map(|row| row.text("value"))
    .transpose()
}

pub async fn set(db: &mut dyn Db, key: &str, value: &str) -> StoreResult<()> {
    db.execute("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", params![key, value]).await?;
    Ok(())
}
