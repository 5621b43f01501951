//! Webhook action: send one HTTP request to heal a target (a deploy hook, a
//! PaaS restart endpoint, a runbook automation).
//!
//! The body is a template with plain placeholder substitution (no template
//! engine, nothing can be read or run): `{{target}}`, `{{state}}`,
//! `{{incident_id}}` (empty when none), `{{detail}}`, `{{attempt}}`,
//! `{{rung}}`, `{{action}}`; spaces inside the braces are allowed
//! (`{{ target }}`), any other `{{name}}` is refused at build, and values are
//! inserted once (a value holding `{{target}}` is not expanded again).
//! When the body is JSON (see `json_escape`) values are JSON-string-escaped,
//! so write them inside quotes: `{"text": "{{target}} is {{state}}"}`.
//!
//! 2xx → `Succeeded`; any other status → `Failed { "HTTP 500" }` (3xx too:
//! redirects are not followed); transport errors → `Failed { detail }`; no
//! answer within `timeout` → `TimedOut`. The URL is never logged or put in a
//! detail beyond its scheme and host ([`crate::redact_url`]): webhook URLs
//! are often secrets.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use autoheal_core::ActionOutcome;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Serialize};

use super::{Action, ActionContext};
use crate::{build_headers, describe_reqwest_error, parse_http_url, BuildError, HttpClients};

/// Default `timeout` of a webhook action: 30 s (Standard Webhooks: 15-30 s).
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

fn default_timeout() -> Duration {
    DEFAULT_WEBHOOK_TIMEOUT
}
fn default_method() -> String {
    "POST".into()
}

/// `type = "webhook"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookActionConfig {
    /// Where to send the request; `http` or `https` only. Required. Treated
    /// as a secret: logged as scheme + host only.
    pub url: String,
    /// HTTP method. Default `"POST"`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers (`Authorization = "Bearer ..."`). Default empty.
    /// Values are never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body template with `{{placeholders}}` (see the module docs). Default:
    /// no body. Unless a `Content-Type` header is given, it is sent as
    /// `application/json` when the template is a JSON object or array (with
    /// every placeholder read as `0`), else as `text/plain; charset=utf-8`.
    #[serde(default)]
    pub body: Option<String>,
    /// JSON-string-escape substituted values (`"` → `\"`, newlines → `\n`).
    /// Default: on when the `Content-Type` header mentions `json` or the body
    /// template is a JSON object or array (placeholders read as `0`); off
    /// otherwise.
    #[serde(default)]
    pub json_escape: Option<bool>,
    /// The most the request may take, connect to last body byte; then the
    /// outcome is `TimedOut`. Default `30s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookActionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookActionConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body)
            .field("json_escape", &self.json_escape)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A built webhook action.
#[derive(Clone)]
pub struct WebhookAction {
    client: reqwest::Client,
    url: reqwest::Url,
    redacted: String,
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    body: Option<Template>,
    json_escape: bool,
    timeout: Duration,
}

impl std::fmt::Debug for WebhookAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAction")
            .field("url", &self.redacted)
            .finish_non_exhaustive()
    }
}

impl WebhookAction {
    /// Validates `cfg`; requests go through `clients`' shared pool.
    pub fn build(cfg: &WebhookActionConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        crate::in_range(
            "timeout",
            cfg.timeout,
            &autoheal_core::policy::limits::ACTION_TIMEOUT,
        )?;
        let url = parse_http_url("url", &cfg.url)?;
        let method = reqwest::Method::from_bytes(cfg.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                BuildError::new("method", format!("{:?} is not an HTTP method", cfg.method))
            })?;
        let mut headers = build_headers("headers", &cfg.headers)?;
        let body = cfg.body.as_deref().map(Template::parse).transpose()?;
        let content_type_json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
        let body_json = body.as_ref().is_some_and(Template::is_json);
        if cfg.body.is_some() && !headers.contains_key(CONTENT_TYPE) {
            let ct = if body_json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        Ok(Self {
            client: clients.verified().clone(),
            redacted: crate::redact_parsed_url(&url),
            url,
            method,
            headers,
            body,
            json_escape: cfg.json_escape.unwrap_or(content_type_json || body_json),
            timeout: cfg.timeout,
        })
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The body this action would send for `ctx` (`None` without a body).
    pub fn render_body(&self, ctx: &ActionContext) -> Option<String> {
        self.body.as_ref().map(|t| t.render(ctx, self.json_escape))
    }

    async fn send(&self, ctx: &ActionContext) -> Result<reqwest::StatusCode, reqwest::Error> {
        let mut req = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        if let Some(body) = self.render_body(ctx) {
            req = req.body(body);
        }
        let mut resp = req.send().await?;
        let status = resp.status();
        // Read (and drop) a bounded body so the connection can be reused.
        let mut read = 0usize;
        while read < 64 * 1024 {
            match resp.chunk().await? {
                Some(c) => read += c.len(),
                None => break,
            }
        }
        Ok(status)
    }
}

#[async_trait]
impl Action for WebhookAction {
    async fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        let outcome = match tokio::time::timeout(self.timeout, self.send(ctx)).await {
            Err(_) => ActionOutcome::TimedOut,
            Ok(Ok(s)) if s.is_success() => ActionOutcome::Succeeded,
            Ok(Ok(s)) => ActionOutcome::Failed {
                detail: format!("HTTP {}", s.as_u16()),
            },
            Ok(Err(e)) => ActionOutcome::Failed {
                detail: describe_reqwest_error(e),
            },
        };
        tracing::debug!(url = %self.redacted, target = %ctx.target, ?outcome, "Webhook action finished.");
        outcome
    }
}

/// The placeholders of webhook body templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Target,
    State,
    IncidentId,
    Detail,
    Attempt,
    Rung,
    Action,
}

const VARS: &[(&str, Var)] = &[
    ("target", Var::Target),
    ("state", Var::State),
    ("incident_id", Var::IncidentId),
    ("detail", Var::Detail),
    ("attempt", Var::Attempt),
    ("rung", Var::Rung),
    ("action", Var::Action),
];

/// A body template parsed once at build (see [`crate::template`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(crate::template::Template<Var>);

impl Template {
    fn parse(src: &str) -> Result<Self, BuildError> {
        crate::template::Template::parse("body", src, VARS).map(Template)
    }

    /// Whether the template is a JSON object or array once every placeholder
    /// is replaced by `0` (`"{{target}}"` → `"0"`, `{{attempt}}` → `0`).
    fn is_json(&self) -> bool {
        self.0.is_json()
    }

    fn render(&self, ctx: &ActionContext, json_escape: bool) -> String {
        use std::borrow::Cow;
        self.0.render(json_escape, |v| match v {
            Var::Target => Cow::Borrowed(ctx.target.as_str()),
            Var::State => Cow::Borrowed(ctx.state.as_str()),
            Var::Detail => Cow::Borrowed(ctx.detail.as_str()),
            Var::Action => Cow::Borrowed(ctx.action.as_str()),
            Var::IncidentId => {
                Cow::Owned(ctx.incident_id.map(|i| i.to_string()).unwrap_or_default())
            }
            Var::Attempt => Cow::Owned(ctx.attempt.to_string()),
            Var::Rung => Cow::Owned(ctx.rung.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ActionContext {
        ActionContext {
            target: "web".into(),
            incident_id: Some(42),
            state: "failing".into(),
            detail: "body does not contain \"ok\"\n{{target}}".into(),
            rung: 1,
            attempt: 3,
            action: "redeploy".into(),
        }
    }

    #[test]
    fn every_placeholder_is_substituted_once() {
        let t = Template::parse(
            "{{target}}|{{ state }}|{{incident_id}}|{{detail}}|{{attempt}}|{{rung}}|{{action}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&ctx(), false),
            "web|failing|42|body does not contain \"ok\"\n{{target}}|3|1|redeploy"
        );
    }

    #[test]
    fn json_escaping_escapes_quotes_and_newlines() {
        let t = Template::parse(r#"{"d": "{{detail}}"}"#).unwrap();
        let s = t.render(&ctx(), true);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["d"], "body does not contain \"ok\"\n{{target}}");
    }

    #[test]
    fn unknown_placeholders_are_refused_and_unclosed_braces_are_text() {
        let e = Template::parse("{{secret_file}}").unwrap_err();
        assert_eq!(e.key, "body");
        assert!(e.why.contains("secret_file"), "{e}");
        let t = Template::parse("a {{ b").unwrap();
        assert_eq!(t.render(&ctx(), false), "a {{ b");
    }

    #[test]
    fn json_templates_are_recognised() {
        let j = |s: &str| Template::parse(s).unwrap().is_json();
        assert!(j(r#"{"t": "{{target}}", "n": {{attempt}}}"#));
        assert!(j(r#"[{{rung}}, "{{detail}}"]"#));
        assert!(!j("{{target}} {{detail}}"));
        assert!(!j("{{attempt}}"));
        assert!(!j("restart {{target}}"));
    }

    #[test]
    fn missing_incident_id_renders_empty() {
        let t = Template::parse("[{{incident_id}}]").unwrap();
        let c = ActionContext {
            incident_id: None,
            ..ctx()
        };
        assert_eq!(t.render(&c, false), "[]");
    }

    #[test]
    fn debug_output_hides_the_url_path_and_header_values() {
        let cfg: WebhookActionConfig = serde_json::from_value(serde_json::json!({
            "url": "https://hooks.example.com/services/T0/B0/SECRETPATH",
            "headers": {"Authorization": "Bearer SECRETTOKEN"}
        }))
        .unwrap();
        let s = format!("{cfg:?}");
        assert!(!s.contains("SECRET"), "{s}");
        assert!(s.contains("hooks.example.com"));
        let a = WebhookAction::build(&cfg, &HttpClients::new().unwrap()).unwrap();
        assert!(!format!("{a:?}").contains("SECRET"));
    }
}
