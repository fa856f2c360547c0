//! How many attempts go to one merchant host at once, and how long a claimed callback may wait
//! for its turn. A host gets at most `per_host_concurrency` attempts at once, so one slow
//! receiver cannot take every connection; and a callback queued behind a slow host is given
//! back (due again a little later) rather than hold a share of the in-flight bound that the
//! other hosts could use, or outlive its lease while it waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hosts remembered at most; past this, the gates not in use are forgotten (bounded memory
/// whatever the number of merchant hosts).
const HOSTS_MAX: usize = 10_000;
/// Weight of the newest attempt in a host's running mean duration, in 1/16ths.
const MEAN_WEIGHT_SIXTEENTHS: u64 = 4;

/// The gates of every host this node sends to.
pub(super) struct Hosts {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    per_host_concurrency: usize,
}

/// One host's gate: its permits, the callbacks waiting for one, and how long its attempts
/// take lately.
pub(super) struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    mean_duration_micros: AtomicU64,
    per_host_concurrency: usize,
}

/// Why a callback did not get its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoTurn {
    /// The host's queue would take longer than the wait allowed.
    Busy,
    /// The wait allowed ran out.
    TimedOut,
}

impl Hosts {
    pub(super) fn new(per_host_concurrency: usize) -> Hosts {
        Hosts {
            gates: Mutex::new(HashMap::new()),
            per_host_concurrency: per_host_concurrency.max(1),
        }
    }

    /// The gate of `url`'s host (one gate for every URL whose host cannot be read: such a
    /// URL fails at once anyway).
    pub(super) fn gate(&self, url: &str) -> Arc<Gate> {
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        let Ok(mut gates) = self.gates.lock() else {
            return Arc::new(Gate::new(self.per_host_concurrency));
        };
        if !gates.contains_key(&host) && gates.len() >= HOSTS_MAX {
            // Only this map holds a gate nobody is using.
            gates.retain(|_, gate| Arc::strong_count(gate) > 1);
        }
        Arc::clone(
            gates
                .entry(host)
                .or_insert_with(|| Arc::new(Gate::new(self.per_host_concurrency))),
        )
    }
}

impl Gate {
    fn new(per_host_concurrency: usize) -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(per_host_concurrency)),
            waiting: AtomicUsize::new(0),
            mean_duration_micros: AtomicU64::new(0),
            per_host_concurrency,
        }
    }

    /// A turn to send to this host: at once if one is free; otherwise after waiting at most
    /// `wait_max`, unless the callbacks already waiting would take longer than that to go
    /// (judged by how long this host's attempts take lately), then not at all.
    pub(super) async fn turn(&self, wait_max: Duration) -> Result<OwnedSemaphorePermit, NoTurn> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.load(Ordering::Relaxed) as u64 + 1;
        let rounds = ahead.div_ceil(self.per_host_concurrency as u64);
        let expected =
            Duration::from_micros(rounds * self.mean_duration_micros.load(Ordering::Relaxed));
        if expected > wait_max {
            return Err(NoTurn::Busy);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit =
            tokio::time::timeout(wait_max, Arc::clone(&self.permits).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a timeout is the only way to get here in practice.
            Ok(Err(_)) | Err(_) => Err(NoTurn::TimedOut),
        }
    }

    /// Notes how long an attempt to this host took.
    pub(super) fn observe(&self, elapsed: Duration) {
        let sample = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let old = self.mean_duration_micros.load(Ordering::Relaxed);
        let mean = if old == 0 {
            sample
        } else {
            (old.saturating_mul(16 - MEAN_WEIGHT_SIXTEENTHS))
                .saturating_add(sample.saturating_mul(MEAN_WEIGHT_SIXTEENTHS))
                / 16
        };
        self.mean_duration_micros.store(mean, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_gets_its_bound_and_a_slow_hosts_queue_is_refused() {
        let hosts = Hosts::new(2);
        let gate = hosts.gate("http://shop.example/callbacks");
        assert!(Arc::ptr_eq(
            &gate,
            &hosts.gate("https://shop.example:8443/other")
        ));
        assert!(!Arc::ptr_eq(&gate, &hosts.gate("http://other.example/")));
        let first = gate.turn(Duration::from_millis(10)).await.unwrap();
        let _second = gate.turn(Duration::from_millis(10)).await.unwrap();
        // Nothing known about the host yet: a third waits, and times out.
        assert_eq!(
            gate.turn(Duration::from_millis(10)).await.unwrap_err(),
            NoTurn::TimedOut
        );
        // A turn given back goes to the next one waiting.
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.turn(Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        drop(first);
        let _third = waiting.await.unwrap().unwrap();
        // Once attempts are known to take 30 s, nobody queues for a wait of 5 s.
        gate.observe(Duration::from_secs(30));
        assert_eq!(
            gate.turn(Duration::from_secs(5)).await.unwrap_err(),
            NoTurn::Busy
        );
    }

    #[test]
    fn the_mean_follows_the_latest_attempts() {
        let gate = Gate::new(1);
        gate.observe(Duration::from_millis(100));
        assert_eq!(gate.mean_duration_micros.load(Ordering::Relaxed), 100_000);
        for _ in 0..40 {
            gate.observe(Duration::from_millis(1));
        }
        assert!(gate.mean_duration_micros.load(Ordering::Relaxed) < 2_000);
    }

    #[test]
    fn unused_gates_are_forgotten_past_the_bound() {
        let hosts = Hosts::new(1);
        let kept = hosts.gate("http://kept.example/");
        for index in 0..HOSTS_MAX + 10 {
            hosts.gate(&format!("http://host-{index}.example/"));
        }
        let count = hosts.gates.lock().map(|gates| gates.len()).unwrap_or(0);
        assert!(count <= HOSTS_MAX, "{count}");
        assert!(Arc::ptr_eq(&kept, &hosts.gate("http://kept.example/")));
    }
}
