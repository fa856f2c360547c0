//! Slows down repeated failed authentication (SPEC §8) without letting anyone lock a
//! legitimate user out.
//!
//! Failures are counted twice: per client address and per credential (an API login, a
//! public key, the first characters of a token). The two counts do different things:
//!
//! - an **address** over its limit is refused (429) before anything is checked, whatever it
//!   presents: it pays nothing but this table's look-up, and its guesses slow to one per
//!   [`ADDRESS_DRAIN`];
//! - a **credential** over its limit is refused only when the attempt is wrong: the right
//!   secret from an address that is not itself over its limit is accepted, so an attacker who
//!   hammers someone's login from elsewhere slows down only their own guesses.
//!
//! Each count is a leaky bucket kept as one "theoretical arrival time" (GCRA): a failure
//! pushes it one drain interval further, time drains it. The counts live in two fixed-size,
//! set-associative tables allocated once: memory does not grow with the number of addresses
//! or credentials an attacker sprays, entries expire when drained, and a full set gives up its
//! least loaded entry. Keys are keyed hashes (SipHash with a key drawn at start), so the table
//! holds no credential, not even a prefix, and nobody can aim entries at one set. Time comes
//! from the caller (the injected clock).

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;

use obol_core::Timestamp;

/// Failures an address may make at once before it is refused.
pub const ADDRESS_BURST: i64 = 20;
/// After the burst, one more attempt per address this often (microseconds): 20 per minute.
pub const ADDRESS_DRAIN: i64 = 3_000_000;
/// Wrong attempts one credential may take at once before wrong attempts get 429.
pub const CREDENTIAL_BURST: i64 = 10;
/// After the burst, one more wrong attempt per credential this often: 10 per minute.
pub const CREDENTIAL_DRAIN: i64 = 6_000_000;
/// Characters of a token that identify it here: enough to tell tokens apart, and the table
/// keeps even those only hashed.
pub const TOKEN_PREFIX_CHARS: usize = 12;
/// Entries per set, and sets per table: 16,384 entries of 16 bytes per table, allocated once.
const WAYS: usize = 8;
const SETS: usize = 2_048;

/// A refusal: try again after this many seconds (`Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_s: u64,
}

/// What a failure is counted against, besides the address.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// A name that finds an account and is not secret: an API login, a public key. Counted
    /// whole.
    Name(&'a str),
    /// A secret that is its own look-up key (bearer, refresh and manager tokens, P2P client
    /// and session ids): counted by its first [`TOKEN_PREFIX_CHARS`] characters.
    Token(&'a str),
}

/// The failure counts of one server.
pub struct AuthThrottle {
    addresses: FailureTable,
    credentials: FailureTable,
    hasher: RandomState,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        AuthThrottle {
            addresses: FailureTable::new(ADDRESS_BURST, ADDRESS_DRAIN),
            credentials: FailureTable::new(CREDENTIAL_BURST, CREDENTIAL_DRAIN),
            hasher: RandomState::new(),
        }
    }
}

impl AuthThrottle {
    /// Before any check: refuses an address over its limit. `client` is the address
    /// [`crate::auth::ClientIp`] found (none in some in-process calls: then only credentials
    /// are counted).
    pub fn admit(&self, client: Option<&str>, now: Timestamp) -> Result<Attempt<'_>, Throttled> {
        let address = client
            .and_then(|text| text.parse::<IpAddr>().ok())
            .map(|address| self.address_key(address));
        if let Some(key) = address {
            self.addresses.refuses(key, now.unix_micros())?;
        }
        Ok(Attempt {
            throttle: self,
            address,
            now: now.unix_micros(),
        })
    }

    /// An address's key. An IPv6 host usually holds a whole /64, so that is what is counted.
    fn address_key(&self, address: IpAddr) -> u64 {
        match address.to_canonical() {
            IpAddr::V4(v4) => self.hasher.hash_one((4u8, v4.octets())),
            IpAddr::V6(v6) => {
                let octets = v6.octets();
                self.hasher.hash_one((6u8, &octets[..8]))
            }
        }
    }

    fn credential_key(&self, credential: Credential<'_>) -> u64 {
        match credential {
            Credential::Name(name) => self.hasher.hash_one((0u8, name)),
            Credential::Token(token) => {
                let end = token
                    .char_indices()
                    .nth(TOKEN_PREFIX_CHARS)
                    .map_or(token.len(), |(index, _)| index);
                self.hasher.hash_one((1u8, &token[..end]))
            }
        }
    }

    /// Bytes the tables hold: fixed at start, whatever is sprayed at them.
    pub fn bytes(&self) -> usize {
        self.addresses.bytes() + self.credentials.bytes()
    }
}

/// An authentication attempt that was let in.
pub struct Attempt<'a> {
    throttle: &'a AuthThrottle,
    address: Option<u64>,
    now: i64,
}

impl Attempt<'_> {
    /// Counts a failed check against the address and, when one was presented, the credential.
    /// Answers a refusal when that credential is now over its limit: the caller then answers
    /// 429 instead of its 401, so a guess learns nothing and the guesser waits.
    pub fn failed(&self, credential: Option<Credential<'_>>) -> Option<Throttled> {
        if let Some(key) = self.address {
            self.throttle.addresses.add(key, self.now);
        }
        let key = self.throttle.credential_key(credential?);
        self.throttle.credentials.add(key, self.now)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    /// When the count will have drained to zero (Unix microseconds); at or before now the slot
    /// is free.
    drained_at: i64,
}

/// A fixed-size set-associative table of leaky buckets.
struct FailureTable {
    sets: Box<[Mutex<[Slot; WAYS]>]>,
    burst: i64,
    drain: i64,
}

impl FailureTable {
    fn new(burst: i64, drain: i64) -> FailureTable {
        FailureTable {
            sets: (0..SETS)
                .map(|_| Mutex::new([Slot::default(); WAYS]))
                .collect(),
            burst,
            drain,
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.sets)
    }

    fn set(&self, key: u64) -> &Mutex<[Slot; WAYS]> {
        // The key is a keyed hash: its low bits are as good as any.
        &self.sets[(key as usize) % self.sets.len()]
    }

    /// Refuses when `burst` failures are outstanding: the next one waits until one drained.
    fn refuses(&self, key: u64, now: i64) -> Result<(), Throttled> {
        let Ok(set) = self.set(key).lock() else {
            return Ok(());
        };
        let outstanding = set
            .iter()
            .find(|slot| slot.key == key && slot.drained_at > now)
            .map_or(0, |slot| slot.drained_at - now);
        let allowed = (self.burst - 1) * self.drain;
        if outstanding > allowed {
            Err(retry_after(outstanding - allowed))
        } else {
            Ok(())
        }
    }

    /// Adds a failure; answers a refusal when it went over the burst. The count stops one
    /// failure above the burst, so the refusal ends soon after the failures stop.
    fn add(&self, key: u64, now: i64) -> Option<Throttled> {
        let Ok(mut set) = self.set(key).lock() else {
            return None;
        };
        let ceiling = now + (self.burst + 1) * self.drain;
        let index = match set
            .iter()
            .position(|slot| slot.key == key && slot.drained_at > now)
        {
            Some(index) => index,
            None => {
                // A free slot, else the one closest to draining.
                let index = set
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, slot)| slot.drained_at)
                    .map_or(0, |(index, _)| index);
                set[index] = Slot {
                    key,
                    drained_at: now,
                };
                index
            }
        };
        let slot = &mut set[index];
        slot.drained_at = (slot.drained_at.max(now) + self.drain).min(ceiling);
        let outstanding = slot.drained_at - now;
        let allowed = self.burst * self.drain;
        (outstanding > allowed).then(|| retry_after(outstanding - allowed))
    }
}

fn retry_after(micros: i64) -> Throttled {
    Throttled {
        retry_after_s: u64::try_from((micros + 999_999) / 1_000_000)
            .unwrap_or(1)
            .max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: Timestamp = Timestamp::from_unix_seconds(1_763_900_000);

    fn later(seconds: i64) -> Timestamp {
        START.plus_seconds(seconds)
    }

    #[test]
    fn an_address_over_its_limit_is_refused_before_any_check() {
        let throttle = AuthThrottle::default();
        let attacker = Some("203.0.113.9");
        for _ in 0..ADDRESS_BURST {
            let attempt = throttle.admit(attacker, START).expect("within the burst");
            attempt.failed(None);
        }
        let refused = throttle
            .admit(attacker, START)
            .err()
            .expect("over the limit");
        assert_eq!(refused.retry_after_s, 3);
        // Another address is not concerned.
        assert!(throttle.admit(Some("203.0.113.10"), START).is_ok());
        // Time drains the count: one attempt per drain interval.
        assert!(throttle.admit(attacker, later(3)).is_ok());
        throttle.admit(attacker, later(3)).unwrap().failed(None);
        assert!(throttle.admit(attacker, later(3)).is_err());
        assert!(throttle.admit(attacker, later(3 + 60)).is_ok());
    }

    #[test]
    fn a_credential_over_its_limit_refuses_only_wrong_attempts() {
        let throttle = AuthThrottle::default();
        let login = Credential::Name("m4docs");
        let mut verdicts = Vec::new();
        for index in 0..(CREDENTIAL_BURST + 3) {
            // From many addresses, so that no address is over its own limit.
            let address = format!("198.51.100.{index}");
            let attempt = throttle.admit(Some(&address), START).unwrap();
            verdicts.push(attempt.failed(Some(login)));
        }
        assert!(
            verdicts[..CREDENTIAL_BURST as usize]
                .iter()
                .all(Option::is_none)
        );
        assert!(
            verdicts[CREDENTIAL_BURST as usize..]
                .iter()
                .all(Option::is_some)
        );
        // The right secret is checked by the caller and never reported as a failure: the
        // throttle lets a fresh address in.
        assert!(throttle.admit(Some("192.0.2.1"), START).is_ok());
        // Another login is not concerned.
        let other = throttle.admit(Some("192.0.2.2"), START).unwrap();
        assert_eq!(other.failed(Some(Credential::Name("m5other"))), None);
        // The count stops just above the burst: two intervals after the last failure a wrong
        // attempt is a plain failure again.
        let attempt = throttle.admit(Some("192.0.2.3"), later(12)).unwrap();
        assert_eq!(attempt.failed(Some(login)), None);
    }

    #[test]
    fn tokens_count_by_prefix_and_ipv6_by_network() {
        let throttle = AuthThrottle::default();
        let token = |suffix: &str| format!("AAAAAAAAAAAA{suffix}");
        for index in 0..CREDENTIAL_BURST {
            let attempt = throttle.admit(None, START).unwrap();
            assert_eq!(
                attempt.failed(Some(Credential::Token(&token(&index.to_string())))),
                None
            );
        }
        let attempt = throttle.admit(None, START).unwrap();
        assert!(
            attempt
                .failed(Some(Credential::Token(&token("x"))))
                .is_some()
        );
        // One /64 is one client.
        for index in 0..ADDRESS_BURST {
            let address = format!("2001:db8:1:2::{index:x}");
            throttle.admit(Some(&address), START).unwrap().failed(None);
        }
        assert!(throttle.admit(Some("2001:db8:1:2::ffff"), START).is_err());
        assert!(throttle.admit(Some("2001:db8:1:3::1"), START).is_ok());
    }

    #[test]
    fn memory_is_fixed_whatever_is_sprayed() {
        let throttle = AuthThrottle::default();
        let before = throttle.bytes();
        assert!(before <= 2 * SETS * WAYS * 16 + 2 * SETS * 64, "{before}");
        for index in 0..20_000u32 {
            let address = std::net::Ipv4Addr::from(index.wrapping_mul(2_654_435_761));
            let attempt = throttle.admit(Some(&address.to_string()), START).unwrap();
            attempt.failed(Some(Credential::Name(&format!("login{index}"))));
        }
        assert_eq!(throttle.bytes(), before);
    }

    #[test]
    fn a_full_set_keeps_its_most_loaded_entries() {
        let table = FailureTable::new(3, 1_000_000);
        let now = 0;
        // Keys that all fall in set 0.
        let keys: Vec<u64> = (1..=(WAYS as u64 + 4)).map(|n| n * SETS as u64).collect();
        for _ in 0..5 {
            table.add(keys[0], now);
        }
        for key in &keys[1..] {
            table.add(*key, now);
        }
        assert!(
            table.refuses(keys[0], now).is_err(),
            "the attacked key survived"
        );
    }
}
