//! Vital signs: what `/ready` and `/live` answer, and the process's fate
//! when a task it cannot do without ends.
//!
//! - **Store**: a prober rewrites one row every [`PROBE_EVERY`] (a real,
//!   committed write: a full disk, a read-only file, a held lock or a stopped
//!   PostgreSQL shows), each try cut at [`PROBE_TIMEOUT`]. `/ready` reads the
//!   outcome and never waits on the store itself.
//! - **Supervisor** and **check scheduler**: each loop stamps a heartbeat at
//!   least every 5 s; a stale stamp (a stuck or dead loop) is not ready
//!   (the supervisor's is its [`Handle`](crate::supervisor::Handle)'s). The
//!   scheduler also reports how late its last due check started.
//! - **Vital tasks** (the supervisor, the check scheduler, the Docker
//!   watcher, the signal handler, the prober) are started with
//!   [`Vitals::spawn_vital`]: if one ends while autoheal is not stopping
//!   (a panic included), the death is logged, `/live` fails (so Docker's
//!   `HEALTHCHECK` or Kubernetes restarts the process) and the process stops
//!   and exits non-zero instead of serving on without healing.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autoheal_store::Store;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// How often the prober writes.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// A probe write that takes longer counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The last good write must be this recent for `/ready`.
pub const STORE_MAX_AGE: Duration = Duration::from_secs(10);
/// A loop's heartbeat must be this recent for `/ready`.
pub const LOOP_MAX_AGE: Duration = Duration::from_secs(15);
/// A scheduler that starts due checks later than this is behind.
pub const MAX_LATENESS: Duration = Duration::from_secs(10);

/// A loop's heartbeat: stamped while it turns, marked dead when it ends.
#[derive(Debug, Default)]
pub struct Beat {
    at_ms: AtomicI64,
    dead: AtomicBool,
    /// How late the last due item started (the scheduler's lateness).
    late_ms: AtomicI64,
}

impl Beat {
    pub fn new() -> Arc<Self> {
        let b = Beat::default();
        b.at_ms
            .store(crate::supervisor::now_ms(), Ordering::Relaxed);
        Arc::new(b)
    }
    pub fn stamp(&self) {
        self.at_ms
            .store(crate::supervisor::now_ms(), Ordering::Relaxed);
    }
    pub fn late(&self, by: Duration) {
        self.late_ms.store(
            by.as_millis().min(i64::MAX as u128) as i64,
            Ordering::Relaxed,
        );
    }
    pub fn late_ms(&self) -> i64 {
        self.late_ms.load(Ordering::Relaxed)
    }
    fn fresh(&self, now: i64) -> bool {
        !self.dead.load(Ordering::Relaxed)
            && now - self.at_ms.load(Ordering::Relaxed) <= LOOP_MAX_AGE.as_millis() as i64
    }
    /// A guard that marks the loop dead when dropped (return or panic),
    /// unless `stopping` was cancelled first.
    pub fn guard(self: &Arc<Self>, stopping: CancellationToken) -> BeatGuard {
        BeatGuard {
            beat: self.clone(),
            stopping,
        }
    }
}

pub struct BeatGuard {
    beat: Arc<Beat>,
    stopping: CancellationToken,
}

impl Drop for BeatGuard {
    fn drop(&mut self) {
        if !self.stopping.is_cancelled() {
            self.beat.dead.store(true, Ordering::Relaxed);
        }
    }
}

/// The shared vital signs of one process.
#[derive(Debug)]
pub struct Vitals {
    store_ok_ms: AtomicI64,
    store_error: Mutex<Option<String>>,
    /// The first vital task that died, with how.
    fatal: Mutex<Option<String>>,
    /// Cancelled when a vital task dies.
    died: CancellationToken,
    /// Cancelled when autoheal is stopping on purpose.
    stopping: CancellationToken,
    /// The check scheduler's heartbeat.
    pub scheduler: Arc<Beat>,
}

/// What `/ready` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ready: bool,
    pub live: bool,
    /// "ok", or why writes are not known to work.
    pub store: String,
    pub supervisor: &'static str,
    pub scheduler: &'static str,
    pub scheduler_late_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fatal: Option<String>,
}

impl Vitals {
    pub fn new() -> Arc<Self> {
        Arc::new(Vitals {
            store_ok_ms: AtomicI64::new(0),
            store_error: Mutex::new(Some("not probed yet".into())),
            fatal: Mutex::new(None),
            died: CancellationToken::new(),
            stopping: CancellationToken::new(),
            scheduler: Beat::new(),
        })
    }

    /// Cancelled once autoheal stops on purpose: tasks ending after it are
    /// not deaths.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// autoheal is stopping on purpose (a signal, or after a death).
    pub fn begin_stop(&self) {
        self.stopping.cancel();
    }

    /// Resolves when a vital task has died.
    pub async fn died(&self) {
        self.died.cancelled().await
    }

    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    fn record_death(&self, what: String) {
        tracing::error!(task = %what, "A vital task ended: {what}. autoheal cannot heal without it and stops.");
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(what);
        }
        self.died.cancel();
    }

    /// Spawns a task autoheal cannot do without. If it ends (returns or
    /// panics) while autoheal is not stopping, the process is failing. The
    /// token returned is cancelled when the task has ended, however.
    pub fn spawn_vital<F>(self: &Arc<Self>, name: &'static str, fut: F) -> CancellationToken
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(fut);
        let me = self.clone();
        let ended = CancellationToken::new();
        let done = ended.clone();
        tokio::spawn(async move {
            let _done = done.drop_guard();
            let how = match handle.await {
                Ok(()) => "it returned".to_string(),
                Err(e) if e.is_panic() => {
                    let p = e.into_panic();
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    format!("it panicked: {msg}")
                }
                Err(_) => "it was cancelled".to_string(),
            };
            if !me.stopping.is_cancelled() {
                me.record_death(format!("the {name} task ended ({how})"));
            }
        });
        ended
    }

    /// Writes to the store every [`PROBE_EVERY`] and keeps the outcome.
    pub async fn probe(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            let now = crate::supervisor::now_ms();
            let outcome = match tokio::time::timeout(PROBE_TIMEOUT, store.probe_write(now)).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(crate::error_chain(&e)),
                Err(_) => Some(format!(
                    "a write took longer than {}",
                    humantime::format_duration(PROBE_TIMEOUT)
                )),
            };
            match outcome {
                None => {
                    self.store_ok_ms
                        .store(crate::supervisor::now_ms(), Ordering::Relaxed);
                    if let Ok(mut e) = self.store_error.lock() {
                        if e.take().is_some_and(|was| was != "not probed yet") {
                            tracing::info!("The store takes writes again.");
                        }
                    }
                }
                Some(why) => {
                    if let Ok(mut e) = self.store_error.lock() {
                        if e.is_none() {
                            tracing::error!(error = %why, "The store does not take writes: {why}. Not ready.");
                        }
                        *e = Some(why);
                    }
                }
            }
            tokio::select! {
                _ = self.stopping.cancelled() => return,
                _ = tokio::time::sleep(PROBE_EVERY) => {}
            }
        }
    }

    pub fn report(&self, supervisor_running: bool) -> Report {
        let now = crate::supervisor::now_ms();
        let store_error = self.store_error.lock().ok().and_then(|e| e.clone());
        let store_age = now - self.store_ok_ms.load(Ordering::Relaxed);
        let store = match store_error {
            Some(e) => e,
            None if store_age > STORE_MAX_AGE.as_millis() as i64 => format!(
                "no write has succeeded for {}",
                humantime::format_duration(Duration::from_secs((store_age / 1000) as u64))
            ),
            None => "ok".to_string(),
        };
        let supervisor_ok = supervisor_running;
        let late = self.scheduler.late_ms();
        let scheduler = if !self.scheduler.fresh(now) {
            "stopped"
        } else if late > MAX_LATENESS.as_millis() as i64 {
            "behind"
        } else {
            "running"
        };
        let fatal = self.fatal();
        let live = fatal.is_none();
        Report {
            ready: live && store == "ok" && supervisor_ok && scheduler == "running",
            live,
            store,
            supervisor: if supervisor_ok { "running" } else { "stopped" },
            scheduler,
            scheduler_late_ms: late,
            fatal,
        }
    }
}

/// Test-only fault injection (debug builds only): with
/// `AUTOHEAL_FAULT_PANIC=<task>` the named loop panics once the file named
/// by `AUTOHEAL_FAULT_TRIGGER` exists. Release builds have no such hook.
pub fn injected_panic(task: &str) {
    #[cfg(debug_assertions)]
    {
        if std::env::var("AUTOHEAL_FAULT_PANIC").as_deref() == Ok(task)
            && std::env::var_os("AUTOHEAL_FAULT_TRIGGER")
                .is_some_and(|p| std::path::Path::new(&p).exists())
        {
            panic!("injected fault in the {task} task");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = task;
}
