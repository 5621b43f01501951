//! The channel contract suite: every HTTP channel runs through the same
//! table against a local receiver that answers as the real one does
//! (tests/fake_receiver), then per-channel tests check the exact request
//! each receiver expects. E-mail runs against a real SMTP server when
//! `AUTOHEAL_TEST_SMTP` is set (see scripts/start-test-smtp.sh).

mod fake_receiver;

use std::time::{Duration, Instant};

use autoheal_plugins::channel::{
    Channel, ChannelConfig, Delivery, Message, MessageKind, Rendered, Severity, REASON_MAX,
};
use autoheal_plugins::HttpClients;
use fake_receiver::{accepts, Answer, Body, FakeReceiver, Seen};
use serde_json::{json, Value};

/// Every secret in the configs below holds this.
const CANARY: &str = "CANARY";
const EVENT_ID: &str = "evt_01HZX3-contract";

/// One row of the table: how to configure a channel against the fake, how
/// the real receiver says yes and "slow down", and where the event id goes.
struct Case {
    kind: &'static str,
    /// The config, given the fake's base URL.
    config: fn(&str) -> Value,
    /// The secret as it could come back in a receiver's error text.
    secret: &'static str,
    ok: fn() -> Answer,
    /// The receiver's own 429 and the delay it asks for.
    rate_limited: fn() -> (Answer, Duration),
    /// The event id is where this receiver dedupes (beyond the header).
    event_id_at: fn(&Seen) -> Option<String>,
}

const PD_KEY: &str = "CANARYpagerdutykey00000000000000";

fn cases() -> Vec<Case> {
    vec![
        Case {
            kind: "slack",
            config: |b| json!({"type": "slack", "url": format!("{b}/services/T000/B000/CANARYslackpath")}),
            secret: "CANARYslackpath",
            ok: || Answer::new(200, "ok").header("content-type", "text/plain"),
            rate_limited: || {
                (
                    Answer::new(429, "rate_limited").header("retry-after", "30"),
                    Duration::from_secs(30),
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "discord",
            config: |b| json!({"type": "discord", "url": format!("{b}/api/webhooks/123/CANARYdiscordtokenABCDEFGH")}),
            secret: "CANARYdiscordtokenABCDEFGH",
            ok: || Answer::json(200, json!({"id": "1", "type": 0, "content": ""})),
            rate_limited: || {
                (
                    Answer::json(429, json!({"message": "You are being rate limited.", "retry_after": 1.25, "global": false}))
                        .header("retry-after", "1")
                        .header("x-ratelimit-reset-after", "1.250")
                        .header("x-ratelimit-remaining", "0"),
                    Duration::from_millis(1250),
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "teams",
            config: |b| json!({"type": "teams", "url": format!("{b}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=CANARYteamssig")}),
            secret: "CANARYteamssig",
            ok: || Answer::new(202, ""),
            rate_limited: || {
                (
                    Answer::new(429, "").header("retry-after", "12"),
                    Duration::from_secs(12),
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "ntfy",
            config: |b| json!({"type": "ntfy", "server": b, "topic": "alerts", "token": "tk_CANARYntfy"}),
            secret: "tk_CANARYntfy",
            ok: || {
                Answer::json(
                    200,
                    json!({"id": "x1", "event": "message", "topic": "alerts"}),
                )
            },
            rate_limited: || {
                (
                    Answer::json(
                        429,
                        json!({"code": 42901, "http": 429, "error": "limit reached: too many requests"}),
                    ),
                    Duration::ZERO,
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "telegram",
            config: |b| json!({"type": "telegram", "api_url": b, "bot_token": "123456:CANARYtelegram", "chat_id": "-1001"}),
            secret: "123456:CANARYtelegram",
            ok: || Answer::json(200, json!({"ok": true, "result": {"message_id": 7}})),
            rate_limited: || {
                (
                    Answer::json(
                        429,
                        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5", "parameters": {"retry_after": 5}}),
                    ),
                    Duration::from_secs(5),
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "gotify",
            config: |b| json!({"type": "gotify", "server": b, "token": "CANARYgotify"}),
            secret: "CANARYgotify",
            ok: || Answer::json(200, json!({"id": 1, "appid": 1})),
            rate_limited: || {
                (
                    Answer::new(429, "").header("retry-after", "3"),
                    Duration::from_secs(3),
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "pushover",
            config: |b| json!({"type": "pushover", "api_url": b, "token": "CANARYpushtoken", "user_key": "CANARYuserkey"}),
            secret: "CANARYpushtoken",
            ok: || Answer::json(200, json!({"status": 1, "request": "r1"})),
            rate_limited: || {
                (
                    Answer::json(429, json!({"status": 0, "errors": ["over limit"]}))
                        .header("retry-after", "60"),
                    Duration::from_secs(60),
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "matrix",
            config: |b| json!({"type": "matrix", "homeserver": b, "room_id": "!room:example.org", "access_token": "syt_CANARYmatrix"}),
            secret: "syt_CANARYmatrix",
            ok: || Answer::json(200, json!({"event_id": "$abc"})),
            rate_limited: || {
                (
                    Answer::json(
                        429,
                        json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 2500}),
                    ),
                    Duration::from_millis(2500),
                )
            },
            event_id_at: |s| s.path().rsplit('/').next().map(str::to_string),
        },
        Case {
            kind: "pagerduty",
            config: |b| json!({"type": "pagerduty", "api_url": b, "routing_key": PD_KEY}),
            secret: PD_KEY,
            ok: || {
                Answer::json(
                    202,
                    json!({"status": "success", "message": "Event processed", "dedup_key": "autoheal-incident-42"}),
                )
            },
            rate_limited: || {
                (
                    Answer::new(429, "").header("retry-after", "9"),
                    Duration::from_secs(9),
                )
            },
            event_id_at: |s| {
                s.json()
                    .pointer("/payload/custom_details/event_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            },
        },
        Case {
            kind: "opsgenie",
            config: |b| json!({"type": "opsgenie", "api_url": b, "api_key": "CANARYopsgenie"}),
            secret: "CANARYopsgenie",
            ok: || {
                Answer::json(
                    202,
                    json!({"result": "Request will be processed", "took": 0.2, "requestId": "r1"}),
                )
            },
            rate_limited: || {
                (
                    Answer::json(429, json!({"message": "Too many requests", "took": 0.0}))
                        .header("retry-after", "4"),
                    Duration::from_secs(4),
                )
            },
            event_id_at: |s| {
                s.json()
                    .pointer("/details/event_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            },
        },
        Case {
            kind: "twilio",
            config: |b| {
                json!({"type": "twilio", "api_url": b, "account_sid": "AC00000000000000000000000000000000",
                       "auth_token": "CANARYtwilio", "from": "+15005550006", "to": "+14155550100"})
            },
            secret: "CANARYtwilio",
            ok: || Answer::json(201, json!({"sid": "SM1", "status": "queued"})),
            rate_limited: || {
                (
                    Answer::json(
                        429,
                        json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
                    )
                    .header("retry-after", "2"),
                    Duration::from_secs(2),
                )
            },
            event_id_at: |_| None,
        },
        Case {
            kind: "webhook",
            config: |b| {
                json!({"type": "webhook", "url": format!("{b}/hooks/CANARYhookpath"),
                       "headers": {"Authorization": "Bearer CANARYbearer"},
                       "body": r#"{"id": "{{event_id}}", "title": "{{title}}", "text": "{{text}}", "targets": "{{targets}}"}"#})
            },
            secret: "CANARYbearer",
            ok: || Answer::new(204, ""),
            rate_limited: || {
                (
                    Answer::new(429, "").header("retry-after", "6"),
                    Duration::from_secs(6),
                )
            },
            event_id_at: |s| s.header("idempotency-key").map(str::to_string),
        },
        Case {
            kind: "apprise",
            config: |b| json!({"type": "apprise", "url": b, "key": "CANARYapprisekey"}),
            secret: "CANARYapprisekey",
            ok: || Answer::new(200, "Notification(s) sent."),
            rate_limited: || {
                (
                    Answer::new(429, "").header("retry-after", "8"),
                    Duration::from_secs(8),
                )
            },
            event_id_at: |_| None,
        },
    ]
}

fn message() -> Message {
    Message {
        event_id: EVENT_ID.into(),
        kind: MessageKind::IncidentOpened,
        severity: Severity::Critical,
        title: "web is down".into(),
        text: "GET /health answered 503 three times in a row.".into(),
        incident_id: Some(42),
        targets: vec!["web".into()],
        fields: vec![
            ("What failed".into(), "HTTP 503".into()),
            (
                "What autoheal did".into(),
                "restart (rung 1, attempt 1)".into(),
            ),
        ],
        occurred_at: "2026-12-04T18:00:00Z".parse().unwrap(),
        link: Some("https://autoheal.example.com/incidents/42".into()),
    }
}

/// A message built to break formatters: 100 KB of text, control
/// characters, markup of every receiver, mentions, emoji across every
/// limit, many fields and targets.
fn hostile() -> Message {
    let emoji = "😀👩‍👩‍👧‍👦🇫🇷";
    let mut text = String::new();
    while text.len() < 100_000 {
        text.push_str("**bold** _it_ <b>x</b> </a> <!everyone> @everyone @here <@123> &amp; \\ ` [l](http://e) \u{0}\u{7}\r\n");
        text.push_str(emoji);
    }
    let target = format!(
        "@everyone <script>alert(1)</script> **{}** &",
        emoji.repeat(40)
    );
    Message {
        event_id: EVENT_ID.into(),
        kind: MessageKind::HealFailed,
        severity: Severity::Error,
        title: format!(
            "{}\n<b>@everyone</b>\u{1b}[31m {}",
            emoji.repeat(100),
            "#".repeat(300)
        ),
        text,
        incident_id: Some(42),
        targets: (0..500).map(|i| format!("{target}-{i}")).collect(),
        fields: (0..40)
            .map(|i| {
                (
                    format!("<i>{i}</i> @here {}", "ü".repeat(300)),
                    format!("`{}`\u{0}", emoji.repeat(200)),
                )
            })
            .collect(),
        occurred_at: "2026-12-04T18:00:00Z".parse().unwrap(),
        link: Some("https://autoheal.example.com/incidents/42?a=1&b=<2>".into()),
    }
}

fn build(v: Value) -> Channel {
    let cfg: ChannelConfig = serde_json::from_value(v).unwrap();
    cfg.build(&HttpClients::new().unwrap()).unwrap()
}

fn reason(d: &Delivery) -> String {
    match d {
        Delivery::Sent => String::new(),
        Delivery::Skipped { why }
        | Delivery::Retry { why, .. }
        | Delivery::Gone { why }
        | Delivery::Rejected { why } => why.clone(),
    }
}

fn assert_clean(kind: &str, what: &str, text: &str) {
    assert!(!text.contains(CANARY), "{kind}: a secret in {what}: {text}");
}

async fn fake(case: &Case) -> (FakeReceiver, Channel) {
    let f = FakeReceiver::start(case.kind, (case.ok)()).await;
    let ch = build((case.config)(&f.base()));
    (f, ch)
}

#[tokio::test]
async fn every_channel_is_listed_once_and_every_http_channel_is_in_the_table() {
    let kinds: Vec<&str> = cases().iter().map(|c| c.kind).collect();
    for k in ChannelConfig::KINDS {
        assert!(
            kinds.contains(k) || *k == "email",
            "{k} is not in the contract table"
        );
    }
    assert_eq!(kinds.len() + 1, ChannelConfig::KINDS.len());
    for c in cases() {
        let (f, ch) = fake(&c).await;
        assert_eq!(ch.kind(), c.kind);
        let cfg: ChannelConfig = serde_json::from_value((c.config)(&f.base())).unwrap();
        assert_eq!(cfg.kind(), c.kind);
        assert!(cfg.validate(&HttpClients::new().unwrap()).is_ok());
    }
}

#[tokio::test]
async fn success_is_sent_once_with_the_event_id() {
    for c in cases() {
        let (f, ch) = fake(&c).await;
        let d = ch.send(&message()).await;
        assert_eq!(d, Delivery::Sent, "{}", c.kind);
        let seen = f.seen();
        assert_eq!(seen.len(), 1, "{}: exactly one request", c.kind);
        assert_eq!(
            seen[0].header("x-autoheal-event-id"),
            Some(EVENT_ID),
            "{}",
            c.kind
        );
        if let Some(at) = (c.event_id_at)(&seen[0]) {
            assert_eq!(at, EVENT_ID, "{}: the receiver's own dedupe key", c.kind);
        }
        assert!(
            seen[0]
                .header("user-agent")
                .unwrap_or("")
                .starts_with("autoheal/"),
            "{}",
            c.kind
        );
    }
}

#[tokio::test]
async fn a_429_is_retried_after_what_the_receiver_asked() {
    for c in cases() {
        let (f, ch) = fake(&c).await;
        let (answer, wait) = (c.rate_limited)();
        f.then(answer);
        let d = ch.send(&message()).await;
        let want = if wait.is_zero() { None } else { Some(wait) };
        match &d {
            Delivery::Retry { after, why } => {
                assert_eq!(*after, want, "{}: {why}", c.kind);
                assert!(why.starts_with("HTTP 429"), "{}: {why}", c.kind);
            }
            other => panic!("{}: {other:?}", c.kind),
        }
        // Retry-After as an HTTP date, on every channel.
        let at = httpdate(std::time::SystemTime::now() + Duration::from_secs(120));
        f.then(Answer::new(429, "").header("retry-after", &at));
        let Delivery::Retry {
            after: Some(after), ..
        } = ch.send(&message()).await
        else {
            panic!("{}: no delay from an HTTP-date Retry-After", c.kind)
        };
        assert!(
            after > Duration::from_secs(115) && after <= Duration::from_secs(120),
            "{}: {after:?}",
            c.kind
        );
        assert_clean(c.kind, "a 429 reason", &reason(&d));
    }
}

fn httpdate(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[tokio::test]
async fn discord_style_json_retry_after_is_obeyed_by_every_channel() {
    // Discord's body shape, without headers: the float seconds alone count.
    for c in cases() {
        let (f, ch) = fake(&c).await;
        f.then(Answer::json(
            429,
            json!({"message": "You are being rate limited.", "retry_after": 0.5, "global": true}),
        ));
        assert_eq!(
            ch.send(&message()).await,
            Delivery::Retry {
                after: Some(Duration::from_millis(500)),
                why: "HTTP 429: You are being rate limited.".into()
            },
            "{}",
            c.kind
        );
    }
}

#[tokio::test]
async fn server_errors_are_retried_gone_is_gone_and_4xx_is_rejected_with_a_bounded_clean_reason() {
    for c in cases() {
        let (f, ch) = fake(&c).await;
        f.then(Answer::new(503, "upstream unavailable").header("retry-after", "11"));
        assert_eq!(
            ch.send(&message()).await,
            Delivery::Retry {
                after: Some(Duration::from_secs(11)),
                why: "HTTP 503: upstream unavailable".into()
            },
            "{}",
            c.kind
        );
        f.then(Answer::new(500, ""));
        assert_eq!(
            ch.send(&message()).await,
            Delivery::Retry {
                after: None,
                why: "HTTP 500".into()
            },
            "{}",
            c.kind
        );
        f.then(Answer::new(410, "gone"));
        assert!(
            matches!(ch.send(&message()).await, Delivery::Gone { .. }),
            "{}",
            c.kind
        );
        // A 400 that echoes the secret and is very long.
        let long = format!(
            "bad request for {} {}\n{}",
            c.secret,
            "x".repeat(20_000),
            c.secret
        );
        f.then(Answer::json(400, json!({"message": long})));
        let d = ch.send(&message()).await;
        let Delivery::Rejected { why } = &d else {
            panic!("{}: {d:?}", c.kind)
        };
        assert!(
            why.starts_with("HTTP 400: bad request for [redacted]"),
            "{}: {why}",
            c.kind
        );
        assert!(
            why.chars().count() <= REASON_MAX,
            "{}: {} chars",
            c.kind,
            why.chars().count()
        );
        assert!(!why.contains('\n'));
        assert_clean(c.kind, "a 400 reason", why);
        f.then(Answer::new(401, "Unauthorized"));
        assert_eq!(
            ch.send(&message()).await,
            Delivery::Rejected {
                why: "HTTP 401: Unauthorized".into()
            },
            "{}",
            c.kind
        );
        f.then(Answer::new(302, "").header("location", "http://169.254.169.254/"));
        assert!(
            matches!(ch.send(&message()).await, Delivery::Rejected { .. }),
            "{}: a redirect is not followed",
            c.kind
        );
        assert_eq!(
            f.seen().len(),
            6,
            "{}: one request per send, no retries inside",
            c.kind
        );
    }
}

#[tokio::test]
async fn the_timeout_is_honoured() {
    // All channels at once: each against a receiver that never answers.
    let runs = cases().into_iter().map(|c| async move {
        let f = FakeReceiver::start(c.kind, Answer::hang()).await;
        let mut cfg = (c.config)(&f.base());
        cfg["timeout"] = json!("1s");
        let ch = build(cfg);
        assert_eq!(ch.timeout(), Duration::from_secs(1));
        let t = Instant::now();
        let d = ch.send(&message()).await;
        let took = t.elapsed();
        assert_eq!(
            d,
            Delivery::Retry {
                after: None,
                why: "no answer within 1s".into()
            },
            "{}",
            c.kind
        );
        assert!(
            took >= Duration::from_millis(950) && took < Duration::from_secs(3),
            "{}: {took:?}",
            c.kind
        );
        assert_eq!(f.seen().len(), 1, "{}", c.kind);
    });
    futures::future::join_all(runs).await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_without_the_secret() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    for c in cases() {
        let d = build((c.config)(&base)).send(&message()).await;
        assert_eq!(
            d,
            Delivery::Retry {
                after: None,
                why: "connection refused".into()
            },
            "{}",
            c.kind
        );
    }
}

#[tokio::test]
async fn no_secret_in_debug_output_or_the_shown_config() {
    for c in cases() {
        let v = (c.config)("https://receiver.example.com");
        let cfg: ChannelConfig = serde_json::from_value(v).unwrap();
        assert_clean(c.kind, "the config's Debug", &format!("{cfg:?}"));
        assert_clean(c.kind, "the config's Debug", &format!("{cfg:#?}"));
        assert_clean(c.kind, "the shown config", &cfg.redacted().to_string());
        let ch = cfg.build(&HttpClients::new().unwrap()).unwrap();
        assert_clean(c.kind, "the channel's Debug", &format!("{ch:?}"));
        assert!(
            format!("{cfg:?}").contains("receiver.example.com"),
            "{}: the host is shown",
            c.kind
        );
    }
}

#[tokio::test]
async fn hostile_content_never_panics_and_stays_within_the_receivers_limits() {
    for c in cases() {
        let (f, ch) = fake(&c).await;
        // The fake refuses (400) anything over the receiver's limits.
        let d = ch.send(&hostile()).await;
        assert_eq!(
            d,
            Delivery::Sent,
            "{}: {:?}",
            c.kind,
            f.seen()
                .last()
                .map(|s| s.text().chars().take(300).collect::<String>())
        );
        let seen = f.last();
        let body = seen.text();
        if c.kind == "webhook" {
            // The user's template gets the text whole (JSON-escaped, cut at 64 KiB).
            let v = seen.json();
            assert!(v["text"].as_str().unwrap().len() <= 64 * 1024);
            continue;
        }
        // No formatter lets a mention or a raw tag through where the
        // receiver would read it (plain-text receivers read no markup).
        let v = seen.json();
        let read_as_markup = match c.kind {
            "slack" => v["text"].to_string(),
            "discord" => body.clone(),
            "telegram" => v["text"].to_string(),
            "matrix" => v["formatted_body"].to_string(),
            _ => String::new(),
        };
        let bad: &[&str] = match c.kind {
            "discord" => &["@everyone", "@here", "<@123>", "<script>", "**bold**"],
            "slack" => &["<!everyone>", "<@123>", "<script>", "<http://"],
            _ => &["<script>", "<i>"],
        };
        for b in bad {
            assert!(!read_as_markup.contains(b), "{}: {b} got through", c.kind);
        }
    }
}

#[tokio::test]
async fn the_markup_receivers_escape_and_disable_mentions() {
    let c = &cases()[1];
    let (f, ch) = fake(c).await;
    ch.send(&hostile()).await;
    let v = f.last().json();
    assert_eq!(v["allowed_mentions"], json!({"parse": []}));
    let m = build(
        json!({"type": "matrix", "homeserver": "http://127.0.0.1:9", "room_id": "!r:x", "access_token": "t"}),
    );
    let Rendered::Json(v) = m.render(&hostile()) else {
        panic!()
    };
    assert_eq!(v["m.mentions"], json!({}));
    assert!(!v["formatted_body"].as_str().unwrap().contains("<script>"));
}

mod formatters {
    use super::*;
    use proptest::prelude::*;

    fn kind() -> impl Strategy<Value = MessageKind> {
        proptest::sample::select(MessageKind::ALL.to_vec())
    }

    fn severity() -> impl Strategy<Value = Severity> {
        proptest::sample::select(vec![
            Severity::Info,
            Severity::Warning,
            Severity::Error,
            Severity::Critical,
        ])
    }

    /// Text mixing markup, control characters and wide characters.
    fn text(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("😀".to_string()),
                Just("👩‍👩‍👧".to_string()),
                Just("@everyone".to_string()),
                Just("<b>".to_string()),
                Just("&".to_string()),
                Just("\\".to_string()),
                Just("*_~`|".to_string()),
                Just("\u{0}\r\n\t".to_string()),
                "\\PC{0,20}",
                "[a-z ]{0,40}",
            ],
            0..max,
        )
        .prop_map(|v| v.concat())
    }

    fn message() -> impl Strategy<Value = Message> {
        (
            "[a-zA-Z0-9_-]{1,40}",
            kind(),
            severity(),
            text(20),
            text(120),
            proptest::option::of(any::<i64>()),
            proptest::collection::vec(text(10), 0..30),
            proptest::collection::vec((text(10), text(40)), 0..40),
            proptest::option::of(prop_oneof![
                Just("https://a.example/i/1".to_string()),
                text(5)
            ]),
        )
            .prop_map(
                |(event_id, kind, severity, title, text, incident_id, targets, fields, link)| {
                    Message {
                        event_id,
                        kind,
                        severity,
                        title,
                        text,
                        incident_id,
                        targets,
                        fields,
                        occurred_at: "2026-12-04T18:00:00Z".parse().unwrap(),
                        link,
                    }
                },
            )
    }

    /// Built once: building a channel builds an HTTP client (TLS roots).
    fn channels() -> &'static [(&'static str, Channel)] {
        static CHANNELS: std::sync::OnceLock<Vec<(&'static str, Channel)>> =
            std::sync::OnceLock::new();
        CHANNELS.get_or_init(|| {
            let clients = HttpClients::new().unwrap();
            cases()
                .into_iter()
                .map(|c| {
                    let cfg: ChannelConfig =
                        serde_json::from_value((c.config)("http://127.0.0.1:9")).unwrap();
                    (c.kind, cfg.build(&clients).unwrap())
                })
                .collect()
        })
    }

    fn email() -> &'static Channel {
        static EMAIL: std::sync::OnceLock<Channel> = std::sync::OnceLock::new();
        EMAIL.get_or_init(|| build(json!({"type": "email", "host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]})))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn the_email_formatter_is_bounded_and_escaped(m in message()) {
            let Rendered::Email { subject, text, html } = email().render(&m) else { panic!() };
            prop_assert!(!subject.is_empty() && subject.chars().count() <= 200 && !subject.contains(['\r', '\n']));
            prop_assert!(text.encode_utf16().count() <= 32_000 + 200);
            prop_assert!(html.len() <= 64_000 + 300);
            // Only autoheal's own tags: every user character is escaped.
            for tag in html.split('<').skip(1) {
                let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '!').collect();
                prop_assert!(["!DOCTYPE", "html", "body", "h2", "p", "table", "tr", "th", "td", "a"].contains(&name.as_str()), "tag {:?}", name);
            }
            prop_assert_eq!(html.matches("<table>").count(), html.matches("</table>").count());
            prop_assert_eq!(html.matches("<tr>").count(), html.matches("</tr>").count());
        }

        #[test]
        fn every_formatter_stays_within_its_receivers_limits(m in message()) {
            for (kind, ch) in channels() {
                let kind = *kind;
                let body = match ch.render(&m) {
                    Rendered::Json(v) => Body::Json(v),
                    Rendered::Form(f) => Body::Form(f),
                    Rendered::Nothing(why) => {
                        prop_assert!(matches!(kind, "pagerduty" | "opsgenie"), "{kind}: {why}");
                        continue;
                    }
                    Rendered::Email { .. } => unreachable!(),
                };
                if let Err(why) = accepts(kind, &body) {
                    return Err(TestCaseError::fail(format!("{kind}: {why}")));
                }
                if let Body::Json(v) = &body {
                    // Always valid JSON that a receiver can parse back.
                    let again: Value = serde_json::from_str(&v.to_string()).unwrap();
                    prop_assert_eq!(&again, v);
                }
            }
        }
    }
}

/// E-mail against a real SMTP server (exim, scripts/start-test-smtp.sh):
/// `AUTOHEAL_TEST_SMTP=smtp://user:password@127.0.0.1:2525/?mail_dir=DIR`.
mod email {
    use super::*;

    struct Smtp {
        host: String,
        port: u16,
        user: String,
        password: String,
        mail_dir: std::path::PathBuf,
        /// Implicit TLS port and the CA that issued the server's certificate.
        tls_port: u16,
        ca_pem: String,
    }

    fn smtp() -> Option<Smtp> {
        let Ok(raw) = std::env::var("AUTOHEAL_TEST_SMTP") else {
            if std::env::var("AUTOHEAL_REQUIRE_SMTP").as_deref() == Ok("1") {
                panic!("AUTOHEAL_REQUIRE_SMTP=1 but AUTOHEAL_TEST_SMTP is not set (run crates/autoheal-plugins/scripts/start-test-smtp.sh)");
            }
            eprintln!("skipping: AUTOHEAL_TEST_SMTP is not set (run crates/autoheal-plugins/scripts/start-test-smtp.sh)");
            return None;
        };
        let u = url::Url::parse(&raw).expect("AUTOHEAL_TEST_SMTP is a URL");
        let mail_dir = u
            .query_pairs()
            .find(|(k, _)| k == "mail_dir")
            .map(|(_, v)| v.into_owned())
            .expect("AUTOHEAL_TEST_SMTP has ?mail_dir=");
        let q = |k: &str| {
            u.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        let tls_port = q("tls_port")
            .expect("AUTOHEAL_TEST_SMTP has &tls_port=")
            .parse()
            .unwrap();
        let ca_pem = std::fs::read_to_string(q("ca").expect("AUTOHEAL_TEST_SMTP has &ca="))
            .expect("the CA file reads");
        Some(Smtp {
            host: u.host_str().unwrap().to_string(),
            port: u.port().unwrap_or(25),
            user: u.username().to_string(),
            password: u.password().unwrap_or("").to_string(),
            mail_dir: mail_dir.into(),
            tls_port,
            ca_pem,
        })
    }

    fn unique(local: &str) -> String {
        format!(
            "{local}-{}-{}@autoheal.test",
            std::process::id(),
            rand_suffix()
        )
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        t ^ N.fetch_add(1, Ordering::Relaxed)
    }

    fn channel(s: &Smtp, to: &str, password: &str) -> Channel {
        build(json!({
            "type": "email", "host": s.host, "port": s.port, "security": "none",
            "username": s.user, "password": password,
            "from": "autoheal <autoheal@autoheal.test>", "to": [to], "timeout": "10s",
        }))
    }

    /// The message delivered to `to` (the maildir file whose Envelope-to
    /// names it), polled with a deadline: exim delivers right after
    /// accepting, in another process.
    fn delivered(s: &Smtp, to: &str) -> String {
        let want = format!("Envelope-to: {}", to.to_ascii_lowercase());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            for sub in ["new", "cur"] {
                for e in std::fs::read_dir(s.mail_dir.join(sub))
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if let Ok(t) = std::fs::read_to_string(e.path()) {
                        if t.lines().any(|l| l.eq_ignore_ascii_case(&want)) {
                            return t;
                        }
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never got a message for {to}",
                s.mail_dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ascii_message() -> Message {
        Message {
            title: "web is down <b>@everyone</b>".into(),
            text: "GET /health answered 503.\n<script>alert(1)</script> & more".into(),
            ..message()
        }
    }

    #[tokio::test]
    async fn a_message_reaches_the_mailbox_with_text_and_escaped_html_parts() {
        let Some(s) = smtp() else { return };
        let to = unique("ops");
        let ch = channel(&s, &to, &s.password);
        assert_eq!(ch.send(&ascii_message()).await, Delivery::Sent);
        let mbox = delivered(&s, &to);
        let header = |name: &str| {
            mbox.lines()
                .find(|l| {
                    l.to_ascii_lowercase()
                        .starts_with(&format!("{}:", name.to_ascii_lowercase()))
                })
                .unwrap_or_else(|| panic!("no {name} header in {mbox}"))
                .to_string()
        };
        assert_eq!(
            header("Message-ID"),
            format!("Message-ID: <{EVENT_ID}@autoheal>")
        );
        assert_eq!(header("Subject"), "Subject: web is down <b>@everyone</b>");
        assert!(header("From").contains("autoheal@autoheal.test"));
        assert!(header("To").contains(&to));
        assert!(
            header("Content-Type").contains("multipart/alternative"),
            "{mbox}"
        );
        assert!(
            mbox.contains("Content-Type: text/plain; charset=utf-8"),
            "{mbox}"
        );
        assert!(
            mbox.contains("Content-Type: text/html; charset=utf-8"),
            "{mbox}"
        );
        // Authenticated as the test user (exim records it).
        assert!(mbox.contains("Envelope-to: "), "{mbox}");
        // Plain part as written, HTML part escaped.
        assert!(mbox.contains("<script>alert(1)</script> & more"), "{mbox}");
        assert!(
            mbox.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"),
            "{mbox}"
        );
        assert!(mbox.contains("What failed: HTTP 503"), "{mbox}");
        assert!(
            mbox.contains("https://autoheal.example.com/incidents/42"),
            "{mbox}"
        );
        assert_eq!(
            mbox.matches("<script>").count(),
            1,
            "only in the plain part: {mbox}"
        );
    }

    #[tokio::test]
    async fn starttls_and_implicit_tls_are_used_and_the_certificate_is_checked() {
        let Some(s) = smtp() else { return };
        for (security, port) in [("starttls", s.port), ("tls", s.tls_port)] {
            let to = unique(security);
            let cfg = |ca: Option<&str>| {
                json!({"type": "email", "host": "localhost", "port": port, "security": security,
                       "username": s.user, "password": s.password, "tls_ca_pem": ca,
                       "from": "autoheal@autoheal.test", "to": [to], "timeout": "10s"})
            };
            assert_eq!(
                build(cfg(Some(&s.ca_pem))).send(&message()).await,
                Delivery::Sent,
                "{security}"
            );
            let mail = delivered(&s, &to);
            // exim's Received header: "esmtpsa" = ESMTP over TLS, authenticated.
            assert!(
                mail.contains("with esmtpsa ") && mail.contains("(TLS1."),
                "{security}: {mail}"
            );
            // Without the test CA, only Mozilla's roots: the certificate is refused.
            let d = build(cfg(None)).send(&message()).await;
            let Delivery::Retry { why, .. } = &d else {
                panic!("{security}: {d:?}")
            };
            assert!(
                why.to_ascii_lowercase().contains("certificate") || why.contains("UnknownIssuer"),
                "{security}: {why}"
            );
        }
        // The certificate names localhost, not another host.
        let d = build(json!({"type": "email", "host": "127.0.0.2", "port": s.port, "security": "starttls", "tls_ca_pem": s.ca_pem,
                              "username": s.user, "password": s.password, "from": "a@autoheal.test", "to": ["b@autoheal.test"]}))
        .send(&message())
        .await;
        assert!(matches!(d, Delivery::Retry { .. }), "{d:?}");
    }

    #[tokio::test]
    async fn hostile_content_is_delivered_without_header_injection() {
        let Some(s) = smtp() else { return };
        let to = unique("hostile");
        let mut m = hostile();
        m.title = "down\r\nBcc: victim@example.com\r\nX-Evil: 1".into();
        m.event_id = "evt\r\nBcc: x@example.com".into();
        let ch = channel(&s, &to, &s.password);
        assert_eq!(ch.send(&m).await, Delivery::Sent);
        let mbox = delivered(&s, &to);
        let headers = &mbox[..mbox.find("\n\n").unwrap()];
        assert!(
            !headers
                .lines()
                .any(|l| l.starts_with("Bcc:") || l.starts_with("X-Evil:")),
            "{headers}"
        );
        assert!(
            headers.contains("Subject: down Bcc: victim@example.com X-Evil: 1"),
            "{headers}"
        );
        assert!(mbox.len() < 300_000, "{} bytes", mbox.len());
    }

    #[tokio::test]
    async fn refusals_are_permanent_or_temporary_as_the_server_says_and_hold_no_password() {
        let Some(s) = smtp() else { return };
        let d = channel(&s, &unique("ops"), "CANARY-wrong-password")
            .send(&message())
            .await;
        let Delivery::Rejected { why } = &d else {
            panic!("{d:?}")
        };
        assert!(why.contains("535"), "{why}");
        assert_clean("email", "an auth failure", why);
        let d = channel(&s, "reject@autoheal.test", &s.password)
            .send(&message())
            .await;
        let Delivery::Rejected { why } = &d else {
            panic!("{d:?}")
        };
        assert!(why.contains("550") && why.contains("no such user"), "{why}");
        let d = channel(&s, "defer@autoheal.test", &s.password)
            .send(&message())
            .await;
        let Delivery::Retry { after: None, why } = &d else {
            panic!("{d:?}")
        };
        assert!(
            why.contains("451") && why.contains("try again later"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_a_closed_port_is_retried() {
        // These need no SMTP server.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = l.accept().await {
                held.push(sock); // never greets
            }
        });
        let ch = build(
            json!({"type": "email", "host": "127.0.0.1", "port": port, "security": "none",
            "from": "a@autoheal.test", "to": ["b@autoheal.test"], "timeout": "1s"}),
        );
        let t = Instant::now();
        let d = ch.send(&message()).await;
        assert!(matches!(d, Delivery::Retry { .. }), "{d:?}");
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let ch = build(
            json!({"type": "email", "host": "localhost", "port": port, "security": "none",
            "from": "a@autoheal.test", "to": ["b@autoheal.test"], "password": "CANARY-pw", "username": "u"}),
        );
        let d = ch.send(&message()).await;
        let Delivery::Retry { why, .. } = &d else {
            panic!("{d:?}")
        };
        assert_clean("email", "a connection error", why);
        assert_clean("email", "the channel's Debug", &format!("{ch:?}"));
    }

    #[test]
    fn the_rendered_parts_are_bounded_and_escaped() {
        let ch = build(
            json!({"type": "email", "host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]}),
        );
        let Rendered::Email {
            subject,
            text,
            html,
        } = ch.render(&hostile())
        else {
            panic!()
        };
        assert!(
            subject.chars().count() <= 200 && !subject.contains(['\r', '\n']),
            "{subject}"
        );
        assert!(text.encode_utf16().count() <= 32_000 + 200);
        assert!(html.len() <= 64_000 + 300, "{}", html.len());
        assert_eq!(
            html.matches("<table>").count(),
            html.matches("</table>").count()
        );
        assert!(!html.contains("<script>") && !html.contains("<i>") && !html.contains("<b>x"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"), "the text is escaped");
        assert!(!text.contains('\u{0}'));
    }
}

/// The exact request each receiver expects (field names from
/// notifications-out.md and the receivers' public API docs).
mod shapes {
    use super::*;
    use base64::Engine as _;

    async fn one(
        kind: &'static str,
        ok: Answer,
        cfg: impl Fn(&str) -> Value,
        m: &Message,
    ) -> (Delivery, Seen) {
        let f = FakeReceiver::start(kind, ok).await;
        let ch = build(cfg(&f.base()));
        let d = ch.send(m).await;
        (d, f.last())
    }

    fn recovered() -> Message {
        Message {
            kind: MessageKind::Recovered,
            severity: Severity::Info,
            title: "web recovered".into(),
            ..message()
        }
    }

    #[tokio::test]
    async fn slack_text_and_blocks() {
        let (d, s) = one(
            "slack",
            Answer::new(200, "ok"),
            |b| json!({"type": "slack", "url": format!("{b}/services/T1/B2/xyz")}),
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(
            (s.method.as_str(), s.path()),
            ("POST", "/services/T1/B2/xyz")
        );
        assert_eq!(s.header("content-type"), Some("application/json"));
        let v = s.json();
        assert_eq!(v["mrkdwn"], false);
        assert!(v["text"]
            .as_str()
            .unwrap()
            .starts_with("web is down\nGET /health answered 503"));
        assert_eq!(
            v["blocks"][0],
            json!({"type": "header", "text": {"type": "plain_text", "text": "web is down", "emoji": true}})
        );
        assert_eq!(v["blocks"][1]["text"]["type"], "plain_text");
        assert_eq!(v["blocks"][2]["fields"][0]["text"], "What failed: HTTP 503");
        assert_eq!(v["blocks"][2]["fields"][2]["text"], "Targets: web");
        assert!(v["blocks"][3]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains("<https://autoheal.example.com/incidents/42|Open incident>"));
        // A removed webhook is gone; a missing channel is refused.
        let (d, _) = one(
            "slack",
            Answer::new(404, "no_service"),
            |b| json!({"type": "slack", "url": format!("{b}/x")}),
            &message(),
        )
        .await;
        assert_eq!(
            d,
            Delivery::Gone {
                why: "HTTP 404: no_service".into()
            }
        );
        let (d, _) = one(
            "slack",
            Answer::new(404, "channel_not_found"),
            |b| json!({"type": "slack", "url": format!("{b}/x")}),
            &message(),
        )
        .await;
        assert_eq!(
            d,
            Delivery::Rejected {
                why: "HTTP 404: channel_not_found".into()
            }
        );
    }

    #[tokio::test]
    async fn discord_content_embeds_and_unknown_webhook() {
        let cfg = |b: &str| json!({"type": "discord", "url": format!("{b}/api/webhooks/1/tok?thread_id=9&wait=false"), "username": "autoheal", "avatar_url": "https://autoheal.example.com/a.png"});
        let (d, s) = one(
            "discord",
            Answer::json(200, json!({"id": "1"})),
            cfg,
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.uri, "/api/webhooks/1/tok?thread_id=9&wait=true");
        let v = s.json();
        assert_eq!(v["content"], "web is down");
        assert_eq!(v["username"], "autoheal");
        assert_eq!(v["avatar_url"], "https://autoheal.example.com/a.png");
        assert_eq!(v["allowed_mentions"], json!({"parse": []}));
        let e = &v["embeds"][0];
        assert_eq!(e["title"], "web is down");
        assert_eq!(
            e["description"],
            "GET /health answered 503 three times in a row\\."
        );
        assert_eq!(e["color"], 0xe74c3c);
        assert_eq!(e["url"], "https://autoheal.example.com/incidents/42");
        assert_eq!(e["timestamp"], "2026-12-04T18:00:00Z");
        assert_eq!(
            e["fields"][0],
            json!({"name": "What failed", "value": "HTTP 503", "inline": false})
        );
        assert_eq!(
            e["fields"][2],
            json!({"name": "Targets", "value": "web", "inline": false})
        );
        assert!(e["footer"]["text"].as_str().unwrap().contains(EVENT_ID));
        let (d, _) = one(
            "discord",
            Answer::json(404, json!({"message": "Unknown Webhook", "code": 10015})),
            cfg,
            &message(),
        )
        .await;
        assert_eq!(
            d,
            Delivery::Gone {
                why: "HTTP 404: Unknown Webhook; code 10015".into()
            }
        );
        let (d, _) = one(
            "discord",
            Answer::json(404, json!({"message": "Unknown Channel", "code": 10003})),
            cfg,
            &message(),
        )
        .await;
        assert!(matches!(d, Delivery::Rejected { .. }), "{d:?}");
    }

    #[tokio::test]
    async fn teams_adaptive_card() {
        let (d, s) = one(
            "teams",
            Answer::new(202, ""),
            |b| json!({"type": "teams", "url": format!("{b}/wf?sig=s")}),
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        let v = s.json();
        assert_eq!(v["type"], "message");
        let a = &v["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(a["content"]["version"], "1.4");
        let body = a["content"]["body"].as_array().unwrap();
        assert_eq!(body[0]["type"], "RichTextBlock");
        assert_eq!(
            body[0]["inlines"][0],
            json!({"type": "TextRun", "text": "web is down", "weight": "Bolder", "size": "Medium", "color": "Attention"})
        );
        assert_eq!(body[2]["inlines"][1]["text"], "HTTP 503");
        assert_eq!(
            a["content"]["actions"][0],
            json!({"type": "Action.OpenUrl", "title": "Open incident", "url": "https://autoheal.example.com/incidents/42"})
        );
    }

    #[tokio::test]
    async fn telegram_send_message() {
        let cfg = |b: &str| json!({"type": "telegram", "api_url": b, "bot_token": "123:abc-DEF_g", "chat_id": "-1001", "message_thread_id": 5});
        let (d, s) = one(
            "telegram",
            Answer::json(200, json!({"ok": true, "result": {}})),
            cfg,
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.path(), "/bot123:abc-DEF_g/sendMessage");
        let v = s.json();
        assert_eq!(v["chat_id"], -1001);
        assert_eq!(v["parse_mode"], "HTML");
        assert_eq!(v["message_thread_id"], 5);
        assert_eq!(v["link_preview_options"], json!({"is_disabled": true}));
        assert_eq!(
            v["text"],
            "<b>web is down</b>\nGET /health answered 503 three times in a row.\n<b>What failed:</b> HTTP 503\n<b>What autoheal did:</b> restart (rung 1, attempt 1)\n<b>Targets:</b> web\n<a href=\"https://autoheal.example.com/incidents/42\">Open incident</a>"
        );
        // A 200 that says no, and Telegram's error shapes.
        let (d, _) = one(
            "telegram",
            Answer::json(
                200,
                json!({"ok": false, "description": "Bad Request: chat not found"}),
            ),
            cfg,
            &message(),
        )
        .await;
        assert_eq!(
            d,
            Delivery::Rejected {
                why: "Bad Request: chat not found".into()
            }
        );
        let (d, _) = one("telegram", Answer::json(403, json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})), cfg, &message()).await;
        assert_eq!(
            d,
            Delivery::Rejected {
                why: "HTTP 403: Forbidden: bot was blocked by the user".into()
            }
        );
        let (_, s) = one(
            "telegram",
            Answer::json(200, json!({"ok": true})),
            |b| json!({"type": "telegram", "api_url": b, "bot_token": "1:a", "chat_id": "@ops"}),
            &message(),
        )
        .await;
        assert_eq!(s.json()["chat_id"], "@ops");
    }

    #[tokio::test]
    async fn ntfy_json_publish_with_token_or_basic_auth() {
        let (d, s) = one("ntfy", Answer::json(200, json!({"id": "1"})), |b| json!({"type": "ntfy", "server": format!("{b}/"), "topic": "ops", "token": "tk_abc", "tags": ["prod"]}), &message()).await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!((s.method.as_str(), s.path()), ("POST", "/"));
        assert_eq!(s.header("authorization"), Some("Bearer tk_abc"));
        let v = s.json();
        assert_eq!(v["topic"], "ops");
        assert_eq!(v["title"], "web is down");
        assert_eq!(v["priority"], 5);
        assert_eq!(v["tags"], json!(["rotating_light", "prod"]));
        assert_eq!(v["click"], "https://autoheal.example.com/incidents/42");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with("GET /health answered 503"));
        let (_, s) = one("ntfy", Answer::json(200, json!({})), |b| json!({"type": "ntfy", "server": b, "topic": "ops", "username": "u", "password": "p", "priority": 2}), &recovered()).await;
        let basic = base64::engine::general_purpose::STANDARD.encode("u:p");
        assert_eq!(
            s.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
        assert_eq!(s.json()["priority"], 2);
        assert_eq!(s.json()["tags"][0], "white_check_mark");
    }

    #[tokio::test]
    async fn gotify_message() {
        let (d, s) = one(
            "gotify",
            Answer::json(200, json!({"id": 1})),
            |b| json!({"type": "gotify", "server": format!("{b}/gotify"), "token": "AppTok"}),
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.path(), "/gotify/message");
        assert_eq!(s.header("x-gotify-key"), Some("AppTok"));
        let v = s.json();
        assert_eq!(v["title"], "web is down");
        assert_eq!(v["priority"], 10);
        assert_eq!(v["extras"]["client::display"]["contentType"], "text/plain");
        assert_eq!(
            v["extras"]["client::notification"]["click"]["url"],
            "https://autoheal.example.com/incidents/42"
        );
    }

    #[tokio::test]
    async fn pushover_form() {
        let cfg = |b: &str| json!({"type": "pushover", "api_url": b, "token": "apptoken", "user_key": "userkey", "sound": "siren"});
        let (d, s) = one(
            "pushover",
            Answer::json(200, json!({"status": 1, "request": "r"})),
            cfg,
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.path(), "/1/messages.json");
        assert_eq!(
            s.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let f: std::collections::BTreeMap<String, String> = s.form().into_iter().collect();
        assert_eq!(f["token"], "apptoken");
        assert_eq!(f["user"], "userkey");
        assert_eq!(f["title"], "web is down");
        assert_eq!(f["priority"], "1");
        assert_eq!(f["sound"], "siren");
        assert_eq!(f["url"], "https://autoheal.example.com/incidents/42");
        assert_eq!(f["timestamp"], "1796407200");
        assert!(f["message"].starts_with("GET /health"));
        let (d, _) = one(
            "pushover",
            Answer::json(
                200,
                json!({"status": 0, "errors": ["user identifier is invalid"]}),
            ),
            cfg,
            &message(),
        )
        .await;
        assert!(
            matches!(&d, Delivery::Rejected { why } if why.contains("user identifier is invalid")),
            "{d:?}"
        );
    }

    #[tokio::test]
    async fn matrix_put_with_the_event_id_as_txn_id() {
        let (d, s) = one("matrix", Answer::json(200, json!({"event_id": "$e"})), |b| json!({"type": "matrix", "homeserver": b, "room_id": "!room:example.org", "access_token": "syt_x"}), &message()).await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.method, "PUT");
        assert_eq!(
            s.path(),
            format!("/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/{EVENT_ID}")
        );
        assert_eq!(s.header("authorization"), Some("Bearer syt_x"));
        let v = s.json();
        assert_eq!(v["msgtype"], "m.notice");
        assert_eq!(v["format"], "org.matrix.custom.html");
        assert!(v["formatted_body"]
            .as_str()
            .unwrap()
            .starts_with("<b>web is down</b><br>GET /health"));
        assert!(v["body"]
            .as_str()
            .unwrap()
            .starts_with("web is down\nGET /health"));
        // A txn id with path characters stays one segment.
        let m = Message {
            event_id: "a/b?c#d".into(),
            ..message()
        };
        let (_, s) = one(
            "matrix",
            Answer::json(200, json!({})),
            |b| json!({"type": "matrix", "homeserver": b, "room_id": "!r:x", "access_token": "t"}),
            &m,
        )
        .await;
        assert_eq!(
            s.path(),
            "/_matrix/client/v3/rooms/!r:x/send/m.room.message/a%2Fb%3Fc%23d"
        );
    }

    #[tokio::test]
    async fn pagerduty_trigger_and_resolve_keyed_by_incident() {
        let cfg = |b: &str| json!({"type": "pagerduty", "api_url": b, "routing_key": "R0123456789abcdef0123456789abcde", "source": "prod-autoheal"});
        let (d, s) = one(
            "pagerduty",
            Answer::json(202, json!({"status": "success"})),
            cfg,
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.path(), "/v2/enqueue");
        let v = s.json();
        assert_eq!(v["routing_key"], "R0123456789abcdef0123456789abcde");
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["dedup_key"], "autoheal-incident-42");
        assert_eq!(v["payload"]["summary"], "web is down");
        assert_eq!(v["payload"]["source"], "prod-autoheal");
        assert_eq!(v["payload"]["severity"], "critical");
        assert_eq!(v["payload"]["timestamp"], "2026-12-04T18:00:00.000Z");
        assert_eq!(v["payload"]["component"], "web");
        assert_eq!(v["payload"]["class"], "incident_opened");
        assert_eq!(
            v["payload"]["custom_details"]["fields"]["What failed"],
            "HTTP 503"
        );
        assert_eq!(
            v["links"][0]["href"],
            "https://autoheal.example.com/incidents/42"
        );
        let (d, s) = one(
            "pagerduty",
            Answer::json(202, json!({"status": "success"})),
            cfg,
            &recovered(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(
            s.json(),
            json!({"routing_key": "R0123456789abcdef0123456789abcde", "event_action": "resolve", "dedup_key": "autoheal-incident-42"})
        );
        // Nothing to tell: no request at all.
        let f = FakeReceiver::start("pagerduty", Answer::json(202, json!({}))).await;
        let ch = build(cfg(&f.base()));
        let started = Message {
            kind: MessageKind::HealStarted,
            ..message()
        };
        assert!(matches!(ch.send(&started).await, Delivery::Skipped { .. }));
        let orphan = Message {
            incident_id: None,
            ..recovered()
        };
        assert!(matches!(ch.send(&orphan).await, Delivery::Skipped { .. }));
        assert!(f.seen().is_empty());
        let test = Message::test("t1");
        assert_eq!(ch.send(&test).await, Delivery::Sent);
        assert_eq!(f.last().json()["dedup_key"], "autoheal-event-t1");
        let (d, _) = one("pagerduty", Answer::json(400, json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["'payload.summary' is missing"]})), cfg, &message()).await;
        assert_eq!(
            d,
            Delivery::Rejected {
                why: "HTTP 400: Event object is invalid; 'payload.summary' is missing".into()
            }
        );
    }

    #[tokio::test]
    async fn opsgenie_create_and_close_by_alias() {
        let cfg =
            |b: &str| json!({"type": "opsgenie", "api_url": b, "api_key": "gk", "tags": ["prod"]});
        let ok = || {
            Answer::json(
                202,
                json!({"result": "Request will be processed", "requestId": "r"}),
            )
        };
        let (d, s) = one("opsgenie", ok(), cfg, &message()).await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!((s.method.as_str(), s.path()), ("POST", "/v2/alerts"));
        assert_eq!(s.header("authorization"), Some("GenieKey gk"));
        let v = s.json();
        assert_eq!(v["message"], "web is down");
        assert_eq!(v["alias"], "autoheal-incident-42");
        assert_eq!(v["priority"], "P1");
        assert_eq!(v["tags"], json!(["autoheal", "incident_opened", "prod"]));
        assert_eq!(v["entity"], "web");
        assert_eq!(v["source"], "autoheal");
        assert_eq!(v["details"]["What failed"], "HTTP 503");
        assert!(v["description"].as_str().unwrap().contains("GET /health"));
        let (d, s) = one("opsgenie", ok(), cfg, &recovered()).await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(
            s.uri,
            "/v2/alerts/autoheal-incident-42/close?identifierType=alias"
        );
        assert_eq!(s.json()["source"], "autoheal");
        // The region picks the base URL.
        let eu: ChannelConfig =
            serde_json::from_value(json!({"type": "opsgenie", "api_key": "k", "region": "eu"}))
                .unwrap();
        let ch = eu.build(&HttpClients::new().unwrap()).unwrap();
        assert!(
            format!("{ch:?}").contains("https://api.eu.opsgenie.com"),
            "{ch:?}"
        );
        let us: ChannelConfig =
            serde_json::from_value(json!({"type": "opsgenie", "api_key": "k"})).unwrap();
        assert!(
            format!("{:?}", us.build(&HttpClients::new().unwrap()).unwrap())
                .contains("https://api.opsgenie.com")
        );
    }

    #[tokio::test]
    async fn twilio_form_with_basic_auth() {
        let sid = "AC0123456789abcdef0123456789abcdef";
        let (d, s) = one("twilio", Answer::json(201, json!({"sid": "SM1"})), |b| json!({"type": "twilio", "api_url": b, "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok", "from": "+15005550006", "to": "+14155550100"}), &message()).await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(
            s.path(),
            format!("/2010-04-01/Accounts/{sid}/Messages.json")
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:tok"));
        assert_eq!(
            s.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
        let f: std::collections::BTreeMap<String, String> = s.form().into_iter().collect();
        assert_eq!(f["To"], "+14155550100");
        assert_eq!(f["From"], "+15005550006");
        assert!(f["Body"].starts_with("web is down\nGET /health"));
        let (_, s) = one("twilio", Answer::json(201, json!({})), |b| json!({"type": "twilio", "api_url": b, "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok", "messaging_service_sid": "MG1", "to": "+14155550100"}), &hostile()).await;
        let f: std::collections::BTreeMap<String, String> = s.form().into_iter().collect();
        assert_eq!(f["MessagingServiceSid"], "MG1");
        assert!(f["Body"].encode_utf16().count() <= 1600);
        let (d, _) = one("twilio", Answer::json(400, json!({"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400})), |b| json!({"type": "twilio", "api_url": b, "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok", "from": "+15005550006", "to": "+14155550100"}), &message()).await;
        assert_eq!(
            d,
            Delivery::Rejected {
                why: "HTTP 400: The 'To' number is not a valid phone number.; code 21211".into()
            }
        );
    }

    #[tokio::test]
    async fn webhook_templates_and_presets() {
        let m = Message {
            text: "line \"1\"\nline 2".into(),
            ..message()
        };
        let (d, s) = one("webhook", Answer::new(200, ""), |b| json!({"type": "webhook", "url": format!("{b}/h"), "method": "put", "headers": {"X-Token": "t"},
            "body": r#"{"e": "{{ event_id }}", "k": "{{kind}}", "s": "{{severity}}", "t": "{{title}}", "x": "{{text}}", "g": "{{targets}}", "i": "{{incident_id}}", "at": "{{occurred_at}}", "l": "{{link}}", "f": "{{fields}}"}"#}), &m).await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.method, "PUT");
        assert_eq!(s.header("x-token"), Some("t"));
        assert_eq!(s.header("idempotency-key"), Some(EVENT_ID));
        assert_eq!(s.header("content-type"), Some("application/json"));
        assert_eq!(
            s.json(),
            json!({"e": EVENT_ID, "k": "incident_opened", "s": "critical", "t": "web is down", "x": "line \"1\"\nline 2", "g": "web", "i": "42",
                   "at": "2026-12-04T18:00:00Z", "l": "https://autoheal.example.com/incidents/42", "f": "What failed: HTTP 503\nWhat autoheal did: restart (rung 1, attempt 1)"})
        );
        // docker-autoheal's WEBHOOK_URL message, with its key.
        let (_, s) = one(
            "webhook",
            Answer::new(200, ""),
            |b| json!({"type": "webhook", "url": b, "preset": "docker_autoheal", "key": "content"}),
            &m,
        )
        .await;
        assert_eq!(s.json(), json!({"content": "line \"1\"\nline 2"}));
        let (_, s) = one(
            "webhook",
            Answer::new(200, ""),
            |b| json!({"type": "webhook", "url": b, "preset": "docker_autoheal"}),
            &m,
        )
        .await;
        assert_eq!(s.json(), json!({"text": "line \"1\"\nline 2"}));
        // No body given: the message itself.
        let (_, s) = one(
            "webhook",
            Answer::new(200, ""),
            |b| json!({"type": "webhook", "url": b}),
            &m,
        )
        .await;
        let back: Message = serde_json::from_value(s.json()).unwrap();
        assert_eq!(back, m);
    }

    #[tokio::test]
    async fn the_uptime_kuma_preset_reads_back_through_autoheals_own_kuma_parser() {
        use autoheal_plugins::alert::{self, AlertRequest, AlertSource, AlertState, Ignored};
        let f = FakeReceiver::start("webhook", Answer::new(200, "")).await;
        let ch = build(json!({"type": "webhook", "url": f.base(), "preset": "uptime_kuma"}));
        let read = |s: &Seen| {
            let req = AlertRequest {
                method: "POST",
                content_type: Some("application/json"),
                query: "",
                body: &s.body,
            };
            assert_eq!(alert::recognise(&req), Some(AlertSource::UptimeKuma));
            alert::parse(&AlertSource::UptimeKuma, &req)
                .unwrap()
                .remove(0)
        };
        assert_eq!(ch.send(&message()).await, Delivery::Sent);
        let a = read(&f.last());
        assert_eq!(a.state, Ok(AlertState::Down));
        assert_eq!(a.subject.as_deref(), Some("web"));
        assert!(
            a.detail.contains("GET /health answered 503"),
            "{}",
            a.detail
        );
        ch.send(&recovered()).await;
        assert_eq!(read(&f.last()).state, Ok(AlertState::Up));
        ch.send(&Message::test("t")).await;
        assert_eq!(read(&f.last()).state, Err(Ignored::Test));
    }

    #[tokio::test]
    async fn apprise_stateful_stateless_and_a_full_notify_url() {
        let (d, s) = one(
            "apprise",
            Answer::new(200, "OK"),
            |b| json!({"type": "apprise", "url": b, "key": "mykey", "tag": "ops"}),
            &message(),
        )
        .await;
        assert_eq!(d, Delivery::Sent);
        assert_eq!(s.path(), "/notify/mykey");
        let v = s.json();
        assert_eq!(
            (
                v["title"].as_str(),
                v["type"].as_str(),
                v["format"].as_str(),
                v["tag"].as_str()
            ),
            (
                Some("web is down"),
                Some("failure"),
                Some("text"),
                Some("ops")
            )
        );
        assert!(v["body"].as_str().unwrap().starts_with("GET /health"));
        let (_, s) = one(
            "apprise",
            Answer::new(200, "OK"),
            |b| json!({"type": "apprise", "url": b, "urls": "mailto://u:p@example.com"}),
            &recovered(),
        )
        .await;
        assert_eq!(s.path(), "/notify");
        assert_eq!(s.json()["urls"], "mailto://u:p@example.com");
        assert_eq!(s.json()["type"], "success");
        // docker-autoheal's APPRISE_URL is the full endpoint.
        let (_, s) = one(
            "apprise",
            Answer::new(200, "OK"),
            |b| json!({"type": "apprise", "url": format!("{b}/notify/abc")}),
            &message(),
        )
        .await;
        assert_eq!(s.path(), "/notify/abc");
        // 424: one of Apprise's services failed; try again.
        let (d, _) = one(
            "apprise",
            Answer::new(424, "Failed Dependency"),
            |b| json!({"type": "apprise", "url": b, "key": "k"}),
            &message(),
        )
        .await;
        assert_eq!(
            d,
            Delivery::Retry {
                after: None,
                why: "HTTP 424: Failed Dependency".into()
            }
        );
    }
}

/// Settings are checked once, at build.
mod configs {
    use super::*;

    fn err(v: Value) -> autoheal_plugins::BuildError {
        let cfg: ChannelConfig = serde_json::from_value(v).unwrap();
        cfg.build(&HttpClients::new().unwrap()).unwrap_err()
    }

    #[test]
    fn unknown_keys_are_refused_for_every_channel() {
        for c in cases() {
            let mut v = (c.config)("http://127.0.0.1:1");
            v["timeuot"] = json!("5s");
            let e = serde_json::from_value::<ChannelConfig>(v)
                .unwrap_err()
                .to_string();
            assert!(e.contains("timeuot"), "{}: {e}", c.kind);
        }
        let e = serde_json::from_value::<ChannelConfig>(json!({"type": "carrier_pigeon"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("carrier_pigeon"), "{e}");
    }

    #[test]
    fn the_timeout_is_1_to_30_seconds_and_15_by_default() {
        for c in cases() {
            let v = (c.config)("http://127.0.0.1:1");
            assert_eq!(
                build(v.clone()).timeout(),
                Duration::from_secs(15),
                "{}",
                c.kind
            );
            for bad in ["0s", "500ms", "31s"] {
                let mut v = v.clone();
                v["timeout"] = json!(bad);
                assert_eq!(err(v).key, "timeout", "{} {bad}", c.kind);
            }
            let mut v = v.clone();
            v["timeout"] = json!("30s");
            assert_eq!(build(v).timeout(), Duration::from_secs(30));
        }
    }

    #[test]
    fn metadata_addresses_and_other_schemes_are_refused_for_every_channel() {
        for c in cases() {
            for base in ["http://169.254.169.254", "http://[fe80::1]", "file:///etc"] {
                let v = (c.config)(base);
                let cfg: ChannelConfig = serde_json::from_value(v).unwrap();
                let e = cfg.build(&HttpClients::new().unwrap()).unwrap_err();
                assert!(
                    e.why.contains("link-local")
                        || e.why.contains("scheme")
                        || e.why.contains("host"),
                    "{} {base}: {e}",
                    c.kind
                );
                assert_clean(c.kind, "a build error", &e.to_string());
            }
        }
        let e = err(
            json!({"type": "email", "host": "169.254.169.254", "from": "a@b.c", "to": ["d@e.f"]}),
        );
        assert_eq!(e.key, "host");
    }

    #[test]
    fn channel_specific_checks() {
        let e = |v| err(v).key;
        assert_eq!(
            e(json!({"type": "telegram", "bot_token": "nope", "chat_id": "1"})),
            "bot_token"
        );
        assert_eq!(
            e(json!({"type": "telegram", "bot_token": "1:a", "chat_id": "ops"})),
            "chat_id"
        );
        assert_eq!(e(json!({"type": "ntfy", "topic": "a/b"})), "topic");
        assert_eq!(
            e(json!({"type": "ntfy", "topic": "a", "priority": 6})),
            "priority"
        );
        assert_eq!(
            e(
                json!({"type": "ntfy", "topic": "a", "token": "t", "username": "u", "password": "p"})
            ),
            "token"
        );
        assert_eq!(
            e(json!({"type": "ntfy", "topic": "a", "username": "u"})),
            "password"
        );
        assert_eq!(
            e(json!({"type": "gotify", "server": "http://g", "token": " "})),
            "token"
        );
        assert_eq!(
            e(json!({"type": "gotify", "server": "http://g", "token": "t", "priority": 11})),
            "priority"
        );
        assert_eq!(
            e(json!({"type": "pushover", "token": "t", "user_key": "u", "priority": 2})),
            "priority"
        );
        assert_eq!(
            e(
                json!({"type": "matrix", "homeserver": "http://m", "room_id": "#alias:m", "access_token": "t"})
            ),
            "room_id"
        );
        assert_eq!(
            e(json!({"type": "pagerduty", "routing_key": "short"})),
            "routing_key"
        );
        assert_eq!(
            e(json!({"type": "opsgenie", "api_key": "k", "tags": ["x".repeat(51)]})),
            "tags"
        );
        assert_eq!(
            e(
                json!({"type": "twilio", "account_sid": "nope", "auth_token": "t", "from": "+15005550006", "to": "+14155550100"})
            ),
            "account_sid"
        );
        assert_eq!(
            e(
                json!({"type": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "t", "from": "5550006", "to": "+14155550100"})
            ),
            "from"
        );
        assert_eq!(
            e(
                json!({"type": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "t", "to": "+14155550100"})
            ),
            "from"
        );
        assert_eq!(
            e(
                json!({"type": "webhook", "url": "http://h", "body": "{\"a\": \"{{secret_file}}\"}"})
            ),
            "body"
        );
        assert_eq!(
            e(json!({"type": "webhook", "url": "http://h", "body": "plain {{text}}"})),
            "body"
        );
        assert_eq!(
            e(json!({"type": "webhook", "url": "http://h", "body": "{}", "preset": "uptime_kuma"})),
            "body"
        );
        assert_eq!(
            e(json!({"type": "webhook", "url": "http://h", "key": "k"})),
            "key"
        );
        assert_eq!(
            e(json!({"type": "webhook", "url": "http://h", "method": "DELETE"})),
            "method"
        );
        assert_eq!(
            e(json!({"type": "webhook", "url": "http://h", "headers": {"X": "a\nb"}})),
            "headers.X"
        );
        assert_eq!(e(json!({"type": "apprise", "url": "http://a"})), "key");
        assert_eq!(
            e(json!({"type": "apprise", "url": "http://a", "key": "k", "urls": "x://"})),
            "key"
        );
        assert_eq!(
            e(
                json!({"type": "email", "host": "smtp.example.com", "from": "nope", "to": ["a@b.c"]})
            ),
            "from"
        );
        assert_eq!(
            e(json!({"type": "email", "host": "smtp.example.com", "from": "a@b.c", "to": []})),
            "to"
        );
        assert_eq!(
            e(json!({"type": "email", "host": "smtp.example.com", "from": "a@b.c", "to": ["x"]})),
            "to[0]"
        );
        assert_eq!(
            e(
                json!({"type": "email", "host": "smtp.example.com", "from": "a@b.c", "to": ["a@b.c"], "username": "u"})
            ),
            "password"
        );
    }

    #[test]
    fn configs_round_trip_through_serde() {
        for c in cases() {
            let cfg: ChannelConfig =
                serde_json::from_value((c.config)("http://127.0.0.1:1")).unwrap();
            let again: ChannelConfig =
                serde_json::from_value(serde_json::to_value(&cfg).unwrap()).unwrap();
            assert_eq!(again, cfg, "{}", c.kind);
            assert_eq!(serde_json::to_value(&cfg).unwrap()["type"], c.kind);
        }
    }
}
