//! A local fake of a Coolify instance's API, answering as
//! /work/shared/reference/platforms.md (and docs/platforms.md) says Coolify
//! does: applications and deployments kept in memory, served by axum on
//! 127.0.0.1:0.
//!
//! Reuse it from another test crate (crates/autoheal/tests/...) with
//!
//! ```ignore
//! #[path = "../../autoheal-plugins/tests/fake_coolify/mod.rs"]
//! mod fake_coolify;
//! ```
//!
//! (its dependencies are axum, tokio and serde_json).
//!
//! - `GET /api/v1/applications`, `GET /api/v1/applications/{uuid}` (`uuid`,
//!   `name`, `fqdn`, `status` = `state:health`);
//! - `GET|POST /api/v1/applications/{uuid}/restart` →
//!   `{"message": "Restart request queued.", "deployment_uuid": "..."}`;
//!   `/start?force=&instant_deploy=` likewise; `/stop` →
//!   `{"message": ...}`;
//! - `GET|POST /api/v1/deploy?uuid=<a,b>&force=<bool>` →
//!   `{"deployments": [{"message", "resource_uuid", "deployment_uuid"}]}`;
//! - `GET /api/v1/deployments`: the deployments `queued` or `in_progress`;
//!   `GET /api/v1/deployments/{uuid}`: one. Each names its application in
//!   `application_uuid` (or `resource_uuid`, [`FakeCoolify::set_app_field`]:
//!   which one Coolify uses is unverified).
//!
//! A deployment walks its path (default `queued → in_progress → finished`)
//! one step per `reads_per_step` reads of `GET /deployments/{uuid}` (0:
//! never by itself), or when a test calls [`FakeCoolify::advance`] /
//! [`FakeCoolify::set_status`]: no wall clock. A missing or wrong
//! `Authorization: Bearer <token>` is 401 `{"message": "Unauthenticated."}`;
//! [`FakeCoolify::set_api_disabled`] answers every request 403
//! `{"message": "API is disabled."}` (what an instance with API access
//! turned off answers is not in the reference: unverified). A 429 with
//! `Retry-After` comes for the next n requests ([`FakeCoolify::throttle`]);
//! 5xx are injected with [`FakeCoolify::fail_next`];
//! [`FakeCoolify::set_post_not_allowed`] answers every POST 405. Every
//! request is logged ([`FakeCoolify::count`]).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// The token the fake accepts unless told otherwise.
pub const TOKEN: &str = "3|fakeCoolifyToken123";

/// The default path of a new deployment.
pub const TO_FINISHED: &[&str] = &["queued", "in_progress", "finished"];
/// A deployment that fails.
pub const TO_FAILED: &[&str] = &["queued", "in_progress", "failed"];

#[derive(Debug, Clone)]
pub struct FakeApp {
    pub uuid: String,
    pub name: String,
    pub fqdn: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone)]
struct FakeDeployment {
    uuid: String,
    app_uuid: String,
    app_name: String,
    path: Vec<String>,
    step: usize,
    reads: u32,
    force: bool,
}

impl FakeDeployment {
    fn status(&self) -> &str {
        &self.path[self.step.min(self.path.len() - 1)]
    }
}

#[derive(Debug)]
struct St {
    token: String,
    apps: Vec<FakeApp>,
    deployments: Vec<FakeDeployment>,
    next: u64,
    new_path: Vec<String>,
    reads_per_step: u32,
    with_deployment: bool,
    app_field: String,
    api_disabled: bool,
    post_not_allowed: bool,
    throttle: u64,
    retry_after: u64,
    failures: Vec<(Method, u64, StatusCode)>,
    log: Vec<(String, String)>,
    last_query: HashMap<String, String>,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeCoolify {
    pub addr: SocketAddr,
    st: Arc<Mutex<St>>,
}

impl FakeCoolify {
    /// Starts a fake with no applications, accepting [`TOKEN`].
    pub async fn start() -> Self {
        let st = Arc::new(Mutex::new(St {
            token: TOKEN.to_string(),
            apps: Vec::new(),
            deployments: Vec::new(),
            next: 1,
            new_path: TO_FINISHED.iter().map(|s| s.to_string()).collect(),
            reads_per_step: 1,
            with_deployment: true,
            app_field: "application_uuid".into(),
            api_disabled: false,
            post_not_allowed: false,
            throttle: 0,
            retry_after: 0,
            failures: Vec::new(),
            log: Vec::new(),
            last_query: HashMap::new(),
        }));
        let app = Router::new().fallback(handle).with_state(st.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        Self { addr, st }
    }

    /// The instance's URL to give a client (`http://127.0.0.1:port`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut St) -> T) -> T {
        f(&mut self.st.lock().unwrap())
    }

    /// Adds an application with `status` (`running:healthy`); returns its uuid.
    pub fn add_app(&self, name: &str, status: &str) -> String {
        self.with(|s| {
            let uuid = format!("app{:05}x", s.next);
            s.next += 1;
            s.apps.push(FakeApp {
                uuid: uuid.clone(),
                name: name.into(),
                fqdn: Some(format!("https://{name}.example.com")),
                status: status.into(),
            });
            uuid
        })
    }

    /// Sets an application's `status`.
    pub fn set_app_status(&self, uuid: &str, status: &str) {
        self.with(|s| {
            if let Some(a) = s.apps.iter_mut().find(|a| a.uuid == uuid) {
                a.status = status.into();
            }
        })
    }

    pub fn app_status(&self, uuid: &str) -> Option<String> {
        self.with(|s| {
            s.apps
                .iter()
                .find(|a| a.uuid == uuid)
                .map(|a| a.status.clone())
        })
    }

    /// Adds a deployment of the application on `path`; returns its uuid.
    pub fn add_deployment(&self, app_uuid: &str, path: &[&str]) -> String {
        self.with(|s| new_deployment(s, app_uuid, path, false))
    }

    /// The path new deployments (from restart/start/deploy) walk.
    pub fn set_new_path(&self, path: &[&str]) {
        self.with(|s| s.new_path = path.iter().map(|p| p.to_string()).collect());
    }

    /// Reads of one deployment per step (0: only [`FakeCoolify::advance`]).
    pub fn set_reads_per_step(&self, n: u32) {
        self.with(|s| s.reads_per_step = n);
    }

    /// Whether restart/start/deploy queue a deployment and answer its uuid
    /// (default true).
    pub fn set_answer_deployment(&self, on: bool) {
        self.with(|s| s.with_deployment = on);
    }

    /// The field a deployment names its application in (`application_uuid`
    /// or `resource_uuid`).
    pub fn set_app_field(&self, field: &str) {
        self.with(|s| s.app_field = field.into());
    }

    pub fn set_token(&self, token: &str) {
        self.with(|s| s.token = token.into());
    }

    /// Every request is 403 "API is disabled." (unverified).
    pub fn set_api_disabled(&self, on: bool) {
        self.with(|s| s.api_disabled = on);
    }

    /// Every POST is 405 (GET still works).
    pub fn set_post_not_allowed(&self, on: bool) {
        self.with(|s| s.post_not_allowed = on);
    }

    /// The deployment's status now.
    pub fn status(&self, uuid: &str) -> Option<String> {
        self.with(|s| {
            s.deployments
                .iter()
                .find(|d| d.uuid == uuid)
                .map(|d| d.status().to_string())
        })
    }

    /// One step along the deployment's path.
    pub fn advance(&self, uuid: &str) {
        self.with(|s| {
            if let Some(d) = s.deployments.iter_mut().find(|d| d.uuid == uuid) {
                d.step = (d.step + 1).min(d.path.len() - 1);
            }
        })
    }

    /// Jumps the deployment to `status` (appended to its path if not on it).
    pub fn set_status(&self, uuid: &str, status: &str) {
        self.with(|s| {
            if let Some(d) = s.deployments.iter_mut().find(|d| d.uuid == uuid) {
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

    /// Every deployment uuid of an application, oldest first.
    pub fn deployments(&self, app_uuid: &str) -> Vec<String> {
        self.with(|s| {
            s.deployments
                .iter()
                .filter(|d| d.app_uuid == app_uuid)
                .map(|d| d.uuid.clone())
                .collect()
        })
    }

    /// The next `n` requests are 429 with `Retry-After: retry_after`.
    pub fn throttle(&self, n: u64, retry_after: u64) {
        self.with(|s| {
            s.throttle = n;
            s.retry_after = retry_after;
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

    /// How many requests had this method and path (`"/api/v1/deploy"`).
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

    /// The query of the last restart/start/stop/deploy.
    pub fn last_query(&self) -> HashMap<String, String> {
        self.with(|s| s.last_query.clone())
    }
}

fn new_deployment(s: &mut St, app_uuid: &str, path: &[impl AsRef<str>], force: bool) -> String {
    let uuid = format!("dpl{:05}z", s.next);
    s.next += 1;
    let app_name = s
        .apps
        .iter()
        .find(|a| a.uuid == app_uuid)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    s.deployments.push(FakeDeployment {
        uuid: uuid.clone(),
        app_uuid: app_uuid.into(),
        app_name,
        path: path.iter().map(|p| p.as_ref().to_string()).collect(),
        step: 0,
        reads: 0,
        force,
    });
    uuid
}

fn app_json(a: &FakeApp) -> Value {
    json!({
        "id": 7,
        "uuid": a.uuid,
        "name": a.name,
        "fqdn": a.fqdn,
        "status": a.status,
        "build_pack": "nixpacks",
        "git_repository": "example/app",
        "git_branch": "main",
        "created_at": "2024-05-01T10:00:00.000000Z",
        "updated_at": "2024-05-01T10:01:00.000000Z",
    })
}

fn deployment_json(d: &FakeDeployment, app_field: &str) -> Value {
    let mut v = json!({
        "id": 11,
        "application_id": "7",
        "deployment_uuid": d.uuid,
        "pull_request_id": 0,
        "force_rebuild": d.force,
        "commit": "HEAD",
        "status": d.status(),
        "is_webhook": false,
        "is_api": true,
        "application_name": d.app_name,
        "server_name": "localhost",
        "created_at": "2024-05-01T10:00:00.000000Z",
        "updated_at": "2024-05-01T10:01:00.000000Z",
    });
    v[app_field] = json!(d.app_uuid);
    v
}

fn msg(code: StatusCode, m: &str) -> (StatusCode, Value) {
    (code, json!({"message": m}))
}

async fn handle(
    State(st): State<Arc<Mutex<St>>>,
    method: Method,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = st.lock().unwrap();
    let path = uri.path().to_string();
    s.log.push((method.to_string(), path.clone()));
    let (code, v) = answer(&mut s, &method, &path, &q, &headers);
    let mut resp = (code, axum::Json(v)).into_response();
    if code == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(s.retry_after));
        resp.headers_mut()
            .insert("x-ratelimit-remaining", HeaderValue::from(0));
    }
    resp
}

fn answer(
    s: &mut St,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> (StatusCode, Value) {
    if s.api_disabled {
        return msg(StatusCode::FORBIDDEN, "API is disabled.");
    }
    let expected = format!("Bearer {}", s.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return msg(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    }
    if s.throttle > 0 {
        s.throttle -= 1;
        return msg(StatusCode::TOO_MANY_REQUESTS, "Too Many Attempts.");
    }
    if let Some(f) = s
        .failures
        .iter_mut()
        .find(|(m, n, _)| m == method && *n > 0)
    {
        f.1 -= 1;
        let code = f.2;
        return msg(code, "Server Error");
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return msg(StatusCode::NOT_FOUND, "Not found.");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let is_write = matches!(
        parts.as_slice(),
        ["deploy"] | ["applications", _, "restart" | "start" | "stop"]
    );
    if is_write {
        if method == Method::POST && s.post_not_allowed {
            return msg(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
        }
        if method != Method::POST && method != Method::GET {
            return msg(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
        }
        s.last_query = q.clone();
    } else if method != Method::GET {
        return msg(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
    }
    let field = s.app_field.clone();
    match parts.as_slice() {
        ["applications"] => (
            StatusCode::OK,
            Value::Array(s.apps.iter().map(app_json).collect()),
        ),
        ["applications", uuid] => match s.apps.iter().find(|a| a.uuid == *uuid) {
            Some(a) => (StatusCode::OK, app_json(a)),
            None => msg(StatusCode::NOT_FOUND, "Application not found."),
        },
        ["applications", uuid, op] => {
            if !s.apps.iter().any(|a| a.uuid == *uuid) {
                return msg(StatusCode::NOT_FOUND, "Application not found.");
            }
            let uuid = uuid.to_string();
            match *op {
                "stop" => {
                    if let Some(a) = s.apps.iter_mut().find(|a| a.uuid == uuid) {
                        a.status = "exited".into();
                    }
                    msg(StatusCode::OK, "Application stopping request queued.")
                }
                _ => {
                    let m = if *op == "restart" {
                        "Restart request queued."
                    } else {
                        "Deployment request queued."
                    };
                    if !s.with_deployment {
                        return msg(StatusCode::OK, m);
                    }
                    let force = q.get("force").map(String::as_str) == Some("true");
                    let p = s.new_path.clone();
                    let d = new_deployment(s, &uuid, &p, force);
                    (StatusCode::OK, json!({"message": m, "deployment_uuid": d}))
                }
            }
        }
        ["deploy"] => {
            let Some(uuids) = q.get("uuid").filter(|u| !u.is_empty()) else {
                return msg(StatusCode::BAD_REQUEST, "You must provide uuid or tag.");
            };
            let force = match q.get("force").map(String::as_str) {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return msg(StatusCode::BAD_REQUEST, "force must be a boolean."),
            };
            let mut out = Vec::new();
            for u in uuids.split(',') {
                let Some(name) = s.apps.iter().find(|a| a.uuid == u).map(|a| a.name.clone()) else {
                    continue;
                };
                let m = format!("Application {name} deployment queued.");
                if s.with_deployment {
                    let p = s.new_path.clone();
                    let d = new_deployment(s, u, &p, force);
                    out.push(json!({"message": m, "resource_uuid": u, "deployment_uuid": d}));
                } else {
                    out.push(json!({"message": m, "resource_uuid": u}));
                }
            }
            if out.is_empty() {
                return msg(StatusCode::NOT_FOUND, "No resources found.");
            }
            (StatusCode::OK, json!({"deployments": out}))
        }
        ["deployments"] => (
            StatusCode::OK,
            Value::Array(
                s.deployments
                    .iter()
                    .filter(|d| matches!(d.status(), "queued" | "in_progress"))
                    .map(|d| deployment_json(d, &field))
                    .collect(),
            ),
        ),
        ["deployments", uuid] => {
            let per = s.reads_per_step;
            let Some(d) = s.deployments.iter_mut().find(|d| d.uuid == *uuid) else {
                return msg(StatusCode::NOT_FOUND, "Deployment not found.");
            };
            let out = deployment_json(d, &field);
            d.reads += 1;
            if per > 0 && d.reads >= per {
                d.reads = 0;
                d.step = (d.step + 1).min(d.path.len() - 1);
            }
            let (app, status) = (d.app_uuid.clone(), d.status().to_string());
            if status == "finished" {
                if let Some(a) = s.apps.iter_mut().find(|a| a.uuid == app) {
                    a.status = "running:healthy".into();
                }
            }
            (StatusCode::OK, out)
        }
        _ => msg(StatusCode::NOT_FOUND, "Not found."),
    }
}
