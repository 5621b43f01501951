//! `type = "apprise"`: an Apprise API server (caronc/apprise-api).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `type = "apprise"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppriseConfig {
    /// The Apprise API server (`http://apprise:8000`), or a full notify URL
    /// (`http://apprise:8000/notify/KEY`, docker-autoheal's `APPRISE_URL`).
    /// Shown as scheme and host only.
    pub url: String,
    /// A saved configuration's key: `POST /notify/{key}`. Not with `urls`.
    #[serde(default)]
    pub key: Option<String>,
    /// Stateless: the Apprise URLs to notify (`mailto://...`,
    /// `tgram://...`), sent in the body. A secret.
    #[serde(default)]
    pub urls: Option<String>,
    /// Only the saved configuration's URLs with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for AppriseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::super::Hidden;
        f.debug_struct("AppriseConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("key", &Hidden(self.key.as_deref()))
            .field("urls", &Hidden(self.urls.as_deref()))
            .field("tag", &self.tag)
            .field("timeout", &self.timeout)
            .finish()
    }
}
