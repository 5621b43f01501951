//! `type = "slack"`: a Slack incoming webhook.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `type = "slack"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming webhook URL (`https://hooks.slack.com/services/T../B../..`).
    /// A secret: shown as scheme and host only.
    pub url: String,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("timeout", &self.timeout)
            .finish()
    }
}
