//! Short-lived caches for what every request reads and almost never changes: credentials,
//! the service catalog, a merchant's enabled services. SPEC §2 allows a verified credential to
//! be cached for a few seconds; nothing is cached longer than [`CACHE_TTL`], so a change (a
//! revoked secret, a disabled service) takes effect within that time on every node.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use obol_core::catalog::PaymentService;
use obol_core::credentials::SecretDigest;
use obol_core::ids::{MerchantId, MerchantServiceId};
use obol_core::tenancy::Merchant;
use obol_store::ops::{catalog, tenancy};
use obol_store::{Store, StoreResult};

/// How long an entry is believed.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries kept per cache; past this the cache starts over (bounded memory under key spraying).
const CACHE_ENTRIES_MAX: usize = 10_000;

/// A map whose entries expire.
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_ENTRIES_MAX {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), value));
        }
    }
}

/// The caches a server keeps.
#[derive(Default)]
pub struct Caches {
    merchants_by_login: TtlCache<String, Option<(Merchant, SecretDigest)>>,
    merchants_by_public_key: TtlCache<String, Option<Merchant>>,
    services: TtlCache<(), Vec<PaymentService>>,
    merchant_services: TtlCache<MerchantId, Vec<(MerchantServiceId, PaymentService)>>,
}

impl Caches {
    pub async fn merchant_by_login(
        &self,
        store: &Store,
        login: &str,
    ) -> StoreResult<Option<(Merchant, SecretDigest)>> {
        if let Some(found) = self.merchants_by_login.get(&login.to_owned()) {
            return Ok(found);
        }
        let key = login.to_owned();
        let found = store
            .read(move |db| {
                Box::pin(async move { tenancy::find_merchant_by_login(db, &key).await })
            })
            .await?;
        self.merchants_by_login.put(login.to_owned(), found.clone());
        Ok(found)
    }

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

    pub async fn merchant_by_public_key(
        &self,
        store: &Store,
        public_key: &str,
    ) -> StoreResult<Option<Merchant>> {
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

    /// Every service, with its fields.
    pub async fn services(&self, store: &Store) -> StoreResult<Vec<PaymentService>> {
        if let Some(services) = self.services.get(&()) {
            return Ok(services);
        }
        let services = store
            .read(|db| Box::pin(catalog::list_services(db)))
            .await?;
        self.services.put((), services.clone());
        Ok(services)
    }

    /// A merchant's enabled services, with their link ids.
    pub async fn merchant_services(
        &self,
        store: &Store,
        merchant: MerchantId,
    ) -> StoreResult<Vec<(MerchantServiceId, PaymentService)>> {
        if let Some(services) = self.merchant_services.get(&merchant) {
            return Ok(services);
        }
        let services = store
            .read(move |db| Box::pin(catalog::merchant_services(db, merchant)))
            .await?;
        self.merchant_services.put(merchant, services.clone());
        Ok(services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let cache: TtlCache<u32, u32> = TtlCache::default();
        cache.put(1, 10);
        assert_eq!(cache.get(&1), Some(10));
        assert_eq!(cache.get(&2), None);
        for key in 0..(CACHE_ENTRIES_MAX as u32 + 5) {
            cache.put(key, key);
        }
        assert!(cache.entries.lock().unwrap().len() <= CACHE_ENTRIES_MAX);
    }
}
