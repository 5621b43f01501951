//! The Coolify seed flow end to end (issue 11 item 6), through the real
//! binary and the local fake of a Coolify instance: the documented preset
//! (HTTP HEAD to the application's URL, 2xx/3xx up, 4xx degraded, 5xx down;
//! 2 failures within the window; restart; still failing after the verify
//! time: redeploy), the token read from the environment. A 4xx never
//! heals; a 5xx restarts, then redeploys, each followed to its end on
//! Coolify; the application coming back closes the incident.

mod common;

#[path = "../../autoheal-plugins/tests/fake_coolify/mod.rs"]
mod fake_coolify;

use common::{eventually, write, Autoheal};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn the_coolify_seed_ladder_restarts_then_redeploys_and_leaves_a_4xx_alone() {
    let fake = fake_coolify::FakeCoolify::start().await;
    fake.set_reads_per_step(1);
    let app_uuid = fake.add_app("my-app", "running:unhealthy");

    // The application itself: its status is the test's to set.
    let status = Arc::new(AtomicU16::new(404));
    let s = status.clone();
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let s = s.clone();
            async move { axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        &format!(
            r#"[docker]
enabled = false

[actions.restart]
type = "coolify_restart"
application = "{app_uuid}"
base_url = "{base}"
token = {{ env = "COOLIFY_TOKEN" }}
poll = "1s"

[actions.redeploy]
type = "coolify_deploy"
application = "{app_uuid}"
base_url = "{base}"
token = {{ env = "COOLIFY_TOKEN" }}
poll = "1s"

[targets.my-app]
check = {{ type = "http", method = "HEAD", url = "{url}", interval = "200ms", timeout = "2s", follow_redirects = false }}
failure_threshold = 2
failure_window = "120s"
degraded_is_failure = false
cooldown = "2s"
backoff = {{ initial = "2s", max = "600s" }}
ladder = [{{ action = "restart", verify = "2s" }}, {{ action = "redeploy", verify = "30s" }}]
"#,
            base = fake.base_url(),
        ),
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_autoheal"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("AUTOHEAL_LOG_FORMAT", "json")
        .env("COOLIFY_TOKEN", fake_coolify::TOKEN);
    let app = Autoheal::spawn(cmd).await;
    let target = || async { app.get("/api/v1/targets/my-app").await["target"].clone() };

    // 4xx: degraded, seen several times, never a heal.
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    eventually(LONG, "five degraded checks", || {
        let (seen, target) = (&seen, &target);
        async move {
            let t = target().await;
            let mut seen = seen.lock().unwrap();
            if t["last_status"] == "degraded" {
                seen.insert(t["last_check_at"].as_i64().unwrap_or_default());
            }
            (seen.len() >= 5).then_some(())
        }
    })
    .await;
    assert_eq!(target().await["incident_id"], serde_json::Value::Null);
    assert_eq!(fake.requests().len(), 0, "Coolify was not called");

    // 5xx: restart, followed to finished; still failing: redeploy.
    status.store(503, Ordering::SeqCst);
    let restart = format!("/api/v1/applications/{app_uuid}/restart");
    eventually(LONG, "the restart on Coolify", || async {
        (fake.count("POST", &restart) + fake.count("GET", &restart) >= 1).then_some(())
    })
    .await;
    eventually(
        LONG,
        "the redeploy after the restart did not heal",
        || async {
            (fake.count("POST", "/api/v1/deploy") + fake.count("GET", "/api/v1/deploy") >= 1)
                .then_some(())
        },
    )
    .await;
    let restarts = fake.count("POST", &restart) + fake.count("GET", &restart);
    assert_eq!(restarts, 1, "restarted once before the redeploy");
    for d in fake.deployments(&app_uuid) {
        eventually(LONG, "each deployment followed to its end", || async {
            (fake.status(&d).as_deref() == Some("finished")).then_some(())
        })
        .await;
    }

    // Back: verified, the incident closes.
    status.store(200, Ordering::SeqCst);
    eventually(LONG, "the incident to close", || async {
        let i = app.get("/api/v1/incidents?target=my-app").await;
        i["items"][0]["closed_at"].is_i64().then_some(i)
    })
    .await;
    let i = app.get("/api/v1/incidents?target=my-app").await;
    let attempts = i["items"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{i}");
    assert_eq!(attempts[0]["action"], "restart");
    assert_eq!(attempts[1]["action"], "redeploy");
    assert!(
        !app.logs().contains(fake_coolify::TOKEN),
        "the token is in no log line"
    );
}
