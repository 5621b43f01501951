//! Accounts under `/api/v1`: first-run setup, registration, login and
//! logout, the caller's profile and password, API keys, invitations, the
//! workspace's members, and the caller's workspaces.
//!
//! Browser sessions travel in the `autoheal_session` cookie (HttpOnly,
//! SameSite=Strict, `Secure` when `[auth] secure_cookies`); the token is
//! never in a body. API keys are answered once, at creation.

use super::access::{endpoint, session_cookie, Access, ClientIp, Endpoint, SESSION_COOKIE};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::{IssuedSession, Principal};
use autoheal_core::AuditEvent;
use autoheal_store::{ApiKey, Member, Role, Workspace};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use utoipa::ToSchema;

pub fn endpoints() -> Vec<Endpoint> {
    use Access::{Anyone, Role as R, Session, Signed};
    vec![
        endpoint(Method::POST, "/api/v1/auth/setup", Anyone, post(setup)),
        endpoint(
            Method::POST,
            "/api/v1/auth/register",
            Anyone,
            post(register),
        ),
        endpoint(Method::POST, "/api/v1/auth/login", Anyone, post(login)),
        endpoint(Method::POST, "/api/v1/auth/logout", Signed, post(logout)),
        endpoint(Method::GET, "/api/v1/auth/me", Signed, get(me)),
        endpoint(
            Method::POST,
            "/api/v1/auth/password",
            Session,
            post(change_password),
        ),
        endpoint(Method::POST, "/api/v1/auth/totp", Session, post(totp_begin)),
        endpoint(
            Method::POST,
            "/api/v1/auth/totp/confirm",
            Session,
            post(totp_confirm),
        ),
        endpoint(
            Method::DELETE,
            "/api/v1/auth/totp",
            Session,
            delete(totp_remove),
        ),
        endpoint(Method::GET, "/api/v1/workspaces", Signed, get(workspaces)),
        endpoint(Method::GET, "/api/v1/keys", R(Role::Viewer), get(list_keys)),
        endpoint(
            Method::POST,
            "/api/v1/keys",
            R(Role::Viewer),
            post(create_key),
        ),
        endpoint(
            Method::DELETE,
            "/api/v1/keys/{id}",
            R(Role::Viewer),
            delete(revoke_key),
        ),
        endpoint(
            Method::POST,
            "/api/v1/invites",
            R(Role::Admin),
            post(create_invite),
        ),
        endpoint(
            Method::GET,
            "/api/v1/members",
            R(Role::Admin),
            get(list_members),
        ),
        endpoint(
            Method::PUT,
            "/api/v1/members/{user_id}",
            R(Role::Admin),
            put(set_member),
        ),
        endpoint(
            Method::DELETE,
            "/api/v1/members/{user_id}",
            R(Role::Admin),
            delete(remove_member),
        ),
    ]
}

/// Parses a JSON body; a wrong field answers 422 with its JSON pointer.
pub fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("the body is not valid JSON: {inner}"))
        } else {
            ApiError::field(&pointer, inner.to_string())
        }
    })
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut p = String::new();
    for seg in path.iter() {
        p.push('/');
        match seg {
            Segment::Seq { index } => p.push_str(&index.to_string()),
            Segment::Map { key } => p.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => p.push_str(variant),
            Segment::Unknown => p.push('?'),
        }
    }
    p
}

fn now() -> i64 {
    crate::supervisor::now_ms()
}

/// Records an account event in `workspace_id`'s audit log.
pub(crate) async fn audit(s: &AppState, workspace_id: i64, actor: &str, event: AuditEvent) {
    let row = crate::telemetry::events::audit_row(workspace_id, None, &event, actor);
    match s.store.append_event(&row).await {
        Ok(_) => s.bus.events_committed(),
        Err(e) => {
            tracing::error!(error = %crate::error_chain(&e), kind = event.kind(), "An account event could not be recorded.")
        }
    }
}

/// [`audit`] about a target, by `actor`.
pub(crate) async fn audit_about(
    s: &AppState,
    workspace_id: i64,
    target: Option<&str>,
    actor: &str,
    event: AuditEvent,
) {
    let row = crate::telemetry::events::audit_row(workspace_id, target, &event, actor);
    match s.store.append_event(&row).await {
        Ok(_) => s.bus.events_committed(),
        Err(e) => {
            tracing::error!(error = %crate::error_chain(&e), kind = event.kind(), "An event could not be recorded.")
        }
    }
}

pub(crate) fn from(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|i| i.to_string())
}

pub(crate) fn cookie(s: &AppState, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if s.auth.settings().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let c = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age_s.max(0)
    );
    HeaderValue::from_str(&c).expect("a cookie of base62 and ASCII")
}

/// `POST /auth/login`, `/auth/register`, `/auth/setup` answer this with the
/// session in a cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub user_id: i64,
    pub workspace_id: i64,
    pub role: Role,
    /// When the session ends at the latest (Unix ms).
    pub expires_at: i64,
}

fn with_session(s: &AppState, status: StatusCode, issued: &IssuedSession) -> Response {
    let max_age = (issued.expires_at - now()) / 1000;
    let mut r = (
        status,
        Json(SessionInfo {
            user_id: issued.user_id,
            workspace_id: issued.workspace_id,
            role: issued.role,
            expires_at: issued.expires_at,
        }),
    )
        .into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(s, &issued.token, max_age));
    r
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token `serve` printed at its first start.
    pub setup_token: String,
    pub username: String,
    pub email: Option<String>,
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "auth", request_body = SetupRequest,
    responses((status = 201, description = "The first admin, signed in", body = SessionInfo),
              (status = 403, description = "Wrong or spent setup token", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody),
              (status = 429, body = super::error::ErrorBody)))]
async fn setup(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req: SetupRequest = body(&bytes)?;
    let issued = s
        .auth
        .setup(
            &req.setup_token,
            &req.username,
            req.email.as_deref(),
            &req.password,
            ip,
            now(),
        )
        .await?;
    audit(
        &s,
        issued.workspace_id,
        "setup",
        AuditEvent::UserCreated {
            username: crate::auth::normalise(&req.username),
            role: Role::Owner.to_string(),
            from: from(ip),
        },
    )
    .await;
    Ok(with_session(&s, StatusCode::CREATED, &issued))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub email: Option<String>,
    pub password: String,
    /// An invitation token (`ah_inv_...`); needed unless registration is
    /// open.
    pub invite: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, description = "Registered and signed in", body = SessionInfo),
              (status = 403, description = "Registration closed", body = super::error::ErrorBody),
              (status = 409, description = "Username or e-mail taken", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody),
              (status = 429, body = super::error::ErrorBody)))]
async fn register(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req: RegisterRequest = body(&bytes)?;
    let issued = s
        .auth
        .register(
            &req.username,
            req.email.as_deref(),
            &req.password,
            req.invite.as_deref(),
            ip,
            now(),
        )
        .await?;
    audit(
        &s,
        issued.workspace_id,
        "register",
        AuditEvent::UserCreated {
            username: crate::auth::normalise(&req.username),
            role: issued.role.to_string(),
            from: from(ip),
        },
    )
    .await;
    Ok(with_session(&s, StatusCode::CREATED, &issued))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or e-mail.
    pub login: String,
    pub password: String,
    /// The workspace to work in, by name (default: the first).
    pub workspace: Option<String>,
    /// With a second factor: a 6-digit code from the authenticator app, or
    /// a recovery code.
    pub totp: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Signed in; the session is in the cookie", body = SessionInfo),
              (status = 401, description = "Wrong login or password (one answer for both)", body = super::error::ErrorBody),
              (status = 429, description = "Too many tries: per account, per address or in all", body = super::error::ErrorBody),
              (status = 503, description = "Too many logins being checked", body = super::error::ErrorBody)))]
async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req: LoginRequest = body(&bytes)?;
    let issued = s
        .auth
        .login(
            &req.login,
            &req.password,
            req.totp.as_deref(),
            req.workspace.as_deref(),
            ip,
            now(),
        )
        .await?;
    let username = crate::auth::normalise(&req.login);
    audit(
        &s,
        issued.workspace_id,
        &format!("user:{username}"),
        AuditEvent::LoggedIn {
            username,
            from: from(ip),
        },
    )
    .await;
    Ok(with_session(&s, StatusCode::OK, &issued))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "The session ended"), (status = 401, body = super::error::ErrorBody)))]
async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(t) = session_cookie(&headers) {
        s.auth.logout(&t).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(&s, "", 0));
    Ok(r)
}

/// `GET /auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user:NAME`, `key:USER/KEY` or `local`: how the audit log names you.
    pub actor: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub workspace_id: i64,
    pub role: Role,
    /// session | key
    pub credential: String,
    /// A second factor is in force.
    pub totp_enabled: bool,
    pub recovery_codes_left: i64,
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = super::error::ErrorBody)))]
async fn me(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Me>, ApiError> {
    let user = match who.user_id {
        Some(id) => s.store.get_user(id).await?,
        None => None,
    };
    let recovery_codes_left = match &user {
        Some(u) if u.totp_enabled => s.store.recovery_codes_left(u.id).await?,
        _ => 0,
    };
    Ok(Json(Me {
        actor: who.actor(),
        user_id: who.user_id,
        username: user.as_ref().map(|u| u.username.clone()),
        totp_enabled: user.as_ref().is_some_and(|u| u.totp_enabled),
        recovery_codes_left,
        email: user.and_then(|u| u.email),
        workspace_id: who.workspace_id,
        role: who.role,
        credential: if who.is_session() { "session" } else { "key" }.into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "Changed; every session of the user ended (a caller with a session gets a new one in the cookie)"),
              (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
async fn change_password(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req: PasswordChange = body(&bytes)?;
    let renewed = s
        .auth
        .change_password(&who, &req.current_password, &req.new_password, now())
        .await?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::PasswordChanged {
            username: who.name.clone(),
            from: from(who.ip),
        },
    )
    .await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Some(issued) = renewed {
        let max_age = (issued.expires_at - now()) / 1000;
        r.headers_mut()
            .insert(header::SET_COOKIE, cookie(&s, &issued.token, max_age));
    }
    Ok(r)
}

/// `GET /workspaces`: the caller's workspaces with their role in each.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    pub items: Vec<WorkspaceRole>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceRole {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub role: Role,
    /// The one this credential works in.
    pub current: bool,
}

#[utoipa::path(get, path = "/api/v1/workspaces", tag = "auth",
    responses((status = 200, body = WorkspaceList), (status = 401, body = super::error::ErrorBody)))]
async fn workspaces(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<WorkspaceList>, ApiError> {
    let items = match who.user_id.filter(|_| who.is_session()) {
        Some(user) => s
            .store
            .memberships(user)
            .await?
            .into_iter()
            .map(|(w, role)| WorkspaceRole {
                current: w.id == who.workspace_id,
                workspace: w,
                role,
            })
            .collect(),
        // A key works in its own workspace only.
        None => s
            .store
            .list_workspaces()
            .await?
            .into_iter()
            .filter(|w| w.id == who.workspace_id)
            .map(|w| WorkspaceRole {
                workspace: w,
                role: who.role,
                current: true,
            })
            .collect(),
    };
    Ok(Json(WorkspaceList { items }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<ApiKey>,
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, description = "An admin sees every key of the workspace, anyone else their own", body = KeyList),
              (status = 401, body = super::error::ErrorBody)))]
async fn list_keys(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<KeyList>, ApiError> {
    let items = s
        .store
        .list_keys(who.workspace_id)
        .await?
        .into_iter()
        .filter(|k| who.can(Role::Admin) || (k.user_id.is_some() && k.user_id == who.user_id))
        .collect();
    Ok(Json(KeyList { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    pub name: String,
    /// At most the caller's role; default the caller's role.
    pub role: Option<Role>,
    /// How long the key is valid (`30d`, `12h`); default for ever.
    pub expires_in: Option<String>,
}

/// The new key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// `ah_key_...`: send as `Authorization: Bearer <key>`. Not shown again.
    pub key: String,
    #[serde(flatten)]
    pub info: ApiKey,
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = NewKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 422, body = super::error::ErrorBody)))]
async fn create_key(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req: NewKeyRequest = body(&bytes)?;
    let expires_in = match req.expires_in.as_deref() {
        None => None,
        Some(t) => match humantime::parse_duration(t) {
            Ok(d)
                if d >= std::time::Duration::from_secs(60)
                    && d <= std::time::Duration::from_secs(10 * 365 * 86_400) =>
            {
                Some(d)
            }
            _ => {
                return Err(ApiError::field(
                    "/expires_in",
                    format!("expected a duration from 1m to 10y (like \"30d\"), found {t:?}"),
                ))
            }
        },
    };
    let (key, info) = s
        .auth
        .create_key(&who, &req.name, req.role, expires_in, now())
        .await?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::KeyCreated {
            key_id: info.id,
            name: info.name.clone(),
            role: info.role.to_string(),
            from: from(who.ip),
        },
    )
    .await;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, info })).into_response())
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 204, description = "Revoked, at once"),
              (status = 404, description = "No such key in the workspace (or not yours)", body = super::error::ErrorBody)))]
async fn revoke_key(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(from_rejection)?;
    s.auth.revoke_key(&who, id, now()).await?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::KeyRevoked {
            key_id: id,
            from: from(who.ip),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvite {
    /// `ah_inv_...`: pass as `invite` to `POST /auth/register`. Once.
    pub invite: String,
    pub role: Role,
    pub expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/invites", tag = "members", request_body = InviteRequest,
    responses((status = 201, body = CreatedInvite), (status = 422, body = super::error::ErrorBody)))]
async fn create_invite(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req: InviteRequest = body(&bytes)?;
    let (invite, expires_at) = s.auth.invite(&who, req.role, now()).await?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::InviteCreated {
            role: req.role.to_string(),
            from: from(who.ip),
        },
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvite {
            invite,
            role: req.role,
            expires_at,
        }),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
}

#[utoipa::path(get, path = "/api/v1/members", tag = "members",
    responses((status = 200, body = MemberList), (status = 403, body = super::error::ErrorBody)))]
async fn list_members(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<MemberList>, ApiError> {
    Ok(Json(MemberList {
        items: s.store.members(who.workspace_id).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    pub role: Role,
}

/// The member `user_id` of the caller's workspace, or 404.
async fn member(s: &AppState, who: &Principal, user_id: i64) -> Result<Member, ApiError> {
    s.store
        .members(who.workspace_id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or_else(|| ApiError::not_found(format!("no member {user_id} in this workspace")))
}

/// Only an owner may make or unmake an owner, and the last owner stays.
async fn check_owner_rules(
    s: &AppState,
    who: &Principal,
    target: &Member,
    new_role: Option<Role>,
) -> Result<(), ApiError> {
    let touches_owner = target.role == Role::Owner || new_role == Some(Role::Owner);
    if touches_owner && who.role != Role::Owner {
        return Err(ApiError::forbidden(
            "only an owner can make or change an owner",
        ));
    }
    if target.role == Role::Owner && new_role != Some(Role::Owner) {
        let owners = s
            .store
            .members(who.workspace_id)
            .await?
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count();
        if owners <= 1 {
            return Err(ApiError::conflict(
                "the workspace's last owner cannot be removed or demoted",
            ));
        }
    }
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/members/{user_id}", tag = "members", request_body = MemberRole,
    params(("user_id" = i64, Path, description = "The member's user id")),
    responses((status = 200, body = Member), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "The last owner", body = super::error::ErrorBody)))]
async fn set_member(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    user_id: Result<Path<i64>, PathRejection>,
    bytes: Bytes,
) -> Result<Json<Member>, ApiError> {
    let Path(user_id) = user_id.map_err(from_rejection)?;
    let req: MemberRole = body(&bytes)?;
    let target = member(&s, &who, user_id).await?;
    check_owner_rules(&s, &who, &target, Some(req.role)).await?;
    s.store
        .set_member(who.workspace_id, user_id, req.role)
        .await?;
    s.auth.forget_all();
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::MemberChanged {
            username: target.username.clone(),
            before: Some(target.role.to_string()),
            role: req.role.to_string(),
            from: from(who.ip),
        },
    )
    .await;
    Ok(Json(Member {
        role: req.role,
        ..target
    }))
}

#[utoipa::path(delete, path = "/api/v1/members/{user_id}", tag = "members",
    params(("user_id" = i64, Path, description = "The member's user id")),
    responses((status = 204, description = "Removed, with their sessions and keys in this workspace"),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "The last owner", body = super::error::ErrorBody)))]
async fn remove_member(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    user_id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(user_id) = user_id.map_err(from_rejection)?;
    let target = member(&s, &who, user_id).await?;
    check_owner_rules(&s, &who, &target, None).await?;
    s.store.remove_member(who.workspace_id, user_id).await?;
    s.auth.forget_all();
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::MemberRemoved {
            username: target.username,
            from: from(who.ip),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/totp`: the secret to enter in an authenticator app.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetup {
    /// Base32, to type in by hand.
    pub secret: String,
    /// `otpauth://totp/autoheal:NAME?secret=...`, for a QR code.
    pub otpauth_url: String,
}

#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth",
    responses((status = 201, description = "A pending second factor: confirm it with a code", body = TotpSetup),
              (status = 403, description = "Not a signed-in user (an API key)", body = super::error::ErrorBody),
              (status = 409, description = "Already in force", body = super::error::ErrorBody)))]
async fn totp_begin(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let (secret, otpauth_url) = s.auth.totp_begin(&who).await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpSetup {
            secret,
            otpauth_url,
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// Six digits from the authenticator app.
    pub code: String,
}

/// The recovery codes, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", request_body = TotpCode,
    responses((status = 200, description = "In force; each recovery code works once", body = RecoveryCodes),
              (status = 422, description = "The code does not match", body = super::error::ErrorBody)))]
async fn totp_confirm(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    bytes: Bytes,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let req: TotpCode = body(&bytes)?;
    let recovery_codes = s.auth.totp_confirm(&who, &req.code, now()).await?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::SecondFactorEnabled {
            username: who.name.clone(),
            from: from(who.ip),
        },
    )
    .await;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordProof {
    pub password: String,
}

#[utoipa::path(delete, path = "/api/v1/auth/totp", tag = "auth", request_body = PasswordProof,
    responses((status = 204, description = "Removed, with the recovery codes"),
              (status = 422, description = "Wrong password", body = super::error::ErrorBody)))]
async fn totp_remove(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: PasswordProof = body(&bytes)?;
    s.auth.totp_disable(&who, &req.password).await?;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::SecondFactorRemoved {
            username: who.name.clone(),
            from: from(who.ip),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
