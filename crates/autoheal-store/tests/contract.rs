//! The store contract: every scenario is written once, against
//! `Arc<dyn Store>` (or a store URL, for the scenarios that reopen the store),
//! and run against both backends by the `contract!` macro at the bottom.
//!
//! - SQLite: a fresh file in a temp directory per test.
//! - PostgreSQL: a fresh database per test (`CREATE DATABASE
//!   autoheal_test_<random>` on the server named by
//!   `AUTOHEAL_TEST_POSTGRES_URL`, dropped afterwards). Without that variable
//!   the PostgreSQL tests print `skipped: ...` and pass, unless
//!   `AUTOHEAL_REQUIRE_POSTGRES=1` (CI) makes them fail instead.
//!   `scripts/start-test-postgres.sh` starts a suitable server.

use std::collections::HashSet;
use std::sync::Arc;

use autoheal_store::{
    open, CheckResultRow, EventFilter, IncidentFilter, NewAttempt, NewEvent, Ref, Retention, Store,
    StoreError, TargetDef, Unit, Uptime, Write,
};
use serde_json::json;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// An hour boundary in November 2023, so times look like real ones.
const T0: i64 = 1_700_000_000_000 / HOUR * HOUR;

fn target(name: &str, kind: &str, spec: serde_json::Value) -> TargetDef {
    TargetDef {
        name: name.into(),
        kind: kind.into(),
        spec,
    }
}

fn check(target: &str, at: i64, status: &str) -> CheckResultRow {
    CheckResultRow {
        target: target.into(),
        at,
        status: status.into(),
        latency_ms: Some(12),
        detail: format!("{status} at {at}"),
    }
}

fn attempt(incident_id: i64, rung: i32, n: i32, action: &str, at: i64) -> NewAttempt {
    NewAttempt {
        incident_id,
        rung,
        attempt: n,
        action: action.into(),
        started_at: at,
        dry_run: false,
    }
}

fn event(at: i64, target: Option<&str>, incident_id: Option<i64>, kind: &str) -> NewEvent {
    NewEvent {
        workspace_id: autoheal_store::DEFAULT_WORKSPACE,
        at,
        target: target.map(Into::into),
        incident_id,
        kind: kind.into(),
        message: format!("{kind} happened."),
        actor: "autoheal".into(),
        data: json!({ "kind": kind, "n": at }),
    }
}

fn long_retention() -> Retention {
    Retention {
        check_results_ms: 365 * DAY,
        events_ms: 365 * DAY,
        incidents_ms: 365 * DAY,
        rollups_ms: 400 * DAY,
    }
}

// --- scenarios on one store ---------------------------------------------------

async fn the_store_answers_pings_and_names_its_backend(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}

async fn targets_are_upserted_listed_fetched_and_deleted(store: Arc<dyn Store>) {
    assert!(store.list_targets().await.unwrap().is_empty());
    assert_eq!(store.get_target("web").await.unwrap(), None);

    store
        .upsert_target(&target(
            "web",
            "http",
            json!({"url": "http://web:8080/health"}),
        ))
        .await
        .unwrap();
    store
        .upsert_target(&target("db", "tcp", json!({"addr": "db:5432"})))
        .await
        .unwrap();

    let all = store.list_targets().await.unwrap();
    let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["db", "web"], "listed by name");
    let web = store.get_target("web").await.unwrap().expect("web exists");
    assert_eq!(web.kind, "http");
    assert_eq!(web.spec, json!({"url": "http://web:8080/health"}));
    assert_eq!(web.phase, "healthy", "healthy until a state is saved");
    assert_eq!(web.snapshot, None);
    assert_eq!(web.state_updated_at, None);
    assert!(web.created_at > 0);

    // Upsert changes the definition and keeps created_at.
    store
        .upsert_target(&target("web", "docker", json!({"container": "web-1"})))
        .await
        .unwrap();
    let web2 = store.get_target("web").await.unwrap().unwrap();
    assert_eq!(web2.kind, "docker");
    assert_eq!(web2.spec, json!({"container": "web-1"}));
    assert_eq!(web2.created_at, web.created_at);
    assert_eq!(store.list_targets().await.unwrap().len(), 2);

    // Delete removes the definition and the state, not the history.
    store
        .save_state("web", "unhealthy", &json!({"failures": 3}), T0)
        .await
        .unwrap();
    let incident = store.open_incident("web", T0, "down").await.unwrap();
    store
        .append_event(&event(T0, Some("web"), Some(incident), "incident_opened"))
        .await
        .unwrap();
    store.delete_target("web").await.unwrap();
    assert_eq!(store.get_target("web").await.unwrap(), None);
    let names: Vec<String> = store
        .list_targets()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["db"]);
    assert!(store.get_incident(incident).await.unwrap().is_some());
    let events = store
        .list_events(&EventFilter {
            target: Some("web".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1);

    // Re-adding it starts from a clean state.
    store
        .upsert_target(&target("web", "http", json!({})))
        .await
        .unwrap();
    let again = store.get_target("web").await.unwrap().unwrap();
    assert_eq!(again.phase, "healthy");
    assert_eq!(again.snapshot, None);

    // Deleting what is not there is not an error.
    store.delete_target("nope").await.unwrap();
}

async fn target_state_is_saved_and_reloaded(store: Arc<dyn Store>) {
    store
        .upsert_target(&target("api", "http", json!({"url": "http://api/"})))
        .await
        .unwrap();
    let first = json!({"phase": "degraded", "failures": [1, 2], "note": "ünïcødé ✓"});
    store
        .save_state("api", "degraded", &first, T0)
        .await
        .unwrap();
    let api = store.get_target("api").await.unwrap().unwrap();
    assert_eq!(api.phase, "degraded");
    assert_eq!(api.snapshot, Some(first));
    assert_eq!(api.state_updated_at, Some(T0));

    let second = json!({
        "phase": "quarantined",
        "backoff_ms": 300_000,
        "ratio": 0.25,
        "nested": {"list": [{"a": null}, {"b": true}]},
        "big": i64::MAX,
    });
    store
        .save_state("api", "quarantined", &second, T0 + 1_000)
        .await
        .unwrap();
    let listed = store.list_targets().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].phase, "quarantined");
    assert_eq!(listed[0].snapshot, Some(second));
    assert_eq!(listed[0].state_updated_at, Some(T0 + 1_000));
}

async fn check_results_are_listed_newest_first_and_uptime_survives_pruning_raw_rows(
    store: Arc<dyn Store>,
) {
    let m = 60_000;
    // Hour T0: up, up, (half past) up, down. Hour T0+1h: up, degraded, up.
    for (at, status) in [
        (T0 + 10 * m, "up"),
        (T0 + 20 * m, "up"),
        (T0 + 40 * m, "up"),
        (T0 + 50 * m, "down"),
        (T0 + HOUR + 5 * m, "up"),
        (T0 + HOUR + 15 * m, "degraded"),
        (T0 + HOUR + 25 * m, "up"),
    ] {
        store.record_check(&check("web", at, status)).await.unwrap();
    }
    for i in 0..3 {
        store
            .record_check(&check("other", T0 + i * m, "down"))
            .await
            .unwrap();
    }

    let recent = store.recent_checks("web", 2).await.unwrap();
    let ats: Vec<i64> = recent.iter().map(|c| c.at).collect();
    assert_eq!(ats, [T0 + HOUR + 25 * m, T0 + HOUR + 15 * m]);
    assert_eq!(recent[1].status, "degraded");
    assert_eq!(recent[1].latency_ms, Some(12));
    assert_eq!(
        recent[1].detail,
        format!("degraded at {}", T0 + HOUR + 15 * m)
    );
    assert_eq!(
        store.recent_checks("web", 0).await.unwrap().len(),
        7,
        "0 means the default"
    );
    assert!(store.recent_checks("nobody", 10).await.unwrap().is_empty());

    let whole = Uptime {
        up: 5,
        degraded: 1,
        down: 1,
    };
    assert_eq!(store.uptime("web", T0).await.unwrap(), whole);
    assert_eq!(store.uptime("web", T0 - 30 * DAY).await.unwrap(), whole);
    // From half past T0: the partial hour from raw rows, the next from rollups.
    assert_eq!(
        store.uptime("web", T0 + 30 * m).await.unwrap(),
        Uptime {
            up: 3,
            degraded: 1,
            down: 1
        }
    );
    assert_eq!(
        store.uptime("web", T0 + 2 * HOUR).await.unwrap(),
        Uptime::default()
    );
    assert_eq!(
        store.uptime("other", T0).await.unwrap(),
        Uptime {
            up: 0,
            degraded: 0,
            down: 3
        }
    );

    // Prune every raw row; the hourly rollups keep the counts.
    let gone = store
        .prune(
            &Retention {
                check_results_ms: DAY,
                ..long_retention()
            },
            T0 + 10 * DAY,
        )
        .await
        .unwrap();
    assert_eq!(gone, 10);
    assert!(store.recent_checks("web", 50).await.unwrap().is_empty());
    assert_eq!(store.uptime("web", T0).await.unwrap(), whole);
    assert_eq!(store.uptime("other", T0).await.unwrap().down, 3);
}

async fn an_incident_opens_records_attempts_and_closes_with_its_duration(store: Arc<dyn Store>) {
    let id = store
        .open_incident("web", T0, "3 failures within 60s: HTTP 503")
        .await
        .unwrap();
    let fresh = store
        .get_incident(id)
        .await
        .unwrap()
        .expect("incident exists");
    assert_eq!(fresh.id, id);
    assert_eq!(fresh.target, "web");
    assert_eq!(fresh.opened_at, T0);
    assert_eq!(fresh.reason, "3 failures within 60s: HTTP 503");
    assert_eq!(fresh.closed_at, None);
    assert_eq!(fresh.resolution, None);
    assert_eq!(fresh.quarantine_reason, None);
    assert_eq!(fresh.duration_ms, None);
    assert!(fresh.attempts.is_empty());

    // The attempt is on record before its action runs.
    let a1 = store
        .start_attempt(&attempt(id, 0, 1, "restart", T0 + 1_000))
        .await
        .unwrap();
    let running = store.get_incident(id).await.unwrap().unwrap();
    assert_eq!(running.attempts.len(), 1);
    assert_eq!(running.attempts[0].id, a1);
    assert_eq!(running.attempts[0].outcome, None);
    assert_eq!(running.attempts[0].finished_at, None);

    store
        .finish_attempt(a1, T0 + 11_000, "failed", "exit status 1")
        .await
        .unwrap();
    let a2 = store
        .start_attempt(&NewAttempt {
            dry_run: true,
            ..attempt(id, 1, 1, "redeploy", T0 + 30_000)
        })
        .await
        .unwrap();
    store
        .finish_attempt(a2, T0 + 30_001, "dry_run", "would redeploy")
        .await
        .unwrap();
    assert!(a2 > a1);

    store
        .close_incident(id, T0 + 90_000, "recovered")
        .await
        .unwrap();
    let closed = store.get_incident(id).await.unwrap().unwrap();
    assert_eq!(closed.closed_at, Some(T0 + 90_000));
    assert_eq!(closed.resolution.as_deref(), Some("recovered"));
    assert_eq!(closed.duration_ms, Some(90_000));
    let attempts = &closed.attempts;
    assert_eq!(attempts.iter().map(|a| a.id).collect::<Vec<_>>(), [a1, a2]);
    assert_eq!(attempts[0].incident_id, id);
    assert_eq!(
        (
            attempts[0].rung,
            attempts[0].attempt,
            attempts[0].action.as_str()
        ),
        (0, 1, "restart")
    );
    assert_eq!(attempts[0].started_at, T0 + 1_000);
    assert_eq!(attempts[0].finished_at, Some(T0 + 11_000));
    assert_eq!(attempts[0].outcome.as_deref(), Some("failed"));
    assert_eq!(attempts[0].detail.as_deref(), Some("exit status 1"));
    assert!(!attempts[0].dry_run);
    assert_eq!(
        (attempts[1].rung, attempts[1].action.as_str()),
        (1, "redeploy")
    );
    assert!(attempts[1].dry_run);
    assert_eq!(attempts[1].outcome.as_deref(), Some("dry_run"));

    // Closing twice keeps the first close.
    store
        .close_incident(id, T0 + 999_000, "released")
        .await
        .unwrap();
    let still = store.get_incident(id).await.unwrap().unwrap();
    assert_eq!(still.closed_at, Some(T0 + 90_000));
    assert_eq!(still.resolution.as_deref(), Some("recovered"));

    // Unknown ids.
    let missing = id + 1_000;
    assert_eq!(store.get_incident(missing).await.unwrap(), None);
    assert!(matches!(
        store.close_incident(missing, T0, "recovered").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_incident_quarantined(missing, "why").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .start_attempt(&attempt(missing, 0, 1, "restart", T0))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.finish_attempt(a2 + 1_000, T0, "failed", "").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn open_incident_for_returns_only_the_open_incident_of_that_target(store: Arc<dyn Store>) {
    assert_eq!(store.open_incident_for("web").await.unwrap(), None);
    let old = store
        .open_incident("web", T0, "first outage")
        .await
        .unwrap();
    store
        .close_incident(old, T0 + 1_000, "recovered")
        .await
        .unwrap();
    let other = store
        .open_incident("db", T0 + 2_000, "db down")
        .await
        .unwrap();
    let current = store
        .open_incident("web", T0 + 3_000, "second outage")
        .await
        .unwrap();
    let a = store
        .start_attempt(&attempt(current, 0, 1, "restart", T0 + 4_000))
        .await
        .unwrap();

    let open = store
        .open_incident_for("web")
        .await
        .unwrap()
        .expect("open one");
    assert_eq!(open.id, current);
    assert_eq!(open.reason, "second outage");
    assert_eq!(open.attempts.iter().map(|x| x.id).collect::<Vec<_>>(), [a]);
    assert_eq!(
        store.open_incident_for("db").await.unwrap().unwrap().id,
        other
    );
    assert_eq!(store.open_incident_for("nobody").await.unwrap(), None);

    store
        .close_incident(current, T0 + 5_000, "recovered")
        .await
        .unwrap();
    assert_eq!(store.open_incident_for("web").await.unwrap(), None);
}

async fn a_quarantined_incident_stays_open_and_carries_its_reason(store: Arc<dyn Store>) {
    let id = store.open_incident("web", T0, "crash loop").await.unwrap();
    store
        .set_incident_quarantined(id, "5 actions in 10m; paging a human")
        .await
        .unwrap();
    let q = store
        .open_incident_for("web")
        .await
        .unwrap()
        .expect("still open");
    assert_eq!(q.id, id);
    assert_eq!(q.closed_at, None);
    assert_eq!(
        q.quarantine_reason.as_deref(),
        Some("5 actions in 10m; paging a human")
    );
    let open = store
        .list_incidents(&IncidentFilter {
            open: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.items.iter().map(|i| i.id).collect::<Vec<_>>(), [id]);

    store
        .close_incident(id, T0 + HOUR, "released")
        .await
        .unwrap();
    let released = store.get_incident(id).await.unwrap().unwrap();
    assert_eq!(released.resolution.as_deref(), Some("released"));
    assert_eq!(released.duration_ms, Some(HOUR));
}

async fn incidents_page_newest_first_with_filters_and_non_overlapping_keyset_pages(
    store: Arc<dyn Store>,
) {
    // 7 on web (even ones closed), 3 on db (all open).
    let mut web = Vec::new();
    let mut all = Vec::new();
    for i in 0..10i64 {
        let name = if i % 10 < 7 { "web" } else { "db" };
        let id = store
            .open_incident(name, T0 + i * 1_000, &format!("outage {i}"))
            .await
            .unwrap();
        store
            .start_attempt(&attempt(id, 0, 1, "restart", T0 + i * 1_000 + 1))
            .await
            .unwrap();
        if name == "web" && i % 2 == 0 {
            store
                .close_incident(id, T0 + i * 1_000 + 500, "recovered")
                .await
                .unwrap();
        }
        if name == "web" {
            web.push(id);
        }
        all.push(id);
    }
    all.reverse();
    web.reverse();

    // All of them, 3 at a time.
    let mut seen = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_incidents(&IncidentFilter {
                before,
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        for inc in &page.items {
            assert_eq!(inc.attempts.len(), 1, "incidents come with their attempts");
            assert_eq!(inc.attempts[0].incident_id, inc.id);
        }
        seen.extend(page.items.iter().map(|i| i.id));
        match page.next_before {
            Some(cursor) => {
                assert_eq!(page.items.len(), 3, "a cursor only on a full page");
                assert_eq!(Some(&cursor), seen.last());
                before = Some(cursor);
            }
            None => break,
        }
        assert!(pages < 10, "paging must end");
    }
    assert_eq!(seen, all, "newest first, no overlap, nothing missing");
    assert_eq!(pages, 4);

    // A page that exactly fills ends with an empty page and no cursor.
    let p1 = store
        .list_incidents(&IncidentFilter {
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    let p2 = store
        .list_incidents(&IncidentFilter {
            limit: 5,
            before: p1.next_before,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(p2.items.len(), 5);
    let p3 = store
        .list_incidents(&IncidentFilter {
            limit: 5,
            before: p2.next_before,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(p3.items.is_empty());
    assert_eq!(p3.next_before, None);

    // Filters.
    let ids = |filter: IncidentFilter| {
        let store = store.clone();
        async move {
            let page = store.list_incidents(&filter).await.unwrap();
            page.items.into_iter().map(|i| i.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(IncidentFilter {
            target: Some("web".into()),
            ..Default::default()
        })
        .await,
        web
    );
    let open_all = ids(IncidentFilter {
        open: Some(true),
        ..Default::default()
    })
    .await;
    let closed_all = ids(IncidentFilter {
        open: Some(false),
        ..Default::default()
    })
    .await;
    assert_eq!(open_all.len(), 6);
    assert_eq!(closed_all.len(), 4);
    for id in &open_all {
        assert_eq!(
            store.get_incident(*id).await.unwrap().unwrap().closed_at,
            None
        );
    }
    for id in &closed_all {
        let inc = store.get_incident(*id).await.unwrap().unwrap();
        assert!(inc.closed_at.is_some());
        assert!(inc.duration_ms == Some(500));
    }
    let web_open = ids(IncidentFilter {
        target: Some("web".into()),
        open: Some(true),
        ..Default::default()
    })
    .await;
    assert_eq!(web_open.len(), 3);
    assert!(web_open.windows(2).all(|w| w[0] > w[1]));
    let db_closed = ids(IncidentFilter {
        target: Some("db".into()),
        open: Some(false),
        ..Default::default()
    })
    .await;
    assert!(db_closed.is_empty());
    // Filtered paging: web, 2 at a time.
    let first = store
        .list_incidents(&IncidentFilter {
            target: Some("web".into()),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let second = store
        .list_incidents(&IncidentFilter {
            target: Some("web".into()),
            limit: 2,
            before: first.next_before,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<i64> = first
        .items
        .iter()
        .chain(second.items.iter())
        .map(|i| i.id)
        .collect();
    assert_eq!(got, web[..4]);
    // limit 0 means the default page (50): everything, no cursor.
    let default = store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    assert_eq!(default.items.len(), 10);
    assert_eq!(default.next_before, None);
}

async fn events_page_newest_first_filtered_by_target_and_incident(store: Arc<dyn Store>) {
    let inc = store.open_incident("web", T0, "down").await.unwrap();
    let mut all = Vec::new();
    for i in 0..9i64 {
        let (target, incident) = match i % 3 {
            0 => (Some("web"), Some(inc)),
            1 => (Some("db"), None),
            _ => (None, None),
        };
        all.push(
            store
                .append_event(&event(T0 + i, target, incident, &format!("kind_{i}")))
                .await
                .unwrap(),
        );
    }
    all.reverse();

    let page = store
        .list_events(&EventFilter {
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);
    let e = &page.items[0];
    assert_eq!(e.id, all[0]);
    assert_eq!(e.at, T0 + 8);
    assert_eq!(e.target, None);
    assert_eq!(e.kind, "kind_8");
    assert_eq!(e.message, "kind_8 happened.");
    assert_eq!(e.actor, "autoheal");
    assert_eq!(e.data, json!({"kind": "kind_8", "n": T0 + 8}));

    let mut seen: Vec<i64> = page.items.iter().map(|e| e.id).collect();
    let mut before = page.next_before;
    while let Some(cursor) = before {
        let next = store
            .list_events(&EventFilter {
                limit: 4,
                before: Some(cursor),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(next.items.iter().map(|e| e.id));
        before = next.next_before;
    }
    assert_eq!(seen, all);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 9);

    let web = store
        .list_events(&EventFilter {
            target: Some("web".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(web.items.len(), 3);
    assert!(web
        .items
        .iter()
        .all(|e| e.target.as_deref() == Some("web") && e.incident_id == Some(inc)));
    let by_incident = store
        .list_events(&EventFilter {
            incident_id: Some(inc),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_incident.items.len(), 2);
    assert_eq!(by_incident.next_before, Some(by_incident.items[1].id));
    let db_for_incident = store
        .list_events(&EventFilter {
            target: Some("db".into()),
            incident_id: Some(inc),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(db_for_incident.items.is_empty());
    assert_eq!(db_for_incident.next_before, None);
}

async fn page_limits_are_clamped_to_500_and_zero_means_50(store: Arc<dyn Store>) {
    for i in 0..501 {
        store
            .append_event(&event(T0 + i, Some("web"), None, "tick"))
            .await
            .unwrap();
    }
    let default = store.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(default.items.len(), 50);
    assert!(default.next_before.is_some());
    let huge = store
        .list_events(&EventFilter {
            limit: u32::MAX,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(huge.items.len(), 500);
    let rest = store
        .list_events(&EventFilter {
            limit: 500,
            before: huge.next_before,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_before, None);
}

async fn pruning_removes_old_history_but_never_open_incidents(store: Arc<dyn Store>) {
    let now = T0 + 100 * DAY;
    let retention = Retention {
        check_results_ms: 7 * DAY,
        events_ms: 30 * DAY,
        incidents_ms: 60 * DAY,
        rollups_ms: 400 * DAY,
    };
    let old = now - 90 * DAY;
    let recent = now - DAY;

    // Incidents: old closed (2 attempts), old but still open (1 attempt),
    // recently closed, opened long ago but closed recently.
    let old_closed = store.open_incident("web", old, "old").await.unwrap();
    for n in 1..=2 {
        store
            .start_attempt(&attempt(old_closed, 0, n, "restart", old + 1))
            .await
            .unwrap();
    }
    store
        .close_incident(old_closed, old + 60_000, "recovered")
        .await
        .unwrap();
    let old_open = store.open_incident("db", old, "still down").await.unwrap();
    store
        .start_attempt(&attempt(old_open, 0, 1, "restart", old + 1))
        .await
        .unwrap();
    store
        .set_incident_quarantined(old_open, "gave up")
        .await
        .unwrap();
    let recent_closed = store.open_incident("web", recent, "blip").await.unwrap();
    store
        .close_incident(recent_closed, recent + 1, "recovered")
        .await
        .unwrap();
    let long_running = store.open_incident("api", old, "long").await.unwrap();
    store
        .close_incident(long_running, recent, "recovered")
        .await
        .unwrap();

    // Events: 2 old, 1 recent. Checks: 3 old (8 days), 1 recent.
    store
        .append_event(&event(old, Some("web"), Some(old_closed), "a"))
        .await
        .unwrap();
    store
        .append_event(&event(now - 31 * DAY, None, None, "b"))
        .await
        .unwrap();
    let kept_event = store
        .append_event(&event(recent, None, None, "c"))
        .await
        .unwrap();
    for i in 0..3 {
        store
            .record_check(&check("web", now - 8 * DAY + i, "up"))
            .await
            .unwrap();
    }
    store
        .record_check(&check("web", recent, "down"))
        .await
        .unwrap();

    let gone = store.prune(&retention, now).await.unwrap();
    // 3 checks + 2 events + 1 incident + its 2 attempts.
    assert_eq!(gone, 8);

    assert_eq!(store.get_incident(old_closed).await.unwrap(), None);
    let still = store
        .get_incident(old_open)
        .await
        .unwrap()
        .expect("open incidents stay");
    assert_eq!(still.attempts.len(), 1);
    assert_eq!(still.quarantine_reason.as_deref(), Some("gave up"));
    assert!(store.get_incident(recent_closed).await.unwrap().is_some());
    assert!(store.get_incident(long_running).await.unwrap().is_some());
    let events = store.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(
        events.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        [kept_event]
    );
    let checks = store.recent_checks("web", 50).await.unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].at, recent);
    // Rollups are not pruned.
    assert_eq!(
        store.uptime("web", now - 30 * DAY).await.unwrap(),
        Uptime {
            up: 3,
            degraded: 0,
            down: 1
        }
    );

    assert_eq!(store.prune(&retention, now).await.unwrap(), 0, "idempotent");
}

async fn concurrent_writers_all_succeed(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..16i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("t{i}");
            store
                .record_check(&check(&name, T0 + i, "down"))
                .await
                .unwrap();
            let id = store.open_incident(&name, T0 + i, "down").await.unwrap();
            let a = store
                .start_attempt(&attempt(id, 0, 1, "restart", T0 + i))
                .await
                .unwrap();
            store
                .append_event(&event(T0 + i, Some(&name), Some(id), "action_started"))
                .await
                .unwrap();
            store
                .finish_attempt(a, T0 + i + 1, "succeeded", "")
                .await
                .unwrap();
            store
                .close_incident(id, T0 + i + 2, "recovered")
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let incidents = store
        .list_incidents(&IncidentFilter {
            open: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(incidents.items.len(), 16);
    assert!(incidents.items.iter().all(|i| i.attempts.len() == 1));
    let events = store.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(events.items.len(), 16);
}

// --- scenarios that reopen the store -----------------------------------------

async fn committed_incidents_and_attempts_survive_reopening_the_store(url: String) {
    let (incident, attempt_id, event_id) = {
        let store = open(&url).await.unwrap();
        let incident = store.open_incident("web", T0, "down").await.unwrap();
        let attempt_id = store
            .start_attempt(&attempt(incident, 0, 1, "restart", T0 + 1))
            .await
            .unwrap();
        let event_id = store
            .append_event(&event(
                T0 + 2,
                Some("web"),
                Some(incident),
                "action_started",
            ))
            .await
            .unwrap();
        store
            .save_state("web", "healing", &json!({"incident": incident}), T0 + 3)
            .await
            .unwrap();
        (incident, attempt_id, event_id)
        // The store is dropped here without any shutdown step.
    };

    let store = open(&url).await.unwrap();
    let inc = store
        .open_incident_for("web")
        .await
        .unwrap()
        .expect("the open incident is still there");
    assert_eq!(inc.id, incident);
    assert_eq!(inc.attempts.len(), 1);
    assert_eq!(inc.attempts[0].id, attempt_id);
    assert_eq!(inc.attempts[0].outcome, None, "died mid-action: no outcome");
    let events = store.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(events.items[0].id, event_id);
    // New ids never reuse old ones.
    let next = store.open_incident("db", T0 + 10, "down").await.unwrap();
    assert!(next > incident);
}

async fn migrations_are_idempotent_when_the_store_is_opened_twice(url: String) {
    let first = open(&url).await.unwrap();
    first
        .upsert_target(&target("web", "http", json!({})))
        .await
        .unwrap();
    let second = open(&url).await.unwrap();
    second.ping().await.unwrap();
    assert_eq!(second.list_targets().await.unwrap().len(), 1);
    // Both handles work side by side.
    first.open_incident("web", T0, "down").await.unwrap();
    assert!(second.open_incident_for("web").await.unwrap().is_some());
    drop(first);
    let third = open(&url).await.unwrap();
    assert_eq!(third.list_targets().await.unwrap().len(), 1);
}

// --- SQLite-only ----------------------------------------------------------------

mod sqlite_only {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_is_one_database_shared_by_every_query() {
        let store = open("sqlite::memory:").await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.open_incident("web", T0 + i, "down").await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let page = store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 8);
    }

    #[tokio::test]
    async fn the_file_and_its_parent_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/autoheal.db");
        let store = open(&format!("sqlite://{}", path.display())).await.unwrap();
        store.ping().await.unwrap();
        assert!(path.exists());
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_refused_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("autoheal.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        match open(&format!("sqlite://{}", path.display())).await {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
        }
    }

    #[tokio::test]
    async fn every_connection_runs_wal_with_synchronous_full_foreign_keys_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("autoheal.db").display());
        let store = autoheal_store::sqlite::SqliteStore::connect(&url)
            .await
            .unwrap();
        // Hold several connections at once so each one is checked.
        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(store.pool().acquire().await.unwrap());
        }
        for conn in &mut conns {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(sync, 2, "synchronous=FULL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(fk, 1);
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(busy, 5_000);
        }
    }

    /// Set in the child process of the kill test: the database path to write.
    const CRASH_CHILD_DB: &str = "AUTOHEAL_STORE_TEST_CRASH_CHILD_DB";
    const CRASH_TEST: &str = "sqlite_only::committed_writes_survive_the_process_being_killed";

    /// Runs itself as a child process that commits an incident, an attempt
    /// and an event, reports their ids, and is then killed with SIGKILL (no
    /// destructor, no pool close, no checkpoint). The parent reopens the file.
    #[tokio::test]
    async fn committed_writes_survive_the_process_being_killed() {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};

        if let Ok(path) = std::env::var(CRASH_CHILD_DB) {
            let store = open(&format!("sqlite://{path}")).await.unwrap();
            let incident = store.open_incident("web", T0, "down").await.unwrap();
            let attempt_id = store
                .start_attempt(&attempt(incident, 0, 1, "restart", T0 + 1))
                .await
                .unwrap();
            let event_id = store
                .append_event(&event(
                    T0 + 2,
                    Some("web"),
                    Some(incident),
                    "action_started",
                ))
                .await
                .unwrap();
            println!("READY {incident} {attempt_id} {event_id}");
            // Wait to be killed, with the store (and its pool) still alive.
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
            std::process::exit(3);
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("autoheal.db");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CRASH_TEST, "--nocapture", "--test-threads=1"])
            .env(CRASH_CHILD_DB, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child test process");
        let stdout = child.stdout.take().unwrap();
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(|l| l.ok())
            // libtest prints "test <name> ... " before it, on the same line.
            .find_map(|l| l.split_once("READY ").map(|(_, ids)| ids.to_string()));
        child.kill().expect("SIGKILL the child");
        child.wait().unwrap();
        let ready = ready.expect("the child reported its writes");
        let ids: Vec<i64> = ready
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();

        let store = open(&format!("sqlite://{}", path.display())).await.unwrap();
        let inc = store
            .get_incident(ids[0])
            .await
            .unwrap()
            .expect("incident survived");
        assert_eq!(inc.closed_at, None);
        assert_eq!(
            inc.attempts.iter().map(|a| a.id).collect::<Vec<_>>(),
            [ids[1]],
            "attempt survived"
        );
        let events = store.list_events(&EventFilter::default()).await.unwrap();
        assert_eq!(
            events.items.iter().map(|e| e.id).collect::<Vec<_>>(),
            [ids[2]],
            "event survived"
        );
    }

    #[tokio::test]
    async fn an_unknown_url_scheme_is_a_bad_url() {
        assert!(matches!(
            open("mysql://localhost/autoheal").await,
            Err(StoreError::BadUrl { .. })
        ));
    }
}

// --- backends ---------------------------------------------------------------------

#[macro_use]
mod harness;

async fn a_batch_of_checks_commits_like_one_by_one_and_counts_rollup_only_rows(
    store: Arc<dyn Store>,
) {
    let m = 60_000;
    // Two targets, two hours, the same (target, hour) many times in one
    // batch (one rollup upsert must add them all).
    let mut batch = Vec::new();
    for i in 0..1_500 {
        let status = ["up", "up", "degraded", "down"][i % 4];
        batch.push(check("web", T0 + (i as i64) * 2_000, status));
    }
    batch.push(check("db", T0 + HOUR + m, "down"));
    store.record_checks(&batch).await.unwrap();
    store.record_checks(&[]).await.unwrap();

    let recent = store.recent_checks("web", 3).await.unwrap();
    let ats: Vec<i64> = recent.iter().map(|c| c.at).collect();
    assert_eq!(
        ats,
        [T0 + 1_499 * 2_000, T0 + 1_498 * 2_000, T0 + 1_497 * 2_000]
    );
    assert_eq!(recent[0].status, "down");
    assert_eq!(recent[0].detail, format!("down at {}", T0 + 1_499 * 2_000));
    // 1,500 rows at 2 s from T0: 1,800 fit an hour, all in hour T0.
    assert_eq!(
        store.uptime("web", T0).await.unwrap(),
        Uptime {
            up: 750,
            degraded: 375,
            down: 375
        }
    );
    assert_eq!(store.uptime("db", T0).await.unwrap().down, 1);

    // Rollup-only rows are counted but not listed; a later batch adds to the
    // same rollup rows.
    store
        .record_checks_counted(
            &[check("web", T0 + HOUR + 2 * m, "down")],
            &[
                check("web", T0 + HOUR + 3 * m, "up"),
                check("web", T0 + HOUR + 4 * m, "up"),
            ],
        )
        .await
        .unwrap();
    let recent = store.recent_checks("web", 1).await.unwrap();
    assert_eq!(recent[0].at, T0 + HOUR + 2 * m);
    assert_eq!(
        store.uptime("web", T0).await.unwrap(),
        Uptime {
            up: 752,
            degraded: 375,
            down: 376
        }
    );
    // After the raw rows are pruned, the rollups still hold every count.
    store
        .prune(
            &Retention {
                check_results_ms: 1,
                ..long_retention()
            },
            T0 + 3 * HOUR,
        )
        .await
        .unwrap();
    assert!(store.recent_checks("web", 10).await.unwrap().is_empty());
    assert_eq!(store.uptime("web", T0).await.unwrap().up, 752);
}

async fn targets_upserted_in_one_batch_are_all_there_and_the_last_definition_wins(
    store: Arc<dyn Store>,
) {
    store
        .upsert_target(&target("old", "tcp", json!({ "v": 0 })))
        .await
        .unwrap();
    let before = store.get_target("old").await.unwrap().unwrap().created_at;
    let mut batch: Vec<TargetDef> = (0..1_200)
        .map(|i| target(&format!("t{i:04}"), "http", json!({ "i": i })))
        .collect();
    batch.push(target("old", "http", json!({ "v": 1 })));
    batch.push(target("t0001", "exec", json!({ "i": "again" })));
    store.upsert_targets(&batch).await.unwrap();
    store.upsert_targets(&[]).await.unwrap();

    let listed = store.list_targets().await.unwrap();
    assert_eq!(listed.len(), 1_201);
    let old = store.get_target("old").await.unwrap().unwrap();
    assert_eq!(
        (old.kind.as_str(), old.spec.clone()),
        ("http", json!({ "v": 1 }))
    );
    assert_eq!(old.created_at, before, "created_at is kept on update");
    let t1 = store.get_target("t0001").await.unwrap().unwrap();
    assert_eq!(
        (t1.kind.as_str(), t1.spec),
        ("exec", json!({ "i": "again" }))
    );
    let t1199 = store.get_target("t1199").await.unwrap().unwrap();
    assert_eq!(t1199.spec, json!({ "i": 1199 }));
    assert_eq!(t1199.phase, "healthy");
}

async fn a_unit_commits_an_incident_its_events_attempt_and_snapshot_together(
    store: Arc<dyn Store>,
) {
    store
        .upsert_target(&target("api", "http", json!({})))
        .await
        .unwrap();
    let mut unit = Unit::new();
    let incident = unit.open_incident("api", T0, "3 failures");
    unit.event(
        event(T0, Some("api"), None, "incident_opened"),
        Some(incident),
    );
    unit.start_attempt(incident, attempt(0, 0, 1, "restart", T0 + 1));
    unit.push(Write::SaveState {
        name: "api".into(),
        phase: "healing".into(),
        snapshot: json!({"phase": "healing"}),
        at: T0 + 1,
    });
    unit.event(
        event(T0 + 1, Some("api"), None, "action_started"),
        Some(incident),
    );
    let done = store.commit(&unit).await.expect("commit");
    assert_eq!(done.incidents.len(), 1);
    assert_eq!(done.attempts.len(), 1);
    assert_eq!(done.events.len(), 2);
    let id = done.incidents[0];
    let open = store.open_incident_for("api").await.unwrap().expect("open");
    assert_eq!(open.id, id);
    assert_eq!(open.attempts.len(), 1);
    assert_eq!(open.attempts[0].id, done.attempts[0]);
    let row = store.get_target("api").await.unwrap().unwrap();
    assert_eq!(row.phase, "healing");
    let events = store
        .list_events(&EventFilter {
            incident_id: Some(id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.items.len(), 2, "both events name the new incident");

    // The attempt made by one unit is finished by the next, with its event.
    let mut next = Unit::new();
    next.push(Write::FinishAttempt {
        attempt: Ref::Id(done.attempts[0]),
        finished_at: T0 + 5,
        outcome: "succeeded".into(),
        detail: String::new(),
    });
    next.event(
        event(T0 + 5, Some("api"), Some(id), "action_finished"),
        None,
    );
    store.commit(&next).await.expect("second unit");
    let open = store.open_incident_for("api").await.unwrap().unwrap();
    assert_eq!(open.attempts[0].outcome.as_deref(), Some("succeeded"));
}

async fn a_unit_that_fails_part_way_writes_nothing(store: Arc<dyn Store>) {
    store
        .upsert_target(&target("api", "http", json!({})))
        .await
        .unwrap();
    let mut unit = Unit::new();
    let incident = unit.open_incident("api", T0, "down");
    unit.event(
        event(T0, Some("api"), None, "incident_opened"),
        Some(incident),
    );
    unit.push(Write::SaveState {
        name: "api".into(),
        phase: "failing".into(),
        snapshot: json!({"phase": "failing"}),
        at: T0,
    });
    // An attempt on an incident that does not exist fails the whole unit.
    unit.start_attempt(Ref::Id(987_654), attempt(0, 0, 1, "restart", T0));
    let err = store.commit(&unit).await.expect_err("must fail");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(store.open_incident_for("api").await.unwrap().is_none());
    let row = store.get_target("api").await.unwrap().unwrap();
    assert_ne!(row.phase, "failing", "the snapshot was not saved either");
    let events = store.list_events(&EventFilter::default()).await.unwrap();
    assert!(events.items.is_empty(), "{:?}", events.items);

    // A reference to a row the unit has not made is refused, not a panic.
    let mut bad = Unit::new();
    bad.event(event(T0, Some("api"), None, "x"), Some(Ref::New(3)));
    assert!(matches!(
        store.commit(&bad).await,
        Err(StoreError::NotFound(_))
    ));
    // And the store still takes writes afterwards.
    store
        .append_event(&event(T0, Some("api"), None, "after"))
        .await
        .unwrap();
    assert!(store.commit(&Unit::new()).await.unwrap().events.is_empty());
}

/// One `#[tokio::test]` per scenario per backend: `sqlite::<scenario>` and
/// `postgres::<scenario>`.
async fn accounts_authenticate_by_token_hash_with_roles_clamped_and_credentials_ending(
    store: Arc<dyn Store>,
) {
    use autoheal_store::{
        CredentialKind, NewInvite, NewKey, NewSession, NewUser, Role, DEFAULT_WORKSPACE,
    };
    let now = T0;
    let user = |name: &str| NewUser {
        username: name.to_string(),
        email: Some(format!("{name}@example.com")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$salt$hash".into(),
        at: now,
    };
    assert_eq!(store.count_users().await.unwrap(), 0);
    let alice = store
        .create_member(&user("alice"), DEFAULT_WORKSPACE, Role::Admin)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_member(&user("alice"), DEFAULT_WORKSPACE, Role::Viewer)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.count_users().await.unwrap(),
        1,
        "the failed insert left nothing"
    );
    assert_eq!(
        store
            .find_user("alice@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        alice
    );
    assert!(store.find_user("bob").await.unwrap().is_none());

    // A session: valid by its hash, until idle, until the epoch moves.
    let session = NewSession {
        token_hash: "s1".into(),
        user_id: alice,
        workspace_id: DEFAULT_WORKSPACE,
        epoch: 0,
        at: now,
        expires_at: now + DAY,
    };
    store.create_session(&session).await.unwrap();
    let a = store
        .authenticate("s1", now + 1, HOUR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.kind, a.user_id, a.role, a.name.as_str()),
        (CredentialKind::Session, Some(alice), Role::Admin, "alice")
    );
    assert!(store.authenticate("s2", now, HOUR).await.unwrap().is_none());
    assert!(
        store
            .authenticate("s1", now + 2 * HOUR, HOUR)
            .await
            .unwrap()
            .is_none(),
        "idle"
    );
    store
        .touch_session(a.credential_id, now + 90 * 60_000)
        .await
        .unwrap();
    assert!(store
        .authenticate("s1", now + 2 * HOUR, HOUR)
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .authenticate("s1", now + DAY, 2 * DAY)
            .await
            .unwrap()
            .is_none(),
        "absolute"
    );
    store
        .set_password(alice, "$argon2id$new", false)
        .await
        .unwrap();
    assert!(
        store
            .authenticate("s1", now + 1, HOUR)
            .await
            .unwrap()
            .is_some(),
        "a rehash ends nothing"
    );
    store
        .set_password(alice, "$argon2id$newer", true)
        .await
        .unwrap();
    assert!(
        store
            .authenticate("s1", now + 1, HOUR)
            .await
            .unwrap()
            .is_none(),
        "a password change ends it"
    );
    assert_eq!(store.get_user(alice).await.unwrap().unwrap().epoch, 1);

    // Keys: capped by the maker's role now; revoked, expired, or the maker
    // removed: gone.
    let key = |hash: &str, user_id: Option<i64>, role: Role, expires_at: Option<i64>| NewKey {
        workspace_id: DEFAULT_WORKSPACE,
        user_id,
        name: format!("k-{hash}"),
        hint: "ah_key_abc...wxyz".into(),
        token_hash: hash.into(),
        role,
        at: now,
        expires_at,
    };
    let k1 = store
        .create_key(&key("k1", Some(alice), Role::Owner, None))
        .await
        .unwrap();
    let a = store.authenticate("k1", now, HOUR).await.unwrap().unwrap();
    assert_eq!(
        (a.kind, a.role),
        (CredentialKind::Key, Role::Admin),
        "capped at the maker's role"
    );
    assert_eq!(a.name, "alice/k-k1");
    store
        .set_member(DEFAULT_WORKSPACE, alice, Role::Viewer)
        .await
        .unwrap();
    assert_eq!(
        store
            .authenticate("k1", now, HOUR)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Viewer
    );
    let other = store.create_workspace("other", now).await.unwrap();
    assert!(matches!(
        store.create_workspace("other", now).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        !store.revoke_key(other, k1, now).await.unwrap(),
        "another workspace's key is not found"
    );
    assert!(store.authenticate("k1", now, HOUR).await.unwrap().is_some());
    assert!(store.revoke_key(DEFAULT_WORKSPACE, k1, now).await.unwrap());
    assert!(store.authenticate("k1", now, HOUR).await.unwrap().is_none());
    store
        .create_key(&key("k2", Some(alice), Role::Viewer, Some(now + 10)))
        .await
        .unwrap();
    assert!(store
        .authenticate("k2", now + 5, HOUR)
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .authenticate("k2", now + 10, HOUR)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    store
        .create_key(&key("local", None, Role::Owner, None))
        .await
        .unwrap();
    let l = store
        .authenticate("local", now, HOUR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((l.user_id, l.role), (None, Role::Owner));
    assert_eq!(
        store
            .revoke_local_keys(DEFAULT_WORKSPACE, "k-local", now)
            .await
            .unwrap(),
        1
    );
    assert!(store
        .authenticate("local", now, HOUR)
        .await
        .unwrap()
        .is_none());
    store
        .create_key(&key("k3", Some(alice), Role::Viewer, None))
        .await
        .unwrap();
    let keys = store.list_keys(DEFAULT_WORKSPACE).await.unwrap();
    assert_eq!(keys.len(), 4);
    assert!(store.list_keys(other).await.unwrap().is_empty());
    assert!(store.remove_member(DEFAULT_WORKSPACE, alice).await.unwrap());
    assert!(
        store.authenticate("k3", now, HOUR).await.unwrap().is_none(),
        "the maker left"
    );

    // Memberships, workspaces of one's own, invitations.
    store
        .set_member(other, alice, Role::Operator)
        .await
        .unwrap();
    let ms = store.memberships(alice).await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!((ms[0].0.name.as_str(), ms[0].1), ("other", Role::Operator));
    assert_eq!(store.members(other).await.unwrap()[0].username, "alice");
    let (bob, bobs) = store
        .create_user_with_workspace(&user("bob"), "bob")
        .await
        .unwrap();
    assert_eq!(store.memberships(bob).await.unwrap()[0].1, Role::Owner);
    assert_eq!(
        store.workspace_by_name("bob").await.unwrap().unwrap().id,
        bobs
    );
    assert_eq!(store.list_workspaces().await.unwrap().len(), 3);
    store
        .create_invite(&NewInvite {
            workspace_id: other,
            token_hash: "i1".into(),
            role: Role::Viewer,
            created_by: Some(alice),
            at: now,
            expires_at: now + HOUR,
        })
        .await
        .unwrap();
    assert!(
        store
            .take_invite("i1", now + 2 * HOUR)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    let taken = store.take_invite("i1", now + 1).await.unwrap().unwrap();
    assert_eq!((taken.workspace_id, taken.role), (other, Role::Viewer));
    assert!(
        store.take_invite("i1", now + 2).await.unwrap().is_none(),
        "once"
    );

    // Failed logins count and clear; removal takes everything with it.
    assert_eq!(store.login_failed(bob, now).await.unwrap(), 1);
    assert_eq!(store.login_failed(bob, now).await.unwrap(), 2);
    store.login_succeeded(bob).await.unwrap();
    assert_eq!(store.get_user(bob).await.unwrap().unwrap().failed_logins, 0);
    assert!(store.delete_user(bob).await.unwrap());
    assert!(store.get_user(bob).await.unwrap().is_none());
    assert_eq!(store.list_users().await.unwrap().len(), 1);

    // Workspace scoping of incidents and events.
    let inc = store.open_incident("web", now, "down").await.unwrap();
    assert_eq!(
        store.workspace_of_incident(inc).await.unwrap(),
        Some(DEFAULT_WORKSPACE)
    );
    assert!(store
        .get_incident_in(DEFAULT_WORKSPACE, inc)
        .await
        .unwrap()
        .is_some());
    assert!(store.get_incident_in(other, inc).await.unwrap().is_none());
    let mut e = event(now, None, None, "user_created");
    e.workspace_id = other;
    store.append_event(&e).await.unwrap();
    store
        .append_event(&event(now, Some("web"), None, "incident_opened"))
        .await
        .unwrap();
    let mine = store
        .list_events(&EventFilter {
            workspace: Some(other),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].kind, "user_created");
    let theirs = store
        .list_incidents(&IncidentFilter {
            workspace: Some(other),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(theirs.items.is_empty());
}

async fn vault_rows_are_sealed_with_their_own_id_per_workspace_and_resealed_all_at_once(
    store: Arc<dyn Store>,
) {
    use autoheal_store::{Sealed, DEFAULT_WORKSPACE};
    // A stand-in sealer that records the row id it was given.
    let seal = |tag: &'static str| {
        move |id: i64| {
            Ok(Sealed {
                key_id: "k1".into(),
                nonce: format!("{id:024x}"),
                ciphertext: format!("{tag}-{id}"),
            })
        }
    };
    let s1 = seal("a");
    let (id, created) = store
        .put_secret(DEFAULT_WORKSPACE, "hmac_secret", "a", T0, &s1)
        .await
        .unwrap();
    assert!(created);
    let row = store
        .get_secret(DEFAULT_WORKSPACE, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.id, id);
    assert_eq!(
        row.sealed.ciphertext,
        format!("a-{id}"),
        "sealed with its own row id"
    );
    let s2 = seal("a2");
    let (again, created) = store
        .put_secret(DEFAULT_WORKSPACE, "hmac_secret", "a", T0 + 5, &s2)
        .await
        .unwrap();
    assert_eq!((again, created), (id, false));
    let row = store
        .get_secret(DEFAULT_WORKSPACE, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            row.sealed.ciphertext.as_str(),
            row.updated_at,
            row.created_at
        ),
        (format!("a2-{id}").as_str(), T0 + 5, T0)
    );
    let other = store.create_workspace("other", T0).await.unwrap();
    assert!(store.get_secret(other, "a").await.unwrap().is_none());
    let s3 = seal("b");
    store
        .put_secret(other, "webhook_url", "a", T0, &s3)
        .await
        .unwrap();
    // A failing sealer writes nothing.
    let bad = |_: i64| Err("no key".to_string());
    assert!(store
        .put_secret(DEFAULT_WORKSPACE, "x", "c", T0, &bad)
        .await
        .is_err());
    assert!(store
        .get_secret(DEFAULT_WORKSPACE, "c")
        .await
        .unwrap()
        .is_none());
    let list = store.list_secrets(DEFAULT_WORKSPACE).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].name.as_str(), list[0].kind.as_str(), list[0].set),
        ("a", "hmac_secret", true)
    );
    // Resealing is all or nothing.
    let fail_second = |r: &autoheal_store::SecretRow| {
        if r.workspace_id == other {
            Err("boom".to_string())
        } else {
            Ok(Sealed {
                key_id: "k2".into(),
                ..r.sealed.clone()
            })
        }
    };
    assert!(store.reseal_all(&fail_second).await.is_err());
    assert_eq!(
        store
            .get_secret(DEFAULT_WORKSPACE, "a")
            .await
            .unwrap()
            .unwrap()
            .sealed
            .key_id,
        "k1"
    );
    let all = |r: &autoheal_store::SecretRow| {
        Ok(Sealed {
            key_id: "k2".into(),
            ..r.sealed.clone()
        })
    };
    assert_eq!(store.reseal_all(&all).await.unwrap(), 2);
    assert_eq!(
        store
            .get_secret(other, "a")
            .await
            .unwrap()
            .unwrap()
            .sealed
            .key_id,
        "k2"
    );
    assert!(store.delete_secret(DEFAULT_WORKSPACE, "a").await.unwrap());
    assert!(!store.delete_secret(DEFAULT_WORKSPACE, "a").await.unwrap());
    assert!(store.get_secret(other, "a").await.unwrap().is_some());
}

async fn a_second_factor_is_stored_sealed_its_steps_and_recovery_codes_used_once(
    store: Arc<dyn Store>,
) {
    use autoheal_store::{NewUser, Role, DEFAULT_WORKSPACE};
    let id = store
        .create_member(
            &NewUser {
                username: "ivy".into(),
                email: None,
                password_hash: "h".into(),
                at: T0,
            },
            DEFAULT_WORKSPACE,
            Role::Viewer,
        )
        .await
        .unwrap();
    let u = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(
        (u.totp_secret.as_deref(), u.totp_enabled, u.totp_last_step),
        (None, false, 0)
    );
    store.set_totp(id, Some("k:n:c"), false).await.unwrap();
    store.set_totp(id, Some("k:n:c"), true).await.unwrap();
    let u = store.find_user("ivy").await.unwrap().unwrap();
    assert_eq!(
        (u.totp_secret.as_deref(), u.totp_enabled),
        (Some("k:n:c"), true)
    );
    assert!(store.use_totp_step(id, 100).await.unwrap());
    assert!(
        !store.use_totp_step(id, 100).await.unwrap(),
        "a step works once"
    );
    assert!(
        !store.use_totp_step(id, 99).await.unwrap(),
        "nor an older one"
    );
    assert!(store.use_totp_step(id, 101).await.unwrap());
    store
        .set_recovery_codes(id, &["r1".to_string(), "r2".to_string()])
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 2);
    assert!(store.use_recovery_code(id, "r1", T0).await.unwrap());
    assert!(
        !store.use_recovery_code(id, "r1", T0).await.unwrap(),
        "once"
    );
    assert!(!store.use_recovery_code(id, "nope", T0).await.unwrap());
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 1);
    store.set_totp(id, None, false).await.unwrap();
    let u = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(
        (u.totp_secret, u.totp_enabled, u.totp_last_step),
        (None, false, 0)
    );
    assert_eq!(
        store.recovery_codes_left(id).await.unwrap(),
        0,
        "removed with it"
    );
}

async fn config_objects_are_versioned_written_all_or_none_and_resealed_with_the_secrets(
    store: Arc<dyn Store>,
) {
    use autoheal_store::{ConfigWrite, Sealed, StoreError, Written, DEFAULT_WORKSPACE};
    let seal = |tag: &'static str| {
        move |id: i64| {
            Ok(Sealed {
                key_id: "k1".into(),
                nonce: format!("{id:024x}"),
                ciphertext: format!("{tag}-{id}"),
            })
        }
    };
    let (a, b) = (seal("a"), seal("b"));
    let w = |section: &'static str,
             name: &'static str,
             expect: Option<i64>,
             s: Option<autoheal_store::SealFn<'static>>| ConfigWrite {
        section,
        name,
        expect_version: expect,
        seal: s,
    };
    let a: &'static _ = Box::leak(Box::new(a));
    let b: &'static _ = Box::leak(Box::new(b));
    let done = store
        .write_config_objects(
            DEFAULT_WORKSPACE,
            T0,
            "local",
            &[
                w("targets", "web", Some(0), Some(a)),
                w("actions", "kick", None, Some(b)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        done,
        vec![
            Written::Created { version: 1 },
            Written::Created { version: 1 }
        ]
    );
    let rows = store
        .list_config_objects(Some(DEFAULT_WORKSPACE))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let web = rows.iter().find(|r| r.name == "web").unwrap();
    assert_eq!(
        web.sealed.ciphertext,
        format!("a-{}", web.id),
        "sealed for its own row"
    );
    assert_eq!(web.updated_by, "local");
    // A stale version fails the whole write: the other object is unchanged.
    let err = store
        .write_config_objects(
            DEFAULT_WORKSPACE,
            T0 + 1,
            "user:x",
            &[
                w("actions", "kick", Some(1), Some(a)),
                w("targets", "web", Some(5), Some(b)),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let kick = store
        .list_config_objects(Some(DEFAULT_WORKSPACE))
        .await
        .unwrap();
    let kick = kick.iter().find(|r| r.name == "kick").unwrap();
    assert_eq!(
        (kick.version, kick.sealed.ciphertext.clone()),
        (1, format!("b-{}", kick.id))
    );
    let done = store
        .write_config_objects(
            DEFAULT_WORKSPACE,
            T0 + 2,
            "user:x",
            &[
                w("targets", "web", Some(1), Some(b)),
                w("actions", "kick", None, None),
                w("groups", "none", None, None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        done,
        vec![
            Written::Updated { version: 2 },
            Written::Deleted,
            Written::Absent
        ]
    );
    // Another workspace sees none of them.
    let other = store.create_workspace("objects-other", T0).await.unwrap();
    assert!(store
        .list_config_objects(Some(other))
        .await
        .unwrap()
        .is_empty());
    // Key rotation re-seals config objects with the secrets.
    let n = store
        .reseal_all(&|row| {
            Ok(Sealed {
                key_id: "k2".into(),
                nonce: row.sealed.nonce.clone(),
                ciphertext: format!("{}:{}", row.kind, row.sealed.ciphertext),
            })
        })
        .await
        .unwrap();
    assert!(n >= 1);
    let web = store.list_config_objects(None).await.unwrap();
    let web = web.iter().find(|r| r.name == "web").unwrap();
    assert_eq!(web.sealed.key_id, "k2");
    assert_eq!(
        web.sealed.ciphertext,
        format!("config.targets:b-{}", web.id)
    );
}

async fn incidents_are_acknowledged_once_per_workspace_and_idempotent_answers_kept(
    store: Arc<dyn Store>,
) {
    use autoheal_store::{IdempotentRow, Sealed, DEFAULT_WORKSPACE};
    let id = store.open_incident("ack", T0, "down").await.unwrap();
    let other = store.create_workspace("ack-other", T0).await.unwrap();
    assert_eq!(
        store
            .acknowledge_incident(other, id, "x", T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .acknowledge_incident(DEFAULT_WORKSPACE, id, "user:a", T0 + 1)
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        store
            .acknowledge_incident(DEFAULT_WORKSPACE, id, "user:b", T0 + 2)
            .await
            .unwrap(),
        Some(false)
    );
    let inc = store.get_incident(id).await.unwrap().unwrap();
    assert_eq!(inc.acknowledged_by.as_deref(), Some("user:a"));
    assert_eq!(inc.acknowledged_at, Some(T0 + 1));

    let row = IdempotentRow {
        workspace_id: DEFAULT_WORKSPACE,
        principal: "user:1".into(),
        key: "k".into(),
        request_hash: "h".into(),
        status: 201,
        sealed: Sealed {
            key_id: "k1".into(),
            nonce: "00".into(),
            ciphertext: "ff".into(),
        },
        created_at: T0,
    };
    assert!(store.put_idempotent(&row).await.unwrap());
    assert!(
        !store.put_idempotent(&row).await.unwrap(),
        "the first is kept"
    );
    assert_eq!(
        store
            .get_idempotent(DEFAULT_WORKSPACE, "user:1", "k")
            .await
            .unwrap(),
        Some(row.clone())
    );
    assert_eq!(
        store
            .get_idempotent(DEFAULT_WORKSPACE, "user:2", "k")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_idempotent(other, "user:1", "k").await.unwrap(),
        None
    );
    assert_eq!(store.prune_idempotent(T0).await.unwrap(), 0);
    assert_eq!(store.prune_idempotent(T0 + 1).await.unwrap(), 1);
    assert_eq!(
        store
            .get_idempotent(DEFAULT_WORKSPACE, "user:1", "k")
            .await
            .unwrap(),
        None
    );
}

async fn container_choices_and_webhooks_are_kept_per_workspace(store: Arc<dyn Store>) {
    use autoheal_store::{NewWebhook, DEFAULT_WORKSPACE};
    let other = store.create_workspace("hooks-other", T0).await.unwrap();
    assert!(store
        .set_container_choice(DEFAULT_WORKSPACE, "web-1", Some(true), T0, "local")
        .await
        .unwrap());
    assert!(
        !store
            .set_container_choice(DEFAULT_WORKSPACE, "web-1", Some(true), T0, "local")
            .await
            .unwrap(),
        "no change"
    );
    assert!(store
        .set_container_choice(DEFAULT_WORKSPACE, "db-1", Some(false), T0, "local")
        .await
        .unwrap());
    let all = store
        .list_container_choices(Some(DEFAULT_WORKSPACE))
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .map(|c| (c.container.as_str(), c.autoheal))
            .collect::<Vec<_>>(),
        vec![("db-1", false), ("web-1", true)]
    );
    assert!(store
        .list_container_choices(Some(other))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .set_container_choice(DEFAULT_WORKSPACE, "db-1", None, T0, "local")
        .await
        .unwrap());
    assert_eq!(store.list_container_choices(None).await.unwrap().len(), 1);

    let hook = |ws: i64, hash: &str, expires_at: Option<i64>| NewWebhook {
        workspace_id: ws,
        target: "web".into(),
        name: "w".into(),
        token_hash: hash.into(),
        source: "{\"type\":\"auto\"}".into(),
        filter: "{}".into(),
        signature: Some("github".into()),
        created_at: T0,
        created_by: "local".into(),
        expires_at,
    };
    let a = store
        .create_webhook(&hook(DEFAULT_WORKSPACE, "h-a", None))
        .await
        .unwrap();
    let _b = store
        .create_webhook(&hook(DEFAULT_WORKSPACE, "h-b", Some(T0 + 10)))
        .await
        .unwrap();
    assert!(
        store
            .create_webhook(&hook(DEFAULT_WORKSPACE, "h-a", None))
            .await
            .is_err(),
        "hashes are unique"
    );
    let found = store.webhook_by_token("h-a", T0).await.unwrap().unwrap();
    assert_eq!((found.id, found.signature.as_deref()), (a, Some("github")));
    assert!(
        store
            .webhook_by_token("h-b", T0 + 11)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert_eq!(
        store
            .list_webhooks(DEFAULT_WORKSPACE, Some("web"))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store.list_webhooks(other, None).await.unwrap().is_empty());
    assert!(
        !store.revoke_webhook(other, "web", a, T0).await.unwrap(),
        "not another workspace's"
    );
    store.touch_webhook(a, T0 + 5).await.unwrap();
    assert!(store
        .revoke_webhook(DEFAULT_WORKSPACE, "web", a, T0 + 6)
        .await
        .unwrap());
    assert!(
        store
            .webhook_by_token("h-a", T0 + 7)
            .await
            .unwrap()
            .is_none(),
        "revoked"
    );
    let listed = store.list_webhooks(DEFAULT_WORKSPACE, None).await.unwrap();
    let a_row = listed.iter().find(|w| w.id == a).unwrap();
    assert_eq!(
        (a_row.last_used_at, a_row.revoked_at),
        (Some(T0 + 5), Some(T0 + 6))
    );
}

both_backends! {
    store: [
        the_store_answers_pings_and_names_its_backend,
        targets_are_upserted_listed_fetched_and_deleted,
        target_state_is_saved_and_reloaded,
        check_results_are_listed_newest_first_and_uptime_survives_pruning_raw_rows,
        an_incident_opens_records_attempts_and_closes_with_its_duration,
        open_incident_for_returns_only_the_open_incident_of_that_target,
        a_quarantined_incident_stays_open_and_carries_its_reason,
        incidents_page_newest_first_with_filters_and_non_overlapping_keyset_pages,
        events_page_newest_first_filtered_by_target_and_incident,
        page_limits_are_clamped_to_500_and_zero_means_50,
        pruning_removes_old_history_but_never_open_incidents,
        concurrent_writers_all_succeed,
        a_batch_of_checks_commits_like_one_by_one_and_counts_rollup_only_rows,
        targets_upserted_in_one_batch_are_all_there_and_the_last_definition_wins,
        a_unit_commits_an_incident_its_events_attempt_and_snapshot_together,
        a_unit_that_fails_part_way_writes_nothing,
        accounts_authenticate_by_token_hash_with_roles_clamped_and_credentials_ending,
        vault_rows_are_sealed_with_their_own_id_per_workspace_and_resealed_all_at_once,
        a_second_factor_is_stored_sealed_its_steps_and_recovery_codes_used_once,
        config_objects_are_versioned_written_all_or_none_and_resealed_with_the_secrets,
        incidents_are_acknowledged_once_per_workspace_and_idempotent_answers_kept,
        container_choices_and_webhooks_are_kept_per_workspace,
    ],
    url: [
        committed_incidents_and_attempts_survive_reopening_the_store,
        migrations_are_idempotent_when_the_store_is_opened_twice,
    ],
}
