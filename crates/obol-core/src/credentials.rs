//! Issued secrets and how they are checked.
//!
//! Every secret Obol issues is random with at least 128 bits of entropy, so a single SHA-256
//! digest is the right way to keep it at rest (SPEC §2): one digest per request, found by an
//! index. A password-hashing function would cost milliseconds per request and buy nothing
//! against secrets nobody can guess. Comparisons are constant-time.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{RandomSource, random_base62};

pub mod rotation;

/// Random characters of every issued secret: 32 base62 characters, about 190 bits.
pub const SECRET_RANDOM_LENGTH: usize = 32;
/// Random characters of a public key, as long as the seed's example (`pk_test_` + 43).
pub const PUBLIC_KEY_RANDOM_LENGTH: usize = 43;

/// A secret in clear, held only between issuing it and showing it once. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSecret(String);

impl IssuedSecret {
    pub fn generate(random: &mut dyn RandomSource, prefix: &str) -> IssuedSecret {
        IssuedSecret(format!(
            "{prefix}{}",
            random_base62(random, SECRET_RANDOM_LENGTH)
        ))
    }

    pub fn from_presented(text: &str) -> IssuedSecret {
        IssuedSecret(text.to_owned())
    }

    /// The clear text, to show once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(&self.0)
    }
}

impl fmt::Debug for IssuedSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("IssuedSecret([redacted])")
    }
}

/// The SHA-256 digest under which a secret is stored and looked up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    pub fn of(secret: &str) -> SecretDigest {
        SecretDigest(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> SecretDigest {
        SecretDigest(bytes)
    }

    pub fn try_from_slice(bytes: &[u8]) -> Option<SecretDigest> {
        <[u8; 32]>::try_from(bytes).ok().map(SecretDigest)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as digests are written where text is kept.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0
            .iter()
            .fold(String::with_capacity(64), |mut text, byte| {
                let _ = write!(text, "{byte:02x}");
                text
            })
    }

    /// Whether a presented secret matches, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let presented = SecretDigest::of(presented);
        bool::from(self.0.ct_eq(&presented.0))
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretDigest(..)")
    }
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    bool::from(left.ct_eq(right))
}

/// Prefixes that tell an operator what a secret is when one turns up in a log or a ticket.
pub mod prefixes {
    pub const PUBLIC_KEY_TEST: &str = "pk_test_";
    pub const PUBLIC_KEY_LIVE: &str = "pk_live_";
    pub const API_SECRET_TEST: &str = "sk_test_";
    pub const API_SECRET_LIVE: &str = "sk_live_";
    pub const CALLBACK_SECRET: &str = "whsec_";
    pub const MANAGER_TOKEN: &str = "";
    pub const P2P_SIGNING_KEY: &str = "";
}

/// A merchant's public key (`pk_test_…` / `pk_live_…`): not secret, identifies the merchant.
pub fn generate_public_key(random: &mut dyn RandomSource, live: bool) -> String {
    let prefix = if live {
        prefixes::PUBLIC_KEY_LIVE
    } else {
        prefixes::PUBLIC_KEY_TEST
    };
    format!(
        "{prefix}{}",
        random_base62(random, PUBLIC_KEY_RANDOM_LENGTH)
    )
}

/// A merchant's API login: not secret, found by equality; lower-case letters and digits.
pub fn generate_api_login(random: &mut dyn RandomSource) -> String {
    format!(
        "m{}",
        crate::ids::random_string(random, b"abcdefghijklmnopqrstuvwxyz0123456789", 15)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::test_random::TestRandom;

    #[test]
    fn digests_match_only_the_same_secret() {
        let secret = IssuedSecret::generate(&mut TestRandom(1), prefixes::API_SECRET_TEST);
        assert!(secret.expose().starts_with("sk_test_"));
        assert_eq!(secret.expose().len(), 8 + SECRET_RANDOM_LENGTH);
        let digest = secret.digest();
        assert!(digest.matches(secret.expose()));
        assert!(!digest.matches("sk_test_wrong"));
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn public_keys_look_like_the_seed() {
        let key = generate_public_key(&mut TestRandom(2), false);
        assert!(key.starts_with("pk_test_"));
        assert_eq!(key.len(), 8 + 43);
        assert!(generate_public_key(&mut TestRandom(2), true).starts_with("pk_live_"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
