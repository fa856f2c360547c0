//! Issuing credentials (SPEC §1 and §2), shared by the command line and the dashboard: every
//! new secret is generated here, digested (the ones only compared) or sealed under the operator
//! key (the ones that must keep signing), so that both doors issue exactly the same kinds of
//! secret. Storing them, and showing the clear text once, is the caller's.

use obol_core::credentials::{
    IssuedSecret, SecretDigest, generate_api_login, generate_public_key, prefixes,
};
use obol_core::ids::{ResellerId, Uuid};
use obol_core::tenancy::{MerchantSettings, Name};
use obol_store::ops::tenancy::NewMerchant;

use crate::config::Config;
use crate::crypto::{OperatorKey, OsRandom, purpose};

/// A signing secret in clear (to show once) and sealed under the operator key (to store).
pub struct SealedSecret {
    pub secret: IssuedSecret,
    pub sealed: Vec<u8>,
}

/// A merchant's `api_secret`; its prefix says the merchant's mode.
pub fn api_secret(test_mode: bool) -> IssuedSecret {
    IssuedSecret::generate(
        &mut OsRandom,
        if test_mode {
            prefixes::API_SECRET_TEST
        } else {
            prefixes::API_SECRET_LIVE
        },
    )
}

/// A merchant's callback signing secret, sealed for storage.
pub fn callback_secret(key: &OperatorKey) -> SealedSecret {
    let mut random = OsRandom;
    let secret = IssuedSecret::generate(&mut random, prefixes::CALLBACK_SECRET);
    let sealed = key.encrypt(
        purpose::MERCHANT_CALLBACK_SECRET,
        secret.expose().as_bytes(),
        &mut random,
    );
    SealedSecret { secret, sealed }
}

/// A P2P client's signing key, sealed for storage.
pub fn p2p_signing_key(key: &OperatorKey) -> SealedSecret {
    let mut random = OsRandom;
    let secret = IssuedSecret::generate(&mut random, prefixes::P2P_SIGNING_KEY);
    let sealed = key.encrypt(
        purpose::P2P_SIGNING_KEY,
        secret.expose().as_bytes(),
        &mut random,
    );
    SealedSecret { secret, sealed }
}

/// A manager's API token.
pub fn manager_token() -> IssuedSecret {
    IssuedSecret::generate(&mut OsRandom, prefixes::MANAGER_TOKEN)
}

/// A P2P client's `clientId` and the digest under which it is stored: the clear id is shown
/// once, the database keeps only the digest.
pub fn p2p_client_id() -> (Uuid, SecretDigest) {
    let id = Uuid::generate_v4(&mut OsRandom);
    let digest = SecretDigest::of(id.as_str());
    (id, digest)
}

/// What a new merchant is told once: its secrets in clear.
pub struct MerchantSecrets {
    pub api_secret: IssuedSecret,
    pub callback_secret: IssuedSecret,
}

/// Everything a new merchant needs stored (keys, login, the secret's digest, the sealed
/// callback secret), and the secrets to show once.
pub fn new_merchant(
    key: &OperatorKey,
    reseller_id: ResellerId,
    name: Name,
    live: bool,
    settings: MerchantSettings,
) -> (NewMerchant, MerchantSecrets) {
    let mut random = OsRandom;
    let api_secret = api_secret(!live);
    let callback = callback_secret(key);
    let new = NewMerchant {
        reseller_id,
        name,
        test_mode: !live,
        public_key: generate_public_key(&mut random, live),
        api_login: generate_api_login(&mut random),
        api_secret: api_secret.digest(),
        callback_secret_encrypted: callback.sealed,
        settings,
    };
    (
        new,
        MerchantSecrets {
            api_secret,
            callback_secret: callback.secret,
        },
    )
}

/// Longest webhook URL accepted.
pub const WEBHOOK_URL_LENGTH_MAX: usize = 2048;

/// Whether `url` may be a merchant's webhook URL: http(s), no whitespace, bounded.
pub fn webhook_url_valid(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= WEBHOOK_URL_LENGTH_MAX
        && !url.contains(char::is_whitespace)
}

/// Whether a manager may give `url` as a merchant's webhook URL (SPEC §5): well formed, and
/// not a private, loopback or otherwise reserved address written as such unless
/// `callbacks.allow_private_addresses` is on. Host names are resolved, and checked again, when
/// a callback is sent.
pub fn webhook_url_allowed(url: &str, policy: crate::callbacks::guard::AddressPolicy) -> bool {
    webhook_url_valid(url) && crate::callbacks::guard::check_url(url, policy).is_ok()
}

/// The live route a merchant's live payments go through, as asked (`none`: the first route
/// serving each payment's currency). An unknown name is refused with the configured names:
/// routes are configured, not invented.
pub fn acquirer_choice<'a>(
    config: &'a Config,
    asked: &str,
) -> Result<Option<String>, Vec<&'a str>> {
    match asked {
        "none" => Ok(None),
        name if config.acquirer(name).is_some() => Ok(Some(name.to_owned())),
        _ => Err(config
            .acquirers
            .iter()
            .map(|route| route.route.name.as_str())
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_their_prefixes_and_enough_randomness() {
        assert!(
            api_secret(true)
                .expose()
                .starts_with(prefixes::API_SECRET_TEST)
        );
        assert!(
            api_secret(false)
                .expose()
                .starts_with(prefixes::API_SECRET_LIVE)
        );
        assert!(
            manager_token()
                .expose()
                .starts_with(prefixes::MANAGER_TOKEN)
        );
        assert_ne!(manager_token().expose(), manager_token().expose());
    }

    #[test]
    fn sealed_secrets_open_under_their_purpose_only() {
        let key = OperatorKey::generate(&mut OsRandom);
        let callback = callback_secret(&key);
        assert_eq!(
            key.decrypt(purpose::MERCHANT_CALLBACK_SECRET, &callback.sealed)
                .unwrap(),
            callback.secret.expose().as_bytes()
        );
        assert!(
            key.decrypt(purpose::P2P_SIGNING_KEY, &callback.sealed)
                .is_err()
        );
        let signing = p2p_signing_key(&key);
        assert_eq!(
            key.decrypt(purpose::P2P_SIGNING_KEY, &signing.sealed)
                .unwrap(),
            signing.secret.expose().as_bytes()
        );
    }

    #[test]
    fn webhook_urls() {
        assert!(webhook_url_valid("https://shop.example/hook"));
        assert!(!webhook_url_valid("ftp://shop.example/hook"));
        assert!(!webhook_url_valid("https://shop.example/ hook"));
        assert!(!webhook_url_valid(&format!("https://{}", "a".repeat(2048))));
    }
}
