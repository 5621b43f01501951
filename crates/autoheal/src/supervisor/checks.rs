//! Check scheduling: one scheduler task keeps every target's next due time
//! in a timer queue and, when checks are due, runs them as futures of its
//! own (a `FuturesUnordered`), not as a task each: no spawn, no hand-off
//! between threads, no message back per check. Due times close together
//! are coalesced onto one tick, so checks that fall due together run in one
//! wake-up. A semaphore bounds how many checks run at once; a hung check is
//! cut at its timeout and never delays another target's checks.
//!
//! An idle target costs a queue entry (about 150 bytes), not a parked task
//! (about 640 bytes), which matters with 100,000 targets.
//!
//! The one scheduler task must never die on one target: intervals are
//! clamped to the accepted range before they meet an `Instant` or the timer
//! wheel (which panic on deadlines out of range), and a check that panics is
//! caught, counted as ended, and its target rescheduled.

use super::{Msg, ScheduledCheck};
use autoheal_core::policy::limits::CHECK_INTERVAL;
use autoheal_core::Observation;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use rand::Rng;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
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
            cmds,
            not_started: Some(Loop {
                rx,
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
        let mut running = FuturesUnordered::new();
        let mut next_key = 0u64;
        let epoch = Instant::now();
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
                        let now = Instant::now();
                        queue.insert_at(key, coalesce(epoch, now + spread(check.interval), check.interval));
                        entries.insert(key, Entry { target, check, cancel });
                    }
                },
                Some((key, started)) = running.next(), if !running.is_empty() => {
                    match entries.get(&key) {
                        Some(e) if !e.cancel.is_cancelled() => {
                            let due = next_due(started, e.check.interval, Instant::now());
                            queue.insert_at(key, coalesce(epoch, due, e.check.interval));
                        }
                        _ => {
                            entries.remove(&key);
                        }
                    }
                }
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
                    let check = check_once(
                        e.target.clone(),
                        e.check.clone(),
                        e.cancel.clone(),
                        self.limit.clone(),
                        self.msgs.clone(),
                    );
                    // A check that panics has ended too: its target is
                    // rescheduled and the scheduler goes on.
                    running.push(async move {
                        let started = AssertUnwindSafe(check)
                            .catch_unwind()
                            .await
                            .unwrap_or_else(|_| Instant::now());
                        (key, started)
                    });
                }
            }
        }
    }
}

/// Runs one check (waiting for a slot first) and reports the observation.
/// Returns when it started (after its slot), for the next due time.
async fn check_once(
    target: String,
    check: ScheduledCheck,
    cancel: CancellationToken,
    limit: Arc<Semaphore>,
    msgs: mpsc::Sender<Msg>,
) -> Instant {
    let mut started = Instant::now();
    let observation = async {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return None,
            p = limit.acquire_owned() => p.ok()?,
        };
        started = Instant::now();
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
            duration: started.elapsed(),
        };
        let _ = msgs.send(msg).await;
    }
    started
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

/// The slack a due time may be moved by, so checks due close together run
/// in one wake-up of the scheduler (and of the runtime's threads) instead
/// of one each: a fiftieth of the interval, 1 ms to 200 ms. It is part of
/// the check's spread (a tenth of the interval), not lateness.
fn slack(interval: Duration) -> Duration {
    (interval / 50).clamp(Duration::from_millis(1), Duration::from_millis(200))
}

/// `due` moved up to the next multiple of `slack(interval)` counted from
/// `epoch` (never earlier than `due`, never more than the slack later).
fn coalesce(epoch: Instant, due: Instant, interval: Duration) -> Instant {
    let slack = slack(interval).as_nanos();
    let since = due.saturating_duration_since(epoch).as_nanos();
    let rounded = since.div_ceil(slack).saturating_mul(slack);
    let by = u64::try_from(rounded - since).unwrap_or(0);
    due.checked_add(Duration::from_nanos(by)).unwrap_or(due)
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

    #[test]
    fn due_times_are_coalesced_onto_a_grid_within_the_slack() {
        let epoch = Instant::now();
        let interval = Duration::from_secs(10);
        let slack = slack(interval);
        assert_eq!(slack, Duration::from_millis(200));
        for ms in [0u64, 1, 199, 200, 201, 12_345, 86_400_000] {
            let due = epoch + Duration::from_millis(ms);
            let at = coalesce(epoch, due, interval);
            assert!(at >= due && at - due < slack, "{ms}");
            assert_eq!((at - epoch).as_nanos() % slack.as_nanos(), 0, "{ms}");
        }
        // Two checks due 50 ms apart run on the same tick.
        let a = coalesce(epoch, epoch + Duration::from_millis(1_010), interval);
        let b = coalesce(epoch, epoch + Duration::from_millis(1_060), interval);
        assert_eq!(a, b);
        // Short intervals keep a fine grid; none panics at the extremes.
        assert_eq!(
            slack_of(Duration::from_millis(100)),
            Duration::from_millis(2)
        );
        assert_eq!(slack_of(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(slack_of(Duration::MAX), Duration::from_millis(200));
        let _ = coalesce(epoch + Duration::from_secs(5), epoch, Duration::MAX);
    }

    fn slack_of(d: Duration) -> Duration {
        slack(d)
    }
}
