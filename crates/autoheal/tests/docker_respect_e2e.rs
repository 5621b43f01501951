//! Issue 8: autoheal never fights the operator, compose or Docker itself,
//! and keeps healing after every deploy. Each case runs the binary against
//! the real engine with its control case, which must still be healed (so a
//! test cannot pass by autoheal doing nothing). Skips without an engine
//! unless AUTOHEAL_REQUIRE_DOCKER=1.

mod common;

use common::docker::*;
use common::*;
use std::path::Path;
use std::process::Command;

async fn start(label: &str, data: &Path) -> Autoheal {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autoheal"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("AUTOHEAL_LOG_FORMAT", "json")
        .env("AUTOHEAL_CONTAINER_LABEL", label)
        .env("AUTOHEAL_INTERVAL", "1");
    Autoheal::spawn(cmd).await
}

/// A target name in a URL (a compose service's is `project/service`).
fn enc(name: &str) -> String {
    name.replace('/', "%2F")
}

async fn tgt(ah: &Autoheal, name: &str) -> serde_json::Value {
    ah.get(&format!("/api/v1/targets/{}", enc(name))).await["target"].clone()
}

async fn wait_up(ah: &Autoheal, name: &str) {
    eventually(LONG, &format!("target {name} to be up"), || async {
        (tgt(ah, name).await["last_status"] == "up").then_some(())
    })
    .await;
}

fn state(name: &str, field: &str) -> String {
    docker(&["inspect", "-f", &format!("{{{{.State.{field}}}}}"), name])
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Docker's own record of the container's events since `since` (Unix s).
fn docker_events(name: &str, since: i64) -> Vec<String> {
    docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(now_s() + 1).to_string(),
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

async fn phase(ah: &Autoheal, name: &str) -> String {
    tgt(ah, name).await["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_phase(ah: &Autoheal, name: &str, want: &str) {
    eventually(LONG, &format!("{name} to be {want}"), || async {
        (phase(ah, name).await == want).then_some(())
    })
    .await;
}

/// Up, and not stopped (after a start or unpause).
async fn wait_running_up(ah: &Autoheal, name: &str) {
    eventually(LONG, &format!("{name} to be up and running"), || async {
        let t = tgt(ah, name).await;
        (t["last_status"] == "up" && t["phase"] != "stopped").then_some(())
    })
    .await;
}

async fn incidents(ah: &Autoheal, name: &str) -> Vec<serde_json::Value> {
    ah.get(&format!("/api/v1/incidents?target={}&limit=500", enc(name)))
        .await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn events(ah: &Autoheal, name: &str) -> Vec<serde_json::Value> {
    ah.get(&format!("/api/v1/events?target={}&limit=500", enc(name)))
        .await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn attempts(ah: &Autoheal, name: &str) -> usize {
    incidents(ah, name)
        .await
        .iter()
        .map(|i| i["attempts"].as_array().map_or(0, Vec::len))
        .sum()
}

/// The control: `name` is made unhealthy and must be restarted by autoheal
/// (its incidents grow by one recovered incident with an attempt).
async fn control_is_healed(ah: &Autoheal, name: &str) {
    control_of_target_is_healed(ah, name, name).await
}

/// The same for container `name` of target `target` (a compose service):
/// one more attempt that succeeded, the container restarted and up again
/// (the incident itself closes once the flap window has passed).
async fn control_of_target_is_healed(ah: &Autoheal, target: &str, name: &str) {
    let before = started_at(name);
    let succeeded = |i: &[serde_json::Value]| {
        i.iter()
            .flat_map(|i| i["attempts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["outcome"] == "succeeded")
            .count()
    };
    let done_before = succeeded(&incidents(ah, target).await);
    docker(&["exec", name, "touch", "/tmp/unhealthy"]);
    eventually(
        LONG,
        &format!("the control {name} to be healed"),
        || async {
            let done = succeeded(&incidents(ah, target).await);
            let up = tgt(ah, target).await["last_status"] == "up";
            (done > done_before && up && started_at(name) != before).then_some(())
        },
    )
    .await;
}

/// A health probe that takes half a second, as a `curl` HEALTHCHECK does.
const SLOW_PROBE: &[&str] = &[
    "--health-cmd",
    "sleep 0.5; test ! -e /tmp/unhealthy",
    "--health-interval",
    "1s",
    "--health-timeout",
    "3s",
    "--health-retries",
    "1",
];

fn run_labelled(name: &str, label: &str, extra: &[&str], cmd: &[&str]) {
    let label = format!("{label}=true");
    let mut args = vec!["run", "-d", "--name", name, "--label", &label];
    args.extend_from_slice(extra);
    args.push(IMAGE);
    args.extend_from_slice(cmd);
    docker(&args);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_stop_or_kill_during_a_slow_health_probe_is_never_undone() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let name = unique("ah-i8-probe");
    let control = unique("ah-i8-ctl");
    let _c = Containers(vec![name.clone(), control.clone()]);
    let mut extra = vec!["--label", "autoheal.mode=both"];
    extra.extend_from_slice(SLOW_PROBE);
    run_labelled(&name, &label, &extra, &[]);
    run_labelled(&control, &label, &extra, &[]);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;
    wait_up(&ah, &name).await;
    wait_up(&ah, &control).await;
    let since = now_s();

    // Stops and kills while probes are in flight (half of every second).
    let rounds = [
        ["stop", "-t", "3"],
        ["kill", "-s", "KILL"],
        ["stop", "-t", "3"],
    ];
    for (i, how) in rounds.iter().enumerate() {
        docker(&[how[0], how[1], how[2], &name]);
        wait_phase(&ah, &name, "stopped").await;
        if i + 1 < rounds.len() {
            docker(&["start", &name]);
            wait_running_up(&ah, &name).await;
        }
    }
    // Control, after the last stop: a neighbour is still healed. Anything
    // autoheal had decided about the stopped one has acted by now.
    control_is_healed(&ah, &control).await;

    assert_eq!(
        state(&name, "Running"),
        "false",
        "the stopped container runs again"
    );
    assert_eq!(
        attempts(&ah, &name).await,
        0,
        "{:#?}",
        incidents(&ah, &name).await
    );
    let docker_saw = docker_events(&name, since);
    assert!(
        !docker_saw.iter().any(|a| a == "restart"),
        "autoheal restarted a stopped container: {docker_saw:?}"
    );
    assert_eq!(
        docker_saw.iter().filter(|a| *a == "start").count(),
        rounds.len() - 1,
        "only the test started it: {docker_saw:?}"
    );
    // The record says stopped, never paused.
    let ev = events(&ah, &name).await;
    assert!(
        ev.iter().any(|e| e["kind"] == "stopped"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("stopped (by the user or by compose)")),
        "{ev:#?}"
    );
    assert!(
        !ev.iter()
            .any(|e| e["message"].as_str().unwrap().contains("pause")),
        "{ev:#?}"
    );
}

/// SIGTERM: fail the health check while draining for 5 s, then exit 0.
const DRAIN: &[&str] = &[
    "/bin/sh",
    "-c",
    "rm -f /tmp/unhealthy; trap 'touch /tmp/unhealthy; sleep 5; exit 0' TERM; while :; do sleep 0.2 & wait $!; done",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_drain_under_docker_stop_is_not_restarted_mid_stop() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let name = unique("ah-i8-drain");
    let control = unique("ah-i8-ctl");
    let _c = Containers(vec![name.clone(), control.clone()]);
    run_labelled(&name, &label, &["--label", "autoheal.mode=both"], DRAIN);
    run_labelled(&control, &label, &[], &[]);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;
    wait_up(&ah, &name).await;
    wait_up(&ah, &control).await;
    let since = now_s();

    // Blocks until the container exited (5 s of drain).
    docker(&["stop", "-t", "15", &name]);
    assert_eq!(state(&name, "ExitCode"), "0");
    let docker_saw = docker_events(&name, since);
    assert!(
        docker_saw.iter().any(|a| a == "health_status: unhealthy"),
        "the drain failed its health check (the case under test): {docker_saw:?}"
    );
    wait_phase(&ah, &name, "stopped").await;
    control_is_healed(&ah, &control).await;

    assert_eq!(state(&name, "Running"), "false", "docker stop was undone");
    assert_eq!(
        attempts(&ah, &name).await,
        0,
        "{:#?}",
        incidents(&ah, &name).await
    );
    let docker_saw = docker_events(&name, since);
    assert!(
        !docker_saw.iter().any(|a| a == "restart" || a == "start"),
        "{docker_saw:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_container_is_left_alone_and_healed_again_once_unpaused() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let name = unique("ah-i8-pause");
    let control = unique("ah-i8-ctl");
    let _c = Containers(vec![name.clone(), control.clone()]);
    run_labelled(&name, &label, &[], &[]);
    run_labelled(&control, &label, &[], &[]);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;
    wait_up(&ah, &name).await;
    wait_up(&ah, &control).await;
    let before = started_at(&name);

    docker(&["pause", &name]);
    wait_phase(&ah, &name, "stopped").await;
    let ev = events(&ah, &name).await;
    assert!(
        ev.iter()
            .any(|e| e["kind"] == "stopped"
                && e["message"].as_str().unwrap().contains("docker pause")),
        "the record says it is paused by docker pause: {ev:#?}"
    );
    // Docker calls a frozen container unhealthy (its probe cannot run).
    eventually(
        LONG,
        "Docker to call the paused container unhealthy",
        || async { (state(&name, "Health.Status") == "unhealthy").then_some(()) },
    )
    .await;
    // Reconciles (every second) have seen it since: a neighbour's heal takes
    // longer than one.
    control_is_healed(&ah, &control).await;
    assert_eq!(state(&name, "Paused"), "true");
    assert_eq!(
        started_at(&name),
        before,
        "a paused container was restarted"
    );
    assert_eq!(
        attempts(&ah, &name).await,
        0,
        "{:#?}",
        incidents(&ah, &name).await
    );

    // Control: unpaused, it is healed as any other.
    docker(&["unpause", &name]);
    wait_running_up(&ah, &name).await;
    control_is_healed(&ah, &name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dockers_restart_policy_is_left_to_restart_a_crash_loop_which_is_recorded_and_quarantined()
{
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let name = unique("ah-i8-always");
    let control = unique("ah-i8-nopolicy");
    let _c = Containers(vec![name.clone(), control.clone()]);
    let crash = ["/bin/sh", "-c", "sleep 1; exit 1"];
    let labels = [
        "--label",
        "autoheal.mode=on_failure",
        "--label",
        "autoheal.max_actions=2",
        "--label",
        "autoheal.cooldown=1s",
        "--label",
        "autoheal.backoff.initial=1s",
    ];
    let mut with_policy = labels.to_vec();
    with_policy.extend_from_slice(&["--restart", "always"]);
    let since = now_s();
    run_labelled(&name, &label, &with_policy, &crash);
    run_labelled(&control, &label, &labels, &crash);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;

    // The loop goes on: recorded as incidents, then quarantined.
    wait_phase(&ah, &name, "quarantined").await;
    wait_phase(&ah, &control, "quarantined").await;
    assert!(!incidents(&ah, &name).await.is_empty());
    let restart_count: u32 = docker(&["inspect", "-f", "{{.RestartCount}}", &name])
        .parse()
        .unwrap();
    assert!(restart_count >= 2, "Docker restarted it: {restart_count}");
    let docker_saw = docker_events(&name, since);
    assert!(
        !docker_saw.iter().any(|a| a == "restart" || a == "kill"),
        "autoheal restarted a container Docker's policy restarts: {docker_saw:?}"
    );
    // Control: without a restart policy, autoheal did restart it.
    let control_saw = docker_events(&control, since);
    assert!(
        control_saw.iter().any(|a| a == "restart"),
        "the control was restarted by autoheal: {control_saw:?}"
    );
}

/// `docker compose` (v2), or the standalone `docker-compose` where the
/// plugin is absent.
fn compose_cmd() -> Command {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if v2 {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new("docker-compose")
    }
}

fn compose(dir: &Path, project: &str, args: &[&str], env: &[(&str, &str)]) {
    let mut cmd = compose_cmd();
    cmd.arg("-p")
        .arg(project)
        .arg("-f")
        .arg(dir.join("compose.yaml"))
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "docker compose {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Project(String, std::path::PathBuf);
impl Drop for Project {
    fn drop(&mut self) {
        let _ = compose_cmd()
            .args(["-p", &self.0, "-f"])
            .arg(self.1.join("compose.yaml"))
            .args(["down", "-t", "0"])
            .output();
    }
}

fn service_container(project: &str, service: &str) -> String {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compose_service_is_healed_after_every_deploy_that_re_creates_it() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let project = unique("ahi8c").replace('-', "");
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("compose.yaml"),
        &format!(
            "services:\n  web:\n    image: {IMAGE}\n    labels:\n      {label}: \"true\"\n      autoheal.cooldown: 1s\n      autoheal.backoff.initial: 1s\n    environment:\n      DEPLOY: \"${{DEPLOY}}\"\n    stop_grace_period: 2s\n"
        ),
    );
    let _p = Project(project.clone(), dir.path().to_path_buf());
    let target_name = format!("{project}/web");
    compose(dir.path(), &project, &["up", "-d"], &[("DEPLOY", "0")]);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;
    wait_up(&ah, &target_name).await;

    for deploy in 1..=4 {
        let old = service_container(&project, "web");
        // A change: compose stops the old container and creates a new one.
        compose(
            dir.path(),
            &project,
            &["up", "-d"],
            &[("DEPLOY", &deploy.to_string())],
        );
        let new = service_container(&project, "web");
        assert_ne!(new, old, "deploy {deploy} re-created the container");
        wait_running_up(&ah, &target_name).await;
        // The new container's failure is healed, at every deploy.
        control_of_target_is_healed(&ah, &target_name, &new).await;
    }
    // Compose's stops of the old containers were stops, never a pause,
    // and nothing was held for them.
    let ev = events(&ah, &target_name).await;
    let said = |e: &serde_json::Value, w: &str| e["message"].as_str().unwrap().contains(w);
    assert!(
        !ev.iter()
            .any(|e| said(e, "pause") || said(e, "No action on")),
        "{ev:#?}"
    );
    assert!(ev.iter().any(|e| e["kind"] == "stopped"), "{ev:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_compose_down_of_a_draining_service_exits_0_and_leaves_nothing_running() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let project = unique("ahi8d").replace('-', "");
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("compose.yaml"),
        &format!(
            "services:\n  drain:\n    image: {IMAGE}\n    labels:\n      {label}: \"true\"\n      autoheal.mode: both\n    command: [\"/bin/sh\", \"-c\", \"rm -f /tmp/unhealthy; trap 'touch /tmp/unhealthy; sleep 5; exit 0' TERM; while :; do sleep 0.2 & wait $$!; done\"]\n    stop_grace_period: 15s\n  ctl:\n    image: {IMAGE}\n    labels:\n      {label}: \"true\"\n"
        ),
    );
    let _p = Project(project.clone(), dir.path().to_path_buf());
    compose(dir.path(), &project, &["up", "-d"], &[]);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;
    let drain = format!("{project}/drain");
    let ctl = format!("{project}/ctl");
    wait_up(&ah, &drain).await;
    wait_up(&ah, &ctl).await;
    let ctl_container = service_container(&project, "ctl");

    // `stop` first (blocks through the 5 s drain, which fails its health
    // check), then `down` must remove everything.
    compose(dir.path(), &project, &["stop", "drain"], &[]);
    wait_phase(&ah, &drain, "stopped").await;
    control_of_target_is_healed(&ah, &ctl, &ctl_container).await;
    let drain_container = service_container(&project, "drain");
    assert_eq!(
        state(&drain_container, "Running"),
        "false",
        "compose stop was undone"
    );
    assert_eq!(
        attempts(&ah, &drain).await,
        0,
        "{:#?}",
        incidents(&ah, &drain).await
    );
    compose(dir.path(), &project, &["down"], &[]);
    assert_eq!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ]),
        "",
        "docker compose down left containers behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_kill_9_and_restart_of_autoheal_replayed_events_open_no_second_incident() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let name = unique("ah-i8-crash");
    let control = unique("ah-i8-ctl");
    let _c = Containers(vec![name.clone(), control.clone()]);
    run_labelled(&name, &label, &["--label", "autoheal.mode=both"], &[]);
    run_labelled(&control, &label, &[], &[]);
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let mut first = start(&label, &data).await;
    wait_up(&first, &name).await;
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    // Killed as soon as the restart is under way: its kill, die and start
    // events are replayed to the next autoheal (the stream resumes in the
    // past), which no longer knows the restart was its own.
    eventually(LONG, "the restart to start", || async {
        (attempts(&first, &name).await > 0).then_some(())
    })
    .await;
    first.kill9();
    let ah = start(&label, &data).await;
    eventually(LONG, "the incident to close", || async {
        let i = incidents(&ah, &name).await;
        i.iter().all(|i| !i["resolution"].is_null()).then_some(())
    })
    .await;
    // Replays are long processed once a neighbour was healed after them.
    control_is_healed(&ah, &control).await;
    let i = incidents(&ah, &name).await;
    assert_eq!(i.len(), 1, "one failure, one incident: {i:#?}");
    // When the second autoheal inspects the container while the first one's
    // restart is still between its kill and its start, that replayed kill
    // cannot be told from someone else's stop (a known gap, see
    // docs/docker.md): the one incident then closes as `stopped` instead.
    assert!(
        i[0]["resolution"] == "recovered" || i[0]["resolution"] == "stopped",
        "{i:#?}"
    );
    assert_eq!(phase(&ah, &name).await, "healthy");
}

/// Unhealthy while /flag exists (outside /tmp: a restart keeps it).
const FLAG_PROBE: &[&str] = &[
    "--health-cmd",
    "test ! -e /flag",
    "--health-interval",
    "1s",
    "--health-timeout",
    "1s",
    "--health-retries",
    "1",
    "--label",
    "autoheal.cooldown=1s",
    "--label",
    "autoheal.backoff.initial=1s",
    "--label",
    "autoheal.stop.timeout=1",
];

async fn flap(ah: &Autoheal, names: &[&str]) {
    for n in names {
        docker(&["exec", n, "touch", "/flag"]);
    }
    for n in names {
        eventually(LONG, &format!("{n} down"), || async {
            (tgt(ah, n).await["last_status"] == "down").then_some(())
        })
        .await;
    }
    for n in names {
        docker(&["exec", n, "rm", "-f", "/flag"]);
    }
    for n in names {
        wait_up(ah, n).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flapping_container_is_one_incident_with_its_flaps_counted() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let name = unique("ah-i8-flap");
    let control = unique("ah-i8-noflapwin");
    let _c = Containers(vec![name.clone(), control.clone()]);
    run_labelled(&name, &label, FLAG_PROBE, &[]);
    let mut ctl = FLAG_PROBE.to_vec();
    ctl.extend_from_slice(&["--label", "autoheal.flap_window=0"]);
    run_labelled(&control, &label, &ctl, &[]);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;
    wait_up(&ah, &name).await;
    wait_up(&ah, &control).await;
    for _ in 0..4 {
        flap(&ah, &[&name, &control]).await;
    }
    let i = incidents(&ah, &name).await;
    assert_eq!(i.len(), 1, "{i:#?}");
    let flaps = events(&ah, &name)
        .await
        .iter()
        .filter(|e| e["kind"] == "flapped")
        .count();
    assert_eq!(flaps, 3, "{:#?}", events(&ah, &name).await);
    // Control: without a flap window, one incident per flap.
    assert_eq!(incidents(&ah, &control).await.len(), 4);
    // The window passes: the incident closes as recovered.
    eventually(LONG, "the flapping incident to close", || async {
        let i = incidents(&ah, &name).await;
        (i.len() == 1 && i[0]["resolution"] == "recovered").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn autoheal_auto_release_releases_a_quarantine_on_a_verified_recovery() {
    if !engine_available() {
        return;
    }
    let label = unique("ah-i8");
    let name = unique("ah-i8-autorel");
    let control = unique("ah-i8-norel");
    let _c = Containers(vec![name.clone(), control.clone()]);
    let mut probe = FLAG_PROBE.to_vec();
    probe.extend_from_slice(&["--label", "autoheal.max_actions=1"]);
    let mut released = probe.clone();
    released.extend_from_slice(&["--label", "autoheal.auto_release=true"]);
    run_labelled(&name, &label, &released, &[]);
    run_labelled(&control, &label, &probe, &[]);
    let work = tempfile::tempdir().unwrap();
    let ah = start(&label, &work.path().join("data")).await;
    wait_up(&ah, &name).await;
    wait_up(&ah, &control).await;
    // A restart does not remove /flag: quarantined after one action.
    for n in [&name, &control] {
        docker(&["exec", n, "touch", "/flag"]);
    }
    wait_phase(&ah, &name, "quarantined").await;
    wait_phase(&ah, &control, "quarantined").await;
    for n in [&name, &control] {
        docker(&["exec", n, "rm", "-f", "/flag"]);
    }
    wait_phase(&ah, &name, "healthy").await;
    // Control: seen up as well, but without the label it stays quarantined.
    wait_up(&ah, &control).await;
    assert_eq!(phase(&ah, &control).await, "quarantined");
}
