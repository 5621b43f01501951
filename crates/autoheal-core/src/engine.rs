//! The engine: one state machine per target, and the timers between them.
//!
//! Each target runs the same small state machine ([`Phase`]), driven by
//! [`Input`]s stamped with `now` and by its own wake-ups. The engine keeps one
//! timer per target in a binary heap (lazily invalidated by a generation
//! number), so [`Engine::poll_timeout`] is O(1) and
//! [`Engine::handle_timeout`] only touches targets that are due, whatever the
//! number of targets.

use crate::{
    ActionOutcome, Command, Decision, EngineError, Hold, Input, Observation, Output, Phase, Policy,
    QuarantineReason, Resolution, Status, StopBy, TargetId, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

/// The state machine under the two operator overlays (quarantine, pause).
/// The phase shown to the world is this one unless quarantined or paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Base {
    /// Start period: failures are not counted until `until`.
    Starting {
        until: Timestamp,
    },
    Healthy,
    Suspect,
    /// An incident is open and no action is running or being verified.
    Failing,
    /// The action for `rung` is running.
    Healing {
        rung: usize,
    },
    /// The action for `rung` ended; recovered if enough ups come before `until`.
    Verifying {
        rung: usize,
        until: Timestamp,
    },
}

impl Base {
    fn phase(self) -> Phase {
        match self {
            Base::Starting { .. } => Phase::Starting,
            Base::Healthy => Phase::Healthy,
            Base::Suspect => Phase::Suspect,
            Base::Failing => Phase::Failing,
            Base::Healing { .. } => Phase::Healing,
            Base::Verifying { .. } => Phase::Verifying,
        }
    }
}

/// What must survive a restart of autoheal for one target. Opaque to the
/// shell except for `phase`; stored as JSON.
///
/// Every field but `phase` has a serde default, so `{"phase":"healthy"}` (or
/// [`TargetSnapshot::from_phase`]) is a valid, if thin, snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSnapshot {
    /// The phase shown when the snapshot was taken.
    pub phase: Phase,
    /// The state machine under the overlays, with its deadlines; `None` in a
    /// snapshot built from a bare phase (then derived from `phase`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<Base>,
    /// Failure times still inside the failure window: the threshold count.
    #[serde(default)]
    failures: Vec<Timestamp>,
    /// Action start times inside the actions window: the action limit.
    #[serde(default)]
    actions: Vec<Timestamp>,
    /// Actions since the backoff last reset: the next gap.
    #[serde(default)]
    backoff_level: u32,
    /// No action (but heal-now) before this time.
    #[serde(default)]
    backoff_until: Option<Timestamp>,
    /// End of the last action: cooldown is measured from it.
    #[serde(default)]
    last_action_end: Option<Timestamp>,
    /// Start of the open incident: the MTTR sample on close.
    #[serde(default)]
    incident_start: Option<Timestamp>,
    /// Ladder position within the open incident.
    #[serde(default)]
    rung: usize,
    /// Runs of the current rung within the open incident (for `repeat`).
    #[serde(default)]
    rung_runs: u32,
    /// Actions within the open incident (`RunAction::attempt`).
    #[serde(default)]
    attempt: u32,
    /// Set while quarantined, with the reason.
    #[serde(default)]
    quarantine: Option<QuarantineReason>,
    /// Paused by an operator.
    #[serde(default)]
    paused: bool,
    /// A deploy is running.
    #[serde(default)]
    deploy_running: bool,
    /// Consecutive ups: recovery is `success_threshold` of them.
    #[serde(default)]
    consecutive_ups: u32,
    /// The last status observed (a release of an up target is a recovery).
    #[serde(default)]
    last_status: Option<Status>,
    /// Start of the current healthy stretch (backoff reset).
    #[serde(default)]
    healthy_since: Option<Timestamp>,
    /// A heal-now was accepted and its action has not run yet.
    #[serde(default)]
    heal_now: bool,
    /// End of the start period begun by a `Started` during the running
    /// action or its verification: failures before it do not count toward
    /// early verification failure. Absent in older snapshots.
    #[serde(default)]
    verify_grace_until: Option<Timestamp>,
    /// Stopped or paused by someone else, until it runs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stopped: Option<StopBy>,
    /// The open incident recovered here; it closes at this time plus
    /// `flap_window` unless a failure comes back first (a flap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovered_at: Option<Timestamp>,
    /// Flaps of the open incident.
    #[serde(default)]
    flaps: u32,
}

impl TargetSnapshot {
    /// A snapshot knowing only a phase (e.g. from an older store): restores
    /// to that phase with empty counters; an incident phase opens its
    /// incident at restore time.
    pub fn from_phase(phase: Phase) -> Self {
        Self {
            phase,
            state: None,
            failures: Vec::new(),
            actions: Vec::new(),
            backoff_level: 0,
            backoff_until: None,
            last_action_end: None,
            incident_start: None,
            rung: 0,
            rung_runs: 0,
            attempt: 0,
            quarantine: None,
            paused: false,
            deploy_running: false,
            consecutive_ups: 0,
            last_status: None,
            healthy_since: None,
            heal_now: false,
            verify_grace_until: None,
            stopped: None,
            recovered_at: None,
            flaps: 0,
        }
    }
}

/// One target: its policy, its state machine, and its timer bookkeeping.
#[derive(Debug)]
struct Target {
    /// Its own id, for outputs and timers.
    id: TargetId,
    /// When and how to heal it.
    policy: Policy,
    /// The state machine under the overlays.
    base: Base,
    /// Set while quarantined: no action at all.
    quarantine: Option<QuarantineReason>,
    /// Paused by an operator: observe, never act.
    paused: bool,
    /// A deploy is running: hold actions.
    deploy_running: bool,
    /// Failure times inside `failure_window`, oldest first.
    failures: VecDeque<Timestamp>,
    /// Action start times inside `actions_window`, oldest first.
    actions: VecDeque<Timestamp>,
    /// Actions since the backoff last reset.
    backoff_level: u32,
    /// Backoff hold, set when an action ends (jitter drawn then).
    backoff_until: Option<Timestamp>,
    /// Cooldown is measured from here.
    last_action_end: Option<Timestamp>,
    /// Open incident's start.
    incident_start: Option<Timestamp>,
    /// Ladder position in the open incident.
    rung: usize,
    /// Runs of `rung` in the open incident.
    rung_runs: u32,
    /// Actions in the open incident.
    attempt: u32,
    /// Consecutive ups.
    consecutive_ups: u32,
    /// Last status observed.
    last_status: Option<Status>,
    /// Start of the current healthy stretch, while the phase is Healthy.
    healthy_since: Option<Timestamp>,
    /// A heal-now waits to run (overrides cooldown and backoff once).
    heal_now: bool,
    /// Failures in `Verifying` count only from here (a start period begun by
    /// `Started` during the action or its verification).
    verify_grace_until: Option<Timestamp>,
    /// Stopped or paused by someone else (an overlay like `paused`).
    stopped: Option<StopBy>,
    /// The open incident recovered at this time and closes at this time plus
    /// `flap_window`, unless a failure comes back first.
    recovered_at: Option<Timestamp>,
    /// Recurrences within the open incident.
    flaps: u32,
    /// A stop came while an action ran: its result is still owed and no
    /// new action starts before it arrives (one action at a time). Not
    /// persisted: after a restart of autoheal no action is running.
    owed_result: bool,
    /// An `Up` was observed since this engine added the target, since its
    /// last incident opened and since its last accepted `Started`. Not
    /// persisted on purpose: after a restart of autoheal nothing is known
    /// good until it has been seen up again.
    up_seen: bool,
    /// The phase last announced by a `Transition` (what the world sees).
    phase: Phase,
    /// The last hold announced, so each distinct hold is emitted once.
    last_hold: Option<Hold>,
    /// When the current hold ends by itself (cooldown, backoff, maintenance).
    hold_until: Option<Timestamp>,
    /// Re-evaluate at the next `handle_timeout` (after a change that came
    /// without a `now`: policy reload, a dependency removed, a restore).
    needs_eval: bool,
    /// The deadline currently in the timer heap, if any.
    sched: Option<Timestamp>,
    /// Generation of the live heap entry; older entries are stale.
    gen: u64,
}

/// What a target's state machine may touch outside itself while it runs.
struct Cx<'a> {
    /// The time of the input being handled.
    now: Timestamp,
    /// Other targets, read for dependency holds (the running one is taken out).
    others: &'a [Option<Box<Target>>],
    /// Where decisions go.
    out: &'a mut VecDeque<Output>,
    /// The engine's PRNG state (backoff jitter).
    rng: &'a mut u64,
}

/// splitmix64: a tiny, seedable PRNG; returns a uniform value in [0, 1).
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// "90s", "5m", "1h", "250ms": short enough for an incident reason.
fn fmt_duration(d: Duration) -> String {
    // `n / unit * unit == n` rather than `%`: `is_multiple_of` is newer than
    // the workspace's rust-version (1.85).
    let ms = d.as_millis();
    let whole = |unit: u128| ms > 0 && ms / unit * unit == ms;
    if !whole(1000) && ms > 0 {
        format!("{ms}ms")
    } else if whole(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if whole(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

impl Target {
    fn fresh(id: TargetId, policy: Policy, now: Timestamp) -> Self {
        let base = if policy.start_period.is_zero() {
            Base::Healthy
        } else {
            Base::Starting {
                until: now + policy.start_period,
            }
        };
        Self {
            id,
            policy,
            base,
            quarantine: None,
            paused: false,
            deploy_running: false,
            failures: VecDeque::new(),
            actions: VecDeque::new(),
            backoff_level: 0,
            backoff_until: None,
            last_action_end: None,
            incident_start: None,
            rung: 0,
            rung_runs: 0,
            attempt: 0,
            consecutive_ups: 0,
            last_status: None,
            healthy_since: (base == Base::Healthy).then_some(now),
            heal_now: false,
            verify_grace_until: None,
            stopped: None,
            recovered_at: None,
            flaps: 0,
            owed_result: false,
            up_seen: false,
            phase: base.phase(),
            last_hold: None,
            hold_until: None,
            needs_eval: false,
            sched: None,
            gen: 0,
        }
    }

    fn restored(id: TargetId, policy: Policy, now: Timestamp, s: TargetSnapshot) -> Self {
        let verify_of = |rung: usize| policy.ladder.get(rung).map_or(Duration::ZERO, |r| r.verify);
        let mut quarantine = s.quarantine;
        let mut paused = s.paused;
        let mut stopped = s.stopped;
        let base = match s.state {
            Some(base) => base,
            None => match s.phase {
                Phase::Starting => Base::Starting {
                    until: now + policy.start_period,
                },
                Phase::Healthy => Base::Healthy,
                Phase::Suspect => Base::Suspect,
                Phase::Failing => Base::Failing,
                Phase::Healing => Base::Healing { rung: s.rung },
                Phase::Verifying => Base::Verifying {
                    rung: s.rung,
                    until: now + verify_of(s.rung),
                },
                Phase::Quarantined => {
                    if quarantine.is_none() {
                        quarantine = Some(QuarantineReason::Operator {
                            actor: "restore".into(),
                        });
                    }
                    Base::Failing
                }
                Phase::Paused => {
                    paused = true;
                    Base::Healthy
                }
                Phase::Stopped => {
                    stopped.get_or_insert(StopBy::User);
                    Base::Healthy
                }
            },
        };
        // Failures from before the action never count toward early
        // verification failure (older snapshots did not drop them).
        let mut failures: VecDeque<Timestamp> = s.failures.into();
        if let (Base::Verifying { .. }, Some(end)) = (base, s.last_action_end) {
            failures.retain(|t| *t >= end);
        }
        let incident_start = match base {
            Base::Failing | Base::Healing { .. } | Base::Verifying { .. } => {
                Some(s.incident_start.unwrap_or(now))
            }
            _ => s.incident_start,
        };
        let mut t = Self {
            id,
            policy,
            base,
            quarantine,
            paused,
            deploy_running: s.deploy_running,
            failures,
            actions: s.actions.into(),
            backoff_level: s.backoff_level,
            backoff_until: s.backoff_until,
            last_action_end: s.last_action_end,
            incident_start,
            rung: s.rung,
            rung_runs: s.rung_runs,
            attempt: s.attempt,
            consecutive_ups: s.consecutive_ups,
            last_status: s.last_status,
            healthy_since: s.healthy_since,
            heal_now: s.heal_now,
            verify_grace_until: s.verify_grace_until,
            stopped,
            recovered_at: s.recovered_at,
            flaps: s.flaps,
            owed_result: false,
            up_seen: false,
            phase: Phase::Healthy,
            last_hold: None,
            hold_until: None,
            needs_eval: true,
            sched: None,
            gen: 0,
        };
        t.phase = t.displayed();
        if t.phase == Phase::Healthy && t.healthy_since.is_none() {
            t.healthy_since = Some(now);
        }
        t
    }

    fn snapshot(&self) -> TargetSnapshot {
        TargetSnapshot {
            phase: self.phase,
            state: Some(self.base),
            failures: self.failures.iter().copied().collect(),
            actions: self.actions.iter().copied().collect(),
            backoff_level: self.backoff_level,
            backoff_until: self.backoff_until,
            last_action_end: self.last_action_end,
            incident_start: self.incident_start,
            rung: self.rung,
            rung_runs: self.rung_runs,
            attempt: self.attempt,
            quarantine: self.quarantine.clone(),
            paused: self.paused,
            deploy_running: self.deploy_running,
            consecutive_ups: self.consecutive_ups,
            last_status: self.last_status,
            healthy_since: self.healthy_since,
            heal_now: self.heal_now,
            verify_grace_until: self.verify_grace_until,
            stopped: self.stopped,
            recovered_at: self.recovered_at,
            flaps: self.flaps,
        }
    }

    /// Known good, for its dependents: not quarantined, seen up (see
    /// `up_seen`), and `Healthy`, or `Starting` with its last observation up.
    /// The pause overlay does not matter: the state machine under it does.
    fn known_good(&self) -> bool {
        self.quarantine.is_none()
            && self.stopped.is_none()
            && self.up_seen
            && match self.base {
                Base::Healthy => true,
                Base::Starting { .. } => self.last_status == Some(Status::Up),
                _ => false,
            }
    }

    /// The phase the world sees: overlays first.
    fn displayed(&self) -> Phase {
        if self.quarantine.is_some() {
            Phase::Quarantined
        } else if self.stopped.is_some() {
            Phase::Stopped
        } else if self.paused {
            Phase::Paused
        } else {
            self.base.phase()
        }
    }

    fn emit(&self, cx: &mut Cx<'_>, decision: Decision) {
        cx.out.push_back(Output {
            target: self.id,
            at: cx.now,
            decision,
        });
    }

    /// Announces a phase change, if any, and keeps the healthy stretch.
    fn sync(&mut self, cx: &mut Cx<'_>) {
        let to = self.displayed();
        let from = self.phase;
        if to == from {
            return;
        }
        self.emit(cx, Decision::Transition { from, to });
        if from == Phase::Healthy {
            self.maybe_reset_backoff(cx.now);
            self.healthy_since = None;
        }
        if to == Phase::Healthy {
            self.healthy_since = Some(cx.now);
        }
        self.phase = to;
    }

    fn set_base(&mut self, base: Base, cx: &mut Cx<'_>) {
        self.base = base;
        self.sync(cx);
    }

    /// Backoff resets once the target has been Healthy for `reset_after`.
    fn maybe_reset_backoff(&mut self, now: Timestamp) {
        if self.phase != Phase::Healthy {
            return;
        }
        if let Some(since) = self.healthy_since {
            if now.since(since) >= self.policy.backoff.reset_after {
                self.backoff_level = 0;
                self.backoff_until = None;
            }
        }
    }

    fn prune_failures(&mut self, now: Timestamp) {
        let window = self.policy.failure_window;
        // The same arithmetic as the deadline (`deadline`): a failure whose
        // window's end is due is gone, whatever the durations (a window
        // beyond the clock's range once made `since` and `+` disagree, and
        // the timer fired for ever).
        while self.failures.front().is_some_and(|t| *t + window <= now) {
            self.failures.pop_front();
        }
    }

    fn prune_actions(&mut self, now: Timestamp) {
        let oldest_kept = now - self.policy.actions_window;
        while self.actions.front().is_some_and(|t| *t < oldest_kept) {
            self.actions.pop_front();
        }
    }

    /// When this target next needs `handle_timeout`.
    fn deadline(&self) -> Option<Timestamp> {
        let own = match self.base {
            Base::Starting { until } | Base::Verifying { until, .. } => Some(until),
            Base::Suspect => self
                .failures
                .front()
                .map(|t| *t + self.policy.failure_window),
            Base::Failing => self.hold_until,
            Base::Healthy => self.recovered_at.map(|r| r + self.policy.flap_window),
            Base::Healing { .. } => None,
        };
        if self.needs_eval {
            Some(Timestamp::ZERO)
        } else {
            own
        }
    }

    fn observe(&mut self, obs: &Observation, cx: &mut Cx<'_>) {
        let now = cx.now;
        self.last_status = Some(obs.status);
        let failure = match obs.status {
            Status::Down => true,
            Status::Degraded => self.policy.degraded_is_failure,
            Status::Up => false,
        };
        if obs.status == Status::Up {
            self.consecutive_ups = self.consecutive_ups.saturating_add(1);
            self.up_seen = true;
        } else {
            self.consecutive_ups = 0;
        }
        self.prune_failures(now);
        if let Some(by) = self.stopped {
            // Stopped by someone else: recorded, never counted. A failure
            // says once, for the record, that nothing is done about it.
            if failure {
                self.hold(Hold::Stopped { by }, None, cx);
            }
            return;
        }
        match self.base {
            Base::Starting { .. } => {}
            Base::Healthy | Base::Suspect => {
                if failure {
                    self.failures.push_back(now);
                    let count = self.failures.len() as u32;
                    if count >= self.policy.failure_threshold.max(1) {
                        let detail = if obs.detail.is_empty() {
                            obs.status.as_str()
                        } else {
                            obs.detail.as_str()
                        };
                        let reason = format!(
                            "{count} failures within {} (last: {detail})",
                            fmt_duration(self.policy.failure_window)
                        );
                        self.open_incident(reason, cx);
                    } else {
                        self.set_base(Base::Suspect, cx);
                    }
                } else if obs.status == Status::Up {
                    self.failures.clear();
                    self.set_base(Base::Healthy, cx);
                    self.maybe_reset_backoff(now);
                }
            }
            Base::Failing => {
                if failure {
                    self.failures.push_back(now);
                }
                if self.consecutive_ups >= self.policy.success_threshold.max(1) {
                    self.recovered(cx);
                }
            }
            Base::Verifying { rung, .. } => {
                // `failures` was emptied when verification began: only
                // failures after the action (and after a start period begun
                // meanwhile) count.
                if failure && self.verify_grace_until.is_none_or(|g| now >= g) {
                    self.failures.push_back(now);
                }
                if self.consecutive_ups >= self.policy.success_threshold.max(1) {
                    self.recovered(cx);
                } else if self.failures.len() as u64
                    >= u64::from(self.policy.failure_threshold.max(1))
                {
                    // Clearly failing again: no need to wait out `verify`.
                    self.emit(cx, Decision::VerificationFailed { rung });
                    self.after_failed_attempt(cx);
                }
            }
            Base::Healing { .. } => {
                if failure {
                    self.failures.push_back(now);
                }
            }
        }
    }

    /// Enough consecutive ups inside an incident.
    fn recovered(&mut self, cx: &mut Cx<'_>) {
        match &self.quarantine {
            None => {}
            Some(QuarantineReason::Operator { .. }) => return,
            Some(_) if !self.policy.auto_release => return,
            Some(_) => self.quarantine = None,
        }
        if self.policy.flap_window.is_zero() || self.incident_start.is_none() {
            return self.close_incident(Resolution::Recovered, cx);
        }
        // Recovered: healthy again, but the incident stays open for the flap
        // window (a failure within it is the same incident going on).
        self.recovered_at = Some(cx.now);
        self.failures.clear();
        self.heal_now = false;
        self.last_hold = None;
        self.hold_until = None;
        self.set_base(Base::Healthy, cx);
    }

    /// The flap window after a recovery passed without a recurrence.
    fn close_recovered(&mut self, cx: &mut Cx<'_>) {
        let Some(at) = self.recovered_at.take() else {
            return;
        };
        if let Some(start) = self.incident_start.take() {
            self.emit(
                cx,
                Decision::IncidentClosed {
                    resolution: Resolution::Recovered,
                    duration: at.since(start),
                },
            );
        }
        self.flaps = 0;
        self.rung = 0;
        self.rung_runs = 0;
        self.attempt = 0;
    }

    fn open_incident(&mut self, reason: String, cx: &mut Cx<'_>) {
        if self.recovered_at.take().is_some() && self.incident_start.is_some() {
            // A failure back within the flap window: the same incident goes
            // on, where its ladder stood.
            self.up_seen = false;
            self.consecutive_ups = 0;
            self.flaps = self.flaps.saturating_add(1);
            self.emit(
                cx,
                Decision::Flapped {
                    flaps: self.flaps,
                    reason,
                },
            );
            self.set_base(Base::Failing, cx);
            self.try_act(cx);
            return;
        }
        self.flaps = 0;
        self.incident_start = Some(cx.now);
        // Whatever was seen before, it is not known good until seen up again.
        self.up_seen = false;
        self.rung = 0;
        self.rung_runs = 0;
        self.attempt = 0;
        self.consecutive_ups = 0;
        self.emit(cx, Decision::IncidentOpened { reason });
        self.set_base(Base::Failing, cx);
        self.try_act(cx);
    }

    /// Closes the open incident (if any) and goes back to Healthy.
    fn close_incident(&mut self, resolution: Resolution, cx: &mut Cx<'_>) {
        // Recovered earlier and still inside the flap window: it ends there.
        let end = self.recovered_at.take().unwrap_or(cx.now);
        self.flaps = 0;
        if let Some(start) = self.incident_start.take() {
            let duration = end.since(start);
            self.emit(
                cx,
                Decision::IncidentClosed {
                    resolution,
                    duration,
                },
            );
        }
        self.failures.clear();
        self.rung = 0;
        self.rung_runs = 0;
        self.attempt = 0;
        self.heal_now = false;
        self.last_hold = None;
        self.hold_until = None;
        self.set_base(Base::Healthy, cx);
    }

    fn enter_quarantine(&mut self, reason: QuarantineReason, cx: &mut Cx<'_>) {
        self.emit(cx, Decision::Quarantined(reason.clone()));
        self.quarantine = Some(reason);
        self.heal_now = false;
        self.last_hold = None;
        self.hold_until = None;
        self.sync(cx);
    }

    fn hold(&mut self, hold: Hold, until: Option<Timestamp>, cx: &mut Cx<'_>) {
        self.hold_until = until;
        if self.last_hold.as_ref() != Some(&hold) {
            self.emit(cx, Decision::Held(hold.clone()));
            self.last_hold = Some(hold);
        }
    }

    /// In Failing: run the next action if nothing holds it back.
    fn try_act(&mut self, cx: &mut Cx<'_>) {
        if self.base != Base::Failing || self.quarantine.is_some() || self.policy.ladder.is_empty()
        {
            return;
        }
        let now = cx.now;
        if let Some(by) = self.stopped {
            return self.hold(Hold::Stopped { by }, None, cx);
        }
        if self.owed_result {
            // The action running when it was stopped has not reported yet.
            return;
        }
        if self.paused {
            return self.hold(Hold::Paused, None, cx);
        }
        if self.deploy_running {
            return self.hold(Hold::DeployRunning, None, cx);
        }
        let maintenance = self
            .policy
            .maintenance
            .iter()
            .filter_map(|w| w.active_until(now))
            .max();
        if let Some(until) = maintenance {
            return self.hold(Hold::Maintenance { until: Some(until) }, Some(until), cx);
        }
        // A dependency holds unless known good; one the engine does not hold
        // (removed) does not.
        let unknown_dependency =
            self.policy.depends_on.iter().copied().find(
                |dep| matches!(cx.others.get(dep.0 as usize), Some(Some(t)) if !t.known_good()),
            );
        if let Some(target) = unknown_dependency {
            return self.hold(Hold::Dependency { target }, None, cx);
        }
        if !self.heal_now {
            if let Some(end) = self.last_action_end {
                let until = end + self.policy.cooldown;
                if until > now {
                    return self.hold(Hold::Cooldown { until }, Some(until), cx);
                }
            }
            if let Some(until) = self.backoff_until.filter(|u| *u > now) {
                return self.hold(Hold::Backoff { until }, Some(until), cx);
            }
        }
        if self.rung >= self.policy.ladder.len() {
            return self.enter_quarantine(QuarantineReason::LadderExhausted, cx);
        }
        self.prune_actions(now);
        if self.actions.len() as u64 >= u64::from(self.policy.max_actions) {
            let reason = QuarantineReason::ActionLimit {
                actions: self.actions.len() as u32,
                window: self.policy.actions_window,
            };
            return self.enter_quarantine(reason, cx);
        }
        self.actions.push_back(now);
        self.backoff_level = self.backoff_level.saturating_add(1);
        self.attempt = self.attempt.saturating_add(1);
        self.rung_runs = self.rung_runs.saturating_add(1);
        self.heal_now = false;
        self.last_hold = None;
        self.hold_until = None;
        self.verify_grace_until = None;
        let rung = self.rung;
        self.emit(
            cx,
            Decision::RunAction {
                rung,
                attempt: self.attempt,
                dry_run: self.policy.dry_run,
            },
        );
        self.set_base(Base::Healing { rung }, cx);
    }

    /// The action ended (for real or, on restore, assumed to have succeeded):
    /// cooldown and backoff start now.
    fn end_action(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now;
        self.last_action_end = Some(now);
        let jitter = self.policy.backoff.jitter;
        let jitter = if jitter.is_finite() {
            jitter.max(0.0)
        } else {
            0.0
        };
        let gap = self.policy.backoff.gap(self.backoff_level);
        let spread = 1.0 + jitter * next_unit(cx.rng);
        let gap = Duration::try_from_secs_f64(gap.as_secs_f64() * spread).unwrap_or(gap);
        self.backoff_until = Some(now + gap);
        self.consecutive_ups = 0;
    }

    /// After a successful action: verify (unless quarantined: nothing to do).
    fn start_verifying(&mut self, rung: usize, cx: &mut Cx<'_>) {
        if self.quarantine.is_some() {
            self.set_base(Base::Failing, cx);
            return;
        }
        let verify = self
            .policy
            .ladder
            .get(rung)
            .map_or(Duration::ZERO, |r| r.verify);
        // Early verification failure counts afresh from the action's end.
        self.failures.clear();
        self.set_base(
            Base::Verifying {
                rung,
                until: cx.now + verify,
            },
            cx,
        );
    }

    fn action_finished(&mut self, outcome: &ActionOutcome, cx: &mut Cx<'_>) {
        // A result for an action we no longer wait for (e.g. restored from a
        // snapshot taken mid-action) is ignored: it was assumed successful.
        let Base::Healing { rung } = self.base else {
            if std::mem::take(&mut self.owed_result) {
                // The action that ran when it was stopped: nothing to
                // verify, but a new action may now start, its cooldown and
                // backoff counted from this real end (not from the stop).
                let ups = self.consecutive_ups;
                self.end_action(cx);
                self.consecutive_ups = ups;
                self.try_act(cx);
            }
            return;
        };
        self.end_action(cx);
        match outcome {
            ActionOutcome::Succeeded => self.start_verifying(rung, cx),
            ActionOutcome::Failed { .. } | ActionOutcome::TimedOut => self.after_failed_attempt(cx),
        }
    }

    /// The last action did not heal: next repeat, next rung, or quarantine.
    fn after_failed_attempt(&mut self, cx: &mut Cx<'_>) {
        let repeat = self
            .policy
            .ladder
            .get(self.rung)
            .map_or(1, |r| r.repeat.max(1));
        if self.rung_runs >= repeat {
            self.rung += 1;
            self.rung_runs = 0;
        }
        self.base = Base::Failing;
        let exhausted = !self.policy.ladder.is_empty() && self.rung >= self.policy.ladder.len();
        if exhausted && self.quarantine.is_none() {
            self.enter_quarantine(QuarantineReason::LadderExhausted, cx);
        } else {
            self.sync(cx);
            self.try_act(cx);
        }
    }

    fn on_time(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now;
        let mut eval = std::mem::take(&mut self.needs_eval);
        match self.base {
            Base::Starting { until } if until <= now => {
                self.failures.clear();
                self.set_base(Base::Healthy, cx);
            }
            Base::Verifying { rung, until } if until <= now => {
                self.emit(cx, Decision::VerificationFailed { rung });
                self.after_failed_attempt(cx);
                eval = false;
            }
            Base::Suspect => {
                self.prune_failures(now);
                if self.failures.is_empty() {
                    self.set_base(Base::Healthy, cx);
                }
            }
            Base::Healthy
                if self
                    .recovered_at
                    .is_some_and(|r| r + self.policy.flap_window <= now) =>
            {
                self.close_recovered(cx);
            }
            _ => {}
        }
        if self.hold_until.is_some_and(|u| u <= now) {
            self.hold_until = None;
            eval = true;
        }
        if eval {
            self.try_act(cx);
        }
    }

    fn started(&mut self, cx: &mut Cx<'_>) {
        if self.stopped == Some(StopBy::User) {
            // It was started again: it is not stopped any more.
            return self.running(cx);
        }
        match self.base {
            Base::Starting { .. } | Base::Healthy | Base::Suspect => {}
            Base::Healing { .. } | Base::Verifying { .. } => {
                // Typically the action's own restart: failures before it and
                // inside its start period do not fail verification early.
                self.verify_grace_until = Some(cx.now + self.policy.start_period);
                if matches!(self.base, Base::Verifying { .. }) {
                    self.failures.clear();
                }
                return;
            }
            Base::Failing => return, // the incident's own logic goes on
        }
        self.failures.clear();
        self.consecutive_ups = 0;
        self.up_seen = false;
        let base = if self.policy.start_period.is_zero() {
            Base::Healthy
        } else {
            Base::Starting {
                until: cx.now + self.policy.start_period,
            }
        };
        self.set_base(base, cx);
    }

    fn command(&mut self, command: Command, actor: &str, cx: &mut Cx<'_>) {
        let refuse = |t: &Self, cx: &mut Cx<'_>, why: &str| {
            t.emit(
                cx,
                Decision::CommandRefused {
                    command,
                    why: why.to_string(),
                },
            )
        };
        match command {
            Command::HealNow => {
                let why = if self.quarantine.is_some() {
                    Some("quarantined: release it first")
                } else if self.stopped == Some(StopBy::User) {
                    Some("stopped by the user or by compose: start it first")
                } else if self.stopped == Some(StopBy::Pause) {
                    Some("frozen by docker pause: unpause it first")
                } else if self.paused {
                    Some("paused: resume it first")
                } else if self.policy.ladder.is_empty() {
                    Some("the ladder is empty: this target is observe-only")
                } else {
                    match self.base {
                        Base::Healing { .. } => Some("an action is already running"),
                        Base::Verifying { .. } => Some("the last action is being verified"),
                        _ => None,
                    }
                };
                if let Some(why) = why {
                    return refuse(self, cx, why);
                }
                self.heal_now = true;
                if self.incident_start.is_none() || self.base != Base::Failing {
                    self.open_incident(format!("heal requested by {actor}"), cx);
                } else {
                    self.try_act(cx);
                }
            }
            Command::Quarantine => {
                if self.quarantine.is_some() {
                    return refuse(self, cx, "already quarantined");
                }
                self.enter_quarantine(
                    QuarantineReason::Operator {
                        actor: actor.to_string(),
                    },
                    cx,
                );
            }
            Command::Release => {
                if self.quarantine.is_none() {
                    return refuse(self, cx, "not quarantined");
                }
                self.emit(
                    cx,
                    Decision::Released {
                        actor: actor.to_string(),
                    },
                );
                self.quarantine = None;
                self.actions.clear();
                self.failures.clear();
                self.rung = 0;
                self.rung_runs = 0;
                self.attempt = 0;
                self.heal_now = false;
                self.last_hold = None;
                self.hold_until = None;
                match self.base {
                    // The running action's result still decides.
                    Base::Healing { .. } => self.sync(cx),
                    Base::Failing | Base::Verifying { .. } => {
                        let resolution = if self.last_status == Some(Status::Up) {
                            Resolution::Recovered
                        } else {
                            Resolution::Released
                        };
                        self.close_incident(resolution, cx);
                    }
                    Base::Suspect => self.set_base(Base::Healthy, cx),
                    Base::Starting { .. } | Base::Healthy => self.sync(cx),
                }
            }
            Command::Pause => {
                if self.paused {
                    return refuse(self, cx, "already paused");
                }
                self.paused = true;
                self.last_hold = None;
                self.hold_until = None;
                self.sync(cx);
                self.try_act(cx);
            }
            Command::Resume => {
                if !self.paused {
                    return refuse(self, cx, "not paused");
                }
                self.paused = false;
                self.last_hold = None;
                self.sync(cx);
                self.try_act(cx);
            }
        }
    }

    fn handle(&mut self, input: &Input, cx: &mut Cx<'_>) {
        match input {
            Input::Observation(obs) => self.observe(obs, cx),
            Input::ActionFinished(outcome) => self.action_finished(outcome, cx),
            Input::Command { command, actor } => self.command(*command, actor, cx),
            Input::Started => self.started(cx),
            Input::DeployRunning(running) => {
                self.deploy_running = *running;
                self.try_act(cx);
            }
            Input::Stopped { by } => self.stop(*by, cx),
            Input::Running => self.running(cx),
        }
    }

    /// Someone else stops (or pauses) the target: let go of it now.
    fn stop(&mut self, by: StopBy, cx: &mut Cx<'_>) {
        if self.stopped == Some(by) {
            return;
        }
        self.stopped = Some(by);
        self.heal_now = false;
        self.last_hold = None;
        self.hold_until = None;
        self.emit(cx, Decision::Stopped { by });
        if self.quarantine.is_some() {
            // A quarantine (and its incident) is the operator's to end.
            return self.sync(cx);
        }
        if let Base::Healing { .. } = self.base {
            // The running action was decided before the stop: its result is
            // not verified (the shell keeps it from acting), its cooldown and
            // backoff count as for any action, and no new one starts before
            // it reports.
            self.end_action(cx);
            self.owed_result = true;
        }
        match self.base {
            Base::Failing | Base::Healing { .. } | Base::Verifying { .. } => {
                self.close_incident(Resolution::Stopped, cx)
            }
            _ if self.recovered_at.is_some() => self.close_recovered(cx),
            _ => {}
        }
        self.failures.clear();
        self.consecutive_ups = 0;
        if matches!(self.base, Base::Suspect) {
            self.base = Base::Healthy;
        }
        self.sync(cx);
    }

    /// The target runs again after a stop or pause: a start period begins.
    fn running(&mut self, cx: &mut Cx<'_>) {
        if self.stopped.take().is_none() {
            return;
        }
        self.last_hold = None;
        self.hold_until = None;
        self.failures.clear();
        self.consecutive_ups = 0;
        self.up_seen = false;
        if self.quarantine.is_none() {
            self.base = if self.policy.start_period.is_zero() {
                Base::Healthy
            } else {
                Base::Starting {
                    until: cx.now + self.policy.start_period,
                }
            };
        }
        self.sync(cx);
    }

    /// Restore-time fix-ups that need `now` and the PRNG.
    fn after_restore(&mut self, cx: &mut Cx<'_>) {
        if let Base::Healing { rung } = self.base {
            // autoheal died mid-action: assume it happened, never repeat it.
            self.end_action(cx);
            self.start_verifying(rung, cx);
        }
    }
}

/// The policy engine: every target's state machine, its timers and the
/// decisions made so far.
///
/// # Semantics
///
/// **Start period.** A fresh target (or one that reports [`Input::Started`]
/// outside an incident) is `Starting` for `start_period`: observations are
/// recorded, failures are not counted. At its end (a wake-up) it is `Healthy`.
///
/// **Failures.** `Down` counts; `Degraded` counts only with
/// `degraded_is_failure` (otherwise it is neutral: neither a failure nor an
/// up, though it breaks a run of ups). Failures are kept while
/// `now - t < failure_window` (real time). At `failure_threshold` of them an
/// incident opens (`IncidentOpened`, phase `Failing`); below it the target is
/// `Suspect`, and goes back to `Healthy` on one `Up` or when its failures age
/// out of the window (a wake-up).
///
/// **Failing.** With an empty ladder the incident stays open and nothing is
/// done (observe-only). Otherwise the next action runs at once unless held;
/// each distinct hold is announced once by `Held`, in this order: `Paused`,
/// `DeployRunning`, `Maintenance { until }` (wake-up at the window end),
/// `Dependency { target }` (the first `depends_on` target that is not known
/// good, see **Dependencies**), `Cooldown { until: last_action_end + cooldown }`, and
/// `Backoff { until: last_action_end + gap(n) * (1 + jitter * u) }` with `n`
/// the actions since the last backoff reset and `u` in `[0, 1)` drawn from the
/// engine's seeded PRNG when the action ends.
///
/// **Limit.** Before an action runs, if the actions started in
/// `[now - actions_window, now]` already number `max_actions`, the target is
/// `Quarantined(ActionLimit)` instead. Hence no closed window of length
/// `actions_window` ever holds more than `max_actions` starts. Action times
/// are only forgotten by an operator `Release`.
///
/// **Ladder.** `RunAction { rung, attempt, dry_run: policy.dry_run }` puts the
/// target in `Healing`. Rung `i` runs `repeat` times (each verified) before
/// rung `i + 1`; when the last run of the last rung fails,
/// `Quarantined(LadderExhausted)`.
///
/// **Dependencies.** A `depends_on` target holds this target's actions
/// (`Held(Dependency { target })`) unless it is *known good*: not
/// quarantined, `Healthy` (or `Starting` with its last observation `Up`), and
/// observed `Up` at least once since this engine added or restored it, since
/// its last incident opened, and since its last `Started` outside an
/// incident. So a dependency never observed yet holds (a restored snapshot
/// too, even a healthy one: known-good is not persisted), and so does a
/// `Suspect` one. Its pause overlay does not matter (the state machine
/// underneath does). The moment a dependency becomes known good (its first
/// `Up`, `Suspect` → `Healthy` by an `Up` or by its failures ageing out,
/// recovery, release...), its held dependents are re-evaluated and may act at
/// that same `now`. A `depends_on` id the engine does not hold (removed) does
/// not hold anything.
///
/// **Verification.** `ActionFinished(Succeeded)` → `Verifying` until
/// `now + rung.verify`; `success_threshold` consecutive ups close the incident
/// (`IncidentClosed { Recovered, duration }`, `Healthy`). At the deadline:
/// `VerificationFailed { rung }`, then the Failing logic again.
/// Verification also fails early: failures (`Down`, or `Degraded` with
/// `degraded_is_failure`) observed after the action ended are counted afresh
/// (failures from before the action ended, including those while it ran, do
/// not count), and when `failure_threshold` of them fall within
/// `failure_window` the engine emits `VerificationFailed { rung }` at once and
/// goes on exactly as at the deadline (next repeat or rung, subject to
/// cooldown, backoff, the limit and the ladder). A `Started` while the action
/// runs or during verification (typically the action's own restart) begins a
/// start period for this count: failures before it ends do not count, nor do
/// failures before the `Started`; the verify deadline itself does not move.
/// `Failed`/`TimedOut` skip verification and go straight back to the Failing
/// logic. Ups in `Failing` close the incident the same way (targets recover
/// by themselves). Cooldown and backoff count from the action's end.
///
/// **Backoff reset.** The backoff level only resets once the phase has been
/// `Healthy` continuously for `backoff.reset_after`, so gaps never shrink
/// before a stable stretch. A `Release` does not reset it either.
///
/// **Quarantine.** No action at all. Observations are recorded; incidents do
/// not close by themselves, except with `auto_release` for a quarantine the
/// engine decided (limit, ladder): then `success_threshold` ups close the
/// incident as `Recovered` and the target is `Healthy` again. An operator's
/// quarantine only ends by `Release`: `Released { actor }`, the open incident
/// closes (`Recovered` if the last observation was up, else `Released`),
/// failures, ladder position and the action window reset.
///
/// **Commands.** `HealNow` opens an incident if none ("heal requested by
/// `<actor>`") and runs the next rung ignoring threshold, cooldown and backoff
/// (not pause, deploy, maintenance, dependency, the limit, or dry-run; if held,
/// the override waits for the hold to end). It is refused (`CommandRefused`)
/// while quarantined, paused, healing, verifying, or with an empty ladder.
/// `Quarantine` → `Quarantined(Operator)`. `Pause` → `Paused`: the state
/// machine keeps running underneath (incidents open and close, verification
/// goes on) but no action starts (`Held(Paused)`). `Resume` re-evaluates.
/// Redundant commands (release when not quarantined...) are refused.
///
/// **Stopped by someone else.** `Stopped { by }` (a `docker stop`/`kill`
/// autoheal did not send, compose, `docker pause`) emits `Stopped { by }`
/// and puts the target in `Stopped` (under quarantine, which shows first):
/// an open incident closes as `Resolution::Stopped` (one recovered and
/// waiting out its flap window closes as recovered), failures are not
/// counted (a failure says `Held(Stopped)` once), `HealNow` is refused, no
/// action starts (`Held(Stopped)` is checked before every other hold), and
/// it is not known good to its dependents. An action running at the stop is
/// not verified; its cooldown and backoff count, and no new action starts
/// before its `ActionFinished` arrives (one action at a time). `Running`
/// ends it (a `Started` too, for a stop by the user): a start period
/// begins. The stopped state is persisted.
///
/// **Flaps.** With `flap_window > 0`, a verified recovery leaves the
/// incident open (phase `Healthy`) for `flap_window`: a new incident within
/// it is instead `Flapped { flaps }` of the same incident, which goes on
/// where its ladder, backoff and limit stood; when the window passes,
/// `IncidentClosed { Recovered, duration }` with `duration` ending at the
/// last recovery.
///
/// **Deploys.** From `DeployRunning(true)` to `DeployRunning(false)`, actions
/// are held. `Started` in `Failing` changes nothing; in `Healing` or
/// `Verifying` it only delays early verification failure (above).
///
/// **Restore.** [`Engine::add_target`] with a [`TargetSnapshot`] brings back
/// failures, action times, backoff, cooldown, incident, ladder position and
/// the overlays. A snapshot taken in `Healing` restores as if the action
/// succeeded at restore time (`Verifying`, fresh deadline): never re-run. A
/// late `ActionFinished` for it is ignored. Restored targets are re-evaluated
/// at the next `handle_timeout` (their `poll_timeout` is due at once). A
/// restored target is not known good to its dependents until it is observed
/// up. Snapshots from before `verify_grace_until` existed restore as if no
/// `Started` came during verification; their failures from before the
/// action's end are dropped.
///
/// **Dependency cycles** are not detected here (the config layer refuses
/// them): two targets failing and depending on each other both stay held.
///
/// **Every phase change emits `Transition`**, in order with the decisions
/// that caused it.
pub struct Engine {
    /// Targets by `TargetId.0` (ids are dense, assigned by the shell).
    /// Boxed: the table grows by pointers, and a step moves a pointer out
    /// and back rather than the whole target.
    targets: Vec<Option<Box<Target>>>,
    /// How many slots of `targets` are live (heap compaction threshold).
    live: usize,
    /// For each target, the targets that depend on it.
    dependents: HashMap<TargetId, Vec<TargetId>>,
    /// (deadline, target, generation); stale entries are skipped lazily and
    /// the top is kept live after every call, so `poll_timeout` is a peek.
    timers: BinaryHeap<Reverse<(Timestamp, u32, u64)>>,
    /// Source of timer generations (never reused, even across re-adds).
    next_gen: u64,
    /// Decisions not yet polled.
    out: VecDeque<Output>,
    /// splitmix64 state for backoff jitter.
    rng: u64,
}

impl Engine {
    /// `seed` feeds the engine's own small PRNG, used only for backoff
    /// jitter: the same seed and inputs give the same decisions.
    pub fn new(seed: u64) -> Self {
        Self {
            targets: Vec::new(),
            live: 0,
            dependents: HashMap::new(),
            timers: BinaryHeap::new(),
            next_gen: 0,
            out: VecDeque::new(),
            rng: seed,
        }
    }

    /// Adds a target. `restored` comes from the store after a restart.
    /// `now` starts its start period (a fresh target starts in `Starting` if
    /// `start_period > 0`, else `Healthy`).
    pub fn add_target(
        &mut self,
        id: TargetId,
        policy: Policy,
        now: Timestamp,
        restored: Option<TargetSnapshot>,
    ) -> Result<(), EngineError> {
        let idx = id.0 as usize;
        if matches!(self.targets.get(idx), Some(Some(_))) {
            return Err(EngineError::DuplicateTarget(id));
        }
        if self.targets.len() <= idx {
            self.targets.resize_with(idx + 1, || None);
        }
        let target = Box::new(match restored {
            Some(snapshot) => Target::restored(id, policy, now, snapshot),
            None => Target::fresh(id, policy, now),
        });
        self.link(id, &target.policy.depends_on);
        self.targets[idx] = Some(target);
        self.live += 1;
        let mut became_good = Vec::new();
        self.step(id, now, &mut became_good, |t, cx| t.after_restore(cx))?;
        self.drain_became_good(now, became_good);
        self.clean_timers();
        Ok(())
    }

    pub fn remove_target(&mut self, id: TargetId) -> Result<(), EngineError> {
        let target = self
            .targets
            .get_mut(id.0 as usize)
            .and_then(Option::take)
            .ok_or(EngineError::UnknownTarget(id))?;
        self.live -= 1;
        self.unlink(id, &target.policy.depends_on);
        // Dependents may have been held by it.
        let dependents = self.dependents.get(&id).cloned().unwrap_or_default();
        for dependent in dependents {
            self.mark_for_eval(dependent);
        }
        self.clean_timers();
        Ok(())
    }

    /// Replaces the policy (config reload), keeping the state. The target is
    /// re-evaluated at the next `handle_timeout` (due at once).
    pub fn set_policy(&mut self, id: TargetId, policy: Policy) -> Result<(), EngineError> {
        let target = self.target_mut(id)?;
        let old = std::mem::replace(&mut target.policy, policy);
        let new_deps = target.policy.depends_on.clone();
        self.unlink(id, &old.depends_on);
        self.link(id, &new_deps);
        self.mark_for_eval(id);
        self.clean_timers();
        Ok(())
    }

    pub fn handle(
        &mut self,
        id: TargetId,
        now: Timestamp,
        input: Input,
    ) -> Result<(), EngineError> {
        let mut became_good = Vec::new();
        self.step(id, now, &mut became_good, |t, cx| t.handle(&input, cx))?;
        self.drain_became_good(now, became_good);
        self.clean_timers();
        Ok(())
    }

    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let mut became_good = Vec::new();
        while let Some(&Reverse((at, raw, gen))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let id = TargetId(raw);
            match self.targets.get_mut(raw as usize) {
                Some(Some(t)) if t.gen == gen && t.sched == Some(at) => t.sched = None,
                _ => continue, // stale
            }
            // The target exists: checked just above.
            let _ = self.step(id, now, &mut became_good, |t, cx| t.on_time(cx));
            self.drain_became_good(now, std::mem::take(&mut became_good));
        }
        self.clean_timers();
    }

    /// The next decision made, oldest first.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When `handle_timeout` must next be called, if ever. A time in the past
    /// (possibly [`Timestamp::ZERO`]) means "at once".
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn phase(&self, id: TargetId) -> Option<Phase> {
        self.target(id).map(|t| t.phase)
    }

    pub fn snapshot(&self, id: TargetId) -> Option<TargetSnapshot> {
        self.target(id).map(Target::snapshot)
    }

    /// Whether the target has an open incident (from its opening to its
    /// close, quarantine included). The shell reconciles its record of
    /// incidents with this at restore.
    pub fn in_incident(&self, id: TargetId) -> bool {
        self.target(id).is_some_and(|t| t.incident_start.is_some())
    }

    /// How many targets the engine holds.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when the engine holds no target.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn target(&self, id: TargetId) -> Option<&Target> {
        self.targets.get(id.0 as usize).and_then(Option::as_deref)
    }

    fn target_mut(&mut self, id: TargetId) -> Result<&mut Target, EngineError> {
        self.targets
            .get_mut(id.0 as usize)
            .and_then(Option::as_deref_mut)
            .ok_or(EngineError::UnknownTarget(id))
    }

    /// Runs `f` on one target (taken out of the table so it can read the
    /// others), notes in `became_good` whether it just became known good (its
    /// dependents then re-evaluate), then reschedules its timer.
    fn step(
        &mut self,
        id: TargetId,
        now: Timestamp,
        became_good: &mut Vec<TargetId>,
        f: impl FnOnce(&mut Target, &mut Cx<'_>),
    ) -> Result<(), EngineError> {
        let idx = id.0 as usize;
        let mut target = self
            .targets
            .get_mut(idx)
            .and_then(Option::take)
            .ok_or(EngineError::UnknownTarget(id))?;
        let was_good = target.known_good();
        let mut cx = Cx {
            now,
            others: &self.targets,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        f(&mut target, &mut cx);
        if !was_good && target.known_good() {
            became_good.push(id);
        }
        self.reschedule(&mut target);
        self.targets[idx] = Some(target);
        Ok(())
    }

    /// Re-evaluates the dependents of targets that just became known good.
    fn drain_became_good(&mut self, now: Timestamp, mut became_good: Vec<TargetId>) {
        while let Some(dependency) = became_good.pop() {
            let dependents = self
                .dependents
                .get(&dependency)
                .cloned()
                .unwrap_or_default();
            for dependent in dependents {
                let _ = self.step(dependent, now, &mut became_good, |t, cx| t.try_act(cx));
            }
        }
    }

    fn mark_for_eval(&mut self, id: TargetId) {
        if let Some(Some(mut target)) = self.targets.get_mut(id.0 as usize).map(Option::take) {
            target.needs_eval = true;
            self.reschedule(&mut target);
            self.targets[id.0 as usize] = Some(target);
        }
    }

    fn reschedule(&mut self, target: &mut Target) {
        // A deadline that saturated at the end of time is "never": at a
        // clock there, a timer for it would fire again and again.
        let deadline = target.deadline().filter(|at| *at != Timestamp::MAX);
        if deadline == target.sched {
            return;
        }
        target.sched = deadline;
        if let Some(at) = deadline {
            self.next_gen += 1;
            target.gen = self.next_gen;
            self.timers.push(Reverse((at, target.id.0, target.gen)));
        }
    }

    fn is_live(&self, at: Timestamp, raw: u32, gen: u64) -> bool {
        matches!(self.targets.get(raw as usize), Some(Some(t)) if t.gen == gen && t.sched == Some(at))
    }

    /// Pops stale entries off the top (so `poll_timeout` is exact) and
    /// rebuilds the heap when stale entries dominate it.
    fn clean_timers(&mut self) {
        if self.timers.len() > 4 * self.live + 1024 {
            let live: Vec<_> = self
                .targets
                .iter()
                .flatten()
                .filter_map(|t| t.sched.map(|at| Reverse((at, t.id.0, t.gen))))
                .collect();
            self.timers = BinaryHeap::from(live);
        }
        while let Some(&Reverse((at, raw, gen))) = self.timers.peek() {
            if self.is_live(at, raw, gen) {
                break;
            }
            self.timers.pop();
        }
    }

    fn link(&mut self, id: TargetId, depends_on: &[TargetId]) {
        for dep in depends_on {
            let list = self.dependents.entry(*dep).or_default();
            if !list.contains(&id) {
                list.push(id);
            }
        }
    }

    fn unlink(&mut self, id: TargetId, depends_on: &[TargetId]) {
        for dep in depends_on {
            if let Some(list) = self.dependents.get_mut(dep) {
                list.retain(|d| *d != id);
                if list.is_empty() {
                    self.dependents.remove(dep);
                }
            }
        }
    }
}
