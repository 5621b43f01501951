//! Properties of the engine over arbitrary input sequences: a harness answers
//! every `RunAction` after some delay with some outcome, while random
//! observations, commands, deploys and restarts arrive; a checker replays the
//! decisions and asserts the safety guarantees of the policy.

use autoheal_core::{
    ActionOutcome, Backoff, Command, Decision, Engine, Input, MaintenanceWindow, Observation,
    Output, Phase, Policy, Rung, StopBy, TargetId, TargetSnapshot, Timestamp,
};
use proptest::prelude::*;
use std::time::Duration;

const DB: TargetId = TargetId(0);
/// Depends on `DB`.
const APP: TargetId = TargetId(1);
const T0: i64 = 10_000_000_000;

/// One random input.
#[derive(Debug, Clone)]
enum Step {
    Up,
    Down,
    Degraded,
    Command(Command),
    /// `DeployRunning(..)`.
    Deploy(bool),
    Started,
    /// An `ActionFinished` with no action running (must be ignored).
    StrayFinish,
    /// Someone else stops or pauses the target (`Input::Stopped`).
    Stopped(StopBy),
    /// It runs again (`Input::Running`).
    Running,
}

/// One step of a run: wait, then feed one input to one target.
#[derive(Debug, Clone)]
struct Op {
    /// Virtual time to let pass (timers and action results fire) first.
    wait_ms: u64,
    /// Index of the target (0 = `DB`, 1 = `APP`).
    target: usize,
    /// What happens to it.
    step: Step,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Down),
        4 => Just(Step::Up),
        1 => Just(Step::Degraded),
        1 => prop_oneof![
            Just(Command::HealNow),
            Just(Command::Quarantine),
            Just(Command::Release),
            Just(Command::Pause),
            Just(Command::Resume),
        ]
        .prop_map(Step::Command),
        1 => any::<bool>().prop_map(Step::Deploy),
        1 => Just(Step::Started),
        1 => Just(Step::StrayFinish),
        1 => prop_oneof![Just(StopBy::User), Just(StopBy::Pause)].prop_map(Step::Stopped),
        1 => Just(Step::Running),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    (
        prop_oneof![3 => 0u64..5_000, 2 => 0u64..120_000, 1 => 0u64..1_200_000],
        0usize..2,
        step(),
    )
        .prop_map(|(wait_ms, target, step)| Op {
            wait_ms,
            target,
            step,
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        (1u32..4, 1u32..3, 0u64..60, any::<bool>(), 0u64..120),
        (0u64..60, 1.0f64..3.0, 0.0f64..0.5, 0u64..900, 0u64..300),
        (0u32..6, 60u64..3600, prop::collection::vec((0u64..120, 1u32..3), 0..3)),
        (
            any::<bool>(),
            any::<bool>(),
            prop::option::of((0i64..3_600, 1i64..1_800)),
            prop_oneof![Just(0u64), 1u64..600],
        ),
    )
        .prop_map(|(a, b, c, d)| {
            let (failure_threshold, success_threshold, start_period, degraded_is_failure, cooldown) = a;
            let (initial, factor, jitter, reset_after, max) = b;
            let (max_actions, actions_window, rungs) = c;
            let (auto_release, dry_run, window, flap_window) = d;
            Policy {
                failure_threshold,
                failure_window: Duration::from_secs(60),
                success_threshold,
                start_period: Duration::from_secs(start_period),
                degraded_is_failure,
                cooldown: Duration::from_secs(cooldown),
                backoff: Backoff {
                    initial: Duration::from_secs(initial),
                    factor,
                    max: Duration::from_secs(initial + max),
                    jitter,
                    reset_after: Duration::from_secs(reset_after),
                },
                max_actions,
                actions_window: Duration::from_secs(actions_window),
                ladder: rungs
                    .into_iter()
                    .map(|(verify, repeat)| Rung {
                        action: "restart".into(),
                        verify: Duration::from_secs(verify),
                        repeat,
                    })
                    .collect(),
                auto_release,
                flap_window: Duration::from_secs(flap_window),
                depends_on: Vec::new(),
                maintenance: window
                    .map(|(start, len)| MaintenanceWindow::OneOff {
                        start: Timestamp(T0 + start * 1000),
                        end: Timestamp(T0 + (start + len) * 1000),
                    })
                    .into_iter()
                    .collect(),
                dry_run,
            }
        })
}

/// What the checker knows about one target, rebuilt from decisions only.
#[derive(Debug)]
struct Model {
    /// The target's policy (limits to check against).
    policy: Policy,
    /// Phase as announced by transitions.
    phase: Phase,
    /// Action starts since the last release.
    starts: Vec<Timestamp>,
    /// End of the last action (as reported by the harness).
    last_end: Option<Timestamp>,
    /// Actions since the last healthy stretch of `reset_after`.
    since_reset: u32,
    /// When the current healthy stretch began.
    healthy_since: Option<Timestamp>,
    /// The next action was asked by heal-now: cooldown and backoff waived.
    heal_now: bool,
    /// The running action: when it will end and how.
    running: Option<(Timestamp, ActionOutcome)>,
    /// An `Up` was fed since the start, since its last incident opened and
    /// since its last `Started` surely accepted (phase Starting, Healthy or
    /// Suspect). Under an overlay a `Started` is not counted, so the check
    /// built on it is weaker than the engine's rule, never stricter.
    up_seen: bool,
    /// Stopped by someone else (fed `Stopped`, not yet `Running`, or for a
    /// stop by the user, `Started`).
    stopped: Option<StopBy>,
}

/// The engine, a virtual clock and a shell that answers every action.
struct Harness {
    /// The engine under test.
    engine: Engine,
    /// Virtual time.
    now: Timestamp,
    /// One model per target, indexed by id.
    models: Vec<Model>,
    /// Delays and outcomes for actions, used in turn.
    answers: Vec<(u64, u8)>,
    /// Index of the next answer in `answers` (cycled).
    next_answer: usize,
}

impl Harness {
    fn new(seed: u64, db: Policy, mut app: Policy, answers: Vec<(u64, u8)>) -> Self {
        app.depends_on = vec![DB];
        let now = Timestamp(T0);
        let mut engine = Engine::new(seed);
        let mut models = Vec::new();
        for (id, policy) in [(DB, db), (APP, app)] {
            engine.add_target(id, policy.clone(), now, None).unwrap();
            models.push(Model {
                phase: engine.phase(id).unwrap(),
                healthy_since: (engine.phase(id) == Some(Phase::Healthy)).then_some(now),
                policy,
                starts: Vec::new(),
                last_end: None,
                since_reset: 0,
                heal_now: false,
                running: None,
                up_seen: false,
                stopped: None,
            });
        }
        Self {
            engine,
            now,
            models,
            answers,
            next_answer: 0,
        }
    }

    /// Checks every new decision against the guarantees.
    fn check_outputs(&mut self) -> Result<Vec<Output>, TestCaseError> {
        let mut outs = Vec::new();
        while let Some(out) = self.engine.poll() {
            let i = out.target.0 as usize;
            let at = out.at;
            prop_assert_eq!(at, self.now, "decisions are stamped with now");
            match &out.decision {
                Decision::Transition { from, to } => {
                    let m = &mut self.models[i];
                    prop_assert_eq!(*from, m.phase, "transitions chain");
                    prop_assert_ne!(from, to);
                    if *from == Phase::Healthy {
                        if let Some(since) = m.healthy_since.take() {
                            if at.since(since) >= m.policy.backoff.reset_after {
                                m.since_reset = 0;
                            }
                        }
                    }
                    if *to == Phase::Healthy {
                        m.healthy_since = Some(at);
                    }
                    m.phase = *to;
                }
                Decision::RunAction { dry_run, .. } => {
                    // (6) never while a dependency is not known good.
                    for dep in &self.models[i].policy.depends_on {
                        let d = &self.models[dep.0 as usize];
                        prop_assert!(
                            d.up_seen
                                && matches!(
                                    d.phase,
                                    Phase::Healthy | Phase::Starting | Phase::Paused
                                ),
                            "action at {:?} while dependency {:?} is {:?} (seen up: {})",
                            at,
                            dep,
                            d.phase,
                            d.up_seen
                        );
                    }
                    let answer = self.answers[self.next_answer % self.answers.len()];
                    self.next_answer += 1;
                    let m = &mut self.models[i];
                    prop_assert_eq!(*dry_run, m.policy.dry_run);
                    // (4) never while quarantined, paused or in maintenance.
                    prop_assert_eq!(m.phase, Phase::Failing, "actions start from Failing only");
                    for w in &m.policy.maintenance {
                        if let MaintenanceWindow::OneOff { start, end } = w {
                            prop_assert!(
                                !(*start <= at && at < *end),
                                "action inside maintenance at {:?}",
                                at
                            );
                        }
                    }
                    prop_assert!(m.running.is_none(), "one action at a time");
                    // (7) never while someone else stops or paused it.
                    prop_assert!(m.stopped.is_none(), "action at {:?} while stopped", at);
                    // (1) no closed window of actions_window holds more than max_actions.
                    let window = m.policy.actions_window;
                    let recent = m.starts.iter().filter(|s| **s >= at - window).count() + 1;
                    prop_assert!(
                        recent <= m.policy.max_actions as usize,
                        "{} actions within {:?} (max {})",
                        recent,
                        window,
                        m.policy.max_actions
                    );
                    if !m.heal_now {
                        if let Some(end) = m.last_end {
                            // (2) cooldown from the end of the last action.
                            prop_assert!(
                                at >= end + m.policy.cooldown,
                                "cooldown broken at {:?}",
                                at
                            );
                            // (3) backoff never shrinks before a stable stretch.
                            if m.since_reset > 0 {
                                let gap = m.policy.backoff.gap(m.since_reset);
                                prop_assert!(
                                    at >= end + gap,
                                    "backoff {:?} broken at {:?}",
                                    gap,
                                    at
                                );
                            }
                        }
                    }
                    m.heal_now = false;
                    m.starts.push(at);
                    m.since_reset += 1;
                    let outcome = match answer.1 % 3 {
                        0 => ActionOutcome::Succeeded,
                        1 => ActionOutcome::Failed {
                            detail: "exit 1".into(),
                        },
                        _ => ActionOutcome::TimedOut,
                    };
                    let outcome = if m.policy.dry_run {
                        ActionOutcome::Succeeded
                    } else {
                        outcome
                    };
                    m.running = Some((at + Duration::from_millis(answer.0), outcome));
                }
                Decision::Released { .. } => self.models[i].starts.clear(),
                Decision::IncidentOpened { .. } => self.models[i].up_seen = false,
                _ => {}
            }
            outs.push(out);
        }
        Ok(outs)
    }

    /// Runs timers and action completions up to `until`.
    fn advance(&mut self, until: Timestamp) -> Result<(), TestCaseError> {
        loop {
            let timer = self.engine.poll_timeout();
            let finish = self
                .models
                .iter()
                .enumerate()
                .filter_map(|(i, m)| m.running.as_ref().map(|r| (r.0, i)))
                .min();
            let next = match (timer, finish) {
                (Some(t), Some((f, _))) => t.min(f),
                (Some(t), None) => t,
                (None, Some((f, _))) => f,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            match finish {
                Some((f, i)) if f <= self.now => {
                    let (_, outcome) = self.models[i].running.take().unwrap();
                    self.models[i].last_end = Some(self.now);
                    self.engine
                        .handle(TargetId(i as u32), self.now, Input::ActionFinished(outcome))
                        .unwrap();
                }
                _ => self.engine.handle_timeout(self.now),
            }
            self.check_outputs()?;
        }
        self.now = until;
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.advance(self.now + Duration::from_millis(op.wait_ms))?;
        let id = TargetId(op.target as u32);
        let input = match &op.step {
            Step::Up => Input::Observation(Observation::up()),
            Step::Down => Input::Observation(Observation::down("connection refused")),
            Step::Degraded => Input::Observation(Observation::degraded("slow")),
            Step::Command(command) => Input::Command {
                command: *command,
                actor: "prop".into(),
            },
            Step::Deploy(running) => Input::DeployRunning(*running),
            Step::Started => Input::Started,
            Step::Stopped(by) => Input::Stopped { by: *by },
            Step::Running => Input::Running,
            Step::StrayFinish => {
                if self.models[op.target].running.is_some() {
                    return Ok(());
                }
                Input::ActionFinished(ActionOutcome::Succeeded)
            }
        };
        let m = &mut self.models[op.target];
        match op.step {
            Step::Stopped(by) => m.stopped = Some(by),
            Step::Running => m.stopped = None,
            Step::Started if m.stopped == Some(StopBy::User) => m.stopped = None,
            _ => {}
        }
        match op.step {
            Step::Up => m.up_seen = true,
            Step::Started
                if matches!(m.phase, Phase::Starting | Phase::Healthy | Phase::Suspect) =>
            {
                m.up_seen = false
            }
            _ => {}
        }
        let heal_now = matches!(op.step, Step::Command(Command::HealNow));
        let before = self.models[op.target].heal_now;
        if heal_now {
            // Assume accepted: the action it runs (now or after a hold) is
            // exempt from cooldown and backoff.
            self.models[op.target].heal_now = true;
        }
        self.engine.handle(id, self.now, input).unwrap();
        let outs = self.check_outputs()?;
        if heal_now
            && outs
                .iter()
                .any(|o| matches!(o.decision, Decision::CommandRefused { .. }))
        {
            self.models[op.target].heal_now = before;
        }
        Ok(())
    }

    /// (5) snapshot → JSON → restore gives the same phase (mid-action
    /// snapshots restore to Verifying), and the transitions seen so far agree
    /// with the engine.
    fn check_state(&self) -> Result<(), TestCaseError> {
        for (i, m) in self.models.iter().enumerate() {
            let id = TargetId(i as u32);
            let phase = self.engine.phase(id).unwrap();
            prop_assert_eq!(phase, m.phase, "every phase change is announced");
            let json = serde_json::to_string(&self.engine.snapshot(id).unwrap()).unwrap();
            let snapshot: TargetSnapshot = serde_json::from_str(&json).unwrap();
            let mut fresh = Engine::new(0);
            fresh
                .add_target(id, m.policy.clone(), self.now, Some(snapshot))
                .unwrap();
            let expected = if phase == Phase::Healing {
                Phase::Verifying
            } else {
                phase
            };
            prop_assert_eq!(fresh.phase(id).unwrap(), expected);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_keeps_its_guarantees_under_any_inputs(
        seed in any::<u64>(),
        db in policy(),
        app in policy(),
        answers in prop::collection::vec((0u64..90_000, any::<u8>()), 1..8),
        ops in prop::collection::vec(op(), 1..250),
    ) {
        let mut h = Harness::new(seed, db, app, answers);
        for op in &ops {
            h.apply(op)?;
            h.check_state()?;
        }
        h.advance(h.now + Duration::from_secs(7200))?;
        h.check_state()?;
    }
}
