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
    for c in cases() {
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
    }
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
            text(300),
            proptest::option::of(any::<i64>()),
            proptest::collection::vec(text(10), 0..30),
            proptest::collection::vec((text(10), text(120)), 0..40),
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

    fn channels() -> Vec<(&'static str, Channel)> {
        cases()
            .into_iter()
            .map(|c| (c.kind, build((c.config)("http://127.0.0.1:9"))))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn every_formatter_stays_within_its_receivers_limits(m in message()) {
            for (kind, ch) in channels() {
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
        Some(Smtp {
            host: u.host_str().unwrap().to_string(),
            port: u.port().unwrap_or(25),
            user: u.username().to_string(),
            password: u.password().unwrap_or("").to_string(),
            mail_dir: mail_dir.into(),
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
