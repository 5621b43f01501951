//! `type = "matrix"`: post to a Matrix room through the client-server API.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `type = "matrix"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// The homeserver's client API base (`https://matrix.example.org`).
    pub homeserver: String,
    /// The room's id (`!abcdef:example.org`; not an alias). The bot's user
    /// must have joined it.
    pub room_id: String,
    /// The bot user's access token: a secret, sent as `Authorization:
    /// Bearer`.
    pub access_token: String,
    /// Send as `m.text` instead of `m.notice` (bots' default).
    #[serde(default)]
    pub msgtype_text: bool,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for MatrixConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixConfig")
            .field("homeserver", &crate::redact_url(&self.homeserver))
            .field("room_id", &self.room_id)
            .field(
                "access_token",
                &super::super::Hidden(Some(&self.access_token)),
            )
            .field("msgtype_text", &self.msgtype_text)
            .field("timeout", &self.timeout)
            .finish()
    }
}
