//! HTTP check: request a URL and judge the answer.
//!
//! The verdict, worst first:
//! - no answer (connection refused, DNS, TLS error, timeout, too many
//!   redirects, a redirect to a scheme other than http/https) → `Down`;
//! - the status: with `expect_status` set, a status outside it is `Down`;
//!   without it, 2xx/3xx are fine, 4xx is `Degraded` ("HTTP 404") and
//!   anything else `Down` ("HTTP 503");
//! - on an accepted status, `body_contains`, `body_regex` and `json_pointer`
//!   are judged on the first 64 KiB of the body; a mismatch is `Down`;
//! - slower than `max_latency`, or a peer certificate expiring within
//!   `tls_expiry_warning` → `Degraded`, details joined with "; ".
//!
//! Otherwise `Up` with detail "HTTP 200". `latency` is the time from the
//! first request to the last body byte read (all redirect hops included).
//!
//! Redirects are followed here, not by reqwest, so that each hop goes through
//! the scheme allow-list, the cap of [`MAX_REDIRECTS`] hops applies, and
//! every configured header (any of them may be a credential: `Authorization`,
//! `Cookie`, `X-Api-Key`, ...) is dropped once a hop leaves the original
//! origin (scheme, host and port; `127.0.0.1` and `localhost` are two
//! origins). 301/302 turn a POST into a GET, 303 turns anything but
//! HEAD into a GET, 307/308 keep the method and body.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use autoheal_core::{Observation, Status};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use super::{default_interval, default_timeout, with_latency, Check, Scheduled};
use crate::{
    build_headers, check_scheme, describe_reqwest_error, fmt_duration, parse_http_url, BuildError,
    HttpClients,
};

/// The most redirect hops followed before the check is `Down`.
pub const MAX_REDIRECTS: usize = 5;
/// The most body bytes read; conditions are judged on this prefix.
pub const BODY_CAP: usize = 64 * 1024;
/// Compiled size limit of `body_regex` (the `regex` crate never backtracks;
/// this bounds its memory).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Default `tls_expiry_warning`: 14 days.
pub const DEFAULT_TLS_EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

fn default_method() -> String {
    "GET".into()
}
fn yes() -> bool {
    true
}
fn default_tls_warning() -> Duration {
    DEFAULT_TLS_EXPIRY_WARNING
}

/// `type = "http"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckConfig {
    /// The URL to request; `http` or `https` only. Required. Logged as
    /// scheme + host only.
    pub url: String,
    /// HTTP method (`GET`, `HEAD`, `POST`, ...). Default `"GET"`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers. Default empty. Values are never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as is. Default: none.
    #[serde(default)]
    pub body: Option<String>,
    /// Time between two probes. Default `10s`.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// The most one probe may take, all redirects and the body included;
    /// then it is `Down` ("timeout after 5s"). Default `5s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Accepted statuses: codes (`200`, `"204"`), classes (`"2xx"`) or
    /// ranges (`"200-299"`); any other status is `Down`. Default empty,
    /// meaning 2xx/3xx `Up`, 4xx `Degraded`, others `Down`.
    #[serde(default)]
    pub expect_status: Vec<StatusPattern>,
    /// The body must contain this text (byte for byte). Default: not checked.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// The body must match this regular expression (`regex` crate syntax,
    /// compiled size at most 1 MiB). Default: not checked.
    #[serde(default)]
    pub body_regex: Option<String>,
    /// The body must be JSON with a value at `pointer` (RFC 6901, "/status"),
    /// equal to `equals` when given. Default: not checked.
    #[serde(default)]
    pub json_pointer: Option<JsonPointerCondition>,
    /// Slower answers are `Degraded`. Default: no limit.
    #[serde(default, with = "humantime_serde::option")]
    pub max_latency: Option<Duration>,
    /// A peer certificate expiring within this is `Degraded` ("TLS
    /// certificate expires in 3 days"); `"0s"` turns the warning off.
    /// Default `14days`.
    #[serde(default = "default_tls_warning", with = "humantime_serde")]
    pub tls_expiry_warning: Duration,
    /// Follow redirects (at most 5 hops, http/https only). With `false` a
    /// 3xx is the answer. Default `true`.
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Accept any certificate (self-signed, expired, wrong name). The expiry
    /// warning still applies. Default `false`.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl std::fmt::Debug for HttpCheckConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCheckConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body.as_ref().map(|_| "<redacted>"))
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("expect_status", &self.expect_status)
            .field("body_contains", &self.body_contains)
            .field("body_regex", &self.body_regex)
            .field("json_pointer", &self.json_pointer)
            .field("max_latency", &self.max_latency)
            .field("tls_expiry_warning", &self.tls_expiry_warning)
            .field("follow_redirects", &self.follow_redirects)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

/// One entry of `expect_status`: `200`, `"200"`, `"2xx"` or `"200-299"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusPattern {
    Code(u16),
    Text(String),
}

impl StatusPattern {
    /// The inclusive range of codes this pattern accepts.
    pub fn range(&self) -> Result<(u16, u16), String> {
        let (lo, hi) = match self {
            StatusPattern::Code(c) => (*c, *c),
            StatusPattern::Text(t) => parse_status_text(t.trim())?,
        };
        if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
            return Err(format!(
                "{self} is not a status (100-599) or a range low-high"
            ));
        }
        Ok((lo, hi))
    }
}

impl std::fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusPattern::Code(c) => write!(f, "{c}"),
            StatusPattern::Text(t) => write!(f, "{t}"),
        }
    }
}

fn parse_status_text(t: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{t:?} is not a status: use \"200\", \"2xx\" or \"200-299\"");
    let lower = t.to_ascii_lowercase();
    if let Some(d) = lower.strip_suffix("xx") {
        let d: u16 = d.parse().map_err(|_| bad())?;
        if d > 9 || d == 0 {
            return Err(bad());
        }
        return Ok((d * 100, d * 100 + 99));
    }
    if let Some((a, b)) = t.split_once('-') {
        let a = a.trim().parse().map_err(|_| bad())?;
        let b = b.trim().parse().map_err(|_| bad())?;
        return Ok((a, b));
    }
    let c = t.parse().map_err(|_| bad())?;
    Ok((c, c))
}

/// `json_pointer = { pointer = "/status", equals = "ok" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPointerCondition {
    /// RFC 6901 pointer into the JSON body (`"/status"`, `"/checks/0/ok"`).
    /// Required.
    pub pointer: String,
    /// The value expected there (any JSON value, compared exactly: `"ok"`,
    /// `true`, `1`). Default: the pointer only has to exist.
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
}

/// A built HTTP check. Cheap to share; probes may run concurrently.
pub struct HttpCheck {
    client: reqwest::Client,
    url: Url,
    redacted: String,
    method: Method,
    headers: HeaderMap,
    body: Option<String>,
    interval: Duration,
    timeout: Duration,
    expect: Option<(Vec<(u16, u16)>, String)>,
    contains: Option<(regex::bytes::Regex, String)>,
    regex: Option<regex::bytes::Regex>,
    json: Option<JsonPointerCondition>,
    max_latency: Option<Duration>,
    tls_warning: Duration,
    follow: bool,
    /// The last peer certificate seen and its notAfter (Unix seconds), so the
    /// certificate is parsed once, not on every probe.
    cert_cache: Mutex<Option<(Vec<u8>, i64)>>,
}

impl std::fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCheck")
            .field("url", &self.redacted)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl HttpCheck {
    /// Validates `cfg`; probes go through `clients`' shared pool.
    pub fn build(cfg: &HttpCheckConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::validate_schedule(cfg.interval, cfg.timeout)?;
        let url = parse_http_url("url", &cfg.url)?;
        let method =
            Method::from_bytes(cfg.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                BuildError::new("method", format!("{:?} is not an HTTP method", cfg.method))
            })?;
        let headers = build_headers("headers", &cfg.headers)?;
        let expect = if cfg.expect_status.is_empty() {
            None
        } else {
            let mut ranges = Vec::new();
            for (i, p) in cfg.expect_status.iter().enumerate() {
                ranges.push(
                    p.range()
                        .map_err(|why| BuildError::new(format!("expect_status[{i}]"), why))?,
                );
            }
            let text = cfg
                .expect_status
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            Some((ranges, text))
        };
        let contains = match &cfg.body_contains {
            None => None,
            Some(s) if s.is_empty() => {
                return Err(BuildError::new("body_contains", "must not be empty"))
            }
            Some(s) => Some((
                regex::bytes::Regex::new(&regex::escape(s))
                    .map_err(|e| BuildError::new("body_contains", e.to_string()))?,
                s.clone(),
            )),
        };
        let regex = cfg
            .body_regex
            .as_deref()
            .map(|r| {
                regex::bytes::RegexBuilder::new(r)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| BuildError::new("body_regex", e.to_string()))
            })
            .transpose()?;
        if let Some(j) = &cfg.json_pointer {
            if !(j.pointer.is_empty() || j.pointer.starts_with('/')) {
                return Err(BuildError::new(
                    "json_pointer.pointer",
                    "must be empty or start with '/' (RFC 6901, \"/status\")",
                ));
            }
        }
        if let Some(m) = cfg.max_latency {
            crate::in_range(
                "max_latency",
                m,
                &autoheal_core::policy::limits::MAX_LATENCY,
            )?;
        }
        crate::in_range(
            "tls_expiry_warning",
            cfg.tls_expiry_warning,
            &autoheal_core::policy::limits::TLS_EXPIRY_WARNING,
        )?;
        let client = clients
            .pick(cfg.insecure_skip_verify)
            .map_err(|why| BuildError::new("insecure_skip_verify", why))?;
        Ok(Self {
            client,
            redacted: crate::redact_parsed_url(&url),
            url,
            method,
            headers,
            body: cfg.body.clone(),
            interval: cfg.interval,
            timeout: cfg.timeout,
            expect,
            contains,
            regex,
            json: cfg.json_pointer.clone(),
            max_latency: cfg.max_latency,
            tls_warning: cfg.tls_expiry_warning,
            follow: cfg.follow_redirects,
            cert_cache: Mutex::new(None),
        })
    }

    /// The URL as it may be logged (scheme + host).
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    async fn exchange(&self) -> Result<Answer, String> {
        let mut url = self.url.clone();
        let mut method = self.method.clone();
        let mut body = self.body.clone();
        let mut headers = self.headers.clone();
        let mut hops = 0;
        loop {
            let mut req = self
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let mut resp = req.send().await.map_err(describe_reqwest_error)?;
            let status = resp.status();
            if self.follow && status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                if let Some(loc) = resp.headers().get(LOCATION) {
                    if hops == MAX_REDIRECTS {
                        return Err(format!("more than {MAX_REDIRECTS} redirects"));
                    }
                    hops += 1;
                    let loc = loc
                        .to_str()
                        .map_err(|_| "redirect with an invalid Location".to_string())?;
                    let next = url
                        .join(loc)
                        .map_err(|_| "redirect with an invalid Location".to_string())?;
                    check_scheme(&next).map_err(|why| format!("redirect refused: {why}"))?;
                    if next.origin() != self.url.origin() {
                        // Any configured header may be a credential
                        // (X-Api-Key, X-Auth-Token, ...): none leaves the
                        // origin it was configured for.
                        headers.clear();
                    }
                    let to_get = match status.as_u16() {
                        301 | 302 => method == Method::POST,
                        303 => method != Method::HEAD,
                        _ => false,
                    };
                    if to_get {
                        method = Method::GET;
                        body = None;
                    }
                    // Drain the small redirect body so the connection is reused.
                    let _ = read_capped(&mut resp).await;
                    url = next;
                    continue;
                }
            }
            let not_after = self.peer_not_after(&resp);
            let body = read_capped(&mut resp)
                .await
                .map_err(describe_reqwest_error)?;
            return Ok(Answer {
                status,
                body,
                not_after,
            });
        }
    }

    fn peer_not_after(&self, resp: &reqwest::Response) -> Option<i64> {
        if self.tls_warning.is_zero() {
            return None;
        }
        let der = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()?
            .peer_certificate()?;
        let mut cache = self.cert_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached, not_after)) = cache.as_ref() {
            if cached.as_slice() == der {
                return Some(*not_after);
            }
        }
        let not_after = cert_not_after(der)?;
        *cache = Some((der.to_vec(), not_after));
        Some(not_after)
    }

    fn judge(&self, a: &Answer, latency: Duration) -> Observation {
        let code = a.status.as_u16();
        let mut degraded: Vec<String> = Vec::new();
        match &self.expect {
            Some((ranges, text)) => {
                if !ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code)) {
                    return Observation::down(format!("HTTP {code} (expected {text})"));
                }
            }
            None => match code {
                200..=399 => {}
                400..=499 => return Observation::degraded(format!("HTTP {code}")),
                _ => return Observation::down(format!("HTTP {code}")),
            },
        }
        if let Some((re, text)) = &self.contains {
            if !re.is_match(&a.body) {
                return Observation::down(format!("body does not contain {text:?}"));
            }
        }
        if let Some(re) = &self.regex {
            if !re.is_match(&a.body) {
                return Observation::down(format!("body does not match /{}/", re.as_str()));
            }
        }
        if let Some(j) = &self.json {
            if let Some(why) = json_mismatch(&a.body, j) {
                return Observation::down(why);
            }
        }
        if let Some(max) = self.max_latency {
            if latency > max {
                degraded.push(format!(
                    "slow: {} > max_latency {}",
                    fmt_duration(round_ms(latency)),
                    fmt_duration(max)
                ));
            }
        }
        if let Some(not_after) = a.not_after {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            if let Some(why) = tls_expiry_problem(not_after, now, self.tls_warning) {
                degraded.push(why);
            }
        }
        let head = format!("HTTP {code}");
        if degraded.is_empty() {
            Observation {
                status: Status::Up,
                detail: head,
                latency: None,
            }
        } else {
            Observation::degraded(format!("{head}; {}", degraded.join("; ")))
        }
    }
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    not_after: Option<i64>,
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// Reads at most [`BODY_CAP`] bytes; the rest is never read (the connection
/// is then dropped rather than reused).
async fn read_capped(resp: &mut reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = BODY_CAP - buf.len();
        if chunk.len() >= room {
            buf.extend_from_slice(&chunk[..room]);
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Why the JSON body fails `cond`, or `None` when it holds.
fn json_mismatch(body: &[u8], cond: &JsonPointerCondition) -> Option<String> {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Some("body is not JSON".into()),
    };
    let p = &cond.pointer;
    match (v.pointer(p), &cond.equals) {
        (None, _) => Some(format!("JSON {p} is missing")),
        (Some(_), None) => None,
        (Some(got), Some(want)) if got == want => None,
        (Some(got), Some(want)) => {
            let mut got = got.to_string();
            if got.chars().count() > 100 {
                got = got.chars().take(100).collect::<String>() + "…";
            }
            Some(format!("JSON {p} is {got}, expected {want}"))
        }
    }
}

/// The certificate's notAfter as Unix seconds (`None` if it does not parse).
pub fn cert_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The `Degraded` detail for a certificate valid until `not_after` (Unix
/// seconds) seen at `now`, or `None` when it is further away than `warning`
/// (or `warning` is zero: the warning is off).
pub fn tls_expiry_problem(not_after: i64, now: i64, warning: Duration) -> Option<String> {
    if warning.is_zero() {
        return None;
    }
    let left = not_after.saturating_sub(now);
    if left <= 0 {
        return Some(format!(
            "TLS certificate expired {} ago",
            human_secs(left.unsigned_abs())
        ));
    }
    if (left as u64) < warning.as_secs() {
        return Some(format!(
            "TLS certificate expires in {}",
            human_secs(left as u64)
        ));
    }
    None
}

/// "3 days", "5h 2m", "40s".
fn human_secs(s: u64) -> String {
    const DAY: u64 = 86_400;
    if s >= 2 * DAY {
        format!("{} days", s / DAY)
    } else if s >= 3600 {
        fmt_duration(Duration::from_secs(s / 60 * 60))
    } else {
        fmt_duration(Duration::from_secs(s))
    }
}

impl Scheduled for HttpCheckConfig {
    fn interval(&self) -> Duration {
        self.interval
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Scheduled for HttpCheck {
    fn interval(&self) -> Duration {
        self.interval
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[async_trait]
impl Check for HttpCheck {
    async fn check(&self) -> Observation {
        let start = tokio::time::Instant::now();
        let o = match tokio::time::timeout(self.timeout, self.exchange()).await {
            Err(_) => Observation::down(format!("timeout after {}", fmt_duration(self.timeout))),
            Ok(Err(why)) => Observation::down(why),
            Ok(Ok(answer)) => self.judge(&answer, start.elapsed()),
        };
        let o = with_latency(o, start.elapsed());
        tracing::trace!(url = %self.redacted, status = o.status.as_str(), detail = %o.detail, "HTTP check ran.");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patterns_parse() {
        let r = |p: StatusPattern| p.range();
        assert_eq!(r(StatusPattern::Code(204)), Ok((204, 204)));
        assert_eq!(r(StatusPattern::Text("200".into())), Ok((200, 200)));
        assert_eq!(r(StatusPattern::Text("2xx".into())), Ok((200, 299)));
        assert_eq!(r(StatusPattern::Text("5XX".into())), Ok((500, 599)));
        assert_eq!(r(StatusPattern::Text("200-299".into())), Ok((200, 299)));
        assert!(r(StatusPattern::Text("299-200".into())).is_err());
        assert!(r(StatusPattern::Text("abc".into())).is_err());
        assert!(r(StatusPattern::Text("0xx".into())).is_err());
        assert!(r(StatusPattern::Code(42)).is_err());
        assert!(r(StatusPattern::Text("600".into())).is_err());
    }

    #[test]
    fn tls_expiry_arithmetic() {
        let day = 86_400;
        let w = DEFAULT_TLS_EXPIRY_WARNING;
        assert_eq!(tls_expiry_problem(1000 + 30 * day, 1000, w), None);
        assert_eq!(
            tls_expiry_problem(1000 + 14 * day, 1000, w),
            None,
            "exactly at the edge is fine"
        );
        assert_eq!(
            tls_expiry_problem(1000 + 3 * day + 5, 1000, w).as_deref(),
            Some("TLS certificate expires in 3 days")
        );
        assert_eq!(
            tls_expiry_problem(1000 + 5 * 3600 + 120, 1000, w).as_deref(),
            Some("TLS certificate expires in 5h 2m")
        );
        assert_eq!(
            tls_expiry_problem(1000 - 40, 1000, w).as_deref(),
            Some("TLS certificate expired 40s ago")
        );
        assert_eq!(
            tls_expiry_problem(1000 - 40, 1000, Duration::ZERO),
            None,
            "0s turns it off"
        );
    }

    #[test]
    fn json_conditions() {
        let c = |p: &str, e: Option<serde_json::Value>| JsonPointerCondition {
            pointer: p.into(),
            equals: e,
        };
        let body = br#"{"status":"ok","n":1,"checks":[{"ok":true}]}"#;
        assert_eq!(json_mismatch(body, &c("/status", Some("ok".into()))), None);
        assert_eq!(
            json_mismatch(body, &c("/checks/0/ok", Some(true.into()))),
            None
        );
        assert_eq!(json_mismatch(body, &c("/n", None)), None);
        assert_eq!(
            json_mismatch(body, &c("/status", Some("down".into()))).as_deref(),
            Some("JSON /status is \"ok\", expected \"down\"")
        );
        assert_eq!(
            json_mismatch(body, &c("/nope", None)).as_deref(),
            Some("JSON /nope is missing")
        );
        assert_eq!(
            json_mismatch(b"<html>", &c("/a", None)).as_deref(),
            Some("body is not JSON")
        );
    }
}
