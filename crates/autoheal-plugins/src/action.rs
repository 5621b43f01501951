//! Actions: one remediation step.

use async_trait::async_trait;
use autoheal_core::ActionOutcome;
use serde::Serialize;

pub mod command;
pub mod coolify;
pub mod render;
pub mod webhook;

/// What an action knows about why it runs; also the placeholders of webhook
/// body templates (`{{target}}`, `{{state}}`, `{{incident_id}}`, ...).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActionContext {
    pub target: String,
    pub incident_id: Option<i64>,
    /// The target's phase when the action was decided ("failing").
    pub state: String,
    /// Last observation's detail ("HTTP 503").
    pub detail: String,
    pub rung: usize,
    pub attempt: u32,
    /// The action's own name.
    pub action: String,
}

#[async_trait]
pub trait Action: Send + Sync + 'static {
    /// Runs once, within the action's timeout.
    async fn run(&self, ctx: &ActionContext) -> ActionOutcome;
}
