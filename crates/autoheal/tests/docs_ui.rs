//! Swagger UI at `/docs` (issue 10 item 8): served from the binary, every
//! file it loads answered by this server with its type, nothing from
//! another host, the document it reads reachable with the browser's
//! session cookie, and the headers a page needs.

mod common;

use autoheal::app::Application;
use autoheal_store::{Role, DEFAULT_WORKSPACE};
use common::eventually;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "docs-password-5d1e8b";

struct App {
    base: String,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    /// `autoheal_session=...` of a signed-in viewer.
    cookie: String,
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn spawn() -> App {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "AUTOHEAL_DATA_DIR".to_string(),
            dir.path().display().to_string(),
        ),
    ]);
    let cfg = autoheal_config::parse_str("[docker]\nenabled = false\n", "test.toml", &env)
        .expect("valid");
    let app = Application::build(&cfg).await.expect("builds");
    let base = format!("http://{}", app.local_addr());
    let auth = app.auth();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(10), "ready", || async {
        let r = http.get(format!("{base}/ready")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    auth.create_user(
        "reader",
        None,
        PASSWORD,
        DEFAULT_WORKSPACE,
        Role::Viewer,
        autoheal::supervisor::now_ms(),
    )
    .await
    .unwrap();
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"login": "reader", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    App {
        base,
        stop,
        _dir: dir,
        http,
        cookie,
    }
}

impl App {
    /// What a signed-in browser gets for `url`.
    async fn browse(&self, url: &str) -> reqwest::Response {
        self.http
            .get(url)
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }
}

/// The values of `attr="..."` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

fn assert_page_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self';"), "{what}: {csp}");
    assert!(csp.contains("connect-src 'self'"), "{what}: {csp}");
    assert!(
        !csp.contains("http"),
        "{what}: no other host allowed: {csp}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_is_served_from_the_binary_with_every_file_it_loads() {
    let app = spawn().await;
    let page_url = url::Url::parse(&format!("{}/docs", app.base)).unwrap();

    let r = app.browse(page_url.as_str()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_page_headers(&r, "/docs");
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(html.contains("\"/api/v1/openapi.json\""), "{html}");

    // Nothing from another host: every absolute URL in the page is ours.
    for scheme in ["http://", "https://", "//"] {
        for (i, _) in html.match_indices(scheme) {
            if scheme == "//" && html[..i].ends_with(':') {
                continue; // the "//" of an http(s):// URL, checked above
            }
            let rest = &html[i..];
            let end = rest
                .find(|c: char| c == '"' || c == '\'' || c.is_whitespace() || c == '<')
                .unwrap_or(rest.len());
            let found = &rest[..end];
            let resolved = page_url.join(found).unwrap();
            assert_eq!(
                (resolved.host_str(), resolved.port()),
                (page_url.host_str(), page_url.port()),
                "the page refers to another host: {found}"
            );
        }
    }

    // Every file it refers to, resolved as a browser would (its <base>).
    let base = html
        .find("<base ")
        .map(|i| &html[i..i + html[i..].find('>').unwrap()])
        .and_then(|tag| attribute_values(tag, "href").first().copied())
        .map(|b| page_url.join(b).unwrap())
        .unwrap_or_else(|| page_url.clone());
    assert_eq!(base.path(), "/docs/", "the page's links are under /docs/");
    let mut loaded = BTreeMap::new();
    for link in attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
    {
        let url = base.join(link).unwrap();
        if url.path() == "/docs/" || url.path() == "/api/v1/openapi.json" {
            continue; // the <base> itself; the <noscript> link to the document
        }
        let r = app.browse(url.as_str()).await;
        assert_eq!(r.status(), 200, "{url}");
        let ty = r.headers()["content-type"].to_str().unwrap().to_string();
        let want = match url.path().rsplit('.').next().unwrap() {
            "js" => "javascript",
            "css" => "text/css",
            "png" => "image/png",
            other => panic!("an unexpected kind of file: {other} ({url})"),
        };
        assert!(ty.contains(want), "{url}: {ty}");
        assert_page_headers(&r, url.path());
        loaded.insert(url.path().to_string(), r.text().await.unwrap_or_default());
    }
    for needed in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
    ] {
        assert!(loaded.contains_key(needed), "{needed}: {loaded:?}");
    }

    // The initializer points Swagger UI at our document, and at no
    // online validator.
    let init = &loaded["/docs/swagger-initializer.js"];
    assert!(init.contains("\"url\": \"/api/v1/openapi.json\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    assert!(
        !init.contains("http://") && !init.contains("https://"),
        "{init}"
    );

    // The document the page then fetches, with the same cookie.
    let r = app
        .browse(&format!("{}/api/v1/openapi.json", app.base))
        .await;
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_needs_a_credential_and_the_hosts_guard_applies() {
    let app = spawn().await;
    let r = app
        .http
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "like the document it shows");
    let r = app
        .http
        .get(format!("{}/docs/swagger-ui-bundle.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A page on another name (DNS rebinding) does not read it.
    let r = app
        .http
        .get(format!("{}/docs", app.base))
        .header("host", "attacker.example")
        .header("cookie", &app.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    // Nor files the page does not load.
    let r = app.browse(&format!("{}/docs/nosuch.js", app.base)).await;
    assert_eq!(r.status(), 404);
}
