//! The engine: one state machine per target, and the timers between them.

use crate::{EngineError, Input, Output, Phase, Policy, TargetId, Timestamp};
use serde::{Deserialize, Serialize};

/// What must survive a restart of autoheal for one target. Opaque to the
/// shell except for `phase`; stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSnapshot {
    pub phase: Phase,
    // The engine work adds the rest: failure times in the window, action
    // times in the actions window, backoff level, last action end, incident
    // start, rung and repeat counters, quarantine flag, paused flag...
}

pub struct Engine {}

impl Engine {
    /// `seed` feeds the engine's own small PRNG, used only for backoff
    /// jitter: the same seed and inputs give the same decisions.
    pub fn new(seed: u64) -> Self {
        let _ = seed;
        todo!()
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
        let _ = (id, policy, now, restored);
        todo!()
    }
    pub fn remove_target(&mut self, id: TargetId) -> Result<(), EngineError> {
        let _ = id;
        todo!()
    }
    /// Replaces the policy (config reload), keeping the state.
    pub fn set_policy(&mut self, id: TargetId, policy: Policy) -> Result<(), EngineError> {
        let _ = (id, policy);
        todo!()
    }
    pub fn handle(&mut self, id: TargetId, now: Timestamp, input: Input) -> Result<(), EngineError> {
        let _ = (id, now, input);
        todo!()
    }
    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let _ = now;
        todo!()
    }
    /// The next decision made, oldest first.
    pub fn poll(&mut self) -> Option<Output> {
        todo!()
    }
    /// When `handle_timeout` must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        todo!()
    }
    pub fn phase(&self, id: TargetId) -> Option<Phase> {
        let _ = id;
        todo!()
    }
    pub fn snapshot(&self, id: TargetId) -> Option<TargetSnapshot> {
        let _ = id;
        todo!()
    }
}

