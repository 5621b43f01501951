//! The binary against the real Docker engine of this machine, configured
//! only with docker-autoheal's environment variables (a drop-in swap).
//! Skips with a message when no engine answers, unless
//! AUTOHEAL_REQUIRE_DOCKER=1 (CI), where that is a failure.

mod common;

use axum::routing::post;
use common::docker::*;
use common::*;
use std::process::Command;
use std::sync::{Arc, Mutex};

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
    let _c = Containers(vec![name.clone()]);
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
    wait_status(&ah, &name, "up").await;
    let before = started_at(&name);

    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);

    let incident = recovered_incident(&ah, &name).await;
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
    let _c = Containers(vec![name.clone()]);
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
    wait_status(&ah, &name, "up").await;
    docker(&["stop", &name]);
    let n = name.clone();
    eventually(LONG, "the target to be stopped after docker stop", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            (ah.get(&format!("/api/v1/targets/{n}")).await["target"]["phase"] == "stopped")
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

/// Docker's StartedAt (RFC 3339, nanoseconds) in Unix milliseconds, the unit
/// of autoheal's recorded times.
fn started_at_ms(name: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&started_at(name))
        .unwrap()
        .timestamp_millis()
}

async fn incidents(ah: &Autoheal, target: &str) -> Vec<serde_json::Value> {
    ah.get(&format!("/api/v1/incidents?target={target}")).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The attempts of every incident of `target`, oldest first.
async fn attempts(ah: &Autoheal, target: &str) -> Vec<serde_json::Value> {
    let mut all: Vec<serde_json::Value> = incidents(ah, target)
        .await
        .iter()
        .flat_map(|i| i["attempts"].as_array().cloned().unwrap_or_default())
        .collect();
    all.sort_by_key(|a| a["started_at"].as_i64());
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_container_is_restarted_with_growing_gaps_then_quarantined_and_left_alone()
{
    if !engine_available() {
        return;
    }
    let label = unique("ah-e2e");
    let name = unique("ah-e2e-loop");
    let _c = Containers(vec![name.clone()]);
    // Unhealthy one health interval (1 s) after every start: no restart
    // can heal it.
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("{label}=true"),
        "--label",
        "autoheal.max_actions=3",
        "--label",
        "autoheal.cooldown=1s",
        "--label",
        "autoheal.backoff.initial=2s",
        "--label",
        "autoheal.backoff.max=30s",
        "--label",
        "autoheal.stop.timeout=1",
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        IMAGE,
    ]);
    let (ah, _work) = start_with_env(&label, &[]).await;

    let n = name.clone();
    let quarantined_at = eventually(LONG, "the target to be quarantined", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            let t = ah.get(&format!("/api/v1/targets/{n}")).await;
            if t["target"]["phase"] != "quarantined" {
                return None;
            }
            let events = ah.get(&format!("/api/v1/events?target={n}")).await;
            events["items"]
                .as_array()?
                .iter()
                .find(|e| e["kind"] == "quarantined")
                .and_then(|e| e["at"].as_i64())
        }
    })
    .await;
    let restarted_last = started_at(&name);

    let tries = attempts(&ah, &name).await;
    assert_eq!(tries.len(), 3, "max_actions=3: {tries:#?}");
    let at = |i: usize, k: &str| {
        tries[i][k]
            .as_i64()
            .unwrap_or_else(|| panic!("{k} of {:#}", tries[i]))
    };
    // Each gap after an action's end is at least its backoff (2 s, then
    // 4 s: doubling, jitter only adds), and the gaps between attempts grow.
    for (i, backoff_ms) in [(0, 2_000), (1, 4_000)] {
        let quiet = at(i + 1, "started_at") - at(i, "finished_at");
        assert!(
            quiet >= backoff_ms,
            "attempt {} began {quiet} ms after attempt {} ended; backoff is {backoff_ms} ms: {tries:#?}",
            i + 2,
            i + 1
        );
    }
    let gap1 = at(1, "started_at") - at(0, "started_at");
    let gap2 = at(2, "started_at") - at(1, "started_at");
    assert!(gap2 > gap1, "gaps grow: {gap1} ms then {gap2} ms");
    assert!(quarantined_at >= at(2, "finished_at"));
    let incident = &incidents(&ah, &name).await[0];
    assert!(
        incident["quarantine_reason"].is_string() && incident["closed_at"].is_null(),
        "{incident:#}"
    );

    // After the quarantine autoheal still sees the container unhealthy at
    // each reconcile (AUTOHEAL_INTERVAL=1) and does nothing about it.
    let n = name.clone();
    eventually(LONG, "three down observations after the quarantine", || {
        let ah = &ah;
        let n = n.clone();
        async move {
            let t = ah.get(&format!("/api/v1/targets/{n}")).await;
            let downs = t["recent_checks"]
                .as_array()?
                .iter()
                .filter(|c| c["status"] == "down" && c["at"].as_i64() > Some(quarantined_at))
                .count();
            (downs >= 3).then_some(())
        }
    })
    .await;
    assert_eq!(
        attempts(&ah, &name).await.len(),
        3,
        "no attempt after quarantine"
    );
    assert_eq!(
        started_at(&name),
        restarted_last,
        "not restarted after quarantine"
    );
    assert_eq!(
        ah.get(&format!("/api/v1/targets/{name}")).await["target"]["phase"],
        "quarantined"
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Health.Status}}", &name]),
        "unhealthy"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_that_exits_non_zero_is_started_again_and_verified_in_on_failure_mode() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-e2e");
    let name = unique("ah-e2e-exit");
    let _c = Containers(vec![name.clone()]);
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("{label}=true"),
        "--label",
        "autoheal.mode=on_failure",
        IMAGE,
    ]);
    let (ah, _work) = start_with_env(&label, &[]).await;
    wait_status(&ah, &name, "up").await;
    let before = started_at_ms(&name);

    // The image's command exits with code 3 once /tmp/crash exists.
    docker(&["exec", &name, "touch", "/tmp/crash"]);
    let incident = recovered_incident(&ah, &name).await;
    assert!(
        incident["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{incident:#}"
    );
    let tries = incident["attempts"].as_array().unwrap();
    assert_eq!(tries.len(), 1, "{incident:#}");
    assert_eq!(tries[0]["outcome"], "succeeded", "{incident:#}");
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &name]),
        "true"
    );
    let after = started_at_ms(&name);
    assert!(after > before, "started again: {before} → {after}");
    assert!(
        after >= tries[0]["started_at"].as_i64().unwrap() - 1_000,
        "by autoheal's attempt, not before it: {after} vs {:#}",
        tries[0]
    );
}

/// A container unhealthy from its first health check, healthy from its
/// second start on: the label's start period keeps autoheal's hands off it
/// at first; after the period one restart heals it.
#[tokio::test(flavor = "multi_thread")]
async fn a_container_is_not_restarted_inside_its_start_period_and_is_after_it() {
    if !engine_available() {
        return;
    }
    const PERIOD_MS: i64 = 5_000;
    let label = unique("ah-e2e");
    let name = unique("ah-e2e-slow");
    let _c = Containers(vec![name.clone()]);
    let (ah, _work) = start_with_env(&label, &[]).await;
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("{label}=true"),
        "--label",
        "autoheal.start_period=5s",
        "--label",
        "autoheal.stop.timeout=1",
        "--health-cmd",
        "test -e /tmp/second-start",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        IMAGE,
        "sh",
        "-c",
        "if [ -e /tmp/ran ]; then touch /tmp/second-start; fi; touch /tmp/ran; \
         trap 'exit 0' TERM; while :; do sleep 0.2 & wait $!; done",
    ]);
    let first_start = started_at_ms(&name);
    // Docker finds it unhealthy inside the period (its first health check,
    // after 1 s), before any restart: Docker's own health log says when.
    let n = name.clone();
    let failed_check_end = eventually(LONG, "Docker to find the container unhealthy", || {
        let n = n.clone();
        async move {
            let out = Command::new("docker")
                .args(["inspect", "-f", "{{json .State}}", &n])
                .output()
                .ok()?;
            let state: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let started = chrono::DateTime::parse_from_rfc3339(state["StartedAt"].as_str()?)
                .ok()?
                .timestamp_millis();
            if started != first_start || state["Health"]["Status"] != "unhealthy" {
                return None;
            }
            state["Health"]["Log"]
                .as_array()?
                .iter()
                .filter(|l| l["ExitCode"] != 0)
                .filter_map(|l| chrono::DateTime::parse_from_rfc3339(l["End"].as_str()?).ok())
                .map(|t| t.timestamp_millis())
                .min()
        }
    })
    .await;
    assert!(
        failed_check_end < first_start + PERIOD_MS,
        "the test needs a failed health check inside the start period ({} ms after the start)",
        failed_check_end - first_start
    );

    let incident = recovered_incident(&ah, &name).await;
    let opened = incident["opened_at"].as_i64().unwrap();
    let tries = incident["attempts"].as_array().unwrap();
    assert_eq!(tries.len(), 1, "{incident:#}");
    assert_eq!(tries[0]["outcome"], "succeeded", "{incident:#}");
    assert!(
        opened >= first_start + PERIOD_MS,
        "incident opened {} ms after the start, inside its 5 s start period: {incident:#}",
        opened - first_start
    );
    assert!(
        started_at_ms(&name) > first_start,
        "restarted after the period"
    );
    assert_eq!(incidents(&ah, &name).await.len(), 1);
}

/// docker-autoheal's `AUTOHEAL_START_PERIOD`: after autoheal starts, nothing
/// is judged for that long, even a container already unhealthy.
#[tokio::test(flavor = "multi_thread")]
async fn autoheal_start_period_leaves_an_unhealthy_container_alone_until_it_ends() {
    if !engine_available() {
        return;
    }
    const PERIOD_MS: i64 = 4_000;
    let label = unique("ah-e2e");
    let name = unique("ah-e2e-early");
    let _c = Containers(vec![name.clone()]);
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("{label}=true"),
        "--label",
        "autoheal.stop.timeout=1",
        "--health-cmd",
        "test -e /tmp/second-start",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        IMAGE,
        "sh",
        "-c",
        "if [ -e /tmp/ran ]; then touch /tmp/second-start; fi; touch /tmp/ran; \
         trap 'exit 0' TERM; while :; do sleep 0.2 & wait $!; done",
    ]);
    let n = name.clone();
    eventually(LONG, "Docker to find the container unhealthy", || {
        let n = n.clone();
        async move {
            let out = Command::new("docker")
                .args(["inspect", "-f", "{{.State.Health.Status}}", &n])
                .output()
                .ok()?;
            (String::from_utf8_lossy(&out.stdout).trim() == "unhealthy").then_some(())
        }
    })
    .await;
    let first_start = started_at_ms(&name);

    let (ah, _work) = start_with_env(&label, &[("AUTOHEAL_START_PERIOD", "4")]).await;
    let incident = recovered_incident(&ah, &name).await;
    let events = ah.get("/api/v1/events?limit=500").await;
    let autoheal_started = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "autoheal_started")
        .and_then(|e| e["at"].as_i64())
        .expect("autoheal_started event");
    let opened = incident["opened_at"].as_i64().unwrap();
    assert!(
        opened >= autoheal_started + PERIOD_MS,
        "incident opened {} ms after autoheal started, inside its 4 s start period: {incident:#}",
        opened - autoheal_started
    );
    let tries = incident["attempts"].as_array().unwrap();
    assert_eq!(tries.len(), 1, "{incident:#}");
    assert_eq!(tries[0]["outcome"], "succeeded", "{incident:#}");
    assert!(
        started_at_ms(&name) > first_start,
        "restarted after the period"
    );
}

/// Issue 10 item 6: containers are chosen for auto-heal through the API
/// without touching their labels: an unlabelled one is then healed, a
/// labelled one switched off is left alone, and the choices survive a
/// restart.
#[tokio::test(flavor = "multi_thread")]
async fn containers_chosen_through_the_api_are_healed_or_left_alone_whatever_their_labels() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-choice");
    let chosen = unique("ah-choice-on");
    let labelled = unique("ah-choice-off");
    let _c = Containers(vec![chosen.clone(), labelled.clone()]);
    docker(&["run", "-d", "--name", &chosen, IMAGE]);
    docker(&[
        "run",
        "-d",
        "--name",
        &labelled,
        "--label",
        &format!("{label}=true"),
        IMAGE,
    ]);
    let work = tempfile::tempdir().unwrap();
    let start = |work: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_autoheal"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(work.join("data"))
            .env("AUTOHEAL_LOG_FORMAT", "json")
            .env("AUTOHEAL_CONTAINER_LABEL", &label)
            .env("AUTOHEAL_INTERVAL", "1");
        Autoheal::spawn(cmd)
    };
    let mut ah = start(work.path()).await;
    wait_status(&ah, &labelled, "up").await;
    assert!(
        !names(&ah).await.contains(&chosen),
        "not labelled: not a target yet"
    );
    let list = ah.get("/api/v1/containers").await;
    let row = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == chosen.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{chosen} in {list}"));
    assert_eq!(row["supervised"], false);
    assert_eq!(row["autoheal"], serde_json::Value::Null);

    let (status, _, v) = put(&ah, &chosen, true).await;
    assert_eq!(status, 200, "{v}");
    let (status, _, v) = put(&ah, &labelled, false).await;
    assert_eq!(status, 200, "{v}");
    eventually(
        LONG,
        "the chosen container to be a target, the other not",
        || {
            let (chosen, labelled) = (chosen.clone(), labelled.clone());
            let ah = &ah;
            async move {
                let n = names(ah).await;
                (n.contains(&chosen) && !n.contains(&labelled)).then_some(())
            }
        },
    )
    .await;
    wait_status(&ah, &chosen, "up").await;

    // The chosen one is healed like a labelled one.
    let before = started_at(&chosen);
    docker(&["exec", &chosen, "touch", "/tmp/unhealthy"]);
    recovered_incident(&ah, &chosen).await;
    assert_ne!(started_at(&chosen), before, "restarted");
    // The one switched off is left alone, unhealthy.
    let before_off = started_at(&labelled);
    docker(&["exec", &labelled, "touch", "/tmp/unhealthy"]);
    eventually(
        LONG,
        "the switched-off container to turn unhealthy",
        || async {
            (docker(&["inspect", "-f", "{{.State.Health.Status}}", &labelled]) == "unhealthy")
                .then_some(())
        },
    )
    .await;

    // Both choices hold after a restart; the audit log has them.
    ah.terminate();
    drop(ah);
    let ah = start(work.path()).await;
    wait_status(&ah, &chosen, "up").await;
    assert!(!names(&ah).await.contains(&labelled));
    assert_eq!(started_at(&labelled), before_off, "never restarted");
    let events = ah.get("/api/v1/events?limit=500").await;
    let choices = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "config_changed" && e["data"]["section"] == "containers")
        .count();
    assert_eq!(choices, 2, "{events}");

    // Handed back to its labels: the labelled one is a target again.
    let (status, _, _) = ah
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/containers/{labelled}/autoheal"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    eventually(LONG, "the labelled container to be a target again", || {
        let labelled = labelled.clone();
        let ah = &ah;
        async move { names(ah).await.contains(&labelled).then_some(()) }
    })
    .await;
}

async fn names(ah: &Autoheal) -> Vec<String> {
    ah.get("/api/v1/targets").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

async fn put(
    ah: &Autoheal,
    name: &str,
    on: bool,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let path = format!("/api/v1/containers/{name}/autoheal");
    ah.send(
        reqwest::Method::PUT,
        &path,
        Some(serde_json::json!({ "enabled": on })),
        &[],
    )
    .await
}
