//! Docker as a source of targets: follows the engine through
//! [`autoheal_docker::DockerWatcher`] and turns what it sees into supervisor
//! inputs. Discovered containers become targets with a restart (or the
//! action their `autoheal.action` label names) as their one rung.
//!
//! docker-autoheal's notifications (`WEBHOOK_URL`, `APPRISE_URL`) are sent
//! after each restart attempt with its payloads and texts.
//!
//! Targets declared in the config with `container = { ... }` are the
//! config's (built in `app.rs`, replaced on reload); the watcher reports
//! their containers under their names, and they are never upserted or
//! removed here.

use crate::supervisor::{ActionSlot, Handle, Source, TargetSpec};
use autoheal_core::{Input, Policy, Rung};
use autoheal_docker::{
    ContainerAction, DockerClient, DockerHappening, DockerSettings, DockerTarget, DockerWatcher,
    HealLedger, LabelOverrides, RestartAttempt, RestartContainer,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Name of a discovered target's own action.
pub const ACTION_NAME: &str = "docker";

/// How long after a container action autoheal waits for it to be healthy
/// (or running, in on-failure mode) before calling the rung failed.
pub const VERIFY: Duration = Duration::from_secs(120);

/// A failure back within this time of a recovery is a flap of the same
/// incident (`autoheal.flap_window` changes it).
pub const FLAP_WINDOW: Duration = Duration::from_secs(30);

/// The policy of a discovered container before its labels: Docker's own
/// health check already counted its retries, so one `unhealthy` is enough;
/// then cooldown, backoff and at most 5 restarts an hour, then quarantine.
/// Recurrences within [`FLAP_WINDOW`] of a recovery are one incident.
pub fn base_policy(settings: &DockerSettings) -> Policy {
    Policy {
        failure_threshold: 1,
        flap_window: FLAP_WINDOW,
        start_period: settings.start_period,
        cooldown: Duration::from_secs(30),
        ladder: vec![Rung {
            action: ACTION_NAME.into(),
            verify: VERIFY,
            repeat: 5,
        }],
        ..Policy::default()
    }
}

/// `base` with the container's `autoheal.*` labels laid over it.
pub fn policy_for(base: &Policy, o: &LabelOverrides) -> Policy {
    let mut p = base.clone();
    if let Some(v) = o.failure_threshold {
        p.failure_threshold = v;
    }
    if let Some(v) = o.success_threshold {
        p.success_threshold = v;
    }
    if let Some(v) = o.cooldown {
        p.cooldown = v;
    }
    if let Some(v) = o.max_actions {
        p.max_actions = v;
    }
    if let Some(v) = o.actions_window {
        p.actions_window = v;
    }
    if let Some(v) = o.dry_run {
        p.dry_run = v;
    }
    if let Some(v) = o.start_period {
        p.start_period = v;
    }
    if let Some(v) = o.backoff_initial {
        p.backoff.initial = v;
    }
    if let Some(v) = o.backoff_max {
        p.backoff.max = v;
    }
    if let Some(v) = o.auto_release {
        p.auto_release = v;
    }
    if let Some(v) = o.flap_window {
        p.flap_window = v;
    }
    p
}

/// What the targets declared with `container = { ... }` share with the
/// Docker watcher: a client (negotiated on first use), the heal ledger (so
/// autoheal's own restarts are not taken for a user's stop), and the channel
/// that tells the watcher which containers are configured (replaced on
/// reload).
#[derive(Clone)]
pub struct DockerShared {
    /// `None` when the `[docker]` host setting cannot make a client.
    client: Option<autoheal_docker::LazyClient>,
    ledger: autoheal_docker::HealLedger,
    configured: Arc<tokio::sync::watch::Sender<autoheal_docker::watch::Configured>>,
    /// Per-container choices made through the API.
    choices: Arc<tokio::sync::watch::Sender<autoheal_docker::watch::Choices>>,
}

impl DockerShared {
    pub fn new(settings: &autoheal_docker::DockerSettings) -> Self {
        DockerShared {
            client: autoheal_docker::LazyClient::from_settings(settings).ok(),
            ledger: autoheal_docker::HealLedger::default(),
            configured: Arc::new(tokio::sync::watch::channel(Arc::default()).0),
            choices: Arc::new(tokio::sync::watch::channel(Arc::default()).0),
        }
    }

    /// Hands the watcher the per-container choices (all of them).
    pub fn publish_choices(&self, choices: std::collections::BTreeMap<String, bool>) {
        self.choices.send_replace(Arc::new(choices));
    }

    /// The per-container choices in force.
    pub fn choices(&self) -> autoheal_docker::watch::Choices {
        self.choices.borrow().clone()
    }

    /// Hands the watcher its configured targets.
    pub fn publish(&self, configured: Vec<autoheal_docker::ConfiguredTarget>) {
        self.configured.send_replace(Arc::new(configured));
    }

    /// The client for container targets (`None`: the host setting cannot
    /// make one).
    pub fn client(&self) -> Option<&autoheal_docker::LazyClient> {
        self.client.as_ref()
    }

    pub fn ledger(&self) -> autoheal_docker::HealLedger {
        self.ledger.clone()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<autoheal_docker::watch::Configured> {
        self.configured.subscribe()
    }
}

/// Whether to watch Docker: `enabled = false` never; `true` always (the
/// watcher retries an absent engine); unset: when an engine answers at start.
pub async fn connect(settings: &DockerSettings) -> Option<DockerClient> {
    match (settings.enabled, DockerClient::connect(settings).await) {
        (Some(false), _) => None,
        (_, Ok(client)) => {
            tracing::info!(api = %client.api_version(), label = %settings.label, "Watching Docker containers.");
            Some(client)
        }
        (Some(true), Err(e)) => {
            tracing::warn!(error = %crate::error_chain(&e), "The Docker engine does not answer yet; retrying in the background.");
            let host = settings.docker_host().ok()?;
            DockerClient::new_unnegotiated(host, &settings.cert_dir, settings.api_timeout).ok()
        }
        (None, Err(e)) => {
            tracing::info!(error = %crate::error_chain(&e), "No Docker engine reachable: not watching containers (set docker.enabled = true to insist).");
            None
        }
    }
}

/// Follows the engine until `stop`; feeds the supervisor.
pub async fn run(
    client: DockerClient,
    settings: DockerSettings,
    global_dry_run: bool,
    handle: Handle,
    shared: DockerShared,
    outbox: Outbox,
    stop: CancellationToken,
) {
    let configured = shared.subscribe();
    let watcher = match DockerWatcher::new(client.clone(), &settings) {
        Ok(w) => w
            .with_ledger(shared.ledger())
            .with_configured(configured.clone())
            .with_choices(shared.choices.subscribe()),
        Err(errors) => {
            for (key, why) in errors {
                tracing::error!(key = %key, "docker.{key}: {why}");
            }
            return;
        }
    };
    let ledger = watcher.ledger();
    let token = stop.clone();
    let (mut rx, task) = watcher.spawn(1024, async move { token.cancelled().await });
    let notices = spawn_notifier(&settings, outbox);
    let mut base = base_policy(&settings);
    base.dry_run = global_dry_run;
    while let Some(h) = rx.recv().await {
        match h {
            DockerHappening::Discovered {
                target,
                containers,
                overrides,
                label_errors,
            } => {
                if target.is_configured() {
                    tracing::info!(target_name = %target.name, containers = containers.len(), "Found the containers of a configured target.");
                    continue;
                }
                for e in &label_errors {
                    tracing::warn!(target_name = %target.name, "Ignoring {e}.");
                }
                let spec = target_spec(
                    &client,
                    &target,
                    &overrides,
                    &settings,
                    &base,
                    &ledger,
                    notices.clone(),
                    containers.len(),
                );
                let _ = handle.upsert_target(spec).await;
            }
            DockerHappening::Observation {
                target,
                observation,
                ..
            } => {
                let _ = handle
                    .external(&target, Input::Observation(observation))
                    .await;
            }
            DockerHappening::Started { target, .. } => {
                let _ = handle.external(&target, Input::Started).await;
            }
            // Someone else's stop or pause is an input of the engine (not
            // an operator's `autoheal pause`): it closes an open incident as
            // stopped and holds every action until the target runs again.
            DockerHappening::Stopped { target, by, .. } => {
                tracing::info!(target_name = %target, "{target} is {}; autoheal leaves it alone until it runs again.", by.describe());
                let _ = handle.external(&target, Input::Stopped { by }).await;
            }
            DockerHappening::Running { target, .. } => {
                let _ = handle.external(&target, Input::Running).await;
            }
            DockerHappening::Gone { target } => {
                // A configured target stays (the config says it exists);
                // its check, if any, reports on it.
                if configured.borrow().iter().any(|c| c.name == target) {
                    tracing::warn!(target_name = %target, "No container matches the configured target any more.");
                    continue;
                }
                let _ = handle.remove_target(&target).await;
            }
            DockerHappening::EngineLost { error } => {
                tracing::warn!(error = %error, "Lost the Docker engine; reconnecting.");
            }
            DockerHappening::EngineRegained => {
                tracing::info!("The Docker engine answers again; reconciling.");
            }
        }
    }
    let _ = task.await;
}

#[allow(clippy::too_many_arguments)]
fn target_spec(
    client: &DockerClient,
    target: &DockerTarget,
    overrides: &LabelOverrides,
    settings: &DockerSettings,
    base: &Policy,
    ledger: &HealLedger,
    notices: Option<mpsc::UnboundedSender<RestartAttempt>>,
    replicas: usize,
) -> TargetSpec {
    let mut policy = policy_for(base, overrides);
    policy.dry_run = policy.dry_run || base.dry_run;
    let stop_timeout = overrides
        .stop_timeout
        .unwrap_or(settings.default_stop_timeout);
    let action = overrides.action.unwrap_or_default();
    let runner: Arc<dyn autoheal_plugins::Action> = match (action, notices) {
        (ContainerAction::Restart, Some(tx)) => {
            let mut r = RestartContainer::from_settings(client.clone(), target.clone(), settings);
            r.default_stop_timeout = stop_timeout;
            if let Some(d) = overrides.restart_dependents {
                r.restart_dependents = d;
            }
            Arc::new(r.with_ledger(ledger.clone()).with_attempts(tx))
        }
        _ => Arc::from(autoheal_docker::action_for(
            client.clone(),
            target.clone(),
            overrides,
            settings,
            Some(ledger.clone()),
        )),
    };
    let kind = match action {
        ContainerAction::Restart => "docker_restart",
        ContainerAction::Start => "docker_start",
        ContainerAction::Stop => "docker_stop",
    };
    // Restart with its stop timeout, maybe every replica, maybe dependents
    // after a wait: allow for all of it.
    let timeout = settings
        .api_timeout
        .saturating_add(stop_timeout.saturating_mul(2))
        .saturating_add(Duration::from_secs(90));
    TargetSpec {
        name: target.name.clone(),
        kind: "docker".into(),
        check: None,
        spec: autoheal_plugins::redact::redacted_json(&serde_json::json!({
            "source": "docker",
            "key": target.key,
            "replicas": replicas,
            "action": action,
            "stop_timeout_s": stop_timeout.as_secs(),
            "labels": overrides,
        })),
        depends_on: overrides.depends_on.clone(),
        policy,
        source: Source::Discovered,
        own_actions: vec![Arc::new(ActionSlot {
            name: ACTION_NAME.into(),
            kind: kind.into(),
            timeout,
            action: runner,
        })],
    }
}

/// docker-autoheal's notifications: one per restart attempt, in its words,
/// to `WEBHOOK_URL` (`{"<WEBHOOK_JSON_KEY>": text}`) and `APPRISE_URL`
/// (`{"title":"Autoheal","body": text}`), through the outbox like every
/// notification (written to the store, retried, dead-lettered, never
/// dropped; the channels are made from those settings: `docker.webhook`,
/// `docker.apprise`).
fn spawn_notifier(
    settings: &DockerSettings,
    outbox: Outbox,
) -> Option<mpsc::UnboundedSender<RestartAttempt>> {
    if settings.webhook_url.is_none() && settings.apprise_url.is_none() {
        return None;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<RestartAttempt>();
    tokio::spawn(async move {
        while let Some(attempt) = rx.recv().await {
            let msg =
                crate::notify::facts::docker_autoheal(&attempt.message(), attempt.result.is_ok());
            let now = crate::supervisor::now_ms();
            let mut n = crate::notify::facts::new_notification(
                autoheal_store::DEFAULT_WORKSPACE,
                Some(&attempt.target),
                None,
                msg,
                now,
            );
            n.kind = crate::notify::routes::COMPAT_KIND.into();
            let mut unit = autoheal_store::Unit::default();
            unit.notify(n, None);
            // The store may be refusing writes for a while: keep trying
            // (the notification is only in memory until it takes it).
            let mut delay = Duration::from_millis(500);
            loop {
                match outbox.store.commit(&unit).await {
                    Ok(_) => {
                        outbox.bus.notifications_committed();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::error_chain(&e), "A docker-autoheal notification could not be written to the outbox yet; trying again.");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
    });
    Some(tx)
}

/// Where the Docker task writes its notifications.
#[derive(Clone)]
pub struct Outbox {
    pub store: Arc<dyn autoheal_store::Store>,
    pub bus: crate::stream::Bus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_labels_set_the_policy_backoff() {
        let base = base_policy(&DockerSettings::default());
        let (o, errs) = LabelOverrides::from_labels(
            &[
                ("autoheal.backoff.initial", "2s"),
                ("autoheal.backoff.max", "1m"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        assert!(errs.is_empty(), "{errs:?}");
        let p = policy_for(&base, &o);
        assert_eq!(p.backoff.initial, Duration::from_secs(2));
        assert_eq!(p.backoff.max, Duration::from_secs(60));
        assert_eq!(p.backoff.factor, base.backoff.factor);
        let unlabelled = policy_for(&base, &LabelOverrides::default());
        assert_eq!(unlabelled.backoff, base.backoff);
    }
}
