//! # autoheal-config: one TOML file plus environment overrides → a validated [`Config`]
//!
//! Raw input is parsed into domain types exactly once, here; nothing past
//! this crate handles a raw string from the file. Every problem is a
//! [`ConfigError`] naming the file, the dotted key path and what was expected,
//! and a load reports all of them at once ([`ConfigErrors`]).
//!
//! The layers, lowest first:
//! 1. embedded defaults (`load(None, ..)` is a working config with no targets),
//! 2. the file ([`load`] / [`parse_str`]),
//! 3. environment overrides (`AUTOHEAL_LISTEN`, `AUTOHEAL_DATA_DIR`,
//!    `AUTOHEAL_STORE_URL`, `AUTOHEAL_LOG_FORMAT`, `AUTOHEAL_LOG_LEVEL`,
//!    `AUTOHEAL_DRY_RUN`, `AUTOHEAL_TLS_CERT`, `AUTOHEAL_TLS_KEY`), read from the map the caller passes: no globals.
//!
//! Policies merge in one place (`resolve::merge_policy`): `[defaults]`,
//! then the target's `[groups.<name>]`, then the target's own keys, key by
//! key. The `[docker]` section is passed through to
//! [`autoheal_docker::config::DockerSettings`] as-is; docker-autoheal's own
//! variables (`AUTOHEAL_CONTAINER_LABEL`, ...) are left to the docker crate,
//! which gets the same environment map from the binary.
//!
//! A credential key may hold `{ env = "NAME" }` or `{ file = "PATH" }`
//! instead of the value (`secrets`): read at load from the same environment
//! map and the config file's directory, so the plugins get plain values;
//! [`Config::secret_refs`] keeps where they were, for export.
//!
//! Reading order: `raw` (the file as written), `de` (one piece at a time),
//! `resolve` (layers → domain, semantic checks), `secrets`, `env`, `export`.

mod de;
mod env;
mod error;
mod export;
mod overlay;
mod plugins;
pub mod raw;
mod resolve;
mod secrets;
mod source;
mod values;

pub use env::ENV_VARS;
pub use error::{ConfigError, ConfigErrors, ENVIRONMENT};
pub use overlay::{
    compose, key_of, pointer_in, table_from_json, table_to_json, Composed, FileObjects, Layers,
    Overlay, Section,
};
pub use plugins::{ActionConfig, CheckConfig};
pub use raw::TargetsFile;
pub use resolve::{default_store_url, is_valid_name};
pub use secrets::{Located, SecretRef, SecretRefs, MAX_SECRET_FILE};

use autoheal_docker::config::DockerSettings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from; `None` for embedded defaults.
    pub source: Option<PathBuf>,
    pub server: ServerSettings,
    pub auth: AuthConfig,
    pub store: StoreSettings,
    pub log: LogSettings,
    pub engine: EngineSettings,
    /// `[docker]`, opaque here; validated by its own serde impl.
    pub docker: DockerSettings,
    /// Named actions, referenced by ladders.
    pub actions: BTreeMap<String, ActionConfig>,
    /// The `[groups.<name>]` tables as written (already valid). Their keys
    /// are merged into each member's `policy`; kept so that `autoheal
    /// export` writes the groups as they are.
    pub groups: BTreeMap<String, raw::PolicyKeys>,
    /// Sorted by name.
    pub targets: Vec<TargetConfig>,
    /// `[channels.<name>]`: where notifications go (Slack, e-mail, ...).
    pub channels: BTreeMap<String, autoheal_plugins::channel::ChannelConfig>,
    /// `[notify]`: grouping and flood control.
    pub notify: NotifySettings,
    /// `[routes.<name>]`: which notifications go to which channels; none:
    /// every notification to every channel.
    pub routes: BTreeMap<String, RouteConfig>,
    /// Where it came from (the file's path, or the text), to compose it
    /// again with the API's objects ([`compose`]).
    pub layers: Layers,
    /// The names the file itself defines (not the API's objects laid over
    /// it): the file owns them.
    pub file_objects: FileObjects,
    /// Where the file wrote `{ env = "NAME" }` / `{ file = "PATH" }` in
    /// place of a secret (the values are in the plugins' configs): an
    /// export writes these back.
    pub secret_refs: SecretRefs,
}

/// `[server]`: the HTTP API and dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Where the API listens. Default 127.0.0.1:8080.
    pub listen: SocketAddr,
    /// Host names (`name` or `name:port`) the API answers to besides its
    /// address and `localhost`; `"*"` for any. Default none.
    pub allowed_hosts: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR
    /// ranges). Default none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests per second one client address may send without a
    /// credential (twice as many in a burst); 0 for no limit. Default 100.
    pub rate_limit_per_client: u32,
    /// Requests per second one API key or session may send (twice as many
    /// in a burst); 0 for no limit. Default 2000.
    pub rate_limit_per_credential: u32,
    /// The most API connections open at once; more wait to be accepted.
    /// Default 256.
    pub max_connections: u32,
    /// How long a client may take to send a request's headers, and how
    /// long an idle keep-alive connection is kept. Default 10s.
    pub header_read_timeout: std::time::Duration,
    /// Serve HTTPS from these PEM files (`tls_cert` and `tls_key`, both or
    /// neither); `None` serves plain HTTP. The files are read by the
    /// binary, at start and on SIGHUP, never here. Default none.
    pub tls: Option<TlsFiles>,
    /// Answer other hosts only on the anonymous routes (the probes,
    /// `/metrics`, login and setup) until a user exists: the container
    /// image listens on every interface and sets this. Default false.
    pub loopback_until_admin: bool,
    /// The address people reach autoheal at (`https://autoheal.example.com`),
    /// for links in notifications. Default none (no links).
    pub public_url: Option<String>,
}

/// `server.tls_cert` and `server.tls_key`: where the certificate chain and
/// its private key are. Relative paths are relative to the working
/// directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates: the server's first, then any intermediates (a
    /// "full chain").
    pub cert: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[store]`: where incidents, events and check results are kept.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `sqlite://...` or `postgres://...`. May hold a password: `Debug`
    /// redacts it; use [`StoreSettings::redacted_url`] in logs.
    pub url: String,
    /// Where autoheal keeps its files (the default SQLite database lives
    /// here). Relative paths are relative to the working directory.
    pub data_dir: PathBuf,
    pub retention: Retention,
    /// Which check results are kept as rows (`store.check_history`).
    pub check_history: CheckHistory,
}

/// `[auth]`: users, sessions and who may read what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Who may register. Default `invite`.
    pub registration: Registration,
    /// A session unused this long ends. Default 8h.
    pub session_idle: std::time::Duration,
    /// A session ends this long after sign-in, used or not. Default 7d.
    pub session_lifetime: std::time::Duration,
    /// Who may read `/metrics`. Default `public`.
    pub metrics: MetricsAccess,
    /// Mark the session cookie `Secure` (serve over HTTPS). Default true
    /// when `[server]` serves HTTPS itself (`tls_cert`), else false.
    pub secure_cookies: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            registration: Registration::Invite,
            session_idle: std::time::Duration::from_secs(8 * 3600),
            session_lifetime: std::time::Duration::from_secs(7 * 86_400),
            metrics: MetricsAccess::Public,
            secure_cookies: false,
        }
    }
}

/// `auth.registration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone may register; each new user gets a workspace of their own.
    Open,
    /// With an invitation from a workspace admin.
    #[default]
    Invite,
    /// Nobody registers: users are made with `autoheal user add`.
    Closed,
}

/// `auth.metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Anyone who can connect (Prometheus without a credential).
    #[default]
    Public,
    /// Only with a credential of any role.
    Private,
}

/// Which check results are stored one by one. Every result is counted in
/// the hourly rollups either way, so uptime stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckHistory {
    /// Every result (the history behind `GET .../checks`).
    #[default]
    All,
    /// Only a result whose status differs from the one before it (and the
    /// first after a start): about one row per change instead of one per
    /// check, for many targets at short intervals.
    Changes,
}

impl StoreSettings {
    /// The URL with any password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{scheme}://{user}:***@{}", &rest[at + 1..])
                }
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("url", &self.redacted_url())
            .field("data_dir", &self.data_dir)
            .field("retention", &self.retention)
            .field("check_history", &self.check_history)
            .finish()
    }
}

/// `[store.retention]`: how long records are kept before pruning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Default 7 days.
    pub check_results: Duration,
    /// Default 90 days.
    pub events: Duration,
    /// Default 365 days.
    pub incidents: Duration,
    /// Hourly uptime rollups. Default 400 days.
    pub rollups: Duration,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter: a level ("info") or directives
    /// ("info,autoheal=debug"). Default "info".
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON unless stdout is a terminal (the binary decides).
    #[default]
    Auto,
    Json,
    Text,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Auto => "auto",
            LogFormat::Json => "json",
            LogFormat::Text => "text",
        }
    }
}

/// `[engine]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// Decide and record everything, act on nothing, for every target (it is
    /// also folded into each target's `policy.dry_run`). Default false.
    pub dry_run: bool,
    /// Bound on checks running at once. Default 256.
    pub max_concurrent_checks: usize,
    /// Bound on actions running at once. Default 8.
    pub max_concurrent_actions: usize,
}

/// `[notify]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifySettings {
    /// How long a notification waits for others of its kind (one message
    /// for many). Default 5s; 0 sends each at once.
    pub group_window: std::time::Duration,
    /// Messages per minute and channel; past it, one digest. Default 20.
    pub rate_limit: u32,
    /// A reminder while a target stays quarantined, this often. Default
    /// 4h; 0 never.
    pub remind_every: std::time::Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            group_window: std::time::Duration::from_secs(5),
            rate_limit: 20,
            remind_every: std::time::Duration::from_secs(4 * 3600),
        }
    }
}

/// One `[routes.<name>]`: notifications of these kinds about these
/// targets (or targets of these groups) go to these channels. An empty
/// list means every kind, every target.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub channels: Vec<String>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Or about targets with any of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Quiet hours: windows shaped like `maintenance` entries (`{ cron,
    /// timezone, duration }` or `{ start, end }`) during which this route's
    /// channels are sent nothing; what comes waits for the window's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quiet: Vec<crate::raw::MaintenanceKeys>,
    /// `quiet`, resolved (filled in by the loader).
    #[serde(skip)]
    pub quiet_windows: Vec<autoheal_core::MaintenanceWindow>,
}

/// One target, its policy merged (defaults → group → target).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetConfig {
    /// Unique; `^[a-z0-9][a-z0-9._-]{0,62}$`.
    pub name: String,
    pub group: Option<String>,
    /// How it is observed; `None` when only alerts (or Docker) report on it.
    pub check: Option<CheckConfig>,
    /// The merged policy. `policy.depends_on` is left empty: engine ids are
    /// the shell's business; the names are in [`TargetConfig::depends_on`].
    /// `policy.dry_run` already includes `engine.dry_run`.
    pub policy: autoheal_core::Policy,
    /// Names of targets this one depends on (all exist, no cycles).
    pub depends_on: Vec<String>,
    /// A disabled target is kept in the config and not supervised. Default
    /// true.
    pub enabled: bool,
    /// `tags = ["prod", "team-a"]`: labels routes can choose by.
    pub tags: Vec<String>,
    /// `container = { ... }`: the Docker containers this target is (Docker
    /// reports on it, `container.*` actions act on it).
    pub container: Option<autoheal_docker::ConfiguredTarget>,
}

impl Config {
    /// The target named `name`.
    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.targets[i])
    }
}

/// The embedded defaults as a config file (documented in
/// docs/configuration.md).
pub const DEFAULT_CONFIG: &str = include_str!("defaults.toml");

/// Loads the config file at `path` (or the embedded defaults when `None`),
/// then applies the environment overrides found in `env`.
pub fn load(path: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Config, ConfigErrors> {
    match path {
        None => {
            let mut config = parse_str(DEFAULT_CONFIG, "<embedded defaults>", env)?;
            config.source = None;
            config.layers = Layers::new(None, None, "<embedded defaults>", env);
            Ok(config)
        }
        Some(path) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigErrors(vec![ConfigError::new(
                    origin.clone(),
                    "",
                    format!("cannot read the config file: {e}"),
                )])
            })?;
            let mut config = resolve::resolve(&text, &origin, env, Some(config_dir(path)))?;
            config.source = Some(path.to_path_buf());
            // The text is not kept (read again to compose).
            config.layers = Layers::new(Some(path.to_path_buf()), None, &origin, env);
            Ok(config)
        }
    }
}

/// Parses config text; `origin` names it in messages (usually the file
/// name). `source` of the result is `None`.
pub fn parse_str(
    text: &str,
    origin: &str,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigErrors> {
    let mut config = resolve::resolve(text, origin, env, None)?;
    config.layers = Layers::new(None, Some(text), origin, env);
    Ok(config)
}

/// The directory of the config file at `path`, which relative secret file
/// paths are relative to (`""` for a bare file name: the working
/// directory).
pub(crate) fn config_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}
