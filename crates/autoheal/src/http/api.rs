//! The JSON API under `/api/v1`: targets and their state, incidents with
//! their attempts, the audit log, and the operator commands.
//!
//! Lists page by keyset: newest first, `limit` (1-500, default 50) and
//! `before` (an id from the previous page's `next_before`).

use super::error::{from_rejection, ApiError};
use super::AppState;
use autoheal_core::Command;
use autoheal_store::{EventFilter, IncidentFilter};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/targets", get(list_targets))
        .route("/targets/{name}", get(get_target))
        .route("/targets/{name}/{command}", post(command))
        .route("/incidents", get(list_incidents))
        .route("/incidents/{id}", get(get_incident))
        .route("/events", get(list_events))
}

const MAX_LIMIT: u32 = 500;

fn limit(l: Option<u32>) -> Result<u32, ApiError> {
    match l {
        None => Ok(50),
        Some(0) => Err(ApiError::bad_request("limit must be between 1 and 500")),
        Some(n) if n > MAX_LIMIT => Err(ApiError::bad_request("limit must be between 1 and 500")),
        Some(n) => Ok(n),
    }
}

async fn list_targets(State(s): State<AppState>) -> impl IntoResponse {
    Json(json!({ "items": s.supervisor.targets() }))
}

async fn get_target(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(name) = name.map_err(from_rejection)?;
    let Some(view) = s.supervisor.target(&name) else {
        return Err(ApiError::not_found(format!("no target named {name:?}")));
    };
    let recent = s.store.recent_checks(&name, 20).await?;
    let day_ago = crate::supervisor::now_ms() - 24 * 3600 * 1000;
    let uptime = s.store.uptime(&name, day_ago).await?;
    let total = uptime.up + uptime.degraded + uptime.down;
    let ratio = if total == 0 {
        None
    } else {
        Some(uptime.up as f64 / total as f64)
    };
    let spec = s.store.get_target(&name).await?.map(|r| r.spec);
    Ok(Json(json!({
        "target": view,
        "spec": spec,
        "recent_checks": recent,
        "uptime_24h": { "up": uptime.up, "degraded": uptime.degraded, "down": uptime.down, "ratio": ratio },
    })))
}

async fn command(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path((name, verb)) = path.map_err(from_rejection)?;
    let cmd = match verb.as_str() {
        "heal" => Command::HealNow,
        "quarantine" => Command::Quarantine,
        "release" => Command::Release,
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        _ => {
            return Err(ApiError::not_found(format!(
                "no command {verb:?}; expected heal, quarantine, release, pause or resume"
            )))
        }
    };
    s.supervisor.command(&name, cmd, "api").await?;
    let view = s.supervisor.target(&name);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": true, "command": verb, "target": view })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentQuery {
    target: Option<String>,
    /// open | closed
    state: Option<String>,
    limit: Option<u32>,
    before: Option<i64>,
}

async fn list_incidents(
    State(s): State<AppState>,
    q: Result<Query<IncidentQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(from_rejection)?;
    let open = match q.state.as_deref() {
        None | Some("all") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "state must be open, closed or all, not {other:?}"
            )))
        }
    };
    let filter = IncidentFilter {
        target: q.target,
        open,
        before: q.before,
        limit: limit(q.limit)?,
    };
    Ok(Json(s.store.list_incidents(&filter).await?))
}

async fn get_incident(
    State(s): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id.map_err(from_rejection)?;
    match s.store.get_incident(id).await? {
        Some(i) => Ok(Json(i)),
        None => Err(ApiError::not_found(format!("no incident {id}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    target: Option<String>,
    incident: Option<i64>,
    limit: Option<u32>,
    before: Option<i64>,
}

async fn list_events(
    State(s): State<AppState>,
    q: Result<Query<EventQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(from_rejection)?;
    let filter = EventFilter {
        target: q.target,
        incident_id: q.incident,
        before: q.before,
        limit: limit(q.limit)?,
    };
    Ok(Json(s.store.list_events(&filter).await?))
}
