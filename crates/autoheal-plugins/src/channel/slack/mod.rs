//! Slack incoming webhook: `POST <url>` with `text` (the notification's
//! fallback) and `blocks` (header, section, fields, context). Slack answers
//! a plain `ok`; errors are 4xx with a short text (`invalid_payload`,
//! `channel_not_found`, ...), refused; 410 `channel_is_archived` and 404
//! `no_service`/`no_team` (the webhook was removed) are
//! [`Delivery::Gone`]; 429 with `Retry-After`.
//!
//! Limits: header 150 characters, a section's text 3000, at most 10 fields
//! of 2000 each; `text` kept under 3000. User text goes in `plain_text`
//! objects (no mrkdwn), the fallback `text` with `mrkdwn: false` and `&`,
//! `<`, `>` escaped, so nothing forms a mention (`<!everyone>`) or a link.

mod config;

use std::time::Duration;

pub use config::SlackConfig;
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// A built Slack channel.
pub struct Slack {
    client: reqwest::Client,
    url: url::Url,
    timeout: Duration,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("url", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

fn plain(text: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": text::fit(text, max, Unit::Chars), "emoji": true})
}

impl Slack {
    pub fn build(cfg: &SlackConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        Ok(Slack {
            client: clients.verified().clone(),
            url: crate::parse_http_url("url", &cfg.url)?,
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        super::url_secrets(&self.url)
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        Rendered::Json(self.payload(msg))
    }

    fn payload(&self, msg: &Message) -> Value {
        let title = text::one_line(&text::plain(&msg.title), 150);
        let mut blocks = vec![
            json!({"type": "header", "text": plain(if title.is_empty() { "autoheal" } else { &title }, 150)}),
        ];
        let body = text::plain(&msg.text);
        if !body.trim().is_empty() {
            blocks.push(json!({"type": "section", "text": plain(&body, 3000)}));
        }
        let mut fields: Vec<Value> = msg
            .fields
            .iter()
            .take(9)
            .map(|(k, v)| plain(&text::plain(&format!("{k}: {v}")), 2000))
            .collect();
        if !msg.targets.is_empty() {
            fields.push(plain(
                &text::one_line(&format!("Targets: {}", msg.targets.join(", ")), 2000),
                2000,
            ));
        }
        if !fields.is_empty() {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        let mut context = format!(
            "{} · {}",
            msg.kind.as_str(),
            msg.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if let Some(link) = msg.http_link() {
            let mut l = String::new();
            link.chars()
                .filter(|c| *c != '|')
                .for_each(|c| text::esc_slack(c, &mut l));
            context = format!("{context} · <{l}|Open incident>");
        }
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text::fit(&context, 3000, Unit::Chars)}]}));
        let fallback = text::plain_message(msg, 6000, Unit::Chars);
        let fallback = text::escape_fit(&fallback, 3000, Unit::Chars, text::esc_slack);
        json!({"text": fallback, "mrkdwn": false, "blocks": blocks})
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self.client.post(self.url.clone()).json(&self.payload(msg));
        let receiver = super::Receiver {
            gone: Some(removed),
            ..Default::default()
        };
        super::send_http_with(req, &msg.event_id, &receiver).await
    }
}

/// 404 `no_service` / `no_team`: the webhook (or its workspace) was removed.
fn removed(status: u16, body: &[u8]) -> bool {
    status == 404 && matches!(body.trim_ascii(), b"no_service" | b"no_team")
}
