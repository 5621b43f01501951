//! Who may call which route: every route of the server is an [`Endpoint`]
//! that names the access it needs, and the router is built from the list of
//! endpoints ([`super::endpoints`]), each wrapped in [`authorize`] with its
//! own access. A route cannot exist without a declared role, and the tests
//! walk the same list (the route x role x workspace matrix, the OpenAPI
//! drift test).
//!
//! Credentials: `Authorization: Bearer <key>` for programs, the
//! `autoheal_session` cookie (HttpOnly, SameSite=Strict) for browsers. A
//! cookie-authenticated write must carry an `Origin` (the guard has already
//! checked that any `Origin` is this server's own).
//!
//! Answers: no or an invalid credential → 401 with `WWW-Authenticate`; too
//! low a role → 403. Handlers answer another workspace's object as 404,
//! never 403, so nothing leaks whether it exists.

use super::error::ApiError;
use super::AppState;
use crate::auth::Principal;
use autoheal_store::Role;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use std::net::{IpAddr, SocketAddr};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "autoheal_session";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can connect (probes, login). A credential, when sent and
    /// valid, is still made available to the handler.
    Anyone,
    /// Any valid credential, whatever its role.
    Signed,
    /// At least this role in the caller's workspace.
    Role(Role),
}

/// One route: method, full path (axum syntax), access, and its handler.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<AppState>,
}

/// An endpoint; `handler` is the method router (`get(f)`, `post(f)`, ...).
pub fn endpoint(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        handler,
    }
}

/// The client's address, as the connection saw it.
pub fn client_ip(req_ext: &axum::http::Extensions) -> Option<IpAddr> {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// The client's address as an extractor (`None` when served without one,
/// as in `oneshot` tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

/// The credential a request carries: the Bearer token, else the session
/// cookie; and whether it came as a cookie.
pub fn credential(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?.trim();
        let (scheme, token) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((token.trim().to_string(), false));
        }
        return None;
    }
    session_cookie(headers).map(|t| (t, true))
}

/// The `autoheal_session` cookie's value, if sent.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().to_string())
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiError::unauthorized(message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"autoheal\""),
    );
    r
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware of one endpoint with its `access`.
pub async fn authorize(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = client_ip(req.extensions());
    let principal = match credential(req.headers()) {
        None => None,
        Some((token, cookie)) => {
            match state
                .auth
                .principal(&token, ip, crate::supervisor::now_ms())
                .await
            {
                Ok(Some(p)) => {
                    if cookie
                        && is_write(req.method())
                        && !req.headers().contains_key(header::ORIGIN)
                    {
                        return ApiError::forbidden(
                            "a write with a session cookie must send Origin",
                        )
                        .into_response();
                    }
                    Some(p)
                }
                Ok(None) if access == Access::Anyone => None,
                Ok(None) => {
                    return unauthorized("the credential is unknown, expired or revoked");
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    match (access, &principal) {
        (Access::Anyone, _) => {}
        (_, None) => {
            return unauthorized("sign in, or send an API key as `Authorization: Bearer <key>`")
        }
        (Access::Signed, Some(_)) => {}
        (Access::Role(need), Some(p)) => {
            if !p.can(need) {
                return ApiError::forbidden(format!(
                    "this needs the {need} role; yours is {}",
                    p.role
                ))
                .into_response();
            }
        }
    }
    if let Some(p) = principal {
        req.extensions_mut().insert::<Principal>(p);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_wins_over_the_cookie_and_other_schemes_are_none() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=b; autoheal_session=ses1".parse().unwrap(),
        );
        assert_eq!(credential(&h), Some(("ses1".into(), true)));
        h.insert(header::AUTHORIZATION, "Bearer  key1 ".parse().unwrap());
        assert_eq!(credential(&h), Some(("key1".into(), false)));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(credential(&h), None);
    }
}
