//! Check tasks: one per target, each on its own schedule, sharing a
//! semaphore that bounds how many checks run at once. A hung check is cut at
//! its timeout and never delays another target's checks.

use super::{Msg, ScheduledCheck};
use autoheal_core::Observation;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Fraction of the interval used as random spread, so targets configured
/// together do not all fire on the same tick.
const JITTER: f64 = 0.1;

pub(crate) fn spawn(
    target: String,
    check: ScheduledCheck,
    limit: Arc<Semaphore>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    tokio::spawn(async move {
        // The first check runs soon, spread over a tenth of the interval.
        let mut next = Instant::now() + spread(check.interval);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            let started = Instant::now();
            let observation = tokio::select! {
                _ = cancel.cancelled() => return,
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
            let duration = started.elapsed();
            let msg = Msg::Observation {
                target: target.clone(),
                observation,
                at: super::now_ms(),
                duration,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
            next = started + check.interval + spread(check.interval);
            if next < Instant::now() {
                next = Instant::now();
            }
        }
    });
}

fn spread(interval: Duration) -> Duration {
    let max = interval.as_secs_f64() * JITTER;
    if max <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(rand::rng().random_range(0.0..max))
}
