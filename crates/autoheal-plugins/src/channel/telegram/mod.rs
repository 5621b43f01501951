//! Telegram: `POST {api_url}/bot<token>/sendMessage` with `{chat_id, text,
//! parse_mode: "HTML", link_preview_options}`. Telegram answers 200
//! `{"ok": true, "result": {...}}`; errors `{"ok": false, "error_code",
//! "description"}` with the same HTTP status (400 `chat not found`, 401 bad
//! token, 403 bot blocked); 429 with `parameters.retry_after` (seconds),
//! obeyed. A 2xx whose body says `"ok": false` is a refusal.
//!
//! The text is HTML with only `<b>` and `<a>` added by autoheal; every user
//! character is escaped (`&lt;`, `&amp;`, ...), and the whole text is at
//! most 4096 UTF-16 units (Telegram's limit), never cutting a tag, an
//! entity or a character.

mod config;

use std::time::Duration;

pub use config::TelegramConfig;
use serde_json::{json, Value};

use super::text::{self, Fit, Unit};
use super::{Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// Telegram's limit of a message's text.
pub const TEXT_MAX: usize = 4096;

/// A built Telegram channel.
pub struct Telegram {
    client: reqwest::Client,
    url: url::Url,
    token: String,
    chat_id: Value,
    message_thread_id: Option<i64>,
    disable_notification: bool,
    timeout: Duration,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("api", &crate::redact_parsed_url(&self.url))
            .field("chat_id", &self.chat_id)
            .finish_non_exhaustive()
    }
}

impl Telegram {
    pub fn build(cfg: &TelegramConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        let token = cfg.bot_token.trim();
        let valid = token.split_once(':').is_some_and(|(id, rest)| {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
        if !valid {
            return Err(BuildError::new(
                "bot_token",
                "expected <digits>:<letters, digits, - and _> as @BotFather gives it",
            ));
        }
        let chat = cfg.chat_id.trim();
        let chat_id = match chat.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) if chat.starts_with('@') && chat.len() > 1 => json!(chat),
            Err(_) => {
                return Err(BuildError::new(
                    "chat_id",
                    "expected a numeric chat id or @channelname",
                ))
            }
        };
        let base = super::base_url("api_url", &cfg.api_url)?;
        Ok(Telegram {
            client: clients.verified().clone(),
            url: super::join(&base, &[&format!("bot{token}"), "sendMessage"]),
            token: token.to_string(),
            chat_id,
            message_thread_id: cfg.message_thread_id,
            disable_notification: cfg.disable_notification,
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

    /// The HTML text (see the module docs).
    pub fn text(msg: &Message) -> String {
        let mut f = Fit::new(TEXT_MAX, Unit::Chars, &text::esc_html);
        f.wrapped("<b>", &text::one_line(&msg.title, 256), "</b>", 256);
        if !msg.text.trim().is_empty() {
            f.raw("\n");
            f.text(&text::plain(&msg.text), 3000);
        }
        for (name, value) in &msg.fields {
            if !f.raw("\n") {
                break;
            }
            f.wrapped(
                "<b>",
                &format!("{}:", text::one_line(name, 100)),
                "</b> ",
                110,
            );
            f.text(&text::plain(value), 1024);
        }
        if !msg.targets.is_empty() && f.raw("\n") {
            f.wrapped("<b>", "Targets:", "</b> ", 20);
            f.text(&text::one_line(&msg.targets.join(", "), 2048), 1024);
        }
        if let Some(link) = msg.http_link() {
            let open = format!("\n<a href=\"{}\">", text::html(link));
            f.wrapped(&open, "Open incident", "</a>", 20);
        }
        f.finish()
    }

    fn payload(&self, msg: &Message) -> Value {
        let mut body = json!({
            "chat_id": self.chat_id,
            "text": Self::text(msg),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
            "disable_notification": self.disable_notification,
        });
        if let Some(t) = self.message_thread_id {
            body["message_thread_id"] = json!(t);
        }
        body
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self.client.post(self.url.clone()).json(&self.payload(msg));
        let receiver = super::Receiver {
            check_ok: Some(not_ok),
            ..Default::default()
        };
        super::send_http_with(req, &msg.event_id, &receiver).await
    }
}

/// `{"ok": false, "description": ...}` in a 2xx.
fn not_ok(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    (v.get("ok") == Some(&Value::Bool(false))).then(|| {
        v.get("description")
            .and_then(Value::as_str)
            .unwrap_or("ok: false")
            .to_string()
    })
}
