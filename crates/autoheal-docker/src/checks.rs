//! Checks and actions of targets declared in the config with
//! `container = { ... }`:
//!
//! - an `http` or `tcp` check whose `url`/`address` holds `{{container}}`
//!   is probed against each running selected container's IP address (the
//!   first network by name that gives one), resolved again at every probe
//!   so a re-created container is found; the worst result counts;
//! - `type = "docker_exec"` runs a program inside each running selected
//!   container through the exec API (opt-in: autoheal never execs unless
//!   such a check is configured); exit 0 is up;
//! - `container.restart`, `container.start`, `container.stop` act on every
//!   selected container.
//!
//! They are built before the engine is known to answer (at load and on
//! reload), so they hold a [`LazyClient`] that negotiates the API version
//! on first use.

use crate::actions::{resolve, RestartContainer, StartContainer, StopContainer};
use crate::client::DockerClient;
use crate::config::DockerSettings;
use crate::discovery::{ContainerAction, DockerTarget};
use crate::watch::{info_of, HealLedger};
use async_trait::async_trait;
use autoheal_core::{ActionOutcome, Observation, Status};
use autoheal_plugins::action::{Action, ActionContext};
use autoheal_plugins::check::http::{HttpCheck, HttpCheckConfig};
use autoheal_plugins::check::tcp::{TcpCheck, TcpCheckConfig};
use autoheal_plugins::{BuildError, Check, HttpClients};
use bollard::models::ContainerInspectResponse;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The placeholder replaced by a container's IP address.
pub const PLACEHOLDER: &str = "{{container}}";

/// An address that stands in for `{{container}}` when a check is validated
/// at load (TEST-NET-1, never a real container).
pub const VALIDATION_ADDRESS: &str = "192.0.2.1";

/// `check = { type = "docker_exec", argv = [...] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerExecCheckConfig {
    /// Program and arguments, run inside the container (no shell unless you
    /// write one: `["sh", "-c", "..."]`). Required, not empty.
    pub argv: Vec<String>,
    /// Time between two probes. Default `10s`.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// The most one run may take. Default `5s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_interval() -> Duration {
    autoheal_plugins::check::DEFAULT_INTERVAL
}

fn default_timeout() -> Duration {
    autoheal_plugins::check::DEFAULT_TIMEOUT
}

impl DockerExecCheckConfig {
    /// What the config may not hold.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.argv.is_empty() || self.argv[0].trim().is_empty() {
            return Err(BuildError::new(
                "argv",
                "expected a program and its arguments, found an empty list",
            ));
        }
        use autoheal_core::policy::limits::{CHECK_INTERVAL, CHECK_TIMEOUT};
        for (key, d, limit) in [
            ("interval", self.interval, CHECK_INTERVAL),
            ("timeout", self.timeout, CHECK_TIMEOUT),
        ] {
            limit
                .check(d)
                .map_err(|e| BuildError::new(key, e.to_string()))?;
        }
        Ok(())
    }
}

/// A client that negotiates its API version with the engine on first use
/// (and keeps trying on later uses until it succeeds).
#[derive(Debug, Clone)]
pub struct LazyClient {
    raw: DockerClient,
    ready: Arc<tokio::sync::OnceCell<DockerClient>>,
}

impl LazyClient {
    pub fn new(raw: DockerClient) -> Self {
        LazyClient {
            raw,
            ready: Arc::default(),
        }
    }

    /// From the `[docker]` settings, without talking to the engine.
    pub fn from_settings(s: &DockerSettings) -> Result<Self, String> {
        let host = s.docker_host()?;
        DockerClient::new_unnegotiated(host, &s.cert_dir, s.api_timeout)
            .map(LazyClient::new)
            .map_err(|e| e.to_string())
    }

    /// The negotiated client (or, while the engine does not answer, the
    /// unnegotiated one: its calls fail the same way).
    pub async fn get(&self) -> DockerClient {
        if self.raw.is_negotiated() {
            return self.raw.clone();
        }
        match self
            .ready
            .get_or_try_init(|| self.raw.clone().negotiate())
            .await
        {
            Ok(c) => c.clone(),
            Err(_) => self.raw.clone(),
        }
    }
}

/// The IP address of a container: of its first network (by name) that has
/// one; IPv6 in brackets when the network has no IPv4 address.
pub fn container_address(insp: &ContainerInspectResponse) -> Option<String> {
    let nets = insp.network_settings.as_ref()?.networks.as_ref()?;
    let mut nets: Vec<_> = nets.iter().collect();
    nets.sort_by(|a, b| a.0.cmp(b.0));
    for (_, ep) in &nets {
        if let Some(ip) = ep.ip_address.as_deref().filter(|s| !s.is_empty()) {
            return Some(ip.to_string());
        }
    }
    nets.iter()
        .find_map(|(_, ep)| ep.global_ipv6_address.as_deref().filter(|s| !s.is_empty()))
        .map(|ip| format!("[{ip}]"))
}

/// An http or tcp check with `{{container}}` in its `url` or `address`.
#[derive(Debug, Clone, PartialEq)]
pub enum AddressTemplate {
    Http(Box<HttpCheckConfig>),
    Tcp(TcpCheckConfig),
}

impl AddressTemplate {
    /// The config with `{{container}}` replaced by `addr`.
    pub fn with_address(&self, addr: &str) -> AddressTemplate {
        match self {
            AddressTemplate::Http(c) => {
                let mut c = c.clone();
                c.url = c.url.replace(PLACEHOLDER, addr);
                AddressTemplate::Http(c)
            }
            AddressTemplate::Tcp(c) => {
                let mut c = c.clone();
                c.address = c.address.replace(PLACEHOLDER, addr);
                AddressTemplate::Tcp(c)
            }
        }
    }

    /// True when the url/address holds `{{container}}`.
    pub fn has_placeholder(&self) -> bool {
        match self {
            AddressTemplate::Http(c) => c.url.contains(PLACEHOLDER),
            AddressTemplate::Tcp(c) => c.address.contains(PLACEHOLDER),
        }
    }

    /// Builds the check for one address.
    pub fn build(&self, addr: &str, clients: &HttpClients) -> Result<Arc<dyn Check>, BuildError> {
        Ok(match self.with_address(addr) {
            AddressTemplate::Http(c) => Arc::new(HttpCheck::build(&c, clients)?),
            AddressTemplate::Tcp(c) => Arc::new(TcpCheck::build(&c)?),
        })
    }

    /// Builds it once with a stand-in address: what the plugin refuses is
    /// a config error.
    pub fn validate(&self, clients: Option<&HttpClients>) -> Result<(), BuildError> {
        match (self.with_address(VALIDATION_ADDRESS), clients) {
            (AddressTemplate::Http(c), Some(clients)) => HttpCheck::build(&c, clients).map(drop),
            (AddressTemplate::Http(_), None) => Ok(()),
            (AddressTemplate::Tcp(c), _) => TcpCheck::build(&c).map(drop),
        }
    }
}

/// What one probe runs against one container.
enum Probe {
    Address {
        template: AddressTemplate,
        clients: HttpClients,
        /// Built checks by address, so a probe does not rebuild its client.
        built: Mutex<HashMap<String, Arc<dyn Check>>>,
    },
    Exec(DockerExecCheckConfig),
}

/// A check run against every running container a configured target
/// selects; the worst result counts (down, then degraded, then up), its
/// detail prefixed by the container's name when there are several.
pub struct ContainerCheck {
    client: LazyClient,
    target: DockerTarget,
    probe: Probe,
}

impl ContainerCheck {
    /// An http/tcp check with `{{container}}` in its url/address.
    pub fn address(
        client: LazyClient,
        target: DockerTarget,
        template: AddressTemplate,
        clients: HttpClients,
    ) -> Result<Self, BuildError> {
        template.validate(Some(&clients))?;
        Ok(ContainerCheck {
            client,
            target,
            probe: Probe::Address {
                template,
                clients,
                built: Mutex::default(),
            },
        })
    }

    /// `type = "docker_exec"`.
    pub fn exec(
        client: LazyClient,
        target: DockerTarget,
        cfg: DockerExecCheckConfig,
    ) -> Result<Self, BuildError> {
        cfg.validate()?;
        Ok(ContainerCheck {
            client,
            target,
            probe: Probe::Exec(cfg),
        })
    }

    async fn probe_one(
        &self,
        client: &DockerClient,
        insp: &ContainerInspectResponse,
    ) -> Observation {
        let (info, _) = info_of(insp);
        match &self.probe {
            Probe::Address {
                template,
                clients,
                built,
            } => {
                let Some(addr) = container_address(insp) else {
                    return Observation::down(
                        "the container has no IP address (network mode host or none?)",
                    );
                };
                let check = {
                    let mut m = built.lock().unwrap_or_else(|e| e.into_inner());
                    // Addresses change with re-creation; keep the map small.
                    if m.len() > 64 {
                        m.clear();
                    }
                    match m.get(&addr) {
                        Some(c) => Ok(c.clone()),
                        None => template.build(&addr, clients).inspect(|c| {
                            m.insert(addr.clone(), c.clone());
                        }),
                    }
                };
                match check {
                    Ok(c) => c.check().await,
                    Err(e) => Observation::down(format!("{}: {}", e.key, e.why)),
                }
            }
            Probe::Exec(cfg) => {
                let started = Instant::now();
                let mut o = match client.exec(&info.id, &cfg.argv, cfg.timeout).await {
                    Ok((0, _)) => Observation::up(),
                    Ok((code, out)) => {
                        let first = out
                            .lines()
                            .map(str::trim)
                            .find(|l| !l.is_empty())
                            .map(|l| l.chars().take(200).collect::<String>());
                        match first {
                            Some(l) => Observation::down(format!("exit {code}: {l}")),
                            None => Observation::down(format!("exit {code}")),
                        }
                    }
                    Err(crate::client::DockerError::Timeout { .. }) => Observation::down(format!(
                        "timeout after {}",
                        humantime::format_duration(cfg.timeout)
                    )),
                    Err(e) => Observation::down(format!("exec failed: {e}")),
                };
                o.latency = Some(started.elapsed());
                o
            }
        }
    }
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Up => 0,
        Status::Degraded => 1,
        Status::Down => 2,
    }
}

#[async_trait]
impl Check for ContainerCheck {
    async fn check(&self) -> Observation {
        let client = self.client.get().await;
        let containers = match resolve(&client, &self.target).await {
            Ok(c) => c,
            Err(e) => return Observation::down(format!("cannot list the containers: {e}")),
        };
        let running: Vec<&ContainerInspectResponse> =
            containers.iter().filter(|i| info_of(i).0.running).collect();
        if running.is_empty() {
            return Observation::down(if containers.is_empty() {
                format!("no container matches {}", selector_text(&self.target))
            } else {
                "no selected container is running".to_string()
            });
        }
        let results =
            futures::future::join_all(running.iter().map(|insp| self.probe_one(&client, insp)))
                .await;
        let several = running.len() > 1;
        let mut worst: Option<Observation> = None;
        for (insp, mut o) in running.iter().zip(results) {
            if several && o.status != Status::Up {
                o.detail = format!("{}: {}", info_of(insp).0.name, o.detail);
            }
            if worst
                .as_ref()
                .is_none_or(|w| rank(o.status) > rank(w.status))
            {
                worst = Some(o);
            }
        }
        worst.unwrap_or_else(Observation::up)
    }
}

fn selector_text(t: &DockerTarget) -> String {
    match &t.key {
        crate::discovery::TargetKey::Selected { selector } => selector.to_string(),
        _ => t.name.clone(),
    }
}

/// `container.restart`, `container.start` or `container.stop` of a
/// configured target, on every container it selects.
pub struct ConfiguredAction {
    pub client: LazyClient,
    pub target: DockerTarget,
    pub kind: ContainerAction,
    pub settings: DockerSettings,
    /// Shared with the watcher, so autoheal's own restarts and stops are
    /// not taken for a user's.
    pub ledger: HealLedger,
    /// False when the target has its own check: a container Docker calls
    /// healthy is restarted anyway (the check knows better).
    pub trust_docker_health: bool,
}

#[async_trait]
impl Action for ConfiguredAction {
    async fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        let client = self.client.get().await;
        match self.kind {
            ContainerAction::Restart => {
                let mut r =
                    RestartContainer::from_settings(client, self.target.clone(), &self.settings)
                        .with_ledger(self.ledger.clone());
                r.trust_docker_health = self.trust_docker_health;
                r.run(ctx).await
            }
            ContainerAction::Start => {
                StartContainer::new(client, self.target.clone())
                    .run(ctx)
                    .await
            }
            ContainerAction::Stop => {
                let mut s = StopContainer::new(
                    client,
                    self.target.clone(),
                    self.settings.default_stop_timeout,
                );
                s.ledger = Some(self.ledger.clone());
                s.run(ctx).await
            }
        }
    }
}
