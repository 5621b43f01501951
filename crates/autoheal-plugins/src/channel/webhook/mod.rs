//! Generic webhook: `POST` (or `PUT`) `<url>` with a JSON body the user
//! shapes, `Content-Type: application/json`, and the event id in both
//! `Idempotency-Key` and `X-Autoheal-Event-Id`.
//!
//! The body is one of:
//! - a template (`body`) with plain placeholder substitution:
//!   `{{event_id}}`, `{{kind}}`, `{{severity}}`, `{{title}}`, `{{text}}`,
//!   `{{targets}}` (comma-separated), `{{incident_id}}` (empty when none),
//!   `{{occurred_at}}` (RFC 3339), `{{link}}` (empty when none),
//!   `{{fields}}` (`name: value` lines); every value is inserted
//!   JSON-string-escaped, so write placeholders inside quotes:
//!   `{"msg": "{{title}}: {{text}}"}`. The template must be a JSON object or
//!   array (checked at build) and any other placeholder is refused;
//! - `preset = "docker_autoheal"`: `{"<key>": "<text>"}`, docker-autoheal's
//!   `WEBHOOK_URL` message (`key` default `text`);
//! - `preset = "uptime_kuma"`: Uptime Kuma's webhook body `{heartbeat:
//!   {status: 0 (down) | 1 (up), time, msg, important}, monitor: {name},
//!   msg}` (`heartbeat: null` for a test, as Kuma sends it);
//! - neither: the [`Message`] itself as JSON.
//!
//! 2xx is delivered; the common rules apply otherwise. Text values are cut
//! at 64 KiB.

mod config;

use std::borrow::Cow;
use std::time::Duration;

pub use config::{Preset, WebhookConfig};
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{Delivery, Message, Rendered};
use crate::template::Template;
use crate::{BuildError, HttpClients};

/// The longest text value sent.
const VALUE_MAX: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    EventId,
    Kind,
    Severity,
    Title,
    Text,
    Targets,
    IncidentId,
    OccurredAt,
    Link,
    Fields,
}

const VARS: &[(&str, Var)] = &[
    ("event_id", Var::EventId),
    ("kind", Var::Kind),
    ("severity", Var::Severity),
    ("title", Var::Title),
    ("text", Var::Text),
    ("targets", Var::Targets),
    ("incident_id", Var::IncidentId),
    ("occurred_at", Var::OccurredAt),
    ("link", Var::Link),
    ("fields", Var::Fields),
];

enum Body {
    Template(Template<Var>),
    DockerAutoheal(String),
    UptimeKuma,
    Message,
}

/// A built generic webhook channel.
pub struct Webhook {
    client: reqwest::Client,
    url: url::Url,
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    secrets: Vec<String>,
    body: Body,
    timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn build(cfg: &WebhookConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        let url = crate::parse_http_url("url", &cfg.url)?;
        let method = match cfg.method.to_ascii_uppercase().as_str() {
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            other => {
                return Err(BuildError::new(
                    "method",
                    format!("{other:?}: expected POST or PUT"),
                ))
            }
        };
        let headers = crate::build_headers("headers", &cfg.headers)?;
        if cfg.key.is_some() && cfg.preset != Some(Preset::DockerAutoheal) {
            return Err(BuildError::new(
                "key",
                "only with preset = \"docker_autoheal\"",
            ));
        }
        let body = match (&cfg.body, cfg.preset) {
            (Some(_), Some(_)) => {
                return Err(BuildError::new(
                    "body",
                    "give either body or preset, not both",
                ))
            }
            (Some(src), None) => {
                let t = Template::parse("body", src, VARS)?;
                if !t.is_json() {
                    return Err(BuildError::new(
                        "body",
                        "must be a JSON object or array (placeholders inside quotes: \"{{text}}\")",
                    ));
                }
                Body::Template(t)
            }
            (None, Some(Preset::DockerAutoheal)) => {
                let key = cfg.key.clone().unwrap_or_else(|| "text".into());
                super::required("key", &key)?;
                Body::DockerAutoheal(key)
            }
            (None, Some(Preset::UptimeKuma)) => Body::UptimeKuma,
            (None, None) => Body::Message,
        };
        let mut secrets: Vec<String> = cfg.headers.values().cloned().collect();
        // "Bearer <token>": the token alone too.
        secrets.extend(
            cfg.headers
                .values()
                .flat_map(|v| v.split_whitespace())
                .filter(|w| w.len() >= 8)
                .map(str::to_string),
        );
        secrets.extend(super::url_secrets(&url));
        Ok(Webhook {
            client: clients.verified().clone(),
            url,
            method,
            headers,
            secrets,
            body,
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| s.len() > 1)
            .cloned()
            .collect()
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        Rendered::Json(self.payload(msg))
    }

    /// The body as text (a template's substitution is text, kept as the
    /// user wrote it).
    fn body_text(&self, msg: &Message) -> String {
        let fit = |s: &str| text::fit(s, VALUE_MAX, Unit::Bytes);
        match &self.body {
            Body::Template(t) => t.render(true, |v| match v {
                Var::EventId => Cow::Owned(fit(&msg.event_id)),
                Var::Kind => Cow::Borrowed(msg.kind.as_str()),
                Var::Severity => Cow::Borrowed(msg.severity.as_str()),
                Var::Title => Cow::Owned(fit(&msg.title)),
                Var::Text => Cow::Owned(fit(&msg.text)),
                Var::Targets => Cow::Owned(fit(&msg.targets.join(", "))),
                Var::IncidentId => {
                    Cow::Owned(msg.incident_id.map(|i| i.to_string()).unwrap_or_default())
                }
                Var::OccurredAt => Cow::Owned(
                    msg.occurred_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                Var::Link => Cow::Owned(msg.http_link().map(fit).unwrap_or_default()),
                Var::Fields => Cow::Owned(fit(&msg
                    .fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("\n"))),
            }),
            _ => self.payload(msg).to_string(),
        }
    }

    fn payload(&self, msg: &Message) -> Value {
        let fit = |s: &str| text::fit(s, VALUE_MAX, Unit::Bytes);
        match &self.body {
            Body::Template(_) => serde_json::from_str(&self.body_text(msg)).unwrap_or(Value::Null),
            Body::DockerAutoheal(key) => json!({ key.as_str(): fit(&msg.text) }),
            Body::UptimeKuma => {
                let name = msg
                    .targets
                    .first()
                    .cloned()
                    .unwrap_or_else(|| msg.title.clone());
                let up = msg.kind.is_good();
                let text = fit(&msg.text);
                let heartbeat = if msg.kind == super::MessageKind::Test {
                    Value::Null
                } else {
                    json!({
                        "status": if up { 1 } else { 0 },
                        "time": msg.occurred_at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                        "msg": text,
                        "important": true,
                    })
                };
                json!({
                    "heartbeat": heartbeat,
                    "monitor": {"name": fit(&name), "type": "autoheal", "url": msg.http_link()},
                    "msg": format!("[{}] [{}] {}", fit(&name), if up { "✅ Up" } else { "🔴 Down" }, text),
                })
            }
            Body::Message => {
                let mut m = msg.clone();
                m.text = fit(&m.text);
                m.title = fit(&m.title);
                serde_json::to_value(&m).unwrap_or(Value::Null)
            }
        }
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let mut req = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.body_text(msg));
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&msg.event_id) {
            req = req.header("idempotency-key", v);
        }
        super::send_http(req, &msg.event_id).await
    }
}
