//! The adapter between tokio-postgres and rustls: the connector the driver asks for before
//! each connection, the handshake, and the stream with its channel binding data. Ours rather
//! than an adapter crate's: the workspace's Cargo.toml says why.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use super::PgTls;

impl MakeTlsConnect<Socket> for PgTls {
    type Stream = PgTlsStream;
    type TlsConnect = PgTlsConnect;
    type Error = Infallible;

    /// `host` is the name of the host this connection goes to (of a multi-host URL, each its
    /// own), which `verify-full` checks the certificate against; an IP address is checked as
    /// one. The driver asks before every connection, TLS or not, and with an empty name for a
    /// Unix socket, so a name no certificate can carry fails the handshake, not this.
    fn make_tls_connect(&mut self, host: &str) -> Result<PgTlsConnect, Infallible> {
        let server_name = ServerName::try_from(host)
            .map(|name| name.to_owned())
            .map_err(|_| host.to_owned());
        Ok(PgTlsConnect {
            connector: self.connector.clone(),
            server_name,
        })
    }
}

/// One connection's TLS handshake, to be made.
pub(crate) struct PgTlsConnect {
    connector: Option<tokio_rustls::TlsConnector>,
    /// The host's name, or what the driver gave when it is none.
    server_name: Result<ServerName<'static>, String>,
}

impl TlsConnect<Socket> for PgTlsConnect {
    type Stream = PgTlsStream;
    type Error = io::Error;
    type Future = Handshake;

    fn connect(self, socket: Socket) -> Handshake {
        match (self.connector, self.server_name) {
            (Some(connector), Ok(name)) => {
                Handshake::Running(Box::new(connector.connect(name, socket)))
            }
            // The driver hands over the socket only in a mode with TLS, which has a connector.
            (None, _) => {
                Handshake::Refused(Some(io::Error::other("TLS was not asked for (sslmode)")))
            }
            (Some(_), Err(host)) if host.is_empty() => Handshake::Refused(Some(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no host name to check the server's certificate against",
            ))),
            (Some(_), Err(host)) => Handshake::Refused(Some(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{host}` is not a host name or address a certificate can name"),
            ))),
        }
    }
}

/// A TLS handshake under way, or refused before it began.
pub(crate) enum Handshake {
    /// Boxed: a handshake's state is a kilobyte, its refusal a pointer.
    Running(Box<tokio_rustls::Connect<Socket>>),
    /// The error, until it is taken by the one poll that reports it.
    Refused(Option<io::Error>),
}

impl Future for Handshake {
    type Output = io::Result<PgTlsStream>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Handshake::Running(connect) => {
                Pin::new(&mut **connect).poll(context).map_ok(PgTlsStream)
            }
            Handshake::Refused(error) => Poll::Ready(Err(error.take().unwrap_or_else(|| {
                io::Error::other("the TLS handshake was polled after its end")
            }))),
        }
    }
}

/// A connection to PostgreSQL over TLS.
pub(crate) struct PgTlsStream(tokio_rustls::client::TlsStream<Socket>);

impl TlsStream for PgTlsStream {
    /// `tls-server-end-point` (RFC 5929), which lets SCRAM-SHA-256-PLUS tie the login to this
    /// TLS session, so that a man in the middle holding another certificate cannot relay it.
    /// `none` for a certificate whose signature names no usable hash (Ed25519, RSA-PSS): the
    /// login then goes without binding, unless the URL says `channel_binding=require`.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, connection) = self.0.get_ref();
        connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|certificate| server_end_point(certificate))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

impl AsyncRead for PgTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(context, buffer)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(context, buffer)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(context)
    }
}

/// The hash of the server's certificate that `tls-server-end-point` binds to: by the hash of
/// the certificate's own signature algorithm, SHA-256 for MD5 and SHA-1 (RFC 5929 §4.1), as
/// PostgreSQL computes it on its side. Only the outer `signatureAlgorithm` is read; rustls has
/// verified (or, under `require`, accepted) the certificate itself.
fn server_end_point(certificate: &[u8]) -> Option<Vec<u8>> {
    const SEQUENCE: u8 = 0x30;
    const OBJECT_IDENTIFIER: u8 = 0x06;
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (fields, _) = der_element(certificate, SEQUENCE)?;
    let (_, after_tbs) = der_element(fields, SEQUENCE)?;
    let (algorithm, _) = der_element(after_tbs, SEQUENCE)?;
    let (oid, _) = der_element(algorithm, OBJECT_IDENTIFIER)?;
    Some(match signature_hash(oid)? {
        EndPointHash::Sha224 => sha2::Sha224::digest(certificate).to_vec(),
        EndPointHash::Sha256 => sha2::Sha256::digest(certificate).to_vec(),
        EndPointHash::Sha384 => sha2::Sha384::digest(certificate).to_vec(),
        EndPointHash::Sha512 => sha2::Sha512::digest(certificate).to_vec(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndPointHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// The hash behind a signature algorithm's object identifier (its DER contents).
fn signature_hash(oid: &[u8]) -> Option<EndPointHash> {
    // 1.2.840.113549.1.1.n: {md5,sha1,sha256,sha384,sha512,sha224}WithRSAEncryption.
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    // 1.2.840.10045.4.1: ecdsa-with-SHA1.
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    // 1.2.840.10045.4.3.n: ecdsa-with-SHA{224,256,384,512}.
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    if oid == ECDSA_SHA1 {
        return Some(EndPointHash::Sha256);
    }
    if let Some(last) = oid.strip_prefix(RSA) {
        return match last {
            [4 | 5 | 11] => Some(EndPointHash::Sha256),
            [12] => Some(EndPointHash::Sha384),
            [13] => Some(EndPointHash::Sha512),
            [14] => Some(EndPointHash::Sha224),
            _ => None,
        };
    }
    match oid.strip_prefix(ECDSA_SHA2)? {
        [1] => Some(EndPointHash::Sha224),
        [2] => Some(EndPointHash::Sha256),
        [3] => Some(EndPointHash::Sha384),
        [4] => Some(EndPointHash::Sha512),
        _ => None,
    }
}

/// Splits one DER element tagged `tag` off the front of `input`: its contents, and what
/// follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (digits, rest) = rest.split_at_checked(count)?;
        let length = digits
            .iter()
            .fold(0_usize, |length, &digit| (length << 8) | usize::from(digit));
        (length, rest)
    };
    rest.split_at_checked(length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg_tls::from_url;

    #[test]
    fn every_host_gets_its_own_name_and_addresses_are_names_too() {
        let (_, mut tls) = from_url("postgres://u@db/obol?sslmode=require").unwrap();
        let Ok(connect) = tls.make_tls_connect("db1.internal");
        assert!(
            matches!(connect.server_name, Ok(ServerName::DnsName(ref name)) if name.as_ref() == "db1.internal")
        );
        let Ok(connect) = tls.make_tls_connect("127.0.0.1");
        assert!(matches!(connect.server_name, Ok(ServerName::IpAddress(_))));
        let Ok(connect) = tls.make_tls_connect("::1");
        assert!(matches!(connect.server_name, Ok(ServerName::IpAddress(_))));
        // A Unix socket: no name, which fails only a handshake that is never made there.
        let Ok(connect) = tls.make_tls_connect("");
        assert!(connect.server_name.is_err());
        let (_, plain) = from_url("postgres://u@db/obol").unwrap();
        assert!(plain.connector.is_none());
    }

    #[test]
    fn the_connector_can_cross_threads_as_the_pool_needs() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<PgTls>();
        shareable::<PgTlsConnect>();
        shareable::<Handshake>();
        shareable::<PgTlsStream>();
    }

    /// A certificate's outer shape: SEQUENCE { SEQUENCE {}, SEQUENCE { OID }, BIT STRING }.
    fn certificate_signed_with(oid: &[u8]) -> Vec<u8> {
        let tbs = [0x30, 0x03, 0x02, 0x01, 0x02];
        let mut algorithm = vec![0x30, u8::try_from(oid.len() + 2).unwrap(), 0x06];
        algorithm.push(u8::try_from(oid.len()).unwrap());
        algorithm.extend_from_slice(oid);
        let signature = [0x03, 0x02, 0x00, 0xff];
        // A long-form length, as real certificates have.
        let length = tbs.len() + algorithm.len() + signature.len();
        let mut certificate = vec![0x30, 0x82, 0x00, u8::try_from(length).unwrap()];
        certificate.extend_from_slice(&tbs);
        certificate.extend_from_slice(&algorithm);
        certificate.extend_from_slice(&signature);
        certificate
    }

    #[test]
    fn channel_binding_hashes_the_certificate_by_its_signature_hash() {
        let ecdsa_sha256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let ecdsa_sha384 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let rsa_sha1 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
        let rsa_sha512 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
        let ed25519 = [0x2b, 0x65, 0x70];
        let certificate = certificate_signed_with(&ecdsa_sha256);
        assert_eq!(
            server_end_point(&certificate),
            Some(sha2::Sha256::digest(&certificate).to_vec())
        );
        let certificate = certificate_signed_with(&ecdsa_sha384);
        assert_eq!(
            server_end_point(&certificate),
            Some(sha2::Sha384::digest(&certificate).to_vec())
        );
        let certificate = certificate_signed_with(&rsa_sha1);
        assert_eq!(
            server_end_point(&certificate),
            Some(sha2::Sha256::digest(&certificate).to_vec()),
            "SHA-1 is replaced by SHA-256"
        );
        let certificate = certificate_signed_with(&rsa_sha512);
        assert_eq!(
            server_end_point(&certificate),
            Some(sha2::Sha512::digest(&certificate).to_vec())
        );
        assert_eq!(server_end_point(&certificate_signed_with(&ed25519)), None);
        let certificate = certificate_signed_with(&ecdsa_sha256);
        for cut in 0..certificate.len() - 4 {
            assert_eq!(server_end_point(&certificate[..cut]), None, "cut at {cut}");
        }
        assert_eq!(server_end_point(b""), None);
    }
}
