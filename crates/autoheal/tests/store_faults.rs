//! The supervisor under store faults, through the binary (issue 7 items 1,
//! 5 and 6). Faults are injected with triggers on the SQLite file the
//! running autoheal uses: `RAISE(ROLLBACK)` is how `SQLITE_FULL` and most
//! `SQLITE_IOERR`s look to a writer (SQLite ends the transaction itself).

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// A target checked by `test -f ok`, healed by `touch ok` (counting runs).
fn config(work: &Path) -> std::path::PathBuf {
    let ok = work.join("ok");
    let runs = work.join("runs");
    write(
        &work.join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[actions.fix]
type = "command"
argv = ["sh", "-c", "echo run >> {runs} && touch {ok}"]

[targets.web]
check = {{ type = "exec", argv = ["test", "-f", "{ok}"], interval = "100ms" }}
failure_threshold = 1
cooldown = "0s"
max_actions = 1000
ladder = [{{ action = "fix", verify = "10s", repeat = 1000 }}]
"#,
            runs = runs.display(),
            ok = ok.display(),
        ),
    )
}

fn runs(work: &Path) -> usize {
    std::fs::read_to_string(work.join("runs"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

async fn phase(app: &Autoheal) -> String {
    app.get("/api/v1/targets/web").await["target"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_heal_runs_while_its_healing_snapshot_cannot_be_saved_and_healing_resumes_after() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ok"), "").unwrap();
    let config = config(work.path());
    let data = work.path().join("data");
    let app = Autoheal::start(&config, &data).await;
    eventually(LONG, "web to be healthy", || async {
        (phase(&app).await == "healthy").then_some(())
    })
    .await;

    // The disk "fills" exactly when the healing snapshot is written.
    let pool = store_db(&data).await;
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_healing BEFORE UPDATE ON target_state \
         WHEN NEW.phase = 'healing' BEGIN SELECT RAISE(ROLLBACK, 'injected: disk full'); END;",
    )
    .execute(&pool)
    .await
    .unwrap();
    std::fs::remove_file(work.path().join("ok")).unwrap();
    eventually(LONG, "a heal refused by the store", || async {
        let refused = app
            .logs()
            .matches("did not run: its attempt could not be recorded")
            .count();
        (refused >= 1).then_some(())
    })
    .await;
    assert_eq!(runs(work.path()), 0, "no action ran without its record");

    // The fault ends: the next decision (after the backoff a failed action
    // earns) heals, exactly once.
    sqlx::raw_sql("DROP TRIGGER refuse_healing")
        .execute(&pool)
        .await
        .unwrap();
    let incident = eventually(LONG, "the incident to close after the fault", || async {
        let page = app.get("/api/v1/incidents?target=web").await;
        let i = page["items"].get(0)?.clone();
        (i["resolution"] == "recovered").then_some(i)
    })
    .await;
    assert_eq!(runs(work.path()), 1, "healed once: {incident}");
    let attempts = incident["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "only the action that ran has an attempt: {incident}"
    );
    assert_eq!(attempts[0]["outcome"], "succeeded");
    // The audit log tells the same: one action started, and the refused one
    // as not run (its `action_started` would have been a lie).
    let events = app.get("/api/v1/events?target=web&limit=500").await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "action_started").count(),
        1,
        "{events}"
    );
    assert!(kinds.contains(&"action_failed"), "{events}");
    let open = app.get("/api/v1/incidents?target=web&state=open").await;
    assert!(open["items"].as_array().unwrap().is_empty(), "{open}");
    // And people are told autoheal could not write for a while.
    let told: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, payload FROM notifications WHERE kind = 'autoheal_degraded'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].1.contains("could not write to its store"),
        "{told:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_incident_the_saved_state_does_not_know_is_closed_as_abandoned_at_start() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ok"), "").unwrap();
    let config = config(work.path());
    let data = work.path().join("data");
    let mut first = Autoheal::start(&config, &data).await;
    eventually(LONG, "web to be healthy", || async {
        (phase(&first).await == "healthy").then_some(())
    })
    .await;
    assert!(first.terminate().success());

    // What a kill between the incident's commit and the snapshot's left
    // behind before they were one unit: an incident the state knows nothing of.
    let pool = store_db(&data).await;
    let orphan: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (target, opened_at, reason) VALUES ('web', 1, 'orphan') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;

    let second = Autoheal::start(&config, &data).await;
    let closed = eventually(LONG, "the orphan to be closed", || async {
        let i = second.get(&format!("/api/v1/incidents/{orphan}")).await;
        (i["resolution"] == "abandoned").then_some(i)
    })
    .await;
    assert!(closed["closed_at"].is_i64(), "{closed}");
    let events = second.get("/api/v1/events?target=web").await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "incident_abandoned" && e["incident_id"] == orphan),
        "{events}"
    );
    let target = second.get("/api/v1/targets/web").await;
    assert_eq!(target["target"]["phase"], "healthy", "{target}");
    assert!(target["target"]["incident_id"].is_null(), "{target}");
    assert_eq!(runs(work.path()), 0);
}
