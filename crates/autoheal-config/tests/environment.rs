//! Environment overrides: the layer above the file; bad values are errors
//! from "environment" named by the variable.

use autoheal_config::{load, parse_str, LogFormat, ENVIRONMENT};
use std::collections::BTreeMap;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn environment_overrides_beat_the_file() {
    let file = r#"
[server]
listen = "127.0.0.1:1"
[store]
data_dir = "/from/file"
[log]
format = "text"
level = "warn"
[engine]
dry_run = false
[targets.api]
"#;
    let e = env(&[
        ("AUTOHEAL_LISTEN", "0.0.0.0:9999"),
        ("AUTOHEAL_DATA_DIR", "/from/env"),
        ("AUTOHEAL_LOG_FORMAT", "json"),
        ("AUTOHEAL_LOG_LEVEL", "debug"),
        ("AUTOHEAL_DRY_RUN", "1"),
        ("AUTOHEAL_CONTAINER_LABEL", "all"),
    ]);
    let c = parse_str(file, "autoheal.toml", &e).unwrap();
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:9999");
    assert_eq!(c.store.data_dir, Path::new("/from/env"));
    assert_eq!(
        c.store.url, "sqlite:///from/env/autoheal.db",
        "the default URL follows the data dir"
    );
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "debug");
    assert!(c.engine.dry_run);
    assert!(c.target("api").unwrap().policy.dry_run);
}

#[test]
fn the_store_url_override_beats_the_data_dir_default() {
    let e = env(&[
        (
            "AUTOHEAL_STORE_URL",
            "postgres://autoheal:secret@db/autoheal",
        ),
        ("AUTOHEAL_DATA_DIR", "/d"),
    ]);
    let c = load(None, &e).unwrap();
    assert_eq!(c.store.url, "postgres://autoheal:secret@db/autoheal");
    assert_eq!(
        c.store.redacted_url(),
        "postgres://autoheal:***@db/autoheal"
    );
    assert!(
        !format!("{:?}", c.store).contains("secret"),
        "Debug never prints the password"
    );
}

#[test]
fn empty_environment_values_count_as_unset() {
    let c = load(
        None,
        &env(&[("AUTOHEAL_LISTEN", ""), ("AUTOHEAL_DRY_RUN", " ")]),
    )
    .unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert!(!c.engine.dry_run);
}

#[test]
fn bad_environment_values_are_errors_named_by_the_variable() {
    let e = env(&[
        ("AUTOHEAL_LISTEN", "everywhere"),
        ("AUTOHEAL_STORE_URL", "mysql://x"),
        ("AUTOHEAL_LOG_FORMAT", "xml"),
        ("AUTOHEAL_LOG_LEVEL", "loud"),
        ("AUTOHEAL_DRY_RUN", "maybe"),
    ]);
    let errs = load(None, &e).unwrap_err();
    let keys: Vec<_> = errs.0.iter().map(|x| x.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "AUTOHEAL_LISTEN",
            "AUTOHEAL_STORE_URL",
            "AUTOHEAL_LOG_FORMAT",
            "AUTOHEAL_LOG_LEVEL",
            "AUTOHEAL_DRY_RUN"
        ]
    );
    assert!(errs.0.iter().all(|x| x.file == ENVIRONMENT));
    assert!(
        errs.to_string().contains(r#"environment: AUTOHEAL_DRY_RUN: expected true or false (or 1/0, yes/no, on/off), found "maybe""#),
        "{errs}"
    );
}

#[test]
fn environment_errors_are_listed_with_file_errors() {
    let errs = parse_str(
        "[targets.api]\ncooldown = \"soon\"\n",
        "autoheal.toml",
        &env(&[("AUTOHEAL_DRY_RUN", "maybe")]),
    )
    .unwrap_err();
    assert_eq!(errs.0.len(), 2, "{errs}");
    assert_eq!(errs.0[0].file, "autoheal.toml");
    assert_eq!(errs.0[1].file, "environment");
}

#[test]
fn docker_autoheal_variables_reach_the_docker_section() {
    let c = parse_str(
        "[docker]\nlabel = \"from-file\"\n",
        "autoheal.toml",
        &env(&[("AUTOHEAL_CONTAINER_LABEL", "all")]),
    )
    .unwrap();
    assert_eq!(c.docker.label, "all", "the environment wins over the file");
    let errs = load(None, &env(&[("AUTOHEAL_INTERVAL", "often")])).unwrap_err();
    assert_eq!(errs.0[0].file, ENVIRONMENT);
    assert_eq!(errs.0[0].key, "AUTOHEAL_INTERVAL", "{errs}");
}

#[test]
fn tls_files_can_come_from_the_environment() {
    let e = env(&[
        ("AUTOHEAL_TLS_CERT", "/env/cert.pem"),
        ("AUTOHEAL_TLS_KEY", "/env/key.pem"),
    ]);
    let c = parse_str(
        "[server]\ntls_cert = \"/file/cert.pem\"\ntls_key = \"/file/key.pem\"\n",
        "autoheal.toml",
        &e,
    )
    .unwrap();
    let tls = c.server.tls.unwrap();
    assert_eq!(tls.cert, Path::new("/env/cert.pem"));
    assert_eq!(tls.key, Path::new("/env/key.pem"));
    // One from the environment, the other from the file: both given.
    let c = parse_str(
        "[server]\ntls_key = \"/file/key.pem\"\n",
        "autoheal.toml",
        &env(&[("AUTOHEAL_TLS_CERT", "/env/cert.pem")]),
    )
    .unwrap();
    assert_eq!(c.server.tls.unwrap().key, Path::new("/file/key.pem"));
    // Only one in all: the other key is named.
    let errors = load(None, &env(&[("AUTOHEAL_TLS_CERT", "/env/cert.pem")])).unwrap_err();
    assert!(
        errors.0.iter().any(|e| e.key == "server.tls_key"),
        "{errors}"
    );
}
