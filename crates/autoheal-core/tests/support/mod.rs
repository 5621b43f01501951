//! A virtual-clock harness around [`Engine`]: the scenario and property tests
//! drive it with seconds, never sleep, and read the decisions back.
#![allow(dead_code)] // each test file uses a different part of it

use autoheal_core::{
    ActionOutcome, Command, Decision, Engine, Input, Observation, Output, Phase, Policy, Rung,
    TargetId, Timestamp,
};
use std::time::Duration;

/// The target most scenarios talk about.
pub const APP: TargetId = TargetId(0);
/// Its database, for dependency scenarios.
pub const DB: TargetId = TargetId(1);

/// An engine plus the virtual `now` and everything it decided so far.
pub struct Sim {
    /// The engine under test.
    pub engine: Engine,
    /// Virtual time, moved only by the test.
    pub now: Timestamp,
    /// Every output so far, in order.
    pub log: Vec<Output>,
    /// How much of `log` `take` has already returned.
    taken: usize,
}

/// Seconds as a duration (tests speak in seconds).
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A rung with `repeat` 1.
pub fn rung(action: &str, verify_secs: u64) -> Rung {
    Rung {
        action: action.into(),
        verify: secs(verify_secs),
        repeat: 1,
    }
}

/// The default policy with a one-rung "restart" ladder verified for 30 s.
pub fn restart_policy() -> Policy {
    Policy {
        ladder: vec![rung("restart", 30)],
        ..Policy::default()
    }
}

impl Sim {
    /// An empty engine at t = 1 000 000 s (far from the epoch, so windows
    /// reaching into the past stay positive).
    pub fn new() -> Self {
        Self {
            engine: Engine::new(7),
            now: Timestamp(1_000_000_000),
            log: Vec::new(),
            taken: 0,
        }
    }

    /// Adds a fresh target now.
    pub fn add(&mut self, id: TargetId, policy: Policy) -> &mut Self {
        self.engine.add_target(id, policy, self.now, None).unwrap();
        self.drain();
        self
    }

    /// Moves the clock forward, firing every timer on its own time.
    pub fn wait(&mut self, d: Duration) -> &mut Self {
        let target = self.now + d;
        while let Some(at) = self.engine.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
        self
    }

    pub fn input(&mut self, id: TargetId, input: Input) -> &mut Self {
        self.engine.handle(id, self.now, input).unwrap();
        self.drain();
        self
    }

    pub fn down(&mut self, id: TargetId) -> &mut Self {
        self.input(id, Input::Observation(Observation::down("HTTP 503")))
    }

    pub fn up(&mut self, id: TargetId) -> &mut Self {
        self.input(id, Input::Observation(Observation::up()))
    }

    /// `n` downs, `every` apart (the first one now).
    pub fn downs(&mut self, id: TargetId, n: usize, every: Duration) -> &mut Self {
        for i in 0..n {
            if i > 0 {
                self.wait(every);
            }
            self.down(id);
        }
        self
    }

    pub fn finish(&mut self, id: TargetId, outcome: ActionOutcome) -> &mut Self {
        self.input(id, Input::ActionFinished(outcome))
    }

    pub fn succeed(&mut self, id: TargetId) -> &mut Self {
        self.finish(id, ActionOutcome::Succeeded)
    }

    pub fn fail(&mut self, id: TargetId) -> &mut Self {
        self.finish(
            id,
            ActionOutcome::Failed {
                detail: "exit 1".into(),
            },
        )
    }

    pub fn command(&mut self, id: TargetId, command: Command) -> &mut Self {
        self.input(
            id,
            Input::Command {
                command,
                actor: "alice".into(),
            },
        )
    }

    pub fn phase(&self, id: TargetId) -> Phase {
        self.engine.phase(id).unwrap()
    }

    fn drain(&mut self) {
        while let Some(out) = self.engine.poll() {
            self.log.push(out);
        }
    }

    /// Decisions about `id` since the last `take`, for any target.
    pub fn take(&mut self, id: TargetId) -> Vec<Decision> {
        let new = self.log[self.taken..]
            .iter()
            .filter(|o| o.target == id)
            .map(|o| o.decision.clone())
            .collect();
        self.taken = self.log.len();
        new
    }

    /// Decisions about `id` since the last `take`, without the transitions.
    pub fn take_plain(&mut self, id: TargetId) -> Vec<Decision> {
        self.take(id)
            .into_iter()
            .filter(|d| !matches!(d, Decision::Transition { .. }))
            .collect()
    }

    /// Times (ms) at which actions started for `id`, over the whole log.
    pub fn action_times(&self, id: TargetId) -> Vec<Timestamp> {
        self.log
            .iter()
            .filter(|o| o.target == id && matches!(o.decision, Decision::RunAction { .. }))
            .map(|o| o.at)
            .collect()
    }

    /// Runs every action as soon as it is asked, succeeding at once, and lets
    /// its verification fail: for `total` of virtual time, with `id` down
    /// every `every`.
    pub fn keep_failing(&mut self, id: TargetId, total: Duration, every: Duration) -> &mut Self {
        let end = self.now + total;
        while self.now < end {
            self.down(id);
            if self.phase(id) == Phase::Healing {
                self.succeed(id);
            }
            self.wait(every);
        }
        self
    }
}

/// True if `d` is a `RunAction`.
pub fn is_action(d: &Decision) -> bool {
    matches!(d, Decision::RunAction { .. })
}
