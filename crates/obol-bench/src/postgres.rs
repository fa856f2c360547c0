//! Scratch PostgreSQL databases: created on the server the benchmark is given (on loopback
//! only), used by one server or one storage-limit run, and dropped afterwards.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{BenchError, BenchResult};

/// A connection or a statement of the set-up that takes longer than this fails.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Refuses a URL that names anything but this machine: the benchmark sends traffic to
/// loopback only.
pub fn check_loopback(url: &str) -> BenchResult<()> {
    let config: Config = url
        .parse()
        .map_err(|error| BenchError::Postgres(format!("cannot read the URL: {error}")))?;
    let loopback = |host: &Host| match host {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_matches(['[', ']'])
                    .parse::<IpAddr>()
                    .is_ok_and(|address| address.is_loopback())
        }
        Host::Unix(_) => true,
    };
    let hosts_local = config.get_hosts().iter().all(loopback);
    let addresses_local = config
        .get_hostaddrs()
        .iter()
        .all(|address| address.is_loopback());
    if hosts_local && addresses_local {
        Ok(())
    } else {
        Err(BenchError::Invalid(
            "the PostgreSQL URL must name this machine (localhost, 127.0.0.0/8, ::1 or a socket)"
                .to_owned(),
        ))
    }
}

/// 16 random bytes as lowercase hex (database names), or 32 as base64 (an operator key).
fn random_bytes<const N: usize>() -> BenchResult<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| BenchError::Invalid(format!("random: {error}")))?;
    Ok(bytes)
}

/// A fresh operator key (`OBOL_SECRET_KEY`): base64 of 32 random bytes.
pub fn operator_key() -> BenchResult<String> {
    Ok(STANDARD.encode(random_bytes::<32>()?))
}

async fn connect(url: &str) -> BenchResult<Client> {
    let (client, connection) = tokio::time::timeout(TIMEOUT, tokio_postgres::connect(url, NoTls))
        .await
        .map_err(|_| {
            BenchError::Postgres(format!("no connection within {} s", TIMEOUT.as_secs()))
        })??;
    tokio::spawn(connection);
    Ok(client)
}

async fn execute(client: &Client, statement: &str) -> BenchResult<()> {
    tokio::time::timeout(TIMEOUT, client.batch_execute(statement))
        .await
        .map_err(|_| {
            BenchError::Postgres(format!("`{statement}` took over {} s", TIMEOUT.as_secs()))
        })??;
    Ok(())
}

/// A database made for one part of the run; [`ScratchDatabase::drop_now`] removes it.
pub struct ScratchDatabase {
    base: String,
    name: String,
    pub url: String,
}

impl ScratchDatabase {
    /// `CREATE DATABASE obol_bench_<random>` on the server `base` names.
    pub async fn create(base: &str) -> BenchResult<ScratchDatabase> {
        check_loopback(base)?;
        let suffix: String = random_bytes::<8>()?
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let name = format!("obol_bench_{suffix}");
        let client = connect(base).await?;
        execute(&client, &format!("CREATE DATABASE {name}")).await?;
        Ok(ScratchDatabase {
            base: base.to_owned(),
            url: obol_store::testing::replace_database(base, &name),
            name,
        })
    }

    /// `DROP DATABASE … WITH (FORCE)`.
    pub async fn drop_now(self) -> BenchResult<()> {
        let client = connect(&self.base).await?;
        execute(
            &client,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_a_target() {
        assert!(check_loopback("postgres://root@127.0.0.1:5432/test").is_ok());
        assert!(check_loopback("postgres://root@localhost/test").is_ok());
        assert!(check_loopback("postgres://root@[::1]:5432/test").is_ok());
        assert!(check_loopback("postgres://root@10.0.0.5:5432/test").is_err());
        assert!(check_loopback("postgres://root@db.example.com/test").is_err());
        assert!(check_loopback("postgres://root@127.0.0.1,10.0.0.5/test").is_err());
    }
}
