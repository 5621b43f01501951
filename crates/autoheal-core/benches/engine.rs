//! Throughput of the engine: observations decided per second over 100,000
//! targets, with a mix of up and down that crosses thresholds, opens
//! incidents, runs actions (answered at once, as a dry-run shell would) and
//! fires verification and cooldown timers.
//!
//! Run: `cargo bench -p autoheal-core`

use autoheal_core::{
    ActionOutcome, Decision, Engine, Input, Observation, Policy, Rung, TargetId, Timestamp,
};
use divan::counter::ItemsCount;
use divan::Bencher;
use std::time::Duration;

fn main() {
    divan::main();
}

const TARGETS: u32 = 100_000;
const ROUNDS: u32 = 20;
const START: Timestamp = Timestamp(1_700_000_000_000);

fn policy() -> Policy {
    Policy {
        cooldown: Duration::from_secs(10),
        ladder: vec![Rung {
            action: "restart".into(),
            verify: Duration::from_secs(30),
            repeat: 3,
        }],
        ..Policy::default()
    }
}

fn engine() -> Engine {
    let mut engine = Engine::new(42);
    for id in 0..TARGETS {
        engine
            .add_target(TargetId(id), policy(), START, None)
            .unwrap();
    }
    engine
}

/// A quarter always down, a quarter flapping, half up.
fn observation(id: u32, round: u32) -> Observation {
    match (id % 4, round % 3) {
        (0, _) => Observation::down("HTTP 503"),
        (1, 0) => Observation::down("timeout"),
        _ => Observation::up(),
    }
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn observations_over_100k_targets(bencher: Bencher<'_, '_>) {
    bencher
        .counter(ItemsCount::new(u64::from(TARGETS) * u64::from(ROUNDS)))
        .with_inputs(engine)
        .bench_local_values(|mut engine| {
            let mut actions = 0u64;
            for round in 0..ROUNDS {
                let now = START + Duration::from_secs(5 * u64::from(round));
                engine.handle_timeout(now);
                for id in 0..TARGETS {
                    let obs = observation(id, round);
                    engine
                        .handle(TargetId(id), now, Input::Observation(obs))
                        .unwrap();
                }
                let mut started = Vec::new();
                while let Some(out) = engine.poll() {
                    if matches!(out.decision, Decision::RunAction { .. }) {
                        started.push(out.target);
                    }
                }
                actions += started.len() as u64;
                for id in started {
                    engine
                        .handle(id, now, Input::ActionFinished(ActionOutcome::Succeeded))
                        .unwrap();
                }
                while engine.poll().is_some() {}
            }
            assert!(actions > 0);
            engine
        });
}
