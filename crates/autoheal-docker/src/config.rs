//! The `[docker]` section of autoheal's config file, and the docker-autoheal
//! environment variables that override it.
//!
//! Raw strings are parsed here exactly once: the rest of the crate sees
//! [`DockerHost`], [`DockerMode`] and [`Duration`]s. Environment variables
//! win over the file (see [`DockerSettings::apply_env`]); every variable of
//! `willfarrell/autoheal` keeps its meaning (docs/migrating-from-docker-autoheal.md).

use autoheal_core::policy::limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Which container happenings count as failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DockerMode {
    /// Only Docker's health status: `unhealthy` is down, `healthy` is up.
    /// docker-autoheal's behaviour, hence the default.
    #[default]
    Health,
    /// Only the container's life: a non-zero exit or an OOM kill that nobody
    /// asked for is down, running is up. For containers without a HEALTHCHECK.
    OnFailure,
    /// Both of the above.
    Both,
}

impl DockerMode {
    pub fn watches_health(self) -> bool {
        matches!(self, DockerMode::Health | DockerMode::Both)
    }
    pub fn watches_exits(self) -> bool {
        matches!(self, DockerMode::OnFailure | DockerMode::Both)
    }
}

impl FromStr for DockerMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "health" => Ok(DockerMode::Health),
            "on_failure" => Ok(DockerMode::OnFailure),
            "both" => Ok(DockerMode::Both),
            other => Err(format!(
                "expected health, on_failure or both, found {other:?}"
            )),
        }
    }
}

/// Where the Docker engine listens. Parsed from `host`, `DOCKER_SOCK` or
/// `DOCKER_HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// A unix socket path (`/var/run/docker.sock` or `unix:///...`).
    Unix(PathBuf),
    /// Plain HTTP: `tcp://host:port` (e.g. a socket proxy).
    Tcp(String),
    /// Mutual TLS: `tcps://host:port` (or `https://`), with `ca.pem`,
    /// `client-cert.pem` and `client-key.pem` from the cert dir.
    Tls(String),
}

impl Default for DockerHost {
    fn default() -> Self {
        DockerHost::Unix(PathBuf::from(DEFAULT_SOCKET))
    }
}

/// docker-autoheal's and Docker's default socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

impl FromStr for DockerHost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty Docker host".into());
        }
        let addr = |rest: &str| -> Result<String, String> {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() || !rest.contains(':') {
                Err(format!("expected host:port after the scheme in {s:?}"))
            } else {
                Ok(rest.to_string())
            }
        };
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err("expected a socket path after unix://".into());
            }
            Ok(DockerHost::Unix(PathBuf::from(p)))
        } else if let Some(r) = s.strip_prefix("tcps://").or(s.strip_prefix("https://")) {
            Ok(DockerHost::Tls(addr(r)?))
        } else if let Some(r) = s.strip_prefix("tcp://").or(s.strip_prefix("http://")) {
            Ok(DockerHost::Tcp(addr(r)?))
        } else if s.starts_with('/') {
            Ok(DockerHost::Unix(PathBuf::from(s)))
        } else {
            Err(format!(
                "expected a socket path, unix://PATH, tcp://HOST:PORT or tcps://HOST:PORT, found {s:?}"
            ))
        }
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerHost::Unix(p) => write!(f, "unix://{}", p.display()),
            DockerHost::Tcp(a) => write!(f, "tcp://{a}"),
            DockerHost::Tls(a) => write!(f, "tcps://{a}"),
        }
    }
}

/// A URL holding a secret (Discord and Slack webhook URLs carry their token
/// in the path): Debug and Display show only scheme and host.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }
    /// The real URL, for the HTTP client only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `scheme://host/…`: safe to log.
    pub fn redacted(&self) -> String {
        match self.0.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                let host = host.rsplit('@').next().unwrap_or(host);
                format!("{scheme}://{host}/…")
            }
            None => "…".into(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The `[docker]` section. Every field has a default, so an empty section
/// (or none) means docker-autoheal's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerSettings {
    /// Watch Docker containers at all. `None`: the caller decides (true when
    /// a Docker socket is reachable and no config file says otherwise).
    pub enabled: Option<bool>,
    /// The engine: a socket path, `unix://PATH`, `tcp://HOST:PORT` or
    /// `tcps://HOST:PORT`. Default `/var/run/docker.sock`.
    pub host: Option<String>,
    /// Where `ca.pem`, `client-cert.pem` and `client-key.pem` live for
    /// `tcps://`. Default `/certs` (docker-autoheal's).
    pub cert_dir: PathBuf,
    /// Containers with `<label>=true` are targets; `all` makes every
    /// container a target (except those labelled `autoheal=False`).
    pub label: String,
    /// Only containers whose state is running are considered.
    pub only_monitor_running: bool,
    /// Seconds given to a container to stop during a restart or stop (`t=`),
    /// unless its `autoheal.stop.timeout` label says otherwise.
    #[serde(with = "humantime_serde")]
    pub default_stop_timeout: Duration,
    /// Time allowed for each Docker API call (a restart gets this plus its
    /// stop timeout).
    #[serde(with = "humantime_serde")]
    pub api_timeout: Duration,
    /// After autoheal starts, no Down observation is reported for this long
    /// (docker-autoheal's AUTOHEAL_START_PERIOD).
    #[serde(with = "humantime_serde")]
    pub start_period: Duration,
    /// Time between two reconciles (full list + inspect). Events give the
    /// fast path; the reconcile is docker-autoheal's polling and the safety net.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Which happenings are failures. Default `health` (docker-autoheal's).
    pub mode: DockerMode,
    /// Container-name globs (`*`, `?`); when non-empty a container must match
    /// one of them.
    pub allow_names: Vec<String>,
    /// Container-name globs that are never targets.
    pub deny_names: Vec<String>,
    /// Label selectors (`key` or `key=value`); when non-empty a container must
    /// match one of them.
    pub allow_labels: Vec<String>,
    /// Label selectors that are never targets.
    pub deny_labels: Vec<String>,
    /// After a heal restarts a dependency, restart the containers that depend
    /// on it (compose `depends_on`, `autoheal.depends_on`), in order.
    pub restart_dependents: bool,
    /// With several replicas (a compose service), a heal restarts them all,
    /// like `docker compose restart <service>`. False: only the failing ones.
    pub restart_all_replicas: bool,
    /// Run after each restart with arguments: name, short id, state, stop
    /// timeout (docker-autoheal's POST_RESTART_SCRIPT). An argument list, never
    /// a shell line.
    pub post_restart_command: Option<Vec<String>>,
    /// POSTed `{"<webhook_json_key>": "<text>"}` after each restart attempt.
    pub webhook_url: Option<SecretUrl>,
    /// The key of the webhook's JSON object (`content` for Discord, `text`
    /// for Slack). Default `content`, like the docker-autoheal image.
    pub webhook_json_key: String,
    /// POSTed `{"title":"Autoheal","body":"<text>"}` after each restart attempt.
    pub apprise_url: Option<SecretUrl>,
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            enabled: None,
            host: None,
            cert_dir: PathBuf::from("/certs"),
            label: "autoheal".into(),
            only_monitor_running: false,
            default_stop_timeout: Duration::from_secs(10),
            api_timeout: Duration::from_secs(30),
            start_period: Duration::ZERO,
            interval: Duration::from_secs(5),
            mode: DockerMode::Health,
            allow_names: Vec::new(),
            deny_names: Vec::new(),
            allow_labels: Vec::new(),
            deny_labels: Vec::new(),
            restart_dependents: true,
            restart_all_replicas: true,
            post_restart_command: None,
            webhook_url: None,
            webhook_json_key: "content".into(),
            apprise_url: None,
        }
    }
}

impl DockerSettings {
    /// The engine address, parsed. `host` unset means the default socket.
    pub fn docker_host(&self) -> Result<DockerHost, String> {
        match &self.host {
            None => Ok(DockerHost::default()),
            Some(h) => h.parse(),
        }
    }

    /// True when `label = "all"`: every container is a target.
    pub fn watches_all(&self) -> bool {
        self.label == "all"
    }

    /// Checks what serde cannot: host syntax, globs, selectors, durations.
    /// Returns every problem as (key, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if let Err(e) = self.docker_host() {
            errs.push(("docker.host".into(), e));
        }
        if self.label.trim().is_empty() {
            errs.push(("docker.label".into(), "must not be empty".into()));
        }
        for (key, d, limit) in [
            ("docker.interval", self.interval, limits::CHECK_INTERVAL),
            (
                "docker.api_timeout",
                self.api_timeout,
                limits::DOCKER_API_TIMEOUT,
            ),
            (
                "docker.default_stop_timeout",
                self.default_stop_timeout,
                limits::STOP_TIMEOUT,
            ),
            (
                "docker.start_period",
                self.start_period,
                limits::START_PERIOD,
            ),
        ] {
            if let Err(e) = limit.check(d) {
                errs.push((key.into(), e.to_string()));
            }
        }
        for (key, list) in [
            ("docker.allow_labels", &self.allow_labels),
            ("docker.deny_labels", &self.deny_labels),
        ] {
            for s in list {
                if let Err(e) = LabelSelector::parse(s) {
                    errs.push((key.into(), e));
                }
            }
        }
        if let Some(cmd) = &self.post_restart_command {
            if cmd.is_empty() || cmd[0].trim().is_empty() {
                errs.push((
                    "docker.post_restart_command".into(),
                    "must name a program".into(),
                ));
            }
        }
        errs
    }

    /// Applies environment overrides (env wins over the file).
    pub fn apply_env(&mut self, o: &DockerEnvOverrides) {
        if let Some(v) = o.enabled {
            self.enabled = Some(v);
        }
        if let Some(v) = &o.host {
            self.host = Some(v.clone());
        }
        if let Some(v) = &o.cert_dir {
            self.cert_dir = v.clone();
        }
        if let Some(v) = &o.label {
            self.label = v.clone();
        }
        if let Some(v) = o.only_monitor_running {
            self.only_monitor_running = v;
        }
        if let Some(v) = o.default_stop_timeout {
            self.default_stop_timeout = v;
        }
        if let Some(v) = o.api_timeout {
            self.api_timeout = v;
        }
        if let Some(v) = o.start_period {
            self.start_period = v;
        }
        if let Some(v) = o.interval {
            self.interval = v;
        }
        if let Some(v) = &o.post_restart_command {
            self.post_restart_command = Some(v.clone());
        }
        if let Some(v) = &o.webhook_url {
            self.webhook_url = Some(v.clone());
        }
        if let Some(v) = &o.webhook_json_key {
            self.webhook_json_key = v.clone();
        }
        if let Some(v) = &o.apprise_url {
            self.apprise_url = Some(v.clone());
        }
    }

    /// Parses the docker-autoheal variables from `env` and applies them.
    pub fn with_env(
        mut self,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, Vec<(String, String)>> {
        let o = from_env(env)?;
        self.apply_env(&o);
        Ok(self)
    }
}

/// The settings the environment overrides; `None` = not set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerEnvOverrides {
    /// Set to true when any docker-autoheal variable (`AUTOHEAL_*`,
    /// `DOCKER_SOCK`) is present: running the image like docker-autoheal's
    /// means watching Docker.
    pub enabled: Option<bool>,
    pub host: Option<String>,
    pub cert_dir: Option<PathBuf>,
    pub label: Option<String>,
    pub only_monitor_running: Option<bool>,
    pub default_stop_timeout: Option<Duration>,
    pub api_timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub interval: Option<Duration>,
    pub post_restart_command: Option<Vec<String>>,
    pub webhook_url: Option<SecretUrl>,
    pub webhook_json_key: Option<String>,
    pub apprise_url: Option<SecretUrl>,
}

/// Every environment variable [`from_env`] reads.
pub const ENV_VARS: &[&str] = &[
    "AUTOHEAL_CONTAINER_LABEL",
    "AUTOHEAL_INTERVAL",
    "AUTOHEAL_START_PERIOD",
    "AUTOHEAL_DEFAULT_STOP_TIMEOUT",
    "AUTOHEAL_ONLY_MONITOR_RUNNING",
    "DOCKER_SOCK",
    "DOCKER_HOST",
    "DOCKER_CERT_PATH",
    "CURL_TIMEOUT",
    "WEBHOOK_URL",
    "WEBHOOK_JSON_KEY",
    "APPRISE_URL",
    "POST_RESTART_SCRIPT",
];

/// Parses a duration the docker-autoheal way (whole seconds, `5`) or
/// humantime (`5s`, `1m30s`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    humantime::parse_duration(s).map_err(|_| {
        format!("expected whole seconds (e.g. 5) or a duration (e.g. 5s), found {s:?}")
    })
}

/// Parses a boolean: true/false, 1/0, yes/no, on/off (any case).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, found {s:?}")),
    }
}

/// Maps docker-autoheal's environment variables to overrides. Returns every
/// bad variable as (variable, message), not just the first.
///
/// Empty values count as unset (docker-compose writes `VAR=` for an unset
/// `${VAR}`). `DOCKER_SOCK` wins over `DOCKER_HOST` when both are set: it is
/// the variable docker-autoheal users set on purpose.
pub fn from_env(
    env: &BTreeMap<String, String>,
) -> Result<DockerEnvOverrides, Vec<(String, String)>> {
    let mut o = DockerEnvOverrides::default();
    let mut errs: Vec<(String, String)> = Vec::new();
    let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

    let compat_var =
        |k: &str| (k.starts_with("AUTOHEAL_") || k == "DOCKER_SOCK") && ENV_VARS.contains(&k);
    if env.keys().any(|k| compat_var(k) && get(k).is_some()) {
        o.enabled = Some(true);
    }
    if let Some(v) = get("AUTOHEAL_CONTAINER_LABEL") {
        o.label = Some(v.to_string());
    }
    let mut secs = |var: &str, slot: &mut Option<Duration>, limit: limits::Limit| {
        if let Some(v) = get(var) {
            match parse_seconds(v).and_then(|d| limit.check(d).map_err(|e| e.to_string())) {
                Ok(d) => *slot = Some(d),
                Err(e) => errs.push((var.to_string(), e)),
            }
        }
    };
    secs("AUTOHEAL_INTERVAL", &mut o.interval, limits::CHECK_INTERVAL);
    secs(
        "AUTOHEAL_START_PERIOD",
        &mut o.start_period,
        limits::START_PERIOD,
    );
    secs(
        "AUTOHEAL_DEFAULT_STOP_TIMEOUT",
        &mut o.default_stop_timeout,
        limits::STOP_TIMEOUT,
    );
    secs(
        "CURL_TIMEOUT",
        &mut o.api_timeout,
        limits::DOCKER_API_TIMEOUT,
    );
    if let Some(v) = get("AUTOHEAL_ONLY_MONITOR_RUNNING") {
        match parse_bool(v) {
            Ok(b) => o.only_monitor_running = Some(b),
            Err(e) => errs.push(("AUTOHEAL_ONLY_MONITOR_RUNNING".into(), e)),
        }
    }
    for var in ["DOCKER_SOCK", "DOCKER_HOST"] {
        if o.host.is_some() {
            break;
        }
        if let Some(v) = get(var) {
            match v.parse::<DockerHost>() {
                Ok(_) => o.host = Some(v.to_string()),
                Err(e) => errs.push((var.to_string(), e)),
            }
        }
    }
    if let Some(v) = get("DOCKER_CERT_PATH") {
        o.cert_dir = Some(PathBuf::from(v));
    }
    for (var, slot) in [
        ("WEBHOOK_URL", &mut o.webhook_url),
        ("APPRISE_URL", &mut o.apprise_url),
    ] {
        if let Some(v) = get(var) {
            if v.starts_with("http://") || v.starts_with("https://") {
                *slot = Some(SecretUrl::new(v));
            } else {
                errs.push((
                    var.to_string(),
                    "expected an http:// or https:// URL".into(),
                ));
            }
        }
    }
    if let Some(v) = get("WEBHOOK_JSON_KEY") {
        o.webhook_json_key = Some(v.to_string());
    }
    if let Some(v) = get("POST_RESTART_SCRIPT") {
        o.post_restart_command = Some(vec![v.to_string()]);
    }
    if errs.is_empty() {
        Ok(o)
    } else {
        Err(errs)
    }
}

/// `key` (present) or `key=value` (equal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    pub key: String,
    pub value: Option<String>,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (k, v) = match s.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
            None => (s, None),
        };
        if k.is_empty() {
            return Err(format!("expected key or key=value, found {s:?}"));
        }
        Ok(LabelSelector {
            key: k.to_string(),
            value: v,
        })
    }
    pub fn matches(&self, labels: &std::collections::HashMap<String, String>) -> bool {
        match (labels.get(&self.key), &self.value) {
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == want,
            (None, _) => false,
        }
    }
}
