//! Write faults on the SQLite file store (issue 7, item 1).
//!
//! SQLite rolls a transaction back by itself on `SQLITE_FULL` and often on
//! `SQLITE_IOERR`; a trigger doing `RAISE(ROLLBACK, ...)` makes exactly that
//! happen in the middle of a write, on demand. Before the fix the pooled
//! connection came back believing it was still in a transaction, and every
//! later write on it failed with `database is locked` until a restart.

use autoheal_store::sqlite::SqliteStore;
use autoheal_store::{NewEvent, Store, Unit, Write};
use serde_json::json;

fn event(kind: &str) -> NewEvent {
    NewEvent {
        workspace_id: autoheal_store::DEFAULT_WORKSPACE,
        at: 1,
        target: Some("api".into()),
        incident_id: None,
        kind: kind.into(),
        message: format!("{kind}."),
        actor: "autoheal".into(),
        data: json!(null),
    }
}

/// Makes inserting an event of kind `rollback` fail as `SQLITE_FULL` does
/// (SQLite ends the transaction itself) and one of kind `abort` fail as a
/// plain statement error inside a still-open transaction.
async fn inject(store: &SqliteStore) {
    sqlx::raw_sql(
        "CREATE TRIGGER inject_rollback BEFORE INSERT ON events WHEN NEW.kind = 'rollback' \
         BEGIN SELECT RAISE(ROLLBACK, 'injected fault'); END; \
         CREATE TRIGGER inject_abort BEFORE INSERT ON events WHEN NEW.kind = 'abort' \
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
    )
    .execute(store.pool())
    .await
    .unwrap();
}

async fn heal(store: &SqliteStore) {
    sqlx::raw_sql("DROP TRIGGER inject_rollback; DROP TRIGGER inject_abort;")
        .execute(store.pool())
        .await
        .unwrap();
}

/// Writes that fail on the injected faults, in the order that wedged the
/// store before the fix: a rollback by SQLite itself, then an ordinary
/// error on the same connection.
async fn failing_writes(store: &SqliteStore) {
    for kind in ["rollback", "abort"].repeat(4) {
        let mut unit = Unit::new();
        let inc = unit.open_incident("api", 0, "doomed");
        unit.event(event(kind), Some(inc));
        let err = store
            .commit(&unit)
            .await
            .expect_err("the trigger refuses it");
        assert!(err.to_string().contains("injected fault"), "{err}");
    }
}

/// More writes than the pool has connections, so the ones that saw the
/// faults are used again; each must be committed (seen by another
/// connection), not only answered.
async fn every_connection_still_writes(store: &SqliteStore, other: &SqliteStore) {
    for i in 0..12 {
        let mut unit = Unit::new();
        let inc = unit.open_incident("api", i, "after the fault");
        unit.event(event("incident_opened"), Some(inc));
        unit.push(Write::SaveState {
            name: "api".into(),
            phase: "failing".into(),
            snapshot: json!({"phase": "failing"}),
            at: i,
        });
        store
            .commit(&unit)
            .await
            .unwrap_or_else(|e| panic!("write {i} after the fault failed: {e}"));
        store.append_event(&event("plain")).await.unwrap();
    }
    let count = |reason: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM incidents WHERE reason = $1")
            .bind(reason)
            .fetch_one(other.pool())
            .await
            .unwrap()
    };
    assert_eq!(count("after the fault").await, 12, "every write committed");
    assert_eq!(count("doomed").await, 0, "the failed units wrote nothing");
}

#[tokio::test]
async fn write_errors_never_wedge_the_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("autoheal.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let other = SqliteStore::connect(&url).await.unwrap();
    inject(&store).await;
    failing_writes(&store).await;
    heal(&store).await;
    every_connection_still_writes(&store, &other).await;
}

#[tokio::test]
async fn the_in_memory_store_recovers_from_a_failed_write_too() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    inject(&store).await;
    failing_writes(&store).await;
    heal(&store).await;
    every_connection_still_writes(&store, &store).await;
}
