//! Discord webhook: `POST <url>?wait=true` with `content` and one embed.
//! Discord answers 200 with the message (thanks to `wait=true`); 429 with
//! JSON `{"message", "retry_after": <float s>, "global"}`, `Retry-After`
//! and `X-RateLimit-Reset-After`, all obeyed; a 400 with code 50035 when a
//! limit is exceeded (never, see below); 404 `Unknown Webhook` (code 10015)
//! when the webhook was deleted, taken as [`Delivery::Gone`].
//!
//! Limits kept: `content` ≤ 2000, embed title ≤ 256, description ≤ 4096,
//! ≤ 25 fields (name ≤ 256, value ≤ 1024), footer ≤ 2048, and all embed text
//! together ≤ 6000 (counted in UTF-16 units, never cutting a character or
//! an escape). Markdown characters are backslash-escaped and
//! `allowed_mentions` is empty, so `@everyone`, `<@id>` and `**x**` in a
//! target's name stay text.

mod config;

use std::time::Duration;

pub use config::DiscordConfig;
use serde_json::{json, Value};

use super::text::{self, Fit, Unit};
use super::{Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// All embed text together.
const EMBED_TOTAL: usize = 6000;

/// A built Discord channel.
pub struct Discord {
    client: reqwest::Client,
    url: url::Url,
    username: Option<String>,
    avatar_url: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord")
            .field("url", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

fn md(s: &str, max: usize) -> String {
    text::escape_fit(&text::plain(s), max, Unit::Chars, text::esc_discord)
}

/// Red for trouble, green for good news, grey for tests.
fn color(msg: &Message) -> u32 {
    use super::{MessageKind as K, Severity as S};
    match (msg.kind, msg.severity) {
        (K::Test, _) => 0x95a5a6,
        (k, _) if k.is_good() => 0x2ecc71,
        (_, S::Critical | S::Error) => 0xe74c3c,
        (_, S::Warning) => 0xf1c40f,
        _ => 0x3498db,
    }
}

impl Discord {
    pub fn build(cfg: &DiscordConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        let mut url = crate::parse_http_url("url", &cfg.url)?;
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "wait")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("wait", "true");
        if let Some(a) = &cfg.avatar_url {
            crate::parse_http_url("avatar_url", a)?;
        }
        Ok(Discord {
            client: clients.verified().clone(),
            url,
            username: cfg
                .username
                .as_deref()
                .map(|u| text::fit(&text::one_line(u, 80), 80, Unit::Chars)),
            avatar_url: cfg.avatar_url.clone(),
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
        let title = md(&text::one_line(&msg.title, 256), 256);
        let footer = text::fit(
            &format!(
                "autoheal · {} · {}",
                msg.kind.as_str(),
                text::one_line(&msg.event_id, 100)
            ),
            200,
            Unit::Chars,
        );
        let mut left = EMBED_TOTAL - Unit::Chars.len(&title) - Unit::Chars.len(&footer);
        let description = md(&msg.text, 4096.min(left.saturating_sub(1500).max(left / 2)));
        left -= Unit::Chars.len(&description);
        let mut fields = Vec::new();
        let mut pairs: Vec<(String, String)> = msg.fields.clone();
        if !msg.targets.is_empty() {
            pairs.push(("Targets".into(), msg.targets.join(", ")));
        }
        for (name, value) in pairs.iter().take(25) {
            let name = md(&text::one_line(name, 256), 256.min(left));
            let name_len = Unit::Chars.len(&name);
            if name.is_empty() || name_len + 2 > left {
                break;
            }
            let value = md(value, 1024.min(left - name_len));
            if value.is_empty() {
                break;
            }
            left -= name_len + Unit::Chars.len(&value);
            fields.push(json!({"name": name, "value": value, "inline": false}));
        }
        let mut embed = json!({
            "title": title,
            "color": color(msg),
            "footer": {"text": footer},
            "timestamp": msg.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        if !description.is_empty() {
            embed["description"] = json!(description);
        }
        if !fields.is_empty() {
            embed["fields"] = json!(fields);
        }
        if let Some(link) = msg.http_link().filter(|l| l.len() <= 2000) {
            embed["url"] = json!(link);
        }
        let mut content = Fit::new(2000, Unit::Chars, &text::esc_discord);
        content.text(&text::one_line(&text::plain(&msg.title), 2000), 2000);
        let mut body = json!({
            "content": content.finish(),
            "embeds": [embed],
            "allowed_mentions": {"parse": []},
        });
        if let Some(u) = &self.username {
            body["username"] = json!(u);
        }
        if let Some(a) = &self.avatar_url {
            body["avatar_url"] = json!(a);
        }
        body
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self.client.post(self.url.clone()).json(&self.payload(msg));
        let receiver = super::Receiver {
            gone: Some(unknown_webhook),
            ..Default::default()
        };
        super::send_http_with(req, &msg.event_id, &receiver).await
    }
}

/// 404 `{"message": "Unknown Webhook", "code": 10015}`: the webhook was deleted.
fn unknown_webhook(status: u16, body: &[u8]) -> bool {
    status == 404
        && serde_json::from_slice::<Value>(body)
            .is_ok_and(|v| v.get("code").and_then(Value::as_u64) == Some(10015))
}
