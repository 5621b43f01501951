//! `type = "ntfy"`: publish to an ntfy topic (ntfy.sh or self-hosted).

use std::time::Duration;

use serde::{Deserialize, Serialize};

fn default_server() -> String {
    "https://ntfy.sh".into()
}

/// `type = "ntfy"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// The server. Default `https://ntfy.sh`; self-hosted on loopback or a
    /// private address is fine.
    #[serde(default = "default_server")]
    pub server: String,
    /// The topic (letters, digits, `-`, `_`; at most 64).
    pub topic: String,
    /// 1 (min) to 5 (max). Default: from the message (critical 5, error
    /// and warning 4, else 3).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Tags (emoji short codes such as `warning`) added to the message's
    /// own (`rotating_light` for trouble, `white_check_mark` for good news).
    #[serde(default)]
    pub tags: Vec<String>,
    /// An access token (`tk_...`), sent as `Authorization: Bearer`. A secret.
    #[serde(default)]
    pub token: Option<String>,
    /// Basic auth instead of a token. `password` is a secret.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for NtfyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::super::Hidden;
        f.debug_struct("NtfyConfig")
            .field("server", &crate::redact_url(&self.server))
            .field("topic", &self.topic)
            .field("priority", &self.priority)
            .field("tags", &self.tags)
            .field("token", &Hidden(self.token.as_deref()))
            .field("username", &self.username)
            .field("password", &Hidden(self.password.as_deref()))
            .field("timeout", &self.timeout)
            .finish()
    }
}
