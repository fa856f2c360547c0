//! TLS to PostgreSQL (`sslmode`, `sslrootcert`, in libpq's meaning), against a PostgreSQL
//! server this test starts for itself: Debian's server programs (run as the `postgres` user when
//! the test runs as root, since PostgreSQL refuses root), in a temporary directory, on a free
//! loopback port, with a certificate for `localhost` and 127.0.0.1 signed by a CA that `openssl`
//! makes here. Its `pg_hba.conf` lets the `postgres` and `scram` users in over TLS only
//! (`hostssl`), so a connection that was not encrypted cannot pass unnoticed, and the `plain`
//! user over plain TCP only. The server is stopped when the test ends, also when it fails.
//!
//! Ignored where those programs are missing (see `build.rs`), never under CI.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obol_store::testing::inspect;
use obol_store::{DatabaseUrl, Store, StoreError};

/// The `scram` user's password: it must never appear in an error.
const SCRAM_PASSWORD: &str = "tls-Test-Secret-4711";

/// How long any one command (initdb, pg_ctl, openssl) may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// How long all the connection checks may take together.
const CHECKS_LIMIT: Duration = Duration::from_secs(120);

#[test]
#[cfg_attr(
    obol_private_postgres_unavailable,
    ignore = "needs PostgreSQL's server programs (/usr/lib/postgresql/*/bin: Debian's \
              postgresql package), openssl, and when run as root a `postgres` user"
)]
fn sslmodes_against_a_postgresql_server_with_a_certificate() {
    let server = PrivateServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        tokio::time::timeout(CHECKS_LIMIT, checks(&server))
            .await
            .expect("the checks ended within their limit");
    });
}

async fn checks(server: &PrivateServer) {
    let port = server.port;
    let ca = server.tls.join("ca.crt").display().to_string();
    let other_ca = server.tls.join("other-ca.crt").display().to_string();
    let url = |user_and_host: &str, query: &str| {
        format!("postgres://{user_and_host}:{port}/postgres?{query}")
    };

    // require: encrypted, nothing checked.
    let version = encrypted(&url("postgres@localhost", "sslmode=require")).await;
    assert!(version.starts_with("TLSv1."), "{version}");
    encrypted(&url("postgres@127.0.0.1", "sslmode=prefer")).await;

    // verify-full: the chain and the host's name, a DNS name or an address.
    let verify_full = format!("sslmode=verify-full&sslrootcert={ca}");
    encrypted(&url("postgres@localhost", &verify_full)).await;
    encrypted(&url("postgres@127.0.0.1", &verify_full)).await;

    // Another CA's certificate is refused, by verify-full and verify-ca, and by require with a
    // root (libpq's rule), while require without one took it above.
    for mode in ["verify-full", "verify-ca", "require"] {
        let error = refused(&url(
            "postgres@localhost",
            &format!("sslmode={mode}&sslrootcert={other_ca}"),
        ))
        .await;
        assert!(error.contains("TLS handshake"), "{mode}: {error}");
    }

    // 127.0.0.2 is the same server under a name its certificate does not carry: verify-full
    // refuses it, verify-ca (the chain only) takes it.
    let error = refused(&url("postgres@127.0.0.2", &verify_full)).await;
    assert!(error.contains("TLS handshake"), "{error}");
    encrypted(&url(
        "postgres@127.0.0.2",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .await;

    // Of several hosts, each is checked against its own name: the first fails, the second is
    // taken.
    let several =
        format!("postgres://postgres@127.0.0.2:{port},localhost:{port}/postgres?{verify_full}");
    let store = Store::open(&DatabaseUrl::parse(&several).expect("a URL"))
        .await
        .unwrap_or_else(|error| panic!("{several}: {error}"));
    store.ping().await.expect("ping");
    let primary = store.connection_stats().and_then(|stats| stats.primary);
    assert_eq!(primary, Some(format!("localhost:{port}")));
    drop(store);

    // TLS off: the server takes `postgres` over TLS only, and `plain` over plain TCP only.
    // (The server's reason, "no pg_hba.conf entry … no encryption", is the driver error's
    // source, which the store's message does not carry.)
    refused(&url("postgres@localhost", "sslmode=disable")).await;
    refused(&url("postgres@localhost", "")).await;
    plain(&url("plain@localhost", "")).await;
    plain(&url("plain@localhost", "sslmode=disable")).await;
    refused(&url("plain@localhost", "sslmode=require")).await;

    // A password login (SCRAM) bound to the TLS session: channel_binding=require makes the
    // driver use SCRAM-SHA-256-PLUS or fail, so this passing proves the binding data right.
    let scram = format!("scram:{SCRAM_PASSWORD}@localhost");
    encrypted(&url(
        &scram,
        &format!("{verify_full}&channel_binding=require"),
    ))
    .await;
    encrypted(&url(&scram, "sslmode=require&channel_binding=require")).await;
    let error = refused(&url(
        &scram,
        &format!("sslmode=verify-full&sslrootcert={other_ca}"),
    ))
    .await;
    assert!(!error.contains(SCRAM_PASSWORD), "{error}");

    // A root file that cannot serve is the URL's fault, said before any connection.
    let missing = server.tls.join("missing.pem").display().to_string();
    match reach(&url(
        &scram,
        &format!("sslmode=verify-full&sslrootcert={missing}"),
    ))
    .await
    {
        Err(StoreError::BadUrl(message)) => {
            assert!(message.contains("sslrootcert"), "{message}");
            assert!(!message.contains(SCRAM_PASSWORD), "{message}");
        }
        other => panic!("a missing sslrootcert: {other:?}"),
    }
}

/// Opens a store on `url`, pings it, and returns the TLS version the server sees on one of
/// its connections (`None`: plain TCP).
async fn reach(url: &str) -> Result<Option<String>, StoreError> {
    let store = Store::open(&DatabaseUrl::parse(url)?).await?;
    store.ping().await?;
    store
        .read(|db| Box::pin(inspect::connection_tls_version(db)))
        .await
}

async fn encrypted(url: &str) -> String {
    match reach(url).await {
        Ok(Some(version)) => version,
        Ok(None) => panic!("{url}: connected without TLS"),
        Err(error) => panic!("{url}: {error}"),
    }
}

async fn plain(url: &str) {
    match reach(url).await {
        Ok(None) => {}
        Ok(Some(version)) => panic!("{url}: connected over {version}"),
        Err(error) => panic!("{url}: {error}"),
    }
}

/// The error, which must be that no connection could be made (not a refused URL).
async fn refused(url: &str) -> String {
    match reach(url).await {
        Err(error @ StoreError::Unavailable(_)) => error.to_string(),
        Err(error) => panic!("{url}: refused for another reason: {error}"),
        Ok(tls) => panic!("{url}: connected ({tls:?})"),
    }
}

/// A PostgreSQL server of this test's own, stopped and removed on drop.
struct PrivateServer {
    directory: PathBuf,
    data: PathBuf,
    tls: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Whether the server's programs run as `postgres` (this test runs as root).
    as_postgres: bool,
}

impl PrivateServer {
    fn start() -> PrivateServer {
        let bin = PathBuf::from(option_env!("OBOL_POSTGRES_BIN").unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server programs (initdb, pg_ctl) were found under \
                 /usr/lib/postgresql when this test was built: install Debian's postgresql"
            )
        }));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or_default();
        let directory =
            std::env::temp_dir().join(format!("obol-pg-tls-{}-{nanos}", std::process::id()));
        let mut server = PrivateServer {
            data: directory.join("data"),
            tls: directory.join("tls"),
            directory,
            bin,
            port: 0,
            as_postgres: running_as_root(),
        };
        std::fs::create_dir_all(&server.tls).expect("a temporary directory");
        server.make_certificates();
        if server.as_postgres {
            server.as_self(
                "chown",
                &["-R", "postgres:", &server.directory.display().to_string()],
            );
        }
        server.run_postgres(
            "initdb",
            &[
                "-D",
                &server.data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        server.configure();
        server.start_on_a_free_port();
        server.add_users();
        server
    }

    /// A CA, a server certificate it signs for `localhost` and 127.0.0.1, and another CA.
    fn make_certificates(&self) {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, subject) in [("ca", "/CN=Obol test CA"), ("other-ca", "/CN=Another CA")] {
            let mut arguments = vec!["req", "-x509", "-days", "2", "-subj", subject];
            arguments.extend(ec);
            arguments.extend([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            let key = format!("{name}.key");
            let certificate = format!("{name}.crt");
            arguments.extend(["-keyout", key.as_str(), "-out", certificate.as_str()]);
            self.openssl(&arguments);
        }
        let mut arguments = vec!["req", "-subj", "/CN=localhost"];
        arguments.extend(ec);
        arguments.extend(["-keyout", "server.key", "-out", "server.csr"]);
        self.openssl(&arguments);
        std::fs::write(
            self.tls.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n",
        )
        .expect("server.ext");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ]);
        // PostgreSQL refuses a key that others may read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod server.key");
    }

    fn configure(&self) {
        let directory = self.directory.display();
        let tls = self.tls.display();
        append(
            &self.data.join("postgresql.conf"),
            &format!(
                "\n# tests/pg_tls.rs\n\
                 listen_addresses = '127.0.0.1,127.0.0.2'\n\
                 unix_socket_directories = '{directory}'\n\
                 ssl = on\n\
                 ssl_cert_file = '{tls}/server.crt'\n\
                 ssl_key_file = '{tls}/server.key'\n\
                 fsync = off\n\
                 max_connections = 40\n\
                 shared_buffers = 16MB\n"
            ),
        );
        std::fs::write(
            self.data.join("pg_hba.conf"),
            "local     all  all       trust\n\
             hostssl   all  postgres  127.0.0.0/8  trust\n\
             hostssl   all  scram     127.0.0.0/8  scram-sha-256\n\
             hostnossl all  plain     127.0.0.0/8  trust\n",
        )
        .expect("pg_hba.conf");
    }

    /// Starts the server on a port that was free a moment ago; another process may take it in
    /// between, so a failed start is tried again on another.
    fn start_on_a_free_port(&mut self) {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            append(
                &self.data.join("postgresql.conf"),
                &format!("port = {port}\n"),
            );
            let pg_ctl = self.bin.join("pg_ctl");
            let log = self.directory.join("server.log");
            match run(
                &self.user_command(&pg_ctl),
                &[
                    "-D",
                    &self.data.display().to_string(),
                    "-l",
                    &log.display().to_string(),
                    "-w",
                    "-t",
                    "30",
                    "start",
                ],
                &self.directory,
            ) {
                Ok(_) => {
                    self.port = port;
                    return;
                }
                Err(error) => failures.push(format!(
                    "{error}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )),
            }
        }
        panic!(
            "the private PostgreSQL did not start:\n{}",
            failures.join("\n")
        );
    }

    /// `scram` logs in with a password, `plain` without TLS.
    fn add_users(&self) {
        self.run_postgres(
            "psql",
            &[
                "-h",
                &self.directory.display().to_string(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!(
                    "CREATE ROLE scram LOGIN PASSWORD '{SCRAM_PASSWORD}'; CREATE ROLE plain LOGIN;"
                ),
            ],
        );
    }

    fn openssl(&self, arguments: &[&str]) {
        let output = run(&Command::new("openssl"), arguments, &self.tls);
        if let Err(error) = output {
            panic!("openssl {}: {error}", arguments.join(" "));
        }
    }

    fn as_self(&self, program: &str, arguments: &[&str]) {
        if let Err(error) = run(&Command::new(program), arguments, &self.directory) {
            panic!("{program}: {error}");
        }
    }

    fn run_postgres(&self, program: &str, arguments: &[&str]) {
        let command = self.user_command(&self.bin.join(program));
        if let Err(error) = run(&command, arguments, &self.directory) {
            panic!("{program}: {error}");
        }
    }

    /// `program`, run as `postgres` when this test runs as root.
    fn user_command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let pg_ctl = self.user_command(&self.bin.join("pg_ctl"));
            let data = self.data.display().to_string();
            let stopped = run(
                &pg_ctl,
                &["-D", &data, "-m", "immediate", "-w", "-t", "20", "stop"],
                &self.directory,
            );
            if stopped.is_err()
                && let Ok(pid) = std::fs::read_to_string(self.data.join("postmaster.pid"))
                && let Some(pid) = pid.lines().next()
            {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Runs `command` with `arguments` in `directory`, for at most [`COMMAND_LIMIT`]: its output,
/// or what went wrong.
fn run(command: &Command, arguments: &[&str], directory: &Path) -> Result<String, String> {
    let mut command_line = Command::new(command.get_program());
    command_line
        .args(command.get_args())
        .args(arguments)
        .current_dir(directory)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command_line
        .spawn()
        .map_err(|error| format!("cannot start {:?}: {error}", command.get_program()))?;
    let deadline = Instant::now() + COMMAND_LIMIT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no end within {COMMAND_LIMIT:?}"));
            }
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|error| error.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("{}: {text}", output.status))
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    })
}
