//! Swagger UI at `/docs`, reading the OpenAPI document at
//! `/api/v1/openapi.json`.
//!
//! The files are Swagger UI's own distribution, embedded in the binary at
//! build time from the `utoipa-swagger-ui-vendored` crate (the `vendored`
//! feature of `utoipa-swagger-ui`): nothing is fetched at build or run time,
//! and the page loads nothing from another host (its Content-Security-Policy
//! would refuse it anyway).
//!
//! Same access as the document it shows ([`Access::Signed`]): a browser
//! signed in with the session cookie sees it, and so do its requests to the
//! document and "Try it out" (same origin, so the cookie goes along); an API
//! key can be entered in the Authorize dialog instead.

use super::access::{endpoint, Access, Endpoint};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::{Arc, LazyLock};
use utoipa_swagger_ui::Config;

/// Where the page is; its files are under it.
pub const PATH: &str = "/docs";

/// What the page's own scripts, styles and images need, and nothing else:
/// scripts only from here (Swagger UI's configuration is a file, not an
/// inline script), inline styles (its components set `style` attributes),
/// `data:` images (its icons), requests only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The files `index.html` refers to, each its own route (the router lists
/// every path it serves, each with its access).
const ASSETS: [(&str, &str); 7] = [
    ("/docs/swagger-ui.css", "swagger-ui.css"),
    ("/docs/index.css", "index.css"),
    ("/docs/favicon-32x32.png", "favicon-32x32.png"),
    ("/docs/favicon-16x16.png", "favicon-16x16.png"),
    ("/docs/swagger-ui-bundle.js", "swagger-ui-bundle.js"),
    (
        "/docs/swagger-ui-standalone-preset.js",
        "swagger-ui-standalone-preset.js",
    ),
    ("/docs/swagger-initializer.js", "swagger-initializer.js"),
];

/// Swagger UI's settings, written into `swagger-initializer.js`: our
/// document; no online validator (it would send the document to
/// swagger.io); no top bar for loading other documents; the Authorize
/// dialog's key kept in the tab's memory only.
static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new([super::openapi::PATH])
            .use_base_layout()
            .validator_url("none")
            .persist_authorization(false),
    )
});

pub fn endpoints() -> Vec<Endpoint> {
    let mut all = vec![endpoint(Method::GET, PATH, Access::Signed, get(page))];
    for (path, file) in ASSETS {
        all.push(endpoint(
            Method::GET,
            path,
            Access::Signed,
            get(move || async move { asset(file) }),
        ));
    }
    all
}

/// `GET /docs`: Swagger UI's `index.html`, told that its relative links are
/// under `/docs/` (it is served without the trailing slash), with a link to
/// the document itself for a browser without JavaScript.
async fn page() -> Response {
    let Some(file) = file("index.html") else {
        return missing("index.html");
    };
    let doc = super::openapi::PATH;
    let html = String::from_utf8_lossy(&file.bytes)
        .replacen("<head>", "<head>\n    <base href=\"/docs/\">", 1)
        .replacen("<title>Swagger UI</title>", "<title>autoheal API</title>", 1)
        .replacen(
            "<body>",
            &format!(
                "<body>\n    <noscript>Swagger UI needs JavaScript; the OpenAPI document is at <a href=\"{doc}\">{doc}</a>.</noscript>"
            ),
            1,
        );
    respond(file.content_type, html.into_bytes())
}

fn asset(name: &'static str) -> Response {
    match file(name) {
        Some(f) => respond(f.content_type, f.bytes.into_owned()),
        None => missing(name),
    }
}

fn file(name: &str) -> Option<utoipa_swagger_ui::SwaggerFile<'static>> {
    utoipa_swagger_ui::serve(name, CONFIG.clone())
        .ok()
        .flatten()
}

/// A file of the list that the embedded distribution lacks: a build of
/// Swagger UI that changed its files (the docs test catches it first).
fn missing(name: &str) -> Response {
    super::error::ApiError::internal(format!("Swagger UI has no {name}")).into_response()
}

fn respond(content_type: String, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}
