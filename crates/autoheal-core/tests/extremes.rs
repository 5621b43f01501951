//! No input panics the engine: policies with extreme durations (0, 1 ns,
//! `u64::MAX` seconds, `Duration::MAX`), extreme factors and jitters, and
//! clocks at the ends of `i64`, fed any sequence of inputs. (issue 7, items
//! 3 and 4: a backoff cap near `u64::MAX` used to panic the supervisor.)

use autoheal_core::policy::limits;
use autoheal_core::{
    ActionOutcome, Backoff, Command, Engine, Input, MaintenanceWindow, Observation, Policy, Rung,
    TargetId, TargetSnapshot, Timestamp,
};
use proptest::prelude::*;
use std::time::Duration;

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::MAX),
        Just(Duration::from_millis(i64::MAX as u64)),
        Just(Duration::from_secs(36_525 * 86_400)),
        any::<u64>().prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_millis),
        (0u64..600_000).prop_map(Duration::from_millis),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(-1.0),
        Just(0.0),
        0.0f64..4.0,
    ]
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0i64),
        Just(i64::MAX - 1),
        any::<i64>(),
        1_700_000_000_000i64..1_800_000_000_000,
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        (duration(), duration(), duration(), duration(), duration()),
        (duration(), duration(), duration(), float(), float()),
        (
            0u32..4,
            0u32..3,
            0u32..4,
            prop::option::of((time(), time())),
        ),
        // No recurring windows here: walking a cron schedule from an extreme
        // time takes minutes (noted as a known gap); maintenance.rs tests
        // them.
        Just(None::<(Duration, &'static str)>),
    )
        .prop_map(|(a, b, c, d)| {
            let (failure_window, start_period, cooldown, actions_window, verify) = a;
            let (initial, max, reset_after, factor, jitter) = b;
            let (failure_threshold, success_threshold, max_actions, one_off) = c;
            let mut maintenance: Vec<MaintenanceWindow> = one_off
                .map(|(s, e)| MaintenanceWindow::OneOff {
                    start: Timestamp(s.min(e)),
                    end: Timestamp(s.max(e)),
                })
                .into_iter()
                .collect();
            if let Some((duration, cron)) = d {
                maintenance.push(MaintenanceWindow::Recurring {
                    cron: cron.to_string(),
                    timezone: "UTC".into(),
                    duration,
                });
            }
            Policy {
                failure_threshold,
                failure_window,
                success_threshold,
                start_period,
                cooldown,
                actions_window,
                max_actions,
                backoff: Backoff {
                    initial,
                    factor,
                    max,
                    jitter,
                    reset_after,
                },
                ladder: vec![
                    Rung {
                        action: "a".into(),
                        verify,
                        repeat: 2,
                    },
                    Rung {
                        action: "b".into(),
                        verify,
                        repeat: u32::MAX,
                    },
                ],
                maintenance,
                ..Policy::default()
            }
        })
}

#[derive(Debug, Clone)]
enum Step {
    Up,
    Down,
    Finished(u8),
    Command(u8),
    Started,
    Deploy(bool),
    Timeout,
    Snapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Down),
        2 => Just(Step::Up),
        2 => any::<u8>().prop_map(Step::Finished),
        1 => any::<u8>().prop_map(Step::Command),
        1 => Just(Step::Started),
        1 => any::<bool>().prop_map(Step::Deploy),
        3 => Just(Step::Timeout),
        1 => Just(Step::Snapshot),
    ]
}

/// Time moves by small steps, huge leaps or to the ends of the clock.
fn advance() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        3 => (0i64..120_000).prop_map(Some),
        1 => any::<i64>().prop_map(Some),
        1 => Just(None),
    ]
}

/// One case of `extreme_durations_never_panic_the_engine`.
fn run_extremes(seed: u64, policy: Policy, start: i64, ops: Vec<(Option<i64>, Step)>) {
    let id = TargetId(0);
    let mut engine = Engine::new(seed);
    let mut now = start;
    engine
        .add_target(id, policy.clone(), Timestamp(now), None)
        .unwrap();
    for (adv, step) in ops {
        now = match adv {
            Some(ms) => now.saturating_add(ms),
            // Jump to the next timer, wherever it is.
            None => engine.poll_timeout().map_or(now, |t| t.as_millis()),
        };
        let at = Timestamp(now);
        let input = match step {
            Step::Up => Some(Input::Observation(Observation::up())),
            Step::Down => Some(Input::Observation(Observation::down("x"))),
            Step::Finished(n) => Some(Input::ActionFinished(match n % 3 {
                0 => ActionOutcome::Succeeded,
                1 => ActionOutcome::TimedOut,
                _ => ActionOutcome::Failed { detail: "x".into() },
            })),
            Step::Command(n) => Some(Input::Command {
                command: [
                    Command::HealNow,
                    Command::Quarantine,
                    Command::Release,
                    Command::Pause,
                    Command::Resume,
                ][n as usize % 5],
                actor: "t".into(),
            }),
            Step::Started => Some(Input::Started),
            Step::Deploy(b) => Some(Input::DeployRunning(b)),
            Step::Timeout => {
                engine.handle_timeout(at);
                None
            }
            Step::Snapshot => {
                // A restart: the snapshot restores under the same policy.
                let snap: TargetSnapshot = engine.snapshot(id).unwrap();
                let json = serde_json::to_string(&snap).unwrap();
                let snap: TargetSnapshot = serde_json::from_str(&json).unwrap();
                engine = Engine::new(seed);
                engine
                    .add_target(id, policy.clone(), at, Some(snap))
                    .unwrap();
                None
            }
        };
        if let Some(input) = input {
            engine.handle(id, at, input).unwrap();
        }
        while engine.poll().is_some() {}
    }
}

/// Runs `f` on its own thread and fails when it has not returned within
/// `limit`: a livelocked engine (a timer that fires and reschedules itself
/// for ever) fails the case instead of hanging the test run.
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let h = std::thread::spawn(f);
    let deadline = std::time::Instant::now() + limit;
    while !h.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the engine did not return within {limit:?}: a livelock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    match h.join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        // A livelock makes every shrink step wait out its limit: bounded.
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn extreme_durations_never_panic_the_engine(
        seed in any::<u64>(),
        policy in policy(),
        start in time(),
        ops in prop::collection::vec((advance(), step()), 1..80),
    ) {
        within(std::time::Duration::from_secs(20), move || run_extremes(seed, policy, start, ops));
    }
    #[test]
    fn backoff_gaps_never_panic_and_never_pass_the_cap(
        initial in duration(),
        max in duration(),
        factor in float(),
        n in any::<u32>(),
    ) {
        let b = Backoff { initial, max, factor, ..Backoff::default() };
        let gap = b.gap(n);
        prop_assert!(gap <= max);
        prop_assert!(b.gap(n.saturating_add(1)) >= gap || gap == max);
    }

    #[test]
    fn limits_check_and_clamp_any_duration(d in duration()) {
        for l in limits::ALL {
            let c = l.clamp(d);
            prop_assert!(l.check(c).is_ok());
            prop_assert_eq!(l.check(d).is_ok(), c == d);
            if let Err(e) = l.check(d) {
                prop_assert!(e.to_string().contains("is out of range; expected between"));
            }
        }
    }
}

/// A failure window with a part of a millisecond (`60s 500us`, which the
/// config accepts) once put the failure's deadline half a millisecond
/// before the instant the window ends: the timer fired, nothing was pruned,
/// the same deadline was scheduled again, and `handle_timeout` never
/// returned (found by the proptest above with a random seed).
#[test]
fn a_window_with_a_part_of_a_millisecond_fires_once_and_ends() {
    let id = TargetId(0);
    let policy = Policy {
        failure_threshold: 3,
        failure_window: Duration::from_micros(60_000_500),
        start_period: Duration::ZERO,
        ..Policy::default()
    };
    let mut engine = Engine::new(1);
    let t0 = 1_000_000_i64;
    engine.add_target(id, policy, Timestamp(t0), None).unwrap();
    engine
        .handle(
            id,
            Timestamp(t0),
            Input::Observation(Observation::down("x")),
        )
        .unwrap();
    while engine.poll().is_some() {}
    // Every millisecond around the window's end: each call returns.
    for ms in 59_998..60_003 {
        engine.handle_timeout(Timestamp(t0 + ms));
        while engine.poll().is_some() {}
    }
    let next = engine.poll_timeout();
    assert!(
        next.is_none_or(|t| t.as_millis() > t0 + 60_002),
        "no deadline left behind the clock: {next:?}"
    );
}

/// A failure window longer than the clock's range (no config allows it,
/// the engine must not care): `since` saturated below the window while the
/// deadline `t + window` was already due, so the failure was never pruned
/// and its timer fired for ever.
#[test]
fn a_window_beyond_the_clocks_range_fires_once_and_ends() {
    let id = TargetId(0);
    let policy = Policy {
        failure_threshold: 3,
        failure_window: Duration::from_secs(u64::MAX / 2),
        start_period: Duration::ZERO,
        ..Policy::default()
    };
    let mut engine = Engine::new(1);
    engine.add_target(id, policy, Timestamp(-5), None).unwrap();
    engine
        .handle(
            id,
            Timestamp(-5),
            Input::Observation(Observation::down("x")),
        )
        .unwrap();
    while engine.poll().is_some() {}
    engine.handle_timeout(Timestamp(i64::MAX - 1));
    while engine.poll().is_some() {}
}
