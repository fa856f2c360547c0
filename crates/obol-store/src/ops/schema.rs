//! The schema as the database reports it after migrations: tables, columns and indexes, in
//! one backend-neutral shape, so a test can check that SQLite and PostgreSQL agree.

use std::collections::BTreeMap;

use crate::db::{Backend, Db};
use crate::error::StoreResult;
use crate::params;

/// A column's type, as far as the two backends can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    Integer,
    Text,
    Blob,
    /// PostgreSQL's `BOOLEAN`; SQLite's `BOOLEAN` (it has no boolean type and stores integers).
    Boolean,
    /// Any other declared type, as declared.
    Other(String),
}

impl ColumnKind {
    fn from_declared(declared: &str) -> ColumnKind {
        match declared.to_ascii_lowercase().as_str() {
            "integer" | "int" | "bigint" | "smallint" => ColumnKind::Integer,
            "text" | "character varying" | "varchar" => ColumnKind::Text,
            "blob" | "bytea" => ColumnKind::Blob,
            "boolean" | "bool" => ColumnKind::Boolean,
            _ => ColumnKind::Other(declared.to_owned()),
        }
    }

    /// Whether values of one kind read back as the same [`crate::value::Value`] from the other.
    /// SQLite has no boolean type, so an `INTEGER` there matches a `BOOLEAN` on PostgreSQL
    /// (`Row::bool` reads both).
    pub fn compatible(&self, other: &ColumnKind) -> bool {
        self == other
            || matches!(
                (self, other),
                (ColumnKind::Integer, ColumnKind::Boolean)
                    | (ColumnKind::Boolean, ColumnKind::Integer)
            )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub kind: ColumnKind,
    pub nullable: bool,
}

/// An index (or the index behind a unique constraint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The backend's own name (constraint-backed indexes are named differently on each).
    pub name: String,
    /// Its columns in order; `None` for an expression.
    pub columns: Vec<Option<String>>,
    pub unique: bool,
    /// Whether it has a `WHERE` clause.
    pub partial: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: BTreeMap<String, Column>,
    /// The primary key's columns, in order.
    pub primary_key: Vec<String>,
    /// Indexes by a name both backends share: the index's own name for `CREATE INDEX`, and
    /// `unique(column, …)` for a `UNIQUE` constraint (SQLite calls those
    /// `sqlite_autoindex_…`, PostgreSQL `…_key`). Primary keys are in `primary_key`.
    pub indexes: BTreeMap<String, Index>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
}

fn constraint_key(columns: &[Option<String>]) -> String {
    let names: Vec<&str> = columns
        .iter()
        .map(|column| column.as_deref().unwrap_or("(expression)"))
        .collect();
    format!("unique({})", names.join(", "))
}

/// Reads the schema of the database behind `db`.
pub async fn describe(db: &mut dyn Db) -> StoreResult<Schema> {
    match db.backend() {
        Backend::Sqlite => describe_sqlite(db).await,
        Backend::Postgres => describe_postgres(db).await,
    }
}

async fn describe_sqlite(db: &mut dyn Db) -> StoreResult<Schema> {
    let mut schema = Schema::default();
    let tables = db
        .query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            &[],
        )
        .await?;
    for table_row in &tables {
        let name = table_row.text("name")?;
        let mut table = Table::default();
        let columns = db
            .query(
                "SELECT name, type, \"notnull\" AS not_null, pk FROM pragma_table_info($1) ORDER BY cid",
                params![name.as_str()],
            )
            .await?;
        let mut primary_key = Vec::new();
        for column in &columns {
            let column_name = column.text("name")?;
            let in_key = column.int("pk")?;
            if in_key > 0 {
                primary_key.push((in_key, column_name.clone()));
            }
            table.columns.insert(
                column_name,
                Column {
                    kind: ColumnKind::from_declared(column.str("type")?),
                    // A primary key column is never NULL on PostgreSQL; SQLite reports only
                    // what was declared.
                    nullable: !column.bool("not_null")? && in_key == 0,
                },
            );
        }
        primary_key.sort();
        table.primary_key = primary_key.into_iter().map(|(_, column)| column).collect();
        let indexes = db
            .query(
                "SELECT name, \"unique\" AS is_unique, origin, partial FROM pragma_index_list($1)",
                params![name.as_str()],
            )
            .await?;
        for index_row in &indexes {
            let origin = index_row.text("origin")?;
            if origin == "pk" {
                continue;
            }
            let index_name = index_row.text("name")?;
            let columns = db
                .query(
                    "SELECT name FROM pragma_index_info($1) ORDER BY seqno",
                    params![index_name.as_str()],
                )
                .await?
                .iter()
                .map(|row| row.opt_text("name"))
                .collect::<StoreResult<Vec<_>>>()?;
            let key = if origin == "u" {
                constraint_key(&columns)
            } else {
                index_name.clone()
            };
            table.indexes.insert(
                key,
                Index {
                    name: index_name,
                    columns,
                    unique: index_row.bool("is_unique")?,
                    partial: index_row.bool("partial")?,
                },
            );
        }
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

async fn describe_postgres(db: &mut dyn Db) -> StoreResult<Schema> {
    let mut schema = Schema::default();
    let columns = db
        .query(
            "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, c.data_type::text AS data_type, \
             c.is_nullable::text AS is_nullable \
             FROM information_schema.columns c JOIN information_schema.tables t \
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await?;
    for row in &columns {
        schema
            .tables
            .entry(row.text("table_name")?)
            .or_default()
            .columns
            .insert(
                row.text("column_name")?,
                Column {
                    kind: ColumnKind::from_declared(row.str("data_type")?),
                    nullable: row.str("is_nullable")? == "YES",
                },
            );
    }
    // One row per index column, in order; `constraint_type` tells a primary key ('p') and a
    // UNIQUE constraint ('u') from a plain CREATE INDEX (NULL).
    let index_columns = db
        .query(
            "SELECT t.relname::text AS table_name, i.relname::text AS index_name, ix.indisunique AS is_unique, \
             ix.indpred IS NOT NULL AS partial, con.contype::text AS constraint_type, a.attname::text AS column_name \
             FROM pg_index ix \
             JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             LEFT JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.contype IN ('p', 'u') \
             CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) \
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE n.nspname = current_schema() \
             ORDER BY t.relname, i.relname, k.position",
            &[],
        )
        .await?;
    let mut found: BTreeMap<(String, String), (Index, Option<String>)> = BTreeMap::new();
    for row in &index_columns {
        let key = (row.text("table_name")?, row.text("index_name")?);
        let entry = match found.entry(key) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let name = entry.key().1.clone();
                entry.insert((
                    Index {
                        name,
                        columns: Vec::new(),
                        unique: row.bool("is_unique")?,
                        partial: row.bool("partial")?,
                    },
                    row.opt_text("constraint_type")?,
                ))
            }
        };
        entry.0.columns.push(row.opt_text("column_name")?);
    }
    for ((table_name, index_name), (index, constraint)) in found {
        let table = schema.tables.entry(table_name).or_default();
        match constraint.as_deref() {
            Some("p") => {
                table.primary_key = index.columns.into_iter().flatten().collect();
            }
            Some("u") => {
                table.indexes.insert(constraint_key(&index.columns), index);
            }
            _ => {
                table.indexes.insert(index_name, index);
            }
        }
    }
    Ok(schema)
}
