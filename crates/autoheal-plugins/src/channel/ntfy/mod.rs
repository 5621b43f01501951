//! ntfy: `POST {server}/` with JSON `{topic, message, title, tags,
//! priority, click}` (ntfy's JSON publishing), `Authorization: Bearer tk_...`
//! or Basic. ntfy answers 200 with the message as JSON; 429 when the
//! visitor's rate limit is hit; 401/403 for bad credentials or a topic not
//! allowed. Markdown is off (plain text); the message is at most 4096
//! bytes (ntfy's default message limit; larger ones would become
//! attachments), the title 256 characters.

mod config;

use std::time::Duration;

pub use config::NtfyConfig;
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{Delivery, Message, MessageKind, Rendered, Severity};
use crate::{BuildError, HttpClients};

/// ntfy's default message size limit (bytes).
pub const MESSAGE_MAX: usize = 4096;

/// A built ntfy channel.
pub struct Ntfy {
    client: reqwest::Client,
    url: url::Url,
    topic: String,
    priority: Option<u8>,
    tags: Vec<String>,
    auth: Option<reqwest::header::HeaderValue>,
    secrets: Vec<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Ntfy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ntfy")
            .field("server", &crate::redact_parsed_url(&self.url))
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Ntfy {
    pub fn build(cfg: &NtfyConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        use base64::Engine as _;
        super::check_timeout(cfg.timeout)?;
        let url = super::base_url("server", &cfg.server)?;
        let topic = cfg.topic.trim();
        if topic.is_empty()
            || topic.len() > 64
            || !topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(BuildError::new(
                "topic",
                "expected 1-64 letters, digits, - or _",
            ));
        }
        if let Some(p) = cfg.priority.filter(|p| !(1..=5).contains(p)) {
            return Err(BuildError::new(
                "priority",
                format!("{p} is not between 1 and 5"),
            ));
        }
        let mut secrets = Vec::new();
        let auth = match (&cfg.token, &cfg.username, &cfg.password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(BuildError::new(
                    "token",
                    "give either token or username and password, not both",
                ))
            }
            (Some(t), None, None) => {
                super::required("token", t)?;
                secrets.push(t.clone());
                Some(super::secret_header(
                    "token",
                    &format!("Bearer {}", t.trim()),
                )?)
            }
            (None, Some(u), Some(p)) => {
                secrets.push(p.clone());
                let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                secrets.push(b.clone());
                Some(super::secret_header("password", &format!("Basic {b}"))?)
            }
            (None, Some(_), None) => {
                return Err(BuildError::new("password", "required with username"))
            }
            (None, None, Some(_)) => {
                return Err(BuildError::new("username", "required with password"))
            }
            (None, None, None) => None,
        };
        Ok(Ntfy {
            client: clients.verified().clone(),
            url,
            topic: topic.to_string(),
            priority: cfg.priority,
            tags: cfg.tags.clone(),
            auth,
            secrets,
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        Rendered::Json(self.payload(msg))
    }

    fn payload(&self, msg: &Message) -> Value {
        let priority = self.priority.unwrap_or(match msg.severity {
            Severity::Critical => 5,
            Severity::Error | Severity::Warning if !msg.kind.is_good() => 4,
            _ => 3,
        });
        let mut tags = vec![match msg.kind {
            k if k.is_good() => "white_check_mark",
            MessageKind::Test => "test_tube",
            MessageKind::HealStarted => "wrench",
            _ => "rotating_light",
        }
        .to_string()];
        tags.extend(self.tags.iter().cloned());
        let mut plain = msg.clone();
        plain.title = String::new();
        plain.link = None;
        let message = text::plain_message(&plain, MESSAGE_MAX, Unit::Bytes);
        let message = message.trim_start_matches('\n');
        let mut body = json!({
            "topic": self.topic,
            "title": text::fit(&text::one_line(&msg.title, 256), 256, Unit::Chars),
            "message": if message.is_empty() { "(no text)" } else { message },
            "priority": priority,
            "tags": tags,
        });
        if let Some(link) = msg.http_link() {
            body["click"] = json!(link);
        }
        body
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let mut req = self.client.post(self.url.clone()).json(&self.payload(msg));
        if let Some(a) = &self.auth {
            req = req.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        super::send_http(req, &msg.event_id).await
    }
}
