//! Notification channels: how one [`Message`] reaches one receiver (Slack,
//! Discord, Teams, e-mail, ntfy, Telegram, Gotify, Pushover, Matrix,
//! PagerDuty, Opsgenie, Twilio SMS, a generic webhook, the Apprise API).
//!
//! Each channel is one folder `channel/<name>/` with its config
//! (`config.rs`: serde, unknown keys refused) apart from its sender
//! (`mod.rs`), and one variant of [`ChannelConfig`] (`type = "slack"`, ...).
//! [`ChannelConfig::build`] validates everything once (URLs, addresses,
//! templates, ranges) and gives a [`Channel`]; [`Channel::send`] makes
//! exactly one try within the channel's `timeout` (default 15 s, 1-30 s) and
//! says what happened as a [`Delivery`]. Retries, backoff and dead-letter are
//! the outbox's: nothing here retries.
//!
//! What counts as what, for every HTTP channel (see [`classify`]):
//! - 2xx → [`Delivery::Sent`] (some receivers say more in a 2xx body, e.g.
//!   Telegram's `{"ok": false}`: the channel reads it);
//! - 429 → [`Delivery::Retry`] after the longest of `Retry-After` (seconds
//!   or an HTTP date), `X-RateLimit-Reset-After` and the body's own hint
//!   (Discord's `retry_after` in float seconds, Telegram's
//!   `parameters.retry_after`, Matrix's `retry_after_ms`);
//! - 5xx, 408, timeouts and connection errors → [`Delivery::Retry`]
//!   (`Retry-After` obeyed when given);
//! - 410 → [`Delivery::Gone`]: the caller disables the channel;
//! - any other status → [`Delivery::Rejected`] with the receiver's message,
//!   one line, at most [`REASON_MAX`] characters.
//!
//! No reason, error or `Debug` output holds a secret (webhook URLs, tokens,
//! passwords): configs print URLs as scheme and host
//! ([`crate::redact_url`]) and secrets as `[redacted]`, and every reason a
//! receiver sent back is scrubbed of the channel's secrets before it is
//! returned. Link-local (cloud metadata) addresses are refused at build and
//! at connect time; loopback is allowed (self-hosted ntfy, Gotify, Apprise).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{BuildError, HttpClients};

pub mod apprise;
pub mod discord;
pub mod email;
pub mod gotify;
pub mod matrix;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod twilio;
pub mod webhook;

pub mod text;

/// Default `timeout` of every channel: 15 s (Standard Webhooks: 15-30 s).
pub const DEFAULT_CHANNEL_TIMEOUT: Duration = Duration::from_secs(15);

/// The accepted range of a channel's `timeout`.
pub const CHANNEL_TIMEOUT: autoheal_core::policy::limits::Limit =
    autoheal_core::policy::limits::Limit {
        what: "channel timeout",
        keys: &["timeout"],
        min: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };

/// The longest reason a [`Delivery`] carries (characters).
pub const REASON_MAX: usize = 300;

/// The longest wait a receiver's rate-limit hint is taken at (a day).
pub const MAX_HINT: Duration = Duration::from_secs(86_400);

pub(crate) fn default_timeout() -> Duration {
    DEFAULT_CHANNEL_TIMEOUT
}

pub(crate) fn check_timeout(d: Duration) -> Result<(), BuildError> {
    crate::in_range("timeout", d, &CHANNEL_TIMEOUT)
}

/// What happened to a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    IncidentOpened,
    HealStarted,
    HealFailed,
    Recovered,
    Quarantined,
    Released,
    DeadLetter,
    AutohealDegraded,
    Test,
}

impl MessageKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [MessageKind] = &[
        MessageKind::IncidentOpened,
        MessageKind::HealStarted,
        MessageKind::HealFailed,
        MessageKind::Recovered,
        MessageKind::Quarantined,
        MessageKind::Released,
        MessageKind::DeadLetter,
        MessageKind::AutohealDegraded,
        MessageKind::Test,
    ];

    /// The snake_case name (as serialized): `incident_opened`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::IncidentOpened => "incident_opened",
            MessageKind::HealStarted => "heal_started",
            MessageKind::HealFailed => "heal_failed",
            MessageKind::Recovered => "recovered",
            MessageKind::Quarantined => "quarantined",
            MessageKind::Released => "released",
            MessageKind::DeadLetter => "dead_letter",
            MessageKind::AutohealDegraded => "autoheal_degraded",
            MessageKind::Test => "test",
        }
    }

    /// For incident-keyed receivers (PagerDuty, Opsgenie): open or update an
    /// alert, close it, or nothing.
    pub fn alert_action(self) -> AlertAction {
        match self {
            MessageKind::IncidentOpened
            | MessageKind::HealFailed
            | MessageKind::Quarantined
            | MessageKind::DeadLetter
            | MessageKind::AutohealDegraded
            | MessageKind::Test => AlertAction::Trigger,
            MessageKind::Recovered => AlertAction::Resolve,
            MessageKind::HealStarted | MessageKind::Released => AlertAction::None,
        }
    }

    /// Whether the news is good (recovered, released).
    pub fn is_good(self) -> bool {
        matches!(self, MessageKind::Recovered | MessageKind::Released)
    }
}

/// See [`MessageKind::alert_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    Trigger,
    Resolve,
    None,
}

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// What the outbox hands a channel: one notification, already worded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Stable across retries: receivers dedupe on it (header
    /// `X-Autoheal-Event-Id`, Matrix's txnId, the e-mail's Message-ID, ...).
    pub event_id: String,
    pub kind: MessageKind,
    pub severity: Severity,
    /// One line ("web is down").
    pub title: String,
    /// Plain text, no markup: every channel escapes it for its receiver.
    pub text: String,
    #[serde(default)]
    pub incident_id: Option<i64>,
    /// The targets it is about (a grouped message names many).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Name → value: what failed, why, what autoheal did, how it ended.
    #[serde(default)]
    pub fields: Vec<(String, String)>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// The incident in the dashboard (`server.public_url`), when known.
    #[serde(default)]
    pub link: Option<String>,
}

impl Message {
    /// The key incident-keyed receivers group on: `autoheal-incident-<id>`,
    /// or `autoheal-event-<event_id>` for a message about no incident.
    pub fn alert_key(&self) -> String {
        match self.incident_id {
            Some(id) => format!("autoheal-incident-{id}"),
            None => format!("autoheal-event-{}", self.event_id),
        }
    }

    /// The link when it is an http(s) URL (anything else is not sent).
    pub fn http_link(&self) -> Option<&str> {
        self.link
            .as_deref()
            .filter(|l| url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
    }

    /// A message that exercises a channel (`autoheal notify test`).
    pub fn test(event_id: impl Into<String>) -> Self {
        Message {
            event_id: event_id.into(),
            kind: MessageKind::Test,
            severity: Severity::Info,
            title: "autoheal test notification".into(),
            text: "If you can read this, the channel works.".into(),
            incident_id: None,
            targets: Vec::new(),
            fields: Vec::new(),
            occurred_at: chrono::Utc::now(),
            link: None,
        }
    }
}

/// The outcome of one try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Delivery {
    /// The receiver took it (2xx, or its own success answer).
    Sent,
    /// Nothing to send for this kind (PagerDuty and Opsgenie on
    /// `heal_started`, `released`, or a resolve without an incident): done.
    Skipped { why: String },
    /// Try again, after `after` when the receiver said so.
    Retry {
        #[serde(default, with = "humantime_serde")]
        after: Option<Duration>,
        why: String,
    },
    /// 410: the endpoint no longer exists; disable the channel.
    Gone { why: String },
    /// A permanent refusal (4xx other than 408, 410, 429): do not retry.
    Rejected { why: String },
}

impl Delivery {
    /// Sent or skipped: nothing more to do.
    pub fn is_done(&self) -> bool {
        matches!(self, Delivery::Sent | Delivery::Skipped { .. })
    }

    fn reason_mut(&mut self) -> Option<&mut String> {
        match self {
            Delivery::Sent => None,
            Delivery::Skipped { why }
            | Delivery::Retry { why, .. }
            | Delivery::Gone { why }
            | Delivery::Rejected { why } => Some(why),
        }
    }
}

/// Every channel, declared once: the config enum, the built enum, their
/// kind names and dispatch all come from this list.
macro_rules! channels {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $module:ident :: $cfg:ident / $rt:ident ),* $(,)?) => {
        /// One channel's settings; `type` names the channel.
        #[derive(Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum ChannelConfig {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($module::$cfg), )*
        }

        /// A built channel, ready to send.
        pub enum Channel {
            $( $variant($module::$rt), )*
        }

        impl ChannelConfig {
            /// Every channel's `type`, in declaration order.
            pub const KINDS: &'static [&'static str] = &[$($name),*];

            /// This channel's `type` (`"slack"`).
            pub fn kind(&self) -> &'static str {
                match self { $( Self::$variant(_) => $name, )* }
            }

            /// Validates and builds; requests go through `clients`' pool.
            pub fn build(&self, clients: &HttpClients) -> Result<Channel, BuildError> {
                match self { $( Self::$variant(c) => $module::$rt::build(c, clients).map(Channel::$variant), )* }
            }
        }

        impl std::fmt::Debug for ChannelConfig {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self { $( Self::$variant(c) => std::fmt::Debug::fmt(c, f), )* }
            }
        }

        impl std::fmt::Debug for Channel {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self { $( Self::$variant(c) => std::fmt::Debug::fmt(c, f), )* }
            }
        }

        impl Channel {
            /// This channel's `type` (`"slack"`).
            pub fn kind(&self) -> &'static str {
                match self { $( Self::$variant(_) => $name, )* }
            }

            /// The most one [`send`](Self::send) takes.
            pub fn timeout(&self) -> Duration {
                match self { $( Self::$variant(c) => c.timeout(), )* }
            }

            /// What would be sent for `msg` (no I/O).
            pub fn render(&self, msg: &Message) -> Rendered {
                match self { $( Self::$variant(c) => c.render(msg), )* }
            }

            /// One try, within [`timeout`](Self::timeout). Never panics;
            /// the outcome's reason holds no secret of the channel.
            pub async fn send(&self, msg: &Message) -> Delivery {
                let (mut d, secrets) = match self {
                    $( Self::$variant(c) => {
                        let d = match tokio::time::timeout(c.timeout(), c.send(msg)).await {
                            Ok(d) => d,
                            Err(_) => Delivery::Retry {
                                after: None,
                                why: format!("no answer within {}", crate::fmt_duration(c.timeout())),
                            },
                        };
                        (d, c.secrets())
                    } )*
                };
                if let Some(why) = d.reason_mut() {
                    *why = text::scrub(why, &secrets);
                }
                tracing::debug!(channel = self.kind(), event_id = %msg.event_id, outcome = ?d, "Notification try finished.");
                d
            }
        }
    };
}

channels! {
    /// Slack incoming webhook.
    Slack = "slack" => slack::SlackConfig / Slack,
    /// Discord webhook.
    Discord = "discord" => discord::DiscordConfig / Discord,
    /// Microsoft Teams workflow webhook (Adaptive Card).
    Teams = "teams" => teams::TeamsConfig / Teams,
    /// E-mail over SMTP.
    Email = "email" => email::EmailConfig / Email,
    /// ntfy (ntfy.sh or self-hosted).
    Ntfy = "ntfy" => ntfy::NtfyConfig / Ntfy,
    /// Telegram bot.
    Telegram = "telegram" => telegram::TelegramConfig / Telegram,
    /// Gotify.
    Gotify = "gotify" => gotify::GotifyConfig / Gotify,
    /// Pushover.
    Pushover = "pushover" => pushover::PushoverConfig / Pushover,
    /// Matrix room.
    Matrix = "matrix" => matrix::MatrixConfig / Matrix,
    /// PagerDuty Events API v2.
    Pagerduty = "pagerduty" => pagerduty::PagerdutyConfig / Pagerduty,
    /// Opsgenie alerts.
    Opsgenie = "opsgenie" => opsgenie::OpsgenieConfig / Opsgenie,
    /// SMS through Twilio.
    Twilio = "twilio" => twilio::TwilioConfig / Twilio,
    /// A generic JSON webhook with a user-shaped body.
    Webhook = "webhook" => webhook::WebhookConfig / Webhook,
    /// The Apprise API.
    Apprise = "apprise" => apprise::AppriseConfig / Apprise,
}

impl ChannelConfig {
    /// Validates without keeping the result (build and drop).
    pub fn validate(&self, clients: &HttpClients) -> Result<(), BuildError> {
        self.build(clients).map(drop)
    }

    /// The settings as they may be shown (API answers, logs): every URL as
    /// scheme and host, every secret-looking value (`token`, `password`,
    /// `routing_key`, header values, ...) as `[redacted]`.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        redact_public(&mut v);
        v
    }
}

fn redact_public(v: &mut serde_json::Value) {
    use serde_json::Value;
    const SECRET_KEYS: &[&str] = &["routing_key", "user_key", "urls", "api_key", "app_token"];
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k == "headers" {
                    if let Value::Object(h) = val {
                        h.values_mut()
                            .for_each(|x| *x = Value::String(crate::redact::REDACTED.into()));
                    }
                } else if val.is_string()
                    && (SECRET_KEYS.contains(&k.as_str()) || crate::redact::is_sensitive_name(k))
                {
                    *val = Value::String(crate::redact::REDACTED.into());
                } else {
                    redact_public(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_public),
        Value::String(s) if s.contains("://") => *s = crate::redact_url(s),
        _ => {}
    }
}

/// What a channel sends for one message, without I/O (for previews and
/// tests): a JSON or form body, or an e-mail.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
    Email {
        subject: String,
        text: String,
        html: String,
    },
    /// Nothing is sent for this message (see [`Delivery::Skipped`]).
    Nothing(String),
}

impl Rendered {
    /// The JSON body, if this is one.
    pub fn json(&self) -> Option<&serde_json::Value> {
        match self {
            Rendered::Json(v) => Some(v),
            _ => None,
        }
    }
}

/// The header every HTTP channel sends the event id in.
pub const EVENT_ID_HEADER: &str = "x-autoheal-event-id";

/// Sends one built request (with the event id header) and classifies the
/// answer by the common rules. The caller's timeout wraps this (see
/// [`Channel::send`]).
pub(crate) async fn send_http(req: reqwest::RequestBuilder, event_id: &str) -> Delivery {
    send_http_with(req, event_id, &Receiver::default()).await
}

/// Reads a 2xx body: `Some(reason)` when it is in fact a refusal.
pub(crate) type OkCheck = fn(&[u8]) -> Option<String>;

/// What a receiver's answers mean beyond the common rules.
#[derive(Default)]
pub(crate) struct Receiver {
    /// Statuses that mean "try again" besides 408, 429 and 5xx (Apprise 424).
    pub retry_statuses: &'static [u16],
    /// A 2xx body that is in fact a refusal (`Some(reason)`).
    pub check_ok: Option<OkCheck>,
    /// A non-2xx answer that also means the endpoint is gone (Discord's
    /// 404 `Unknown Webhook`).
    pub gone: Option<fn(u16, &[u8]) -> bool>,
}

pub(crate) async fn send_http_with(
    req: reqwest::RequestBuilder,
    event_id: &str,
    receiver: &Receiver,
) -> Delivery {
    let req = match reqwest::header::HeaderValue::from_str(event_id) {
        Ok(v) => req.header(EVENT_ID_HEADER, v),
        Err(_) => req,
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Delivery::Retry {
                after: None,
                why: crate::describe_reqwest_error(e),
            }
        }
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = crate::platform::read_body_max(resp, BODY_MAX)
        .await
        .unwrap_or_default();
    if (200..300).contains(&status) {
        if let Some(refused) = receiver.check_ok.and_then(|f| f(&body)) {
            return Delivery::Rejected {
                why: text::one_line(&refused, REASON_MAX),
            };
        }
        return Delivery::Sent;
    }
    if receiver.gone.is_some_and(|f| f(status, &body)) {
        return Delivery::Gone {
            why: text::one_line(
                &format!("HTTP {status}: {}", receiver_message(&body)),
                REASON_MAX,
            ),
        };
    }
    classify(
        status,
        &headers,
        &body,
        receiver.retry_statuses,
        std::time::SystemTime::now(),
    )
}

/// The most of an answer that is read (bytes).
pub(crate) const BODY_MAX: usize = 64 * 1024;

/// A non-2xx answer as a [`Delivery`] (see the module docs). `now` is the
/// reference for `Retry-After` HTTP dates.
pub fn classify(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    retry_statuses: &[u16],
    now: std::time::SystemTime,
) -> Delivery {
    let message = receiver_message(body);
    let why = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        text::one_line(&format!("HTTP {status}: {message}"), REASON_MAX)
    };
    match status {
        200..=299 => Delivery::Sent,
        410 => Delivery::Gone { why },
        408 | 429 | 500..=599 => Delivery::Retry {
            after: retry_hint(headers, body, now),
            why,
        },
        s if retry_statuses.contains(&s) => Delivery::Retry {
            after: retry_hint(headers, body, now),
            why,
        },
        300..=399 => Delivery::Rejected {
            why: format!("HTTP {status}: redirects are not followed"),
        },
        _ => Delivery::Rejected { why },
    }
}

/// The longest of every delay the receiver asked for: `Retry-After`
/// (seconds, fractional too, or an HTTP date), `X-RateLimit-Reset-After`
/// (Discord, float seconds), and in a JSON body `retry_after` (Discord,
/// float seconds), `parameters.retry_after` (Telegram, seconds) or
/// `retry_after_ms` (Matrix). Each capped at [`MAX_HINT`].
pub fn retry_hint(
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now: std::time::SystemTime,
) -> Option<Duration> {
    let secs = |v: f64| {
        (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(MAX_HINT.as_secs_f64())))
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let mut hints: Vec<Duration> = Vec::new();
    if let Some(v) = header("retry-after") {
        if let Ok(n) = v.parse::<f64>() {
            hints.extend(secs(n));
        } else if let Ok(at) = chrono::DateTime::parse_from_rfc2822(v) {
            let at: std::time::SystemTime = at.with_timezone(&chrono::Utc).into();
            hints.push(at.duration_since(now).unwrap_or_default().min(MAX_HINT));
        }
    }
    if let Some(v) = header("x-ratelimit-reset-after").and_then(|v| v.parse::<f64>().ok()) {
        hints.extend(secs(v));
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let num = |p: &str| json.pointer(p).and_then(serde_json::Value::as_f64);
        hints.extend(num("/retry_after").and_then(secs));
        hints.extend(num("/parameters/retry_after").and_then(secs));
        hints.extend(num("/retry_after_ms").and_then(|ms| secs(ms / 1000.0)));
    }
    hints.into_iter().max()
}

/// The receiver's own words in an error answer: the usual JSON fields
/// (`message`, `description`, `error`, `errors`, `errcode`), else the text.
fn receiver_message(body: &[u8]) -> String {
    use serde_json::Value;
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let mut parts: Vec<String> = Vec::new();
        parts.extend(s("/errcode"));
        parts.extend(
            s("/message")
                .or_else(|| s("/description"))
                .or_else(|| s("/error"))
                .or_else(|| s("/detail"))
                .or_else(|| s("/error/message")),
        );
        if let Some(Value::Array(errs)) = v.get("errors") {
            parts.extend(errs.iter().take(3).map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        if let Some(code) = v.get("code").filter(|c| c.is_number()) {
            parts.push(format!("code {code}"));
        }
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let t = String::from_utf8_lossy(&body[..body.len().min(4 * REASON_MAX)]);
    t.trim().to_string()
}

/// Parses a receiver base URL (`api_url`, `server`): http(s), no link-local
/// address, no trailing slash.
pub(crate) fn base_url(key: &str, raw: &str) -> Result<url::Url, BuildError> {
    let mut u = crate::parse_http_url(key, raw.trim_end_matches('/'))?;
    if u.query().is_some() || u.fragment().is_some() {
        return Err(BuildError::new(
            key,
            "a base URL takes no query or fragment",
        ));
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

/// `base` joined with path segments, each percent-encoded (a room id, an
/// alias, a token cannot change the path).
pub(crate) fn join(base: &url::Url, segments: &[&str]) -> url::Url {
    let mut u = base.clone();
    if let Ok(mut s) = u.path_segments_mut() {
        s.pop_if_empty();
        s.extend(segments);
    }
    u
}

/// The parts of a secret URL (Slack, Discord, Teams, a webhook) that could
/// come back in a receiver's error text: the whole path, every path segment
/// of 8 characters or more (tokens, ids), every query value, a password.
pub(crate) fn url_secrets(u: &url::Url) -> Vec<String> {
    let mut s = vec![u.path().to_string()];
    if let Some(segs) = u.path_segments() {
        s.extend(segs.filter(|p| p.len() >= 8).map(str::to_string));
    }
    s.extend(
        u.query_pairs()
            .map(|(_, v)| v.into_owned())
            .filter(|v| v.len() >= 4),
    );
    s.extend(u.password().map(str::to_string));
    s.retain(|x| x.len() > 1);
    s
}

/// A `application/x-www-form-urlencoded` body.
pub(crate) fn form(
    req: reqwest::RequestBuilder,
    pairs: &[(String, String)],
) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    req.header(
        reqwest::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded",
    )
    .body(body)
}

/// A `Debug` field shown as `[redacted]` (or `None`).
pub(crate) struct Hidden<'a>(pub Option<&'a str>);

impl std::fmt::Debug for Hidden<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(_) => f.write_str(crate::redact::REDACTED),
            None => f.write_str("None"),
        }
    }
}

/// A non-empty required string.
pub(crate) fn required(key: &str, v: &str) -> Result<(), BuildError> {
    if v.trim().is_empty() {
        Err(BuildError::new(key, "must not be empty"))
    } else {
        Ok(())
    }
}

/// A header value that must be valid (and is marked sensitive).
pub(crate) fn secret_header(
    key: &str,
    v: &str,
) -> Result<reqwest::header::HeaderValue, BuildError> {
    let mut h = reqwest::header::HeaderValue::from_str(v)
        .map_err(|_| BuildError::new(key, "holds characters not allowed in an HTTP header"))?;
    h.set_sensitive(true);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let now = std::time::SystemTime::now();
        let c = |s| classify(s, &HeaderMap::new(), b"nope", &[], now);
        assert_eq!(c(204), Delivery::Sent);
        assert!(matches!(c(500), Delivery::Retry { after: None, .. }));
        assert!(matches!(c(503), Delivery::Retry { .. }));
        assert!(matches!(c(408), Delivery::Retry { .. }));
        assert!(matches!(c(429), Delivery::Retry { .. }));
        assert_eq!(
            c(410),
            Delivery::Gone {
                why: "HTTP 410: nope".into()
            }
        );
        assert_eq!(
            c(400),
            Delivery::Rejected {
                why: "HTTP 400: nope".into()
            }
        );
        assert!(matches!(c(404), Delivery::Rejected { .. }));
        assert!(matches!(c(301), Delivery::Rejected { .. }));
        assert!(matches!(c(424), Delivery::Rejected { .. }));
        assert!(matches!(
            classify(424, &HeaderMap::new(), b"", &[424], now),
            Delivery::Retry { .. }
        ));
    }

    #[test]
    fn retry_hints_take_the_longest_of_every_source() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            retry_hint(&h(&[("retry-after", "7")]), b"", now),
            Some(Duration::from_secs(7))
        );
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        assert_eq!(
            retry_hint(
                &h(&[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")]),
                b"",
                now
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_hint(
                &h(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                b"",
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_hint(
                &h(&[("retry-after", "1"), ("x-ratelimit-reset-after", "2.5")]),
                br#"{"message": "You are being rate limited.", "retry_after": 0.75, "global": false}"#,
                now
            ),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            retry_hint(&HeaderMap::new(), br#"{"retry_after": 0.75}"#, now),
            Some(Duration::from_millis(750))
        );
        assert_eq!(
            retry_hint(
                &HeaderMap::new(),
                br#"{"ok":false,"parameters":{"retry_after":5}}"#,
                now
            ),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            retry_hint(
                &HeaderMap::new(),
                br#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1500}"#,
                now
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_hint(
                &h(&[("retry-after", "-3")]),
                br#"{"retry_after": "soon"}"#,
                now
            ),
            None
        );
        assert_eq!(
            retry_hint(&h(&[("retry-after", "1e300")]), b"", now),
            Some(MAX_HINT)
        );
    }

    #[test]
    fn receiver_messages_are_read_from_the_usual_shapes() {
        assert_eq!(
            receiver_message(br#"{"message": "Invalid Form Body", "code": 50035}"#),
            "Invalid Form Body; code 50035"
        );
        assert_eq!(
            receiver_message(
                br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
            ),
            "Bad Request: chat not found"
        );
        assert_eq!(
            receiver_message(br#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}"#),
            "Event object is invalid; Length of 'routing_key' is incorrect"
        );
        assert_eq!(receiver_message(b"invalid_payload\n"), "invalid_payload");
    }

    #[test]
    fn reasons_are_bounded_single_lines() {
        let long = format!("{}\n{}", "x".repeat(10_000), "y");
        let d = classify(
            400,
            &HeaderMap::new(),
            long.as_bytes(),
            &[],
            std::time::SystemTime::now(),
        );
        let Delivery::Rejected { why } = d else {
            panic!()
        };
        assert!(why.chars().count() <= REASON_MAX, "{}", why.len());
        assert!(!why.contains('\n'));
    }

    #[test]
    fn deliveries_serialize_for_the_outbox() {
        let d = Delivery::Retry {
            after: Some(Duration::from_millis(1500)),
            why: "HTTP 429".into(),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"outcome": "retry", "after": "1s 500ms", "why": "HTTP 429"})
        );
        assert_eq!(serde_json::from_value::<Delivery>(v).unwrap(), d);
        assert_eq!(
            serde_json::to_value(Delivery::Sent).unwrap(),
            serde_json::json!({"outcome": "sent"})
        );
        let none: Delivery =
            serde_json::from_value(serde_json::json!({"outcome": "retry", "why": "x"})).unwrap();
        assert_eq!(
            none,
            Delivery::Retry {
                after: None,
                why: "x".into()
            }
        );
        assert!(Delivery::Skipped { why: String::new() }.is_done() && !d.is_done());
    }

    #[test]
    fn channels_and_their_sends_can_cross_tasks() {
        fn shared<T: Send + Sync + 'static>(_: &T) {}
        fn spawnable<T: Send>(_: T) {}
        let clients = HttpClients::new().unwrap();
        let m = Message::test("e1");
        for cfg in [
            serde_json::json!({"type": "slack", "url": "https://hooks.example.com/x"}),
            serde_json::json!({"type": "email", "host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]}),
        ] {
            let ch = serde_json::from_value::<ChannelConfig>(cfg)
                .unwrap()
                .build(&clients)
                .unwrap();
            shared(&ch);
            // The future the worker spawns (created, never polled).
            spawnable(ch.send(&m));
        }
    }

    #[test]
    fn kinds_are_listed_once_and_round_trip() {
        assert_eq!(ChannelConfig::KINDS.len(), 14);
        for k in MessageKind::ALL {
            let s = serde_json::to_value(k).unwrap();
            assert_eq!(s, k.as_str());
        }
    }
}
