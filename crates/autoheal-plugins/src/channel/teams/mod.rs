//! Microsoft Teams workflow webhook: `POST <url>` with
//! `{"type": "message", "attachments": [{"contentType":
//! "application/vnd.microsoft.card.adaptive", "content": <Adaptive Card
//! 1.4>}]}`. The workflow answers 202 Accepted.
//!
//! User text goes in `RichTextBlock` → `TextRun` elements, which render no
//! markdown, so a target's name cannot make a link or bold text; Teams
//! mentions need explicit entities, which are never sent. The card stays
//! under Teams' 28 KB message size even when every character needs JSON
//! escaping: title ≤ 256 bytes, text ≤ 4000, ≤ 15 fields (name ≤ 120,
//! value ≤ 300; the targets ≤ 1000).

mod config;

use std::time::Duration;

pub use config::TeamsConfig;
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// A built Teams channel.
pub struct Teams {
    client: reqwest::Client,
    url: url::Url,
    timeout: Duration,
}

impl std::fmt::Debug for Teams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teams")
            .field("url", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

fn run(text: &str, max: usize) -> Value {
    json!({"type": "TextRun", "text": text::fit(&text::plain(text), max, Unit::Bytes)})
}

impl Teams {
    pub fn build(cfg: &TeamsConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        Ok(Teams {
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
        let color = if msg.kind.is_good() {
            "Good"
        } else {
            match msg.severity {
                super::Severity::Critical | super::Severity::Error => "Attention",
                super::Severity::Warning => "Warning",
                super::Severity::Info => "Default",
            }
        };
        let mut title = run(&text::one_line(&msg.title, 256), 256);
        title["weight"] = json!("Bolder");
        title["size"] = json!("Medium");
        title["color"] = json!(color);
        let mut body = vec![json!({"type": "RichTextBlock", "inlines": [title]})];
        if !msg.text.trim().is_empty() {
            body.push(json!({"type": "RichTextBlock", "inlines": [run(&msg.text, 4000)]}));
        }
        let mut pairs: Vec<(String, String)> = msg.fields.iter().take(15).cloned().collect();
        if !msg.targets.is_empty() {
            pairs.push((
                "Targets".into(),
                text::fit(&msg.targets.join(", "), 1000, Unit::Bytes),
            ));
        }
        for (name, value) in &pairs {
            let mut n = run(&format!("{}: ", text::one_line(name, 100)), 120);
            n["weight"] = json!("Bolder");
            body.push(json!({"type": "RichTextBlock", "inlines": [n, run(value, if name == "Targets" { 1000 } else { 300 })]}));
        }
        let mut meta = run(
            &format!(
                "{} · {}",
                msg.kind.as_str(),
                msg.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            200,
        );
        meta["isSubtle"] = json!(true);
        body.push(json!({"type": "RichTextBlock", "inlines": [meta]}));
        let mut card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        });
        if let Some(link) = msg.http_link().filter(|l| l.len() <= 2000) {
            card["actions"] =
                json!([{"type": "Action.OpenUrl", "title": "Open incident", "url": link}]);
        }
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        })
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self.client.post(self.url.clone()).json(&self.payload(msg));
        super::send_http(req, &msg.event_id).await
    }
}
