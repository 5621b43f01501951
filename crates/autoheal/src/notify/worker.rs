//! The outbox's two loops: the router gives each new notification its
//! deliveries (one per channel its workspace's routes choose), the sender
//! claims due deliveries, makes one try each through its channel and
//! records the outcome with the next try's time ([`super::schedule`]) or
//! the dead letter.
//!
//! Both read the store only: a notification is in the store before any
//! loop sees it (written with the state change that caused it), a claim is
//! a lease, so a kill -9 mid-send loses nothing (the lease runs out and the
//! delivery is tried again: at least once, deduped by receivers on the
//! stable event id).

use super::routes::Routing;
use crate::telemetry::Metrics;
use autoheal_plugins::channel::{Delivery, Message};
use autoheal_store::outbox::{ClaimedDelivery, DeliveryResult, Recorded, TryOutcome};
use autoheal_store::Store;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// How many deliveries are claimed at once.
const CLAIM: u32 = 32;
/// How many tries run at once.
const PARALLEL: usize = 8;
/// How often the loops look when nobody woke them.
const IDLE: Duration = Duration::from_secs(1);

/// The outbox's loops and what they share. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    routing: Arc<RwLock<Arc<Routing>>>,
    wake: Arc<Notify>,
    metrics: Metrics,
    worker: String,
    limits: Arc<std::sync::Mutex<super::limit::Limits>>,
    /// Unix ms now: the wall clock, or a test's.
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// The targets quarantined now (key, incident), for the reminders.
    quarantined: Arc<dyn Fn() -> Vec<(String, Option<i64>)> + Send + Sync>,
    /// Since when each quarantined target was last told of (Unix ms).
    reminded: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}

/// The targets quarantined now: a key and its open incident each.
pub type Quarantined = Arc<dyn Fn() -> Vec<(String, Option<i64>)> + Send + Sync>;

impl Notifier {
    /// `wake` is what committed notifications poke
    /// ([`crate::stream::Bus::outbox_wake`]).
    pub fn new(
        store: Arc<dyn Store>,
        routing: Routing,
        metrics: Metrics,
        wake: Arc<Notify>,
    ) -> Self {
        Notifier {
            store,
            routing: Arc::new(RwLock::new(Arc::new(routing))),
            wake,
            metrics,
            worker: format!("{}-{}", std::process::id(), rand::random::<u32>()),
            limits: Default::default(),
            clock: Arc::new(crate::supervisor::now_ms),
            quarantined: Arc::new(Vec::new),
            reminded: Default::default(),
        }
    }

    /// The same, on the clock `clock` (tests drive it).
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> i64 + Send + Sync>) -> Self {
        self.clock = clock;
        self
    }

    /// Where the reminders learn which targets are quarantined.
    pub fn with_quarantined(mut self, quarantined: Quarantined) -> Self {
        self.quarantined = quarantined;
        self
    }

    /// A reminder for each target quarantined for `notify.remind_every`
    /// since it was last told of (a target first seen quarantined is told
    /// by its own `quarantined` notification; after a restart the period
    /// starts again).
    pub async fn remind(&self) {
        let every = self.routing().settings.remind_every;
        if every.is_zero() {
            return;
        }
        let now = (self.clock)();
        let quarantined = (self.quarantined)();
        let due: Vec<(String, Option<i64>, i64)> = {
            let Ok(mut seen) = self.reminded.lock() else {
                return;
            };
            seen.retain(|k, _| quarantined.iter().any(|(q, _)| q == k));
            let mut due = Vec::new();
            for (key, incident) in quarantined {
                let since = seen.entry(key.clone()).or_insert(now);
                if now - *since >= every.as_millis() as i64 {
                    due.push((key, incident, *since));
                    *since = now;
                }
            }
            due
        };
        if due.is_empty() {
            return;
        }
        let mut unit = autoheal_store::Unit::default();
        for (key, incident, _) in &due {
            let (ws, name) = autoheal_store::scope::split(key);
            let msg = super::facts::reminder(name, every);
            unit.notify(
                super::facts::new_notification(ws, Some(name), *incident, msg, now),
                None,
            );
        }
        if let Err(e) = self.store.commit(&unit).await {
            tracing::warn!(error = %crate::error_chain(&e), "Quarantine reminders could not be written; they come at the next period.");
        }
    }

    /// One round of both loops: routes what is unrouted and makes one try
    /// of each due delivery; true when it did something.
    pub async fn step(&self) -> bool {
        self.remind().await;
        let limit = Arc::new(Semaphore::new(PARALLEL));
        let routed = self.route_pending().await;
        let sent = self.send_due(&limit).await;
        routed || sent
    }

    /// Wakes the loops (a unit with notifications committed).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The channels and routes in force now.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Rebuilds workspace `ws`'s channels and routes from its config as it
    /// is now (a reload, a change through the API).
    pub fn set_workspace(
        &self,
        ws: i64,
        config: &autoheal_config::Config,
    ) -> Result<(), Vec<String>> {
        let clients = autoheal_plugins::http_client::HttpClients::new()
            .map_err(|e| vec![format!("the HTTP client could not be built: {e}")])?;
        let next = self.routing().replaced(ws, config, &clients)?;
        self.set_routing(next);
        Ok(())
    }

    /// Replaces the channels and routes (a reload).
    pub fn set_routing(&self, routing: Routing) {
        if let Ok(mut r) = self.routing.write() {
            *r = Arc::new(routing);
        }
        self.wake.notify_one();
    }

    /// Runs both loops until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let limit = Arc::new(Semaphore::new(PARALLEL));
        let mut last_remind = i64::MIN;
        loop {
            let now = (self.clock)();
            if now.saturating_sub(last_remind) >= 10_000 {
                last_remind = now;
                self.remind().await;
            }
            let routed = self.route_pending().await;
            let sent = self.send_due(&limit).await;
            if routed || sent {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
            }
        }
        // Tries under way finish (each within its channel's timeout).
        let _ = limit.acquire_many(PARALLEL as u32).await;
    }

    /// Routes what is unrouted (grouping what came together, see
    /// [`super::group`]); true when it did some.
    async fn route_pending(&self) -> bool {
        let rows = match self.store.unrouted_notifications(500).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "The outbox could not read new notifications; it tries again.");
                return false;
            }
        };
        let routing = self.routing();
        let now = (self.clock)();
        let plan = super::group::plan(&rows, now, routing.settings.group_window, |n| {
            let mut channels = routing.channels_for(n.workspace_id, &n.kind, n.target.as_deref());
            if n.kind == "dead_letter" {
                // Not back to the channel that failed.
                let failed = failed_channel(&n.payload);
                channels.retain(|c| Some(c.as_str()) != failed.as_deref());
            }
            let (alone, groupable) = channels.into_iter().partition(|c| {
                routing
                    .channel(n.workspace_id, c)
                    .is_some_and(|ch| matches!(ch.kind(), "pagerduty" | "opsgenie"))
            });
            super::group::Split { groupable, alone }
        });
        let did = !plan.route.is_empty() || !plan.groups.is_empty();
        for g in plan.groups {
            let n = super::facts::new_notification(g.workspace_id, None, None, g.message, now);
            let id = n.id.clone().unwrap_or_default();
            let mut unit = autoheal_store::Unit::default();
            unit.notify(n, None);
            let names: Vec<&str> = g.channels.iter().map(String::as_str).collect();
            let done = match self.store.commit(&unit).await {
                Ok(_) => self
                    .store
                    .route_notification(&id, &names, now)
                    .await
                    .map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                tracing::warn!(error = %crate::error_chain(&e), "A grouped notification could not be written; its notifications are tried again.");
                return false;
            }
            tracing::info!(
                notifications = g.members.len(),
                "{} notifications of one kind are told as one message.",
                g.members.len()
            );
        }
        for (id, channels) in &plan.route {
            let names: Vec<&str> = channels.iter().map(String::as_str).collect();
            if let Err(e) = self.store.route_notification(id, &names, now).await {
                tracing::warn!(error = %crate::error_chain(&e), notification = %id, "A notification could not be routed; it is tried again.");
                return false;
            }
        }
        did
    }

    /// Claims due deliveries and tries each; true when it claimed some.
    async fn send_due(&self, limit: &Arc<Semaphore>) -> bool {
        let now = (self.clock)();
        // Twice the longest try of the channels in force (a try is cut at
        // its channel's timeout), so a sender killed mid-try holds its
        // deliveries no longer than that.
        let lease_ms = 2 * self.routing().longest_try().as_millis() as i64 + 1_000;
        let claimed = match self
            .store
            .claim_deliveries(&self.worker, now, lease_ms, CLAIM)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "The outbox could not claim deliveries; it tries again.");
                return false;
            }
        };
        let any = !claimed.is_empty();
        // Per channel, within its rate limit: one by one, the rest as one
        // digest, or waiting for the next window.
        let mut by_channel: std::collections::BTreeMap<(i64, String), Vec<ClaimedDelivery>> =
            Default::default();
        for c in claimed {
            by_channel
                .entry((c.delivery.workspace_id, c.delivery.channel.clone()))
                .or_default()
                .push(c);
        }
        let per_window = self.routing().settings.rate_limit;
        let mut tries = tokio::task::JoinSet::new();
        for (key, mut due) in by_channel {
            if let Some(until) = self.routing().quiet_until(key.0, &key.1, now) {
                for c in due {
                    self.wait(&c, until, "the channel's quiet hours").await;
                }
                continue;
            }
            let share = self
                .limits
                .lock()
                .map(|mut l| l.share(key.clone(), due.len(), now, per_window))
                .unwrap_or(super::limit::Share {
                    single: due.len(),
                    digest: false,
                    wait_until: None,
                });
            if let Some(at) = share.wait_until {
                let why = format!(
                    "the channel's limit of {} messages a minute is reached",
                    per_window
                );
                for c in due {
                    self.wait(&c, at, &why).await;
                }
                continue;
            }
            let rest = due.split_off(share.single.min(due.len()));
            for c in due {
                let permit = limit.clone().acquire_owned().await;
                let this = self.clone();
                tries.spawn(async move {
                    let _permit = permit;
                    this.try_one(c).await;
                });
            }
            if share.digest && !rest.is_empty() {
                let permit = limit.clone().acquire_owned().await;
                let this = self.clone();
                tries.spawn(async move {
                    let _permit = permit;
                    this.try_digest(rest).await;
                });
            }
        }
        while tries.join_next().await.is_some() {}
        any
    }

    /// A delivery held back (its channel's limit, its quiet hours) waits
    /// until `at`: a `retry` try that says why.
    async fn wait(&self, c: &ClaimedDelivery, at: i64, why: &str) {
        let now = (self.clock)();
        let until = chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        let result = DeliveryResult {
            outcome: TryOutcome::Retry,
            status: None,
            detail: format!("{why}; it waits until {until}"),
            duration_ms: 0,
            retry_at: Some(at),
        };
        if let Err(e) = self.store.record_delivery_try(&c.lease, &result, now).await {
            tracing::warn!(error = %crate::error_chain(&e), "A delivery held back by its channel's limit could not be recorded; its lease runs out and it is tried again.");
        }
    }

    /// Deliveries of one channel told as one digest message, each recorded
    /// with the digest's outcome.
    async fn try_digest(&self, due: Vec<ClaimedDelivery>) {
        let Some(first) = due.first() else { return };
        let (ws, name) = (first.delivery.workspace_id, first.delivery.channel.clone());
        let messages: Vec<Message> = due
            .iter()
            .filter_map(|c| message_of(c, None).ok())
            .collect();
        let digest = super::group::merge(&messages).map(|mut m| {
            m.event_id = format!("digest-{}", first.notification.id);
            m
        });
        let started = tokio::time::Instant::now();
        let delivery = match (self.routing().channel(ws, &name), digest) {
            (Some(channel), Some(msg)) => channel.send(&msg).await,
            (None, _) => Delivery::Rejected {
                why: format!("the channel {name:?} is no longer configured"),
            },
            (_, None) => Delivery::Rejected {
                why: "the stored notifications cannot be read".into(),
            },
        };
        let duration = started.elapsed();
        let n = due.len();
        for c in due {
            self.record(c, &delivery, duration, Some(n)).await;
        }
    }

    /// One try of one delivery, recorded.
    async fn try_one(&self, c: ClaimedDelivery) {
        let routing = self.routing();
        let ws = c.delivery.workspace_id;
        let started = tokio::time::Instant::now();
        let delivery = match routing.channel(ws, &c.delivery.channel) {
            None => Delivery::Rejected {
                why: format!(
                    "the channel {:?} is no longer configured",
                    c.delivery.channel
                ),
            },
            Some(channel) => match message_of(&c, routing.public_url.as_deref()) {
                Ok(msg) => channel.send(&msg).await,
                Err(why) => Delivery::Rejected { why },
            },
        };
        self.record(c, &delivery, started.elapsed(), None).await;
    }

    /// Records a try's outcome (with the next try's time, or the dead
    /// letter and what follows it); `digest`: it went in a digest of so many.
    async fn record(
        &self,
        c: ClaimedDelivery,
        delivery: &Delivery,
        took: Duration,
        digest: Option<usize>,
    ) {
        let now = (self.clock)();
        let duration_ms = took.as_millis() as i64;
        let tries = c.lease.try_no.max(1) as u32;
        let since_first = Duration::from_millis((now - c.delivery.created_at).max(0) as u64);
        let (outcome, mut detail, retry_at) = match delivery {
            Delivery::Sent => (TryOutcome::Sent, String::new(), None),
            Delivery::Skipped { why } => (TryOutcome::Sent, format!("skipped: {why}"), None),
            Delivery::Retry { after, why } => {
                let delay = super::schedule::next_delay(tries, *after, since_first, rand::random());
                (
                    TryOutcome::Retry,
                    why.clone(),
                    delay.map(|d| now + d.as_millis() as i64),
                )
            }
            Delivery::Gone { why } => (TryOutcome::Gone, why.clone(), None),
            Delivery::Rejected { why } => (TryOutcome::Rejected, why.clone(), None),
        };
        if let Some(n) = digest {
            let told = format!("in a digest of {n} (the channel's limit was reached)");
            detail = if detail.is_empty() {
                told
            } else {
                format!("{told}: {detail}")
            };
        }
        let result = DeliveryResult {
            outcome,
            status: None,
            detail,
            duration_ms,
            retry_at,
        };
        let recorded = match self.store.record_delivery_try(&c.lease, &result, now).await {
            Ok(r) => r,
            Err(e) => {
                // The lease runs out and the delivery is tried again.
                tracing::warn!(error = %crate::error_chain(&e), delivery = c.delivery.id, "A delivery's try could not be recorded; it will be tried again.");
                return;
            }
        };
        self.metrics
            .notification(&c.delivery.channel, recorded_name(&recorded));
        match recorded {
            Recorded::Sent | Recorded::Retry { .. } | Recorded::LostLease => {}
            Recorded::Dead => {
                tracing::warn!(channel = %c.delivery.channel, delivery = c.delivery.id, reason = %result.detail, "A notification could not be delivered and was dead-lettered: {}", result.detail);
                if matches!(delivery, Delivery::Gone { .. }) {
                    self.channel_gone(&c, &result.detail, now).await;
                }
                if c.notification.kind != "dead_letter" {
                    self.tell_dead_letter(&c, &result.detail, now).await;
                }
            }
        }
    }

    /// A 410: the channel's pending deliveries are cancelled and it is
    /// sent nothing more until the config changes.
    async fn channel_gone(&self, c: &ClaimedDelivery, why: &str, now: i64) {
        let ws = c.delivery.workspace_id;
        self.routing().disable(ws, &c.delivery.channel);
        let reason = format!("the receiver answered 410 Gone: {why}");
        if let Err(e) = self
            .store
            .disable_channel_deliveries(ws, &c.delivery.channel, &reason, now)
            .await
        {
            tracing::warn!(error = %crate::error_chain(&e), "The deliveries of a gone channel could not be cancelled.");
        }
        tracing::error!(channel = %c.delivery.channel, "The channel {} is gone (410) and is disabled until the config changes.", c.delivery.channel);
    }

    /// A dead letter is itself news, for the workspace's other channels.
    async fn tell_dead_letter(&self, c: &ClaimedDelivery, why: &str, now: i64) {
        let facts = super::facts::dead_letter(&c.delivery.channel, &c.notification.kind, why);
        let mut unit = autoheal_store::Unit::default();
        unit.notify(
            super::facts::new_notification(
                c.delivery.workspace_id,
                c.notification.target.as_deref(),
                c.notification.incident_id,
                facts,
                now,
            ),
            None,
        );
        if let Err(e) = self.store.commit(&unit).await {
            tracing::warn!(error = %crate::error_chain(&e), "The dead letter could not be told.");
        }
    }
}

/// The message of a claimed delivery: its notification's payload, with the
/// notification's id as the event id.
fn message_of(c: &ClaimedDelivery, public_url: Option<&str>) -> Result<Message, String> {
    let mut msg: Message = serde_json::from_value(c.notification.payload.clone())
        .map_err(|e| format!("the stored notification cannot be read: {e}"))?;
    msg.event_id = c.notification.id.clone();
    msg.incident_id = c.notification.incident_id.or(msg.incident_id);
    if let (Some(base), Some(id)) = (public_url, msg.incident_id) {
        msg.link = Some(format!("{base}/incidents/{id}"));
    }
    Ok(msg)
}

/// The channel a dead-letter message is about.
fn failed_channel(payload: &serde_json::Value) -> Option<String> {
    payload["fields"]
        .as_array()?
        .iter()
        .find(|f| f[0] == "channel")
        .and_then(|f| f[1].as_str())
        .map(str::to_string)
}

fn recorded_name(r: &Recorded) -> &'static str {
    match r {
        Recorded::Sent => "sent",
        Recorded::Retry { .. } => "retry",
        Recorded::Dead => "dead",
        Recorded::LostLease => "lost_lease",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autoheal_store::outbox::{DeliveryFilter, DeliveryState};
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    /// A receiver that gives every request `answer`, counting them.
    async fn receiver(answer: &'static [u8]) -> (u16, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    if conn.read(&mut buf).await.unwrap_or(0) > 0 {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let _ = conn.write_all(answer).await;
                    }
                });
            }
        });
        (port, calls)
    }

    /// Every request answered `503`.
    async fn down() -> (u16, Arc<AtomicUsize>) {
        receiver(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndown").await
    }

    /// Every request answered `200`.
    async fn up() -> (u16, Arc<AtomicUsize>) {
        receiver(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await
    }

    /// Issue 12 item 3: inside a route's quiet hours its channel is sent
    /// nothing; what came waits and goes when they end.
    #[tokio::test]
    async fn nothing_is_sent_in_quiet_hours_and_it_all_goes_when_they_end() {
        let (port, calls) = up().await;
        let store = autoheal_store::open("sqlite::memory:").await.unwrap();
        let cfg = autoheal_config::parse_str(
            &format!(
                "[notify]\ngroup_window = \"0s\"\n[channels.ops]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/x\"\n[routes.night]\nchannels = [\"ops\"]\nquiet = [{{ start = \"2026-12-01T22:00:00Z\", end = \"2026-12-02T07:00:00Z\" }}]\n"
            ),
            "t.toml",
            &Default::default(),
        )
        .unwrap();
        let clients = autoheal_plugins::http_client::HttpClients::new().unwrap();
        let routing = Routing::build(1, &cfg, &clients).unwrap();
        let at = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_millis()
        };
        let clock = Arc::new(AtomicI64::new(at("2026-12-02T03:00:00Z")));
        let read = clock.clone();
        let notifier = Notifier::new(
            store.clone(),
            routing,
            Metrics::new(),
            Arc::new(Notify::new()),
        )
        .with_clock(Arc::new(move || read.load(Ordering::SeqCst)));
        let event = autoheal_core::AuditEvent::Quarantined {
            reason: "every rung ran".into(),
        };
        let msg = super::super::facts::of(&event, "web", "web is quarantined.").unwrap();
        let mut unit = autoheal_store::Unit::default();
        unit.notify(
            super::super::facts::new_notification(
                1,
                Some("web"),
                None,
                msg,
                clock.load(Ordering::SeqCst),
            ),
            None,
        );
        store.commit(&unit).await.unwrap();
        notifier.step().await;
        notifier.step().await;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing in quiet hours");
        let page = store
            .list_deliveries(
                1,
                &DeliveryFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let d = &page.items[0];
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.next_at, at("2026-12-02T07:00:00Z"), "{d:?}");
        assert!(
            d.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("quiet hours"),
            "{d:?}"
        );
        // The window ends: it goes, once.
        clock.store(at("2026-12-02T07:00:00Z"), Ordering::SeqCst);
        notifier.step().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let page = store
            .list_deliveries(
                1,
                &DeliveryFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items[0].state, DeliveryState::Sent);
    }

    /// Issue 12 item 3: while a target stays quarantined a reminder comes
    /// every `notify.remind_every`, and none once it is released.
    #[tokio::test]
    async fn a_quarantined_target_is_reminded_of_every_period_until_released() {
        let (port, calls) = up().await;
        let store = autoheal_store::open("sqlite::memory:").await.unwrap();
        let cfg = autoheal_config::parse_str(
            &format!(
                "[notify]\ngroup_window = \"0s\"\nremind_every = \"4h\"\n[channels.ops]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/x\"\n"
            ),
            "t.toml",
            &Default::default(),
        )
        .unwrap();
        let clients = autoheal_plugins::http_client::HttpClients::new().unwrap();
        let routing = Routing::build(1, &cfg, &clients).unwrap();
        let hour = 3_600_000;
        let start = 1_796_000_000_000;
        let clock = Arc::new(AtomicI64::new(start));
        let read = clock.clone();
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gone = released.clone();
        let notifier = Notifier::new(
            store.clone(),
            routing,
            Metrics::new(),
            Arc::new(Notify::new()),
        )
        .with_clock(Arc::new(move || read.load(Ordering::SeqCst)))
        .with_quarantined(Arc::new(move || {
            if gone.load(Ordering::SeqCst) {
                Vec::new()
            } else {
                vec![("web".to_string(), Some(3))]
            }
        }));
        let at = |h: i64| {
            clock.store(start + h * hour, Ordering::SeqCst);
        };
        notifier.step().await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "first seen: no reminder yet"
        );
        at(3);
        notifier.step().await;
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        at(4);
        notifier.step().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "after 4 h");
        at(5);
        notifier.step().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        at(8);
        notifier.step().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "and every 4 h");
        let page = store
            .list_deliveries(
                1,
                &DeliveryFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let detail = store
            .get_delivery(1, page.items[0].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.notification.kind, "quarantined");
        assert_eq!(detail.notification.incident_id, Some(3));
        assert!(
            detail.notification.payload["title"]
                .as_str()
                .unwrap()
                .contains("still quarantined"),
            "{:?}",
            detail.notification
        );
        released.store(true, Ordering::SeqCst);
        at(20);
        notifier.step().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "none once released");
    }

    /// Issue 12 item 7: a receiver down for a day, on a virtual clock: the
    /// delivery is tried on the schedule (each try one request), then
    /// dead-lettered, with nothing lost or sent more than tried.
    #[tokio::test]
    async fn a_receiver_down_for_a_day_ends_in_a_dead_letter_after_the_schedules_tries() {
        let (port, calls) = down().await;
        let store = autoheal_store::open("sqlite::memory:").await.unwrap();
        let cfg = autoheal_config::parse_str(
            &format!(
                "[notify]\ngroup_window = \"0s\"\n[channels.ops]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/x\"\ntimeout = \"2s\"\n"
            ),
            "t.toml",
            &Default::default(),
        )
        .unwrap();
        let clients = autoheal_plugins::http_client::HttpClients::new().unwrap();
        let routing = Routing::build(1, &cfg, &clients).unwrap();
        let start = 1_796_000_000_000;
        let clock = Arc::new(AtomicI64::new(start));
        let read = clock.clone();
        let notifier = Notifier::new(
            store.clone(),
            routing,
            Metrics::new(),
            Arc::new(Notify::new()),
        )
        .with_clock(Arc::new(move || read.load(Ordering::SeqCst)));
        let event = autoheal_core::AuditEvent::IncidentOpened {
            reason: "down".into(),
        };
        let msg = super::super::facts::of(&event, "web", "Incident opened on web.").unwrap();
        let mut unit = autoheal_store::Unit::default();
        unit.notify(
            super::super::facts::new_notification(1, Some("web"), None, msg, start),
            None,
        );
        store.commit(&unit).await.unwrap();
        let delivery = |store: Arc<dyn Store>| async move {
            let page = store
                .list_deliveries(
                    1,
                    &DeliveryFilter {
                        channel: Some("ops".into()),
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            page.items.into_iter().next()
        };
        let mut rounds = 0;
        let dead = loop {
            notifier.step().await;
            let d = delivery(store.clone()).await.expect("routed to ops");
            if d.state == DeliveryState::Dead {
                break d;
            }
            assert_eq!(d.state, DeliveryState::Pending, "{d:?}");
            // Jump to its next try.
            clock.fetch_max(d.next_at, Ordering::SeqCst);
            rounds += 1;
            assert!(rounds < 100, "never given up: {d:?}");
        };
        let elapsed = Duration::from_millis((clock.load(Ordering::SeqCst) - start) as u64);
        assert!(
            elapsed <= super::super::schedule::GIVE_UP_AFTER
                && elapsed >= Duration::from_secs(12 * 3600),
            "given up after {elapsed:?}"
        );
        // Every try was one request, and nothing more went out.
        assert_eq!(calls.load(Ordering::SeqCst) as i64, dead.tries, "{dead:?}");
        assert!((9..=14).contains(&dead.tries), "{dead:?}");
        assert!(
            dead.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("503"),
            "{dead:?}"
        );
    }
}
