//! Contract tests against the real Docker engine (skipped with a message when
//! none is reachable, unless AUTOHEAL_REQUIRE_DOCKER=1).

mod common;

use autoheal_core::{ActionOutcome, Status, StopBy};
use autoheal_docker::actions::RestartContainer;
use autoheal_docker::{
    Backoff, DockerClient, DockerHappening, DockerHost, DockerMode, DockerTarget, DockerWatcher,
    StartContainer,
};
use autoheal_plugins::action::{Action, ActionContext};
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(20);

fn is_discovered(h: &DockerHappening, name: &str) -> Option<DockerTarget> {
    match h {
        DockerHappening::Discovered { target, .. } if target.name == name => Some(target.clone()),
        _ => None,
    }
}

fn is_obs(h: &DockerHappening, name: &str, status: Status) -> bool {
    matches!(h, DockerHappening::Observation { target, observation, .. }
        if target == name && observation.status == status)
}

#[tokio::test]
async fn an_unhealthy_container_is_reported_down_quickly_and_a_restart_heals_it() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("unhealthy");
    let label = format!("{}=true", s.label());
    s.run("web", &["--label", &label], &[]);
    let name = s.name("web");
    let w = DockerWatcher::new(client.clone(), &settings(&s)).unwrap();
    let ledger = w.ledger();
    let (mut rx, task) = w.spawn(64, std::future::pending());

    let h = expect(&mut rx, WAIT, "Discovered", |h| {
        is_discovered(h, &name).is_some()
    })
    .await;
    let target = is_discovered(&h, &name).unwrap();
    expect(&mut rx, WAIT, "Up", |h| is_obs(h, &name, Status::Up)).await;

    let before = started_at(&name);
    let t0 = Instant::now();
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    let h = expect(&mut rx, WAIT, "Down", |h| is_obs(h, &name, Status::Down)).await;
    eprintln!(
        "figure: unhealthy detected {:?} after touching /tmp/unhealthy",
        t0.elapsed()
    );
    assert!(
        matches!(h, DockerHappening::Observation { observation, .. } if observation.detail.contains("unhealthy"))
    );
    assert!(
        ledger.down_since(&name).is_some(),
        "the ledger records when the target went down"
    );

    let action = RestartContainer::new(client.clone(), target, Duration::from_secs(5))
        .with_ledger(ledger.clone());
    let t1 = Instant::now();
    let outcome = action.run(&ActionContext::default()).await;
    assert_eq!(outcome, ActionOutcome::Succeeded);
    assert_ne!(started_at(&name), before, "StartedAt changes on restart");
    expect(&mut rx, WAIT, "Started", |h| {
        assert!(
            !matches!(h, DockerHappening::Stopped { .. }),
            "autoheal's own restart reported as a user stop: {h:?}"
        );
        matches!(h, DockerHappening::Started { target, .. } if *target == name)
    })
    .await;
    expect(&mut rx, WAIT, "Up after restart", |h| {
        is_obs(h, &name, Status::Up)
    })
    .await;
    eprintln!("figure: restart to healthy in {:?}", t1.elapsed());
    assert_eq!(health(&name), "healthy");
    // The next reconcile (interval 2 s) knows this start: no second Started.
    let rest = drain_for(&mut rx, Duration::from_millis(2500)).await;
    assert!(
        !rest
            .iter()
            .any(|h| matches!(h, DockerHappening::Started { .. })),
        "{rest:#?}"
    );
    task.abort();
}

#[tokio::test]
async fn a_non_zero_exit_is_down_in_on_failure_mode_and_start_container_starts_it() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("exit");
    let label = format!("{}=true", s.label());
    s.run("job", &["--label", &label], &[]);
    let name = s.name("job");
    let mut st = settings(&s);
    st.mode = DockerMode::OnFailure;
    let w = DockerWatcher::new(client.clone(), &st).unwrap();
    let (mut rx, task) = w.spawn(64, std::future::pending());
    let h = expect(&mut rx, WAIT, "Discovered", |h| {
        is_discovered(h, &name).is_some()
    })
    .await;
    let target = is_discovered(&h, &name).unwrap();
    expect(&mut rx, WAIT, "Up (running)", |h| {
        is_obs(h, &name, Status::Up)
    })
    .await;

    docker(&["exec", &name, "touch", "/tmp/crash"]);
    let h = expect(&mut rx, WAIT, "Down", |h| {
        assert!(
            !matches!(h, DockerHappening::Stopped { .. }),
            "a crash is not a user stop"
        );
        is_obs(h, &name, Status::Down)
    })
    .await;
    assert!(
        matches!(&h, DockerHappening::Observation { observation, .. } if observation.detail == "exited with code 3"),
        "{h:?}"
    );

    let outcome = StartContainer::new(client.clone(), target)
        .run(&ActionContext::default())
        .await;
    assert_eq!(outcome, ActionOutcome::Succeeded);
    expect(
        &mut rx,
        WAIT,
        "Started",
        |h| matches!(h, DockerHappening::Started { target, .. } if *target == name),
    )
    .await;
    assert_eq!(inspect(&name, "{{.State.Running}}"), "true");
    task.abort();
}

#[tokio::test]
async fn docker_stop_and_docker_kill_are_stopped_by_user_never_down() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("stop");
    let label = format!("{}=true", s.label());
    s.run("svc", &["--label", &label], &[]);
    let name = s.name("svc");
    let mut st = settings(&s);
    st.mode = DockerMode::Both;
    let w = DockerWatcher::new(client.clone(), &st).unwrap();
    let (mut rx, task) = w.spawn(64, std::future::pending());
    expect(&mut rx, WAIT, "Up", |h| is_obs(h, &name, Status::Up)).await;

    docker(&["stop", &name]);
    expect(&mut rx, WAIT, "Stopped after stop", |h| {
        assert!(
            !is_obs(h, &name, Status::Down),
            "stop reported as Down: {h:?}"
        );
        matches!(h, DockerHappening::Stopped { target, by: StopBy::User, .. } if *target == name)
    })
    .await;
    // Through at least one reconcile (interval 2 s): still no Down.
    let rest = drain_for(&mut rx, Duration::from_millis(2500)).await;
    assert!(
        !rest.iter().any(|h| is_obs(h, &name, Status::Down)),
        "{rest:#?}"
    );

    docker(&["start", &name]);
    expect(
        &mut rx,
        WAIT,
        "Started",
        |h| matches!(h, DockerHappening::Started { target, .. } if *target == name),
    )
    .await;
    docker(&["kill", &name]); // SIGKILL: exit 137, still a deliberate stop
    expect(&mut rx, WAIT, "Stopped after kill", |h| {
        assert!(
            !is_obs(h, &name, Status::Down),
            "kill reported as Down: {h:?}"
        );
        matches!(h, DockerHappening::Stopped { target, by: StopBy::User, .. } if *target == name)
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn health_starting_and_a_label_start_period_are_left_alone() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("starting");
    let label = format!("{}=true", s.label());
    // Docker's own start period: failing probes keep the status `starting`.
    s.run(
        "slow",
        &[
            "--label",
            &label,
            "--health-cmd",
            "test -e /tmp/never",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--health-start-period",
            "60s",
        ],
        &[],
    );
    // autoheal.start_period: unhealthy, but within its start period.
    s.run(
        "late",
        &["--label", &label, "--label", "autoheal.start_period=60s"],
        &[],
    );
    let slow = s.name("slow");
    let late = s.name("late");
    docker(&["exec", &late, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "late unhealthy", || health(&late) == "unhealthy").await;

    let w = DockerWatcher::new(client, &settings(&s)).unwrap();
    let (mut rx, task) = w.spawn(64, std::future::pending());
    let seen = drain_for(&mut rx, Duration::from_secs(5)).await; // initial + 2 reconciles
    assert!(
        seen.iter().any(|h| is_discovered(h, &slow).is_some()),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|h| is_discovered(h, &late).is_some()),
        "{seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|h| matches!(h, DockerHappening::Observation { .. })),
        "no observation expected: {seen:#?}"
    );
    assert_eq!(health(&slow), "starting");
    task.abort();
}

#[tokio::test]
async fn compose_replicas_are_one_target_and_are_restarted_together() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("compose");
    let label = format!("{}=true", s.label());
    let project = format!("{}-proj", s.prefix);
    let pl = format!("com.docker.compose.project={project}");
    for n in ["web-1", "web-2"] {
        s.run(
            n,
            &[
                "--label",
                &label,
                "--label",
                &pl,
                "--label",
                "com.docker.compose.service=web",
            ],
            &[],
        );
    }
    let tname = format!("{project}/web");
    let w = DockerWatcher::new(client.clone(), &settings(&s)).unwrap();
    let ledger = w.ledger();
    let (mut rx, task) = w.spawn(64, std::future::pending());
    let h = expect(&mut rx, WAIT, "Discovered with 2 replicas", |h| {
        matches!(h, DockerHappening::Discovered { target, containers, .. } if target.name == tname && containers.len() == 2)
    })
    .await;
    let target = is_discovered(&h, &tname).unwrap();
    expect(&mut rx, WAIT, "Up", |h| is_obs(h, &tname, Status::Up)).await;

    let (a, b) = (s.name("web-1"), s.name("web-2"));
    let before = (started_at(&a), started_at(&b));
    docker(&["exec", &b, "touch", "/tmp/unhealthy"]);
    let h = expect(&mut rx, WAIT, "Down", |h| is_obs(h, &tname, Status::Down)).await;
    assert!(
        matches!(&h, DockerHappening::Observation { observation, .. } if observation.detail.starts_with(&b)),
        "{h:?}"
    );

    let r = RestartContainer::new(client, target, Duration::from_secs(5)).with_ledger(ledger);
    let report = r.execute(None).await;
    assert_eq!(report.outcome(), ActionOutcome::Succeeded, "{report:?}");
    // One replica failing restarts the service: both replicas, together.
    assert_eq!(report.acted.len(), 2, "{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_ne!(started_at(&a), before.0);
    assert_ne!(started_at(&b), before.1);
    expect(&mut rx, WAIT, "Up after restart", |h| {
        is_obs(h, &tname, Status::Up)
    })
    .await;
    wait_until(WAIT, "both healthy", || {
        health(&a) == "healthy" && health(&b) == "healthy"
    })
    .await;

    // All healthy: nothing to do.
    let report = r.execute(None).await;
    assert!(
        report.acted.is_empty() && report.skipped.len() == 2,
        "{report:?}"
    );

    // restart_all_replicas = false: only the failing replica.
    let mut only_failing = r.clone();
    only_failing.restart_all_replicas = false;
    docker(&["exec", &b, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "web-2 unhealthy", || health(&b) == "unhealthy").await;
    let before = (started_at(&a), started_at(&b));
    let report = only_failing.execute(None).await;
    assert_eq!(report.acted.len(), 1, "{report:?}");
    assert_eq!(report.acted[0].container_name, b);
    assert_eq!(started_at(&a), before.0);
    assert_ne!(started_at(&b), before.1);
    task.abort();
}

#[tokio::test]
async fn selection_follows_label_all_allow_deny_and_autoheal_false() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("select");
    let label = format!("{}=true", s.label());
    let off = format!("{}=false", s.label());
    s.run("labelled", &["--label", &label], &[]);
    s.run("unlabelled", &[], &[]);
    s.run("labelled-false", &["--label", &off], &[]);
    s.run(
        "excluded",
        &["--label", &label, "--label", "autoheal=False"],
        &[],
    );
    s.run("lowercase", &["--label", "autoheal=false"], &[]);
    s.run("deny-me", &[], &[]);
    s.run("db", &["--label", "tier=db"], &[]);

    let names = |out: &[DockerHappening]| -> Vec<String> {
        let mut v: Vec<String> = out
            .iter()
            .filter_map(|h| match h {
                DockerHappening::Discovered { target, .. } => Some(target.name.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    };

    // By label.
    let mut w = DockerWatcher::new(client.clone(), &settings(&s)).unwrap();
    let mut out = Vec::new();
    w.reconcile(&mut out).await.unwrap();
    assert_eq!(names(&out), vec![s.name("labelled")]);

    // `all`, restricted to this test's containers, with denials.
    let mut st = settings(&s);
    st.label = "all".into();
    st.allow_names = vec![format!("{}-*", s.prefix)];
    st.deny_names = vec!["*-deny-*".into()];
    st.deny_labels = vec!["tier=db".into()];
    let mut w = DockerWatcher::new(client.clone(), &st).unwrap();
    let mut out = Vec::new();
    w.reconcile(&mut out).await.unwrap();
    let mut want = vec![
        s.name("labelled"),
        s.name("labelled-false"),
        s.name("lowercase"), // only `autoheal=False`, exactly, excludes
        s.name("unlabelled"),
    ];
    want.sort();
    assert_eq!(names(&out), want);

    // allow_labels.
    let mut st = settings(&s);
    st.label = "all".into();
    st.allow_names = vec![format!("{}-*", s.prefix)];
    st.allow_labels = vec!["tier".into()];
    let mut w = DockerWatcher::new(client, &st).unwrap();
    let mut out = Vec::new();
    w.reconcile(&mut out).await.unwrap();
    assert_eq!(names(&out), vec![s.name("db")]);
}

#[tokio::test]
async fn a_container_unhealthy_at_each_reconcile_is_reported_down_each_time() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("poll");
    let label = format!("{}=true", s.label());
    s.run("sick", &["--label", &label], &[]);
    let name = s.name("sick");
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "unhealthy", || health(&name) == "unhealthy").await;
    let mut w = DockerWatcher::new(client, &settings(&s)).unwrap();
    for round in 0..2 {
        let mut out = Vec::new();
        w.reconcile(&mut out).await.unwrap();
        if round == 0 {
            assert!(is_discovered(&out[0], &name).is_some(), "{out:#?}");
        }
        assert!(
            out.iter().any(|h| is_obs(h, &name, Status::Down)),
            "round {round}: {out:#?}"
        );
    }
}

#[tokio::test]
async fn a_heal_that_already_happened_is_not_repeated() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("norepeat");
    s.run("web", &[], &[]);
    let name = s.name("web");
    wait_until(WAIT, "healthy", || health(&name) == "healthy").await;
    let target = DockerTarget::of_container(&name, &Default::default());
    let r = RestartContainer::new(client, target, Duration::from_secs(5));

    // Healthy now: nothing to do.
    let before = started_at(&name);
    let report = r
        .execute(Some(chrono::Utc::now() - chrono::Duration::minutes(1)))
        .await;
    assert_eq!(report.outcome(), ActionOutcome::Succeeded);
    assert!(
        report.acted.is_empty() && report.skipped[0].1 == "healthy now",
        "{report:?}"
    );
    assert_eq!(started_at(&name), before);

    // Started after the incident opened, not failing again: not restarted.
    let opened = chrono::Utc::now();
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "unhealthy", || health(&name) == "unhealthy").await;
    docker(&["restart", "-t", "1", &name]); // someone (another node) healed it
    let before = started_at(&name);
    let report = r.execute(Some(opened)).await;
    assert!(report.acted.is_empty(), "{report:?}");
    assert_eq!(started_at(&name), before);

    // Unhealthy again: restarted even though it started after `opened`.
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "unhealthy again", || health(&name) == "unhealthy").await;
    let report = r.execute(Some(opened)).await;
    assert_eq!(report.acted.len(), 1, "{report:?}");
    assert_ne!(started_at(&name), before);
}

#[tokio::test]
async fn dependents_are_restarted_after_their_dependency_is_healed() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("deps");
    let db = s.name("db");
    let app = s.name("app");
    let worker = s.name("worker");
    s.run("db", &[], &[]);
    s.run(
        "app",
        &["--label", &format!("autoheal.depends_on={db}")],
        &[],
    );
    s.run(
        "worker",
        &["--label", &format!("autoheal.depends_on={app}")],
        &[],
    );
    docker(&["exec", &db, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "db unhealthy", || health(&db) == "unhealthy").await;
    let before_app = started_at(&app);
    let before_worker = started_at(&worker);
    let mut r = RestartContainer::new(
        client,
        DockerTarget::of_container(&db, &Default::default()),
        Duration::from_secs(5),
    );
    r.restart_dependents = true;
    let report = r.execute(None).await;
    assert_eq!(report.outcome(), ActionOutcome::Succeeded, "{report:?}");
    let order: Vec<&str> = report
        .acted
        .iter()
        .map(|a| a.container_name.as_str())
        .collect();
    assert_eq!(order, vec![db.as_str(), app.as_str(), worker.as_str()]);
    assert!(report.acted[1].dependent && report.acted[2].dependent);
    assert_ne!(started_at(&app), before_app);
    assert_ne!(started_at(&worker), before_worker);
}

/// A unix-socket proxy to the engine that the test can cut and restore.
struct Proxy {
    path: PathBuf,
    tasks: tokio::task::JoinSet<()>,
}

impl Proxy {
    fn start(path: &Path) -> Proxy {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(async move {
                    if let Ok(mut up) = tokio::net::UnixStream::connect(SOCKET).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut up).await;
                    }
                });
            }
        });
        Proxy {
            path: path.to_path_buf(),
            tasks,
        }
    }

    /// Drops the listener and every connection through it.
    async fn cut(mut self) -> PathBuf {
        self.tasks.shutdown().await;
        let _ = std::fs::remove_file(&self.path);
        self.path
    }
}

#[tokio::test]
async fn after_the_engine_connection_is_lost_and_regained_a_reconcile_reports_what_changed() {
    let Some(_) = engine().await else { return };
    let s = Scratch::new("reconnect");
    let label = format!("{}=true", s.label());
    s.run("web", &["--label", &label], &[]);
    let name = s.name("web");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let proxy = Proxy::start(&sock);
    let client = DockerClient::connect_to(
        DockerHost::Unix(sock.clone()),
        Path::new("/certs"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut st = settings(&s);
    st.interval = Duration::from_secs(3600); // only reconnects reconcile here
    let w = DockerWatcher::new(client, &st)
        .unwrap()
        .with_backoff(Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_millis(400),
        });
    let (mut rx, task) = w.spawn(64, std::future::pending());
    expect(&mut rx, WAIT, "Up", |h| is_obs(h, &name, Status::Up)).await;

    let sock = proxy.cut().await;
    expect(&mut rx, WAIT, "EngineLost", |h| {
        matches!(h, DockerHappening::EngineLost { .. })
    })
    .await;
    // While disconnected: the container turns unhealthy, another one appears.
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "unhealthy", || health(&name) == "unhealthy").await;
    s.run("new", &["--label", &label], &[]);
    let newname = s.name("new");

    let t0 = Instant::now();
    let _proxy = Proxy::start(&sock);
    expect(&mut rx, WAIT, "EngineRegained", |h| {
        matches!(h, DockerHappening::EngineRegained)
    })
    .await;
    let mut got_down = false;
    let mut got_new = false;
    let deadline = Instant::now() + WAIT;
    while !(got_down && got_new) {
        let h = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("reconcile after reconnect")
            .unwrap();
        got_down |= is_obs(&h, &name, Status::Down);
        got_new |= is_discovered(&h, &newname).is_some();
    }
    eprintln!(
        "figure: reconnect + reconcile reported the changes {:?} after the proxy came back",
        t0.elapsed()
    );
    task.abort();
}

#[tokio::test]
async fn autoheals_own_stop_is_not_a_user_stop_and_post_restart_gets_docker_autoheals_arguments() {
    let Some(client) = engine().await else { return };
    let s = Scratch::new("own");
    let label = format!("{}=true", s.label());
    s.run(
        "svc",
        &[
            "--label",
            &label,
            "--label",
            "autoheal.action=stop",
            "--label",
            "autoheal.stop.timeout=3",
        ],
        &[],
    );
    let name = s.name("svc");
    let mut st = settings(&s);
    st.mode = DockerMode::Both;
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("args");
    st.post_restart_command = Some(vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("echo \"$@\" > {}", out_file.display()),
        "sh".into(),
    ]);
    let w = DockerWatcher::new(client.clone(), &st).unwrap();
    let ledger = w.ledger();
    let (mut rx, task) = w.spawn(64, std::future::pending());
    let h = expect(&mut rx, WAIT, "Discovered", |h| {
        is_discovered(h, &name).is_some()
    })
    .await;
    let DockerHappening::Discovered {
        target, overrides, ..
    } = h
    else {
        unreachable!()
    };
    assert_eq!(overrides.stop_timeout, Some(Duration::from_secs(3)));

    // A restart first, for the post-restart command.
    let restart = RestartContainer::from_settings(client.clone(), target.clone(), &st);
    docker(&["exec", &name, "touch", "/tmp/unhealthy"]);
    wait_until(WAIT, "unhealthy", || health(&name) == "unhealthy").await;
    let report = restart.execute(None).await;
    assert_eq!(report.outcome(), ActionOutcome::Succeeded, "{report:?}");
    let id = inspect(&name, "{{.Id}}");
    let args = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(args.trim(), format!("{name} {} unhealthy 3", &id[..12]));

    expect(&mut rx, WAIT, "Up after restart", |h| {
        is_obs(h, &name, Status::Up)
    })
    .await;

    // Then the label's action: stop, as autoheal's own.
    let action = autoheal_docker::action_for(client, target, &overrides, &st, Some(ledger));
    assert_eq!(
        action.run(&ActionContext::default()).await,
        ActionOutcome::Succeeded
    );
    assert_eq!(inspect(&name, "{{.State.Running}}"), "false");
    let seen = drain_for(&mut rx, Duration::from_millis(2500)).await;
    assert!(
        !seen
            .iter()
            .any(|h| matches!(h, DockerHappening::Stopped { .. })
                || is_obs(h, &name, Status::Down)),
        "{seen:#?}"
    );
    task.abort();
}

/// The endpoints docs/docker.md promises are all autoheal needs.
/// (The exec endpoints only for a configured `docker_exec` check.)
const ALLOWED: &str = r"^(GET|HEAD) (/v[0-9.]+)?/_ping$|^GET (/v[0-9.]+)?/(version|containers/json|events)$|^GET (/v[0-9.]+)?/containers/[a-zA-Z0-9_.-]+/json$|^POST (/v[0-9.]+)?/containers/[a-zA-Z0-9_.-]+/(restart|start|stop|exec)$|^POST (/v[0-9.]+)?/exec/[a-zA-Z0-9]+/start$|^GET (/v[0-9.]+)?/exec/[a-zA-Z0-9]+/json$";

type Log = std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>;

/// A unix-socket proxy that forwards only the allowed endpoints (by the first
/// request line of each connection; bollard keeps no idle connections) and
/// answers 403 to anything else. Every request line is logged with its verdict.
fn start_filter_proxy(path: &Path, log: Log) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let allowed = regex::Regex::new(ALLOWED).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let allowed = allowed.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(2).any(|w| w == b"\r\n") {
                    match inbound.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&buf)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("");
                let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
                let req = format!("{method} {path}");
                let ok = allowed.is_match(&req);
                log.lock().unwrap().push((req, ok));
                if !ok {
                    let _ = inbound
                        .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut up) = tokio::net::UnixStream::connect(SOCKET).await else {
                    return;
                };
                if up.write_all(&buf).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut up).await;
            });
        }
    })
}

#[tokio::test]
async fn the_client_needs_only_the_documented_endpoints() {
    let Some(_) = engine().await else { return };
    let s = Scratch::new("endpoints");
    let label = format!("{}=true", s.label());
    s.run("db", &["--label", &label], &[]);
    let db = s.name("db");
    s.run(
        "app",
        &[
            "--label",
            &label,
            "--label",
            &format!("autoheal.depends_on={db}"),
        ],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("filtered.sock");
    let log: Log = Default::default();
    let proxy = start_filter_proxy(&sock, log.clone());
    let client = DockerClient::connect_to(
        DockerHost::Unix(sock),
        Path::new("/certs"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    client.ping().await.unwrap();
    client.version().await.unwrap();
    let mut st = settings(&s);
    st.mode = DockerMode::Both;
    let w = DockerWatcher::new(client.clone(), &st).unwrap();
    let ledger = w.ledger();
    let (mut rx, task) = w.spawn(64, std::future::pending());
    let h = expect(&mut rx, WAIT, "Discovered", |h| {
        is_discovered(h, &db).is_some()
    })
    .await;
    let target = is_discovered(&h, &db).unwrap();
    docker(&["exec", &db, "touch", "/tmp/unhealthy"]);
    expect(&mut rx, WAIT, "Down", |h| is_obs(h, &db, Status::Down)).await;
    let mut restart = RestartContainer::new(client.clone(), target.clone(), Duration::from_secs(3))
        .with_ledger(ledger.clone());
    restart.restart_dependents = true;
    let report = restart.execute(None).await;
    assert_eq!(report.outcome(), ActionOutcome::Succeeded, "{report:?}");
    assert_eq!(
        report.acted.len(),
        2,
        "db and its dependent app: {report:?}"
    );
    let stop =
        autoheal_docker::StopContainer::new(client.clone(), target.clone(), Duration::from_secs(3));
    assert_eq!(
        stop.run(&ActionContext::default()).await,
        ActionOutcome::Succeeded
    );
    assert_eq!(
        StartContainer::new(client.clone(), target.clone())
            .run(&ActionContext::default())
            .await,
        ActionOutcome::Succeeded
    );
    expect(
        &mut rx,
        WAIT,
        "Started",
        |h| matches!(h, DockerHappening::Started { target, .. } if *target == db),
    )
    .await;
    // A configured docker_exec check (the only use of the exec API).
    let exec = autoheal_docker::ContainerCheck::exec(
        autoheal_docker::LazyClient::new(client.clone()),
        target.clone(),
        autoheal_docker::DockerExecCheckConfig {
            argv: vec!["true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        },
    )
    .unwrap();
    let o = autoheal_plugins::Check::check(&exec).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    task.abort();
    proxy.abort();

    let log = log.lock().unwrap().clone();
    let refused: Vec<&String> = log.iter().filter(|(_, ok)| !ok).map(|(r, _)| r).collect();
    assert!(
        refused.is_empty(),
        "requests outside the documented set: {refused:?}"
    );
    for needed in [
        "/_ping",
        "/version",
        "/containers/json",
        "/events",
        "/restart",
        "/stop",
        "/start",
        "/exec",
    ] {
        assert!(
            log.iter().any(|(r, _)| r.ends_with(needed)),
            "never called {needed}: {log:?}"
        );
    }
}

#[tokio::test]
async fn a_watcher_given_an_unnegotiated_client_negotiates_before_its_first_reconcile() {
    let Some(_) = engine().await else { return };
    let s = Scratch::new("negotiate");
    let label = format!("{}=true", s.label());
    s.run("web", &["--label", &label], &[]);
    let name = s.name("web");
    let client = DockerClient::new_unnegotiated(
        DockerHost::Unix(PathBuf::from(SOCKET)),
        Path::new("/certs"),
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(!client.is_negotiated());
    let w = DockerWatcher::new(client, &settings(&s)).unwrap();
    let (mut rx, task) = w.spawn(64, std::future::pending());
    let first = expect(&mut rx, WAIT, "Discovered", |_| true).await;
    assert!(
        is_discovered(&first, &name).is_some(),
        "first happening: {first:?}"
    );
    task.abort();
}
