//! The sandbox acquirer's card vault: a stored P2P card is a token that only the acquirer can
//! turn back into the number (ChaCha20-Poly1305 under the vault's own key, derived from the
//! operator key, and bound to its purpose; tokens sealed under the operator key itself before
//! per-purpose keys still resolve). The database holds the token, the first 6 and last 4 digits, brand and expiry,
//! never the number in clear; a real acquirer's tokens would take its place.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use obol_core::card::CardNumber;
use obol_core::ids::RandomSource;

use crate::crypto::OperatorKey;

/// Tokens start with this, so a token is never mistaken for anything else.
const TOKEN_PREFIX: &str = "vt_";
const PURPOSE: &str = "sandbox_card_vault";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the card token cannot be resolved")]
pub struct VaultError;

#[derive(Clone)]
pub struct CardVault {
    key: OperatorKey,
}

impl CardVault {
    pub fn new(key: OperatorKey) -> CardVault {
        CardVault { key }
    }

    /// A new token for `card` (a fresh nonce: two tokens of one card differ).
    pub fn tokenize(&self, card: &CardNumber, random: &mut dyn RandomSource) -> String {
        let sealed = self.key.encrypt(PURPOSE, card.digits().as_bytes(), random);
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The number behind a token this vault made.
    pub fn resolve(&self, token: &str) -> Result<CardNumber, VaultError> {
        let sealed = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or(VaultError)?;
        let digits = self.key.decrypt(PURPOSE, &sealed).map_err(|_| VaultError)?;
        let digits = String::from_utf8(digits).map_err(|_| VaultError)?;
        CardNumber::parse(&digits).map_err(|_| VaultError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsRandom;

    #[test]
    fn tokens_resolve_only_under_their_key() {
        let vault = CardVault::new(OperatorKey::generate(&mut OsRandom));
        let card = CardNumber::parse("4111111111111111").unwrap();
        let token = vault.tokenize(&card, &mut OsRandom);
        assert!(!token.contains("4111111111111111"));
        assert_eq!(vault.resolve(&token).unwrap().digits(), "4111111111111111");
        let other = CardVault::new(OperatorKey::generate(&mut OsRandom));
        assert_eq!(other.resolve(&token).unwrap_err(), VaultError);
        assert_eq!(vault.resolve("vt_garbage").unwrap_err(), VaultError);
    }
}
