//! Which containers are targets, what each target is called, and the
//! per-container policy overrides read from labels.
//!
//! A target's identity survives re-creation (`docker compose up` replacing a
//! container gives it a new id): it is the `autoheal.id` label when present,
//! else the compose `project/service` (all replicas of a service are one
//! target), else the container name.

pub use crate::config::LabelSelector;
use crate::config::{parse_bool, parse_seconds, DockerMode, DockerSettings};
use autoheal_core::policy::limits;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

pub const LABEL_ID: &str = "autoheal.id";
pub const LABEL_STOP_TIMEOUT: &str = "autoheal.stop.timeout";
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const COMPOSE_DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// How a target finds its containers again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetKey {
    /// Containers labelled `autoheal.id=<id>`.
    Labelled { id: String },
    /// Containers of one compose service (every replica).
    ComposeService { project: String, service: String },
    /// One container by name.
    Container { name: String },
    /// The containers a `[targets.<name>] container = { ... }` selects.
    Selected { selector: ContainerSelector },
}

/// A Docker target: its name (what the supervisor, the API and the logs call
/// it) and how to find its containers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DockerTarget {
    /// `<autoheal.id>`, `<project>/<service>` or `<container name>`.
    pub name: String,
    pub key: TargetKey,
}

impl fmt::Display for DockerTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl DockerTarget {
    /// The target a container belongs to, from its name and labels.
    pub fn of_container(name: &str, labels: &HashMap<String, String>) -> DockerTarget {
        if let Some(id) = labels.get(LABEL_ID).filter(|v| !v.trim().is_empty()) {
            return DockerTarget {
                name: id.trim().to_string(),
                key: TargetKey::Labelled {
                    id: id.trim().to_string(),
                },
            };
        }
        if let (Some(p), Some(s)) = (labels.get(COMPOSE_PROJECT), labels.get(COMPOSE_SERVICE)) {
            return DockerTarget {
                name: format!("{p}/{s}"),
                key: TargetKey::ComposeService {
                    project: p.clone(),
                    service: s.clone(),
                },
            };
        }
        let name = name.trim_start_matches('/').to_string();
        DockerTarget {
            name: name.clone(),
            key: TargetKey::Container { name },
        }
    }

    /// True when a container with this name and these labels belongs here.
    pub fn contains(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        match &self.key {
            TargetKey::Selected { selector } => selector.matches(name, labels),
            key => DockerTarget::of_container(name, labels).key == *key,
        }
    }

    /// A configured target (`[targets.<name>] container = { ... }`).
    pub fn configured(name: &str, selector: ContainerSelector) -> DockerTarget {
        DockerTarget {
            name: name.to_string(),
            key: TargetKey::Selected { selector },
        }
    }

    /// True for a target declared in the config (not discovered by label).
    pub fn is_configured(&self) -> bool {
        matches!(self.key, TargetKey::Selected { .. })
    }

    /// List filters that narrow `GET /containers/json` to this target (the
    /// caller still checks [`contains`](Self::contains): the name filter is
    /// a regex match in Docker).
    pub fn list_filters(&self) -> HashMap<String, Vec<String>> {
        let mut f = HashMap::new();
        match &self.key {
            TargetKey::Labelled { id } => {
                f.insert("label".into(), vec![format!("{LABEL_ID}={id}")]);
            }
            TargetKey::ComposeService { project, service } => {
                f.insert(
                    "label".into(),
                    vec![
                        format!("{COMPOSE_PROJECT}={project}"),
                        format!("{COMPOSE_SERVICE}={service}"),
                    ],
                );
            }
            TargetKey::Container { name } => {
                f.insert("name".into(), vec![format!("^/{}$", regex::escape(name))]);
            }
            TargetKey::Selected { selector } => return selector.list_filters(),
        }
        f
    }
}

/// How a target declared in the config finds its containers
/// (`container = { name = "web-1" }`, `{ labels = ["app=web", "tier"] }` or
/// `{ compose_project = "shop", compose_service = "web" }`). Matching
/// ignores the `autoheal` label: a configured container needs none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerSelector {
    /// The container with this name (without the leading `/`).
    Name(String),
    /// Every container carrying all these labels (`key` present or
    /// `key=value` equal); each is valid for [`LabelSelector::parse`].
    Labels(Vec<String>),
    /// Every replica of one compose service.
    Compose { project: String, service: String },
}

impl ContainerSelector {
    /// True when a container with this name and these labels is selected.
    pub fn matches(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        match self {
            ContainerSelector::Name(n) => name.trim_start_matches('/') == n,
            ContainerSelector::Labels(sels) => {
                !sels.is_empty()
                    && sels.iter().all(|s| {
                        LabelSelector::parse(s)
                            .map(|s| s.matches(labels))
                            .unwrap_or(false)
                    })
            }
            ContainerSelector::Compose { project, service } => {
                labels.get(COMPOSE_PROJECT) == Some(project)
                    && labels.get(COMPOSE_SERVICE) == Some(service)
            }
        }
    }

    /// Server-side list filters (the caller still checks [`matches`](Self::matches)).
    pub fn list_filters(&self) -> HashMap<String, Vec<String>> {
        let mut f = HashMap::new();
        match self {
            ContainerSelector::Name(n) => {
                f.insert("name".into(), vec![format!("^/{}$", regex::escape(n))]);
            }
            ContainerSelector::Labels(sels) => {
                f.insert("label".into(), sels.clone());
            }
            ContainerSelector::Compose { project, service } => {
                f.insert(
                    "label".into(),
                    vec![
                        format!("{COMPOSE_PROJECT}={project}"),
                        format!("{COMPOSE_SERVICE}={service}"),
                    ],
                );
            }
        }
        f
    }
}

impl fmt::Display for ContainerSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerSelector::Name(n) => write!(f, "name {n}"),
            ContainerSelector::Labels(l) => write!(f, "labels {}", l.join(", ")),
            ContainerSelector::Compose { project, service } => {
                write!(f, "compose service {project}/{service}")
            }
        }
    }
}

/// A target declared in the config with `container = { ... }`: the watcher
/// reports what it sees of the selected containers under `name`, whatever
/// their labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredTarget {
    pub name: String,
    pub selector: ContainerSelector,
    /// Overrides `[docker] mode` (and the `autoheal.mode` label).
    pub mode: Option<DockerMode>,
    /// Whether Docker's ups (healthy, running) are reported. False when the
    /// target has its own check: that check says when it is up (Docker's
    /// "healthy" would otherwise mask its failures and verify a heal the
    /// check does not see); Docker's downs are reported either way.
    #[serde(default = "yes")]
    pub report_up: bool,
}

fn yes() -> bool {
    true
}

/// The built-in actions of configured container targets.
pub const ACTION_RESTART: &str = "container.restart";
pub const ACTION_START: &str = "container.start";
pub const ACTION_STOP: &str = "container.stop";
pub const BUILTIN_ACTIONS: &[&str] = &[ACTION_RESTART, ACTION_START, ACTION_STOP];
/// The default ladder of a container target: [`ACTION_RESTART`], up to
/// [`DEFAULT_REPEAT`] times, each verified within [`DEFAULT_VERIFY`] (as for
/// a discovered container).
pub const DEFAULT_VERIFY: Duration = Duration::from_secs(120);
pub const DEFAULT_REPEAT: u32 = 5;

/// A name glob: `*` any run, `?` one character; anchored.
#[derive(Debug, Clone)]
pub struct NameGlob(Regex);

impl NameGlob {
    pub fn parse(glob: &str) -> Result<Self, String> {
        let mut re = String::from("^");
        for c in glob.trim().trim_start_matches('/').chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        Regex::new(&re)
            .map(NameGlob)
            .map_err(|e| format!("bad name glob {glob:?}: {e}"))
    }
    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name.trim_start_matches('/'))
    }
}

/// Decides which containers are targets.
#[derive(Debug, Clone)]
pub struct Selector {
    label: String,
    all: bool,
    allow_names: Vec<NameGlob>,
    deny_names: Vec<NameGlob>,
    allow_labels: Vec<LabelSelector>,
    deny_labels: Vec<LabelSelector>,
    pub only_monitor_running: bool,
}

impl Selector {
    pub fn from_settings(s: &DockerSettings) -> Result<Self, Vec<(String, String)>> {
        let mut errs = Vec::new();
        let mut globs = |key: &str, v: &[String]| -> Vec<NameGlob> {
            v.iter()
                .filter_map(|g| match NameGlob::parse(g) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        errs.push((key.to_string(), e));
                        None
                    }
                })
                .collect()
        };
        let allow_names = globs("docker.allow_names", &s.allow_names);
        let deny_names = globs("docker.deny_names", &s.deny_names);
        let mut sels = |key: &str, v: &[String]| -> Vec<LabelSelector> {
            v.iter()
                .filter_map(|g| match LabelSelector::parse(g) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        errs.push((key.to_string(), e));
                        None
                    }
                })
                .collect()
        };
        let allow_labels = sels("docker.allow_labels", &s.allow_labels);
        let deny_labels = sels("docker.deny_labels", &s.deny_labels);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Selector {
            label: s.label.clone(),
            all: s.watches_all(),
            allow_names,
            deny_names,
            allow_labels,
            deny_labels,
            only_monitor_running: s.only_monitor_running,
        })
    }

    /// Why a container is or is not a target: `Ok(())` = selected.
    pub fn check(&self, name: &str, labels: &HashMap<String, String>) -> Result<(), &'static str> {
        let name = name.trim_start_matches('/');
        if name.is_empty() {
            // docker-autoheal skips containers without a name too.
            return Err("no name");
        }
        // docker-autoheal's exclusion: exactly `autoheal=False`.
        if labels.get("autoheal").map(String::as_str) == Some("False") {
            return Err("labelled autoheal=False");
        }
        if !self.all && labels.get(&self.label).map(String::as_str) != Some("true") {
            return Err("not labelled <label>=true");
        }
        if self.deny_names.iter().any(|g| g.matches(name)) {
            return Err("name denied");
        }
        if self.deny_labels.iter().any(|s| s.matches(labels)) {
            return Err("label denied");
        }
        if !self.allow_names.is_empty() && !self.allow_names.iter().any(|g| g.matches(name)) {
            return Err("name not allowed");
        }
        if !self.allow_labels.is_empty() && !self.allow_labels.iter().any(|s| s.matches(labels)) {
            return Err("labels not allowed");
        }
        Ok(())
    }

    pub fn selects(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        self.check(name, labels).is_ok()
    }

    /// Server-side list filters (the label, unless `all`); [`selects`]
    /// still decides.
    pub fn list_filters(&self) -> HashMap<String, Vec<String>> {
        let mut f = HashMap::new();
        if !self.all {
            f.insert("label".into(), vec![format!("{}=true", self.label)]);
        }
        if self.only_monitor_running {
            f.insert("status".into(), vec!["running".into()]);
        }
        f
    }
}

/// The action a target's heal runs (label `autoheal.action`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    #[default]
    Restart,
    Stop,
    Start,
}

impl std::str::FromStr for ContainerAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "restart" => Ok(ContainerAction::Restart),
            "stop" => Ok(ContainerAction::Stop),
            "start" => Ok(ContainerAction::Start),
            o => Err(format!("expected restart, stop or start, found {o:?}")),
        }
    }
}

/// A label that could not be used: (label, value, why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelError {
    pub label: String,
    pub value: String,
    pub message: String,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "label {}={:?}: {}", self.label, self.value, self.message)
    }
}

/// Per-target policy read from `autoheal.*` labels. `None`/empty = not set:
/// the supervisor's defaults (or the group's) apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelOverrides {
    /// `autoheal.stop.timeout` (docker-autoheal's, whole seconds).
    pub stop_timeout: Option<Duration>,
    /// `autoheal.failure_threshold`: consecutive downs before an incident.
    pub failure_threshold: Option<u32>,
    /// `autoheal.success_threshold`: consecutive ups that verify recovery.
    pub success_threshold: Option<u32>,
    /// `autoheal.cooldown`: least time between two actions.
    pub cooldown: Option<Duration>,
    /// `autoheal.max_actions`: actions allowed per `actions_window`.
    pub max_actions: Option<u32>,
    /// `autoheal.actions_window`.
    pub actions_window: Option<Duration>,
    /// `autoheal.mode`: health | on_failure | both.
    pub mode: Option<DockerMode>,
    /// `autoheal.depends_on` (comma-separated target names) plus compose's
    /// `com.docker.compose.depends_on` (as `project/service`).
    pub depends_on: Vec<String>,
    /// `autoheal.action`: restart | stop | start.
    pub action: Option<ContainerAction>,
    /// `autoheal.dry_run`: decide and record, never act.
    pub dry_run: Option<bool>,
    /// `autoheal.start_period`: failures not counted this long after a start.
    pub start_period: Option<Duration>,
    /// `autoheal.restart_dependents`: restart dependents after a heal.
    pub restart_dependents: Option<bool>,
    /// `autoheal.backoff.initial`: the gap after the first action (then
    /// doubling).
    pub backoff_initial: Option<Duration>,
    /// `autoheal.backoff.max`: the largest gap between actions.
    pub backoff_max: Option<Duration>,
    /// `autoheal.auto_release`: leave a quarantine autoheal decided (action
    /// limit, ladder) by itself on a verified recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_release: Option<bool>,
    /// `autoheal.flap_window`: a failure back within this time of a
    /// recovery is a flap of the same incident (`0` = every failure is its
    /// own incident).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flap_window: Option<Duration>,
}

/// Every `autoheal.*` label [`LabelOverrides::from_labels`] reads.
pub const KNOWN_LABELS: &[&str] = &[
    "autoheal.id",
    "autoheal.stop.timeout",
    "autoheal.failure_threshold",
    "autoheal.success_threshold",
    "autoheal.cooldown",
    "autoheal.max_actions",
    "autoheal.actions_window",
    "autoheal.mode",
    "autoheal.depends_on",
    "autoheal.action",
    "autoheal.dry_run",
    "autoheal.start_period",
    "autoheal.restart_dependents",
    "autoheal.backoff.initial",
    "autoheal.backoff.max",
    "autoheal.auto_release",
    "autoheal.flap_window",
];

impl LabelOverrides {
    /// Reads the overrides; every bad or unknown `autoheal.*` label is
    /// reported, none panics, and a bad one is simply not applied.
    pub fn from_labels(labels: &HashMap<String, String>) -> (LabelOverrides, Vec<LabelError>) {
        let mut o = LabelOverrides::default();
        let mut errs = Vec::new();
        let sorted: BTreeMap<_, _> = labels.iter().collect();
        for (k, v) in sorted {
            let mut err = |m: String| {
                errs.push(LabelError {
                    label: k.clone(),
                    value: v.clone(),
                    message: m,
                })
            };
            let dur = |v: &str, limit: limits::Limit| {
                parse_seconds(v).and_then(|d| limit.check(d).map_err(|e| e.to_string()))
            };
            let count = |v: &str| {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("expected a whole number above 0, found {v:?}"))
            };
            match k.as_str() {
                "autoheal.stop.timeout" => match dur(v, limits::STOP_TIMEOUT) {
                    Ok(d) => o.stop_timeout = Some(d),
                    Err(e) => err(e),
                },
                "autoheal.failure_threshold" => match count(v) {
                    Ok(n) => o.failure_threshold = Some(n),
                    Err(e) => err(e),
                },
                "autoheal.success_threshold" => match count(v) {
                    Ok(n) => o.success_threshold = Some(n),
                    Err(e) => err(e),
                },
                "autoheal.cooldown" => match dur(v, limits::COOLDOWN) {
                    Ok(d) => o.cooldown = Some(d),
                    Err(e) => err(e),
                },
                "autoheal.max_actions" => match count(v) {
                    Ok(n) => o.max_actions = Some(n),
                    Err(e) => err(e),
                },
                "autoheal.actions_window" => match dur(v, limits::ACTIONS_WINDOW) {
                    Ok(d) => o.actions_window = Some(d),
                    Err(e) => err(e),
                },
                "autoheal.mode" => match v.parse() {
                    Ok(m) => o.mode = Some(m),
                    Err(e) => err(e),
                },
                "autoheal.depends_on" => {
                    for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                        if !o.depends_on.iter().any(|x| x == d) {
                            o.depends_on.push(d.to_string());
                        }
                    }
                }
                "autoheal.action" => match v.parse() {
                    Ok(a) => o.action = Some(a),
                    Err(e) => err(e),
                },
                "autoheal.dry_run" => match parse_bool(v) {
                    Ok(b) => o.dry_run = Some(b),
                    Err(e) => err(e),
                },
                "autoheal.start_period" => match dur(v, limits::START_PERIOD) {
                    Ok(d) => o.start_period = Some(d),
                    Err(e) => err(e),
                },
                "autoheal.restart_dependents" => match parse_bool(v) {
                    Ok(b) => o.restart_dependents = Some(b),
                    Err(e) => err(e),
                },
                "autoheal.backoff.initial" => match dur(v, limits::BACKOFF_INITIAL) {
                    Ok(d) => o.backoff_initial = Some(d),
                    Err(e) => err(e),
                },
                "autoheal.backoff.max" => match dur(v, limits::BACKOFF_MAX) {
                    Ok(d) => o.backoff_max = Some(d),
                    Err(e) => err(e),
                },
                "autoheal.auto_release" => match parse_bool(v) {
                    Ok(b) => o.auto_release = Some(b),
                    Err(e) => err(e),
                },
                "autoheal.flap_window" => match dur(v, limits::FLAP_WINDOW) {
                    Ok(d) => o.flap_window = Some(d),
                    Err(e) => err(e),
                },
                "autoheal.id" => {}
                k if k.starts_with("autoheal.") => err(format!(
                    "unknown autoheal label; known: {}",
                    KNOWN_LABELS.join(", ")
                )),
                _ => {}
            }
        }
        for d in compose_depends_on(labels) {
            if !o.depends_on.contains(&d) {
                o.depends_on.push(d);
            }
        }
        (o, errs)
    }
}

/// Compose's `com.docker.compose.depends_on` (`db:service_healthy:true,...`)
/// as target names `project/service`.
pub fn compose_depends_on(labels: &HashMap<String, String>) -> Vec<String> {
    let (Some(raw), Some(project)) = (labels.get(COMPOSE_DEPENDS_ON), labels.get(COMPOSE_PROJECT))
    else {
        return Vec::new();
    };
    raw.split(',')
        .filter_map(|entry| entry.split(':').next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("{project}/{s}"))
        .collect()
}
