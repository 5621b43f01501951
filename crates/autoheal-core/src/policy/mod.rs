//! A target's policy: when and how to heal. Plain data with documented
//! defaults; the config layer builds it, the engine reads it.

pub mod limits;

use crate::MaintenanceWindow;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One step of the escalation ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    /// Name of the action to run (resolved by the shell).
    pub action: String,
    /// After the action ends: how long to wait for `success_threshold`
    /// consecutive ups before calling the rung failed.
    pub verify: Duration,
    /// How many times this rung runs (within one incident) before the ladder
    /// moves to the next rung. Default 1.
    pub repeat: u32,
}

/// Exponential backoff between repeated actions on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// Gap before the second action (the first runs at once). Default 10 s.
    pub initial: Duration,
    /// Growth per further action. Default 2.0.
    pub factor: f64,
    /// Largest gap. Default 300 s (kubelet's CrashLoopBackOff cap).
    pub max: Duration,
    /// Random spread, as a fraction of the gap, added (never subtracted) so
    /// gaps never shrink. Default 0.1. Drawn from the engine's seeded PRNG.
    pub jitter: f64,
    /// Backoff resets after the target stayed healthy this long. Default 10 min.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            factor: 2.0,
            max: Duration::from_secs(300),
            jitter: 0.1,
            reset_after: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The gap before action number `n + 1` when `n` actions ran since the last
    /// reset (`n == 0` → no gap), before jitter. Never decreases in `n`.
    pub fn gap(&self, n: u32) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        if self.initial.is_zero() {
            return Duration::ZERO;
        }
        // Any factor and any durations: NaN, infinity and values past
        // `Duration::MAX` end at the cap, never in a panic.
        let factor = if self.factor.is_nan() {
            1.0
        } else {
            self.factor.max(1.0)
        };
        let base = self.initial.as_secs_f64() * factor.powi((n - 1).min(64) as i32);
        match Duration::try_from_secs_f64(base) {
            Ok(d) => d.min(self.max),
            Err(_) => self.max,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Failures within `failure_window` that open an incident. Default 3.
    pub failure_threshold: u32,
    /// Real-time window for counting failures. Default 60 s.
    pub failure_window: Duration,
    /// Consecutive ups that mean recovered. Default 1.
    pub success_threshold: u32,
    /// After the target (or autoheal) starts, failures are not counted for
    /// this long. Default 0 s.
    pub start_period: Duration,
    /// Count degraded observations as failures. Default false.
    pub degraded_is_failure: bool,
    /// Minimum quiet time after any action ends. Default 60 s.
    pub cooldown: Duration,
    pub backoff: Backoff,
    /// At most this many actions within `actions_window`, then quarantine.
    /// Default 5.
    pub max_actions: u32,
    /// Default 1 h.
    pub actions_window: Duration,
    /// Ordered actions. Empty = observe only (incidents, no healing).
    pub ladder: Vec<Rung>,
    /// Leave quarantine by itself after a verified recovery. Default false.
    pub auto_release: bool,
    /// After a recovery, the incident stays open this long (closed then,
    /// with the recovery's time as its end): a failure within it is a flap
    /// of the same incident, counted, not a new incident. Default 0 (close
    /// at once).
    #[serde(default)]
    pub flap_window: Duration,
    /// Targets this one depends on, by engine id (the shell resolves names).
    pub depends_on: Vec<crate::TargetId>,
    pub maintenance: Vec<MaintenanceWindow>,
    /// Decide and record everything, act on nothing. Default false.
    pub dry_run: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            failure_window: Duration::from_secs(60),
            success_threshold: 1,
            start_period: Duration::ZERO,
            degraded_is_failure: false,
            cooldown: Duration::from_secs(60),
            backoff: Backoff::default(),
            max_actions: 5,
            actions_window: Duration::from_secs(3600),
            ladder: Vec::new(),
            auto_release: false,
            flap_window: Duration::ZERO,
            depends_on: Vec::new(),
            maintenance: Vec::new(),
            dry_run: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_gap_never_panics_and_stops_at_the_cap() {
        let huge = Backoff {
            initial: Duration::from_secs(u64::MAX),
            factor: 2.0,
            max: Duration::from_secs(u64::MAX),
            ..Backoff::default()
        };
        assert_eq!(huge.gap(1), Duration::from_secs(u64::MAX));
        assert_eq!(huge.gap(u32::MAX), Duration::from_secs(u64::MAX));
        let max = Backoff {
            initial: Duration::MAX,
            factor: f64::INFINITY,
            max: Duration::MAX,
            ..Backoff::default()
        };
        assert_eq!(max.gap(3), Duration::MAX);
        let nan = Backoff {
            factor: f64::NAN,
            ..Backoff::default()
        };
        assert_eq!(nan.gap(5), Duration::from_secs(10));
        let d = Backoff::default();
        assert_eq!(d.gap(0), Duration::ZERO);
        assert_eq!(d.gap(1), Duration::from_secs(10));
        assert_eq!(d.gap(2), Duration::from_secs(20));
        assert_eq!(d.gap(100), Duration::from_secs(300));
    }
}
