//! `GET /api/v1/stream`: Server-Sent Events of the caller's workspace.
//!
//! - `event: audit`, `id: <event id>`, `data: <the event as in /events>`:
//!   every audit event, in id order, read from the store after the last one
//!   sent, so nothing is missed. A client that reconnects with
//!   `Last-Event-ID` (browsers' `EventSource` do it by themselves) first
//!   gets every event after that id; a new client starts from now (or from
//!   `?after=ID`).
//! - `event: target`, `data: {"target","from","to","at"}`: phase changes as
//!   they happen. `event: lagged` when the client fell too far behind on
//!   these (reload the targets).
//! - `event: end`, then the stream closes, when the credential that opened
//!   it ends (logout, revocation, password change, removal): checked again
//!   at once whenever any credential may have ended, and every 5 s.
//! - A comment every 15 s keeps proxies from closing an idle stream.

use super::access::{credential, endpoint, Access, ClientIp, Endpoint};
use super::error::ApiError;
use super::AppState;
use crate::auth::Principal;
use autoheal_store::{EventFilter, Role};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Extension;
use futures::channel::mpsc;
use futures::SinkExt;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

/// How often a stream's credential is checked again without a reason.
const RECHECK: Duration = Duration::from_secs(5);
/// Events read from the store per catch-up round.
const BATCH: u32 = 200;

pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Method::GET,
        "/api/v1/stream",
        Access::Role(Role::Viewer),
        get(stream),
    )]
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// Start after this event id (as `Last-Event-ID` does).
    after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/stream", tag = "events", params(StreamQuery),
    responses((status = 200, description = "text/event-stream: `audit` events (with ids; resumable with Last-Event-ID), `target` phase changes, `end` when the credential ends", content_type = "text/event-stream"),
              (status = 401, body = super::error::ErrorBody)))]
async fn stream(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    q: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(super::error::from_rejection)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let start = match last_event_id.or(q.after) {
        Some(id) => id,
        None => newest_event(&s, who.workspace_id).await?,
    };
    let token = credential(&headers).map(|(t, _)| t).unwrap_or_default();
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(64);
    // Subscribed before the answer leaves: nothing that happens after the
    // client sees 200 is missed.
    let subs = Subscriptions {
        events: s.bus.watch_events(),
        targets: s.bus.subscribe_targets(),
        ended: s.auth.watch_ended(),
    };
    tokio::spawn(pump(s, who, token, ip, start, subs, tx));
    Ok(Sse::new(rx).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    ))
}

async fn newest_event(s: &AppState, workspace_id: i64) -> Result<i64, ApiError> {
    let page = s
        .store
        .list_events(&EventFilter {
            workspace: Some(workspace_id),
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(page.items.first().map(|e| e.id).unwrap_or(0))
}

struct Subscriptions {
    events: tokio::sync::watch::Receiver<u64>,
    targets: tokio::sync::broadcast::Receiver<crate::stream::TargetChange>,
    ended: tokio::sync::watch::Receiver<u64>,
}

/// Feeds one client until it goes away or its credential ends.
async fn pump(
    s: AppState,
    who: Principal,
    token: String,
    ip: Option<std::net::IpAddr>,
    mut last: i64,
    subs: Subscriptions,
    mut tx: mpsc::Sender<Result<SseEvent, Infallible>>,
) {
    let Subscriptions {
        mut events,
        mut targets,
        mut ended,
    } = subs;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    // Catch up first (a reconnect's missed events).
    let mut pending = true;
    loop {
        if pending {
            pending = false;
            loop {
                let page = match s
                    .store
                    .list_events(&EventFilter {
                        workspace: Some(who.workspace_id),
                        after: Some(last),
                        limit: BATCH,
                        ..Default::default()
                    })
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %crate::error_chain(&e), "The live stream could not read events; it retries.");
                        pending = true;
                        break;
                    }
                };
                let n = page.items.len();
                for e in page
                    .items
                    .into_iter()
                    .map(autoheal_store::scope::shown_event)
                {
                    last = e.id;
                    let data = serde_json::to_string(&e).unwrap_or_default();
                    let msg = SseEvent::default()
                        .event("audit")
                        .id(e.id.to_string())
                        .data(data);
                    if tx.send(Ok(msg)).await.is_err() {
                        return;
                    }
                }
                if n < BATCH as usize {
                    break;
                }
            }
        }
        tokio::select! {
            changed = events.changed() => {
                if changed.is_err() { return; }
                pending = true;
            }
            change = targets.recv() => match change {
                Ok(c) if c.workspace_id == who.workspace_id => {
                    let data = serde_json::to_string(&c).unwrap_or_default();
                    if tx.send(Ok(SseEvent::default().event("target").data(data))).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let msg = SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}"));
                    if tx.send(Ok(msg)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = ended.changed() => {
                if !still_valid(&s, &token, ip).await { break; }
            }
            _ = recheck.tick() => {
                if !still_valid(&s, &token, ip).await { break; }
                // Also notices a client that went away while nothing happened.
                if tx.is_closed() { return; }
            }
        }
    }
    let _ = tx
        .send(Ok(SseEvent::default()
            .event("end")
            .data("{\"reason\":\"the credential ended\"}")))
        .await;
}

async fn still_valid(s: &AppState, token: &str, ip: Option<std::net::IpAddr>) -> bool {
    match s
        .auth
        .principal(token, ip, crate::supervisor::now_ms())
        .await
    {
        Ok(p) => p.is_some(),
        // A store hiccup does not end a stream; the next check decides.
        Err(_) => true,
    }
}
