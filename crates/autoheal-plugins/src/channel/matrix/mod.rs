//! Matrix: `PUT {homeserver}/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`
//! with `Authorization: Bearer <token>`; the txnId is the message's event
//! id, so a retried send is deduplicated by the homeserver itself. The body
//! is `{msgtype: "m.notice", body, format: "org.matrix.custom.html",
//! formatted_body, "m.mentions": {}}`: the HTML part escapes every user
//! character, and the empty `m.mentions` stops `@room` in a target's name
//! from pinging anyone. The homeserver answers 200 `{"event_id"}`; 429
//! `{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms"}` (obeyed); 401
//! `M_UNKNOWN_TOKEN`, 403 `M_FORBIDDEN` (not in the room) are refusals.
//! The event stays under Matrix's 64 KiB: `body` ≤ 12000 bytes (before
//! JSON escaping), `formatted_body` ≤ 32000.

mod config;

use std::time::Duration;

pub use config::MatrixConfig;
use serde_json::{json, Value};

use super::text::{self, Fit, Unit};
use super::{Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// A built Matrix channel.
pub struct Matrix {
    client: reqwest::Client,
    base: url::Url,
    room_id: String,
    auth: reqwest::header::HeaderValue,
    token: String,
    msgtype: &'static str,
    timeout: Duration,
}

impl std::fmt::Debug for Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matrix")
            .field("homeserver", &crate::redact_parsed_url(&self.base))
            .field("room_id", &self.room_id)
            .finish_non_exhaustive()
    }
}

impl Matrix {
    pub fn build(cfg: &MatrixConfig, clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        super::required("access_token", &cfg.access_token)?;
        let room = cfg.room_id.trim();
        if !room.starts_with('!') || !room.contains(':') {
            return Err(BuildError::new(
                "room_id",
                "expected a room id such as !abcdef:example.org (Room settings → Advanced)",
            ));
        }
        Ok(Matrix {
            client: clients.verified().clone(),
            base: super::base_url("homeserver", &cfg.homeserver)?,
            room_id: room.to_string(),
            auth: super::secret_header(
                "access_token",
                &format!("Bearer {}", cfg.access_token.trim()),
            )?,
            token: cfg.access_token.trim().to_string(),
            msgtype: if cfg.msgtype_text {
                "m.text"
            } else {
                "m.notice"
            },
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }

    /// Where a message is sent: its event id is the transaction id.
    pub fn url_for(&self, msg: &Message) -> url::Url {
        super::join(
            &self.base,
            &[
                "_matrix",
                "client",
                "v3",
                "rooms",
                &self.room_id,
                "send",
                "m.room.message",
                &msg.event_id,
            ],
        )
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        Rendered::Json(self.payload(msg))
    }

    fn payload(&self, msg: &Message) -> Value {
        let body = text::plain_message(msg, 12_000, Unit::Bytes);
        let mut html = Fit::new(32_000, Unit::Bytes, &text::esc_html_br);
        html.wrapped("<b>", &text::one_line(&msg.title, 256), "</b>", 256);
        if !msg.text.trim().is_empty() {
            html.wrapped("<br>", &text::plain(&msg.text), "", 12_000);
        }
        for (k, v) in &msg.fields {
            html.wrapped(
                "<br><b>",
                &format!("{}:", text::one_line(k, 100)),
                "</b> ",
                110,
            );
            html.text(&text::one_line(v, 1024), 1024);
        }
        if !msg.targets.is_empty() {
            html.wrapped("<br><b>", "Targets:", "</b> ", 20);
            html.text(&text::one_line(&msg.targets.join(", "), 2048), 2048);
        }
        if let Some(link) = msg.http_link() {
            html.wrapped(
                &format!("<br><a href=\"{}\">", text::html(link)),
                "Open incident",
                "</a>",
                20,
            );
        }
        json!({
            "msgtype": self.msgtype,
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": html.finish(),
            "m.mentions": {},
        })
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let req = self
            .client
            .put(self.url_for(msg))
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .json(&self.payload(msg));
        super::send_http(req, &msg.event_id).await
    }
}
