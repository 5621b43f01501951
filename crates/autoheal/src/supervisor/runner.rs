//! The supervisor task: drives the engine and carries out its decisions.

use super::{checks, ActionSlot, CommandError, Handle, Msg, Source, TargetSpec, TargetView, View};
use crate::telemetry::{events, Metrics};
use autoheal_core::{
    ActionOutcome, AuditEvent, Decision, Engine, Hold, Input, Output, Phase, QuarantineReason,
    Status, TargetId, TargetSnapshot, Timestamp,
};
use autoheal_plugins::ActionContext;
use autoheal_store::{
    scope, CheckResultRow, Incident, NewAttempt, NewEvent, Ref, Store, TargetDef, Unit, Write,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Per-target state the shell keeps beside the engine's.
struct Runtime {
    /// Boxed: the map of runtimes then grows by pointers, not by specs.
    spec: Box<TargetSpec>,
    id: TargetId,
    /// The store id of the open incident.
    incident_id: Option<i64>,
    /// The attempt row of the action now running.
    attempt_id: Option<i64>,
    /// The action now running, for its kind label.
    running: Option<Arc<ActionSlot>>,
    /// Detail of the last failing observation, for reasons and contexts.
    last_detail: String,
    /// Stops this target's check task.
    cancel: CancellationToken,
}

/// The writes of one round of decisions, committed as one unit of work
/// (issue 7 items 5, 6 and 13): an incident with its events and the
/// target's snapshot, a `healing` snapshot with its attempt, a finished
/// attempt with its `action_finished` event. Actions run only once the unit
/// that records them has committed.
#[derive(Default)]
struct Pending {
    unit: Unit,
    /// Incidents this unit opens: (target, reason, the ref in the unit).
    opened: Vec<(TargetId, String, Ref)>,
    /// Actions to start once the unit has committed.
    launches: Vec<Launch>,
    /// Inputs for the engine once the unit is committed (or kept).
    inputs: Vec<(TargetId, Input)>,
}

/// An action whose attempt is in the pending unit.
struct Launch {
    id: TargetId,
    attempt: Ref,
    slot: Arc<ActionSlot>,
    ctx: ActionContext,
    dry_run: bool,
}

/// Saved snapshots and open incidents read at once at boot.
#[derive(Default)]
struct Saved {
    snapshots: HashMap<String, serde_json::Value>,
    incidents: HashMap<String, Incident>,
}

/// Units that could not be committed (the store failed), kept in order and
/// retried before the next one, so a store fault loses no event; at most
/// this many (the oldest go first, with an error log).
const MAX_CARRIED_UNITS: usize = 10_000;

pub struct Supervisor {
    engine: Engine,
    store: Arc<dyn Store>,
    metrics: Metrics,
    targets: HashMap<TargetId, Runtime>,
    by_name: HashMap<String, TargetId>,
    next_id: u32,
    /// Named actions by key: `scope::qualify(workspace, name)`, so each
    /// workspace's ladders find their own.
    actions: HashMap<String, Arc<ActionSlot>>,
    rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    view: View,
    heartbeat: Arc<AtomicI64>,
    running: Arc<AtomicBool>,
    checks: checks::Scheduler,
    action_limit: Arc<Semaphore>,
    /// Running actions, awaited on shutdown.
    action_tasks: JoinSet<()>,
    /// Stops every check task at once on shutdown.
    checks_cancel: CancellationToken,
    /// The unit of work being gathered.
    pending: Pending,
    /// Units the store refused, retried in order before the next.
    carried: VecDeque<Pending>,
    /// Since when the store has refused units, and how many: told (as
    /// `autoheal_degraded`) once it takes writes again.
    refused_since: Option<(i64, usize)>,
    /// While answering an alert: the events recorded for it.
    capture: Option<Vec<(String, String)>>,
    /// Where check results go (group commit off this task).
    check_writer: Option<super::writer::CheckWriter>,
    writer_task: Option<tokio::task::JoinHandle<()>>,
    /// Where vital tasks are started and watched (none in unit tests).
    vitals: Option<Arc<crate::vitals::Vitals>>,
    /// Where committed events and phase changes are announced (the live
    /// stream).
    bus: Option<crate::stream::Bus>,
    scheduler_beat: Arc<crate::vitals::Beat>,
    /// Which check results the writer keeps as rows.
    check_history: autoheal_config::CheckHistory,
    /// The check metrics of each check kind, looked up once.
    check_metrics: HashMap<String, crate::telemetry::metrics::CheckHandles>,
}

impl Supervisor {
    /// Builds the supervisor and its handle. Nothing runs until [`run`].
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Metrics,
        max_concurrent_checks: usize,
        max_concurrent_actions: usize,
        seed: u64,
    ) -> (Self, Handle) {
        let (tx, rx) = mpsc::channel(4096);
        let checks_cancel = CancellationToken::new();
        let scheduler_beat = crate::vitals::Beat::new();
        let scheduler = checks::Scheduler::new(
            Arc::new(Semaphore::new(max_concurrent_checks.max(1))),
            tx.clone(),
            checks_cancel.clone(),
            scheduler_beat.clone(),
            metrics.check_lateness.clone(),
        );
        let view: View = Arc::new(RwLock::new(BTreeMap::new()));
        let heartbeat = Arc::new(AtomicI64::new(super::now_ms()));
        let running = Arc::new(AtomicBool::new(false));
        let handle = Handle {
            tx: tx.clone(),
            view: view.clone(),
            heartbeat: heartbeat.clone(),
            running: running.clone(),
        };
        let sup = Supervisor {
            engine: Engine::new(seed),
            store,
            metrics,
            targets: HashMap::new(),
            by_name: HashMap::new(),
            next_id: 0,
            actions: HashMap::new(),
            rx,
            tx,
            view,
            heartbeat,
            running,
            checks: scheduler,
            action_limit: Arc::new(Semaphore::new(max_concurrent_actions.max(1))),
            action_tasks: JoinSet::new(),
            checks_cancel,
            pending: Pending::default(),
            carried: VecDeque::new(),
            refused_since: None,
            capture: None,
            vitals: None,
            bus: None,
            scheduler_beat,
            check_writer: None,
            writer_task: None,
            check_metrics: HashMap::new(),
            check_history: Default::default(),
        };
        (sup, handle)
    }

    /// Which check results are kept as rows (`store.check_history`); set
    /// before [`Supervisor::run`].
    pub fn set_check_history(&mut self, history: autoheal_config::CheckHistory) {
        self.check_history = history;
    }

    /// Watches the check scheduler as a vital task of `vitals`, and reports
    /// its heartbeat there.
    /// Announces committed events and phase changes on `bus`.
    pub fn set_bus(&mut self, bus: crate::stream::Bus) {
        self.bus = Some(bus);
    }

    pub fn set_vitals(&mut self, vitals: Arc<crate::vitals::Vitals>) {
        self.scheduler_beat = vitals.scheduler.clone();
        self.checks.set_beat(vitals.scheduler.clone());
        self.vitals = Some(vitals);
    }

    /// Loads the targets, restoring their state from the store, and runs
    /// until `shutdown` fires. On shutdown: checks stop, running actions
    /// finish or time out and are recorded, every snapshot is saved.
    pub async fn run(
        mut self,
        targets: Vec<TargetSpec>,
        actions: HashMap<String, Arc<ActionSlot>>,
        shutdown: CancellationToken,
    ) {
        self.actions = actions;
        let (writer, task) = super::writer::CheckWriter::spawn(
            self.store.clone(),
            self.metrics.clone(),
            self.check_history,
        );
        self.check_writer = Some(writer);
        self.writer_task = Some(tokio::spawn(task.run()));
        self.checks.start(self.vitals.as_ref());
        self.set_targets(autoheal_store::DEFAULT_WORKSPACE, targets)
            .await;
        // Ready only once every target is installed.
        self.running.store(true, Ordering::Relaxed);
        self.record(None, None, AuditEvent::AutohealStarted, "autoheal");
        self.flush().await;
        loop {
            let now = super::now_ms();
            self.heartbeat.store(now, Ordering::Relaxed);
            crate::vitals::injected_panic("supervisor");
            // Wake at least every few seconds so the heartbeat stays fresh;
            // the engine's deadline may be anywhere in i64 (saturated), so
            // it is bounded before it meets an Instant.
            let ms = self
                .engine
                .poll_timeout()
                .map_or(5_000, |t| t.as_millis().saturating_sub(now).clamp(0, 5_000));
            let wake = tokio::time::Instant::now() + Duration::from_millis(ms as u64);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.handle_msg(msg).await,
                    None => break,
                },
                _ = tokio::time::sleep_until(wake) => {
                    self.engine.handle_timeout(Timestamp(super::now_ms()));
                    self.drain().await;
                }
                Some(_) = self.action_tasks.join_next(), if !self.action_tasks.is_empty() => {}
            }
        }
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        tracing::info!("Shutting down: no new checks; waiting for running actions.");
        self.checks_cancel.cancel();
        // Running actions finish or hit their own timeout; their results are
        // recorded as they arrive.
        while !self.action_tasks.is_empty() {
            tokio::select! {
                Some(msg) = self.rx.recv() => {
                    if let Msg::ActionDone { .. } = msg {
                        self.handle_msg(msg).await;
                    }
                }
                _ = self.action_tasks.join_next() => {}
            }
        }
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::ActionDone { .. } = msg {
                self.handle_msg(msg).await;
            }
        }
        let ids: Vec<TargetId> = self.targets.keys().copied().collect();
        for id in ids {
            self.save_state(id);
        }
        self.record(None, None, AuditEvent::AutohealStopped, "autoheal");
        self.flush().await;
        // The check results still queued are written before the end.
        self.check_writer = None;
        if let Some(t) = self.writer_task.take() {
            let _ = t.await;
        }
        self.running.store(false, Ordering::Relaxed);
    }

    async fn handle_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Observation {
                target,
                observation,
                at,
                duration,
            } => {
                let Some(&id) = self.by_name.get(&target) else {
                    return;
                };
                self.observe(id, observation, at, duration).await;
            }
            Msg::ActionDone {
                target,
                attempt_id,
                outcome,
                duration,
            } => {
                self.action_done(&target, attempt_id, outcome, duration)
                    .await;
            }
            Msg::Command {
                target,
                command,
                actor,
                reply,
            } => {
                let result = self.command(&target, command, &actor).await;
                let _ = reply.send(result);
            }
            Msg::External { target, input } => {
                let Some(&id) = self.by_name.get(&target) else {
                    tracing::debug!(target_name = %target, "Input for an unknown target ignored.");
                    return;
                };
                if let Input::Observation(o) = input {
                    self.observe(id, o, super::now_ms(), Duration::ZERO).await;
                } else {
                    self.feed(id, input).await;
                }
            }
            Msg::Reload {
                workspace,
                targets,
                actions,
                reply,
            } => {
                self.actions
                    .retain(|k, _| scope::workspace_of(k) != workspace);
                self.actions.extend(
                    actions
                        .into_iter()
                        .map(|(name, slot)| (scope::qualify(workspace, &name), slot)),
                );
                self.set_targets(workspace, targets).await;
                self.record(None, None, AuditEvent::ConfigReloaded, "config");
                self.flush().await;
                let _ = reply.send(());
            }
            Msg::Alert {
                target,
                observation,
                event,
                reply,
            } => {
                let Some(&id) = self.by_name.get(&target) else {
                    let _ = reply.send(Err(super::CommandError::UnknownTarget(target)));
                    return;
                };
                self.capture = Some(Vec::new());
                let incident = self.incident_ref(id);
                self.record(Some(&target), incident, event, "alert");
                if let Some(o) = observation {
                    self.observe(id, o, super::now_ms(), Duration::ZERO).await;
                }
                self.flush().await;
                let events = self.capture.take().unwrap_or_default();
                let durable = self.carried.is_empty();
                let (phase, incident_id) = self
                    .view
                    .read()
                    .ok()
                    .and_then(|v| v.get(&target).map(|t| (t.phase, t.incident_id)))
                    .unwrap_or(("unknown", None));
                let _ = reply.send(Ok(super::AlertOutcome {
                    events,
                    durable,
                    phase,
                    incident_id,
                }));
            }
            Msg::Upsert(spec) => self.upsert(*spec).await,
            Msg::Remove(name) => self.remove(&name).await,
        }
    }

    /// Replaces workspace `workspace`'s configured targets: removes the
    /// ones gone, adds the new ones (restoring state from the store) and
    /// updates the rest.
    async fn set_targets(&mut self, workspace: i64, specs: Vec<TargetSpec>) {
        let wanted: BTreeSet<String> = specs.iter().map(|s| s.name.clone()).collect();
        let gone: Vec<String> = self
            .targets
            .values()
            .filter(|rt| {
                rt.spec.source == Source::Config
                    && scope::workspace_of(&rt.spec.name) == workspace
                    && !wanted.contains(&rt.spec.name)
            })
            .map(|rt| rt.spec.name.clone())
            .collect();
        for name in gone {
            self.remove(&name).await;
        }
        // Ids first, so dependencies can be resolved whatever the order.
        for spec in &specs {
            if !self.by_name.contains_key(&spec.name) {
                let id = TargetId(self.next_id);
                self.next_id += 1;
                self.by_name.insert(spec.name.clone(), id);
            }
        }
        // At boot (and on reload) every definition is written in one
        // transaction and every saved state read back in two queries, not
        // three round trips per target.
        let defs: Vec<TargetDef> = specs
            .iter()
            .map(|s| TargetDef {
                name: s.name.clone(),
                kind: s.kind.clone(),
                spec: s.spec.clone(),
            })
            .collect();
        let batched = match self.store.upsert_targets(&defs).await {
            Ok(()) => true,
            Err(e) => {
                events::StoreWriteFailed {
                    what: "the targets",
                    error: &e,
                }
                .emit(&self.metrics);
                false
            }
        };
        drop(defs);
        let saved = self.saved_states().await;
        for spec in specs {
            self.install(spec, saved.as_ref(), batched).await;
        }
        self.drain().await;
    }

    /// Every saved snapshot and open incident, by target name (None if the
    /// store could not be read: then each target reads its own).
    async fn saved_states(&self) -> Option<Saved> {
        let mut saved = Saved::default();
        match self.store.list_targets().await {
            Ok(rows) => {
                for row in rows {
                    if let Some(s) = row.snapshot {
                        saved.snapshots.insert(row.name, s);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %crate::error_chain(&e), "Reading the saved states failed; reading them one by one.");
                return None;
            }
        }
        let mut before = None;
        loop {
            let filter = autoheal_store::IncidentFilter {
                open: Some(true),
                before,
                limit: 500,
                ..Default::default()
            };
            match self.store.list_incidents(&filter).await {
                Ok(page) => {
                    for i in page.items {
                        // Newest first: the newest open incident wins.
                        saved.incidents.entry(i.target.clone()).or_insert(i);
                    }
                    match page.next_before {
                        Some(b) => before = Some(b),
                        None => break,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %crate::error_chain(&e), "Reading the open incidents failed; reading them one by one.");
                    return None;
                }
            }
        }
        Some(saved)
    }

    async fn upsert(&mut self, spec: TargetSpec) {
        if let Some(rt) = self
            .by_name
            .get(&spec.name)
            .and_then(|id| self.targets.get(id))
        {
            if rt.spec.source == Source::Config && spec.source == Source::Discovered {
                tracing::warn!(target_name = %spec.name, "A discovered target has the name of a configured one; the configured target wins and the discovered one is ignored.");
                return;
            }
        }
        let is_new = !self.by_name.contains_key(&spec.name);
        if is_new {
            let id = TargetId(self.next_id);
            self.next_id += 1;
            self.by_name.insert(spec.name.clone(), id);
        }
        let name = spec.name.clone();
        self.install(spec, None, false).await;
        if is_new {
            self.relink_dependents(&name);
        }
        self.drain().await;
    }

    /// The engine's policy of a spec: its `depends_on` names resolved to the
    /// ids of the targets known now (a name not known yet holds nothing until
    /// its target appears; see [`Self::relink_dependents`]).
    fn engine_policy(&self, spec: &TargetSpec) -> autoheal_core::Policy {
        let mut policy = spec.policy.clone();
        policy.depends_on = spec
            .depends_on
            .iter()
            .filter_map(|d| self.by_name.get(d).copied())
            .collect();
        policy
    }

    /// A target named `name` just appeared (a container discovered after its
    /// dependents): the targets naming it in `depends_on` get it linked.
    fn relink_dependents(&mut self, name: &str) {
        let dependents: Vec<(TargetId, autoheal_core::Policy)> = self
            .targets
            .values()
            .filter(|rt| rt.spec.name != name && rt.spec.depends_on.iter().any(|d| d == name))
            .map(|rt| (rt.id, self.engine_policy(&rt.spec)))
            .collect();
        for (id, policy) in dependents {
            if let Err(e) = self.engine.set_policy(id, policy) {
                tracing::error!(error = %e, "Linking a dependency failed.");
            }
        }
    }

    /// Adds a target (restoring it) or updates an existing one in place.
    /// `written`: the definition is already in the store (set_targets).
    async fn install(&mut self, mut spec: TargetSpec, saved: Option<&Saved>, written: bool) {
        let id = self.by_name[&spec.name];
        let policy = self.engine_policy(&spec);
        let now = Timestamp(super::now_ms());
        // The settings JSON goes to the store (the API reads it there); the
        // runtime copy does without it (about 1 KB per target).
        let def = TargetDef {
            name: spec.name.clone(),
            kind: spec.kind.clone(),
            spec: std::mem::take(&mut spec.spec),
        };
        let check = spec.check.take();
        let name = spec.name.clone();
        if !written {
            if let Err(e) = self.store.upsert_target(&def).await {
                events::StoreWriteFailed {
                    what: "a target",
                    error: &e,
                }
                .emit(&self.metrics);
            }
        }
        let cancel = self.checks_cancel.child_token();
        if let Some(rt) = self.targets.get_mut(&id) {
            rt.cancel.cancel();
            rt.cancel = cancel.clone();
            *rt.spec = spec;
            if let Err(e) = self.engine.set_policy(id, policy) {
                tracing::error!(error = %e, "Updating a policy failed.");
            }
        } else {
            let (snapshot, incident) = match saved {
                Some(saved) => (
                    saved
                        .snapshots
                        .get(&spec.name)
                        .and_then(|s| read_snapshot(&spec.name, s.clone())),
                    saved.incidents.get(&spec.name).cloned(),
                ),
                None => self.restore(&spec.name).await,
            };
            if let Err(e) = self.engine.add_target(id, policy, now, snapshot) {
                tracing::error!(error = %e, "Adding a target failed.");
                return;
            }
            let incident_id = self.reconcile(id, &spec.name, incident, now);
            let phase = self.engine.phase(id).unwrap_or(Phase::Healthy);
            events::PhaseChanged {
                target: &spec.name,
                from: None,
                to: phase.as_str(),
            }
            .emit(&self.metrics);
            self.targets.insert(
                id,
                Runtime {
                    spec: Box::new(spec),
                    id,
                    incident_id,
                    attempt_id: None,
                    running: None,
                    last_detail: String::new(),
                    cancel: cancel.clone(),
                },
            );
        }
        let policy = self
            .targets
            .get(&id)
            .map(|rt| std::sync::Arc::new(rt.spec.policy.clone()));
        self.update_view(id, |v| v.policy = policy);
        if let Some(check) = check {
            self.checks.add(name, check, cancel);
        }
    }

    /// Reads a target's snapshot and open incident back from the store.
    async fn restore(&mut self, name: &str) -> (Option<TargetSnapshot>, Option<Incident>) {
        let snapshot = match self.store.get_target(name).await {
            Ok(Some(row)) => row.snapshot.and_then(|s| read_snapshot(name, s)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(target_name = name, error = %crate::error_chain(&e), "Reading the saved state of {name} failed; starting it fresh.");
                None
            }
        };
        let incident = match self.store.open_incident_for(name).await {
            Ok(i) => i,
            Err(e) => {
                tracing::error!(target_name = name, error = %crate::error_chain(&e), "Reading the open incident of {name} failed.");
                None
            }
        };
        (snapshot, incident)
    }

    /// Makes the store's open incident of a restored target agree with the
    /// engine's state (issue 7 item 5). Attempts left unfinished by a crash
    /// are closed as interrupted: the engine restores them as "happened,
    /// verifying", never as "to do". An open incident the snapshot does not
    /// know (a crash between the two writes, before they were one unit) is
    /// closed as `abandoned`; an incident the snapshot is in but the store
    /// lost is opened again. Returns the incident the target keeps.
    fn reconcile(
        &mut self,
        id: TargetId,
        name: &str,
        incident: Option<Incident>,
        now: Timestamp,
    ) -> Option<i64> {
        let in_incident = self.engine.in_incident(id);
        let Some(incident) = incident else {
            if in_incident {
                let reason = "restored in an incident whose record was lost";
                let r = self
                    .pending
                    .unit
                    .open_incident(name, now.as_millis(), reason);
                self.pending.opened.push((id, reason.to_string(), r));
                self.record(
                    Some(name),
                    Some(r),
                    AuditEvent::IncidentOpened {
                        reason: reason.to_string(),
                    },
                    "autoheal",
                );
            }
            return None;
        };
        for a in incident.attempts.iter().filter(|a| a.outcome.is_none()) {
            self.pending.unit.push(Write::FinishAttempt {
                attempt: Ref::Id(a.id),
                finished_at: now.as_millis(),
                outcome: "interrupted".into(),
                detail: "autoheal stopped while this action ran; it is not repeated".into(),
            });
            // Every attempt's end is in the audit log, this one too.
            self.record(
                Some(name),
                Some(Ref::Id(incident.id)),
                AuditEvent::ActionInterrupted {
                    action: a.action.clone(),
                    rung: a.rung.max(0) as usize + 1,
                    attempt: a.attempt.max(0) as u32,
                },
                "autoheal",
            );
        }
        if in_incident {
            return Some(incident.id);
        }
        self.pending.unit.push(Write::CloseIncident {
            incident: Ref::Id(incident.id),
            closed_at: now.as_millis(),
            resolution: "abandoned".into(),
        });
        self.record(
            Some(name),
            Some(Ref::Id(incident.id)),
            AuditEvent::IncidentAbandoned {
                incident: incident.id,
            },
            "autoheal",
        );
        None
    }

    async fn remove(&mut self, name: &str) {
        let Some(id) = self.by_name.remove(name) else {
            return;
        };
        if let Some(rt) = self.targets.remove(&id) {
            rt.cancel.cancel();
        }
        if let Some(phase) = self.engine.phase(id) {
            self.metrics
                .targets
                .get_or_create(&crate::telemetry::metrics::PhaseLabels {
                    phase: phase.as_str().into(),
                })
                .dec();
        }
        let _ = self.engine.remove_target(id);
        if let Ok(mut v) = self.view.write() {
            v.remove(name);
        }
        if let Err(e) = self.store.delete_target(name).await {
            events::StoreWriteFailed {
                what: "a target removal",
                error: &e,
            }
            .emit(&self.metrics);
        }
    }

    async fn observe(
        &mut self,
        id: TargetId,
        o: autoheal_core::Observation,
        at: i64,
        duration: Duration,
    ) {
        let Some(rt) = self.targets.get_mut(&id) else {
            return;
        };
        let counted = match o.status {
            Status::Down => true,
            Status::Degraded => rt.spec.policy.degraded_is_failure,
            Status::Up => false,
        };
        if o.status != Status::Up {
            rt.last_detail = o.detail.clone();
        }
        let handles = match self.check_metrics.get(rt.spec.kind.as_str()) {
            Some(h) => h,
            None => {
                let h = self.metrics.check_handles(&rt.spec.kind);
                self.check_metrics.entry(rt.spec.kind.clone()).or_insert(h)
            }
        };
        events::CheckCompleted {
            target: &rt.spec.name,
            kind: &rt.spec.kind,
            status: o.status.as_str(),
            duration,
            detail: &o.detail,
            counted_failure: counted,
        }
        .emit(handles);
        // Group-committed by the writer task: deciding never waits on it.
        if let Some(w) = &self.check_writer {
            w.send(CheckResultRow {
                target: rt.spec.name.clone(),
                at,
                status: o.status.as_str().to_string(),
                latency_ms: o.latency.map(|l| l.as_millis() as i64),
                detail: o.detail.clone(),
            });
        }
        let latency = o.latency.map(|l| l.as_millis() as u64);
        let fresh = |v: &mut TargetView| {
            v.last_status = Some(o.status.as_str());
            if v.last_detail.as_deref() != Some(o.detail.as_str()) {
                v.last_detail = Some(o.detail.clone());
            }
            v.last_check_at = Some(at);
            v.last_latency_ms = latency;
        };
        // The common case touches the four fields in place (no clone of the
        // target's spec per check); the first check builds the entry.
        let in_place = match self.view.write() {
            Ok(mut view) => view.get_mut(rt.spec.name.as_str()).map(fresh).is_some(),
            Err(_) => true,
        };
        if !in_place {
            self.update_view(id, fresh);
        }
        self.feed(id, Input::Observation(o)).await;
    }

    /// Hands one input to the engine and carries out what it decides.
    async fn feed(&mut self, id: TargetId, input: Input) -> Vec<Output> {
        if let Err(e) = self.engine.handle(id, Timestamp(super::now_ms()), input) {
            tracing::error!(error = %e, "The engine refused an input.");
        }
        self.drain().await
    }

    async fn command(
        &mut self,
        target: &str,
        command: autoheal_core::Command,
        actor: &str,
    ) -> Result<(), CommandError> {
        let Some(&id) = self.by_name.get(target) else {
            return Err(CommandError::UnknownTarget(target.to_string()));
        };
        let incident = self.incident_ref(id);
        let verb = serde_json::to_value(command)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.record(
            Some(target),
            incident,
            AuditEvent::OperatorCommand { command: verb },
            actor,
        );
        let outputs = self
            .feed(
                id,
                Input::Command {
                    command,
                    actor: actor.to_string(),
                },
            )
            .await;
        for out in outputs {
            if out.target == id {
                if let Decision::CommandRefused { why, .. } = out.decision {
                    return Err(CommandError::Refused(why));
                }
            }
        }
        Ok(())
    }

    async fn action_done(
        &mut self,
        target: &str,
        attempt_id: i64,
        outcome: ActionOutcome,
        duration: Duration,
    ) {
        let (o, detail) = outcome_parts(&outcome);
        let finish = Write::FinishAttempt {
            attempt: Ref::Id(attempt_id),
            finished_at: super::now_ms(),
            outcome: o.to_string(),
            detail: detail.clone(),
        };
        let Some(&id) = self.by_name.get(target) else {
            // The target was removed while its action ran: record the result.
            self.pending.unit.push(finish);
            self.flush().await;
            return;
        };
        let (incident, slot) = match self.targets.get_mut(&id) {
            Some(rt) => {
                rt.attempt_id = None;
                (rt.incident_id, rt.running.take())
            }
            None => (None, None),
        };
        let (action, kind) = slot
            .map(|s| (s.name.clone(), s.kind.clone()))
            .unwrap_or_default();
        events::ActionFinished {
            target,
            incident_id: incident,
            action: &action,
            kind: &kind,
            outcome: o,
            detail: &detail,
            duration,
        }
        .emit(&self.metrics);
        // The attempt's end and its event commit together, with whatever the
        // engine decides next (issue 7 item 13).
        self.pending.unit.push(finish);
        self.record(
            Some(target),
            incident.map(Ref::Id),
            AuditEvent::ActionFinished {
                action,
                outcome: o.to_string(),
                detail,
            },
            "autoheal",
        );
        self.feed(id, Input::ActionFinished(outcome)).await;
    }

    /// Carries out every decision the engine has made, in order, adds the
    /// snapshot of each target touched, and commits it all as one unit.
    /// Returns the decisions.
    async fn drain(&mut self) -> Vec<Output> {
        let mut done = Vec::new();
        let mut touched = BTreeSet::new();
        while let Some(out) = self.engine.poll() {
            touched.insert(out.target);
            self.apply(&out);
            done.push(out);
        }
        for id in touched {
            self.save_state(id);
        }
        self.flush().await;
        done
    }

    /// Adds the target's snapshot to the pending unit.
    fn save_state(&mut self, id: TargetId) {
        let Some(rt) = self.targets.get(&id) else {
            return;
        };
        let (Some(snapshot), Some(phase)) = (self.engine.snapshot(id), self.engine.phase(id))
        else {
            return;
        };
        let json = match serde_json::to_value(&snapshot) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "A snapshot could not be serialised.");
                return;
            }
        };
        let name = rt.spec.name.clone();
        self.pending.unit.push(Write::SaveState {
            name,
            phase: phase.as_str().to_string(),
            snapshot: json,
            at: super::now_ms(),
        });
    }

    fn apply(&mut self, out: &Output) {
        let id = out.target;
        let Some(rt) = self.targets.get(&id) else {
            return;
        };
        let name = rt.spec.name.clone();
        let stored_incident = rt.incident_id;
        let incident = self.incident_ref(id);
        match &out.decision {
            Decision::Transition { from, to } => {
                events::PhaseChanged {
                    target: &name,
                    from: Some(from.as_str()),
                    to: to.as_str(),
                }
                .emit(&self.metrics);
                if let Some(bus) = &self.bus {
                    bus.target_changed(crate::stream::TargetChange {
                        workspace_id: scope::workspace_of(&name),
                        target: scope::name_of(&name).to_string(),
                        from: from.as_str().to_string(),
                        to: to.as_str().to_string(),
                        at: super::now_ms(),
                    });
                }
                self.update_view(id, |v| v.phase = to.as_str());
                // Dependents blocked on this target read its phase from the
                // engine; nothing else to do here.
            }
            Decision::IncidentOpened { reason } => {
                let r = self
                    .pending
                    .unit
                    .open_incident(&name, out.at.as_millis(), reason);
                self.pending.opened.push((id, reason.clone(), r));
                self.record(
                    Some(&name),
                    Some(r),
                    AuditEvent::IncidentOpened {
                        reason: reason.clone(),
                    },
                    "autoheal",
                );
            }
            Decision::RunAction {
                rung,
                attempt,
                dry_run,
            } => {
                self.run_action(id, *rung, *attempt, *dry_run);
            }
            Decision::Held(hold) => {
                let (reason, message) = self.describe_hold(&name, hold);
                events::ActionHeld {
                    target: &name,
                    incident_id: stored_incident,
                    reason,
                    message: &message,
                }
                .emit(&self.metrics);
                self.record(
                    Some(&name),
                    incident,
                    AuditEvent::ActionHeld {
                        reason: reason.to_string(),
                        message,
                    },
                    "autoheal",
                );
            }
            Decision::VerificationFailed { rung } => {
                let action = self
                    .targets
                    .get(&id)
                    .and_then(|rt| rt.spec.policy.ladder.get(*rung))
                    .map(|r| r.action.clone())
                    .unwrap_or_default();
                self.record(
                    Some(&name),
                    incident,
                    AuditEvent::VerificationFailed {
                        action,
                        rung: rung + 1,
                    },
                    "autoheal",
                );
            }
            Decision::Quarantined(reason) => {
                let why = match reason {
                    QuarantineReason::ActionLimit { actions, window } => format!(
                        "{actions} actions within {} already",
                        humantime::format_duration(*window)
                    ),
                    QuarantineReason::LadderExhausted => {
                        "every rung of the ladder ran and it did not recover".to_string()
                    }
                    QuarantineReason::Operator { actor } => format!("quarantined by {actor}"),
                };
                events::Quarantined {
                    target: &name,
                    incident_id: stored_incident,
                    reason: &why,
                }
                .emit(&self.metrics);
                if let Some(i) = incident {
                    self.pending.unit.push(Write::QuarantineIncident {
                        incident: i,
                        reason: why.clone(),
                    });
                }
                self.record(
                    Some(&name),
                    incident,
                    AuditEvent::Quarantined { reason: why },
                    "autoheal",
                );
            }
            Decision::IncidentClosed {
                resolution,
                duration,
            } => {
                let resolution = resolution.as_str();
                if let Some(i) = incident {
                    self.pending.unit.push(Write::CloseIncident {
                        incident: i,
                        closed_at: out.at.as_millis(),
                        resolution: resolution.to_string(),
                    });
                    if let Ref::Id(incident_id) = i {
                        events::IncidentClosed {
                            target: &name,
                            incident_id,
                            resolution,
                            duration: *duration,
                        }
                        .emit(&self.metrics);
                    }
                    self.record(
                        Some(&name),
                        Some(i),
                        AuditEvent::IncidentClosed {
                            resolution: resolution.to_string(),
                            duration_s: duration.as_secs(),
                        },
                        "autoheal",
                    );
                }
                if let Some(rt) = self.targets.get_mut(&id) {
                    rt.incident_id = None;
                }
                // An incident opened and closed within this unit is not
                // adopted when the unit commits.
                self.pending.opened.retain(|(t, _, _)| *t != id);
                self.update_view(id, |v| v.incident_id = None);
            }
            Decision::Released { actor } => {
                self.record(Some(&name), incident, AuditEvent::Released, actor);
            }
            Decision::Stopped { by } => {
                self.record(
                    Some(&name),
                    incident,
                    AuditEvent::Stopped {
                        by: by.as_str().to_string(),
                        described: by.describe().to_string(),
                    },
                    "docker",
                );
            }
            Decision::Flapped { flaps, reason } => {
                self.record(
                    Some(&name),
                    incident,
                    AuditEvent::Flapped {
                        flaps: *flaps,
                        reason: reason.clone(),
                    },
                    "autoheal",
                );
            }
            Decision::CommandRefused { command, why } => {
                let verb = serde_json::to_value(command)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.record(
                    Some(&name),
                    incident,
                    AuditEvent::CommandRefused {
                        command: verb,
                        why: why.clone(),
                    },
                    "autoheal",
                );
            }
        }
    }

    fn describe_hold(&self, name: &str, hold: &Hold) -> (&'static str, String) {
        match hold {
            Hold::Cooldown { until } => (
                "cooldown",
                format!("Action on {name} held: cooling down until {until}."),
            ),
            Hold::Backoff { until } => (
                "backoff",
                format!("Action on {name} held: backing off until {until}."),
            ),
            Hold::Dependency { target } => {
                let dep = self
                    .targets
                    .get(target)
                    .map(|r| r.spec.name.clone())
                    .unwrap_or_else(|| format!("#{}", target.0));
                (
                    "dependency",
                    format!("Action on {name} held: it depends on {dep}, which is failing; {dep} is healed first."),
                )
            }
            Hold::Maintenance { until } => (
                "maintenance",
                match until {
                    Some(u) => format!("Action on {name} held: maintenance window until {u}."),
                    None => format!("Action on {name} held: maintenance window."),
                },
            ),
            Hold::DeployRunning => (
                "deploy_running",
                format!("Action on {name} held: a deploy is running."),
            ),
            Hold::Paused => (
                "paused",
                format!("Action on {name} held: the target is paused."),
            ),
            Hold::Stopped { by } => (
                "stopped",
                format!("No action on {name}: it is {}.", by.describe()),
            ),
        }
    }

    /// Adds the action's attempt (with the `healing` snapshot and its
    /// event) to the pending unit; the action starts once that unit has
    /// committed ([`Self::launch`]). A dry run is recorded as done at once.
    fn run_action(&mut self, id: TargetId, rung: usize, attempt: u32, dry_run: bool) {
        let Some(rt) = self.targets.get(&id) else {
            return;
        };
        let name = rt.spec.name.clone();
        let action_name = rt
            .spec
            .policy
            .ladder
            .get(rung)
            .map(|r| r.action.clone())
            .unwrap_or_default();
        let detail = rt.last_detail.clone();
        let phase = self.engine.phase(id).unwrap_or(Phase::Healing);
        let own = rt
            .spec
            .own_actions
            .iter()
            .find(|a| a.name == action_name)
            .cloned();
        let slot = own.or_else(|| {
            self.actions
                .get(&scope::qualify(scope::workspace_of(&name), &action_name))
                .cloned()
        });
        let incident = self.incident_ref(id);
        let (Some(slot), Some(incident)) = (slot, incident) else {
            let why = if incident.is_none() {
                tracing::error!(target_name = %name, "An action was decided with no recorded incident; not acting.");
                "the incident could not be recorded, so the action did not run".to_string()
            } else {
                format!("no action named {action_name:?}")
            };
            self.record(
                Some(&name),
                incident,
                AuditEvent::ActionFailed {
                    action: String::new(),
                    why: why.clone(),
                },
                "autoheal",
            );
            // Heard by the engine once this round's unit is committed.
            self.pending.inputs.push((
                id,
                Input::ActionFinished(ActionOutcome::Failed { detail: why }),
            ));
            return;
        };
        // The snapshot says "healing" and the attempt is recorded in the
        // same unit; the action runs only once both are durable.
        self.save_state(id);
        let new = NewAttempt {
            incident_id: 0,
            rung: rung as i32,
            attempt: attempt as i32,
            action: action_name.clone(),
            started_at: super::now_ms(),
            dry_run,
        };
        let attempt_ref = self.pending.unit.start_attempt(incident, new);
        self.record(
            Some(&name),
            Some(incident),
            AuditEvent::ActionStarted {
                action: action_name.clone(),
                rung: rung + 1,
                attempt,
                dry_run,
            },
            "autoheal",
        );
        if dry_run {
            self.pending.unit.push(Write::FinishAttempt {
                attempt: attempt_ref,
                finished_at: super::now_ms(),
                outcome: "dry_run".into(),
                detail: "dry-run: nothing was done".into(),
            });
        }
        let ctx = ActionContext {
            target: name,
            incident_id: None,
            state: phase.as_str().to_string(),
            detail,
            rung,
            attempt,
            action: action_name,
        };
        self.pending.launches.push(Launch {
            id,
            attempt: attempt_ref,
            slot,
            ctx,
            dry_run,
        });
    }

    /// Starts an action whose attempt has committed (a dry run only tells
    /// the engine it succeeded).
    async fn launch(&mut self, l: Launch, attempt_id: i64, incident_id: i64) {
        let Launch {
            id,
            slot,
            mut ctx,
            dry_run,
            ..
        } = l;
        ctx.incident_id = Some(incident_id);
        if dry_run {
            events::ActionFinished {
                target: &ctx.target,
                incident_id: Some(incident_id),
                action: &ctx.action,
                kind: &slot.kind,
                outcome: "dry_run",
                detail: "",
                duration: Duration::ZERO,
            }
            .emit(&self.metrics);
            Box::pin(self.feed(id, Input::ActionFinished(ActionOutcome::Succeeded))).await;
            return;
        }
        if let Some(rt) = self.targets.get_mut(&id) {
            rt.attempt_id = Some(attempt_id);
            rt.running = Some(slot.clone());
        }
        let tx = self.tx.clone();
        let limit = self.action_limit.clone();
        self.action_tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let started = tokio::time::Instant::now();
            let outcome = match tokio::time::timeout(slot.timeout, slot.action.run(&ctx)).await {
                Ok(o) => o,
                Err(_) => ActionOutcome::TimedOut,
            };
            let _ = tx
                .send(Msg::ActionDone {
                    target: ctx.target.clone(),
                    attempt_id,
                    outcome,
                    duration: started.elapsed(),
                })
                .await;
        });
    }

    /// Adds an audit event to the pending unit (committed with the
    /// decisions it tells of).
    /// Adds an audit event to the pending unit: its kind, its sentence and
    /// its typed data (the event's fields) as stored and answered.
    fn record(
        &mut self,
        target: Option<&str>,
        incident: Option<Ref>,
        event: AuditEvent,
        actor: &str,
    ) {
        let row = audit_row(target, &event, actor);
        if let Some(c) = &mut self.capture {
            c.push((row.kind.clone(), row.message.clone()));
        }
        // What people are told of, in the same unit as what it tells of.
        if let Some(key) = target {
            let name = scope::name_of(key);
            if let Some(msg) = crate::notify::facts::of(&event, name, &row.message) {
                let n = crate::notify::facts::new_notification(
                    scope::workspace_of(key),
                    Some(name),
                    None,
                    msg,
                    row.at,
                );
                self.pending.unit.notify(n, incident);
            }
        }
        self.pending.unit.event(row, incident);
    }

    /// The open incident of a target as the pending unit can name it: one
    /// this unit opens, or the stored one.
    fn incident_ref(&self, id: TargetId) -> Option<Ref> {
        self.pending
            .opened
            .iter()
            .find(|(t, _, _)| *t == id)
            .map(|(_, _, r)| *r)
            .or_else(|| self.targets.get(&id)?.incident_id.map(Ref::Id))
    }

    /// Commits the pending unit, after any carried ones, then starts the
    /// actions it records. If the store refuses it, its actions do not run
    /// (the engine hears they failed) and the rest is kept to retry.
    async fn flush(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        let inputs = std::mem::take(&mut pending.inputs);
        if !(pending.unit.is_empty() && pending.launches.is_empty()) {
            self.commit_pending(pending).await;
        }
        for (id, input) in inputs {
            Box::pin(self.feed(id, input)).await;
        }
    }

    async fn commit_pending(&mut self, pending: Pending) {
        while let Some(old) = self.carried.front() {
            match self.store.commit(&old.unit).await {
                Ok(done) => {
                    let old = self.carried.pop_front().unwrap_or_default();
                    self.committed(old, done).await;
                }
                Err(e) => {
                    events::StoreWriteFailed {
                        what: "a unit of work",
                        error: &e,
                    }
                    .emit(&self.metrics);
                    self.carry(pending).await;
                    return;
                }
            }
        }
        match self.store.commit(&pending.unit).await {
            Ok(done) => {
                self.committed(pending, done).await;
                self.tell_store_back().await;
            }
            Err(e) => {
                events::StoreWriteFailed {
                    what: "a unit of work",
                    error: &e,
                }
                .emit(&self.metrics);
                self.carry(pending).await;
            }
        }
    }

    /// The store takes writes again after refusing some: people are told
    /// (autoheal's own trouble, to the default workspace's channels).
    async fn tell_store_back(&mut self) {
        let Some((since, refused)) = self.refused_since else {
            return;
        };
        let now = super::now_ms();
        let msg = crate::notify::facts::store_refused(since, now, refused);
        let mut unit = Unit::default();
        unit.notify(
            crate::notify::facts::new_notification(
                autoheal_store::DEFAULT_WORKSPACE,
                None,
                None,
                msg,
                now,
            ),
            None,
        );
        if self.store.commit(&unit).await.is_ok() {
            self.refused_since = None;
            if let Some(bus) = &self.bus {
                bus.notifications_committed();
            }
        }
    }

    /// Keeps a unit the store refused, without its actions: an action runs
    /// only once its attempt is durable, so these are reported failed.
    async fn carry(&mut self, mut pending: Pending) {
        let (_, refused) = self.refused_since.get_or_insert((super::now_ms(), 0));
        *refused += 1;
        let launches = std::mem::take(&mut pending.launches);
        // The attempts (and a dry run's finish) go with their actions.
        pending.unit.writes.retain(|w| {
            !matches!(
                w,
                Write::StartAttempt { .. }
                    | Write::FinishAttempt {
                        attempt: Ref::New(_),
                        ..
                    }
            )
        });
        // Nor may anyone be told they started.
        pending.unit.writes.retain(|w| {
            !matches!(w, Write::Notify { notification, .. } if notification.kind == "heal_started")
        });
        // Their `action_started` events would say an action ran that never
        // did: they say what happened instead (in launch order, one each).
        let mut not_run = launches.iter();
        for w in &mut pending.unit.writes {
            if let Write::AppendEvent { event, .. } = w {
                if event.kind == "action_started" {
                    let Some(l) = not_run.next() else { break };
                    let failed = AuditEvent::ActionFailed {
                        action: l.ctx.action.clone(),
                        why: "its attempt could not be recorded".into(),
                    };
                    *event = audit_row(Some(&l.ctx.target), &failed, "autoheal");
                }
            }
        }
        if !pending.unit.is_empty() {
            if self.carried.len() >= MAX_CARRIED_UNITS {
                self.carried.pop_front();
                tracing::error!("The store has refused writes for too long; the oldest unkept record is dropped.");
            }
            self.carried.push_back(pending);
        }
        for l in launches {
            tracing::error!(
                target_name = %l.ctx.target,
                action = %l.ctx.action,
                "Action {} on {} did not run: its attempt could not be recorded.",
                l.ctx.action,
                l.ctx.target
            );
            let detail = "the attempt could not be recorded, so the action did not run".to_string();
            Box::pin(self.feed(
                l.id,
                Input::ActionFinished(ActionOutcome::Failed { detail }),
            ))
            .await;
        }
    }

    /// What follows a committed unit: the runtime learns the new ids, the
    /// log and metrics tell of the incidents, and the actions start.
    async fn committed(&mut self, pending: Pending, done: autoheal_store::Committed) {
        if let Some(bus) = &self.bus {
            if !done.events.is_empty() {
                bus.events_committed();
            }
            if !done.notifications.is_empty() {
                bus.notifications_committed();
            }
        }
        let new_id = |r: Ref, made: &[i64]| match r {
            Ref::Id(id) => Some(id),
            Ref::New(n) => made.get(n).copied(),
        };
        for (id, reason, r) in &pending.opened {
            let Some(incident_id) = new_id(*r, &done.incidents) else {
                continue;
            };
            let Some(rt) = self.targets.get_mut(id) else {
                continue;
            };
            let name = rt.spec.name.clone();
            if rt.incident_id.is_some() || !self.engine.in_incident(*id) {
                // Committed late (carried past a store fault): the engine
                // has moved on, so the record is closed rather than orphaned.
                self.pending.unit.push(Write::CloseIncident {
                    incident: Ref::Id(incident_id),
                    closed_at: super::now_ms(),
                    resolution: "abandoned".into(),
                });
                continue;
            }
            rt.incident_id = Some(incident_id);
            events::IncidentOpened {
                target: &name,
                incident_id,
                reason,
            }
            .emit(&self.metrics);
            self.update_view(*id, |v| v.incident_id = Some(incident_id));
        }
        for l in pending.launches {
            let (Some(attempt_id), Some(incident_id)) = (
                new_id(l.attempt, &done.attempts),
                self.targets.get(&l.id).and_then(|rt| rt.incident_id),
            ) else {
                continue;
            };
            self.launch(l, attempt_id, incident_id).await;
        }
        if !self.pending.unit.is_empty() {
            Box::pin(self.flush()).await;
        }
    }

    fn update_view(&self, id: TargetId, f: impl FnOnce(&mut TargetView)) {
        let Some(rt) = self.targets.get(&id) else {
            return;
        };
        let Ok(mut view) = self.view.write() else {
            return;
        };
        let phase = self.engine.phase(id).unwrap_or(Phase::Healthy);
        let entry = view
            .entry(rt.spec.name.clone())
            .or_insert_with(|| TargetView {
                name: rt.spec.name.clone(),
                kind: rt.spec.kind.clone(),
                phase: phase.as_str(),
                incident_id: rt.incident_id,
                depends_on: Vec::new(),
                dry_run: false,
                last_status: None,
                last_detail: None,
                last_check_at: None,
                last_latency_ms: None,
                ladder: Vec::new(),
                policy: None,
            });
        entry.kind = rt.spec.kind.clone();
        entry.depends_on = rt.spec.depends_on.clone();
        entry.dry_run = rt.spec.policy.dry_run;
        entry.ladder = rt
            .spec
            .policy
            .ladder
            .iter()
            .map(|r| r.action.clone())
            .collect();
        f(entry);
    }
}

/// The store's row of an audit event: `data` holds the event's fields (an
/// object, empty for events without any).
fn audit_row(target: Option<&str>, event: &AuditEvent, actor: &str) -> NewEvent {
    let workspace = target.map_or(autoheal_store::DEFAULT_WORKSPACE, scope::workspace_of);
    crate::telemetry::events::audit_row(workspace, target, event, actor)
}

/// A saved snapshot, or None (logged) when it cannot be read.
fn read_snapshot(name: &str, s: serde_json::Value) -> Option<TargetSnapshot> {
    match serde_json::from_value(s) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(target_name = name, error = %e, "The saved state of {name} could not be read; starting it fresh.");
            None
        }
    }
}

fn outcome_parts(o: &ActionOutcome) -> (&'static str, String) {
    match o {
        ActionOutcome::Succeeded => ("succeeded", String::new()),
        ActionOutcome::Failed { detail } => ("failed", detail.clone()),
        ActionOutcome::TimedOut => ("timed_out", String::new()),
    }
}
