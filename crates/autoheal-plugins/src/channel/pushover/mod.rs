//! Pushover: `POST {api_url}/1/messages.json`, form fields `token`, `user`,
//! `message` (≤ 1024 characters), `title` (≤ 250), `url` (≤ 512),
//! `url_title` (≤ 100), `priority`, `timestamp`, `device`, `sound`; plain
//! text (no `html=1`). Pushover answers 200 `{"status": 1, "request"}`;
//! 4xx `{"status": 0, "errors": [...]}` (refused); 429 when the app is over
//! its monthly limit (retried); 5xx retried. A 2xx with `status` other than
//! 1 is a refusal.

mod config;

use std::time::Duration;

pub use config::PushoverConfig;

use super::text::{self, Unit};
use super::{Delivery, Message, Rendered, Severity};
use crate::{BuildError, HttpClients};

/// A built Pushover channel.
pub struct Pushover {
    client: reqwest::Client,
    url: url::Url,
    token: String,
    user: String,
    device: Option<String>,
    sound: Option<String>,
    priority: Option<i8>,
    timeout: Duration,
}

impl std::fmt::Debug for Pushover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushover")
            .field("api", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Pushover {
    pub fn build(cfg: &PushoverConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        super::required("token", &cfg.token)?;
        super::required("user_key", &cfg.user_key)?;
        if let Some(p) = cfg.priority.filter(|p| !(-2..=1).contains(p)) {
            return Err(BuildError::new(
                "priority",
                format!("{p} is not between -2 and 1"),
            ));
        }
        let base = super::base_url("api_url", &cfg.api_url)?;
        Ok(Pushover {
            client: clients.verified().clone(),
            url: super::join(&base, &["1", "messages.json"]),
            token: cfg.token.trim().to_string(),
            user: cfg.user_key.trim().to_string(),
            device: cfg.device.clone(),
            sound: cfg.sound.clone(),
            priority: cfg.priority,
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        vec![self.token.clone(), self.user.clone()]
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        Rendered::Form(self.form(msg))
    }

    fn form(&self, msg: &Message) -> Vec<(String, String)> {
        let priority = self.priority.unwrap_or(match msg.severity {
            Severity::Critical | Severity::Error if !msg.kind.is_good() => 1,
            _ => 0,
        });
        let mut plain = msg.clone();
        plain.title = String::new();
        plain.link = None;
        let message = text::plain_message(&plain, 1024, Unit::Chars);
        let message = message.trim_start_matches('\n');
        let mut form = vec![
            ("token".to_string(), self.token.clone()),
            ("user".to_string(), self.user.clone()),
            (
                "title".to_string(),
                text::fit(&text::one_line(&msg.title, 250), 250, Unit::Chars),
            ),
            (
                "message".to_string(),
                if message.is_empty() {
                    "(no text)".to_string()
                } else {
                    message.to_string()
                },
            ),
            ("priority".to_string(), priority.to_string()),
            (
                "timestamp".to_string(),
                msg.occurred_at.timestamp().to_string(),
            ),
        ];
        if let Some(link) = msg.http_link().filter(|l| l.len() <= 512) {
            form.push(("url".into(), link.to_string()));
            form.push(("url_title".into(), "Open incident".into()));
        }
        if let Some(d) = &self.device {
            form.push(("device".into(), d.clone()));
        }
        if let Some(s) = &self.sound {
            form.push(("sound".into(), s.clone()));
        }
        form
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = super::form(self.client.post(self.url.clone()), &self.form(msg));
        let receiver = super::Receiver {
            check_ok: Some(status_not_1),
            ..Default::default()
        };
        super::send_http_with(req, &msg.event_id, &receiver).await
    }
}

fn status_not_1(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let status = v.get("status")?.as_i64()?;
    (status != 1).then(|| {
        format!(
            "status {status}: {}",
            v.get("errors").map(|e| e.to_string()).unwrap_or_default()
        )
    })
}
