//! The OpenAPI description of `/api/v1`, generated from the handlers'
//! annotations (utoipa), served at `/api/v1/openapi.json`.

use axum::{routing::get, Json, Router};
use utoipa::OpenApi;

/// `GET /openapi.json` (nested under `/api/v1`). Its own route here, so the
/// handlers it describes never need this module (no import circle).
pub fn routes() -> Router<super::AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(document()) }))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "autoheal API",
        description = "Targets and their state, incidents with every attempt, the audit log, and operator commands."
    ),
    paths(
        super::api::list_targets,
        super::api::get_target,
        super::api::command,
        super::api::list_incidents,
        super::api::get_incident,
        super::api::list_events,
    ),
    tags(
        (name = "targets", description = "What autoheal watches and heals"),
        (name = "incidents", description = "Outages, from detection to verified recovery"),
        (name = "events", description = "The audit log"),
    )
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
