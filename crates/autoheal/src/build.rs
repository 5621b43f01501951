//! From a validated [`Config`] to what the supervisor runs: its targets
//! (with their checks built) and its named actions. Pure construction, no
//! I/O: the app builds from here at start, the config layer
//! ([`crate::managed`]) at every change.

pub use crate::docker::DockerShared;
use crate::supervisor::{self, ActionSlot, ScheduledCheck, TargetSpec};
use autoheal_config::{ActionConfig, CheckConfig, Config, TargetConfig};
use autoheal_docker::{
    ConfiguredAction, ConfiguredTarget, ContainerAction, ContainerCheck, DockerTarget, LazyClient,
};
use autoheal_plugins::http_client::HttpClients;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The supervisor's targets and named actions, built from a config.
pub struct Built {
    pub targets: Vec<TargetSpec>,
    pub actions: HashMap<String, Arc<ActionSlot>>,
    /// The enabled targets declared with `container = { ... }`, for the
    /// Docker watcher.
    pub configured: Vec<ConfiguredTarget>,
}

/// What built targets share with the running process: the Docker client
/// and watcher channels, and the heartbeats' pings.
#[derive(Clone)]
pub struct Runtime {
    pub docker: DockerShared,
    pub pings: Arc<autoheal_plugins::check::heartbeat::Pings>,
}

impl Runtime {
    pub fn new(config: &Config) -> Self {
        Runtime {
            docker: DockerShared::new(&config.docker),
            pings: autoheal_plugins::check::heartbeat::Pings::new(),
        }
    }
}

/// Builds the supervisor's targets and named actions from the config.
/// Returns every problem at once.
pub fn build_targets(config: &Config) -> Result<Built, Vec<String>> {
    build_targets_with(config, &Runtime::new(config))
}

/// [`build_targets`], with container targets sharing `rt.docker` with the
/// running watcher and heartbeats reading `rt.pings`.
pub fn build_targets_with(config: &Config, rt: &Runtime) -> Result<Built, Vec<String>> {
    let docker = &rt.docker;
    let mut errors = Vec::new();
    let clients = match HttpClients::new() {
        Ok(c) => c,
        Err(e) => return Err(vec![format!("the HTTP client could not be built: {e}")]),
    };
    let mut actions = HashMap::new();
    for (name, cfg) in &config.actions {
        match build_action(name, cfg, &clients) {
            Ok(slot) => {
                actions.insert(name.clone(), Arc::new(slot));
            }
            Err(e) => errors.push(format!("actions.{name}.{e}")),
        }
    }
    let mut targets = Vec::new();
    let mut configured = Vec::new();
    for t in config.targets.iter().filter(|t| t.enabled) {
        let container = match (&t.container, docker.client()) {
            (Some(c), Some(client)) => Some((c, client)),
            (Some(_), None) => {
                errors.push(format!(
                    "targets.{}.container: the [docker] settings give no usable Docker client",
                    t.name
                ));
                continue;
            }
            (None, _) => None,
        };
        let built_check = t.check.as_ref().map(|c| match container {
            Some((ct, client)) => build_container_check(c, ct, client, &config.docker, &clients),
            None => build_check(c, &clients, &t.name, &rt.pings),
        });
        let check = match built_check {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                errors.push(format!("targets.{}.check.{e}", t.name));
                continue;
            }
            None => None,
        };
        let mut policy = t.policy.clone();
        policy.dry_run = policy.dry_run || config.engine.dry_run;
        let kind = t
            .check
            .as_ref()
            .map(check_kind)
            .unwrap_or("none")
            .to_string();
        let spec = serde_json::json!({
            "group": t.group,
            "check": t.check.as_ref().map(|c| serde_json::to_value(c).ok()),
            "depends_on": t.depends_on,
            "ladder": policy.ladder.iter().map(|r| serde_json::json!({
                "action": r.action, "verify": humantime::format_duration(r.verify).to_string(), "repeat": r.repeat,
            })).collect::<Vec<_>>(),
            "dry_run": policy.dry_run,
        });
        let (kind, spec, own_actions) = match container {
            Some((ct, client)) => {
                configured.push(ct.clone());
                let mut spec = spec;
                spec["container"] = serde_json::to_value(&ct.selector).unwrap_or_default();
                spec["container_mode"] = serde_json::to_value(ct.mode).unwrap_or_default();
                let kind = if t.check.is_some() {
                    kind
                } else {
                    "docker".into()
                };
                (kind, spec, container_actions(t, ct, client, config, docker))
            }
            None => (kind, spec, Vec::new()),
        };
        // Headers, URL credentials, env values...: never to the store or API.
        let spec = autoheal_plugins::redact::redacted_json(&spec);
        targets.push(TargetSpec {
            name: t.name.clone(),
            kind,
            check,
            policy,
            depends_on: t.depends_on.clone(),
            spec,
            source: supervisor::Source::Config,
            own_actions,
        });
    }
    if errors.is_empty() {
        Ok(Built {
            targets,
            actions,
            configured,
        })
    } else {
        Err(errors)
    }
}

/// The built-in `container.restart`, `container.start` and
/// `container.stop` of a container target.
fn container_actions(
    t: &TargetConfig,
    ct: &ConfiguredTarget,
    client: &LazyClient,
    config: &Config,
    docker: &DockerShared,
) -> Vec<Arc<ActionSlot>> {
    let s = &config.docker;
    let target = DockerTarget::configured(&t.name, ct.selector.clone());
    // Restart with its stop timeout, maybe every replica, maybe dependents
    // after a wait: allow for all of it (as for a discovered container).
    let timeout = s
        .api_timeout
        .saturating_add(s.default_stop_timeout.saturating_mul(2))
        .saturating_add(Duration::from_secs(90));
    [
        (
            autoheal_docker::discovery::ACTION_RESTART,
            ContainerAction::Restart,
            "docker_restart",
        ),
        (
            autoheal_docker::discovery::ACTION_START,
            ContainerAction::Start,
            "docker_start",
        ),
        (
            autoheal_docker::discovery::ACTION_STOP,
            ContainerAction::Stop,
            "docker_stop",
        ),
    ]
    .into_iter()
    .map(|(name, kind, metric)| {
        Arc::new(ActionSlot {
            name: name.to_string(),
            kind: metric.into(),
            timeout,
            action: Arc::new(ConfiguredAction {
                client: client.clone(),
                target: target.clone(),
                kind,
                settings: s.clone(),
                ledger: docker.ledger(),
                trust_docker_health: t.check.is_none(),
            }),
        })
    })
    .collect()
}

/// The check of a container target: `{{container}}` and `docker_exec`
/// checks run against its containers; others as anywhere.
fn build_container_check(
    cfg: &CheckConfig,
    ct: &ConfiguredTarget,
    client: &LazyClient,
    settings: &autoheal_docker::DockerSettings,
    clients: &HttpClients,
) -> Result<ScheduledCheck, autoheal_plugins::BuildError> {
    let target = DockerTarget::configured(&ct.name, ct.selector.clone());
    // Listing and inspecting the containers comes on top of the probe.
    let extra = settings
        .api_timeout
        .min(Duration::from_secs(10))
        .saturating_add(Duration::from_secs(1));
    if let Some(template) = cfg.address_template() {
        let timeout = match cfg {
            CheckConfig::Http(c) => c.timeout,
            CheckConfig::Tcp(c) => c.timeout,
            _ => Duration::from_secs(5),
        };
        return Ok(ScheduledCheck {
            interval: cfg.interval(),
            timeout: timeout.saturating_add(extra),
            check: Arc::new(ContainerCheck::address(
                client.clone(),
                target,
                template,
                clients.clone(),
            )?),
        });
    }
    match cfg {
        CheckConfig::DockerExec(c) => Ok(ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout.saturating_add(extra),
            check: Arc::new(ContainerCheck::exec(client.clone(), target, c.clone())?),
        }),
        CheckConfig::Heartbeat(_) => Err(autoheal_plugins::BuildError::new(
            "type",
            "a heartbeat is pinged by the target itself: give it a target without container = { ... }",
        )),
        other => build_check(other, clients, &ct.name, &Default::default()),
    }
}

fn check_kind(c: &CheckConfig) -> &'static str {
    match c {
        CheckConfig::Http(_) => "http",
        CheckConfig::Tcp(_) => "tcp",
        CheckConfig::Exec(_) => "exec",
        CheckConfig::DockerExec(_) => "docker_exec",
        CheckConfig::Heartbeat(_) => "heartbeat",
    }
}

fn build_check(
    cfg: &CheckConfig,
    clients: &HttpClients,
    target: &str,
    pings: &Arc<autoheal_plugins::check::heartbeat::Pings>,
) -> Result<ScheduledCheck, autoheal_plugins::BuildError> {
    use autoheal_plugins::check::{exec, heartbeat, http, tcp};
    Ok(match cfg {
        CheckConfig::Heartbeat(c) => ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout.saturating_add(Duration::from_secs(1)),
            check: Arc::new(heartbeat::HeartbeatCheck::build(c, target, pings.clone())?),
        },
        CheckConfig::Http(c) => ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout.saturating_add(Duration::from_secs(1)),
            check: Arc::new(http::HttpCheck::build(c, clients)?),
        },
        CheckConfig::Tcp(c) => ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout.saturating_add(Duration::from_secs(1)),
            check: Arc::new(tcp::TcpCheck::build(c)?),
        },
        CheckConfig::Exec(c) => ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout.saturating_add(Duration::from_secs(1)),
            check: Arc::new(exec::ExecCheck::build(c)?),
        },
        CheckConfig::DockerExec(_) => {
            return Err(autoheal_plugins::BuildError::new(
                "type",
                "docker_exec runs only on targets with container = { ... }",
            ))
        }
    })
}

fn build_action(
    name: &str,
    cfg: &ActionConfig,
    clients: &HttpClients,
) -> Result<ActionSlot, autoheal_plugins::BuildError> {
    use autoheal_plugins::action::{command, coolify, render, webhook};
    Ok(match cfg {
        ActionConfig::Command(c) => ActionSlot {
            name: name.to_string(),
            kind: "command".into(),
            timeout: c.timeout.saturating_add(Duration::from_secs(5)),
            action: Arc::new(command::CommandAction::build(c)?),
        },
        ActionConfig::Webhook(c) => ActionSlot {
            name: name.to_string(),
            kind: "webhook".into(),
            timeout: c.timeout.saturating_add(Duration::from_secs(5)),
            action: Arc::new(webhook::WebhookAction::build(c, clients)?),
        },
        ActionConfig::RenderDeploy(c) => ActionSlot {
            name: name.to_string(),
            kind: "render_deploy".into(),
            timeout: c.timeout.saturating_add(Duration::from_secs(5)),
            action: Arc::new(render::RenderDeployAction::build(c, clients)?),
        },
        ActionConfig::RenderRestart(c) => ActionSlot {
            name: name.to_string(),
            kind: "render_restart".into(),
            timeout: c.timeout.saturating_add(Duration::from_secs(5)),
            action: Arc::new(render::RenderRestartAction::build(c, clients)?),
        },
        ActionConfig::CoolifyRestart(c) => ActionSlot {
            name: name.to_string(),
            kind: "coolify_restart".into(),
            timeout: c.timeout.saturating_add(Duration::from_secs(5)),
            action: Arc::new(coolify::CoolifyAction::build_restart(c, clients)?),
        },
        ActionConfig::CoolifyDeploy(c) => ActionSlot {
            name: name.to_string(),
            kind: "coolify_deploy".into(),
            timeout: c.timeout.saturating_add(Duration::from_secs(5)),
            action: Arc::new(coolify::CoolifyAction::build_deploy(c, clients)?),
        },
        ActionConfig::CoolifyStart(c) => ActionSlot {
            name: name.to_string(),
            kind: "coolify_start".into(),
            timeout: c.timeout.saturating_add(Duration::from_secs(5)),
            action: Arc::new(coolify::CoolifyAction::build_start(c, clients)?),
        },
    })
}
