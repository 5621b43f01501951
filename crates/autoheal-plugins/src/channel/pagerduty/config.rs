//! `type = "pagerduty"`: PagerDuty Events API v2.

use std::time::Duration;

use serde::{Deserialize, Serialize};

fn default_api() -> String {
    "https://events.pagerduty.com".into()
}
fn default_source() -> String {
    "autoheal".into()
}

/// `type = "pagerduty"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    /// The integration key of an Events API v2 integration (32
    /// characters): a secret.
    pub routing_key: String,
    /// `payload.source`. Default `"autoheal"`.
    #[serde(default = "default_source")]
    pub source: String,
    /// Default `https://events.pagerduty.com` (EU accounts may use
    /// `https://events.eu.pagerduty.com`).
    #[serde(default = "default_api")]
    pub api_url: String,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for PagerdutyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerdutyConfig")
            .field(
                "routing_key",
                &super::super::Hidden(Some(&self.routing_key)),
            )
            .field("source", &self.source)
            .field("api_url", &crate::redact_url(&self.api_url))
            .field("timeout", &self.timeout)
            .finish()
    }
}
