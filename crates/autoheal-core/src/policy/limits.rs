//! The accepted range of every duration a user can configure, in one table.
//!
//! The config loader (file, environment variables, Docker labels) refuses a
//! value outside its range with an error naming the key, the value and the
//! range; the runtime saturates or clamps wherever a duration is added or
//! multiplied, so a value that slipped past validation (a snapshot, a
//! label read at runtime) can never panic a task either. docs/configuration.md
//! shows this table; [`ALL`] is what a test compares it with.

use std::fmt;
use std::time::Duration;

/// The accepted range of one kind of duration, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What it limits, as in the docs ("check interval").
    pub what: &'static str,
    /// The keys it applies to (last component: `interval`, `backoff.max`).
    pub keys: &'static [&'static str],
    pub min: Duration,
    pub max: Duration,
}

/// A duration outside its [`Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    pub value: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl fmt::Display for OutOfRange {
    /// "100y is out of range; expected between 100ms and 24h".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is out of range; expected between {} and {}",
            format(self.value),
            format(self.min),
            format(self.max)
        )
    }
}

impl std::error::Error for OutOfRange {}

impl Limit {
    /// `d` itself when inside the range.
    pub fn check(&self, d: Duration) -> Result<Duration, OutOfRange> {
        if d < self.min || d > self.max {
            Err(OutOfRange {
                value: d,
                min: self.min,
                max: self.max,
            })
        } else {
            Ok(d)
        }
    }

    /// `d` brought into the range (for values that bypassed validation).
    pub fn clamp(&self, d: Duration) -> Duration {
        d.clamp(self.min, self.max)
    }
}

const MS: Duration = Duration::from_millis(1);
const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// How often a check runs (`check.interval` of every check type, Docker's
/// reconcile `docker.interval` / `AUTOHEAL_INTERVAL`). Below 100 ms a check
/// mostly measures autoheal itself and the store grows without bound.
pub const CHECK_INTERVAL: Limit = Limit {
    what: "check interval",
    keys: &["check.interval", "docker.interval"],
    min: Duration::from_millis(100),
    max: secs(DAY),
};

/// The most one probe may take (`check.timeout`).
pub const CHECK_TIMEOUT: Limit = Limit {
    what: "check timeout",
    keys: &["check.timeout"],
    min: Duration::from_millis(10),
    max: secs(HOUR),
};

/// `check.max_latency` of an HTTP check.
pub const MAX_LATENCY: Limit = Limit {
    what: "HTTP check latency limit",
    keys: &["check.max_latency"],
    min: MS,
    max: secs(HOUR),
};

/// `check.tls_expiry_warning` of an HTTP check (`0s` turns it off).
pub const TLS_EXPIRY_WARNING: Limit = Limit {
    what: "TLS expiry warning",
    keys: &["check.tls_expiry_warning"],
    min: Duration::ZERO,
    max: secs(366 * DAY),
};

/// `failure_window`: failures are counted within it.
pub const FAILURE_WINDOW: Limit = Limit {
    what: "failure window",
    keys: &["failure_window"],
    min: Duration::from_millis(100),
    max: secs(7 * DAY),
};

/// `autoheal.flap_window` (Docker targets): 0 turns flap grouping off.
pub const FLAP_WINDOW: Limit = Limit {
    what: "flap window",
    keys: &["autoheal.flap_window"],
    min: Duration::ZERO,
    max: secs(DAY),
};

/// `start_period` of a target, `docker.start_period`, the
/// `autoheal.start_period` label and `AUTOHEAL_START_PERIOD`.
pub const START_PERIOD: Limit = Limit {
    what: "start period",
    keys: &["start_period", "docker.start_period"],
    min: Duration::ZERO,
    max: secs(7 * DAY),
};

/// `cooldown`: quiet time after an action.
pub const COOLDOWN: Limit = Limit {
    what: "cooldown",
    keys: &["cooldown"],
    min: Duration::ZERO,
    max: secs(7 * DAY),
};

/// `actions_window`: `max_actions` are counted within it.
pub const ACTIONS_WINDOW: Limit = Limit {
    what: "actions window",
    keys: &["actions_window"],
    min: secs(1),
    max: secs(30 * DAY),
};

/// `backoff.initial`: the gap before the second action.
pub const BACKOFF_INITIAL: Limit = Limit {
    what: "backoff initial gap",
    keys: &["backoff.initial"],
    min: Duration::ZERO,
    max: secs(DAY),
};

/// `backoff.max`: the largest gap between two actions.
pub const BACKOFF_MAX: Limit = Limit {
    what: "backoff cap",
    keys: &["backoff.max"],
    min: Duration::ZERO,
    max: secs(7 * DAY),
};

/// `backoff.reset_after`: healthy time that resets the backoff.
pub const BACKOFF_RESET_AFTER: Limit = Limit {
    what: "backoff reset",
    keys: &["backoff.reset_after"],
    min: Duration::ZERO,
    max: secs(30 * DAY),
};

/// `verify` of a ladder rung.
pub const VERIFY: Limit = Limit {
    what: "verify time",
    keys: &["ladder[].verify"],
    min: Duration::ZERO,
    max: secs(DAY),
};

/// `timeout` of a command or webhook action.
pub const ACTION_TIMEOUT: Limit = Limit {
    what: "action timeout",
    keys: &["actions.<name>.timeout"],
    min: Duration::from_millis(100),
    max: secs(DAY),
};

/// `duration` of a recurring maintenance window.
pub const MAINTENANCE_DURATION: Limit = Limit {
    what: "maintenance window duration",
    keys: &["maintenance[].duration"],
    min: secs(1),
    max: secs(31 * DAY),
};

/// `store.retention.*`: how long records are kept.
pub const RETENTION: Limit = Limit {
    what: "retention",
    keys: &[
        "store.retention.check_results",
        "store.retention.events",
        "store.retention.incidents",
    ],
    min: secs(MINUTE),
    max: secs(3653 * DAY),
};

/// The time a container gets to stop (`docker.default_stop_timeout`,
/// `AUTOHEAL_DEFAULT_STOP_TIMEOUT`, the `autoheal.stop.timeout` label).
pub const STOP_TIMEOUT: Limit = Limit {
    what: "container stop timeout",
    keys: &["docker.default_stop_timeout", "autoheal.stop.timeout"],
    min: Duration::ZERO,
    max: secs(HOUR),
};

/// Each Docker API call (`docker.api_timeout`, `CURL_TIMEOUT`).
pub const DOCKER_API_TIMEOUT: Limit = Limit {
    what: "Docker API timeout",
    keys: &["docker.api_timeout"],
    min: Duration::from_millis(100),
    max: secs(HOUR),
};

/// How long a notification waits for others of its kind to be told with
/// it (`notify.group_window`; 0 tells each at once).
pub const GROUP_WINDOW: Limit = Limit {
    what: "notification group window",
    keys: &["notify.group_window"],
    min: Duration::ZERO,
    max: secs(600),
};

/// How often a target still quarantined is reminded of
/// (`notify.remind_every`; 0 never).
pub const REMIND_EVERY: Limit = Limit {
    what: "quarantine reminder period",
    keys: &["notify.remind_every"],
    min: Duration::ZERO,
    max: secs(DAY * 30),
};

/// Every limit, in the order of the docs' table.
pub const ALL: &[Limit] = &[
    FLAP_WINDOW,
    CHECK_INTERVAL,
    CHECK_TIMEOUT,
    MAX_LATENCY,
    TLS_EXPIRY_WARNING,
    FAILURE_WINDOW,
    START_PERIOD,
    COOLDOWN,
    ACTIONS_WINDOW,
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    BACKOFF_RESET_AFTER,
    VERIFY,
    ACTION_TIMEOUT,
    MAINTENANCE_DURATION,
    RETENTION,
    STOP_TIMEOUT,
    DOCKER_API_TIMEOUT,
    GROUP_WINDOW,
    REMIND_EVERY,
];

/// A duration the way config files write it, in its largest whole unit:
/// "100ms", "90s", "24h", "7d", "100y" (days from 2 on) (a year is 365.25 days, as in
/// `humantime`); "1ns", "1500us" below a millisecond.
pub fn format(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    const UNITS: &[(u128, &str)] = &[
        (31_557_600_000_000_000, "y"),
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (unit, name) in UNITS {
        // "24h" reads better than "1d"; days from two on.
        if *name == "d" && ns < 2 * unit {
            continue;
        }
        if ns.is_multiple_of(*unit) {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_the_largest_whole_unit() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_nanos(1)), "1ns");
        assert_eq!(format(Duration::from_millis(100)), "100ms");
        assert_eq!(format(Duration::from_secs(90)), "90s");
        assert_eq!(format(Duration::from_secs(DAY)), "24h");
        assert_eq!(format(Duration::from_secs(7 * DAY)), "7d");
        assert_eq!(format(Duration::from_secs(36525 * DAY)), "100y");
        assert_eq!(
            format(Duration::from_secs(u64::MAX)),
            "18446744073709551615s"
        );
        assert_eq!(
            format(Duration::MAX),
            format!("{}ns", Duration::MAX.as_nanos())
        );
    }

    #[test]
    fn out_of_range_names_value_and_range() {
        let e = CHECK_INTERVAL.check(Duration::from_nanos(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1ns is out of range; expected between 100ms and 24h"
        );
        assert!(CHECK_INTERVAL.check(Duration::from_millis(100)).is_ok());
        assert!(CHECK_INTERVAL.check(Duration::from_secs(DAY)).is_ok());
        assert!(CHECK_INTERVAL.check(Duration::from_secs(DAY + 1)).is_err());
        assert_eq!(
            CHECK_INTERVAL.clamp(Duration::MAX),
            Duration::from_secs(DAY)
        );
    }

    #[test]
    fn every_limit_is_a_range() {
        for l in ALL {
            assert!(l.min <= l.max, "{}", l.what);
            assert!(!l.keys.is_empty(), "{}", l.what);
        }
    }
}
