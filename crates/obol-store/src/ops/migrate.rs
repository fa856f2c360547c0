//! Versioned migrations per backend, run at start and by `obol migrate`. All pending
//! migrations run in one transaction; on PostgreSQL an advisory lock makes nodes that start
//! together take turns, so each migration runs once.

use obol_core::Timestamp;

use crate::db::{Backend, Db};
use crate::error::{StoreError, StoreResult};
use crate::params;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sql: include_str!("../migrations/sqlite/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "seed",
        sql: include_str!("../migrations/common/0002_seed.sql"),
    },
    Migration {
        version: 3,
        name: "paymega",
        sql: include_str!("../migrations/sqlite/0003_paymega.sql"),
    },
    Migration {
        version: 4,
        name: "callbacks",
        sql: include_str!("../migrations/sqlite/0004_callbacks.sql"),
    },
    Migration {
        version: 5,
        name: "softline",
        sql: include_str!("../migrations/sqlite/0005_softline.sql"),
    },
    Migration {
        version: 6,
        name: "activeplatform",
        sql: include_str!("../migrations/sqlite/0006_activeplatform.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sql: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "seed",
        sql: include_str!("../migrations/common/0002_seed.sql"),
    },
    Migration {
        version: 3,
        name: "paymega",
        sql: include_str!("../migrations/postgres/0003_paymega.sql"),
    },
    Migration {
        version: 4,
        name: "callbacks",
        sql: include_str!("../migrations/postgres/0004_callbacks.sql"),
    },
    Migration {
        version: 5,
        name: "softline",
        sql: include_str!("../migrations/postgres/0005_softline.sql"),
    },
    Migration {
        version: 6,
        name: "activeplatform",
        sql: include_str!("../migrations/postgres/0006_activeplatform.sql"),
    },
];

pub fn migrations(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// An arbitrary constant naming Obol's migration lock.
const MIGRATION_LOCK_ID: i64 = 0x0b01_0001;

/// Applies every pending migration; returns the versions applied now.
pub async fn migrate(db: &mut dyn Db, now: Timestamp) -> StoreResult<Vec<i64>> {
    if db.backend() == Backend::Postgres {
        db.execute(
            "SELECT pg_advisory_xact_lock($1)",
            params![MIGRATION_LOCK_ID],
        )
        .await?;
    }
    db.execute_script("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
        .await?;
    let applied: Vec<i64> = db
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.int(0))
        .collect::<StoreResult<_>>()?;
    let known = migrations(db.backend());
    if let Some(newest) = applied.iter().max()
        && *newest > known.last().map_or(0, |migration| migration.version)
    {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {newest}, newer than this binary knows; upgrade obol"
        )));
    }
    let mut done = Vec::new();
    for migration in known
        .iter()
        .filter(|migration| !applied.contains(&migration.version))
    {
        let sql = migration
            .sql
            .replace("{{now}}", &now.unix_micros().to_string());
        db.execute_script(&sql).await.map_err(|error| {
            StoreError::Migration(format!("{} {}: {error}", migration.version, migration.name))
        })?;
        db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            params![migration.version, migration.name, now.unix_micros()],
        )
        .await?;
        done.push(migration.version);
    }
    Ok(done)
}

/// The versions applied so far (empty for a new database).
pub async fn applied_versions(db: &mut dyn Db) -> StoreResult<Vec<i64>> {
    let exists = match db.backend() {
        Backend::Sqlite => !db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", &[]).await?.is_empty(),
        Backend::Postgres => !db.query("SELECT tablename::TEXT FROM pg_tables WHERE tablename = 'schema_migrations' AND schemaname = current_schema()", &[]).await?.is_empty(),
    };
    if !exists {
        return Ok(Vec::new());
    }
    db.query(
        "SELECT version FROM schema_migrations ORDER BY version",
        &[],
    )
    .await?
    .iter()
    .map(|row| row.int(0))
    .collect()
}
