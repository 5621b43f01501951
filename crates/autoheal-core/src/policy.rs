//! A target's policy: when and how to heal. Plain data with documented
//! defaults; the config layer builds it, the engine reads it.

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
        let base = self.initial.as_secs_f64() * self.factor.max(1.0).powi((n - 1).min(64) as i32);
        let capped = base.min(self.max.as_secs_f64()).max(0.0);
        Duration::from_secs_f64(capped)
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
