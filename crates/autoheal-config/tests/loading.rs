//! Loading good configs: embedded defaults, a full file with every layer,
//! and every file in examples/.

use autoheal_config::{load, parse_str, ActionConfig, CheckConfig, LogFormat};
use autoheal_core::{MaintenanceWindow, Rung};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

const FULL: &str = r#"
[server]
listen = "0.0.0.0:9090"

[store]
data_dir = "/var/lib/autoheal"

[store.retention]
check_results = "2d"

[log]
format = "json"
level = "info,autoheal=debug"

[engine]
max_concurrent_checks = 64

[defaults]
failure_threshold = 4
cooldown = "90s"
max_actions = 7

[defaults.backoff]
initial = "5s"
factor = 3

[groups.web]
cooldown = "2m"
failure_window = "2m"

[groups.web.backoff]
max = "1m"

[actions.restart-api]
type = "command"
argv = ["systemctl", "restart", "api"]
timeout = "60s"

[actions.page-oncall]
type = "webhook"
url = "https://hooks.example.com/page"

[targets.api]
group = "web"
check = { type = "http", url = "http://127.0.0.1:3000/health", interval = "10s" }
ladder = [ { action = "restart-api", verify = "30s", repeat = 2 }, { action = "page-oncall", verify = "0s" } ]
depends_on = ["db"]
maintenance = [ { cron = "0 0 3 * * Sun", timezone = "Europe/Berlin", duration = "1h" }, { start = "2026-12-01T00:00:00Z", end = "2026-12-01T02:00:00Z" } ]
failure_threshold = 2
backoff = { jitter = 0.5 }

[targets.db]
check = { type = "tcp", address = "127.0.0.1:5432" }
action = "restart-api"
enabled = false
"#;

#[test]
fn embedded_defaults_load_with_documented_values_and_no_targets() {
    let c = load(None, &no_env()).expect("embedded defaults load");
    assert_eq!(c.source, None);
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.store.data_dir, Path::new("./autoheal-data"));
    assert_eq!(c.store.url, "sqlite://./autoheal-data/autoheal.db");
    assert_eq!(
        c.store.retention.check_results,
        Duration::from_secs(7 * 86400)
    );
    assert_eq!(c.store.retention.events, Duration::from_secs(90 * 86400));
    assert_eq!(
        c.store.retention.incidents,
        Duration::from_secs(365 * 86400)
    );
    assert_eq!(c.log.format, LogFormat::Auto);
    assert_eq!(c.log.level, "info");
    assert!(!c.engine.dry_run);
    assert_eq!(c.engine.max_concurrent_checks, 256);
    assert_eq!(c.engine.max_concurrent_actions, 8);
    assert!(c.targets.is_empty());
    assert!(c.actions.is_empty());
}

#[test]
fn an_empty_file_is_the_embedded_defaults() {
    let a = parse_str("", "empty.toml", &no_env()).unwrap();
    let b = load(None, &no_env()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_full_example_parses_with_merge_order_defaults_then_group_then_target() {
    let c = parse_str(FULL, "autoheal.toml", &no_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(c.store.url, "sqlite:///var/lib/autoheal/autoheal.db");
    assert_eq!(
        c.store.retention.check_results,
        Duration::from_secs(2 * 86400)
    );
    assert_eq!(c.store.retention.events, Duration::from_secs(90 * 86400));
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.engine.max_concurrent_checks, 64);
    assert_eq!(c.engine.max_concurrent_actions, 8);

    assert!(matches!(c.actions["restart-api"], ActionConfig::Command(_)));
    assert!(matches!(c.actions["page-oncall"], ActionConfig::Webhook(_)));

    let names: Vec<_> = c.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["api", "db"], "targets are sorted by name");

    let api = c.target("api").unwrap();
    let p = &api.policy;
    assert_eq!(p.failure_threshold, 2, "target beats defaults");
    assert_eq!(p.cooldown, Duration::from_secs(120), "group beats defaults");
    assert_eq!(
        p.failure_window,
        Duration::from_secs(120),
        "group sets a key defaults leave alone"
    );
    assert_eq!(p.max_actions, 7, "defaults beat built-in defaults");
    assert_eq!(p.success_threshold, 1, "built-in default");
    assert_eq!(
        p.backoff.initial,
        Duration::from_secs(5),
        "backoff merges key by key: defaults"
    );
    assert_eq!(p.backoff.factor, 3.0);
    assert_eq!(p.backoff.max, Duration::from_secs(60), "backoff: group");
    assert_eq!(p.backoff.jitter, 0.5, "backoff: target");
    assert_eq!(
        p.backoff.reset_after,
        Duration::from_secs(600),
        "backoff: built-in"
    );
    assert_eq!(
        p.ladder,
        vec![
            Rung {
                action: "restart-api".into(),
                verify: Duration::from_secs(30),
                repeat: 2
            },
            Rung {
                action: "page-oncall".into(),
                verify: Duration::ZERO,
                repeat: 1
            },
        ]
    );
    assert!(
        p.depends_on.is_empty(),
        "engine ids are the shell's business"
    );
    assert_eq!(api.depends_on, ["db"]);
    assert_eq!(api.group.as_deref(), Some("web"));
    assert!(api.enabled);
    assert_eq!(p.maintenance.len(), 2);
    assert!(matches!(
        &p.maintenance[0],
        MaintenanceWindow::Recurring { timezone, duration, .. }
            if timezone == "Europe/Berlin" && *duration == Duration::from_secs(3600)
    ));
    assert!(matches!(p.maintenance[1], MaintenanceWindow::OneOff { .. }));
    match &api.check {
        Some(CheckConfig::Http(h)) => {
            assert_eq!(h.url, "http://127.0.0.1:3000/health");
            assert_eq!(h.interval, Duration::from_secs(10));
        }
        other => panic!("expected an http check, got {other:?}"),
    }

    let db = c.target("db").unwrap();
    assert!(!db.enabled);
    assert_eq!(
        db.policy.cooldown,
        Duration::from_secs(90),
        "no group: defaults"
    );
    assert_eq!(
        db.policy.ladder,
        vec![Rung {
            action: "restart-api".into(),
            verify: Duration::from_secs(30),
            repeat: 3
        }],
        "the action shorthand is one rung, verify 30s, repeat 3"
    );
    assert!(matches!(db.check, Some(CheckConfig::Tcp(_))));
}

#[test]
fn global_dry_run_reaches_every_target_policy() {
    let text = "[engine]\ndry_run = true\n[targets.a]\n[targets.b]\ndry_run = false\n";
    let c = parse_str(text, "autoheal.toml", &no_env()).unwrap();
    assert!(c.engine.dry_run);
    assert!(c.targets.iter().all(|t| t.policy.dry_run));
}

#[test]
fn a_file_is_loaded_from_disk_and_remembers_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("autoheal.toml");
    std::fs::write(&path, "[targets.api]\n").unwrap();
    let c = load(Some(&path), &no_env()).unwrap();
    assert_eq!(c.source.as_deref(), Some(path.as_path()));
    assert_eq!(c.targets.len(), 1);
}

#[test]
fn a_missing_file_is_one_error_naming_it() {
    let e = load(Some(Path::new("/nonexistent/autoheal.toml")), &no_env()).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].file, "/nonexistent/autoheal.toml");
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn every_example_file_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(Some(&path), &no_env())
                .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 1, "no examples found in {}", dir.display());
}

#[test]
fn the_http_command_example_heals_the_local_service_with_a_command() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/http-command.toml");
    let c = load(Some(&path), &no_env()).unwrap();
    let demo = c.target("demo").unwrap();
    match &demo.check {
        Some(CheckConfig::Http(h)) => assert!(h.url.starts_with("http://127.0.0.1:18080/")),
        other => panic!("expected an http check, got {other:?}"),
    }
    for rung in &demo.policy.ladder {
        assert!(matches!(c.actions[&rung.action], ActionConfig::Command(_)));
    }
}

#[test]
fn the_full_example_in_the_configuration_reference_loads() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .expect("docs/configuration.md exists");
    let section = doc
        .split("## A full example")
        .nth(1)
        .expect("the reference has a full example");
    let block = section
        .split("```toml")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let c = parse_str(block, "docs/configuration.md", &no_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.targets.len(), 2);
}

/// The keys a table accepts, read from the "unknown key" error itself, so
/// this test follows the code.
fn accepted_keys(text: &str, key: &str) -> Vec<String> {
    let e = parse_str(text, "t.toml", &no_env()).unwrap_err();
    let err =
        e.0.iter()
            .find(|x| x.key == key)
            .unwrap_or_else(|| panic!("no error for {key}: {e}"));
    let list = err
        .message
        .split_once("expected one of ")
        .or_else(|| err.message.split_once("the only key here is "))
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("{}", err.message));
    list.split(',').map(|s| s.trim().to_string()).collect()
}

#[test]
fn every_key_the_loader_accepts_is_in_the_configuration_reference() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let probes = [
        ("[server]\nzz = 1", "server.zz"),
        ("[store]\nzz = 1", "store.zz"),
        ("[store.retention]\nzz = 1", "store.retention.zz"),
        ("[log]\nzz = 1", "log.zz"),
        ("[engine]\nzz = 1", "engine.zz"),
        ("[targets.a]\nzz = 1", "targets.a.zz"),
        ("[defaults.backoff]\nzz = 1", "defaults.backoff.zz"),
        (
            "[targets.a]\nladder = [{ action = \"x\", zz = 1 }]",
            "targets.a.ladder[0].zz",
        ),
        (
            "[targets.a]\nmaintenance = [{ zz = 1 }]",
            "targets.a.maintenance[0].zz",
        ),
        // The plugins' keys, in "Check and action settings".
        (
            "[targets.a]\ncheck = { type = \"http\", url = \"http://x\", zz = 1 }",
            "targets.a.check.zz",
        ),
        (
            "[targets.a]\ncheck = { type = \"tcp\", address = \"x:1\", zz = 1 }",
            "targets.a.check.zz",
        ),
        (
            "[targets.a]\ncheck = { type = \"exec\", argv = [\"x\"], zz = 1 }",
            "targets.a.check.zz",
        ),
        (
            "[targets.a]\ncontainer = { name = \"x\" }\ncheck = { type = \"docker_exec\", argv = [\"x\"], zz = 1 }",
            "targets.a.check.zz",
        ),
        (
            "[targets.a]\ncontainer = { zz = 1 }",
            "targets.a.container.zz",
        ),
        (
            "[actions.a]\ntype = \"command\"\nargv = [\"x\"]\nzz = 1",
            "actions.a.zz",
        ),
        (
            "[actions.a]\ntype = \"webhook\"\nurl = \"http://x\"\nzz = 1",
            "actions.a.zz",
        ),
        (
            "[actions.a]\ntype = \"render_deploy\"\nservice = \"x\"\napi_key = \"k\"\nzz = 1",
            "actions.a.zz",
        ),
        (
            "[actions.a]\ntype = \"render_restart\"\nservice = \"x\"\napi_key = \"k\"\nzz = 1",
            "actions.a.zz",
        ),
        (
            "[actions.a]\ntype = \"coolify_restart\"\napplication = \"x\"\ntoken = \"k\"\nbase_url = \"https://c.example\"\nzz = 1",
            "actions.a.zz",
        ),
        (
            "[actions.a]\ntype = \"coolify_deploy\"\napplication = \"x\"\ntoken = \"k\"\nbase_url = \"https://c.example\"\nzz = 1",
            "actions.a.zz",
        ),
        (
            "[actions.a]\ntype = \"coolify_start\"\napplication = \"x\"\ntoken = \"k\"\nbase_url = \"https://c.example\"\nzz = 1",
            "actions.a.zz",
        ),
    ];
    for (text, key) in probes {
        let keys = accepted_keys(text, key);
        assert!(!keys.is_empty());
        for k in keys {
            assert!(
                doc.contains(&format!("`{k}`")),
                "docs/configuration.md does not document `{k}` (from {key})"
            );
        }
    }
}

/// The Coolify preset of docs/platforms.md ("The seed's ladder as a
/// preset"), kept identical to the doc's block (checked below).
const COOLIFY_PRESET: &str = r#"[actions.restart]
type = "coolify_restart"
application = "YOUR_APPLICATION_UUID"
base_url = "https://coolify.example.com"
token = { env = "COOLIFY_TOKEN" }

[actions.redeploy]
type = "coolify_deploy"
application = "YOUR_APPLICATION_UUID"
base_url = "https://coolify.example.com"
token = { env = "COOLIFY_TOKEN" }

[targets.my-app]
check = { type = "http", method = "HEAD", url = "https://my-app.example.com", interval = "30s", timeout = "10s", follow_redirects = false }
failure_threshold = 2
failure_window = "120s"
degraded_is_failure = false
cooldown = "90s"
backoff = { initial = "90s", max = "600s" }
ladder = [{ action = "restart", verify = "90s" }, { action = "redeploy" }]
"#;

#[test]
fn the_coolify_preset_of_the_docs_loads_with_the_seeds_defaults() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/platforms.md"),
    )
    .unwrap();
    assert!(
        doc.contains(&format!("```toml\n{COOLIFY_PRESET}```")),
        "docs/platforms.md's Coolify preset differs from COOLIFY_PRESET"
    );
    let env: BTreeMap<String, String> =
        [("COOLIFY_TOKEN".to_string(), "3|token".to_string())].into();
    let c = parse_str(COOLIFY_PRESET, "preset.toml", &env).unwrap();
    assert_eq!(c.actions["restart"].type_name(), "coolify_restart");
    assert_eq!(c.actions["redeploy"].type_name(), "coolify_deploy");
    let ActionConfig::CoolifyDeploy(d) = &c.actions["redeploy"] else {
        panic!()
    };
    assert_eq!(d.token, "3|token");
    assert!(!d.force);
    assert_eq!(d.timeout, Duration::from_secs(20 * 60));
    let t = c.targets.iter().find(|t| t.name == "my-app").unwrap();
    let Some(CheckConfig::Http(h)) = &t.check else {
        panic!("{:?}", t.check)
    };
    assert_eq!(h.method, "HEAD");
    assert!(
        h.expect_status.is_empty(),
        "2xx/3xx up, 4xx degraded, else down"
    );
    assert!(!h.follow_redirects);
    let p = &t.policy;
    assert_eq!(p.failure_threshold, 2);
    assert_eq!(p.failure_window, Duration::from_secs(120));
    assert!(!p.degraded_is_failure);
    assert_eq!(p.cooldown, Duration::from_secs(90));
    assert_eq!(p.backoff.max, Duration::from_secs(600));
    assert_eq!(p.ladder.len(), 2);
    assert_eq!(p.ladder[0].action, "restart");
    assert_eq!(p.ladder[0].verify, Duration::from_secs(90));
    assert_eq!(p.ladder[1].action, "redeploy");
}

/// Issue 12: channels, routes and `[notify]` are read and checked like the
/// rest of the file, each error at its key.
#[test]
fn channels_routes_and_notify_settings_are_read_and_checked() {
    let ok = r#"
[server]
public_url = "https://autoheal.example.com/"
[notify]
group_window = "0s"
rate_limit = 60
[groups.web]
[channels.ops]
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/X"
[routes.page]
channels = ["ops"]
events = ["heal_failed"]
groups = ["web"]
quiet = [{ cron = "0 0 22 * * *", timezone = "Europe/Berlin", duration = "9h" }]
"#;
    let c = parse_str(ok, "autoheal.toml", &no_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.notify.group_window, Duration::ZERO);
    assert_eq!(c.notify.rate_limit, 60);
    assert_eq!(
        c.server.public_url.as_deref(),
        Some("https://autoheal.example.com")
    );
    assert_eq!(c.channels["ops"].kind(), "slack");
    assert_eq!(c.routes["page"].events, ["heal_failed"]);
    assert_eq!(c.routes["page"].quiet_windows.len(), 1);
    let defaults = parse_str("", "autoheal.toml", &no_env()).unwrap();
    assert_eq!(defaults.notify.group_window, Duration::from_secs(5));
    assert_eq!(defaults.notify.rate_limit, 20);

    let bad = r#"
[server]
public_url = "ftp://x"
[notify]
group_window = "1h"
rate_limit = 0
[channels.ops]
type = "slak"
[channels."docker.x"]
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/X"
[routes.page]
channels = ["nosuch"]
events = ["everything"]
groups = ["nosuch"]
quiet = [{ cron = "0 0 22 * * *", duration = "9h", timezone = "Mars/Olympus" }]
"#;
    let e = parse_str(bad, "autoheal.toml", &no_env()).unwrap_err();
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    for want in [
        "server.public_url",
        "notify.group_window",
        "notify.rate_limit",
        "channels.ops.type",
        "channels.\"docker.x\"",
        "routes.page.channels[0]",
        "routes.page.events[0]",
        "routes.page.groups[0]",
    ] {
        assert!(keys.contains(&want), "{want} in {keys:?}");
    }
    assert!(
        keys.iter().any(|k| k.starts_with("routes.page.quiet[0]")),
        "a bad quiet window is named: {keys:?}"
    );
}
