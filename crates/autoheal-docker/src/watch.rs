//! Follows the engine and turns what happens to target containers into typed
//! [`DockerHappening`]s for the supervisor.
//!
//! Two paths feed it: `/events` (fast: a health_status or die event becomes
//! an observation within milliseconds) and a reconcile (list + inspect) at
//! start, every `interval`, and after every reconnect, so nothing that happened
//! while the stream was down is missed. The reconcile also gives
//! docker-autoheal's polling semantics: a container that is unhealthy at a
//! reconcile is reported Down again.
//!
//! Left alone (no observation): containers Docker is restarting
//! (`State.Restarting`), health `starting`, anything during autoheal's own
//! `start_period` or a container's `autoheal.start_period`, and a container
//! someone else is stopping: from the `kill` event of a stop signal autoheal
//! did not send (before its `die`, so a health probe killed by the stop is
//! never a failure), through a graceful drain, to its exit; and a paused
//! one. Whether a target is stopped is derived over all its containers and
//! reported as [`DockerHappening::Stopped`] / [`DockerHappening::Running`]
//! when it changes, so a compose service whose container is re-created
//! follows its new container whatever the order of the events.
//!
//! Observations are per target: with several replicas the target is Down when
//! any replica is Down, Up when every replica that reports is Up.

use crate::client::{DockerClient, DockerError};
use crate::config::{DockerMode, DockerSettings};
use crate::discovery::{ConfiguredTarget, DockerTarget, LabelError, LabelOverrides, Selector};
use autoheal_core::{Observation, Status, StopBy};
use bollard::models::{ContainerInspectResponse, EventMessage, HealthStatusEnum};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The targets of the config that select containers, as the watcher sees
/// them (replaced on reload).
pub type Configured = Arc<Vec<ConfiguredTarget>>;

/// Per-container choices made through the API, by container name (no
/// leading `/`): `true` heals it whatever its labels, `false` never.
pub type Choices = Arc<BTreeMap<String, bool>>;

/// One container of a target, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub running: bool,
    /// Docker's health status (`healthy`, `unhealthy`, `starting`), if the
    /// container has a HEALTHCHECK.
    pub health: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
}

/// What the watcher tells the supervisor.
#[derive(Debug, Clone, PartialEq)]
pub enum DockerHappening {
    /// A target appeared, or its set of containers changed (re-creation,
    /// scaling). Sent before any observation of it.
    Discovered {
        target: DockerTarget,
        containers: Vec<ContainerInfo>,
        /// From the labels of the target's first container (by name).
        overrides: LabelOverrides,
        /// Labels that could not be used (report them; they were ignored).
        label_errors: Vec<LabelError>,
    },
    /// One observation of a target (feed as `Input::Observation`).
    Observation {
        target: String,
        /// The container whose change triggered it.
        container_id: String,
        observation: Observation,
    },
    /// A container of the target started (`Input::Started`), including
    /// starts caused by autoheal's own actions.
    Started {
        target: String,
        container_id: String,
    },
    /// The target is being stopped (or was paused) by someone other than
    /// autoheal: every container that ran got a stop signal autoheal did not
    /// send, or is paused (feed as `Input::Stopped`). Sent once per change.
    Stopped {
        target: String,
        container_id: String,
        by: StopBy,
    },
    /// The target runs again after [`DockerHappening::Stopped`] (a container
    /// of it started or was unpaused; feed as `Input::Running`). Also sent
    /// once when a target is first seen running, so a stopped state restored
    /// from the store ends.
    Running {
        target: String,
        container_id: String,
    },
    /// The target has no container any more.
    Gone { target: String },
    /// The engine cannot be reached; the watcher keeps retrying.
    EngineLost { error: String },
    /// The engine answers again; a reconcile follows immediately.
    EngineRegained,
}

impl DockerHappening {
    pub fn target(&self) -> Option<&str> {
        match self {
            DockerHappening::Discovered { target, .. } => Some(&target.name),
            DockerHappening::Observation { target, .. }
            | DockerHappening::Started { target, .. }
            | DockerHappening::Stopped { target, .. }
            | DockerHappening::Running { target, .. }
            | DockerHappening::Gone { target } => Some(target),
            _ => None,
        }
    }
}

/// What the watcher and the actions share (one per engine, cheap to clone):
/// - when each target was first seen Down in its current run of Downs
///   (cleared by an Up), so a restart can tell "already restarted since this
///   began" without the supervisor passing the time;
/// - which containers autoheal itself is restarting or stopping right now,
///   so their kill/die events are not reported as [`DockerHappening::Stopped`].
#[derive(Debug, Clone, Default)]
pub struct HealLedger(Arc<Mutex<LedgerInner>>);

#[derive(Debug, Default)]
struct LedgerInner {
    down_since: HashMap<String, DateTime<Utc>>,
    own: HashMap<String, OwnAction>,
    /// Containers someone else is stopping (or paused), since when.
    stopped: HashMap<String, (StopBy, DateTime<Utc>)>,
}

/// An action autoheal runs on a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnAction {
    /// Ends when the watcher sees the container start again.
    Restart,
    /// Ends when the watcher sees the container die.
    Stop,
}

impl HealLedger {
    pub fn down_since(&self, target: &str) -> Option<DateTime<Utc>> {
        self.0.lock().ok()?.down_since.get(target).copied()
    }
    pub fn mark_down(&self, target: &str, at: DateTime<Utc>) {
        if let Ok(mut m) = self.0.lock() {
            m.down_since.entry(target.to_string()).or_insert(at);
        }
    }
    pub fn clear_down(&self, target: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.down_since.remove(target);
        }
    }
    /// Called by an action just before it restarts or stops a container.
    pub fn begin_own(&self, container_id: &str, what: OwnAction) {
        if let Ok(mut m) = self.0.lock() {
            m.own.insert(container_id.to_string(), what);
        }
    }
    /// Called by an action whose call failed (no events will follow).
    pub fn end_own(&self, container_id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.own.remove(container_id);
        }
    }
    pub fn own(&self, container_id: &str) -> Option<OwnAction> {
        self.0.lock().ok()?.own.get(container_id).copied()
    }
    /// The watcher saw a stop signal autoheal did not send (or a pause).
    pub fn mark_stopped(&self, container_id: &str, by: StopBy, at: DateTime<Utc>) {
        if let Ok(mut m) = self.0.lock() {
            m.stopped.insert(container_id.to_string(), (by, at));
        }
    }
    /// The container started or was unpaused.
    pub fn clear_stopped(&self, container_id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.stopped.remove(container_id);
        }
    }
    /// Checked by the actions right before each Docker call: a container
    /// someone else is stopping is never restarted or started by a decision
    /// made before the stop.
    pub fn stopped(&self, container_id: &str) -> Option<(StopBy, DateTime<Utc>)> {
        self.0.lock().ok()?.stopped.get(container_id).copied()
    }
}

/// Signals that stop a process (`docker stop` sends the container's stop
/// signal, TERM by default, then KILL; `docker kill` KILL): a `kill` event
/// with one of these (or the container's own `StopSignal`) that autoheal did
/// not send starts a stop. Others (HUP, USR1...) are reloads and such.
pub fn is_stop_signal(signal: &str, stop_signal: Option<&str>) -> bool {
    let number = |s: &str| signal_number(&s.trim().trim_start_matches("SIG").to_ascii_uppercase());
    let Some(n) = number(signal) else {
        return false;
    };
    matches!(n, 2 | 3 | 9 | 15) || stop_signal.and_then(number) == Some(n)
}

fn signal_number(name: &str) -> Option<u32> {
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "USR1" => 10,
        "USR2" => 12,
        "KILL" => 9,
        "TERM" => 15,
        "WINCH" => 28,
        "PWR" => 30,
        other => return other.parse().ok(),
    })
}

/// Whether Docker's own restart policy restarts this container when its
/// process exits with `exit` (`always`, `unless-stopped`, `on-failure` with
/// retries left and a non-zero exit). Docker never does after a stop by the
/// user, nor for an unhealthy but running container.
pub fn docker_restarts_it(insp: &ContainerInspectResponse, exit: i64) -> bool {
    use bollard::models::RestartPolicyNameEnum as R;
    let Some(policy) = insp
        .host_config
        .as_ref()
        .and_then(|h| h.restart_policy.as_ref())
    else {
        return false;
    };
    match policy.name {
        Some(R::ALWAYS) | Some(R::UNLESS_STOPPED) => true,
        Some(R::ON_FAILURE) => {
            let max = policy.maximum_retry_count.unwrap_or(0);
            let count = insp.restart_count.unwrap_or(0);
            exit != 0 && (max <= 0 || count < max)
        }
        _ => false,
    }
}

/// Reconnect backoff.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
struct CState {
    target: String,
    name: String,
    mode: DockerMode,
    start_period: Duration,
    started_at: Option<DateTime<Utc>>,
    running: bool,
    /// Current verdict; `None` = nothing to report (starting, restarting...).
    status: Option<(Status, String)>,
    /// A stop signal autoheal did not send was seen since the last start:
    /// someone is stopping it (it may still drain for a while).
    user_stop: bool,
    /// `docker pause`d (events `pause`/`unpause`, `State.Paused`).
    paused: bool,
    /// `Config.StopSignal`, if set (what `docker stop` sends).
    stop_signal: Option<String>,
    /// When we last inspected it (a health event older than that is
    /// already reflected in what the inspect said).
    inspected_at: DateTime<Utc>,
    /// An oom event was seen since the last start.
    oom: bool,
    /// The exit after this stop was already judged (not a failure).
    stop_reported: bool,
    /// A reconcile saw the container exit before its die event arrived:
    /// judged by the die event, or by the next reconcile if none comes.
    exit_pending: bool,
}

#[derive(Debug, Clone)]
struct TState {
    target: DockerTarget,
    containers: BTreeSet<String>,
    /// What the supervisor was last told: `None` = nothing yet,
    /// `Some(None)` = running, `Some(Some(by))` = stopped.
    reported_stop: Option<Option<StopBy>>,
}

/// Follows one engine. Build with [`DockerWatcher::new`], run with
/// [`DockerWatcher::run`] (or [`DockerWatcher::spawn`]).
pub struct DockerWatcher {
    client: DockerClient,
    settings: DockerSettings,
    selector: Selector,
    backoff: Backoff,
    ledger: HealLedger,
    born: Instant,
    containers: HashMap<String, CState>,
    targets: BTreeMap<String, TState>,
    /// Where reloads of the configured targets arrive.
    configured_rx: Option<watch::Receiver<Configured>>,
    /// Per-container choices made through the API, by container name.
    choices_rx: Option<watch::Receiver<Choices>>,
    choices: Choices,
    /// The configured targets in force, sorted by name (the first that
    /// selects a container has it).
    configured: Configured,
    /// Taken before the inspects whose results are being absorbed: what
    /// they say is at least this fresh.
    inspect_stamp: DateTime<Utc>,
}

/// Why [`DockerWatcher::run`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchEnd {
    Shutdown,
    /// The receiver was dropped.
    ReceiverGone,
}

impl DockerWatcher {
    pub fn new(
        client: DockerClient,
        settings: &DockerSettings,
    ) -> Result<Self, Vec<(String, String)>> {
        let selector = Selector::from_settings(settings)?;
        Ok(DockerWatcher {
            client,
            settings: settings.clone(),
            selector,
            backoff: Backoff::default(),
            ledger: HealLedger::default(),
            born: Instant::now(),
            containers: HashMap::new(),
            targets: BTreeMap::new(),
            configured_rx: None,
            configured: Arc::default(),
            choices_rx: None,
            choices: Arc::default(),
            inspect_stamp: Utc::now(),
        })
    }

    /// Targets declared in the config: a container one of them selects is
    /// reported under its name, whatever its labels, and is never also a
    /// label-discovered target. A new value on `rx` (a reload) takes effect
    /// at once (a reconcile follows).
    pub fn with_configured(mut self, rx: watch::Receiver<Configured>) -> Self {
        self.configured_rx = Some(rx);
        self.refresh_configured();
        self
    }

    /// Per-container choices (made through the API): `true` heals the
    /// container whatever its labels say, `false` never (a configured
    /// target that selects it still has it). A new value on `rx` takes
    /// effect at once (a reconcile follows).
    pub fn with_choices(mut self, rx: watch::Receiver<Choices>) -> Self {
        self.choices_rx = Some(rx);
        self.refresh_choices();
        self
    }

    fn refresh_choices(&mut self) {
        if let Some(rx) = &mut self.choices_rx {
            self.choices = rx.borrow_and_update().clone();
        }
    }

    fn refresh_configured(&mut self) {
        if let Some(rx) = &mut self.configured_rx {
            let mut list: Vec<ConfiguredTarget> = rx.borrow_and_update().as_ref().clone();
            list.sort_by(|a, b| a.name.cmp(&b.name));
            self.configured = Arc::new(list);
        }
    }

    /// The target a container belongs to: the first configured target that
    /// selects it, else the label-discovered one (if selected). The flag
    /// says whether it is a configured one.
    fn route(&self, name: &str, labels: &HashMap<String, String>) -> Option<(DockerTarget, bool)> {
        let bare = name.trim_start_matches('/');
        if !bare.is_empty() {
            if let Some(c) = self
                .configured
                .iter()
                .find(|c| c.selector.matches(bare, labels))
            {
                return Some((DockerTarget::configured(&c.name, c.selector.clone()), true));
            }
        }
        let chosen = self.choices.get(bare).copied();
        chosen
            .unwrap_or_else(|| self.selector.selects(name, labels))
            .then(|| (DockerTarget::of_container(name, labels), false))
    }

    /// The mode a configured target sets, if any.
    fn configured_mode(&self, tname: &str) -> Option<DockerMode> {
        self.configured
            .iter()
            .find(|c| c.name == tname)
            .and_then(|c| c.mode)
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Shares a [`HealLedger`] (give the same one to the actions).
    pub fn with_ledger(mut self, l: HealLedger) -> Self {
        self.ledger = l;
        self
    }

    /// The ledger to give to the actions of this engine's targets.
    pub fn ledger(&self) -> HealLedger {
        self.ledger.clone()
    }

    /// The targets known after the last reconcile or event.
    pub fn known_targets(&self) -> Vec<DockerTarget> {
        self.targets.values().map(|t| t.target.clone()).collect()
    }

    /// Runs on a task; happenings arrive on the returned receiver.
    pub fn spawn(
        self,
        capacity: usize,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (
        mpsc::Receiver<DockerHappening>,
        tokio::task::JoinHandle<WatchEnd>,
    ) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let h = tokio::spawn(self.run(tx, shutdown));
        (rx, h)
    }

    /// Follows the engine until `shutdown` resolves or `tx` is closed.
    pub async fn run(
        mut self,
        tx: mpsc::Sender<DockerHappening>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> WatchEnd {
        tokio::pin!(shutdown);
        let mut delay = self.backoff.min;
        let mut lost = false;
        loop {
            if !self.client.is_negotiated() {
                if let Ok(c) = self.client.clone().negotiate().await {
                    self.client = c;
                }
            }
            // Subscribe from "now" (engine clock ~ ours), then reconcile: an
            // event in between is seen twice at worst, never missed.
            let since = Utc::now().timestamp() - 1;
            let mut events = Box::pin(self.client.container_events(Some(since)));
            let mut out = Vec::new();
            let r = tokio::select! {
                _ = &mut shutdown => return WatchEnd::Shutdown,
                r = self.reconcile(&mut out) => r,
            };
            if r.is_ok() && lost {
                out.insert(0, DockerHappening::EngineRegained);
                lost = false;
            }
            if send_all(&tx, out).await.is_err() {
                return WatchEnd::ReceiverGone;
            }
            let err = match r {
                Err(e) => e,
                Ok(()) => {
                    delay = self.backoff.min;
                    // Clamped: Instant + a huge interval panics the task.
                    let every =
                        autoheal_core::policy::limits::CHECK_INTERVAL.clamp(self.settings.interval);
                    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        let mut out = Vec::new();
                        let step: Result<(), DockerError> = tokio::select! {
                            _ = &mut shutdown => return WatchEnd::Shutdown,
                            ev = events.next() => match ev {
                                Some(Ok(ev)) => { self.on_event(ev, &mut out).await; Ok(()) }
                                Some(Err(e)) => Err(e),
                                None => Err(DockerError::Transport("the event stream ended".into())),
                            },
                            _ = tick.tick() => self.reconcile(&mut out).await,
                            _ = changed(&mut self.configured_rx) => self.reconcile(&mut out).await,
                            _ = changed(&mut self.choices_rx) => self.reconcile(&mut out).await,
                        };
                        if send_all(&tx, out).await.is_err() {
                            return WatchEnd::ReceiverGone;
                        }
                        if let Err(e) = step {
                            break e;
                        }
                    }
                }
            };
            tracing::warn!(error = %err, retry_in = ?delay, "Lost the Docker engine; reconnecting.");
            if !lost {
                lost = true;
                if tx
                    .send(DockerHappening::EngineLost {
                        error: err.to_string(),
                    })
                    .await
                    .is_err()
                {
                    return WatchEnd::ReceiverGone;
                }
            }
            tokio::select! {
                _ = &mut shutdown => return WatchEnd::Shutdown,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = delay.saturating_mul(2).min(self.backoff.max);
            // Re-negotiate: the engine behind the socket may have changed.
            if let Ok(c) = self.client.clone().negotiate().await {
                self.client = c;
            }
        }
    }

    /// Lists and inspects every target container; emits what changed and one
    /// observation per target that has something to report.
    pub async fn reconcile(&mut self, out: &mut Vec<DockerHappening>) -> Result<(), DockerError> {
        self.refresh_configured();
        self.refresh_choices();
        self.inspect_stamp = Utc::now();
        // Configured targets select containers by any label or name, and a
        // container may be chosen whatever its labels: list them all then
        // (stopped ones too), and choose here.
        let list = if self.configured.is_empty() && !self.choices.values().any(|c| *c) {
            self.client
                .list(
                    !self.selector.only_monitor_running,
                    self.selector.list_filters(),
                )
                .await?
        } else {
            self.client.list(true, HashMap::new()).await?
        };
        let mut seen: BTreeMap<String, (DockerTarget, Vec<ContainerInspectResponse>)> =
            BTreeMap::new();
        for c in list {
            let Some(id) = c.id.clone() else { continue };
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .cloned()
                .unwrap_or_default();
            let labels = c.labels.clone().unwrap_or_default();
            let Some((t, configured)) = self.route(&name, &labels) else {
                continue;
            };
            let insp = match self.client.inspect(&id).await {
                Ok(i) => i,
                Err(DockerError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if !configured && self.selector.only_monitor_running && !info_of(&insp).0.running {
                continue;
            }
            seen.entry(t.name.clone())
                .or_insert_with(|| (t, Vec::new()))
                .1
                .push(insp);
        }
        // Gone targets.
        let gone: Vec<String> = self
            .targets
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for g in gone {
            self.forget_target(&g, out);
        }
        for (tname, (target, insps)) in seen {
            let ids: BTreeSet<String> = insps.iter().filter_map(|i| i.id.clone()).collect();
            // Containers that left this target.
            if let Some(ts) = self.targets.get(&tname) {
                for old in ts.containers.difference(&ids) {
                    self.containers.remove(old);
                }
            }
            let changed = self
                .targets
                .get(&tname)
                .map(|t| (&t.containers, &t.target.key))
                != Some((&ids, &target.key));
            for insp in &insps {
                self.absorb_inspect(&tname, insp, true, out);
            }
            if changed {
                let d = self.discovered(&target, &insps);
                // Discovered goes before anything about this target.
                let pos = out
                    .iter()
                    .position(|h| h.target() == Some(tname.as_str()))
                    .unwrap_or(out.len());
                out.insert(pos, d);
                self.targets.insert(
                    tname.clone(),
                    TState {
                        reported_stop: self.targets.get(&tname).and_then(|t| t.reported_stop),
                        target,
                        containers: ids,
                    },
                );
            }
            self.sync_stop(&tname, out);
            if let Some((cid, obs)) = self.aggregate(&tname, None) {
                self.emit_observation(&tname, cid, obs, out);
            }
        }
        Ok(())
    }

    /// Derives whether the target is stopped from all its containers and
    /// tells the supervisor when that changed. A target is stopped when no
    /// container of it runs free of a stop: every container that ever
    /// started is paused or got a stop signal autoheal did not send (a
    /// container created and never started counts for nothing). A container
    /// that exited by itself (a crash) keeps the target "running": that is
    /// a failure, not a stop.
    fn sync_stop(&mut self, tname: &str, out: &mut Vec<DockerHappening>) {
        let Some(ts) = self.targets.get(tname) else {
            return;
        };
        let (mut free, mut crashed, mut paused, mut stopping) = (None, false, None, None);
        for cid in &ts.containers {
            let Some(c) = self.containers.get(cid) else {
                continue;
            };
            if c.paused {
                paused.get_or_insert(cid.clone());
            } else if c.user_stop {
                stopping.get_or_insert(cid.clone());
            } else if c.running {
                free.get_or_insert(cid.clone());
            } else if c.started_at.is_some() {
                crashed = true;
            }
        }
        let derived = if free.is_some() || crashed {
            None
        } else if paused.is_some() {
            Some(StopBy::Pause)
        } else if stopping.is_some() {
            Some(StopBy::User)
        } else {
            None
        };
        let before = ts.reported_stop;
        let happening = match (before, derived) {
            (Some(b), d) if b == d => return,
            (_, Some(by)) => DockerHappening::Stopped {
                target: tname.to_string(),
                container_id: paused.or(stopping).unwrap_or_default(),
                by,
            },
            // Nothing runs yet (first sight of stopped containers): say
            // nothing, a stop restored from the store stands.
            (None, None) if free.is_none() => return,
            (_, None) => DockerHappening::Running {
                target: tname.to_string(),
                container_id: free.unwrap_or_default(),
            },
        };
        if let Some(ts) = self.targets.get_mut(tname) {
            ts.reported_stop = Some(derived);
        }
        out.push(happening);
    }

    fn discovered(
        &self,
        target: &DockerTarget,
        insps: &[ContainerInspectResponse],
    ) -> DockerHappening {
        let mut infos: Vec<(ContainerInfo, HashMap<String, String>)> =
            insps.iter().map(info_of).collect();
        infos.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let (overrides, label_errors) = infos
            .first()
            .map(|(_, l)| LabelOverrides::from_labels(l))
            .unwrap_or_default();
        DockerHappening::Discovered {
            target: target.clone(),
            containers: infos.into_iter().map(|(i, _)| i).collect(),
            overrides,
            label_errors,
        }
    }

    fn forget_target(&mut self, tname: &str, out: &mut Vec<DockerHappening>) {
        if let Some(ts) = self.targets.remove(tname) {
            for c in ts.containers {
                self.containers.remove(&c);
            }
            self.ledger.clear_down(tname);
            out.push(DockerHappening::Gone {
                target: tname.to_string(),
            });
        }
    }

    /// Updates one container's state from an inspect; at reconcile
    /// (`from_reconcile`), also reports starts and stops that happened while
    /// we were not looking.
    fn absorb_inspect(
        &mut self,
        tname: &str,
        insp: &ContainerInspectResponse,
        from_reconcile: bool,
        out: &mut Vec<DockerHappening>,
    ) {
        let (info, labels) = info_of(insp);
        let (ov, _) = LabelOverrides::from_labels(&labels);
        let mode = self
            .configured_mode(tname)
            .or(ov.mode)
            .unwrap_or(self.settings.mode);
        let state = insp.state.clone().unwrap_or_default();
        let restarting = state.restarting.unwrap_or(false);
        let exit = state.exit_code.unwrap_or(0);
        let oom = state.oom_killed.unwrap_or(false);
        let prev = self.containers.get(&info.id).cloned();
        let mut c = prev.clone().unwrap_or(CState {
            target: tname.to_string(),
            name: info.name.clone(),
            mode,
            start_period: ov.start_period.unwrap_or_default(),
            started_at: info.started_at,
            running: info.running,
            status: None,
            user_stop: false,
            paused: false,
            stop_signal: None,
            inspected_at: self.inspect_stamp,
            oom: false,
            stop_reported: false,
            exit_pending: false,
        });
        c.target = tname.to_string();
        c.name = info.name.clone();
        c.mode = mode;
        c.start_period = ov.start_period.unwrap_or_default();
        c.stop_signal = insp
            .config
            .as_ref()
            .and_then(|cfg| cfg.stop_signal.clone())
            .filter(|s| !s.is_empty());
        c.paused = state.paused.unwrap_or(false);
        c.inspected_at = self.inspect_stamp;
        if c.paused {
            self.ledger
                .mark_stopped(&info.id, StopBy::Pause, Utc::now());
        } else if self.ledger.stopped(&info.id).map(|s| s.0) == Some(StopBy::Pause) {
            self.ledger.clear_stopped(&info.id);
        }
        // Running before, exited now, and no die event yet: the event (which
        // knows about a stop or kill) is likely in flight. Wait one reconcile.
        let unexplained_exit = from_reconcile
            && prev.as_ref().is_some_and(|p| p.running)
            && !info.running
            && !restarting;
        if unexplained_exit && !c.exit_pending {
            c.exit_pending = true;
            c.status = None;
            self.containers.insert(info.id.clone(), c);
            return;
        }
        c.exit_pending = false;
        if from_reconcile {
            if let Some(p) = &prev {
                if info.running && p.started_at != info.started_at {
                    c.user_stop = false;
                    c.oom = false;
                    c.stop_reported = false;
                    if !c.paused {
                        self.ledger.clear_stopped(&info.id);
                    }
                    out.push(DockerHappening::Started {
                        target: tname.to_string(),
                        container_id: info.id.clone(),
                    });
                }
                if !info.running
                    && !restarting
                    && p.running
                    && !c.stop_reported
                    && (c.user_stop || (!oom && (exit == 0 || exit == 143)))
                {
                    // Exited on a stop signal while we were not looking.
                    c.user_stop = true;
                    c.stop_reported = true;
                    self.ledger.mark_stopped(&info.id, StopBy::User, Utc::now());
                }
            }
        }
        c.started_at = info.started_at;
        c.running = info.running;
        c.status = if restarting || c.paused || (info.running && c.user_stop) {
            // Docker restarts it, it is frozen, or someone is stopping it
            // (a graceful drain may fail its health check on the way out).
            None
        } else if info.running {
            running_verdict(mode, info.health.as_deref(), &state)
        } else if mode.watches_exits()
            && info.started_at.is_some()
            && !(c.user_stop && !(oom || c.oom))
            && (exit != 0 || oom || c.oom)
            && !(prev.is_none() && !oom && (exit == 143))
        {
            Some((Status::Down, exit_detail(exit, oom || c.oom)))
        } else {
            None
        };
        self.containers.insert(info.id.clone(), c);
    }

    async fn on_event(&mut self, ev: EventMessage, out: &mut Vec<DockerHappening>) {
        let Some(actor) = ev.actor else { return };
        let Some(id) = actor.id else { return };
        let attrs = actor.attributes.unwrap_or_default();
        let action = ev.action.unwrap_or_default();
        let (verb, arg) = match action.split_once(':') {
            Some((v, a)) => (v.trim(), a.trim()),
            None => (action.trim(), ""),
        };
        let newly_added = !self.containers.contains_key(&id);
        if newly_added {
            if !matches!(
                verb,
                "create" | "start" | "restart" | "health_status" | "die"
            ) {
                return;
            }
            // A container we do not know: is it a target?
            self.inspect_stamp = Utc::now();
            let Ok(insp) = self.client.inspect(&id).await else {
                return;
            };
            let (info, labels) = info_of(&insp);
            let Some((target, configured)) = self.route(&info.name, &labels) else {
                return;
            };
            if !configured && self.selector.only_monitor_running && !info.running {
                return;
            }
            let tname = target.name.clone();
            self.absorb_inspect(&tname, &insp, false, out);
            let ts = self.targets.entry(tname.clone()).or_insert(TState {
                target: target.clone(),
                containers: BTreeSet::new(),
                reported_stop: None,
            });
            ts.target = target.clone();
            ts.containers.insert(id.clone());
            // Inspect the siblings for a complete Discovered.
            let mut insps = Vec::new();
            for cid in ts.containers.clone() {
                if cid == id {
                    insps.push(insp.clone());
                } else if let Ok(i) = self.client.inspect(&cid).await {
                    insps.push(i);
                }
            }
            out.push(self.discovered(&target, &insps));
        }
        let Some(c) = self.containers.get(&id) else {
            return;
        };
        let tname = c.target.clone();
        // Events replayed from before what an inspect already told (the
        // stream resumes a little in the past after every (re)connect, and
        // after a restart of autoheal): a stop, exit or health report of an
        // earlier run of the container, or a health report older than the
        // last inspect, must not reopen what is known.
        let at = ev
            .time_nano
            .and_then(|n| DateTime::from_timestamp(n / 1_000_000_000, (n % 1_000_000_000) as u32))
            .or_else(|| ev.time.and_then(|t| DateTime::from_timestamp(t, 0)));
        if let Some(at) = at {
            let earlier_run = matches!(
                verb,
                "kill" | "stop" | "die" | "health_status" | "pause" | "oom"
            ) && c.started_at.is_some_and(|s| at < s);
            let older_health = verb == "health_status" && !newly_added && at < c.inspected_at;
            if earlier_run || older_health {
                tracing::debug!(container = %c.name, event = %verb, "Ignoring an event older than the container's state.");
                return;
            }
        }
        self.apply_event(&id, verb, arg, &attrs, newly_added, out)
            .await;
        self.sync_stop(&tname, out);
    }

    /// One event of a known container.
    async fn apply_event(
        &mut self,
        id: &str,
        verb: &str,
        arg: &str,
        attrs: &HashMap<String, String>,
        newly_added: bool,
        out: &mut Vec<DockerHappening>,
    ) {
        let id = id.to_string();
        let Some(c) = self.containers.get_mut(&id) else {
            return;
        };
        let tname = c.target.clone();
        match verb {
            // `kill` comes first (before `die`, before a probe killed by the
            // stop reports unhealthy); `stop` comes after `die` and only
            // counts for a container still running (someone else's stop of
            // a container that ignored its signal).
            "kill" | "stop" => {
                if self.ledger.own(&id).is_some() {
                    return;
                }
                let stops = match verb {
                    "kill" => attrs
                        .get("signal")
                        .is_none_or(|sig| is_stop_signal(sig, c.stop_signal.as_deref())),
                    _ => c.running,
                };
                if stops && !c.user_stop {
                    c.user_stop = true;
                    c.status = None;
                    self.ledger.mark_stopped(&id, StopBy::User, Utc::now());
                }
            }
            "pause" => {
                c.paused = true;
                c.status = None;
                self.ledger.mark_stopped(&id, StopBy::Pause, Utc::now());
            }
            "unpause" => {
                c.paused = false;
                if c.user_stop {
                    self.ledger.mark_stopped(&id, StopBy::User, Utc::now());
                } else {
                    self.ledger.clear_stopped(&id);
                }
            }
            "oom" => {
                c.oom = true;
            }
            "die" => {
                c.running = false;
                c.exit_pending = false;
                let exit: i64 = attrs
                    .get("exitCode")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let own = self.ledger.own(&id);
                if own == Some(OwnAction::Stop) {
                    self.ledger.end_own(&id);
                }
                let Some(c) = self.containers.get_mut(&id) else {
                    return;
                };
                if own.is_some() {
                    // autoheal's own restart or stop: not the user's, not a failure.
                    c.status = None;
                    c.stop_reported = true;
                    return;
                }
                if c.user_stop && !c.oom {
                    // Someone else's stop: not a failure (the target's
                    // stopped state is derived and reported by the caller).
                    c.status = None;
                    c.stop_reported = true;
                    return;
                }
                if c.mode.watches_exits() && (exit != 0 || c.oom) {
                    let mut detail = exit_detail(exit, c.oom);
                    // Docker's restart policy may be on it: by the policy,
                    // not by the state (the inspect may be answered after
                    // Docker restarted it). The crash is still a failure
                    // (a crash loop is an incident, then a quarantine); the
                    // actions leave the restart to Docker.
                    if let Ok(i) = self.client.inspect(&id).await {
                        if docker_restarts_it(&i, exit) {
                            detail.push_str("; Docker's restart policy restarts it");
                        }
                    }
                    let Some(c) = self.containers.get_mut(&id) else {
                        return;
                    };
                    c.status = Some((Status::Down, detail));
                } else {
                    c.status = None;
                }
                if let Some((cid, obs)) = self.aggregate(&tname, Some(&id)) {
                    self.emit_observation(&tname, cid, obs, out);
                }
            }
            "start" => {
                if self.ledger.own(&id) == Some(OwnAction::Restart) {
                    self.ledger.end_own(&id);
                }
                // The engine's StartedAt, so the next reconcile recognises
                // this start as the same one.
                let started_at = match self.client.inspect(&id).await {
                    Ok(i) => info_of(&i).0.started_at,
                    Err(_) => None,
                };
                let Some(c) = self.containers.get_mut(&id) else {
                    return;
                };
                // A reconcile that ran between the start and this event has
                // already reported it.
                let already_reported = c.running && !c.exit_pending && !newly_added;
                c.running = true;
                c.exit_pending = false;
                c.user_stop = false;
                c.paused = false;
                c.oom = false;
                c.stop_reported = false;
                self.ledger.clear_stopped(&id);
                c.started_at = started_at.or(Some(Utc::now()));
                c.status = if c.mode == DockerMode::OnFailure {
                    Some((Status::Up, "running".into()))
                } else {
                    None
                };
                if !already_reported {
                    out.push(DockerHappening::Started {
                        target: tname.clone(),
                        container_id: id.clone(),
                    });
                }
                if c.status.is_some() {
                    if let Some((cid, obs)) = self.aggregate(&tname, Some(&id)) {
                        self.emit_observation(&tname, cid, obs, out);
                    }
                }
            }
            "health_status" => {
                // A probe killed by someone's stop, or a frozen container's
                // probe, says nothing about its health.
                if !c.running || c.user_stop || c.paused || !c.mode.watches_health() {
                    return;
                }
                c.status = match arg {
                    "healthy" => Some((Status::Up, "docker health: healthy".into())),
                    "unhealthy" => Some((Status::Down, "docker health: unhealthy".into())),
                    _ => None,
                };
                if c.status.is_some() {
                    if let Some((cid, obs)) = self.aggregate(&tname, Some(&id)) {
                        self.emit_observation(&tname, cid, obs, out);
                    }
                }
            }
            "destroy" => {
                self.containers.remove(&id);
                let empty = match self.targets.get_mut(&tname) {
                    Some(ts) => {
                        ts.containers.remove(&id);
                        ts.containers.is_empty()
                    }
                    None => false,
                };
                if empty {
                    self.forget_target(&tname, out);
                }
            }
            _ => {}
        }
    }

    /// The target's verdict from its containers' verdicts, with start-period
    /// suppression applied. `trigger` names the container that changed.
    fn aggregate(&self, tname: &str, trigger: Option<&str>) -> Option<(String, Observation)> {
        let ts = self.targets.get(tname)?;
        let now = Utc::now();
        let in_autoheal_start = self.born.elapsed() < self.settings.start_period;
        let mut down: Option<(String, String)> = None;
        let mut up: Option<String> = None;
        for cid in &ts.containers {
            let Some(c) = self.containers.get(cid) else {
                continue;
            };
            match &c.status {
                Some((Status::Down, detail)) => {
                    let in_start = in_autoheal_start
                        || (c.running
                            && !c.start_period.is_zero()
                            && c.started_at.is_some_and(|s| {
                                now.signed_duration_since(s).to_std().unwrap_or_default()
                                    < c.start_period
                            }));
                    if !in_start && (down.is_none() || Some(cid.as_str()) == trigger) {
                        let d = if ts.containers.len() > 1 {
                            format!("{}: {detail}", c.name)
                        } else {
                            detail.clone()
                        };
                        down = Some((cid.clone(), d));
                    }
                }
                Some((Status::Up, _)) if up.is_none() || Some(cid.as_str()) == trigger => {
                    up = Some(cid.clone());
                }
                _ => {}
            }
        }
        if let Some((cid, d)) = down {
            return Some((cid, Observation::down(d)));
        }
        // Up only when no replica is down (a suppressed Down is not an Up).
        let any_down = ts.containers.iter().any(|c| {
            matches!(
                self.containers.get(c).and_then(|c| c.status.as_ref()),
                Some((Status::Down, _))
            )
        });
        if any_down {
            return None;
        }
        up.map(|cid| (cid, Observation::up()))
    }

    fn emit_observation(
        &self,
        tname: &str,
        cid: String,
        obs: Observation,
        out: &mut Vec<DockerHappening>,
    ) {
        match obs.status {
            Status::Down => self.ledger.mark_down(tname, Utc::now()),
            Status::Up => self.ledger.clear_down(tname),
            Status::Degraded => {}
        }
        if obs.status == Status::Up
            && self
                .configured
                .iter()
                .any(|c| c.name == tname && !c.report_up)
        {
            return;
        }
        out.push(DockerHappening::Observation {
            target: tname.to_string(),
            container_id: cid,
            observation: obs,
        });
    }
}

/// Resolves when the configured targets change; never without a receiver
/// (or once its sender is gone).
async fn changed<T>(rx: &mut Option<watch::Receiver<T>>) {
    match rx {
        Some(r) => {
            if r.changed().await.is_err() {
                *rx = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn send_all(tx: &mpsc::Sender<DockerHappening>, out: Vec<DockerHappening>) -> Result<(), ()> {
    for h in out {
        tracing::debug!(happening = ?h, "Docker happening.");
        tx.send(h).await.map_err(|_| ())?;
    }
    Ok(())
}

fn exit_detail(exit: i64, oom: bool) -> String {
    if oom {
        format!("killed: out of memory (exit code {exit})")
    } else {
        format!("exited with code {exit}")
    }
}

fn running_verdict(
    mode: DockerMode,
    health: Option<&str>,
    state: &bollard::models::ContainerState,
) -> Option<(Status, String)> {
    let has_health = matches!(health, Some("healthy" | "unhealthy" | "starting"));
    if mode.watches_health() && has_health {
        return match health {
            Some("healthy") => Some((Status::Up, "docker health: healthy".into())),
            Some("unhealthy") => {
                let last = state
                    .health
                    .as_ref()
                    .and_then(|h| h.log.as_ref())
                    .and_then(|l| l.last())
                    .and_then(|r| r.output.clone())
                    .map(|o| o.trim().chars().take(200).collect::<String>())
                    .filter(|o| !o.is_empty());
                Some((
                    Status::Down,
                    match last {
                        Some(o) => format!("docker health: unhealthy ({o})"),
                        None => "docker health: unhealthy".into(),
                    },
                ))
            }
            _ => None, // starting: leave alone
        };
    }
    if mode.watches_exits() {
        return Some((Status::Up, "running".into()));
    }
    None
}

/// A container's info and labels from an inspect.
pub fn info_of(i: &ContainerInspectResponse) -> (ContainerInfo, HashMap<String, String>) {
    let state = i.state.clone().unwrap_or_default();
    let health = state
        .health
        .as_ref()
        .and_then(|h| h.status)
        .and_then(|s| match s {
            HealthStatusEnum::HEALTHY => Some("healthy"),
            HealthStatusEnum::UNHEALTHY => Some("unhealthy"),
            HealthStatusEnum::STARTING => Some("starting"),
            _ => None,
        })
        .map(str::to_string);
    let started_at = state
        .started_at
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .filter(|d| d.timestamp() > 0);
    let labels = i
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    (
        ContainerInfo {
            id: i.id.clone().unwrap_or_default(),
            name: i
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            running: state.running.unwrap_or(false),
            health,
            started_at,
        },
        labels,
    )
}

#[cfg(test)]
mod tests {
    use super::is_stop_signal;

    #[test]
    fn stop_signals_are_term_kill_int_quit_and_the_containers_own() {
        for s in ["15", "9", "2", "3", "SIGTERM", "KILL"] {
            assert!(is_stop_signal(s, None), "{s}");
        }
        for s in ["1", "10", "28", "SIGHUP"] {
            assert!(!is_stop_signal(s, None), "{s}");
        }
        // httpd's STOPSIGNAL SIGWINCH is what `docker stop` sends it.
        assert!(is_stop_signal("28", Some("SIGWINCH")));
        assert!(is_stop_signal("WINCH", Some("28")));
        assert!(!is_stop_signal("1", Some("SIGWINCH")));
    }
}
