//! `type = "twilio"`: SMS through Twilio's Messages API.

use std::time::Duration;

use serde::{Deserialize, Serialize};

fn default_api() -> String {
    "https://api.twilio.com".into()
}

/// `type = "twilio"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// The account SID (`AC` + 32 hex digits); the Basic auth user.
    pub account_sid: String,
    /// The account's auth token: a secret (Basic auth password).
    pub auth_token: String,
    /// The sender: a Twilio number in E.164 (`+15005550006`), or use
    /// `messaging_service_sid` instead.
    #[serde(default)]
    pub from: Option<String>,
    /// A Messaging Service (`MG...`) instead of `from`.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// The recipient in E.164 (`+14155550100`).
    pub to: String,
    /// Default `https://api.twilio.com`.
    #[serde(default = "default_api")]
    pub api_url: String,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &super::super::Hidden(Some(&self.auth_token)))
            .field("from", &self.from)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("to", &self.to)
            .field("api_url", &crate::redact_url(&self.api_url))
            .field("timeout", &self.timeout)
            .finish()
    }
}
