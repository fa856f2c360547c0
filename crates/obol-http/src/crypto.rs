//! The operator key and what it protects.
//!
//! Signing secrets (merchant callback secrets, P2P signing keys) must stay usable, so they
//! cannot be hashed; they are encrypted with ChaCha20-Poly1305 under the operator key. A
//! stored value is `version (1 byte) || nonce (12 bytes) || ciphertext+tag`, and the purpose
//! (`merchant_callback_secret`, …) is bound as associated data, so a value cannot be moved to
//! another column and still decrypt.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use obol_core::ids::RandomSource;

use crate::config::Config;

/// The operating system's CSPRNG.
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill_bytes(&mut self, buffer: &mut [u8]) {
        if getrandom::fill(buffer).is_err() {
            // Without secure randomness no id or secret can be issued safely; stopping is the
            // only correct answer, and it happens only on a broken host.
            eprintln!("fatal: the operating system's random number generator failed");
            std::process::abort();
        }
    }
}

const CIPHERTEXT_VERSION: u8 = 1;
const NONCE_LENGTH: usize = 12;

/// Purposes bound into encrypted values.
pub mod purpose {
    pub const MERCHANT_CALLBACK_SECRET: &str = "merchant_callback_secret";
    pub const P2P_SIGNING_KEY: &str = "p2p_signing_key";
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("secret_key must be the base64 encoding of exactly 32 bytes")]
    Malformed,
    #[error(
        "secret_key is required with PostgreSQL: every node of a deployment must share one (generate it with `head -c 32 /dev/urandom | base64`)"
    )]
    Missing,
    #[error("cannot read or write the operator key file {path}: {message}")]
    File { path: String, message: String },
    #[error("a stored secret could not be decrypted (was the operator key changed?)")]
    Decrypt,
}

/// The operator key. Never printed.
#[derive(Clone)]
pub struct OperatorKey {
    key: [u8; 32],
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("OperatorKey([redacted])")
    }
}

impl OperatorKey {
    pub fn from_base64(text: &str) -> Result<OperatorKey, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed)?;
        Ok(OperatorKey { key })
    }

    pub fn generate(random: &mut dyn RandomSource) -> OperatorKey {
        let mut key = [0u8; 32];
        random.fill_bytes(&mut key);
        OperatorKey { key }
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// The key bytes, for HMAC signatures of page tokens.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The key for this configuration: the configured one; else, with SQLite, the one in
    /// `{data_dir}/secret.key`, generated (mode 0600) on first use.
    pub fn for_config(config: &Config, uses_sqlite: bool) -> Result<OperatorKey, KeyError> {
        if let Some(text) = &config.secret_key {
            return OperatorKey::from_base64(text.expose());
        }
        if !uses_sqlite {
            return Err(KeyError::Missing);
        }
        OperatorKey::load_or_generate(&config.secret_key_path())
    }

    fn load_or_generate(path: &Path) -> Result<OperatorKey, KeyError> {
        let file_error = |error: std::io::Error| KeyError::File {
            path: path.display().to_string(),
            message: error.to_string(),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => OperatorKey::from_base64(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(file_error)?;
                }
                let key = OperatorKey::generate(&mut OsRandom);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(format!("{}\n", key.to_base64()).as_bytes())
                            .map_err(file_error)?;
                        file.sync_all().map_err(file_error)?;
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                        OperatorKey::from_base64(
                            &std::fs::read_to_string(path).map_err(file_error)?,
                        )
                    }
                    Err(error) => Err(file_error(error)),
                }
            }
            Err(error) => Err(file_error(error)),
        }
    }

    pub fn encrypt(
        &self,
        purpose: &str,
        plaintext: &[u8],
        random: &mut dyn RandomSource,
    ) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key));
        let mut nonce = [0u8; NONCE_LENGTH];
        random.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail; an empty ciphertext would fail
        // to decrypt later rather than pass silently.
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LENGTH + ciphertext.len());
        out.push(CIPHERTEXT_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn decrypt(&self, purpose: &str, stored: &[u8]) -> Result<Vec<u8>, KeyError> {
        if stored.len() < 1 + NONCE_LENGTH || stored[0] != CIPHERTEXT_VERSION {
            return Err(KeyError::Decrypt);
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key));
        let nonce = Nonce::from_slice(&stored[1..1 + NONCE_LENGTH]);
        cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &stored[1 + NONCE_LENGTH..],
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Decrypt)
    }
}

/// HMAC-SHA256 of `message` under `key`: the one HMAC every signature and link hash uses.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_secrets_round_trip_only_for_their_purpose() {
        let key = OperatorKey::generate(&mut OsRandom);
        let stored = key.encrypt(
            purpose::MERCHANT_CALLBACK_SECRET,
            b"whsec_abc",
            &mut OsRandom,
        );
        assert!(
            !stored.windows(9).any(|window| window == b"whsec_abc"),
            "no clear text at rest"
        );
        assert_eq!(
            key.decrypt(purpose::MERCHANT_CALLBACK_SECRET, &stored)
                .unwrap(),
            b"whsec_abc"
        );
        assert!(key.decrypt(purpose::P2P_SIGNING_KEY, &stored).is_err());
        let other = OperatorKey::generate(&mut OsRandom);
        assert!(
            other
                .decrypt(purpose::MERCHANT_CALLBACK_SECRET, &stored)
                .is_err()
        );
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes() {
        let key = OperatorKey::generate(&mut OsRandom);
        assert_eq!(
            OperatorKey::from_base64(&key.to_base64()).unwrap().bytes(),
            key.bytes()
        );
        assert!(OperatorKey::from_base64("c2hvcnQ=").is_err());
        assert!(OperatorKey::from_base64("not base64!").is_err());
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[test]
    fn generated_key_file_is_private_and_stable() {
        let directory = std::env::temp_dir().join(format!("obol-key-{}", std::process::id()));
        let path = directory.join("secret.key");
        let first = OperatorKey::load_or_generate(&path).unwrap();
        let second = OperatorKey::load_or_generate(&path).unwrap();
        assert_eq!(first.bytes(), second.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::remove_dir_all(directory).unwrap();
    }
}
