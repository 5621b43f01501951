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
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api::routes())
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

/// The process answers: for liveness probes and Docker's HEALTHCHECK.
async fn live() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Store reachable and supervisor loop turning.
async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    let store_ok = s.store.ping().await.is_ok();
    let supervisor_ok = s
        .supervisor
        .is_running(crate::supervisor::now_ms(), Duration::from_secs(30));
    let status = if store_ok && supervisor_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
            "store": if store_ok { "ok" } else { "unreachable" },
            "supervisor": if supervisor_ok { "running" } else { "stopped" },
        })),
    )
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
