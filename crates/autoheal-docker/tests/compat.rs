//! docker-autoheal compatibility without an engine: every environment
//! variable, labels, payloads, hosts and the `[docker]` section's shape.

use autoheal_docker::actions::{apprise_payload, restart_message, webhook_payload};
use autoheal_docker::config::{from_env, ENV_VARS};
use autoheal_docker::discovery::{compose_depends_on, KNOWN_LABELS};
use autoheal_docker::{
    ContainerAction, DockerHost, DockerMode, DockerSettings, DockerTarget, LabelOverrides,
    Selector, TargetKey,
};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_are_docker_autoheals() {
    let s = DockerSettings::default();
    assert_eq!(s.label, "autoheal");
    assert_eq!(s.interval, Duration::from_secs(5));
    assert_eq!(s.start_period, Duration::ZERO);
    assert_eq!(s.default_stop_timeout, Duration::from_secs(10));
    assert!(!s.only_monitor_running);
    assert_eq!(s.api_timeout, Duration::from_secs(30));
    assert_eq!(s.webhook_json_key, "content");
    assert_eq!(s.mode, DockerMode::Health);
    assert_eq!(
        s.docker_host().unwrap(),
        DockerHost::Unix(PathBuf::from("/var/run/docker.sock"))
    );
    assert_eq!(s.cert_dir, PathBuf::from("/certs"));
    assert!(s.validate().is_empty());
}

#[test]
fn every_docker_autoheal_variable_maps_to_its_setting_and_env_wins_over_the_file() {
    let file = DockerSettings {
        label: "from-file".into(),
        interval: Duration::from_secs(60),
        ..Default::default()
    };
    let e = env(&[
        ("AUTOHEAL_CONTAINER_LABEL", "all"),
        ("AUTOHEAL_INTERVAL", "7"),
        ("AUTOHEAL_START_PERIOD", "300"),
        ("AUTOHEAL_DEFAULT_STOP_TIMEOUT", "20"),
        ("AUTOHEAL_ONLY_MONITOR_RUNNING", "true"),
        ("DOCKER_SOCK", "tcps://docker.example:2376"),
        ("DOCKER_HOST", "unix:///ignored.sock"),
        ("CURL_TIMEOUT", "45"),
        ("WEBHOOK_URL", "https://discord.com/api/webhooks/1/SECRET"),
        ("WEBHOOK_JSON_KEY", "text"),
        ("APPRISE_URL", "http://apprise:8000/notify"),
        ("POST_RESTART_SCRIPT", "/scripts/after.sh"),
    ]);
    let s = file.with_env(&e).unwrap();
    assert_eq!(s.enabled, Some(true));
    assert_eq!(s.label, "all");
    assert!(s.watches_all());
    assert_eq!(s.interval, Duration::from_secs(7));
    assert_eq!(s.start_period, Duration::from_secs(300));
    assert_eq!(s.default_stop_timeout, Duration::from_secs(20));
    assert!(s.only_monitor_running);
    assert_eq!(
        s.docker_host().unwrap(),
        DockerHost::Tls("docker.example:2376".into())
    );
    assert_eq!(s.api_timeout, Duration::from_secs(45));
    assert_eq!(
        s.webhook_url.as_ref().unwrap().expose(),
        "https://discord.com/api/webhooks/1/SECRET"
    );
    assert_eq!(s.webhook_json_key, "text");
    assert_eq!(
        s.apprise_url.as_ref().unwrap().expose(),
        "http://apprise:8000/notify"
    );
    assert_eq!(
        s.post_restart_command,
        Some(vec!["/scripts/after.sh".to_string()])
    );
    // every variable the table lists is read
    for v in [
        "AUTOHEAL_CONTAINER_LABEL",
        "AUTOHEAL_INTERVAL",
        "AUTOHEAL_START_PERIOD",
        "AUTOHEAL_DEFAULT_STOP_TIMEOUT",
        "AUTOHEAL_ONLY_MONITOR_RUNNING",
        "DOCKER_SOCK",
        "DOCKER_HOST",
        "CURL_TIMEOUT",
        "WEBHOOK_URL",
        "WEBHOOK_JSON_KEY",
        "APPRISE_URL",
        "POST_RESTART_SCRIPT",
    ] {
        assert!(ENV_VARS.contains(&v), "{v}");
    }
}

#[test]
fn docker_host_is_used_when_docker_sock_is_unset_and_empty_values_are_unset() {
    let s = DockerSettings::default()
        .with_env(&env(&[
            ("DOCKER_HOST", "tcp://proxy:2375"),
            ("DOCKER_SOCK", ""),
            ("AUTOHEAL_INTERVAL", ""),
        ]))
        .unwrap();
    assert_eq!(
        s.docker_host().unwrap(),
        DockerHost::Tcp("proxy:2375".into())
    );
    assert_eq!(s.interval, Duration::from_secs(5));
    // DOCKER_HOST alone is not a docker-autoheal variable: enabled stays unset.
    assert_eq!(s.enabled, None);
}

#[test]
fn a_plain_socket_path_in_docker_sock_works_like_docker_autoheal() {
    let s = DockerSettings::default()
        .with_env(&env(&[("DOCKER_SOCK", "/run/user/1000/docker.sock")]))
        .unwrap();
    assert_eq!(
        s.docker_host().unwrap(),
        DockerHost::Unix("/run/user/1000/docker.sock".into())
    );
}

#[test]
fn bad_variables_are_all_reported_at_once_by_name() {
    let errs = from_env(&env(&[
        ("AUTOHEAL_INTERVAL", "soon"),
        ("AUTOHEAL_START_PERIOD", "-1"),
        ("AUTOHEAL_DEFAULT_STOP_TIMEOUT", "ten"),
        ("AUTOHEAL_ONLY_MONITOR_RUNNING", "maybe"),
        ("DOCKER_SOCK", "docker.sock"),
        ("CURL_TIMEOUT", "0"),
        ("WEBHOOK_URL", "file:///etc/passwd"),
        ("APPRISE_URL", "ftp://x"),
    ]))
    .unwrap_err();
    let vars: Vec<&str> = errs.iter().map(|(v, _)| v.as_str()).collect();
    for v in [
        "AUTOHEAL_INTERVAL",
        "AUTOHEAL_START_PERIOD",
        "AUTOHEAL_DEFAULT_STOP_TIMEOUT",
        "AUTOHEAL_ONLY_MONITOR_RUNNING",
        "DOCKER_SOCK",
        "CURL_TIMEOUT",
        "WEBHOOK_URL",
        "APPRISE_URL",
    ] {
        assert!(vars.contains(&v), "{v} missing from {errs:?}");
    }
}

#[test]
fn durations_accept_whole_seconds_and_humantime() {
    let s = DockerSettings::default()
        .with_env(&env(&[
            ("AUTOHEAL_INTERVAL", "1m30s"),
            ("AUTOHEAL_ONLY_MONITOR_RUNNING", "FALSE"),
        ]))
        .unwrap();
    assert_eq!(s.interval, Duration::from_secs(90));
    assert!(!s.only_monitor_running);
}

#[test]
fn hosts_parse_in_every_form_and_reject_the_rest() {
    assert_eq!(
        "/var/run/docker.sock".parse::<DockerHost>().unwrap(),
        DockerHost::Unix("/var/run/docker.sock".into())
    );
    assert_eq!(
        "unix:///x.sock".parse::<DockerHost>().unwrap(),
        DockerHost::Unix("/x.sock".into())
    );
    assert_eq!(
        "tcp://h:2375".parse::<DockerHost>().unwrap(),
        DockerHost::Tcp("h:2375".into())
    );
    assert_eq!(
        "tcps://h:2376".parse::<DockerHost>().unwrap(),
        DockerHost::Tls("h:2376".into())
    );
    for bad in [
        "",
        "docker.sock",
        "tcp://",
        "tcp://nohostport",
        "ssh://h",
        "unix://",
    ] {
        assert!(bad.parse::<DockerHost>().is_err(), "{bad:?}");
    }
}

#[test]
fn the_docker_section_rejects_unknown_keys_and_reads_durations() {
    let s: DockerSettings = serde_json::from_value(serde_json::json!({
        "label": "watch", "interval": "10s", "mode": "on_failure",
        "deny_names": ["db-*"], "webhook_url": "https://hooks.slack.com/services/T/B/SECRET"
    }))
    .unwrap();
    assert_eq!(s.interval, Duration::from_secs(10));
    assert_eq!(s.mode, DockerMode::OnFailure);
    assert_eq!(s.default_stop_timeout, Duration::from_secs(10));
    assert!(serde_json::from_value::<DockerSettings>(serde_json::json!({"lable": "x"})).is_err());
}

#[test]
fn webhook_urls_never_print_their_secret() {
    let s = DockerSettings::default()
        .with_env(&env(&[(
            "WEBHOOK_URL",
            "https://discord.com/api/webhooks/123/CANARY-SECRET",
        )]))
        .unwrap();
    let shown = format!("{s:?} {}", s.webhook_url.as_ref().unwrap());
    assert!(!shown.contains("CANARY-SECRET"), "{shown}");
    assert!(shown.contains("discord.com"));
}

#[test]
fn notification_payloads_are_docker_autoheals() {
    let id = "0123456789abcdef0123";
    let ok = restart_message("/web", id, true);
    assert_eq!(
        ok,
        "Container web (0123456789ab) found to be unhealthy. Successfully restarted the container!"
    );
    let bad = restart_message("web", id, false);
    assert_eq!(
        bad,
        "Container web (0123456789ab) found to be unhealthy. Failed to restart the container!"
    );
    assert_eq!(
        webhook_payload("content", &ok),
        serde_json::json!({ "content": ok })
    );
    assert_eq!(
        webhook_payload("text", &bad),
        serde_json::json!({ "text": bad })
    );
    assert_eq!(
        apprise_payload(&ok),
        serde_json::json!({ "title": "Autoheal", "body": ok })
    );
}

#[test]
fn every_label_is_read_into_typed_overrides() {
    let (o, errs) = LabelOverrides::from_labels(&labels(&[
        ("autoheal.stop.timeout", "30"),
        ("autoheal.failure_threshold", "3"),
        ("autoheal.success_threshold", "2"),
        ("autoheal.cooldown", "1m"),
        ("autoheal.max_actions", "5"),
        ("autoheal.actions_window", "1h"),
        ("autoheal.mode", "both"),
        ("autoheal.depends_on", "db, cache"),
        ("autoheal.action", "stop"),
        ("autoheal.dry_run", "true"),
        ("autoheal.start_period", "45s"),
        ("autoheal.restart_dependents", "false"),
        ("autoheal.backoff.initial", "2s"),
        ("autoheal.backoff.max", "1m"),
        ("autoheal.id", "shop-api"),
        ("other.label", "ignored"),
    ]));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(o.stop_timeout, Some(Duration::from_secs(30)));
    assert_eq!(o.failure_threshold, Some(3));
    assert_eq!(o.success_threshold, Some(2));
    assert_eq!(o.cooldown, Some(Duration::from_secs(60)));
    assert_eq!(o.max_actions, Some(5));
    assert_eq!(o.actions_window, Some(Duration::from_secs(3600)));
    assert_eq!(o.mode, Some(DockerMode::Both));
    assert_eq!(o.depends_on, vec!["db".to_string(), "cache".to_string()]);
    assert_eq!(o.action, Some(ContainerAction::Stop));
    assert_eq!(o.dry_run, Some(true));
    assert_eq!(o.start_period, Some(Duration::from_secs(45)));
    assert_eq!(o.restart_dependents, Some(false));
    assert_eq!(o.backoff_initial, Some(Duration::from_secs(2)));
    assert_eq!(o.backoff_max, Some(Duration::from_secs(60)));
    assert_eq!(KNOWN_LABELS.len(), 17);
}

#[test]
fn bad_labels_are_reported_and_ignored_never_a_panic() {
    let (o, errs) = LabelOverrides::from_labels(&labels(&[
        ("autoheal.stop.timeout", "forever"),
        ("autoheal.failure_threshold", "0"),
        ("autoheal.mode", "sometimes"),
        ("autoheal.action", "reboot"),
        ("autoheal.dry_run", "perhaps"),
        ("autoheal.actions_window", "0"),
        ("autoheal.backoff.max", "soon"),
        ("autoheal.typo", "1"),
    ]));
    assert_eq!(o, LabelOverrides::default());
    let mut bad: Vec<&str> = errs.iter().map(|e| e.label.as_str()).collect();
    bad.sort();
    assert_eq!(
        bad,
        vec![
            "autoheal.action",
            "autoheal.actions_window",
            "autoheal.backoff.max",
            "autoheal.dry_run",
            "autoheal.failure_threshold",
            "autoheal.mode",
            "autoheal.stop.timeout",
            "autoheal.typo"
        ]
    );
}

#[test]
fn compose_depends_on_becomes_project_service_targets() {
    let l = labels(&[
        ("com.docker.compose.project", "shop"),
        (
            "com.docker.compose.depends_on",
            "db:service_healthy:true,cache:service_started:false",
        ),
    ]);
    assert_eq!(
        compose_depends_on(&l),
        vec!["shop/db".to_string(), "shop/cache".to_string()]
    );
    let (o, _) = LabelOverrides::from_labels(&l);
    assert_eq!(
        o.depends_on,
        vec!["shop/db".to_string(), "shop/cache".to_string()]
    );
}

#[test]
fn target_identity_prefers_autoheal_id_then_compose_service_then_name() {
    let id = DockerTarget::of_container(
        "/x",
        &labels(&[
            ("autoheal.id", "api"),
            ("com.docker.compose.project", "p"),
            ("com.docker.compose.service", "s"),
        ]),
    );
    assert_eq!(id.name, "api");
    assert_eq!(id.key, TargetKey::Labelled { id: "api".into() });
    let svc = DockerTarget::of_container(
        "/p-s-1",
        &labels(&[
            ("com.docker.compose.project", "p"),
            ("com.docker.compose.service", "s"),
        ]),
    );
    assert_eq!(svc.name, "p/s");
    assert!(svc.contains(
        "/p-s-2",
        &labels(&[
            ("com.docker.compose.project", "p"),
            ("com.docker.compose.service", "s")
        ])
    ));
    let plain = DockerTarget::of_container("/web", &HashMap::new());
    assert_eq!(plain.key, TargetKey::Container { name: "web".into() });
}

#[test]
fn selection_rules_without_an_engine() {
    let s = Selector::from_settings(&DockerSettings::default()).unwrap();
    assert!(s.selects("/a", &labels(&[("autoheal", "true")])));
    assert!(!s.selects("/a", &labels(&[("autoheal", "True")])));
    assert!(!s.selects("/a", &HashMap::new()));
    assert!(
        !s.selects("", &labels(&[("autoheal", "true")])),
        "no name: skipped"
    );
    let all = Selector::from_settings(&DockerSettings {
        label: "all".into(),
        deny_names: vec!["db-?".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(all.selects("/anything", &HashMap::new()));
    assert!(!all.selects("/x", &labels(&[("autoheal", "False")])));
    assert!(all.selects("/x", &labels(&[("autoheal", "false")])));
    assert!(!all.selects("/db-1", &HashMap::new()));
    assert!(all.selects("/db-10", &HashMap::new()));
    let bad = DockerSettings {
        allow_labels: vec!["=x".into()],
        ..Default::default()
    };
    assert!(Selector::from_settings(&bad).is_err());
    assert!(!bad.validate().is_empty());
}
