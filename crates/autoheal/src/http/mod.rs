//! The HTTP server: probes (`/health`, `/live`, `/ready`), `/metrics`, and
//! the JSON API under `/api/v1` ([`api`]).
//!
//! The router is built by [`router`] from an [`AppState`], so tests drive it
//! with `oneshot` and the binary serves the very same thing.

pub mod api;
pub mod error;
pub mod guard;
pub mod openapi;
pub mod serve;

use crate::supervisor::Handle;
use crate::telemetry::Metrics;
use autoheal_store::Store;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
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
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api::routes().merge(openapi::routes()))
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
async fn live(State(s): State<AppState>) -> impl IntoResponse {
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
async fn ready(State(s): State<AppState>) -> impl IntoResponse {
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
async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let targets = s.supervisor.targets();
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

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}
