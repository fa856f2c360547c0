//! Idempotency keys (SPEC §2): the same key with the same request returns the first response;
//! with a different request it is refused; concurrent uses yield one operation.
//!
//! The decision is a pure function of what storage found under the key. Storage makes the
//! check, the operation and the saved response one database transaction, so a key can never
//! be saved without its effect or the other way round.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::error::{Coded, ErrorCode, codes};
use crate::time::Timestamp;

/// Longest key accepted (Stripe's limit).
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 255;
/// How long a key is remembered: at least 24 hours (SPEC §2).
pub const IDEMPOTENCY_KEY_LIFETIME_SECONDS: i64 = 24 * 3600;

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyError {
    #[error("the idempotency key must be 1 to 255 visible ASCII characters")]
    Malformed,
    #[error("this idempotency key was used with a different request")]
    ReusedWithDifferentRequest,
    #[error("a request with this idempotency key is still being processed")]
    InFlight,
}

impl Coded for IdempotencyError {
    fn code(&self) -> ErrorCode {
        match self {
            IdempotencyError::Malformed => codes::IDEMPOTENCY_KEY_MALFORMED,
            IdempotencyError::ReusedWithDifferentRequest => codes::IDEMPOTENCY_KEY_REUSED,
            IdempotencyError::InFlight => codes::IDEMPOTENCY_IN_FLIGHT,
        }
    }
}

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<IdempotencyKey, IdempotencyError> {
        if text.is_empty()
            || text.len() > IDEMPOTENCY_KEY_LENGTH_MAX
            || !text.bytes().all(|byte| byte.is_ascii_graphic())
        {
            return Err(IdempotencyError::Malformed);
        }
        Ok(IdempotencyKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "IdempotencyKey({})", self.0)
    }
}

/// Whose key it is: keys of different callers never collide (`merchant:5`, `manager:7`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyScope(String);

impl IdempotencyScope {
    pub fn new(caller: &str) -> IdempotencyScope {
        IdempotencyScope(caller.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of what makes two requests "the same": method, route and body.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestFingerprint([u8; 32]);

impl RequestFingerprint {
    pub fn of(method: &str, path: &str, body: &[u8]) -> RequestFingerprint {
        let mut hasher = Sha256::new();
        // Lengths first, so that no two different triples hash the same bytes.
        for part in [method.as_bytes(), path.as_bytes(), body] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        RequestFingerprint(hasher.finalize().into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> RequestFingerprint {
        RequestFingerprint(bytes)
    }

    pub fn try_from_slice(bytes: &[u8]) -> Option<RequestFingerprint> {
        <[u8; 32]>::try_from(bytes).ok().map(RequestFingerprint)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RequestFingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "RequestFingerprint({:02x}{:02x}…)",
            self.0[0], self.0[1]
        )
    }
}

/// The response a dialect saved for a key: its status and its body, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What storage found under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: RequestFingerprint,
    /// `None` while the first request is still being processed.
    pub response: Option<SavedResponse>,
    pub expires_at: Timestamp,
}

/// The two outcomes of looking a key up (zero-to-production's `NextAction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAction {
    /// First use (or the old record expired): do the work and save the response.
    Start,
    /// A repeat: answer the saved response again, do nothing.
    ReturnSaved(SavedResponse),
}

/// Decides what to do with a request carrying a key, given what storage holds.
pub fn decide(
    existing: Option<&IdempotencyRecord>,
    fingerprint: RequestFingerprint,
    now: Timestamp,
) -> Result<NextAction, IdempotencyError> {
    let Some(record) = existing else {
        return Ok(NextAction::Start);
    };
    if record.expires_at <= now {
        return Ok(NextAction::Start);
    }
    if record.fingerprint != fingerprint {
        return Err(IdempotencyError::ReusedWithDifferentRequest);
    }
    match &record.response {
        Some(response) => Ok(NextAction::ReturnSaved(response.clone())),
        None => Err(IdempotencyError::InFlight),
    }
}

/// When a key first used at `now` may be forgotten.
pub fn expiry_of_new_key(now: Timestamp) -> Timestamp {
    now.plus_seconds(IDEMPOTENCY_KEY_LIFETIME_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> SavedResponse {
        SavedResponse {
            status: 201,
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("abc-123_XYZ").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("with space").is_err());
        assert!(IdempotencyKey::parse("ключ").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn fingerprints_distinguish_requests() {
        let a = RequestFingerprint::of("POST", "/api/payment-invoices", b"{\"amount\":1}");
        assert_eq!(
            a,
            RequestFingerprint::of("POST", "/api/payment-invoices", b"{\"amount\":1}")
        );
        assert_ne!(
            a,
            RequestFingerprint::of("POST", "/api/payment-invoices", b"{\"amount\":2}")
        );
        assert_ne!(
            RequestFingerprint::of("POST", "/ab", b"c"),
            RequestFingerprint::of("POST", "/a", b"bc")
        );
    }

    #[test]
    fn decisions_follow_the_draft() {
        let now = Timestamp::from_unix_seconds(1_000);
        let fingerprint = RequestFingerprint::of("POST", "/x", b"1");
        assert_eq!(decide(None, fingerprint, now), Ok(NextAction::Start));
        let done = IdempotencyRecord {
            fingerprint,
            response: Some(saved()),
            expires_at: expiry_of_new_key(now),
        };
        assert_eq!(
            decide(Some(&done), fingerprint, now),
            Ok(NextAction::ReturnSaved(saved()))
        );
        let other = RequestFingerprint::of("POST", "/x", b"2");
        assert_eq!(
            decide(Some(&done), other, now),
            Err(IdempotencyError::ReusedWithDifferentRequest)
        );
        let running = IdempotencyRecord {
            response: None,
            ..done.clone()
        };
        assert_eq!(
            decide(Some(&running), fingerprint, now),
            Err(IdempotencyError::InFlight)
        );
        let later = now.plus_seconds(IDEMPOTENCY_KEY_LIFETIME_SECONDS);
        assert_eq!(
            decide(Some(&done), other, later),
            Ok(NextAction::Start),
            "an expired key is free again"
        );
    }
}
