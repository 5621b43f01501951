//! `Idempotency-Key` on writes: a client that retries a write (a timeout, a
//! dropped connection) with the same key gets the first answer again
//! instead of a second change.
//!
//! For a POST, PUT, PATCH or DELETE with the header, from a signed-in
//! caller: the answer (status, body, `Content-Type`, `ETag`) is kept for
//! 24 hours, per workspace, caller and key, sealed like a secret (an answer
//! may hold an API key shown once). A retry with the same method, path and
//! body gets it back with `Idempotent-Replayed: true`; the same key on a
//! different request is refused with 422 `idempotency_key_reused`; a retry
//! while the first is still being answered gets 409
//! `idempotency_key_in_use`. Answers of 5xx and 429 are not kept: the
//! retry runs again.

use super::error::ApiError;
use super::AppState;
use crate::auth::{Credential, Principal};
use crate::vault::Secret;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;

pub const HEADER: &str = "idempotency-key";
/// How long an answer is kept.
pub const KEEP_MS: i64 = 24 * 3600 * 1000;
/// The largest body read to hash (the API's own limit is lower).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The largest answer kept.
const MAX_ANSWER: usize = 1024 * 1024;
/// The sealed kind of kept answers.
const KIND: &str = "idempotency";

type Slot = (i64, String, String);

/// What a kept answer's ciphertext is bound to, beside its workspace: the
/// caller and the request.
fn sealed_kind(principal: &str, request_hash: &str) -> String {
    format!("{KIND}/{principal}/{request_hash}")
}

/// The keys whose first request is being answered now.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<Slot>>);

struct Claim<'a> {
    set: &'a InFlight,
    slot: Slot,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.0.lock() {
            s.remove(&self.slot);
        }
    }
}

impl InFlight {
    fn claim(&self, slot: Slot) -> Option<Claim<'_>> {
        let mut s = self.0.lock().ok()?;
        if !s.insert(slot.clone()) {
            return None;
        }
        Some(Claim { set: self, slot })
    }
}

/// Who the key belongs to: the user (across their sessions and keys), or
/// `local` for the local token (made again at every start).
fn principal_id(who: &Principal) -> String {
    match (who.user_id, who.credential) {
        (Some(u), _) => format!("user:{u}"),
        (None, Credential::Key(_)) => "local".into(),
        (None, Credential::Session(s)) => format!("session:{s}"),
    }
}

fn valid_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    content_type: Option<String>,
    etag: Option<String>,
    body: String,
}

pub async fn idempotency(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(key) = req.headers().get(HEADER).filter(|_| write) else {
        return next.run(req).await;
    };
    let Some(who) = req.extensions().get::<Principal>().cloned() else {
        // Anonymous writes (login, setup) are not kept.
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if valid_key(k) => k.to_string(),
        _ => {
            return ApiError::bad_request(
                "Idempotency-Key must be 1-255 visible ASCII characters (a UUID, say)",
            )
            .into_response()
        }
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is too large",
            )
            .into_response()
        }
    };
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update(b"\n");
    h.update(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default()
            .as_bytes(),
    );
    h.update(b"\n");
    h.update(&bytes);
    let hash = hex::encode(h.finalize());
    let ws = who.workspace_id;
    let pid = principal_id(&who);
    let Some(_claim) = s.idempotency.claim((ws, pid.clone(), key.clone())) else {
        return ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being answered; retry in a moment",
        )
        .into_response();
    };
    match s.store.get_idempotent(ws, &pid, &key).await {
        Ok(Some(row)) if row.created_at >= crate::supervisor::now_ms() - KEEP_MS => {
            if row.request_hash != hash {
                return ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request; use a new key for each change",
                )
                .into_response();
            }
            return replay(&s, &row);
        }
        Ok(_) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return response;
    }
    let (rparts, rbody) = response.into_parts();
    let answer = match axum::body::to_bytes(rbody, MAX_ANSWER).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::internal("the answer could not be read").into_response();
        }
    };
    let text = String::from_utf8_lossy(&answer).into_owned();
    let header_of = |name: header::HeaderName| {
        rparts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let kept = Kept {
        content_type: header_of(header::CONTENT_TYPE),
        etag: header_of(header::ETAG),
        body: text,
    };
    let sealed = s.vault.keys().seal(
        ws,
        &sealed_kind(&pid, &hash),
        0,
        &Secret::new(serde_json::to_string(&kept).unwrap_or_default()),
    );
    let row = autoheal_store::IdempotentRow {
        workspace_id: ws,
        principal: pid,
        key,
        request_hash: hash,
        status: status.as_u16(),
        sealed,
        created_at: crate::supervisor::now_ms(),
    };
    if let Err(e) = s.store.put_idempotent(&row).await {
        // The change is made; only a retry's replay is lost.
        tracing::warn!(error = %crate::error_chain(&e), "An answer for an Idempotency-Key could not be kept.");
    }
    Response::from_parts(rparts, Body::from(answer))
}

fn replay(s: &AppState, row: &autoheal_store::IdempotentRow) -> Response {
    let as_secret = autoheal_store::SecretRow {
        id: 0,
        workspace_id: row.workspace_id,
        kind: sealed_kind(&row.principal, &row.request_hash),
        name: row.key.clone(),
        sealed: row.sealed.clone(),
        created_at: row.created_at,
        updated_at: row.created_at,
    };
    let kept: Kept = match s
        .vault
        .keys()
        .open(&as_secret)
        .ok()
        .and_then(|t| serde_json::from_str(t.expose()).ok())
    {
        Some(k) => k,
        None => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "the answer kept for this Idempotency-Key cannot be read (the secrets key changed); use a new key",
            )
            .into_response()
        }
    };
    let status = StatusCode::from_u16(row.status).unwrap_or(StatusCode::OK);
    let mut r = (status, kept.body).into_response();
    let h = r.headers_mut();
    if let Some(ct) = kept
        .content_type
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(tag) = kept.etag.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::ETAG, tag);
    }
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}
