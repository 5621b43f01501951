//! # autoheal-core: the policy engine
//!
//! The engine decides; it never does. It takes inputs stamped with the current
//! time and returns decisions plus the time it next wants to be woken. It never
//! touches Docker, HTTP, the clock or a database, so every scenario can be
//! driven on a virtual clock (see `tests/`).
//!
//! The shape follows quinn-proto:
//! - [`Engine::handle`]`(id, now, input)` feeds one input to one target,
//! - [`Engine::handle_timeout`]`(now)` fires every timer that is due,
//! - [`Engine::poll`] drains the decisions made so far,
//! - [`Engine::poll_timeout`] says when the engine next needs `handle_timeout`.
//!
//! State that must survive a restart of autoheal is a [`TargetSnapshot`]
//! (serde): the shell persists it after each batch of decisions and hands it
//! back to [`Engine::add_target`] on boot. A snapshot taken while an action was
//! running restores as "the action happened, now verifying": restarting
//! autoheal never repeats a heal.

pub mod audit;
pub mod engine;
pub mod maintenance;
pub mod policy;
pub mod time;

pub use audit::AuditEvent;
pub use engine::{Engine, TargetSnapshot};
pub use maintenance::{MaintenanceError, MaintenanceWindow};
pub use policy::{Backoff, Policy, Rung};
pub use time::Timestamp;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Index of a target inside one [`Engine`]. The shell maps names to ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TargetId(pub u32);

/// What one check result (or one alert received) says about a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    /// Answering, but not right (e.g. HTTP 4xx, slow). Recorded; a failure
    /// only when the policy says `degraded_is_failure`.
    Degraded,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }
}

/// One result of a check, or one alert received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub status: Status,
    /// A short human sentence: "HTTP 503", "connection refused", "exit 1".
    pub detail: String,
    pub latency: Option<Duration>,
}

impl Observation {
    pub fn up() -> Self {
        Self {
            status: Status::Up,
            detail: String::new(),
            latency: None,
        }
    }
    pub fn down(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Down,
            detail: detail.into(),
            latency: None,
        }
    }
    pub fn degraded(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Degraded,
            detail: detail.into(),
            latency: None,
        }
    }
}

/// How an action the engine asked for ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// The action ran and reported success (it still has to be verified).
    Succeeded,
    /// The action ran and failed (non-zero exit, HTTP 5xx, API error...).
    Failed { detail: String },
    /// The action did not finish within its timeout.
    TimedOut,
}

/// What an operator can ask of a target (CLI, API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Run the next rung now, ignoring threshold, cooldown and backoff
    /// (not quarantine: release first). Refused while an action runs.
    HealNow,
    /// Stop acting on this target until released.
    Quarantine,
    /// Leave quarantine; counters reset.
    Release,
    /// Observe and record only, until resumed.
    Pause,
    Resume,
}

/// One input to one target's state machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Observation(Observation),
    /// The action started by the last `Decision::RunAction` ended.
    ActionFinished(ActionOutcome),
    Command {
        command: Command,
        actor: String,
    },
    /// The target (re)started outside autoheal's action (container start
    /// event, deploy finished): its start period begins again.
    Started,
    /// A deploy of the target is running (true) or ended (false): no healing
    /// while one runs.
    DeployRunning(bool),
    /// Someone other than autoheal is stopping the target (a `docker stop`
    /// or `docker kill` autoheal did not send, compose taking a container
    /// down, a `docker pause`): from this moment nothing decided before may
    /// act, an open incident closes as [`Resolution::Stopped`], failures are
    /// not counted and no action starts until [`Input::Running`] (or, for a
    /// stop by the user, a [`Input::Started`]).
    Stopped {
        by: StopBy,
    },
    /// The target runs again after a stop or a pause: the stopped state ends
    /// and, if there was one, a start period begins (as with `Started`).
    /// Without a stopped state it changes nothing.
    Running,
}

/// Who stopped a target, as far as autoheal can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopBy {
    /// A stop or kill autoheal did not send: `docker stop`, `docker kill`,
    /// `docker compose down`, compose re-creating a container.
    User,
    /// `docker pause`: the processes are frozen, not stopped.
    Pause,
}

impl StopBy {
    pub fn as_str(self) -> &'static str {
        match self {
            StopBy::User => "user",
            StopBy::Pause => "pause",
        }
    }
    /// How the record says it: "stopped by the user or by compose",
    /// "frozen by docker pause".
    pub fn describe(self) -> &'static str {
        match self {
            StopBy::User => "stopped (by the user or by compose)",
            StopBy::Pause => "stopped (frozen by docker pause)",
        }
    }
}

/// Where a target stands. Persisted, shown in the API and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Inside its start period: observed, failures not counted.
    Starting,
    Healthy,
    /// Failures seen, below the threshold.
    Suspect,
    /// Threshold reached: an incident is open and an action is due or waiting
    /// (cooldown, backoff, dependency, maintenance, deploy).
    Failing,
    /// An action is running.
    Healing,
    /// An action finished; waiting for `success_threshold` ups within the
    /// rung's verify time (fails early if `failure_threshold` failures come
    /// after the action).
    Verifying,
    /// Limit reached or ladder exhausted: no more actions until released.
    Quarantined,
    /// Paused by an operator: observe and record, never act.
    Paused,
    /// Stopped (or frozen by `docker pause`) by someone other than autoheal:
    /// observe and record, never act, until it runs again.
    Stopped,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Healthy => "healthy",
            Phase::Suspect => "suspect",
            Phase::Failing => "failing",
            Phase::Healing => "healing",
            Phase::Verifying => "verifying",
            Phase::Quarantined => "quarantined",
            Phase::Paused => "paused",
            Phase::Stopped => "stopped",
        }
    }
    /// True inside an incident or quarantine. (Dependents are held by more
    /// than this: a dependency must be *known good*, see [`Engine`].)
    pub fn is_failing(self) -> bool {
        matches!(
            self,
            Phase::Failing | Phase::Healing | Phase::Verifying | Phase::Quarantined
        )
    }
}

/// Why an action that was due did not run now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Hold {
    Cooldown {
        until: Timestamp,
    },
    Backoff {
        until: Timestamp,
    },
    /// A dependency is not known good (not yet seen up, suspect, failing,
    /// quarantined): heal it first, or wait to see it up.
    Dependency {
        target: TargetId,
    },
    Maintenance {
        until: Option<Timestamp>,
    },
    DeployRunning,
    Paused,
    /// The target was stopped or paused by someone else (see
    /// [`Input::Stopped`]); checked before every other hold.
    Stopped {
        by: StopBy,
    },
}

/// Why a target was quarantined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum QuarantineReason {
    /// `max_actions` actions within `actions_window` already.
    ActionLimit {
        actions: u32,
        window: Duration,
    },
    /// Every rung of the ladder ran and the target did not recover.
    LadderExhausted,
    Operator {
        actor: String,
    },
}

/// How an incident ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Verified up after an action (or by itself).
    Recovered,
    /// Released by an operator from quarantine without a verified recovery.
    Released,
    /// The target was stopped (or paused) by someone else while the incident
    /// was open: autoheal let go of it.
    Stopped,
}

impl Resolution {
    pub fn as_str(&self) -> &'static str {
        match self {
            Resolution::Recovered => "recovered",
            Resolution::Released => "released",
            Resolution::Stopped => "stopped",
        }
    }
}

/// One decision of the engine for one target. The shell carries it out and
/// records it; decisions come in the order they were made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The phase changed (always emitted, for the record and the metrics).
    Transition {
        from: Phase,
        to: Phase,
    },
    /// The failure threshold was reached: an outage begins.
    IncidentOpened {
        reason: String,
    },
    /// Run rung `rung` of the ladder. `attempt` counts actions in this
    /// incident from 1. With `dry_run` the shell records and does not act,
    /// then reports `ActionOutcome::Succeeded` back.
    RunAction {
        rung: usize,
        attempt: u32,
        dry_run: bool,
    },
    /// An action is due but held back; recorded once per distinct hold.
    Held(Hold),
    /// The rung's verify time passed and the target is still failing, or
    /// `failure_threshold` failures came after the action (early failure).
    VerificationFailed {
        rung: usize,
    },
    Quarantined(QuarantineReason),
    /// The incident is over. `duration` is detection to verified recovery
    /// (the MTTR sample).
    IncidentClosed {
        resolution: Resolution,
        duration: Duration,
    },
    /// Released from quarantine by an operator.
    Released {
        actor: String,
    },
    /// The target was stopped or paused by someone else (see
    /// [`Input::Stopped`]); for the record. Emitted once per stop.
    Stopped {
        by: StopBy,
    },
    /// A failure came back within `flap_window` of a recovery: the same
    /// incident goes on (it was not closed), `flaps` counts recurrences.
    Flapped {
        flaps: u32,
        reason: String,
    },
    /// An operator command was refused (e.g. heal now while an action runs).
    CommandRefused {
        command: Command,
        why: String,
    },
}

/// One entry of the engine's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub target: TargetId,
    pub at: Timestamp,
    pub decision: Decision,
}

/// Errors of the engine's API (programming errors of the shell).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("unknown target id {0:?}")]
    UnknownTarget(TargetId),
    #[error("target id {0:?} already exists")]
    DuplicateTarget(TargetId),
}
