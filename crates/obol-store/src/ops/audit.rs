//! What managers did: who, what, to what, from where, when.

use obol_core::ids::ManagerId;
use obol_core::tenancy::Ancestry;
use obol_core::time::Timestamp;

use super::timestamp;
use crate::db::Db;
use crate::error::StoreResult;
use crate::params;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub manager_id: ManagerId,
    pub action: String,
    pub subject: String,
    pub ip: Option<String>,
    pub at: Timestamp,
}

pub async fn record(
    db: &mut dyn Db,
    manager: ManagerId,
    action: &str,
    subject: &str,
    ip: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO audit_log (manager_id, action, subject, ip, at) VALUES ($1, $2, $3, $4, $5)",
        params![
            manager.get(),
            action,
            subject,
            ip.map(str::to_owned),
            at.unix_micros()
        ],
    )
    .await?;
    Ok(())
}

pub async fn for_subject(db: &mut dyn Db, subject: &str) -> StoreResult<Vec<AuditEntry>> {
    let rows = db.query("SELECT manager_id, action, subject, ip, at FROM audit_log WHERE subject = $1 ORDER BY id", params![subject]).await?;
    rows.iter()
        .map(|row| {
            Ok(AuditEntry {
                manager_id: ManagerId::new(row.int("manager_id")?),
                action: row.text("action")?,
                subject: row.text("subject")?,
                ip: row.opt_text("ip")?,
                at: timestamp(row.int("at")?),
            })
        })
        .collect()
}

/// An entry of the audit log as the dashboard lists it: with its id (the cursor) and the name
/// of its manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub id: i64,
    pub manager_name: String,
    pub entry: AuditEntry,
}

/// A page of the audit log and, when more follow, the cursor of the next page.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub entries: Vec<ListedEntry>,
    pub next: Option<i64>,
}

/// What the managers of the subtree `scope` did, newest first (ids only grow), `limit` at a
/// time; `before`: the cursor of the previous page (only entries with a smaller id). Read by
/// keyset, never by offset.
pub async fn list_within(
    db: &mut dyn Db,
    scope: &Ancestry,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<AuditPage> {
    let limit = limit.clamp(1, 500);
    let sql = format!(
        "SELECT a.id, a.manager_id, a.action, a.subject, a.ip, a.at, m.name FROM audit_log a \
         JOIN managers m ON m.id = a.manager_id JOIN resellers r ON r.id = m.reseller_id \
         WHERE r.ancestry LIKE $1 AND a.id < $2 ORDER BY a.id DESC LIMIT {}",
        limit + 1
    );
    let rows = db
        .query(
            &sql,
            params![format!("{}%", scope.encode()), before.unwrap_or(i64::MAX)],
        )
        .await?;
    let mut entries = rows
        .iter()
        .map(|row| {
            Ok(ListedEntry {
                id: row.int("id")?,
                manager_name: row.text("name")?,
                entry: AuditEntry {
                    manager_id: ManagerId::new(row.int("manager_id")?),
                    action: row.text("action")?,
                    subject: row.text("subject")?,
                    ip: row.opt_text("ip")?,
                    at: timestamp(row.int("at")?),
                },
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let next = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|entry| entry.id)
    } else {
        None
    };
    Ok(AuditPage { entries, next })
}
