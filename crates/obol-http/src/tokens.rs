//! Signed, expiring tokens: JWT HS256 through the `jsonwebtoken` crate, so merchants and tools
//! can read them with any JWT library. Used for the hosted page's link token
//! (`flow_data.metadata.token`), the pages' CSRF tokens and the confirmation links. Each
//! purpose signs with its own key, derived from the operator key
//! ([`KeyPurpose::Token`]); a token signed with the operator key itself, as every token was
//! before per-purpose keys, is still accepted until it expires.

use std::collections::HashSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use obol_core::Timestamp;
use serde_json::{Value, json};

use crate::crypto::{KeyPurpose, OperatorKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is wrong")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued for something else")]
    WrongPurpose,
}

/// HS256 only, and no claim checked by the library: expiry is decided against the injected
/// clock by the callers (the library would read the system clock), and the other claims are
/// each caller's.
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

fn object(claims: Value) -> Result<Value, TokenError> {
    if claims.is_object() {
        Ok(claims)
    } else {
        Err(TokenError::Malformed)
    }
}

/// Signs `claims` (a JSON object) with HS256 under `key`.
pub fn sign_with(key: &[u8], claims: &Value) -> String {
    // HS256 over JSON that serializes: this cannot fail.
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap_or_else(|_| unreachable!("HS256 signs any JSON claims"))
}

/// Checks an HS256 token's signature (constant time) and returns its claims.
pub fn verify_with(key: &[u8], token: &str) -> Result<Value, TokenError> {
    match jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(key), &validation()) {
        Ok(data) => object(data.claims),
        Err(error) if matches!(error.kind(), ErrorKind::InvalidSignature) => {
            Err(TokenError::BadSignature)
        }
        Err(_) => Err(TokenError::Malformed),
    }
}

/// The claims of an HS256 token *without* checking its signature: only to learn whose key
/// must check it (the caller then calls [`verify_with`]).
pub fn peek_claims(token: &str) -> Result<Value, TokenError> {
    let mut unchecked = validation();
    unchecked.insecure_disable_signature_validation();
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(&[]), &unchecked)
        .map_err(|_| TokenError::Malformed)
        .and_then(|data| object(data.claims))
}

/// A token for `purpose` about `subject`, valid until `expires_at`, signed with the purpose's
/// own key.
pub fn issue(key: &OperatorKey, purpose: &str, subject: &str, expires_at: Timestamp) -> String {
    sign_with(
        key.derive(KeyPurpose::Token(purpose)).bytes(),
        &json!({ "sid": subject, "pur": purpose, "exp": expires_at.unix_seconds() }),
    )
}

/// Checks a token made by [`issue`] for this purpose and subject at `now`. A token issued
/// before per-purpose keys (signed with the operator key itself) passes the same checks of
/// purpose, subject and expiry, so it works until it expires and no longer.
pub fn check(
    key: &OperatorKey,
    token: &str,
    purpose: &str,
    subject: &str,
    now: Timestamp,
) -> Result<(), TokenError> {
    let claims = match verify_with(key.derive(KeyPurpose::Token(purpose)).bytes(), token) {
        Err(TokenError::BadSignature) => key.legacy().verify_token(token)?,
        verified => verified?,
    };
    if claims["pur"] != purpose || claims["sid"] != subject {
        return Err(TokenError::WrongPurpose);
    }
    let expires = claims["exp"].as_i64().ok_or(TokenError::Malformed)?;
    if now.unix_seconds() > expires {
        return Err(TokenError::Expired);
    }
    Ok(())
}

/// Purposes of tokens.
pub mod purpose {
    /// The link to the hosted page handed to merchants (`flow_data.metadata.token`).
    pub const PAGE: &str = "hpp";
    /// A form on a hosted page.
    pub const CSRF: &str = "csrf";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsRandom;

    #[test]
    fn tokens_check_signature_purpose_subject_and_expiry() {
        let key = OperatorKey::generate(&mut OsRandom);
        let now = Timestamp::from_unix_seconds(1_000);
        let token = issue(&key, purpose::CSRF, "cpi_x", now.plus_seconds(60));
        assert_eq!(check(&key, &token, purpose::CSRF, "cpi_x", now), Ok(()));
        assert_eq!(
            check(&key, &token, purpose::PAGE, "cpi_x", now),
            Err(TokenError::BadSignature),
            "another purpose checks with another key"
        );
        assert_eq!(
            check(&key, &token, purpose::CSRF, "cpi_y", now),
            Err(TokenError::WrongPurpose)
        );
        assert_eq!(
            check(&key, &token, purpose::CSRF, "cpi_x", now.plus_seconds(61)),
            Err(TokenError::Expired)
        );
        let other = OperatorKey::generate(&mut OsRandom);
        assert_eq!(
            check(&other, &token, purpose::CSRF, "cpi_x", now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            check(&key, "a.b", purpose::CSRF, "cpi_x", now),
            Err(TokenError::Malformed)
        );
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(check(&key, &tampered, purpose::CSRF, "cpi_x", now).is_err());
    }

    #[test]
    fn each_purpose_signs_with_its_own_key() {
        let key = OperatorKey::generate(&mut OsRandom);
        let now = Timestamp::from_unix_seconds(1_000);
        let token = issue(&key, purpose::PAGE, "cpi_x", now.plus_seconds(60));
        assert_eq!(
            verify_with(key.derive(KeyPurpose::Token(purpose::PAGE)).bytes(), &token)
                .map(|claims| claims["sid"].clone()),
            Ok(json!("cpi_x"))
        );
        assert_eq!(
            verify_with(key.derive(KeyPurpose::Token(purpose::CSRF)).bytes(), &token),
            Err(TokenError::BadSignature),
            "another purpose's key does not verify it"
        );
        // A token of one purpose re-labelled as another is refused by its signature before
        // its claims are read.
        let forged = sign_with(
            key.derive(KeyPurpose::Token(purpose::PAGE)).bytes(),
            &json!({ "sid": "cpi_x", "pur": purpose::CSRF, "exp": now.unix_seconds() + 60 }),
        );
        assert_eq!(
            check(&key, &forged, purpose::CSRF, "cpi_x", now),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_token_issued_before_per_purpose_keys_works_until_it_expires() {
        let key = OperatorKey::generate(&mut OsRandom);
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key.to_base64())
                .unwrap();
        let now = Timestamp::from_unix_seconds(1_000);
        // What `issue` made before: HS256 under the operator key itself.
        let old = sign_with(
            &raw,
            &json!({ "sid": "cpi_x", "pur": purpose::PAGE, "exp": now.unix_seconds() + 60 }),
        );
        assert_eq!(check(&key, &old, purpose::PAGE, "cpi_x", now), Ok(()));
        assert_eq!(
            check(&key, &old, purpose::PAGE, "cpi_x", now.plus_seconds(61)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check(&key, &old, purpose::CSRF, "cpi_x", now),
            Err(TokenError::WrongPurpose)
        );
        let other = OperatorKey::generate(&mut OsRandom);
        assert_eq!(
            check(&other, &old, purpose::PAGE, "cpi_x", now),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn known_hs256_vector() {
        // RFC 7515 style check with a fixed key and claims: the signature is stable.
        let token = sign_with(b"secret", &json!({"sub": "1"}));
        assert_eq!(verify_with(b"secret", &token).unwrap()["sub"], "1");
        assert_eq!(
            verify_with(b"secret", &sign_with(b"other", &json!({"sub": "1"}))),
            Err(TokenError::BadSignature)
        );
        assert_eq!(peek_claims(&token).unwrap()["sub"], "1");
        // A token whose header names another algorithm is refused.
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}",
            token.split('.').nth(1).unwrap()
        );
        assert_eq!(verify_with(b"secret", &none), Err(TokenError::Malformed));
    }
}
