//! A client for Render's public API (`https://api.render.com/v1`).
//!
//! What is used, as Render documents it:
//! - `GET /services?limit=100[&name=..][&cursor=..]` answers an array of
//!   `{"service": {...}, "cursor": "..."}`; the next page is asked for with
//!   the last item's cursor, until a page is empty or has no cursor (at most
//!   [`MAX_PAGES`] pages);
//! - `GET /services/{id}`: the service object (`id`, `name`, `type`,
//!   `suspended` = `"suspended"`/`"not_suspended"`, `serviceDetails.url`,
//!   `createdAt`, `updatedAt`);
//! - `GET /services/{id}/deploys?limit=1`: the newest deploy (items are
//!   `{"deploy": {...}, "cursor": ...}`; a bare deploy object is read too);
//! - `GET /services/{id}/deploys/{deployId}`: one deploy (`id`, `status`,
//!   `trigger`, `createdAt`, `finishedAt`);
//! - `POST /services/{id}/deploys` with `{"clearCache": "clear"|"do_not_clear"}`:
//!   answers 201 or 202 with the deploy (an answer without one is followed by
//!   a read of the newest deploy);
//! - `POST /services/{id}/restart`: 202.
//!
//! Authentication is `Authorization: Bearer <key>`; 401 and 403 are
//! [`RenderError::Unauthorized`]. The key is never in `Debug` output, in an
//! error or in a log line (a message Render sends back is scrubbed of it).
//!
//! Rate limits: the `Ratelimit-Limit`, `Ratelimit-Remaining` and
//! `Ratelimit-Reset` (seconds until the window resets) headers of every
//! answer are kept ([`RenderClient::rate_limit`]). A 429 is retried up to
//! three times, after `Ratelimit-Reset` (plus up to 20 % jitter), else
//! `Retry-After`, else 1 s, 2 s, 4 s (± 20 %), each wait capped at 30 s
//! ([`RenderOptions::max_wait`]); then [`RenderError::RateLimited`]. A 429
//! refused the request, so POSTs are retried too. A 5xx or a transport error
//! on a read is retried twice with the same backoff; on a POST (deploy,
//! restart) it is never retried, since the deploy may have started: it is
//! [`RenderError::Server`] / [`RenderError::Transport`]. Every request has a
//! timeout ([`RenderOptions::timeout`], 10 s).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{backoff, error_message, read_body};
use crate::redact::REDACTED;
use crate::BuildError;

/// Render's API.
pub const DEFAULT_BASE_URL: &str = "https://api.render.com/v1";
/// Default timeout of one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap of one wait before a retry.
pub const DEFAULT_MAX_WAIT: Duration = super::MAX_RETRY_WAIT;
/// Services asked for per page (Render's maximum).
pub const PAGE_LIMIT: usize = 100;
/// The most pages [`RenderClient::list_services`] reads.
pub const MAX_PAGES: usize = 100;
/// Retries after a 429.
pub const RATE_LIMIT_RETRIES: u32 = 3;
/// Retries of a read after a 5xx or a transport error.
pub const SERVER_RETRIES: u32 = 2;

/// A service as autoheal uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// `srv-...`.
    pub id: String,
    pub name: String,
    /// `web_service`, `private_service`, `background_worker`, `cron_job`,
    /// `static_site`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `"suspended"` or `"not_suspended"`.
    pub suspended: String,
    /// `serviceDetails.url`, when the service has one.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, alias = "createdAt")]
    pub created_at: Option<String>,
    #[serde(default, alias = "updatedAt")]
    pub updated_at: Option<String>,
}

impl Service {
    /// True when Render says the service is suspended.
    pub fn is_suspended(&self) -> bool {
        self.suspended == "suspended"
    }
}

/// A deploy of a service. Deserializes Render's camelCase JSON too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    /// `dep-...`.
    pub id: String,
    pub status: DeployStatus,
    #[serde(default)]
    pub trigger: Option<String>,
    #[serde(default, alias = "createdAt")]
    pub created_at: Option<String>,
    #[serde(default, alias = "finishedAt")]
    pub finished_at: Option<String>,
}

/// A deploy's `status`; one Render adds later reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    Created,
    Queued,
    BuildInProgress,
    BuildFailed,
    PreDeployInProgress,
    PreDeployFailed,
    UpdateInProgress,
    UpdateFailed,
    Live,
    Deactivated,
    Canceled,
    #[serde(other)]
    Unknown,
}

impl DeployStatus {
    /// `created`, `queued`, `*_in_progress`: the deploy has not ended.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            Self::Created
                | Self::Queued
                | Self::BuildInProgress
                | Self::PreDeployInProgress
                | Self::UpdateInProgress
        )
    }

    /// `build_failed`, `pre_deploy_failed`, `update_failed`. `canceled` is
    /// not a failure: someone stopped it, and the previous deploy still serves.
    pub fn failed(self) -> bool {
        matches!(
            self,
            Self::BuildFailed | Self::PreDeployFailed | Self::UpdateFailed
        )
    }

    /// `live`.
    pub fn is_live(self) -> bool {
        self == Self::Live
    }

    /// The status as Render writes it (`"build_failed"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Queued => "queued",
            Self::BuildInProgress => "build_in_progress",
            Self::BuildFailed => "build_failed",
            Self::PreDeployInProgress => "pre_deploy_in_progress",
            Self::PreDeployFailed => "pre_deploy_failed",
            Self::UpdateInProgress => "update_in_progress",
            Self::UpdateFailed => "update_failed",
            Self::Live => "live",
            Self::Deactivated => "deactivated",
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for DeployStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a call to Render can end in. No variant ever holds the API key.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// 401 or 403.
    #[error("the Render API key is refused")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    /// Still 429 after [`RATE_LIMIT_RETRIES`] retries.
    #[error("rate limited by the Render API (retry after {}s)", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// A 5xx (after the retries of a read), or an unexpected status.
    #[error("the Render API answered HTTP {0}: {1}")]
    Server(u16, String),
    #[error("cannot reach the Render API: {0}")]
    Transport(String),
    /// An answer that is not what Render sends, or a refused request (4xx).
    #[error("unexpected answer from the Render API: {0}")]
    Invalid(String),
}

/// The rate-limit headers of the last answer that had them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// `Ratelimit-Limit`.
    pub limit: Option<u64>,
    /// `Ratelimit-Remaining`.
    pub remaining: Option<u64>,
    /// `Ratelimit-Reset`: time until the window resets.
    pub reset: Option<Duration>,
}

/// Tunables of a [`RenderClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Timeout of one request. Default 10 s.
    pub timeout: Duration,
    /// Cap of one wait before a retry (429, 5xx). Default 30 s.
    pub max_wait: Duration,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_REQUEST_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// A Render API client; cheap to clone (clones share the connection pool
/// and the last rate-limit reading).
#[derive(Clone)]
pub struct RenderClient {
    base: url::Url,
    key: Arc<str>,
    http: reqwest::Client,
    opts: RenderOptions,
    rate: Arc<Mutex<Option<RateLimit>>>,
}

impl std::fmt::Debug for RenderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderClient")
            .field("base_url", &crate::redact_parsed_url(&self.base))
            .field("api_key", &REDACTED)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// What a request is, for retries and messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

impl RenderClient {
    /// A client for `base_url` (`http` or `https`, not a link-local
    /// address) with `api_key` (not empty), default [`RenderOptions`].
    pub fn new(base_url: &str, api_key: &str, http: reqwest::Client) -> Result<Self, BuildError> {
        Self::new_with(base_url, api_key, http, RenderOptions::default())
    }

    /// [`RenderClient::new`] with chosen timeouts.
    pub fn new_with(
        base_url: &str,
        api_key: &str,
        http: reqwest::Client,
        opts: RenderOptions,
    ) -> Result<Self, BuildError> {
        let base = crate::parse_http_url("base_url", base_url)?;
        if base.cannot_be_a_base() {
            return Err(BuildError::new("base_url", "not a base URL"));
        }
        if api_key.trim().is_empty() {
            return Err(BuildError::new("api_key", "must not be empty"));
        }
        if api_key.contains(|c: char| c.is_control()) {
            return Err(BuildError::new("api_key", "holds control characters"));
        }
        if opts.timeout.is_zero() {
            return Err(BuildError::new("timeout", "must be more than 0"));
        }
        Ok(Self {
            base,
            key: Arc::from(api_key.trim()),
            http,
            opts,
            rate: Arc::default(),
        })
    }

    /// The rate-limit headers of the last answer that had them.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every service (with `name`: Render's name filter, exact names kept),
    /// following the cursor to the last page (at most [`MAX_PAGES`]).
    pub async fn list_services(&self, name: Option<&str>) -> Result<Vec<Service>, RenderError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.url(&["services"]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", &PAGE_LIMIT.to_string());
                if let Some(n) = name {
                    q.append_pair("name", n);
                }
                if let Some(c) = &cursor {
                    q.append_pair("cursor", c);
                }
            }
            let body = self.send(Method::GET, url, None, Kind::Read).await?.1;
            let (page, next) = parse_services_page(&body)?;
            if page.is_empty() {
                break;
            }
            all.extend(page);
            match next {
                Some(n) if cursor.as_deref() != Some(n.as_str()) => cursor = Some(n),
                _ => break,
            }
        }
        if let Some(n) = name {
            all.retain(|s| s.name == n);
        }
        Ok(all)
    }

    /// One service by id.
    pub async fn service(&self, id: &str) -> Result<Service, RenderError> {
        let url = self.url(&["services", id]);
        match self.send(Method::GET, url, None, Kind::Read).await {
            Ok((_, body)) => {
                let w: WireService = parse_json(&body, "GET /services/{id}")?;
                Ok(w.into())
            }
            Err(RenderError::NotFound(_)) => Err(RenderError::NotFound(format!(
                "Render has no service {id:?}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// `srv-...` by id, anything else by exact name: [`RenderError::NotFound`]
    /// when none has it, [`RenderError::Ambiguous`] when several do.
    pub async fn find(&self, id_or_name: &str) -> Result<Service, RenderError> {
        if id_or_name.starts_with("srv-") {
            return self.service(id_or_name).await;
        }
        let mut found = self.list_services(Some(id_or_name)).await?;
        match found.len() {
            0 => Err(RenderError::NotFound(format!(
                "no Render service is named {id_or_name:?}"
            ))),
            1 => Ok(found.remove(0)),
            _ => Err(RenderError::Ambiguous(format!(
                "{} Render services are named {id_or_name:?} ({}); name one by its id",
                found.len(),
                found
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The service's newest deploy (`None` when it has none).
    pub async fn latest_deploy(&self, service_id: &str) -> Result<Option<Deploy>, RenderError> {
        let mut url = self.url(&["services", service_id, "deploys"]);
        url.query_pairs_mut().append_pair("limit", "1");
        let body = self.send(Method::GET, url, None, Kind::Read).await?.1;
        let items: Vec<DeployItem> = parse_json(&body, "GET /services/{id}/deploys")?;
        Ok(items.into_iter().next().map(DeployItem::into_deploy))
    }

    /// Triggers a deploy (`clearCache` = `"clear"` when `clear_cache`).
    pub async fn deploy(&self, service_id: &str, clear_cache: bool) -> Result<Deploy, RenderError> {
        let url = self.url(&["services", service_id, "deploys"]);
        let body = serde_json::json!({
            "clearCache": if clear_cache { "clear" } else { "do_not_clear" }
        });
        let (status, answer) = self
            .send(Method::POST, url, Some(body), Kind::Write)
            .await?;
        if status != StatusCode::CREATED && status != StatusCode::ACCEPTED {
            return Err(RenderError::Invalid(format!(
                "POST /services/{{id}}/deploys answered HTTP {}",
                status.as_u16()
            )));
        }
        match serde_json::from_slice::<Deploy>(&answer) {
            Ok(d) => Ok(d),
            // Accepted without the deploy in the answer: the newest one is it.
            Err(_) => self.latest_deploy(service_id).await?.ok_or_else(|| {
                RenderError::Invalid(
                    "the deploy was accepted but the service lists no deploy".into(),
                )
            }),
        }
    }

    /// Restarts the service without a new build (202).
    pub async fn restart(&self, service_id: &str) -> Result<(), RenderError> {
        let url = self.url(&["services", service_id, "restart"]);
        self.send(Method::POST, url, None, Kind::Write)
            .await
            .map(drop)
    }

    /// One deploy of a service.
    pub async fn get_deploy(
        &self,
        service_id: &str,
        deploy_id: &str,
    ) -> Result<Deploy, RenderError> {
        let url = self.url(&["services", service_id, "deploys", deploy_id]);
        let body = self.send(Method::GET, url, None, Kind::Read).await?.1;
        parse_json(&body, "GET /services/{id}/deploys/{deployId}")
    }

    /// Services that need a human or a heal, with why: suspended ones
    /// ("suspended"; their deploys are not read), and those whose newest
    /// deploy failed (`build_failed`, `pre_deploy_failed`, `update_failed`:
    /// "latest deploy dep-... build_failed"). A `canceled` or `deactivated`
    /// newest deploy is not listed: the previous deploy still serves.
    pub async fn unhealthy(&self) -> Result<Vec<(Service, Option<Deploy>, String)>, RenderError> {
        let mut out = Vec::new();
        for s in self.list_services(None).await? {
            if s.is_suspended() {
                out.push((s, None, "suspended".to_string()));
                continue;
            }
            let latest = self.latest_deploy(&s.id).await?;
            if let Some(d) = latest.filter(|d| d.status.failed()) {
                let why = format!("latest deploy {} {}", d.id, d.status);
                out.push((s, Some(d), why));
            }
        }
        Ok(out)
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        u.set_query(None);
        u.set_fragment(None);
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    fn scrub(&self, s: &str) -> String {
        let mut s: String = s.chars().take(300).collect();
        if !self.key.is_empty() {
            s = s.replace(&*self.key, REDACTED);
        }
        s
    }

    /// One call with its retries; the status and body of a 2xx answer.
    async fn send(
        &self,
        method: Method,
        url: url::Url,
        body: Option<serde_json::Value>,
        kind: Kind,
    ) -> Result<(StatusCode, Vec<u8>), RenderError> {
        let mut rate_retries = 0u32;
        let mut server_retries = 0u32;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&*self.key)
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(self.opts.timeout);
            if let Some(b) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let why = self.scrub(&crate::describe_reqwest_error(e));
                    if kind == Kind::Read && server_retries < SERVER_RETRIES {
                        self.wait(backoff(server_retries)).await;
                        server_retries += 1;
                        continue;
                    }
                    return Err(RenderError::Transport(why));
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            self.note_rate(&headers);
            let answer = match read_body(resp).await {
                Ok(b) => b,
                Err(e) => {
                    if kind == Kind::Read && server_retries < SERVER_RETRIES {
                        self.wait(backoff(server_retries)).await;
                        server_retries += 1;
                        continue;
                    }
                    return Err(RenderError::Transport(self.scrub(&e)));
                }
            };
            if status.is_success() {
                return Ok((status, answer));
            }
            let message = self.scrub(&error_message(&answer));
            match status.as_u16() {
                401 | 403 => return Err(RenderError::Unauthorized),
                404 => return Err(RenderError::NotFound(format!("not found: {message}"))),
                429 => {
                    let wait = rate_wait(&headers, rate_retries);
                    if rate_retries < RATE_LIMIT_RETRIES {
                        tracing::debug!(
                            ?wait,
                            attempt = rate_retries + 1,
                            "Render API rate limit hit; waiting."
                        );
                        self.wait(wait).await;
                        rate_retries += 1;
                        continue;
                    }
                    return Err(RenderError::RateLimited {
                        retry_after: wait.min(self.opts.max_wait),
                    });
                }
                s @ 500..=599 => {
                    if kind == Kind::Read && server_retries < SERVER_RETRIES {
                        self.wait(backoff(server_retries)).await;
                        server_retries += 1;
                        continue;
                    }
                    return Err(RenderError::Server(s, message));
                }
                s => return Err(RenderError::Invalid(format!("HTTP {s}: {message}"))),
            }
        }
    }

    async fn wait(&self, d: Duration) {
        tokio::time::sleep(d.min(self.opts.max_wait)).await;
    }

    fn note_rate(&self, h: &reqwest::header::HeaderMap) {
        let num = |name: &str| -> Option<f64> {
            h.get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let limit = num("ratelimit-limit").map(|v| v as u64);
        let remaining = num("ratelimit-remaining").map(|v| v as u64);
        let reset = num("ratelimit-reset").map(secs_f64);
        if limit.is_none() && remaining.is_none() && reset.is_none() {
            return;
        }
        if remaining == Some(0) {
            tracing::debug!(?reset, "Render API rate limit budget used up.");
        }
        *self.rate.lock().unwrap_or_else(|e| e.into_inner()) = Some(RateLimit {
            limit,
            remaining,
            reset,
        });
    }
}

/// Seconds (not negative, finite) as a duration, capped at a day.
fn secs_f64(v: f64) -> Duration {
    Duration::from_secs_f64(v.clamp(0.0, 86_400.0))
}

/// How long to wait after the `attempt`-th 429 (0-based): `Ratelimit-Reset`
/// plus up to 20 %, else `Retry-After`, else exponential backoff.
fn rate_wait(h: &reqwest::header::HeaderMap, attempt: u32) -> Duration {
    let secs = |name: &str| -> Option<Duration> {
        let v = h.get(name)?.to_str().ok()?.trim().parse::<f64>().ok()?;
        v.is_finite().then(|| secs_f64(v))
    };
    if let Some(reset) = secs("ratelimit-reset").or_else(|| secs("retry-after")) {
        return super::spread(reset);
    }
    backoff(attempt)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], call: &str) -> Result<T, RenderError> {
    serde_json::from_slice(body)
        .map_err(|e| RenderError::Invalid(format!("the answer to {call} does not parse: {e}")))
}

/// One page of `GET /services`: the services and the last item's cursor.
/// Any bytes give an answer or [`RenderError::Invalid`], never a panic.
pub fn parse_services_page(body: &[u8]) -> Result<(Vec<Service>, Option<String>), RenderError> {
    let items: Vec<ServiceItem> = parse_json(body, "GET /services")?;
    let cursor = items.last().and_then(|i| i.cursor.clone());
    Ok((
        items.into_iter().map(|i| i.service.into()).collect(),
        cursor,
    ))
}

#[derive(Deserialize)]
struct ServiceItem {
    service: WireService,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireService {
    id: String,
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    suspended: String,
    #[serde(default)]
    service_details: Option<WireDetails>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct WireDetails {
    #[serde(default)]
    url: Option<String>,
}

impl From<WireService> for Service {
    fn from(w: WireService) -> Self {
        Service {
            id: w.id,
            name: w.name,
            kind: w.kind,
            suspended: w.suspended,
            url: w.service_details.and_then(|d| d.url),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// An item of `GET /services/{id}/deploys`.
#[derive(Deserialize)]
#[serde(untagged)]
enum DeployItem {
    Wrapped { deploy: Deploy },
    Bare(Deploy),
}

impl DeployItem {
    fn into_deploy(self) -> Deploy {
        match self {
            DeployItem::Wrapped { deploy } | DeployItem::Bare(deploy) => deploy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_and_classify() {
        let d: Deploy = serde_json::from_str(
            r#"{"id":"dep-1","status":"build_failed","trigger":"api","createdAt":"a","finishedAt":"b","commit":{"id":"c"}}"#,
        )
        .unwrap();
        assert_eq!(d.status, DeployStatus::BuildFailed);
        assert_eq!(d.finished_at.as_deref(), Some("b"));
        assert!(d.status.failed() && !d.status.in_progress());
        let u: DeployStatus = serde_json::from_str(r#""something_new""#).unwrap();
        assert_eq!(u, DeployStatus::Unknown);
        assert!(DeployStatus::Queued.in_progress());
        assert!(!DeployStatus::Canceled.failed());
        assert!(DeployStatus::Live.is_live());
        assert_eq!(
            DeployStatus::PreDeployFailed.to_string(),
            "pre_deploy_failed"
        );
    }

    #[test]
    fn pages_parse_with_nested_url() {
        let (s, c) = parse_services_page(
            br#"[{"cursor":"c1","service":{"id":"srv-1","name":"web","type":"web_service","suspended":"not_suspended","serviceDetails":{"region":"oregon","url":"https://web.onrender.com"},"createdAt":"t"}}]"#,
        )
        .unwrap();
        assert_eq!(c.as_deref(), Some("c1"));
        assert_eq!(s[0].url.as_deref(), Some("https://web.onrender.com"));
        assert_eq!(s[0].created_at.as_deref(), Some("t"));
        assert!(parse_services_page(b"{}").is_err());
        assert!(parse_services_page(b"[]").unwrap().0.is_empty());
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        for a in 0..10 {
            let b = backoff(a);
            assert!(b <= DEFAULT_MAX_WAIT);
            assert!(b >= Duration::from_millis(800).min(DEFAULT_MAX_WAIT));
        }
        let b = backoff(1);
        assert!(b >= Duration::from_millis(1600) && b <= Duration::from_millis(2400));
    }

    #[test]
    fn new_refuses_bad_urls_and_empty_keys() {
        let http = reqwest::Client::new();
        assert!(RenderClient::new("ftp://x", "k", http.clone()).is_err());
        assert!(RenderClient::new("http://169.254.169.254/v1", "k", http.clone()).is_err());
        assert_eq!(
            RenderClient::new(DEFAULT_BASE_URL, " ", http.clone())
                .unwrap_err()
                .key,
            "api_key"
        );
        let c = RenderClient::new("https://api.render.com/v1/", "rnd_CANARY", http).unwrap();
        assert_eq!(
            c.url(&["services", "srv-1", "deploys"]).as_str(),
            "https://api.render.com/v1/services/srv-1/deploys"
        );
        assert!(!format!("{c:?}").contains("CANARY"));
    }
}
