//! The notification outbox (issue 12): notifications that are never lost.
//!
//! 1. A notification is one [`Write::Notify`](crate::Write::Notify) in the
//!    [`Unit`](crate::Unit) of the state change that causes it, so it commits
//!    with the incident it names, or not at all. Its `id` is the stable event
//!    id (a UUID v7 unless the caller gives one) that every message carries.
//! 2. The router reads [`Outbox::unrouted_notifications`], decides the
//!    channels and calls [`Outbox::route_notification`]: one `deliveries` row
//!    per channel and `routed_at`, in one transaction, once.
//! 3. Workers [`Outbox::claim_deliveries`] that are due under a lease, send,
//!    and [`Outbox::record_delivery_try`] with the [`Lease`] they got: the
//!    try and the delivery's next state in one transaction. A worker killed
//!    mid-send loses nothing: its lease runs out and the next claim takes the
//!    delivery over (at least once), recording an `expired` try. The old
//!    holder's late record is then refused ([`Recorded::LostLease`]), so
//!    nothing is marked twice.
//! 4. Dead letters are listed, shown, retried and cancelled per workspace;
//!    every one of those queries names the workspace.
//!
//! On PostgreSQL a claim is one statement: the due rows are picked with
//! `FOR UPDATE SKIP LOCKED`, so two nodes claiming at once never get the
//! same row and neither waits for the other. On SQLite the claim runs in one
//! `BEGIN IMMEDIATE` transaction: the single writer.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Page, Result, StoreError};

/// How much of a receiver's answer a try keeps.
pub const MAX_DETAIL_BYTES: usize = 1024;

/// The `detail` of the try a claim records for a lease that ran out.
pub(crate) const EXPIRED_DETAIL: &str =
    "the worker's lease ran out before it recorded a result; the delivery was claimed again";

/// A new stable event id: a UUID v7 (time-ordered), hyphenated lower case.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `text` cut to at most [`MAX_DETAIL_BYTES`] bytes, on a character boundary.
pub fn bound_detail(text: &str) -> String {
    if text.len() <= MAX_DETAIL_BYTES {
        return text.to_string();
    }
    let mut end = MAX_DETAIL_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// A notification to write with a [`Unit`](crate::Unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewNotification {
    pub workspace_id: i64,
    /// The stable event id; `None`: the store makes a UUID v7 (returned in
    /// [`Committed::notifications`](crate::Committed::notifications)). An id
    /// already stored fails the unit with [`StoreError::Conflict`].
    pub id: Option<String>,
    /// What happened: `incident_opened`, `heal_failed`, `quarantined`, ...
    pub kind: String,
    /// The target it is about, if any (autoheal's own health has none).
    pub target: Option<String>,
    /// Overridden by the write's `incident` reference when that is set.
    pub incident_id: Option<i64>,
    /// `info`, `warning`, `critical`, ... (the router's to interpret).
    pub severity: String,
    /// The rendered facts the channels format.
    pub payload: serde_json::Value,
    pub at: i64,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    /// The stable event id.
    pub id: String,
    pub workspace_id: i64,
    pub kind: String,
    pub target: Option<String>,
    pub incident_id: Option<i64>,
    pub severity: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: i64,
    /// When the router handed it on; `None` until then.
    pub routed_at: Option<i64>,
}

/// What [`Outbox::route_notification`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Routed now: the ids of the deliveries made (one per distinct channel,
    /// none for no channel).
    Now(Vec<i64>),
    /// It had been routed before: nothing was made.
    Already,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// To be sent (again) from `next_at` on.
    Pending,
    Sent,
    /// Given up on: a dead letter, kept until retried or cancelled.
    Dead,
    Cancelled,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Dead => "dead",
            DeliveryState::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "sent" => DeliveryState::Sent,
            "dead" => DeliveryState::Dead,
            "cancelled" => DeliveryState::Cancelled,
            _ => return None,
        })
    }
}

/// How one try went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TryOutcome {
    /// The receiver took it (2xx).
    Sent,
    /// A failure worth another try (timeout, 429, 5xx).
    Retry,
    /// The endpoint is gone (410): the delivery dies, the channel should be
    /// disabled ([`Outbox::disable_channel_deliveries`]).
    Gone,
    /// The receiver refused the message itself (another 4xx): it dies.
    Rejected,
    /// Written by the store only: the worker's lease ran out first.
    Expired,
}

impl TryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TryOutcome::Sent => "sent",
            TryOutcome::Retry => "retry",
            TryOutcome::Gone => "gone",
            TryOutcome::Rejected => "rejected",
            TryOutcome::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => TryOutcome::Sent,
            "retry" => TryOutcome::Retry,
            "gone" => TryOutcome::Gone,
            "rejected" => TryOutcome::Rejected,
            "expired" => TryOutcome::Expired,
            _ => return None,
        })
    }
}

/// A delivery: one notification to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub workspace_id: i64,
    /// The notification's stable event id.
    pub notification_id: String,
    pub channel: String,
    pub state: DeliveryState,
    /// Tries made so far (a lease that ran out counts as one).
    pub tries: i64,
    /// When a pending delivery is due.
    pub next_at: i64,
    pub lease_until: Option<i64>,
    pub leased_by: Option<String>,
    /// The detail of the last failed try, or why it was cancelled.
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    /// When it became sent, dead or cancelled (`None` while pending).
    pub ended_at: Option<i64>,
}

/// One recorded try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryTry {
    pub delivery_id: i64,
    /// 1 for the first.
    pub try_no: i64,
    pub at: i64,
    pub worker: String,
    pub outcome: TryOutcome,
    /// The receiver's status code, if it answered.
    pub status: Option<i64>,
    /// At most [`MAX_DETAIL_BYTES`].
    pub detail: String,
    /// `None` for an expired lease.
    pub duration_ms: Option<i64>,
}

/// A delivery with its notification and every try (oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub notification: Notification,
    pub tries: Vec<DeliveryTry>,
}

/// What a claim hands a worker: pass it back to
/// [`Outbox::record_delivery_try`]. `try_no` fences the claim: a claim that
/// took the delivery over after this one's lease ran out has another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    pub delivery_id: i64,
    pub worker: String,
    /// The number of the try this claim is for.
    pub try_no: i64,
}

/// A delivery claimed under a lease, with what to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub lease: Lease,
    pub delivery: Delivery,
    pub notification: Notification,
}

/// How a try went and what becomes of the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    pub outcome: TryOutcome,
    /// The receiver's status code, if it answered.
    pub status: Option<u16>,
    /// What it said (cut to [`MAX_DETAIL_BYTES`]); no secrets (no URL).
    pub detail: String,
    pub duration_ms: i64,
    /// For [`TryOutcome::Retry`] (and `Expired`): when to try again; `None`
    /// gives up, and the delivery is dead. Ignored for the other outcomes:
    /// `Sent` is sent, `Gone` and `Rejected` are dead.
    pub retry_at: Option<i64>,
}

/// What [`Outbox::record_delivery_try`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    /// Pending again, due at this time.
    Retry {
        at: i64,
    },
    Dead,
    /// The lease is no longer this claim's (it ran out and another claim
    /// took the delivery over, or the delivery was cancelled): nothing was
    /// written.
    LostLease,
}

/// Which deliveries [`Outbox::list_deliveries`] shows: newest first, keyset
/// paged like the other lists (pass `next_before` as `before`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFilter {
    pub state: Option<DeliveryState>,
    pub channel: Option<String>,
    pub notification_id: Option<String>,
    pub before: Option<i64>,
    /// Clamped like every page: 0 is 50, at most 500.
    pub limit: u32,
}

/// The outbox: what the router, the delivery workers and the dead-letter
/// API use. Times are Unix ms, passed in.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Notifications not yet routed, oldest first; `limit` clamped like a
    /// page (0 is 50, at most 500). Every workspace's: the router is
    /// autoheal's own.
    async fn unrouted_notifications(&self, limit: u32) -> Result<Vec<Notification>>;
    /// One notification of `workspace_id`.
    async fn get_notification(&self, workspace_id: i64, id: &str) -> Result<Option<Notification>>;
    /// In one transaction: one pending delivery (due `now`) per distinct
    /// channel of `channels`, and `routed_at = now`. Once only: a
    /// notification routed before gets [`Routed::Already`] and nothing is
    /// made. No channel marks it routed. An unknown id is
    /// [`StoreError::NotFound`].
    async fn route_notification(&self, id: &str, channels: &[&str], now: i64) -> Result<Routed>;
    /// Leases up to `limit` (clamped like a page) due deliveries to `worker`
    /// until `now + lease_ms`: pending, `next_at <= now`, and no lease in
    /// force (`lease_until` unset or `<= now`), oldest due first (`next_at`,
    /// then id). A delivery whose lease ran out is taken over: an `expired`
    /// try is recorded for the old holder and counted in `tries`. Two
    /// claims, from one node or many, never get the same delivery while its
    /// lease is in force.
    async fn claim_deliveries(
        &self,
        worker: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Records a try of a claimed delivery and its next state, in one
    /// transaction: the `delivery_tries` row and the delivery (sent; pending
    /// again at `retry_at`; dead), its lease released. Only while the claim
    /// holds the delivery: once another claim took it over (or it was
    /// cancelled) the answer is [`Recorded::LostLease`] and nothing is
    /// written. A record after the lease ran out but before anyone took the
    /// delivery over is still taken.
    async fn record_delivery_try(
        &self,
        lease: &Lease,
        result: &DeliveryResult,
        now: i64,
    ) -> Result<Recorded>;
    /// A page of `workspace_id`'s deliveries, newest first.
    async fn list_deliveries(
        &self,
        workspace_id: i64,
        filter: &DeliveryFilter,
    ) -> Result<Page<Delivery>>;
    /// One delivery of `workspace_id`, with its notification and tries;
    /// another workspace's is `None`.
    async fn get_delivery(&self, workspace_id: i64, id: i64) -> Result<Option<DeliveryDetail>>;
    /// A dead (or cancelled) delivery of `workspace_id` pending again, due
    /// `now`, its tries kept. `false` when it was pending already (left as
    /// it is); a sent one is [`StoreError::Conflict`]; another workspace's or
    /// an unknown id is [`StoreError::NotFound`].
    async fn retry_delivery(&self, workspace_id: i64, id: i64, now: i64) -> Result<bool>;
    /// A pending or dead delivery of `workspace_id` cancelled, with `reason`
    /// as its last error (a lease on it ends). `false` when it was cancelled
    /// already; a sent one is [`StoreError::Conflict`]; another workspace's
    /// or an unknown id is [`StoreError::NotFound`].
    async fn cancel_delivery(
        &self,
        workspace_id: i64,
        id: i64,
        reason: &str,
        now: i64,
    ) -> Result<bool>;
    /// Cancels every pending delivery of `channel` in `workspace_id` (the
    /// channel answered 410 and is being disabled); how many.
    async fn disable_channel_deliveries(
        &self,
        workspace_id: i64,
        channel: &str,
        reason: &str,
        now: i64,
    ) -> Result<u64>;
}

/// What a failed notification insert means.
pub(crate) fn insert_error(err: sqlx::Error, id: &str, workspace_id: i64) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("notification {id} exists"))
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound(format!("workspace {workspace_id}"))
        }
        _ => StoreError::Database(err),
    }
}

/// Why a retry or cancel changed nothing, inside the open transaction
/// `$tx`: `Ok(false)` when the delivery of `$workspace_id` is in state
/// `$fine` already, `Conflict` when it is in another (sent), `NotFound`
/// when there is no such delivery there.
macro_rules! unchanged {
    ($tx:expr, $workspace_id:expr, $id:expr, $fine:expr) => {{
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM deliveries WHERE id = $1 AND workspace_id = $2")
                .bind($id)
                .bind($workspace_id)
                .fetch_optional(&mut *$tx)
                .await?;
        match state {
            None => Err($crate::StoreError::NotFound(format!("delivery {}", $id))),
            Some(s) if s == $fine => Ok(false),
            Some(s) => Err($crate::StoreError::Conflict(format!(
                "delivery {} is {s}",
                $id
            ))),
        }
    }};
}
pub(crate) use unchanged;

/// The columns of a delivery row, table alias `d`.
pub(crate) const DELIVERY_COLUMNS: &str = "d.id, d.workspace_id, d.notification_id, d.channel, \
     d.state, d.tries, d.next_at, d.lease_until, d.leased_by, d.last_error, d.created_at, \
     d.sent_at, d.ended_at";

/// The columns of a notification row, table alias `n`, each named `n_...`.
pub(crate) const NOTIFICATION_COLUMNS: &str = "n.id AS n_id, n.workspace_id AS n_workspace_id, \
     n.kind AS n_kind, n.target AS n_target, n.incident_id AS n_incident_id, \
     n.severity AS n_severity, n.payload AS n_payload, n.created_at AS n_created_at, \
     n.routed_at AS n_routed_at";

pub(crate) const TRY_COLUMNS: &str =
    "delivery_id, try_no, at, worker, outcome, status, detail, duration_ms";

pub(crate) fn delivery_row<R: sqlx::Row>(r: &R) -> Result<Delivery>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let state: String = r.try_get("state")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        notification_id: r.try_get("notification_id")?,
        channel: r.try_get("channel")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("deliveries.state {state:?}")))?,
        tries: r.try_get("tries")?,
        next_at: r.try_get("next_at")?,
        lease_until: r.try_get("lease_until")?,
        leased_by: r.try_get("leased_by")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
        ended_at: r.try_get("ended_at")?,
    })
}

/// A notification from columns named `{prefix}id`, `{prefix}kind`, ...
pub(crate) fn notification_row<R: sqlx::Row>(r: &R, prefix: &str) -> Result<Notification>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let col = |c: &str| format!("{prefix}{c}");
    let payload: String = r.try_get(col("payload").as_str())?;
    Ok(Notification {
        id: r.try_get(col("id").as_str())?,
        workspace_id: r.try_get(col("workspace_id").as_str())?,
        kind: r.try_get(col("kind").as_str())?,
        target: r.try_get(col("target").as_str())?,
        incident_id: r.try_get(col("incident_id").as_str())?,
        severity: r.try_get(col("severity").as_str())?,
        payload: crate::common::parse_json("notifications.payload", &payload)?,
        created_at: r.try_get(col("created_at").as_str())?,
        routed_at: r.try_get(col("routed_at").as_str())?,
    })
}

pub(crate) fn try_row<R: sqlx::Row>(r: &R) -> Result<DeliveryTry>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let outcome: String = r.try_get("outcome")?;
    Ok(DeliveryTry {
        delivery_id: r.try_get("delivery_id")?,
        try_no: r.try_get("try_no")?,
        at: r.try_get("at")?,
        worker: r.try_get("worker")?,
        outcome: TryOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery_tries.outcome {outcome:?}")))?,
        status: r.try_get("status")?,
        detail: r.try_get("detail")?,
        duration_ms: r.try_get("duration_ms")?,
    })
}

/// A claimed delivery from a row of delivery (`d.`) and notification
/// (`n_...`) columns.
pub(crate) fn claimed_row<R: sqlx::Row>(r: &R, worker: &str) -> Result<ClaimedDelivery>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let delivery = delivery_row(r)?;
    let notification = notification_row(r, "n_")?;
    Ok(ClaimedDelivery {
        lease: Lease {
            delivery_id: delivery.id,
            worker: worker.to_string(),
            try_no: delivery.tries + 1,
        },
        delivery,
        notification,
    })
}

/// The state, next due time, sent time and last error a result leads to.
pub(crate) struct NextState {
    pub recorded: Recorded,
    pub state: DeliveryState,
    pub next_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub last_error: Option<String>,
}

pub(crate) fn next_state(result: &DeliveryResult, detail: &str, now: i64) -> NextState {
    let failed = |recorded, state, next_at, ended_at| NextState {
        recorded,
        state,
        next_at,
        sent_at: None,
        ended_at,
        last_error: Some(detail.to_string()),
    };
    match (result.outcome, result.retry_at) {
        (TryOutcome::Sent, _) => NextState {
            recorded: Recorded::Sent,
            state: DeliveryState::Sent,
            next_at: None,
            sent_at: Some(now),
            ended_at: Some(now),
            last_error: None,
        },
        (TryOutcome::Retry | TryOutcome::Expired, Some(at)) => failed(
            Recorded::Retry { at },
            DeliveryState::Pending,
            Some(at),
            None,
        ),
        _ => failed(Recorded::Dead, DeliveryState::Dead, None, Some(now)),
    }
}

/// The [`Outbox`] implementation for a store type with a `pool` field, a
/// `begin_write()` method and a `claim_due(worker, now, lease_until, limit)`
/// method (the one statement that differs between the dialects); the same
/// SQL in both dialects for the rest.
macro_rules! outbox_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::outbox::Outbox for $store {
            async fn unrouted_notifications(
                &self,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::outbox::Notification>> {
                let sql = format!(
                    "SELECT {} FROM notifications n WHERE n.routed_at IS NULL \
                     ORDER BY n.created_at, n.id LIMIT $1",
                    $crate::outbox::NOTIFICATION_COLUMNS
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(i64::from($crate::common::clamp_limit(limit)))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| $crate::outbox::notification_row(r, "n_"))
                    .collect()
            }

            async fn get_notification(
                &self,
                workspace_id: i64,
                id: &str,
            ) -> $crate::Result<Option<$crate::outbox::Notification>> {
                let sql = format!(
                    "SELECT {} FROM notifications n WHERE n.id = $1 AND n.workspace_id = $2",
                    $crate::outbox::NOTIFICATION_COLUMNS
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(workspace_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref()
                    .map(|r| $crate::outbox::notification_row(r, "n_"))
                    .transpose()
            }

            async fn route_notification(
                &self,
                id: &str,
                channels: &[&str],
                now: i64,
            ) -> $crate::Result<$crate::outbox::Routed> {
                let mut tx = self.begin_write().await?;
                // The row lock taken here orders concurrent routers on
                // PostgreSQL: the second sees `routed_at` set.
                let workspace: Option<i64> = sqlx::query_scalar(
                    "UPDATE notifications SET routed_at = $2 \
                     WHERE id = $1 AND routed_at IS NULL RETURNING workspace_id",
                )
                .bind(id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(workspace_id) = workspace else {
                    let exists: Option<String> =
                        sqlx::query_scalar("SELECT id FROM notifications WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    return match exists {
                        Some(_) => Ok($crate::outbox::Routed::Already),
                        None => Err($crate::StoreError::NotFound(format!("notification {id}"))),
                    };
                };
                let mut made = Vec::with_capacity(channels.len());
                let mut seen = std::collections::HashSet::new();
                for channel in channels {
                    if !seen.insert(*channel) {
                        continue;
                    }
                    let delivery: i64 = sqlx::query_scalar(
                        "INSERT INTO deliveries (notification_id, workspace_id, channel, state, \
                         tries, next_at, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4) \
                         RETURNING id",
                    )
                    .bind(id)
                    .bind(workspace_id)
                    .bind(*channel)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    made.push(delivery);
                }
                tx.commit().await?;
                Ok($crate::outbox::Routed::Now(made))
            }

            async fn claim_deliveries(
                &self,
                worker: &str,
                now: i64,
                lease_ms: i64,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::outbox::ClaimedDelivery>> {
                let lease_until = now.saturating_add(lease_ms.max(1));
                let limit = i64::from($crate::common::clamp_limit(limit));
                self.claim_due(worker, now, lease_until, limit).await
            }

            async fn record_delivery_try(
                &self,
                lease: &$crate::outbox::Lease,
                result: &$crate::outbox::DeliveryResult,
                now: i64,
            ) -> $crate::Result<$crate::outbox::Recorded> {
                let detail = $crate::outbox::bound_detail(&result.detail);
                let next = $crate::outbox::next_state(result, &detail, now);
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE deliveries SET state = $5, tries = $4, \
                     next_at = COALESCE($6, next_at), lease_until = NULL, leased_by = NULL, \
                     last_error = COALESCE($7, last_error), sent_at = $8, ended_at = $9 \
                     WHERE id = $1 AND state = 'pending' AND leased_by = $2 \
                     AND lease_until IS NOT NULL AND tries = $3",
                )
                .bind(lease.delivery_id)
                .bind(&lease.worker)
                .bind(lease.try_no - 1)
                .bind(lease.try_no)
                .bind(next.state.as_str())
                .bind(next.next_at)
                .bind(&next.last_error)
                .bind(next.sent_at)
                .bind(next.ended_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    tx.commit().await?;
                    return Ok($crate::outbox::Recorded::LostLease);
                }
                sqlx::query(
                    "INSERT INTO delivery_tries (delivery_id, try_no, at, worker, outcome, \
                     status, detail, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(lease.delivery_id)
                .bind(lease.try_no)
                .bind(now)
                .bind(&lease.worker)
                .bind(result.outcome.as_str())
                .bind(result.status.map(i64::from))
                .bind(&detail)
                .bind(result.duration_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(next.recorded)
            }

            async fn list_deliveries(
                &self,
                workspace_id: i64,
                filter: &$crate::outbox::DeliveryFilter,
            ) -> $crate::Result<$crate::Page<$crate::outbox::Delivery>> {
                let limit = $crate::common::clamp_limit(filter.limit);
                let sql = format!(
                    "SELECT {} FROM deliveries d WHERE d.workspace_id = $1 \
                     AND ($2 IS NULL OR d.state = $2) AND ($3 IS NULL OR d.channel = $3) \
                     AND ($4 IS NULL OR d.notification_id = $4) AND ($5 IS NULL OR d.id < $5) \
                     ORDER BY d.id DESC LIMIT $6",
                    $crate::outbox::DELIVERY_COLUMNS
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(workspace_id)
                    .bind(filter.state.map(|s| s.as_str()))
                    .bind(filter.channel.as_deref())
                    .bind(filter.notification_id.as_deref())
                    .bind(filter.before)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                let items = rows
                    .iter()
                    .map($crate::outbox::delivery_row)
                    .collect::<$crate::Result<Vec<_>>>()?;
                Ok($crate::common::page(items, limit, |d| d.id))
            }

            async fn get_delivery(
                &self,
                workspace_id: i64,
                id: i64,
            ) -> $crate::Result<Option<$crate::outbox::DeliveryDetail>> {
                let sql = format!(
                    "SELECT {}, {} FROM deliveries d \
                     JOIN notifications n ON n.id = d.notification_id \
                     WHERE d.id = $1 AND d.workspace_id = $2",
                    $crate::outbox::DELIVERY_COLUMNS,
                    $crate::outbox::NOTIFICATION_COLUMNS
                );
                let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(workspace_id)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let delivery = $crate::outbox::delivery_row(&row)?;
                let notification = $crate::outbox::notification_row(&row, "n_")?;
                let sql = format!(
                    "SELECT {} FROM delivery_tries WHERE delivery_id = $1 ORDER BY try_no",
                    $crate::outbox::TRY_COLUMNS
                );
                let tries = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map($crate::outbox::try_row)
                    .collect::<$crate::Result<Vec<_>>>()?;
                Ok(Some($crate::outbox::DeliveryDetail {
                    delivery,
                    notification,
                    tries,
                }))
            }

            async fn retry_delivery(
                &self,
                workspace_id: i64,
                id: i64,
                now: i64,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_at = $3, \
                     lease_until = NULL, leased_by = NULL, ended_at = NULL \
                     WHERE id = $1 AND workspace_id = $2 AND state IN ('dead', 'cancelled')",
                )
                .bind(id)
                .bind(workspace_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let answer = match n {
                    0 => $crate::outbox::unchanged!(tx, workspace_id, id, "pending"),
                    _ => Ok(true),
                };
                tx.commit().await?;
                answer
            }

            async fn cancel_delivery(
                &self,
                workspace_id: i64,
                id: i64,
                reason: &str,
                now: i64,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE deliveries SET state = 'cancelled', lease_until = NULL, \
                     leased_by = NULL, last_error = $3, ended_at = $4 \
                     WHERE id = $1 AND workspace_id = $2 AND state IN ('pending', 'dead')",
                )
                .bind(id)
                .bind(workspace_id)
                .bind($crate::outbox::bound_detail(reason))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let answer = match n {
                    0 => $crate::outbox::unchanged!(tx, workspace_id, id, "cancelled"),
                    _ => Ok(true),
                };
                tx.commit().await?;
                answer
            }

            async fn disable_channel_deliveries(
                &self,
                workspace_id: i64,
                channel: &str,
                reason: &str,
                now: i64,
            ) -> $crate::Result<u64> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE deliveries SET state = 'cancelled', lease_until = NULL, \
                     leased_by = NULL, last_error = $3, ended_at = $4 \
                     WHERE workspace_id = $1 AND channel = $2 AND state = 'pending'",
                )
                .bind(workspace_id)
                .bind(channel)
                .bind($crate::outbox::bound_detail(reason))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n)
            }
        }
    };
}
pub(crate) use outbox_impl;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_cut_to_a_kibibyte_on_a_character_boundary() {
        assert_eq!(bound_detail("ok"), "ok");
        let long = "é".repeat(1000); // 2 bytes each
        let cut = bound_detail(&long);
        assert!(cut.len() <= MAX_DETAIL_BYTES);
        assert_eq!(cut.len(), 1024);
        let odd = format!("a{}", "é".repeat(1000));
        let cut = bound_detail(&odd);
        assert_eq!(cut.len(), 1023, "the half character is dropped");
        assert!(odd.starts_with(&cut));
    }

    #[test]
    fn event_ids_are_distinct_uuids() {
        let a = new_event_id();
        let b = new_event_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 7);
    }

    #[test]
    fn a_result_leads_to_its_next_state() {
        let r = |outcome, retry_at| DeliveryResult {
            outcome,
            status: None,
            detail: String::new(),
            duration_ms: 1,
            retry_at,
        };
        let n = |res: &DeliveryResult| next_state(res, "x", 10);
        assert_eq!(n(&r(TryOutcome::Sent, Some(5))).state, DeliveryState::Sent);
        assert_eq!(n(&r(TryOutcome::Sent, None)).sent_at, Some(10));
        let retry = n(&r(TryOutcome::Retry, Some(50)));
        assert_eq!(
            (retry.recorded, retry.state, retry.next_at),
            (Recorded::Retry { at: 50 }, DeliveryState::Pending, Some(50))
        );
        assert_eq!(n(&r(TryOutcome::Retry, None)).state, DeliveryState::Dead);
        assert_eq!(n(&r(TryOutcome::Gone, Some(50))).state, DeliveryState::Dead);
        assert_eq!(
            n(&r(TryOutcome::Rejected, Some(50))).recorded,
            Recorded::Dead
        );
        for s in [
            DeliveryState::Pending,
            DeliveryState::Sent,
            DeliveryState::Dead,
            DeliveryState::Cancelled,
        ] {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
        }
        for o in [
            TryOutcome::Sent,
            TryOutcome::Retry,
            TryOutcome::Gone,
            TryOutcome::Rejected,
            TryOutcome::Expired,
        ] {
            assert_eq!(TryOutcome::parse(o.as_str()), Some(o));
        }
    }
}
