//! SQLite and PostgreSQL, after every migration, have the same tables, columns, primary keys and
//! indexes; each difference that is on purpose is listed here with its reason.

use std::collections::BTreeSet;

use obol_core::Timestamp;
use obol_store::Store;
use obol_store::UniqueKey;
use obol_store::ops::schema::{self, Schema};
use obol_store::testing::TestDatabase;

const NOW: Timestamp = Timestamp::from_unix_seconds(1_763_000_000);

/// Tables only one backend has, and why.
const ONLY_SQLITE: &[(&str, &str)] = &[(
    "sequences",
    "SQLite's payment, document and order number counters; PostgreSQL uses real sequences",
)];

async fn migrated_schema(database: &TestDatabase) -> Schema {
    let store = Store::open(&database.url).await.expect("open");
    store.migrate(NOW).await.expect("migrate");
    store
        .read(|db| Box::pin(schema::describe(db)))
        .await
        .expect("describe")
}

fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut found = Vec::new();
    let only_sqlite: BTreeSet<&str> = ONLY_SQLITE.iter().map(|(table, _)| *table).collect();
    for name in sqlite.tables.keys() {
        if !postgres.tables.contains_key(name) && !only_sqlite.contains(name.as_str()) {
            found.push(format!("table {name} only on SQLite"));
        }
    }
    for (name, postgres_table) in &postgres.tables {
        let Some(sqlite_table) = sqlite.tables.get(name) else {
            found.push(format!("table {name} only on PostgreSQL"));
            continue;
        };
        let columns: BTreeSet<&String> = sqlite_table
            .columns
            .keys()
            .chain(postgres_table.columns.keys())
            .collect();
        for column in columns {
            match (
                sqlite_table.columns.get(column),
                postgres_table.columns.get(column),
            ) {
                (Some(on_sqlite), Some(on_postgres)) => {
                    if !on_sqlite.kind.compatible(&on_postgres.kind) {
                        found.push(format!(
                            "{name}.{column}: {:?} on SQLite, {:?} on PostgreSQL",
                            on_sqlite.kind, on_postgres.kind
                        ));
                    }
                    if on_sqlite.nullable != on_postgres.nullable {
                        found.push(format!(
                            "{name}.{column}: nullable {} on SQLite, {} on PostgreSQL",
                            on_sqlite.nullable, on_postgres.nullable
                        ));
                    }
                }
                (Some(_), None) => found.push(format!("{name}.{column} only on SQLite")),
                (None, Some(_)) => found.push(format!("{name}.{column} only on PostgreSQL")),
                (None, None) => {}
            }
        }
        if sqlite_table.primary_key != postgres_table.primary_key {
            found.push(format!(
                "{name}: primary key {:?} on SQLite, {:?} on PostgreSQL",
                sqlite_table.primary_key, postgres_table.primary_key
            ));
        }
        let indexes: BTreeSet<&String> = sqlite_table
            .indexes
            .keys()
            .chain(postgres_table.indexes.keys())
            .collect();
        for index in indexes {
            match (
                sqlite_table.indexes.get(index),
                postgres_table.indexes.get(index),
            ) {
                (Some(on_sqlite), Some(on_postgres)) => {
                    let shape = |index: &schema::Index| {
                        (index.columns.clone(), index.unique, index.partial)
                    };
                    if shape(on_sqlite) != shape(on_postgres) {
                        found.push(format!(
                            "{name} index {index}: {on_sqlite:?} on SQLite, {on_postgres:?} on PostgreSQL"
                        ));
                    }
                }
                (Some(_), None) => found.push(format!("{name} index {index} only on SQLite")),
                (None, Some(_)) => found.push(format!("{name} index {index} only on PostgreSQL")),
                (None, None) => {}
            }
        }
    }
    found
}

/// Every unique key an operation turns into a domain error exists on both backends, on the
/// declared columns, and under the declared name on PostgreSQL (the name its errors carry).
fn missing_unique_keys(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut found = Vec::new();
    for key in UniqueKey::KNOWN {
        let definition = key.definition().expect("a known key has a definition");
        let matches = |schema: &Schema, name: Option<&str>| {
            schema.tables.get(definition.table).is_some_and(|table| {
                table.indexes.values().any(|index| {
                    index.unique
                        && index.columns.iter().map(Option::as_deref).eq(definition
                            .columns
                            .iter()
                            .copied()
                            .map(Some))
                        && name.is_none_or(|name| index.name == name)
                })
            })
        };
        if !matches(sqlite, None) {
            found.push(format!("{key:?} missing on SQLite"));
        }
        if !matches(postgres, Some(definition.postgres_name)) {
            found.push(format!("{key:?} missing on PostgreSQL"));
        }
    }
    found
}

obol_store::postgres_test! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_match() {
    let postgres_database = TestDatabase::postgres().await;
    let sqlite_database = TestDatabase::sqlite();
    let sqlite = migrated_schema(&sqlite_database).await;
    let postgres = migrated_schema(&postgres_database).await;
    assert!(
        sqlite.tables.len() > 20,
        "SQLite's schema was read: {:?}",
        sqlite.tables.keys()
    );
    assert!(
        postgres.tables.len() > 20,
        "PostgreSQL's schema was read: {:?}",
        postgres.tables.keys()
    );
    let mut found = differences(&sqlite, &postgres);
    found.extend(missing_unique_keys(&sqlite, &postgres));
    assert!(
        found.is_empty(),
        "the schemas differ:\n{}",
        found.join("\n")
    );
}
}
