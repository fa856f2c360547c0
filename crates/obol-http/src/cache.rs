//! Short-lived caches for what every request reads and almost never changes: credentials,
//! the service catalog, a merchant's enabled services. SPEC §2 allows a verified credential to
//! be cached for a few seconds; nothing is cached longer than [`CACHE_TTL`], so a change (a
//! revoked secret, a disabled service) takes effect within that time on every node.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use obol_core::catalog::{Localized, PaymentService, ServiceField};
use obol_core::credentials::SecretDigest;
use obol_core::ids::{MerchantId, MerchantServiceId};
use obol_core::tenancy::Merchant;
use obol_store::ops::{catalog, tenancy};
use obol_store::{Store, StoreResult};

use crate::auth::CREDENTIAL_LENGTH_MAX;

/// How long an entry is believed.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries kept per cache; past this the cache starts over (bounded memory under key spraying).
const CACHE_ENTRIES_MAX: usize = 10_000;
/// Bytes kept per cache (keys, values and their heap, as [`HeapSize`] counts them): the
/// entry bound alone would let large values (a big catalog per merchant) grow without limit.
/// An entry larger than this is not cached at all.
pub const CACHE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// What a `HashMap` slot costs beyond the key and value themselves (hash, control byte,
/// load factor), rounded up.
const ENTRY_OVERHEAD_BYTES: usize = 32;

/// Heap memory a cached value holds beyond its own size.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for () {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_bytes)
    }
}

impl<A: HeapSize, B: HeapSize> HeapSize for (A, B) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes()
    }
}

/// A shared value is counted whole in each cache that holds it.
impl<T: HeapSize> HeapSize for Arc<T> {
    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<T>() + T::heap_bytes(self)
    }
}

impl<T: HeapSize> HeapSize for Vec<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<T>()
            + self.iter().map(HeapSize::heap_bytes).sum::<usize>()
    }
}

impl HeapSize for MerchantId {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for MerchantServiceId {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for SecretDigest {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for Merchant {
    fn heap_bytes(&self) -> usize {
        self.name.as_str().len()
            + self.public_key.heap_bytes()
            + self.api_login.heap_bytes()
            + self.settings.webhook_url.heap_bytes()
            + self.settings.default_locale.heap_bytes()
    }
}

impl HeapSize for Localized {
    fn heap_bytes(&self) -> usize {
        self.en.heap_bytes() + self.ru.heap_bytes() + self.uk.heap_bytes()
    }
}

impl HeapSize for ServiceField {
    fn heap_bytes(&self) -> usize {
        self.key.heap_bytes()
            + self.field_type.heap_bytes()
            + self.label.heap_bytes()
            + self.hint.heap_bytes()
            + self.example.heap_bytes()
            + self.regexp.heap_bytes()
    }
}

impl HeapSize for PaymentService {
    fn heap_bytes(&self) -> usize {
        self.code.heap_bytes() + self.method_code.heap_bytes() + self.fields.heap_bytes()
    }
}

/// What one entry costs.
fn entry_bytes<K: HeapSize, V: HeapSize>(key: &K, value: &V) -> usize {
    ENTRY_OVERHEAD_BYTES
        + std::mem::size_of::<(K, (Instant, V, usize))>()
        + key.heap_bytes()
        + value.heap_bytes()
}

struct Entries<K, V> {
    map: HashMap<K, (Instant, V, usize)>,
    /// The sum of the entries' [`entry_bytes`].
    bytes: usize,
}

/// A map whose entries expire, bounded in entries and in bytes.
pub struct TtlCache<K, V> {
    entries: Mutex<Entries<K, V>>,
    entries_max: usize,
    bytes_max: usize,
}

impl<K: Eq + Hash + Clone + HeapSize, V: Clone + HeapSize> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache::with_limits(CACHE_ENTRIES_MAX, CACHE_BYTES_MAX)
    }
}

impl<K: Eq + Hash + Clone + HeapSize, V: Clone + HeapSize> TtlCache<K, V> {
    pub fn with_limits(entries_max: usize, bytes_max: usize) -> TtlCache<K, V> {
        TtlCache {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                bytes: 0,
            }),
            entries_max,
            bytes_max,
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .map
            .get(key)
            .filter(|(at, _, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, value, _)| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let cost = entry_bytes(&key, &value);
        if cost > self.bytes_max {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some((_, _, old)) = entries.map.remove(&key) {
            entries.bytes -= old;
        }
        if entries.map.len() >= self.entries_max || entries.bytes + cost > self.bytes_max {
            // Expired entries go first; if that is not enough, the cache starts over (it only
            // saves look-ups, and starting over is O(1) per entry ever added).
            entries.map.retain(|_, (at, _, _)| at.elapsed() < CACHE_TTL);
            entries.bytes = entries.map.values().map(|(_, _, bytes)| bytes).sum();
            if entries.map.len() >= self.entries_max || entries.bytes + cost > self.bytes_max {
                entries.map.clear();
                entries.bytes = 0;
            }
        }
        entries.bytes += cost;
        entries.map.insert(key, (Instant::now(), value, cost));
    }

    /// Forgets `key`: what this node believed about it is read again next time.
    pub fn remove(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some((_, _, cost)) = entries.map.remove(key)
        {
            entries.bytes -= cost;
        }
    }

    /// Bytes the entries hold, as [`HeapSize`] counts them; never above the cache's bound.
    pub fn bytes(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.bytes)
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The caches a server keeps.
#[derive(Default)]
pub struct Caches {
    merchants_by_login: TtlCache<String, Option<(Merchant, SecretDigest)>>,
    merchants_by_public_key: TtlCache<String, Option<Merchant>>,
    /// Shared, not copied, by every request that reads them.
    services: TtlCache<(), Arc<Vec<PaymentService>>>,
    merchant_services: TtlCache<MerchantId, Arc<Vec<(MerchantServiceId, PaymentService)>>>,
}

impl Caches {
    /// The merchant whose `api_login` and `api_secret` these are (the secret compared in
    /// constant time). A cached entry is believed only for a secret it accepts: a secret it
    /// refuses is checked against the database once more, so a merchant's new secret works at
    /// once after a rotation, on every node, and the node then refuses the old one too. A
    /// login that does not exist stays cached as such.
    pub async fn merchant_by_credentials(
        &self,
        store: &Store,
        login: &str,
        secret: &str,
    ) -> StoreResult<Option<Merchant>> {
        if login.len() > CREDENTIAL_LENGTH_MAX || secret.len() > CREDENTIAL_LENGTH_MAX {
            return Ok(None);
        }
        let accepted = |found: &Option<(Merchant, SecretDigest)>| {
            found
                .as_ref()
                .filter(|(_, digest)| digest.matches(secret))
                .map(|(merchant, _)| merchant.clone())
        };
        match self.merchants_by_login.get(&login.to_owned()) {
            Some(None) => return Ok(None),
            Some(cached) => {
                if let Some(merchant) = accepted(&cached) {
                    return Ok(Some(merchant));
                }
            }
            None => {}
        }
        let key = login.to_owned();
        let found = store
            .read(move |db| {
                Box::pin(async move { tenancy::find_merchant_by_login(db, &key).await })
            })
            .await?;
        self.merchants_by_login.put(login.to_owned(), found.clone());
        Ok(accepted(&found))
    }

    /// Forgets what this node believed about a merchant's login and public key, after a change
    /// made on this node (a rotated secret, new settings): the change takes effect here at
    /// once, on other nodes within [`CACHE_TTL`].
    pub fn forget_merchant(&self, login: &str, public_key: &str) {
        self.merchants_by_login.remove(&login.to_owned());
        self.merchants_by_public_key.remove(&public_key.to_owned());
    }

    /// The merchant with this public key (as for logins, an overlong key is nobody's).
    pub async fn merchant_by_public_key(
        &self,
        store: &Store,
        public_key: &str,
    ) -> StoreResult<Option<Merchant>> {
        if public_key.len() > CREDENTIAL_LENGTH_MAX {
            return Ok(None);
        }
        if let Some(found) = self.merchants_by_public_key.get(&public_key.to_owned()) {
            return Ok(found);
        }
        let key = public_key.to_owned();
        let found = store
            .read(move |db| {
                Box::pin(async move { tenancy::find_merchant_by_public_key(db, &key).await })
            })
            .await?;
        self.merchants_by_public_key
            .put(public_key.to_owned(), found.clone());
        Ok(found)
    }

    /// Bytes every cache holds, as their accounting counts them.
    pub fn bytes(&self) -> usize {
        self.merchants_by_login.bytes()
            + self.merchants_by_public_key.bytes()
            + self.services.bytes()
            + self.merchant_services.bytes()
    }

    /// Every service, with its fields.
    pub async fn services(&self, store: &Store) -> StoreResult<Arc<Vec<PaymentService>>> {
        if let Some(services) = self.services.get(&()) {
            return Ok(services);
        }
        let services = Arc::new(
            store
                .read(|db| Box::pin(catalog::list_services(db)))
                .await?,
        );
        self.services.put((), Arc::clone(&services));
        Ok(services)
    }

    /// A merchant's enabled services, with their link ids.
    pub async fn merchant_services(
        &self,
        store: &Store,
        merchant: MerchantId,
    ) -> StoreResult<Arc<Vec<(MerchantServiceId, PaymentService)>>> {
        if let Some(services) = self.merchant_services.get(&merchant) {
            return Ok(services);
        }
        let services = Arc::new(
            store
                .read(move |db| Box::pin(catalog::merchant_services(db, merchant)))
                .await?,
        );
        self.merchant_services.put(merchant, Arc::clone(&services));
        Ok(services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let cache: TtlCache<String, ()> = TtlCache::default();
        cache.put("1".to_owned(), ());
        assert_eq!(cache.get(&"1".to_owned()), Some(()));
        assert_eq!(cache.get(&"2".to_owned()), None);
        for key in 0..(CACHE_ENTRIES_MAX + 5) {
            cache.put(key.to_string(), ());
        }
        assert!(cache.len() <= CACHE_ENTRIES_MAX);
    }

    #[test]
    fn the_bytes_are_bounded_whatever_the_keys() {
        let bytes_max = 1024 * 1024;
        let cache: TtlCache<String, Option<String>> = TtlCache::with_limits(usize::MAX, bytes_max);
        let big = "u".repeat(64 * 1024);
        for index in 0..200 {
            cache.put(format!("{big}{index}"), Some(big.clone()));
            assert!(cache.bytes() <= bytes_max, "{}", cache.bytes());
        }
        assert!(cache.len() < 200);
        // Counted: each entry costs at least its key and value.
        assert!(cache.bytes() >= cache.len() * 2 * 64 * 1024);
        // An entry larger than the whole bound is not kept at all.
        cache.put("huge".to_owned(), Some("h".repeat(bytes_max)));
        assert_eq!(cache.get(&"huge".to_owned()), None);
        // Replacing an entry does not count it twice.
        let small: TtlCache<String, String> = TtlCache::default();
        small.put("k".to_owned(), "v".to_owned());
        let once = small.bytes();
        small.put("k".to_owned(), "v".to_owned());
        assert_eq!(small.bytes(), once);
    }
}
