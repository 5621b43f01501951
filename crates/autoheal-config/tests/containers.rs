//! Targets declared as Docker containers: `container = { ... }`, the
//! built-in `container.*` actions, `docker_exec` checks and `{{container}}`.

mod common;

use autoheal_config::CheckConfig;
use autoheal_docker::{ContainerSelector, DockerMode};
use common::*;
use std::time::Duration;

#[test]
fn the_three_selector_forms_load() {
    let c = load(
        r#"
[targets.by-name]
container = { name = "/web-1", mode = "both" }
[targets.by-labels]
container = { labels = ["app = web", "tier"] }
[targets.by-compose]
container = { compose_project = "shop", compose_service = "web" }
"#,
    );
    let by_name = c.target("by-name").unwrap().container.clone().unwrap();
    assert_eq!(by_name.selector, ContainerSelector::Name("web-1".into()));
    assert_eq!(by_name.mode, Some(DockerMode::Both));
    assert_eq!(
        c.target("by-labels")
            .unwrap()
            .container
            .as_ref()
            .unwrap()
            .selector,
        ContainerSelector::Labels(vec!["app=web".into(), "tier".into()])
    );
    let compose = c.target("by-compose").unwrap().container.clone().unwrap();
    assert_eq!(
        compose.selector,
        ContainerSelector::Compose {
            project: "shop".into(),
            service: "web".into()
        }
    );
    assert_eq!(compose.mode, None);
}

#[test]
fn a_container_target_without_a_ladder_restarts_like_a_discovered_container() {
    let c = load("[targets.web]\ncontainer = { name = \"web-1\" }\n");
    let ladder = &c.target("web").unwrap().policy.ladder;
    assert_eq!(ladder.len(), 1);
    assert_eq!(ladder[0].action, "container.restart");
    assert_eq!(ladder[0].repeat, 5);
    assert_eq!(ladder[0].verify, Duration::from_secs(120));
    // A written ladder (even an empty one: observe only) is kept.
    let c = load("[targets.web]\ncontainer = { name = \"web-1\" }\nladder = []\n");
    assert!(c.target("web").unwrap().policy.ladder.is_empty());
    // So is one inherited from a group.
    let c = load(
        r#"
[actions.page]
type = "command"
argv = ["true"]
[groups.g]
action = "page"
[targets.web]
group = "g"
container = { name = "web-1" }
"#,
    );
    assert_eq!(c.target("web").unwrap().policy.ladder[0].action, "page");
}

#[test]
fn built_in_actions_are_accepted_in_ladders_of_container_targets() {
    let c = load(
        r#"
[targets.web]
container = { labels = ["app=web"] }
ladder = [
  { action = "container.restart", verify = "30s", repeat = 2 },
  { action = "container.stop", verify = "0s" },
]
[targets.job]
container = { name = "job" }
action = "container.start"
"#,
    );
    let web = c.target("web").unwrap();
    assert_eq!(web.policy.ladder[1].action, "container.stop");
    assert_eq!(
        c.target("job").unwrap().policy.ladder[0].action,
        "container.start"
    );
}

#[test]
fn a_selector_needs_exactly_one_form() {
    let e = errors(
        r#"
[targets.none]
container = {}
[targets.two]
container = { name = "a", labels = ["x"] }
[targets.half]
container = { compose_service = "web" }
[targets.mixed]
container = { name = "a", compose_project = "shop", compose_service = "web" }
"#,
    );
    let none = find(&e, "targets.none.container");
    assert!(
        none.message.starts_with("expected exactly one of")
            && none.message.ends_with("found none of them"),
        "{}",
        none.message
    );
    assert!(find(&e, "targets.two.container")
        .message
        .ends_with("found name and labels"));
    assert!(find(&e, "targets.half.container.compose_project")
        .message
        .starts_with("missing"));
    find(&e, "targets.mixed.container");
    assert_eq!(e.0[0].file, "autoheal.toml");
}

#[test]
fn bad_selector_values_are_named_with_their_key() {
    let e = errors(
        r#"
[targets.a]
container = { name = "" }
[targets.b]
container = { labels = [] }
[targets.c]
container = { labels = ["ok", "=v"] }
[targets.d]
container = { name = "d", mode = "sometimes" }
[targets.e]
container = { name = "e", nmae = "x" }
[targets.f]
container = "web-1"
"#,
    );
    assert!(find(&e, "targets.a.container.name")
        .message
        .contains("found an empty string"));
    assert!(find(&e, "targets.b.container.labels")
        .message
        .contains("found an empty list"));
    find(&e, "targets.c.container.labels[1]");
    assert_eq!(
        find(&e, "targets.d.container.mode").message,
        r#"expected health, on_failure or both, found "sometimes""#
    );
    assert!(find(&e, "targets.e.container.nmae")
        .message
        .starts_with("unknown key; expected one of"));
    find(&e, "targets.f.container");
}

#[test]
fn built_in_actions_on_other_targets_are_errors_where_they_were_written() {
    let e = errors(
        r#"
[targets.api]
check = { type = "tcp", address = "127.0.0.1:1" }
ladder = [{ action = "container.restart" }]
[targets.db]
check = { type = "tcp", address = "127.0.0.1:2" }
action = "container.stop"
[groups.g]
action = "container.restart"
[targets.cache]
group = "g"
"#,
    );
    let api = find(&e, "targets.api.ladder[0].action");
    assert!(
        api.message
            .contains("\"container.restart\" is a built-in action of container targets"),
        "{}",
        api.message
    );
    find(&e, "targets.db.action");
    assert!(find(&e, "targets.cache.group")
        .message
        .contains("the ladder of group \"g\""));
    // The group itself is fine (a container target may use it).
    assert!(e.0.iter().all(|x| !x.key.starts_with("groups.")), "{e}");
}

#[test]
fn unknown_built_in_actions_and_reserved_names_are_errors() {
    let e = errors(
        r#"
[actions."container.kill"]
type = "command"
argv = ["true"]
[targets.web]
container = { name = "web" }
action = "container.reboot"
"#,
    );
    assert!(find(&e, "targets.web.action")
        .message
        .starts_with("unknown built-in action \"container.reboot\"; expected one of"));
    assert!(find(&e, "actions.\"container.kill\"")
        .message
        .contains("reserved"));
}

#[test]
fn docker_exec_and_the_container_placeholder_need_a_container_target() {
    let e = errors(
        r#"
[targets.a]
check = { type = "docker_exec", argv = ["true"] }
[targets.b]
check = { type = "http", url = "http://{{container}}:8080/health" }
[targets.c]
check = { type = "tcp", address = "{{container}}:5432" }
"#,
    );
    assert!(find(&e, "targets.a.check.type")
        .message
        .contains("only a target with container"));
    find(&e, "targets.b.check.url");
    find(&e, "targets.c.check.address");
}

#[test]
fn container_checks_load_and_are_validated() {
    let c = load(
        r#"
[targets.web]
container = { name = "web-1" }
check = { type = "http", url = "http://{{container}}:8080/health", interval = "2s" }
[targets.db]
container = { name = "db-1" }
check = { type = "tcp", address = "{{container}}:5432" }
[targets.worker]
container = { name = "w" }
check = { type = "docker_exec", argv = ["sh", "-c", "test -e /tmp/ok"], timeout = "3s" }
"#,
    );
    match &c.target("worker").unwrap().check {
        Some(CheckConfig::DockerExec(x)) => {
            assert_eq!(x.argv[0], "sh");
            assert_eq!(x.timeout, Duration::from_secs(3));
            assert_eq!(x.interval, Duration::from_secs(10));
        }
        other => panic!("{other:?}"),
    }
    let e = errors(
        r#"
[targets.a]
container = { name = "a" }
check = { type = "docker_exec", argv = [] }
[targets.b]
container = { name = "b" }
check = { type = "docker_exec", argv = ["x"], user = "root" }
[targets.c]
container = { name = "c" }
check = { type = "tcp", address = "{{container}}" }
"#,
    );
    find(&e, "targets.a.check.argv");
    find(&e, "targets.b.check.user");
    find(&e, "targets.c.check.address");
}

#[test]
fn a_container_target_with_docker_turned_off_is_an_error() {
    let e = errors("[docker]\nenabled = false\n[targets.web]\ncontainer = { name = \"web\" }\n");
    assert!(find(&e, "targets.web.container")
        .message
        .contains("docker.enabled = false"));
}

#[test]
fn container_targets_survive_export_and_import() {
    let c = load(
        r#"
[targets.web]
container = { labels = ["app=web"], mode = "on_failure" }
check = { type = "docker_exec", argv = ["true"] }
[targets.shop]
container = { compose_project = "shop", compose_service = "api" }
"#,
    );
    let text = c.to_toml_targets().unwrap();
    let again = load(&text);
    assert_eq!(again.targets, c.targets, "{text}");
}
