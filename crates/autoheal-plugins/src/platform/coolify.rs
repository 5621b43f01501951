//! A client for a Coolify instance's API (`{instance}/api/v1`).
//!
//! What is used, as /work/shared/reference/platforms.md and docs/platforms.md
//! describe Coolify:
//! - `GET /applications`: every application; `GET /applications/{uuid}`: one
//!   (`uuid`, `name`, `fqdn`, `status` = `state:health`, e.g.
//!   `running:healthy`, `exited`, `exited:0`);
//! - `POST /applications/{uuid}/restart`, `/start?force=&instant_deploy=`,
//!   `/stop` (Coolify routes them for GET and POST: POST is sent, and GET
//!   only when the instance answers 405): `{"message": "...",
//!   "deployment_uuid": "..."}` (the uuid may be missing or null);
//! - `POST /deploy?uuid=<uuid>&force=<bool>` (GET on 405):
//!   `{"deployments": [{"message", "resource_uuid", "deployment_uuid"}]}`;
//! - `GET /deployments`: the deployments running now; `GET
//!   /deployments/{uuid}`: one, with `status` (`queued`, `in_progress`,
//!   `finished`, `failed`, `cancelled-by-user`).
//!
//! Which field of a deployment names its application is not in the
//! reference (unverified): `application_uuid`, else `resource_uuid`, is read
//! ([`Deployment::application_uuid`]); a deployment with neither matches no
//! application in [`CoolifyClient::deploying`].
//!
//! Authentication is `Authorization: Bearer <token>`; 401 and 403 are
//! [`CoolifyError::Unauthorized`] (403 is also what an instance with API
//! access turned off, or a token without the needed ability, answers:
//! unverified, so both read the same). The token is never in `Debug`
//! output, in an error or in a log line (a message Coolify sends back is
//! scrubbed of it).
//!
//! A 429 is retried up to three times after `Retry-After` (plus up to 20 %
//! jitter), else 1 s, 2 s, 4 s (± 20 %), each wait capped at 30 s
//! ([`CoolifyOptions::max_wait`]); then [`CoolifyError::RateLimited`]. A 429
//! refused the request, so writes are retried too. A 5xx or a transport
//! error on a read is retried twice with the same backoff; on a write
//! (restart, start, stop, deploy) it is never retried, since it may have
//! been queued. Every request has a timeout ([`CoolifyOptions::timeout`],
//! 10 s).

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{backoff, error_message, read_body};
use crate::redact::REDACTED;
use crate::BuildError;

/// Default timeout of one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap of one wait before a retry.
pub const DEFAULT_MAX_WAIT: Duration = super::MAX_RETRY_WAIT;
/// Retries after a 429.
pub const RATE_LIMIT_RETRIES: u32 = 3;
/// Retries of a read after a 5xx or a transport error.
pub const SERVER_RETRIES: u32 = 2;

/// An application's `status`, `state:health` split at the first `:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    /// `running`, `starting`, `restarting`, `paused`, `degraded`, `exited`.
    pub state: String,
    /// `healthy`, `unhealthy`, `unknown`, an exit code (`exited:0`), or
    /// empty when the status has no `:` (`exited`).
    pub health: String,
}

impl AppStatus {
    /// Splits `"running:healthy"`; `"exited"` has an empty health.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        match s.split_once(':') {
            Some((state, health)) => Self {
                state: state.trim().to_string(),
                health: health.trim().to_string(),
            },
            None => Self {
                state: s.to_string(),
                health: String::new(),
            },
        }
    }

    /// `running:healthy`.
    pub fn is_healthy(&self) -> bool {
        self.state == "running" && self.health == "healthy"
    }

    /// `state` is `running`.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

impl std::fmt::Display for AppStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.health.is_empty() {
            f.write_str(&self.state)
        } else {
            write!(f, "{}:{}", self.state, self.health)
        }
    }
}

/// An application as autoheal uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub uuid: String,
    pub name: String,
    /// Its URL(s), as Coolify writes them (comma-separated when several).
    pub fqdn: Option<String>,
    pub status: AppStatus,
}

/// What a restart, start, stop or deploy answers: the request was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub message: String,
    /// The deployment to follow, when Coolify gives one.
    pub deployment_uuid: Option<String>,
    /// The resource (application) it is for (deploy answers only).
    pub resource_uuid: Option<String>,
}

/// A deployment's `status`; one Coolify adds later reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    #[serde(rename = "queued")]
    Queued,
    #[serde(rename = "in_progress")]
    InProgress,
    #[serde(rename = "finished")]
    Finished,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "cancelled-by-user")]
    CancelledByUser,
    #[serde(other, rename = "unknown")]
    Unknown,
}

impl DeploymentStatus {
    /// The status as Coolify writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::CancelledByUser => "cancelled-by-user",
            Self::Unknown => "unknown",
        }
    }

    /// `queued`, `in_progress`: not ended.
    pub fn in_progress(self) -> bool {
        matches!(self, Self::Queued | Self::InProgress)
    }

    /// `failed`, `cancelled-by-user`.
    pub fn failed(self) -> bool {
        matches!(self, Self::Failed | Self::CancelledByUser)
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// `deployment_uuid` (or `uuid`).
    pub uuid: String,
    pub status: DeploymentStatus,
    /// `application_uuid`, else `resource_uuid` (unverified: see the module).
    pub application_uuid: Option<String>,
    pub application_name: Option<String>,
}

/// What a call to Coolify can end in. No variant ever holds the token.
#[derive(Debug, thiserror::Error)]
pub enum CoolifyError {
    /// 401 or 403.
    #[error("the Coolify token is refused, or API access is not enabled on the instance")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    /// Still 429 after [`RATE_LIMIT_RETRIES`] retries.
    #[error("rate limited by the Coolify API (retry after {}s)", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// A 5xx (after the retries of a read).
    #[error("the Coolify API answered HTTP {0}: {1}")]
    Server(u16, String),
    #[error("cannot reach the Coolify API: {0}")]
    Transport(String),
    /// An answer that is not what Coolify sends, or a refused request (4xx).
    #[error("unexpected answer from the Coolify API: {0}")]
    Invalid(String),
}

/// Tunables of a [`CoolifyClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoolifyOptions {
    /// Timeout of one request. Default 10 s.
    pub timeout: Duration,
    /// Cap of one wait before a retry (429, 5xx). Default 30 s.
    pub max_wait: Duration,
}

impl Default for CoolifyOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_REQUEST_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// A Coolify API client; cheap to clone.
#[derive(Clone)]
pub struct CoolifyClient {
    /// `{instance}/api/v1`.
    base: url::Url,
    token: Arc<str>,
    http: reqwest::Client,
    opts: CoolifyOptions,
}

impl std::fmt::Debug for CoolifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoolifyClient")
            .field("base_url", &crate::redact_parsed_url(&self.base))
            .field("token", &REDACTED)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

impl CoolifyClient {
    /// A client for the instance at `base_url` (`https://coolify.example.com`;
    /// `/api/v1` is appended unless the path already ends with it; `http`
    /// or `https`, not a link-local address) with `token` (not empty).
    pub fn new(base_url: &str, token: &str, http: reqwest::Client) -> Result<Self, BuildError> {
        Self::new_with(base_url, token, http, CoolifyOptions::default())
    }

    /// [`CoolifyClient::new`] with chosen timeouts.
    pub fn new_with(
        base_url: &str,
        token: &str,
        http: reqwest::Client,
        opts: CoolifyOptions,
    ) -> Result<Self, BuildError> {
        let mut base = crate::parse_http_url("base_url", base_url)?;
        if base.cannot_be_a_base() {
            return Err(BuildError::new("base_url", "not a base URL"));
        }
        if token.trim().is_empty() {
            return Err(BuildError::new("token", "must not be empty"));
        }
        if token.contains(|c: char| c.is_control()) {
            return Err(BuildError::new("token", "holds control characters"));
        }
        if opts.timeout.is_zero() {
            return Err(BuildError::new("timeout", "must be more than 0"));
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = base.path().trim_end_matches('/').to_string();
        if !path.ends_with("/api/v1") {
            base.set_path(&format!("{path}/api/v1"));
        }
        Ok(Self {
            base,
            token: Arc::from(token.trim()),
            http,
            opts,
        })
    }

    /// Every application (`GET /applications`).
    pub async fn applications(&self) -> Result<Vec<Application>, CoolifyError> {
        let body = self
            .send(Method::GET, self.url(&["applications"]), Kind::Read)
            .await?
            .1;
        parse_applications(&body)
    }

    /// One application by uuid.
    pub async fn application(&self, uuid: &str) -> Result<Application, CoolifyError> {
        let url = self.url(&["applications", uuid]);
        match self.send(Method::GET, url, Kind::Read).await {
            Ok((_, body)) => parse_application(&body),
            Err(CoolifyError::NotFound(_)) => Err(CoolifyError::NotFound(format!(
                "Coolify has no application {uuid:?}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Restarts the application (queued by Coolify).
    pub async fn restart(&self, uuid: &str) -> Result<Queued, CoolifyError> {
        let url = self.url(&["applications", uuid, "restart"]);
        let body = self.write(url, "restart").await?;
        parse_queued(&body, "restart")
    }

    /// Starts (deploys) the application.
    pub async fn start(
        &self,
        uuid: &str,
        force: bool,
        instant_deploy: bool,
    ) -> Result<Queued, CoolifyError> {
        let mut url = self.url(&["applications", uuid, "start"]);
        url.query_pairs_mut()
            .append_pair("force", bool_str(force))
            .append_pair("instant_deploy", bool_str(instant_deploy));
        let body = self.write(url, "start").await?;
        parse_queued(&body, "start")
    }

    /// Stops the application.
    pub async fn stop(&self, uuid: &str) -> Result<Queued, CoolifyError> {
        let url = self.url(&["applications", uuid, "stop"]);
        let body = self.write(url, "stop").await?;
        parse_queued(&body, "stop")
    }

    /// Redeploys the application (`/deploy?uuid=..&force=..`).
    pub async fn deploy(&self, uuid: &str, force: bool) -> Result<Vec<Queued>, CoolifyError> {
        let mut url = self.url(&["deploy"]);
        url.query_pairs_mut()
            .append_pair("uuid", uuid)
            .append_pair("force", bool_str(force));
        let body = self.write(url, "deploy").await?;
        parse_deploy_answer(&body)
    }

    /// One deployment by uuid.
    pub async fn deployment(&self, uuid: &str) -> Result<Deployment, CoolifyError> {
        let url = self.url(&["deployments", uuid]);
        match self.send(Method::GET, url, Kind::Read).await {
            Ok((_, body)) => parse_deployment(&body),
            Err(CoolifyError::NotFound(_)) => Err(CoolifyError::NotFound(format!(
                "Coolify has no deployment {uuid:?}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// The deployments running now (`GET /deployments`).
    pub async fn running_deployments(&self) -> Result<Vec<Deployment>, CoolifyError> {
        let body = self
            .send(Method::GET, self.url(&["deployments"]), Kind::Read)
            .await?
            .1;
        parse_deployments(&body)
    }

    /// The running deployment of the application, if any (matched on
    /// [`Deployment::application_uuid`]; ended ones are skipped).
    pub async fn running_deployment_of(
        &self,
        app_uuid: &str,
    ) -> Result<Option<Deployment>, CoolifyError> {
        Ok(self.running_deployments().await?.into_iter().find(|d| {
            d.application_uuid.as_deref() == Some(app_uuid)
                && !d.status.failed()
                && d.status != DeploymentStatus::Finished
        }))
    }

    /// True while a deployment of the application runs (for "skip while
    /// deploying").
    pub async fn deploying(&self, app_uuid: &str) -> Result<bool, CoolifyError> {
        Ok(self.running_deployment_of(app_uuid).await?.is_some())
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    /// POST, and GET when the instance answers 405 to the POST.
    async fn write(&self, url: url::Url, what: &str) -> Result<Vec<u8>, CoolifyError> {
        let (status, body) = self.send(Method::POST, url.clone(), Kind::Write).await?;
        if status == StatusCode::METHOD_NOT_ALLOWED {
            tracing::debug!(what, "Coolify refused POST (405); sending GET.");
            let (status, body) = self.send(Method::GET, url, Kind::Write).await?;
            if status == StatusCode::METHOD_NOT_ALLOWED {
                return Err(CoolifyError::Invalid(format!(
                    "{what}: the instance answered 405 to POST and GET"
                )));
            }
            return Ok(body);
        }
        Ok(body)
    }

    fn scrub(&self, s: &str) -> String {
        let mut s: String = s.chars().take(300).collect();
        if !self.token.is_empty() {
            s = s.replace(&*self.token, REDACTED);
        }
        s
    }

    /// One call with its retries; the status and body of a 2xx answer (or
    /// of a 405 to a write, for [`CoolifyClient::write`]).
    async fn send(
        &self,
        method: Method,
        url: url::Url,
        kind: Kind,
    ) -> Result<(StatusCode, Vec<u8>), CoolifyError> {
        let mut rate_retries = 0u32;
        let mut server_retries = 0u32;
        loop {
            let req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&*self.token)
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(self.opts.timeout);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let why = self.scrub(&crate::describe_reqwest_error(e));
                    if kind == Kind::Read && server_retries < SERVER_RETRIES {
                        self.wait(backoff(server_retries)).await;
                        server_retries += 1;
                        continue;
                    }
                    return Err(CoolifyError::Transport(why));
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            let answer = match read_body(resp).await {
                Ok(b) => b,
                Err(e) => {
                    if kind == Kind::Read && server_retries < SERVER_RETRIES {
                        self.wait(backoff(server_retries)).await;
                        server_retries += 1;
                        continue;
                    }
                    return Err(CoolifyError::Transport(self.scrub(&e)));
                }
            };
            if status.is_success() {
                return Ok((status, answer));
            }
            if status == StatusCode::METHOD_NOT_ALLOWED && kind == Kind::Write {
                return Ok((status, answer));
            }
            let message = self.scrub(&error_message(&answer));
            match status.as_u16() {
                401 | 403 => return Err(CoolifyError::Unauthorized),
                404 => return Err(CoolifyError::NotFound(format!("not found: {message}"))),
                429 => {
                    let wait = rate_wait(&headers, rate_retries);
                    if rate_retries < RATE_LIMIT_RETRIES {
                        tracing::debug!(
                            ?wait,
                            attempt = rate_retries + 1,
                            "Coolify API rate limit hit; waiting."
                        );
                        self.wait(wait).await;
                        rate_retries += 1;
                        continue;
                    }
                    return Err(CoolifyError::RateLimited {
                        retry_after: wait.min(self.opts.max_wait),
                    });
                }
                s @ 500..=599 => {
                    if kind == Kind::Read && server_retries < SERVER_RETRIES {
                        self.wait(backoff(server_retries)).await;
                        server_retries += 1;
                        continue;
                    }
                    return Err(CoolifyError::Server(s, message));
                }
                s => return Err(CoolifyError::Invalid(format!("HTTP {s}: {message}"))),
            }
        }
    }

    async fn wait(&self, d: Duration) {
        tokio::time::sleep(d.min(self.opts.max_wait)).await;
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// `Retry-After` (seconds) plus up to 20 %, else exponential backoff.
fn rate_wait(h: &reqwest::header::HeaderMap, attempt: u32) -> Duration {
    let after = h
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite());
    match after {
        Some(v) => super::spread(Duration::from_secs_f64(v.clamp(0.0, 86_400.0))),
        None => backoff(attempt),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], call: &str) -> Result<T, CoolifyError> {
    serde_json::from_slice(body)
        .map_err(|e| CoolifyError::Invalid(format!("the answer to {call} does not parse: {e}")))
}

#[derive(Deserialize)]
struct WireApp {
    uuid: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    fqdn: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

impl From<WireApp> for Application {
    fn from(w: WireApp) -> Self {
        Application {
            uuid: w.uuid,
            name: w.name,
            fqdn: w.fqdn.filter(|f| !f.trim().is_empty()),
            status: AppStatus::parse(w.status.as_deref().unwrap_or("unknown")),
        }
    }
}

/// `GET /applications/{uuid}`. Any bytes give an answer or
/// [`CoolifyError::Invalid`], never a panic.
pub fn parse_application(body: &[u8]) -> Result<Application, CoolifyError> {
    parse_json::<WireApp>(body, "GET /applications/{uuid}").map(Into::into)
}

/// `GET /applications`.
pub fn parse_applications(body: &[u8]) -> Result<Vec<Application>, CoolifyError> {
    let v: Vec<WireApp> = parse_json(body, "GET /applications")?;
    Ok(v.into_iter().map(Into::into).collect())
}

#[derive(Deserialize)]
struct WireDeployment {
    #[serde(default)]
    deployment_uuid: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
    status: DeploymentStatus,
    #[serde(default)]
    application_uuid: Option<String>,
    #[serde(default)]
    resource_uuid: Option<String>,
    #[serde(default)]
    application_name: Option<String>,
}

impl TryFrom<WireDeployment> for Deployment {
    type Error = CoolifyError;
    fn try_from(w: WireDeployment) -> Result<Self, CoolifyError> {
        let uuid = w.deployment_uuid.or(w.uuid).ok_or_else(|| {
            CoolifyError::Invalid("a deployment without deployment_uuid or uuid".into())
        })?;
        Ok(Deployment {
            uuid,
            status: w.status,
            application_uuid: w.application_uuid.or(w.resource_uuid),
            application_name: w.application_name,
        })
    }
}

/// `GET /deployments/{uuid}`. Never panics.
pub fn parse_deployment(body: &[u8]) -> Result<Deployment, CoolifyError> {
    parse_json::<WireDeployment>(body, "GET /deployments/{uuid}")?.try_into()
}

/// `GET /deployments`. Never panics.
pub fn parse_deployments(body: &[u8]) -> Result<Vec<Deployment>, CoolifyError> {
    let v: Vec<WireDeployment> = parse_json(body, "GET /deployments")?;
    v.into_iter().map(TryInto::try_into).collect()
}

#[derive(Deserialize)]
struct WireQueued {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    deployment_uuid: Option<String>,
    #[serde(default)]
    resource_uuid: Option<String>,
}

impl From<WireQueued> for Queued {
    fn from(w: WireQueued) -> Self {
        Queued {
            message: w.message.unwrap_or_default(),
            deployment_uuid: w.deployment_uuid.filter(|d| !d.trim().is_empty()),
            resource_uuid: w.resource_uuid,
        }
    }
}

/// The answer to restart/start/stop. An empty body is a queued request
/// without a deployment. Never panics.
pub fn parse_queued(body: &[u8], what: &str) -> Result<Queued, CoolifyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Queued {
            message: String::new(),
            deployment_uuid: None,
            resource_uuid: None,
        });
    }
    parse_json::<WireQueued>(body, what).map(Into::into)
}

/// The answer to `/deploy`. Never panics.
pub fn parse_deploy_answer(body: &[u8]) -> Result<Vec<Queued>, CoolifyError> {
    #[derive(Deserialize)]
    struct W {
        #[serde(default)]
        deployments: Vec<WireQueued>,
    }
    let w: W = parse_json(body, "deploy")?;
    Ok(w.deployments.into_iter().map(Into::into).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_api_prefix_once() {
        let http = reqwest::Client::new();
        for base in [
            "https://coolify.example.com",
            "https://coolify.example.com/",
            "https://coolify.example.com/api/v1",
            "https://coolify.example.com/api/v1/",
        ] {
            let c = CoolifyClient::new(base, "1|CANARY", http.clone()).unwrap();
            assert_eq!(
                c.url(&["applications", "abc", "restart"]).as_str(),
                "https://coolify.example.com/api/v1/applications/abc/restart"
            );
            assert!(!format!("{c:?}").contains("CANARY"));
        }
        let c = CoolifyClient::new("https://x.example/coolify", "t", http.clone()).unwrap();
        assert_eq!(
            c.url(&["deploy"]).as_str(),
            "https://x.example/coolify/api/v1/deploy"
        );
        assert!(CoolifyClient::new("ftp://x", "t", http.clone()).is_err());
        assert!(CoolifyClient::new("http://169.254.169.254", "t", http.clone()).is_err());
        assert_eq!(
            CoolifyClient::new("https://x", " ", http).unwrap_err().key,
            "token"
        );
    }

    #[test]
    fn backoff_is_capped() {
        for a in 0..10 {
            assert!(backoff(a) <= DEFAULT_MAX_WAIT);
        }
    }
}
