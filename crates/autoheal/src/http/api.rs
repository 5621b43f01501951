//! The JSON API under `/api/v1`: targets and their state, incidents with
//! their attempts, the audit log, and the operator commands.
//!
//! Every answer is the caller's workspace's: another workspace's target or
//! incident is 404, as if it did not exist. The supervisor's targets (the
//! config file's and Docker's) belong to the default workspace.
//!
//! Lists page by keyset: newest first, `limit` (1-500, default 50) and
//! `before` (an id from the previous page's `next_before`).

use super::access::{endpoint, Access, Endpoint};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::Principal;
use autoheal_core::{AuditEvent, Command};
use autoheal_store::{scope, EventFilter, IncidentFilter, Role};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn endpoints() -> Vec<Endpoint> {
    use Access::Role as R;
    vec![
        endpoint(
            Method::GET,
            "/api/v1/targets",
            R(Role::Viewer),
            get(list_targets),
        ),
        endpoint(
            Method::GET,
            "/api/v1/targets/{name}",
            R(Role::Viewer),
            get(get_target),
        ),
        endpoint(
            Method::POST,
            "/api/v1/targets/{name}/{command}",
            R(Role::Operator),
            post(command),
        ),
        endpoint(
            Method::GET,
            "/api/v1/incidents",
            R(Role::Viewer),
            get(list_incidents),
        ),
        endpoint(
            Method::GET,
            "/api/v1/incidents/{id}",
            R(Role::Viewer),
            get(get_incident),
        ),
        endpoint(
            Method::POST,
            "/api/v1/incidents/{id}/acknowledge",
            R(Role::Operator),
            post(acknowledge_incident),
        ),
        endpoint(
            Method::POST,
            "/api/v1/incidents/{id}/notes",
            R(Role::Operator),
            post(annotate_incident),
        ),
        endpoint(
            Method::GET,
            "/api/v1/events",
            R(Role::Viewer),
            get(list_events),
        ),
    ]
}

/// The supervisor's targets the caller may see.
pub fn targets_of(s: &AppState, who: &Principal) -> Vec<crate::supervisor::TargetView> {
    s.supervisor.targets_in(who.workspace_id)
}

/// The supervisor's target `name`, if the caller may see it.
fn target_of(s: &AppState, who: &Principal, name: &str) -> Option<crate::supervisor::TargetView> {
    s.supervisor.target_in(who.workspace_id, name)
}

/// `GET /api/v1/targets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetList {
    pub items: Vec<crate::supervisor::TargetView>,
    /// With `limit`: pass as `after` for the next page; none at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Counts of observations over the last 24 hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uptime24h {
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    /// up / all, null with no observations.
    pub ratio: Option<f64>,
}

/// `GET /api/v1/targets/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetDetail {
    pub target: crate::supervisor::TargetView,
    /// The target's effective settings (secrets redacted).
    #[schema(value_type = Object)]
    pub spec: Option<serde_json::Value>,
    /// The 20 newest check results.
    pub recent_checks: Vec<autoheal_store::CheckResultRow>,
    pub uptime_24h: Uptime24h,
}

/// `POST /api/v1/targets/{name}/{command}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandAccepted {
    pub accepted: bool,
    pub command: String,
    pub target: Option<crate::supervisor::TargetView>,
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct TargetQuery {
    /// Only targets in this phase (`healthy`, `failing`, `healing`,
    /// `quarantined`, `paused`, ...).
    phase: Option<String>,
    /// Only this check kind (`http`, `tcp`, `exec`, `docker`, `none`).
    kind: Option<String>,
    /// Only names containing this text.
    q: Option<String>,
    /// `name` (default), `phase` or `last_check_at` (newest first).
    sort: Option<String>,
    /// At most this many (1-500); all when absent.
    limit: Option<u32>,
    /// The `next_after` of the previous page (sorted by name only).
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/targets", tag = "targets", params(TargetQuery),
    responses((status = 200, description = "The targets, sorted by name unless asked otherwise", body = TargetList),
              (status = 400, body = super::error::ErrorBody)))]
async fn list_targets(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<TargetQuery>, QueryRejection>,
) -> Result<Json<TargetList>, ApiError> {
    let Query(q) = q.map_err(from_rejection)?;
    let mut items = targets_of(&s, &who);
    if let Some(p) = &q.phase {
        items.retain(|t| t.phase == p.as_str());
    }
    if let Some(k) = &q.kind {
        items.retain(|t| &t.kind == k);
    }
    if let Some(text) = &q.q {
        items.retain(|t| t.name.contains(text.as_str()));
    }
    match q.sort.as_deref() {
        None | Some("name") => {}
        Some("phase") => items.sort_by(|a, b| a.phase.cmp(b.phase).then(a.name.cmp(&b.name))),
        Some("last_check_at") => items.sort_by(|a, b| {
            b.last_check_at
                .cmp(&a.last_check_at)
                .then(a.name.cmp(&b.name))
        }),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort must be name, phase or last_check_at, not {other:?}"
            )))
        }
    }
    let mut next_after = None;
    if q.after.is_some() && !matches!(q.sort.as_deref(), None | Some("name")) {
        return Err(ApiError::bad_request(
            "after pages targets sorted by name only",
        ));
    }
    if let Some(after) = &q.after {
        items.retain(|t| t.name.as_str() > after.as_str());
    }
    if q.limit.is_some() {
        let n = limit(q.limit)? as usize;
        if items.len() > n {
            items.truncate(n);
            next_after = items.last().map(|t| t.name.clone());
        }
    }
    Ok(Json(TargetList { items, next_after }))
}

#[utoipa::path(get, path = "/api/v1/targets/{name}", tag = "targets",
    params(("name" = String, Path, description = "Target name")),
    responses((status = 200, body = TargetDetail), (status = 404, body = super::error::ErrorBody)))]
async fn get_target(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(name) = name.map_err(from_rejection)?;
    let Some(view) = target_of(&s, &who, &name) else {
        return Err(ApiError::not_found(format!("no target named {name:?}")));
    };
    let key = scope::qualify(who.workspace_id, &name);
    let recent = s.store.recent_checks(&key, 20).await?;
    let day_ago = crate::supervisor::now_ms() - 24 * 3600 * 1000;
    let uptime = s.store.uptime(&key, day_ago).await?;
    let total = uptime.up + uptime.degraded + uptime.down;
    let ratio = if total == 0 {
        None
    } else {
        Some(uptime.up as f64 / total as f64)
    };
    // Redacted again on the way out: rows written by an older version.
    let spec = s
        .store
        .get_target(&key)
        .await?
        .map(|r| autoheal_plugins::redact::redacted_json(&r.spec));
    Ok(Json(TargetDetail {
        target: view,
        spec,
        recent_checks: recent,
        uptime_24h: Uptime24h {
            up: uptime.up,
            degraded: uptime.degraded,
            down: uptime.down,
            ratio,
        },
    }))
}

#[utoipa::path(post, path = "/api/v1/targets/{name}/{command}", tag = "targets",
    params(("name" = String, Path, description = "Target name"),
           ("command" = String, Path, description = "heal, quarantine, release, pause or resume")),
    responses((status = 202, body = CommandAccepted),
              (status = 404, description = "Unknown target or command", body = super::error::ErrorBody),
              (status = 409, description = "The engine refused the command", body = super::error::ErrorBody)))]
async fn command(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path((name, verb)) = path.map_err(from_rejection)?;
    if target_of(&s, &who, &name).is_none() {
        return Err(ApiError::not_found(format!("no target named {name:?}")));
    }
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
    let key = scope::qualify(who.workspace_id, &name);
    s.supervisor.command(&key, cmd, &who.actor()).await?;
    let view = s.supervisor.target_in(who.workspace_id, &name);
    Ok((
        StatusCode::ACCEPTED,
        Json(CommandAccepted {
            accepted: true,
            command: verb,
            target: view,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct IncidentQuery {
    target: Option<String>,
    /// open | closed
    state: Option<String>,
    limit: Option<u32>,
    before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = autoheal_store::Page<autoheal_store::Incident>),
              (status = 400, body = super::error::ErrorBody)))]
async fn list_incidents(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
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
        workspace: Some(who.workspace_id),
        target: q.target.map(|t| scope::qualify(who.workspace_id, &t)),
        open,
        before: q.before,
        limit: limit(q.limit)?,
    };
    let page = s.store.list_incidents(&filter).await?;
    Ok(Json(scope::shown_page(page, scope::shown_incident)))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses((status = 200, body = autoheal_store::Incident), (status = 404, body = super::error::ErrorBody)))]
async fn get_incident(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id.map_err(from_rejection)?;
    match s.store.get_incident_in(who.workspace_id, id).await? {
        Some(i) => Ok(Json(scope::shown_incident(i))),
        None => Err(ApiError::not_found(format!("no incident {id}"))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    target: Option<String>,
    incident: Option<i64>,
    limit: Option<u32>,
    before: Option<i64>,
    /// Events after this id, oldest first (catching up).
    after: Option<i64>,
    /// Only this kind (`config_changed`, `action_started`, ...).
    kind: Option<String>,
    /// Only this actor (`user:alice`, `autoheal`, `local`, ...).
    actor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, body = autoheal_store::Page<autoheal_store::Event>),
              (status = 400, body = super::error::ErrorBody)))]
async fn list_events(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<EventQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(from_rejection)?;
    let filter = EventFilter {
        workspace: Some(who.workspace_id),
        target: q.target.map(|t| scope::qualify(who.workspace_id, &t)),
        incident_id: q.incident,
        before: q.before,
        after: q.after,
        limit: limit(q.limit)?,
        kind: q.kind,
        actor: q.actor,
    };
    let page = s.store.list_events(&filter).await?;
    Ok(Json(scope::shown_page(page, scope::shown_event)))
}

/// Records `event` about incident `id` in the audit log.
async fn incident_event(s: &AppState, who: &Principal, id: i64, target: &str, event: AuditEvent) {
    let actor = who.actor();
    let mut row =
        crate::telemetry::events::audit_row(who.workspace_id, Some(target), &event, &actor);
    row.incident_id = Some(id);
    match s.store.append_event(&row).await {
        Ok(_) => s.bus.events_committed(),
        Err(e) => {
            tracing::error!(error = %crate::error_chain(&e), kind = event.kind(), "An incident event could not be recorded.")
        }
    }
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses((status = 200, description = "Acknowledged (the first acknowledgement is kept)", body = autoheal_store::Incident),
              (status = 404, body = super::error::ErrorBody)))]
async fn acknowledge_incident(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id.map_err(from_rejection)?;
    let actor = who.actor();
    let now = crate::supervisor::now_ms();
    let Some(first) = s
        .store
        .acknowledge_incident(who.workspace_id, id, &actor, now)
        .await?
    else {
        return Err(ApiError::not_found(format!("no incident {id}")));
    };
    let incident = s
        .store
        .get_incident_in(who.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    if first {
        let from = who.ip.map(|i| i.to_string());
        incident_event(
            &s,
            &who,
            id,
            &incident.target,
            AuditEvent::IncidentAcknowledged {
                incident_id: id,
                from,
            },
        )
        .await;
    }
    Ok(Json(scope::shown_incident(incident)))
}

/// `POST /api/v1/incidents/{id}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1-2000 characters.
    pub text: String,
}

/// The largest note kept.
const MAX_NOTE: usize = 2000;

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    request_body = NoteRequest,
    responses((status = 201, description = "The note, as an event of the incident", body = autoheal_store::Page<autoheal_store::Event>),
              (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
async fn annotate_incident(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<i64>, PathRejection>,
    bytes: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id.map_err(from_rejection)?;
    let Some(incident) = s.store.get_incident_in(who.workspace_id, id).await? else {
        return Err(ApiError::not_found(format!("no incident {id}")));
    };
    let req: NoteRequest = super::accounts::body(&bytes)?;
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE {
        return Err(ApiError::field(
            "/text",
            format!("expected 1-{MAX_NOTE} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            "/text",
            "control characters other than new lines are not kept",
        ));
    }
    let from = who.ip.map(|i| i.to_string());
    incident_event(
        &s,
        &who,
        id,
        &incident.target,
        AuditEvent::IncidentAnnotated {
            incident_id: id,
            note: text.to_string(),
            from,
        },
    )
    .await;
    let filter = EventFilter {
        workspace: Some(who.workspace_id),
        target: None,
        incident_id: Some(id),
        before: None,
        after: None,
        limit: 1,
        kind: None,
        actor: None,
    };
    let page = s.store.list_events(&filter).await?;
    Ok((
        StatusCode::CREATED,
        Json(scope::shown_page(page, scope::shown_event)),
    ))
}
