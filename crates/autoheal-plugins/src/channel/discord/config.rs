//! `type = "discord"`: a Discord webhook.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `type = "discord"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The webhook URL (`https://discord.com/api/webhooks/{id}/{token}`).
    /// A secret: shown as scheme and host only. `?wait=true` is added.
    pub url: String,
    /// Overrides the webhook's name. Default: the webhook's own.
    #[serde(default)]
    pub username: Option<String>,
    /// Overrides the webhook's avatar (an http(s) URL).
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("username", &self.username)
            .field("avatar_url", &self.avatar_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}
