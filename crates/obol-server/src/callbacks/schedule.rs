//! When a failed callback is tried again, per dialect (SPEC §5).

use obol_core::Timestamp;
use obol_store::ops::callbacks::AfterFailure;

/// Paymega: 1, 2, 3, … minutes apart, at most 100 attempts.
pub const PAYMEGA_ATTEMPTS_MAX: i64 = 100;
/// P2P: after 5 s, 5 min, 1 h, 2 h and 24 h, then no more.
const P2P_RETRY_SECONDS: [i64; 5] = [5, 300, 3600, 7200, 86_400];
/// Other dialects: exponential backoff from 30 seconds, at most 6 hours apart, for 3 days.
const BACKOFF_FIRST_SECONDS: i64 = 30;
const BACKOFF_MAX_SECONDS: i64 = 6 * 3600;
const BACKOFF_GIVE_UP_AFTER_SECONDS: i64 = 3 * 86_400 + 3600;

/// What happens after the `attempts`-th attempt (counting this one) failed. `jitter` is a
/// random number; only the exponential schedule uses it, to spread retries of many callbacks.
pub fn after_failure(
    dialect: &str,
    attempts: i64,
    created_at: Timestamp,
    now: Timestamp,
    jitter: u32,
) -> AfterFailure {
    match dialect {
        "p2p" => match P2P_RETRY_SECONDS.get(usize::try_from(attempts - 1).unwrap_or(usize::MAX)) {
            Some(delay) => AfterFailure::RetryAt(now.plus_seconds(*delay)),
            None => AfterFailure::GiveUp(format!("gave up after {attempts} attempts")),
        },
        "paymega" => {
            if attempts >= PAYMEGA_ATTEMPTS_MAX {
                AfterFailure::GiveUp(format!("gave up after {attempts} attempts"))
            } else {
                AfterFailure::RetryAt(now.plus_seconds(60 * attempts))
            }
        }
        _ => {
            if now.unix_seconds() - created_at.unix_seconds() >= BACKOFF_GIVE_UP_AFTER_SECONDS {
                return AfterFailure::GiveUp(format!(
                    "gave up after {attempts} attempts over 3 days"
                ));
            }
            let exponent = (attempts - 1).clamp(0, 20) as u32;
            let delay =
                (BACKOFF_FIRST_SECONDS.saturating_mul(1i64 << exponent)).min(BACKOFF_MAX_SECONDS);
            // ±20 % jitter.
            let spread = delay / 5;
            let offset = if spread > 0 {
                i64::from(jitter) % (2 * spread + 1) - spread
            } else {
                0
            };
            AfterFailure::RetryAt(now.plus_seconds(delay + offset))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2p_retries_on_its_five_step_schedule() {
        let start = Timestamp::from_unix_seconds(1_000);
        let delays: Vec<_> = (1..=5)
            .map(
                |attempts| match after_failure("p2p", attempts, start, start, 0) {
                    AfterFailure::RetryAt(at) => at.unix_seconds() - start.unix_seconds(),
                    AfterFailure::GiveUp(_) => -1,
                },
            )
            .collect();
        assert_eq!(delays, [5, 300, 3600, 7200, 86_400]);
        assert!(matches!(
            after_failure("p2p", 6, start, start, 0),
            AfterFailure::GiveUp(_)
        ));
    }

    #[test]
    fn paymega_retries_minutes_apart_then_gives_up() {
        let start = Timestamp::from_unix_seconds(1_000_000);
        assert_eq!(
            after_failure("paymega", 1, start, start, 0),
            AfterFailure::RetryAt(start.plus_seconds(60))
        );
        assert_eq!(
            after_failure("paymega", 3, start, start, 0),
            AfterFailure::RetryAt(start.plus_seconds(180))
        );
        assert!(matches!(
            after_failure("paymega", 100, start, start, 0),
            AfterFailure::GiveUp(_)
        ));
    }

    #[test]
    fn others_back_off_exponentially_for_three_days() {
        let start = Timestamp::from_unix_seconds(1_000_000);
        let mut now = start;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match after_failure("softline", attempts, start, now, 7) {
                AfterFailure::RetryAt(next) => {
                    assert!(next > now);
                    assert!(
                        next.unix_seconds() - now.unix_seconds()
                            <= BACKOFF_MAX_SECONDS + BACKOFF_MAX_SECONDS / 5
                    );
                    now = next;
                }
                AfterFailure::GiveUp(_) => break,
            }
        }
        assert!(
            now.unix_seconds() - start.unix_seconds() >= 3 * 86_400,
            "retries span at least three days"
        );
        assert!(attempts < 40);
    }
}
