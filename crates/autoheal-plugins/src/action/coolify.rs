//! Coolify actions: `type = "coolify_restart"`, `type = "coolify_deploy"`
//! (a redeploy) and `type = "coolify_start"`, each on one application of a
//! Coolify instance, named by its uuid.
//!
//! Each run reads the application (`GET /applications/{uuid}`: a missing one
//! fails "Coolify has no application ..."), then the deployments running now
//! (`GET /deployments`). If one of them is the application's (matched on
//! `application_uuid`, else `resource_uuid`: unverified, see
//! [`crate::platform::coolify`]), no other is started: that one is followed
//! (the detail says so). Else the API is called (restart, `/deploy?force=`,
//! start with `force`) and the `deployment_uuid` it answers is followed: read
//! every `poll` (`GET /deployments/{uuid}`) until `finished` (succeeded),
//! `failed` or `cancelled-by-user` (failed, naming the status), or until
//! `timeout` (failed, "timed out following deployment ..."). A status Coolify
//! adds later is followed like one in progress. An answer without a
//! deployment uuid has nothing to follow: its 2xx is success.
//!
//! The token is a secret: never in `Debug`, a detail or a log line. Rate
//! limits and retries are the client's.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use autoheal_core::policy::limits::Limit;
use autoheal_core::ActionOutcome;
use serde::{Deserialize, Serialize};

use super::{Action, ActionContext};
use crate::platform::coolify::{CoolifyClient, CoolifyError, DeploymentStatus};
use crate::redact::REDACTED;
use crate::{fmt_duration, in_range, BuildError, HttpClients};

/// Default `poll`.
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// Default `timeout` of `coolify_deploy`: a build and its rollout.
pub const DEFAULT_DEPLOY_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Default `timeout` of `coolify_restart` and `coolify_start`.
pub const DEFAULT_RESTART_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The accepted `poll` of the Coolify actions.
pub const POLL: Limit = Limit {
    what: "Coolify deployment poll",
    keys: &["actions.<name>.poll"],
    min: Duration::from_secs(1),
    max: Duration::from_secs(5 * 60),
};

/// The accepted `timeout` of the Coolify actions.
pub const TIMEOUT: Limit = Limit {
    what: "Coolify action timeout",
    keys: &["actions.<name>.timeout"],
    min: Duration::from_secs(10),
    max: Duration::from_secs(2 * 60 * 60),
};

fn default_poll() -> Duration {
    DEFAULT_POLL
}
fn default_deploy_timeout() -> Duration {
    DEFAULT_DEPLOY_TIMEOUT
}
fn default_restart_timeout() -> Duration {
    DEFAULT_RESTART_TIMEOUT
}

macro_rules! coolify_config {
    ($(#[$m:meta])* $name:ident, $default_timeout:literal, $timeout_doc:literal, { $($extra:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The application's uuid (in its Coolify URL).
            pub application: String,
            /// An API token with `read` and `deploy` (write it as { env = "COOLIFY_TOKEN" } or { file = ... } in the config file).
            pub token: String,
            /// The instance (`https://coolify.example.com`); `/api/v1` is appended. Required.
            pub base_url: String,
            /// How often the deployment's status is read. Default 5s.
            #[serde(default = "default_poll", with = "humantime_serde")]
            pub poll: Duration,
            #[doc = $timeout_doc]
            #[serde(default = $default_timeout, with = "humantime_serde")]
            pub timeout: Duration,
            $($extra)*
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("application", &self.application)
                    .field("token", &REDACTED)
                    .field("base_url", &crate::redact_url(&self.base_url))
                    .field("poll", &self.poll)
                    .field("timeout", &self.timeout)
                    .field("force", &self.force_flag())
                    .finish()
            }
        }

        impl $name {
            /// What `build` refuses, without building a client.
            pub fn validate(&self) -> Result<(), BuildError> {
                if self.application.trim().is_empty() {
                    return Err(BuildError::new("application", "must not be empty"));
                }
                if self.token.trim().is_empty() {
                    return Err(BuildError::new("token", "must not be empty"));
                }
                crate::parse_http_url("base_url", &self.base_url)?;
                in_range("poll", self.poll, &POLL)?;
                in_range("timeout", self.timeout, &TIMEOUT)
            }
        }
    };
}

coolify_config!(
    /// `type = "coolify_restart"`.
    CoolifyRestartConfig, "default_restart_timeout",
    "The most the action may take, following the restart to its end. Default 5m.",
    {}
);
coolify_config!(
    /// `type = "coolify_deploy"`: a redeploy.
    CoolifyDeployConfig, "default_deploy_timeout",
    "The most the action may take, following the deployment to its end. Default 20m.",
    {
        /// Rebuild without Coolify's cache (`force=true`). Default false.
        #[serde(default)]
        pub force: bool,
    }
);
coolify_config!(
    /// `type = "coolify_start"`.
    CoolifyStartConfig, "default_restart_timeout",
    "The most the action may take, following the start to its end. Default 5m.",
    {
        /// Rebuild without Coolify's cache (`force=true`). Default false.
        #[serde(default)]
        pub force: bool,
    }
);

impl CoolifyRestartConfig {
    fn force_flag(&self) -> bool {
        false
    }
}
impl CoolifyDeployConfig {
    fn force_flag(&self) -> bool {
        self.force
    }
}
impl CoolifyStartConfig {
    fn force_flag(&self) -> bool {
        self.force
    }
}

/// What a [`CoolifyAction`] asks Coolify for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoolifyOp {
    Restart,
    Deploy { force: bool },
    Start { force: bool },
}

impl CoolifyOp {
    /// `coolify_restart`, `coolify_deploy`, `coolify_start`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Restart => "coolify_restart",
            Self::Deploy { .. } => "coolify_deploy",
            Self::Start { .. } => "coolify_start",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Deploy { .. } => "redeploy",
            Self::Start { .. } => "start",
        }
    }
}

/// A built Coolify action (any of the three types).
#[derive(Debug, Clone)]
pub struct CoolifyAction {
    client: CoolifyClient,
    application: String,
    op: CoolifyOp,
    poll: Duration,
    timeout: Duration,
}

/// `type = "coolify_restart"`, built.
pub type CoolifyRestartAction = CoolifyAction;
/// `type = "coolify_deploy"`, built.
pub type CoolifyDeployAction = CoolifyAction;
/// `type = "coolify_start"`, built.
pub type CoolifyStartAction = CoolifyAction;

impl CoolifyAction {
    /// Validates `cfg` and builds its client on the shared pool.
    pub fn build_restart(
        cfg: &CoolifyRestartConfig,
        clients: &HttpClients,
    ) -> Result<Self, BuildError> {
        cfg.validate()?;
        let client = CoolifyClient::new(&cfg.base_url, &cfg.token, clients.verified().clone())?;
        Ok(Self::new(
            client,
            &cfg.application,
            CoolifyOp::Restart,
            cfg.poll,
            cfg.timeout,
        ))
    }

    /// Validates `cfg` and builds its client on the shared pool.
    pub fn build_deploy(
        cfg: &CoolifyDeployConfig,
        clients: &HttpClients,
    ) -> Result<Self, BuildError> {
        cfg.validate()?;
        let client = CoolifyClient::new(&cfg.base_url, &cfg.token, clients.verified().clone())?;
        Ok(Self::new(
            client,
            &cfg.application,
            CoolifyOp::Deploy { force: cfg.force },
            cfg.poll,
            cfg.timeout,
        ))
    }

    /// Validates `cfg` and builds its client on the shared pool.
    pub fn build_start(
        cfg: &CoolifyStartConfig,
        clients: &HttpClients,
    ) -> Result<Self, BuildError> {
        cfg.validate()?;
        let client = CoolifyClient::new(&cfg.base_url, &cfg.token, clients.verified().clone())?;
        Ok(Self::new(
            client,
            &cfg.application,
            CoolifyOp::Start { force: cfg.force },
            cfg.poll,
            cfg.timeout,
        ))
    }

    /// An action on a client already made (by hand, tests): no range checks
    /// on `poll` and `timeout`.
    pub fn new(
        client: CoolifyClient,
        application: &str,
        op: CoolifyOp,
        poll: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            application: application.trim().to_string(),
            op,
            poll: poll.max(Duration::from_millis(10)),
            timeout,
        }
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What it asks Coolify for.
    pub fn op(&self) -> CoolifyOp {
        self.op
    }

    /// Runs the action; also returns what happened in words ("deployment
    /// ... finished after 1m 3s").
    pub async fn run_with_detail(&self) -> (ActionOutcome, String) {
        let started = Instant::now();
        let following = std::sync::Mutex::new(None::<String>);
        let run = self.follow(started, &following);
        match tokio::time::timeout(self.timeout, run).await {
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
                        "timed out following deployment {id} after {}",
                        fmt_duration(self.timeout)
                    ),
                    None => format!(
                        "timed out after {} before a {} of {} was queued",
                        fmt_duration(self.timeout),
                        self.op.verb(),
                        self.application
                    ),
                };
                (
                    ActionOutcome::Failed {
                        detail: detail.clone(),
                    },
                    detail,
                )
            }
        }
    }

    async fn follow(
        &self,
        started: Instant,
        following: &std::sync::Mutex<Option<String>>,
    ) -> Result<String, String> {
        let app = self
            .client
            .application(&self.application)
            .await
            .map_err(describe)?;
        let label = if app.name.is_empty() {
            app.uuid.clone()
        } else {
            format!("{} ({})", app.name, app.uuid)
        };
        let running = self
            .client
            .running_deployment_of(&app.uuid)
            .await
            .map_err(|e| format!("reading the running deployments: {}", describe(e)))?;
        let (uuid, how) = match running {
            Some(d) => {
                let how = format!(
                    "deployment {} was already in progress ({}); followed it instead of starting a {}",
                    d.uuid,
                    d.status,
                    self.op.verb()
                );
                (d.uuid, how)
            }
            None => {
                let queued = match self.op {
                    CoolifyOp::Restart => self.client.restart(&app.uuid).await,
                    CoolifyOp::Start { force } => self.client.start(&app.uuid, force, false).await,
                    CoolifyOp::Deploy { force } => {
                        self.client.deploy(&app.uuid, force).await.map(|v| {
                            let mine = v
                                .iter()
                                .position(|q| q.resource_uuid.as_deref() == Some(&app.uuid))
                                .unwrap_or(0);
                            v.into_iter().nth(mine).unwrap_or_else(|| {
                                crate::platform::coolify::Queued {
                                    message: String::new(),
                                    deployment_uuid: None,
                                    resource_uuid: None,
                                }
                            })
                        })
                    }
                }
                .map_err(|e| format!("{} of {label}: {}", self.op.verb(), describe(e)))?;
                match queued.deployment_uuid {
                    Some(d) => (d.clone(), format!("queued deployment {d}")),
                    None => {
                        let msg = clean(&queued.message);
                        return Ok(format!(
                            "{} of {label} accepted{}; no deployment to follow",
                            self.op.verb(),
                            if msg.is_empty() {
                                String::new()
                            } else {
                                format!(" ({msg})")
                            }
                        ));
                    }
                }
            }
        };
        *following.lock().unwrap_or_else(|e| e.into_inner()) = Some(uuid.clone());
        tracing::info!(application = %app.uuid, deployment = %uuid, op = self.op.type_name(), "Following a Coolify deployment.");
        loop {
            let d = self
                .client
                .deployment(&uuid)
                .await
                .map_err(|e| format!("following deployment {uuid}: {}", describe(e)))?;
            match d.status {
                DeploymentStatus::Finished => {
                    let took = Duration::from_secs(started.elapsed().as_secs());
                    return Ok(format!(
                        "deployment {uuid} of {label} finished after {} ({how})",
                        fmt_duration(took)
                    ));
                }
                s if s.failed() => {
                    return Err(format!("deployment {uuid} of {label} ended {s} ({how})"));
                }
                _ => {}
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

#[async_trait]
impl Action for CoolifyAction {
    async fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        let (outcome, detail) = self.run_with_detail().await;
        tracing::info!(target = %ctx.target, application = %self.application, op = self.op.type_name(), %detail, "Coolify action finished.");
        outcome
    }
}

/// A message from the instance, short and on one line.
fn clean(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// An error as an outcome's detail (the client's errors hold no token).
fn describe(e: CoolifyError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> CoolifyDeployConfig {
        serde_json::from_value(serde_json::json!({
            "application": "abc123",
            "token": "1|CANARY",
            "base_url": "https://coolify.example.com",
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_debug() {
        let c = cfg();
        assert_eq!(c.poll, DEFAULT_POLL);
        assert_eq!(c.timeout, DEFAULT_DEPLOY_TIMEOUT);
        assert!(!c.force);
        assert!(!format!("{c:?}").contains("CANARY"));
        let a = CoolifyAction::build_deploy(&c, &HttpClients::new().unwrap()).unwrap();
        assert!(!format!("{a:?}").contains("CANARY"));
        let r: CoolifyRestartConfig = serde_json::from_value(serde_json::json!({
            "application": "abc", "token": "1|CANARY", "base_url": "https://c.example"
        }))
        .unwrap();
        assert_eq!(r.timeout, DEFAULT_RESTART_TIMEOUT);
        assert!(!format!("{r:?}").contains("CANARY"));
        r.validate().unwrap();
        // Restart has no force; base_url is required.
        assert!(
            serde_json::from_value::<CoolifyRestartConfig>(serde_json::json!({
                "application": "abc", "token": "t", "base_url": "https://c.example", "force": true
            }))
            .is_err()
        );
        assert!(
            serde_json::from_value::<CoolifyStartConfig>(serde_json::json!({
                "application": "abc", "token": "t"
            }))
            .is_err()
        );
    }

    #[test]
    fn build_refuses_what_it_cannot_run() {
        let bad = |f: &dyn Fn(&mut CoolifyDeployConfig)| {
            let mut c = cfg();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(bad(&|c| c.application = " ".into()), "application");
        assert_eq!(bad(&|c| c.token = "".into()), "token");
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
    }

    #[test]
    fn the_spec_redactor_hides_the_token() {
        let mut v = serde_json::to_value(cfg()).unwrap();
        crate::redact::redact_json(&mut v);
        assert_eq!(v["token"], REDACTED);
        assert_eq!(v["application"], "abc123");
    }
}
