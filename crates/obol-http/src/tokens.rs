//! Signed, expiring tokens under the operator key: JWT HS256 through the `jsonwebtoken` crate,
//! so merchants and tools can read them with any JWT library. Used for the
//! hosted page's link token (`flow_data.metadata.token`) and the pages' CSRF tokens.

use std::collections::HashSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use obol_core::Timestamp;
use serde_json::{Value, json};

use crate::crypto::OperatorKey;

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

/// A token for `purpose` about `subject`, valid until `expires_at`.
pub fn issue(key: &OperatorKey, purpose: &str, subject: &str, expires_at: Timestamp) -> String {
    sign_with(
        key.bytes(),
        &json!({ "sid": subject, "pur": purpose, "exp": expires_at.unix_seconds() }),
    )
}

/// Checks a token made by [`issue`] for this purpose and subject at `now`.
pub fn check(
    key: &OperatorKey,
    token: &str,
    purpose: &str,
    subject: &str,
    now: Timestamp,
) -> Result<(), TokenError> {
    let claims = verify_with(key.bytes(), token)?;
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
            Err(TokenError::WrongPurpose)
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
