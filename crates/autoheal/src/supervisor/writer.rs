//! The check-result writer: group commit of observations, off the
//! supervisor's path.
//!
//! A check result does not need its own durable commit: what the decisions
//! rest on (status changes, incidents, attempts, snapshots) goes through
//! the supervisor's units of work. So the supervisor hands each result to
//! this task and goes on deciding; the task takes everything queued at that
//! moment and writes it in one transaction (`Store::record_checks`: one
//! fsync for the batch, multi-row inserts, one rollup upsert per target and
//! hour). Under load batches grow by themselves; when idle each result is
//! written at once. If the store refuses a batch it is retried (with a
//! growing pause, at most [`MAX_QUEUED`] rows kept; past that the oldest are
//! dropped and counted in `autoheal_check_results_dropped_total`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use autoheal_store::{CheckResultRow, Store};
use tokio::sync::mpsc;

use crate::telemetry::{events, Metrics};

/// Rows written per transaction at most.
pub(crate) const MAX_BATCH: usize = 5_000;
/// Rows kept while the store refuses writes.
pub(crate) const MAX_QUEUED: usize = 200_000;

/// The supervisor's end: never waits on the store.
#[derive(Clone)]
pub(crate) struct CheckWriter {
    tx: mpsc::UnboundedSender<CheckResultRow>,
}

impl CheckWriter {
    /// Starts the writer task; it ends once every sender is gone and the
    /// queue is written (or given up on at shutdown).
    pub(crate) fn spawn(store: Arc<dyn Store>, metrics: Metrics) -> (Self, WriterTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        (CheckWriter { tx }, WriterTask { rx, store, metrics })
    }

    pub(crate) fn send(&self, row: CheckResultRow) {
        let _ = self.tx.send(row);
    }
}

pub(crate) struct WriterTask {
    rx: mpsc::UnboundedReceiver<CheckResultRow>,
    store: Arc<dyn Store>,
    metrics: Metrics,
}

impl WriterTask {
    pub(crate) async fn run(mut self) {
        let mut queue: VecDeque<CheckResultRow> = VecDeque::new();
        let mut pause = Duration::from_millis(100);
        loop {
            if queue.is_empty() {
                match self.rx.recv().await {
                    Some(row) => queue.push_back(row),
                    None => return,
                }
            }
            while queue.len() < MAX_QUEUED {
                match self.rx.try_recv() {
                    Ok(row) => queue.push_back(row),
                    Err(_) => break,
                }
            }
            let n = queue.len().min(MAX_BATCH);
            let batch: Vec<CheckResultRow> = queue.range(..n).cloned().collect();
            match self.store.record_checks(&batch).await {
                Ok(()) => {
                    queue.drain(..n);
                    pause = Duration::from_millis(100);
                }
                Err(e) => {
                    events::StoreWriteFailed {
                        what: "check results",
                        error: &e,
                    }
                    .emit(&self.metrics);
                    // Keep the newest; the rollups of dropped rows are lost
                    // with them, and the count says so.
                    let over = queue.len().saturating_sub(MAX_QUEUED);
                    if over > 0 {
                        queue.drain(..over);
                        self.metrics.check_results_dropped.inc_by(over as u64);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                    // The queue keeps filling meanwhile; beyond the cap the
                    // oldest go first.
                    while let Ok(row) = self.rx.try_recv() {
                        if queue.len() >= MAX_QUEUED {
                            queue.pop_front();
                            self.metrics.check_results_dropped.inc();
                        }
                        queue.push_back(row);
                    }
                }
            }
        }
    }
}
