//! The management API: targets, actions, groups and the workspace's policy
//! defaults made, changed and deleted without the file, and the whole
//! workspace exported and imported (TOML or JSON).
//!
//! A body is the object's table as the config file would hold it, written
//! as JSON (`{"check": {"type": "http", "url": "..."}, "cooldown": "1m"}`);
//! it is checked by the file's own validation ([`crate::managed`]), so a
//! bad field is answered `422` with its JSON pointer, and every other
//! problem in `errors`. Objects the file defines answer `409` to writes.
//! Each stored object has a `version` (also its `ETag`); a write with
//! `If-Match: "<version>"` is refused with `412` when someone changed it
//! since.

use super::access::{endpoint, Access, Endpoint};
use super::accounts::{audit, from};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::Principal;
use crate::managed::{redacted, Applied, Change, Meta};
use autoheal_config::{table_from_json, Section};
use autoheal_core::AuditEvent;
use autoheal_store::{Role, Written};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn endpoints() -> Vec<Endpoint> {
    use Access::Role as R;
    let (v, a) = (R(Role::Viewer), R(Role::Admin));
    vec![
        endpoint(Method::POST, "/api/v1/targets", a, post(create_target)),
        endpoint(Method::PUT, "/api/v1/targets/{name}", a, put(put_target)),
        endpoint(
            Method::DELETE,
            "/api/v1/targets/{name}",
            a,
            delete(delete_target),
        ),
        endpoint(
            Method::GET,
            "/api/v1/targets/{name}/config",
            v,
            get(get_target_config),
        ),
        endpoint(Method::GET, "/api/v1/actions", v, get(list_actions)),
        endpoint(Method::POST, "/api/v1/actions", a, post(create_action)),
        endpoint(Method::GET, "/api/v1/actions/{name}", v, get(get_action)),
        endpoint(Method::PUT, "/api/v1/actions/{name}", a, put(put_action)),
        endpoint(
            Method::DELETE,
            "/api/v1/actions/{name}",
            a,
            delete(delete_action),
        ),
        endpoint(Method::GET, "/api/v1/groups", v, get(list_groups)),
        endpoint(Method::POST, "/api/v1/groups", a, post(create_group)),
        endpoint(Method::GET, "/api/v1/groups/{name}", v, get(get_group)),
        endpoint(Method::PUT, "/api/v1/groups/{name}", a, put(put_group)),
        endpoint(
            Method::DELETE,
            "/api/v1/groups/{name}",
            a,
            delete(delete_group),
        ),
        endpoint(Method::GET, "/api/v1/defaults", v, get(get_defaults)),
        endpoint(Method::PUT, "/api/v1/defaults", a, put(put_defaults)),
        endpoint(
            Method::DELETE,
            "/api/v1/defaults",
            a,
            delete(delete_defaults),
        ),
        endpoint(Method::POST, "/api/v1/channels", a, post(create_channel)),
        endpoint(Method::GET, "/api/v1/channels/{name}", v, get(get_channel)),
        endpoint(Method::PUT, "/api/v1/channels/{name}", a, put(put_channel)),
        endpoint(
            Method::DELETE,
            "/api/v1/channels/{name}",
            a,
            delete(delete_channel),
        ),
        endpoint(Method::GET, "/api/v1/routes", v, get(list_routes)),
        endpoint(Method::POST, "/api/v1/routes", a, post(create_route)),
        endpoint(Method::GET, "/api/v1/routes/{name}", v, get(get_route)),
        endpoint(Method::PUT, "/api/v1/routes/{name}", a, put(put_route)),
        endpoint(
            Method::DELETE,
            "/api/v1/routes/{name}",
            a,
            delete(delete_route),
        ),
        endpoint(Method::GET, "/api/v1/export", a, get(export)),
        endpoint(Method::POST, "/api/v1/import", a, post(import)),
    ]
}

/// One config object as the API answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigObject {
    /// targets, actions, groups or defaults.
    pub section: String,
    pub name: String,
    /// `api` (made through the API: writable) or `file` (the config file's:
    /// 409 to writes).
    pub origin: &'static str,
    /// The object's keys as the file would hold them, secrets redacted. For
    /// a file object, its settings as resolved (policy merged).
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Set for objects made through the API.
    pub version: Option<i64>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigObjectList {
    pub items: Vec<ConfigObject>,
}

fn api_object(section: Section, name: &str, table: &toml::Table, meta: &Meta) -> ConfigObject {
    ConfigObject {
        section: section.as_str().into(),
        name: name.to_string(),
        origin: "api",
        config: redacted(section, table),
        version: Some(meta.version),
        created_at: Some(meta.created_at),
        updated_at: Some(meta.updated_at),
        updated_by: Some(meta.updated_by.clone()),
    }
}

/// The file's object `name` of `section`, resolved, as the export writes it.
async fn file_object(
    s: &AppState,
    ws: i64,
    section: Section,
    name: &str,
) -> Result<Option<ConfigObject>, ApiError> {
    let config = s.managed.composed(ws).await?;
    let file = config
        .to_targets_file()
        .map_err(|e| ApiError::internal(format!("the config cannot be written out: {e}")))?;
    let value = serde_json::to_value(&file).unwrap_or_default();
    let found = match section {
        Section::Defaults => value.get("defaults").cloned(),
        _ => value
            .get(section.as_str())
            .and_then(|m| m.get(name))
            .cloned(),
    };
    Ok(found.map(|v| ConfigObject {
        section: section.as_str().into(),
        name: name.to_string(),
        origin: "file",
        config: crate::managed::shown(section, &v),
        version: None,
        created_at: None,
        updated_at: None,
        updated_by: None,
    }))
}

async fn get_object(
    s: &AppState,
    who: &Principal,
    section: Section,
    name: &str,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("no {} named {name:?}", section.noun()));
    let ws = who.workspace_id;
    // The file's wins a name both have (the API's is shadowed).
    if s.managed.file_defines(ws, section, name) {
        if let Some(o) = file_object(s, ws, section, name).await? {
            return Ok(Json(o).into_response());
        }
    }
    if let Some((table, meta)) = s.managed.get(ws, section, name).await {
        return Ok(with_etag(
            StatusCode::OK,
            api_object(section, name, &table, &meta),
        ));
    }
    Err(missing())
}

fn with_etag(status: StatusCode, o: ConfigObject) -> Response {
    let etag = o.version.map(|v| format!("\"{v}\""));
    let mut r = (status, Json(o)).into_response();
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        r.headers_mut().insert(header::ETAG, tag);
    }
    r
}

/// `If-Match: "3"` → 3; `*` or none → none.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::bad_request("If-Match must be an ETag this API gave, like \"3\""))
}

/// The body as the object's table.
fn table(bytes: &Bytes) -> Result<toml::Table, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the body must be a JSON object of the object's keys",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    table_from_json(&value).map_err(|(p, m)| ApiError::field(&p, m))
}

fn check_name(section: Section, name: &str) -> Result<(), ApiError> {
    if autoheal_config::is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::field(
            "/name",
            format!(
                "a {} name is 1-63 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit; found {name:?}",
                section.noun()
            ),
        ))
    }
}

/// Applies `changes` and records each in the audit log.
async fn apply(
    s: &AppState,
    who: &Principal,
    changes: Vec<Change>,
) -> Result<Vec<Applied>, ApiError> {
    let actor = who.actor();
    let applied = s
        .managed
        .apply(
            who.workspace_id,
            changes,
            &actor,
            crate::supervisor::now_ms(),
        )
        .await?;
    for a in &applied {
        let (change, version) = match a.written {
            Written::Created { version } => ("created", Some(version)),
            Written::Updated { version } => ("updated", Some(version)),
            Written::Deleted | Written::Absent => ("deleted", None),
        };
        audit(
            s,
            who.workspace_id,
            &actor,
            AuditEvent::ConfigChanged {
                section: a.section.as_str().into(),
                name: a.name.clone(),
                change: change.into(),
                version,
                before: a.before.as_ref().map(|t| redacted(a.section, t)),
                after: a.after.as_ref().map(|t| redacted(a.section, t)),
                from: from(who.ip),
            },
        )
        .await;
    }
    Ok(applied)
}

async fn put_object(
    s: &AppState,
    who: &Principal,
    section: Section,
    name: String,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Result<Response, ApiError> {
    check_name(section, &name)?;
    let t = table(bytes)?;
    let expect = if_match(headers)?;
    let applied = apply(
        s,
        who,
        vec![Change {
            section,
            name: name.clone(),
            table: Some(t),
            expect_version: expect,
        }],
    )
    .await?;
    answer_written(s, who.workspace_id, section, &name, &applied).await
}

async fn answer_written(
    s: &AppState,
    ws: i64,
    section: Section,
    name: &str,
    applied: &[Applied],
) -> Result<Response, ApiError> {
    let status = match applied.first().map(|a| a.written) {
        Some(Written::Created { .. }) => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    let (table, meta) = s
        .managed
        .get(ws, section, name)
        .await
        .ok_or_else(|| ApiError::internal("the object vanished after it was written"))?;
    Ok(with_etag(status, api_object(section, name, &table, &meta)))
}

/// `POST /api/v1/{section}`: `{"name": "..", ..keys}`; 409 when it exists.
async fn create_object(
    s: &AppState,
    who: &Principal,
    section: Section,
    bytes: &Bytes,
) -> Result<Response, ApiError> {
    let mut t = table(bytes)?;
    let name = match t.remove("name") {
        Some(toml::Value::String(n)) => n,
        Some(_) => return Err(ApiError::field("/name", "expected a string")),
        None => return Err(ApiError::field("/name", "a name is needed")),
    };
    check_name(section, &name)?;
    if s.managed
        .get(who.workspace_id, section, &name)
        .await
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "a {} named {name:?} exists; PUT /api/v1/{}/{name} replaces it",
            section.noun(),
            section.as_str()
        )));
    }
    let applied = apply(
        s,
        who,
        vec![Change {
            section,
            name: name.clone(),
            table: Some(t),
            expect_version: Some(0),
        }],
    )
    .await?;
    answer_written(s, who.workspace_id, section, &name, &applied).await
}

async fn delete_object(
    s: &AppState,
    who: &Principal,
    section: Section,
    name: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let expect = if_match(headers)?;
    apply(
        s,
        who,
        vec![Change {
            section,
            name: name.to_string(),
            table: None,
            expect_version: expect,
        }],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_objects(
    s: &AppState,
    who: &Principal,
    section: Section,
) -> Result<Json<ConfigObjectList>, ApiError> {
    let ws = who.workspace_id;
    let mut items: Vec<ConfigObject> = s
        .managed
        .list(ws, section)
        .await
        .iter()
        .filter(|(n, _, _)| !s.managed.file_defines(ws, section, n))
        .map(|(n, t, m)| api_object(section, n, t, m))
        .collect();
    let config = s.managed.composed(ws).await?;
    let file = config
        .to_targets_file()
        .map_err(|e| ApiError::internal(format!("the config cannot be written out: {e}")))?;
    let value = serde_json::to_value(&file).unwrap_or_default();
    if let Some(map) = value.get(section.as_str()).and_then(|m| m.as_object()) {
        for (name, v) in map {
            if s.managed.file_defines(ws, section, name) {
                items.push(ConfigObject {
                    section: section.as_str().into(),
                    name: name.clone(),
                    origin: "file",
                    config: crate::managed::shown(section, v),
                    version: None,
                    created_at: None,
                    updated_at: None,
                    updated_by: None,
                });
            }
        }
    }
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(ConfigObjectList { items }))
}

fn name_of(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(n)| n).map_err(from_rejection)
}

macro_rules! section_handlers {
    ($section:expr, $tag:literal, $plural:literal,
     $create:ident, $put:ident, $delete:ident, $get:ident, $list:ident) => {
        object_handlers!($section, $tag, $plural, $create, $put, $delete, $get);

        #[utoipa::path(get, path = concat!("/api/v1/", $plural), tag = $tag,
            responses((status = 200, description = "The file's and the API's, by name", body = ConfigObjectList)))]
        async fn $list(
            State(s): State<AppState>,
            Extension(who): Extension<Principal>,
        ) -> Result<Json<ConfigObjectList>, ApiError> {
            list_objects(&s, &who, $section).await
        }
    };
}

/// Create, replace, delete and read one object of a section.
macro_rules! object_handlers {
    ($section:expr, $tag:literal, $plural:literal,
     $create:ident, $put:ident, $delete:ident, $get:ident) => {
        #[utoipa::path(post, path = concat!("/api/v1/", $plural), tag = $tag,
            request_body(content = Object, description = "`name` and the object's keys, as the config file would hold them"),
            responses((status = 201, body = ConfigObject),
                      (status = 409, description = "It exists, or the config file defines it", body = super::error::ErrorBody),
                      (status = 422, description = "A field is wrong: `pointer` names it, `errors` lists every problem", body = super::error::ErrorBody)))]
        async fn $create(
            State(s): State<AppState>,
            Extension(who): Extension<Principal>,
            bytes: Bytes,
        ) -> Result<Response, ApiError> {
            create_object(&s, &who, $section, &bytes).await
        }

        #[utoipa::path(put, path = concat!("/api/v1/", $plural, "/{name}"), tag = $tag,
            params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "The version last read (its ETag)")),
            request_body(content = Object, description = "The object's keys, as the config file would hold them"),
            responses((status = 200, description = "Replaced", body = ConfigObject),
                      (status = 201, description = "Created", body = ConfigObject),
                      (status = 409, description = "The config file defines it", body = super::error::ErrorBody),
                      (status = 412, description = "If-Match names an older version", body = super::error::ErrorBody),
                      (status = 422, body = super::error::ErrorBody)))]
        async fn $put(
            State(s): State<AppState>,
            Extension(who): Extension<Principal>,
            name: Result<Path<String>, PathRejection>,
            headers: HeaderMap,
            bytes: Bytes,
        ) -> Result<Response, ApiError> {
            put_object(&s, &who, $section, name_of(name)?, &headers, &bytes).await
        }

        #[utoipa::path(delete, path = concat!("/api/v1/", $plural, "/{name}"), tag = $tag,
            params(("name" = String, Path), ("If-Match" = Option<String>, Header)),
            responses((status = 204, description = "Deleted"),
                      (status = 404, body = super::error::ErrorBody),
                      (status = 409, description = "The config file defines it", body = super::error::ErrorBody),
                      (status = 422, description = "Something else still refers to it", body = super::error::ErrorBody)))]
        async fn $delete(
            State(s): State<AppState>,
            Extension(who): Extension<Principal>,
            name: Result<Path<String>, PathRejection>,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            delete_object(&s, &who, $section, &name_of(name)?, &headers).await
        }

        #[utoipa::path(get, path = concat!("/api/v1/", $plural, "/{name}"), tag = $tag,
            params(("name" = String, Path)),
            responses((status = 200, body = ConfigObject), (status = 404, body = super::error::ErrorBody)))]
        async fn $get(
            State(s): State<AppState>,
            Extension(who): Extension<Principal>,
            name: Result<Path<String>, PathRejection>,
        ) -> Result<Response, ApiError> {
            get_object(&s, &who, $section, &name_of(name)?).await
        }
    };
}

section_handlers!(
    Section::Actions,
    "actions",
    "actions",
    create_action,
    put_action,
    delete_action,
    get_action,
    list_actions
);
section_handlers!(
    Section::Routes,
    "notifications",
    "routes",
    create_route,
    put_route,
    delete_route,
    get_route,
    list_routes
);
// Channels: the list is the channels in force (notify.rs).
object_handlers!(
    Section::Channels,
    "notifications",
    "channels",
    create_channel,
    put_channel,
    delete_channel,
    get_channel
);
section_handlers!(
    Section::Groups,
    "groups",
    "groups",
    create_group,
    put_group,
    delete_group,
    get_group,
    list_groups
);

// Targets: the list and the detail are the running targets' (api.rs);
// their settings are under /config.
#[utoipa::path(post, path = "/api/v1/targets", tag = "targets",
    request_body(content = Object, description = "`name` and the target's keys, as the config file would hold them"),
    responses((status = 201, body = ConfigObject),
              (status = 409, description = "It exists, or the config file defines it", body = super::error::ErrorBody),
              (status = 422, description = "A field is wrong: `pointer` names it, `errors` lists every problem", body = super::error::ErrorBody)))]
async fn create_target(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    create_object(&s, &who, Section::Targets, &bytes).await
}

#[utoipa::path(put, path = "/api/v1/targets/{name}", tag = "targets",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "The version last read (its ETag)")),
    request_body(content = Object, description = "The target's keys, as the config file would hold them"),
    responses((status = 200, description = "Replaced", body = ConfigObject),
              (status = 201, description = "Created", body = ConfigObject),
              (status = 409, description = "The config file defines it", body = super::error::ErrorBody),
              (status = 412, description = "If-Match names an older version", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
async fn put_target(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    put_object(&s, &who, Section::Targets, name_of(name)?, &headers, &bytes).await
}

#[utoipa::path(delete, path = "/api/v1/targets/{name}", tag = "targets",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Deleted: no longer supervised"),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "The config file defines it", body = super::error::ErrorBody),
              (status = 422, description = "Another target depends on it", body = super::error::ErrorBody)))]
async fn delete_target(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    delete_object(&s, &who, Section::Targets, &name_of(name)?, &headers).await
}

#[utoipa::path(get, path = "/api/v1/targets/{name}/config", tag = "targets",
    params(("name" = String, Path)),
    responses((status = 200, body = ConfigObject), (status = 404, body = super::error::ErrorBody)))]
async fn get_target_config(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    get_object(&s, &who, Section::Targets, &name_of(name)?).await
}

#[utoipa::path(get, path = "/api/v1/defaults", tag = "defaults",
    responses((status = 200, body = ConfigObject), (status = 404, description = "None set", body = super::error::ErrorBody)))]
async fn get_defaults(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    get_object(&s, &who, Section::Defaults, "defaults").await
}

#[utoipa::path(put, path = "/api/v1/defaults", tag = "defaults",
    params(("If-Match" = Option<String>, Header)),
    request_body(content = Object, description = "Policy keys, as `[defaults]` would hold them"),
    responses((status = 200, body = ConfigObject), (status = 201, body = ConfigObject),
              (status = 409, description = "The config file has a [defaults]", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
async fn put_defaults(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    put_object(
        &s,
        &who,
        Section::Defaults,
        "defaults".into(),
        &headers,
        &bytes,
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/defaults", tag = "defaults",
    params(("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Back to the built-in defaults"),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)))]
async fn delete_defaults(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    delete_object(&s, &who, Section::Defaults, "defaults", &headers).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// toml (default) or json.
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/export", tag = "defaults", params(ExportQuery),
    responses((status = 200, description = "The workspace's groups, actions and targets (the file's and the API's), each target's policy spelled out; secrets redacted", content_type = "application/toml"),
              (status = 400, body = super::error::ErrorBody)))]
async fn export(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(from_rejection)?;
    let config = s.managed.composed(who.workspace_id).await?;
    let file = config
        .to_targets_file()
        .map_err(|e| ApiError::internal(format!("the config cannot be written out: {e}")))?;
    let mut value = serde_json::to_value(&file).unwrap_or_default();
    autoheal_plugins::redact::redact_json(&mut value);
    if let Some(channels) = value.get_mut("channels").and_then(|c| c.as_object_mut()) {
        for c in channels.values_mut() {
            *c = crate::managed::shown(Section::Channels, c);
        }
    }
    match q.format.as_deref().unwrap_or("toml") {
        "json" => Ok(Json(value).into_response()),
        "toml" => {
            let table = table_from_json(&value).map_err(|(_, m)| ApiError::internal(m))?;
            let text = toml::to_string_pretty(&table).map_err(|e| {
                ApiError::internal(format!("the config cannot be written out: {e}"))
            })?;
            Ok(([(header::CONTENT_TYPE, "application/toml")], text).into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "format must be toml or json, not {other:?}"
        ))),
    }
}

/// `POST /api/v1/import`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Imported {
    /// How many objects were created or replaced, per section.
    pub defaults: usize,
    pub groups: usize,
    pub actions: usize,
    pub targets: usize,
    pub channels: usize,
    pub routes: usize,
}

#[utoipa::path(post, path = "/api/v1/import", tag = "defaults",
    request_body(content = String, description = "A config file's [defaults], [groups], [actions] and [targets] as TOML (Content-Type: application/toml) or the same as JSON (what GET /api/v1/export writes). Each object replaces the API's object of that name; all or none.", content_type = "application/toml"),
    responses((status = 200, body = Imported),
              (status = 409, description = "The config file defines one of them", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
async fn import(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let root: toml::Table = if is_json {
        table(&bytes)?
    } else {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
        text.parse::<toml::Table>().map_err(|e| {
            ApiError::bad_request(format!("the body is not valid TOML: {}", e.message()))
        })?
    };
    let (changes, counts) = import_changes(root)?;
    if changes.is_empty() {
        return Err(ApiError::bad_request("nothing to import"));
    }
    apply(&s, &who, changes).await?;
    Ok(Json(counts).into_response())
}

/// An import's objects as changes (each replaces the API's object of its
/// name), counted per section; a key that is no section, or an object that
/// is no table or has a bad name, is refused with its pointer.
pub(crate) fn import_changes(root: toml::Table) -> Result<(Vec<Change>, Imported), ApiError> {
    let mut changes = Vec::new();
    let mut counts = Imported {
        defaults: 0,
        groups: 0,
        actions: 0,
        targets: 0,
        channels: 0,
        routes: 0,
    };
    for (key, value) in root {
        let Some(section) = Section::parse(&key) else {
            return Err(ApiError::field(
                &format!("/{key}"),
                "expected only defaults, groups, actions, targets, channels and routes",
            ));
        };
        let toml::Value::Table(t) = value else {
            return Err(ApiError::field(&format!("/{key}"), "expected a table"));
        };
        if section == Section::Defaults {
            counts.defaults = 1;
            changes.push(Change {
                section,
                name: "defaults".into(),
                table: Some(t),
                expect_version: None,
            });
            continue;
        }
        for (name, v) in t {
            let toml::Value::Table(obj) = v else {
                return Err(ApiError::field(
                    &format!("/{key}/{name}"),
                    "expected a table",
                ));
            };
            check_name(section, &name)?;
            match section {
                Section::Groups => counts.groups += 1,
                Section::Actions => counts.actions += 1,
                Section::Channels => counts.channels += 1,
                Section::Routes => counts.routes += 1,
                _ => counts.targets += 1,
            }
            changes.push(Change {
                section,
                name,
                table: Some(obj),
                expect_version: None,
            });
        }
    }
    Ok((changes, counts))
}
