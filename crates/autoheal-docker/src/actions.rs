//! Container actions as `autoheal_plugins::Action`s, and docker-autoheal's
//! notification payloads.
//!
//! Every action finds its containers through the target's identity at run
//! time (so a re-created container is found), re-checks each one just before
//! acting, and never repeats a heal that already happened: a container that
//! is healthy now, or that started after the target went down and is not
//! failing again, is left alone and the action reports `Succeeded`.

use crate::client::{DockerClient, DockerError};
use crate::discovery::{DockerTarget, LabelOverrides, LABEL_STOP_TIMEOUT};
use crate::watch::{docker_restarts_it, info_of, ContainerInfo, HealLedger, OwnAction};
use async_trait::async_trait;
use autoheal_core::ActionOutcome;
use autoheal_plugins::action::{Action, ActionContext};
use bollard::models::ContainerInspectResponse;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;

/// One restart attempt on one container: what the supervisor notifies about
/// (see [`restart_message`], [`webhook_payload`], [`apprise_payload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartAttempt {
    pub target: String,
    pub container_name: String,
    pub container_id: String,
    /// `Err(detail)` when the restart failed.
    pub result: Result<(), String>,
    /// True for a dependent restarted after its dependency was healed.
    pub dependent: bool,
}

impl RestartAttempt {
    pub fn message(&self) -> String {
        restart_message(
            &self.container_name,
            &self.container_id,
            self.result.is_ok(),
        )
    }
}

/// What one run did, container by container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub acted: Vec<RestartAttempt>,
    /// (container name, why it was left alone).
    pub skipped: Vec<(String, String)>,
}

impl RunReport {
    pub fn outcome(&self) -> ActionOutcome {
        let failed: Vec<String> = self
            .acted
            .iter()
            .filter_map(|a| {
                a.result
                    .as_ref()
                    .err()
                    .map(|e| format!("{}: {e}", a.container_name))
            })
            .collect();
        if failed.is_empty() {
            ActionOutcome::Succeeded
        } else {
            ActionOutcome::Failed {
                detail: failed.join("; "),
            }
        }
    }
}

/// docker-autoheal's message after a restart attempt.
pub fn restart_message(name: &str, id: &str, success: bool) -> String {
    let name = name.trim_start_matches('/');
    let id12: String = id.chars().take(12).collect();
    if success {
        format!("Container {name} ({id12}) found to be unhealthy. Successfully restarted the container!")
    } else {
        format!("Container {name} ({id12}) found to be unhealthy. Failed to restart the container!")
    }
}

/// docker-autoheal's WEBHOOK_URL body: `{"<key>": "<text>"}`.
pub fn webhook_payload(json_key: &str, text: &str) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert(
        json_key.to_string(),
        serde_json::Value::String(text.to_string()),
    );
    serde_json::Value::Object(m)
}

/// docker-autoheal's APPRISE_URL body.
pub fn apprise_payload(text: &str) -> serde_json::Value {
    serde_json::json!({ "title": "Autoheal", "body": text })
}

/// docker-autoheal's POST_RESTART_SCRIPT, as an argument list (never a
/// shell line). Called with: container name, short id, state, stop timeout
/// in seconds.
#[derive(Debug, Clone)]
pub struct PostRestartCommand {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl PostRestartCommand {
    /// Runs it with a cleared environment (PATH kept) and a deadline; the
    /// result is logged, never fails the heal.
    pub async fn run(&self, name: &str, id: &str, state: &str, stop_timeout: Duration) {
        let Some((prog, args)) = self.argv.split_first() else {
            return;
        };
        let id12: String = id.chars().take(12).collect();
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args)
            .arg(name.trim_start_matches('/'))
            .arg(&id12)
            .arg(state)
            .arg(stop_timeout.as_secs().to_string())
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        match tokio::time::timeout(self.timeout, async { cmd.output().await }).await {
            Ok(Ok(o)) if o.status.success() => {
                tracing::info!(program = %prog, container = %name, "Post-restart command succeeded.")
            }
            Ok(Ok(o)) => {
                let err: String = String::from_utf8_lossy(&o.stderr)
                    .chars()
                    .take(500)
                    .collect();
                tracing::warn!(program = %prog, container = %name, status = %o.status, stderr = %err, "Post-restart command failed.")
            }
            Ok(Err(e)) => {
                tracing::warn!(program = %prog, error = %e, "Post-restart command could not start.")
            }
            Err(_) => {
                tracing::warn!(program = %prog, timeout = ?self.timeout, "Post-restart command timed out.")
            }
        }
    }
}

/// The containers of a target right now (running or not), by name.
pub async fn resolve(
    client: &DockerClient,
    target: &DockerTarget,
) -> Result<Vec<ContainerInspectResponse>, DockerError> {
    let list = client.list(true, target.list_filters()).await?;
    let mut out = Vec::new();
    for c in list {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .cloned()
            .unwrap_or_default();
        let labels = c.labels.clone().unwrap_or_default();
        if !target.contains(&name, &labels) {
            continue;
        }
        let Some(id) = c.id else { continue };
        match client.inspect(&id).await {
            Ok(i) => out.push(i),
            Err(DockerError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn stop_timeout_of(labels: &HashMap<String, String>, default: Duration) -> Duration {
    labels
        .get(LABEL_STOP_TIMEOUT)
        .and_then(|v| crate::config::parse_seconds(v).ok())
        .unwrap_or(default)
        // A label read at restart time was never validated: keep it sane.
        .min(autoheal_core::policy::limits::STOP_TIMEOUT.max)
}

/// Restarts every container of a target (all replicas of a compose service,
/// concurrently), then, if asked, the targets that depend on it, in
/// dependency order.
#[derive(Debug, Clone)]
pub struct RestartContainer {
    pub client: DockerClient,
    pub target: DockerTarget,
    /// Used when a container has no `autoheal.stop.timeout` label.
    pub default_stop_timeout: Duration,
    pub restart_dependents: bool,
    pub post_restart: Option<PostRestartCommand>,
    /// Shared with the watcher: when the target went down (when the caller
    /// does not say) and which restarts are autoheal's own.
    pub ledger: Option<HealLedger>,
    /// With several replicas (a compose service): when one needs a restart,
    /// restart them all, like `docker compose restart <service>` (default).
    /// False: only the replicas that are failing.
    pub restart_all_replicas: bool,
    /// Before restarting dependents, wait this long at most for the healed
    /// containers to be healthy (or running, without a HEALTHCHECK).
    pub dependency_ready_timeout: Duration,
    /// Each attempt is sent here (for notifications), if set.
    pub attempts: Option<mpsc::UnboundedSender<RestartAttempt>>,
    /// Leave a container alone when Docker calls it healthy now (default).
    /// False for a configured target with its own check, whose failure
    /// Docker's health status does not see.
    pub trust_docker_health: bool,
}

impl RestartContainer {
    pub fn new(client: DockerClient, target: DockerTarget, default_stop_timeout: Duration) -> Self {
        RestartContainer {
            client,
            target,
            default_stop_timeout,
            restart_dependents: false,
            post_restart: None,
            ledger: None,
            restart_all_replicas: true,
            dependency_ready_timeout: Duration::from_secs(60),
            attempts: None,
            trust_docker_health: true,
        }
    }

    /// Builds one from the `[docker]` settings.
    pub fn from_settings(
        client: DockerClient,
        target: DockerTarget,
        s: &crate::config::DockerSettings,
    ) -> Self {
        let mut r = RestartContainer::new(client, target, s.default_stop_timeout);
        r.restart_dependents = s.restart_dependents;
        r.restart_all_replicas = s.restart_all_replicas;
        r.post_restart = s
            .post_restart_command
            .clone()
            .map(|argv| PostRestartCommand {
                argv,
                timeout: s.api_timeout,
            });
        r
    }

    pub fn with_ledger(mut self, l: HealLedger) -> Self {
        self.ledger = Some(l);
        self
    }

    pub fn with_attempts(mut self, tx: mpsc::UnboundedSender<RestartAttempt>) -> Self {
        self.attempts = Some(tx);
        self
    }

    /// The whole run. `opened_at`: when the incident opened (a container
    /// started after that and not failing again is not restarted again).
    pub async fn execute(&self, opened_at: Option<DateTime<Utc>>) -> RunReport {
        let mut report = RunReport::default();
        let containers = match resolve(&self.client, &self.target).await {
            Ok(c) => c,
            Err(e) => {
                report.acted.push(RestartAttempt {
                    target: self.target.name.clone(),
                    container_name: self.target.name.clone(),
                    container_id: String::new(),
                    result: Err(e.to_string()),
                    dependent: false,
                });
                return report;
            }
        };
        if containers.is_empty() {
            report.acted.push(RestartAttempt {
                target: self.target.name.clone(),
                container_name: self.target.name.clone(),
                container_id: String::new(),
                result: Err("no container found for this target".into()),
                dependent: false,
            });
            return report;
        }
        let mut todo = Vec::new();
        let mut fine = Vec::new();
        for insp in &containers {
            let (info, labels) = info_of(insp);
            let why = self
                .stopped_by_someone(&info.id)
                .or_else(|| why_skip(insp, &info, opened_at, self.trust_docker_health));
            match why {
                Some(why) => fine.push((info, labels, why)),
                None => todo.push((info, labels)),
            }
        }
        if !todo.is_empty() && self.restart_all_replicas {
            // The service restarts as a whole; only what Docker is already
            // restarting is left to Docker.
            for (info, labels, why) in std::mem::take(&mut fine) {
                // What Docker is restarting, what exited under Docker's
                // restart policy, and what someone else is stopping stay
                // alone; the rest of the service restarts with it.
                if why == RESTARTING || why.starts_with(STOPPED) || why.starts_with(POLICY_EXITED) {
                    fine.push((info, labels, why));
                } else {
                    todo.push((info, labels));
                }
            }
        }
        report.skipped = fine.into_iter().map(|(i, _, why)| (i.name, why)).collect();
        let mut results = Vec::new();
        for r in futures::future::join_all(
            todo.iter()
                .map(|(info, labels)| self.restart_one(info, labels, false)),
        )
        .await
        {
            match r {
                Ok(a) => results.push(a),
                Err(skip) => report.skipped.push(skip),
            }
        }
        let healed: Vec<String> = results
            .iter()
            .filter(|a| a.result.is_ok())
            .map(|a| a.container_id.clone())
            .collect();
        report.acted.extend(results);
        if self.restart_dependents && !healed.is_empty() {
            let deps = match dependents_in_order(&self.client, &self.target.name).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "Could not list the dependents.");
                    Vec::new()
                }
            };
            if !deps.is_empty() {
                if let Err(why) = self.wait_ready(&healed).await {
                    for (dep, _) in deps {
                        report.skipped.push((dep, why.clone()));
                    }
                    return report;
                }
            }
            for (dep, members) in deps {
                tracing::info!(target_name = %dep, dependency = %self.target.name, "Restarting a dependent after its dependency was healed.");
                let res = futures::future::join_all(
                    members
                        .iter()
                        .map(|(info, labels)| self.restart_one(info, labels, true)),
                )
                .await;
                for r in res {
                    match r {
                        Ok(a) => report.acted.push(a),
                        Err(skip) => report.skipped.push(skip),
                    }
                }
            }
        }
        report
    }

    /// Waits until every container in `ids` is healthy (or running without
    /// a HEALTHCHECK), polling, within `dependency_ready_timeout`.
    async fn wait_ready(&self, ids: &[String]) -> Result<(), String> {
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(self.dependency_ready_timeout)
            .unwrap_or(now + Duration::from_secs(24 * 3600));
        loop {
            let mut ready = true;
            for id in ids {
                match self.client.inspect(id).await {
                    Ok(i) => {
                        let (info, _) = info_of(&i);
                        let ok = info.running
                            && matches!(info.health.as_deref(), None | Some("healthy"));
                        ready &= ok;
                    }
                    Err(e) => return Err(format!("dependency not inspectable: {e}")),
                }
            }
            if ready {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "dependency {} not healthy within {:?}: dependents not restarted",
                    self.target.name, self.dependency_ready_timeout
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Why a container must not be touched: someone else is stopping it
    /// (or paused it) since a moment the watcher saw.
    fn stopped_by_someone(&self, container_id: &str) -> Option<String> {
        let (by, at) = self.ledger.as_ref()?.stopped(container_id)?;
        Some(format!(
            "{STOPPED} ({}, since {}): a decision made before that no longer acts",
            by.describe(),
            at.to_rfc3339()
        ))
    }

    /// Restarts one container, unless someone else began stopping it since
    /// the decision (checked right before the Docker call): then `Err` with
    /// (name, why) and nothing is sent to Docker.
    async fn restart_one(
        &self,
        info: &ContainerInfo,
        labels: &HashMap<String, String>,
        dependent: bool,
    ) -> Result<RestartAttempt, (String, String)> {
        if let Some(why) = self.stopped_by_someone(&info.id) {
            return Err((info.name.clone(), why));
        }
        let t = stop_timeout_of(labels, self.default_stop_timeout);
        let state = match info.health.as_deref() {
            Some(h) => h.to_string(),
            None if info.running => "running".into(),
            None => "exited".into(),
        };
        if let Some(l) = &self.ledger {
            l.begin_own(&info.id, OwnAction::Restart);
        }
        let result = self
            .client
            .restart(&info.id, t)
            .await
            .map_err(|e| e.to_string());
        if result.is_err() {
            if let Some(l) = &self.ledger {
                l.end_own(&info.id);
            }
        }
        match &result {
            Ok(()) => {
                tracing::info!(container = %info.name, stop_timeout = ?t, "Restarted the container.")
            }
            Err(e) => {
                tracing::warn!(container = %info.name, error = %e, "Failed to restart the container.")
            }
        }
        if let Some(p) = &self.post_restart {
            p.run(&info.name, &info.id, &state, t).await;
        }
        let a = RestartAttempt {
            target: DockerTarget::of_container(&info.name, labels).name,
            container_name: info.name.clone(),
            container_id: info.id.clone(),
            result,
            dependent,
        };
        if let Some(tx) = &self.attempts {
            let _ = tx.send(a.clone());
        }
        Ok(a)
    }
}

const RESTARTING: &str = "Docker is already restarting it";
const STOPPED: &str = "someone else is stopping it";
const POLICY_EXITED: &str = "exited, and Docker's restart policy restarts it";
const POLICY_RUNNING: &str = "running again after Docker's restart policy restarted it";

/// Why a container needs no restart now, or `None`.
fn why_skip(
    insp: &ContainerInspectResponse,
    info: &ContainerInfo,
    opened_at: Option<DateTime<Utc>>,
    trust_docker_health: bool,
) -> Option<String> {
    let st = insp.state.clone().unwrap_or_default();
    if st.restarting.unwrap_or(false) {
        return Some(RESTARTING.into());
    }
    // Docker restarts what exits under its restart policy (never what is
    // running unhealthy): exited, or already running again after it, it is
    // Docker's to restart, never autoheal's on top.
    let unhealthy = info.running && info.health.as_deref() == Some("unhealthy");
    let restarted_by_docker = insp.restart_count.unwrap_or(0) > 0;
    if !unhealthy
        && (!info.running || restarted_by_docker)
        && docker_restarts_it(insp, st.exit_code.unwrap_or(1).max(1))
    {
        let what = if info.running {
            POLICY_RUNNING
        } else {
            POLICY_EXITED
        };
        return Some(format!("{what}: autoheal never restarts it on top"));
    }
    if !trust_docker_health {
        return None;
    }
    if info.running && info.health.as_deref() == Some("healthy") {
        return Some("healthy now".into());
    }
    let failing_now = !info.running || info.health.as_deref() == Some("unhealthy");
    if let (Some(opened), Some(started)) = (opened_at, info.started_at) {
        if started > opened && !failing_now {
            return Some(format!(
                "already started at {} after the incident opened at {}",
                started.to_rfc3339(),
                opened.to_rfc3339()
            ));
        }
    }
    None
}

type Members = Vec<(ContainerInfo, HashMap<String, String>)>;

/// Running targets that depend (directly or not) on `target`, dependencies
/// first.
pub async fn dependents_in_order(
    client: &DockerClient,
    target: &str,
) -> Result<Vec<(String, Members)>, DockerError> {
    let list = client.list(false, HashMap::new()).await?;
    let mut by_target: BTreeMap<String, Members> = BTreeMap::new();
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in list {
        let Some(id) = c.id.clone() else { continue };
        let Ok(insp) = client.inspect(&id).await else {
            continue;
        };
        let (info, labels) = info_of(&insp);
        let t = DockerTarget::of_container(&info.name, &labels).name;
        let (ov, _) = LabelOverrides::from_labels(&labels);
        deps.entry(t.clone()).or_default().extend(ov.depends_on);
        by_target.entry(t).or_default().push((info, labels));
    }
    // Breadth-first from the healed target: each level after the previous.
    let mut order = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::from([target.to_string()]);
    let mut frontier = vec![target.to_string()];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (t, ds) in &deps {
            if !done.contains(t) && ds.iter().any(|d| frontier.contains(d)) {
                next.push(t.clone());
            }
        }
        for t in &next {
            done.insert(t.clone());
            if let Some(m) = by_target.remove(t) {
                order.push((t.clone(), m));
            }
        }
        frontier = next;
    }
    Ok(order)
}

#[async_trait]
impl Action for RestartContainer {
    async fn run(&self, _ctx: &ActionContext) -> ActionOutcome {
        let opened = self
            .ledger
            .as_ref()
            .and_then(|d| d.down_since(&self.target.name));
        let r = self.execute(opened).await;
        for (name, why) in &r.skipped {
            tracing::info!(container = %name, reason = %why, "Left the container alone.");
        }
        r.outcome()
    }
}

/// Starts every stopped container of a target (`autoheal.action=start`, or
/// the heal of an exited container).
#[derive(Debug, Clone)]
pub struct StartContainer {
    pub client: DockerClient,
    pub target: DockerTarget,
    /// Shared with the watcher: containers someone else stopped are never
    /// started by a decision made before the stop.
    pub ledger: Option<HealLedger>,
}

impl StartContainer {
    pub fn new(client: DockerClient, target: DockerTarget) -> Self {
        StartContainer {
            client,
            target,
            ledger: None,
        }
    }
}

#[async_trait]
impl Action for StartContainer {
    async fn run(&self, _ctx: &ActionContext) -> ActionOutcome {
        let cs = match resolve(&self.client, &self.target).await {
            Ok(c) if c.is_empty() => {
                return ActionOutcome::Failed {
                    detail: "no container found for this target".into(),
                }
            }
            Ok(c) => c,
            Err(e) => {
                return ActionOutcome::Failed {
                    detail: e.to_string(),
                }
            }
        };
        let mut errs = Vec::new();
        for insp in cs {
            let (info, _) = info_of(&insp);
            let restarting = insp
                .state
                .as_ref()
                .and_then(|s| s.restarting)
                .unwrap_or(false);
            if info.running || restarting {
                continue;
            }
            let exit = insp.state.as_ref().and_then(|s| s.exit_code).unwrap_or(1);
            if docker_restarts_it(&insp, exit.max(1)) {
                tracing::info!(container = %info.name, "Left the container alone: Docker's restart policy restarts it.");
                continue;
            }
            if let Some((by, at)) = self.ledger.as_ref().and_then(|l| l.stopped(&info.id)) {
                tracing::info!(container = %info.name, since = %at.to_rfc3339(), "Left the container alone: it is {}.", by.describe());
                continue;
            }
            if let Err(e) = self.client.start(&info.id).await {
                errs.push(format!("{}: {e}", info.name));
            }
        }
        if errs.is_empty() {
            ActionOutcome::Succeeded
        } else {
            ActionOutcome::Failed {
                detail: errs.join("; "),
            }
        }
    }
}

/// Stops every running container of a target (`autoheal.action=stop`:
/// docker-autoheal users asked to stop instead of restart).
#[derive(Debug, Clone)]
pub struct StopContainer {
    pub client: DockerClient,
    pub target: DockerTarget,
    pub default_stop_timeout: Duration,
    /// Marks the stop as autoheal's own (not reported as a user stop).
    pub ledger: Option<HealLedger>,
}

impl StopContainer {
    pub fn new(client: DockerClient, target: DockerTarget, default_stop_timeout: Duration) -> Self {
        StopContainer {
            client,
            target,
            default_stop_timeout,
            ledger: None,
        }
    }
}

#[async_trait]
impl Action for StopContainer {
    async fn run(&self, _ctx: &ActionContext) -> ActionOutcome {
        let cs = match resolve(&self.client, &self.target).await {
            Ok(c) => c,
            Err(e) => {
                return ActionOutcome::Failed {
                    detail: e.to_string(),
                }
            }
        };
        let mut errs = Vec::new();
        for insp in cs {
            let (info, labels) = info_of(&insp);
            if !info.running {
                continue;
            }
            let t = stop_timeout_of(&labels, self.default_stop_timeout);
            if let Some(l) = &self.ledger {
                l.begin_own(&info.id, OwnAction::Stop);
            }
            if let Err(e) = self.client.stop(&info.id, t).await {
                if let Some(l) = &self.ledger {
                    l.end_own(&info.id);
                }
                errs.push(format!("{}: {e}", info.name));
            }
        }
        if errs.is_empty() {
            ActionOutcome::Succeeded
        } else {
            ActionOutcome::Failed {
                detail: errs.join("; "),
            }
        }
    }
}

/// The action a target's labels ask for, ready to run.
pub fn action_for(
    client: DockerClient,
    target: DockerTarget,
    overrides: &LabelOverrides,
    settings: &crate::config::DockerSettings,
    ledger: Option<HealLedger>,
) -> Box<dyn Action> {
    use crate::discovery::ContainerAction;
    let stop_timeout = overrides
        .stop_timeout
        .unwrap_or(settings.default_stop_timeout);
    match overrides.action.unwrap_or_default() {
        ContainerAction::Restart => {
            let mut r = RestartContainer::from_settings(client, target, settings);
            r.default_stop_timeout = stop_timeout;
            if let Some(d) = overrides.restart_dependents {
                r.restart_dependents = d;
            }
            r.ledger = ledger;
            Box::new(r)
        }
        ContainerAction::Start => {
            let mut s = StartContainer::new(client, target);
            s.ledger = ledger;
            Box::new(s)
        }
        ContainerAction::Stop => {
            let mut s = StopContainer::new(client, target, stop_timeout);
            s.ledger = ledger;
            Box::new(s)
        }
    }
}
