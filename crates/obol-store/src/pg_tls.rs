//! TLS to PostgreSQL with rustls, in libpq's words: the URL's `sslmode` and `sslrootcert` are
//! read here, before the driver sees the URL. tokio-postgres knows only whether TLS is off,
//! optional or required, and leaves every check of the server's certificate to its connector,
//! which is [`PgTls`].
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | none, `disable` | never | — |
//! | `prefer` | when the server offers it | not checked; with `sslrootcert`, its chain is |
//! | `require` | always | not checked; with `sslrootcert`, its chain is (libpq's rule) |
//! | `verify-ca` | always | its chain, to a root in `sslrootcert` |
//! | `verify-full` | always | its chain, and the name of the host being connected to |
//!
//! Where this differs from libpq, and why:
//! - No `sslmode` is plain TCP, as it was before Obol spoke TLS (libpq's default is `prefer`):
//!   an upgrade does not change how an existing deployment connects.
//! - `verify-ca` and `verify-full` need `sslrootcert` (libpq falls back to
//!   `~/.postgresql/root.crt`; a service's home directory is no place to look for what it
//!   trusts). `sslrootcert=system` is the system's bundle, with `verify-full` only, as in
//!   libpq 16.
//! - `allow` and client certificates (`sslcert`, `sslkey`) are refused rather than ignored.
//!
//! The root certificates are read when the store opens: a renewed CA needs a restart. The
//! adapter that hands rustls to the driver, with channel binding, is `pg_tls/adapter.rs`.

mod adapter;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{StoreError, StoreResult};

/// Splits the TLS settings off `url`: the URL left for the driver, and the connector.
pub(crate) fn from_url(url: &str) -> StoreResult<(String, PgTls)> {
    let settings = Settings::read(url)?;
    let tls = PgTls::new(settings.check.as_ref())?;
    Ok((settings.driver_url, tls))
}

/// The `sslmode` values Obol accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> StoreResult<SslMode> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            // libpq's `allow` tries plain TCP first: Obol would rather be told `disable` or
            // `prefer` than guess which of the two was meant.
            "allow" => Err(StoreError::BadUrl(
                "has sslmode=allow, which Obol does not take: use sslmode=prefer (TLS when the \
                 server offers it) or sslmode=disable"
                    .to_owned(),
            )),
            _ => Err(StoreError::BadUrl(format!(
                "has an unknown sslmode `{value}`: use disable, prefer, require, verify-ca or \
                 verify-full"
            ))),
        }
    }

    /// The mode the driver is given: whether TLS is off, optional or required.
    fn for_driver(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        }
    }

    /// How the server's certificate is checked in this mode; `None`: no TLS.
    fn check(self, root: Option<RootCert>) -> StoreResult<Option<Check>> {
        let system_too_weak = || {
            StoreError::BadUrl(
                "has sslrootcert=system with a weaker sslmode than verify-full: any server with \
                 a public certificate would pass; use sslmode=verify-full"
                    .to_owned(),
            )
        };
        let needs_root = || {
            StoreError::BadUrl(format!(
                "has sslmode={} without sslrootcert: name the PEM file of the CA that signed the \
                 server's certificate (sslrootcert=/path/to/ca.pem), or sslrootcert=system",
                if self == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            ))
        };
        match (self, root) {
            // libpq reads no root certificate when TLS is off, whatever the URL names.
            (SslMode::Disable, _) => Ok(None),
            (SslMode::Prefer | SslMode::Require, None) => Ok(Some(Check::Nothing)),
            (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, Some(RootCert::System)) => {
                Err(system_too_weak())
            }
            // libpq: "if a root CA file exists, sslmode=require behaves as verify-ca".
            (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, Some(root)) => {
                Ok(Some(Check::Chain(root)))
            }
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => Err(needs_root()),
            (SslMode::VerifyFull, Some(root)) => Ok(Some(Check::ChainAndName(root))),
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RootCert {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// The system's bundle: `SSL_CERT_FILE`, else the distribution's file (what libpq's
    /// OpenSSL reads for `sslrootcert=system`).
    System,
}

/// What is checked of the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// Nothing: the connection is encrypted, but to whoever answers.
    Nothing,
    /// Its chain ends at one of the roots; any host name.
    Chain(RootCert),
    /// Its chain ends at one of the roots and it names the host connected to.
    ChainAndName(RootCert),
}

/// A URL's TLS settings, and the URL left for the driver.
#[derive(Debug, PartialEq, Eq)]
struct Settings {
    driver_url: String,
    /// `None`: no TLS.
    check: Option<Check>,
}

impl Settings {
    fn read(url: &str) -> StoreResult<Settings> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = None;
        let mut root = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => mode = Some(SslMode::parse(&percent_decode(key, value)?)?),
                "sslrootcert" => {
                    let value = percent_decode(key, value)?;
                    root = Some(match value.as_str() {
                        "" => {
                            return Err(StoreError::BadUrl(
                                "has an empty sslrootcert: name a PEM file".to_owned(),
                            ));
                        }
                        "system" => RootCert::System,
                        path => RootCert::File(PathBuf::from(path)),
                    });
                }
                "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                    return Err(StoreError::BadUrl(format!(
                        "has `{key}`, which Obol does not take: it speaks TLS without client \
                         certificates or revocation lists (log in with a password, SCRAM)"
                    )));
                }
                _ => kept.push(pair),
            }
        }
        let mode = mode.unwrap_or(SslMode::Disable);
        let check = mode.check(root)?;
        // Always said: the driver's own default is `prefer`.
        let driver_mode = format!("sslmode={}", mode.for_driver());
        kept.push(&driver_mode);
        Ok(Settings {
            driver_url: format!("{base}?{}", kept.join("&")),
            check,
        })
    }
}

/// A URL query value with its `%XX` escapes decoded (as the driver decodes the values it reads).
fn percent_decode(name: &str, value: &str) -> StoreResult<String> {
    let malformed = || StoreError::BadUrl(format!("has a malformed `%` escape in `{name}`"));
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte != b'%' {
            decoded.push(byte);
            index += 1;
            continue;
        }
        let digits = bytes
            .get(index + 1..index + 3)
            .filter(|digits| digits.iter().all(u8::is_ascii_hexdigit))
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 16).ok())
            .ok_or_else(malformed)?;
        decoded.push(digits);
        index += 3;
    }
    String::from_utf8(decoded).map_err(|_| malformed())
}

/// The TLS connector every connection of a store uses: none, or rustls with the URL's checks.
/// Cloned per connection; the rustls configuration inside is shared.
#[derive(Clone)]
pub(crate) struct PgTls {
    connector: Option<tokio_rustls::TlsConnector>,
}

impl PgTls {
    fn new(check: Option<&Check>) -> StoreResult<PgTls> {
        let Some(check) = check else {
            return Ok(PgTls { connector: None });
        };
        // The ring provider, named rather than taken from the process default, which panics
        // when a build enables two providers and none was installed.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| {
                StoreError::BadUrl(format!("asks for TLS, which cannot be set up: {error}"))
            })?;
        let mut config = match check {
            Check::ChainAndName(root) => builder
                .with_root_certificates(load_roots(root)?)
                .with_no_client_auth(),
            Check::Chain(root) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PgVerifier {
                    roots: Some(Arc::new(load_roots(root)?)),
                    algorithms,
                }))
                .with_no_client_auth(),
            Check::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PgVerifier {
                    roots: None,
                    algorithms,
                }))
                .with_no_client_auth(),
        };
        // PostgreSQL's ALPN name (libpq 17 sends it; a server taking TLS directly requires it).
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(PgTls {
            connector: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
        })
    }
}

/// The roots `root` names, refused (with the parameter named) when none can be used.
fn load_roots(root: &RootCert) -> StoreResult<RootCertStore> {
    let path = match root {
        RootCert::File(path) => path.clone(),
        RootCert::System => system_bundle(std::env::var_os("SSL_CERT_FILE"))?,
    };
    let shown = path.display();
    let pem = std::fs::read(&path).map_err(|error| {
        StoreError::BadUrl(format!(
            "has an sslrootcert that cannot be read ({shown}): {error}"
        ))
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            StoreError::BadUrl(format!(
                "has an sslrootcert that is not a PEM file ({shown}): {error}"
            ))
        })?;
    if certificates.is_empty() {
        return Err(StoreError::BadUrl(format!(
            "has an sslrootcert with no certificate in it ({shown}): it should hold \
             -----BEGIN CERTIFICATE----- blocks"
        )));
    }
    let mut roots = RootCertStore::empty();
    match root {
        RootCert::File(_) => {
            for certificate in certificates {
                roots.add(certificate).map_err(|error| {
                    StoreError::BadUrl(format!(
                        "has an sslrootcert with a certificate that cannot be a root ({shown}): \
                         {error}"
                    ))
                })?;
            }
        }
        // A system bundle holds what other programs accept too; what rustls cannot use is
        // left out rather than failing the whole bundle.
        RootCert::System => {
            roots.add_parsable_certificates(certificates);
            if roots.is_empty() {
                return Err(StoreError::BadUrl(format!(
                    "has sslrootcert=system, but the system bundle ({shown}) has no usable \
                     certificate"
                )));
            }
        }
    }
    Ok(roots)
}

/// The system's CA bundle: `SSL_CERT_FILE` when set (as OpenSSL reads it), else the first of
/// the distributions' usual files that exists.
fn system_bundle(configured: Option<std::ffi::OsString>) -> StoreResult<PathBuf> {
    if let Some(file) = configured.filter(|file| !file.is_empty()) {
        return Ok(PathBuf::from(file));
    }
    const BUNDLES: [&str; 3] = [
        "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
        "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
        "/etc/ssl/cert.pem",                  // the BSDs, macOS
    ];
    BUNDLES
        .iter()
        .map(Path::new)
        .find(|bundle| bundle.exists())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            StoreError::BadUrl(
                "has sslrootcert=system, but no system CA bundle was found: install \
                 ca-certificates or set SSL_CERT_FILE"
                    .to_owned(),
            )
        })
}

/// The checks of `require` and `verify-ca`, which rustls's own verifier (that of
/// `verify-full`) always extends to the host name. The handshake's signatures are verified in
/// every mode: whoever answers must hold the certificate's key.
#[derive(Debug)]
struct PgVerifier {
    /// `None`: the certificate itself is not checked (`require` without `sslrootcert`).
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let certificate = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &certificate,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn settings(url: &str) -> Settings {
        Settings::read(url).unwrap_or_else(|error| panic!("{url}: {error}"))
    }

    fn refusal(url: &str) -> String {
        match Settings::read(url) {
            Ok(settings) => panic!("{url} was taken: {settings:?}"),
            Err(StoreError::BadUrl(message)) => message,
            Err(other) => panic!("{url}: not a BadUrl: {other:?}"),
        }
    }

    fn driver_mode(url: &str) -> tokio_postgres::config::SslMode {
        tokio_postgres::Config::from_str(url)
            .unwrap_or_else(|error| panic!("the driver refuses {url}: {error}"))
            .get_ssl_mode()
    }

    #[test]
    fn no_sslmode_and_disable_are_plain_tcp() {
        use tokio_postgres::config::SslMode as Driver;
        let none = settings("postgres://obol:pw@db:5432/obol");
        assert_eq!(none.check, None);
        assert_eq!(
            none.driver_url,
            "postgres://obol:pw@db:5432/obol?sslmode=disable"
        );
        assert_eq!(driver_mode(&none.driver_url), Driver::Disable);
        let disable = settings("postgres://obol@db/obol?sslmode=disable&sslrootcert=/nowhere");
        assert_eq!(disable.check, None, "libpq reads no root with TLS off");
        assert_eq!(
            disable.driver_url,
            "postgres://obol@db/obol?sslmode=disable"
        );
    }

    #[test]
    fn each_mode_gives_the_driver_a_mode_it_knows_and_the_connector_its_checks() {
        use tokio_postgres::config::SslMode as Driver;
        let ca = || RootCert::File(PathBuf::from("/etc/obol/db-ca.pem"));
        let cases = [
            ("sslmode=prefer", Driver::Prefer, Some(Check::Nothing)),
            ("sslmode=require", Driver::Require, Some(Check::Nothing)),
            (
                "sslmode=prefer&sslrootcert=/etc/obol/db-ca.pem",
                Driver::Prefer,
                Some(Check::Chain(ca())),
            ),
            (
                "sslmode=require&sslrootcert=/etc/obol/db-ca.pem",
                Driver::Require,
                Some(Check::Chain(ca())),
            ),
            (
                "sslmode=verify-ca&sslrootcert=/etc/obol/db-ca.pem",
                Driver::Require,
                Some(Check::Chain(ca())),
            ),
            (
                "sslrootcert=%2Fetc%2Fobol%2Fdb-ca.pem&sslmode=verify-full",
                Driver::Require,
                Some(Check::ChainAndName(ca())),
            ),
            (
                "sslmode=verify-full&sslrootcert=system",
                Driver::Require,
                Some(Check::ChainAndName(RootCert::System)),
            ),
        ];
        for (query, driver, check) in cases {
            let url = format!("postgres://obol:pw@db1:5432,db2:5432/obol?{query}");
            let read = settings(&url);
            assert_eq!(read.check, check, "{query}");
            assert!(!read.driver_url.contains("sslrootcert"), "{query}");
            for single in crate::pg_connect::split_hosts(&read.driver_url) {
                assert_eq!(driver_mode(&single), driver, "{query}");
            }
        }
    }

    #[test]
    fn other_parameters_are_left_for_the_driver_in_their_order() {
        let read = settings(
            "postgres://u@db1,db2/obol?target_session_attrs=read-write&sslmode=verify-full\
             &sslrootcert=/ca.pem&application_name=obol&channel_binding=require",
        );
        assert_eq!(
            read.driver_url,
            "postgres://u@db1,db2/obol?target_session_attrs=read-write&application_name=obol\
             &channel_binding=require&sslmode=require"
        );
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_naming_the_parameter() {
        let cases = [
            ("sslmode=verify_full", "sslmode"),
            ("sslmode=", "sslmode"),
            ("sslmode=allow", "sslmode=allow"),
            ("sslmode=verify-ca", "sslrootcert"),
            ("sslmode=verify-full", "sslrootcert"),
            ("sslmode=verify-full&sslrootcert=", "sslrootcert"),
            ("sslmode=require&sslrootcert=system", "sslrootcert=system"),
            ("sslmode=verify-ca&sslrootcert=system", "sslrootcert=system"),
            ("sslmode=verify-full&sslrootcert=%zz", "sslrootcert"),
            ("sslmode=require&sslcert=/c.pem&sslkey=/k.pem", "sslcert"),
            ("sslmode=require&sslcrl=/crl.pem", "sslcrl"),
        ];
        for (query, named) in cases {
            let message = refusal(&format!("postgres://obol:hunter2@db/obol?{query}"));
            assert!(message.contains(named), "{query}: {message}");
            assert!(!message.contains("hunter2"), "{query}: {message}");
        }
    }

    fn scratch_file(name: &str, contents: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("obol-pg-tls-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn open_refusal(url: &str) -> String {
        match from_url(url) {
            Ok(_) => panic!("{url} was taken"),
            Err(StoreError::BadUrl(message)) => message,
            Err(other) => panic!("{url}: not a BadUrl: {other:?}"),
        }
    }

    #[test]
    fn a_root_file_that_cannot_serve_is_refused_when_the_store_opens() {
        let missing = std::env::temp_dir().join("obol-pg-tls-no-such-ca.pem");
        let message = open_refusal(&format!(
            "postgres://obol:hunter2@db/obol?sslmode=verify-full&sslrootcert={}",
            missing.display()
        ));
        assert!(
            message.contains("sslrootcert") && message.contains("cannot be read"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");

        let not_pem = scratch_file("not-pem.pem", b"-----BEGIN CERTIFICATE-----\nnot base64!\n");
        let message = open_refusal(&format!(
            "postgres://obol@db/obol?sslmode=verify-ca&sslrootcert={}",
            not_pem.display()
        ));
        assert!(
            message.contains("sslrootcert") && message.contains("not a PEM"),
            "{message}"
        );

        let no_certificate = scratch_file("empty.pem", b"a CA, promised\n");
        let message = open_refusal(&format!(
            "postgres://obol@db/obol?sslmode=require&sslrootcert={}",
            no_certificate.display()
        ));
        assert!(message.contains("no certificate"), "{message}");

        let not_a_certificate = scratch_file(
            "garbage.pem",
            b"-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n",
        );
        let message = open_refusal(&format!(
            "postgres://obol@db/obol?sslmode=verify-full&sslrootcert={}",
            not_a_certificate.display()
        ));
        assert!(message.contains("cannot be a root"), "{message}");
        for path in [not_pem, no_certificate, not_a_certificate] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn the_system_bundle_is_ssl_cert_file_else_the_distributions() {
        assert_eq!(
            system_bundle(Some("/opt/ca.pem".into())).unwrap(),
            PathBuf::from("/opt/ca.pem")
        );
        if let Ok(found) = system_bundle(None) {
            assert!(found.exists());
        }
        if let Ok(found) = system_bundle(Some("".into())) {
            assert!(found.exists(), "an empty SSL_CERT_FILE is no file");
        }
    }
}
