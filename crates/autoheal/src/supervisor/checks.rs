//! Check scheduling: one scheduler task keeps every target's next due time
//! in a timer queue and starts a short-lived task for each check when it is
//! due. A semaphore bounds how many checks run at once; a hung check is cut
//! at its timeout and never delays another target's checks.
//!
//! One task per *running* check, not per target: an idle target costs a
//! queue entry (about 150 bytes), not a parked task (about 640 bytes), which
//! matters with 100,000 targets.
//!
//! The one scheduler task must never die on one target: intervals are
//! clamped to the accepted range before they meet an `Instant` or the timer
//! wheel (which panic on deadlines out of range), and a check task that
//! panics still reports that it ended, so its target is rescheduled.

use super::{Msg, ScheduledCheck};
use autoheal_core::policy::limits::CHECK_INTERVAL;
use autoheal_core::Observation;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;

/// Fraction of the interval used as random spread, so targets configured
/// together do not all fire on the same tick.
const JITTER: f64 = 0.1;

enum Cmd {
    /// Start checking a target; its first check runs within a tenth of the
    /// interval. Cancelling `cancel` stops it.
    Add {
        target: String,
        check: ScheduledCheck,
        cancel: CancellationToken,
    },
    /// A check of entry `key` that started at `started` has ended.
    Done { key: u64, started: Instant },
}

/// The handle the supervisor adds checks through. The scheduler task starts
/// with the first check added and ends when `stop` is cancelled.
pub(crate) struct Scheduler {
    cmds: mpsc::UnboundedSender<Cmd>,
    not_started: Option<Loop>,
}

/// How often an idle scheduler still stamps its heartbeat.
const BEAT: Duration = Duration::from_secs(5);

struct Loop {
    rx: mpsc::UnboundedReceiver<Cmd>,
    done: mpsc::UnboundedSender<Cmd>,
    limit: Arc<Semaphore>,
    msgs: mpsc::Sender<Msg>,
    stop: CancellationToken,
    beat: Arc<crate::vitals::Beat>,
    lateness: prometheus_client::metrics::histogram::Histogram,
}

struct Entry {
    target: String,
    check: ScheduledCheck,
    cancel: CancellationToken,
}

impl Scheduler {
    pub(crate) fn new(
        limit: Arc<Semaphore>,
        msgs: mpsc::Sender<Msg>,
        stop: CancellationToken,
        beat: Arc<crate::vitals::Beat>,
        lateness: prometheus_client::metrics::histogram::Histogram,
    ) -> Self {
        let (cmds, rx) = mpsc::unbounded_channel();
        Scheduler {
            cmds: cmds.clone(),
            not_started: Some(Loop {
                rx,
                done: cmds,
                limit,
                msgs,
                stop,
                beat,
                lateness,
            }),
        }
    }

    /// Starts the scheduler task (once), as a vital task when `vitals` is
    /// given: if it ever dies, autoheal fails loudly instead of serving on
    /// without checks.
    pub(crate) fn start(&mut self, vitals: Option<&Arc<crate::vitals::Vitals>>) {
        if let Some(l) = self.not_started.take() {
            match vitals {
                Some(v) => {
                    v.spawn_vital("check scheduler", l.run());
                }
                None => {
                    tokio::spawn(l.run());
                }
            }
        }
    }

    /// Reports the heartbeat to `beat` (before the task starts).
    pub(crate) fn set_beat(&mut self, beat: Arc<crate::vitals::Beat>) {
        if let Some(l) = self.not_started.as_mut() {
            l.beat = beat;
        }
    }

    pub(crate) fn add(&mut self, target: String, check: ScheduledCheck, cancel: CancellationToken) {
        self.start(None);
        let _ = self.cmds.send(Cmd::Add {
            target,
            check,
            cancel,
        });
    }
}

impl Loop {
    async fn run(mut self) {
        let mut queue: DelayQueue<u64> = DelayQueue::new();
        let mut entries: HashMap<u64, Entry> = HashMap::new();
        let mut next_key = 0u64;
        let _alive = self.beat.guard(self.stop.clone());
        let mut beat = tokio::time::interval(BEAT);
        loop {
            self.beat.stamp();
            crate::vitals::injected_panic("scheduler");
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = beat.tick() => {}
                cmd = self.rx.recv() => match cmd {
                    None => return,
                    Some(Cmd::Add { target, mut check, cancel }) => {
                        let key = next_key;
                        next_key += 1;
                        check.interval = CHECK_INTERVAL.clamp(check.interval);
                        queue.insert(key, spread(check.interval));
                        entries.insert(key, Entry { target, check, cancel });
                    }
                    Some(Cmd::Done { key, started }) => match entries.get(&key) {
                        Some(e) if !e.cancel.is_cancelled() => {
                            queue.insert_at(key, next_due(started, e.check.interval, Instant::now()));
                        }
                        _ => {
                            entries.remove(&key);
                        }
                    },
                },
                Some(expired) = std::future::poll_fn(|cx| queue.poll_expired(cx)), if !queue.is_empty() => {
                    let late = Instant::now().saturating_duration_since(expired.deadline());
                    self.beat.late(late);
                    self.lateness.observe(late.as_secs_f64());
                    let key = expired.into_inner();
                    let Some(e) = entries.get(&key) else { continue };
                    if e.cancel.is_cancelled() {
                        entries.remove(&key);
                        continue;
                    }
                    tokio::spawn(check_once(
                        key,
                        e.target.clone(),
                        e.check.clone(),
                        e.cancel.clone(),
                        self.limit.clone(),
                        self.msgs.clone(),
                        self.done.clone(),
                    ));
                }
            }
        }
    }
}

/// Runs one check (waiting for a slot first), reports the observation, and
/// tells the scheduler it ended, whatever happened, so it is either
/// rescheduled or forgotten.
async fn check_once(
    key: u64,
    target: String,
    check: ScheduledCheck,
    cancel: CancellationToken,
    limit: Arc<Semaphore>,
    msgs: mpsc::Sender<Msg>,
    done: mpsc::UnboundedSender<Cmd>,
) {
    // Sent on drop: also when the check panics, the scheduler hears that it
    // ended and schedules the next one.
    let mut guard = DoneGuard {
        key,
        started: Instant::now(),
        done,
    };
    let started = &mut guard.started;
    let observation = async {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return None,
            p = limit.acquire_owned() => p.ok()?,
        };
        *started = Instant::now();
        let o = tokio::select! {
            _ = cancel.cancelled() => return None,
            r = tokio::time::timeout(check.timeout, check.check.check()) => match r {
                Ok(o) => o,
                Err(_) => Observation {
                    latency: Some(check.timeout),
                    ..Observation::down(format!(
                        "check did not finish within {}",
                        humantime::format_duration(check.timeout)
                    ))
                },
            },
        };
        drop(permit);
        Some(o)
    }
    .await;
    if let Some(observation) = observation {
        let msg = Msg::Observation {
            target,
            observation,
            at: super::now_ms(),
            duration: guard.started.elapsed(),
        };
        let _ = msgs.send(msg).await;
    }
}

struct DoneGuard {
    key: u64,
    started: Instant,
    done: mpsc::UnboundedSender<Cmd>,
}

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.done.send(Cmd::Done {
            key: self.key,
            started: self.started,
        });
    }
}

/// When a check that started at `started` runs next: one interval (plus
/// jitter) later, never in the past, and never past the longest accepted
/// interval from `now` (whatever `interval` holds).
fn next_due(started: Instant, interval: Duration, now: Instant) -> Instant {
    let interval = CHECK_INTERVAL.clamp(interval);
    let latest = now + interval.saturating_add(spread(interval));
    started
        .checked_add(interval.saturating_add(spread(interval)))
        .unwrap_or(latest)
        .clamp(now, latest)
}

fn spread(interval: Duration) -> Duration {
    let max = interval.as_secs_f64() * JITTER;
    if !(max > 0.0 && max.is_finite()) {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(rand::rng().random_range(0.0..max)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_due_time_is_bounded_whatever_the_interval() {
        let now = Instant::now();
        let day = CHECK_INTERVAL.max;
        for interval in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_secs(36_525 * 86_400),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ] {
            let at = next_due(now, interval, now);
            assert!(at >= now, "{interval:?}");
            assert!(at <= now + day + day / 10, "{interval:?}");
        }
        let at = next_due(now, Duration::from_secs(10), now);
        assert!(at >= now + Duration::from_secs(10));
        assert!(at <= now + Duration::from_secs(11));
        assert!(spread(Duration::MAX) <= Duration::MAX);
    }
}
