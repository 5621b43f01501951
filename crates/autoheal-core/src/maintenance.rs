//! Maintenance windows: one-off (start, end) or recurring (a cron expression in
//! a time zone, with a duration). Inside a window the engine observes and
//! records, and never acts.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaintenanceError {
    #[error("invalid cron expression {expr:?}: {why}")]
    Cron { expr: String, why: String },
    #[error(
        "unknown time zone {0:?} (expected an IANA name such as \"Europe/Berlin\" or \"UTC\")"
    )]
    TimeZone(String),
    #[error("window ends before it starts")]
    EndBeforeStart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MaintenanceWindow {
    OneOff {
        start: Timestamp,
        end: Timestamp,
    },
    /// Starts at each time `cron` matches in `timezone`, lasts `duration`.
    /// `cron` uses the `cron` crate's syntax with seconds
    /// ("0 0 3 * * Sun" = Sundays 03:00:00).
    Recurring {
        cron: String,
        timezone: String,
        duration: Duration,
    },
}

/// How many cron starts one query may walk through before giving up (a
/// pathological "every second" cron with a week-long duration); bounds the
/// cost of a query, never reached by sane windows.
const MAX_CRON_STEPS: usize = 10_000;

impl MaintenanceWindow {
    /// Checks the expression and time zone; the config layer calls this so a
    /// bad window is a config error, never a runtime surprise.
    pub fn validate(&self) -> Result<(), MaintenanceError> {
        match self {
            MaintenanceWindow::OneOff { start, end } => {
                if end < start {
                    return Err(MaintenanceError::EndBeforeStart);
                }
                Ok(())
            }
            MaintenanceWindow::Recurring { cron, timezone, .. } => {
                parse_cron(cron)?;
                parse_tz(timezone)?;
                Ok(())
            }
        }
    }

    /// If `now` is inside this window, when it ends.
    ///
    /// A window covers `[start, end)`. For a recurring window, overlapping
    /// occurrences (a duration longer than the cron period) chain together and
    /// the end returned is the end of the whole chain. An invalid window is
    /// never active (call [`MaintenanceWindow::validate`] at load time).
    pub fn active_until(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            MaintenanceWindow::OneOff { start, end } => {
                (*start <= now && now < *end).then_some(*end)
            }
            MaintenanceWindow::Recurring {
                cron,
                timezone,
                duration,
            } => {
                if duration.is_zero() {
                    return None;
                }
                // Never longer than the config accepts: an unchecked huge
                // duration would walk the cron schedule from 1970.
                let duration = &(*duration).min(crate::policy::limits::MAINTENANCE_DURATION.max);
                let schedule = parse_cron(cron).ok()?;
                let tz = parse_tz(timezone).ok()?;
                // now is in [s, s + d) <=> now - d < s <= now: the first start
                // strictly after now - d decides.
                let from = (now - *duration).to_chrono().with_timezone(&tz);
                let mut end: Option<Timestamp> = None;
                for start in schedule.after(&from).take(MAX_CRON_STEPS) {
                    let start = Timestamp::from_chrono(start.with_timezone(&chrono::Utc));
                    match end {
                        None if start > now => return None,
                        None => end = Some(start + *duration),
                        Some(e) if start <= e => end = Some(e.max(start + *duration)),
                        Some(_) => break,
                    }
                }
                end
            }
        }
    }

    /// The next start strictly after `now`, if any (for wake-ups).
    pub fn next_start(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            MaintenanceWindow::OneOff { start, .. } => (*start > now).then_some(*start),
            MaintenanceWindow::Recurring { cron, timezone, .. } => {
                let schedule = parse_cron(cron).ok()?;
                let tz = parse_tz(timezone).ok()?;
                let from = now.to_chrono().with_timezone(&tz);
                schedule
                    .after(&from)
                    .map(|t| Timestamp::from_chrono(t.with_timezone(&chrono::Utc)))
                    .find(|t| *t > now)
            }
        }
    }
}

fn parse_cron(expr: &str) -> Result<cron::Schedule, MaintenanceError> {
    cron::Schedule::from_str(expr).map_err(|e| MaintenanceError::Cron {
        expr: expr.to_string(),
        why: e.to_string(),
    })
}

fn parse_tz(name: &str) -> Result<chrono_tz::Tz, MaintenanceError> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| MaintenanceError::TimeZone(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rfc3339: &str) -> Timestamp {
        Timestamp::from_chrono(
            chrono::DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .into(),
        )
    }

    #[test]
    fn a_one_off_window_is_half_open() {
        let w = MaintenanceWindow::OneOff {
            start: Timestamp(1000),
            end: Timestamp(2000),
        };
        assert_eq!(w.active_until(Timestamp(999)), None);
        assert_eq!(w.active_until(Timestamp(1000)), Some(Timestamp(2000)));
        assert_eq!(w.active_until(Timestamp(2000)), None);
        assert_eq!(w.next_start(Timestamp(0)), Some(Timestamp(1000)));
        assert_eq!(w.next_start(Timestamp(1000)), None);
    }

    #[test]
    fn a_recurring_window_follows_its_time_zone() {
        // 03:00 in Berlin is 01:00 UTC in summer (CEST, +2).
        let w = MaintenanceWindow::Recurring {
            cron: "0 0 3 * * *".into(),
            timezone: "Europe/Berlin".into(),
            duration: Duration::from_secs(3600),
        };
        assert_eq!(w.validate(), Ok(()));
        assert_eq!(w.active_until(ts("2026-07-01T00:59:59Z")), None);
        assert_eq!(
            w.active_until(ts("2026-07-01T01:00:00Z")),
            Some(ts("2026-07-01T02:00:00Z"))
        );
        assert_eq!(
            w.active_until(ts("2026-07-01T01:59:59.999Z")),
            Some(ts("2026-07-01T02:00:00Z"))
        );
        assert_eq!(w.active_until(ts("2026-07-01T02:00:00Z")), None);
        assert_eq!(
            w.next_start(ts("2026-07-01T01:00:00Z")),
            Some(ts("2026-07-02T01:00:00Z"))
        );
    }

    #[test]
    fn overlapping_occurrences_chain() {
        let w = MaintenanceWindow::Recurring {
            cron: "0 */10 * * * *".into(),
            timezone: "UTC".into(),
            duration: Duration::from_secs(15 * 60),
        };
        // Every 10 minutes for 15 minutes: never ends.
        let until = w.active_until(ts("2026-07-01T00:05:00Z"));
        assert!(
            until.is_some_and(|u| u > ts("2026-07-01T12:00:00Z")),
            "{until:?}"
        );
    }

    #[test]
    fn bad_windows_are_config_errors() {
        let bad_cron = MaintenanceWindow::Recurring {
            cron: "every sunday".into(),
            timezone: "UTC".into(),
            duration: Duration::from_secs(60),
        };
        assert!(matches!(
            bad_cron.validate(),
            Err(MaintenanceError::Cron { .. })
        ));
        let bad_tz = MaintenanceWindow::Recurring {
            cron: "0 0 3 * * *".into(),
            timezone: "Mars/Olympus".into(),
            duration: Duration::from_secs(60),
        };
        assert_eq!(
            bad_tz.validate(),
            Err(MaintenanceError::TimeZone("Mars/Olympus".into()))
        );
        let backwards = MaintenanceWindow::OneOff {
            start: Timestamp(2),
            end: Timestamp(1),
        };
        assert_eq!(backwards.validate(), Err(MaintenanceError::EndBeforeStart));
    }
}
