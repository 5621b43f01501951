//! Checks: how a target is observed.

use async_trait::async_trait;
use autoheal_core::Observation;

pub mod exec;
pub mod http;
pub mod tcp;

#[async_trait]
pub trait Check: Send + Sync + 'static {
    /// Runs the probe once, within its own timeout, and says what it saw.
    async fn check(&self) -> Observation;
}
