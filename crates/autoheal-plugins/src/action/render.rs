//! Render actions: `type = "render_deploy"` (trigger a deploy and follow it
//! to its end) and `type = "render_restart"` (restart without a build).
//!
//! `render_deploy` finds the service (`srv-...` by id, else by exact name).
//! If its newest deploy is still in progress (`created`, `queued`,
//! `*_in_progress`) no other is started: that one is followed (the detail
//! says so). Else a deploy is triggered. The deploy's status is then read
//! every `poll` until it is `live` (succeeded), ends otherwise
//! (`build_failed`, `pre_deploy_failed`, `update_failed`, `canceled`,
//! `deactivated`: failed, naming the status), or `timeout` passes (failed,
//! "timed out following deploy dep-..."). A status Render adds later is
//! followed like one in progress.
//!
//! `render_restart` finds the service and restarts it; Render's 202 is
//! success (there is no deploy to follow), and no answer within `timeout` is
//! `TimedOut`.
//!
//! The API key is a secret: never in `Debug`, a detail or a log line.
//! Rate limits and retries are the client's ([`crate::platform::render`]).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use autoheal_core::policy::limits::Limit;
use autoheal_core::ActionOutcome;
use serde::{Deserialize, Serialize};

use super::{Action, ActionContext};
use crate::platform::render::{Deploy, DeployStatus, RenderClient, RenderError, DEFAULT_BASE_URL};
use crate::redact::REDACTED;
use crate::{fmt_duration, in_range, BuildError, HttpClients};

/// Default `poll` of `render_deploy`.
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// Default `timeout` of `render_deploy`: a build and its rollout.
pub const DEFAULT_DEPLOY_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Default `timeout` of `render_restart`.
pub const DEFAULT_RESTART_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// The accepted `poll` of `render_deploy`.
pub const POLL: Limit = Limit {
    what: "Render deploy poll",
    keys: &["actions.<name>.poll"],
    min: Duration::from_secs(1),
    max: Duration::from_secs(5 * 60),
};

/// The accepted `timeout` of the Render actions.
pub const TIMEOUT: Limit = Limit {
    what: "Render action timeout",
    keys: &["actions.<name>.timeout"],
    min: Duration::from_secs(10),
    max: Duration::from_secs(2 * 60 * 60),
};

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_poll() -> Duration {
    DEFAULT_POLL
}
fn default_deploy_timeout() -> Duration {
    DEFAULT_DEPLOY_TIMEOUT
}
fn default_restart_timeout() -> Duration {
    DEFAULT_RESTART_TIMEOUT
}

/// `type = "render_deploy"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderDeployConfig {
    /// "srv-..." or the service's exact name.
    pub service: String,
    /// The API key (write it as { env = "RENDER_API_KEY" } or { file = ... } in the config file).
    pub api_key: String,
    /// Render's API. Default `https://api.render.com/v1`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Build without Render's build cache. Default false.
    #[serde(default)]
    pub clear_cache: bool,
    /// How often the deploy's status is read. Default 5s.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll: Duration,
    /// The most the whole action may take, following the deploy to its end. Default 20m.
    #[serde(default = "default_deploy_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for RenderDeployConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderDeployConfig")
            .field("service", &self.service)
            .field("api_key", &REDACTED)
            .field("base_url", &crate::redact_url(&self.base_url))
            .field("clear_cache", &self.clear_cache)
            .field("poll", &self.poll)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RenderDeployConfig {
    /// What `build` refuses, without building a client.
    pub fn validate(&self) -> Result<(), BuildError> {
        validate_common(&self.service, &self.api_key, &self.base_url)?;
        in_range("poll", self.poll, &POLL)?;
        in_range("timeout", self.timeout, &TIMEOUT)
    }
}

/// `type = "render_restart"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderRestartConfig {
    /// "srv-..." or the service's exact name.
    pub service: String,
    /// The API key (write it as { env = "RENDER_API_KEY" } or { file = ... } in the config file).
    pub api_key: String,
    /// Render's API. Default `https://api.render.com/v1`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The most the action may take. Default 2m.
    #[serde(default = "default_restart_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for RenderRestartConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderRestartConfig")
            .field("service", &self.service)
            .field("api_key", &REDACTED)
            .field("base_url", &crate::redact_url(&self.base_url))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RenderRestartConfig {
    /// What `build` refuses, without building a client.
    pub fn validate(&self) -> Result<(), BuildError> {
        validate_common(&self.service, &self.api_key, &self.base_url)?;
        in_range("timeout", self.timeout, &TIMEOUT)
    }
}

fn validate_common(service: &str, api_key: &str, base_url: &str) -> Result<(), BuildError> {
    if service.trim().is_empty() {
        return Err(BuildError::new("service", "must not be empty"));
    }
    if api_key.trim().is_empty() {
        return Err(BuildError::new("api_key", "must not be empty"));
    }
    crate::parse_http_url("base_url", base_url).map(drop)
}

/// A built `render_deploy` action.
#[derive(Debug, Clone)]
pub struct RenderDeployAction {
    client: RenderClient,
    service: String,
    clear_cache: bool,
    poll: Duration,
    timeout: Duration,
}

impl RenderDeployAction {
    /// Validates `cfg` and builds its client on the shared pool.
    pub fn build(cfg: &RenderDeployConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        cfg.validate()?;
        let client = RenderClient::new(&cfg.base_url, &cfg.api_key, clients.verified().clone())?;
        Ok(Self::new(
            client,
            &cfg.service,
            cfg.clear_cache,
            cfg.poll,
            cfg.timeout,
        ))
    }

    /// An action on a client already made (a redeploy by hand, tests): no
    /// range checks on `poll` and `timeout`.
    pub fn new(
        client: RenderClient,
        service: &str,
        clear_cache: bool,
        poll: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            service: service.trim().to_string(),
            clear_cache,
            poll: poll.max(Duration::from_millis(10)),
            timeout,
        }
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the action; also returns what happened in words ("deploy
    /// dep-... live after 3m 12s"), which `Succeeded` has no room for.
    pub async fn run_with_detail(&self) -> (ActionOutcome, String) {
        let started = Instant::now();
        let following = std::sync::Mutex::new(None::<String>);
        let run = self.follow(started, &following);
        let (outcome, detail) = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(detail)) => (ActionOutcome::Succeeded, detail),
            Ok(Err(detail)) => (
                ActionOutcome::Failed {
                    detail: detail.clone(),
                },
                detail,
            ),
            Err(_) => {
                let id = following.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let detail = match id {
                    Some(id) => format!(
                        "timed out following deploy {id} after {}",
                        fmt_duration(self.timeout)
                    ),
                    None => format!(
                        "timed out after {} before a deploy of {} started",
                        fmt_duration(self.timeout),
                        self.service
                    ),
                };
                (
                    ActionOutcome::Failed {
                        detail: detail.clone(),
                    },
                    detail,
                )
            }
        };
        (outcome, detail)
    }

    async fn follow(
        &self,
        started: Instant,
        following: &std::sync::Mutex<Option<String>>,
    ) -> Result<String, String> {
        let svc = self.client.find(&self.service).await.map_err(describe)?;
        let latest = self.client.latest_deploy(&svc.id).await.map_err(describe)?;
        let (deploy, existing): (Deploy, bool) = match latest {
            Some(d) if d.status.in_progress() => (d, true),
            _ => (
                self.client
                    .deploy(&svc.id, self.clear_cache)
                    .await
                    .map_err(|e| format!("triggering a deploy of {}: {}", svc.name, describe(e)))?,
                false,
            ),
        };
        *following.lock().unwrap_or_else(|e| e.into_inner()) = Some(deploy.id.clone());
        let how = if existing {
            format!(
                "deploy {} was already in progress ({}); followed it instead of starting another",
                deploy.id, deploy.status
            )
        } else {
            format!("triggered deploy {}", deploy.id)
        };
        tracing::info!(service = %svc.name, deploy = %deploy.id, existing, "Following a Render deploy.");
        let mut status = deploy.status;
        loop {
            match status {
                DeployStatus::Live => {
                    let took = Duration::from_secs(started.elapsed().as_secs());
                    return Ok(format!(
                        "deploy {} live after {} ({how})",
                        deploy.id,
                        fmt_duration(took)
                    ));
                }
                s if s.failed()
                    || matches!(s, DeployStatus::Canceled | DeployStatus::Deactivated) =>
                {
                    return Err(format!("deploy {} ended {s} ({how})", deploy.id));
                }
                _ => {}
            }
            tokio::time::sleep(self.poll).await;
            status = self
                .client
                .get_deploy(&svc.id, &deploy.id)
                .await
                .map_err(|e| format!("following deploy {}: {}", deploy.id, describe(e)))?
                .status;
        }
    }
}

#[async_trait]
impl Action for RenderDeployAction {
    async fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        let (outcome, detail) = self.run_with_detail().await;
        tracing::info!(target = %ctx.target, service = %self.service, %detail, "Render deploy action finished.");
        outcome
    }
}

/// A built `render_restart` action.
#[derive(Debug, Clone)]
pub struct RenderRestartAction {
    client: RenderClient,
    service: String,
    timeout: Duration,
}

impl RenderRestartAction {
    /// Validates `cfg` and builds its client on the shared pool.
    pub fn build(cfg: &RenderRestartConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        cfg.validate()?;
        let client = RenderClient::new(&cfg.base_url, &cfg.api_key, clients.verified().clone())?;
        Ok(Self::new(client, &cfg.service, cfg.timeout))
    }

    /// An action on a client already made (no range check on `timeout`).
    pub fn new(client: RenderClient, service: &str, timeout: Duration) -> Self {
        Self {
            client,
            service: service.trim().to_string(),
            timeout,
        }
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the action; also returns what happened in words.
    pub async fn run_with_detail(&self) -> (ActionOutcome, String) {
        let run = async {
            let svc = self.client.find(&self.service).await.map_err(describe)?;
            self.client
                .restart(&svc.id)
                .await
                .map_err(|e| format!("restarting {}: {}", svc.name, describe(e)))?;
            Ok::<_, String>(format!("restart of {} ({}) accepted", svc.name, svc.id))
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(d)) => (ActionOutcome::Succeeded, d),
            Ok(Err(d)) => (ActionOutcome::Failed { detail: d.clone() }, d),
            Err(_) => (
                ActionOutcome::TimedOut,
                format!("timed out after {}", fmt_duration(self.timeout)),
            ),
        }
    }
}

#[async_trait]
impl Action for RenderRestartAction {
    async fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        let (outcome, detail) = self.run_with_detail().await;
        tracing::info!(target = %ctx.target, service = %self.service, %detail, "Render restart action finished.");
        outcome
    }
}

/// An error as an outcome's detail (the client's errors hold no key).
fn describe(e: RenderError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RenderDeployConfig {
        serde_json::from_value(serde_json::json!({
            "service": "web",
            "api_key": "rnd_CANARY",
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_debug() {
        let c = cfg();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.poll, DEFAULT_POLL);
        assert_eq!(c.timeout, DEFAULT_DEPLOY_TIMEOUT);
        assert!(!format!("{c:?}").contains("CANARY"));
        let a = RenderDeployAction::build(&c, &HttpClients::new().unwrap()).unwrap();
        assert!(!format!("{a:?}").contains("CANARY"));
        let r: RenderRestartConfig = serde_json::from_value(serde_json::json!({
            "service": "srv-1", "api_key": "rnd_CANARY", "timeout": "30s"
        }))
        .unwrap();
        assert!(!format!("{r:?}").contains("CANARY"));
        r.validate().unwrap();
    }

    #[test]
    fn build_refuses_what_it_cannot_run() {
        let bad = |f: &dyn Fn(&mut RenderDeployConfig)| {
            let mut c = cfg();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(bad(&|c| c.service = " ".into()), "service");
        assert_eq!(bad(&|c| c.api_key = "".into()), "api_key");
        assert_eq!(bad(&|c| c.base_url = "ftp://x".into()), "base_url");
        assert_eq!(
            bad(&|c| c.base_url = "http://169.254.169.254/".into()),
            "base_url"
        );
        assert_eq!(bad(&|c| c.poll = Duration::from_millis(10)), "poll");
        assert_eq!(bad(&|c| c.poll = Duration::from_secs(600)), "poll");
        assert_eq!(bad(&|c| c.timeout = Duration::from_secs(1)), "timeout");
        assert_eq!(
            bad(&|c| c.timeout = Duration::from_secs(3 * 3600)),
            "timeout"
        );
        let e: Result<RenderDeployConfig, _> = serde_json::from_value(serde_json::json!({
            "service": "web", "api_key": "k", "typo": 1
        }));
        assert!(e.is_err());
    }

    #[test]
    fn the_spec_redactor_hides_the_key() {
        let mut v = serde_json::to_value(cfg()).unwrap();
        crate::redact::redact_json(&mut v);
        assert_eq!(v["api_key"], REDACTED);
        assert_eq!(v["service"], "web");
    }
}
