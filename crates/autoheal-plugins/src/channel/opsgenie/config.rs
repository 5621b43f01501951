//! `type = "opsgenie"`: Opsgenie's Alert API.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which Opsgenie site the account is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `https://api.opsgenie.com`
    #[default]
    Us,
    /// `https://api.eu.opsgenie.com`
    Eu,
}

/// `type = "opsgenie"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
    /// An API integration's key: a secret, sent as `Authorization:
    /// GenieKey <key>`.
    pub api_key: String,
    /// `us` (default) or `eu`.
    #[serde(default)]
    pub region: Region,
    /// Overrides the region's base URL.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Tags added to every alert (each ≤ 50 characters, at most 20).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for OpsgenieConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsgenieConfig")
            .field("api_key", &super::super::Hidden(Some(&self.api_key)))
            .field("region", &self.region)
            .field("api_url", &self.api_url.as_deref().map(crate::redact_url))
            .field("tags", &self.tags)
            .field("timeout", &self.timeout)
            .finish()
    }
}
