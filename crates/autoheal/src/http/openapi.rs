//! The OpenAPI description of `/api/v1`, generated from the handlers'
//! annotations (utoipa), served at `/api/v1/openapi.json`.

use super::access::{endpoint, Access, Endpoint};
use axum::http::Method;
use axum::{routing::get, Json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

/// `GET /api/v1/openapi.json`. Its own endpoint here, so the handlers it
/// describes never need this module (no import circle).
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Method::GET,
        PATH,
        Access::Signed,
        get(openapi_json),
    )]
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "probes",
    responses((status = 200, description = "This document")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// The two ways to authenticate: an API key as a Bearer token, or the
/// browser session cookie.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ah_key_...")
                    .description(Some("An API key: `Authorization: Bearer ah_key_...`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::access::SESSION_COOKIE,
                "The browser session set by POST /api/v1/auth/login",
            ))),
        );
    }
}

/// The examples ([`super::examples`]): one on every schema of the
/// components (JSON Schema's `examples`, as OpenAPI 3.1 has it), one on
/// every request body and answer the document writes inline, and one on
/// every error answer (`ErrorBody`): its route's, else its status's.
struct Examples;

impl Modify for Examples {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{schema::Schema, RefOr};
        let components = doc.components.get_or_insert_with(Default::default);
        for example in super::examples::schemas() {
            let Some(RefOr::T(schema)) = components.schemas.get_mut(&example.name) else {
                continue;
            };
            let examples = match schema {
                Schema::Object(s) => &mut s.examples,
                Schema::Array(s) => &mut s.examples,
                Schema::AllOf(s) => &mut s.examples,
                Schema::OneOf(s) => &mut s.examples,
                Schema::AnyOf(s) => &mut s.examples,
                // A kind of schema utoipa adds later: no example, and the
                // test names it.
                _ => continue,
            };
            *examples = vec![example.value];
        }
        let bodies = super::examples::bodies();
        let errors = super::examples::errors();
        let answers = super::examples::responses();
        let error_ref = format!(
            "#/components/schemas/{}",
            <super::error::ErrorBody as utoipa::ToSchema>::name()
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                ("get", item.get.as_mut()),
                ("put", item.put.as_mut()),
                ("post", item.post.as_mut()),
                ("delete", item.delete.as_mut()),
                ("patch", item.patch.as_mut()),
            ];
            for (method, op) in operations {
                let Some(op) = op else { continue };
                if let Some(RefOr::T(body)) = op.request_body.as_mut() {
                    if let Some(example) = bodies
                        .iter()
                        .find(|b| b.method == method && b.path == path.as_str())
                    {
                        for content in body.content.values_mut() {
                            if let RefOr::T(content) = content {
                                content.example = Some(example.value.clone());
                            }
                        }
                    }
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let answer = answers
                        .iter()
                        .find(|a| {
                            a.method == method && a.path == path.as_str() && a.status == status
                        })
                        .map(|a| &a.value);
                    let error = errors
                        .iter()
                        .find(|e| {
                            e.status.as_str() == status && e.applies.is_none_or(|f| f(method, path))
                        })
                        .map(|e| &e.value);
                    for content in response.content.values_mut() {
                        let RefOr::T(content) = content else {
                            continue;
                        };
                        let is_error = matches!(&content.schema,
                            Some(RefOr::Ref(r)) if r.ref_location == error_ref);
                        let example = if is_error { error } else { answer };
                        if let Some(value) = example {
                            content.example = Some(value.clone());
                        }
                    }
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "autoheal API",
        description = "Targets and their state, incidents with every attempt, the audit log, operator commands, and accounts. Every route but the probes and login needs a credential: an API key as `Authorization: Bearer ah_key_...`, or the session cookie."
    ),
    modifiers(&Security, &Examples),
    security(("api_key" = []), ("session" = [])),
    paths(
        super::health,
        super::live,
        super::ready,
        super::metrics,
        openapi_json,
        super::api::list_targets,
        super::api::get_target,
        super::api::command,
        super::api::list_incidents,
        super::api::get_incident,
        super::api::list_events,
        super::accounts::setup,
        super::accounts::register,
        super::accounts::login,
        super::accounts::logout,
        super::accounts::me,
        super::accounts::change_password,
        super::accounts::totp_begin,
        super::accounts::totp_confirm,
        super::accounts::totp_remove,
        super::accounts::workspaces,
        super::accounts::list_keys,
        super::accounts::create_key,
        super::accounts::revoke_key,
        super::accounts::create_invite,
        super::accounts::list_members,
        super::accounts::set_member,
        super::accounts::remove_member,
        super::manage::create_target,
        super::manage::put_target,
        super::manage::delete_target,
        super::manage::get_target_config,
        super::manage::list_actions,
        super::manage::create_action,
        super::manage::get_action,
        super::manage::put_action,
        super::manage::delete_action,
        super::manage::list_groups,
        super::manage::create_group,
        super::manage::get_group,
        super::manage::put_group,
        super::manage::delete_group,
        super::manage::get_defaults,
        super::manage::put_defaults,
        super::manage::delete_defaults,
        super::manage::export,
        super::manage::import,
        super::api::acknowledge_incident,
        super::api::annotate_incident,
        super::containers::list,
        super::containers::choose,
        super::containers::unchoose,
        super::hooks::create,
        super::hooks::list,
        super::hooks::revoke,
        super::hooks::receive,
        super::hooks::receive_put,
        super::hooks::receive_get,
        super::hooks::ping_success,
        super::hooks::ping_start,
        super::hooks::ping_fail,
        super::platforms::account,
        super::platforms::set_account,
        super::platforms::remove_account,
        super::platforms::services,
        super::platforms::service,
        super::platforms::deploy,
        super::platforms::restart,
        super::secrets::list,
        super::secrets::set,
        super::secrets::remove,
        super::stream::stream,
        super::notify::list_channels,
        super::manage::create_channel,
        super::manage::get_channel,
        super::manage::put_channel,
        super::manage::delete_channel,
        super::manage::list_routes,
        super::manage::create_route,
        super::manage::get_route,
        super::manage::put_route,
        super::manage::delete_route,
        super::notify::test_channel,
        super::notify::list_deliveries,
        super::notify::get_delivery,
        super::notify::retry_delivery,
        super::notify::cancel_delivery,
    ),
    tags(
        (name = "probes", description = "Liveness, readiness, health and metrics"),
        (name = "targets", description = "What autoheal watches and heals"),
        (name = "incidents", description = "Outages, from detection to verified recovery"),
        (name = "events", description = "The audit log"),
        (name = "auth", description = "Setup, registration, sessions and the caller's own account"),
        (name = "keys", description = "API keys for programs"),
        (name = "members", description = "The workspace's members and invitations"),
        (name = "actions", description = "Named actions the ladders refer to: the file's, and those made through the API"),
        (name = "groups", description = "Policy shared by the targets of a group"),
        (name = "defaults", description = "The workspace's policy defaults; export and import"),
        (name = "containers", description = "Docker containers, and their auto-heal chosen without labels"),
        (name = "alerts", description = "Alert webhooks: external monitors tell autoheal a target is down or up"),
        (name = "platforms", description = "Hosting platform accounts (Render): services, unhealthy ones, deploy and restart by hand"),
        (name = "secrets", description = "The vault: third-party credentials, encrypted at rest, write-only"),
        (name = "notifications", description = "Notification channels and the outbox's deliveries: dead letters retried or cancelled"),
    )
)]
pub struct ApiDoc;

/// The document. Built once (its examples compose configurations and
/// render answers, tens of milliseconds), then the same for the process.
pub fn document() -> utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi).clone()
}
