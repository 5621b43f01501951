//! Checks: how a target is observed.
//!
//! Every check config carries its own schedule: `interval` (default `10s`,
//! how often the supervisor runs it) and `timeout` (default `5s`, the most
//! one probe may take; the check enforces it itself and reports
//! "timeout after 5s" as `Down`). Both configs and runtimes implement
//! [`Scheduled`] so the supervisor reads them without knowing the type.
//! Jitter is left to the supervisor (it owns the RNG and the clock).

use std::time::Duration;

use async_trait::async_trait;
use autoheal_core::Observation;

pub mod exec;
pub mod heartbeat;
pub mod http;
pub mod tcp;

#[async_trait]
pub trait Check: Send + Sync + 'static {
    /// Runs the probe once, within its own timeout, and says what it saw.
    async fn check(&self) -> Observation;
}

/// How often a check runs and how long one run may take.
pub trait Scheduled {
    /// Time between the starts of two probes.
    fn interval(&self) -> Duration;
    /// The most one probe may take before it counts as `Down`.
    fn timeout(&self) -> Duration;
}

/// Default `interval` of every check: 10 s (the Kubernetes probe period).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default `timeout` of every check: 5 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}
pub(crate) fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

/// Validates the schedule fields shared by every check.
pub(crate) fn validate_schedule(
    interval: Duration,
    timeout: Duration,
) -> Result<(), crate::BuildError> {
    use autoheal_core::policy::limits::{CHECK_INTERVAL, CHECK_TIMEOUT};
    crate::in_range("interval", interval, &CHECK_INTERVAL)?;
    crate::in_range("timeout", timeout, &CHECK_TIMEOUT)?;
    Ok(())
}

/// An observation with its latency set.
pub(crate) fn with_latency(mut o: Observation, latency: Duration) -> Observation {
    o.latency = Some(latency);
    o
}
