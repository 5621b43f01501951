//! Docker containers and their auto-heal, chosen without editing labels
//! (the Docker seeds' "select containers" screen): `PUT
//! /api/v1/containers/{name}/autoheal {"enabled": true}` heals a container
//! whatever its labels, `false` never (a configured target that selects it
//! still has it), `DELETE` hands the choice back to the labels. Choices are
//! stored and take effect at once (the watcher reconciles).

use super::access::{endpoint, Access, Endpoint};
use super::accounts::{audit, body, from};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::Principal;
use autoheal_core::AuditEvent;
use autoheal_store::{Role, DEFAULT_WORKSPACE};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn endpoints() -> Vec<Endpoint> {
    use Access::Role as R;
    vec![
        endpoint(
            Method::GET,
            "/api/v1/containers",
            R(Role::Viewer),
            get(list),
        ),
        endpoint(
            Method::PUT,
            "/api/v1/containers/{name}/autoheal",
            R(Role::Admin),
            put(choose),
        ),
        endpoint(
            Method::DELETE,
            "/api/v1/containers/{name}/autoheal",
            R(Role::Admin),
            axum::routing::delete(unchoose),
        ),
    ]
}

/// One container as the engine lists it, with autoheal's view of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerItem {
    /// Without the leading `/`.
    pub name: String,
    /// The short id.
    pub id: String,
    pub image: Option<String>,
    /// running, exited, paused, ...
    pub state: Option<String>,
    /// healthy, unhealthy or starting; none without a HEALTHCHECK.
    pub health: Option<&'static str>,
    /// The target it is (or would be) healed as: `<project>/<service>`
    /// for compose, else its name.
    pub target: String,
    /// Whether autoheal supervises that target now.
    pub supervised: bool,
    /// The choice made through the API; none: its labels decide.
    pub autoheal: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerList {
    /// Whether autoheal watches a Docker engine.
    pub docker: bool,
    pub items: Vec<ContainerItem>,
}

fn health_of(status: Option<&str>) -> Option<&'static str> {
    let s = status?;
    if s.contains("(healthy)") {
        Some("healthy")
    } else if s.contains("(unhealthy)") {
        Some("unhealthy")
    } else if s.contains("(health: starting)") {
        Some("starting")
    } else {
        None
    }
}

#[utoipa::path(get, path = "/api/v1/containers", tag = "containers",
    responses((status = 200, description = "Every container of the engine, stopped ones too", body = ContainerList),
              (status = 503, description = "The engine does not answer", body = super::error::ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<ContainerList>, ApiError> {
    let client = match s.docker.client() {
        Some(c) if who.workspace_id == DEFAULT_WORKSPACE && s.docker_watched => c.get().await,
        _ => {
            return Ok(Json(ContainerList {
                docker: false,
                items: Vec::new(),
            }))
        }
    };
    let list = client
        .list(true, Default::default())
        .await
        .map_err(|e| ApiError::unavailable(format!("the Docker engine does not answer: {e}")))?;
    let choices = s.docker.choices();
    let mut items: Vec<ContainerItem> = list
        .into_iter()
        .map(|c| {
            let raw = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .cloned()
                .unwrap_or_default();
            let labels = c.labels.clone().unwrap_or_default();
            let target = autoheal_docker::DockerTarget::of_container(&raw, &labels).name;
            let name = raw.trim_start_matches('/').to_string();
            ContainerItem {
                supervised: s.supervisor.target_exists(&target),
                autoheal: choices.get(&name).copied(),
                id: c.id.unwrap_or_default().chars().take(12).collect(),
                image: c.image,
                state: c.state.map(|st| format!("{st:?}").to_lowercase()),
                health: health_of(c.status.as_deref()),
                name,
                target,
            }
        })
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(ContainerList {
        docker: true,
        items,
    }))
}

/// `PUT /api/v1/containers/{name}/autoheal`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// Heal it whatever its labels (`true`), or never (`false`).
    pub enabled: bool,
}

/// The container's choice now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Chosen {
    pub container: String,
    /// None: its labels decide.
    pub autoheal: Option<bool>,
}

fn container_name(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(name) = p.map_err(from_rejection)?;
    let name = name.trim_start_matches('/').to_string();
    // Docker's own rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+
    let ok = (1..=255).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::bad_request(format!(
            "{name:?} is not a container name (letters, digits, '_', '.', '-')"
        )))
    }
}

async fn set(
    s: &AppState,
    who: &Principal,
    name: &str,
    choice: Option<bool>,
) -> Result<bool, ApiError> {
    let actor = who.actor();
    let before = s.docker.choices().get(name).copied();
    let changed = s
        .store
        .set_container_choice(
            who.workspace_id,
            name,
            choice,
            crate::supervisor::now_ms(),
            &actor,
        )
        .await?;
    if changed {
        let all = s
            .store
            .list_container_choices(Some(DEFAULT_WORKSPACE))
            .await?;
        s.docker
            .publish_choices(all.into_iter().map(|c| (c.container, c.autoheal)).collect());
        let json = |c: Option<bool>| c.map(|on| serde_json::json!({ "autoheal": on }));
        audit(
            s,
            who.workspace_id,
            &actor,
            AuditEvent::ConfigChanged {
                section: "containers".into(),
                name: name.to_string(),
                change: match (before, choice) {
                    (None, _) => "created",
                    (_, None) => "deleted",
                    _ => "updated",
                }
                .into(),
                version: None,
                before: json(before),
                after: json(choice),
                from: from(who.ip),
            },
        )
        .await;
    }
    Ok(changed)
}

#[utoipa::path(put, path = "/api/v1/containers/{name}/autoheal", tag = "containers",
    params(("name" = String, Path, description = "The container's name")),
    request_body = Choice,
    responses((status = 200, body = Chosen),
              (status = 404, description = "Not the default workspace (the host's containers are its)", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
async fn choose(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let name = container_name(name)?;
    // The host's containers are the default workspace's.
    if who.workspace_id != DEFAULT_WORKSPACE {
        return Err(ApiError::not_found(format!(
            "no container named {name:?} in this workspace"
        )));
    }
    let choice: Choice = body(&bytes)?;
    set(&s, &who, &name, Some(choice.enabled)).await?;
    Ok(Json(Chosen {
        container: name,
        autoheal: Some(choice.enabled),
    })
    .into_response())
}

#[utoipa::path(delete, path = "/api/v1/containers/{name}/autoheal", tag = "containers",
    params(("name" = String, Path, description = "The container's name")),
    responses((status = 204, description = "Its labels decide again"),
              (status = 404, description = "No choice was made for it", body = super::error::ErrorBody)))]
async fn unchoose(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = container_name(name)?;
    if who.workspace_id != DEFAULT_WORKSPACE || !set(&s, &who, &name, None).await? {
        return Err(ApiError::not_found(format!(
            "no choice was made for container {name:?}"
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
