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
    /// A signed-in user's browser session, not an API key: what a leaked
    /// key must never do (change the password, the second factor).
    Session,
    /// At least this role in the caller's workspace.
    Role(Role),
    /// A dashboard page or form ([`crate::http::dashboard`]): at least this role,
    /// like [`Access::Role`], but a browser without a valid credential is
    /// sent to the sign-in page (303) instead of answered 401.
    Page(Role),
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

/// The client's address as [`NetPolicy::client_ip`] judged it (a trusted
/// proxy's `X-Forwarded-For` believed), else as the connection saw it.
pub fn client_ip(req_ext: &axum::http::Extensions) -> Option<IpAddr> {
    if let Some(ClientAddr(ip)) = req_ext.get::<ClientAddr>() {
        return Some(*ip);
    }
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// The client's address, set by [`authorize`].
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

type Keyed<K> = governor::DefaultKeyedRateLimiter<K>;

/// Who the client is behind proxies, and how fast it may go.
pub struct NetPolicy {
    trusted: Vec<ipnet::IpNet>,
    /// `server.loopback_until_admin`.
    loopback_until_admin: bool,
    per_client: Option<Keyed<IpAddr>>,
    per_credential: Option<Keyed<(bool, i64)>>,
}

/// Keys tracked by a limiter before idle ones are forgotten.
const LIMITER_KEYS: usize = 100_000;

fn limiter<K: std::hash::Hash + Eq + Clone>(per_second: u32) -> Option<Keyed<K>> {
    let n = std::num::NonZeroU32::new(per_second)?;
    let burst = std::num::NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(n);
    Some(governor::RateLimiter::keyed(
        governor::Quota::per_second(n).allow_burst(burst),
    ))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    l: &Option<Keyed<K>>,
    key: &K,
) -> Result<(), std::time::Duration> {
    let Some(l) = l else { return Ok(()) };
    if l.len() > LIMITER_KEYS {
        l.retain_recent();
    }
    l.check_key(key).map_err(|not_until| {
        not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ))
    })
}

impl NetPolicy {
    /// Answer other hosts only on the anonymous routes until a user exists.
    pub fn with_loopback_until_admin(mut self, on: bool) -> Self {
        self.loopback_until_admin = on;
        self
    }

    pub fn new(trusted: Vec<ipnet::IpNet>, per_client: u32, per_credential: u32) -> Self {
        NetPolicy {
            trusted,
            loopback_until_admin: false,
            per_client: limiter(per_client),
            per_credential: limiter(per_credential),
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client behind `peer`: when `peer` is a trusted proxy, the
    /// right-most address of `X-Forwarded-For` that is not a trusted proxy
    /// itself; otherwise `peer`. A malformed header is not believed.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.trusted(ip) {
                return ip;
            }
        }
        client
    }
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
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
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let ip = peer.map(|p| state.net.client_ip(p, req.headers()));
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientAddr(ip));
    }
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
                Ok(None) if matches!(access, Access::Anyone | Access::Page(_)) => None,
                Ok(None) => {
                    return unauthorized("the credential is unknown, expired or revoked");
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    let limited = match &principal {
        Some(p) => check(
            &state.net.per_credential,
            &match p.credential {
                crate::auth::Credential::Key(id) => (true, id),
                crate::auth::Credential::Session(id) => (false, id),
            },
        ),
        None => match ip {
            Some(ip) => check(&state.net.per_client, &ip),
            None => Ok(()),
        },
    };
    if let Err(wait) = limited {
        return ApiError::too_many("too many requests; slow down (see Retry-After)", wait)
            .into_response();
    }
    // The container image listens on every interface: until someone has
    // made the first admin, other hosts reach only the anonymous routes.
    if state.net.loopback_until_admin
        && access != Access::Anyone
        && ip.is_some_and(|ip| !ip.is_loopback())
        && !state.auth.has_users().await
    {
        if matches!(access, Access::Page(_)) {
            return crate::http::dashboard::redirect::see_other("/setup");
        }
        return ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "not_set_up",
            "autoheal has no admin yet, so it answers other hosts only on /live, /ready, /health, /metrics and the setup route; make the first admin with `autoheal user add --admin NAME` (in the container: docker exec <container> /autoheal user add --admin NAME) or the setup token it printed",
        )
        .into_response();
    }
    match (access, &principal) {
        (Access::Anyone, _) => {}
        (Access::Page(_), None) => {
            return crate::http::dashboard::redirect::to_sign_in(req.method(), req.uri())
        }
        (_, None) => {
            return unauthorized("sign in, or send an API key as `Authorization: Bearer <key>`")
        }
        (Access::Signed, Some(_)) => {}
        (Access::Session, Some(p)) => {
            if !p.is_session() {
                return ApiError::forbidden(
                    "this needs a signed-in session; an API key cannot do it",
                )
                .into_response();
            }
        }
        (Access::Role(need) | Access::Page(need), Some(p)) => {
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
    use proptest::prelude::*;

    fn policy(trusted: &[&str]) -> NetPolicy {
        NetPolicy::new(trusted.iter().map(|t| t.parse().unwrap()).collect(), 0, 0)
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let p = policy(&["10.0.0.0/8"]);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.7".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            p.client_ip(proxy, &h),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            p.client_ip(stranger, &h),
            stranger,
            "a forged header from outside"
        );
        // A client that sends its own header: the right-most untrusted hop.
        h.insert("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse().unwrap());
        assert_eq!(
            p.client_ip(proxy, &h),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(
            p.client_ip(proxy, &h),
            proxy,
            "a malformed header is not believed"
        );
    }

    proptest! {
        #[test]
        fn hostile_headers_never_panic(xff in "\\PC{0,200}", cookie in "\\PC{0,200}", auth in "\\PC{0,200}") {
            let p = policy(&["10.0.0.0/8", "::1/128"]);
            let mut h = HeaderMap::new();
            if let Ok(v) = xff.parse() { h.insert("x-forwarded-for", v); }
            if let Ok(v) = cookie.parse() { h.insert(header::COOKIE, v); }
            if let Ok(v) = auth.parse() { h.insert(header::AUTHORIZATION, v); }
            let _ = p.client_ip("10.1.2.3".parse().unwrap(), &h);
            let _ = credential(&h);
            let _ = session_cookie(&h);
        }
    }

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
