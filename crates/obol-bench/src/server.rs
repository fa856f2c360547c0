//! The server under test: a real `obol serve --demo` child process on a loopback port 0, its
//! memory read from `/proc`, stopped with SIGTERM, and `obol verify` run against its database
//! afterwards.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{BenchError, BenchResult};

/// How long the server may take to print `listening on …`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the server may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `obol verify` may run.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(300);

/// Configuration inherited from the caller's environment that would change what is measured:
/// removed, so every run starts from the same defaults.
const CLEARED_ENVIRONMENT: [&str; 9] = [
    "OBOL_CONFIG",
    "OBOL_DATABASE_URL",
    "OBOL_DATA_DIR",
    "OBOL_SECRET_KEY",
    "OBOL_LISTEN",
    "OBOL_PUBLIC_URL",
    "OBOL_METRICS_LISTEN",
    "OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES",
    "OBOL_LIMITS_CONNECTIONS_MAX",
];

/// How the server is run: which binary, in which directory, against which database.
#[derive(Clone)]
pub struct Launch {
    pub obol: PathBuf,
    /// The working directory: the SQLite database and the demo credentials go under
    /// `obol-data/` in it.
    pub directory: PathBuf,
    /// `None`: the default SQLite file. `Some`: a PostgreSQL URL (with its operator key).
    pub postgres: Option<(String, String)>,
}

impl Launch {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.obol);
        command.current_dir(&self.directory);
        for name in CLEARED_ENVIRONMENT {
            command.env_remove(name);
        }
        if let Some((url, key)) = &self.postgres {
            command
                .env("OBOL_DATABASE_URL", url)
                .env("OBOL_SECRET_KEY", key);
        }
        command
    }
}

/// The demo tenancy's credentials, from `obol-data/demo-credentials.json`.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub reseller_id: i64,
    pub api_login: String,
    pub api_secret: String,
    pub manager_token: String,
    pub customer_account_id: i64,
    pub p2p_client_id: String,
}

impl Credentials {
    fn read(path: &Path) -> BenchResult<Credentials> {
        let text = std::fs::read_to_string(path).map_err(|error| BenchError::file(path, error))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|error| BenchError::answer("demo-credentials.json", error.to_string()))?;
        let text_at = |pointer: &str| {
            value
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| BenchError::answer("demo-credentials.json", format!("no {pointer}")))
        };
        let number_at = |pointer: &str| {
            value
                .pointer(pointer)
                .and_then(Value::as_i64)
                .ok_or_else(|| BenchError::answer("demo-credentials.json", format!("no {pointer}")))
        };
        Ok(Credentials {
            reseller_id: number_at("/reseller/id")?,
            api_login: text_at("/merchant/api_login")?,
            api_secret: text_at("/merchant/api_secret")?,
            manager_token: text_at("/manager/api_token")?,
            customer_account_id: number_at("/customer_account/id")?,
            p2p_client_id: text_at("/p2p_client/client_id")?,
        })
    }
}

/// A running `obol serve`. Dropped without [`Server::stop`], it is killed.
pub struct Server {
    child: Child,
    pub address: SocketAddr,
    pub credentials: Credentials,
}

impl Server {
    /// Starts `obol serve --demo --listen 127.0.0.1:0` with callbacks to loopback allowed (the
    /// benchmark's own receiver), its standard error going to `log`.
    pub fn start(launch: &Launch, log: &Path) -> BenchResult<Server> {
        let log_file = std::fs::File::create(log).map_err(|error| BenchError::file(log, error))?;
        let mut command = launch.command();
        command
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .env("OBOL_CALLBACKS_ALLOW_PRIVATE_ADDRESSES", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = command.spawn().map_err(|error| {
            BenchError::io(format!("starting {}", launch.obol.display()), error)
        })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(BenchError::ServerStart("no standard output".to_owned()));
        };
        // The output is read on its own thread to the end (so the server never blocks on a
        // full pipe); the address is handed over as soon as it is printed.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.strip_prefix("listening on http://")
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(address.trim().to_owned());
                }
            }
        });
        let started = receiver
            .recv_timeout(START_TIMEOUT)
            .map_err(|error| {
                BenchError::ServerStart(match error {
                    mpsc::RecvTimeoutError::Timeout => format!(
                        "no `listening on` line within {} s; see {}",
                        START_TIMEOUT.as_secs(),
                        log.display()
                    ),
                    mpsc::RecvTimeoutError::Disconnected => format!(
                        "it exited before printing `listening on`; see {}",
                        log.display()
                    ),
                })
            })
            .and_then(|address| {
                address
                    .parse::<SocketAddr>()
                    .ok()
                    .filter(|address| address.ip().is_loopback())
                    .ok_or_else(|| {
                        BenchError::ServerStart(format!("not a loopback address: {address}"))
                    })
            })
            .and_then(|address| {
                let path = launch
                    .directory
                    .join("obol-data")
                    .join("demo-credentials.json");
                Ok((address, Credentials::read(&path)?))
            });
        match started {
            Ok((address, credentials)) => Ok(Server {
                child,
                address,
                credentials,
            }),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(error)
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
    fn status_kib(&self, field: &str) -> BenchResult<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let text =
            std::fs::read_to_string(&path).map_err(|error| BenchError::file(&path, error))?;
        text.lines()
            .find_map(|line| {
                line.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .ok_or_else(|| BenchError::answer(path, format!("no {field}")))
    }

    /// The resident set now, in KiB.
    pub fn resident_kib(&self) -> BenchResult<u64> {
        self.status_kib("VmRSS")
    }

    /// The peak resident set since the last [`Server::reset_peak`] (or the start), in KiB.
    pub fn peak_kib(&self) -> BenchResult<u64> {
        self.status_kib("VmHWM")
    }

    /// Resets the peak resident set to the current one (`5` to `clear_refs`, Linux ≥ 4.0).
    pub fn reset_peak(&self) -> BenchResult<()> {
        let path = format!("/proc/{}/clear_refs", self.pid());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut file| file.write_all(b"5"))
            .map_err(|error| BenchError::file(&path, error))
    }

    /// Sends SIGTERM and waits for the exit (killing it after the timeout). Returns whether it
    /// stopped by itself with status 0.
    pub fn stop(mut self) -> BenchResult<bool> {
        let pid = self.pid().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|error| BenchError::io("running kill", error))?;
        if !signalled.success() {
            return Err(BenchError::Invalid(format!("kill -TERM {pid} failed")));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status.success()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Ok(false);
                }
                Err(error) => return Err(BenchError::io("waiting for the server", error)),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What `obol verify --json` said.
#[derive(Debug, Clone)]
pub struct Verification {
    pub ok: bool,
    pub payments: i64,
    pub violations: Vec<String>,
}

/// Runs `obol verify --json` against the launch's database (the server stopped).
pub fn verify(launch: &Launch) -> BenchResult<Verification> {
    let mut child = launch
        .command()
        .args(["verify", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| BenchError::io("starting obol verify", error))?;
    let deadline = Instant::now() + VERIFY_TIMEOUT;
    while child
        .try_wait()
        .map_err(|error| BenchError::io("waiting for obol verify", error))?
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Invalid(format!(
                "obol verify ran longer than {} s",
                VERIFY_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child
        .wait_with_output()
        .map_err(|error| BenchError::io("reading obol verify", error))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let value: Value = serde_json::from_str(text.trim()).map_err(|_| {
        BenchError::answer(
            "obol verify --json",
            format!(
                "{} {}",
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        )
    })?;
    if let Some(error) = value.get("error") {
        return Err(BenchError::answer("obol verify --json", error.to_string()));
    }
    Ok(Verification {
        ok: value.get("ok").and_then(Value::as_bool) == Some(true) && output.status.success(),
        payments: value.get("payments").and_then(Value::as_i64).unwrap_or(0),
        violations: value
            .get("violations")
            .and_then(Value::as_array)
            .map(|violations| {
                violations
                    .iter()
                    .map(|violation| {
                        format!(
                            "{}: {}",
                            violation["check"].as_str().unwrap_or("?"),
                            violation["detail"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}
