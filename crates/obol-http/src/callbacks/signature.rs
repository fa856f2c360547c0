//! Obol's signature on every callback (each dialect's own lives with its door).

use crate::crypto::{hex, hmac_sha256};

/// One `v1` value: hex HMAC-SHA256 of `"<t>.<raw body>"` under a callback secret.
fn obol_v1(secret: &str, timestamp_seconds: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp_seconds}.").into_bytes();
    message.extend_from_slice(body);
    hex(&hmac_sha256(secret.as_bytes(), &message))
}

/// `X-Obol-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`: one `v1` per valid secret (two during a
/// rotation), replay-proof through the timestamp, as Stripe signs its webhooks.
pub fn obol(secrets: &[&str], timestamp_seconds: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp_seconds}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&obol_v1(secret, timestamp_seconds, body));
    }
    header
}

/// Checks an `X-Obol-Signature` header against a secret (for receivers and tests).
pub fn verify_obol(header: &str, secret: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    let expected = obol_v1(secret, timestamp, body);
    signatures.iter().any(|signature| {
        obol_core::credentials::constant_time_eq(signature.as_bytes(), expected.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obol_signature_carries_one_v1_per_secret() {
        let header = obol(&["new", "old"], 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.matches("v1=").count(), 2);
        assert!(verify_obol(&header, "new", b"{\"a\":1}"));
        assert!(verify_obol(&header, "old", b"{\"a\":1}"));
        assert!(!verify_obol(&header, "other", b"{\"a\":1}"));
        assert!(!verify_obol(&header, "new", b"{\"a\":2}"));
    }
}
