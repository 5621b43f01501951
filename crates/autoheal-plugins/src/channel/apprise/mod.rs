//! The Apprise API: `POST {url}/notify` (stateless, with `urls`) or
//! `POST {url}/notify/{key}` (a saved configuration) with JSON `{title,
//! body, type: info|success|warning|failure, format: "text"}` (and `urls`,
//! `tag`). Apprise answers 200 when every service took it; 424 Failed
//! Dependency when one or more services failed, which is retried; 400 for a
//! bad request and 204 when nothing matched the tag, which is treated as
//! sent (Apprise did its part). `type` is `failure` for critical and error,
//! `warning` for warnings, `success` for recoveries, else `info`. Title ≤
//! 250 characters, body ≤ 32000.

mod config;

use std::time::Duration;

pub use config::AppriseConfig;
use serde_json::{json, Value};

use super::text::{self, Unit};
use super::{Delivery, Message, Rendered, Severity};
use crate::{BuildError, HttpClients};

/// A built Apprise channel.
pub struct Apprise {
    client: reqwest::Client,
    url: url::Url,
    urls: Option<String>,
    tag: Option<String>,
    secrets: Vec<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Apprise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apprise")
            .field("url", &crate::redact_parsed_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Apprise {
    pub fn build(cfg: &AppriseConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        let given = crate::parse_http_url("url", &cfg.url)?;
        let full = given
            .path_segments()
            .is_some_and(|mut s| s.any(|p| p == "notify"));
        let url =
            match (&cfg.key, &cfg.urls) {
                (Some(_), Some(_)) => {
                    return Err(BuildError::new("key", "give either key or urls, not both"))
                }
                _ if full && cfg.key.is_some() => {
                    return Err(BuildError::new(
                        "key",
                        "the url already names a notify endpoint",
                    ))
                }
                _ if full => given,
                (Some(k), None) => {
                    super::required("key", k)?;
                    super::join(&super::base_url("url", &cfg.url)?, &["notify", k.trim()])
                }
                (None, Some(_)) => super::join(&super::base_url("url", &cfg.url)?, &["notify"]),
                (None, None) => return Err(BuildError::new(
                    "key",
                    "give a key (a saved configuration) or urls, or a url ending in /notify/{key}",
                )),
            };
        let mut secrets = super::url_secrets(&url);
        secrets.extend(cfg.key.iter().map(|k| k.trim().to_string()));
        secrets.extend(cfg.urls.clone());
        Ok(Apprise {
            client: clients.verified().clone(),
            url,
            urls: cfg.urls.clone(),
            tag: cfg.tag.clone(),
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
        let kind = match msg.severity {
            _ if msg.kind.is_good() => "success",
            Severity::Critical | Severity::Error => "failure",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let mut plain = msg.clone();
        plain.title = String::new();
        let body = text::plain_message(&plain, 32_000, Unit::Chars);
        let body = body.trim_start_matches('\n');
        let mut v = json!({
            "title": text::fit(&text::one_line(&msg.title, 250), 250, Unit::Chars),
            "body": if body.is_empty() { "(no text)" } else { body },
            "type": kind,
            "format": "text",
        });
        if let Some(u) = &self.urls {
            v["urls"] = json!(u);
        }
        if let Some(t) = &self.tag {
            v["tag"] = json!(t);
        }
        v
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self.client.post(self.url.clone()).json(&self.payload(msg));
        let receiver = super::Receiver {
            retry_statuses: &[424],
            ..Default::default()
        };
        super::send_http_with(req, &msg.event_id, &receiver).await
    }
}
