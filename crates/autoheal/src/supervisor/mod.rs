//! The supervisor: the imperative shell around the policy engine.
//!
//! One task owns the [`Engine`](autoheal_core::Engine). It receives
//! observations from check tasks, results from action tasks, operator
//! commands from the API and CLI, and wakes up when the engine's next timer
//! is due. After every input it drains the engine's decisions and carries
//! them out: it records them in the store, runs actions on a bounded pool,
//! and keeps a read-only [`View`] of every target for the API.
//!
//! Crash safety: everything one round of decisions writes is one unit of
//! work (see `autoheal_store::Unit`); for an action, the engine snapshot with
//! phase `healing` and the attempt row commit together, and only then the
//! action runs. After a crash at any point the engine restores a `healing`
//! snapshot as "the action happened, verifying": a heal is never repeated.
//! If the unit cannot be committed, the action does not run.

mod checks;
mod runner;
mod writer;

pub use runner::Supervisor;

use autoheal_core::{Command, Input, Policy};
use autoheal_plugins::{Action, Check};
use autoheal_store::scope;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Everything the supervisor needs to run one target, built from config (or
/// discovered) by the application.
#[derive(Clone)]
pub struct TargetSpec {
    pub name: String,
    /// The check kind ("http", "tcp", "exec", "docker", "none").
    pub kind: String,
    /// Polled check, if the target has one (Docker and alert targets are fed
    /// from outside instead).
    pub check: Option<ScheduledCheck>,
    /// The policy; `depends_on` is filled in by the supervisor from
    /// `depends_on` names.
    pub policy: Policy,
    pub depends_on: Vec<String>,
    /// The effective settings as JSON, secrets redacted, for the store and API.
    pub spec: serde_json::Value,
    /// Where the target comes from: a reload replaces only config targets.
    pub source: Source,
    /// Actions that belong to this target alone (a discovered container's
    /// restart), found before the named actions of the config.
    pub own_actions: Vec<Arc<ActionSlot>>,
}

/// Where a target was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The config file (replaced as a whole on reload).
    Config,
    /// Discovered at run time (Docker); added and removed one by one.
    Discovered,
}

/// A check and how often to run it.
#[derive(Clone)]
pub struct ScheduledCheck {
    pub check: Arc<dyn Check>,
    pub interval: Duration,
    /// The outer limit: a check still running after this is cancelled and
    /// counts as down, so a hung check never holds a slot for ever.
    pub timeout: Duration,
}

/// A named action the ladder can refer to.
pub struct ActionSlot {
    pub name: String,
    /// "command", "webhook", "docker_restart", ... (metrics label).
    pub kind: String,
    /// Outer limit on one run; past it the action is abandoned as timed out.
    pub timeout: Duration,
    pub action: Arc<dyn Action>,
}

/// What the API shows of one target. Updated by the supervisor task only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetView {
    pub name: String,
    pub kind: String,
    pub phase: &'static str,
    /// The open incident, if any.
    pub incident_id: Option<i64>,
    pub depends_on: Vec<String>,
    pub dry_run: bool,
    pub last_status: Option<&'static str>,
    pub last_detail: Option<String>,
    pub last_check_at: Option<i64>,
    pub last_latency_ms: Option<u64>,
    /// Ladder action names, in order.
    pub ladder: Vec<String>,
    /// The whole policy, for the dashboard's "policy in words"; not part
    /// of the API's answers.
    #[serde(skip)]
    pub policy: Option<Arc<Policy>>,
}

/// The shared, read-mostly picture of all targets.
pub type View = Arc<RwLock<BTreeMap<String, TargetView>>>;

/// Why an operator command was not carried out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("no target named {0:?}")]
    UnknownTarget(String),
    #[error("{0}")]
    Refused(String),
    #[error("the supervisor is not running")]
    Stopped,
}

/// Messages into the supervisor task.
pub(crate) enum Msg {
    Observation {
        target: String,
        observation: autoheal_core::Observation,
        at: i64,
        duration: Duration,
    },
    ActionDone {
        target: String,
        attempt_id: i64,
        outcome: autoheal_core::ActionOutcome,
        duration: Duration,
    },
    Command {
        target: String,
        command: Command,
        actor: String,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    /// An input from outside the check loop (Docker events, alert webhooks).
    External { target: String, input: Input },
    /// Replace one workspace's configured targets and actions (SIGHUP
    /// reload, a change through the API).
    Reload {
        workspace: i64,
        targets: Vec<TargetSpec>,
        actions: HashMap<String, Arc<ActionSlot>>,
        reply: oneshot::Sender<()>,
    },
    /// Add or replace one target at run time (Docker discovery).
    Upsert(Box<TargetSpec>),
    /// Remove one target at run time.
    Remove(String),
    /// An alert from an external monitor: recorded, observed, committed,
    /// then answered with what was decided.
    Alert {
        target: String,
        observation: Option<autoheal_core::Observation>,
        event: autoheal_core::AuditEvent,
        reply: oneshot::Sender<Result<AlertOutcome, CommandError>>,
    },
}

/// What the supervisor made of an alert.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertOutcome {
    /// The audit events it recorded for it, in order: (kind, message).
    pub events: Vec<(String, String)>,
    /// Whether they are committed (false: the store refused; the sender
    /// should retry).
    pub durable: bool,
    /// The target's phase afterwards.
    pub phase: &'static str,
    pub incident_id: Option<i64>,
}

/// A cheap, cloneable handle on the running supervisor.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Msg>,
    view: View,
    /// Unix ms of the supervisor loop's last turn: `/ready` checks it.
    heartbeat: Arc<AtomicI64>,
    running: Arc<AtomicBool>,
}

impl Handle {
    /// Sends an operator command and waits for the engine's verdict.
    pub async fn command(
        &self,
        target: &str,
        command: Command,
        actor: &str,
    ) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Command {
                target: target.to_string(),
                command,
                actor: actor.to_string(),
                reply,
            })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    /// Feeds an input that did not come from a polled check.
    /// Records `event` (an alert), feeds `observation` (if any), commits,
    /// and answers what was decided.
    pub async fn alert(
        &self,
        target: &str,
        observation: Option<autoheal_core::Observation>,
        event: autoheal_core::AuditEvent,
    ) -> Result<AlertOutcome, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Alert {
                target: target.to_string(),
                observation,
                event,
                reply,
            })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    pub async fn external(&self, target: &str, input: Input) -> Result<(), CommandError> {
        self.tx
            .send(Msg::External {
                target: target.to_string(),
                input,
            })
            .await
            .map_err(|_| CommandError::Stopped)
    }

    /// Replaces workspace `workspace`'s configured targets and named
    /// actions (the file's and the API's in the default workspace, the
    /// API's elsewhere); `targets` are keyed for that workspace
    /// ([`autoheal_store::scope`]), `actions` by their names.
    pub async fn reload(
        &self,
        workspace: i64,
        targets: Vec<TargetSpec>,
        actions: HashMap<String, Arc<ActionSlot>>,
    ) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Reload {
                workspace,
                targets,
                actions,
                reply,
            })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)
    }

    pub async fn upsert_target(&self, spec: TargetSpec) -> Result<(), CommandError> {
        self.tx
            .send(Msg::Upsert(Box::new(spec)))
            .await
            .map_err(|_| CommandError::Stopped)
    }

    pub async fn remove_target(&self, name: &str) -> Result<(), CommandError> {
        self.tx
            .send(Msg::Remove(name.to_string()))
            .await
            .map_err(|_| CommandError::Stopped)
    }

    pub fn targets(&self) -> Vec<TargetView> {
        self.view
            .read()
            .map(|v| v.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn target(&self, name: &str) -> Option<TargetView> {
        self.view.read().ok().and_then(|v| v.get(name).cloned())
    }

    /// Workspace `ws`'s targets, named as the workspace knows them
    /// (sorted by name).
    pub fn targets_in(&self, ws: i64) -> Vec<TargetView> {
        let Ok(v) = self.view.read() else {
            return Vec::new();
        };
        if ws == autoheal_store::DEFAULT_WORKSPACE {
            return v
                .values()
                .filter(|t| scope::workspace_of(&t.name) == ws)
                .cloned()
                .collect();
        }
        let mut items: Vec<TargetView> = v
            .values()
            .filter(|t| scope::workspace_of(&t.name) == ws)
            .map(shown)
            .collect();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items
    }

    /// Workspace `ws`'s target `name`, named as the workspace knows it.
    pub fn target_in(&self, ws: i64, name: &str) -> Option<TargetView> {
        let view = self.view.read().ok()?;
        view.get(&scope::qualify(ws, name)).map(shown)
    }

    pub fn target_exists(&self, name: &str) -> bool {
        self.view
            .read()
            .map(|v| v.contains_key(name))
            .unwrap_or(false)
    }

    /// True while the loop runs and has turned within `max_age`.
    pub fn is_running(&self, now_ms: i64, max_age: Duration) -> bool {
        self.running.load(Ordering::Relaxed)
            && now_ms - self.heartbeat.load(Ordering::Relaxed) <= max_age.as_millis() as i64
    }
}

/// A target's view as its workspace sees it: its name and dependencies
/// without the workspace's key prefix.
fn shown(t: &TargetView) -> TargetView {
    let mut t = t.clone();
    t.name = scope::name_of(&t.name).to_string();
    for d in &mut t.depends_on {
        *d = scope::name_of(d).to_string();
    }
    t
}

/// Wall-clock now in Unix ms: the one place the shell reads the clock for
/// the engine.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
