//! The outbox contract (issue 12, item 1): notifications written with the
//! state change that causes them, routed once, delivered under leases, at
//! least once, dead letters per workspace. Every scenario runs on SQLite and
//! PostgreSQL (`outbox!` at the bottom); a few that need a backend's own
//! tools (fault triggers, two PostgreSQL pools) are written per backend.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use autoheal_store::{
    open, ClaimedDelivery, DeliveryFilter, DeliveryResult, DeliveryState, EventFilter, Lease,
    NewAttempt, NewEvent, NewNotification, Outbox, Recorded, Ref, Retention, Routed, Store,
    StoreError, TryOutcome, Unit, DEFAULT_WORKSPACE,
};
use serde_json::json;

#[macro_use]
mod harness;

const SEC: i64 = 1_000;
const DAY: i64 = 86_400 * SEC;
/// A time that looks like a real one.
const T0: i64 = 1_700_000_000_000;
const WS: i64 = DEFAULT_WORKSPACE;

fn note(kind: &str, at: i64) -> NewNotification {
    NewNotification {
        workspace_id: WS,
        id: None,
        kind: kind.into(),
        target: Some("api".into()),
        incident_id: None,
        severity: "critical".into(),
        payload: json!({"target": "api", "what": kind, "at": at}),
        at,
    }
}

fn event(kind: &str, at: i64) -> NewEvent {
    NewEvent {
        workspace_id: WS,
        at,
        target: Some("api".into()),
        incident_id: None,
        kind: kind.into(),
        message: format!("{kind}."),
        actor: "autoheal".into(),
        data: json!(null),
    }
}

fn result(outcome: TryOutcome, retry_at: Option<i64>) -> DeliveryResult {
    DeliveryResult {
        outcome,
        status: match outcome {
            TryOutcome::Sent => Some(200),
            TryOutcome::Retry => Some(503),
            TryOutcome::Gone => Some(410),
            TryOutcome::Rejected => Some(400),
            TryOutcome::Expired => None,
        },
        detail: format!("{outcome:?}"),
        duration_ms: 42,
        retry_at,
    }
}

/// Commits one notification (in a unit of its own) and returns its id.
async fn notify(store: &dyn Store, kind: &str, at: i64) -> String {
    let mut unit = Unit::new();
    unit.notify(note(kind, at), None);
    store.commit(&unit).await.unwrap().notifications.remove(0)
}

/// A notification routed to `channels` at `at`: its delivery ids.
async fn routed(store: &dyn Store, kind: &str, at: i64, channels: &[&str]) -> Vec<i64> {
    let id = notify(store, kind, at).await;
    match store.route_notification(&id, channels, at).await.unwrap() {
        Routed::Now(ids) => ids,
        Routed::Already => panic!("{id} was routed before"),
    }
}

fn ids(claimed: &[ClaimedDelivery]) -> Vec<i64> {
    claimed.iter().map(|c| c.delivery.id).collect()
}

// --- scenarios ------------------------------------------------------------------

async fn a_notification_commits_with_the_incident_it_names_or_not_at_all(store: Arc<dyn Store>) {
    let mut unit = Unit::new();
    let incident = unit.open_incident("api", T0, "3 failures");
    unit.event(event("incident_opened", T0), Some(incident));
    unit.notify(note("incident_opened", T0), Some(incident));
    let given = "0192f1a8-0000-7000-8000-000000000001".to_string();
    unit.notify(
        NewNotification {
            id: Some(given.clone()),
            target: None,
            ..note("autoheal_degraded", T0)
        },
        None,
    );
    let done = store.commit(&unit).await.unwrap();
    assert_eq!(done.notifications.len(), 2);
    assert_eq!(done.notifications[1], given, "a given id is kept");
    let made = &done.notifications[0];
    assert_eq!(made.len(), 36, "a UUID: {made}");
    assert_ne!(made, &given);

    let unrouted = store.unrouted_notifications(0).await.unwrap();
    let got: Vec<&str> = unrouted.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&made.as_str()) && got.contains(&given.as_str()));
    let n = store
        .get_notification(WS, made)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        n.incident_id,
        Some(done.incidents[0]),
        "names the new incident"
    );
    assert_eq!(n.kind, "incident_opened");
    assert_eq!(n.severity, "critical");
    assert_eq!(n.target.as_deref(), Some("api"));
    assert_eq!(n.payload, note("incident_opened", T0).payload);
    assert_eq!((n.created_at, n.routed_at), (T0, None));
    let degraded = store.get_notification(WS, &given).await.unwrap().unwrap();
    assert_eq!((degraded.target, degraded.incident_id), (None, None));

    // A unit that fails after its notification writes none of it.
    let mut bad = Unit::new();
    let incident = bad.open_incident("api", T0 + 1, "doomed");
    bad.notify(note("incident_opened", T0 + 1), Some(incident));
    bad.start_attempt(
        Ref::Id(987_654),
        NewAttempt {
            incident_id: 0,
            rung: 0,
            attempt: 1,
            action: "restart".into(),
            started_at: T0 + 1,
            dry_run: false,
        },
    );
    assert!(matches!(
        store.commit(&bad).await,
        Err(StoreError::NotFound(_))
    ));
    // An event id given twice fails its unit, incident and all.
    let mut twice = Unit::new();
    twice.open_incident("db", T0 + 2, "doomed too");
    twice.notify(
        NewNotification {
            id: Some(given.clone()),
            ..note("x", T0 + 2)
        },
        None,
    );
    assert!(matches!(
        store.commit(&twice).await,
        Err(StoreError::Conflict(_))
    ));
    // A notification of no workspace is refused.
    let mut nowhere = Unit::new();
    nowhere.notify(
        NewNotification {
            workspace_id: 999,
            ..note("x", T0 + 3)
        },
        None,
    );
    assert!(matches!(
        store.commit(&nowhere).await,
        Err(StoreError::NotFound(_))
    ));
    // A reference to an incident the unit does not open is refused.
    let mut dangling = Unit::new();
    dangling.notify(note("x", T0 + 4), Some(Ref::New(0)));
    assert!(matches!(
        store.commit(&dangling).await,
        Err(StoreError::NotFound(_))
    ));

    assert_eq!(store.unrouted_notifications(0).await.unwrap().len(), 2);
    assert!(store.open_incident_for("db").await.unwrap().is_none());
    let open = store.open_incident_for("api").await.unwrap().unwrap();
    assert_eq!(
        open.id, done.incidents[0],
        "the doomed incident is not there"
    );
    // And another workspace does not see this one's notifications.
    let other = store.create_workspace("other", T0).await.unwrap();
    assert_eq!(store.get_notification(other, made).await.unwrap(), None);
}

async fn routing_makes_one_delivery_per_channel_once(store: Arc<dyn Store>) {
    let id = notify(&*store, "heal_failed", T0).await;
    let first = store
        .route_notification(&id, &["slack", "mail", "slack"], T0 + 5)
        .await
        .unwrap();
    let Routed::Now(made) = first else {
        panic!("first routing: {first:?}")
    };
    assert_eq!(made.len(), 2, "one per distinct channel");
    assert_eq!(
        store
            .route_notification(&id, &["slack", "pager"], T0 + 6)
            .await
            .unwrap(),
        Routed::Already
    );
    let page = store
        .list_deliveries(WS, &DeliveryFilter::default())
        .await
        .unwrap();
    let mut channels: Vec<&str> = page.items.iter().map(|d| d.channel.as_str()).collect();
    channels.sort();
    assert_eq!(
        channels,
        ["mail", "slack"],
        "routing twice made nothing twice"
    );
    for d in &page.items {
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!((d.tries, d.next_at, d.created_at), (0, T0 + 5, T0 + 5));
        assert_eq!(d.notification_id, id);
        assert_eq!((d.lease_until, d.leased_by.as_deref()), (None, None));
    }
    let n = store.get_notification(WS, &id).await.unwrap().unwrap();
    assert_eq!(n.routed_at, Some(T0 + 5), "the first routing's time stands");
    assert!(store.unrouted_notifications(0).await.unwrap().is_empty());

    // No channel at all marks it routed too.
    let quiet = notify(&*store, "released", T0 + 7).await;
    assert_eq!(
        store.route_notification(&quiet, &[], T0 + 8).await.unwrap(),
        Routed::Now(vec![])
    );
    assert!(store.unrouted_notifications(0).await.unwrap().is_empty());
    assert_eq!(
        store
            .route_notification(&quiet, &["slack"], T0 + 9)
            .await
            .unwrap(),
        Routed::Already
    );
    assert!(matches!(
        store.route_notification("no-such-id", &["slack"], T0).await,
        Err(StoreError::NotFound(_))
    ));

    // Unrouted ones come oldest first, limited.
    let later = notify(&*store, "b", T0 + 20).await;
    let earlier = notify(&*store, "a", T0 + 10).await;
    let unrouted = store.unrouted_notifications(0).await.unwrap();
    let got: Vec<&str> = unrouted.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(got, [earlier.as_str(), later.as_str()]);
    assert_eq!(store.unrouted_notifications(1).await.unwrap().len(), 1);
}

async fn claims_take_due_deliveries_under_a_lease_oldest_due_first(store: Arc<dyn Store>) {
    let late = routed(&*store, "late", T0 + 30 * SEC, &["slack"]).await[0];
    let first = routed(&*store, "first", T0, &["slack", "mail"]).await;
    let second = routed(&*store, "second", T0 + 10 * SEC, &["slack"]).await[0];

    // Nothing is due before its time.
    assert!(store
        .claim_deliveries("w1", T0 - 1, 60 * SEC, 10)
        .await
        .unwrap()
        .is_empty());
    let now = T0 + 20 * SEC;
    let claimed = store
        .claim_deliveries("w1", now, 60 * SEC, 2)
        .await
        .unwrap();
    assert_eq!(ids(&claimed), first, "oldest due first, by id among equals");
    let c = &claimed[0];
    assert_eq!(c.lease.worker, "w1");
    assert_eq!(c.lease.try_no, 1);
    assert_eq!(c.lease.delivery_id, c.delivery.id);
    assert_eq!(c.delivery.lease_until, Some(now + 60 * SEC));
    assert_eq!(c.delivery.leased_by.as_deref(), Some("w1"));
    assert_eq!(c.notification.kind, "first", "the notification comes along");
    assert_eq!(c.notification.payload["what"], "first");
    assert_eq!(c.notification.id, c.delivery.notification_id);

    // Leased ones are not claimed again while their lease holds; the late
    // one is not due yet.
    let next = store
        .claim_deliveries("w2", now, 60 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&next), [second]);
    let w3 = store
        .claim_deliveries("w3", now + 59 * SEC, 60 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&w3), [late], "the others are still leased");

    // A retry is due again at its time, not before.
    let lease = claimed[0].lease.clone();
    assert_eq!(
        store
            .record_delivery_try(
                &lease,
                &result(TryOutcome::Retry, Some(now + 300 * SEC)),
                now + SEC
            )
            .await
            .unwrap(),
        Recorded::Retry {
            at: now + 300 * SEC
        }
    );
    let d = store
        .get_delivery(WS, lease.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.delivery.state, DeliveryState::Pending);
    assert_eq!((d.delivery.tries, d.delivery.next_at), (1, now + 300 * SEC));
    assert_eq!((d.delivery.lease_until, d.delivery.leased_by), (None, None));
    assert_eq!(d.delivery.last_error.as_deref(), Some("Retry"));
    assert_eq!(d.tries.len(), 1);
    assert_eq!(
        (d.tries[0].try_no, d.tries[0].outcome, d.tries[0].status),
        (1, TryOutcome::Retry, Some(503))
    );
    assert_eq!(
        (
            d.tries[0].worker.as_str(),
            d.tries[0].duration_ms,
            d.tries[0].at
        ),
        ("w1", Some(42), now + SEC)
    );
    // Every lease has run out by now + 299 s, so everything else is
    // claimable again, but not the retry.
    let again = store
        .claim_deliveries("w4", now + 299 * SEC, 60 * SEC, 10)
        .await
        .unwrap();
    assert!(
        !ids(&again).contains(&lease.delivery_id),
        "{:?}",
        ids(&again)
    );
    let retried = store
        .claim_deliveries("w4", now + 300 * SEC, 60 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&retried), [lease.delivery_id]);
    assert_eq!(retried[0].lease.try_no, 2);
    // A limit of 0 means the default page, not nothing.
    let _ = store
        .record_delivery_try(&retried[0].lease, &result(TryOutcome::Retry, Some(T0)), now)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_deliveries("w5", now + DAY, SEC, 0)
            .await
            .unwrap()
            .len(),
        4
    );
}

async fn an_expired_lease_is_claimed_again_and_the_old_holder_is_refused(store: Arc<dyn Store>) {
    let id = routed(&*store, "incident_opened", T0, &["slack"]).await[0];
    let a = store
        .claim_deliveries("node-a", T0, 30 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&a), [id]);
    // Still held a moment before the lease ends.
    assert!(store
        .claim_deliveries("node-b", T0 + 30 * SEC - 1, 30 * SEC, 10)
        .await
        .unwrap()
        .is_empty());
    // node-a died mid-send: once its lease is over node-b takes it (at
    // least once), and the lost try is on record.
    let b = store
        .claim_deliveries("node-b", T0 + 30 * SEC, 30 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&b), [id]);
    assert_eq!(b[0].delivery.tries, 1, "the expired lease counts as a try");
    assert_eq!(b[0].lease.try_no, 2);
    assert_eq!(b[0].delivery.leased_by.as_deref(), Some("node-b"));

    // node-a comes back and reports: refused, nothing written.
    for outcome in [TryOutcome::Sent, TryOutcome::Retry, TryOutcome::Gone] {
        assert_eq!(
            store
                .record_delivery_try(&a[0].lease, &result(outcome, Some(T0)), T0 + 31 * SEC)
                .await
                .unwrap(),
            Recorded::LostLease
        );
    }
    // The same worker name with a stale claim is refused too.
    let stale_b = Lease {
        try_no: 1,
        ..b[0].lease.clone()
    };
    assert_eq!(
        store
            .record_delivery_try(&stale_b, &result(TryOutcome::Sent, None), T0 + 31 * SEC)
            .await
            .unwrap(),
        Recorded::LostLease
    );
    let d = store.get_delivery(WS, id).await.unwrap().unwrap();
    assert_eq!(d.delivery.state, DeliveryState::Pending);
    assert_eq!(d.delivery.leased_by.as_deref(), Some("node-b"));
    assert_eq!(d.tries.len(), 1, "only the expired try: {:?}", d.tries);
    let expired = &d.tries[0];
    assert_eq!(
        (expired.try_no, expired.outcome, expired.worker.as_str()),
        (1, TryOutcome::Expired, "node-a")
    );
    assert_eq!((expired.at, expired.duration_ms), (T0 + 30 * SEC, None));

    assert_eq!(
        store
            .record_delivery_try(&b[0].lease, &result(TryOutcome::Sent, None), T0 + 32 * SEC)
            .await
            .unwrap(),
        Recorded::Sent
    );
    // Recording twice is refused: nothing is marked twice.
    assert_eq!(
        store
            .record_delivery_try(&b[0].lease, &result(TryOutcome::Sent, None), T0 + 33 * SEC)
            .await
            .unwrap(),
        Recorded::LostLease
    );
    let d = store.get_delivery(WS, id).await.unwrap().unwrap();
    assert_eq!(d.delivery.state, DeliveryState::Sent);
    assert_eq!(d.delivery.sent_at, Some(T0 + 32 * SEC));
    assert_eq!(d.delivery.ended_at, Some(T0 + 32 * SEC));
    assert_eq!(d.delivery.tries, 2);
    let outcomes: Vec<TryOutcome> = d.tries.iter().map(|t| t.outcome).collect();
    assert_eq!(outcomes, [TryOutcome::Expired, TryOutcome::Sent]);
    assert!(store
        .claim_deliveries("node-c", T0 + DAY, 30 * SEC, 10)
        .await
        .unwrap()
        .is_empty());

    // A record after the lease ran out, before anyone took over, stands.
    let late = routed(&*store, "late", T0, &["mail"]).await[0];
    let c = store.claim_deliveries("node-c", T0, SEC, 10).await.unwrap();
    assert_eq!(ids(&c), [late]);
    assert_eq!(
        store
            .record_delivery_try(&c[0].lease, &result(TryOutcome::Sent, None), T0 + 10 * SEC)
            .await
            .unwrap(),
        Recorded::Sent
    );
}

async fn a_retried_delivery_dies_and_is_retried_by_hand(store: Arc<dyn Store>) {
    let id = routed(&*store, "heal_failed", T0, &["slack"]).await[0];
    let c = store.claim_deliveries("w", T0, 30 * SEC, 10).await.unwrap();
    store
        .record_delivery_try(
            &c[0].lease,
            &result(TryOutcome::Retry, Some(T0 + 5 * SEC)),
            T0 + SEC,
        )
        .await
        .unwrap();
    let c = store
        .claim_deliveries("w", T0 + 5 * SEC, 30 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(c[0].lease.try_no, 2);
    // Out of tries: the worker gives up, the delivery is a dead letter.
    assert_eq!(
        store
            .record_delivery_try(&c[0].lease, &result(TryOutcome::Retry, None), T0 + 6 * SEC)
            .await
            .unwrap(),
        Recorded::Dead
    );
    let dead = store
        .list_deliveries(
            WS,
            &DeliveryFilter {
                state: Some(DeliveryState::Dead),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(dead.items.iter().map(|d| d.id).collect::<Vec<_>>(), [id]);
    let d = &dead.items[0];
    assert_eq!(
        (d.tries, d.ended_at, d.sent_at),
        (2, Some(T0 + 6 * SEC), None)
    );
    assert!(store
        .claim_deliveries("w", T0 + DAY, 30 * SEC, 10)
        .await
        .unwrap()
        .is_empty());

    // Retried through the API: pending now, its tries kept.
    assert!(store.retry_delivery(WS, id, T0 + DAY).await.unwrap());
    assert!(
        !store.retry_delivery(WS, id, T0 + DAY + 1).await.unwrap(),
        "a pending one is left as it is"
    );
    let d = store.get_delivery(WS, id).await.unwrap().unwrap();
    assert_eq!(d.delivery.state, DeliveryState::Pending);
    assert_eq!((d.delivery.next_at, d.delivery.tries), (T0 + DAY, 2));
    assert_eq!(d.delivery.ended_at, None);
    assert_eq!(d.tries.len(), 2);
    let c = store
        .claim_deliveries("w", T0 + DAY, 30 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&c), [id]);
    assert_eq!(c[0].lease.try_no, 3);
    store
        .record_delivery_try(&c[0].lease, &result(TryOutcome::Sent, None), T0 + DAY + 1)
        .await
        .unwrap();
    assert!(matches!(
        store.retry_delivery(WS, id, T0 + DAY).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.cancel_delivery(WS, id, "no", T0 + DAY).await,
        Err(StoreError::Conflict(_))
    ));

    // Gone and rejected die at once, whatever retry time is given.
    for (outcome, channel) in [(TryOutcome::Gone, "g"), (TryOutcome::Rejected, "r")] {
        let id = routed(&*store, "x", T0, &[channel]).await[0];
        let c = store.claim_deliveries("w", T0, SEC, 10).await.unwrap();
        assert_eq!(ids(&c), [id]);
        assert_eq!(
            store
                .record_delivery_try(&c[0].lease, &result(outcome, Some(T0 + SEC)), T0)
                .await
                .unwrap(),
            Recorded::Dead
        );
    }
    // A dead letter can be cancelled, then retried after all.
    let dead = store
        .list_deliveries(
            WS,
            &DeliveryFilter {
                state: Some(DeliveryState::Dead),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(dead.items.len(), 2);
    let gone = dead.items.iter().find(|d| d.channel == "g").unwrap().id;
    assert!(store
        .cancel_delivery(WS, gone, "not wanted", T0 + 9)
        .await
        .unwrap());
    assert!(!store
        .cancel_delivery(WS, gone, "again", T0 + 10)
        .await
        .unwrap());
    let d = store
        .get_delivery(WS, gone)
        .await
        .unwrap()
        .unwrap()
        .delivery;
    assert_eq!(d.state, DeliveryState::Cancelled);
    assert_eq!(d.last_error.as_deref(), Some("not wanted"));
    assert!(store.retry_delivery(WS, gone, T0 + 11).await.unwrap());
}

async fn dead_letters_are_seen_and_handled_only_in_their_workspace(store: Arc<dyn Store>) {
    let other = store.create_workspace("other", T0).await.unwrap();
    let mut mine = Vec::new();
    for i in 0..5 {
        let channel = if i % 2 == 0 { "slack" } else { "mail" };
        mine.extend(routed(&*store, "x", T0 + i, &[channel]).await);
    }
    // One in the other workspace, on a channel of the same name.
    let mut unit = Unit::new();
    unit.notify(
        NewNotification {
            workspace_id: other,
            ..note("theirs", T0)
        },
        None,
    );
    let theirs_note = store.commit(&unit).await.unwrap().notifications.remove(0);
    let Routed::Now(theirs) = store
        .route_notification(&theirs_note, &["slack"], T0)
        .await
        .unwrap()
    else {
        panic!()
    };
    let theirs = theirs[0];
    assert_eq!(
        store
            .get_delivery(other, theirs)
            .await
            .unwrap()
            .unwrap()
            .delivery
            .workspace_id,
        other,
        "a delivery belongs to its notification's workspace"
    );

    // Not found, not listed, not retryable, not cancellable from elsewhere.
    for id in &mine {
        assert_eq!(store.get_delivery(other, *id).await.unwrap(), None);
        assert!(matches!(
            store.retry_delivery(other, *id, T0).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.cancel_delivery(other, *id, "x", T0).await,
            Err(StoreError::NotFound(_))
        ));
    }
    assert!(store.get_delivery(WS, theirs).await.unwrap().is_none());
    assert!(store
        .get_notification(WS, &theirs_note)
        .await
        .unwrap()
        .is_none());
    let listed = store
        .list_deliveries(other, &DeliveryFilter::default())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        [theirs]
    );
    assert_eq!(
        store
            .disable_channel_deliveries(other, "slack", "410 Gone", T0)
            .await
            .unwrap(),
        1
    );
    let slack = store
        .list_deliveries(
            WS,
            &DeliveryFilter {
                channel: Some("slack".into()),
                state: Some(DeliveryState::Pending),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(slack.items.len(), 3, "this workspace's slack is untouched");

    // Keyset pages: newest first, no overlap, the last one empty.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_deliveries(
                WS,
                &DeliveryFilter {
                    before,
                    limit: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|d| d.id));
        match page.next_before {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let mut newest_first = mine.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let by_note = store
        .list_deliveries(
            WS,
            &DeliveryFilter {
                notification_id: Some(theirs_note.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(by_note.items.is_empty());
}

async fn a_gone_channel_cancels_its_pending_deliveries(store: Arc<dyn Store>) {
    let mut hook = Vec::new();
    for i in 0..3 {
        hook.extend(routed(&*store, "x", T0 + i, &["hook"]).await);
    }
    let slack = routed(&*store, "x", T0 + 5, &["slack"]).await[0];
    // One of them is being sent when the 410 comes back on another.
    let held = store
        .claim_deliveries("w", T0 + 1, 60 * SEC, 2)
        .await
        .unwrap();
    assert_eq!(ids(&held), hook[..2]);
    assert_eq!(
        store
            .record_delivery_try(&held[0].lease, &result(TryOutcome::Gone, None), T0 + 2)
            .await
            .unwrap(),
        Recorded::Dead
    );
    assert_eq!(
        store
            .disable_channel_deliveries(WS, "hook", "the endpoint answered 410 Gone", T0 + 3)
            .await
            .unwrap(),
        2,
        "the pending ones, leased or not; the dead one stays dead"
    );
    assert_eq!(
        store
            .record_delivery_try(&held[1].lease, &result(TryOutcome::Sent, None), T0 + 4)
            .await
            .unwrap(),
        Recorded::LostLease,
        "a cancelled delivery's lease is over"
    );
    for id in &hook[1..] {
        let d = store.get_delivery(WS, *id).await.unwrap().unwrap();
        assert_eq!(d.delivery.state, DeliveryState::Cancelled);
        assert_eq!(
            d.delivery.last_error.as_deref(),
            Some("the endpoint answered 410 Gone")
        );
        assert_eq!(d.delivery.ended_at, Some(T0 + 3));
        assert!(d.tries.is_empty(), "{:?}", d.tries);
    }
    let dead = store.get_delivery(WS, hook[0]).await.unwrap().unwrap();
    assert_eq!(dead.delivery.state, DeliveryState::Dead);
    let claimed = store
        .claim_deliveries("w", T0 + DAY, SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&claimed), [slack], "only the other channel is sent");
}

async fn pruning_keeps_dead_letters_and_pending_deliveries(store: Arc<dyn Store>) {
    let retention = Retention {
        check_results_ms: 365 * DAY,
        events_ms: 10 * DAY,
        incidents_ms: 100 * DAY,
        rollups_ms: 400 * DAY,
    };
    let sent_note = notify(&*store, "sent", T0).await;
    let Routed::Now(sent) = store
        .route_notification(&sent_note, &["slack"], T0)
        .await
        .unwrap()
    else {
        panic!()
    };
    let dead = routed(&*store, "dead", T0, &["mail"]).await[0];
    let cancelled = routed(&*store, "cancelled", T0, &["pager"]).await[0];
    let pending = routed(&*store, "pending", T0, &["ntfy"]).await[0];
    let unrouted = notify(&*store, "unrouted", T0).await;
    let quiet = notify(&*store, "quiet", T0).await;
    store.route_notification(&quiet, &[], T0).await.unwrap();

    for c in store.claim_deliveries("w", T0, SEC, 10).await.unwrap() {
        let outcome = match c.delivery.channel.as_str() {
            "slack" => result(TryOutcome::Sent, None),
            "mail" => result(TryOutcome::Rejected, None),
            _ => result(TryOutcome::Retry, Some(T0 + 365 * DAY)),
        };
        store
            .record_delivery_try(&c.lease, &outcome, T0)
            .await
            .unwrap();
    }
    store
        .cancel_delivery(WS, cancelled, "no", T0)
        .await
        .unwrap();

    // Within every retention nothing goes.
    let gone = store.prune(&retention, T0 + 5 * DAY).await.unwrap();
    assert_eq!(gone, 0);
    let gone = store.prune(&retention, T0 + 20 * DAY).await.unwrap();
    // sent: 1 try + 1 delivery + its notification; cancelled: 1 try (the
    // retry) + 1 delivery + its notification; the quiet notification.
    assert_eq!(gone, 7);
    assert_eq!(store.get_delivery(WS, sent[0]).await.unwrap(), None);
    assert_eq!(store.get_delivery(WS, cancelled).await.unwrap(), None);
    assert_eq!(store.get_notification(WS, &sent_note).await.unwrap(), None);
    assert_eq!(store.get_notification(WS, &quiet).await.unwrap(), None);
    let d = store
        .get_delivery(WS, dead)
        .await
        .unwrap()
        .expect("dead letter kept");
    assert_eq!(d.tries.len(), 1, "with its tries");
    let p = store
        .get_delivery(WS, pending)
        .await
        .unwrap()
        .expect("pending kept");
    assert_eq!(p.tries.len(), 1);
    assert!(store
        .get_notification(WS, &unrouted)
        .await
        .unwrap()
        .is_some());

    // Past the longer retention the dead letter goes too; pending work and
    // unrouted notifications never do.
    let gone = store.prune(&retention, T0 + 200 * DAY).await.unwrap();
    assert_eq!(gone, 3, "the dead letter, its try and its notification");
    assert_eq!(store.get_delivery(WS, dead).await.unwrap(), None);
    assert!(store.get_delivery(WS, pending).await.unwrap().is_some());
    assert!(store
        .get_notification(WS, &unrouted)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.unrouted_notifications(0).await.unwrap().len(), 1);
}

async fn committed_notifications_and_leases_survive_reopening_the_store(url: String) {
    let (note_id, lease) = {
        let store = open(&url).await.unwrap();
        let mut unit = Unit::new();
        let incident = unit.open_incident("api", T0, "down");
        unit.notify(note("incident_opened", T0), Some(incident));
        let note_id = store.commit(&unit).await.unwrap().notifications.remove(0);
        store
            .route_notification(&note_id, &["slack"], T0)
            .await
            .unwrap();
        let c = store.claim_deliveries("w", T0, 30 * SEC, 10).await.unwrap();
        (note_id, c[0].lease.clone())
    };
    // A restart (or kill -9) mid-send: the delivery is still leased, and
    // taken over once the lease is over.
    let store = open(&url).await.unwrap();
    assert!(store
        .claim_deliveries("w2", T0 + 29 * SEC, 30 * SEC, 10)
        .await
        .unwrap()
        .is_empty());
    let c = store
        .claim_deliveries("w2", T0 + 30 * SEC, 30 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(ids(&c), [lease.delivery_id]);
    assert_eq!(c[0].notification.id, note_id);
    assert_eq!(
        store
            .record_delivery_try(&lease, &result(TryOutcome::Sent, None), T0 + 31 * SEC)
            .await
            .unwrap(),
        Recorded::LostLease
    );
}

// --- faults injected by trigger --------------------------------------------------

/// A unit with an incident, its notification, and then an event whose
/// insert the trigger refuses: none of it may be there afterwards.
async fn a_fault_after_the_notification_writes_nothing(store: &dyn Store) {
    let mut unit = Unit::new();
    let incident = unit.open_incident("api", T0, "doomed");
    unit.notify(note("incident_opened", T0), Some(incident));
    unit.event(event("rollback", T0), Some(incident));
    let err = store
        .commit(&unit)
        .await
        .expect_err("the trigger refuses it");
    assert!(err.to_string().contains("injected fault"), "{err}");
    assert!(store.unrouted_notifications(0).await.unwrap().is_empty());
    assert!(store.open_incident_for("api").await.unwrap().is_none());
    assert!(store
        .list_events(&EventFilter::default())
        .await
        .unwrap()
        .items
        .is_empty());
    // And the next unit commits whole.
    let mut unit = Unit::new();
    let incident = unit.open_incident("api", T0 + 1, "fine");
    unit.notify(note("incident_opened", T0 + 1), Some(incident));
    unit.event(event("incident_opened", T0 + 1), Some(incident));
    let done = store.commit(&unit).await.unwrap();
    let n = store.unrouted_notifications(0).await.unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].incident_id, Some(done.incidents[0]));
}

#[tokio::test]
async fn sqlite_a_fault_after_the_notification_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("autoheal.db").display());
    let store = autoheal_store::sqlite::SqliteStore::connect(&url)
        .await
        .unwrap();
    // SQLite ends the transaction itself, as on SQLITE_FULL.
    sqlx::raw_sql(
        "CREATE TRIGGER inject_rollback BEFORE INSERT ON events WHEN NEW.kind = 'rollback' \
         BEGIN SELECT RAISE(ROLLBACK, 'injected fault'); END;",
    )
    .execute(store.pool())
    .await
    .unwrap();
    a_fault_after_the_notification_writes_nothing(&store).await;
}

#[tokio::test]
async fn postgres_a_fault_after_the_notification_writes_nothing() {
    harness::postgres_url(|url| async move {
        let store = autoheal_store::postgres::PgStore::connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE FUNCTION inject_fault() RETURNS trigger AS $$ BEGIN \
             IF NEW.kind = 'rollback' THEN RAISE EXCEPTION 'injected fault'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER inject_fault BEFORE INSERT ON events \
             FOR EACH ROW EXECUTE FUNCTION inject_fault();",
        )
        .execute(store.pool())
        .await
        .unwrap();
        a_fault_after_the_notification_writes_nothing(&store).await;
    })
    .await;
}

// --- two PostgreSQL nodes claiming at once -----------------------------------------

#[tokio::test]
async fn postgres_two_nodes_claiming_at_once_never_share_a_delivery() {
    harness::postgres_url(|url| async move {
        const N: usize = 600;
        let a = Arc::new(
            autoheal_store::postgres::PgStore::connect(&url)
                .await
                .unwrap(),
        );
        let b = Arc::new(
            autoheal_store::postgres::PgStore::connect(&url)
                .await
                .unwrap(),
        );
        let mut all = HashSet::new();
        for chunk in 0..(N / 100) {
            let mut unit = Unit::new();
            for i in 0..100 {
                unit.notify(note("flood", T0 + (chunk * 100 + i) as i64), None);
            }
            for id in a.commit(&unit).await.unwrap().notifications {
                let Routed::Now(made) = a.route_notification(&id, &["slack"], T0).await.unwrap()
                else {
                    panic!()
                };
                all.extend(made);
            }
        }
        assert_eq!(all.len(), N);
        // A third of them were taken by a node that died mid-send: its
        // leases are over when the others start, so those are taken over.
        let died = a.claim_deliveries("dead-node", T0, SEC, 200).await.unwrap();
        assert_eq!(died.len(), 200);

        // Four workers on each node, each on its own connection pool's
        // share, claiming small batches as fast as they can.
        let mut tasks = Vec::new();
        for (node, store) in [("a", a.clone()), ("b", b.clone())] {
            for w in 0..4 {
                let store = store.clone();
                let worker = format!("{node}-{w}");
                tasks.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let claimed = store
                            .claim_deliveries(&worker, T0 + 2 * SEC, 600 * SEC, 7)
                            .await
                            .unwrap();
                        if claimed.is_empty() {
                            break;
                        }
                        for c in claimed {
                            assert_eq!(
                                store
                                    .record_delivery_try(
                                        &c.lease,
                                        &result(TryOutcome::Sent, None),
                                        T0 + 3 * SEC
                                    )
                                    .await
                                    .unwrap(),
                                Recorded::Sent
                            );
                            mine.push(c.delivery.id);
                        }
                        tokio::task::yield_now().await;
                    }
                    (worker, mine)
                }));
            }
        }
        let mut got: HashMap<i64, String> = HashMap::new();
        let mut per_node: HashMap<&str, usize> = HashMap::new();
        for t in tasks {
            let (worker, mine) = t.await.unwrap();
            let node = if worker.starts_with('a') { "a" } else { "b" };
            *per_node.entry(node).or_default() += mine.len();
            for id in mine {
                if let Some(first) = got.insert(id, worker.clone()) {
                    panic!("delivery {id} claimed by {first} and {worker}");
                }
            }
        }
        assert_eq!(got.len(), N, "together they got every delivery");
        assert_eq!(got.keys().copied().collect::<HashSet<_>>(), all);
        println!("claimed per node: {per_node:?}");
        // Every delivery sent once; one expired try per lease taken over.
        let (sent, sent_tries, expired): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE state = 'sent'), \
             (SELECT COUNT(*) FROM delivery_tries WHERE outcome = 'sent'), \
             (SELECT COUNT(*) FROM delivery_tries WHERE outcome = 'expired' \
              AND worker = 'dead-node')",
        )
        .fetch_one(a.pool())
        .await
        .unwrap();
        assert_eq!((sent, sent_tries, expired), (N as i64, N as i64, 200));
        for c in &died {
            assert_eq!(
                a.record_delivery_try(&c.lease, &result(TryOutcome::Sent, None), T0 + 4 * SEC)
                    .await
                    .unwrap(),
                Recorded::LostLease,
                "the dead node's leases were taken over"
            );
        }
    })
    .await;
}

// --- a random run of claims, records and expiring leases -----------------------------

mod model {
    use super::*;
    use autoheal_store::Delivery;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Claim {
            worker: u8,
            limit: u32,
            lease: i64,
        },
        Record {
            pick: usize,
            outcome: u8,
            retry_in: i64,
        },
        Advance(i64),
        RetryDead {
            pick: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..3, 1u32..4, 1i64..5_000)
                .prop_map(|(worker, limit, lease)| Op::Claim { worker, limit, lease }),
            3 => (any::<usize>(), 0u8..5, 0i64..5_000)
                .prop_map(|(pick, outcome, retry_in)| Op::Record { pick, outcome, retry_in }),
            2 => (0i64..4_000).prop_map(Op::Advance),
            1 => any::<usize>().prop_map(|pick| Op::RetryDead { pick }),
        ]
    }

    fn outcome(code: u8, now: i64, retry_in: i64) -> DeliveryResult {
        match code {
            0 => result(TryOutcome::Sent, None),
            1 => result(TryOutcome::Retry, Some(now + retry_in)),
            2 => result(TryOutcome::Retry, None),
            3 => result(TryOutcome::Gone, None),
            _ => result(TryOutcome::Rejected, None),
        }
    }

    async fn rows(store: &dyn Store, ids: &[i64]) -> Vec<autoheal_store::DeliveryDetail> {
        let mut out = Vec::new();
        for id in ids {
            out.push(
                store
                    .get_delivery(WS, *id)
                    .await
                    .unwrap()
                    .expect("never lost"),
            );
        }
        out
    }

    /// What must hold after every step, whatever happened before.
    fn check_invariants(all: &[autoheal_store::DeliveryDetail]) {
        for d in all {
            let row = &d.delivery;
            assert_ne!(row.state, DeliveryState::Cancelled, "nothing cancels here");
            assert_eq!(
                row.tries,
                d.tries.len() as i64,
                "every try on record: {d:?}"
            );
            for (i, t) in d.tries.iter().enumerate() {
                assert_eq!(t.try_no, i as i64 + 1, "tries numbered in order: {d:?}");
            }
            let sent = d
                .tries
                .iter()
                .filter(|t| t.outcome == TryOutcome::Sent)
                .count();
            assert!(sent <= 1, "never two sent tries: {d:?}");
            assert_eq!(row.state == DeliveryState::Sent, sent == 1, "{d:?}");
            if row.state == DeliveryState::Sent {
                assert_eq!(d.tries.last().unwrap().outcome, TryOutcome::Sent);
                assert!(row.sent_at.is_some());
            }
            if row.state != DeliveryState::Pending {
                assert_eq!((row.lease_until, &row.leased_by), (None, &None), "{d:?}");
                assert!(row.ended_at.is_some());
            }
            assert_eq!(row.lease_until.is_some(), row.leased_by.is_some(), "{d:?}");
        }
    }

    /// The deliveries a claim at `now` must take: pending, due, no lease in
    /// force, oldest due first.
    fn due(all: &[autoheal_store::DeliveryDetail], now: i64, limit: u32) -> Vec<i64> {
        let mut due: Vec<&Delivery> = all
            .iter()
            .map(|d| &d.delivery)
            .filter(|d| {
                d.state == DeliveryState::Pending
                    && d.next_at <= now
                    && d.lease_until.is_none_or(|l| l <= now)
            })
            .collect();
        due.sort_by_key(|d| (d.next_at, d.id));
        due.into_iter().take(limit as usize).map(|d| d.id).collect()
    }

    async fn run(ops: Vec<Op>) {
        let store = open("sqlite::memory:").await.unwrap();
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.extend(routed(&*store, "x", T0 + i, &["slack", "mail"]).await);
        }
        let mut now = T0;
        // Every lease handed out (stale ones included) and, per delivery,
        // the one claim that still holds it.
        let mut leases: Vec<Lease> = Vec::new();
        let mut holder: HashMap<i64, Lease> = HashMap::new();
        for op in ops {
            let before = rows(&*store, &ids).await;
            match op {
                Op::Claim {
                    worker,
                    limit,
                    lease,
                } => {
                    let worker = format!("w{worker}");
                    let want = due(&before, now, limit);
                    let claimed = store
                        .claim_deliveries(&worker, now, lease, limit)
                        .await
                        .unwrap();
                    assert_eq!(ids_of(&claimed), want, "claimed what was due, in order");
                    for c in claimed {
                        assert_eq!(c.delivery.lease_until, Some(now + lease));
                        holder.insert(c.delivery.id, c.lease.clone());
                        leases.push(c.lease);
                    }
                }
                Op::Record {
                    pick,
                    outcome: code,
                    retry_in,
                } => {
                    if leases.is_empty() {
                        continue;
                    }
                    let lease = leases[pick % leases.len()].clone();
                    let holds = holder.get(&lease.delivery_id) == Some(&lease);
                    let got = store
                        .record_delivery_try(&lease, &outcome(code, now, retry_in), now)
                        .await
                        .unwrap();
                    if holds {
                        assert_ne!(got, Recorded::LostLease, "the holder records");
                        holder.remove(&lease.delivery_id);
                    } else {
                        assert_eq!(got, Recorded::LostLease, "{lease:?} no longer holds");
                        let after = rows(&*store, &[lease.delivery_id]).await;
                        let was = before.iter().find(|d| d.delivery.id == lease.delivery_id);
                        assert_eq!(Some(&after[0]), was, "a refused record writes nothing");
                    }
                }
                Op::Advance(ms) => now += ms,
                Op::RetryDead { pick } => {
                    let dead: Vec<i64> = before
                        .iter()
                        .filter(|d| d.delivery.state == DeliveryState::Dead)
                        .map(|d| d.delivery.id)
                        .collect();
                    if let Some(id) = dead.get(pick % dead.len().max(1)) {
                        assert!(store.retry_delivery(WS, *id, now).await.unwrap());
                    }
                }
            }
            check_invariants(&rows(&*store, &ids).await);
        }
        // At least once: later on, a worker that sends everything it gets
        // leaves every delivery sent or dead.
        now += DAY;
        for c in store.claim_deliveries("last", now, SEC, 100).await.unwrap() {
            assert_eq!(
                store
                    .record_delivery_try(&c.lease, &result(TryOutcome::Sent, None), now)
                    .await
                    .unwrap(),
                Recorded::Sent
            );
        }
        let end = rows(&*store, &ids).await;
        check_invariants(&end);
        for d in &end {
            assert!(
                matches!(d.delivery.state, DeliveryState::Sent | DeliveryState::Dead),
                "{d:?}"
            );
        }
    }

    fn ids_of(claimed: &[ClaimedDelivery]) -> Vec<i64> {
        super::ids(claimed)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn claims_records_and_expiring_leases_keep_the_outbox_consistent(
            ops in proptest::collection::vec(op(), 1..40)
        ) {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(ops));
        }
    }
}

// --- every scenario on both backends ---------------------------------------------

both_backends! {
    store: [
        a_notification_commits_with_the_incident_it_names_or_not_at_all,
        routing_makes_one_delivery_per_channel_once,
        claims_take_due_deliveries_under_a_lease_oldest_due_first,
        an_expired_lease_is_claimed_again_and_the_old_holder_is_refused,
        a_retried_delivery_dies_and_is_retried_by_hand,
        dead_letters_are_seen_and_handled_only_in_their_workspace,
        a_gone_channel_cancels_its_pending_deliveries,
        pruning_keeps_dead_letters_and_pending_deliveries,
    ],
    url: [
        committed_notifications_and_leases_survive_reopening_the_store,
    ],
}
