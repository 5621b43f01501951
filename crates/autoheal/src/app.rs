//! Wiring: [`Application::build`] opens the store, builds checks and actions
//! from the config, binds the listener and prepares the supervisor;
//! [`Application::run_until_stopped`] runs it all until shutdown. The binary
//! and the black-box tests boot the very same thing.

pub use crate::docker::DockerShared;
use crate::http::{self, AppState};
use crate::supervisor::{self, ActionSlot, Handle, ScheduledCheck, Supervisor, TargetSpec};
use crate::telemetry::Metrics;
use crate::vitals::Vitals;
use anyhow::Context;
use autoheal_config::{ActionConfig, CheckConfig, Config, TargetConfig};
use autoheal_docker::{
    ConfiguredAction, ConfiguredTarget, ContainerAction, ContainerCheck, DockerTarget, LazyClient,
};
use autoheal_plugins::http_client::HttpClients;
use autoheal_store::{Retention, Store};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What SIGHUP reloads: the config file (with the API's objects laid over
/// it, [`crate::managed::Managed::reload_file`]) and the TLS certificate.
#[derive(Clone)]
pub struct Reloader {
    managed: crate::managed::Managed,
    tls: Option<http::tls::TlsReloader>,
}

impl Reloader {
    /// Composes `config` (the file as loaded again) with the API's objects,
    /// builds it and swaps it in; the count of targets, or every problem
    /// (nothing changed then).
    pub async fn reload(&self, config: &Config) -> Result<usize, Vec<String>> {
        self.managed.reload_file(config).await
    }

    /// Reads the TLS certificate and key again (SIGHUP): from `files`, a
    /// reloaded config's `server.tls`, when given, else from the files in
    /// force (so a renewed certificate is picked up even when the config
    /// file has errors). `None` when autoheal serves plain HTTP. On error
    /// the old certificate keeps serving.
    pub fn reload_tls(
        &self,
        files: Option<&autoheal_config::TlsFiles>,
    ) -> Option<Result<autoheal_config::TlsFiles, http::tls::TlsError>> {
        self.tls.as_ref().map(|t| t.reload(files))
    }

    /// Whether the API is served over HTTPS.
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
    }
}

pub struct Application {
    listener: TcpListener,
    store: Arc<dyn Store>,
    metrics: Metrics,
    supervisor: Supervisor,
    handle: Handle,
    targets: Vec<TargetSpec>,
    actions: HashMap<String, Arc<ActionSlot>>,
    docker_shared: DockerShared,
    retention: Retention,
    /// Set when Docker containers are watched.
    docker: Option<(
        autoheal_docker::DockerClient,
        autoheal_docker::DockerSettings,
    )>,
    dry_run: bool,
    server: autoheal_config::ServerSettings,
    /// Set when the API is served over HTTPS.
    tls: Option<http::tls::TlsReloader>,
    vitals: Arc<Vitals>,
    auth: crate::auth::Auth,
    local_token: String,
    vault: crate::vault::Vault,
    bus: crate::stream::Bus,
    managed: crate::managed::Managed,
}

/// How long a stop may take in all: `docker stop` waits 10 s before its
/// SIGKILL, so autoheal is done before that.
pub const STOP_DEADLINE: Duration = Duration::from_secs(8);

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
        let env_key = std::env::var(crate::vault::KEY_ENV).ok();
        let (keys, made) = crate::vault::Keyring::load(env_key.as_deref(), &config.store.data_dir)
            .context("loading the secrets key")?;
        if made {
            tracing::warn!(
                path = %config.store.data_dir.join(crate::vault::KEY_FILE).display(),
                "Made a new secrets key at {}: back it up with the database. Without it the stored secrets cannot be read.",
                config.store.data_dir.join(crate::vault::KEY_FILE).display()
            );
        }
        let vault = crate::vault::Vault::new(store.clone(), keys.clone());
        let auth = crate::auth::Auth::new(store.clone(), auth_settings(config), keys);
        let (token_path, local_token) = auth
            .write_local_token(&config.store.data_dir, supervisor::now_ms())
            .await
            .context("making the CLI's local token")?;
        tracing::debug!(path = %token_path.display(), "The CLI's local token is in {}.", token_path.display());
        let metrics = Metrics::new();
        let runtime = Runtime::new(config);
        let docker_shared = runtime.docker.clone();
        // The objects made through the API, laid over the file. When they
        // no longer fit it (the file changed while autoheal was stopped),
        // the file alone runs and the log says why: the objects are kept.
        let loaded = crate::managed::load_overlay(store.as_ref(), vault.keys())
            .await
            .context("reading the config objects made through the API")?;
        let file_objects = config.file_objects.clone();
        let composed;
        let overlay = &loaded.overlay;
        let config: &Config = if overlay.is_empty() {
            config
        } else {
            match autoheal_config::compose(&config.layers, overlay) {
                Ok(c) => {
                    for (section, name) in &c.shadowed {
                        tracing::warn!(section = section.as_str(), name = %name, "The config file defines {} {name:?} too: the file's is used, the one made through the API is ignored until the file's is removed.", section.noun());
                    }
                    composed = c.config;
                    &composed
                }
                Err(errors) => {
                    tracing::error!(errors = %errors, "The config objects made through the API do not fit the config file; running the file alone until they are fixed through the API: {errors}");
                    config
                }
            }
        };
        let Built {
            targets,
            actions,
            configured,
        } = build_targets_with(config, &runtime).map_err(|errors| {
            anyhow::anyhow!(
                "the configuration could not be built:\n{}",
                errors.join("\n")
            )
        })?;
        let tls = match &config.server.tls {
            Some(files) => Some(http::tls::TlsReloader::load(files)?),
            None => None,
        };
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let seed = rand::random::<u64>();
        let (mut supervisor, handle) = Supervisor::new(
            store.clone(),
            metrics.clone(),
            config.engine.max_concurrent_checks,
            config.engine.max_concurrent_actions,
            seed,
        );
        supervisor.set_check_history(config.store.check_history);
        let bus = crate::stream::Bus::new();
        supervisor.set_bus(bus.clone());
        let vitals = Vitals::new();
        supervisor.set_vitals(vitals.clone());
        let retention = Retention {
            check_results_ms: config.store.retention.check_results.as_millis() as i64,
            events_ms: config.store.retention.events.as_millis() as i64,
            incidents_ms: config.store.retention.incidents.as_millis() as i64,
            rollups_ms: config.store.retention.rollups.as_millis() as i64,
        };
        // Container targets need the engine: insist on it (retrying in the
        // background) unless Docker is turned off.
        let mut docker_settings = config.docker.clone();
        if !configured.is_empty() && docker_settings.enabled.is_none() {
            docker_settings.enabled = Some(true);
        }
        docker_shared.publish(configured);
        // Containers chosen through the API (the supervisor runs the
        // default workspace).
        let choices = store
            .list_container_choices(Some(autoheal_store::DEFAULT_WORKSPACE))
            .await
            .context("reading the containers chosen through the API")?;
        docker_shared.publish_choices(
            choices
                .into_iter()
                .map(|c| (c.container, c.autoheal))
                .collect(),
        );
        let docker = crate::docker::connect(&docker_settings)
            .await
            .map(|client| (client, config.docker.clone()));
        let managed = crate::managed::Managed::new(
            store.clone(),
            vault.keyring(),
            handle.clone(),
            runtime.clone(),
            config.layers.clone(),
            loaded,
            file_objects,
        );
        Ok(Self {
            listener,
            store,
            metrics,
            supervisor,
            handle,
            targets,
            actions,
            docker_shared,
            retention,
            docker,
            dry_run: config.engine.dry_run,
            server: config.server.clone(),
            tls,
            vitals,
            auth,
            local_token,
            vault,
            bus,
            managed,
        })
    }

    /// The secrets vault.
    pub fn vault(&self) -> crate::vault::Vault {
        self.vault.clone()
    }

    /// The local token (an owner key of the default workspace) this start
    /// wrote to `<data_dir>/local-token` for the CLI.
    pub fn local_token(&self) -> &str {
        &self.local_token
    }

    /// Users, sessions and keys.
    pub fn auth(&self) -> crate::auth::Auth {
        self.auth.clone()
    }

    /// The process's vital signs (readiness, vital tasks).
    pub fn vitals(&self) -> Arc<Vitals> {
        self.vitals.clone()
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

    /// The config objects made through the API, composed with the file;
    /// SIGHUP reloads go through it ([`crate::managed::Managed::reload_file`]).
    pub fn managed(&self) -> crate::managed::Managed {
        self.managed.clone()
    }

    /// What SIGHUP reloads: the config file and the TLS certificate.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            managed: self.managed.clone(),
            tls: self.tls.clone(),
        }
    }

    /// The API's base URL: `https://` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr())
    }

    /// Serves until `shutdown` is cancelled, then stops in order: no new
    /// requests or checks, running actions finish, the store is flushed.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr();
        match self.auth.setup_token().await {
            Ok(Some(token)) => {
                // Printed once, to the terminal only: never into the log.
                eprintln!(
                    "\nautoheal has no user yet. Make the first admin with\n  autoheal user add --admin NAME\nor POST /api/v1/auth/setup with this one-time setup token:\n  {token}\nThe CLI on this machine works without an account (its token is in the data directory).\n"
                );
                tracing::info!(
                    "No user exists yet: the one-time setup token was printed to the terminal."
                );
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "Could not tell whether a user exists; no setup token was made.")
            }
        }
        let url = self.url();
        tracing::info!(listen = %addr, store = self.store.backend(), targets = self.targets.len(), tls = self.tls.is_some(), "autoheal is serving on {url}.");
        let vitals = self.vitals.clone();
        let state = AppState {
            store: self.store.clone(),
            supervisor: self.handle.clone(),
            metrics: self.metrics.clone(),
            started_at: supervisor::now_ms(),
            vitals: vitals.clone(),
            auth: self.auth.clone(),
            vault: self.vault.clone(),
            bus: self.bus.clone(),
            managed: self.managed.clone(),
            docker: self.docker_shared.clone(),
            docker_watched: self.docker.is_some(),
            idempotency: Default::default(),
            hooks: Default::default(),
            net: Arc::new(
                http::access::NetPolicy::new(
                    self.server.trusted_proxies.clone(),
                    self.server.rate_limit_per_client,
                    self.server.rate_limit_per_credential,
                )
                .with_loopback_until_admin(self.server.loopback_until_admin),
            ),
        };
        let sup_token = CancellationToken::new();
        let sup_done = vitals.spawn_vital(
            "supervisor",
            self.supervisor
                .run(self.targets, self.actions, sup_token.clone()),
        );
        if let Some((client, settings)) = self.docker {
            vitals.spawn_vital(
                "Docker watcher",
                crate::docker::run(
                    client,
                    settings,
                    self.dry_run,
                    self.handle.clone(),
                    self.docker_shared.clone(),
                    shutdown.clone(),
                ),
            );
        }
        vitals.spawn_vital("store prober", vitals.clone().probe(self.store.clone()));
        let pruner = tokio::spawn(prune_loop(
            self.store.clone(),
            self.retention,
            shutdown.clone(),
        ));
        // A vital task's death stops everything, as a signal would; either
        // way the stop is on purpose from then on, and bounded.
        let stop_begun = {
            let (vitals, shutdown, sup_token) =
                (vitals.clone(), shutdown.clone(), sup_token.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = vitals.died() => {}
                }
                vitals.begin_stop();
                shutdown.cancel();
                sup_token.cancel();
                tokio::time::Instant::now()
            })
        };
        let policy = http::guard::HostPolicy::new(addr, &self.server.allowed_hosts);
        let limits = http::serve::Limits {
            max_connections: self.server.max_connections as usize,
            header_read_timeout: self.server.header_read_timeout,
        };
        let served = http::serve::serve(
            self.listener,
            http::guarded(http::router(state), policy),
            limits,
            self.tls.clone(),
            shutdown.clone(),
        )
        .await
        .context("serving HTTP");
        shutdown.cancel();
        let began = stop_begun
            .await
            .unwrap_or_else(|_| tokio::time::Instant::now());
        if tokio::time::timeout_at(began + STOP_DEADLINE, sup_done.cancelled())
            .await
            .is_err()
        {
            tracing::warn!(
                "Stopping without waiting longer for running actions (after {}): their attempts are closed as interrupted at the next start and not repeated.",
                humantime::format_duration(STOP_DEADLINE)
            );
        }
        pruner.abort();
        if let Some(fatal) = vitals.fatal() {
            anyhow::bail!("{fatal}");
        }
        served?;
        tracing::info!("autoheal stopped.");
        Ok(())
    }
}

/// The account settings of `[auth]`.
fn auth_settings(config: &Config) -> crate::auth::AuthSettings {
    let a = &config.auth;
    crate::auth::AuthSettings {
        registration: a.registration,
        session_idle: a.session_idle,
        session_lifetime: a.session_lifetime,
        metrics_public: a.metrics == autoheal_config::MetricsAccess::Public,
        secure_cookies: a.secure_cookies,
        ..Default::default()
    }
}

/// Deletes history past its retention once an hour (and once at start).
async fn prune_loop(store: Arc<dyn Store>, retention: Retention, stop: CancellationToken) {
    loop {
        let now = supervisor::now_ms();
        match store.prune(&retention, now).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "Pruned {n} rows past their retention."),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "Pruning old history failed.")
            }
        }
        if let Err(e) = store
            .prune_idempotent(now - http::idempotency::KEEP_MS)
            .await
        {
            tracing::warn!(error = %crate::error_chain(&e), "Forgetting old Idempotency-Key answers failed.")
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
    use autoheal_plugins::action::{command, render, webhook};
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
    })
}
