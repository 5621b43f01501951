//! When a delivery that did not go through is tried again.
//!
//! Pure: the number of tries so far, what the receiver asked for
//! (`Retry-After`) and a random number in, the delay (or "give up") out.
//! Backoff over hours, as Standard Webhooks suggests: at once, 5 s, 30 s,
//! 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every 6 h up to 24 h after the
//! first try; each delay spread by up to a fifth either way so a receiver
//! that comes back is not met by every sender at once. A receiver's own
//! `Retry-After` is obeyed when it asks for longer.

use std::time::Duration;

/// The delays after the 1st, 2nd, ... failed try, before the spread.
const STEPS: [u64; 9] = [5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 21_600];

/// How long a delivery is tried before it is dead-lettered.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The longest `Retry-After` obeyed (beyond it, the schedule's own delay).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The delay before the next try after `tries` failed ones (1 = the first
/// failed), the receiver's `retry_after` if it gave one, `spread` uniform
/// in [0, 1). `None`: give up (`since_first` is past [`GIVE_UP_AFTER`]).
pub fn next_delay(
    tries: u32,
    retry_after: Option<Duration>,
    since_first: Duration,
    spread: f64,
) -> Option<Duration> {
    let step = STEPS[(tries.max(1) as usize - 1).min(STEPS.len() - 1)];
    let factor = 0.8 + 0.4 * spread.clamp(0.0, 1.0);
    let mut delay = Duration::from_secs_f64(step as f64 * factor);
    if let Some(asked) = retry_after {
        delay = delay.max(asked.min(MAX_RETRY_AFTER));
    }
    (since_first.saturating_add(delay) <= GIVE_UP_AFTER).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_over_hours_then_gives_up() {
        let d = |tries, since| next_delay(tries, None, Duration::from_secs(since), 0.5);
        assert_eq!(d(1, 0), Some(Duration::from_secs(5)));
        assert_eq!(d(2, 5), Some(Duration::from_secs(30)));
        assert_eq!(d(9, 3600), Some(Duration::from_secs(21_600)));
        assert_eq!(d(40, 3600), Some(Duration::from_secs(21_600)), "capped");
        assert_eq!(d(12, 23 * 3600), None, "past a day: dead letter");
        let mut since = Duration::ZERO;
        let mut tries = 0;
        while let Some(delay) = next_delay(tries + 1, None, since, 0.99) {
            since += delay;
            tries += 1;
            assert!(tries < 30, "ends");
        }
        assert!(since <= GIVE_UP_AFTER && since > Duration::from_secs(18 * 3600));
    }

    #[test]
    fn retry_after_is_obeyed_within_reason_and_the_spread_stays_within_a_fifth() {
        let asked = Some(Duration::from_secs(90));
        assert_eq!(
            next_delay(1, asked, Duration::ZERO, 0.0),
            Some(Duration::from_secs(90))
        );
        let huge = Some(Duration::from_secs(10 * 24 * 3600));
        assert_eq!(
            next_delay(1, huge, Duration::ZERO, 0.0),
            Some(MAX_RETRY_AFTER)
        );
        for i in 0..=100 {
            let d = next_delay(3, None, Duration::ZERO, i as f64 / 100.0).unwrap();
            assert!(
                d >= Duration::from_secs(96) && d <= Duration::from_secs(144),
                "{d:?}"
            );
        }
    }
}
