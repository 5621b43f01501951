//! `autoheal export` writes a file that `autoheal import` / `check` accept
//! again, describing the same targets.

use autoheal_config::{parse_str, Config};
use std::collections::BTreeMap;

const FILE: &str = r#"
[defaults]
failure_threshold = 4
[defaults.backoff]
factor = 1.5
[groups.web]
cooldown = "2m 30s"
[actions.restart-api]
type = "command"
argv = ["systemctl", "restart", "api"]
timeout = "90s"
[actions.page]
type = "webhook"
url = "https://hooks.example.com/page"
body = '{"target": "{{target}}"}'
[targets.api]
group = "web"
check = { type = "http", url = "http://127.0.0.1:3000/health", interval = "10s", expect_status = ["2xx", 301] }
ladder = [ { action = "restart-api", verify = "30s", repeat = 2 }, { action = "page", verify = "0s" } ]
depends_on = ["db"]
maintenance = [ { cron = "0 0 3 * * Sun", timezone = "Europe/Berlin", duration = "1h" }, { start = "2026-12-01T00:00:00Z", end = "2026-12-01T02:00:00Z" } ]
[targets.db]
check = { type = "exec", argv = ["pg_isready"] }
action = "restart-api"
enabled = false
[targets.cache]
check = { type = "tcp", address = "127.0.0.1:6379" }
"#;

fn parse(text: &str, origin: &str) -> Config {
    parse_str(text, origin, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

#[test]
fn export_then_import_gives_the_same_actions_and_targets() {
    let original = parse(FILE, "autoheal.toml");
    let exported = original.to_toml_targets().unwrap();
    let again = parse(&exported, "export.toml");
    assert_eq!(again.actions, original.actions);
    assert_eq!(again.targets, original.targets);
    assert_eq!(again.groups, original.groups, "groups travel as written");
    assert_eq!(
        again.to_toml_targets().unwrap(),
        exported,
        "export is stable"
    );
}

#[test]
fn the_export_holds_only_target_sections() {
    let exported = parse(FILE, "autoheal.toml").to_toml_targets().unwrap();
    let table: toml::Table = toml::from_str(&exported).unwrap();
    let sections: Vec<_> = table.keys().map(String::as_str).collect();
    assert_eq!(sections, ["actions", "groups", "targets"]);
}

#[test]
fn an_exported_target_means_the_same_under_other_defaults() {
    let exported = parse(FILE, "autoheal.toml").to_toml_targets().unwrap();
    let elsewhere = format!("[defaults]\nfailure_threshold = 9\ncooldown = \"1h\"\n{exported}");
    let original = parse(FILE, "autoheal.toml");
    let imported = parse(&elsewhere, "other.toml");
    assert_eq!(imported.targets, original.targets);
}

#[test]
fn a_config_without_targets_exports_a_file_that_loads() {
    let c = autoheal_config::load(None, &BTreeMap::new()).unwrap();
    let text = c.to_toml_targets().unwrap();
    let again = parse(&text, "export.toml");
    assert!(again.targets.is_empty() && again.actions.is_empty());
}
