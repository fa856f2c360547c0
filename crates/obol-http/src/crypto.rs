//! The operator key and what it protects.
//!
//! The operator key is never used directly (SPEC §2): each purpose gets its own key, derived
//! from it with HKDF-SHA-256 (RFC 5869) with the purpose as `info` ([`KeyPurpose`]): the
//! hosted pages' link and CSRF tokens and the confirmation links (one key per token purpose),
//! sealed stored secrets (one key per kind of secret, the card vault's among them), Softline's
//! order-link hashes. A weakness in one use (a token format, a hash truncated for a URL) then
//! tells nothing about the key of another.
//!
//! Signing secrets (merchant callback secrets, P2P signing keys) must stay usable, so they
//! cannot be hashed; they are sealed with ChaCha20-Poly1305. A stored value is
//! `version (1 byte) || nonce (12 bytes) || ciphertext+tag`, and the purpose
//! (`merchant_callback_secret`, …) is also bound as associated data, so a value cannot be
//! moved to another column and still decrypt. Version 2 is sealed under the purpose's derived
//! key. Version 1 was sealed under the operator key itself, before per-purpose keys: such
//! values still open, so databases made before keep working, but nothing new is made that way
//! ([`LegacyKey`] only checks and opens).

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use obol_core::ids::RandomSource;
use sha2::Sha256;

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

/// Sealed under the operator key itself: read only, for values stored before per-purpose keys.
const CIPHERTEXT_VERSION_LEGACY: u8 = 1;
/// Sealed under the purpose's derived key: every new value.
const CIPHERTEXT_VERSION: u8 = 2;
const NONCE_LENGTH: usize = 12;

/// Purposes of sealed values, bound into them as associated data and naming their keys.
pub mod purpose {
    pub const MERCHANT_CALLBACK_SECRET: &str = "merchant_callback_secret";
    pub const P2P_SIGNING_KEY: &str = "p2p_signing_key";
}

/// What a key derived from the operator key is for. Its HKDF `info` is `obol `, the kind, a
/// space and the name, so two purposes never share a key, whatever their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose<'a> {
    /// Signed tokens of one purpose (`tokens::purpose`: page links, CSRF, confirmation links).
    Token(&'a str),
    /// Sealed stored values of one kind ([`purpose`]; the card vault's tokens).
    Seal(&'a str),
    /// Hashes that make a link unguessable (Softline's order links).
    LinkHash(&'a str),
}

impl KeyPurpose<'_> {
    fn info(&self) -> String {
        match self {
            KeyPurpose::Token(name) => format!("obol token {name}"),
            KeyPurpose::Seal(name) => format!("obol seal {name}"),
            KeyPurpose::LinkHash(name) => format!("obol link-hash {name}"),
        }
    }
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

/// A key derived from the operator key for one purpose. Never printed.
#[derive(Clone)]
pub struct DerivedKey {
    key: [u8; 32],
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("DerivedKey([redacted])")
    }
}

impl DerivedKey {
    /// HMAC-SHA256 of `message` under this key.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.key, message)
    }

    /// The key bytes, for the token signer of this crate.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

/// The operator key itself, as it signed and sealed values before per-purpose keys. It only
/// checks what was made then (so that links and tokens already handed out keep working), and
/// makes nothing new.
pub struct LegacyKey<'a> {
    key: &'a [u8; 32],
}

impl LegacyKey<'_> {
    /// Whether `presented` is what `render` writes of the HMAC-SHA256 of `message` under the
    /// operator key itself (compared in constant time).
    pub fn mac_matches(
        &self,
        message: &[u8],
        presented: &[u8],
        render: impl FnOnce(&[u8; 32]) -> String,
    ) -> bool {
        let expected = render(&hmac_sha256(self.key, message));
        obol_core::credentials::constant_time_eq(presented, expected.as_bytes())
    }

    /// The claims of a token signed with the operator key itself, if its signature is good.
    pub(crate) fn verify_token(
        &self,
        token: &str,
    ) -> Result<serde_json::Value, crate::tokens::TokenError> {
        crate::tokens::verify_with(self.key, token)
    }
}

/// The operator key. Never printed, and never used directly: each use takes a key
/// [derived](OperatorKey::derive) for its purpose.
#[derive(Clone)]
pub struct OperatorKey {
    key: [u8; 32],
    /// HKDF's extract step, done once: each derivation is then one expand.
    derivation: Hkdf<Sha256>,
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
        Ok(OperatorKey::from_bytes(key))
    }

    pub fn generate(random: &mut dyn RandomSource) -> OperatorKey {
        let mut key = [0u8; 32];
        random.fill_bytes(&mut key);
        OperatorKey::from_bytes(key)
    }

    fn from_bytes(key: [u8; 32]) -> OperatorKey {
        OperatorKey {
            key,
            // No salt: the key is already uniformly random (RFC 5869, section 3.1).
            derivation: Hkdf::<Sha256>::new(None, &key),
        }
    }

    /// The key's text form, for the key file and for configuring the other nodes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// The key for one purpose: HKDF-SHA-256 of the operator key with the purpose as `info`.
    pub fn derive(&self, purpose: KeyPurpose<'_>) -> DerivedKey {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-256's limit of 255 × 32: this cannot fail.
        self.derivation
            .expand(purpose.info().as_bytes(), &mut key)
            .unwrap_or_else(|_| unreachable!("HKDF-SHA-256 expands to 32 bytes"));
        DerivedKey { key }
    }

    /// The operator key as it was used before per-purpose keys: only to check what was made
    /// then.
    pub fn legacy(&self) -> LegacyKey<'_> {
        LegacyKey { key: &self.key }
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

    /// Seals `plaintext`: version 2, under the key derived for `Seal(purpose)`, with the
    /// purpose as associated data.
    pub fn encrypt(
        &self,
        purpose: &str,
        plaintext: &[u8],
        random: &mut dyn RandomSource,
    ) -> Vec<u8> {
        let key = self.derive(KeyPurpose::Seal(purpose));
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.bytes()));
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

    /// Opens a sealed value: version 2 with the purpose's derived key; version 1 (sealed
    /// before per-purpose keys) with the operator key itself.
    pub fn decrypt(&self, purpose: &str, stored: &[u8]) -> Result<Vec<u8>, KeyError> {
        if stored.len() < 1 + NONCE_LENGTH {
            return Err(KeyError::Decrypt);
        }
        let derived = self.derive(KeyPurpose::Seal(purpose));
        let key = match stored[0] {
            CIPHERTEXT_VERSION => derived.bytes(),
            CIPHERTEXT_VERSION_LEGACY => &self.key,
            _ => return Err(KeyError::Decrypt),
        };
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
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

    /// What `encrypt` wrote before per-purpose keys: version 1, under the operator key itself.
    fn sealed_the_old_way(key: &OperatorKey, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.key));
        let nonce = [7u8; NONCE_LENGTH];
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .unwrap();
        [vec![1], nonce.to_vec(), ciphertext].concat()
    }

    #[test]
    fn encrypted_secrets_round_trip_only_for_their_purpose() {
        let key = OperatorKey::generate(&mut OsRandom);
        let stored = key.encrypt(
            purpose::MERCHANT_CALLBACK_SECRET,
            b"whsec_abc",
            &mut OsRandom,
        );
        assert_eq!(stored[0], 2, "new values are version 2");
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
        let mut unknown_version = stored.clone();
        unknown_version[0] = 3;
        assert!(
            key.decrypt(purpose::MERCHANT_CALLBACK_SECRET, &unknown_version)
                .is_err()
        );
    }

    #[test]
    fn new_values_are_sealed_under_the_derived_key_not_the_operator_key() {
        let key = OperatorKey::generate(&mut OsRandom);
        let stored = key.encrypt(purpose::P2P_SIGNING_KEY, b"signing", &mut OsRandom);
        // The same bytes marked as version 1 would open with the operator key itself: they
        // do not, so the operator key did not seal them.
        let mut as_legacy = stored.clone();
        as_legacy[0] = 1;
        assert!(key.decrypt(purpose::P2P_SIGNING_KEY, &as_legacy).is_err());
    }

    #[test]
    fn a_value_sealed_the_old_way_still_opens() {
        let key = OperatorKey::generate(&mut OsRandom);
        let old = sealed_the_old_way(&key, purpose::MERCHANT_CALLBACK_SECRET, b"whsec_old");
        assert_eq!(
            key.decrypt(purpose::MERCHANT_CALLBACK_SECRET, &old)
                .unwrap(),
            b"whsec_old"
        );
        assert!(
            key.decrypt(purpose::P2P_SIGNING_KEY, &old).is_err(),
            "still bound to its purpose"
        );
        let other = OperatorKey::generate(&mut OsRandom);
        assert!(
            other
                .decrypt(purpose::MERCHANT_CALLBACK_SECRET, &old)
                .is_err()
        );
    }

    #[test]
    fn derived_keys_differ_per_purpose_and_from_the_operator_key() {
        let key = OperatorKey::generate(&mut OsRandom);
        let purposes = [
            KeyPurpose::Token("hpp"),
            KeyPurpose::Token("csrf"),
            KeyPurpose::Token("p2p_confirm"),
            KeyPurpose::Seal(purpose::MERCHANT_CALLBACK_SECRET),
            KeyPurpose::Seal(purpose::P2P_SIGNING_KEY),
            KeyPurpose::Seal("sandbox_card_vault"),
            KeyPurpose::LinkHash("softline_order"),
            // The same name under another kind is another key.
            KeyPurpose::Seal("hpp"),
            KeyPurpose::LinkHash("hpp"),
        ];
        let derived: Vec<[u8; 32]> = purposes
            .iter()
            .map(|purpose| *key.derive(*purpose).bytes())
            .collect();
        for (index, one) in derived.iter().enumerate() {
            assert_ne!(
                one, &key.key,
                "{:?} is not the operator key",
                purposes[index]
            );
            for other in &derived[index + 1..] {
                assert_ne!(one, other, "{:?} has its own key", purposes[index]);
            }
        }
        assert_eq!(
            key.derive(KeyPurpose::Token("hpp")).bytes(),
            key.derive(KeyPurpose::Token("hpp")).bytes(),
            "a derivation is stable"
        );
        let other = OperatorKey::generate(&mut OsRandom);
        assert_ne!(
            other.derive(KeyPurpose::Token("hpp")).bytes(),
            key.derive(KeyPurpose::Token("hpp")).bytes()
        );
    }

    #[test]
    fn derivation_is_hkdf_sha256_with_the_purpose_as_info() {
        // RFC 5869's construction, computed by hand with HMAC-SHA256: PRK = HMAC(zeros, IKM),
        // OKM = HMAC(PRK, info || 0x01) for one 32-byte block.
        let key = OperatorKey::from_bytes([0x42; 32]);
        let prk = hmac_sha256(&[0u8; 32], &[0x42; 32]);
        let okm = hmac_sha256(&prk, b"obol seal merchant_callback_secret\x01");
        assert_eq!(
            key.derive(KeyPurpose::Seal(purpose::MERCHANT_CALLBACK_SECRET))
                .bytes(),
            &okm
        );
    }

    #[test]
    fn the_legacy_key_checks_old_link_hashes_only() {
        let key = OperatorKey::generate(&mut OsRandom);
        let old = hex(&hmac_sha256(&key.key, b"message")[..16]);
        let render = |digest: &[u8; 32]| hex(&digest[..16]);
        assert!(key.legacy().mac_matches(b"message", old.as_bytes(), render));
        assert!(!key.legacy().mac_matches(b"other", old.as_bytes(), render));
        let new = hex(&key.derive(KeyPurpose::LinkHash("x")).mac(b"message")[..16]);
        assert_ne!(new, old);
        assert!(!key.legacy().mac_matches(b"message", new.as_bytes(), render));
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes() {
        let key = OperatorKey::generate(&mut OsRandom);
        assert_eq!(
            OperatorKey::from_base64(&key.to_base64()).unwrap().key,
            key.key
        );
        assert!(OperatorKey::from_base64("c2hvcnQ=").is_err());
        assert!(OperatorKey::from_base64("not base64!").is_err());
        assert!(!format!("{key:?}").contains(&key.to_base64()));
        let derived = key.derive(KeyPurpose::Token("hpp"));
        assert_eq!(format!("{derived:?}"), "DerivedKey([redacted])");
    }

    #[test]
    fn generated_key_file_is_private_and_stable() {
        let directory = std::env::temp_dir().join(format!("obol-key-{}", std::process::id()));
        let path = directory.join("secret.key");
        let first = OperatorKey::load_or_generate(&path).unwrap();
        let second = OperatorKey::load_or_generate(&path).unwrap();
        assert_eq!(first.key, second.key);
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
