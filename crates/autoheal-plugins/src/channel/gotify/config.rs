//! `type = "gotify"`: a Gotify server's application.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `type = "gotify"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GotifyConfig {
    /// The server (`https://gotify.example.com`, loopback fine).
    pub server: String,
    /// The application's token (Apps → create): a secret, sent as
    /// `X-Gotify-Key`.
    pub token: String,
    /// 0-10. Default: from the message (critical 10, error 8, warning 6,
    /// else 4).
    #[serde(default)]
    pub priority: Option<u8>,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for GotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GotifyConfig")
            .field("server", &crate::redact_url(&self.server))
            .field("token", &super::super::Hidden(Some(&self.token)))
            .field("priority", &self.priority)
            .field("timeout", &self.timeout)
            .finish()
    }
}
