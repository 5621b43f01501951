//! The live bus: what the event stream (`GET /api/v1/stream`) and, later,
//! the dashboard wake on.
//!
//! - `events`: a counter bumped after any audit event is committed (by the
//!   supervisor's units of work and the API's account writes). The stream
//!   then reads the store for the events after the last one it sent: the
//!   store stays the one source of truth, so a slow or reconnecting client
//!   (`Last-Event-ID`) misses nothing.
//! - `targets`: phase changes as the engine decides them, broadcast; a
//!   client too slow to keep up is told it lagged and reloads.
//! - `outbox`: wakes the notification outbox when a unit of work with
//!   notifications committed (it also looks every second on its own).

use serde::Serialize;
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

/// A target's phase changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TargetChange {
    pub workspace_id: i64,
    pub target: String,
    pub from: String,
    pub to: String,
    /// Unix ms.
    pub at: i64,
}

#[derive(Clone)]
pub struct Bus {
    events: watch::Sender<u64>,
    targets: broadcast::Sender<TargetChange>,
    outbox: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    pub fn new() -> Self {
        Bus {
            events: watch::channel(0).0,
            targets: broadcast::channel(1024).0,
            outbox: std::sync::Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// New notifications are in the store's outbox.
    pub fn notifications_committed(&self) {
        self.outbox.notify_one();
    }

    /// What the outbox waits on.
    pub fn outbox_wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    /// New audit events are in the store.
    pub fn events_committed(&self) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn target_changed(&self, change: TargetChange) {
        // No subscriber is fine.
        let _ = self.targets.send(change);
    }

    pub fn watch_events(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    pub fn subscribe_targets(&self) -> broadcast::Receiver<TargetChange> {
        self.targets.subscribe()
    }
}
