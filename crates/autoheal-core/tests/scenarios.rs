//! Tier-1 scenarios: the engine on a virtual clock, one behaviour per test,
//! each named as the sentence it proves.

mod support;

use autoheal_core::{
    ActionOutcome, Backoff, Command, Decision, Engine, Hold, Input, MaintenanceWindow, Observation,
    Phase, Policy, QuarantineReason, Resolution, Rung, StopBy, TargetSnapshot, Timestamp,
};
use support::*;

fn transition(from: Phase, to: Phase) -> Decision {
    Decision::Transition { from, to }
}

fn run(rung: usize, attempt: u32) -> Decision {
    Decision::RunAction {
        rung,
        attempt,
        dry_run: false,
    }
}

/// Backoff without jitter, so gaps are exact.
fn exact_backoff(initial_secs: u64) -> Backoff {
    Backoff {
        initial: secs(initial_secs),
        jitter: 0.0,
        ..Backoff::default()
    }
}

fn ts(rfc3339: &str) -> Timestamp {
    Timestamp::from_chrono(
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .into(),
    )
}

#[test]
fn three_failures_within_the_window_open_an_incident_and_run_the_first_rung() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.down(APP).wait(secs(10)).down(APP);
    assert_eq!(
        sim.take(APP),
        vec![transition(Phase::Healthy, Phase::Suspect)]
    );
    sim.wait(secs(10)).down(APP);
    assert_eq!(
        sim.take(APP),
        vec![
            Decision::IncidentOpened {
                reason: "3 failures within 1m (last: HTTP 503)".into()
            },
            transition(Phase::Suspect, Phase::Failing),
            run(0, 1),
            transition(Phase::Failing, Phase::Healing),
        ]
    );
}

#[test]
fn failures_spread_wider_than_the_window_never_open_an_incident() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.downs(APP, 20, secs(31));
    assert!(!sim
        .take(APP)
        .iter()
        .any(|d| matches!(d, Decision::IncidentOpened { .. })));
    assert_eq!(sim.phase(APP), Phase::Suspect);
    // Once the failures age out of the window, the target is healthy again.
    sim.wait(secs(60));
    assert_eq!(sim.phase(APP), Phase::Healthy);
    // Control: the same failures 29 s apart do open one.
    sim.downs(APP, 3, secs(29));
    assert_eq!(sim.phase(APP), Phase::Healing);
}

#[test]
fn restarts_are_spaced_by_backoff_and_stop_at_the_window_limit() {
    let mut sim = Sim::new();
    let policy = Policy {
        cooldown: secs(5),
        backoff: exact_backoff(10),
        ladder: vec![Rung {
            action: "restart".into(),
            verify: secs(30),
            repeat: 10,
        }],
        ..Policy::default()
    };
    sim.add(APP, policy);
    let t0 = sim.now + secs(2);
    // Down every second; every restart fails at once.
    for _ in 0..(20 * 60) {
        sim.down(APP);
        if sim.phase(APP) == Phase::Healing {
            sim.fail(APP);
        }
        sim.wait(secs(1));
    }
    let starts: Vec<i64> = sim
        .action_times(APP)
        .iter()
        .map(|a| (a.0 - t0.0) / 1000)
        .collect();
    // Gaps 10, 20, 40, 80 s; the sixth would be the sixth within the hour.
    assert_eq!(starts, vec![0, 10, 30, 70, 150]);
    let quarantined: Vec<_> = sim
        .log
        .iter()
        .filter(|o| matches!(o.decision, Decision::Quarantined(_)))
        .map(|o| (o.at, o.decision.clone()))
        .collect();
    assert_eq!(
        quarantined,
        vec![(
            t0 + secs(310),
            Decision::Quarantined(QuarantineReason::ActionLimit {
                actions: 5,
                window: secs(3600)
            })
        )]
    );
    assert_eq!(sim.phase(APP), Phase::Quarantined);
}

#[test]
fn start_period_ignores_failures() {
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            start_period: secs(60),
            ..restart_policy()
        },
    );
    assert_eq!(sim.phase(APP), Phase::Starting);
    sim.downs(APP, 5, secs(10));
    assert_eq!(sim.take(APP), vec![]);
    sim.wait(secs(20));
    assert_eq!(
        sim.take(APP),
        vec![transition(Phase::Starting, Phase::Healthy)]
    );
    // A restart outside autoheal begins a new start period.
    sim.input(APP, Input::Started);
    assert_eq!(sim.phase(APP), Phase::Starting);
    sim.downs(APP, 3, secs(1));
    assert_eq!(sim.phase(APP), Phase::Starting);
    sim.wait(secs(60)).downs(APP, 3, secs(1));
    assert_eq!(sim.phase(APP), Phase::Healing);
}

#[test]
fn degraded_is_recorded_but_not_a_failure_by_default() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    for _ in 0..10 {
        sim.input(APP, Input::Observation(Observation::degraded("slow: 4s")))
            .wait(secs(1));
    }
    assert_eq!(sim.take(APP), vec![]);
    assert_eq!(sim.phase(APP), Phase::Healthy);

    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            degraded_is_failure: true,
            ..restart_policy()
        },
    );
    for _ in 0..3 {
        sim.input(APP, Input::Observation(Observation::degraded("slow: 4s")))
            .wait(secs(1));
    }
    let opened = sim
        .take(APP)
        .into_iter()
        .find(|d| matches!(d, Decision::IncidentOpened { .. }));
    assert_eq!(
        opened,
        Some(Decision::IncidentOpened {
            reason: "3 failures within 1m (last: slow: 4s)".into()
        })
    );
}

#[test]
fn an_app_is_not_healed_while_its_database_is_failing_and_is_once_it_recovers() {
    let mut sim = Sim::new();
    sim.add(DB, restart_policy());
    sim.add(
        APP,
        Policy {
            depends_on: vec![DB],
            ..restart_policy()
        },
    );
    sim.downs(DB, 3, secs(1));
    assert_eq!(sim.phase(DB), Phase::Healing);
    sim.downs(APP, 3, secs(1));
    let app = sim.take_plain(APP);
    assert!(
        app.contains(&Decision::Held(Hold::Dependency { target: DB })),
        "{app:?}"
    );
    assert!(!app.iter().any(is_action));
    // The database restart works and the database answers again.
    sim.wait(secs(5)).succeed(DB).wait(secs(3)).up(DB);
    assert_eq!(sim.phase(DB), Phase::Healthy);
    let recovered_at = sim.now;
    assert_eq!(sim.action_times(APP), vec![recovered_at]);
    assert_eq!(sim.phase(APP), Phase::Healing);
}

#[test]
fn maintenance_window_holds_actions_and_resumes_after() {
    let mut sim = Sim::new();
    let start = sim.now + secs(60);
    let end = start + secs(600);
    sim.add(
        APP,
        Policy {
            maintenance: vec![MaintenanceWindow::OneOff { start, end }],
            ..restart_policy()
        },
    );
    sim.wait(secs(60)).downs(APP, 3, secs(1));
    let held = sim.take_plain(APP);
    assert!(
        held.contains(&Decision::Held(Hold::Maintenance { until: Some(end) })),
        "{held:?}"
    );
    assert!(!held.iter().any(is_action));
    // Down all through the window: the hold is announced once, no action.
    sim.keep_failing(APP, secs(500), secs(10));
    assert_eq!(sim.take_plain(APP), vec![]);
    sim.wait(secs(200));
    assert_eq!(sim.action_times(APP), vec![end]);
}

#[test]
fn recurring_cron_maintenance_in_a_time_zone() {
    // Every day 03:00-04:00 in New York: 08:00Z in winter (EST), 07:00Z in summer (EDT).
    let window = MaintenanceWindow::Recurring {
        cron: "0 0 3 * * *".into(),
        timezone: "America/New_York".into(),
        duration: secs(3600),
    };
    assert_eq!(window.validate(), Ok(()));
    for (now, end) in [
        ("2026-01-15T08:10:00Z", "2026-01-15T09:00:00Z"),
        ("2026-07-15T07:10:00Z", "2026-07-15T08:00:00Z"),
    ] {
        let mut sim = Sim::new();
        sim.now = ts(now);
        sim.add(
            APP,
            Policy {
                maintenance: vec![window.clone()],
                ..restart_policy()
            },
        );
        sim.downs(APP, 3, secs(1));
        assert!(sim
            .take_plain(APP)
            .contains(&Decision::Held(Hold::Maintenance {
                until: Some(ts(end))
            })));
        sim.wait(secs(3600));
        assert_eq!(sim.action_times(APP), vec![ts(end)]);
    }
    // Outside the window (04:10 New York in winter) the action runs at once.
    let mut sim = Sim::new();
    sim.now = ts("2026-01-15T09:10:00Z");
    sim.add(
        APP,
        Policy {
            maintenance: vec![window],
            ..restart_policy()
        },
    );
    sim.downs(APP, 3, secs(1));
    assert_eq!(sim.action_times(APP), vec![sim.now]);
}

#[test]
fn dry_run_decides_everything_and_marks_actions_dry() {
    let mut sim = Sim::new();
    let policy = Policy {
        dry_run: true,
        cooldown: secs(0),
        backoff: exact_backoff(1),
        ladder: vec![rung("restart", 30), rung("redeploy", 60)],
        ..Policy::default()
    };
    sim.add(APP, policy);
    sim.keep_failing(APP, secs(600), secs(5));
    let decisions = sim.take_plain(APP);
    let actions: Vec<_> = decisions.iter().filter(|d| is_action(d)).cloned().collect();
    assert_eq!(
        actions,
        vec![
            Decision::RunAction {
                rung: 0,
                attempt: 1,
                dry_run: true
            },
            Decision::RunAction {
                rung: 1,
                attempt: 2,
                dry_run: true
            },
        ]
    );
    assert!(decisions.contains(&Decision::Quarantined(QuarantineReason::LadderExhausted)));
}

#[test]
fn ladder_escalates_restart_then_redeploy_then_quarantines() {
    let mut sim = Sim::new();
    let policy = Policy {
        cooldown: secs(0),
        backoff: exact_backoff(1),
        ladder: vec![
            Rung {
                action: "restart".into(),
                verify: secs(30),
                repeat: 2,
            },
            rung("redeploy", 60),
        ],
        ..Policy::default()
    };
    sim.add(APP, policy);
    sim.keep_failing(APP, secs(600), secs(5));
    let decisions: Vec<_> = sim
        .take_plain(APP)
        .into_iter()
        .filter(|d| !matches!(d, Decision::IncidentOpened { .. }))
        .collect();
    assert_eq!(
        decisions,
        vec![
            run(0, 1),
            Decision::VerificationFailed { rung: 0 },
            run(0, 2),
            Decision::VerificationFailed { rung: 0 },
            run(1, 3),
            Decision::VerificationFailed { rung: 1 },
            Decision::Quarantined(QuarantineReason::LadderExhausted),
        ]
    );
    assert_eq!(sim.phase(APP), Phase::Quarantined);
}

#[test]
fn quarantine_stops_all_actions_until_released() {
    let mut sim = Sim::new();
    let ladder = vec![Rung {
        action: "restart".into(),
        verify: secs(30),
        repeat: 10,
    }];
    sim.add(
        APP,
        Policy {
            max_actions: 1,
            ladder,
            ..Policy::default()
        },
    );
    sim.downs(APP, 3, secs(1)).fail(APP);
    sim.keep_failing(APP, secs(3 * 3600), secs(10));
    assert_eq!(sim.action_times(APP).len(), 1);
    assert_eq!(sim.phase(APP), Phase::Quarantined);
    let opened_at = sim
        .log
        .iter()
        .find(|o| matches!(o.decision, Decision::IncidentOpened { .. }))
        .unwrap()
        .at;
    sim.take(APP);
    sim.command(APP, Command::Release);
    assert_eq!(
        sim.take(APP),
        vec![
            Decision::Released {
                actor: "alice".into()
            },
            Decision::IncidentClosed {
                resolution: Resolution::Released,
                duration: sim.now.since(opened_at)
            },
            transition(Phase::Quarantined, Phase::Healthy),
        ]
    );
    // Counters were reset: a new outage is healed again.
    sim.downs(APP, 3, secs(1));
    assert_eq!(sim.action_times(APP).len(), 2);

    // An operator quarantine stops actions just the same, even once the
    // cooldown is over and a deploy has ended.
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            ladder: vec![Rung {
                action: "restart".into(),
                verify: secs(30),
                repeat: 10,
            }],
            ..Policy::default()
        },
    );
    sim.downs(APP, 3, secs(1)).fail(APP);
    assert_eq!(sim.phase(APP), Phase::Failing);
    sim.command(APP, Command::Quarantine);
    assert!(sim
        .take_plain(APP)
        .contains(&Decision::Quarantined(QuarantineReason::Operator {
            actor: "alice".into()
        })));
    sim.input(APP, Input::DeployRunning(true))
        .input(APP, Input::DeployRunning(false));
    sim.keep_failing(APP, secs(3600), secs(10));
    assert_eq!(sim.action_times(APP).len(), 1);
    assert_eq!(sim.phase(APP), Phase::Quarantined);
}

#[test]
fn auto_release_after_verified_recovery() {
    for auto_release in [true, false] {
        let mut sim = Sim::new();
        sim.add(
            APP,
            Policy {
                max_actions: 1,
                success_threshold: 2,
                auto_release,
                ..restart_policy()
            },
        );
        sim.downs(APP, 3, secs(1))
            .fail(APP)
            .wait(secs(60))
            .down(APP);
        assert_eq!(sim.phase(APP), Phase::Quarantined);
        sim.take(APP);
        sim.up(APP);
        assert_eq!(
            sim.phase(APP),
            Phase::Quarantined,
            "one up is not a verified recovery"
        );
        sim.wait(secs(10)).up(APP);
        let after = sim.take(APP);
        if auto_release {
            assert!(
                matches!(
                    after.as_slice(),
                    [
                        Decision::IncidentClosed {
                            resolution: Resolution::Recovered,
                            ..
                        },
                        Decision::Transition {
                            from: Phase::Quarantined,
                            to: Phase::Healthy
                        }
                    ]
                ),
                "{after:?}"
            );
        } else {
            assert_eq!(after, vec![]);
            assert_eq!(sim.phase(APP), Phase::Quarantined);
        }
    }
}

#[test]
fn heal_now_ignores_cooldown_but_not_quarantine() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    // On a healthy target it opens an incident and acts at once.
    sim.command(APP, Command::HealNow);
    assert_eq!(
        sim.take_plain(APP),
        vec![
            Decision::IncidentOpened {
                reason: "heal requested by alice".into()
            },
            run(0, 1)
        ]
    );
    sim.command(APP, Command::HealNow);
    assert!(matches!(
        sim.take_plain(APP).as_slice(),
        [Decision::CommandRefused {
            command: Command::HealNow,
            ..
        }]
    ));
    sim.succeed(APP).up(APP);
    assert_eq!(sim.phase(APP), Phase::Healthy);
    // Inside the cooldown a new outage waits...
    sim.downs(APP, 3, secs(1));
    let held = sim.take_plain(APP);
    assert!(
        held.iter()
            .any(|d| matches!(d, Decision::Held(Hold::Cooldown { .. }))),
        "{held:?}"
    );
    // ... unless an operator asks.
    sim.command(APP, Command::HealNow);
    assert_eq!(sim.take_plain(APP), vec![run(0, 1)]);
    sim.fail(APP);
    sim.command(APP, Command::Quarantine)
        .command(APP, Command::HealNow);
    let refused = sim.take_plain(APP);
    assert!(matches!(
        refused.last(),
        Some(Decision::CommandRefused {
            command: Command::HealNow,
            ..
        })
    ));
    assert_eq!(sim.action_times(APP).len(), 2);
}

#[test]
fn pause_and_resume() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.command(APP, Command::Pause);
    assert_eq!(
        sim.take(APP),
        vec![transition(Phase::Healthy, Phase::Paused)]
    );
    sim.downs(APP, 3, secs(1));
    assert_eq!(
        sim.take(APP),
        vec![
            Decision::IncidentOpened {
                reason: "3 failures within 1m (last: HTTP 503)".into()
            },
            Decision::Held(Hold::Paused),
        ]
    );
    assert_eq!(sim.phase(APP), Phase::Paused);
    sim.command(APP, Command::HealNow);
    assert!(matches!(
        sim.take_plain(APP).as_slice(),
        [Decision::CommandRefused { .. }]
    ));
    sim.command(APP, Command::Resume);
    assert_eq!(
        sim.take(APP),
        vec![
            transition(Phase::Paused, Phase::Failing),
            run(0, 1),
            transition(Phase::Failing, Phase::Healing)
        ]
    );
}

#[test]
fn deploy_running_holds_actions() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.input(APP, Input::DeployRunning(true))
        .downs(APP, 6, secs(1));
    let held = sim.take_plain(APP);
    assert_eq!(
        held.iter()
            .filter(|d| **d == Decision::Held(Hold::DeployRunning))
            .count(),
        1
    );
    assert!(!held.iter().any(is_action));
    sim.input(APP, Input::DeployRunning(false));
    assert_eq!(sim.take_plain(APP), vec![run(0, 1)]);
}

#[test]
fn a_snapshot_taken_mid_action_restores_to_verifying_and_never_repeats_the_action() {
    let restart_policy = || Policy {
        ladder: vec![Rung {
            action: "restart".into(),
            verify: secs(30),
            repeat: 2,
        }],
        ..Policy::default()
    };
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.downs(APP, 3, secs(1));
    let opened_at = sim.now;
    assert_eq!(sim.phase(APP), Phase::Healing);
    let json = serde_json::to_string(&sim.engine.snapshot(APP).unwrap()).unwrap();

    // autoheal dies; a new one boots 20 s later from the store.
    let mut reborn = Sim::new();
    reborn.now = sim.now + secs(20);
    let snapshot: TargetSnapshot = serde_json::from_str(&json).unwrap();
    reborn
        .engine
        .add_target(APP, restart_policy(), reborn.now, Some(snapshot))
        .unwrap();
    reborn.wait(secs(0));
    assert_eq!(
        reborn.take(APP),
        vec![transition(Phase::Healing, Phase::Verifying)]
    );
    // The old action's late result changes nothing.
    reborn.succeed(APP);
    assert_eq!(reborn.take(APP), vec![]);
    // Verification fails: the next action waits for the cooldown measured
    // from the restore (the assumed end of the action), and is attempt 2.
    reborn.keep_failing(APP, secs(120), secs(1));
    let restored_at = sim.now + secs(20);
    let actions: Vec<_> = reborn
        .log
        .iter()
        .filter(|o| is_action(&o.decision))
        .map(|o| (o.at, o.decision.clone()))
        .collect();
    assert_eq!(actions, vec![(restored_at + secs(60), run(0, 2))]);

    // The same snapshot, then the target answers: one incident, measured
    // from its original start.
    let mut reborn = Sim::new();
    reborn.now = restored_at;
    reborn
        .engine
        .add_target(
            APP,
            restart_policy(),
            reborn.now,
            serde_json::from_str(&json).unwrap(),
        )
        .unwrap();
    reborn.wait(secs(5)).up(APP);
    assert!(reborn.take_plain(APP).contains(&Decision::IncidentClosed {
        resolution: Resolution::Recovered,
        duration: reborn.now.since(opened_at),
    }));
    assert!(reborn.action_times(APP).is_empty());
}

#[test]
fn snapshot_round_trips_through_json() {
    let mut sim = Sim::new();
    let policy = Policy {
        max_actions: 2,
        backoff: exact_backoff(30),
        ..restart_policy()
    };
    sim.add(APP, policy.clone());
    sim.input(APP, Input::DeployRunning(true))
        .command(APP, Command::Pause);
    sim.input(APP, Input::DeployRunning(false))
        .command(APP, Command::Resume);
    sim.downs(APP, 3, secs(1))
        .fail(APP)
        .wait(secs(200))
        .downs(APP, 2, secs(1))
        .fail(APP);
    sim.wait(secs(400)).down(APP);
    assert_eq!(sim.phase(APP), Phase::Quarantined);
    let snapshot = sim.engine.snapshot(APP).unwrap();
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: TargetSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);

    let mut engine = Engine::new(1);
    engine.add_target(APP, policy, sim.now, Some(back)).unwrap();
    assert_eq!(engine.snapshot(APP), Some(snapshot));

    // A bare phase is a valid (thin) snapshot.
    let thin: TargetSnapshot = serde_json::from_str(r#"{"phase":"failing"}"#).unwrap();
    assert_eq!(thin, TargetSnapshot::from_phase(Phase::Failing));
    let mut engine = Engine::new(1);
    engine
        .add_target(APP, restart_policy(), sim.now, Some(thin))
        .unwrap();
    assert_eq!(engine.phase(APP), Some(Phase::Failing));
}

#[test]
fn backoff_resets_only_after_a_stable_period() {
    let mut sim = Sim::new();
    let policy = Policy {
        cooldown: secs(0),
        backoff: Backoff {
            initial: secs(100),
            max: secs(10_000),
            reset_after: secs(600),
            ..exact_backoff(100)
        },
        ladder: vec![Rung {
            action: "restart".into(),
            verify: secs(30),
            repeat: 10,
        }],
        ..Policy::default()
    };
    sim.add(APP, policy);
    let t0 = sim.now + secs(2);
    // Incident 1: the restart fails, the second one (100 s later) works.
    sim.downs(APP, 3, secs(1)).fail(APP);
    sim.wait(secs(100)).succeed(APP).wait(secs(1)).up(APP);
    assert_eq!(sim.phase(APP), Phase::Healthy);
    // Healthy for 49 s only: the next gap (200 s from the end of the last
    // action) still applies.
    sim.wait(secs(46)).downs(APP, 3, secs(1));
    assert!(sim.take_plain(APP).contains(&Decision::Held(Hold::Backoff {
        until: t0 + secs(300)
    })));
    sim.wait(secs(200)).succeed(APP).wait(secs(1)).up(APP);
    // Healthy for 700 s: the backoff starts over, the next restart is at once
    // and the one after it 100 s later again.
    sim.wait(secs(700)).downs(APP, 3, secs(1));
    let third = sim.now;
    sim.fail(APP).keep_failing(APP, secs(300), secs(1));
    let starts: Vec<i64> = sim
        .action_times(APP)
        .iter()
        .map(|a| (a.0 - t0.0) / 1000)
        .collect();
    assert_eq!(
        starts,
        vec![
            0,
            100,
            300,
            (third.0 - t0.0) / 1000,
            (third.0 - t0.0) / 1000 + 100
        ]
    );
}

#[test]
fn unknown_and_duplicate_targets_are_errors() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    assert!(sim
        .engine
        .add_target(APP, restart_policy(), sim.now, None)
        .is_err());
    assert!(sim.engine.handle(DB, sim.now, Input::Started).is_err());
    sim.engine.remove_target(APP).unwrap();
    assert_eq!(sim.engine.phase(APP), None);
    assert_eq!(sim.engine.poll_timeout(), None);
}

#[test]
fn an_empty_ladder_observes_only() {
    let mut sim = Sim::new();
    sim.add(APP, Policy::default());
    sim.keep_failing(APP, secs(600), secs(1));
    let decisions = sim.take_plain(APP);
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert!(matches!(decisions[0], Decision::IncidentOpened { .. }));
    assert_eq!(sim.phase(APP), Phase::Failing);
    // Opened by the third down, 2 s after the first, 600 s ago.
    sim.up(APP);
    assert_eq!(
        sim.take_plain(APP),
        vec![Decision::IncidentClosed {
            resolution: Resolution::Recovered,
            duration: secs(598)
        }]
    );
}

#[test]
fn a_timed_out_action_is_not_verified_and_the_next_one_waits_for_the_cooldown() {
    let mut sim = Sim::new();
    let ladder = vec![Rung {
        action: "restart".into(),
        verify: secs(30),
        repeat: 2,
    }];
    sim.add(
        APP,
        Policy {
            ladder,
            ..Policy::default()
        },
    );
    sim.downs(APP, 3, secs(1)).take(APP);
    sim.wait(secs(90)).finish(APP, ActionOutcome::TimedOut);
    assert_eq!(
        sim.take(APP),
        vec![
            transition(Phase::Healing, Phase::Failing),
            Decision::Held(Hold::Cooldown {
                until: sim.now + secs(60)
            }),
        ]
    );
    sim.wait(secs(60));
    assert_eq!(sim.take_plain(APP), vec![run(0, 2)]);
}

/// `APP` depends on `DB`; both restart with the default threshold (3).
fn app_and_db() -> Sim {
    let mut sim = Sim::new();
    sim.add(DB, restart_policy());
    sim.add(
        APP,
        Policy {
            depends_on: vec![DB],
            ..restart_policy()
        },
    );
    sim
}

#[test]
fn a_dependent_waits_until_its_dependency_has_been_seen_up() {
    let mut sim = app_and_db();
    // The app fails before the database has ever been observed.
    sim.downs(APP, 3, secs(1));
    assert_eq!(sim.phase(APP), Phase::Failing);
    assert_eq!(sim.phase(DB), Phase::Healthy);
    let app = sim.take_plain(APP);
    assert!(
        app.contains(&Decision::Held(Hold::Dependency { target: DB })),
        "{app:?}"
    );
    assert!(sim.action_times(APP).is_empty());
    // The database's first check: down. Still held.
    sim.wait(secs(1)).down(DB);
    assert_eq!(sim.phase(DB), Phase::Suspect);
    assert!(sim.action_times(APP).is_empty());
    // The database answers: it is known good, the app's action runs at once.
    sim.wait(secs(2)).up(DB);
    assert_eq!(sim.phase(DB), Phase::Healthy);
    assert_eq!(sim.action_times(APP), vec![sim.now]);
    assert_eq!(sim.phase(APP), Phase::Healing);
}

#[test]
fn a_suspect_dependency_holds_its_dependents() {
    let mut sim = app_and_db();
    sim.up(DB).up(APP);
    // One failure of the database: below its threshold, but not good.
    sim.down(DB);
    assert_eq!(sim.phase(DB), Phase::Suspect);
    sim.wait(secs(1)).downs(APP, 3, secs(1));
    assert!(sim
        .take_plain(APP)
        .contains(&Decision::Held(Hold::Dependency { target: DB })));
    assert!(sim.action_times(APP).is_empty());
    // The failure ages out of the database's window (a wake-up): the app's
    // action runs at that moment.
    let aged_out = sim.now + secs(57);
    sim.wait(secs(120));
    assert_eq!(sim.phase(DB), Phase::Healthy);
    assert_eq!(sim.action_times(APP), vec![aged_out]);
}

#[test]
fn a_dependency_restored_healthy_holds_its_dependents_until_it_is_seen_up() {
    let mut sim = Sim::new();
    sim.engine
        .add_target(
            DB,
            restart_policy(),
            sim.now,
            Some(TargetSnapshot::from_phase(Phase::Healthy)),
        )
        .unwrap();
    sim.add(
        APP,
        Policy {
            depends_on: vec![DB],
            ..restart_policy()
        },
    );
    sim.wait(secs(0)).downs(APP, 3, secs(1));
    assert!(sim.action_times(APP).is_empty());
    sim.wait(secs(1)).up(DB);
    assert_eq!(sim.action_times(APP), vec![sim.now]);
}

/// A one-rung ladder that may run `repeat` times, verified for `verify_secs`.
fn repeated_restart(verify_secs: u64, repeat: u32) -> Policy {
    Policy {
        ladder: vec![Rung {
            action: "restart".into(),
            verify: secs(verify_secs),
            repeat,
        }],
        ..Policy::default()
    }
}

#[test]
fn verification_fails_early_when_the_threshold_is_reached_again_after_the_action() {
    let mut sim = Sim::new();
    sim.add(APP, repeated_restart(120, 3));
    sim.downs(APP, 3, secs(1)).wait(secs(1)).succeed(APP);
    let ended = sim.now;
    assert_eq!(sim.phase(APP), Phase::Verifying);
    sim.take(APP);
    // Two failures after the action: below the threshold, still verifying.
    sim.wait(secs(5)).down(APP).wait(secs(5)).down(APP);
    assert_eq!(sim.phase(APP), Phase::Verifying);
    assert_eq!(sim.take(APP), vec![]);
    // The third: verification fails now, not 120 s after the action.
    sim.wait(secs(5)).down(APP);
    assert_eq!(
        sim.take(APP),
        vec![
            Decision::VerificationFailed { rung: 0 },
            transition(Phase::Verifying, Phase::Failing),
            Decision::Held(Hold::Cooldown {
                until: ended + secs(60)
            }),
        ]
    );
    // And the Failing logic goes on: the next action after the cooldown.
    sim.wait(secs(45));
    assert_eq!(sim.take_plain(APP), vec![run(0, 2)]);
    assert_eq!(sim.action_times(APP)[1], ended + secs(60));
}

#[test]
fn failures_before_the_action_do_not_count_toward_early_verification_failure() {
    let mut sim = Sim::new();
    sim.add(APP, repeated_restart(120, 3));
    // Three failures open the incident, two more while the action runs: all
    // within one failure window of what follows.
    sim.downs(APP, 3, secs(1)).downs(APP, 2, secs(1));
    assert_eq!(sim.phase(APP), Phase::Healing);
    sim.wait(secs(1)).succeed(APP).take(APP);
    sim.wait(secs(1)).down(APP).wait(secs(1)).down(APP);
    assert_eq!(sim.phase(APP), Phase::Verifying);
    assert_eq!(sim.take(APP), vec![]);
    // Only the third failure after the action reaches the threshold.
    sim.wait(secs(1)).down(APP);
    assert_eq!(
        sim.take_plain(APP).first(),
        Some(&Decision::VerificationFailed { rung: 0 })
    );
}

#[test]
fn failures_inside_a_start_period_begun_during_verification_do_not_count() {
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            start_period: secs(30),
            ..repeated_restart(120, 3)
        },
    );
    sim.wait(secs(30)).downs(APP, 3, secs(1)).succeed(APP);
    sim.wait(secs(1)).down(APP);
    // The target restarts (e.g. the container's start event): failures before
    // it and inside its start period do not count.
    sim.wait(secs(1)).input(APP, Input::Started);
    sim.downs(APP, 6, secs(5));
    assert_eq!(sim.phase(APP), Phase::Verifying);
    sim.wait(secs(5)).downs(APP, 3, secs(1));
    assert_eq!(
        sim.take_plain(APP)
            .into_iter()
            .filter(|d| matches!(d, Decision::VerificationFailed { .. }))
            .count(),
        1
    );
}

#[test]
fn a_crash_loop_is_quarantined_after_max_actions_spaced_by_backoff_long_before_the_verify_times_add_up(
) {
    let mut sim = Sim::new();
    let verify = 600;
    let policy = Policy {
        cooldown: secs(0),
        backoff: exact_backoff(30),
        ..repeated_restart(verify, 10)
    };
    let max_actions = policy.max_actions;
    sim.add(APP, policy);
    // Down every 5 s, whatever happens; every restart "succeeds" at once.
    let t0 = sim.now + secs(10);
    sim.keep_failing(APP, secs(3000), secs(5));
    let starts: Vec<i64> = sim
        .action_times(APP)
        .iter()
        .map(|a| (a.0 - t0.0) / 1000)
        .collect();
    // Each verification fails at the third down after the action (15 s);
    // then the backoff gap from the action's end: 30, 60, 120, 240 s.
    assert_eq!(starts, vec![0, 30, 90, 210, 450]);
    let quarantined: Vec<_> = sim
        .log
        .iter()
        .filter(|o| matches!(o.decision, Decision::Quarantined(_)))
        .map(|o| (o.at, o.decision.clone()))
        .collect();
    // The sixth action would be due 300 s (the backoff cap) after the fifth.
    assert_eq!(
        quarantined,
        vec![(
            t0 + secs(750),
            Decision::Quarantined(QuarantineReason::ActionLimit {
                actions: max_actions,
                window: secs(3600)
            })
        )]
    );
    // Waiting out every verify time took max_actions × verify (3000 s)
    // before the limit was even reached.
    assert!(secs(750) * 3 < secs(verify) * max_actions);
    assert_eq!(sim.phase(APP), Phase::Quarantined);
}

// ---- issue 8: the operator's, compose's and Docker's own actions ----------

fn stopped(by: StopBy) -> Input {
    Input::Stopped { by }
}

fn closed_stopped(d: &Decision) -> bool {
    matches!(
        d,
        Decision::IncidentClosed {
            resolution: Resolution::Stopped,
            ..
        }
    )
}

#[test]
fn a_stop_during_the_action_closes_the_incident_as_stopped_and_its_late_result_is_ignored() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.downs(APP, 3, secs(1));
    assert_eq!(sim.phase(APP), Phase::Healing);
    sim.take(APP);
    sim.input(APP, stopped(StopBy::User));
    let d = sim.take(APP);
    assert_eq!(d[0], Decision::Stopped { by: StopBy::User });
    assert!(closed_stopped(&d[1]), "{d:?}");
    assert_eq!(d[2], transition(Phase::Healing, Phase::Stopped));
    assert_eq!(d.len(), 3, "{d:?}");
    // The action decided before the stop reports back: nothing follows.
    sim.succeed(APP);
    assert_eq!(sim.take(APP), vec![]);
    assert_eq!(sim.phase(APP), Phase::Stopped);
    // Failures while stopped (a probe killed by the stop, exit codes) are
    // recorded, said once to be held, never counted.
    sim.downs(APP, 10, secs(1));
    assert_eq!(
        sim.take(APP),
        vec![Decision::Held(Hold::Stopped { by: StopBy::User })]
    );
    sim.wait(secs(600));
    assert!(!sim.take(APP).iter().any(is_action));
}

#[test]
fn a_stopped_target_is_never_healed_until_it_runs_again_then_is_healed_as_any_other() {
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            start_period: secs(5),
            ..restart_policy()
        },
    );
    sim.wait(secs(6)).take(APP);
    sim.input(APP, stopped(StopBy::User));
    assert_eq!(
        sim.take(APP),
        vec![
            Decision::Stopped { by: StopBy::User },
            transition(Phase::Healthy, Phase::Stopped)
        ]
    );
    sim.command(APP, Command::HealNow);
    assert!(matches!(
        sim.take_plain(APP).as_slice(),
        [Decision::CommandRefused { .. }]
    ));
    // A second stop signal (die after kill) says nothing new.
    sim.input(APP, stopped(StopBy::User));
    assert_eq!(sim.take(APP), vec![]);
    sim.input(APP, Input::Running);
    assert_eq!(
        sim.take(APP),
        vec![transition(Phase::Stopped, Phase::Starting)]
    );
    // Control: after its start period it is healed as any other target.
    sim.wait(secs(6)).downs(APP, 3, secs(1));
    assert!(sim.take(APP).iter().any(is_action));
}

#[test]
fn a_start_ends_a_stop_by_the_user_but_not_a_pause() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.input(APP, stopped(StopBy::User))
        .input(APP, Input::Started);
    assert_eq!(sim.phase(APP), Phase::Healthy);
    sim.input(APP, stopped(StopBy::Pause))
        .input(APP, Input::Started);
    assert_eq!(sim.phase(APP), Phase::Stopped);
    sim.input(APP, Input::Running);
    assert_eq!(sim.phase(APP), Phase::Healthy);
    // Running without a stop changes nothing.
    sim.take(APP);
    sim.input(APP, Input::Running);
    assert_eq!(sim.take(APP), vec![]);
}

#[test]
fn a_paused_container_reported_unhealthy_is_not_acted_on_and_the_record_says_so() {
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            failure_threshold: 1,
            ..restart_policy()
        },
    );
    sim.input(APP, stopped(StopBy::Pause));
    sim.take(APP);
    sim.downs(APP, 5, secs(1));
    assert_eq!(
        sim.take(APP),
        vec![Decision::Held(Hold::Stopped { by: StopBy::Pause })]
    );
    sim.input(APP, Input::Running);
    sim.take(APP);
    // Control: unpaused and unhealthy, it is healed.
    sim.down(APP);
    assert!(sim.take(APP).iter().any(is_action));
}

#[test]
fn a_stopped_dependency_holds_its_dependents() {
    let mut sim = Sim::new();
    sim.add(DB, restart_policy());
    sim.add(
        APP,
        Policy {
            depends_on: vec![DB],
            failure_threshold: 1,
            ..restart_policy()
        },
    );
    sim.up(DB).input(DB, stopped(StopBy::User));
    sim.take(APP);
    sim.down(APP);
    assert!(sim
        .take_plain(APP)
        .contains(&Decision::Held(Hold::Dependency { target: DB })));
    // Control: the database runs and is seen up, the app is healed.
    sim.input(DB, Input::Running).up(DB);
    assert!(sim.take(APP).iter().any(is_action));
}

#[test]
fn the_stopped_state_survives_a_restart_of_autoheal() {
    let mut sim = Sim::new();
    sim.add(APP, restart_policy());
    sim.input(APP, stopped(StopBy::User));
    let snap = sim.engine.snapshot(APP).unwrap();
    let json = serde_json::to_string(&snap).unwrap();
    let back: TargetSnapshot = serde_json::from_str(&json).unwrap();
    let mut sim2 = Sim::new();
    sim2.engine
        .add_target(APP, restart_policy(), sim2.now, Some(back))
        .unwrap();
    assert_eq!(sim2.phase(APP), Phase::Stopped);
    sim2.downs(APP, 3, secs(1)).wait(secs(1));
    assert!(!sim2.take(APP).iter().any(is_action));
    // A bare "stopped" phase from the store restores as stopped too.
    let mut sim3 = Sim::new();
    sim3.engine
        .add_target(
            APP,
            restart_policy(),
            sim3.now,
            Some(TargetSnapshot::from_phase(Phase::Stopped)),
        )
        .unwrap();
    assert_eq!(sim3.phase(APP), Phase::Stopped);
}

fn flapping_policy() -> Policy {
    Policy {
        failure_threshold: 1,
        cooldown: secs(1),
        backoff: exact_backoff(1),
        flap_window: secs(300),
        ..restart_policy()
    }
}

#[test]
fn recurrences_within_the_flap_window_are_one_incident_with_its_flaps_counted() {
    let mut sim = Sim::new();
    sim.add(APP, flapping_policy());
    let mut opened = 0;
    let mut flaps = Vec::new();
    let mut closed = Vec::new();
    for _ in 0..4 {
        sim.down(APP);
        if sim.phase(APP) == Phase::Healing {
            sim.succeed(APP);
        }
        sim.wait(secs(2)).up(APP).wait(secs(20));
        for d in sim.take(APP) {
            match d {
                Decision::IncidentOpened { .. } => opened += 1,
                Decision::Flapped { flaps: n, .. } => flaps.push(n),
                Decision::IncidentClosed { .. } => closed.push(d),
                _ => {}
            }
        }
        assert_eq!(sim.phase(APP), Phase::Healthy);
    }
    assert_eq!((opened, flaps, closed.len()), (1, vec![1, 2, 3], 0));
    // The window passes without a recurrence: the incident closes, its
    // duration ending at the last recovery (not at the window's end).
    sim.wait(secs(300));
    assert_eq!(
        sim.take(APP),
        vec![Decision::IncidentClosed {
            resolution: Resolution::Recovered,
            duration: secs(3 * 22 + 2),
        }]
    );
    // Control: a failure after the window opens a new incident.
    sim.down(APP);
    assert!(sim
        .take(APP)
        .iter()
        .any(|d| matches!(d, Decision::IncidentOpened { .. })));
}

#[test]
fn without_a_flap_window_every_recurrence_is_its_own_incident() {
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            flap_window: secs(0),
            ..flapping_policy()
        },
    );
    let mut opened = 0;
    for _ in 0..3 {
        sim.down(APP);
        if sim.phase(APP) == Phase::Healing {
            sim.succeed(APP);
        }
        sim.wait(secs(2)).up(APP).wait(secs(20));
        opened += sim
            .take(APP)
            .iter()
            .filter(|d| matches!(d, Decision::IncidentOpened { .. }))
            .count();
    }
    assert_eq!(opened, 3);
}

#[test]
fn a_flapping_target_is_still_quarantined_at_the_action_limit() {
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            max_actions: 3,
            ..flapping_policy()
        },
    );
    for _ in 0..6 {
        sim.down(APP);
        if sim.phase(APP) == Phase::Healing {
            sim.succeed(APP);
        }
        sim.wait(secs(2)).up(APP).wait(secs(30));
    }
    assert_eq!(sim.action_times(APP).len(), 3);
    assert!(sim.log.iter().any(|o| matches!(
        o.decision,
        Decision::Quarantined(QuarantineReason::ActionLimit { .. })
    )));
}

#[test]
fn a_stop_inside_the_flap_window_closes_the_recovered_incident() {
    let mut sim = Sim::new();
    sim.add(APP, flapping_policy());
    sim.down(APP).succeed(APP).wait(secs(2)).up(APP);
    sim.take(APP);
    sim.wait(secs(10)).input(APP, stopped(StopBy::User));
    assert_eq!(
        sim.take(APP),
        vec![
            Decision::Stopped { by: StopBy::User },
            Decision::IncidentClosed {
                resolution: Resolution::Recovered,
                duration: secs(2),
            },
            transition(Phase::Healthy, Phase::Stopped),
        ]
    );
}

#[test]
fn after_a_stop_during_an_action_no_new_action_starts_before_that_one_reports() {
    let mut sim = Sim::new();
    sim.add(
        APP,
        Policy {
            failure_threshold: 1,
            cooldown: secs(0),
            backoff: exact_backoff(0),
            ..restart_policy()
        },
    );
    sim.down(APP);
    assert_eq!(sim.phase(APP), Phase::Healing);
    sim.take(APP);
    sim.input(APP, stopped(StopBy::User))
        .input(APP, Input::Running)
        .wait(secs(1))
        .down(APP);
    assert_eq!(sim.phase(APP), Phase::Failing);
    assert!(!sim.take(APP).iter().any(is_action), "one action at a time");
    // The action decided before the stop reports: the new one runs.
    sim.succeed(APP);
    assert_eq!(sim.take_plain(APP), vec![run(0, 1)]);
}
