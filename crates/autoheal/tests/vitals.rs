//! Readiness and liveness tell the truth, and autoheal fails loudly rather
//! than serve on without healing (issue 7 items 2 and 4).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn config(work: &Path, action_argv: &str) -> std::path::PathBuf {
    let ok = work.join("ok");
    write(
        &work.join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[actions.fix]
type = "command"
argv = {action_argv}
timeout = "5m"

[targets.web]
check = {{ type = "exec", argv = ["test", "-f", "{ok}"], interval = "100ms" }}
failure_threshold = 1
ladder = [{{ action = "fix", verify = "10s" }}]
"#,
            ok = ok.display(),
        ),
    )
}

fn command(config: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autoheal"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("AUTOHEAL_LOG_FORMAT", "json")
        .env("AUTOHEAL_LOG_LEVEL", "info");
    cmd
}

async fn probe(app: &Autoheal, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

async fn exits(app: &mut Autoheal) -> std::process::ExitStatus {
    eventually(LONG, "autoheal to exit", || {
        let s = app.child.try_wait().unwrap();
        async move { s }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_fails_while_the_store_refuses_writes_and_recovers_after() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ok"), "").unwrap();
    let config = config(work.path(), r#"["true"]"#);
    let data = work.path().join("data");
    let app = Autoheal::start(&config, &data).await;
    eventually(LONG, "ready", || async {
        (probe(&app, "/ready").await.0 == 200).then_some(())
    })
    .await;

    let url = format!("sqlite://{}", data.join("autoheal.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER full BEFORE UPDATE ON store_probe \
         BEGIN SELECT RAISE(ROLLBACK, 'injected: database or disk is full'); END;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let body = eventually(LONG, "not ready while writes fail", || async {
        let (status, body) = probe(&app, "/ready").await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(
        body["store"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    assert_eq!(body["supervisor"], "running", "{body}");
    assert_eq!(probe(&app, "/live").await.0, 200, "alive, only not ready");

    sqlx::raw_sql("DROP TRIGGER full")
        .execute(&pool)
        .await
        .unwrap();
    let body = eventually(LONG, "ready again", || async {
        let (status, body) = probe(&app, "/ready").await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(body["store"], "ok", "{body}");
    assert_eq!(body["scheduler"], "running", "{body}");
}

async fn a_dead_vital_task_makes_autoheal_exit_non_zero(task: &str) {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ok"), "").unwrap();
    let config = config(work.path(), r#"["true"]"#);
    let trigger = work.path().join("panic-now");
    let mut cmd = command(&config, &work.path().join("data"));
    cmd.env("AUTOHEAL_FAULT_PANIC", task)
        .env("AUTOHEAL_FAULT_TRIGGER", &trigger);
    let mut app = Autoheal::spawn(cmd).await;
    eventually(LONG, "ready", || async {
        (probe(&app, "/ready").await.0 == 200).then_some(())
    })
    .await;
    std::fs::write(&trigger, "").unwrap();
    let status = exits(&mut app).await;
    assert!(!status.success(), "exit status {status:?}\n{}", app.logs());
    let logs = app.logs();
    assert!(logs.contains("A vital task ended"), "{logs}");
    assert!(
        logs.contains(&format!("injected fault in the {task} task")),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicked_supervisor_makes_autoheal_exit_non_zero() {
    a_dead_vital_task_makes_autoheal_exit_non_zero("supervisor").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicked_check_scheduler_makes_autoheal_exit_non_zero() {
    a_dead_vital_task_makes_autoheal_exit_non_zero("scheduler").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_does_not_wait_for_a_long_action_and_the_heal_is_not_repeated() {
    let work = tempfile::tempdir().unwrap();
    let acting = work.path().join("acting");
    let runs = work.path().join("runs");
    // The heal says it runs, then takes five minutes.
    let argv = format!(
        r#"["sh", "-c", "echo run >> {} && touch {} && sleep 300"]"#,
        runs.display(),
        acting.display()
    );
    let config = config(work.path(), &argv);
    let data = work.path().join("data");
    let mut app = Autoheal::start(&config, &data).await;
    eventually(LONG, "the heal to be running", || {
        let a = acting.clone();
        async move { a.exists().then_some(()) }
    })
    .await;
    let pid = app.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    // Well before the action would end: the stop is bounded.
    let status = exits(&mut app).await;
    assert!(status.success(), "{status:?}\n{}", app.logs());
    assert!(
        app.logs().contains("Stopping without waiting longer"),
        "{}",
        app.logs()
    );

    let again = Autoheal::start(&config, &data).await;
    let incident = eventually(LONG, "the interrupted attempt", || async {
        let page = again.get("/api/v1/incidents?target=web").await;
        let i = page["items"].get(0)?.clone();
        (i["attempts"][0]["outcome"] == "interrupted").then_some(i)
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap().lines().count(),
        1,
        "not repeated: {incident}"
    );
}
