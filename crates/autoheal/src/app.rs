//! Wiring: [`Application::build`] opens the store, builds checks and actions
//! from the config, binds the listener and prepares the supervisor;
//! [`Application::run_until_stopped`] runs it all until shutdown. The binary
//! and the black-box tests boot the very same thing.

use crate::http::{self, AppState};
use crate::supervisor::{self, ActionSlot, Handle, ScheduledCheck, Supervisor, TargetSpec};
use crate::telemetry::Metrics;
use anyhow::Context;
use autoheal_config::{ActionConfig, CheckConfig, Config};
use autoheal_plugins::http_client::HttpClients;
use autoheal_store::{Retention, Store};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Application {
    listener: TcpListener,
    store: Arc<dyn Store>,
    metrics: Metrics,
    supervisor: Supervisor,
    handle: Handle,
    targets: Vec<TargetSpec>,
    actions: HashMap<String, Arc<ActionSlot>>,
    retention: Retention,
    /// Set when Docker containers are watched.
    docker: Option<(
        autoheal_docker::DockerClient,
        autoheal_docker::DockerSettings,
    )>,
    dry_run: bool,
}

impl Application {
    /// Opens the store (running migrations), builds every plugin and binds
    /// the listener. Any error here means nothing started.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store_url = &config.store.url;
        if let Some(path) = store_url.strip_prefix("sqlite://") {
            if let Some(parent) = std::path::Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("creating the data directory {}", parent.display())
                    })?;
                }
            }
        }
        let store = autoheal_store::open(store_url)
            .await
            .with_context(|| format!("opening the store at {}", redact_store_url(store_url)))?;
        let metrics = Metrics::new();
        let Built { targets, actions } = build_targets(config).map_err(|errors| {
            anyhow::anyhow!(
                "the configuration could not be built:\n{}",
                errors.join("\n")
            )
        })?;
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let seed = rand::random::<u64>();
        let (supervisor, handle) = Supervisor::new(
            store.clone(),
            metrics.clone(),
            config.engine.max_concurrent_checks,
            config.engine.max_concurrent_actions,
            seed,
        );
        let retention = Retention {
            check_results_ms: config.store.retention.check_results.as_millis() as i64,
            events_ms: config.store.retention.events.as_millis() as i64,
            incidents_ms: config.store.retention.incidents.as_millis() as i64,
        };
        let docker = crate::docker::connect(&config.docker)
            .await
            .map(|client| (client, config.docker.clone()));
        Ok(Self {
            listener,
            store,
            metrics,
            supervisor,
            handle,
            targets,
            actions,
            retention,
            docker,
            dry_run: config.engine.dry_run,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The supervisor's handle (commands, reloads, the view).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Serves until `shutdown` is cancelled, then stops in order: no new
    /// requests or checks, running actions finish, the store is flushed.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr();
        if !addr.ip().is_loopback() {
            tracing::warn!(
                listen = %addr,
                "Listening on {addr}, beyond this machine. The API has no users or keys yet: anyone who can reach this address can quarantine or heal targets."
            );
        }
        tracing::info!(listen = %addr, store = self.store.backend(), targets = self.targets.len(), "autoheal is serving on http://{addr}.");
        let state = AppState {
            store: self.store.clone(),
            supervisor: self.handle.clone(),
            metrics: self.metrics.clone(),
            started_at: supervisor::now_ms(),
        };
        let sup_token = CancellationToken::new();
        let sup = tokio::spawn(
            self.supervisor
                .run(self.targets, self.actions, sup_token.clone()),
        );
        if let Some((client, settings)) = self.docker {
            tokio::spawn(crate::docker::run(
                client,
                settings,
                self.dry_run,
                self.handle.clone(),
                shutdown.clone(),
            ));
        }
        let pruner = tokio::spawn(prune_loop(
            self.store.clone(),
            self.retention,
            shutdown.clone(),
        ));
        let server_token = shutdown.clone();
        axum::serve(self.listener, http::router(state))
            .with_graceful_shutdown(async move { server_token.cancelled().await })
            .await
            .context("serving HTTP")?;
        sup_token.cancel();
        sup.await.context("the supervisor task panicked")?;
        pruner.abort();
        tracing::info!("autoheal stopped.");
        Ok(())
    }
}

/// Deletes history past its retention once an hour (and once at start).
async fn prune_loop(store: Arc<dyn Store>, retention: Retention, stop: CancellationToken) {
    loop {
        match store.prune(&retention, supervisor::now_ms()).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "Pruned {n} rows past their retention."),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "Pruning old history failed.")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://host/db`: never log a password.
pub fn redact_store_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The supervisor's targets and named actions, built from a config.
pub struct Built {
    pub targets: Vec<TargetSpec>,
    pub actions: HashMap<String, Arc<ActionSlot>>,
}

/// Builds the supervisor's targets and named actions from the config.
/// Returns every problem at once.
pub fn build_targets(config: &Config) -> Result<Built, Vec<String>> {
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
    for t in config.targets.iter().filter(|t| t.enabled) {
        let check = match &t.check {
            Some(c) => match build_check(c, &clients) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(format!("targets.{}.check.{e}", t.name));
                    continue;
                }
            },
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
        targets.push(TargetSpec {
            name: t.name.clone(),
            kind,
            check,
            policy,
            depends_on: t.depends_on.clone(),
            spec,
            source: supervisor::Source::Config,
            own_actions: Vec::new(),
        });
    }
    if errors.is_empty() {
        Ok(Built { targets, actions })
    } else {
        Err(errors)
    }
}

fn check_kind(c: &CheckConfig) -> &'static str {
    match c {
        CheckConfig::Http(_) => "http",
        CheckConfig::Tcp(_) => "tcp",
        CheckConfig::Exec(_) => "exec",
    }
}

fn build_check(
    cfg: &CheckConfig,
    clients: &HttpClients,
) -> Result<ScheduledCheck, autoheal_plugins::BuildError> {
    use autoheal_plugins::check::{exec, http, tcp};
    Ok(match cfg {
        CheckConfig::Http(c) => ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout + Duration::from_secs(1),
            check: Arc::new(http::HttpCheck::build(c, clients)?),
        },
        CheckConfig::Tcp(c) => ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout + Duration::from_secs(1),
            check: Arc::new(tcp::TcpCheck::build(c)?),
        },
        CheckConfig::Exec(c) => ScheduledCheck {
            interval: c.interval,
            timeout: c.timeout + Duration::from_secs(1),
            check: Arc::new(exec::ExecCheck::build(c)?),
        },
    })
}

fn build_action(
    name: &str,
    cfg: &ActionConfig,
    clients: &HttpClients,
) -> Result<ActionSlot, autoheal_plugins::BuildError> {
    use autoheal_plugins::action::{command, webhook};
    Ok(match cfg {
        ActionConfig::Command(c) => ActionSlot {
            name: name.to_string(),
            kind: "command".into(),
            timeout: c.timeout + Duration::from_secs(5),
            action: Arc::new(command::CommandAction::build(c)?),
        },
        ActionConfig::Webhook(c) => ActionSlot {
            name: name.to_string(),
            kind: "webhook".into(),
            timeout: c.timeout + Duration::from_secs(5),
            action: Arc::new(webhook::WebhookAction::build(c, clients)?),
        },
    })
}
