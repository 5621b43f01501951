//! A local fake of Render's public API, answering as
//! /work/shared/reference/platforms.md (and docs/platforms.md) says Render
//! does: services and deploys kept in memory, served by axum on
//! 127.0.0.1:0.
//!
//! Reuse it from another test crate (crates/autoheal/tests/...) with
//!
//! ```ignore
//! #[path = "../../autoheal-plugins/tests/fake_render/mod.rs"]
//! mod fake_render;
//! ```
//!
//! (its dependencies are axum, tokio and serde_json, dev-dependencies there
//! too).
//!
//! - `GET /services?limit=&cursor=&name=`: an ARRAY of
//!   `{"service": {...}, "cursor": "..."}` (limit 1..=100, default 20; the
//!   cursor is opaque; `name` is an exact match);
//! - `GET /services/{id}`; `POST /services/{id}/restart` → 202, no body;
//! - `POST /services/{id}/deploys` → 202 (or 201, [`FakeRender::set_deploy_status_code`])
//!   with the deploy object;
//! - `GET /services/{id}/deploys?limit=`: `[{"deploy": {...}, "cursor": ...}]`,
//!   newest first; `GET /services/{id}/deploys/{deployId}`.
//!
//! A deploy walks its path (default `created → build_in_progress →
//! update_in_progress → live`) one step per `reads_per_step` reads of
//! `GET /services/{id}/deploys/{deployId}` (0: never by itself), or when a
//! test calls [`FakeRender::advance`] / [`FakeRender::set_status`]: no wall
//! clock. Every answer carries `Ratelimit-Limit`, `Ratelimit-Remaining`,
//! `Ratelimit-Reset`; a 429 comes when the budget ([`FakeRender::set_budget`])
//! runs out or for the next n requests ([`FakeRender::throttle`]). A missing
//! or wrong `Authorization: Bearer <key>` is 401. 5xx are injected with
//! [`FakeRender::fail_next`]. Every request is logged
//! ([`FakeRender::count`]).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// The key the fake accepts unless told otherwise.
pub const KEY: &str = "rnd_fakeKey123";

/// The default path of a new deploy.
pub const TO_LIVE: &[&str] = &["created", "build_in_progress", "update_in_progress", "live"];
/// A deploy whose build fails.
pub const TO_BUILD_FAILED: &[&str] = &["created", "build_in_progress", "build_failed"];

#[derive(Debug, Clone)]
pub struct FakeService {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub suspended: bool,
}

#[derive(Debug, Clone)]
struct FakeDeploy {
    id: String,
    path: Vec<String>,
    step: usize,
    reads: u32,
    trigger: String,
    clear_cache: Option<String>,
}

impl FakeDeploy {
    fn status(&self) -> &str {
        &self.path[self.step.min(self.path.len() - 1)]
    }

    fn json(&self) -> Value {
        let ended = !matches!(
            self.status(),
            "created"
                | "queued"
                | "build_in_progress"
                | "pre_deploy_in_progress"
                | "update_in_progress"
        );
        json!({
            "id": self.id,
            "status": self.status(),
            "trigger": self.trigger,
            "commit": {"id": "0123abc", "message": "fix", "createdAt": "2024-05-01T10:00:00Z"},
            "createdAt": "2024-05-01T10:00:00Z",
            "updatedAt": "2024-05-01T10:01:00Z",
            "finishedAt": if ended { json!("2024-05-01T10:03:12Z") } else { Value::Null },
        })
    }
}

#[derive(Debug)]
struct St {
    key: String,
    services: Vec<FakeService>,
    /// Newest first.
    deploys: HashMap<String, Vec<FakeDeploy>>,
    next: u64,
    new_path: Vec<String>,
    reads_per_step: u32,
    deploy_code: StatusCode,
    deploy_body: bool,
    limit: u64,
    used: u64,
    reset_secs: u64,
    budget: Option<u64>,
    throttle: u64,
    /// (method, n, status)
    failures: Vec<(Method, u64, StatusCode)>,
    log: Vec<(String, String)>,
    last_body: Option<Value>,
}

/// A running fake; dropping it leaves the server running until the test's
/// runtime ends.
#[derive(Clone)]
pub struct FakeRender {
    pub addr: SocketAddr,
    st: Arc<Mutex<St>>,
}

impl FakeRender {
    /// Starts a fake with no services, accepting [`KEY`].
    pub async fn start() -> Self {
        let st = Arc::new(Mutex::new(St {
            key: KEY.to_string(),
            services: Vec::new(),
            deploys: HashMap::new(),
            next: 1,
            new_path: TO_LIVE.iter().map(|s| s.to_string()).collect(),
            reads_per_step: 1,
            deploy_code: StatusCode::ACCEPTED,
            deploy_body: true,
            limit: 400,
            used: 0,
            reset_secs: 0,
            budget: None,
            throttle: 0,
            failures: Vec::new(),
            log: Vec::new(),
            last_body: None,
        }));
        let app = Router::new().fallback(handle).with_state(st.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        Self { addr, st }
    }

    /// The base URL to give a client (`http://127.0.0.1:port/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut St) -> T) -> T {
        f(&mut self.st.lock().unwrap())
    }

    /// Adds a service; returns its id (`srv-<n>`).
    pub fn add_service(&self, name: &str, kind: &str, suspended: bool) -> String {
        self.with(|s| {
            let id = format!("srv-{:05}", s.next);
            s.next += 1;
            s.services.push(FakeService {
                id: id.clone(),
                name: name.into(),
                kind: kind.into(),
                suspended,
            });
            id
        })
    }

    /// Adds a deploy (the service's newest) on `path`; returns its id.
    pub fn add_deploy(&self, service_id: &str, path: &[&str]) -> String {
        self.with(|s| new_deploy(s, service_id, path, "manual", None))
    }

    /// The path new deploys (from POSTs) walk.
    pub fn set_new_deploy_path(&self, path: &[&str]) {
        self.with(|s| s.new_path = path.iter().map(|p| p.to_string()).collect());
    }

    /// Reads of one deploy per step (0: only [`FakeRender::advance`]).
    pub fn set_reads_per_step(&self, n: u32) {
        self.with(|s| s.reads_per_step = n);
    }

    /// 201 or 202 for `POST /services/{id}/deploys`.
    pub fn set_deploy_status_code(&self, code: u16) {
        self.with(|s| s.deploy_code = StatusCode::from_u16(code).unwrap());
    }

    /// Whether the deploy POST's answer holds the deploy (default true).
    pub fn set_deploy_answer_body(&self, on: bool) {
        self.with(|s| s.deploy_body = on);
    }

    pub fn set_key(&self, key: &str) {
        self.with(|s| s.key = key.into());
    }

    /// The deploy's status now.
    pub fn status(&self, deploy_id: &str) -> Option<String> {
        self.with(|s| find_deploy(s, deploy_id).map(|d| d.status().to_string()))
    }

    /// One step along the deploy's path.
    pub fn advance(&self, deploy_id: &str) {
        self.with(|s| {
            if let Some(d) = find_deploy(s, deploy_id) {
                d.step = (d.step + 1).min(d.path.len() - 1);
            }
        })
    }

    /// Jumps the deploy to `status` (appended to its path if not on it).
    pub fn set_status(&self, deploy_id: &str, status: &str) {
        self.with(|s| {
            if let Some(d) = find_deploy(s, deploy_id) {
                match d.path.iter().position(|p| p == status) {
                    Some(i) => d.step = i,
                    None => {
                        d.path.truncate(d.step + 1);
                        d.path.push(status.into());
                        d.step += 1;
                    }
                }
            }
        })
    }

    /// Every deploy id of a service, newest first.
    pub fn deploys(&self, service_id: &str) -> Vec<String> {
        self.with(|s| {
            s.deploys
                .get(service_id)
                .map(|v| v.iter().map(|d| d.id.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// After `n` more requests every one is 429 (`None`: no budget).
    pub fn set_budget(&self, n: Option<u64>) {
        self.with(|s| s.budget = n);
    }

    /// The next `n` requests are 429, with `Ratelimit-Reset: reset_secs`.
    pub fn throttle(&self, n: u64, reset_secs: u64) {
        self.with(|s| {
            s.throttle = n;
            s.reset_secs = reset_secs;
        });
    }

    /// The next `n` requests with `method` ("GET"/"POST") answer `status`.
    pub fn fail_next(&self, method: &str, n: u64, status: u16) {
        self.with(|s| {
            s.failures.push((
                method.parse().unwrap(),
                n,
                StatusCode::from_u16(status).unwrap(),
            ))
        });
    }

    /// How many requests had this method and path (`"/v1/services/srv-00001/deploys"`).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.with(|s| {
            s.log
                .iter()
                .filter(|(m, p)| m == method && p == path)
                .count()
        })
    }

    /// Every request, (method, path), in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.with(|s| s.log.clone())
    }

    /// The JSON body of the last POST that had one.
    pub fn last_body(&self) -> Option<Value> {
        self.with(|s| s.last_body.clone())
    }
}

fn new_deploy(
    s: &mut St,
    service_id: &str,
    path: &[impl AsRef<str>],
    trigger: &str,
    clear: Option<String>,
) -> String {
    let id = format!("dep-{:05}", s.next);
    s.next += 1;
    let d = FakeDeploy {
        id: id.clone(),
        path: path.iter().map(|p| p.as_ref().to_string()).collect(),
        step: 0,
        reads: 0,
        trigger: trigger.into(),
        clear_cache: clear,
    };
    s.deploys
        .entry(service_id.to_string())
        .or_default()
        .insert(0, d);
    id
}

fn find_deploy<'a>(s: &'a mut St, deploy_id: &str) -> Option<&'a mut FakeDeploy> {
    s.deploys
        .values_mut()
        .flat_map(|v| v.iter_mut())
        .find(|d| d.id == deploy_id)
}

fn service_json(s: &FakeService) -> Value {
    let url = match s.kind.as_str() {
        "web_service" | "static_site" => json!(format!("https://{}.onrender.com", s.name)),
        _ => Value::Null,
    };
    json!({
        "id": s.id,
        "name": s.name,
        "type": s.kind,
        "suspended": if s.suspended { "suspended" } else { "not_suspended" },
        "suspenders": if s.suspended { json!(["user"]) } else { json!([]) },
        "ownerId": "tea-123",
        "autoDeploy": "yes",
        "branch": "main",
        "repo": "https://github.com/example/app",
        "serviceDetails": {"region": "oregon", "plan": "starter", "url": url},
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-05-01T00:00:00Z",
    })
}

fn msg(code: StatusCode, m: &str) -> (StatusCode, Value) {
    (code, json!({"id": code.as_u16().to_string(), "message": m}))
}

async fn handle(
    State(st): State<Arc<Mutex<St>>>,
    method: Method,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = st.lock().unwrap();
    let path = uri.path().to_string();
    s.log.push((method.to_string(), path.clone()));
    let (code, answer) = answer(&mut s, &method, &path, &q, &headers, &body);
    s.used += 1;
    let remaining = if code == StatusCode::TOO_MANY_REQUESTS {
        0
    } else {
        match s.budget {
            Some(b) => b,
            None => s.limit.saturating_sub(s.used),
        }
    };
    let mut resp = match answer {
        Some(v) => (code, axum::Json(v)).into_response(),
        None => code.into_response(),
    };
    let h = resp.headers_mut();
    h.insert("ratelimit-limit", HeaderValue::from(s.limit));
    h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("ratelimit-reset", HeaderValue::from(s.reset_secs));
    resp
}

fn answer(
    s: &mut St,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> (StatusCode, Option<Value>) {
    let wrap = |(c, v): (StatusCode, Value)| (c, Some(v));
    let expected = format!("Bearer {}", s.key);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return wrap(msg(StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    if s.throttle > 0 {
        s.throttle -= 1;
        return wrap(msg(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded"));
    }
    match s.budget {
        Some(0) => return wrap(msg(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded")),
        Some(b) => s.budget = Some(b - 1),
        None => {}
    }
    if let Some(f) = s
        .failures
        .iter_mut()
        .find(|(m, n, _)| m == method && *n > 0)
    {
        f.1 -= 1;
        let code = f.2;
        return wrap(msg(code, "internal server error"));
    }
    let Some(rest) = path.strip_prefix("/v1/") else {
        return wrap(msg(StatusCode::NOT_FOUND, "not found"));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["services"]) => {
            let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
                None => 20,
                Some(Ok(l)) if (1..=100).contains(&l) => l,
                Some(_) => return wrap(msg(StatusCode::BAD_REQUEST, "invalid limit")),
            };
            let start = match q.get("cursor") {
                None => 0,
                Some(c) => match s.services.iter().position(|x| cursor_of(x) == *c) {
                    Some(i) => i + 1,
                    None => return wrap(msg(StatusCode::BAD_REQUEST, "invalid cursor")),
                },
            };
            let items: Vec<Value> = s
                .services
                .iter()
                .skip(start)
                .filter(|x| q.get("name").is_none_or(|n| *n == x.name))
                .take(limit)
                .map(|x| json!({"service": service_json(x), "cursor": cursor_of(x)}))
                .collect();
            (StatusCode::OK, Some(Value::Array(items)))
        }
        ("GET", ["services", id]) => match s.services.iter().find(|x| x.id == *id) {
            Some(x) => (StatusCode::OK, Some(service_json(x))),
            None => wrap(msg(StatusCode::NOT_FOUND, "service not found")),
        },
        (m, ["services", id, rest @ ..]) if !s.services.iter().any(|x| x.id == *id) => {
            let _ = (m, rest);
            wrap(msg(StatusCode::NOT_FOUND, "service not found"))
        }
        ("POST", ["services", _, "restart"]) => (StatusCode::ACCEPTED, None),
        ("POST", ["services", id, "deploys"]) => {
            let parsed: Option<Value> = serde_json::from_slice(body).ok();
            let clear = parsed
                .as_ref()
                .and_then(|v| v.get("clearCache"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(c) = &clear {
                if c != "clear" && c != "do_not_clear" {
                    return wrap(msg(StatusCode::BAD_REQUEST, "invalid clearCache"));
                }
            }
            s.last_body = parsed;
            let path = s.new_path.clone();
            let dep = new_deploy(s, id, &path, "api", clear);
            let code = s.deploy_code;
            let d = find_deploy(s, &dep).unwrap().json();
            (code, s.deploy_body.then_some(d))
        }
        ("GET", ["services", id, "deploys"]) => {
            let limit = q
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(20)
                .clamp(1, 100);
            let items: Vec<Value> = s
                .deploys
                .get(*id)
                .map(|v| {
                    v.iter()
                        .take(limit)
                        .map(|d| json!({"deploy": d.json(), "cursor": format!("c-{}", d.id)}))
                        .collect()
                })
                .unwrap_or_default();
            (StatusCode::OK, Some(Value::Array(items)))
        }
        ("GET", ["services", id, "deploys", dep]) => {
            let per = s.reads_per_step;
            match s
                .deploys
                .get_mut(*id)
                .and_then(|v| v.iter_mut().find(|d| d.id == *dep))
            {
                Some(d) => {
                    let out = d.json();
                    d.reads += 1;
                    if per > 0 && d.reads >= per {
                        d.reads = 0;
                        d.step = (d.step + 1).min(d.path.len() - 1);
                    }
                    (StatusCode::OK, Some(out))
                }
                None => wrap(msg(StatusCode::NOT_FOUND, "deploy not found")),
            }
        }
        _ => wrap(msg(StatusCode::NOT_FOUND, "not found")),
    }
}

fn cursor_of(s: &FakeService) -> String {
    format!("cur_{}", s.id.trim_start_matches("srv-"))
}
