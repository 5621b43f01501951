//! docs/api.md checked against the OpenAPI document (issue 10 item 8):
//! every route of the document is named there, and every route it names
//! exists. The convention, stated at the top of docs/api.md: a route is
//! named in code as `METHOD /path`, the path written as the document
//! writes it (`{name}` for a parameter), optionally followed by `?query`
//! or by a space and more.
//!
//! Also: every kind of audit event (`autoheal_core::AuditEvent`) is named
//! in docs/api.md.

use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn api_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `` `METHOD /path `` in `text`, as (METHOD, /path).
fn named_routes(text: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for method in METHODS {
        let needle = format!("`{method} /");
        for (i, _) in text.match_indices(&needle) {
            let rest = &text[i + needle.len() - 1..];
            let end = rest
                .find(|c: char| c == '`' || c == '?' || c.is_whitespace())
                .unwrap_or(rest.len());
            found.insert((method.to_string(), rest[..end].to_string()));
        }
    }
    found
}

/// The document's routes, as (METHOD, /path).
fn document_routes() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(autoheal::http::openapi::document()).unwrap();
    let mut routes = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let m = method.to_uppercase();
            if METHODS.contains(&m.as_str()) {
                routes.insert((m, path.clone()));
            }
        }
    }
    routes
}

#[test]
fn the_convention_finds_routes_in_code_spans_only() {
    let found = named_routes(
        "`GET /api/v1/targets` and `POST /api/v1/targets/{name}/{command}` and \
         `GET /api/v1/events?after=ID`, `PUT /api/v1/defaults {\"cooldown\"}`; GET /prose/not",
    );
    let want: BTreeSet<(String, String)> = [
        ("GET", "/api/v1/targets"),
        ("POST", "/api/v1/targets/{name}/{command}"),
        ("GET", "/api/v1/events"),
        ("PUT", "/api/v1/defaults"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(found, want);
}

#[test]
fn docs_api_md_names_every_route_of_the_openapi_document() {
    let named = named_routes(&api_md());
    let missing: Vec<String> = document_routes()
        .difference(&named)
        .map(|(m, p)| format!("`{m} {p}`"))
        .collect();
    assert!(
        missing.is_empty(),
        "in the OpenAPI document but not in docs/api.md: {missing:#?}"
    );
}

#[test]
fn every_route_docs_api_md_names_exists() {
    let document = document_routes();
    // The router also serves what the document is not about (Swagger UI).
    let served: BTreeSet<(String, String)> = autoheal::http::endpoints(true)
        .iter()
        .map(|e| (e.method.as_str().to_string(), e.path.to_string()))
        .collect();
    let unknown: Vec<String> = named_routes(&api_md())
        .into_iter()
        .filter(|r| {
            if r.1.starts_with("/api/v1/") {
                !document.contains(r)
            } else {
                !document.contains(r) && !served.contains(r)
            }
        })
        .map(|(m, p)| format!("`{m} {p}`"))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/api.md names routes that do not exist: {unknown:#?}"
    );
}

#[test]
fn docs_api_md_names_every_kind_of_audit_event() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../autoheal-core/src/audit.rs");
    let source = std::fs::read_to_string(path).unwrap();
    // `AuditEvent::X { .. } => "kind",` in `AuditEvent::kind`.
    let body = source
        .split_once("pub fn kind(&self)")
        .expect("AuditEvent::kind in audit.rs")
        .1;
    let body = &body[..body.find("\n    }\n").expect("the end of kind")];
    let kinds: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AuditEvent::") && l.contains("=> \""))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert!(kinds.len() >= 30, "kinds read from audit.rs: {kinds:?}");
    let doc = api_md();
    let missing: Vec<&&str> = kinds
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "audit event kinds not in docs/api.md: {missing:?}"
    );
}
