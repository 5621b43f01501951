//! The command line, through the real binary.

mod common;

use assert_cmd::Command;
use common::*;
use std::time::Duration;

fn autoheal() -> Command {
    let mut c = Command::cargo_bin("autoheal").unwrap();
    c.env_remove("AUTOHEAL_CONFIG").env_remove("AUTOHEAL_URL");
    c
}

const LONG: Duration = Duration::from_secs(30);

#[test]
fn version_is_printed() {
    let out = autoheal().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn check_lists_every_error_with_file_key_and_expectation_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("bad.toml"),
        r#"
[targets.api]
check = { type = "http", url = "http://127.0.0.1:1/" }
cooldown = "soon"
ladder = [{ action = "nope", verify = "10s" }]
depends_on = ["ghost"]
chek = 1
"#,
    );
    let out = autoheal()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "bad.toml",
        "targets.api.cooldown",
        "soon",
        "nope",
        "ghost",
        "targets.api.chek",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(
        err.lines().count() >= 4,
        "every error on its own line:\n{err}"
    );
}

#[test]
fn check_accepts_every_example() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = autoheal()
                .args(["check", "--config"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn serve_refuses_a_bad_config_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("bad.toml"),
        "[server]\nlisten = \"nowhere\"\n",
    );
    let out = autoheal()
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
    assert!(!dir.path().join("data").exists(), "nothing was started");
}

#[test]
fn export_then_import_round_trips_targets_and_actions() {
    let dir = tempfile::tempdir().unwrap();
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/http-command.toml"
    );
    let exported = dir.path().join("exported.toml");
    let out = autoheal()
        .args(["export", "--config", src, "--output"])
        .arg(&exported)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dest = dir.path().join("autoheal.toml");
    write(&dest, "[server]\nlisten = \"127.0.0.1:9999\"\n");
    let out = autoheal()
        .arg("import")
        .arg(&exported)
        .arg("--config")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = std::fs::read_to_string(&dest).unwrap();
    assert!(
        merged.contains("127.0.0.1:9999"),
        "the destination's own settings stay:\n{merged}"
    );
    let a = autoheal()
        .args(["export", "--config", src])
        .output()
        .unwrap()
        .stdout;
    let b = autoheal()
        .arg("export")
        .arg("--config")
        .arg(&dest)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));

    // A file that does not validate is refused and the destination is untouched.
    let bad = write(
        &dir.path().join("bad.toml"),
        "[targets.x]\ncooldown = \"later\"\n",
    );
    let out = autoheal()
        .arg("import")
        .arg(&bad)
        .arg("--config")
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), merged);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_commands_talk_to_a_running_autoheal() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n[targets.db]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }\n",
    );
    let app = Autoheal::start(&config, &dir.path().join("data")).await;
    // The API serves before the supervisor has installed every target.
    eventually(Duration::from_secs(30), "db to be installed", || async {
        app.get("/api/v1/targets/db").await["target"]["name"]
            .is_string()
            .then_some(())
    })
    .await;
    let url = app.base.clone();
    // On the same machine the client finds autoheal's local token in its
    // data directory: no account needed.
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = autoheal()
            .args(args)
            .args(["--url", &url])
            .arg("--data-dir")
            .arg(&data)
            .env_remove("AUTOHEAL_TOKEN")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, _) = run(&["status"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("db") && out.contains("tcp"), "{out}");
    let (code, out, _) = run(&["quarantine", "db"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("quarantined"), "{out}");
    let (code, _, err) = run(&["heal", "db"]);
    assert_eq!(code, Some(2), "refused while quarantined");
    assert!(err.contains("409"), "{err}");
    let (code, _, _) = run(&["release", "db"]);
    assert_eq!(code, Some(0));
    let (code, _, err) = run(&["heal", "nope"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("nope"), "{err}");
    let (code, _, _) = run(&["healthcheck"]);
    assert_eq!(code, Some(0));
    // Without the token: refused, and told how to authenticate.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = autoheal()
        .args(["status", "--url", &url, "--data-dir"])
        .arg(elsewhere.path())
        .env_remove("AUTOHEAL_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("401") && err.contains("AUTOHEAL_TOKEN"),
        "{err}"
    );
    // A key made through the CLI works as AUTOHEAL_TOKEN, until revoked.
    let (code, out, err) = run(&["key", "create", "--name", "ci", "--role", "viewer"]);
    assert_eq!(code, Some(0), "{err}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("ah_key_"))
        .expect("the new key is printed")
        .to_string();
    let with_key = |args: &[&str]| {
        autoheal()
            .args(args)
            .args(["--url", &url, "--data-dir"])
            .arg(elsewhere.path())
            .env("AUTOHEAL_TOKEN", &key)
            .output()
            .unwrap()
    };
    assert_eq!(with_key(&["status"]).status.code(), Some(0));
    let denied = with_key(&["pause", "db"]);
    assert_eq!(denied.status.code(), Some(2), "a viewer key cannot pause");
    assert!(String::from_utf8_lossy(&denied.stderr).contains("403"));
    let (_, list, _) = run(&["key", "list"]);
    let id = list
        .lines()
        .find(|l| l.contains(" ci "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the key is listed")
        .to_string();
    assert!(
        !list.contains(&key),
        "a listing never shows the key: {list}"
    );
    let (code, _, _) = run(&["key", "revoke", &id]);
    assert_eq!(code, Some(0));
    assert_eq!(
        with_key(&["status"]).status.code(),
        Some(2),
        "revoked at once"
    );
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = autoheal()
        .args(["healthcheck", "--url", &dead])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// The first run: no user; `autoheal user add --admin` (password on
/// standard input) makes one on the store directly, who can then sign in.
#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_is_made_by_the_cli_and_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let user = |args: &[&str], stdin: &str| {
        let out = autoheal()
            .arg("user")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("AUTOHEAL_DATA_DIR")
            .env_remove("AUTOHEAL_STORE_URL")
            .write_stdin(stdin)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, _, err) = user(&["add", "--admin", "root"], "short\n");
    assert_eq!(code, Some(2), "a short password is refused: {err}");
    assert!(err.contains("at least 8"), "{err}");
    let (code, out, err) = user(&["add", "--admin", "Root"], "correct horse battery\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("owner of default"), "{out}");
    let (code, _, err) = user(&["add", "root"], "correct horse battery\n");
    assert_eq!(code, Some(2));
    assert!(err.contains("taken"), "{err}");
    let (code, out, _) = user(&["add", "--role", "operator", "ops"], "another password\n");
    assert_eq!(code, Some(0), "{out}");
    let (_, list, _) = user(&["list"], "");
    assert!(
        list.contains("root") && list.contains("default:owner"),
        "{list}"
    );
    assert!(
        list.contains("ops") && list.contains("default:operator"),
        "{list}"
    );
    let (code, _, _) = user(&["remove", "ops"], "");
    assert_eq!(code, Some(0));
    assert!(!user(&["list"], "").1.contains("ops"));

    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n",
    );
    let app = Autoheal::start(&config, &data).await;
    let login = |password: &'static str| {
        let url = format!("{}/api/v1/auth/login", app.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(serde_json::json!({"login": "root", "password": password}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(login("correct horse battery").await, 200);
    // A new password from the CLI: the old one stops working.
    let (code, _, err) = user(&["passwd", "root"], "a different one\n");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(login("correct horse battery").await, 401);
    assert_eq!(login("a different one").await, 200);
    // The audit log says who made whom.
    let events = app.get("/api/v1/events?limit=100").await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "user_created" && e["actor"] == "cli"),
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_a_good_file_and_keeps_the_running_config_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("autoheal.toml");
    let target = |name: &str| {
        format!("[docker]\nenabled = false\n[targets.{name}]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }}\n")
    };
    write(&path, &target("first"));
    let app = Autoheal::start(&path, &dir.path().join("data")).await;
    let names = || async {
        let v = app.get("/api/v1/targets").await;
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names().await, vec!["first"]);
    let hup = || {
        std::process::Command::new("kill")
            .args(["-HUP", &app.child.id().to_string()])
            .status()
            .unwrap();
    };

    write(&path, "[targets.first]\ncooldown = \"whenever\"\n");
    hup();
    eventually(LONG, "the log to say the bad file was refused", || async {
        app.logs()
            .contains("keeping the running configuration")
            .then_some(())
    })
    .await;
    assert_eq!(names().await, vec!["first"], "the running config stays");

    write(&path, &target("second"));
    hup();
    eventually(LONG, "the new target after reload", || async {
        (names().await == vec!["second".to_string()]).then_some(())
    })
    .await;
}

/// issue 7, items 3, 4 and 9: durations out of range are config errors
/// naming the key, the value and the range; never a panic, never accepted.
#[test]
fn check_refuses_durations_out_of_range_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "interval.toml",
            "[docker]\nenabled = false\n[targets.api]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"100y\" }\n",
            "targets.api.check.interval: 100y is out of range; expected between 100ms and 24h",
        ),
        (
            "nanos.toml",
            "[docker]\nenabled = false\n[targets.api]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1ns\" }\n",
            "targets.api.check.interval: 1ns is out of range; expected between 100ms and 24h",
        ),
        (
            "timeout.toml",
            "[docker]\nenabled = false\n[actions.fix]\ntype = \"command\"\nargv = [\"true\"]\ntimeout = \"18446744073709551615s\"\n[targets.api]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\" }\naction = \"fix\"\n",
            "actions.fix.timeout: 18446744073709551615s is out of range; expected between 100ms and 24h",
        ),
        (
            "backoff.toml",
            "[docker]\nenabled = false\n[defaults]\nbackoff = { max = \"18446744073709551615s\" }\n",
            "defaults.backoff.max: 18446744073709551615s is out of range; expected between 0s and 7d",
        ),
    ];
    for (name, text, expected) in cases {
        let path = write(&dir.path().join(name), text);
        let out = autoheal()
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{name}: a panic:\n{err}");
        assert_eq!(out.status.code(), Some(2), "{name}:\n{err}");
        assert!(
            err.contains(expected),
            "{name}: {expected:?} missing from:\n{err}"
        );
    }
}

/// issue 7, items 3 and 4: a file with durations out of range arriving by
/// SIGHUP is refused; the running config stays and checks go on (a 100-year
/// interval used to kill the one check scheduler, a huge action timeout the
/// signal task), and SIGTERM still stops the process.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_with_durations_out_of_range_keeps_checking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("autoheal.toml");
    write(
        &path,
        "[docker]\nenabled = false\n[targets.api]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"100ms\" }\n",
    );
    let mut app = Autoheal::start(&path, &dir.path().join("data")).await;
    let last_check =
        || async { app.get("/api/v1/targets/api").await["target"]["last_check_at"].as_i64() };
    let refusals = || {
        app.logs()
            .matches("keeping the running configuration")
            .count()
    };
    let bad = [
        "[docker]\nenabled = false\n[targets.api]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"100y\" }\n",
        "[docker]\nenabled = false\n[actions.fix]\ntype = \"command\"\nargv = [\"true\"]\ntimeout = \"18446744073709551615s\"\n[targets.api]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"100ms\" }\naction = \"fix\"\n",
        "[docker]\nenabled = false\n[targets.api]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"100ms\" }\nbackoff = { max = \"18446744073709551615s\" }\n",
    ];
    for (i, text) in bad.iter().enumerate() {
        write(&path, text);
        std::process::Command::new("kill")
            .args(["-HUP", &app.child.id().to_string()])
            .status()
            .unwrap();
        eventually(LONG, "the bad file to be refused", || async {
            (refusals() > i).then_some(())
        })
        .await;
        let after = eventually(LONG, "a check after the refusal", || async {
            last_check().await
        })
        .await;
        eventually(LONG, "checks to go on after the refusal", || async {
            last_check().await.filter(|t| *t > after).map(drop)
        })
        .await;
    }
    assert!(!app.logs().contains("panicked"), "{}", app.logs());
    // Signals still work: SIGTERM ends the process.
    let pid = app.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    eventually(LONG, "autoheal to exit on SIGTERM", || {
        let exited = app.child.try_wait().unwrap().is_some();
        async move { exited.then_some(()) }
    })
    .await;
}

/// A non-loopback address of this machine, to call autoheal as another
/// host would.
fn outside_address() -> String {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .expect("this machine has a non-loopback IPv4 address")
        .to_string()
}

/// Issue 10 item 9: the container image listens on every interface, but
/// until the first admin exists other hosts reach only the anonymous
/// routes; the same machine's CLI works throughout.
#[tokio::test(flavor = "multi_thread")]
async fn other_hosts_reach_only_the_probes_until_the_first_admin_exists() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n",
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_autoheal"));
    cmd.args(["serve", "--listen", "0.0.0.0:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env("AUTOHEAL_LOOPBACK_UNTIL_ADMIN", "true")
        .env("AUTOHEAL_LOG_FORMAT", "json");
    let app = Autoheal::spawn(cmd).await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let outside = format!("http://{}:{port}", outside_address());
    let inside = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let get = |base: String, path: &'static str| {
        let (client, token) = (client.clone(), app.token.clone());
        async move {
            let r = client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    assert_eq!(get(outside.clone(), "/live").await.0, 200);
    assert_eq!(get(outside.clone(), "/metrics").await.0, 200);
    let (status, body) = get(outside.clone(), "/api/v1/targets").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "not_set_up");
    assert_eq!(get(inside.clone(), "/api/v1/targets").await.0, 200);

    let out = autoheal()
        .args(["user", "add", "--admin", "root", "--data-dir"])
        .arg(&data)
        .env_remove("AUTOHEAL_DATA_DIR")
        .env_remove("AUTOHEAL_STORE_URL")
        .write_stdin("correct horse battery\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(
        Duration::from_secs(10),
        "other hosts to be answered",
        || {
            let outside = outside.clone();
            let get = &get;
            async move { (get(outside, "/api/v1/targets").await.0 == 200).then_some(()) }
        },
    )
    .await;
}
