//! End-to-end: the real binary, a real local HTTP service, real processes.

mod common;

use common::*;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

struct Service {
    dir: tempfile::TempDir,
    port: u16,
}

impl Service {
    fn new() -> Self {
        Service {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        }
    }
    fn argv(&self) -> Vec<String> {
        service_start_argv(self.port, self.dir.path())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        kill_service(self.dir.path());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_http_service_is_restarted_by_a_command_and_the_incident_closes_with_its_mttr() {
    let svc = Service::new();
    run(&svc.argv());
    let port = svc.port;
    eventually(LONG, "the service to answer", || async move {
        http_up(port).await.then_some(())
    })
    .await;

    let work = tempfile::tempdir().unwrap();
    let config = write(
        &work.path().join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[actions.restart-web]
type = "command"
argv = {argv}
timeout = "10s"

[targets.web]
check = {{ type = "http", url = "http://127.0.0.1:{port}/", interval = "200ms", timeout = "1s" }}
failure_threshold = 2
failure_window = "10s"
cooldown = "0s"
ladder = [{{ action = "restart-web", verify = "20s" }}]
"#,
            argv = toml_list(&svc.argv()),
        ),
    );
    let app = Autoheal::start(&config, &work.path().join("data")).await;
    eventually(LONG, "web to be healthy", || async {
        (app.get("/api/v1/targets/web").await["target"]["phase"] == "healthy").then_some(())
    })
    .await;

    kill_service(svc.dir.path());

    let incident = eventually(LONG, "the incident to close", || async {
        let page = app.get("/api/v1/incidents?target=web").await;
        let i = page["items"].get(0)?.clone();
        (i["resolution"] == "recovered").then_some(i)
    })
    .await;
    assert!(http_up(port).await, "the service answers again");
    assert_eq!(
        starts(svc.dir.path()),
        2,
        "started once by the test, once by autoheal"
    );
    let attempts = incident["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{incident}");
    assert_eq!(attempts[0]["action"], "restart-web");
    assert_eq!(attempts[0]["outcome"], "succeeded");
    let mttr = incident["duration_ms"]
        .as_i64()
        .expect("a closed incident has its duration");
    assert!(mttr > 0 && mttr < 60_000, "mttr {mttr}");
    assert_eq!(
        app.get("/api/v1/targets/web").await["target"]["phase"],
        "healthy"
    );
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("autoheal_incidents_opened_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"autoheal_actions_total{kind="command",outcome="succeeded"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_never_recovers_is_quarantined_after_the_configured_attempts_and_left_alone()
{
    let work = tempfile::tempdir().unwrap();
    let dead = free_port();
    let counter = work.path().join("runs");
    let config = write(
        &work.path().join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[actions.futile]
type = "command"
argv = ["sh", "-c", "echo run >> {counter}"]

[targets.dead]
check = {{ type = "tcp", address = "127.0.0.1:{dead}", interval = "100ms", timeout = "1s" }}
failure_threshold = 1
cooldown = "0s"
max_actions = 3
actions_window = "1h"
ladder = [{{ action = "futile", verify = "300ms", repeat = 10 }}]

[targets.dead.backoff]
initial = "100ms"
factor = 1.0
max = "100ms"
jitter = 0.0
"#,
            counter = counter.display()
        ),
    );
    let app = Autoheal::start(&config, &work.path().join("data")).await;
    let incident = eventually(LONG, "quarantine", || async {
        let page = app.get("/api/v1/incidents?target=dead").await;
        let i = page["items"].get(0)?.clone();
        i["quarantine_reason"].is_string().then_some(i)
    })
    .await;
    assert_eq!(
        app.get("/api/v1/targets/dead").await["target"]["phase"],
        "quarantined"
    );
    assert_eq!(
        incident["attempts"].as_array().unwrap().len(),
        3,
        "{incident}"
    );
    assert!(
        incident["closed_at"].is_null(),
        "a quarantined incident stays open"
    );

    // Let many more failing checks arrive; still no action.
    let seen = app.get("/api/v1/targets/dead").await["target"]["last_check_at"]
        .as_i64()
        .unwrap();
    eventually(LONG, "ten more check results", || async {
        let checks = app.get("/api/v1/targets/dead").await["recent_checks"].clone();
        let newer = checks
            .as_array()?
            .iter()
            .filter(|c| c["at"].as_i64().unwrap_or(0) > seen)
            .count();
        (newer >= 10).then_some(())
    })
    .await;
    let runs = std::fs::read_to_string(&counter).unwrap().lines().count();
    assert_eq!(runs, 3, "exactly three actions ran");
    let again = app
        .get(&format!("/api/v1/incidents/{}", incident["id"]))
        .await;
    assert_eq!(again["attempts"].as_array().unwrap().len(), 3);

    // An operator can release it; the API answers as documented.
    let (status, body) = app.post("/api/v1/targets/dead/release").await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn autoheal_killed_mid_heal_and_started_again_does_not_repeat_the_heal() {
    let svc = Service::new();
    let port = svc.port;
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("acting");
    // The action starts the service, says it is acting, then takes its time.
    let mut argv = svc.argv();
    argv[2] = format!("{} && touch {} && sleep 30", argv[2], marker.display());
    let config = write(
        &work.path().join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[actions.slow-restart]
type = "command"
argv = {argv}
timeout = "60s"

[targets.web]
check = {{ type = "http", url = "http://127.0.0.1:{port}/", interval = "200ms", timeout = "1s" }}
failure_threshold = 2
cooldown = "0s"
ladder = [{{ action = "slow-restart", verify = "30s" }}]
"#,
            argv = toml_list(&argv)
        ),
    );
    let data = work.path().join("data");
    let mut first = Autoheal::start(&config, &data).await;
    let m = marker.clone();
    eventually(LONG, "the action to be running", || {
        let m = m.clone();
        async move { m.exists().then_some(()) }
    })
    .await;
    first.kill9();
    assert_eq!(starts(svc.dir.path()), 1);

    let second = Autoheal::start(&config, &data).await;
    let incident = eventually(LONG, "the incident to close after restart", || async {
        let page = second.get("/api/v1/incidents?target=web").await;
        let i = page["items"].get(0)?.clone();
        (i["resolution"] == "recovered").then_some(i)
    })
    .await;
    assert_eq!(starts(svc.dir.path()), 1, "the heal was not repeated");
    let attempts = incident["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{incident}");
    assert_eq!(attempts[0]["outcome"], "interrupted");
    assert_eq!(
        second.get("/api/v1/incidents?target=web").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_autoheal_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let config = write(
        &work.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n",
    );
    let mut app = Autoheal::start(&config, &work.path().join("data")).await;
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", app.logs());
    assert!(app.logs().contains("autoheal stopped."), "{}", app.logs());
}

/// Issue 7 item 10: a check's credentials (URL userinfo and query, header
/// values, env values, arguments) are in no API answer, no byte of the
/// SQLite files and no log line, while what they are named stays readable.
#[tokio::test(flavor = "multi_thread")]
async fn a_checks_secrets_are_neither_answered_nor_stored() {
    let work = tempfile::tempdir().unwrap();
    let port = free_port(); // nothing listens: the checks fail, which logs
    let config = write(
        &work.path().join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[actions.page]
type = "webhook"
url = "http://127.0.0.1:{port}/hook?sig=CANARY-WEBHOOK-SIG"
headers = {{ "X-Api-Key" = "CANARY-WEBHOOK-KEY" }}

[actions.fix]
type = "command"
argv = ["true", "--password", "CANARY-CMD-ARG"]
env = {{ API_TOKEN = "CANARY-CMD-ENV" }}

[targets.web]
check = {{ type = "http", url = "http://admin:CANARY-USERINFO@127.0.0.1:{port}/health?token=CANARY-QUERY&v=1", headers = {{ Authorization = "Bearer CANARY-BEARER", Cookie = "s=CANARY-COOKIE" }}, interval = "200ms", timeout = "1s" }}
ladder = [{{ action = "fix", verify = "1s" }}, {{ action = "page", verify = "1s" }}]
dry_run = true

[targets.job]
check = {{ type = "exec", argv = ["sh", "-c", "exit 0", "--token=CANARY-EXEC-ARG"], env = {{ PGPASSWORD = "CANARY-EXEC-ENV" }}, interval = "200ms" }}

[targets.db]
check = {{ type = "tcp", address = "127.0.0.1:{port}", interval = "200ms" }}
"#
        ),
    );
    let data = work.path().join("data");
    let app = Autoheal::start(&config, &data).await;
    let web = eventually(LONG, "web's spec and a failed check", || async {
        let v = app.get("/api/v1/targets/web").await;
        (!v["spec"].is_null() && v["recent_checks"].as_array()?.len() >= 2).then_some(v)
    })
    .await;
    let job = eventually(LONG, "job's spec and a check", || async {
        let v = app.get("/api/v1/targets/job").await;
        (!v["spec"].is_null() && !v["recent_checks"].as_array()?.is_empty()).then_some(v)
    })
    .await;
    // What the secrets are stays visible.
    let check = &web["spec"]["check"];
    assert_eq!(check["headers"]["Authorization"], "[redacted]", "{web}");
    assert_eq!(check["headers"]["Cookie"], "[redacted]", "{web}");
    assert_eq!(
        check["url"],
        format!("http://[redacted]@127.0.0.1:{port}/health?token=[redacted]&v=[redacted]")
    );
    assert_eq!(
        job["spec"]["check"]["env"]["PGPASSWORD"], "[redacted]",
        "{job}"
    );
    let answers = [
        web.to_string(),
        job.to_string(),
        app.get("/api/v1/targets").await.to_string(),
        app.get("/api/v1/targets/db").await.to_string(),
        app.get("/api/v1/events?limit=500").await.to_string(),
        app.get("/api/v1/incidents").await.to_string(),
    ];
    // The store's files, WAL included, byte by byte.
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    assert!(
        files
            .iter()
            .any(|(p, bytes)| p.ends_with(".db") && !bytes.is_empty()),
        "the SQLite file is there"
    );
    assert!(
        files
            .iter()
            .any(|(_, b)| String::from_utf8_lossy(b).contains("[redacted]")),
        "the redacted spec is stored"
    );
    let logs = app.logs();
    assert!(logs.contains("web"), "logs are captured");
    for canary in [
        "CANARY-USERINFO",
        "CANARY-QUERY",
        "CANARY-BEARER",
        "CANARY-COOKIE",
        "CANARY-EXEC-ARG",
        "CANARY-EXEC-ENV",
        "CANARY-CMD-ARG",
        "CANARY-CMD-ENV",
        "CANARY-WEBHOOK-SIG",
        "CANARY-WEBHOOK-KEY",
    ] {
        for a in &answers {
            assert!(!a.contains(canary), "{canary} answered: {a}");
        }
        for (path, bytes) in &files {
            assert!(
                !String::from_utf8_lossy(bytes).contains(canary),
                "{canary} stored in {path}"
            );
        }
        assert!(!logs.contains(canary), "{canary} logged");
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Issue 7 item 12: idle connections beyond `max_connections` hold none of
/// autoheal's descriptors, idle ones are closed after `header_read_timeout`,
/// checks keep running and a new probe is answered; the soft fd limit is
/// raised to the hard one.
#[tokio::test(flavor = "multi_thread")]
async fn idle_api_connections_cannot_starve_checks_of_descriptors() {
    let work = tempfile::tempdir().unwrap();
    let config = write(
        &work.path().join("autoheal.toml"),
        r#"
[docker]
enabled = false

[server]
max_connections = 8
header_read_timeout = "1s"

[targets.job]
check = { type = "exec", argv = ["true"], interval = "100ms" }
"#,
    );
    let app = Autoheal::start(&config, &work.path().join("data")).await;
    let pid = app.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(
        nums[0], nums[1],
        "soft fd limit raised to the hard one: {line}"
    );

    let checked = |v: &serde_json::Value| v["target"]["last_check_at"].as_i64();
    let before = eventually(LONG, "job to be checked", || async {
        checked(&app.get("/api/v1/targets/job").await)
    })
    .await;
    let baseline = open_fds(pid);
    let addr = app.base.trim_start_matches("http://").to_string();
    // 40 connections that never send a byte.
    let idle: Vec<std::net::TcpStream> = (0..40)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let mut most = 0;
    // A new probe gets through once the idle ones time out...
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    eventually(LONG, "a new /live probe to be answered", || {
        most = most.max(open_fds(pid));
        let client = client.clone();
        let url = format!("{}/live", app.base);
        async move {
            let r = client.get(url).send().await.ok()?;
            (r.status().as_u16() == 200).then_some(())
        }
    })
    .await;
    // ... and the checks never stopped.
    eventually(LONG, "job to be checked again", || async {
        let at = checked(&app.get("/api/v1/targets/job").await)?;
        (at > before).then_some(())
    })
    .await;
    // Every idle connection was accepted in turn and closed by autoheal.
    for mut s in idle {
        use std::io::Read;
        s.set_read_timeout(Some(LONG)).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "an idle connection is closed without an answer");
    }
    // The slack: the probe's own connection, a check's pipes.
    assert!(
        most <= baseline + 8 + 6,
        "at most max_connections descriptors for API connections: {most} open vs {baseline} before"
    );
}
