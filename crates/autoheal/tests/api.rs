//! The API, in process: the same `Application` the binary boots, on port 0
//! with a fresh SQLite file per test.

mod common;

use autoheal::app::Application;
use common::eventually;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct TestApp {
    base: String,
    handle: autoheal::supervisor::Handle,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }
    /// The first recorded event of `kind` for `target`, waited for up to
    /// `within`.
    async fn first_event(&self, target: &str, kind: &str, within: Duration) -> serde_json::Value {
        let what = format!("a {kind} event of {target}");
        eventually(within, &what, || async {
            let (_, page) = self
                .get(&format!("/api/v1/events?target={target}&limit=100"))
                .await;
            page["items"]
                .as_array()?
                .iter()
                .find(|e| e["kind"] == kind)
                .cloned()
        })
        .await
    }
    async fn post(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }
}

async fn spawn_app(config: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "AUTOHEAL_DATA_DIR".to_string(),
            dir.path().display().to_string(),
        ),
    ]);
    // Docker discovery off: containers of concurrent Docker tests stay out.
    let config = format!("[docker]\nenabled = false\n{config}");
    let cfg = autoheal_config::parse_str(&config, "test.toml", &env).expect("test config is valid");
    let app = Application::build(&cfg).await.expect("the app builds");
    let base = format!("http://{}", app.local_addr());
    let handle = app.handle();
    let stop = CancellationToken::new();
    // Every request of these tests carries the local token (an owner key);
    // the anonymous and per-role cases are in tests/access.rs.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", app.local_token()).parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let t = TestApp {
        base,
        handle,
        stop,
        _dir: dir,
        client,
    };
    eventually(Duration::from_secs(10), "ready", || async {
        (t.get("/ready").await.0 == 200).then_some(())
    })
    .await;
    t
}

fn dead_port() -> u16 {
    common::free_port()
}

const OBSERVE_ONLY: &str = r#"
[targets.db]
check = { type = "tcp", address = "127.0.0.1:1", interval = "1h" }
"#;

#[tokio::test]
async fn an_unknown_target_is_a_404_with_the_stable_error_shape() {
    let app = spawn_app(OBSERVE_ONLY).await;
    let (status, body) = app.get("/api/v1/targets/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));
    let (status, body) = app.post("/api/v1/targets/nope/heal").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get("/api/v1/incidents/12345").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = app.get("/no/such/route").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400s_that_say_what_is_wrong() {
    let app = spawn_app(OBSERVE_ONLY).await;
    for path in [
        "/api/v1/incidents?limit=0",
        "/api/v1/incidents?limit=501",
        "/api/v1/incidents?state=maybe",
        "/api/v1/incidents?limit=many",
        "/api/v1/events?colour=blue",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}");
    }
    let (status, body) = app.post("/api/v1/targets/db/explode").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("heal, quarantine"));
}

#[tokio::test]
async fn targets_are_listed_with_their_phase_and_commands_change_it() {
    let app = spawn_app(OBSERVE_ONLY).await;
    let (status, body) = app.get("/api/v1/targets").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["name"], "db");
    assert_eq!(body["items"][0]["kind"], "tcp");

    let (status, body) = app.post("/api/v1/targets/db/pause").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["target"]["phase"], "paused");
    let (status, body) = app.post("/api/v1/targets/db/resume").await;
    assert_eq!(status, 202, "{body}");
    assert_ne!(body["target"]["phase"], "paused");

    let (status, body) = app.post("/api/v1/targets/db/quarantine").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["target"]["phase"], "quarantined");
    // Healing a quarantined target is refused: release it first.
    let (status, body) = app.post("/api/v1/targets/db/heal").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (status, _) = app.post("/api/v1/targets/db/release").await;
    assert_eq!(status, 202);

    let (_, events) = app.get("/api/v1/events?target=db").await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"operator_command"), "{kinds:?}");
    assert!(kinds.contains(&"command_refused"), "{kinds:?}");
    let actors: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    // Who: these requests carry the local token, so the actor is `local`.
    assert!(actors.contains(&"local"), "{actors:?}");
}

#[tokio::test]
async fn events_page_newest_first_without_overlap() {
    let app = spawn_app(OBSERVE_ONLY).await;
    for _ in 0..4 {
        assert_eq!(app.post("/api/v1/targets/db/pause").await.0, 202);
        assert_eq!(app.post("/api/v1/targets/db/resume").await.0, 202);
    }
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/v1/events?limit=3&before={b}"),
            None => "/api/v1/events?limit=3".to_string(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for e in page["items"].as_array().unwrap() {
            seen.push(e["id"].as_i64().unwrap());
        }
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert!(seen.len() >= 9, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, no repeats");
}

#[tokio::test]
async fn dry_run_decides_and_records_but_never_acts() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("acted");
    let app = spawn_app(&format!(
        r#"
[engine]
dry_run = true

[actions.touch]
type = "command"
argv = ["touch", "{marker}"]

[targets.svc]
check = {{ type = "tcp", address = "127.0.0.1:{port}", interval = "100ms", timeout = "1s" }}
failure_threshold = 1
cooldown = "0s"
ladder = [{{ action = "touch", verify = "200ms" }}]
"#,
        marker = marker.display(),
        port = dead_port()
    ))
    .await;
    let incident = eventually(Duration::from_secs(30), "a dry-run attempt", || async {
        let (_, page) = app.get("/api/v1/incidents?target=svc").await;
        let i = page["items"].get(0)?.clone();
        let a = i["attempts"].get(0)?.clone();
        (a["outcome"] == "dry_run").then_some(i)
    })
    .await;
    assert_eq!(incident["attempts"][0]["dry_run"], true);
    assert!(!marker.exists(), "dry-run must not act");
    let (_, target) = app.get("/api/v1/targets/svc").await;
    assert_eq!(target["target"]["dry_run"], true);
}

#[tokio::test]
async fn probes_and_metrics_answer() {
    let app = spawn_app(OBSERVE_ONLY).await;
    assert_eq!(app.get("/live").await.0, 200);
    let (status, ready) = app.get("/ready").await;
    assert_eq!((status, ready["store"].as_str()), (200, Some("ok")));
    let (status, health) = app.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["targets"], 1);
    assert_eq!(health["store"], "sqlite");
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("autoheal_targets{phase="), "{text}");
    assert!(
        text.contains("# TYPE autoheal_incidents_opened counter"),
        "{text}"
    );
}

#[tokio::test]
async fn an_app_is_not_healed_while_its_database_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("app-restarted");
    let app = spawn_app(&format!(
        r#"
[actions.restart-app]
type = "command"
argv = ["touch", "{marker}"]

[targets.db]
check = {{ type = "tcp", address = "127.0.0.1:{db}", interval = "100ms", timeout = "1s" }}
failure_threshold = 1

[targets.app]
check = {{ type = "tcp", address = "127.0.0.1:{app}", interval = "100ms", timeout = "1s" }}
failure_threshold = 1
depends_on = ["db"]
ladder = [{{ action = "restart-app", verify = "1s" }}]
"#,
        marker = marker.display(),
        db = dead_port(),
        app = dead_port()
    ))
    .await;
    let held = app
        .first_event("app", "action_held", Duration::from_secs(30))
        .await;
    assert!(
        held["message"].as_str().unwrap().contains("depends on db"),
        "{held}"
    );
    assert!(
        !marker.exists(),
        "the app must not be restarted while db is down"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = spawn_app(OBSERVE_ONLY).await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/targets", "get"),
        ("/api/v1/targets/{name}", "get"),
        ("/api/v1/targets/{name}/{command}", "post"),
        ("/api/v1/incidents", "get"),
        ("/api/v1/incidents/{id}", "get"),
        ("/api/v1/events", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    assert!(doc["components"]["schemas"].get("Incident").is_some());
}

/// A discovered target (a container) may name a dependency that is
/// discovered only later; the dependency must hold it from then on.
#[tokio::test]
async fn a_dependency_discovered_after_its_dependent_still_holds_it() {
    use autoheal::supervisor::{Source, TargetSpec};
    use autoheal_core::{Input, Observation, Policy, Rung};
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("app-restarted");
    let app = spawn_app(&format!(
        r#"
[actions.restart-app]
type = "command"
argv = ["touch", "{marker}"]
"#,
        marker = marker.display(),
    ))
    .await;
    // Only the app has a ladder (db is observed only), so the marker can
    // only come from healing the app.
    let spec = |name: &str, depends_on: Vec<String>| {
        let mut policy = Policy {
            failure_threshold: 1,
            ..Policy::default()
        };
        if name == "app" {
            policy.ladder = vec![Rung {
                action: "restart-app".into(),
                verify: Duration::from_secs(60),
                repeat: 1,
            }];
        }
        TargetSpec {
            name: name.into(),
            kind: "none".into(),
            check: None,
            policy,
            depends_on,
            spec: serde_json::json!({}),
            source: Source::Discovered,
            own_actions: Vec::new(),
        }
    };
    // The dependent first, naming a target nobody knows yet.
    app.handle
        .upsert_target(spec("app", vec!["db".into()]))
        .await
        .unwrap();
    app.handle.upsert_target(spec("db", vec![])).await.unwrap();
    app.handle
        .external("db", Input::Observation(Observation::down("refused")))
        .await
        .unwrap();
    app.handle
        .external("app", Input::Observation(Observation::down("HTTP 502")))
        .await
        .unwrap();
    let held = app
        .first_event("app", "action_held", Duration::from_secs(10))
        .await;
    assert!(
        held["message"].as_str().unwrap().contains("depends on db"),
        "{held}"
    );
    assert!(
        !marker.exists(),
        "the app must not be healed while db is down"
    );
}

/// Checks are scheduled independently: a check that hangs until its timeout
/// does not hold back another target's checks, and is cut at its timeout.
#[tokio::test]
async fn a_hung_check_never_delays_another_targets_checks() {
    let app = spawn_app(&format!(
        r#"
[targets.slow]
check = {{ type = "exec", argv = ["sleep", "30"], interval = "100ms", timeout = "1s" }}

[targets.fast]
check = {{ type = "tcp", address = "127.0.0.1:{dead}", interval = "100ms", timeout = "1s" }}
"#,
        dead = dead_port()
    ))
    .await;
    let count = |v: &serde_json::Value| v["recent_checks"].as_array().map_or(0, Vec::len);
    let (fast, slow) = eventually(
        Duration::from_secs(20),
        "fast to be checked 5 times",
        || async {
            let (_, fast) = app.get("/api/v1/targets/fast").await;
            let (_, slow) = app.get("/api/v1/targets/slow").await;
            (count(&fast) >= 5).then_some((count(&fast), count(&slow)))
        },
    )
    .await;
    assert!(slow < fast, "slow {slow} checks, fast {fast}");
    let cut = eventually(
        Duration::from_secs(20),
        "the slow check to be cut",
        || async {
            let (_, slow) = app.get("/api/v1/targets/slow").await;
            slow["recent_checks"].as_array()?.first().cloned()
        },
    )
    .await;
    assert_eq!(cut["status"], "down", "{cut}");
}

/// Sends raw bytes and reads the answer until the server closes.
async fn raw(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before all is sent (431, 414).
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server answered and closed");
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of a raw answer.
fn raw_body(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").unwrap_or(("", ""));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

impl TestApp {
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }
    fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }
}

/// Issue 7 item 11: a page's "simple" cross-site request (no preflight)
/// cannot command the API.
#[tokio::test]
async fn a_write_without_a_json_content_type_is_refused_with_415() {
    let app = spawn_app(OBSERVE_ONLY).await;
    let url = format!("{}/api/v1/targets/db/quarantine", app.base);
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = app.client.post(&url).body("{}");
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let (status, body) = app.send(req).await;
        assert_eq!(status, 415, "{ct:?}: {body}");
        assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");
    }
    let (_, t) = app.get("/api/v1/targets/db").await;
    assert_ne!(t["target"]["phase"], "quarantined", "nothing was done");
    // Control: the same write as JSON (parameters allowed) is carried out.
    let req = app
        .client
        .post(&url)
        .header("content-type", "application/json; charset=utf-8");
    let (status, body) = app.send(req).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["target"]["phase"], "quarantined");
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_the_own_origin_accepted() {
    let app = spawn_app(OBSERVE_ONLY).await;
    let url = format!("{}/api/v1/targets/db/pause", app.base);
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let req = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("origin", origin);
        let (status, body) = app.send(req).await;
        assert_eq!(status, 403, "{origin}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
        let read = app
            .client
            .get(format!("{}/api/v1/targets", app.base))
            .header("origin", origin);
        assert_eq!(app.send(read).await.0, 403, "{origin} reads nothing");
    }
    let (_, t) = app.get("/api/v1/targets/db").await;
    assert_ne!(t["target"]["phase"], "paused", "nothing was done");
    let own = format!("http://{}", app.host());
    let req = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("origin", own);
    let (status, body) = app.send(req).await;
    assert_eq!(status, 202, "{body}");
}

/// DNS rebinding: the attacker's name in `Host` is refused; probes and
/// metrics answer any name (Docker, Kubernetes, Prometheus).
#[tokio::test]
async fn a_host_not_naming_the_server_is_refused_but_probes_answer_any_host() {
    let app = spawn_app(&format!(
        "[server]\nallowed_hosts = [\"autoheal.internal\"]\n{OBSERVE_ONLY}"
    ))
    .await;
    let port = app.host().rsplit_once(':').unwrap().1.to_string();
    let targets = format!("{}/api/v1/targets", app.base);
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("localhost.evil.example:{port}"),
    ] {
        let (status, body) = app
            .send(app.client.get(&targets).header("host", &host))
            .await;
        assert_eq!(status, 421, "{host}: {body}");
        assert_eq!(body["error"]["code"], "misdirected_request", "{body}");
        for probe in ["/health", "/live", "/ready", "/metrics"] {
            let r = app
                .client
                .get(format!("{}{probe}", app.base))
                .header("host", &host)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{probe} with Host {host}");
        }
    }
    for host in [
        app.host(),
        format!("localhost:{port}"),
        "autoheal.internal".to_string(),
        format!("autoheal.internal:{port}"),
    ] {
        let (status, body) = app
            .send(app.client.get(&targets).header("host", &host))
            .await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // Without a Host at all (HTTP/1.0): refused too.
    let answer = raw(&app.base, b"GET /api/v1/targets HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 421") || answer.starts_with("HTTP/1.1 421"),
        "{answer}"
    );
}

/// Issue 7 item 13: every error answer has the JSON error shape.
#[tokio::test]
async fn wrong_methods_unknown_routes_and_unparsable_requests_answer_the_json_error_shape() {
    let app = spawn_app(OBSERVE_ONLY).await;
    let r = app
        .client
        .patch(format!("{}/api/v1/targets/db", app.base))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    assert!(
        allow.as_deref().is_some_and(|a| a.contains("GET")),
        "{allow:?}"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    let (status, body) = app
        .send(
            app.client
                .get(format!("{}/api/v1/targets/db/pause", app.base)),
        )
        .await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    for path in ["/api/v1/nope", "/nope", "/api/v2/targets"] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    let host = app.host();
    let cases: [(Vec<u8>, &str, &str); 3] = [
        (
            b"GET / HTTP/1.1 garbage\r\n\r\n".to_vec(),
            "400",
            "bad_request",
        ),
        (
            format!(
                "GET /{} HTTP/1.1\r\nHost: {host}\r\n\r\n",
                "a".repeat(70_000)
            )
            .into_bytes(),
            "414",
            "uri_too_long",
        ),
        (
            format!(
                "GET /live HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
                "b".repeat(200_000)
            )
            .into_bytes(),
            "431",
            "headers_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let answer = raw(&app.base, &request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {}",
            &answer[..answer.len().min(300)]
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{answer}"
        );
        assert_eq!(raw_body(&answer)["error"]["code"], code, "{answer}");
    }
    // Control: a well-formed raw request is answered normally.
    let answer = raw(
        &app.base,
        format!("GET /live HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}
