//! Twilio SMS: `POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! Basic auth (SID, auth token), form fields `To`, `From` (or
//! `MessagingServiceSid`) and `Body` (≤ 1600 characters, Twilio's limit;
//! plain text: title, text, fields, targets, link). Twilio answers 201 with
//! the message; 400 `{"code": 21211, "message": ...}` (bad number) and 401
//! `{"code": 20003}` are refused, 429 (`code` 20429) and 5xx retried.

mod config;

use std::time::Duration;

pub use config::TwilioConfig;

use super::text::{self, Unit};
use super::{Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// Twilio's limit of a message body.
pub const BODY_MAX: usize = 1600;

/// A built Twilio channel.
pub struct Twilio {
    client: reqwest::Client,
    url: url::Url,
    sid: String,
    token: String,
    sender: (&'static str, String),
    to: String,
    timeout: Duration,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("api", &crate::redact_parsed_url(&self.url))
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

fn e164(key: &str, v: &str) -> Result<String, BuildError> {
    let v = v.trim();
    let digits = v.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(v.to_string())
    } else {
        Err(BuildError::new(
            key,
            "expected a phone number in E.164 form (+14155550100)",
        ))
    }
}

impl Twilio {
    pub fn build(cfg: &TwilioConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        let sid = cfg.account_sid.trim();
        if !(sid.len() == 34
            && sid.starts_with("AC")
            && sid[2..].chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(BuildError::new(
                "account_sid",
                "expected AC followed by 32 characters",
            ));
        }
        super::required("auth_token", &cfg.auth_token)?;
        let sender = match (&cfg.from, &cfg.messaging_service_sid) {
            (Some(f), None) => ("From", e164("from", f)?),
            (None, Some(m)) if m.trim().starts_with("MG") => {
                ("MessagingServiceSid", m.trim().to_string())
            }
            (None, Some(_)) => {
                return Err(BuildError::new("messaging_service_sid", "expected MG..."))
            }
            _ => {
                return Err(BuildError::new(
                    "from",
                    "give either from or messaging_service_sid",
                ))
            }
        };
        let base = super::base_url("api_url", &cfg.api_url)?;
        Ok(Twilio {
            client: clients.verified().clone(),
            url: super::join(&base, &["2010-04-01", "Accounts", sid, "Messages.json"]),
            sid: sid.to_string(),
            token: cfg.auth_token.trim().to_string(),
            sender,
            to: e164("to", &cfg.to)?,
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.sid, self.token));
        vec![self.token.clone(), basic]
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        Rendered::Form(self.form(msg))
    }

    fn form(&self, msg: &Message) -> Vec<(String, String)> {
        vec![
            ("To".into(), self.to.clone()),
            (self.sender.0.into(), self.sender.1.clone()),
            (
                "Body".into(),
                text::plain_message(msg, BODY_MAX, Unit::Chars),
            ),
        ]
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self
            .client
            .post(self.url.clone())
            .basic_auth(&self.sid, Some(&self.token));
        super::send_http(super::form(req, &self.form(msg)), &msg.event_id).await
    }
}
