//! Secret references (issue 10 item 5): a credential key may hold
//! `{ env = "NAME" }` or `{ file = "PATH" }`; the loaded config has the
//! value, errors name the key and the variable or path and never a value,
//! an export writes the reference back, and the API's objects may not use
//! them.

use autoheal_config::{
    compose, load, parse_str, ActionConfig, CheckConfig, Config, ConfigErrors, Overlay, SecretRef,
    Section,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A value no message may ever hold.
const CANARY: &str = "canary-3f9c1b7e";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(text: &str, env: &BTreeMap<String, String>) -> Config {
    parse_str(text, "autoheal.toml", env).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

fn errs(text: &str, env: &BTreeMap<String, String>) -> ConfigErrors {
    match parse_str(text, "autoheal.toml", env) {
        Ok(_) => panic!("expected errors:\n{text}"),
        Err(e) => e,
    }
}

fn http_check(c: &Config, target: &str) -> autoheal_plugins::check::http::HttpCheckConfig {
    match c.target(target).unwrap().check.clone().unwrap() {
        CheckConfig::Http(h) => h,
        other => panic!("{other:?}"),
    }
}

fn no_canary(e: &ConfigErrors) {
    let text = e.to_string();
    assert!(!text.contains(CANARY), "a value leaked:\n{text}");
    assert!(
        !format!("{e:?}").contains(CANARY),
        "a value leaked in Debug"
    );
}

const HEADER_FROM_ENV: &str = r#"
[targets.api]
check = { type = "http", url = "http://127.0.0.1:3000/health", headers = { Authorization = { env = "API_TOKEN" }, Accept = "text/plain" } }
"#;

#[test]
fn an_env_reference_on_a_header_gives_the_value_and_exports_the_reference() {
    let value = format!("Bearer {CANARY}");
    let c = ok(HEADER_FROM_ENV, &env(&[("API_TOKEN", &value)]));
    let h = http_check(&c, "api");
    assert_eq!(h.headers["Authorization"], value);
    assert_eq!(h.headers["Accept"], "text/plain");
    assert!(!format!("{c:?}").contains(CANARY), "Debug shows the value");
    assert_eq!(
        c.secret_refs.checks["api"],
        vec![(
            vec!["headers".to_string(), "Authorization".to_string()],
            SecretRef::Env("API_TOKEN".into())
        )]
    );

    let exported = c.to_toml_targets().unwrap();
    assert!(!exported.contains(CANARY), "{exported}");
    let table: toml::Table = exported.parse().unwrap();
    let headers = &table["targets"]["api"]["check"]["headers"];
    assert_eq!(headers["Authorization"]["env"].as_str(), Some("API_TOKEN"));
    assert_eq!(headers["Accept"].as_str(), Some("text/plain"));
    // ... and the export loads again, with the same value.
    let again = ok(&exported, &env(&[("API_TOKEN", &value)]));
    assert_eq!(http_check(&again, "api"), h);
}

#[test]
fn a_file_reference_on_a_webhook_url_is_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let url = format!("https://hooks.example.com/services/{CANARY}");
    // One trailing newline is trimmed (echo > file), no more.
    std::fs::write(dir.path().join("secrets/hook"), format!("{url}\n")).unwrap();
    let path = dir.path().join("autoheal.toml");
    std::fs::write(
        &path,
        r#"
[actions.page]
type = "webhook"
url = { file = "secrets/hook" }
headers = { "X-Api-Key" = { file = "secrets/hook" } }
"#,
    )
    .unwrap();
    let c = load(Some(&path), &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let ActionConfig::Webhook(w) = &c.actions["page"] else {
        panic!()
    };
    assert_eq!(w.url, url);
    assert_eq!(w.headers["X-Api-Key"], url);
    assert!(!format!("{c:?}").contains(CANARY));
    let exported = c.to_toml_targets().unwrap();
    assert!(!exported.contains(CANARY), "{exported}");
    let t: toml::Table = exported.parse().unwrap();
    assert_eq!(
        t["actions"]["page"]["url"]["file"].as_str(),
        Some("secrets/hook")
    );
}

#[test]
fn command_and_exec_env_values_take_references() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pgpass");
    std::fs::write(&pw, format!("{CANARY}\r\n")).unwrap();
    let text = format!(
        r#"
[actions.fix]
type = "command"
argv = ["/usr/bin/fix"]
env = {{ PGPASSWORD = {{ file = {pw:?} }}, MODE = "fast", TOKEN = {{ env = "FIX_TOKEN" }} }}
[targets.db]
check = {{ type = "exec", argv = ["pg_isready"], env = {{ PGPASSWORD = {{ file = {pw:?} }} }} }}
action = "fix"
"#,
        pw = pw.display().to_string()
    );
    let c = ok(&text, &env(&[("FIX_TOKEN", "t0k3n")]));
    let ActionConfig::Command(cmd) = &c.actions["fix"] else {
        panic!()
    };
    assert_eq!(cmd.env["PGPASSWORD"], CANARY);
    assert_eq!(cmd.env["TOKEN"], "t0k3n");
    assert_eq!(cmd.env["MODE"], "fast");
    let CheckConfig::Exec(e) = c.target("db").unwrap().check.clone().unwrap() else {
        panic!()
    };
    assert_eq!(e.env["PGPASSWORD"], CANARY);
    assert!(!format!("{c:?}").contains(CANARY));
    assert!(!c.to_toml_targets().unwrap().contains(CANARY));
}

#[test]
fn docker_urls_and_the_store_url_take_references() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("autoheal.toml");
    std::fs::write(
        dir.path().join("discord"),
        format!("https://discord.com/api/webhooks/1/{CANARY}\n"),
    )
    .unwrap();
    std::fs::write(
        &path,
        r#"
[docker]
webhook_url = { file = "discord" }
apprise_url = { env = "APPRISE" }
[store]
url = { env = "DB_URL" }
"#,
    )
    .unwrap();
    let e = env(&[
        ("APPRISE", "http://apprise:8000/notify/x"),
        (
            "DB_URL",
            &format!("postgres://autoheal:{CANARY}@db/autoheal"),
        ),
    ]);
    let c = load(Some(&path), &e).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.docker.webhook_url.as_ref().unwrap().expose(),
        format!("https://discord.com/api/webhooks/1/{CANARY}")
    );
    assert_eq!(
        c.docker.apprise_url.as_ref().unwrap().expose(),
        "http://apprise:8000/notify/x"
    );
    assert_eq!(
        c.store.url,
        format!("postgres://autoheal:{CANARY}@db/autoheal")
    );
    assert!(!format!("{c:?}").contains(CANARY), "{c:?}");
}

#[test]
fn an_unset_variable_is_named_with_its_key_and_no_value() {
    // Other variables hold the canary: nothing of the environment leaks.
    let e = errs(
        HEADER_FROM_ENV,
        &env(&[("API_TOKEN_2", CANARY), ("OTHER", CANARY)]),
    );
    assert_eq!(e.len(), 1, "{e}");
    let err = &e.0[0];
    assert_eq!(err.key, "targets.api.check.headers.Authorization");
    assert!(err.message.contains("\"API_TOKEN\""), "{}", err.message);
    assert!(err.message.contains("not set"), "{}", err.message);
    no_canary(&e);
}

#[test]
fn a_missing_file_is_named_with_its_key_and_path() {
    let e = errs(
        r#"
[actions.page]
type = "webhook"
url = { file = "/run/secrets/no-such-hook" }
[targets.api]
check = { type = "tcp", address = "127.0.0.1:1" }
action = "page"
"#,
        &env(&[("X", CANARY)]),
    );
    // One error: the action is left out, and the ladder naming it is not
    // reported again.
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!(e.0[0].key, "actions.page.url");
    assert!(
        e.0[0].message.contains("/run/secrets/no-such-hook"),
        "{}",
        e.0[0].message
    );
    no_canary(&e);
}

#[test]
fn wrong_references_are_refused_in_words() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{ env = "A", file = "/x" }"#,
            "targets.api.check.headers.Authorization",
            "not both",
        ),
        (
            r#"{ env = "A", path = "/x" }"#,
            "targets.api.check.headers.Authorization.path",
            "unknown key",
        ),
        (
            "{}",
            "targets.api.check.headers.Authorization",
            "empty table",
        ),
        (
            "{ env = 5 }",
            "targets.api.check.headers.Authorization.env",
            "found integer",
        ),
        (
            r#"{ env = "" }"#,
            "targets.api.check.headers.Authorization.env",
            "empty string",
        ),
        (
            r#"{ file = "" }"#,
            "targets.api.check.headers.Authorization.file",
            "empty string",
        ),
        (
            "{ env = { env = \"A\" } }",
            "targets.api.check.headers.Authorization.env",
            "found table",
        ),
    ];
    for (value, key, words) in cases {
        let text = format!(
            "[targets.api]\ncheck = {{ type = \"http\", url = \"http://127.0.0.1:1/\", headers = {{ Authorization = {value} }} }}\n"
        );
        let e = errs(&text, &env(&[("A", CANARY)]));
        assert_eq!(e.len(), 1, "{value}: {e}");
        assert_eq!(e.0[0].key, *key, "{value}: {e}");
        assert!(e.0[0].message.contains(words), "{value}: {e}");
        no_canary(&e);
    }
}

#[test]
fn a_reference_where_none_is_accepted_is_a_type_error() {
    let e = errs(
        "[targets.api]\ncheck = { type = \"tcp\", address = { env = \"A\" } }\n",
        &env(&[("A", "127.0.0.1:1")]),
    );
    assert_eq!(e.0[0].key, "targets.api.check.address", "{e}");
    assert!(
        e.0[0].message.contains("expected a string, found a table"),
        "{e}"
    );
}

#[test]
fn the_apis_objects_may_not_use_references_but_the_files_still_do() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), CANARY).unwrap();
    let path = dir.path().join("autoheal.toml");
    std::fs::write(
        &path,
        r#"
[targets.file-made]
check = { type = "http", url = "http://127.0.0.1:1/", headers = { Authorization = { file = "token" } } }
"#,
    )
    .unwrap();
    let e = BTreeMap::new();
    let layers = load(Some(&path), &e).unwrap().layers;
    let mut overlay = Overlay::default();
    let composed = compose(&layers, &overlay).unwrap();
    assert_eq!(
        http_check(&composed.config, "file-made").headers["Authorization"],
        CANARY
    );

    let api_target = r#"check = { type = "http", url = "http://127.0.0.1:1/", headers = { Authorization = { file = "token" } } }"#;
    overlay.set(
        Section::Targets,
        "api-made",
        Some(api_target.parse::<toml::Table>().unwrap()),
    );
    let errs = compose(&layers, &overlay).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(
        errs.0[0].key,
        "targets.api-made.check.headers.Authorization"
    );
    assert!(
        errs.0[0].message.contains("only from the config file"),
        "{errs}"
    );
    no_canary(&errs);

    let api_action = "type = \"command\"\nargv = [\"/bin/true\"]\nenv = { T = { env = \"HOME\" } }";
    let mut overlay = Overlay::default();
    overlay.set(
        Section::Actions,
        "api-action",
        Some(api_action.parse::<toml::Table>().unwrap()),
    );
    let errs = compose(&layers, &overlay).unwrap_err();
    assert_eq!(errs.0[0].key, "actions.api-action.env.T", "{errs}");
}

#[test]
fn a_secret_file_too_large_or_not_text_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(
        &big,
        vec![b'a'; autoheal_config::MAX_SECRET_FILE as usize + 1],
    )
    .unwrap();
    let bin = dir.path().join("bin");
    std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
    for (p, words) in [
        (&big, "larger than"),
        (&bin, "not UTF-8"),
        (&dir.path().to_path_buf(), "directory"),
    ] {
        let text = format!(
            "[targets.api]\ncheck = {{ type = \"http\", url = \"http://127.0.0.1:1/\", headers = {{ A = {{ file = {:?} }} }} }}\n",
            p.display().to_string()
        );
        let e = errs(&text, &BTreeMap::new());
        assert!(e.0[0].message.contains(words), "{e}");
    }
}

// Arbitrary tables where a reference is accepted never panic the loader;
// what it refuses is named at (or under) that key, and no message holds a
// value of the environment or of a file.

fn ref_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("env".to_string()),
        Just("file".to_string()),
        Just("ENV".to_string()),
        Just("".to_string()),
        "[a-z]{1,6}",
    ]
}

fn leaf() -> impl Strategy<Value = toml::Value> {
    use toml::Value as V;
    prop_oneof![
        Just(V::String("SET".into())),
        Just(V::String("UNSET".into())),
        Just(V::String("secret".into())),
        Just(V::String("missing/file".into())),
        Just(V::String(String::new())),
        Just(V::String("\u{0}".into())),
        Just(V::String("/".into())),
        "\\PC{0,20}".prop_map(V::String),
        any::<i64>().prop_map(V::Integer),
        Just(V::Boolean(false)),
        Just(V::Float(f64::NAN)),
        Just(V::Array(vec![V::String("SET".into())])),
    ]
}

fn hostile_table() -> impl Strategy<Value = toml::Value> {
    let inner = prop::collection::btree_map(ref_key(), leaf(), 0..3)
        .prop_map(|m| toml::Value::Table(m.into_iter().collect()));
    prop::collection::btree_map(ref_key(), prop_oneof![leaf(), inner], 0..4)
        .prop_map(|m| toml::Value::Table(m.into_iter().collect()))
}

/// Where a reference may be written, as (TOML text with `@` for the
/// value, the key of the value).
const POSITIONS: &[(&str, &str)] = &[
    ("[targets.t]\ncheck = { type = \"http\", url = \"http://127.0.0.1:1/\", headers = { H = @ } }", "targets.t.check.headers.H"),
    ("[targets.t]\ncheck = { type = \"http\", url = @ }", "targets.t.check.url"),
    ("[actions.a]\ntype = \"webhook\"\nurl = @", "actions.a.url"),
    ("[actions.a]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nheaders = { H = @ }", "actions.a.headers.H"),
    ("[actions.a]\ntype = \"command\"\nargv = [\"/bin/true\"]\nenv = { E = @ }", "actions.a.env.E"),
    ("[targets.t]\ncheck = { type = \"exec\", argv = [\"/bin/true\"], env = { E = @ } }", "targets.t.check.env.E"),
    ("[docker]\nwebhook_url = @", "docker.webhook_url"),
    ("[docker]\napprise_url = @", "docker.apprise_url"),
    ("[store]\nurl = @", "store.url"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_tables_in_reference_positions_never_panic(
        pos in any::<prop::sample::Index>(),
        value in hostile_table(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), format!("http://127.0.0.1:1/{CANARY}")).unwrap();
        let (template, key) = POSITIONS[pos.index(POSITIONS.len())];
        let mut wrapper = toml::Table::new();
        wrapper.insert("v".into(), value.clone());
        let written = toml::to_string(&wrapper).unwrap();
        let inline = written.trim().strip_prefix("v = ").map(str::to_string);
        // Only values the `toml` crate writes inline can be spliced in.
        let Some(inline) = inline.filter(|s| !s.contains('\n')) else {
            return Ok(());
        };
        let path = dir.path().join("autoheal.toml");
        std::fs::write(&path, template.replace('@', &inline)).unwrap();
        let environment = env(&[("SET", &format!("http://127.0.0.1:1/{CANARY}"))]);
        match load(Some(&path), &environment) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(!e.to_string().contains(CANARY), "{key} = {inline}: {e}");
                prop_assert!(
                    e.iter().all(|x| x.key.starts_with(key) || key.starts_with(&x.key)),
                    "{key} = {inline} reported elsewhere: {e}"
                );
                prop_assert!(e.iter().all(|x| !x.message.is_empty()));
            }
        }
    }
}

#[test]
fn the_reference_forms_display_as_written() {
    assert_eq!(SecretRef::Env("A".into()).to_string(), r#"{ env = "A" }"#);
    assert_eq!(
        SecretRef::File(PathBuf::from("/run/secrets/x")).to_string(),
        r#"{ file = "/run/secrets/x" }"#
    );
}

#[test]
fn a_refused_value_read_from_a_reference_is_not_quoted_back() {
    // check_store_url quotes what it refuses (password hidden): a value
    // read from a reference is scrubbed from the message all the same.
    let e = errs(
        "[store]\nurl = { env = \"DB\" }\n",
        &env(&[("DB", &format!("mysql://db/{CANARY}"))]),
    );
    assert_eq!(e.0[0].key, "store.url", "{e}");
    assert!(e.0[0].message.contains("[redacted]"), "{e}");
    no_canary(&e);
    // The same value written in the file is quoted, as before.
    let e = errs(
        &format!("[store]\nurl = \"mysql://db/{CANARY}\"\n"),
        &BTreeMap::new(),
    );
    assert!(e.to_string().contains(CANARY), "{e}");
}

#[test]
fn render_actions_take_the_api_key_as_a_reference() {
    let text = r#"
[actions.redeploy]
type = "render_deploy"
service = "web"
api_key = { env = "RENDER_API_KEY" }
poll = "10s"
timeout = "30m"
[actions.bounce]
type = "render_restart"
service = "srv-abc"
api_key = { env = "RENDER_API_KEY" }
"#;
    let c = ok(text, &env(&[("RENDER_API_KEY", CANARY)]));
    let ActionConfig::RenderDeploy(d) = &c.actions["redeploy"] else {
        panic!()
    };
    assert_eq!(d.api_key, CANARY);
    assert_eq!(d.base_url, "https://api.render.com/v1");
    assert_eq!(d.poll, std::time::Duration::from_secs(10));
    assert_eq!(c.actions["redeploy"].type_name(), "render_deploy");
    let ActionConfig::RenderRestart(r) = &c.actions["bounce"] else {
        panic!()
    };
    assert_eq!(r.api_key, CANARY);
    assert_eq!(r.timeout, std::time::Duration::from_secs(120));
    assert!(!format!("{c:?}").contains(CANARY));
    let exported = c.to_toml_targets().unwrap();
    assert!(!exported.contains(CANARY), "{exported}");
    let t: toml::Table = exported.parse().unwrap();
    assert_eq!(
        t["actions"]["redeploy"]["api_key"]["env"].as_str(),
        Some("RENDER_API_KEY")
    );

    // Validated at load: the key, the poll range, the base URL.
    let e = errs(
        r#"
[actions.redeploy]
type = "render_deploy"
service = "web"
api_key = { env = "RENDER_API_KEY" }
poll = "10ms"
base_url = "http://169.254.169.254/v1"
"#,
        &env(&[("RENDER_API_KEY", CANARY)]),
    )
    .to_string();
    assert!(
        e.contains("actions.redeploy.poll") || e.contains("actions.redeploy.base_url"),
        "{e}"
    );
    assert!(!e.contains(CANARY), "{e}");
    let e = errs(
        "[actions.r]\ntype = \"render_restart\"\nservice = \"web\"\napi_key = \"\"\n",
        &env(&[]),
    )
    .to_string();
    assert!(e.contains("actions.r.api_key"), "{e}");
}

#[test]
fn coolify_actions_take_the_token_as_a_reference() {
    let text = r#"
[actions.bounce]
type = "coolify_restart"
application = "app-uuid"
base_url = "https://coolify.example.com"
token = { env = "COOLIFY_TOKEN" }
[actions.redeploy]
type = "coolify_deploy"
application = "app-uuid"
base_url = "https://coolify.example.com"
token = { env = "COOLIFY_TOKEN" }
force = true
poll = "10s"
[actions.up]
type = "coolify_start"
application = "app-uuid"
base_url = "https://coolify.example.com"
token = { env = "COOLIFY_TOKEN" }
"#;
    let c = ok(text, &env(&[("COOLIFY_TOKEN", CANARY)]));
    let ActionConfig::CoolifyRestart(r) = &c.actions["bounce"] else {
        panic!()
    };
    assert_eq!(r.token, CANARY);
    assert_eq!(r.timeout, std::time::Duration::from_secs(300));
    let ActionConfig::CoolifyDeploy(d) = &c.actions["redeploy"] else {
        panic!()
    };
    assert!(d.force);
    assert_eq!(d.poll, std::time::Duration::from_secs(10));
    assert_eq!(c.actions["up"].type_name(), "coolify_start");
    assert!(!format!("{c:?}").contains(CANARY));
    let exported = c.to_toml_targets().unwrap();
    assert!(!exported.contains(CANARY), "{exported}");
    let t: toml::Table = exported.parse().unwrap();
    assert_eq!(
        t["actions"]["redeploy"]["token"]["env"].as_str(),
        Some("COOLIFY_TOKEN")
    );

    // Validated at load: base_url is required, the token must not be empty.
    let e = errs(
        "[actions.r]\ntype = \"coolify_deploy\"\napplication = \"a\"\ntoken = { env = \"COOLIFY_TOKEN\" }\n",
        &env(&[("COOLIFY_TOKEN", CANARY)]),
    )
    .to_string();
    assert!(e.contains("base_url"), "{e}");
    assert!(!e.contains(CANARY), "{e}");
    let e = errs(
        "[actions.r]\ntype = \"coolify_start\"\napplication = \"a\"\nbase_url = \"https://c.example\"\ntoken = \"\"\n",
        &env(&[]),
    )
    .to_string();
    assert!(e.contains("actions.r.token"), "{e}");
}
