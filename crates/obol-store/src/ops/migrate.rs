//! Versioned migrations per backend, run at start and by `obol migrate`. All pending
//! migrations run in one transaction; on PostgreSQL an advisory lock makes nodes that start
//! together take turns, so each migration runs once.

use obol_core::Timestamp;

use crate::db::{Backend, BoxFuture, Db};
use crate::error::{StoreError, StoreResult};
use crate::params;

/// A step of a migration written in Rust, run right after its SQL in the same transaction: for
/// what one backend's SQL cannot compute (SQLite has no SHA-256). It sees the schema exactly as
/// its migration leaves it.
type RustStep = for<'a> fn(&'a mut dyn Db) -> BoxFuture<'a, StoreResult<()>>;

/// One schema version: its SQL for each backend (the seed data is the same for both), and
/// where it needs one, a Rust step after the SQL.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    then: Option<RustStep>,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// `migration!(2, "seed", "common/0002_seed.sql")` for SQL shared by both backends, or with two
/// file names for SQL each backend writes its own way.
macro_rules! migration {
    ($version:literal, $name:literal, $both:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/", $both)),
            postgres: include_str!(concat!("../migrations/", $both)),
            then: None,
        }
    };
    ($version:literal, $name:literal, $sqlite:literal, $postgres:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/", $sqlite)),
            postgres: include_str!(concat!("../migrations/", $postgres)),
            then: None,
        }
    };
    ($version:literal, $name:literal, $sqlite:literal, $postgres:literal, then $step:expr) => {
        Migration {
            then: Some($step),
            ..migration!($version, $name, $sqlite, $postgres)
        }
    };
}

fn digest_client_keys(db: &mut dyn Db) -> BoxFuture<'_, StoreResult<()>> {
    Box::pin(crate::ops::p2p::digest_client_keys(db))
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    migration!(
        1,
        "foundation",
        "sqlite/0001_foundation.sql",
        "postgres/0001_foundation.sql"
    ),
    migration!(2, "seed", "common/0002_seed.sql"),
    migration!(
        3,
        "paymega",
        "sqlite/0003_paymega.sql",
        "postgres/0003_paymega.sql"
    ),
    migration!(
        4,
        "callbacks",
        "sqlite/0004_callbacks.sql",
        "postgres/0004_callbacks.sql"
    ),
    migration!(
        5,
        "softline",
        "sqlite/0005_softline.sql",
        "postgres/0005_softline.sql"
    ),
    migration!(
        6,
        "activeplatform",
        "sqlite/0006_activeplatform.sql",
        "postgres/0006_activeplatform.sql"
    ),
    migration!(7, "p2p", "sqlite/0007_p2p.sql", "postgres/0007_p2p.sql"),
    migration!(
        8,
        "capture",
        "sqlite/0008_capture.sql",
        "postgres/0008_capture.sql"
    ),
    migration!(
        9,
        "modes",
        "sqlite/0009_modes.sql",
        "postgres/0009_modes.sql"
    ),
    migration!(
        10,
        "p2p_sessions",
        "sqlite/0010_p2p_sessions.sql",
        "postgres/0010_p2p_sessions.sql",
        then digest_client_keys
    ),
    migration!(
        11,
        "credentials",
        "sqlite/0011_credentials.sql",
        "postgres/0011_credentials.sql"
    ),
    migration!(
        12,
        "callback_mode",
        "sqlite/0012_callback_mode.sql",
        "postgres/0012_callback_mode.sql"
    ),
    migration!(
        13,
        "shop_lists",
        "sqlite/0013_shop_lists.sql",
        "postgres/0013_shop_lists.sql"
    ),
    migration!(
        14,
        "merchant_acquirer",
        "sqlite/0014_merchant_acquirer.sql",
        "postgres/0014_merchant_acquirer.sql"
    ),
    migration!(
        15,
        "live_routes",
        "sqlite/0015_live_routes.sql",
        "postgres/0015_live_routes.sql"
    ),
    migration!(
        16,
        "dashboard",
        "sqlite/0016_dashboard.sql",
        "postgres/0016_dashboard.sql"
    ),
    migration!(
        17,
        "dashboard_search",
        "sqlite/0017_dashboard_search.sql",
        "postgres/0017_dashboard_search.sql"
    ),
    migration!(
        18,
        "lean_creation",
        "sqlite/0018_lean_creation.sql",
        "postgres/0018_lean_creation.sql"
    ),
    migration!(19, "callbacks_waiting", "common/0019_callbacks_waiting.sql"),
    migration!(
        20,
        "ledger_by_payment_and_kind",
        "common/0020_ledger_by_payment_and_kind.sql"
    ),
];

/// The migration that split test from live money (`0009_modes`): its reclassifications are
/// logged when it runs.
pub const MODES_VERSION: i64 = 9;

/// An arbitrary constant naming Obol's migration lock.
const MIGRATION_LOCK_ID: i64 = 0x0b01_0001;

/// Applies every pending migration; returns the versions applied now.
pub async fn migrate(db: &mut dyn Db, now: Timestamp) -> StoreResult<Vec<i64>> {
    migrate_up_to(db, now, i64::MAX).await
}

/// Applies the pending migrations up to version `last` (tests of a later migration over data
/// written at an earlier version).
pub async fn migrate_up_to(db: &mut dyn Db, now: Timestamp, last: i64) -> StoreResult<Vec<i64>> {
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
        .map(|row| row.int("version"))
        .collect::<StoreResult<_>>()?;
    let known = MIGRATIONS;
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
        .filter(|migration| migration.version <= last && !applied.contains(&migration.version))
    {
        let sql = migration
            .sql(db.backend())
            .replace("{{now}}", &now.unix_micros().to_string());
        db.execute_script(&sql).await.map_err(|error| {
            StoreError::Migration(format!("{} {}: {error}", migration.version, migration.name))
        })?;
        if let Some(step) = migration.then {
            step(&mut *db).await.map_err(|error| {
                StoreError::Migration(format!("{} {}: {error}", migration.version, migration.name))
            })?;
        }
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
    .map(|row| row.int("version"))
    .collect()
}
