//! The check-result writer: group commit of observations, off the
//! supervisor's path.
//!
//! A check result does not need its own durable commit: what the decisions
//! rest on (status changes, incidents, attempts, snapshots) goes through
//! the supervisor's units of work. So the supervisor hands each result to
//! this task and goes on deciding; the task gathers what arrives within
//! [`LINGER`] of the first result and writes it in one transaction (`Store::record_checks`: one
//! fsync for the batch, multi-row inserts, one rollup upsert per target and
//! hour). If the store refuses a batch it is retried (with a
//! growing pause, at most [`MAX_QUEUED`] rows kept; past that the oldest are
//! dropped and counted in `autoheal_check_results_dropped_total`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use autoheal_config::CheckHistory;
use autoheal_store::{CheckResultRow, Store};
use tokio::sync::mpsc;

use crate::telemetry::{events, Metrics};

/// Rows written per transaction at most.
pub(crate) const MAX_BATCH: usize = 5_000;
/// How long the first result of a batch waits for others. Check results
/// are history (the decisions never wait for them), so this only delays
/// what `GET .../checks` shows by at most this much.
pub(crate) const LINGER: Duration = Duration::from_millis(1000);
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
    pub(crate) fn spawn(
        store: Arc<dyn Store>,
        metrics: Metrics,
        history: CheckHistory,
    ) -> (Self, WriterTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = WriterTask {
            rx,
            store,
            metrics,
            history,
            last: HashMap::new(),
        };
        (CheckWriter { tx }, task)
    }

    pub(crate) fn send(&self, row: CheckResultRow) {
        let _ = self.tx.send(row);
    }
}

pub(crate) struct WriterTask {
    rx: mpsc::UnboundedReceiver<CheckResultRow>,
    store: Arc<dyn Store>,
    metrics: Metrics,
    history: CheckHistory,
    /// With `CheckHistory::Changes`: the last status stored per target.
    last: HashMap<String, String>,
}

impl WriterTask {
    /// One batch in one transaction: every row, or (`changes`) the rows
    /// whose status differs from the last one stored for their target, the
    /// others only counted in the rollups.
    async fn write(&mut self, batch: &[CheckResultRow]) -> autoheal_store::Result<()> {
        if self.history == CheckHistory::All {
            return self.store.record_checks(batch).await;
        }
        // The statuses this batch moves on, applied once it has committed.
        let mut moved: HashMap<&str, &str> = HashMap::new();
        let (mut kept, mut counted) = (Vec::new(), Vec::new());
        for row in batch {
            let before = moved
                .get(row.target.as_str())
                .copied()
                .or_else(|| self.last.get(&row.target).map(String::as_str));
            if before == Some(row.status.as_str()) {
                counted.push(row.clone());
            } else {
                moved.insert(&row.target, &row.status);
                kept.push(row.clone());
            }
        }
        self.store.record_checks_counted(&kept, &counted).await?;
        for (target, status) in moved {
            self.last.insert(target.to_string(), status.to_string());
        }
        Ok(())
    }

    pub(crate) async fn run(mut self) {
        let mut queue: VecDeque<CheckResultRow> = VecDeque::new();
        let mut pause = Duration::from_millis(100);
        loop {
            if queue.is_empty() {
                match self.rx.recv().await {
                    Some(row) => queue.push_back(row),
                    None => return,
                }
                // Gather for a moment: one transaction per LINGER rather
                // than one per result (each costs thread hand-offs to the
                // store and an fsync). Not when the supervisor is gone
                // (shutdown): then what is queued is written at once.
                // One timer wake-up, not one per result: the rows wait in
                // the channel meanwhile.
                if !self.rx.is_closed() {
                    tokio::time::sleep(LINGER).await;
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
            match self.write(&batch).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, at: i64, status: &str) -> CheckResultRow {
        CheckResultRow {
            target: target.into(),
            at,
            status: status.into(),
            latency_ms: Some(1),
            detail: String::new(),
        }
    }

    async fn written(history: CheckHistory, rows: &[CheckResultRow]) -> Arc<dyn Store> {
        let store = autoheal_store::open("sqlite::memory:").await.unwrap();
        let (writer, task) = CheckWriter::spawn(store.clone(), Metrics::new(), history);
        let run = tokio::spawn(task.run());
        for r in rows {
            writer.send(r.clone());
        }
        drop(writer);
        run.await.unwrap();
        store
    }

    #[tokio::test]
    async fn changes_keeps_one_row_per_status_change_and_counts_every_result() {
        let rows = [
            row("a", 1, "up"),
            row("a", 2, "up"),
            row("b", 2, "down"),
            row("a", 3, "down"),
            row("a", 4, "down"),
            row("a", 5, "up"),
            row("b", 6, "down"),
        ];
        let store = written(CheckHistory::Changes, &rows).await;
        let a: Vec<(i64, String)> = store
            .recent_checks("a", 50)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.at, r.status))
            .collect();
        assert_eq!(
            a,
            [(5, "up".into()), (3, "down".into()), (1, "up".into())],
            "newest first, one per change"
        );
        assert_eq!(store.recent_checks("b", 50).await.unwrap().len(), 1);
        let u = store.uptime("a", 0).await.unwrap();
        assert_eq!((u.up, u.down), (3, 2), "every result counted: {u:?}");

        let store = written(CheckHistory::All, &rows).await;
        assert_eq!(store.recent_checks("a", 50).await.unwrap().len(), 5);
    }
}
