//! When a failed callback is tried again (SPEC §5): the schedules dialects pick from, through
//! their [`crate::door::CallbackFormat`].

use obol_core::Timestamp;
use obol_store::ops::callbacks::AfterFailure;

/// Other dialects: exponential backoff from 30 seconds, at most 6 hours apart, for 3 days.
const BACKOFF_FIRST_SECONDS: i64 = 30;
const BACKOFF_MAX_SECONDS: i64 = 6 * 3600;
const BACKOFF_GIVE_UP_AFTER_SECONDS: i64 = 3 * 86_400 + 3600;

/// A fixed list of waits: after the n-th failed attempt, wait `delays_seconds[n - 1]`; after
/// the last, give up (P2P: 5 s, 5 min, 1 h, 2 h, 24 h).
pub fn fixed_steps(delays_seconds: &[i64], attempts: i64, now: Timestamp) -> AfterFailure {
    match delays_seconds.get(usize::try_from(attempts - 1).unwrap_or(usize::MAX)) {
        Some(delay) => AfterFailure::RetryAt(now.plus_seconds(*delay)),
        None => AfterFailure::GiveUp(format!("gave up after {attempts} attempts")),
    }
}

/// Linear waits: `attempts` minutes after the n-th failure, at most `attempts_max` attempts
/// (Paymega: 1, 2, 3, … minutes apart, at most 100 attempts).
pub fn minutes_apart(attempts_max: i64, attempts: i64, now: Timestamp) -> AfterFailure {
    if attempts >= attempts_max {
        AfterFailure::GiveUp(format!("gave up after {attempts} attempts"))
    } else {
        AfterFailure::RetryAt(now.plus_seconds(60 * attempts))
    }
}

/// The default: exponential backoff from 30 seconds, at most 6 hours apart, for 3 days, with
/// ±20 % jitter (`jitter` is a random number) to spread retries of many callbacks.
pub fn backoff(attempts: i64, created_at: Timestamp, now: Timestamp, jitter: u32) -> AfterFailure {
    if now.unix_seconds() - created_at.unix_seconds() >= BACKOFF_GIVE_UP_AFTER_SECONDS {
        return AfterFailure::GiveUp(format!("gave up after {attempts} attempts over 3 days"));
    }
    let exponent = (attempts - 1).clamp(0, 20) as u32;
    let delay = (BACKOFF_FIRST_SECONDS.saturating_mul(1i64 << exponent)).min(BACKOFF_MAX_SECONDS);
    let spread = delay / 5;
    let offset = if spread > 0 {
        i64::from(jitter) % (2 * spread + 1) - spread
    } else {
        0
    };
    AfterFailure::RetryAt(now.plus_seconds(delay + offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2p_retries_on_its_five_step_schedule() {
        let start = Timestamp::from_unix_seconds(1_000);
        let delays: Vec<_> = (1..=5)
            .map(
                |attempts| match fixed_steps(&[5, 300, 3600, 7200, 86_400], attempts, start) {
                    AfterFailure::RetryAt(at) => at.unix_seconds() - start.unix_seconds(),
                    AfterFailure::GiveUp(_) => -1,
                },
            )
            .collect();
        assert_eq!(delays, [5, 300, 3600, 7200, 86_400]);
        assert!(matches!(
            fixed_steps(&[5, 300, 3600, 7200, 86_400], 6, start),
            AfterFailure::GiveUp(_)
        ));
    }

    #[test]
    fn paymega_retries_minutes_apart_then_gives_up() {
        let start = Timestamp::from_unix_seconds(1_000_000);
        assert_eq!(
            minutes_apart(100, 1, start),
            AfterFailure::RetryAt(start.plus_seconds(60))
        );
        assert_eq!(
            minutes_apart(100, 3, start),
            AfterFailure::RetryAt(start.plus_seconds(180))
        );
        assert!(matches!(
            minutes_apart(100, 100, start),
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
            match backoff(attempts, start, now, 7) {
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
