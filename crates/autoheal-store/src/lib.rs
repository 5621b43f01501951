//! # autoheal-store: the durable record
//!
//! One [`Store`] trait, two implementations: SQLite (embedded, the default; a
//! file in the data directory, WAL, `synchronous=FULL`) and PostgreSQL (when
//! the store URL starts with `postgres://` or `postgresql://`). The same
//! contract suite (`tests/contract.rs`) runs against both.
//!
//! Durability rule the supervisor relies on: every write method returns only
//! after the write is committed. An attempt is recorded (`start_attempt`)
//! before its action runs, so a crash mid-action is never followed by a
//! second run of the same action.
//!
//! Semantics both backends share (pinned by the contract suite):
//! - Lists are newest first (`id DESC`) with keyset paging: pass a page's
//!   `next_before` as the next filter's `before`. `limit` is clamped to
//!   `1..=500`, 0 meaning 50; `next_before` is set only when the page is full,
//!   so a listing whose size is a multiple of the limit ends with an empty
//!   page.
//! - Unknown ids: `get_*` return `None`; `close_incident`,
//!   `set_incident_quarantined`, `finish_attempt` and `start_attempt` (for
//!   its incident) return [`StoreError::NotFound`]. `delete_target` of an
//!   unknown name is not an error.
//! - Uptime comes from hourly rollups written with each check result, so it
//!   survives `prune`; the hour `since` falls into is counted from raw rows.
//!
//! - The notification outbox ([`outbox`], the [`Outbox`] trait): a
//!   notification is a [`Write::Notify`] in the unit of the change that
//!   causes it; deliveries are claimed under leases and every try recorded
//!   (`tests/outbox.rs`).
//!
//! Running the suite against PostgreSQL: `scripts/start-test-postgres.sh`
//! (as root) starts a server and prints the URL, then
//! `AUTOHEAL_TEST_POSTGRES_URL=postgres://autoheal:autoheal@127.0.0.1:5432/postgres
//! AUTOHEAL_REQUIRE_POSTGRES=1 cargo test -p autoheal-store`.

pub mod accounts;
mod batch;
mod common;
mod migrations;
pub mod objects;
pub mod outbox;
pub mod scope;
mod types;
mod unit;
pub mod vault;
pub use accounts::{
    Accounts, ApiKey, Authenticated, CredentialKind, Member, NewInvite, NewKey, NewSession,
    NewUser, Role, TakenInvite, UserRow, Workspace, DEFAULT_WORKSPACE,
};
pub use objects::{
    ConfigObjectRow, ConfigWrite, ContainerChoice, IdempotentRow, NewWebhook, Objects, WebhookRow,
    Written,
};
pub use outbox::{
    ClaimedDelivery, Delivery, DeliveryDetail, DeliveryFilter, DeliveryResult, DeliveryState,
    DeliveryTry, Lease, NewNotification, Notification, Outbox, Recorded, Routed, TryOutcome,
};
pub use types::*;
pub use unit::{Committed, Ref, Unit, Write};
pub use vault::{ResealFn, SealFn, Sealed, SecretInfo, SecretRow, Vault};

pub mod postgres;
pub mod sqlite;
mod sqlite_write;

use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid store URL {url:?}: {why}")]
    BadUrl { url: String, why: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A name that must be unique is taken.
    #[error("conflict: {0}")]
    Conflict(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything autoheal records. Times are Unix milliseconds (`i64`).
#[async_trait]
pub trait Store: Accounts + Vault + Objects + Outbox + Send + Sync + 'static {
    /// Cheap round trip.
    async fn ping(&self) -> Result<()>;
    /// A real, committed write (one row rewritten): fails when the disk is
    /// full, the file read-only or the lock held. For readiness.
    async fn probe_write(&self, at: i64) -> Result<()> {
        self.commit(&Unit {
            writes: vec![Write::Probe { at }],
        })
        .await
        .map(drop)
    }
    /// Which backend: "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    // --- targets and their state -------------------------------------------
    /// Creates or updates a target's definition (kind and spec as JSON).
    /// `created_at` is set on first insert (wall clock) and kept on update.
    async fn upsert_target(&self, target: &TargetDef) -> Result<()>;
    /// [`Store::upsert_target`] for many targets in one transaction (one
    /// commit, one fsync), as at boot or on reload. A name given twice keeps
    /// the last definition. All or nothing: on error none is written.
    async fn upsert_targets(&self, targets: &[TargetDef]) -> Result<()> {
        for t in targets {
            self.upsert_target(t).await?;
        }
        Ok(())
    }
    /// Removes a target's definition and state (its history stays). Deleting
    /// an unknown name is not an error.
    async fn delete_target(&self, name: &str) -> Result<()>;
    /// All targets with their state, by name.
    async fn list_targets(&self) -> Result<Vec<TargetRow>>;
    async fn get_target(&self, name: &str) -> Result<Option<TargetRow>>;
    /// Persists the engine snapshot (JSON) and phase of a target.
    async fn save_state(
        &self,
        name: &str,
        phase: &str,
        snapshot: &serde_json::Value,
        at: i64,
    ) -> Result<()> {
        self.commit(&Unit {
            writes: vec![Write::SaveState {
                name: name.to_string(),
                phase: phase.to_string(),
                snapshot: snapshot.clone(),
                at,
            }],
        })
        .await
        .map(drop)
    }

    // --- check results and uptime -------------------------------------------
    /// Stores one observation and bumps its hourly rollup, in one
    /// transaction. A status other than "up"/"degraded" counts as down.
    async fn record_check(&self, result: &CheckResultRow) -> Result<()>;
    /// Group commit: stores every row of `results` and bumps their rollups,
    /// all in one transaction (one commit, one fsync for the whole batch).
    /// The same as [`Store::record_check`] on each row, in order, but all or
    /// nothing.
    async fn record_checks(&self, results: &[CheckResultRow]) -> Result<()> {
        self.record_checks_counted(results, &[]).await
    }
    /// Like [`Store::record_checks`], and also counts `counted_only` in the
    /// rollups without storing them as rows (the retention choice "keep only
    /// status changes": uptime stays exact for whole hours). One transaction.
    async fn record_checks_counted(
        &self,
        results: &[CheckResultRow],
        counted_only: &[CheckResultRow],
    ) -> Result<()>;
    /// Newest first; `limit` clamped like a page (0 = 50, at most 500).
    async fn recent_checks(&self, target: &str, limit: u32) -> Result<Vec<CheckResultRow>>;
    /// Counts of observations since `since` (from hourly rollups plus raw rows).
    async fn uptime(&self, target: &str, since: i64) -> Result<Uptime>;

    // --- incidents and attempts ---------------------------------------------
    /// Opens an incident and returns its id. Does not check for an incident
    /// already open on the target: that is the caller's decision.
    async fn open_incident(&self, target: &str, opened_at: i64, reason: &str) -> Result<i64> {
        let mut unit = Unit::new();
        unit.open_incident(target, opened_at, reason);
        Ok(self.commit(&unit).await?.incidents[0])
    }
    /// The open incident of a target, if any (the newest if several), with
    /// its attempts.
    async fn open_incident_for(&self, target: &str) -> Result<Option<Incident>>;
    /// Closes an incident. Closing a closed incident is a no-op (the first
    /// close stands); an unknown id is `NotFound`.
    async fn close_incident(&self, id: i64, closed_at: i64, resolution: &str) -> Result<()> {
        self.commit(&Unit {
            writes: vec![Write::CloseIncident {
                incident: Ref::Id(id),
                closed_at,
                resolution: resolution.to_string(),
            }],
        })
        .await
        .map(drop)
    }
    /// Marks an incident quarantined (still open) with a reason.
    async fn set_incident_quarantined(&self, id: i64, reason: &str) -> Result<()> {
        self.commit(&Unit {
            writes: vec![Write::QuarantineIncident {
                incident: Ref::Id(id),
                reason: reason.to_string(),
            }],
        })
        .await
        .map(drop)
    }
    /// One incident with its attempts (in id order).
    async fn get_incident(&self, id: i64) -> Result<Option<Incident>>;
    /// [`Store::get_incident`], only if the incident is `workspace_id`'s:
    /// what the API answers from (another workspace's incident is `None`).
    async fn get_incident_in(&self, workspace_id: i64, id: i64) -> Result<Option<Incident>> {
        match self.workspace_of_incident(id).await? {
            Some(ws) if ws == workspace_id => self.get_incident(id).await,
            _ => Ok(None),
        }
    }
    /// A page of incidents, newest first, each with its attempts.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Page<Incident>>;
    /// Records an attempt before its action runs; returns its id.
    async fn start_attempt(&self, attempt: &NewAttempt) -> Result<i64> {
        let mut unit = Unit::new();
        unit.start_attempt(Ref::Id(attempt.incident_id), attempt.clone());
        Ok(self.commit(&unit).await?.attempts[0])
    }
    /// Records how an attempt ended; an unknown id is `NotFound`.
    async fn finish_attempt(
        &self,
        id: i64,
        finished_at: i64,
        outcome: &str,
        detail: &str,
    ) -> Result<()> {
        self.commit(&Unit {
            writes: vec![Write::FinishAttempt {
                attempt: Ref::Id(id),
                finished_at,
                outcome: outcome.to_string(),
                detail: detail.to_string(),
            }],
        })
        .await
        .map(drop)
    }

    // --- the audit log ------------------------------------------------------
    /// Appends one audit-log line; returns its id.
    async fn append_event(&self, event: &NewEvent) -> Result<i64> {
        let mut unit = Unit::new();
        unit.event(event.clone(), None);
        Ok(self.commit(&unit).await?.events[0])
    }
    /// A page of events, newest first.
    async fn list_events(&self, filter: &EventFilter) -> Result<Page<Event>>;

    // --- units of work -----------------------------------------------------
    /// Writes every write of `unit` in one transaction, in order: all of
    /// them or, on any error, none. Returns the ids the unit made. The
    /// single-write methods above are one-write units.
    async fn commit(&self, unit: &Unit) -> Result<Committed>;

    // --- housekeeping -------------------------------------------------------
    /// Deletes check results, closed incidents and events older than the
    /// retention; returns how many rows went. Closed incidents go by
    /// `closed_at`, together with their attempts; open incidents never go.
    /// Hourly rollups are kept.
    ///
    /// The outbox: sent and cancelled deliveries, with their tries, go
    /// `events_ms` after they ended (like the audit log); dead letters stay
    /// until retried or cancelled, or `incidents_ms` after they died (the
    /// longer retention); pending ones never go. A notification goes
    /// `events_ms` after it was made once it is routed and none of its
    /// deliveries is left; an unrouted one never goes.
    async fn prune(&self, retention: &Retention, now: i64) -> Result<u64>;
}

/// Opens the store named by `url`: `sqlite://PATH` (created if missing),
/// `sqlite::memory:`, or `postgres://...`. Runs migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::BadUrl {
            url: url.to_string(),
            why: "expected sqlite://PATH or postgres://...".into(),
        })
    }
}
