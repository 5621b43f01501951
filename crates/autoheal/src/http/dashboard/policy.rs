//! A target's policy in words: "3 failures within 1m open an incident;
//! restart-web, verify 30s, twice; then redeploy; then quarantine".

use autoheal_core::Policy;
use std::time::Duration;

fn d(x: Duration) -> String {
    humantime::format_duration(x).to_string()
}

fn times(n: u32) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Sentences, most important first.
pub fn in_words(p: &Policy, depends_on: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut open = format!(
        "{} within {} open an incident",
        plural(p.failure_threshold, "failure", "failures"),
        d(p.failure_window)
    );
    if p.degraded_is_failure {
        open.push_str(" (a degraded check counts as a failure)");
    }
    if !p.start_period.is_zero() {
        open.push_str(&format!(
            "; failures in the first {} after a start are not counted",
            d(p.start_period)
        ));
    }
    out.push(format!("{open}."));
    if p.ladder.is_empty() {
        out.push("Observe only: no action heals it (incidents are still recorded).".into());
    } else {
        let rungs: Vec<String> = p
            .ladder
            .iter()
            .map(|r| {
                let mut s = format!("{}, verify {}", r.action, d(r.verify));
                if r.repeat > 1 {
                    s.push_str(&format!(", {}", times(r.repeat)));
                }
                s
            })
            .collect();
        out.push(format!("Heal: {}; then quarantine.", rungs.join("; then ")));
    }
    out.push(format!(
        "At most {} within {}, then quarantine{}.",
        plural(p.max_actions, "action", "actions"),
        d(p.actions_window),
        if p.auto_release {
            "; released by itself after a verified recovery"
        } else {
            " until an operator releases it"
        }
    ));
    out.push(format!(
        "Wait {} after each action; backoff from {} (x{}) up to {}, reset after {} healthy.",
        d(p.cooldown),
        d(p.backoff.initial),
        p.backoff.factor,
        d(p.backoff.max),
        d(p.backoff.reset_after)
    ));
    out.push(format!(
        "Recovered after {}.",
        plural(p.success_threshold, "good check", "good checks in a row")
    ));
    if !p.flap_window.is_zero() {
        out.push(format!(
            "A failure within {} of a recovery is a flap of the same incident.",
            d(p.flap_window)
        ));
    }
    if !depends_on.is_empty() {
        out.push(format!(
            "Not healed while {} is not known good.",
            depends_on.join(", ")
        ));
    }
    if !p.maintenance.is_empty() {
        out.push(format!(
            "Not healed inside its {}.",
            plural(
                p.maintenance.len() as u32,
                "maintenance window",
                "maintenance windows"
            )
        ));
    }
    if p.dry_run {
        out.push("Dry run: it decides and records everything and acts on nothing.".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use autoheal_core::policy::Rung;

    #[test]
    fn a_ladder_reads_as_the_issue_writes_it() {
        let p = Policy {
            ladder: vec![
                Rung {
                    action: "restart".into(),
                    verify: Duration::from_secs(30),
                    repeat: 2,
                },
                Rung {
                    action: "redeploy".into(),
                    verify: Duration::from_secs(60),
                    repeat: 1,
                },
            ],
            ..Policy::default()
        };
        let words = in_words(&p, &["db".into()]);
        assert_eq!(words[0], "3 failures within 1m open an incident.");
        assert_eq!(
            words[1],
            "Heal: restart, verify 30s, twice; then redeploy, verify 1m; then quarantine."
        );
        assert!(words.iter().any(|w| w.contains("db is not known good")));
    }
}
