//! The management API (issue 10 item 6): targets, actions, groups and the
//! policy defaults made through the API are checked exactly as the config
//! file is (errors as JSON pointers), stored sealed, survive restarts, take
//! effect without one, and never override what the file defines; export
//! and import; incidents acknowledged and annotated; every write audited
//! with what changed.

mod common;

use common::{eventually, write, Autoheal};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

fn file(extra: &str) -> String {
    format!(
        "[docker]\nenabled = false\n[targets.db]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }}\n{extra}"
    )
}

async fn names(app: &Autoheal) -> Vec<String> {
    app.get("/api/v1/targets").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

async fn target_phase(app: &Autoheal, name: &str) -> Option<String> {
    let v = app.get(&format!("/api/v1/targets/{name}")).await;
    v["target"]["last_status"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_made_through_the_api_is_checked_like_the_file_stored_and_runs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir.path().join("autoheal.toml"), &file(""));
    let data = dir.path().join("data");
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = up.local_addr().unwrap().to_string();
    let mut app = Autoheal::start(&config, &data).await;

    // Created: 201 with its version, checked at once (no restart).
    let body = json!({"name": "web", "check": {"type": "tcp", "address": addr, "interval": "200ms"}, "cooldown": "30s"});
    let (status, headers, v) = app
        .send(Method::POST, "/api/v1/targets", Some(body.clone()), &[])
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["origin"], "api");
    assert_eq!(v["version"], 1);
    assert_eq!(headers["etag"], "\"1\"");
    eventually(LONG, "web to be checked up", || async {
        (target_phase(&app, "web").await.as_deref() == Some("up")).then_some(())
    })
    .await;
    // A second create of the same name is a conflict.
    let (status, _, v) = app
        .send(Method::POST, "/api/v1/targets", Some(body), &[])
        .await;
    assert_eq!(status, 409, "{v}");

    // The file's own validation, answered as JSON pointers.
    let cases = [
        (
            json!({"check": {"type": "tcp", "address": addr}, "cooldown": "soon"}),
            "/cooldown",
        ),
        (
            json!({"check": {"type": "tcp", "address": addr, "interval": "100y"}}),
            "/check/interval",
        ),
        (
            json!({"check": {"type": "tcp", "address": addr}, "depends_on": ["nosuch"]}),
            "/depends_on/0",
        ),
        (
            json!({"check": {"type": "tcp", "address": addr}, "ladder": [{"action": "nosuch"}]}),
            "/ladder/0/action",
        ),
        (json!({"check": {"type": "carrier-pigeon"}}), "/check/type"),
        (json!({"colour": "blue"}), "/colour"),
        (
            json!({"check": {"type": "tcp", "address": null}}),
            "/check/address",
        ),
    ];
    for (bad, pointer) in cases {
        let (status, _, v) = app
            .send(Method::PUT, "/api/v1/targets/web", Some(bad.clone()), &[])
            .await;
        assert_eq!(status, 422, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "unprocessable");
        assert_eq!(v["error"]["pointer"], pointer, "{bad}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // Nothing of that was stored or applied.
    let (_, _, v) = app
        .send(Method::GET, "/api/v1/targets/web/config", None, &[])
        .await;
    assert_eq!(v["version"], 1, "{v}");
    assert_eq!(v["config"]["cooldown"], "30s");

    // Replaced with If-Match: an old version is refused, the current one
    // goes through.
    let new = json!({"check": {"type": "tcp", "address": "127.0.0.1:1", "interval": "200ms"}});
    let (status, _, v) = app
        .send(
            Method::PUT,
            "/api/v1/targets/web",
            Some(new.clone()),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(status, 412, "{v}");
    let (status, _, v) = app
        .send(
            Method::PUT,
            "/api/v1/targets/web",
            Some(new),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["version"], 2);
    eventually(
        LONG,
        "web to be checked down at its new address",
        || async { (target_phase(&app, "web").await.as_deref() == Some("down")).then_some(()) },
    )
    .await;

    // The file's objects are the file's.
    for method in [Method::PUT, Method::DELETE] {
        let (status, _, v) = app
            .send(
                method.clone(),
                "/api/v1/targets/db",
                Some(json!({"enabled": false})),
                &[],
            )
            .await;
        assert_eq!(status, 409, "{method} db: {v}");
        assert_eq!(v["error"]["code"], "defined_in_file");
    }
    let (_, _, v) = app
        .send(Method::GET, "/api/v1/targets/db/config", None, &[])
        .await;
    assert_eq!(v["origin"], "file");

    // Audited with before and after.
    let events = app.get("/api/v1/events?limit=500").await;
    let changes: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "config_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{events}");
    let updated = changes[0];
    assert_eq!(updated["data"]["change"], "updated");
    assert_eq!(updated["data"]["before"]["cooldown"], "30s");
    assert_eq!(updated["data"]["after"]["check"]["address"], "127.0.0.1:1");
    assert_eq!(updated["actor"], "local");

    // Survives a restart, and the file still wins a name it takes later.
    app.terminate();
    drop(app);
    let app = Autoheal::start(&config, &data).await;
    assert_eq!(names(&app).await, vec!["db", "web"]);
    let (_, _, v) = app
        .send(Method::GET, "/api/v1/targets/web/config", None, &[])
        .await;
    assert_eq!(v["version"], 2, "{v}");

    write(
        &config,
        &file("[targets.web]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }\nenabled = false\n"),
    );
    std::process::Command::new("kill")
        .args(["-HUP", &app.child.id().to_string()])
        .status()
        .unwrap();
    eventually(
        LONG,
        "the file's disabled web to win after SIGHUP",
        || async { (names(&app).await == vec!["db".to_string()]).then_some(()) },
    )
    .await;
    let (_, _, v) = app
        .send(Method::GET, "/api/v1/targets/web/config", None, &[])
        .await;
    assert_eq!(v["origin"], "file", "{v}");
    assert!(app.logs().contains("the file's is used"));

    // Back to the file without web: the API's web runs again.
    write(&config, &file(""));
    std::process::Command::new("kill")
        .args(["-HUP", &app.child.id().to_string()])
        .status()
        .unwrap();
    eventually(LONG, "the API's web to run again", || async {
        (names(&app).await == vec!["db".to_string(), "web".to_string()]).then_some(())
    })
    .await;

    // Deleted: no longer supervised, and gone after a restart.
    let (status, _, v) = app
        .send(Method::DELETE, "/api/v1/targets/web", None, &[])
        .await;
    assert_eq!(status, 204, "{v}");
    eventually(LONG, "web to be gone", || async {
        (names(&app).await == vec!["db".to_string()]).then_some(())
    })
    .await;
    let (status, _, _) = app
        .send(Method::DELETE, "/api/v1/targets/web", None, &[])
        .await;
    assert_eq!(status, 404);
    drop(up);
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_groups_and_defaults_compose_with_the_file_and_refuse_a_dangling_reference() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir.path().join("autoheal.toml"), &file(""));
    let app = Autoheal::start(&config, &dir.path().join("data")).await;

    let (status, _, v) = app
        .send(
            Method::POST,
            "/api/v1/actions",
            Some(json!({"name": "kick", "type": "command", "argv": ["true"]})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (status, _, v) = app
        .send(
            Method::PUT,
            "/api/v1/groups/edge",
            Some(json!({"failure_threshold": 5})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (status, _, v) = app
        .send(
            Method::PUT,
            "/api/v1/targets/api",
            Some(json!({"group": "edge", "check": {"type": "tcp", "address": "127.0.0.1:1", "interval": "1h"}, "ladder": [{"action": "kick", "verify": "5s"}]})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let detail = app.get("/api/v1/targets/api").await;
    assert_eq!(detail["target"]["ladder"], json!(["kick"]), "{detail}");

    // The action is still used: deleting it is refused, naming the user.
    let (status, _, v) = app
        .send(Method::DELETE, "/api/v1/actions/kick", None, &[])
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("targets.api.ladder[0].action"),
        "{v}"
    );

    // The workspace's defaults reach the file's targets too.
    let (status, _, v) = app
        .send(
            Method::PUT,
            "/api/v1/defaults",
            Some(json!({"cooldown": "7m"})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (_, _, v) = app
        .send(Method::GET, "/api/v1/targets/db/config", None, &[])
        .await;
    assert_eq!(v["config"]["cooldown"], "7m", "{v}");
    let (status, _, v) = app
        .send(
            Method::PUT,
            "/api/v1/defaults",
            Some(json!({"cooldown": 7})),
            &[],
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["pointer"], "/cooldown");

    let (_, _, list) = app.send(Method::GET, "/api/v1/actions", None, &[]).await;
    assert_eq!(list["items"][0]["name"], "kick");
    assert_eq!(list["items"][0]["origin"], "api");

    // Export, then import elsewhere: the same targets.
    let (status, headers, toml_text) = app
        .send(Method::GET, "/api/v1/export?format=toml", None, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/toml");
    let toml_text = toml_text.as_str().unwrap().to_string();
    assert!(toml_text.contains("[targets.api]"), "{toml_text}");
    let (_, _, json_export) = app
        .send(Method::GET, "/api/v1/export?format=json", None, &[])
        .await;
    assert_eq!(json_export["targets"]["api"]["group"], "edge");

    let dir2 = tempfile::tempdir().unwrap();
    let config2 = write(
        &dir2.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n",
    );
    let other = Autoheal::start(&config2, &dir2.path().join("data")).await;
    // A bad object: nothing is imported, the pointer names it.
    let mut bad = json_export.clone();
    bad["targets"]["api"]["cooldown"] = json!("soon");
    let (status, _, v) = other
        .send(Method::POST, "/api/v1/import", Some(bad), &[])
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["pointer"], "/targets/api/cooldown", "{v}");
    assert_eq!(names(&other).await, Vec::<String>::new());
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/import", other.base))
        .bearer_auth(&other.token)
        .header("content-type", "application/toml")
        .body(toml_text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let counts: Value = r.json().await.unwrap();
    assert_eq!(counts["targets"], 2, "{counts}");
    assert_eq!(counts["actions"], 1, "{counts}");
    assert_eq!(names(&other).await, vec!["api", "db"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_an_object_are_sealed_in_the_store_and_redacted_in_answers() {
    let canary = "canary-header-value-1b7e55";
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir.path().join("autoheal.toml"), &file(""));
    let data = dir.path().join("data");
    let app = Autoheal::start(&config, &data).await;
    let (status, _, v) = app
        .send(
            Method::PUT,
            "/api/v1/targets/secretive",
            Some(json!({"check": {"type": "http", "url": "http://127.0.0.1:1/", "interval": "1h", "headers": {"Authorization": canary}}})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert!(!v.to_string().contains(canary), "{v}");
    for path in [
        "/api/v1/targets/secretive/config",
        "/api/v1/targets/secretive",
        "/api/v1/events?limit=500",
        "/api/v1/export?format=json",
    ] {
        let (_, _, v) = app.send(Method::GET, path, None, &[]).await;
        assert!(!v.to_string().contains(canary), "{path}: {v}");
    }
    assert!(!app.logs().contains(canary));
    // Not in plain text anywhere in the database's files.
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{} holds the canary",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_are_acknowledged_once_and_annotated() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n[targets.down]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"100ms\" }\nfailure_threshold = 1\n",
    );
    let app = Autoheal::start(&config, &dir.path().join("data")).await;
    let id = eventually(LONG, "an incident", || async {
        app.get("/api/v1/incidents").await["items"][0]["id"].as_i64()
    })
    .await;
    let path = format!("/api/v1/incidents/{id}/acknowledge");
    let (status, _, v) = app.send(Method::POST, &path, Some(json!({})), &[]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["acknowledged_by"], "local");
    let at = v["acknowledged_at"].as_i64().unwrap();
    let (_, _, v) = app.send(Method::POST, &path, Some(json!({})), &[]).await;
    assert_eq!(v["acknowledged_at"].as_i64(), Some(at), "the first is kept");

    let notes = format!("/api/v1/incidents/{id}/notes");
    let (status, _, v) = app
        .send(
            Method::POST,
            &notes,
            Some(json!({"text": "looking at the disk"})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    for bad in [
        json!({"text": ""}),
        json!({"text": "x".repeat(2001)}),
        json!({"txt": "a"}),
    ] {
        let (status, _, v) = app.send(Method::POST, &notes, Some(bad), &[]).await;
        assert_eq!(status, 422, "{v}");
    }
    let events = app
        .get(&format!("/api/v1/events?incident={id}&limit=500"))
        .await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "incident_acknowledged")
            .count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"incident_annotated"), "{kinds:?}");
    let (status, _, _) = app
        .send(
            Method::POST,
            "/api/v1/incidents/999999/acknowledge",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_write_with_an_idempotency_key_is_carried_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir.path().join("autoheal.toml"), &file(""));
    let data = dir.path().join("data");
    let mut app = Autoheal::start(&config, &data).await;
    let body = json!({"name": "once", "check": {"type": "tcp", "address": "127.0.0.1:1", "interval": "1h"}});
    let key = [("idempotency-key", "3f0d6a52-create-once")];
    let (status, headers, first) = app
        .send(Method::POST, "/api/v1/targets", Some(body.clone()), &key)
        .await;
    assert_eq!(status, 201, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    // The retry: the same answer, no second change (a bare POST would be
    // 409: it exists).
    let (status, headers, again) = app
        .send(Method::POST, "/api/v1/targets", Some(body.clone()), &key)
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(again, first);
    let (status, _, _) = app
        .send(Method::POST, "/api/v1/targets", Some(body.clone()), &[])
        .await;
    assert_eq!(status, 409, "without the key it is a second create");
    // The same key for another request is refused.
    let mut other = body.clone();
    other["name"] = json!("twice");
    let (status, _, v) = app
        .send(Method::POST, "/api/v1/targets", Some(other), &key)
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "idempotency_key_reused");
    let (status, _, v) = app
        .send(
            Method::POST,
            "/api/v1/targets",
            Some(body.clone()),
            &[("idempotency-key", "")],
        )
        .await;
    assert_eq!(status, 400, "{v}");

    // A key made with a retried request is made once, and the retry gets
    // the same key back, also after a restart.
    let kreq = json!({"name": "ci"});
    let kkey = [("idempotency-key", "make-the-ci-key")];
    let (status, _, made) = app
        .send(Method::POST, "/api/v1/keys", Some(kreq.clone()), &kkey)
        .await;
    assert_eq!(status, 201, "{made}");
    app.terminate();
    drop(app);
    let app = Autoheal::start(&config, &data).await;
    let (status, headers, again) = app
        .send(Method::POST, "/api/v1/keys", Some(kreq), &kkey)
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["key"], made["key"]);
    let keys = app.get("/api/v1/keys").await;
    let named_ci = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] == "ci")
        .count();
    assert_eq!(named_ci, 1, "{keys}");
    // Kept sealed: the key is in no database file in plain text.
    let secret = made["key"].as_str().unwrap();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the key",
            path.display()
        );
    }
    let events = app.get("/api/v1/events?limit=500").await;
    let creates = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "config_changed" && e["data"]["name"] == "once")
        .count();
    assert_eq!(creates, 1, "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn target_and_event_lists_are_filtered_sorted_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra = String::new();
    for name in ["api-1", "api-2", "api-3", "web"] {
        extra.push_str(&format!(
            "[targets.{name}]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }}\n"
        ));
    }
    extra.push_str("[targets.none]\n");
    let config = write(&dir.path().join("autoheal.toml"), &file(&extra));
    let app = Autoheal::start(&config, &dir.path().join("data")).await;
    let list = |q: &'static str| {
        let app = &app;
        async move {
            let (status, _, v) = app
                .send(Method::GET, &format!("/api/v1/targets{q}"), None, &[])
                .await;
            let names: Vec<String> = v["items"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| t["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (status, names, v["next_after"].clone())
        }
    };
    let (_, all, next) = list("").await;
    assert_eq!(all, ["api-1", "api-2", "api-3", "db", "none", "web"]);
    assert_eq!(next, Value::Null);
    assert_eq!(list("?q=api").await.1, ["api-1", "api-2", "api-3"]);
    assert_eq!(list("?kind=none").await.1, ["none"]);
    let (_, page1, next) = list("?limit=2").await;
    assert_eq!(page1, ["api-1", "api-2"]);
    assert_eq!(next, "api-2");
    let (_, page2, _) = list("?limit=2&after=api-2").await;
    assert_eq!(page2, ["api-3", "db"]);
    let (_, by_phase, _) = list("?sort=phase").await;
    assert_eq!(by_phase.len(), 6);
    for bad in [
        "?sort=colour",
        "?limit=0",
        "?sort=phase&after=a",
        "?colour=red",
    ] {
        assert_eq!(list(bad).await.0, 400, "{bad}");
    }

    // Events by kind and by actor.
    let (status, _, _) = app
        .send(
            Method::POST,
            "/api/v1/targets/web/pause",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, 202);
    let events = app.get("/api/v1/events?actor=local&limit=500").await;
    let items = events["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|e| e["actor"] == "local"), "{events}");
    let started = app.get("/api/v1/events?kind=autoheal_started").await;
    let items = started["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{started}");
    assert_eq!(items[0]["kind"], "autoheal_started");
}

/// A local webhook receiver: answers 200 to every request, counts them.
async fn receiver() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                // Up to the end of the headers and the (small) body.
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, calls)
}

/// Issue 10 item 4: a workspace other than the default holds its own
/// targets and actions, named as it likes (the default's `web` and its
/// `web` are two targets), healed under their own policy, its incidents and
/// events its own; it may not hold what reaches autoheal's host; its
/// objects survive a restart.
#[tokio::test(flavor = "multi_thread")]
async fn another_workspace_holds_its_own_targets_healed_and_recorded_apart() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write(
        &dir.path().join("autoheal.toml"),
        &file(
            "[targets.web]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }\n",
        ),
    );
    common::cli(&["workspace", "add", "team"], &data, "");
    common::cli(
        &[
            "user",
            "add",
            "bob",
            "--role",
            "owner",
            "--workspace",
            "team",
        ],
        &data,
        "correct horse battery\n",
    );
    let mut app = Autoheal::start(&config, &data).await;
    let team = app.sign_in_key("bob", "correct horse battery").await;
    let (hook_port, calls) = receiver().await;
    let closed = common::free_port();

    // The team's own `hook` and `web`, beside the default's `web`.
    let (status, _, v) = app
        .send_as(
            &team,
            Method::POST,
            "/api/v1/actions",
            Some(json!({"name": "hook", "type": "webhook", "url": format!("http://127.0.0.1:{hook_port}/fix")})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (status, _, v) = app
        .send_as(
            &team,
            Method::POST,
            "/api/v1/targets",
            Some(json!({
                "name": "web",
                "check": {"type": "tcp", "address": format!("127.0.0.1:{closed}"), "interval": "200ms", "timeout": "1s"},
                "ladder": [{"action": "hook", "verify": "1h"}],
            })),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["name"], "web");

    // Healed under its own policy, with its own action.
    let incident = eventually(LONG, "the team's web to be healed", || async {
        let (_, _, v) = app
            .send_as(
                &team,
                Method::GET,
                "/api/v1/incidents?target=web",
                None,
                &[],
            )
            .await;
        let first = v["items"].as_array()?.first()?.clone();
        (calls.load(Ordering::SeqCst) >= 1).then_some(first)
    })
    .await;
    assert_eq!(incident["target"], "web", "{incident}");
    let id = incident["id"].as_i64().unwrap();

    // Each workspace sees its own `web` only, by its name.
    let (_, _, mine) = app
        .send_as(&team, Method::GET, "/api/v1/targets", None, &[])
        .await;
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{mine}");
    assert_eq!(items[0]["name"], "web");
    assert_eq!(items[0]["ladder"], json!(["hook"]));
    let (_, _, detail) = app
        .send_as(&team, Method::GET, "/api/v1/targets/web", None, &[])
        .await;
    assert_eq!(
        detail["spec"]["check"]["address"],
        format!("127.0.0.1:{closed}"),
        "{detail}"
    );
    let theirs = app.get("/api/v1/targets/web").await;
    assert_eq!(
        theirs["spec"]["check"]["address"], "127.0.0.1:1",
        "{theirs}"
    );
    assert_eq!(names(&app).await, ["db", "web"]);
    assert!(theirs["target"]["incident_id"].is_null(), "{theirs}");

    // Its incident and events are its own, named without any prefix.
    let (status, _, _) = app
        .send(Method::GET, &format!("/api/v1/incidents/{id}"), None, &[])
        .await;
    assert_eq!(status, 404, "the default workspace does not see it");
    let (_, _, events) = app
        .send_as(&team, Method::GET, "/api/v1/events?target=web", None, &[])
        .await;
    let events = events["items"].as_array().unwrap().clone();
    assert!(
        events.iter().any(|e| e["kind"] == "action_started"),
        "{events:?}"
    );
    for e in &events {
        assert_eq!(e["target"], "web", "{e}");
        assert!(!e["message"].as_str().unwrap().contains(":web"), "{e}");
    }
    let (_, _, ours) = app
        .send(Method::GET, "/api/v1/events?limit=500", None, &[])
        .await;
    assert!(
        !ours["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["incident_id"].as_i64() == Some(id)),
        "the default workspace's events hold none of the team's"
    );
    // The team's operators command the team's web, not the default's.
    let (status, _, v) = app
        .send_as(
            &team,
            Method::POST,
            "/api/v1/targets/web/pause",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["target"]["phase"], "paused", "{v}");
    assert_ne!(
        app.get("/api/v1/targets/web").await["target"]["phase"],
        "paused"
    );

    // What reaches autoheal's host stays the default workspace's.
    let refused = [
        (
            "/api/v1/targets",
            json!({"name": "job", "check": {"type": "exec", "argv": ["true"]}}),
            "/check/type",
        ),
        (
            "/api/v1/actions",
            json!({"name": "sh", "type": "command", "argv": ["true"]}),
            "/type",
        ),
    ];
    for (path, body, pointer) in refused {
        let (status, _, v) = app
            .send_as(&team, Method::POST, path, Some(body), &[])
            .await;
        assert_eq!(status, 422, "{path}: {v}");
        assert_eq!(v["error"]["pointer"], pointer, "{v}");
    }
    // The default workspace may still.
    let (status, _, v) = app
        .send(
            Method::POST,
            "/api/v1/actions",
            Some(json!({"name": "sh", "type": "command", "argv": ["true"]})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");

    // After a restart the team's objects run again, still apart, with the
    // state they were left in (its incident; the phase may move on, as a
    // failed verification quarantines a paused target too).
    let (_, _, before) = app
        .send_as(&team, Method::GET, "/api/v1/targets/web", None, &[])
        .await;
    let incident_before = before["target"]["incident_id"].clone();
    assert!(incident_before.is_i64(), "{before}");
    assert!(app.terminate().success());
    let app = Autoheal::start(&config, &data).await;
    let (_, _, mine) = app
        .send_as(&team, Method::GET, "/api/v1/targets", None, &[])
        .await;
    assert_eq!(mine["items"][0]["name"], "web", "{mine}");
    assert_eq!(mine["items"][0]["ladder"], json!(["hook"]), "{mine}");
    assert_eq!(mine["items"][0]["incident_id"], incident_before, "{mine}");
    assert!(
        ["paused", "quarantined"].contains(&mine["items"][0]["phase"].as_str().unwrap_or("")),
        "{mine}"
    );
    let (_, _, exported) = app
        .send_as(&team, Method::GET, "/api/v1/export?format=json", None, &[])
        .await;
    assert!(exported["targets"]["web"].is_object(), "{exported}");
    assert!(exported["targets"].get("db").is_none(), "{exported}");

    // Deleted: gone from the team, the default's web untouched.
    let (status, _, v) = app
        .send_as(&team, Method::DELETE, "/api/v1/targets/web", None, &[])
        .await;
    assert_eq!(status, 204, "{v}");
    let (_, _, mine) = app
        .send_as(&team, Method::GET, "/api/v1/targets", None, &[])
        .await;
    assert_eq!(mine["items"], json!([]), "{mine}");
    assert_eq!(names(&app).await, ["db", "web"]);
}
