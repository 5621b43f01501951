//! `type = "pushover"`: Pushover's message API.

use std::time::Duration;

use serde::{Deserialize, Serialize};

fn default_api() -> String {
    "https://api.pushover.net".into()
}

/// `type = "pushover"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushoverConfig {
    /// The application's API token: a secret.
    pub token: String,
    /// The user (or group) key: a secret.
    pub user_key: String,
    /// Only this device of the user.
    #[serde(default)]
    pub device: Option<String>,
    /// A sound name (`siren`, `pushover`, ...).
    #[serde(default)]
    pub sound: Option<String>,
    /// -2 to 1 (2, emergency, needs acknowledging and is not offered).
    /// Default: from the message (critical and error 1, else 0).
    #[serde(default)]
    pub priority: Option<i8>,
    /// Default `https://api.pushover.net`.
    #[serde(default = "default_api")]
    pub api_url: String,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for PushoverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::super::Hidden;
        f.debug_struct("PushoverConfig")
            .field("token", &Hidden(Some(&self.token)))
            .field("user_key", &Hidden(Some(&self.user_key)))
            .field("device", &self.device)
            .field("sound", &self.sound)
            .field("priority", &self.priority)
            .field("api_url", &crate::redact_url(&self.api_url))
            .field("timeout", &self.timeout)
            .finish()
    }
}
