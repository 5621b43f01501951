//! # autoheal-plugins: checks, actions and alert sources
//!
//! Each plugin lives in its own module with its config (serde, unknown keys
//! refused) apart from its runtime. The service crate composes the closed
//! enums (`type = "http"`, `type = "command"`, ...) from these configs, so
//! adding a plugin is one variant and one match arm there.
//!
//! Checks never fail: a failing probe *is* the observation (`Status::Down`
//! with a detail). Actions return an [`autoheal_core::ActionOutcome`].
//!
//! Runtimes are built from their config once (`build`), which validates and
//! pre-parses everything (URLs, regexes, headers, status patterns), so the
//! per-probe path only does I/O. HTTP plugins share one connection pool per
//! process through [`HttpClients`], which the service creates once and passes
//! in (no globals).
//!
//! [`alert`] reads what external monitors (Alertmanager, Grafana, Uptime
//! Kuma, UptimeRobot, Gatus, Healthchecks, Pingdom, generic JSON) send to a
//! webhook into [`Alert`]s, and verifies webhook signatures
//! ([`alert::signature`]); pure code, no I/O.
//!
//! [`channel`] holds the notification channels: how one
//! [`channel::Message`] reaches Slack, Discord, Teams, e-mail (SMTP), ntfy,
//! Telegram, Gotify, Pushover, Matrix, PagerDuty, Opsgenie, Twilio SMS, a
//! generic JSON webhook or the Apprise API. One enum,
//! [`channel::ChannelConfig`] (`type = "slack"`, ...), lists them all; its
//! `build` validates once and gives a [`channel::Channel`] whose `send`
//! makes exactly one try within the channel's timeout and answers a
//! [`channel::Delivery`] (sent, skipped, retry after, gone, rejected) for the
//! outbox to act on. Text is cut to each receiver's limits and escaped for
//! its markup; secrets never reach `Debug`, logs or reasons. See
//! docs/notifications.md.
//!
//! [`platform`] holds clients of hosting platforms' APIs (Render, Coolify),
//! used by the `render_deploy`, `render_restart`, `coolify_restart`,
//! `coolify_deploy` and `coolify_start` actions.

pub mod action;
pub mod alert;
pub mod channel;
pub mod check;
pub mod http_client;
pub mod platform;
mod process;
pub mod redact;
mod template;

pub use action::command::{CommandAction, CommandActionConfig};
pub use action::coolify::{
    CoolifyAction, CoolifyDeployConfig, CoolifyOp, CoolifyRestartConfig, CoolifyStartConfig,
};
pub use action::render::{
    RenderDeployAction, RenderDeployConfig, RenderRestartAction, RenderRestartConfig,
};
pub use action::webhook::{WebhookAction, WebhookActionConfig};
pub use action::{Action, ActionContext};
pub use alert::{Alert, AlertRequest, AlertSource, AlertState, GenericRule, Ignored, Unrecognised};
pub use channel::{Channel, ChannelConfig, Delivery, Message, MessageKind, Severity};
pub use check::exec::{ExecCheck, ExecCheckConfig};
pub use check::http::{HttpCheck, HttpCheckConfig};
pub use check::tcp::{TcpCheck, TcpCheckConfig};
pub use check::{Check, Scheduled};
pub use http_client::HttpClients;
pub use process::{ProcessOutput, ProcessResult, OUTPUT_CAP};

use std::time::Duration;

/// A plugin's config is valid but cannot be built (bad regex, bad URL...).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key}: {why}")]
pub struct BuildError {
    /// The key path inside the plugin's config ("url", "expect.status").
    pub key: String,
    pub why: String,
}

impl BuildError {
    /// A build error at `key` (a path inside the plugin's config).
    pub fn new(key: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            why: why.into(),
        }
    }
}

/// A URL as it may be logged or shown: scheme and host (and a non-default
/// port) only. Paths, queries, user info and fragments often hold secrets
/// (Slack/Discord webhook URLs, tokens in queries), so they are dropped.
/// Anything that does not parse becomes `"<invalid url>"`.
///
/// ```
/// assert_eq!(
///     autoheal_plugins::redact_url("https://user:pw@hooks.example.com:8443/T0/B1/xyz?token=s"),
///     "https://hooks.example.com:8443"
/// );
/// ```
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => redact_parsed_url(&u),
        Err(_) => "<invalid url>".to_string(),
    }
}

/// [`redact_url`] for an already parsed URL.
pub fn redact_parsed_url(u: &url::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{}://{}:{}", u.scheme(), h, p),
        (Some(h), None) => format!("{}://{}", u.scheme(), h),
        (None, _) => format!("{}:", u.scheme()),
    }
}

/// Durations in details the way config files write them ("5s", "250ms").
pub(crate) fn fmt_duration(d: Duration) -> String {
    humantime_serde::re::humantime::format_duration(d).to_string()
}

/// Parses a URL and enforces the http/https allow-list; used at build time
/// by every HTTP plugin and again on every redirect hop.
pub(crate) fn parse_http_url(key: &str, raw: &str) -> Result<url::Url, BuildError> {
    let u =
        url::Url::parse(raw).map_err(|e| BuildError::new(key, format!("not a valid URL: {e}")))?;
    check_scheme(&u).map_err(|why| BuildError::new(key, why))?;
    Ok(u)
}

pub(crate) fn check_scheme(u: &url::Url) -> Result<(), String> {
    let literal = match u.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = literal.filter(|ip| http_client::is_forbidden_ip(*ip)) {
        return Err(format!(
            "{ip} is a link-local (cloud metadata) address, always refused"
        ));
    }
    match u.scheme() {
        "http" | "https" if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" | "https" => Err("the URL has no host".to_string()),
        other => Err(format!(
            "scheme {other:?} is not allowed (expected http or https)"
        )),
    }
}

/// Refuses a duration outside its accepted range (the one table in
/// `autoheal_core::policy::limits`): "100y is out of range; expected between
/// 100ms and 24h".
pub(crate) fn in_range(
    key: &str,
    d: Duration,
    limit: &autoheal_core::policy::limits::Limit,
) -> Result<(), BuildError> {
    limit
        .check(d)
        .map(drop)
        .map_err(|e| BuildError::new(key, e.to_string()))
}

/// Parses and validates a header map at build time.
pub(crate) fn build_headers(
    key: &str,
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<reqwest::header::HeaderMap, BuildError> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut map = reqwest::header::HeaderMap::with_capacity(headers.len());
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| BuildError::new(format!("{key}.{k}"), "not a valid header name"))?;
        let mut value = HeaderValue::from_str(v)
            .map_err(|_| BuildError::new(format!("{key}.{k}"), "not a valid header value"))?;
        // Header values often are credentials: keep them out of Debug output.
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

/// Human text for a reqwest error, without the URL (which may hold secrets)
/// and with the root cause spelled the way operators expect
/// ("connection refused", "dns error: ...").
pub(crate) fn describe_reqwest_error(err: reqwest::Error) -> String {
    use std::error::Error as _;
    let err = err.without_url();
    // Find the deepest io::Error, if any: its kind is the clearest answer.
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    let mut last = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                std::io::ErrorKind::TimedOut => return "connect timed out".into(),
                _ => {}
            }
        }
        last = Some(s);
        source = s.source();
    }
    let root = last.map(|s| s.to_string());
    let head = if err.is_connect() {
        "connect error"
    } else if err.is_body() || err.is_decode() {
        "error reading body"
    } else if err.is_redirect() {
        "redirect error"
    } else {
        "request error"
    };
    match root {
        Some(r) => format!("{head}: {r}"),
        None => head.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_keeps_scheme_and_host_only() {
        assert_eq!(
            redact_url("http://example.com/a/b?c=d#e"),
            "http://example.com"
        );
        assert_eq!(
            redact_url("https://u:p@example.com:444/x"),
            "https://example.com:444"
        );
        assert_eq!(
            redact_url("https://example.com:443/x"),
            "https://example.com"
        );
        assert_eq!(redact_url("not a url"), "<invalid url>");
    }

    #[test]
    fn only_http_and_https_are_allowed() {
        assert!(parse_http_url("url", "http://a").is_ok());
        assert!(parse_http_url("url", "https://a/b").is_ok());
        let e = parse_http_url("url", "file:///etc/passwd").unwrap_err();
        assert_eq!(e.key, "url");
        assert!(e.why.contains("file"), "{e}");
        assert!(parse_http_url("url", "ftp://a").is_err());
        assert!(parse_http_url("url", "gopher://a").is_err());
        let e = parse_http_url("url", "http://169.254.169.254/latest/meta-data/").unwrap_err();
        assert!(e.why.contains("link-local"), "{e}");
        assert!(parse_http_url("url", "http://[fe80::1]/").is_err());
    }
}
