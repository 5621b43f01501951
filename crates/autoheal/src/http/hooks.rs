//! Alert webhooks (issue 11 item 1): a URL per target that external
//! monitors (UptimeRobot, Uptime Kuma, Alertmanager, Grafana, Gatus,
//! Healthchecks.io, Pingdom, a generic rule) call when it goes down or up.
//!
//! `POST /api/v1/targets/{name}/webhooks` makes one and answers its URL,
//! `/hooks/ah_hook_...`, once: the token in it is the credential (stored as
//! its SHA-256, revocable, with an optional expiry). A call on the URL is
//! parsed by the webhook's sender ([`autoheal_plugins::alert`]); each alert
//! becomes an observation of the target under its own policy, recorded
//! with what was decided in one commit before the answer, which says it:
//! `{"accepted": true, "target": "api", "decision": "heal_started: ..."}`.
//! A body the sender does not send is `422`, recorded, and heals nothing.

use super::access::{endpoint, Access, Endpoint};
use super::accounts::{audit, body, from};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::{token, Principal};
use autoheal_core::{AuditEvent, Observation};
use autoheal_plugins::alert::{self, AlertRequest, AlertSource, AlertState};
use autoheal_store::{scope, NewWebhook, Role, WebhookRow};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use utoipa::ToSchema;

/// The largest alert body read.
pub const MAX_BODY: usize = 256 * 1024;
/// Alerts one webhook may send per second (twice as many in a burst).
const PER_HOOK: u32 = 20;
/// The same state for the same alert within this long is a repeat.
const REPEAT_WINDOW: Duration = Duration::from_secs(60);

pub fn endpoints() -> Vec<Endpoint> {
    use Access::Role as R;
    vec![
        endpoint(
            Method::POST,
            "/api/v1/targets/{name}/webhooks",
            R(Role::Admin),
            post(create),
        ),
        endpoint(
            Method::GET,
            "/api/v1/targets/{name}/webhooks",
            R(Role::Viewer),
            get(list),
        ),
        endpoint(
            Method::DELETE,
            "/api/v1/targets/{name}/webhooks/{id}",
            R(Role::Admin),
            delete(revoke),
        ),
        endpoint(
            Method::POST,
            "/hooks/{token}",
            Access::Anyone,
            post(receive),
        ),
        endpoint(
            Method::PUT,
            "/hooks/{token}",
            Access::Anyone,
            axum::routing::put(receive_put),
        ),
        endpoint(
            Method::GET,
            "/hooks/{token}",
            Access::Anyone,
            get(receive_get),
        ),
        endpoint(
            Method::GET,
            "/ping/{token}",
            Access::Anyone,
            get(ping_success),
        ),
        endpoint(
            Method::POST,
            "/ping/{token}",
            Access::Anyone,
            post(ping_success),
        ),
        endpoint(
            Method::GET,
            "/ping/{token}/start",
            Access::Anyone,
            get(ping_start),
        ),
        endpoint(
            Method::POST,
            "/ping/{token}/start",
            Access::Anyone,
            post(ping_start),
        ),
        endpoint(
            Method::GET,
            "/ping/{token}/fail",
            Access::Anyone,
            get(ping_fail),
        ),
        endpoint(
            Method::POST,
            "/ping/{token}/fail",
            Access::Anyone,
            post(ping_fail),
        ),
    ]
}

/// Per-webhook rate limits and the repeats seen lately.
pub struct HookState {
    limiter: governor::DefaultKeyedRateLimiter<i64>,
    seen: Mutex<HashMap<(i64, String), (AlertState, std::time::Instant)>>,
    /// Signed calls' ids within the tolerance, to refuse replays.
    replays: Mutex<HashMap<(i64, String), std::time::Instant>>,
}

impl Default for HookState {
    fn default() -> Self {
        let n = std::num::NonZeroU32::new(PER_HOOK).expect("non-zero");
        let burst = std::num::NonZeroU32::new(PER_HOOK * 2).expect("non-zero");
        HookState {
            limiter: governor::RateLimiter::keyed(
                governor::Quota::per_second(n).allow_burst(burst),
            ),
            seen: Mutex::new(HashMap::new()),
            replays: Mutex::new(HashMap::new()),
        }
    }
}

impl HookState {
    /// Whether a signed call with this id was seen within the tolerance
    /// (and notes it).
    fn replayed(&self, hook: i64, id: &str) -> bool {
        let keep = Duration::from_secs(autoheal_plugins::alert::signature::TOLERANCE_S * 2);
        let Ok(mut seen) = self.replays.lock() else {
            return true;
        };
        seen.retain(|_, at| at.elapsed() < keep);
        seen.insert((hook, id.to_string()), std::time::Instant::now())
            .is_some()
    }

    /// Whether this state of this alert was seen within the window (and
    /// notes it).
    fn repeat(&self, hook: i64, key: &str, state: AlertState) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.len() > 10_000 {
            seen.retain(|_, (_, at)| at.elapsed() < REPEAT_WINDOW);
        }
        let k = (hook, key.to_string());
        let now = std::time::Instant::now();
        match seen.get(&k) {
            Some((s, at)) if *s == state && at.elapsed() < REPEAT_WINDOW => true,
            _ => {
                seen.insert(k, (state, now));
                false
            }
        }
    }
}

/// Which alerts act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// A down alert is a failure of the target (default true).
    #[serde(default = "yes")]
    pub down: bool,
    /// An up (resolved) alert is an up observation: it verifies a heal and
    /// closes an incident, never starts one (default true).
    #[serde(default = "yes")]
    pub up: bool,
}

fn yes() -> bool {
    true
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            down: true,
            up: true,
        }
    }
}

/// `POST /api/v1/targets/{name}/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHookRequest {
    /// A label for people (default "webhook").
    pub name: Option<String>,
    /// The sender, e.g. `{"type": "uptime_robot"}`; default recognised by
    /// the payload's shape (`{"type": "auto"}`).
    #[schema(value_type = Object)]
    pub source: Option<AlertSource>,
    pub filter: Option<Filter>,
    /// How long the URL works (`90d`); default for ever.
    pub expires_in: Option<String>,
    /// Calls must be signed: `{"scheme": "github" | "stripe" |
    /// "standard_webhooks", "secret": "..."}`. The secret is kept in the
    /// vault (write-only, as `webhook-<id>`).
    pub signature: Option<SignatureRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureRequest {
    #[schema(value_type = String)]
    pub scheme: autoheal_plugins::alert::signature::Scheme,
    /// The shared secret (Standard Webhooks: `whsec_...`), 16-1024 bytes.
    pub secret: String,
}

/// A webhook as listed: never its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookInfo {
    pub id: i64,
    pub target: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub source: serde_json::Value,
    pub filter: Filter,
    /// The signature scheme calls must carry (its secret is never shown).
    pub signature: Option<String>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// The vault name of a webhook's signing secret.
fn secret_name(id: i64) -> String {
    format!("webhook-{id}")
}

fn info(row: &WebhookRow) -> HookInfo {
    HookInfo {
        id: row.id,
        target: row.target.clone(),
        name: row.name.clone(),
        source: serde_json::from_str(&row.source).unwrap_or_default(),
        filter: serde_json::from_str(&row.filter).unwrap_or_default(),
        signature: row.signature.clone(),
        created_at: row.created_at,
        created_by: row.created_by.clone(),
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    }
}

/// The new webhook, its URL shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedHook {
    /// Where the monitor sends its alerts: `<scheme>://<host>/hooks/<token>`.
    pub url: String,
    /// `/hooks/<token>`, for a URL behind another name.
    pub path: String,
    /// `ah_hook_...`: not shown again.
    pub token: String,
    #[serde(flatten)]
    pub info: HookInfo,
}

fn target_path(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(n)| n).map_err(from_rejection)
}

fn known_target(s: &AppState, who: &Principal, name: &str) -> Result<(), ApiError> {
    if s.supervisor.target_in(who.workspace_id, name).is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no target named {name:?}")))
    }
}

#[utoipa::path(post, path = "/api/v1/targets/{name}/webhooks", tag = "alerts",
    params(("name" = String, Path, description = "Target name")),
    request_body = NewHookRequest,
    responses((status = 201, description = "The URL and its token, shown once", body = CreatedHook),
              (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let target = target_path(name)?;
    known_target(&s, &who, &target)?;
    let req: NewHookRequest = body(&bytes)?;
    let label = req.name.unwrap_or_else(|| "webhook".into());
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(ApiError::field("/name", "expected 1-64 characters"));
    }
    let source = req.source.unwrap_or_default();
    source
        .validate()
        .map_err(|m| ApiError::field("/source", m))?;
    let filter = req.filter.unwrap_or_default();
    let now = crate::supervisor::now_ms();
    let expires_at = match req.expires_in.as_deref() {
        None => None,
        Some(t) => match humantime::parse_duration(t) {
            Ok(d)
                if d >= Duration::from_secs(60) && d <= Duration::from_secs(10 * 365 * 86_400) =>
            {
                Some(now.saturating_add(d.as_millis() as i64))
            }
            _ => {
                return Err(ApiError::field(
                    "/expires_in",
                    format!("expected a duration from 1m to 10y (like \"90d\"), found {t:?}"),
                ))
            }
        },
    };
    if let Some(sig) = &req.signature {
        if !(16..=1024).contains(&sig.secret.len()) {
            return Err(ApiError::field(
                "/signature/secret",
                "expected a secret of 16-1024 bytes",
            ));
        }
    }
    let scheme_name = req.signature.as_ref().map(|sig| {
        serde_json::to_value(sig.scheme)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    });
    let tok = token::generate(token::Kind::Hook);
    let row = NewWebhook {
        workspace_id: who.workspace_id,
        target: target.clone(),
        name: label,
        token_hash: token::hash(&tok),
        source: serde_json::to_string(&source).unwrap_or_default(),
        filter: serde_json::to_string(&filter).unwrap_or_default(),
        signature: scheme_name,
        created_at: now,
        created_by: who.actor(),
        expires_at,
    };
    let id = s.store.create_webhook(&row).await?;
    if let Some(sig) = &req.signature {
        let stored = s
            .vault
            .put(
                who.workspace_id,
                "hmac_secret",
                &secret_name(id),
                &crate::vault::Secret::new(sig.secret.clone()),
                now,
            )
            .await;
        if let Err(e) = stored {
            // Without its secret the webhook would accept unsigned calls:
            // it never comes into force.
            let _ = s
                .store
                .revoke_webhook(who.workspace_id, &target, id, now)
                .await;
            tracing::error!(error = %e, "A webhook's signing secret could not be stored.");
            return Err(ApiError::unavailable(
                "the signing secret could not be stored; try again",
            ));
        }
    }
    let listed = s
        .store
        .list_webhooks(who.workspace_id, Some(&target))
        .await?;
    let Some(made) = listed.iter().find(|w| w.id == id) else {
        return Err(ApiError::internal("the webhook vanished after it was made"));
    };
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::WebhookCreated {
            webhook_id: id,
            target: target.clone(),
            source: source.name().to_string(),
            from: from(who.ip),
        },
    )
    .await;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let scheme = if s.auth.settings().secure_cookies {
        "https"
    } else {
        "http"
    };
    let path = format!("/hooks/{tok}");
    Ok((
        StatusCode::CREATED,
        Json(CreatedHook {
            url: format!("{scheme}://{host}{path}"),
            path,
            token: tok,
            info: info(made),
        }),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HookList {
    pub items: Vec<HookInfo>,
}

#[utoipa::path(get, path = "/api/v1/targets/{name}/webhooks", tag = "alerts",
    params(("name" = String, Path, description = "Target name")),
    responses((status = 200, description = "The target's webhooks, revoked ones too, newest first; never their tokens", body = HookList),
              (status = 404, body = super::error::ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<HookList>, ApiError> {
    let target = target_path(name)?;
    known_target(&s, &who, &target)?;
    let rows = s
        .store
        .list_webhooks(who.workspace_id, Some(&target))
        .await?;
    Ok(Json(HookList {
        items: rows.iter().map(info).collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/targets/{name}/webhooks/{id}", tag = "alerts",
    params(("name" = String, Path, description = "Target name"), ("id" = i64, Path, description = "Webhook id")),
    responses((status = 204, description = "Revoked: its URL answers 404 from now on"),
              (status = 404, body = super::error::ErrorBody)))]
async fn revoke(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((target, id)) = path.map_err(from_rejection)?;
    let revoked = s
        .store
        .revoke_webhook(who.workspace_id, &target, id, crate::supervisor::now_ms())
        .await?;
    if !revoked {
        return Err(ApiError::not_found(format!(
            "no webhook {id} of target {target:?} in force"
        )));
    }
    let _ = s
        .store
        .delete_secret(who.workspace_id, &secret_name(id))
        .await;
    audit(
        &s,
        who.workspace_id,
        &who.actor(),
        AuditEvent::WebhookRevoked {
            webhook_id: id,
            target,
            from: from(who.ip),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What a call on a webhook URL is answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    pub accepted: bool,
    pub target: String,
    /// What autoheal did: `heal_started: <action>`, `held: <why>`,
    /// `incident_opened`, `recovered`, `counted`, `ignored: <why>`,
    /// `repeat`, ...: the first of the alerts' decisions that acted.
    pub decision: String,
    /// Per alert of the request: its state and decision.
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<serde_json::Value>,
    /// The target's phase afterwards.
    pub phase: String,
    pub incident_id: Option<i64>,
}

/// Checks the call's signature over the raw body, before it is parsed;
/// a replayed signature (within the 300 s tolerance) is refused too.
async fn verify_signature(
    s: &AppState,
    hook: &WebhookRow,
    scheme: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<(), ApiError> {
    use autoheal_plugins::alert::signature::{verify, Scheme};
    let refused = |m: String| ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", m);
    let scheme: Scheme = serde_json::from_value(serde_json::Value::String(scheme.to_string()))
        .map_err(|_| ApiError::internal("the webhook's signature scheme is unknown"))?;
    let secret = s
        .vault
        .get(hook.workspace_id, &secret_name(hook.id))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, webhook = hook.id, "A webhook's signing secret could not be read.");
            ApiError::unavailable("the signing secret cannot be read")
        })?
        .ok_or_else(|| refused("this webhook's signing secret is gone: revoke it and make another".into()))?;
    let lookup = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    match verify(
        scheme,
        secret.expose().as_bytes(),
        &lookup,
        body,
        now_ms / 1000,
    ) {
        Ok(Some(id)) => {
            if s.hooks.replayed(hook.id, &id) {
                return Err(refused(
                    "this signed call was seen already (a replay)".into(),
                ));
            }
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(refused(e.to_string())),
    }
}

/// `ssl_expiry`, `test`, ...: the serde name.
fn ignored_name(i: alert::Ignored) -> String {
    serde_json::to_value(i)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "other".into())
}

/// The decision an alert's recorded events say.
fn decision_of(events: &[(String, String)]) -> String {
    let find = |k: &str| events.iter().find(|(kind, _)| kind == k);
    if let Some((_, m)) = find("action_started") {
        return format!("heal_started: {m}");
    }
    if let Some((_, m)) = find("action_held") {
        return format!("held: {m}");
    }
    if find("incident_closed").is_some() {
        return "recovered".into();
    }
    if find("incident_opened").is_some() {
        return "incident_opened".into();
    }
    if find("quarantined").is_some() {
        return "quarantined".into();
    }
    "recorded".into()
}

#[utoipa::path(post, path = "/hooks/{token}", tag = "alerts",
    params(("token" = String, Path, description = "The webhook's token (`ah_hook_...`)")),
    request_body(content = String, description = "What the monitor sends: JSON, form fields or a query string"),
    security(()),
    responses((status = 200, description = "Recorded and decided", body = Received),
              (status = 404, description = "No webhook in force has this token", body = super::error::ErrorBody),
              (status = 413, body = super::error::ErrorBody),
              (status = 422, description = "Not a payload this webhook's sender sends: recorded, nothing healed", body = super::error::ErrorBody),
              (status = 429, description = "Too many alerts on this webhook", body = super::error::ErrorBody),
              (status = 503, description = "Not durable yet: send again", body = super::error::ErrorBody)))]
pub(crate) async fn receive(
    State(s): State<AppState>,
    method: Method,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let now = crate::supervisor::now_ms();
    let hook = hook_of(&s, path, now).await?;
    let target_key = scope::qualify(hook.workspace_id, &hook.target);
    if bytes.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("an alert body is at most {} KiB", MAX_BODY / 1024),
        ));
    }
    if let Some(scheme) = &hook.signature {
        verify_signature(&s, &hook, scheme, &headers, &bytes, now).await?;
    }
    let _ = s.store.touch_webhook(hook.id, now).await;
    let source: AlertSource = serde_json::from_str(&hook.source).unwrap_or_default();
    let filter: Filter = serde_json::from_str(&hook.filter).unwrap_or_default();
    let req = AlertRequest {
        method: method.as_str(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        query: query.as_deref().unwrap_or(""),
        body: &bytes,
    };
    let alerts = match alert::parse(&source, &req) {
        Ok(a) => a,
        Err(e) => {
            crate::http::accounts::audit_about(
                &s,
                hook.workspace_id,
                Some(&target_key),
                "alert",
                AuditEvent::AlertUnrecognised {
                    webhook_id: hook.id,
                    expected: e.to_string(),
                },
            )
            .await;
            s.metrics.alert("unrecognised", "refused");
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unrecognised_alert",
                e.to_string(),
            ));
        }
    };
    let mut decisions = Vec::new();
    let mut first_acting: Option<String> = None;
    let mut last = None;
    for a in &alerts {
        let key = a
            .fingerprint
            .clone()
            .or_else(|| a.subject.clone())
            .unwrap_or_default();
        let (observation, why) = match a.state {
            Err(ignored) => (None, Some(format!("ignored: {}", ignored_name(ignored)))),
            Ok(AlertState::Down) if !filter.down => (
                None,
                Some("ignored: down alerts do not act on this webhook".into()),
            ),
            Ok(AlertState::Up) if !filter.up => (
                None,
                Some("ignored: up alerts do not act on this webhook".into()),
            ),
            Ok(state) if s.hooks.repeat(hook.id, &key, state) => (None, Some("repeat".into())),
            Ok(AlertState::Down) => (
                Some(Observation::down(format!(
                    "{} alert: {}",
                    a.source, a.detail
                ))),
                None,
            ),
            Ok(AlertState::Up) => (Some(Observation::up()), None),
        };
        let state = match a.state {
            Ok(AlertState::Down) => "down".to_string(),
            Ok(AlertState::Up) => "up".to_string(),
            Err(i) => ignored_name(i),
        };
        let event = AuditEvent::AlertReceived {
            webhook_id: hook.id,
            source: a.source.to_string(),
            state: state.clone(),
            subject: a.subject.clone(),
            fingerprint: a.fingerprint.clone(),
            detail: a.detail.clone(),
        };
        let outcome = s
            .supervisor
            .alert(&target_key, observation, event)
            .await
            .map_err(|e| match e {
                crate::supervisor::CommandError::UnknownTarget(_) => {
                    ApiError::not_found(format!("target {:?} is no longer supervised", hook.target))
                }
                other => ApiError::from(other),
            })?;
        if !outcome.durable {
            return Err(ApiError {
                retry_after: Some(Duration::from_secs(5)),
                ..ApiError::unavailable("the alert could not be recorded yet; send it again")
            });
        }
        let decision = why.unwrap_or_else(|| decision_of(&outcome.events));
        if first_acting.is_none()
            && !matches!(decision.as_str(), "recorded" | "repeat")
            && !decision.starts_with("ignored")
        {
            first_acting = Some(decision.clone());
        }
        s.metrics.alert(a.source, &decision);
        decisions.push(serde_json::json!({
            "source": a.source,
            "state": state,
            "subject": a.subject,
            "fingerprint": a.fingerprint,
            "decision": decision,
        }));
        last = Some(outcome);
    }
    let decision = first_acting
        .or_else(|| {
            decisions
                .first()
                .and_then(|d| d["decision"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| "nothing to do: no alerts in the request".into());
    let (phase, incident_id) = last
        .map(|o| (o.phase.to_string(), o.incident_id))
        .or_else(|| {
            s.supervisor
                .target(&target_key)
                .map(|v| (v.phase.to_string(), v.incident_id))
        })
        .unwrap_or_default();
    s.bus.events_committed();
    Ok(Json(Received {
        accepted: true,
        target: hook.target,
        decision,
        alerts: decisions,
        phase,
        incident_id,
    })
    .into_response())
}

/// Grafana may send with PUT.
#[utoipa::path(put, path = "/hooks/{token}", tag = "alerts",
    params(("token" = String, Path, description = "The webhook's token")),
    request_body(content = String, description = "As for POST"),
    security(()),
    responses((status = 200, body = Received), (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub(crate) async fn receive_put(
    state: State<AppState>,
    method: Method,
    path: Result<Path<String>, PathRejection>,
    query: RawQuery,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    receive(state, method, path, query, headers, bytes).await
}

/// UptimeRobot, Gatus and Healthchecks.io may send the alert in the query
/// string of a GET.
#[utoipa::path(get, path = "/hooks/{token}", tag = "alerts",
    params(("token" = String, Path, description = "The webhook's token")),
    security(()),
    responses((status = 200, body = Received), (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub(crate) async fn receive_get(
    state: State<AppState>,
    method: Method,
    path: Result<Path<String>, PathRejection>,
    query: RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    receive(state, method, path, query, headers, Bytes::new()).await
}

/// The webhook in force whose token is in the URL, within its rate limit;
/// `404` alike for a malformed, unknown, revoked or expired token.
async fn hook_of(
    s: &AppState,
    path: Result<Path<String>, PathRejection>,
    now: i64,
) -> Result<WebhookRow, ApiError> {
    let Path(tok) = path.map_err(from_rejection)?;
    let unknown = || ApiError::not_found("no webhook in force has this URL");
    if !token::well_formed(&tok, token::Kind::Hook) {
        return Err(unknown());
    }
    let Some(hook) = s.store.webhook_by_token(&token::hash(&tok), now).await? else {
        return Err(unknown());
    };
    if let Err(not_until) = s.hooks.limiter.check_key(&hook.id) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return Err(ApiError::too_many(
            "too many calls on this webhook; slow down",
            wait,
        ));
    }
    Ok(hook)
}

/// What a ping is answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pinged {
    pub ok: bool,
    pub target: String,
    /// success, start or fail.
    #[schema(value_type = String)]
    pub ping: autoheal_plugins::check::heartbeat::Ping,
}

/// A heartbeat ping on one of the target's webhook tokens: recorded for its
/// `heartbeat` check; a success is an up observation at once, a failure a
/// down one (recorded with what was decided).
async fn ping(
    s: &AppState,
    tok: Result<Path<String>, PathRejection>,
    kind: autoheal_plugins::check::heartbeat::Ping,
) -> Result<Response, ApiError> {
    use autoheal_plugins::check::heartbeat::Ping;
    let hook = hook_of(s, tok, crate::supervisor::now_ms()).await?;
    if hook.signature.is_some() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "this webhook wants signed calls; pings cannot be signed: make an unsigned one for the heartbeat",
        ));
    }
    let key = scope::qualify(hook.workspace_id, &hook.target);
    s.managed.pings().record(&key, kind);
    let stopped = |e: crate::supervisor::CommandError| match e {
        crate::supervisor::CommandError::UnknownTarget(_) => {
            ApiError::not_found(format!("target {:?} is no longer supervised", hook.target))
        }
        other => ApiError::from(other),
    };
    match kind {
        Ping::Success => {
            s.supervisor
                .external(&key, autoheal_core::Input::Observation(Observation::up()))
                .await
                .map_err(stopped)?;
        }
        Ping::Start => {}
        Ping::Fail => {
            let event = AuditEvent::AlertReceived {
                webhook_id: hook.id,
                source: "heartbeat".into(),
                state: "down".into(),
                subject: None,
                fingerprint: None,
                detail: "the job reported a failure (/fail)".into(),
            };
            let outcome = s
                .supervisor
                .alert(
                    &key,
                    Some(Observation::down("the job reported a failure (/fail)")),
                    event,
                )
                .await
                .map_err(stopped)?;
            if !outcome.durable {
                return Err(ApiError {
                    retry_after: Some(Duration::from_secs(5)),
                    ..ApiError::unavailable("the failure could not be recorded yet; send it again")
                });
            }
            s.bus.events_committed();
        }
    }
    Ok(Json(Pinged {
        ok: true,
        target: hook.target,
        ping: kind,
    })
    .into_response())
}

#[utoipa::path(method(get, post), path = "/ping/{token}", tag = "alerts",
    params(("token" = String, Path, description = "A webhook token of the target")),
    security(()),
    responses((status = 200, description = "A run succeeded (POST works too)", body = Pinged),
              (status = 404, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
async fn ping_success(
    State(s): State<AppState>,
    tok: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    ping(&s, tok, autoheal_plugins::check::heartbeat::Ping::Success).await
}

#[utoipa::path(method(get, post), path = "/ping/{token}/start", tag = "alerts",
    params(("token" = String, Path, description = "A webhook token of the target")),
    security(()),
    responses((status = 200, description = "A run began (POST works too)", body = Pinged),
              (status = 404, body = super::error::ErrorBody)))]
async fn ping_start(
    State(s): State<AppState>,
    tok: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    ping(&s, tok, autoheal_plugins::check::heartbeat::Ping::Start).await
}

#[utoipa::path(method(get, post), path = "/ping/{token}/fail", tag = "alerts",
    params(("token" = String, Path, description = "A webhook token of the target")),
    security(()),
    responses((status = 200, description = "A run failed: a down observation (POST works too)", body = Pinged),
              (status = 404, body = super::error::ErrorBody)))]
async fn ping_fail(
    State(s): State<AppState>,
    tok: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    ping(&s, tok, autoheal_plugins::check::heartbeat::Ping::Fail).await
}
