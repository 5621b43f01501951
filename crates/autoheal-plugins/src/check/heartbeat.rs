//! Heartbeat (push) check: the target pings autoheal, and is down when no
//! ping arrives in time, in the style of Healthchecks.io and Uptime Kuma's
//! push monitors.
//!
//! A job calls `/ping/<token>` when it succeeds, `/ping/<token>/start` when
//! a run begins and `/ping/<token>/fail` when it fails (the shell's routes;
//! they record into [`Pings`]). Each probe of this check reads the record:
//! - the last signal was a `fail` → `Down` ("reported a failure");
//! - a run `start`ed and did not finish within `max_run` → `Down`;
//! - nothing for longer than `period + grace` (counted from the last ping,
//!   or from when the check was installed) → `Down` ("no ping for 7m");
//! - otherwise `Up`.
//!
//! The record is kept in memory: after a restart every heartbeat has a
//! full `period + grace` again before it can be late.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use autoheal_core::Observation;
use serde::{Deserialize, Serialize};

use super::{default_interval, default_timeout, Check, Scheduled};
use crate::{fmt_duration, BuildError};

/// `type = "heartbeat"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatCheckConfig {
    /// How often the job pings. Required, 1s to 400 days.
    #[serde(with = "humantime_serde")]
    pub period: Duration,
    /// How late a ping may be before the target is down. Default `1m`.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub grace: Duration,
    /// After a `/start`, the longest a run may take before its missing
    /// success ping counts as down. Default none.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_run: Option<Duration>,
    /// How often the record is looked at. Default `10s`.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Unused by this check (nothing is probed); kept for the schedule.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_grace() -> Duration {
    Duration::from_secs(60)
}

/// What a job sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ping {
    /// A run succeeded (`/ping/<token>`).
    Success,
    /// A run began (`/ping/<token>/start`).
    Start,
    /// A run failed (`/ping/<token>/fail`).
    Fail,
}

#[derive(Debug, Clone, Copy, Default)]
struct Record {
    success: Option<Instant>,
    start: Option<Instant>,
    fail: Option<Instant>,
}

/// The pings received, by target name; shared by the ping routes and the
/// checks.
#[derive(Debug, Default)]
pub struct Pings(Mutex<HashMap<String, Record>>);

impl Pings {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records a ping of `target` now.
    pub fn record(&self, target: &str, ping: Ping) {
        self.record_at(target, ping, Instant::now());
    }

    pub fn record_at(&self, target: &str, ping: Ping, at: Instant) {
        let Ok(mut m) = self.0.lock() else { return };
        let r = m.entry(target.to_string()).or_default();
        match ping {
            Ping::Success => r.success = Some(at),
            Ping::Start => r.start = Some(at),
            Ping::Fail => r.fail = Some(at),
        }
    }

    fn get(&self, target: &str) -> Record {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(target).copied())
            .unwrap_or_default()
    }
}

/// A built heartbeat check of one target.
#[derive(Debug, Clone)]
pub struct HeartbeatCheck {
    target: String,
    pings: Arc<Pings>,
    period: Duration,
    grace: Duration,
    max_run: Option<Duration>,
    interval: Duration,
    timeout: Duration,
    installed: Instant,
}

/// The shortest and longest `period`.
pub const PERIOD: autoheal_core::policy::limits::Limit = autoheal_core::policy::limits::Limit {
    what: "heartbeat period",
    keys: &["period"],
    min: Duration::from_secs(1),
    max: Duration::from_secs(400 * 86_400),
};

impl HeartbeatCheck {
    pub fn build(
        cfg: &HeartbeatCheckConfig,
        target: &str,
        pings: Arc<Pings>,
    ) -> Result<Self, BuildError> {
        validate(cfg)?;
        Ok(Self {
            target: target.to_string(),
            pings,
            period: cfg.period,
            grace: cfg.grace,
            max_run: cfg.max_run,
            interval: cfg.interval,
            timeout: cfg.timeout,
            installed: Instant::now(),
        })
    }

    /// What the record says at `now`.
    pub fn verdict(&self, now: Instant) -> Observation {
        let r = self.pings.get(&self.target);
        let newest = [r.success, r.start, r.fail].into_iter().flatten().max();
        if let (Some(f), Some(n)) = (r.fail, newest) {
            if f == n {
                return Observation::down(format!(
                    "the job reported a failure {} ago",
                    fmt_duration(now.saturating_duration_since(f))
                ));
            }
        }
        if let (Some(s), Some(max)) = (r.start, self.max_run) {
            let finished = r.success.is_some_and(|ok| ok >= s);
            let ran = now.saturating_duration_since(s);
            if !finished && ran > max {
                return Observation::down(format!(
                    "a run started {} ago and has not finished (max_run {})",
                    fmt_duration(ran),
                    fmt_duration(max)
                ));
            }
        }
        let since = r.success.unwrap_or(self.installed);
        let quiet = now.saturating_duration_since(since);
        let limit = self.period.saturating_add(self.grace);
        if quiet > limit {
            let what = if r.success.is_some() {
                "no ping for"
            } else {
                "no ping yet, after"
            };
            return Observation::down(format!(
                "{what} {} (period {} + grace {})",
                fmt_duration(quiet),
                fmt_duration(self.period),
                fmt_duration(self.grace)
            ));
        }
        let mut up = Observation::up();
        up.detail = match r.success {
            Some(ok) => format!(
                "last ping {} ago",
                fmt_duration(now.saturating_duration_since(ok))
            ),
            None => "waiting for the first ping".into(),
        };
        up
    }
}

/// The config's values in range.
pub fn validate(cfg: &HeartbeatCheckConfig) -> Result<(), BuildError> {
    super::validate_schedule(cfg.interval, cfg.timeout)?;
    crate::in_range("period", cfg.period, &PERIOD)?;
    if cfg.grace > PERIOD.max {
        return Err(BuildError::new(
            "grace",
            format!("at most {}", fmt_duration(PERIOD.max)),
        ));
    }
    if let Some(m) = cfg.max_run {
        if m.is_zero() || m > PERIOD.max {
            return Err(BuildError::new(
                "max_run",
                format!("between 1s and {}", fmt_duration(PERIOD.max)),
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl Check for HeartbeatCheck {
    async fn check(&self) -> Observation {
        self.verdict(Instant::now())
    }
}

impl Scheduled for HeartbeatCheck {
    fn interval(&self) -> Duration {
        self.interval
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Scheduled for HeartbeatCheckConfig {
    fn interval(&self) -> Duration {
        self.interval
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(period: u64, grace: u64, max_run: Option<u64>) -> (HeartbeatCheck, Arc<Pings>) {
        let pings = Pings::new();
        let cfg = HeartbeatCheckConfig {
            period: Duration::from_secs(period),
            grace: Duration::from_secs(grace),
            max_run: max_run.map(Duration::from_secs),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        };
        (
            HeartbeatCheck::build(&cfg, "job", pings.clone()).unwrap(),
            pings,
        )
    }

    #[test]
    fn a_ping_in_time_is_up_and_a_late_one_down() {
        let (c, pings) = check(60, 30, None);
        let t0 = c.installed;
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(
            c.verdict(s(80)).status,
            autoheal_core::Status::Up,
            "within period + grace of the install"
        );
        let late = c.verdict(s(91));
        assert_eq!(late.status, autoheal_core::Status::Down);
        assert!(late.detail.contains("no ping yet"), "{}", late.detail);
        pings.record_at("job", Ping::Success, s(100));
        assert_eq!(c.verdict(s(150)).status, autoheal_core::Status::Up);
        let down = c.verdict(s(191));
        assert_eq!(down.status, autoheal_core::Status::Down);
        assert!(
            down.detail.starts_with("no ping for 1m 31s"),
            "{}",
            down.detail
        );
        // Another target's pings change nothing.
        pings.record_at("other", Ping::Success, s(190));
        assert_eq!(c.verdict(s(191)).status, autoheal_core::Status::Down);
    }

    #[test]
    fn a_fail_is_down_until_the_next_success_and_a_long_run_is_down() {
        let (c, pings) = check(3600, 60, Some(120));
        let s = |secs: u64| c.installed + Duration::from_secs(secs);
        pings.record_at("job", Ping::Fail, s(10));
        assert_eq!(c.verdict(s(11)).status, autoheal_core::Status::Down);
        pings.record_at("job", Ping::Success, s(20));
        assert_eq!(c.verdict(s(21)).status, autoheal_core::Status::Up);
        pings.record_at("job", Ping::Start, s(30));
        assert_eq!(
            c.verdict(s(100)).status,
            autoheal_core::Status::Up,
            "still running, within max_run"
        );
        let long = c.verdict(s(151));
        assert_eq!(long.status, autoheal_core::Status::Down);
        assert!(long.detail.contains("max_run"), "{}", long.detail);
        pings.record_at("job", Ping::Success, s(160));
        assert_eq!(c.verdict(s(161)).status, autoheal_core::Status::Up);
    }

    #[test]
    fn periods_out_of_range_are_refused_by_key() {
        let mut cfg = HeartbeatCheckConfig {
            period: Duration::from_millis(500),
            grace: Duration::from_secs(60),
            max_run: None,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(validate(&cfg).unwrap_err().key, "period");
        cfg.period = Duration::from_secs(60);
        cfg.max_run = Some(Duration::ZERO);
        assert_eq!(validate(&cfg).unwrap_err().key, "max_run");
    }
}
