//! Wiring: [`Application::build`] opens the store, builds checks and actions
//! from the config, binds the listener and prepares the supervisor;
//! [`Application::run_until_stopped`] runs it all until shutdown. The binary
//! and the black-box tests boot the very same thing.

pub use crate::build::{build_targets, build_targets_with, Built, Runtime};
pub use crate::docker::DockerShared;
use crate::http::{self, AppState};
use crate::supervisor::{self, ActionSlot, Handle, Supervisor, TargetSpec};
use crate::telemetry::Metrics;
use crate::vitals::Vitals;
use anyhow::Context;
use autoheal_config::{Config, Overlay};
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
    notifier: crate::notify::Notifier,
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
        let loaded = crate::managed::load_overlays(store.as_ref(), vault.keys())
            .await
            .context("reading the config objects made through the API")?;
        let file_objects = config.file_objects.clone();
        let composed;
        let empty = Overlay::default();
        let overlay = loaded
            .get(&autoheal_store::DEFAULT_WORKSPACE)
            .map_or(&empty, |l| &l.overlay);
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
            mut targets,
            mut actions,
            configured,
        } = build_targets_with(config, &runtime).map_err(|errors| {
            anyhow::anyhow!(
                "the configuration could not be built:\n{}",
                errors.join("\n")
            )
        })?;
        let mut routing = notify_routing(config)?;
        let clients = autoheal_plugins::http_client::HttpClients::new()
            .context("building the HTTP client of the notification channels")?;
        // The other workspaces' objects (no file under them): one that no
        // longer builds is left out, with the reason in the log, and kept.
        for (ws, space) in loaded
            .iter()
            .filter(|(ws, _)| **ws != autoheal_store::DEFAULT_WORKSPACE)
        {
            match crate::managed::build_stored_workspace(*ws, space, &runtime) {
                Ok((built, composed)) => {
                    if let Err(e) = routing.add(*ws, &composed, &clients) {
                        tracing::error!(workspace = ws, errors = %e.join("; "), "The notification channels of workspace {ws} could not be built.");
                    }
                    targets.extend(built.targets);
                    actions.extend(
                        built
                            .actions
                            .into_iter()
                            .map(|(name, slot)| (autoheal_store::scope::qualify(*ws, &name), slot)),
                    );
                }
                Err(e) => {
                    tracing::error!(workspace = ws, error = %e, "The config objects of workspace {ws} made through the API could not be built; its targets do not run until they are fixed through the API: {e}");
                }
            }
        }
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
        let view = handle.clone();
        let notifier = crate::notify::Notifier::new(
            store.clone(),
            routing,
            metrics.clone(),
            bus.outbox_wake(),
        )
        .with_quarantined(Arc::new(move || {
            view.targets()
                .into_iter()
                .filter(|t| t.phase == "quarantined")
                .map(|t| (t.name, t.incident_id))
                .collect()
        }));
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
            crate::managed::Running {
                handle: handle.clone(),
                runtime: runtime.clone(),
                notifier: notifier.clone(),
            },
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
            notifier,
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
            notifier: self.notifier.clone(),
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
                    crate::docker::Outbox {
                        store: self.store.clone(),
                        bus: self.bus.clone(),
                    },
                    shutdown.clone(),
                ),
            );
        }
        vitals.spawn_vital("store prober", vitals.clone().probe(self.store.clone()));
        let outbox = tokio::spawn(self.notifier.clone().run(shutdown.clone()));
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
        // Tries under way end within their channel's timeout; what is not
        // sent stays in the outbox for the next start.
        if tokio::time::timeout(Duration::from_secs(2), outbox)
            .await
            .is_err()
        {
            tracing::warn!("Stopping without waiting for notification tries under way; they are tried again at the next start.");
        }
        if let Some(fatal) = vitals.fatal() {
            anyhow::bail!("{fatal}");
        }
        served?;
        tracing::info!("autoheal stopped.");
        Ok(())
    }
}

/// The default workspace's notification channels and routes, built.
fn notify_routing(config: &Config) -> anyhow::Result<crate::notify::Routing> {
    let clients = autoheal_plugins::http_client::HttpClients::new()
        .context("building the HTTP client of the notification channels")?;
    crate::notify::Routing::build(autoheal_store::DEFAULT_WORKSPACE, config, &clients).map_err(
        |errors| {
            anyhow::anyhow!(
                "the notification channels could not be built:\n{}",
                errors.join("\n")
            )
        },
    )
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
