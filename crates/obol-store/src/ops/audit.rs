//! What managers did: who, what, to what, from where, when.

use obol_core::ids::ManagerId;
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
