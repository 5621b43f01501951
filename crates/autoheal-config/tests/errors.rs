//! Bad configs: every error names the file, the key path and what was
//! expected, and all of them come at once.

mod common;

use common::*;

#[test]
fn a_bad_duration_names_file_key_and_expectation() {
    let e = errors("[targets.api]\ncooldown = \"soon\"\n");
    assert_eq!(
        e.to_string(),
        r#"autoheal.toml: targets.api.cooldown: expected a duration like "90s" or "10m", found "soon""#
    );
}

#[test]
fn an_unknown_key_is_named_with_its_path() {
    let e = errors("[targets.api]\nchek = { type = \"tcp\", address = \"127.0.0.1:1\" }\n");
    let err = find(&e, "targets.api.chek");
    assert_eq!(err.file, "autoheal.toml");
    assert!(
        err.message.starts_with("unknown key; expected one of"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("check"),
        "the message lists the right keys: {}",
        err.message
    );
}

#[test]
fn unknown_keys_inside_sections_checks_and_backoff_are_named() {
    let e = errors(
        r#"
[servr]
[server]
lisen = "x"
[defaults.backoff]
jiter = 0.2
[targets.api]
check = { type = "tcp", address = "127.0.0.1:1", intervall = "5s" }
"#,
    );
    find(&e, "servr");
    find(&e, "server.lisen");
    find(&e, "defaults.backoff.jiter");
    find(&e, "targets.api.check.intervall");
}

#[test]
fn several_errors_are_listed_at_once() {
    let e = errors(
        r#"
[actions.restart]
type = "command"
argv = ["true"]

[targets.api]
cooldown = "soon"
ladder = [ { action = "restrat" } ]
depends_on = ["dbb"]
failure_threshold = 0

[targets.web]
failure_window = "forever"
"#,
    );
    assert_eq!(e.0.len(), 5, "{e}");
    find(&e, "targets.api.cooldown");
    let a = find(&e, "targets.api.ladder[0].action");
    assert!(
        a.message.contains(r#"unknown action "restrat""#) && a.message.contains(r#""restart""#),
        "{}",
        a.message
    );
    let d = find(&e, "targets.api.depends_on[0]");
    assert!(
        d.message.contains(r#"unknown target "dbb""#),
        "{}",
        d.message
    );
    find(&e, "targets.api.failure_threshold");
    find(&e, "targets.web.failure_window");
    assert_eq!(e.to_string().lines().count(), 5, "one error per line");
}

#[test]
fn a_dependency_cycle_is_refused_naming_the_cycle() {
    let e = errors(
        r#"
[targets.app]
depends_on = ["cache"]
[targets.cache]
depends_on = ["db"]
[targets.db]
depends_on = ["app"]
[targets.solo]
depends_on = ["solo"]
"#,
    );
    let c = find(&e, "targets.app.depends_on");
    assert!(
        c.message.contains("app -> cache -> db -> app"),
        "{}",
        c.message
    );
    let s = find(&e, "targets.solo.depends_on");
    assert!(s.message.contains("solo -> solo"), "{}", s.message);
    assert_eq!(e.0.len(), 2, "each cycle once: {e}");
}

#[test]
fn a_bad_cron_expression_is_named() {
    let e =
        errors("[targets.api]\nmaintenance = [ { cron = \"every sunday\", duration = \"1h\" } ]\n");
    let c = find(&e, "targets.api.maintenance[0].cron");
    assert!(c.message.contains("every sunday"), "{}", c.message);
    assert!(!e.to_string().contains('\n'), "one error, one line: {e}");
}

#[test]
fn a_bad_time_zone_is_named() {
    let e = errors(
        "[targets.api]\nmaintenance = [ { cron = \"0 0 3 * * Sun\", timezone = \"Mars/Olympus\", duration = \"1h\" } ]\n",
    );
    let c = find(&e, "targets.api.maintenance[0].timezone");
    assert!(c.message.contains("Mars/Olympus"), "{}", c.message);
}

#[test]
fn a_maintenance_window_must_be_recurring_or_one_off() {
    let e = errors(
        r#"
[targets.api]
maintenance = [
  { cron = "0 0 3 * * Sun" },
  { start = "2026-12-01T00:00:00Z" },
  { start = "yesterday", end = "2026-12-01T02:00:00Z" },
  { start = "2026-12-01T02:00:00Z", end = "2026-12-01T00:00:00Z" },
]
"#,
    );
    find(&e, "targets.api.maintenance[0].duration");
    find(&e, "targets.api.maintenance[1]");
    find(&e, "targets.api.maintenance[2].start");
    find(&e, "targets.api.maintenance[3].end");
}

#[test]
fn out_of_range_numbers_are_refused() {
    let e = errors(
        r#"
[engine]
max_concurrent_actions = 0
[defaults]
success_threshold = 0
[defaults.backoff]
factor = 0.5
jitter = 1.5
[targets.api]
max_actions = -1
"#,
    );
    find(&e, "engine.max_concurrent_actions");
    find(&e, "defaults.success_threshold");
    find(&e, "defaults.backoff.factor");
    find(&e, "defaults.backoff.jitter");
    let m = find(&e, "targets.api.max_actions");
    assert!(
        m.message
            .starts_with("expected a whole number (0 or more), found integer `-1`"),
        "{}",
        m.message
    );
    assert_eq!(e.0.len(), 5, "{e}");
}

#[test]
fn bad_server_store_and_log_values_are_named() {
    let e = errors(
        r#"
[server]
listen = "localhost"
[store]
url = "mysql://root:hunter2@db/autoheal"
[log]
format = "xml"
level = "loud"
"#,
    );
    find(&e, "server.listen");
    let u = find(&e, "store.url");
    assert!(
        !u.message.contains("hunter2"),
        "passwords never print: {}",
        u.message
    );
    let f = find(&e, "log.format");
    assert!(
        f.message.contains(r#""auto", "json", "text""#),
        "{}",
        f.message
    );
    find(&e, "log.level");
}

#[test]
fn unknown_groups_and_check_types_and_bad_names_are_named() {
    let e = errors(
        r#"
[groups.web]
[targets.api]
group = "wbe"
check = { type = "smtp" }
[targets.Bad_Name]
[actions.x]
argv = ["true"]
"#,
    );
    let g = find(&e, "targets.api.group");
    assert!(
        g.message
            .contains(r#"unknown group "wbe"; expected one of "web""#),
        "{}",
        g.message
    );
    let t = find(&e, "targets.api.check.type");
    assert!(
        t.message.contains(r#""http", "tcp", "exec""#),
        "{}",
        t.message
    );
    find(&e, "targets.Bad_Name");
    find(&e, "actions.x.type");
}

#[test]
fn a_missing_required_plugin_key_is_named() {
    let e = errors("[targets.api]\ncheck = { type = \"http\" }\n");
    let u = find(&e, "targets.api.check.url");
    assert!(u.message.contains("missing"), "{}", u.message);
}

#[test]
fn action_and_ladder_together_are_refused() {
    let e = errors(
        "[actions.a]\ntype = \"command\"\nargv = [\"true\"]\n[targets.api]\naction = \"a\"\nladder = [ { action = \"a\" } ]\n",
    );
    find(&e, "targets.api.action");
}

#[test]
fn a_syntax_error_gives_line_and_column() {
    let e = errors("[targets.api]\ncooldown = \n");
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].key, "");
    assert!(e.0[0].message.contains("line 2"), "{}", e.0[0].message);
}

#[test]
fn what_a_plugin_refuses_at_build_is_a_config_error_with_its_key() {
    let e = errors(
        r#"
[actions.fix]
type = "command"
argv = []
[targets.api]
check = { type = "http", url = "ftp://example.com/" }
[targets.db]
check = { type = "tcp", address = "no-port-here" }
"#,
    );
    find(&e, "actions.fix.argv");
    find(&e, "targets.api.check.url");
    find(&e, "targets.db.check.address");
    assert_eq!(e.0.len(), 3, "{e}");
}

#[test]
fn a_name_with_a_dot_is_quoted_in_key_paths() {
    let e = errors("[targets.\"web.v2\"]\ncooldown = \"soon\"\n");
    find(&e, "targets.\"web.v2\".cooldown");
}

#[test]
fn bad_server_guard_and_connection_settings_are_named() {
    let e = errors(
        r#"
[server]
allowed_hosts = ["ok.internal", "http://evil/", ""]
max_connections = 0
header_read_timeout = "1h"
"#,
    );
    let h = find(&e, "server.allowed_hosts[1]");
    assert!(h.message.contains("expected a host name"), "{}", h.message);
    find(&e, "server.allowed_hosts[2]");
    assert!(find(&e, "server.max_connections")
        .message
        .contains("from 1 to 65536"));
    assert!(find(&e, "server.header_read_timeout")
        .message
        .contains("100ms to 5m"));
}

#[test]
fn tls_cert_and_tls_key_come_together() {
    let e = errors("[server]\ntls_cert = \"/etc/autoheal/cert.pem\"\n");
    assert_eq!(
        e.to_string(),
        "autoheal.toml: server.tls_key: required with server.tls_cert (the PEM private key of the certificate); set both or neither"
    );
    let e = errors("[server]\ntls_key = \"/etc/autoheal/key.pem\"\n");
    assert!(find(&e, "server.tls_cert")
        .message
        .contains("set both or neither"));
    let e = errors("[server]\ntls_cert = \"\"\ntls_key = \"k.pem\"\n");
    assert!(find(&e, "server.tls_cert").message.contains("empty string"));
}

#[test]
fn tls_files_are_not_read_when_the_config_is_checked() {
    // Files that do not exist: checked by the binary at start, not here.
    let c = load(
        "[server]\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n",
    );
    let tls = c.server.tls.expect("TLS is configured");
    assert_eq!(tls.cert, std::path::Path::new("/nonexistent/cert.pem"));
    assert_eq!(tls.key, std::path::Path::new("/nonexistent/key.pem"));
    assert!(c.auth.secure_cookies, "HTTPS makes session cookies Secure");
    let c = load(
        "[server]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n[auth]\nsecure_cookies = false\n",
    );
    assert!(!c.auth.secure_cookies, "unless told otherwise");
    let c = load("");
    assert!(c.server.tls.is_none() && !c.auth.secure_cookies);
}
