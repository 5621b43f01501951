//! Every duration a user can configure has an accepted range (one table,
//! `autoheal_core::policy::limits`); a value outside it is an error naming
//! the key, the value and the range, wherever it was written: the file, an
//! environment variable or a Docker label. (issue 7, items 3, 4 and 9)

mod common;

use autoheal_config::parse_str;
use autoheal_core::policy::limits;
use common::*;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const TCP: &str = r#"type = "tcp", address = "127.0.0.1:1""#;

#[test]
fn a_hundred_year_interval_is_refused_with_key_value_and_range() {
    let e = errors(&format!(
        "[targets.api]\ncheck = {{ {TCP}, interval = \"100y\" }}\n"
    ));
    assert_eq!(
        e.to_string(),
        "autoheal.toml: targets.api.check.interval: 100y is out of range; expected between 100ms and 24h"
    );
}

#[test]
fn a_one_nanosecond_interval_is_refused() {
    let e = errors(&format!(
        "[targets.api]\ncheck = {{ {TCP}, interval = \"1ns\" }}\n"
    ));
    let err = find(&e, "targets.api.check.interval");
    assert_eq!(
        err.message,
        "1ns is out of range; expected between 100ms and 24h"
    );
    // The ends of the range are accepted.
    for ok in ["100ms", "24h"] {
        load(&format!(
            "[targets.api]\ncheck = {{ {TCP}, interval = \"{ok}\" }}\n"
        ));
    }
}

#[test]
fn every_check_type_and_http_check_duration_is_checked() {
    let e = errors(
        r#"
[targets.a]
check = { type = "http", url = "http://127.0.0.1:1/", interval = "2d", timeout = "1ns", max_latency = "100y", tls_expiry_warning = "1000y" }
[targets.b]
check = { type = "exec", argv = ["true"], timeout = "2h" }
[targets.c]
check = { type = "tcp", address = "127.0.0.1:1", timeout = "0s" }
"#,
    );
    // One error per check (the first out of range), each at its key.
    find(&e, "targets.a.check.interval");
    let b = find(&e, "targets.b.check.timeout");
    assert_eq!(
        b.message,
        "2h is out of range; expected between 10ms and 1h"
    );
    find(&e, "targets.c.check.timeout");
    let e = errors(
        "[targets.a]\ncheck = { type = \"http\", url = \"http://127.0.0.1:1/\", max_latency = \"100y\" }\n",
    );
    find(&e, "targets.a.check.max_latency");
    let e = errors(
        "[targets.a]\ncheck = { type = \"http\", url = \"http://127.0.0.1:1/\", tls_expiry_warning = \"1000y\" }\n",
    );
    find(&e, "targets.a.check.tls_expiry_warning");
}

#[test]
fn a_huge_action_timeout_is_refused_not_a_panic() {
    for ty in [
        r#"type = "command"
argv = ["true"]"#,
        r#"type = "webhook"
url = "http://127.0.0.1:1/hook""#,
    ] {
        let e = errors(&format!(
            "[actions.fix]\n{ty}\ntimeout = \"18446744073709551615s\"\n"
        ));
        let err = find(&e, "actions.fix.timeout");
        assert_eq!(
            err.message,
            "18446744073709551615s is out of range; expected between 100ms and 24h"
        );
    }
}

#[test]
fn policy_durations_are_checked_in_every_layer() {
    let e = errors(
        r#"
[actions.fix]
type = "command"
argv = ["true"]

[defaults]
cooldown = "8d"
backoff = { max = "18446744073709551615s", initial = "2d", reset_after = "31d" }

[groups.g]
failure_window = "10ms"
actions_window = "100y"

[targets.api]
group = "g"
start_period = "8d"
ladder = [{ action = "fix", verify = "25h" }]
maintenance = [{ cron = "0 0 3 * * Sun", duration = "32d" }, { cron = "0 0 3 * * Sun", duration = "0s" }]
"#,
    );
    for key in [
        "defaults.cooldown",
        "defaults.backoff.max",
        "defaults.backoff.initial",
        "defaults.backoff.reset_after",
        "groups.g.failure_window",
        "groups.g.actions_window",
        "targets.api.start_period",
        "targets.api.ladder[0].verify",
        "targets.api.maintenance[0].duration",
        "targets.api.maintenance[1].duration",
    ] {
        let err = find(&e, key);
        assert!(
            err.message.contains("is out of range; expected between"),
            "{key}: {}",
            err.message
        );
    }
    assert_eq!(
        find(&e, "defaults.backoff.max").message,
        "18446744073709551615s is out of range; expected between 0s and 7d"
    );
}

#[test]
fn retention_is_checked() {
    let e = errors("[store.retention]\nevents = \"1s\"\nincidents = \"100y\"\n");
    find(&e, "store.retention.events");
    find(&e, "store.retention.incidents");
}

#[test]
fn docker_durations_are_checked_in_the_file_and_the_environment() {
    let e = errors(
        "[docker]\ninterval = \"100y\"\napi_timeout = \"1ns\"\ndefault_stop_timeout = \"2h\"\nstart_period = \"8d\"\n",
    );
    for key in [
        "docker.interval",
        "docker.api_timeout",
        "docker.default_stop_timeout",
        "docker.start_period",
    ] {
        assert!(find(&e, key).message.contains("is out of range"), "{key}");
    }
    let env: BTreeMap<String, String> = [
        ("AUTOHEAL_INTERVAL", "3155760000"),
        ("AUTOHEAL_START_PERIOD", "100y"),
        ("AUTOHEAL_DEFAULT_STOP_TIMEOUT", "18446744073709551615"),
        ("CURL_TIMEOUT", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let e = parse_str("", "autoheal.toml", &env).unwrap_err();
    for var in [
        "AUTOHEAL_INTERVAL",
        "AUTOHEAL_START_PERIOD",
        "AUTOHEAL_DEFAULT_STOP_TIMEOUT",
        "CURL_TIMEOUT",
    ] {
        let err = find(&e, var);
        assert_eq!(err.file, autoheal_config::ENVIRONMENT);
        assert!(
            err.message.contains("is out of range"),
            "{var}: {}",
            err.message
        );
    }
    assert_eq!(
        find(&e, "AUTOHEAL_INTERVAL").message,
        "100y is out of range; expected between 100ms and 24h"
    );
}

#[test]
fn docker_labels_out_of_range_are_refused_with_label_and_value() {
    use autoheal_docker::discovery::LabelOverrides;
    let labels: HashMap<String, String> = [
        ("autoheal.cooldown", "100y"),
        ("autoheal.stop.timeout", "18446744073709551615"),
        ("autoheal.actions_window", "0"),
        ("autoheal.start_period", "8d"),
        ("autoheal.backoff.initial", "2d"),
        ("autoheal.backoff.max", "18446744073709551615s"),
        ("autoheal.failure_threshold", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (o, errs) = LabelOverrides::from_labels(&labels);
    assert_eq!(errs.len(), 6, "{errs:?}");
    assert_eq!(o.failure_threshold, Some(2), "good labels still apply");
    assert_eq!(o.cooldown, None);
    assert_eq!(o.backoff_max, None);
    let cooldown = errs
        .iter()
        .find(|e| e.label == "autoheal.cooldown")
        .unwrap();
    assert_eq!(
        cooldown.to_string(),
        "label autoheal.cooldown=\"100y\": 100y is out of range; expected between 0s and 7d"
    );
}

#[test]
fn the_defaults_are_inside_their_ranges() {
    let c = load("");
    let p = autoheal_core::Policy::default();
    assert!(limits::FAILURE_WINDOW.check(p.failure_window).is_ok());
    assert!(limits::COOLDOWN.check(p.cooldown).is_ok());
    assert!(limits::ACTIONS_WINDOW.check(p.actions_window).is_ok());
    assert!(limits::BACKOFF_INITIAL.check(p.backoff.initial).is_ok());
    assert!(limits::BACKOFF_MAX.check(p.backoff.max).is_ok());
    assert!(limits::BACKOFF_RESET_AFTER
        .check(p.backoff.reset_after)
        .is_ok());
    for r in [
        c.store.retention.check_results,
        c.store.retention.events,
        c.store.retention.incidents,
    ] {
        assert!(limits::RETENTION.check(r).is_ok());
    }
    assert!(limits::CHECK_INTERVAL
        .check(Duration::from_secs(10))
        .is_ok());
    assert!(c.docker.validate().is_empty());
}
