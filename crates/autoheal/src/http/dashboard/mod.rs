//! The web dashboard, served by the binary at `/` (issue 13).
//!
//! Server-rendered pages ([`pages`]) from askama templates
//! (`crates/autoheal/templates/`, every value escaped), one stylesheet and
//! one small script embedded in the binary ([`ASSETS`]), live through the
//! API's event stream (`GET /api/v1/stream`, which the browser's
//! `EventSource` reconnects by itself).
//!
//! Security, beside the API's guard (Host, Origin) and session cookies:
//! - a Content-Security-Policy of `'self'` only, without inline script or
//!   style ([`CONTENT_SECURITY_POLICY`]), `frame-ancestors 'none'`,
//!   `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`, `nosniff`,
//!   `Cache-Control: no-store`;
//! - every form carries a CSRF token checked here: for a signed-in
//!   session, a hash of the session's own secret ([`csrf_token`]), so it is
//!   bound to the session and known only to pages of it; for the sign-in
//!   and setup forms (no session yet), a random value also set in an
//!   HttpOnly SameSite=Strict cookie (double submit);
//! - controls are shown by role, and every form's route declares its role
//!   ([`Access::Page`]), so the server refuses what a viewer cannot do.
//!
//! The pages are not API routes: they are not in the OpenAPI document and
//! answer an anonymous browser with a redirect to the sign-in page.

mod pages;
mod policy;
pub mod redirect;
mod svg;

use crate::http::access::{credential, endpoint, Access, Endpoint};
use autoheal_store::Role;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use redirect::secure;
pub use redirect::{see_other, to_sign_in, CONTENT_SECURITY_POLICY};
use sha2::{Digest, Sha256};

/// The embedded files: (route, content type, bytes).
pub const ASSETS: [(&str, &str, &str); 2] = [
    (
        "/static/app.css",
        "text/css; charset=utf-8",
        include_str!("static/app.css"),
    ),
    (
        "/static/app.js",
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    ),
];

/// The pre-session cookie of the sign-in and setup forms (double submit).
pub(crate) const FORM_COOKIE: &str = "autoheal_form";

/// Every page and form of the dashboard, each with its access.
pub fn endpoints() -> Vec<Endpoint> {
    use Access::{Anyone, Page, Signed};
    let mut all = vec![
        endpoint(Method::GET, "/", Page(Role::Viewer), get(pages::overview)),
        endpoint(Method::GET, "/login", Anyone, get(pages::login_form)),
        endpoint(Method::POST, "/login", Anyone, post(pages::login)),
        endpoint(Method::GET, "/setup", Anyone, get(pages::setup_form)),
        endpoint(Method::POST, "/setup", Anyone, post(pages::setup)),
        endpoint(Method::POST, "/logout", Signed, post(pages::logout)),
        endpoint(
            Method::GET,
            "/targets",
            Page(Role::Viewer),
            get(pages::targets),
        ),
        endpoint(
            Method::GET,
            "/targets/{name}",
            Page(Role::Viewer),
            get(pages::target),
        ),
        endpoint(
            Method::POST,
            "/targets/{name}/{command}",
            Page(Role::Operator),
            post(pages::command),
        ),
        endpoint(
            Method::GET,
            "/incidents/{id}",
            Page(Role::Viewer),
            get(pages::incident),
        ),
        endpoint(
            Method::GET,
            "/events",
            Page(Role::Viewer),
            get(pages::events),
        ),
    ];
    for (path, content_type, body) in ASSETS {
        all.push(endpoint(
            Method::GET,
            path,
            Anyone,
            get(move || async move { asset(content_type, body) }),
        ));
    }
    all
}

/// Whether `path` is the dashboard's (not the API's, Swagger UI's, the
/// probes' or the webhooks'): where the guard lets forms post.
pub fn is_page(path: &str) -> bool {
    path == "/"
        || [
            "/login",
            "/setup",
            "/logout",
            "/targets",
            "/incidents/",
            "/events",
            "/static/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
}

/// Where to go after signing in: a path of this server only (never
/// `//host`, `/\host` or a scheme), else the overview.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control())
                && n != "/login"
                && !n.starts_with("/login?") =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The CSRF token of the session a request is signed in with: SHA-256 of
/// the session cookie's secret under a purpose string, so a page shows it
/// without showing the secret. `None` when the request is not
/// cookie-authenticated (an API key needs none: a browser never sends one
/// by itself).
pub fn csrf_token(headers: &HeaderMap) -> Option<String> {
    match credential(headers) {
        Some((token, true)) => Some(token_of(&token)),
        _ => None,
    }
}

fn token_of(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"autoheal dashboard csrf v1\0");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// Whether a form's `csrf` field is right for the request's credential:
/// a cookie-authenticated form must carry its session's token.
pub(crate) fn csrf_ok(headers: &HeaderMap, sent: Option<&str>) -> bool {
    match csrf_token(headers) {
        None => true,
        Some(want) => sent.is_some_and(|s| same(s, &want)),
    }
}

/// The pre-session form cookie's value, if sent.
pub(crate) fn form_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == FORM_COOKIE)
        .map(|(_, v)| v.trim().to_string())
}

/// Constant-time comparison of two tokens.
pub(crate) fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A rendered page with `status`.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(&mut r);
    r
}

/// Renders `t` (a template bug is a 500 page, logged).
pub(crate) fn render(status: StatusCode, t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "A dashboard page could not be rendered.");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>autoheal</title><p>This page could not be rendered; the log says why.</p>".into(),
            )
        }
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The same binary serves the same bytes: an hour is safe, and a new
    // version is at most an hour late.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    secure(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_path_of_ours_only() {
        assert_eq!(safe_next(Some("/targets/web?x=1")), "/targets/web?x=1");
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "",
            "/login",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_needed_with_a_cookie_only() {
        let mut h = HeaderMap::new();
        assert!(csrf_ok(&h, None), "no cookie: an API key or nobody");
        h.insert(header::COOKIE, "autoheal_session=abc".parse().unwrap());
        let t = csrf_token(&h).unwrap();
        assert_eq!(t.len(), 64);
        assert!(!t.contains("abc"));
        assert!(csrf_ok(&h, Some(&t)));
        assert!(!csrf_ok(&h, None));
        assert!(!csrf_ok(&h, Some("")));
        assert!(!csrf_ok(&h, Some(&token_of("other"))));
        h.insert(header::AUTHORIZATION, "Bearer ah_key_x".parse().unwrap());
        assert!(csrf_ok(&h, None), "a bearer key wins over the cookie");
    }

    #[test]
    fn pages_are_outside_the_api() {
        for p in [
            "/",
            "/login",
            "/targets",
            "/targets/web/heal",
            "/events",
            "/static/app.js",
        ] {
            assert!(is_page(p), "{p}");
        }
        for p in [
            "/api/v1/targets",
            "/docs",
            "/health",
            "/hooks/x",
            "/metrics",
        ] {
            assert!(!is_page(p), "{p}");
        }
    }
}
