//! Gotify: `POST {server}/message` with `X-Gotify-Key: <app token>` and
//! JSON `{title, message, priority, extras}`; `extras` says the content is
//! plain text and where a click goes. Gotify answers 200 with the message;
//! 401/403 for a bad token (refused, not retried). The message is at most
//! 16000 characters, the title 256.

mod config;

use std::time::Duration;

pub use config::GotifyConfig;
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{Delivery, Message, Rendered, Severity};
use crate::{BuildError, HttpClients};

/// A built Gotify channel.
pub struct Gotify {
    client: reqwest::Client,
    url: url::Url,
    key: reqwest::header::HeaderValue,
    token: String,
    priority: Option<u8>,
    timeout: Duration,
}

impl std::fmt::Debug for Gotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gotify")
            .field("server", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Gotify {
    pub fn build(cfg: &GotifyConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        super::required("token", &cfg.token)?;
        if let Some(p) = cfg.priority.filter(|p| *p > 10) {
            return Err(BuildError::new(
                "priority",
                format!("{p} is not between 0 and 10"),
            ));
        }
        let base = super::base_url("server", &cfg.server)?;
        Ok(Gotify {
            client: clients.verified().clone(),
            url: super::join(&base, &["message"]),
            key: super::secret_header("token", cfg.token.trim())?,
            token: cfg.token.trim().to_string(),
            priority: cfg.priority,
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        Rendered::Json(self.payload(msg))
    }

    fn payload(&self, msg: &Message) -> Value {
        let priority = self.priority.unwrap_or(match msg.severity {
            _ if msg.kind.is_good() => 4,
            Severity::Critical => 10,
            Severity::Error => 8,
            Severity::Warning => 6,
            Severity::Info => 4,
        });
        let mut plain = msg.clone();
        plain.title = String::new();
        let message = text::plain_message(&plain, 16_000, Unit::Chars);
        let mut extras = json!({"client::display": {"contentType": "text/plain"}});
        if let Some(link) = msg.http_link() {
            extras["client::notification"] = json!({"click": {"url": link}});
        }
        json!({
            "title": text::fit(&text::one_line(&msg.title, 256), 256, Unit::Chars),
            "message": message.trim_start_matches('\n'),
            "priority": priority,
            "extras": extras,
        })
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self
            .client
            .post(self.url.clone())
            .header("x-gotify-key", self.key.clone())
            .json(&self.payload(msg));
        super::send_http(req, &msg.event_id).await
    }
}
