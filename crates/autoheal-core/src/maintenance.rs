//! Maintenance windows: one-off (start, end) or recurring (a cron expression in
//! a time zone, with a duration). Inside a window the engine observes and
//! records, and never acts.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaintenanceError {
    #[error("invalid cron expression {expr:?}: {why}")]
    Cron { expr: String, why: String },
    #[error("unknown time zone {0:?} (expected an IANA name such as \"Europe/Berlin\" or \"UTC\")")]
    TimeZone(String),
    #[error("window ends before it starts")]
    EndBeforeStart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MaintenanceWindow {
    OneOff { start: Timestamp, end: Timestamp },
    /// Starts at each time `cron` matches in `timezone`, lasts `duration`.
    /// `cron` uses the `cron` crate's syntax with seconds
    /// ("0 0 3 * * Sun" = Sundays 03:00:00).
    Recurring { cron: String, timezone: String, duration: Duration },
}

impl MaintenanceWindow {
    /// Checks the expression and time zone; the config layer calls this so a
    /// bad window is a config error, never a runtime surprise.
    pub fn validate(&self) -> Result<(), MaintenanceError> {
        todo!("implemented by the core engine work")
    }

    /// If `now` is inside this window, when it ends.
    pub fn active_until(&self, now: Timestamp) -> Option<Timestamp> {
        let _ = now;
        todo!("implemented by the core engine work")
    }

    /// The next start strictly after `now`, if any (for wake-ups).
    pub fn next_start(&self, now: Timestamp) -> Option<Timestamp> {
        let _ = now;
        todo!("implemented by the core engine work")
    }
}
