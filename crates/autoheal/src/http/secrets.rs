//! The vault under `/api/v1/secrets`: write-only. A secret is stored
//! (encrypted, see [`crate::vault`]) and listed by name, kind and when it was
//! set; its value is never answered.

use super::access::{endpoint, Access, Endpoint};
use super::accounts::{audit, body, from};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::Principal;
use crate::vault::{check_kind, check_name, Secret};
use autoheal_core::AuditEvent;
use autoheal_store::{Role, SecretInfo};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest secret value stored.
const MAX_VALUE: usize = 16 * 1024;

pub fn endpoints() -> Vec<Endpoint> {
    use Access::Role as R;
    vec![
        endpoint(Method::GET, "/api/v1/secrets", R(Role::Admin), get(list)),
        endpoint(
            Method::PUT,
            "/api/v1/secrets/{name}",
            R(Role::Admin),
            put(set),
        ),
        endpoint(
            Method::DELETE,
            "/api/v1/secrets/{name}",
            R(Role::Admin),
            delete(remove),
        ),
    ]
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    pub items: Vec<SecretInfo>,
}

#[utoipa::path(get, path = "/api/v1/secrets", tag = "secrets",
    responses((status = 200, description = "The workspace's secrets: names, kinds and times, never values", body = SecretList),
              (status = 403, body = super::error::ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<SecretList>, ApiError> {
    Ok(Json(SecretList {
        items: s.store.list_secrets(who.workspace_id).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    /// What it is for: `render_api_key`, `coolify_token`, `smtp_password`,
    /// `webhook_url`, `hmac_secret`, ...
    pub kind: String,
    /// Stored encrypted; never answered again.
    pub value: String,
}

#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "secrets", request_body = SetSecret,
    params(("name" = String, Path, description = "The secret's name")),
    responses((status = 201, description = "Stored", body = SecretInfo),
              (status = 200, description = "Replaced", body = SecretInfo),
              (status = 422, body = super::error::ErrorBody)))]
async fn set(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let Path(name) = name.map_err(from_rejection)?;
    check_name(&name).map_err(|m| ApiError::bad_request(format!("the secret's name: {m}")))?;
    let req: SetSecret = body(&bytes)?;
    check_kind(&req.kind).map_err(|m| ApiError::field("/kind", m))?;
    if req.value.is_empty() || req.value.len() > MAX_VALUE {
        return Err(ApiError::field(
            "/value",
            format!("expected 1 to {MAX_VALUE} bytes, found {}", req.value.len()),
        ));
    }
    let now = crate::supervisor::now_ms();
    let created = s
        .vault
        .put(
            who.workspace_id,
            &req.kind,
            &name,
            &Secret::new(req.value),
            now,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "Storing a secret failed.");
            ApiError::unavailable("the secret could not be stored; try again")
        })?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::SecretSet {
            name: name.clone(),
            secret_kind: req.kind.clone(),
            created,
            from: from(who.ip),
        },
    )
    .await;
    let info = s
        .store
        .list_secrets(who.workspace_id)
        .await?
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| ApiError::unavailable("the secret was stored but cannot be listed"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(info)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "The secret's name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = super::error::ErrorBody)))]
async fn remove(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = name.map_err(from_rejection)?;
    if !s.store.delete_secret(who.workspace_id, &name).await? {
        return Err(ApiError::not_found(format!("no secret named {name:?}")));
    }
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::SecretDeleted {
            name,
            from: from(who.ip),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
