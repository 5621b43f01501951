//! `type = "teams"`: a Microsoft Teams workflow webhook (Power Automate
//! "When a Teams webhook request is received").

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `type = "teams"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The workflow's HTTP POST URL (it holds a `sig=` signature): a
    /// secret, shown as scheme and host only.
    pub url: String,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for TeamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("timeout", &self.timeout)
            .finish()
    }
}
