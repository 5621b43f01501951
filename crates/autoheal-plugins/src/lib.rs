//! # autoheal-plugins: checks and actions
//!
//! Each plugin lives in its own module with its config (serde, unknown keys
//! refused) apart from its runtime. The service crate composes the closed
//! enums (`type = "http"`, `type = "command"`, ...) from these configs, so
//! adding a plugin is one variant and one match arm there.
//!
//! Checks never fail: a failing probe *is* the observation (`Status::Down`
//! with a detail). Actions return an [`autoheal_core::ActionOutcome`].

pub mod action;
pub mod check;

pub use action::{Action, ActionContext};
pub use check::Check;

/// A plugin's config is valid but cannot be built (bad regex, bad URL...).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key}: {why}")]
pub struct BuildError {
    /// The key path inside the plugin's config ("url", "expect.status").
    pub key: String,
    pub why: String,
}
