//! Notifications (issue 12): the workspace's channels (made in the config
//! file), a test send to one, and the outbox's deliveries: listed, looked
//! at with every try, dead letters put back to be tried or cancelled.

use super::access::{endpoint, Access, Endpoint};
use super::accounts::{audit, from};
use super::error::{from_rejection, ApiError};
use super::AppState;
use crate::auth::Principal;
use autoheal_core::AuditEvent;
use autoheal_plugins::channel::{Delivery, Message};
use autoheal_store::outbox::{DeliveryDetail, DeliveryFilter, DeliveryState};
use autoheal_store::{Page, Role};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::Method;
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
            "/api/v1/channels",
            R(Role::Viewer),
            get(list_channels),
        ),
        endpoint(
            Method::POST,
            "/api/v1/channels/{name}/test",
            R(Role::Admin),
            post(test_channel),
        ),
        endpoint(
            Method::GET,
            "/api/v1/deliveries",
            R(Role::Viewer),
            get(list_deliveries),
        ),
        endpoint(
            Method::GET,
            "/api/v1/deliveries/{id}",
            R(Role::Viewer),
            get(get_delivery),
        ),
        endpoint(
            Method::POST,
            "/api/v1/deliveries/{id}/retry",
            R(Role::Operator),
            post(retry_delivery),
        ),
        endpoint(
            Method::POST,
            "/api/v1/deliveries/{id}/cancel",
            R(Role::Operator),
            post(cancel_delivery),
        ),
    ]
}

/// One channel as the API shows it (secrets redacted).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub name: String,
    /// `slack`, `email`, `webhook`, ...
    pub kind: String,
    /// Its settings; URLs as scheme and host, secrets `[redacted]`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// False once it answered 410 Gone (until the config changes).
    pub enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    pub items: Vec<ChannelView>,
}

#[utoipa::path(get, path = "/api/v1/channels", tag = "notifications",
    responses((status = 200, description = "The workspace's notification channels", body = ChannelList)))]
async fn list_channels(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Json<ChannelList> {
    let routing = s.notifier.routing();
    let items = routing
        .configs(who.workspace_id)
        .into_iter()
        .map(|(name, kind, config)| ChannelView {
            enabled: routing.channel(who.workspace_id, &name).is_some(),
            name,
            kind,
            config,
        })
        .collect();
    Json(ChannelList { items })
}

/// `POST /api/v1/channels/{name}/test`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tested {
    pub channel: String,
    /// Whether the receiver took it.
    pub delivered: bool,
    /// sent, skipped, retry, gone or rejected.
    pub outcome: String,
    /// The receiver's answer when it was not taken (no secret in it).
    pub detail: String,
}

#[utoipa::path(post, path = "/api/v1/channels/{name}/test", tag = "notifications",
    params(("name" = String, Path, description = "The channel's name")),
    responses((status = 200, description = "What the receiver answered to a test message (sent at once, not through the outbox)", body = Tested),
              (status = 404, body = super::error::ErrorBody)))]
async fn test_channel(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Tested>, ApiError> {
    let Path(name) = name.map_err(from_rejection)?;
    let Some(channel) = s.notifier.routing().channel(who.workspace_id, &name) else {
        return Err(ApiError::not_found(format!(
            "no channel named {name:?} in force"
        )));
    };
    let msg = Message::test(autoheal_store::outbox::new_event_id());
    let delivery = channel.send(&msg).await;
    let (outcome, detail) = outcome_of(&delivery);
    let actor = who.actor();
    audit(
        &s,
        who.workspace_id,
        &actor,
        AuditEvent::ChannelTested {
            channel: name.clone(),
            outcome: outcome.into(),
            detail: detail.clone(),
            from: from(who.ip),
        },
    )
    .await;
    Ok(Json(Tested {
        channel: name,
        delivered: delivery.is_done(),
        outcome: outcome.into(),
        detail,
    }))
}

/// A try's outcome as a word and its reason.
pub fn outcome_of(d: &Delivery) -> (&'static str, String) {
    match d {
        Delivery::Sent => ("sent", String::new()),
        Delivery::Skipped { why } => ("skipped", why.clone()),
        Delivery::Retry { why, .. } => ("retry", why.clone()),
        Delivery::Gone { why } => ("gone", why.clone()),
        Delivery::Rejected { why } => ("rejected", why.clone()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    /// pending, sent, dead or cancelled.
    state: Option<String>,
    channel: Option<String>,
    notification: Option<String>,
    limit: Option<u32>,
    before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/deliveries", tag = "notifications", params(DeliveryQuery),
    responses((status = 200, description = "The workspace's deliveries, newest first (`state=dead`: the dead letters)", body = Page<autoheal_store::outbox::Delivery>),
              (status = 400, body = super::error::ErrorBody)))]
async fn list_deliveries(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(from_rejection)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(text) => Some(DeliveryState::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state must be pending, sent, dead or cancelled, not {text:?}"
            ))
        })?),
    };
    let limit = match q.limit {
        None => 50,
        Some(n @ 1..=500) => n,
        Some(_) => return Err(ApiError::bad_request("limit must be between 1 and 500")),
    };
    let filter = DeliveryFilter {
        state,
        channel: q.channel,
        notification_id: q.notification,
        before: q.before,
        limit,
    };
    Ok(Json(
        s.store.list_deliveries(who.workspace_id, &filter).await?,
    ))
}

fn id_of(p: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    p.map(|Path(id)| id).map_err(from_rejection)
}

#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "notifications",
    params(("id" = i64, Path, description = "Delivery id")),
    responses((status = 200, description = "The delivery, its notification and every try", body = DeliveryDetail),
              (status = 404, body = super::error::ErrorBody)))]
async fn get_delivery(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = id_of(id)?;
    s.store
        .get_delivery(who.workspace_id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no delivery {id}")))
}

#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", tag = "notifications",
    params(("id" = i64, Path, description = "Delivery id")),
    responses((status = 200, description = "Pending again, due now (its tries are kept)", body = DeliveryDetail),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "Already sent", body = super::error::ErrorBody)))]
async fn retry_delivery(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = id_of(id)?;
    let now = crate::supervisor::now_ms();
    if settled(id, s.store.retry_delivery(who.workspace_id, id, now).await)? {
        let channel = channel_of(&s, who.workspace_id, id).await?;
        audit(
            &s,
            who.workspace_id,
            &who.actor(),
            AuditEvent::DeliveryRetried {
                delivery: id,
                channel,
                from: from(who.ip),
            },
        )
        .await;
        s.bus.notifications_committed();
    }
    answer(&s, who.workspace_id, id).await
}

#[utoipa::path(post, path = "/api/v1/deliveries/{id}/cancel", tag = "notifications",
    params(("id" = i64, Path, description = "Delivery id")),
    responses((status = 200, description = "Cancelled: never tried again unless retried", body = DeliveryDetail),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "Already sent", body = super::error::ErrorBody)))]
async fn cancel_delivery(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = id_of(id)?;
    let now = crate::supervisor::now_ms();
    let actor = who.actor();
    let reason = format!("cancelled by {actor}");
    if settled(
        id,
        s.store
            .cancel_delivery(who.workspace_id, id, &reason, now)
            .await,
    )? {
        let channel = channel_of(&s, who.workspace_id, id).await?;
        audit(
            &s,
            who.workspace_id,
            &actor,
            AuditEvent::DeliveryCancelled {
                delivery: id,
                channel,
                from: from(who.ip),
            },
        )
        .await;
    }
    answer(&s, who.workspace_id, id).await
}

/// A retry's or cancel's answer: another workspace's (or no) delivery is
/// 404, a sent one 409.
fn settled(id: i64, r: autoheal_store::Result<bool>) -> Result<bool, ApiError> {
    match r {
        Ok(changed) => Ok(changed),
        Err(autoheal_store::StoreError::NotFound(_)) => {
            Err(ApiError::not_found(format!("no delivery {id}")))
        }
        Err(autoheal_store::StoreError::Conflict(m)) => Err(ApiError::conflict(m)),
        Err(e) => Err(e.into()),
    }
}

async fn channel_of(s: &AppState, ws: i64, id: i64) -> Result<String, ApiError> {
    Ok(s.store
        .get_delivery(ws, id)
        .await?
        .map(|d| d.delivery.channel)
        .unwrap_or_default())
}

async fn answer(s: &AppState, ws: i64, id: i64) -> Result<Json<DeliveryDetail>, ApiError> {
    s.store
        .get_delivery(ws, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no delivery {id}")))
}
