//! The keys that sign callbacks, opened from what the claim read. The sealed keys come fresh
//! from the database with every claim (in its transaction), so a rotation is used by the next
//! claim on every node, however it was made (CLI, dashboard, API, another node): nothing here
//! can be stale. What is kept is only the work of opening them: the plaintext of a sealed
//! value, keyed by that sealed value, for [`CACHE_TTL`]. A rotated secret is sealed anew,
//! so its old sealed value is never asked for again and drops out with its entry.

use obol_store::ops::callbacks::SealedKeys;

use crate::cache::{HeapSize, TtlCache};
use crate::crypto::{OperatorKey, purpose};

#[cfg(doc)]
use crate::cache::CACHE_TTL;

/// Opened keys kept at most: a few per signer that has callbacks under way.
const OPENED_ENTRIES_MAX: usize = 4_096;
/// Bytes of opened keys kept at most (sealed and opened, with their overhead).
const OPENED_BYTES_MAX: usize = 1024 * 1024;

/// The keys that sign one callback, opened.
pub(super) struct SigningKeys {
    /// What signs the dialect's own signature and the first `v1`.
    pub current: String,
    /// A merchant's previous callback secret while it still signs (a second `v1`).
    pub previous: Option<String>,
}

/// A sealed value and the purpose it was sealed for: the key of an opened value.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Sealed {
    purpose: &'static str,
    bytes: Vec<u8>,
}

impl HeapSize for Sealed {
    fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

/// Opens sealed signing keys, keeping what it opened for a few seconds.
pub(super) struct KeyOpener {
    key: OperatorKey,
    opened: TtlCache<Sealed, String>,
}

impl KeyOpener {
    pub(super) fn new(key: OperatorKey) -> KeyOpener {
        KeyOpener {
            key,
            opened: TtlCache::with_limits(OPENED_ENTRIES_MAX, OPENED_BYTES_MAX),
        }
    }

    /// The keys that sign a callback of a signer whose sealed keys are `sealed`.
    pub(super) fn open(&self, sealed: &SealedKeys) -> Result<SigningKeys, String> {
        match sealed {
            SealedKeys::Merchant { current, previous } => Ok(SigningKeys {
                current: self.open_one(purpose::MERCHANT_CALLBACK_SECRET, current)?,
                previous: previous
                    .as_deref()
                    .map(|previous| self.open_one(purpose::MERCHANT_CALLBACK_SECRET, previous))
                    .transpose()?,
            }),
            SealedKeys::P2pClient(key) => Ok(SigningKeys {
                current: self.open_one(purpose::P2P_SIGNING_KEY, key)?,
                previous: None,
            }),
        }
    }

    fn open_one(&self, purpose: &'static str, bytes: &[u8]) -> Result<String, String> {
        let sealed = Sealed {
            purpose,
            bytes: bytes.to_vec(),
        };
        if let Some(opened) = self.opened.get(&sealed) {
            return Ok(opened);
        }
        let opened = self
            .key
            .decrypt(purpose, bytes)
            .map_err(|error| error.to_string())?;
        let opened =
            String::from_utf8(opened).map_err(|_| "the signing key is not text".to_owned())?;
        self.opened.put(sealed, opened.clone());
        Ok(opened)
    }

    #[cfg(test)]
    fn opened_count(&self) -> usize {
        self.opened.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsRandom;

    #[test]
    fn sealed_keys_open_once_and_a_new_seal_is_opened_anew() {
        let key = OperatorKey::generate(&mut OsRandom);
        let opener = KeyOpener::new(key.clone());
        let seal = |text: &str, purpose: &str| key.encrypt(purpose, text.as_bytes(), &mut OsRandom);
        let old = seal("whsec_old", purpose::MERCHANT_CALLBACK_SECRET);
        let sealed = SealedKeys::Merchant {
            current: old.clone(),
            previous: None,
        };
        let opened = opener.open(&sealed).unwrap();
        assert_eq!(
            (opened.current.as_str(), opened.previous),
            ("whsec_old", None)
        );
        assert_eq!(opener.open(&sealed).unwrap().current, "whsec_old");
        assert_eq!(opener.opened_count(), 1, "opened once");

        let rotated = SealedKeys::Merchant {
            current: seal("whsec_new", purpose::MERCHANT_CALLBACK_SECRET),
            previous: Some(old),
        };
        let opened = opener.open(&rotated).unwrap();
        assert_eq!(opened.current, "whsec_new");
        assert_eq!(opened.previous.as_deref(), Some("whsec_old"));

        let client = SealedKeys::P2pClient(seal("p2p-key", purpose::P2P_SIGNING_KEY));
        assert_eq!(opener.open(&client).unwrap().current, "p2p-key");
        // A value sealed for one purpose does not open for another.
        let misused = SealedKeys::P2pClient(seal("whsec_x", purpose::MERCHANT_CALLBACK_SECRET));
        assert!(opener.open(&misused).is_err());
    }
}
