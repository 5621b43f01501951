//! The HTTP server: probes (`/health`, `/live`, `/ready`), `/metrics`, and
//! the JSON API under `/api/v1` ([`api`], [`accounts`]), and Swagger UI
//! at `/docs` ([`docs`]).
//!
//! The router is built by [`router`] from the list of [`endpoints`], each
//! with the access it needs ([`access`]), so tests drive the very same list
//! the binary serves.

pub mod access;
pub mod accounts;
pub mod api;
pub mod containers;
pub mod dashboard;
pub mod docs;
pub mod error;
pub mod examples;
pub mod guard;
pub mod hooks;
pub mod idempotency;
pub mod manage;
pub mod notify;
pub mod openapi;
pub mod platforms;
pub mod secrets;
pub mod serve;
pub mod stream;
pub mod tls;

use crate::auth::{Auth, Principal};
use crate::supervisor::Handle;
use crate::telemetry::Metrics;
use access::{endpoint, Access, Endpoint};
use autoheal_store::{Role, Store};
use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub supervisor: Handle,
    pub metrics: Metrics,
    /// Unix ms when this process started.
    pub started_at: i64,
    /// What `/ready` and `/live` answer from.
    pub vitals: Arc<crate::vitals::Vitals>,
    /// Users, sessions and keys.
    pub auth: Auth,
    /// Third-party credentials, encrypted at rest.
    pub vault: crate::vault::Vault,
    /// Committed events and phase changes, for the live stream.
    pub bus: crate::stream::Bus,
    /// The config objects made through the API.
    pub managed: crate::managed::Managed,
    /// The Docker client and the per-container choices.
    pub docker: crate::docker::DockerShared,
    /// Whether a Docker engine is watched.
    pub docker_watched: bool,
    /// Alert webhooks' rate limits and repeats.
    pub hooks: Arc<hooks::HookState>,
    /// Idempotency-Key requests being answered now.
    pub idempotency: Arc<idempotency::InFlight>,
    /// Trusted proxies and request rate limits.
    pub net: Arc<access::NetPolicy>,
    /// The notification channels and the outbox's loops.
    pub notifier: crate::notify::Notifier,
}

/// Every route the server answers, with the access each needs.
pub fn endpoints(metrics_public: bool) -> Vec<Endpoint> {
    let metrics_access = if metrics_public {
        Access::Anyone
    } else {
        Access::Role(Role::Viewer)
    };
    let mut all = vec![
        endpoint(Method::GET, "/health", Access::Anyone, get(health)),
        endpoint(Method::GET, "/live", Access::Anyone, get(live)),
        endpoint(Method::GET, "/ready", Access::Anyone, get(ready)),
        endpoint(Method::GET, "/metrics", metrics_access, get(metrics)),
    ];
    all.extend(api::endpoints());
    all.extend(accounts::endpoints());
    all.extend(manage::endpoints());
    all.extend(containers::endpoints());
    all.extend(hooks::endpoints());
    all.extend(platforms::endpoints());
    all.extend(secrets::endpoints());
    all.extend(notify::endpoints());
    all.extend(stream::endpoints());
    all.extend(openapi::endpoints());
    all.extend(docs::endpoints());
    all.extend(crate::http::dashboard::endpoints());
    all
}

pub fn router(state: AppState) -> Router {
    let mut by_path: BTreeMap<&'static str, axum::routing::MethodRouter<AppState>> =
        BTreeMap::new();
    for e in endpoints(state.auth.settings().metrics_public) {
        // Outermost first: who is asking, then a retried write's answer.
        let guarded = e
            .handler
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                idempotency::idempotency,
            ))
            .layer(axum::middleware::from_fn_with_state(
                (state.clone(), e.access),
                access::authorize,
            ));
        let merged = match by_path.remove(e.path) {
            Some(existing) => existing.merge(guarded),
            None => guarded,
        };
        by_path.insert(e.path, merged);
    }
    let mut router = Router::new();
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    router
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// [`router`] behind the [`guard`]: what the binary serves.
pub fn guarded(router: Router, policy: guard::HostPolicy) -> Router {
    let policy = Arc::new(policy);
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            guard::guard(policy.clone(), req, next)
        },
    ))
}

/// Liveness, for Docker's `HEALTHCHECK` and Kubernetes: 200 while every
/// vital task runs; 503 once one has died (autoheal is then stopping and
/// exits non-zero), so the process is restarted rather than left serving
/// without healing.
#[utoipa::path(get, path = "/live", tag = "probes",
    responses((status = 200, description = "Every vital task runs"),
              (status = 503, description = "A vital task died; autoheal is stopping")))]
pub(crate) async fn live(State(s): State<AppState>) -> impl IntoResponse {
    match s.vitals.fatal() {
        None => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Some(fatal) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "failing", "fatal": fatal})),
        ),
    }
}

/// Readiness: a write to the store succeeded within the last seconds, the
/// supervisor and the check scheduler turn and the scheduler is on time.
/// Answered from the vital signs at once: it never waits on the store.
#[utoipa::path(get, path = "/ready", tag = "probes",
    responses((status = 200, description = "Store writable, supervisor and scheduler on time"),
              (status = 503, description = "Not ready, with what is wrong")))]
pub(crate) async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    let supervisor_ok = s
        .supervisor
        .is_running(crate::supervisor::now_ms(), crate::vitals::LOOP_MAX_AGE);
    let report = s.vitals.report(supervisor_ok);
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "status": if report.ready { "ready" } else { "not_ready" },
        "store": report.store,
        "supervisor": report.supervisor,
        "scheduler": report.scheduler,
        "scheduler_late_ms": report.scheduler_late_ms,
    });
    if let Some(f) = report.fatal {
        body["fatal"] = json!(f);
    }
    (status, Json(body))
}

/// A summary for people and simple monitors: always 200 while serving.
/// Anonymous callers get the status alone; a viewer gets the counts.
#[utoipa::path(get, path = "/health", tag = "probes",
    responses((status = 200, description = "`{\"status\": \"ok\"}`; with a credential also the version, store and target counts")))]
pub(crate) async fn health(
    State(s): State<AppState>,
    who: Option<Extension<Principal>>,
) -> impl IntoResponse {
    let Some(Extension(who)) = who else {
        return Json(json!({"status": "ok"}));
    };
    let targets = api::targets_of(&s, &who);
    let failing = targets.iter().filter(|t| is_failing(t.phase)).count();
    let quarantined = targets.iter().filter(|t| t.phase == "quarantined").count();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "store": s.store.backend(),
        "uptime_seconds": (crate::supervisor::now_ms() - s.started_at) / 1000,
        "targets": targets.len(),
        "failing": failing,
        "quarantined": quarantined,
    }))
}

fn is_failing(phase: &str) -> bool {
    matches!(phase, "failing" | "healing" | "verifying" | "quarantined")
}

#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text); anonymous unless `[auth] metrics = \"private\"`", content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}
