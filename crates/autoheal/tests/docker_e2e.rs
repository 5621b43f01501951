//! The binary against the real Docker engine of this machine, configured
//! only with docker-autoheal's environment variables (a drop-in swap).
//! Skips with a message when no engine answers, unless
//! AUTOHEAL_REQUIRE_DOCKER=1 (CI), where that is a failure.

mod common;

use axum::routing::post;
use common::*;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IMAGE: &str = "autoheal-test-busybox:latest";
const LONG: Duration = Duration::from_secs(90);

fn engine_available() -> bool {
    let ok = Command::new("docker")
        .args(["version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("AUTOHEAL_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "AUTOHEAL_REQUIRE_DOCKER=1 but no Docker engine answers"
        );
        eprintln!("skipped: no Docker engine reachable");
        return false;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../autoheal-docker/scripts/build-test-image.sh"
    );
    let built = Command::new("flock")
        .args(["/tmp/autoheal-test-image.lock", "sh", script])
        .status()
        .unwrap();
    assert!(built.success(), "building {IMAGE}");
    true
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn started_at(name: &str) -> String {
    docker(&["inspect", "-f", "{{.State.StartedAt}}", name])
}

/// Removes the container when the test ends, whatever happens.
struct Container(String);
impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// Starts autoheal with docker-autoheal's variables only (plus where to
/// listen and keep data).
async fn start_with_env(label: &str, extra: &[(&str, &str)]) -> (Autoheal, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autoheal"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(work.path().join("data"))
        .env("AUTOHEAL_LOG_FORMAT", "json")
        .env("AUTOHEAL_CONTAINER_LABEL", label)
        .env("AUTOHEAL_INTERVAL", "1");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    (Autoheal::spawn(cmd).await, work)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_labelled_container_is_restarted_verified_and_announced_like_docker_autoheal()
{
    if !engine_available() {
        return;
    }
    // A local stand-in for the Discord webhook docker-autoheal users point
    // WEBHOOK_URL at.
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let r = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::Json<serde_json::Value>| {
            let r = r.clone();
            async move {
                r.lock().unwrap().push(body.0);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let label = unique("ah-e2e");
    let name = unique("ah-e2e-web");
    let _c = Container(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("{label}=true"),
        IMAGE,
    ]);
    let (ah, _work) = start_with_env(
        &label,
        &[("WEBHOOK_URL", &hook), ("WEBHOOK_JSON_KEY", "content")],
    )
    .await;
    let n = name.clone();
    eventually(LONG, "the container to be discovered healthy", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            let t = ah.get(&format!("/api/v1/targets/{n}")).await;
            (t["target"]["last_status"] == "up").then_some(())
        }
    })
    .await;
    let before = started_at(&name);

    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);

    let n = name.clone();
    let incident = eventually(LONG, "the incident to close as recovered", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            let page = ah.get(&format!("/api/v1/incidents?target={n}")).await;
            let i = page["items"].get(0)?.clone();
            (i["resolution"] == "recovered").then_some(i)
        }
    })
    .await;
    assert_ne!(started_at(&name), before, "the container was restarted");
    assert_eq!(
        incident["attempts"].as_array().unwrap().len(),
        1,
        "{incident}"
    );
    assert_eq!(incident["attempts"][0]["outcome"], "succeeded");
    let id12 = docker(&["inspect", "-f", "{{.Id}}", &name])[..12].to_string();
    let expected = format!(
        "Container {name} ({id12}) found to be unhealthy. Successfully restarted the container!"
    );
    eventually(LONG, "docker-autoheal's webhook message", || {
        let received = received.clone();
        let expected = expected.clone();
        async move {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|b| b["content"] == expected.as_str())
                .then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_stopped_on_purpose_is_left_stopped() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-e2e");
    let name = unique("ah-e2e-stop");
    let _c = Container(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("{label}=true"),
        "--label",
        "autoheal.mode=both",
        IMAGE,
    ]);
    let (ah, _work) = start_with_env(&label, &[]).await;
    let n = name.clone();
    eventually(LONG, "the container to be discovered", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            (ah.get(&format!("/api/v1/targets/{n}")).await["target"]["last_status"] == "up")
                .then_some(())
        }
    })
    .await;
    docker(&["stop", &name]);
    let n = name.clone();
    eventually(LONG, "the target to be paused after docker stop", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            (ah.get(&format!("/api/v1/targets/{n}")).await["target"]["phase"] == "paused")
                .then_some(())
        }
    })
    .await;
    // Several reconciles later (AUTOHEAL_INTERVAL=1), it is still stopped
    // and no incident has an attempt.
    let n = name.clone();
    let events_before = ah.get(&format!("/api/v1/events?target={n}")).await["items"]
        .as_array()
        .unwrap()
        .len();
    eventually(LONG, "more events or time to pass", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            let t = ah.get(&format!("/api/v1/targets/{n}")).await;
            (t["recent_checks"].as_array().map(|c| c.len()).unwrap_or(0) > 0 || events_before > 0)
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &name]),
        "false"
    );
    let page = ah.get(&format!("/api/v1/incidents?target={name}")).await;
    for i in page["items"].as_array().unwrap() {
        assert!(
            i["attempts"].as_array().unwrap().is_empty(),
            "no action on a stopped container: {i}"
        );
    }
}
