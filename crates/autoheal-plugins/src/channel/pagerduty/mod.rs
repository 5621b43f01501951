//! PagerDuty Events API v2: `POST {api_url}/v2/enqueue` with
//! `{routing_key, event_action, dedup_key, payload: {summary, source,
//! severity, timestamp, component, class, custom_details}, client,
//! client_url, links}`. `dedup_key` is the incident
//! (`autoheal-incident-<id>`), so the opening, a failed heal and a
//! quarantine update one PagerDuty incident and the recovery resolves it.
//!
//! - `trigger` on incident_opened, heal_failed, quarantined, dead_letter,
//!   autoheal_degraded and test; `resolve` (just the key) on recovered;
//!   nothing on heal_started and released ([`Delivery::Skipped`]), nor a
//!   resolve without an incident;
//! - PagerDuty answers 202 `{"status": "success", "dedup_key"}`; 400
//!   `{"status": "invalid event", "errors": [...]}` is refused; 429 and 5xx
//!   retried;
//! - `summary` ≤ 1024 characters, `source` and `component` ≤ 255.

mod config;

use std::time::Duration;

pub use config::PagerdutyConfig;
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{AlertAction, Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// A built PagerDuty channel.
pub struct Pagerduty {
    client: reqwest::Client,
    url: url::Url,
    routing_key: String,
    source: String,
    timeout: Duration,
}

impl std::fmt::Debug for Pagerduty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pagerduty")
            .field("api", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Pagerduty {
    pub fn build(cfg: &PagerdutyConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        let key = cfg.routing_key.trim();
        if key.len() != 32 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(BuildError::new(
                "routing_key",
                "expected the 32-character integration key of an Events API v2 integration",
            ));
        }
        super::required("source", &cfg.source)?;
        let base = super::base_url("api_url", &cfg.api_url)?;
        Ok(Pagerduty {
            client: clients.verified().clone(),
            url: super::join(&base, &["v2", "enqueue"]),
            routing_key: key.to_string(),
            source: text::fit(&text::one_line(&cfg.source, 255), 255, Unit::Chars),
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        vec![self.routing_key.clone()]
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        match self.payload(msg) {
            Ok(v) => Rendered::Json(v),
            Err(why) => Rendered::Nothing(why),
        }
    }

    fn payload(&self, msg: &Message) -> Result<Value, String> {
        let key = msg.alert_key();
        match msg.kind.alert_action() {
            AlertAction::None => Err(format!("PagerDuty is not told about {}", msg.kind.as_str())),
            AlertAction::Resolve if msg.incident_id.is_none() => {
                Err("a resolve needs an incident".to_string())
            }
            AlertAction::Resolve => Ok(json!({
                "routing_key": self.routing_key,
                "event_action": "resolve",
                "dedup_key": key,
            })),
            AlertAction::Trigger => {
                let mut summary = text::one_line(&msg.title, 1024);
                if summary.is_empty() {
                    summary = msg.kind.as_str().to_string();
                }
                let fields: serde_json::Map<String, Value> = msg
                    .fields
                    .iter()
                    .take(50)
                    .map(|(k, v)| {
                        (
                            text::fit(k, 256, Unit::Chars),
                            json!(text::fit(v, 4096, Unit::Chars)),
                        )
                    })
                    .collect();
                let mut body = json!({
                    "routing_key": self.routing_key,
                    "event_action": "trigger",
                    "dedup_key": key,
                    "client": "autoheal",
                    "payload": {
                        "summary": summary,
                        "source": self.source,
                        "severity": msg.severity.as_str(),
                        "timestamp": msg.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        "class": msg.kind.as_str(),
                        "custom_details": {
                            "event_id": msg.event_id,
                            "text": text::fit(&msg.text, 8192, Unit::Chars),
                            "targets": msg.targets.iter().take(200).map(|t| text::fit(t, 256, Unit::Chars)).collect::<Vec<_>>(),
                            "fields": fields,
                        },
                    },
                });
                if let Some(first) = msg.targets.first() {
                    body["payload"]["component"] =
                        json!(text::fit(&text::one_line(first, 255), 255, Unit::Chars));
                }
                if let Some(link) = msg.http_link() {
                    body["client_url"] = json!(link);
                    body["links"] = json!([{"href": link, "text": "Incident in autoheal"}]);
                }
                Ok(body)
            }
        }
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        match self.payload(msg) {
            Err(why) => Delivery::Skipped { why },
            Ok(body) => {
                super::send_http(
                    self.client.post(self.url.clone()).json(&body),
                    &msg.event_id,
                )
                .await
            }
        }
    }
}
