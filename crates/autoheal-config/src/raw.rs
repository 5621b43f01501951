//! The file as written: one serde struct per section, every key optional so
//! that "not set" can fall through to the next layer (defaults → group →
//! target). Nothing here is validated beyond its TOML type; `resolve` turns
//! these into domain types. Each struct refuses unknown keys so a typo is an
//! error naming the key, never a silently ignored setting.
//!
//! The same structs serialize back to TOML for `autoheal export`
//! ([`TargetsFile`]).

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The expectation every duration key states in its error message.
pub const DURATION_EXPECTED: &str = r#"a duration like "90s" or "10m""#;

/// A duration written as a human-readable string ("90s", "10m", "1h 30m"),
/// parsed with `humantime`. Serializes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(DURATION_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v.trim())
                    .map(HumanDuration)
                    .map_err(|_| E::custom(format!("expected {DURATION_EXPECTED}, found {v:?}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// `[server]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerKeys {
    pub listen: Option<String>,
    pub allowed_hosts: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<String>>,
    pub rate_limit_per_client: Option<u32>,
    pub rate_limit_per_credential: Option<u32>,
    pub max_connections: Option<u32>,
    pub header_read_timeout: Option<HumanDuration>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub loopback_until_admin: Option<bool>,
    pub public_url: Option<String>,
}

/// `[notify]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyKeys {
    pub group_window: Option<HumanDuration>,
    pub rate_limit: Option<u32>,
    pub remind_every: Option<HumanDuration>,
}

/// `[auth]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthKeys {
    pub registration: Option<crate::Registration>,
    pub session_idle: Option<HumanDuration>,
    pub session_lifetime: Option<HumanDuration>,
    pub metrics: Option<crate::MetricsAccess>,
    pub secure_cookies: Option<bool>,
}

/// `[store]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreKeys {
    pub url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub retention: Option<RetentionKeys>,
    pub check_history: Option<crate::CheckHistory>,
}

/// `[store.retention]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionKeys {
    pub check_results: Option<HumanDuration>,
    pub events: Option<HumanDuration>,
    pub incidents: Option<HumanDuration>,
    pub rollups: Option<HumanDuration>,
}

/// `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogKeys {
    pub format: Option<crate::LogFormat>,
    pub level: Option<String>,
}

/// `[engine]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineKeys {
    pub dry_run: Option<bool>,
    pub max_concurrent_checks: Option<usize>,
    pub max_concurrent_actions: Option<usize>,
}

/// `backoff = { ... }` inside defaults, a group or a target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial: Option<HumanDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<HumanDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_after: Option<HumanDuration>,
}

/// One entry of `ladder = [ ... ]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RungKeys {
    /// Name of an `[actions.<name>]` entry. Required.
    pub action: String,
    /// Default 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<HumanDuration>,
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
}

/// One entry of `maintenance = [ ... ]`: either `cron` (+ `timezone`,
/// `duration`) or `start` + `end`. Which one is decided in `resolve`, so a
/// mix is an error that says what to write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// Declares a struct holding every policy key (plus `$extra` fields first),
/// and its projection onto [`PolicyKeys`]. One list of policy keys for
/// `[defaults]`, `[groups.*]` and `[targets.*]`: adding a key here adds it to
/// all three.
macro_rules! policy_keys_struct {
    ($(#[$meta:meta])* $name:ident { $( $(#[$xmeta:meta])* $xfield:ident : $xty:ty, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$xmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $xfield: Option<$xty>, )*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub failure_threshold: Option<u32>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub failure_window: Option<HumanDuration>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub success_threshold: Option<u32>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub start_period: Option<HumanDuration>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub degraded_is_failure: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub cooldown: Option<HumanDuration>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max_actions: Option<u32>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub actions_window: Option<HumanDuration>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub auto_release: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dry_run: Option<bool>,
            /// Shorthand for a one-rung ladder (verify 30 s, repeat 3).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub action: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ladder: Option<Vec<RungKeys>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub maintenance: Option<Vec<MaintenanceKeys>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub backoff: Option<BackoffKeys>,
        }

        impl $name {
            /// The policy keys alone.
            pub fn policy_keys(&self) -> PolicyKeys {
                PolicyKeys {
                    failure_threshold: self.failure_threshold,
                    failure_window: self.failure_window,
                    success_threshold: self.success_threshold,
                    start_period: self.start_period,
                    degraded_is_failure: self.degraded_is_failure,
                    cooldown: self.cooldown,
                    max_actions: self.max_actions,
                    actions_window: self.actions_window,
                    auto_release: self.auto_release,
                    dry_run: self.dry_run,
                    action: self.action.clone(),
                    ladder: self.ladder.clone(),
                    maintenance: self.maintenance.clone(),
                    backoff: self.backoff.clone(),
                }
            }
        }
    };
}

policy_keys_struct!(
    /// `[defaults]` and `[groups.<name>]`: policy keys only.
    PolicyKeys {}
);

policy_keys_struct!(
    /// `[targets.<name>]`: the target's own keys, then any policy key.
    TargetKeys {
        group: String,
        /// `{ type = "http", ... }`; kept as TOML here and dispatched on
        /// `type` by hand so errors inside it keep their full key path.
        check: toml::Table,
        depends_on: Vec<String>,
        enabled: bool,
        /// Free labels for routing notifications (and, later, filters).
        tags: Vec<String>,
        /// `{ name = ".." }`, `{ labels = [..] }` or `{ compose_project,
        /// compose_service }`, plus `mode`: the Docker containers this
        /// target is.
        container: ContainerKeys,
    }
);

/// `container = { ... }` of a target: which Docker containers it is.
/// Exactly one of `name`, `labels`, `compose_project` + `compose_service`
/// (checked in `resolve`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_service: Option<String>,
    /// `health`, `on_failure` or `both`; default `[docker] mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The `[defaults]`, `[groups]`, `[actions]` and `[targets]` sections of a
/// config file: what `autoheal export` writes and `autoheal import` reads.
/// Serialize with [`TargetsFile::to_toml_string`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    #[serde(default, skip_serializing_if = "is_default")]
    pub defaults: PolicyKeys,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, PolicyKeys>,
    /// Each action as its TOML table (`type = "command"`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<String, toml::Table>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, TargetKeys>,
    /// Each channel as its TOML table (`type = "slack"`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, toml::Table>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, crate::RouteConfig>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl TargetsFile {
    /// The sections as a TOML document that [`crate::parse_str`] accepts.
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}
