//! `type = "webhook"`: a generic JSON webhook with a user-shaped body.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Ready-made bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// docker-autoheal's `{"<key>": "<text>"}` (`key` sets the key).
    DockerAutoheal,
    /// Uptime Kuma's webhook shape `{heartbeat, monitor, msg}`.
    UptimeKuma,
}

fn default_method() -> String {
    "POST".into()
}

/// `type = "webhook"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to send: http(s). A secret: shown as scheme and host only.
    pub url: String,
    /// `POST` (default) or `PUT`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers; their values are secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body with placeholders (`{{text}}`, see the module docs),
    /// written inside quotes. Not with `preset`. Default (neither): the
    /// whole message as JSON.
    #[serde(default)]
    pub body: Option<String>,
    /// A ready-made body instead of `body`.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// The key of the `docker_autoheal` preset. Default `"text"` (Slack's;
    /// `"content"` suits Discord).
    #[serde(default)]
    pub key: Option<String>,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("method", &self.method)
            .field("headers", &crate::redact::KeysOnly(&self.headers))
            .field("body", &self.body)
            .field("preset", &self.preset)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish()
    }
}
