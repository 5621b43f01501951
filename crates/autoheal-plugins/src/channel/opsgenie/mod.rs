//! Opsgenie: create an alert (`POST {base}/v2/alerts` with `{message,
//! alias, description, tags, details, entity, source, priority}`) and close
//! it (`POST {base}/v2/alerts/{alias}/close?identifierType=alias` with
//! `{source, note}`), with `Authorization: GenieKey <key>`. The alias is
//! the incident (`autoheal-incident-<id>`): Opsgenie deduplicates creates
//! with the same alias while the alert is open, and the recovery closes it.
//! Same kinds as PagerDuty (see [`crate::channel::MessageKind::alert_action`]).
//!
//! Opsgenie answers 202 `{"result": "Request will be processed",
//! "requestId"}` (processing is asynchronous); 422/400 refused, 429 and 5xx
//! retried. Limits kept: message 130 characters, alias 512, description
//! 15000, ≤ 20 tags of ≤ 50, details ≤ 8000 characters in all, entity 512,
//! source 100, note 25000. Priority: critical P1, error P2, warning P3,
//! info P5.

mod config;

use std::time::Duration;

pub use config::{OpsgenieConfig, Region};
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{AlertAction, Delivery, Message, Rendered, Severity};
use crate::{BuildError, HttpClients};

/// A built Opsgenie channel.
pub struct Opsgenie {
    client: reqwest::Client,
    base: url::Url,
    auth: reqwest::header::HeaderValue,
    key: String,
    tags: Vec<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Opsgenie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opsgenie")
            .field("api", &crate::redact_parsed_url(&self.base))
            .finish_non_exhaustive()
    }
}

/// What one message becomes.
enum Call {
    Create(Value),
    Close(String, Value),
}

impl Opsgenie {
    pub fn build(cfg: &OpsgenieConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        super::required("api_key", &cfg.api_key)?;
        let base = match (&cfg.api_url, cfg.region) {
            (Some(u), _) => super::base_url("api_url", u)?,
            (None, Region::Us) => super::base_url("api_url", "https://api.opsgenie.com")?,
            (None, Region::Eu) => super::base_url("api_url", "https://api.eu.opsgenie.com")?,
        };
        if cfg.tags.len() > 20 {
            return Err(BuildError::new("tags", "at most 20 tags"));
        }
        if let Some(t) = cfg
            .tags
            .iter()
            .find(|t| t.is_empty() || t.chars().count() > 50)
        {
            return Err(BuildError::new(
                "tags",
                format!("{t:?}: a tag is 1-50 characters"),
            ));
        }
        Ok(Opsgenie {
            client: clients.verified().clone(),
            base,
            auth: super::secret_header("api_key", &format!("GenieKey {}", cfg.api_key.trim()))?,
            key: cfg.api_key.trim().to_string(),
            tags: cfg.tags.clone(),
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        vec![self.key.clone()]
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        match self.call(msg) {
            Ok(Call::Create(v) | Call::Close(_, v)) => Rendered::Json(v),
            Err(why) => Rendered::Nothing(why),
        }
    }

    fn call(&self, msg: &Message) -> Result<Call, String> {
        let alias = text::fit(&msg.alert_key(), 512, Unit::Chars);
        match msg.kind.alert_action() {
            AlertAction::None => Err(format!("Opsgenie is not told about {}", msg.kind.as_str())),
            AlertAction::Resolve if msg.incident_id.is_none() => {
                Err("a close needs an incident".to_string())
            }
            AlertAction::Resolve => Ok(Call::Close(
                alias,
                json!({
                    "source": "autoheal",
                    "note": text::fit(&text::plain_message(msg, 25_000, Unit::Chars), 25_000, Unit::Chars),
                }),
            )),
            AlertAction::Trigger => {
                let mut message = text::one_line(&msg.title, 130);
                if message.is_empty() {
                    message = msg.kind.as_str().to_string();
                }
                let mut tags: Vec<String> = vec!["autoheal".into(), msg.kind.as_str().into()];
                tags.extend(self.tags.iter().cloned());
                tags.truncate(20);
                let mut details = serde_json::Map::new();
                let mut left = 8000usize;
                let mut add = |k: &str, v: &str| {
                    let k = text::fit(k, 100, Unit::Chars);
                    let room = left.saturating_sub(Unit::Chars.len(&k));
                    if room < 2 {
                        return;
                    }
                    let v = text::fit(v, room.min(2000), Unit::Chars);
                    left -= Unit::Chars.len(&k) + Unit::Chars.len(&v);
                    details.insert(k, json!(v));
                };
                add("event_id", &msg.event_id);
                add("kind", msg.kind.as_str());
                if let Some(l) = msg.http_link() {
                    add("link", l);
                }
                for (k, v) in &msg.fields {
                    add(k, v);
                }
                if !msg.targets.is_empty() {
                    add("targets", &msg.targets.join(", "));
                }
                let priority = match msg.severity {
                    Severity::Critical => "P1",
                    Severity::Error => "P2",
                    Severity::Warning => "P3",
                    Severity::Info => "P5",
                };
                let mut body = json!({
                    "message": message,
                    "alias": alias,
                    "description": text::fit(&text::plain_message(msg, 15_000, Unit::Chars), 15_000, Unit::Chars),
                    "tags": tags,
                    "details": details,
                    "source": "autoheal",
                    "priority": priority,
                });
                if !msg.targets.is_empty() {
                    body["entity"] = json!(text::fit(
                        &text::one_line(&msg.targets.join(", "), 512),
                        512,
                        Unit::Chars
                    ));
                }
                Ok(Call::Create(body))
            }
        }
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = match self.call(msg) {
            Err(why) => return Delivery::Skipped { why },
            Ok(Call::Create(body)) => self
                .client
                .post(super::join(&self.base, &["v2", "alerts"]))
                .json(&body),
            Ok(Call::Close(alias, body)) => {
                let mut url = super::join(&self.base, &["v2", "alerts", &alias, "close"]);
                url.query_pairs_mut().append_pair("identifierType", "alias");
                self.client.post(url).json(&body)
            }
        };
        super::send_http(
            req.header(reqwest::header::AUTHORIZATION, self.auth.clone()),
            &msg.event_id,
        )
        .await
    }
}
