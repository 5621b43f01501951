//! The API's guard, beside credentials ([`super::access`]): what keeps a
//! web page the operator happens to visit from commanding (CSRF) or reading
//! (DNS rebinding) the API on their machine.
//!
//! For every route but the probes (`/health`, `/live`, `/ready`),
//! `/metrics`, which Docker, Kubernetes and Prometheus call by any name,
//! and the alert webhooks and heartbeat pings (`/hooks/<token>`,
//! `/ping/<token>`: monitors and jobs elsewhere call them by any name, with
//! their own bodies; the token is their credential):
//! - the `Host` must name this server: an IP address (a DNS rebinding
//!   attack needs a name), `localhost` (or `*.localhost`) when listening on
//!   loopback or on every address, or a name in `[server] allowed_hosts`
//!   (`"*"` turns the check off, e.g. behind a reverse proxy that rewrites
//!   it); otherwise 421 `misdirected_request`;
//! - an `Origin`, when sent, must be this server's own (the `Host` the
//!   request was sent to, or an allowed host); otherwise 403 `forbidden`;
//! - writes with a body (POST, PUT, PATCH) must say `Content-Type:
//!   application/json` (or `application/toml`, for an import), which a
//!   page cannot send cross-origin without a preflight that autoheal never
//!   grants; otherwise 415 `unsupported_media_type`. A DELETE needs no
//!   type: it is never sent cross-origin without that preflight either.
//!   The dashboard's forms (outside `/api/`, [`crate::http::dashboard`]) may post
//!   `application/x-www-form-urlencoded`: each carries a CSRF token bound
//!   to the session that its handler checks, besides the `Origin` rules.
//!
//! It also gives every error answer without a body (axum's 405 with its
//! `Allow`, a timeout's 408, ...) the API's JSON error shape.

use super::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Paths served to anyone who can connect, by any name.
const EXEMPT: &[&str] = &["/health", "/live", "/ready", "/metrics"];

/// Which `Host` and `Origin` values name this server.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    listen: SocketAddr,
    /// Lower-case names (`host` or `host:port`) from `[server] allowed_hosts`.
    allowed: Vec<String>,
    any_host: bool,
}

impl HostPolicy {
    pub fn new(listen: SocketAddr, allowed_hosts: &[String]) -> Self {
        let any_host = allowed_hosts.iter().any(|h| h == "*");
        HostPolicy {
            listen,
            allowed: allowed_hosts
                .iter()
                .filter(|h| *h != "*")
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            any_host,
        }
    }

    /// Whether `authority` (`host`, `host:port`, `[v6]:port`) names us.
    pub fn host_allowed(&self, authority: &str) -> bool {
        if self.any_host {
            return true;
        }
        let authority = authority.trim().to_ascii_lowercase();
        let (host, port) = split_authority(&authority);
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return false;
        }
        if host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            return true;
        }
        let local = self.listen.ip().is_loopback() || self.listen.ip().is_unspecified();
        if local && (host == "localhost" || host.ends_with(".localhost")) {
            return true;
        }
        self.allowed
            .iter()
            .any(|a| a == &authority || a.as_str() == host)
    }

    /// Whether `origin` (`scheme://host[:port]`) is this server's own, as
    /// reached through `host`.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false; // "null" and the like
        };
        if scheme != "http" && scheme != "https" {
            return false;
        }
        if host.is_some_and(|h| h.trim().eq_ignore_ascii_case(authority)) {
            return true;
        }
        let (name, _) = split_authority(authority);
        !self.any_host
            && self
                .allowed
                .iter()
                .any(|a| a == authority || a.as_str() == name)
    }
}

/// `host:port` → (`host`, Some(`port`)); `[::1]:80` → (`[::1]`, Some(`80`)).
fn split_authority(a: &str) -> (&str, Option<&str>) {
    if a.starts_with('[') {
        return match a.find(']') {
            Some(i) => {
                let (h, rest) = a.split_at(i + 1);
                (h, rest.strip_prefix(':'))
            }
            None => (a, None),
        };
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (a, None),
    }
}

fn request_host(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("application/toml")
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|e| {
            e.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn error(status: StatusCode, code: &'static str, message: String) -> Response {
    ApiError::new(status, code, message).into_response()
}

/// The middleware (see the module docs).
pub async fn guard(policy: Arc<HostPolicy>, req: Request, next: Next) -> Response {
    // Alert webhooks are called by monitors elsewhere, by whatever name
    // reaches autoheal, with whatever body they send: the token in the
    // URL is what they prove (a page cannot guess it).
    let path = req.uri().path();
    let called_from_elsewhere = path.starts_with("/hooks/") || path.starts_with("/ping/");
    if !EXEMPT.contains(&path) && !called_from_elsewhere {
        if let Some(refused) = refuse(&policy, &req) {
            return refused;
        }
    }
    let method = req.method().clone();
    let resp = next.run(req).await;
    json_errors(resp, &method).await
}

fn refuse(policy: &HostPolicy, req: &Request) -> Option<Response> {
    let host = request_host(req);
    match &host {
        None => {
            return Some(error(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                "the request names no Host; send the address autoheal listens on".into(),
            ))
        }
        Some(h) if !policy.host_allowed(h) => {
            return Some(error(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                format!(
                    "Host {h:?} does not name this server; use its address ({}) or add the name to [server] allowed_hosts",
                    policy.listen
                ),
            ))
        }
        Some(_) => {}
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !policy.origin_allowed(origin, host.as_deref()) {
            return Some(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("requests from the web origin {origin:?} are refused; the API only answers its own origin"),
            ));
        }
    }
    let write = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    // The dashboard's own forms (never under /api/) post as browsers do;
    // each carries a CSRF token its handler checks.
    let dashboard_form = req.method() == Method::POST
        && is_form(req.headers())
        && crate::http::dashboard::is_page(req.uri().path());
    if write && !is_json(req.headers()) && !dashboard_form {
        return Some(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "writes must be sent with Content-Type: application/json (or application/toml for an import)".into(),
        ));
    }
    None
}

/// An error answer without a body (axum's 405, a timeout's 408, ...) gets
/// the JSON error shape; its other headers (`Allow`) stay.
async fn json_errors(resp: Response, method: &Method) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error())
        || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return resp;
    }
    let (mut parts, _) = resp.into_parts();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!(
                "{method} is not allowed here; allowed: {}",
                parts
                    .headers
                    .get(header::ALLOW)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
            ),
        ),
        StatusCode::REQUEST_TIMEOUT => {
            ("timeout", "the request took too long to answer".to_string())
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is too large".to_string(),
        ),
        s => (
            if s.is_client_error() {
                "bad_request"
            } else {
                "internal"
            },
            s.canonical_reason().unwrap_or("error").to_string(),
        ),
    };
    let body = error(status, code, message);
    let (bparts, bbody) = body.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (k, v) in bparts.headers.iter() {
        parts.headers.insert(k.clone(), v.clone());
    }
    Response::from_parts(parts, Body::new(bbody))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(listen: &str, allowed: &[&str]) -> HostPolicy {
        HostPolicy::new(
            listen.parse().unwrap(),
            &allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn hosts() {
        let p = policy("127.0.0.1:8080", &["autoheal.internal"]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "autoheal.internal",
            "autoheal.internal:9000",
            "10.0.0.1",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8080",
            "127.0.0.1:notaport",
            "",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        // Beyond loopback, `localhost` is not this server's name.
        assert!(!policy("10.1.2.3:80", &[]).host_allowed("localhost:80"));
        assert!(policy("0.0.0.0:80", &[]).host_allowed("localhost:80"));
        assert!(policy("10.1.2.3:80", &["*"]).host_allowed("anything"));
    }

    #[test]
    fn origins() {
        let p = policy("127.0.0.1:8080", &["autoheal.internal"]);
        let h = Some("127.0.0.1:8080");
        assert!(p.origin_allowed("http://127.0.0.1:8080", h));
        assert!(p.origin_allowed("https://autoheal.internal", h));
        assert!(!p.origin_allowed("http://evil.example", h));
        assert!(!p.origin_allowed("http://127.0.0.1:9999", h));
        assert!(!p.origin_allowed("null", h));
    }
}
