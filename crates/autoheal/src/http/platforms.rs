//! Hosting platform accounts of a workspace (issue 11 item 5): the Render
//! API key kept in the vault, the services listed (and the unhealthy ones),
//! found by name, redeployed or restarted by hand.
//!
//! `PUT /api/v1/platforms/render {"api_key": "rnd_...", "base_url": ...}`
//! stores the account (sealed, write-only: answers say `set`); the service
//! routes call Render with it. Heals on Render are the `render_deploy` and
//! `render_restart` actions of a target's ladder.

use super::access::{endpoint, Access, Endpoint};
use super::accounts::{audit, body, from};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::Principal;
use crate::vault::Secret;
use autoheal_core::AuditEvent;
use autoheal_plugins::platform::render::{RenderClient, RenderError, DEFAULT_BASE_URL};
use autoheal_store::Role;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The vault name and kind of a workspace's Render account.
const SECRET: &str = "render";
const KIND: &str = "render_api_key";

pub fn endpoints() -> Vec<Endpoint> {
    use Access::Role as R;
    vec![
        endpoint(
            Method::GET,
            "/api/v1/platforms/render",
            R(Role::Viewer),
            get(account),
        ),
        endpoint(
            Method::PUT,
            "/api/v1/platforms/render",
            R(Role::Admin),
            put(set_account),
        ),
        endpoint(
            Method::DELETE,
            "/api/v1/platforms/render",
            R(Role::Admin),
            delete(remove_account),
        ),
        endpoint(
            Method::GET,
            "/api/v1/platforms/render/services",
            R(Role::Viewer),
            get(services),
        ),
        endpoint(
            Method::GET,
            "/api/v1/platforms/render/services/{service}",
            R(Role::Viewer),
            get(service),
        ),
        endpoint(
            Method::POST,
            "/api/v1/platforms/render/services/{service}/deploy",
            R(Role::Operator),
            post(deploy),
        ),
        endpoint(
            Method::POST,
            "/api/v1/platforms/render/services/{service}/restart",
            R(Role::Operator),
            post(restart),
        ),
    ]
}

/// What is stored (sealed) for the account.
#[derive(Serialize, Deserialize)]
struct Stored {
    api_key: String,
    base_url: String,
}

/// `PUT /api/v1/platforms/render`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderAccountRequest {
    /// The Render API key (`rnd_...`). Write-only.
    pub api_key: String,
    /// Default `https://api.render.com/v1` (a setting for tests and proxies).
    pub base_url: Option<String>,
}

/// The account as answered: never its key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenderAccount {
    pub platform: &'static str,
    /// Whether a key is stored.
    pub set: bool,
    pub base_url: Option<String>,
}

async fn client_of(s: &AppState, who: &Principal) -> Result<RenderClient, ApiError> {
    let stored = s
        .vault
        .get(who.workspace_id, SECRET)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "The Render account could not be read from the vault.");
            ApiError::unavailable("the Render account cannot be read")
        })?
        .ok_or_else(|| {
            ApiError::not_found(
                "no Render account is set: PUT /api/v1/platforms/render {\"api_key\": \"...\"}",
            )
        })?;
    let stored: Stored = serde_json::from_str(stored.expose())
        .map_err(|_| ApiError::internal("the stored Render account is not readable"))?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| ApiError::internal(format!("no HTTP client: {e}")))?;
    RenderClient::new(&stored.base_url, &stored.api_key, http)
        .map_err(|e| ApiError::internal(format!("the stored Render account is unusable: {e}")))
}

fn render_error(e: RenderError) -> ApiError {
    match e {
        RenderError::NotFound(m) => ApiError::not_found(m),
        RenderError::Ambiguous(m) => ApiError::conflict(m),
        RenderError::Unauthorized => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "platform_refused",
            "Render refuses the stored API key; PUT a new one",
        ),
        RenderError::RateLimited { retry_after } => {
            ApiError::too_many("Render's rate limit is reached; retry later", retry_after)
        }
        other => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "platform_error",
            format!("Render: {other}"),
        ),
    }
}

#[utoipa::path(get, path = "/api/v1/platforms/render", tag = "platforms",
    responses((status = 200, body = RenderAccount)))]
async fn account(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<RenderAccount>, ApiError> {
    let stored = s.vault.get(who.workspace_id, SECRET).await.ok().flatten();
    let base_url = stored
        .as_ref()
        .and_then(|v| serde_json::from_str::<Stored>(v.expose()).ok())
        .map(|st| st.base_url);
    Ok(Json(RenderAccount {
        platform: "render",
        set: stored.is_some(),
        base_url,
    }))
}

#[utoipa::path(put, path = "/api/v1/platforms/render", tag = "platforms",
    request_body = RenderAccountRequest,
    responses((status = 200, body = RenderAccount), (status = 422, body = super::error::ErrorBody)))]
async fn set_account(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req: RenderAccountRequest = body(&bytes)?;
    if req.api_key.trim().is_empty() || req.api_key.len() > 512 {
        return Err(ApiError::field("/api_key", "expected the Render API key"));
    }
    let base_url = req.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    // Refused as an action's would be (scheme, metadata addresses).
    RenderClient::new(&base_url, &req.api_key, reqwest::Client::new())
        .map_err(|e| ApiError::field("/base_url", e.to_string()))?;
    let value = serde_json::to_string(&Stored {
        api_key: req.api_key,
        base_url: base_url.clone(),
    })
    .unwrap_or_default();
    let created = s
        .vault
        .put(
            who.workspace_id,
            KIND,
            SECRET,
            &Secret::new(value),
            crate::supervisor::now_ms(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "The Render account could not be stored.");
            ApiError::unavailable("the Render account could not be stored; try again")
        })?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::SecretSet {
            name: SECRET.into(),
            secret_kind: KIND.into(),
            created,
            from: from(who.ip),
        },
    )
    .await;
    Ok(Json(RenderAccount {
        platform: "render",
        set: true,
        base_url: Some(base_url),
    })
    .into_response())
}

#[utoipa::path(delete, path = "/api/v1/platforms/render", tag = "platforms",
    responses((status = 204, description = "Forgotten"), (status = 404, body = super::error::ErrorBody)))]
async fn remove_account(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    if !s.store.delete_secret(who.workspace_id, SECRET).await? {
        return Err(ApiError::not_found("no Render account is set"));
    }
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::SecretDeleted {
            name: SECRET.into(),
            from: from(who.ip),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ServicesQuery {
    /// Only services of this exact name.
    name: Option<String>,
    /// Only the ones that need a heal or a human: suspended, or whose
    /// latest deploy failed.
    unhealthy: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

#[utoipa::path(get, path = "/api/v1/platforms/render/services", tag = "platforms", params(ServicesQuery),
    responses((status = 200, body = ServiceList),
              (status = 404, description = "No account is set", body = super::error::ErrorBody),
              (status = 502, description = "Render refused or failed", body = super::error::ErrorBody)))]
async fn services(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<ServicesQuery>, QueryRejection>,
) -> Result<Json<ServiceList>, ApiError> {
    let Query(q) = q.map_err(from_rejection)?;
    let client = client_of(&s, &who).await?;
    let items = if q.unhealthy == Some(true) {
        client
            .unhealthy()
            .await
            .map_err(render_error)?
            .into_iter()
            .filter(|(svc, _, _)| q.name.as_deref().is_none_or(|n| svc.name == n))
            .map(|(svc, deploy, why)| {
                serde_json::json!({"service": svc, "latest_deploy": deploy, "why": why})
            })
            .collect()
    } else {
        client
            .list_services(q.name.as_deref())
            .await
            .map_err(render_error)?
            .into_iter()
            .map(|svc| serde_json::json!({ "service": svc }))
            .collect()
    };
    Ok(Json(ServiceList { items }))
}

#[utoipa::path(get, path = "/api/v1/platforms/render/services/{service}", tag = "platforms",
    params(("service" = String, Path, description = "`srv-...` or the service's exact name")),
    responses((status = 200, description = "The service and its latest deploy", body = Object),
              (status = 404, body = super::error::ErrorBody)))]
async fn service(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(name) = p.map_err(from_rejection)?;
    let client = client_of(&s, &who).await?;
    let svc = client.find(&name).await.map_err(render_error)?;
    let deploy = client.latest_deploy(&svc.id).await.map_err(render_error)?;
    Ok(Json(
        serde_json::json!({"service": svc, "latest_deploy": deploy}),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Build without Render's cache.
    #[serde(default)]
    pub clear_cache: bool,
}

#[utoipa::path(post, path = "/api/v1/platforms/render/services/{service}/deploy", tag = "platforms",
    params(("service" = String, Path, description = "`srv-...` or the service's exact name")),
    request_body = DeployRequest,
    responses((status = 202, description = "The deploy Render started", body = Object),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "A deploy is in progress already", body = super::error::ErrorBody)))]
async fn deploy(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    p: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let Path(name) = p.map_err(from_rejection)?;
    let client = client_of(&s, &who).await?;
    let req: DeployRequest = if bytes.is_empty() {
        DeployRequest::default()
    } else {
        body(&bytes)?
    };
    let svc = client.find(&name).await.map_err(render_error)?;
    if let Some(d) = client.latest_deploy(&svc.id).await.map_err(render_error)? {
        if d.status.in_progress() {
            return Err(ApiError::conflict(format!(
                "deploy {} of {} is in progress already",
                d.id, svc.name
            )));
        }
    }
    let d = client
        .deploy(&svc.id, req.clear_cache)
        .await
        .map_err(render_error)?;
    platform_event(&s, &who, &svc.name, "deploy", &d.id).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"service": svc, "deploy": d})),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/platforms/render/services/{service}/restart", tag = "platforms",
    params(("service" = String, Path, description = "`srv-...` or the service's exact name")),
    responses((status = 202, description = "Render restarts it", body = Object),
              (status = 404, body = super::error::ErrorBody)))]
async fn restart(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = p.map_err(from_rejection)?;
    let client = client_of(&s, &who).await?;
    let svc = client.find(&name).await.map_err(render_error)?;
    client.restart(&svc.id).await.map_err(render_error)?;
    platform_event(&s, &who, &svc.name, "restart", "").await;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"service": svc, "restarting": true})),
    )
        .into_response())
}

async fn platform_event(s: &AppState, who: &Principal, service: &str, call: &str, id: &str) {
    audit(
        s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::PlatformCall {
            platform: "render".into(),
            service: service.to_string(),
            call: call.into(),
            id: (!id.is_empty()).then(|| id.to_string()),
            from: from(who.ip),
        },
    )
    .await;
}
