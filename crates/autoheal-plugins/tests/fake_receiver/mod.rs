//! A local stand-in for the receivers of notifications (Slack, Discord,
//! Telegram, ...), served by axum on 127.0.0.1:0.
//!
//! It records every request and answers from a script (one [`Answer`] per
//! request, then the default). Before answering with a success it checks
//! the request against the receiver's documented limits ([`accepts`]) and
//! answers 400 as that receiver does when one is broken (Discord's code
//! 50035, Telegram's "can't parse entities", Slack's `invalid_blocks`), so a
//! formatter that overflows a limit fails its test. An answer can also hang
//! for ever (to test timeouts).
//!
//! Reuse it from another test crate with
//!
//! ```ignore
//! #[path = "../../autoheal-plugins/tests/fake_receiver/mod.rs"]
//! mod fake_receiver;
//! ```

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, percent-encoded as sent.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// An `application/x-www-form-urlencoded` body as pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Never answer.
    pub hang: bool,
}

impl Answer {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
            hang: false,
        }
    }

    pub fn json(status: u16, body: Value) -> Self {
        Answer::new(status, body.to_string()).header("content-type", "application/json")
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn hang() -> Self {
        Answer {
            hang: true,
            ..Answer::new(200, "")
        }
    }
}

struct Inner {
    seen: Vec<Seen>,
    script: VecDeque<Answer>,
    default: Answer,
    /// The receiver whose limits are checked before a success.
    kind: &'static str,
}

/// A running fake receiver.
#[derive(Clone)]
pub struct FakeReceiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeReceiver {
    /// Starts a receiver acting as `kind` (`"slack"`, ...), answering
    /// `default` unless scripted otherwise.
    pub async fn start(kind: &'static str, default: Answer) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            seen: Vec::new(),
            script: VecDeque::new(),
            default,
            kind,
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        FakeReceiver { addr, inner }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next request gets `a` (queued after earlier scripted answers).
    pub fn then(&self, a: Answer) {
        self.inner.lock().unwrap().script.push_back(a);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the receiver got no request")
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let (answer, kind) = {
        let mut g = inner.lock().unwrap();
        g.seen.push(seen.clone());
        let a = g.script.pop_front().unwrap_or_else(|| g.default.clone());
        (a, g.kind)
    };
    if answer.hang {
        std::future::pending::<()>().await;
    }
    let answer = if (200..300).contains(&answer.status) {
        match accepts_request(kind, &seen) {
            Ok(()) => answer,
            Err(why) => refusal(kind, &why),
        }
    } else {
        answer
    };
    let mut resp = (
        StatusCode::from_u16(answer.status).unwrap(),
        answer.body.clone(),
    )
        .into_response();
    for (k, v) in &answer.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

/// How each receiver refuses a request that breaks its limits.
fn refusal(kind: &str, why: &str) -> Answer {
    match kind {
        "slack" => Answer::new(400, "invalid_blocks"),
        "discord" => Answer::json(
            400,
            serde_json::json!({"message": "Invalid Form Body", "code": 50035, "errors": {"why": why}}),
        ),
        "telegram" => Answer::json(
            400,
            serde_json::json!({"ok": false, "error_code": 400, "description": format!("Bad Request: {why}")}),
        ),
        _ => Answer::json(400, serde_json::json!({"message": why})),
    }
}

/// What the body of a request is, by the receiver's content type.
pub enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
}

fn accepts_request(kind: &str, seen: &Seen) -> Result<(), String> {
    let ct = seen.header("content-type").unwrap_or("");
    let body = if ct.starts_with("application/x-www-form-urlencoded") {
        Body::Form(seen.form())
    } else {
        Body::Json(
            serde_json::from_slice(&seen.body).map_err(|e| format!("the body is not JSON: {e}"))?,
        )
    };
    accepts(kind, &body)
}

/// UTF-16 length (what Telegram and Discord count).
pub fn u16len(s: &str) -> usize {
    s.encode_utf16().count()
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn at_most(what: &str, len: usize, max: usize) -> Result<(), String> {
    if len > max {
        Err(format!("{what} is {len} long, more than {max}"))
    } else {
        Ok(())
    }
}

fn no_controls(what: &str, t: &str) -> Result<(), String> {
    match t
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        Some(c) => Err(format!("{what} holds control character {:?}", c)),
        None => Ok(()),
    }
}

/// Telegram's HTML: only `<b>`, `</b>`, `<a href="...">`, `</a>` tags,
/// balanced, and `&` only in `&lt;`, `&gt;`, `&amp;`, `&quot;`, `&#39;`.
fn telegram_html(t: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find(['<', '&']) {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('&') {
            let ok = ["lt;", "gt;", "amp;", "quot;", "#39;"]
                .iter()
                .any(|e| after.starts_with(e));
            if !ok {
                return Err("can't parse entities: bad character reference".into());
            }
            rest = after;
            continue;
        }
        let end = tail.find('>').ok_or("can't parse entities: unclosed tag")?;
        let tag = &tail[1..end];
        match tag {
            "b" => stack.push("b"),
            "/b" | "/a" => {
                if stack.pop() != Some(&tag[1..]) {
                    return Err(format!("can't parse entities: unexpected end tag {tag}"));
                }
            }
            t if t.starts_with("a href=\"") && t.ends_with('"') => stack.push("a"),
            other => return Err(format!("can't parse entities: unsupported tag {other:?}")),
        }
        rest = &tail[end + 1..];
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err("can't parse entities: unclosed tag".into())
    }
}

/// Whether the receiver `kind` takes this body (its documented limits and
/// required fields).
pub fn accepts(kind: &str, body: &Body) -> Result<(), String> {
    let form = |k: &str| match body {
        Body::Form(f) => f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        Body::Json(_) => None,
    };
    let v = match body {
        Body::Json(v) => v.clone(),
        Body::Form(_) => Value::Null,
    };
    match kind {
        "slack" => {
            at_most("text", s(&v, "/text").chars().count(), 40_000)?;
            let blocks = v["blocks"].as_array().ok_or("no blocks")?;
            at_most("blocks", blocks.len(), 50)?;
            for b in blocks {
                match s(b, "/type") {
                    "header" => at_most("header", s(b, "/text/text").chars().count(), 150)?,
                    "section" => {
                        at_most("section", s(b, "/text/text").chars().count(), 3000)?;
                        if let Some(fields) = b["fields"].as_array() {
                            at_most("fields", fields.len(), 10)?;
                            for f in fields {
                                at_most("field", s(f, "/text").chars().count(), 2000)?;
                            }
                        }
                        if b.get("text").is_none() && b.get("fields").is_none() {
                            return Err("a section needs text or fields".into());
                        }
                    }
                    "context" => {}
                    other => return Err(format!("unknown block {other}")),
                }
                if s(b, "/type") == "header" && s(b, "/text/text").is_empty() {
                    return Err("empty header".into());
                }
            }
            Ok(())
        }
        "discord" => {
            at_most("content", u16len(s(&v, "/content")), 2000)?;
            let embeds = v["embeds"].as_array().cloned().unwrap_or_default();
            at_most("embeds", embeds.len(), 10)?;
            let mut total = 0;
            for e in &embeds {
                let t = u16len(s(e, "/title"));
                at_most("embed title", t, 256)?;
                let d = u16len(s(e, "/description"));
                at_most("embed description", d, 4096)?;
                let f = u16len(s(e, "/footer/text"));
                at_most("footer", f, 2048)?;
                total += t + d + f;
                let fields = e["fields"].as_array().cloned().unwrap_or_default();
                at_most("fields", fields.len(), 25)?;
                for x in &fields {
                    let n = u16len(s(x, "/name"));
                    let val = u16len(s(x, "/value"));
                    if n == 0 || val == 0 {
                        return Err("a field's name and value must not be empty".into());
                    }
                    at_most("field name", n, 256)?;
                    at_most("field value", val, 1024)?;
                    total += n + val;
                }
            }
            at_most("all embeds", total, 6000)?;
            if s(&v, "/content").is_empty() && embeds.is_empty() {
                return Err("Cannot send an empty message".into());
            }
            Ok(())
        }
        "teams" => {
            if s(&v, "/attachments/0/contentType") != "application/vnd.microsoft.card.adaptive" {
                return Err("no adaptive card".into());
            }
            at_most("message", v.to_string().len(), 28 * 1024)
        }
        "telegram" => {
            let t = s(&v, "/text");
            if t.trim().is_empty() {
                return Err("message text is empty".into());
            }
            at_most("message text", u16len(t), 4096)
                .map_err(|_| "message is too long".to_string())?;
            telegram_html(t)
        }
        "ntfy" => {
            at_most("message", s(&v, "/message").len(), 4096)?;
            let p = v["priority"].as_u64().unwrap_or(3);
            if !(1..=5).contains(&p) {
                return Err("invalid priority".into());
            }
            Ok(())
        }
        "gotify" => {
            if s(&v, "/message").is_empty() {
                return Err("message is required".into());
            }
            Ok(())
        }
        "pushover" => {
            let m = form("message").ok_or("message cannot be blank")?;
            if m.is_empty() {
                return Err("message cannot be blank".into());
            }
            at_most("message", m.chars().count(), 1024)?;
            at_most(
                "title",
                form("title").unwrap_or_default().chars().count(),
                250,
            )?;
            at_most("url", form("url").unwrap_or_default().chars().count(), 512)
        }
        "matrix" => {
            if s(&v, "/body").is_empty() || s(&v, "/msgtype").is_empty() {
                return Err("M_BAD_JSON".into());
            }
            at_most("event", v.to_string().len(), 65_536)
        }
        "pagerduty" => {
            if s(&v, "/routing_key").len() != 32 {
                return Err(
                    "Length of 'routing_key' is incorrect (should be 32 characters)".into(),
                );
            }
            match s(&v, "/event_action") {
                "trigger" => {
                    let sum = s(&v, "/payload/summary");
                    if sum.is_empty() {
                        return Err("'payload.summary' is missing or blank".into());
                    }
                    at_most("payload.summary", sum.chars().count(), 1024)?;
                    if s(&v, "/payload/source").is_empty() {
                        return Err("'payload.source' is missing or blank".into());
                    }
                    if !["critical", "error", "warning", "info"]
                        .contains(&s(&v, "/payload/severity"))
                    {
                        return Err("'payload.severity' is invalid".into());
                    }
                    Ok(())
                }
                "acknowledge" | "resolve" if !s(&v, "/dedup_key").is_empty() => Ok(()),
                _ => Err("'event_action' is invalid".into()),
            }
        }
        "opsgenie" => {
            if v.get("alias").is_some() || v.get("message").is_some() {
                let m = s(&v, "/message");
                if m.is_empty() {
                    return Err("Message can not be empty.".into());
                }
                at_most("message", m.chars().count(), 130)?;
                at_most("alias", s(&v, "/alias").chars().count(), 512)?;
                at_most("description", s(&v, "/description").chars().count(), 15_000)?;
                let details: usize = v["details"]
                    .as_object()
                    .map(|d| {
                        d.iter()
                            .map(|(k, x)| {
                                k.chars().count() + x.as_str().unwrap_or("").chars().count()
                            })
                            .sum()
                    })
                    .unwrap_or(0);
                at_most("details", details, 8000)?;
                at_most("tags", v["tags"].as_array().map_or(0, Vec::len), 20)?;
            } else {
                at_most("note", s(&v, "/note").chars().count(), 25_000)?;
            }
            Ok(())
        }
        "twilio" => {
            let b = form("Body").ok_or("A 'Body' or 'MediaUrl' is required")?;
            if b.is_empty() {
                return Err("Message body is required.".into());
            }
            at_most("Body", u16len(&b), 1600)?;
            no_controls("Body", &b)
        }
        "apprise" => {
            if s(&v, "/body").is_empty() {
                return Err("no body".into());
            }
            if !["info", "success", "warning", "failure"].contains(&s(&v, "/type")) {
                return Err("bad type".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
