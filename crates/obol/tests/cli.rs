//! The command line, as a user runs it: the real `obol` binary, its output and exit codes
//! checked against the contract of SPEC §1. SQLite runs everything; PostgreSQL the parts that
//! differ.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use obol_testkit::{Scratch, TestDatabase, hidden_value};
use serde_json::Value;

const OPERATOR_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn obol(directory: &Path, database_url: Option<&str>, arguments: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_obol"));
    command
        .current_dir(directory)
        .args(arguments)
        .env_remove("OBOL_DATABASE_URL")
        .env_remove("OBOL_DATA_DIR")
        .env_remove("OBOL_SECRET_KEY");
    if let Some(url) = database_url {
        command
            .env("OBOL_DATABASE_URL", url)
            .env("OBOL_SECRET_KEY", OPERATOR_KEY);
    }
    command.output().expect("the obol binary runs")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one JSON object: {text}"
    );
    serde_json::from_str(text.trim()).unwrap()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn creates_everything_as_the_contract_says(directory: &Path, url: Option<&str>) {
    let reseller = json_of(&obol(
        directory,
        url,
        &["reseller", "create", "--name", "Acme", "--json"],
    ));
    assert_eq!(reseller["id"], 2, "{reseller}");
    assert_eq!(reseller["name"], "Acme");
    assert_eq!(reseller["parent_id"], 1);
    let child = json_of(&obol(
        directory,
        url,
        &[
            "reseller",
            "create",
            "--name",
            "Acme East",
            "--parent",
            "2",
            "--json",
        ],
    ));
    assert_eq!(child["parent_id"], 2);

    let merchant = json_of(&obol(
        directory,
        url,
        &[
            "merchant",
            "create",
            "--name",
            "Shop",
            "--reseller",
            "2",
            "--json",
        ],
    ));
    assert!(merchant["id"].is_i64());
    assert_eq!(merchant["reseller_id"], 2);
    assert_eq!(merchant["test_mode"], true);
    assert!(
        merchant["public_key"]
            .as_str()
            .unwrap()
            .starts_with("pk_test_")
    );
    for field in ["api_login", "api_secret", "callback_secret"] {
        assert!(
            merchant[field]
                .as_str()
                .is_some_and(|value| value.len() >= 16),
            "{field}: {merchant}"
        );
    }
    let live = json_of(&obol(
        directory,
        url,
        &[
            "merchant",
            "create",
            "--name",
            "Live",
            "--reseller",
            "3",
            "--live",
            "--forbid-public-access",
            "--webhook-url",
            "https://shop.example/hook",
            "--json",
        ],
    ));
    assert_eq!(live["test_mode"], false);
    assert!(live["public_key"].as_str().unwrap().starts_with("pk_live_"));
    assert_eq!(live["forbid_public_access"], true);
    assert_eq!(live["webhook_url"], "https://shop.example/hook");

    let manager = json_of(&obol(
        directory,
        url,
        &[
            "manager",
            "create",
            "--reseller",
            "2",
            "--role",
            "manager",
            "--name",
            "Ann",
            "--json",
        ],
    ));
    assert_eq!(manager["reseller_id"], 2);
    assert_eq!(manager["role"], "manager");
    assert!(manager["id"].is_i64() && manager["api_token"].as_str().unwrap().len() >= 22);

    let account = json_of(&obol(
        directory,
        url,
        &[
            "customer-account",
            "create",
            "--reseller",
            "2",
            "--name",
            "Payer",
            "--json",
        ],
    ));
    assert!(account["id"].is_i64());
    assert_eq!(account["reseller_id"], 2);

    let client = json_of(&obol(
        directory,
        url,
        &[
            "p2p",
            "client",
            "create",
            "--name",
            "Wallet",
            "--require-signed-requests",
            "--json",
        ],
    ));
    assert_eq!(client["client_id"].as_str().unwrap().len(), 36);
    assert!(client["signing_key"].as_str().unwrap().len() >= 32);
    assert_eq!(client["require_signed_requests"], true);
    let client_id = client["client_id"].as_str().unwrap();
    let rotated = json_of(&obol(
        directory,
        url,
        &[
            "p2p",
            "client",
            "rotate-key",
            "--client-id",
            client_id,
            "--json",
        ],
    ));
    assert_eq!(rotated["client_id"], client_id);
    assert_ne!(rotated["signing_key"], client["signing_key"]);
    let updated = json_of(&obol(
        directory,
        url,
        &[
            "p2p",
            "client",
            "update",
            "--client-id",
            client_id,
            "--require-signed-requests",
            "false",
            "--json",
        ],
    ));
    assert_eq!(
        updated,
        serde_json::json!({ "client_id": client_id, "require_signed_requests": false })
    );

    let verified = obol(directory, url, &["verify"]);
    assert!(verified.status.success(), "{}", stderr_of(&verified));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("ok: no violations"));
}

fn refuses_bad_input(directory: &Path, url: Option<&str>) {
    let orphan = obol(
        directory,
        url,
        &[
            "reseller", "create", "--name", "Orphan", "--parent", "999", "--json",
        ],
    );
    assert_eq!(orphan.status.code(), Some(1));
    assert!(
        stderr_of(&orphan).contains("parent reseller 999 does not exist"),
        "{}",
        stderr_of(&orphan)
    );
    let error: Value = serde_json::from_slice(&orphan.stdout).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");

    let no_reseller = obol(
        directory,
        url,
        &["merchant", "create", "--name", "Shop", "--reseller", "999"],
    );
    assert_eq!(no_reseller.status.code(), Some(1));
    assert!(stderr_of(&no_reseller).contains("reseller 999 does not exist"));

    let role = obol(
        directory,
        url,
        &[
            "manager",
            "create",
            "--reseller",
            "1",
            "--role",
            "owner",
            "--name",
            "X",
        ],
    );
    assert_eq!(role.status.code(), Some(2), "a usage error");
    assert!(
        stderr_of(&role).contains("admin") && stderr_of(&role).contains("viewer"),
        "{}",
        stderr_of(&role)
    );

    let blank = obol(
        directory,
        url,
        &[
            "customer-account",
            "create",
            "--reseller",
            "1",
            "--name",
            "   ",
        ],
    );
    assert_eq!(blank.status.code(), Some(1));

    let webhook = obol(
        directory,
        url,
        &[
            "merchant",
            "create",
            "--name",
            "S",
            "--reseller",
            "1",
            "--webhook-url",
            "ftp://x",
        ],
    );
    assert_eq!(webhook.status.code(), Some(1));
    assert!(stderr_of(&webhook).contains("--webhook-url"));
}

/// The keys of a JSON object, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// An error with `--json`: exit 1, the message on standard error, the error object on
/// standard output.
fn assert_json_error(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(output));
    assert!(stderr_of(output).contains(message), "{}", stderr_of(output));
    let error: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");
    assert_eq!(error["error"]["message"], message);
}

fn rotates_and_disables_as_the_contract_says(directory: &Path, url: Option<&str>) {
    let merchant = json_of(&obol(
        directory,
        url,
        &[
            "merchant",
            "create",
            "--name",
            "Rotating",
            "--reseller",
            "1",
            "--json",
        ],
    ));
    let id = merchant["id"].to_string();
    let rotated = json_of(&obol(
        directory,
        url,
        &["merchant", "rotate-secret", "--merchant", &id, "--json"],
    ));
    assert_eq!(
        keys(&rotated),
        ["api_login", "api_secret", "id"],
        "{rotated}"
    );
    assert_eq!(rotated["id"], merchant["id"]);
    assert_eq!(rotated["api_login"], merchant["api_login"]);
    let secret = rotated["api_secret"].as_str().unwrap();
    assert!(
        secret.starts_with("sk_test_") && secret.len() >= 40,
        "{secret}"
    );
    assert_ne!(rotated["api_secret"], merchant["api_secret"]);

    let callback = json_of(&obol(
        directory,
        url,
        &[
            "merchant",
            "rotate-callback-secret",
            "--merchant",
            &id,
            "--json",
        ],
    ));
    assert_eq!(
        keys(&callback),
        [
            "callback_secret",
            "id",
            "merchant_id",
            "previous_secret_valid_until"
        ],
        "{callback}"
    );
    assert_eq!(callback["id"], merchant["id"]);
    assert_eq!(callback["merchant_id"], merchant["id"]);
    assert!(
        callback["callback_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_ne!(callback["callback_secret"], merchant["callback_secret"]);

    let manager = json_of(&obol(
        directory,
        url,
        &[
            "manager",
            "create",
            "--reseller",
            "1",
            "--role",
            "admin",
            "--name",
            "Ann",
            "--json",
        ],
    ));
    let manager_id = manager["id"].to_string();
    let token = json_of(&obol(
        directory,
        url,
        &[
            "manager",
            "rotate-token",
            "--manager",
            &manager_id,
            "--json",
        ],
    ));
    assert_eq!(keys(&token), ["api_token", "id"], "{token}");
    assert_eq!(token["id"], manager["id"]);
    assert!(token["api_token"].as_str().unwrap().len() >= 22);
    assert_ne!(token["api_token"], manager["api_token"]);
    let disabled = json_of(&obol(
        directory,
        url,
        &["manager", "disable", "--manager", &manager_id, "--json"],
    ));
    assert_eq!(
        disabled,
        serde_json::json!({ "id": manager["id"], "disabled": true })
    );
    let again = json_of(&obol(
        directory,
        url,
        &["manager", "disable", "--manager", &manager_id, "--json"],
    ));
    assert_eq!(again["disabled"], true);

    // Without --json: one `key: value` line per field.
    let text = obol(
        directory,
        url,
        &["merchant", "rotate-secret", "--merchant", &id],
    );
    let lines = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        lines.lines().count() == 3
            && lines.contains(&format!("id: {id}\n"))
            && lines.contains("api_secret: sk_test_"),
        "{lines}"
    );

    for (arguments, message) in [
        (
            ["merchant", "rotate-secret", "--merchant", "999"],
            "merchant 999 does not exist",
        ),
        (
            ["merchant", "rotate-callback-secret", "--merchant", "999"],
            "merchant 999 does not exist",
        ),
        (
            ["manager", "rotate-token", "--manager", "999"],
            "manager 999 does not exist",
        ),
        (
            ["manager", "disable", "--manager", "999"],
            "manager 999 does not exist",
        ),
    ] {
        let mut arguments = arguments.to_vec();
        arguments.push("--json");
        assert_json_error(&obol(directory, url, &arguments), message);
    }
    let usage = obol(
        directory,
        url,
        &["manager", "disable", "--manager", "seven", "--json"],
    );
    assert_eq!(
        usage.status.code(),
        Some(2),
        "a non-integer id is a usage error"
    );
    assert!(usage.stdout.is_empty());
}

#[test]
fn sqlite_commands_follow_the_contract() {
    let scratch = Scratch::new("contract");
    creates_everything_as_the_contract_says(scratch.path(), None);
    refuses_bad_input(scratch.path(), None);
    rotates_and_disables_as_the_contract_says(scratch.path(), None);
    assert!(
        scratch.path().join("obol-data/obol.db").exists(),
        "the default store is ./obol-data/obol.db"
    );
    let key = scratch.path().join("obol-data/secret.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

obol_store::postgres_test! {
#[tokio::test]
async fn postgres_commands_follow_the_contract() {
    let database = TestDatabase::postgres().await;
    let scratch = Scratch::new("contract-pg");
    let url = database.url_text.clone();
    tokio::task::spawn_blocking(move || {
        creates_everything_as_the_contract_says(scratch.path(), Some(&url));
        refuses_bad_input(scratch.path(), Some(&url));
        rotates_and_disables_as_the_contract_says(scratch.path(), Some(&url));
        assert!(
            !scratch.path().join("obol-data").exists(),
            "PostgreSQL writes nothing under the data directory"
        );
    })
    .await
    .unwrap();
}
}

obol_store::postgres_test! {
#[tokio::test]
async fn postgres_requires_an_operator_key() {
    let database = TestDatabase::postgres().await;
    let scratch = Scratch::new("pg-key");
    let output = Command::new(env!("CARGO_BIN_EXE_obol"))
        .current_dir(scratch.path())
        .env_remove("OBOL_SECRET_KEY")
        .args([
            "--database-url",
            &database.url_text,
            "merchant",
            "create",
            "--name",
            "X",
            "--reseller",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("secret_key is required with PostgreSQL"),
        "{}",
        stderr_of(&output)
    );
    let without_secrets = Command::new(env!("CARGO_BIN_EXE_obol"))
        .current_dir(scratch.path())
        .env_remove("OBOL_SECRET_KEY")
        .args([
            "--database-url",
            &database.url_text,
            "reseller",
            "create",
            "--name",
            "X",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        without_secrets.status.success(),
        "commands that encrypt nothing need no key: {}",
        stderr_of(&without_secrets)
    );
    let serve = Command::new(env!("CARGO_BIN_EXE_obol"))
        .current_dir(scratch.path())
        .env_remove("OBOL_SECRET_KEY")
        .args([
            "--database-url",
            &database.url_text,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        serve.status.code(),
        Some(1),
        "the server does not start without the key"
    );
    assert!(stderr_of(&serve).contains("secret_key is required"));
}
}

#[test]
fn unknown_database_scheme_creates_nothing() {
    let scratch = Scratch::new("scheme");
    for url in ["mysql://localhost/obol", "obol.db", "sqlite::memory:"] {
        let output = obol(
            scratch.path(),
            None,
            &[
                "--database-url",
                url,
                "reseller",
                "create",
                "--name",
                "X",
                "--json",
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{url}");
        assert!(
            stderr_of(&output).contains("database_url"),
            "{}",
            stderr_of(&output)
        );
    }
    let entries: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(entries.is_empty(), "nothing was created: {entries:?}");
}

#[test]
fn migrate_applies_each_version_once() {
    let scratch = Scratch::new("migrate");
    let first = json_of(&obol(scratch.path(), None, &["migrate", "--json"]));
    let versions: Vec<i64> = obol_store::ops::migrate::MIGRATIONS
        .iter()
        .map(|migration| migration.version)
        .collect();
    assert_eq!(versions[..9], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(first["applied"], serde_json::json!(versions));
    assert_eq!(first["version"], serde_json::json!(versions.last()));
    assert_eq!(first["backend"], "sqlite");
    let second = json_of(&obol(scratch.path(), None, &["migrate", "--json"]));
    assert_eq!(second["applied"], serde_json::json!([]));
}

/// What `POST /api/sessions/create` answers a P2P client: signed with `key`, or unsigned.
async fn open_p2p_session(address: &str, client_id: &str, key: Option<&str>) -> Value {
    let params = serde_json::json!({ "clientId": client_id });
    let body = match key {
        Some(key) => {
            let iat = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let claims = serde_json::json!({ "params": params, "data": {}, "iat": iat });
            serde_json::json!({ "token": obol_server::tokens::sign_with(key.as_bytes(), &claims) })
        }
        None => serde_json::json!({ "params": params }),
    };
    reqwest::Client::new()
        .post(format!("http://{address}/api/sessions/create"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (a verified credential may be cached up to 5 s, SPEC §1) until a P2P client's answer
/// has the expected error code, or success for `None`.
async fn p2p_answers(address: &str, client_id: &str, key: Option<&str>, expected: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = open_p2p_session(address, client_id, key).await;
        let code = answer["error"]["code"].as_str().map(str::to_owned);
        if code.as_deref() == expected && (expected.is_some() || answer["status"] == 1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {expected:?}, the server still answers {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `p2p client rotate-key` and `p2p client update`: the old signing key stops, the new one
/// works, and signing is required or not as the operator says; the outputs are the contract's.
#[tokio::test]
async fn p2p_client_keys_rotate_and_signing_is_switched() {
    let scratch = Scratch::new("p2p-rotate");
    let directory = scratch.path().to_owned();
    let run = move |arguments: Vec<String>| {
        let directory = directory.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
                obol(&directory, None, &arguments)
            })
            .await
            .unwrap()
        }
    };
    let words = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let created = json_of(
        &run(words(
            "p2p client create --name Wallet --require-signed-requests --json",
        ))
        .await,
    );
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let old_key = created["signing_key"].as_str().unwrap().to_owned();
    let directory = scratch.path().to_owned();
    let (mut child, address, _) = tokio::task::spawn_blocking(move || {
        spawn_serve(&directory, &["serve", "--listen", "127.0.0.1:0"])
    })
    .await
    .unwrap();
    p2p_answers(&address, &client_id, Some(&old_key), None).await;
    p2p_answers(&address, &client_id, None, Some("SIGNATURE_REQUIRED")).await;

    let rotated = json_of(
        &run(words(&format!(
            "p2p client rotate-key --client-id {client_id} --json"
        )))
        .await,
    );
    let fields: Vec<&String> = rotated.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["client_id", "signing_key"], "{rotated}");
    assert_eq!(rotated["client_id"], client_id.as_str());
    let new_key = rotated["signing_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    assert!(new_key.len() >= 32);
    p2p_answers(
        &address,
        &client_id,
        Some(&old_key),
        Some("INVALID_SIGNATURE"),
    )
    .await;
    p2p_answers(&address, &client_id, Some(&new_key), None).await;

    let updated = json_of(
        &run(words(&format!(
            "p2p client update --client-id {client_id} --require-signed-requests false --json"
        )))
        .await,
    );
    assert_eq!(
        updated,
        serde_json::json!({ "client_id": client_id, "require_signed_requests": false })
    );
    p2p_answers(&address, &client_id, None, None).await;
    let updated = json_of(
        &run(words(&format!(
            "p2p client update --client-id {client_id} --require-signed-requests true --json"
        )))
        .await,
    );
    assert_eq!(updated["require_signed_requests"], true);
    p2p_answers(&address, &client_id, None, Some("SIGNATURE_REQUIRED")).await;
    p2p_answers(&address, &client_id, Some(&new_key), None).await;

    // An unknown client, or a value that is not true or false, is refused.
    let unknown = run(words(
        "p2p client rotate-key --client-id 6d1b241b-6406-42a2-ae85-13d67b951841 --json",
    ))
    .await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr_of(&unknown).contains("does not exist"),
        "{}",
        stderr_of(&unknown)
    );
    let error: Value = serde_json::from_slice(&unknown.stdout).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");
    let neither = run(words(&format!(
        "p2p client update --client-id {client_id} --require-signed-requests maybe"
    )))
    .await;
    assert_eq!(neither.status.code(), Some(2), "a usage error");
    let status = tokio::task::spawn_blocking(move || terminate(&mut child))
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn verify_fails_on_a_planted_violation() {
    let scratch = Scratch::new("verify");
    let database_url = format!("sqlite://{}", scratch.path().join("obol.db").display());
    let directory = scratch.path().to_owned();
    let url = database_url.clone();
    tokio::task::spawn_blocking(move || {
        json_of(&obol(
            &directory,
            None,
            &["--database-url", &url, "demo", "--json"],
        ))
    })
    .await
    .unwrap();
    let store = obol_store::Store::open(&obol_store::DatabaseUrl::parse(&database_url).unwrap())
        .await
        .unwrap();
    store
        .write(|db| {
            Box::pin(obol_store::testing::inspect::plant_unbalanced_correction(
                db,
            ))
        })
        .await
        .unwrap();
    drop(store);
    let directory = scratch.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        obol(
            &directory,
            None,
            &["--database-url", &database_url, "verify", "--json"],
        )
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "verify exits 1 on a violation"
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let checks: Vec<&str> = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|violation| violation["check"].as_str().unwrap())
        .collect();
    assert!(
        checks.contains(&"currency_sums_to_zero") && checks.contains(&"transaction_has_postings"),
        "{checks:?}"
    );
}

#[test]
fn demo_prints_a_whole_tenancy() {
    let scratch = Scratch::new("demo");
    let demo = json_of(&obol(scratch.path(), None, &["demo", "--json"]));
    for (part, field) in [
        ("merchant", "api_secret"),
        ("merchant", "public_key"),
        ("manager", "api_token"),
        ("p2p_client", "signing_key"),
        ("customer_account", "id"),
        ("reseller", "id"),
    ] {
        assert!(!demo[part][field].is_null(), "{part}.{field} in {demo}");
    }
    assert_eq!(demo["demo_invoice"]["amount"], "100.00");
    assert_eq!(demo["demo_invoice"]["currency"], "USD");
    assert!(
        demo["demo_invoice"]["payment_url"]
            .as_str()
            .unwrap()
            .contains("/hpp/?cpi=cpi_")
    );
    let again = json_of(&obol(scratch.path(), None, &["demo", "--json"]));
    assert_ne!(
        again["merchant"]["id"], demo["merchant"]["id"],
        "each `obol demo` seeds a new tenancy"
    );
}

/// Starts `obol serve`, returns the child and the address from its `listening on` line.
/// The caller waits for the child through `terminate`.
#[allow(clippy::zombie_processes)]
fn spawn_serve(directory: &Path, arguments: &[&str]) -> (std::process::Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_obol"))
        .current_dir(directory)
        .env_remove("OBOL_DATABASE_URL")
        .env_remove("OBOL_SECRET_KEY")
        .args(arguments)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut printed = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve ended before listening: {printed}");
        }
        printed.push_str(&line);
        if let Some(address) = line.trim().strip_prefix("listening on http://") {
            return (child, address.to_owned(), printed);
        }
    }
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serve_demo_serves_and_stops_gracefully() {
    let scratch = Scratch::new("serve");
    let directory = scratch.path().to_owned();
    let (mut child, address, printed) = tokio::task::spawn_blocking(move || {
        spawn_serve(&directory, &["serve", "--demo", "--listen", "127.0.0.1:0"])
    })
    .await
    .unwrap();
    assert!(
        !address.ends_with(":0"),
        "port 0 is replaced by the bound port: {address}"
    );
    assert!(
        printed.contains(&format!("http://{address}/hpp/?cpi=cpi_")),
        "a link to pay the demo invoice: {printed}"
    );
    let credentials_path = scratch.path().join("obol-data/demo-credentials.json");
    let credentials: Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials_path).unwrap()).unwrap();
    assert!(printed.contains(credentials["merchant"]["api_secret"].as_str().unwrap()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&credentials_path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let health = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("http://{address}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let status = tokio::task::spawn_blocking(move || terminate(&mut child))
        .await
        .unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");

    // A second start reuses the tenancy seeded the first time.
    let directory = scratch.path().to_owned();
    let (mut child, _, printed_again) = tokio::task::spawn_blocking(move || {
        spawn_serve(&directory, &["serve", "--demo", "--listen", "127.0.0.1:0"])
    })
    .await
    .unwrap();
    let mut stderr = String::new();
    let status = tokio::task::spawn_blocking(move || {
        let status = terminate(&mut child);
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
        (status, stderr)
    })
    .await
    .unwrap();
    assert!(status.0.success());
    assert!(
        printed_again.contains(credentials["merchant"]["public_key"].as_str().unwrap()),
        "the same demo merchant: {printed_again}"
    );
    for secret in [
        &credentials["merchant"]["api_secret"],
        &credentials["manager"]["api_token"],
        &credentials["merchant"]["callback_secret"],
    ] {
        assert!(
            !status.1.contains(secret.as_str().unwrap()),
            "secrets never reach the logs"
        );
    }
    let list = obol(scratch.path(), None, &["verify", "--json"]);
    assert_eq!(json_of(&list)["payments"], 1, "one demo invoice, not two");
}

/// The value of a hidden input in a page.
/// A new user's first payment, against the real binary: the demo merchant creates an invoice
/// through the Paymega API, the customer pays on the hosted page with a sandbox card, the
/// merchant reconciles it; the card number is nowhere in the database files or the logs.
#[tokio::test]
async fn a_demo_invoice_is_paid_on_the_hosted_page() {
    let scratch = Scratch::new("pay");
    let directory = scratch.path().to_owned();
    let (mut child, address, _) = tokio::task::spawn_blocking(move || {
        spawn_serve(&directory, &["serve", "--demo", "--listen", "127.0.0.1:0"])
    })
    .await
    .unwrap();
    let credentials: Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.path().join("obol-data/demo-credentials.json")).unwrap(),
    )
    .unwrap();
    let (login, secret) = (
        credentials["merchant"]["api_login"]
            .as_str()
            .unwrap()
            .to_owned(),
        credentials["merchant"]["api_secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let created: Value = http
        .post(format!("http://{address}/api/payment-invoices"))
        .basic_auth(&login, Some(&secret))
        .json(&serde_json::json!({ "data": { "type": "payment-invoices", "attributes": {
            "reference_id": "first-order", "amount": 100, "currency": "USD", "service": "payment_card_usd_hpp",
            "return_urls": { "success": "https://shop.example/ok", "fail": "https://shop.example/fail", "pending": "https://shop.example/wait" }
        } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let action = created["data"]["attributes"]["flow_data"]["action"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let page = http
        .get(&action)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"card_number\""),
        "the card form: {page}"
    );
    let csrf = hidden_value(&page, "csrf_token");
    let paid = http
        .post(format!("http://{address}/hpp/pay?cpi={id}"))
        .form(&[
            ("card_number", "4242 4242 4242 4242"),
            ("card_expiry", "12/39"),
            ("card_cvv", "123"),
            ("card_holder", "JOHN WICK"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(paid.headers()["location"], "https://shop.example/ok");
    let reconciled: Value = http
        .get(format!(
            "http://{address}/api/payment-invoices?filter[reference_id]=first-order"
        ))
        .basic_auth(&login, Some(&secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let attributes = &reconciled["data"][0]["attributes"];
    assert_eq!(attributes["status"], "processed");
    assert_eq!(
        attributes["payload"]["payment_card"]["mask"],
        "424242******4242"
    );
    let after = http
        .get(&action)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !after.contains("name=\"card_number\""),
        "a paid invoice shows no form"
    );

    let mut stderr = String::new();
    let status = tokio::task::spawn_blocking(move || {
        let status = terminate(&mut child);
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
        (status, stderr)
    })
    .await
    .unwrap();
    assert!(status.0.success());
    assert!(
        !status.1.contains("4242424242424242") && !status.1.contains("4242 4242 4242 4242"),
        "no card number in the logs"
    );
    for file in ["obol.db", "obol.db-wal"] {
        let path = scratch.path().join("obol-data").join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes
                    .windows(16)
                    .any(|window| window == b"4242424242424242"),
                "no card number in {file}"
            );
        }
    }
}

/// A configuration with two live routes (SPEC §4), the second one's secret key only in the
/// file; `api_url` as given.
fn write_routes_config(directory: &Path, api_url: &str) -> String {
    let path = directory.join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "[[acquirers]]\nname = \"yookassa-main\"\nkind = \"yookassa\"\napi_url = \"{api_url}\"\n\
             shop_id = \"123456\"\nsecret_key = \"live_key\"\ncurrencies = [\"RUB\"]\nfee_rate = \"2.8\"\n\n\
             [[acquirers]]\nname = \"backup\"\nkind = \"yookassa\"\napi_url = \"https://api.yookassa.ru/v3\"\n\
             shop_id = \"654321\"\nsecret_key = \"other_key\"\ncurrencies = [\"RUB\", \"USD\"]\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn set_acquirer_names_a_configured_route_or_none() {
    let scratch = Scratch::new("acquirer");
    let config = write_routes_config(scratch.path(), "https://api.yookassa.ru/v3");
    let run = |arguments: &[&str]| {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(arguments);
        obol(scratch.path(), None, &all)
    };
    let merchant = json_of(&run(&[
        "merchant",
        "create",
        "--name",
        "Shop",
        "--reseller",
        "1",
        "--live",
        "--json",
    ]));
    let id = merchant["id"].to_string();
    let set = json_of(&run(&[
        "merchant",
        "set-acquirer",
        "--merchant",
        &id,
        "--acquirer",
        "backup",
        "--json",
    ]));
    assert_eq!(keys(&set), ["acquirer", "id"], "{set}");
    assert_eq!(set["id"], merchant["id"]);
    assert_eq!(set["acquirer"], "backup");
    let unset = json_of(&run(&[
        "merchant",
        "set-acquirer",
        "--merchant",
        &id,
        "--acquirer",
        "none",
        "--json",
    ]));
    assert_eq!(unset["acquirer"], serde_json::Value::Null);
    let unknown = run(&[
        "merchant",
        "set-acquirer",
        "--merchant",
        &id,
        "--acquirer",
        "stripe-eu",
        "--json",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&unknown.stdout).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");
    assert_eq!(
        error["error"]["message"],
        "acquirer `stripe-eu` is not configured (configured: yookassa-main, backup; or `none`)"
    );
    let no_merchant = run(&[
        "merchant",
        "set-acquirer",
        "--merchant",
        "999",
        "--acquirer",
        "backup",
        "--json",
    ]);
    assert_json_error(&no_merchant, "merchant 999 does not exist");
}

#[test]
fn a_route_to_the_servers_own_sandbox_stops_the_start() {
    let scratch = Scratch::new("own-sandbox");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for api_url in [
        format!("http://127.0.0.1:{port}/sandbox/yookassa/v3"),
        format!("http://localhost:{port}/sandbox/yookassa/v3/"),
    ] {
        let config = write_routes_config(scratch.path(), &api_url);
        let listen = format!("127.0.0.1:{port}");
        let output = obol(
            scratch.path(),
            None,
            &["--config", &config, "serve", "--listen", &listen],
        );
        assert_eq!(output.status.code(), Some(1), "{api_url}");
        assert!(
            stderr_of(&output).contains("own sandbox"),
            "{}",
            stderr_of(&output)
        );
    }
}
