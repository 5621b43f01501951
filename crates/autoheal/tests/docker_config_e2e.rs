//! The binary against the real Docker engine, with containers declared in
//! the config (`container = { ... }`): healed through the built-in
//! `container.restart`, probed at their own address (`{{container}}`) and
//! from inside (`docker_exec`). Skips with a message when no engine answers,
//! unless AUTOHEAL_REQUIRE_DOCKER=1 (CI), where that is a failure.

mod common;

use common::docker::*;
use common::*;
use std::process::Command;

/// A busybox container serving /www on port 8080 (httpd daemonizes; the
/// shell stays as PID 1, so killing httpd leaves the container running and
/// Docker's health check healthy). Every start serves again.
const HTTPD: &str = "mkdir -p /www && echo ok > /www/index.html && httpd -p 8080 -h /www; rm -f /tmp/unhealthy; trap 'exit 0' TERM; while :; do sleep 0.2 & wait $!; done";

/// `autoheal serve` on `config` (with a `[docker]` section that watches
/// every second and discovers only what `docker` allows).
async fn start(config: &str) -> (Autoheal, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let path = write(&work.path().join("autoheal.toml"), config);
    let ah = Autoheal::start(&path, &work.path().join("data")).await;
    (ah, work)
}

async fn target_names(ah: &Autoheal) -> Vec<String> {
    let v = ah.get("/api/v1/targets").await;
    let items = v["items"].as_array().or_else(|| v.as_array()).cloned();
    items
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_declared_by_name_is_restarted_through_container_restart_and_verified() {
    if !engine_available() {
        return;
    }
    let name = unique("ahcfg-name");
    let _c = Containers(vec![name.clone()]);
    // No autoheal label at all: the config alone makes it a target.
    docker(&["run", "-d", "--name", &name, IMAGE]);
    let (ah, _work) = start(&format!(
        r#"
[docker]
interval = "1s"
label = "{label}"

[targets.web]
container = {{ name = "{name}" }}
failure_threshold = 1
cooldown = "1s"
"#,
        label = unique("nolabel"),
    ))
    .await;
    wait_status(&ah, "web", "up").await;
    let before = started_at(&name);

    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);

    let incident = recovered_incident(&ah, "web").await;
    assert_ne!(started_at(&name), before, "the container was restarted");
    let attempts = incident["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{incident}");
    assert_eq!(attempts[0]["action"], "container.restart", "{incident}");
    assert_eq!(attempts[0]["outcome"], "succeeded", "{incident}");
    // autoheal's own restart is not taken for a user's stop.
    assert_ne!(target(&ah, "web").await["phase"], "stopped");
    assert!(
        !target_names(&ah).await.contains(&name),
        "the container is not a discovered target too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_selected_by_label_are_one_target_healed_together_and_never_discovered_too() {
    if !engine_available() {
        return;
    }
    let p = unique("ahcfg-lbl");
    let (a, b, other) = (format!("{p}-a"), format!("{p}-b"), format!("{p}-other"));
    let _c = Containers(vec![a.clone(), b.clone(), other.clone()]);
    let app = format!("app={p}");
    // a and b carry only `app=<p>`; `other` nothing. Discovery takes every
    // container named <p>-* (label = "all"), so without the config all three
    // would be discovered targets.
    docker(&["run", "-d", "--name", &a, "--label", &app, IMAGE]);
    docker(&["run", "-d", "--name", &b, "--label", &app, IMAGE]);
    docker(&["run", "-d", "--name", &other, IMAGE]);
    let (ah, _work) = start(&format!(
        r#"
[docker]
interval = "1s"
label = "all"
allow_names = ["{p}-*"]

[targets.shop]
container = {{ labels = ["{app}"] }}
failure_threshold = 1
cooldown = "1s"
"#
    ))
    .await;
    wait_status(&ah, "shop", "up").await;
    wait_status(&ah, &other, "up").await;
    let names = target_names(&ah).await;
    assert!(
        !names.contains(&a) && !names.contains(&b),
        "config wins over discovery: {names:?}"
    );
    let (before_a, before_b) = (started_at(&a), started_at(&b));

    docker(&["exec", &a, "touch", "/tmp/unhealthy"]);

    let incident = recovered_incident(&ah, "shop").await;
    assert_eq!(incident["attempts"][0]["action"], "container.restart");
    assert_ne!(
        started_at(&a),
        before_a,
        "the failing replica was restarted"
    );
    assert_ne!(
        started_at(&b),
        before_b,
        "every selected container was restarted"
    );
    let names = target_names(&ah).await;
    assert!(
        !names.contains(&a) && !names.contains(&b) && names.contains(&other),
        "after the restart too: {names:?}"
    );
    let page = ah.get(&format!("/api/v1/incidents?target={other}")).await;
    assert!(
        page["items"].as_array().unwrap().is_empty(),
        "the unselected container was left alone: {page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_check_at_the_container_address_detects_a_dead_server_and_the_restart_heals_it() {
    if !engine_available() {
        return;
    }
    let name = unique("ahcfg-http");
    let _c = Containers(vec![name.clone()]);
    docker(&["run", "-d", "--name", &name, IMAGE, "sh", "-c", HTTPD]);
    let (ah, _work) = start(&format!(
        r#"
[docker]
interval = "1s"
label = "{label}"

[targets.site]
container = {{ name = "{name}" }}
check = {{ type = "http", url = "http://{{{{container}}}}:8080/index.html", interval = "1s", timeout = "1s" }}
failure_threshold = 2
cooldown = "1s"
"#,
        label = unique("nolabel"),
    ))
    .await;
    wait_status(&ah, "site", "up").await;
    let before = started_at(&name);

    // The server dies; the container (and Docker's health check) stays up.
    docker(&["exec", &name, "killall", "httpd"]);

    let incident = recovered_incident(&ah, "site").await;
    assert_ne!(started_at(&name), before, "the container was restarted");
    assert_eq!(
        incident["attempts"][0]["action"], "container.restart",
        "{incident}"
    );
    assert_eq!(
        incident["attempts"][0]["outcome"], "succeeded",
        "{incident}"
    );
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &name,
    ]);
    let body = reqwest::get(format!("http://{ip}:8080/index.html"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body.trim(), "ok", "the server answers again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_docker_exec_check_runs_inside_the_container() {
    if !engine_available() {
        return;
    }
    let name = unique("ahcfg-exec");
    let _c = Containers(vec![name.clone()]);
    docker(&["run", "-d", "--name", &name, IMAGE]);
    let (ah, _work) = start(&format!(
        r#"
[docker]
interval = "1s"
label = "{label}"

[targets.worker]
container = {{ name = "{name}" }}
check = {{ type = "docker_exec", argv = ["sh", "-c", "if [ -e /tmp/down ]; then echo marker present; exit 4; fi"], interval = "1s", timeout = "3s" }}
ladder = []   # observe only
"#,
        label = unique("nolabel"),
    ))
    .await;
    wait_status(&ah, "worker", "up").await;

    docker(&["exec", &name, "touch", "/tmp/down"]);
    wait_status(&ah, "worker", "down").await;
    let t = target(&ah, "worker").await;
    assert_eq!(t["last_detail"], "exit 4: marker present", "{t}");

    docker(&["exec", &name, "rm", "/tmp/down"]);
    wait_status(&ah, "worker", "up").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_moves_a_container_from_discovery_to_the_config() {
    if !engine_available() {
        return;
    }
    let label = unique("ahcfg-reload");
    let name = unique("ahcfg-reload-web");
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
    let docker_section = format!("[docker]\ninterval = \"1s\"\nlabel = \"{label}\"\n");
    let (mut ah, work) = start(&docker_section).await;
    wait_status(&ah, &name, "up").await;

    write(
        &work.path().join("autoheal.toml"),
        &format!(
            "{docker_section}\n[targets.web]\ncontainer = {{ name = \"{name}\" }}\nfailure_threshold = 1\ncooldown = \"1s\"\n"
        ),
    );
    let pid = ah.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    wait_status(&ah, "web", "up").await;
    eventually(LONG, "the discovered target to go", || async {
        (!target_names(&ah).await.contains(&name)).then_some(())
    })
    .await;
    let before = started_at(&name);
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    let incident = recovered_incident(&ah, "web").await;
    assert_eq!(incident["attempts"][0]["action"], "container.restart");
    assert_ne!(started_at(&name), before);
    ah.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compose_service_in_on_failure_mode_is_healed_after_a_crash_and_its_neighbour_is_not() {
    if !engine_available() {
        return;
    }
    let p = unique("ahcfg-compose");
    let (w1, w2, api) = (format!("{p}-w1"), format!("{p}-w2"), format!("{p}-api"));
    let _c = Containers(vec![w1.clone(), w2.clone(), api.clone()]);
    let project = format!("com.docker.compose.project={p}");
    // Two replicas of `worker` and one `api` in the same project, labelled
    // as Compose labels them; none carries an autoheal label.
    for (name, service) in [(&w1, "worker"), (&w2, "worker"), (&api, "api")] {
        let service = format!("com.docker.compose.service={service}");
        docker(&[
            "run", "-d", "--name", name, "--label", &project, "--label", &service, IMAGE,
        ]);
    }
    let (ah, _work) = start(&format!(
        r#"
[docker]
interval = "1s"
label = "{label}"

[targets.worker]
container = {{ compose_project = "{p}", compose_service = "worker", mode = "on_failure" }}
failure_threshold = 1
cooldown = "1s"
"#,
        label = unique("nolabel"),
    ))
    .await;
    wait_status(&ah, "worker", "up").await;
    let before_api = started_at(&api);

    // Unhealthy is not a failure in on_failure mode...
    docker(&["exec", &w2, "touch", "/tmp/unhealthy"]);
    // ...a crash (exit 3) is.
    let before_w1 = started_at(&w1);
    docker(&["exec", &w1, "touch", "/tmp/crash"]);

    let incident = recovered_incident(&ah, "worker").await;
    assert!(
        incident["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "the incident is about the crash: {incident}"
    );
    assert_eq!(
        incident["attempts"].as_array().unwrap().len(),
        1,
        "{incident}"
    );
    assert_eq!(incident["attempts"][0]["action"], "container.restart");
    assert_ne!(started_at(&w1), before_w1, "the crashed replica runs again");
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &w1]).trim(),
        "true"
    );
    assert_eq!(
        started_at(&api),
        before_api,
        "another service is left alone"
    );
    let page = ah.get("/api/v1/incidents?target=worker").await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "one incident: the unhealthy replica alone opened none: {page}"
    );
}
