//! The `[docker]` section of autoheal's config file.

use serde::{Deserialize, Serialize};

/// Placeholder: the Docker work fills this in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSettings {
    /// Watch Docker containers at all. Default false when a config file is
    /// given, true on embedded defaults when a Docker socket is reachable.
    #[serde(default)]
    pub enabled: Option<bool>,
}
