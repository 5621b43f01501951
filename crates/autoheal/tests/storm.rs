//! The kill -9 storm under store faults (issue 7, "done when"): autoheal is
//! killed again and again while its targets fail and heal and while writes
//! to its store are refused, then started once more on a quiet store. The
//! ledger must hold: every heal that ran has its attempt recorded, no heal
//! ran twice, no incident is left open, and every attempt's start and end
//! are in the audit log.
//!
//! Short in CI (`AUTOHEAL_STORM_ROUNDS`, default 6); the long run is
//! `AUTOHEAL_STORM_ROUNDS=250 cargo test -p autoheal --test storm`. A failing
//! run prints its seed; `AUTOHEAL_STORM_SEED=N` replays the same schedule of
//! faults and kills (the machine's timing still varies).

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

const TARGETS: usize = 4;
const LONG: Duration = Duration::from_secs(120);

/// splitmix64: a seeded schedule, printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The store faults: how a full disk, an I/O error or a lock refusal looks
/// to autoheal's writer, on each table a heal writes. `ROLLBACK` ends the
/// whole transaction (as SQLITE_FULL does); `ABORT` fails only the statement
/// and leaves the writer's transaction open for it to roll back.
const FAULTS: &[(&str, &str)] = &[
    ("target_state", "UPDATE"),
    ("target_state", "INSERT"),
    ("incidents", "INSERT"),
    ("incidents", "UPDATE"),
    ("attempts", "INSERT"),
    ("attempts", "UPDATE"),
    ("events", "INSERT"),
];

fn config(work: &Path) -> std::path::PathBuf {
    let w = work.display();
    let mut text = format!(
        r#"
[docker]
enabled = false

[actions.fix]
type = "command"
argv = ["sh", "-c", "echo \"$AUTOHEAL_TARGET $AUTOHEAL_INCIDENT_ID $AUTOHEAL_RUNG $AUTOHEAL_ATTEMPT\" >> {w}/runs && sleep 0.3 && touch {w}/ok-$AUTOHEAL_TARGET"]
timeout = "10s"
"#
    );
    for t in 0..TARGETS {
        text.push_str(&format!(
            r#"
[targets.t{t}]
check = {{ type = "exec", argv = ["test", "-f", "{w}/ok-t{t}"], interval = "100ms" }}
failure_threshold = 1
cooldown = "0s"
max_actions = 100000
ladder = [{{ action = "fix", verify = "2s", repeat = 100000 }}]
"#
        ));
    }
    write(&work.join("autoheal.toml"), &text)
}

async fn inject(pool: &sqlx::SqlitePool, n: usize, how: &str) {
    let (table, op) = FAULTS[n];
    let sql = format!(
        "CREATE TRIGGER IF NOT EXISTS storm_fault_{n} BEFORE {op} ON {table} \
         BEGIN SELECT RAISE({how}, 'injected: disk full'); END;"
    );
    // The store may be busy for a moment; a fault that could not be made is
    // simply not made this time.
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await;
}

async fn clear_faults(pool: &sqlx::SqlitePool) {
    for n in 0..FAULTS.len() {
        let sql = format!("DROP TRIGGER IF EXISTS storm_fault_{n}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .expect("a fault can be removed");
    }
}

fn heal_log(work: &Path) -> Vec<String> {
    std::fs::read_to_string(work.join("runs"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn sleep(ms: u64) -> tokio::time::Sleep {
    // The storm's own rhythm (the stimulus), not a wait for a condition.
    tokio::time::sleep(Duration::from_millis(ms))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_storm_under_store_faults_loses_no_record_repeats_no_heal_and_leaves_no_orphan() {
    let rounds: u64 = std::env::var("AUTOHEAL_STORM_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("AUTOHEAL_STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("storm: {rounds} rounds, AUTOHEAL_STORM_SEED={seed}");
    let mut rng = Rng(seed);

    let work = tempfile::tempdir().unwrap();
    for t in 0..TARGETS {
        std::fs::write(work.path().join(format!("ok-t{t}")), "").unwrap();
    }
    let config = config(work.path());
    let data = work.path().join("data");

    for round in 0..rounds {
        let mut app = Autoheal::start(&config, &data).await;
        let pool = store_db(&data).await;
        // A storm round: outages, faults coming and going, then a kill at a
        // random moment (mid-decision, mid-commit, mid-action).
        let steps = 4 + rng.below(8);
        for _ in 0..steps {
            match rng.below(5) {
                0..=2 => {
                    let t = rng.below(TARGETS as u64);
                    let _ = std::fs::remove_file(work.path().join(format!("ok-t{t}")));
                }
                3 => {
                    let how = if rng.below(2) == 0 {
                        "ROLLBACK"
                    } else {
                        "ABORT"
                    };
                    inject(&pool, rng.below(FAULTS.len() as u64) as usize, how).await;
                }
                _ => clear_faults(&pool).await,
            }
            sleep(50 + rng.below(300)).await;
        }
        app.kill9();
        clear_faults(&pool).await;
        pool.close().await;
        eprintln!(
            "storm: round {round} done, {} heals so far",
            heal_log(work.path()).len()
        );
    }

    // The storm ends: no fault, every service can come back. autoheal must
    // settle every target healthy with no incident left open.
    let app = Autoheal::start(&config, &data).await;
    eventually(
        LONG,
        "every target healthy and no incident open",
        || async {
            for t in 0..TARGETS {
                let v = app.get(&format!("/api/v1/targets/t{t}")).await;
                if v["target"]["phase"] != "healthy" {
                    return None;
                }
            }
            let open = app.get("/api/v1/incidents?state=open").await;
            open["items"].as_array()?.is_empty().then_some(())
        },
    )
    .await;
    drop(app);

    let pool = store_db(&data).await;
    let log = heal_log(work.path());

    // No repeated heal: each (target, incident, rung, attempt) ran once.
    let mut seen = BTreeSet::new();
    for line in &log {
        assert!(
            seen.insert(line.clone()),
            "heal ran twice: {line} (seed {seed})"
        );
    }

    // No heal without its record: each run has its attempt, on its target.
    let attempts: Vec<(i64, String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT a.id, i.target, a.incident_id, a.rung * 1000000 + a.attempt, a.outcome \
         FROM attempts a JOIN incidents i ON i.id = a.incident_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut by_key = BTreeMap::new();
    for (id, target, incident, ra, outcome) in &attempts {
        let (rung, attempt) = (ra / 1_000_000, ra % 1_000_000);
        by_key.insert(
            format!("{target} {incident} {rung} {attempt}"),
            (*id, outcome.clone()),
        );
    }
    for line in &log {
        assert!(
            by_key.contains_key(line),
            "a heal ran without its attempt recorded: {line} (seed {seed})"
        );
    }
    // An attempt with no run is one whose process never started: a kill
    // between its commit and its launch. It is closed as interrupted.
    for (key, (_, outcome)) in &by_key {
        if !seen.contains(key) {
            assert_eq!(
                outcome.as_deref(),
                Some("interrupted"),
                "attempt {key} never ran but ended {outcome:?} (seed {seed})"
            );
        }
    }

    // No orphan: every incident is closed, with its opening and closing in
    // the audit log, and every attempt has ended.
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE closed_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(open, 0, "seed {seed}");
    let unfinished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE finished_at IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(unfinished, 0, "seed {seed}");
    let unlogged: Vec<(i64, String)> = sqlx::query_as(
        "SELECT i.id, k.kind FROM incidents i, \
           (SELECT 'incident_opened' AS kind UNION ALL SELECT 'incident_closed') k \
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.incident_id = i.id \
                           AND (e.kind = k.kind OR (k.kind = 'incident_closed' AND e.kind = 'incident_abandoned')))",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        unlogged.is_empty(),
        "incidents missing events: {unlogged:?} (seed {seed})"
    );
    let starts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'action_started'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let ends: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE kind IN ('action_finished', 'action_interrupted')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        starts,
        attempts.len() as i64,
        "one action_started per attempt (seed {seed})"
    );
    assert_eq!(
        ends,
        attempts.len() as i64,
        "one end event per attempt (seed {seed})"
    );
    assert!(
        !log.is_empty(),
        "the storm healed nothing: it tested nothing (seed {seed})"
    );
    eprintln!(
        "storm: {} heals, {} attempts, {} incidents; ledger holds",
        log.len(),
        attempts.len(),
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM incidents")
            .fetch_one(&pool)
            .await
            .unwrap()
    );
}
