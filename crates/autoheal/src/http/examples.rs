//! The examples of the OpenAPI document (issue 10 item 8), made from real
//! values of the real types so that they cannot drift from the code.
//!
//! - A schema the API answers with is shown as a value of its Rust type,
//!   serialized (`serde_json::to_value`) when the document is built: what
//!   the example says is what the API would send. Where autoheal makes the
//!   value itself, the example is made by the same code: `web`'s view and
//!   spec come from building the config examples as the supervisor does,
//!   audit events from [`crate::telemetry::events::audit_row`], a webhook's
//!   alerts from the UptimeRobot parser, the export from composing the
//!   config examples, metrics from a fresh registry.
//! - A request body is written as the JSON (or text) a client sends,
//!   together with a check that takes it as its route does: the handlers'
//!   own [`super::accounts::body`] into the same type; a config object
//!   through the same composition as the config file; an alert through the
//!   same parser. `tests/openapi_examples.rs` runs every check.
//! - An error is an [`ApiError`] made by the constructor (or conversion)
//!   the handlers use, turned into its response: status and body are the
//!   wire's. Each route gets the one its handler gives (a 422 of a config
//!   object is the composition's own answer to a bad one, a 422 of a typed
//!   body `body()`'s own refusal, a 409 of a command the engine's own
//!   refusal), and each status one for every other route.
//!
//! [`super::openapi`] lays them into the document. Every token, key and
//! password here is an obvious placeholder, never shaped to pass a check.
//! What is copied from a handler rather than shared with it: the messages
//! of the simple errors (and which route answers which), the keys of the objects some handlers build with
//! `json!` (a webhook call's per-alert list, the Render answers), the live
//! stream's event names, and the import route's walk over the sections.

use super::accounts::{
    CreatedInvite, CreatedKey, InviteRequest, KeyList, LoginRequest, Me, MemberList, MemberRole,
    NewKeyRequest, PasswordChange, PasswordProof, RecoveryCodes, RegisterRequest, SessionInfo,
    SetupRequest, TotpCode, TotpSetup, WorkspaceList, WorkspaceRole,
};
use super::api::{CommandAccepted, NoteRequest, TargetDetail, TargetList, Uptime24h};
use super::containers::{Choice, Chosen, ContainerItem, ContainerList};
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::hooks::{
    CreatedHook, Filter, HookInfo, HookList, NewHookRequest, Pinged, Received, SignatureRequest,
};
use super::manage::{ConfigObject, ConfigObjectList, Imported};
use super::notify::{ChannelList, ChannelView, Tested};
use super::platforms::{DeployRequest, RenderAccount, RenderAccountRequest, ServiceList};
use super::secrets::{SecretList, SetSecret};
use crate::managed::{FieldError, ManageError};
use crate::supervisor::{CommandError, TargetView};
use autoheal_config::{compose, Layers, Overlay, Section};
use autoheal_core::{AuditEvent, Phase, Status};
use autoheal_plugins::alert::AlertSource;
use autoheal_plugins::check::heartbeat::Ping;
use autoheal_store::outbox::{
    Delivery, DeliveryDetail, DeliveryState, DeliveryTry, Notification, TryOutcome,
};
use autoheal_store::{
    ApiKey, Attempt, CheckResultRow, Event, Incident, Member, Page, Role, SecretInfo, Workspace,
};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// A check that a request body is taken as its route takes it: `Err` says
/// why not.
pub type Accepts = fn(&Value) -> Result<(), String>;

/// The example of one schema of `components.schemas`.
pub struct SchemaExample {
    /// The schema's name in the document.
    pub name: String,
    pub value: Value,
    /// For a request body: its route's check.
    pub accepts: Option<Accepts>,
}

/// The example of a request body the document writes inline (a config
/// object, an import's TOML, a monitor's call), by route.
pub struct BodyExample {
    pub method: &'static str,
    pub path: &'static str,
    pub value: Value,
    pub accepts: Accepts,
}

/// The example of an answer the document writes inline (a platform's
/// object, TOML, the event stream, metrics), by route and status.
pub struct ResponseExample {
    pub method: &'static str,
    pub path: &'static str,
    pub status: &'static str,
    pub value: Value,
}

/// An answer of the API: its schema's name and its value.
fn answer<T: ToSchema + Serialize>(value: T) -> SchemaExample {
    SchemaExample {
        name: T::name().into_owned(),
        value: serde_json::to_value(&value).expect("an example serializes"),
        accepts: None,
    }
}

/// A generic answer (`Page<T>`): utoipa names it `Page_T`.
fn generic_answer<P: ToSchema + Serialize, T: ToSchema>(value: P) -> SchemaExample {
    SchemaExample {
        name: format!("{}_{}", P::name(), T::name()),
        ..answer(value)
    }
}

/// A request body as the client writes it, checked as its route reads it.
fn request<T: ToSchema + DeserializeOwned>(value: Value) -> SchemaExample {
    SchemaExample {
        name: T::name().into_owned(),
        value,
        accepts: Some(read_as::<T>),
    }
}

/// A type the API both answers with and reads: the answer's value, and
/// the check that it is read back.
fn both<T: ToSchema + Serialize + DeserializeOwned>(value: T) -> SchemaExample {
    SchemaExample {
        accepts: Some(read_as::<T>),
        ..answer(value)
    }
}

/// What the handlers do with a JSON body ([`super::accounts::body`]).
fn read_as<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    let bytes = axum::body::Bytes::from(serde_json::to_vec(value).map_err(|e| e.to_string())?);
    super::accounts::body::<T>(&bytes)
        .map(drop)
        .map_err(|e| describe(&e))
}

fn describe(e: &ApiError) -> String {
    match &e.pointer {
        Some(p) => format!("{} {} at {p}: {}", e.status.as_u16(), e.code, e.message),
        None => format!("{} {}: {}", e.status.as_u16(), e.code, e.message),
    }
}

// Unix milliseconds of the story the examples tell: `web` fails at 09:14
// UTC and is healed by a restart.
const T0: i64 = 1_796_116_440_000;
const MINUTE: i64 = 60_000;

/// A token of `kind`'s shape (`ah_<kind>_<30>_<6>`) that says what it is
/// and fails the checksum.
fn placeholder(kind: &str) -> String {
    let random = format!("EXAMPLE{}", kind.to_uppercase());
    format!("ah_{kind}_{random:0<30}_000000")
}

/// What the API shows of `web` as autoheal builds it from the config
/// examples (the target the supervisor runs): its view's fields and its
/// spec as the store and API keep it. Built once.
struct BuiltWeb {
    kind: String,
    depends_on: Vec<String>,
    dry_run: bool,
    ladder: Vec<String>,
    spec: Value,
}

fn built_web() -> &'static BuiltWeb {
    static WEB: std::sync::OnceLock<BuiltWeb> = std::sync::OnceLock::new();
    WEB.get_or_init(|| {
        let config = composed();
        let runtime = crate::build::Runtime::new(&config);
        let web = crate::build::build_targets_with(&config, &runtime)
            .expect("the config examples build")
            .targets
            .into_iter()
            .find(|t| t.name == "web")
            .expect("the examples have web");
        BuiltWeb {
            // As the supervisor fills a view from a spec.
            ladder: web.policy.ladder.iter().map(|r| r.action.clone()).collect(),
            kind: web.kind,
            depends_on: web.depends_on,
            dry_run: web.policy.dry_run,
            spec: web.spec,
        }
    })
}

/// `web`'s view in `phase`.
fn web_view(phase: Phase, incident: Option<i64>) -> TargetView {
    let web = built_web();
    TargetView {
        name: "web".into(),
        kind: web.kind.clone(),
        phase: phase.as_str(),
        incident_id: incident,
        depends_on: web.depends_on.clone(),
        dry_run: web.dry_run,
        last_status: Some(if incident.is_some() {
            Status::Down.as_str()
        } else {
            Status::Up.as_str()
        }),
        last_detail: Some(if incident.is_some() {
            "GET http://web:8080/health: connection refused".into()
        } else {
            "HTTP 200".into()
        }),
        last_check_at: Some(T0 + 2 * MINUTE),
        last_latency_ms: Some(if incident.is_some() { 3 } else { 41 }),
        ladder: web.ladder.clone(),
        policy: None,
    }
}

/// A day of 10 s checks with 28 down and 2 degraded, its ratio as the
/// route computes it (up / all).
fn uptime() -> Uptime24h {
    let (up, degraded, down) = (8_610u64, 2, 28);
    Uptime24h {
        up,
        degraded,
        down,
        ratio: Some(up as f64 / (up + degraded + down) as f64),
    }
}

fn attempt() -> Attempt {
    Attempt {
        id: 31,
        incident_id: 7,
        rung: 0,
        attempt: 1,
        action: "restart-web".into(),
        started_at: T0 + MINUTE / 2,
        finished_at: Some(T0 + MINUTE),
        outcome: Some("succeeded".into()),
        detail: Some(String::new()),
        dry_run: false,
    }
}

fn incident() -> Incident {
    Incident {
        id: 7,
        target: "web".into(),
        opened_at: T0,
        closed_at: Some(T0 + 3 * MINUTE),
        reason: "3 consecutive failures: GET http://web:8080/health: connection refused".into(),
        resolution: Some(autoheal_core::Resolution::Recovered.as_str().into()),
        quarantine_reason: None,
        duration_ms: Some(3 * MINUTE),
        acknowledged_by: Some("user:alice".into()),
        acknowledged_at: Some(T0 + MINUTE),
        attempts: vec![attempt()],
    }
}

/// An audit-log entry as the one place that makes them makes it.
fn event(id: i64, at: i64, incident: Option<i64>, e: &AuditEvent, actor: &str) -> Event {
    let row = crate::telemetry::events::audit_row(
        autoheal_store::DEFAULT_WORKSPACE,
        Some("web"),
        e,
        actor,
    );
    Event {
        id,
        at,
        target: row.target,
        incident_id: incident,
        kind: row.kind,
        message: row.message,
        actor: row.actor,
        data: row.data,
    }
}

fn events() -> Vec<Event> {
    vec![
        event(
            120,
            T0 + MINUTE,
            Some(7),
            &AuditEvent::ActionFinished {
                action: "restart-web".into(),
                outcome: "succeeded".into(),
                detail: String::new(),
            },
            "autoheal",
        ),
        event(
            119,
            T0 + MINUTE / 2,
            Some(7),
            &AuditEvent::ActionStarted {
                action: "restart-web".into(),
                rung: 1,
                attempt: 1,
                dry_run: false,
            },
            "autoheal",
        ),
    ]
}

fn workspace() -> Workspace {
    Workspace {
        id: 1,
        name: "default".into(),
        created_at: T0 - 90 * 24 * 60 * MINUTE,
    }
}

fn member() -> Member {
    Member {
        user_id: 2,
        username: "bob".into(),
        email: Some("bob@example.com".into()),
        role: Role::Operator,
        created_at: T0 - 30 * 24 * 60 * MINUTE,
    }
}

fn api_key() -> ApiKey {
    ApiKey {
        id: 3,
        workspace_id: 1,
        user_id: Some(1),
        name: "ci-deploy".into(),
        hint: crate::auth::token::hint(&placeholder("key")),
        role: Role::Operator,
        created_at: T0 - 7 * 24 * 60 * MINUTE,
        expires_at: Some(T0 + 83 * 24 * 60 * MINUTE),
        last_used_at: Some(T0 - 5 * MINUTE),
        revoked_at: None,
    }
}

fn hook_info() -> HookInfo {
    HookInfo {
        id: 4,
        target: "web".into(),
        name: "uptimerobot".into(),
        source: serde_json::to_value(AlertSource::UptimeRobot).expect("a source serializes"),
        filter: Filter {
            down: true,
            up: true,
        },
        signature: None,
        created_at: T0 - 24 * 60 * MINUTE,
        created_by: "user:alice".into(),
        expires_at: Some(T0 + 89 * 24 * 60 * MINUTE),
        revoked_at: None,
        last_used_at: Some(T0),
    }
}

fn secret_info() -> SecretInfo {
    SecretInfo {
        name: "render".into(),
        kind: "render_api_key".into(),
        set: true,
        key_id: "k1".into(),
        created_at: T0 - 24 * 60 * MINUTE,
        updated_at: T0 - 24 * 60 * MINUTE,
    }
}

fn config_object() -> ConfigObject {
    ConfigObject {
        section: Section::Targets.as_str().into(),
        name: "web".into(),
        origin: "api",
        config: target_body(),
        version: Some(3),
        created_at: Some(T0 - 24 * 60 * MINUTE),
        updated_at: Some(T0 - 10 * MINUTE),
        updated_by: Some("user:alice".into()),
    }
}

fn container(name: &str, id: &str, health: &'static str, autoheal: Option<bool>) -> ContainerItem {
    ContainerItem {
        name: name.into(),
        id: id.into(),
        image: Some("ghcr.io/example/shop:1.4.2".into()),
        state: Some("running".into()),
        health: Some(health),
        target: name.replace("-1", "").replace('-', "/"),
        supervised: autoheal != Some(false),
        autoheal,
    }
}

/// The 422 of a change to the config examples, as the management API
/// answers it: composed with the other examples over the embedded
/// defaults, its errors as fields of the body (`nested`: an import's,
/// pointing into `/section/name/...`). `None` deletes the object.
fn invalid(changes: Vec<(Section, &str, Option<Value>)>, nested: bool) -> ApiError {
    let mut overlay = overlay_with(Section::Targets, "web", table_of(&target_body()))
        .expect("the examples are tables");
    let changes: Vec<crate::managed::Change> = changes
        .into_iter()
        .map(|(section, name, keys)| {
            let table = keys.as_ref().map(table_of);
            overlay.set(section, name, table.clone());
            crate::managed::Change {
                section,
                name: name.into(),
                table,
                expect_version: None,
            }
        })
        .collect();
    let errors = match compose(&layers(), &overlay) {
        Ok(_) => panic!("an invalid example composes"),
        Err(e) => e,
    };
    // As `Managed::apply` makes its 422.
    let fields: Vec<FieldError> = crate::managed::field_errors(&errors, &changes, nested);
    let first = fields
        .first()
        .map(|f| f.message.clone())
        .unwrap_or_else(|| "the configuration is invalid".into());
    ManageError::Invalid(first, fields).into()
}

fn table_of(keys: &Value) -> toml::Table {
    autoheal_config::table_from_json(keys).expect("a JSON object")
}

/// The 422 of a target whose check interval is not a duration and whose
/// threshold is 0.
fn invalid_target(nested: bool) -> ApiError {
    let mut body = target_body();
    body["check"]["interval"] = json!("10 parsecs");
    body["failure_threshold"] = json!(0);
    invalid(vec![(Section::Targets, "web", Some(body))], nested)
}

/// The 422 of `body()` reading `value` as a `T`.
fn unreadable<T: DeserializeOwned>(value: Value) -> ApiError {
    let bytes = axum::body::Bytes::from(value.to_string());
    match super::accounts::body::<T>(&bytes) {
        Ok(_) => panic!("an unreadable example is read: {value}"),
        Err(e) => e,
    }
}

/// `release` of a target that is not quarantined, refused by the engine.
fn refused_command() -> CommandError {
    use autoheal_core::{engine::Engine, Command, Decision, Input, Policy, TargetId, Timestamp};
    let mut engine = Engine::new(0);
    let id = TargetId(0);
    let now = Timestamp(T0);
    engine
        .add_target(id, Policy::default(), now, None)
        .expect("a fresh engine takes a target");
    engine
        .handle(
            id,
            now,
            Input::Command {
                command: Command::Release,
                actor: "user:alice".into(),
            },
        )
        .expect("the engine takes a command");
    while let Some(out) = engine.poll() {
        if let Decision::CommandRefused { why, .. } = out.decision {
            return CommandError::Refused(why);
        }
    }
    panic!("the engine released a target that was not quarantined")
}

/// An error as the API sends it: (status, body).
fn wire(e: ApiError) -> (StatusCode, Value) {
    let response = e.into_response();
    let status = response.status();
    let value = serde_json::from_str(&text_of(response)).expect("an error body is JSON");
    (status, value)
}

/// The example of an error answer: the routes it is for and the answer.
pub struct ErrorExample {
    pub status: StatusCode,
    /// Whether it is the answer of this status for (method, path); the
    /// first that applies is taken. `None`: every route (the last of each
    /// status, so that a route added later has one too).
    pub applies: Option<fn(&str, &str) -> bool>,
    pub value: Value,
}

fn error(applies: fn(&str, &str) -> bool, e: ApiError) -> ErrorExample {
    ErrorExample {
        applies: Some(applies),
        ..any(e)
    }
}

/// The answer of its status for every other route.
fn any(e: ApiError) -> ErrorExample {
    let (status, value) = wire(e);
    ErrorExample {
        status,
        applies: None,
        value,
    }
}

fn file_owned(section: Section, name: &str) -> ApiError {
    ManageError::FileOwned {
        noun: section.noun(),
        name: name.into(),
        origin: "/etc/autoheal/autoheal.toml".into(),
    }
    .into()
}

/// The error answers, each made as its handler makes it: by route where a
/// route has its own, and one for each status the document names.
pub fn errors() -> Vec<ErrorExample> {
    use crate::auth::{password, throttle, AuthError};
    use std::time::Duration;
    vec![
        // 400
        error(
            |_, p| p == "/api/v1/export",
            ApiError::bad_request(format!("format must be toml or json, not {:?}", "yaml")),
        ),
        any(ApiError::bad_request("limit must be between 1 and 500")),
        // 401
        error(|_, p| p == "/api/v1/auth/login", AuthError::Invalid.into()),
        any(ApiError::unauthorized("sign in, or send an API key as `Authorization: Bearer <key>`"),
        ),
        // 403
        error(
            |_, p| p == "/api/v1/auth/setup",
            AuthError::Forbidden(
                "the setup token is wrong or spent (it works once, before any user exists)".into(),
            )
            .into(),
        ),
        error(
            |_, p| p == "/api/v1/auth/register",
            AuthError::Forbidden("registration is closed".into()).into(),
        ),
        error(
            |_, p| p == "/api/v1/auth/totp",
            ApiError::forbidden("this needs a signed-in session; an API key cannot do it"),
        ),
        any(ApiError::forbidden(format!(
                "this needs the {} role; yours is {}",
                Role::Admin,
                Role::Operator
            )),
        ),
        // 404
        error(
            |_, p| p.starts_with("/api/v1/incidents/"),
            ApiError::not_found("no incident 7"),
        ),
        error(
            |_, p| p.starts_with("/api/v1/keys/"),
            AuthError::NotFound("no key 3".into()).into(),
        ),
        error(
            |_, p| p.starts_with("/api/v1/members/"),
            ApiError::not_found("no member 2 in this workspace"),
        ),
        error(
            |_, p| p.starts_with("/hooks/") || p.starts_with("/ping/"),
            ApiError::not_found("no webhook in force has this URL"),
        ),
        error(
            |m, p| m == "delete" && p == "/api/v1/targets/{name}/webhooks/{id}",
            ApiError::not_found(format!("no webhook {} of target {:?} in force", 4, "web")),
        ),
        error(
            |_, p| p.starts_with("/api/v1/platforms/"),
            ApiError::not_found("no Render account is set"),
        ),
        error(
            |m, p| m == "put" && p.starts_with("/api/v1/containers/"),
            ApiError::not_found(format!(
                "no container named {:?} in this workspace",
                "shop-worker-1"
            )),
        ),
        error(
            |_, p| p.starts_with("/api/v1/containers/"),
            ApiError::not_found(format!(
                "no choice was made for container {:?}",
                "shop-worker-1"
            )),
        ),
        error(
            |_, p| p.starts_with("/api/v1/secrets/"),
            ApiError::not_found(format!("no secret named {:?}", "smtp")),
        ),
        error(
            |m, p| m == "delete" && p.starts_with("/api/v1/actions/"),
            ManageError::NotFound {
                noun: Section::Actions.noun(),
                name: "restart-web".into(),
            }
            .into(),
        ),
        error(
            |_, p| p.starts_with("/api/v1/actions/"),
            ApiError::not_found(format!(
                "no {} named {:?}",
                Section::Actions.noun(),
                "restart-web"
            )),
        ),
        error(
            |m, p| m == "delete" && p.starts_with("/api/v1/groups/"),
            ManageError::NotFound {
                noun: Section::Groups.noun(),
                name: "web".into(),
            }
            .into(),
        ),
        error(
            |_, p| p.starts_with("/api/v1/groups/"),
            ApiError::not_found(format!("no {} named {:?}", Section::Groups.noun(), "web")),
        ),
        error(
            |m, p| m == "delete" && p == "/api/v1/defaults",
            ManageError::NotFound {
                noun: Section::Defaults.noun(),
                name: "defaults".into(),
            }
            .into(),
        ),
        error(
            |_, p| p == "/api/v1/defaults",
            ApiError::not_found(format!(
                "no {} named {:?}",
                Section::Defaults.noun(),
                "defaults"
            )),
        ),
        error(
            |m, p| m == "delete" && p == "/api/v1/targets/{name}",
            ManageError::NotFound {
                noun: Section::Targets.noun(),
                name: "web".into(),
            }
            .into(),
        ),
        any(CommandError::UnknownTarget("web".into()).into()),
        // 409
        error(
            |_, p| p == "/api/v1/auth/register",
            AuthError::Conflict("the username or e-mail is taken".into()).into(),
        ),
        error(
            |_, p| p == "/api/v1/auth/totp",
            AuthError::Conflict("a second factor is already in force; remove it first".into())
                .into(),
        ),
        error(
            |_, p| p.starts_with("/api/v1/members/"),
            ApiError::conflict("the workspace's last owner cannot be removed or demoted"),
        ),
        error(
            |_, p| p.ends_with("/deploy"),
            ApiError::conflict(format!(
                "deploy {} of {} is in progress already",
                "dep-example0001", "web"
            )),
        ),
        error(
            |_, p| p == "/api/v1/targets/{name}/{command}",
            refused_command().into(),
        ),
        error(
            |_, p| p.starts_with("/api/v1/actions"),
            file_owned(Section::Actions, "restart-web"),
        ),
        error(
            |_, p| p.starts_with("/api/v1/groups"),
            file_owned(Section::Groups, "web"),
        ),
        error(
            |_, p| p == "/api/v1/defaults",
            file_owned(Section::Defaults, "defaults"),
        ),
        any(file_owned(Section::Targets, "web")),
        // 412
        any(ManageError::Conflict(format!(
                "{} {:?} is at version 4, not 3",
                Section::Targets.as_str(),
                "web"
            ))
            .into(),
        ),
        // 413
        any(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "an alert body is at most {} KiB",
                    super::hooks::MAX_BODY / 1024
                ),
            ),
        ),
        // 422
        error(
            |m, p| m == "delete" && p == "/api/v1/actions/{name}",
            invalid(vec![(Section::Actions, "restart-web", None)], false),
        ),
        error(
            |m, p| m == "delete" && p == "/api/v1/groups/{name}",
            invalid(vec![(Section::Groups, "web", None)], false),
        ),
        error(
            |m, p| m == "delete" && p == "/api/v1/targets/{name}",
            invalid(vec![(Section::Targets, "db", None)], false),
        ),
        error(
            |_, p| p.starts_with("/api/v1/actions"),
            invalid(
                vec![(
                    Section::Actions,
                    "restart-web",
                    Some(json!({"type": "command", "argv": [], "timeout": "a minute"})),
                )],
                false,
            ),
        ),
        error(
            |_, p| p.starts_with("/api/v1/groups"),
            invalid(
                vec![(Section::Groups, "web", Some(json!({"cooldown": "soon"})))],
                false,
            ),
        ),
        error(
            |_, p| p == "/api/v1/defaults",
            invalid(
                vec![(
                    Section::Defaults,
                    "defaults",
                    Some(json!({"failure_threshold": 0})),
                )],
                false,
            ),
        ),
        error(|_, p| p == "/api/v1/import", invalid_target(true)),
        error(
            |_, p| p == "/api/v1/auth/totp",
            AuthError::Field("/password", "the password is wrong".into()).into(),
        ),
        error(
            |_, p| p == "/api/v1/auth/totp/confirm",
            AuthError::Field(
                "/code",
                "the code does not match; check the authenticator app's clock".into(),
            )
            .into(),
        ),
        error(
            |_, p| p == "/api/v1/auth/password",
            AuthError::Field("/current_password", "the current password is wrong".into()).into(),
        ),
        error(
            |_, p| p == "/api/v1/auth/register" || p == "/api/v1/auth/setup",
            AuthError::Field(
                "/password",
                password::check_new("hunter2").expect_err("a short password is refused"),
            )
            .into(),
        ),
        error(
            |_, p| p.starts_with("/hooks/"),
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unrecognised_alert",
                alerts_in(r#"{"hello": "world"}"#).expect_err("not an UptimeRobot alert"),
            ),
        ),
        error(
            |_, p| p.ends_with("/notes"),
            unreadable::<NoteRequest>(json!({})),
        ),
        error(
            |_, p| p == "/api/v1/keys",
            unreadable::<NewKeyRequest>(json!({"name": "ci-deploy", "role": "superuser"})),
        ),
        error(
            |_, p| p == "/api/v1/invites",
            unreadable::<InviteRequest>(json!({"role": "superuser"})),
        ),
        error(
            |_, p| p.ends_with("/webhooks"),
            unreadable::<NewHookRequest>(json!({"source": {"type": "nagios"}})),
        ),
        error(
            |_, p| p.starts_with("/api/v1/containers/"),
            unreadable::<Choice>(json!({"enabled": "yes"})),
        ),
        error(
            |_, p| p == "/api/v1/platforms/render",
            unreadable::<RenderAccountRequest>(json!({"key": "rnd_EXAMPLE"})),
        ),
        error(
            |_, p| p.starts_with("/api/v1/secrets/"),
            unreadable::<SetSecret>(json!({"kind": "smtp_password"})),
        ),
        any(invalid_target(false)),
        // 429
        error(
            |_, p| p.starts_with("/api/v1/auth/"),
            AuthError::Throttled(throttle::Refused {
                retry_after: Duration::from_secs(30),
                scope: "account",
            })
            .into(),
        ),
        error(
            |_, p| p.starts_with("/hooks/") || p.starts_with("/ping/"),
            ApiError::too_many(
                "too many calls on this webhook; slow down",
                Duration::from_secs(1),
            ),
        ),
        any(ApiError::too_many(
                "too many requests; slow down (see Retry-After)",
                Duration::from_secs(2),
            ),
        ),
        // 502
        any(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "platform_refused",
                "Render refuses the stored API key; PUT a new one",
            ),
        ),
        // 503
        error(|_, p| p == "/api/v1/auth/login", AuthError::Busy.into()),
        error(
            |_, p| p.starts_with("/hooks/"),
            ApiError {
                retry_after: Some(Duration::from_secs(5)),
                ..ApiError::unavailable("the alert could not be recorded yet; send it again")
            },
        ),
        error(
            |_, p| p == "/api/v1/containers",
            ApiError::unavailable(
                "the Docker engine does not answer: error trying to connect: No such file or directory (os error 2)",
            ),
        ),
        any(ApiError::unavailable("the store is not answering; try again")),
    ]
}

/// `POST /api/v1/targets`'s body without its `name`: an http check, a
/// two-rung ladder, a group and a dependency.
fn target_body() -> Value {
    json!({
        "group": "web",
        "check": {"type": "http", "url": "http://web:8080/health", "interval": "10s", "timeout": "3s"},
        "failure_threshold": 3,
        "ladder": [
            {"action": "restart-web", "verify": "30s", "repeat": 2},
            {"action": "page-oncall", "verify": "0s"}
        ],
        "depends_on": ["db"]
    })
}

fn with_name(name: &str, mut body: Value) -> Value {
    body.as_object_mut()
        .expect("an object")
        .insert("name".into(), json!(name));
    body
}

/// The config objects of the inline bodies, (section, name, keys): they
/// refer to one another (the target to its group, actions and dependency),
/// as a user would make them.
fn config_objects() -> Vec<(Section, &'static str, Value)> {
    vec![
        (Section::Targets, "web", target_body()),
        (
            Section::Targets,
            "db",
            json!({"check": {"type": "tcp", "address": "db:5432", "interval": "10s"}}),
        ),
        (
            Section::Actions,
            "restart-web",
            json!({"type": "command", "argv": ["systemctl", "restart", "web"], "timeout": "60s"}),
        ),
        (
            Section::Actions,
            "page-oncall",
            json!({
                "type": "webhook",
                "url": "https://hooks.example.com/page",
                "body": "{\"text\": \"{{target}} is {{state}}: {{detail}}\"}"
            }),
        ),
        (
            Section::Groups,
            "web",
            json!({"cooldown": "2m", "backoff": {"max": "2m"}}),
        ),
        (
            Section::Defaults,
            "defaults",
            json!({"cooldown": "7m", "failure_threshold": 3}),
        ),
        (
            Section::Channels,
            "ops",
            json!({"type": "slack", "url": "https://hooks.slack.com/services/T000/B000/EXAMPLE"}),
        ),
        (
            Section::Routes,
            "page",
            json!({"channels": ["ops"], "events": ["heal_failed", "quarantined", "recovered"], "groups": ["web"]}),
        ),
    ]
}

fn config_object_of(section: Section, name: &str) -> Value {
    config_objects()
        .into_iter()
        .find(|(s, n, _)| *s == section && *n == name)
        .map(|(_, _, v)| v)
        .expect("a config example of that name")
}

/// What the examples' objects are laid over: the embedded defaults, as for
/// the default workspace of an install without a config file.
fn layers() -> Layers {
    Layers::detached("<embedded defaults>")
}

/// Every config example, with `table` as object `name` of `section`.
fn overlay_with(section: Section, name: &str, table: toml::Table) -> Result<Overlay, String> {
    let mut overlay = Overlay::default();
    for (s, n, v) in config_objects() {
        let t = autoheal_config::table_from_json(&v).map_err(|(p, m)| format!("{p}: {m}"))?;
        overlay.set(s, n, Some(t));
    }
    overlay.set(section, name, Some(table));
    Ok(overlay)
}

/// Takes `keys` as object `name` of `section`, as the management API does:
/// JSON to a table, laid with the other examples over the embedded
/// defaults, composed as the config file would be.
fn composes(section: Section, name: &str, keys: &Value) -> Result<(), String> {
    let t = autoheal_config::table_from_json(keys).map_err(|(p, m)| format!("{p}: {m}"))?;
    let overlay = overlay_with(section, name, t)?;
    compose(&layers(), &overlay)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A `POST` body: its `name` taken out as the route does, then composed.
fn composes_named(section: Section, body: &Value) -> Result<(), String> {
    let mut keys = body.clone();
    let name = keys
        .as_object_mut()
        .and_then(|m| m.remove("name"))
        .and_then(|n| n.as_str().map(str::to_string))
        .ok_or("a POST body names its object in `name`")?;
    if !autoheal_config::is_valid_name(&name) {
        return Err(format!("{name:?} is not a valid name"));
    }
    composes(section, &name, &keys)
}

/// The examples of the request bodies the document writes inline.
pub fn bodies() -> Vec<BodyExample> {
    vec![
        BodyExample {
            method: "post",
            path: "/api/v1/targets",
            value: with_name("web", target_body()),
            accepts: |v| composes_named(Section::Targets, v),
        },
        BodyExample {
            method: "put",
            path: "/api/v1/targets/{name}",
            value: target_body(),
            accepts: |v| composes(Section::Targets, "web", v),
        },
        BodyExample {
            method: "post",
            path: "/api/v1/actions",
            value: with_name(
                "restart-web",
                config_object_of(Section::Actions, "restart-web"),
            ),
            accepts: |v| composes_named(Section::Actions, v),
        },
        BodyExample {
            method: "put",
            path: "/api/v1/actions/{name}",
            value: config_object_of(Section::Actions, "page-oncall"),
            accepts: |v| composes(Section::Actions, "page-oncall", v),
        },
        BodyExample {
            method: "post",
            path: "/api/v1/groups",
            value: with_name("web", config_object_of(Section::Groups, "web")),
            accepts: |v| composes_named(Section::Groups, v),
        },
        BodyExample {
            method: "put",
            path: "/api/v1/groups/{name}",
            value: config_object_of(Section::Groups, "web"),
            accepts: |v| composes(Section::Groups, "web", v),
        },
        BodyExample {
            method: "post",
            path: "/api/v1/channels",
            value: with_name("ops", config_object_of(Section::Channels, "ops")),
            accepts: |v| composes_named(Section::Channels, v),
        },
        BodyExample {
            method: "put",
            path: "/api/v1/channels/{name}",
            value: config_object_of(Section::Channels, "ops"),
            accepts: |v| composes(Section::Channels, "ops", v),
        },
        BodyExample {
            method: "post",
            path: "/api/v1/routes",
            value: with_name("page", config_object_of(Section::Routes, "page")),
            accepts: |v| composes_named(Section::Routes, v),
        },
        BodyExample {
            method: "put",
            path: "/api/v1/routes/{name}",
            value: config_object_of(Section::Routes, "page"),
            accepts: |v| composes(Section::Routes, "page", v),
        },
        BodyExample {
            method: "post",
            path: "/api/v1/import",
            value: Value::String(import_text()),
            accepts: |v| imported(v.as_str().ok_or("expected TOML text")?).map(drop),
        },
        BodyExample {
            method: "post",
            path: "/hooks/{token}",
            value: Value::String(uptimerobot_alert()),
            accepts: alert_acts,
        },
        BodyExample {
            method: "put",
            path: "/hooks/{token}",
            value: Value::String(uptimerobot_alert()),
            accepts: alert_acts,
        },
        BodyExample {
            method: "put",
            path: "/api/v1/defaults",
            value: config_object_of(Section::Defaults, "defaults"),
            accepts: |v| composes(Section::Defaults, "defaults", v),
        },
    ]
}

/// The composed configuration of the config examples.
fn composed() -> autoheal_config::Config {
    let overlay = overlay_with(
        Section::Defaults,
        "defaults",
        autoheal_config::table_from_json(&config_object_of(Section::Defaults, "defaults"))
            .expect("a table"),
    )
    .expect("the examples are tables");
    compose(&layers(), &overlay)
        .expect("the config examples compose")
        .config
}

/// `GET /api/v1/export` of the examples' workspace, as the route writes
/// it: every object of the composed configuration, redacted, as TOML.
fn export_text() -> String {
    let file = composed().to_targets_file().expect("the examples export");
    let mut value = serde_json::to_value(&file).expect("an export serializes");
    autoheal_plugins::redact::redact_json(&mut value);
    let table = autoheal_config::table_from_json(&value).expect("an export is a table");
    toml::to_string_pretty(&table).expect("an export is TOML")
}

/// The config examples as one TOML text, as a config file would hold them
/// (an export names every key; this is what a user writes).
fn import_text() -> String {
    let mut root = toml::Table::new();
    for (section, name, keys) in config_objects() {
        let t = autoheal_config::table_from_json(&keys).expect("a table");
        if section == Section::Defaults {
            root.insert("defaults".into(), toml::Value::Table(t));
            continue;
        }
        root.entry(section.as_str())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("a section is a table")
            .insert(name.into(), toml::Value::Table(t));
    }
    toml::to_string_pretty(&root).expect("the examples are TOML")
}

/// `POST /api/v1/import` of a TOML text, as the route reads it: every
/// object of the four sections, composed; how many of each.
fn imported(text: &str) -> Result<Imported, String> {
    let root: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("400: not TOML: {}", e.message()))?;
    let (changes, counts) = super::manage::import_changes(root).map_err(|e| describe(&e))?;
    let mut overlay = Overlay::default();
    for c in changes {
        overlay.set(c.section, &c.name, c.table);
    }
    if overlay.is_empty() {
        return Err("400: nothing to import".into());
    }
    compose(&layers(), &overlay).map_err(|e| format!("422: {e}"))?;
    Ok(counts)
}

/// What UptimeRobot sends for `web` going down, with the body autoheal's
/// docs recommend for its alert contact.
fn uptimerobot_alert() -> String {
    json!({
        "monitorID": "784512367",
        "monitorURL": "https://shop.example.com/health",
        "monitorFriendlyName": "web",
        "alertType": "1",
        "alertTypeFriendlyName": "Down",
        "alertDetails": "Connection Timeout",
        "alertDuration": "",
        "alertDateTime": (T0 / 1000).to_string()
    })
    .to_string()
}

/// The alerts a webhook of source `uptimerobot` reads from `body`.
fn alerts_in(body: &str) -> Result<Vec<autoheal_plugins::alert::Alert>, String> {
    let request = autoheal_plugins::alert::AlertRequest {
        method: "POST",
        content_type: Some("application/json"),
        query: "",
        body: body.as_bytes(),
    };
    autoheal_plugins::alert::parse(&AlertSource::UptimeRobot, &request).map_err(|e| e.to_string())
}

/// A call on a webhook URL whose alerts act (down or up, none ignored).
fn alert_acts(v: &Value) -> Result<(), String> {
    let alerts = alerts_in(v.as_str().ok_or("expected the monitor's text")?)
        .map_err(|e| format!("422 unrecognised_alert: {e}"))?;
    if alerts.is_empty() || alerts.iter().any(|a| a.state.is_err()) {
        return Err(format!("alerts that do not act: {alerts:?}"));
    }
    Ok(())
}

/// The answer to [`uptimerobot_alert`]: each alert as the route lists it.
fn received() -> Received {
    let decision = "heal_started: restart-web".to_string();
    let alerts = alerts_in(&uptimerobot_alert())
        .expect("the UptimeRobot example is read")
        .into_iter()
        .map(|a| {
            json!({
                "source": a.source,
                "state": if a.state == Ok(autoheal_plugins::alert::AlertState::Down) { "down" } else { "up" },
                "subject": a.subject,
                "fingerprint": a.fingerprint,
                "decision": decision,
            })
        })
        .collect();
    Received {
        accepted: true,
        target: "web".into(),
        decision,
        alerts,
        phase: Phase::Healing.as_str().into(),
        incident_id: Some(7),
    }
}

fn render_service() -> autoheal_plugins::platform::render::Service {
    autoheal_plugins::platform::render::Service {
        id: "srv-example0001".into(),
        name: "web".into(),
        kind: "web_service".into(),
        suspended: "not_suspended".into(),
        url: Some("https://web-example.onrender.com".into()),
        created_at: Some("2026-09-01T08:00:00Z".into()),
        updated_at: Some("2026-11-30T09:10:00Z".into()),
    }
}

fn render_deploy(status: autoheal_plugins::platform::render::DeployStatus) -> Value {
    serde_json::to_value(autoheal_plugins::platform::render::Deploy {
        id: "dep-example0001".into(),
        status,
        trigger: Some("api".into()),
        created_at: Some("2026-12-01T09:15:00Z".into()),
        finished_at: None,
    })
    .expect("a deploy serializes")
}

/// The live stream's text for `web` failing, then its restart starting.
fn stream_text() -> String {
    use axum::response::sse::{Event as Sse, Sse as Stream};
    let change = crate::stream::TargetChange {
        workspace_id: autoheal_store::DEFAULT_WORKSPACE,
        target: "web".into(),
        from: Phase::Healthy.as_str().into(),
        to: Phase::Failing.as_str().into(),
        at: T0,
    };
    let started = events().remove(1);
    let items = vec![
        Sse::default()
            .event("target")
            .data(serde_json::to_string(&change).expect("a change serializes")),
        Sse::default()
            .event("audit")
            .id(started.id.to_string())
            .data(serde_json::to_string(&started).expect("an event serializes")),
    ];
    let stream = futures::stream::iter(items.into_iter().map(Ok::<_, std::convert::Infallible>));
    text_of(Stream::new(stream).into_response())
}

fn text_of(response: axum::response::Response) -> String {
    use futures::FutureExt;
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .now_or_never()
        .expect("an example body is ready at once")
        .expect("an example body reads");
    String::from_utf8(bytes.to_vec()).expect("an example body is text")
}

/// The examples of the answers the document writes inline.
pub fn responses() -> Vec<ResponseExample> {
    use autoheal_plugins::platform::render::DeployStatus;
    let metrics = crate::telemetry::metrics::Metrics::new();
    metrics.alert(AlertSource::UptimeRobot.name(), "heal_started: restart-web");
    vec![
        ResponseExample {
            method: "get",
            path: "/api/v1/export",
            status: "200",
            value: Value::String(export_text()),
        },
        ResponseExample {
            method: "get",
            path: "/api/v1/platforms/render/services/{service}",
            status: "200",
            value: json!({"service": render_service(), "latest_deploy": render_deploy(DeployStatus::Live)}),
        },
        ResponseExample {
            method: "post",
            path: "/api/v1/platforms/render/services/{service}/deploy",
            status: "202",
            value: json!({"service": render_service(), "deploy": render_deploy(DeployStatus::Created)}),
        },
        ResponseExample {
            method: "post",
            path: "/api/v1/platforms/render/services/{service}/restart",
            status: "202",
            value: json!({"service": render_service(), "restarting": true}),
        },
        ResponseExample {
            method: "get",
            path: "/api/v1/stream",
            status: "200",
            value: Value::String(stream_text()),
        },
        ResponseExample {
            method: "get",
            path: "/metrics",
            status: "200",
            value: Value::String(metrics.render()),
        },
    ]
}

/// One example for every schema of `components.schemas`.
pub fn schemas() -> Vec<SchemaExample> {
    let password = "an example passphrase";
    let (_, error_body) = wire(invalid_target(false));
    let detail = error_body["error"].clone();
    vec![
        // Targets and their state.
        answer(web_view(Phase::Healthy, None)),
        answer(TargetList {
            items: vec![web_view(Phase::Healthy, None)],
            next_after: Some("web".into()),
        }),
        answer(TargetDetail {
            target: web_view(Phase::Healing, Some(7)),
            spec: Some(built_web().spec.clone()),
            recent_checks: vec![CheckResultRow {
                target: "web".into(),
                at: T0 + 2 * MINUTE,
                status: Status::Down.as_str().into(),
                latency_ms: Some(3),
                detail: "GET http://web:8080/health: connection refused".into(),
            }],
            uptime_24h: uptime(),
        }),
        both(CheckResultRow {
            target: "web".into(),
            at: T0,
            status: Status::Up.as_str().into(),
            latency_ms: Some(41),
            detail: "HTTP 200".into(),
        }),
        answer(uptime()),
        answer(CommandAccepted {
            accepted: true,
            command: "heal".into(),
            target: Some(web_view(Phase::Healing, Some(7))),
        }),
        // Incidents and the audit log.
        both(incident()),
        both(attempt()),
        generic_answer::<Page<Incident>, Incident>(Page {
            items: vec![incident()],
            next_before: Some(7),
        }),
        both(events().remove(0)),
        generic_answer::<Page<Event>, Event>(Page {
            items: events(),
            next_before: Some(119),
        }),
        request::<NoteRequest>(json!({
            "text": "The restart fixed it; the cause was the DB failover at 09:12."
        })),
        // Errors.
        SchemaExample {
            name: ErrorBody::name().into_owned(),
            value: error_body.clone(),
            accepts: None,
        },
        SchemaExample {
            name: ErrorDetail::name().into_owned(),
            value: detail.clone(),
            accepts: None,
        },
        SchemaExample {
            name: FieldError::name().into_owned(),
            value: detail["errors"][0].clone(),
            accepts: None,
        },
        // Accounts.
        request::<SetupRequest>(json!({
            "setup_token": placeholder("setup"),
            "username": "alice",
            "email": "alice@example.com",
            "password": password
        })),
        request::<RegisterRequest>(json!({
            "username": "bob",
            "email": "bob@example.com",
            "password": password,
            "invite": placeholder("inv")
        })),
        request::<LoginRequest>(json!({
            "login": "alice",
            "password": password,
            "totp": "123456"
        })),
        answer(SessionInfo {
            user_id: 1,
            workspace_id: 1,
            role: Role::Owner,
            expires_at: T0 + 12 * 60 * MINUTE,
        }),
        answer(Me {
            actor: "user:alice".into(),
            user_id: Some(1),
            username: Some("alice".into()),
            email: Some("alice@example.com".into()),
            workspace_id: 1,
            role: Role::Owner,
            credential: "session".into(),
            totp_enabled: true,
            recovery_codes_left: 9,
        }),
        request::<PasswordChange>(json!({
            "current_password": password,
            "new_password": "another example passphrase"
        })),
        answer(TotpSetup {
            secret: "EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345".into(),
            otpauth_url: "otpauth://totp/autoheal:alice?secret=EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345&issuer=autoheal".into(),
        }),
        request::<TotpCode>(json!({"code": "123456"})),
        answer(RecoveryCodes {
            recovery_codes: vec!["exam-ple0-0001".into(), "exam-ple0-0002".into()],
        }),
        request::<PasswordProof>(json!({"password": password})),
        answer(workspace()),
        answer(WorkspaceRole {
            workspace: workspace(),
            role: Role::Owner,
            current: true,
        }),
        answer(WorkspaceList {
            items: vec![WorkspaceRole {
                workspace: workspace(),
                role: Role::Owner,
                current: true,
            }],
        }),
        answer(Role::Operator),
        // Keys.
        answer(api_key()),
        answer(KeyList {
            items: vec![api_key()],
        }),
        request::<NewKeyRequest>(json!({
            "name": "ci-deploy",
            "role": "operator",
            "expires_in": "90d"
        })),
        answer(CreatedKey {
            key: placeholder("key"),
            info: api_key(),
        }),
        // Members.
        request::<InviteRequest>(json!({"role": "operator"})),
        answer(CreatedInvite {
            invite: placeholder("inv"),
            role: Role::Operator,
            expires_at: T0 + 7 * 24 * 60 * MINUTE,
        }),
        answer(member()),
        answer(MemberList {
            items: vec![member()],
        }),
        request::<MemberRole>(json!({"role": "admin"})),
        // Config objects.
        answer(config_object()),
        answer(ConfigObjectList {
            items: vec![config_object()],
        }),
        answer(imported(&import_text()).expect("the import example imports")),
        // Containers.
        answer(container("shop-web-1", "4f2a9c1d7e3b", "unhealthy", None)),
        answer(ContainerList {
            docker: true,
            items: vec![
                container("shop-web-1", "4f2a9c1d7e3b", "unhealthy", None),
                container("shop-worker-1", "9b1e0a6c2d4f", "healthy", Some(false)),
            ],
        }),
        request::<Choice>(json!({"enabled": false})),
        answer(Chosen {
            container: "shop-worker-1".into(),
            autoheal: Some(false),
        }),
        // Alert webhooks and heartbeats.
        both(Filter {
            down: true,
            up: true,
        }),
        request::<NewHookRequest>(json!({
            "name": "uptimerobot",
            "source": {"type": "uptimerobot"},
            "filter": {"down": true, "up": true},
            "expires_in": "90d",
            "signature": {"scheme": "standard_webhooks", "secret": "whsec_EXAMPLEplaceholderSECRET"}
        })),
        request::<SignatureRequest>(json!({
            "scheme": "github",
            "secret": "an example shared secret"
        })),
        answer(hook_info()),
        answer(HookList {
            items: vec![hook_info()],
        }),
        answer(CreatedHook {
            url: format!(
                "https://autoheal.example.com/hooks/{}",
                placeholder("hook")
            ),
            path: format!("/hooks/{}", placeholder("hook")),
            token: placeholder("hook"),
            info: hook_info(),
        }),
        answer(received()),
        answer(Pinged {
            ok: true,
            target: "nightly-backup".into(),
            ping: Ping::Success,
        }),
        // Platforms.
        request::<RenderAccountRequest>(json!({"api_key": "rnd_EXAMPLEplaceholderKEY"})),
        answer(RenderAccount {
            platform: "render",
            set: true,
            base_url: Some("https://api.render.com/v1".into()),
        }),
        answer(ServiceList {
            items: vec![json!({
                "service": render_service()
            })],
        }),
        request::<DeployRequest>(json!({"clear_cache": true})),
        // Secrets.
        answer(secret_info()),
        answer(SecretList {
            items: vec![secret_info()],
        }),
        request::<SetSecret>(json!({
            "kind": "smtp_password",
            "value": "an example SMTP password"
        })),
        // Notifications.
        answer(channel_view()),
        answer(ChannelList {
            items: vec![channel_view()],
        }),
        answer(Tested {
            channel: "ops".into(),
            delivered: false,
            outcome: "rejected".into(),
            detail: "HTTP 400: invalid_payload".into(),
        }),
        both(notification()),
        both(delivery()),
        both(DeliveryState::Dead),
        both(delivery_try()),
        both(TryOutcome::Rejected),
        both(DeliveryDetail {
            delivery: delivery(),
            notification: notification(),
            tries: vec![delivery_try()],
        }),
        generic_answer::<Page<Delivery>, Delivery>(Page {
            items: vec![delivery()],
            next_before: Some(12),
        }),
    ]
}

/// The example channel: a Slack webhook, as the API shows it (redacted by
/// the channel's own redaction).
fn channel_view() -> ChannelView {
    let config: autoheal_plugins::channel::ChannelConfig = serde_json::from_value(json!({
        "type": "slack",
        "url": "https://hooks.slack.com/services/T000/B000/EXAMPLE"
    }))
    .expect("an example channel");
    ChannelView {
        name: "ops".into(),
        kind: config.kind().into(),
        config: config.redacted(),
        enabled: true,
    }
}

/// The notification autoheal writes when `web`'s incident opens.
fn notification() -> Notification {
    let event = AuditEvent::IncidentOpened {
        reason: "3 failures within 1m (last: connection refused)".into(),
    };
    let text = event.message("web", "autoheal");
    let msg = crate::notify::facts::of(&event, "web", &text).expect("told");
    let n = crate::notify::facts::new_notification(1, Some("web"), Some(7), msg, T0 + MINUTE);
    let mut payload = n.payload;
    let id = "01a24268-ec88-7715-8d0f-072aa7b773a6".to_string();
    payload["event_id"] = json!(id);
    Notification {
        id,
        workspace_id: n.workspace_id,
        kind: n.kind,
        target: n.target,
        incident_id: n.incident_id,
        severity: n.severity,
        payload,
        created_at: T0 + MINUTE,
        routed_at: Some(T0 + MINUTE + 5_000),
    }
}

/// Its delivery to `ops`, dead-lettered after the receiver refused it.
fn delivery() -> Delivery {
    Delivery {
        id: 12,
        workspace_id: 1,
        notification_id: notification().id,
        channel: "ops".into(),
        state: DeliveryState::Dead,
        tries: 1,
        next_at: T0 + MINUTE + 5_000,
        lease_until: None,
        leased_by: None,
        last_error: Some("HTTP 400: invalid_payload".into()),
        created_at: T0 + MINUTE + 5_000,
        sent_at: None,
        ended_at: Some(T0 + MINUTE + 5_200),
    }
}

fn delivery_try() -> DeliveryTry {
    DeliveryTry {
        delivery_id: 12,
        try_no: 1,
        at: T0 + MINUTE + 5_200,
        worker: "4242-17".into(),
        outcome: TryOutcome::Rejected,
        status: None,
        detail: "HTTP 400: invalid_payload".into(),
        duration_ms: Some(180),
    }
}
