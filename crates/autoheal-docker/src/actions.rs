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
use crate::watch::{info_of, ContainerInfo, DownSince};
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
    /// Where "when did this go down" comes from when the caller does not say.
    pub down_since: Option<DownSince>,
    /// Each attempt is sent here (for notifications), if set.
    pub attempts: Option<mpsc::UnboundedSender<RestartAttempt>>,
}

impl RestartContainer {
    pub fn new(client: DockerClient, target: DockerTarget, default_stop_timeout: Duration) -> Self {
        RestartContainer {
            client,
            target,
            default_stop_timeout,
            restart_dependents: false,
            post_restart: None,
            down_since: None,
            attempts: None,
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
        r.post_restart = s
            .post_restart_command
            .clone()
            .map(|argv| PostRestartCommand {
                argv,
                timeout: s.api_timeout,
            });
        r
    }

    pub fn with_down_since(mut self, d: DownSince) -> Self {
        self.down_since = Some(d);
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
        for insp in &containers {
            let (info, labels) = info_of(insp);
            match why_skip(insp, &info, opened_at) {
                Some(why) => report.skipped.push((info.name.clone(), why)),
                None => todo.push((info, labels)),
            }
        }
        let results = futures::future::join_all(
            todo.iter()
                .map(|(info, labels)| self.restart_one(info, labels, false)),
        )
        .await;
        let healed_any = results.iter().any(|a| a.result.is_ok());
        report.acted.extend(results);
        if self.restart_dependents && healed_any {
            match dependents_in_order(&self.client, &self.target.name).await {
                Ok(deps) => {
                    for (dep, members) in deps {
                        tracing::info!(target_name = %dep, dependency = %self.target.name, "Restarting a dependent after its dependency was healed.");
                        let res = futures::future::join_all(
                            members
                                .iter()
                                .map(|(info, labels)| self.restart_one(info, labels, true)),
                        )
                        .await;
                        report.acted.extend(res);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Could not list the dependents.");
                }
            }
        }
        report
    }

    async fn restart_one(
        &self,
        info: &ContainerInfo,
        labels: &HashMap<String, String>,
        dependent: bool,
    ) -> RestartAttempt {
        let t = stop_timeout_of(labels, self.default_stop_timeout);
        let state = match info.health.as_deref() {
            Some(h) => h.to_string(),
            None if info.running => "running".into(),
            None => "exited".into(),
        };
        let result = self
            .client
            .restart(&info.id, t)
            .await
            .map_err(|e| e.to_string());
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
        a
    }
}

/// Why a container needs no restart now, or `None`.
fn why_skip(
    insp: &ContainerInspectResponse,
    info: &ContainerInfo,
    opened_at: Option<DateTime<Utc>>,
) -> Option<String> {
    let st = insp.state.clone().unwrap_or_default();
    if st.restarting.unwrap_or(false) {
        return Some("Docker is already restarting it".into());
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
            .down_since
            .as_ref()
            .and_then(|d| d.get(&self.target.name));
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
}

impl StartContainer {
    pub fn new(client: DockerClient, target: DockerTarget) -> Self {
        StartContainer { client, target }
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
}

impl StopContainer {
    pub fn new(client: DockerClient, target: DockerTarget, default_stop_timeout: Duration) -> Self {
        StopContainer {
            client,
            target,
            default_stop_timeout,
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
            if let Err(e) = self.client.stop(&info.id, t).await {
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
    down_since: Option<DownSince>,
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
            r.down_since = down_since;
            Box::new(r)
        }
        ContainerAction::Start => Box::new(StartContainer::new(client, target)),
        ContainerAction::Stop => Box::new(StopContainer::new(client, target, stop_timeout)),
    }
}
