//! What the process-level tests share (`nodes.rs`, `failover.rs`): the real `obol` binary with a
//! test's environment, nodes started on loopback and stopped by signal, a merchant made through
//! the CLI, and the checks made after a crash (every acknowledged creation stored, `verify`
//! clean).

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use obol_core::ids::MerchantId;
use obol_store::Store;
use serde_json::Value;

pub const OPERATOR_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// `obol` in `directory` on `database_url`, callbacks allowed to loopback and quickly retried.
pub fn obol(directory: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_obol"));
    command
        .current_dir(directory)
        .env("OBOL_DATABASE_URL", database_url)
        .env("OBOL_SECRET_KEY", OPERATOR_KEY)
        .env("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "true")
        .env("OBOL_CALLBACKS_LEASE_S", "2")
        .env("OBOL_CALLBACKS_REQUEST_TIMEOUT_MS", "1000");
    command
}

/// A running `obol serve`, its address and the file its log goes to; killed when dropped.
pub struct Node {
    pub child: Child,
    pub address: String,
    pub log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a node on a free loopback port, its log in `directory/{name}.log`.
#[allow(clippy::zombie_processes)] // a Node waits for its child when dropped
pub fn start_node(directory: &Path, database_url: &str, name: &str) -> Node {
    let log = directory.join(format!("{name}.log"));
    let mut child = obol(directory, database_url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("obol serve starts");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "node {name} ended before listening: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Some(address) = line.trim().strip_prefix("listening on http://") {
            return Node {
                child,
                address: address.to_owned(),
                log,
            };
        }
    }
}

/// Sends `signal` (`-TERM`, `-KILL`) to the node and waits until it has ended.
pub fn stop(node: &mut Node, signal: &str) {
    Command::new("kill")
        .args([signal, &node.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "a node did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A reseller and a merchant of it, made through the CLI.
pub fn merchant(directory: &Path, database_url: &str) -> Value {
    let run = |args: &[&str]| -> Value {
        let output = obol(directory, database_url).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let reseller = run(&["reseller", "create", "--name", "R", "--json"]);
    run(&[
        "merchant",
        "create",
        "--name",
        "M",
        "--reseller",
        &reseller["id"].to_string(),
        "--json",
    ])
}

/// Every reference the merchant's clients had acknowledged is a stored payment.
pub async fn assert_stored<'a>(
    store: &Store,
    merchant: &Value,
    references: impl IntoIterator<Item = &'a String>,
) {
    let merchant_id = MerchantId::new(merchant["id"].as_i64().unwrap());
    for reference in references {
        let reference = reference.clone();
        let found = store
            .read(move |db| {
                Box::pin(async move {
                    obol_store::ops::payments::find_by_reference(db, merchant_id, &reference).await
                })
            })
            .await
            .unwrap();
        assert!(found.is_some(), "an acknowledged creation was lost");
    }
}

/// `obol verify` finds every invariant holding.
pub async fn assert_verify_clean(directory: &Path, database_url: &str) {
    let (directory, url) = (directory.to_owned(), database_url.to_owned());
    let verified = tokio::task::spawn_blocking(move || {
        obol(&directory, &url).args(["verify"]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}
