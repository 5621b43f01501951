//! Secret references in the config file through the real binary: an HTTP
//! check's header read from `{ file = "..." }` (and one from
//! `{ env = "..." }`) is sent to the service, re-read on SIGHUP, and found
//! in no log line and no API answer; the export writes the references back.

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CANARY: &str = "file_CANARY_8d0e55a1c3";
const CANARY_ENV: &str = "env_CANARY_41b7f09e2d";
const CANARY_ROTATED: &str = "rotated_CANARY_c6a2e91f07";

/// A tiny HTTP server that answers 200 to everything and keeps each
/// request's head (lower-cased).
async fn recording_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let h = h.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                h.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).to_lowercase());
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (port, heads)
}

async fn sent(heads: &Arc<Mutex<Vec<String>>>, line: &str) {
    let line = line.to_lowercase();
    eventually(
        Duration::from_secs(30),
        &format!("a check request with {line:?}"),
        || {
            let found = heads.lock().unwrap().iter().any(|h| h.contains(&line));
            async move { found.then_some(()) }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_read_from_a_secret_file_is_sent_and_shown_nowhere() {
    let (port, heads) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let token = dir.path().join("secrets/token");
    // As `echo "Bearer ..." > token` writes it: the newline is trimmed.
    std::fs::write(&token, format!("Bearer {CANARY}\n")).unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[targets.api]
check = {{ type = "http", url = "http://127.0.0.1:{port}/health", interval = "1s", headers = {{ Authorization = {{ file = "secrets/token" }}, X-Api-Key = {{ env = "REFS_TEST_API_KEY" }} }} }}
"#
        ),
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_autoheal"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env("AUTOHEAL_LOG_FORMAT", "json")
        .env("AUTOHEAL_LOG_LEVEL", "debug")
        .env("REFS_TEST_API_KEY", CANARY_ENV);
    let mut app = Autoheal::spawn(cmd).await;

    sent(&heads, &format!("authorization: Bearer {CANARY}\r\n")).await;
    sent(&heads, &format!("x-api-key: {CANARY_ENV}\r\n")).await;
    let target = eventually(Duration::from_secs(30), "the target to be healthy", || {
        let app = &app;
        async move {
            let t = app.get("/api/v1/targets/api").await;
            (t["target"]["phase"] == "healthy").then_some(t)
        }
    })
    .await;

    let events = app.get("/api/v1/events?limit=200").await;
    let targets = app.get("/api/v1/targets").await;
    let export = app.get("/api/v1/export?format=json").await;
    let (_, _, export_toml) = app
        .send(reqwest::Method::GET, "/api/v1/export", None, &[])
        .await;
    for (what, answer) in [
        ("target", target.to_string()),
        ("targets", targets.to_string()),
        ("events", events.to_string()),
        ("export", export.to_string()),
        ("export as TOML", export_toml.to_string()),
    ] {
        assert!(
            !answer.contains(CANARY) && !answer.contains(CANARY_ENV),
            "{what}: {answer}"
        );
    }
    // The export says where the secrets come from.
    let headers = &export["targets"]["api"]["check"]["headers"];
    assert_eq!(
        headers["Authorization"]["file"], "secrets/token",
        "{export}"
    );
    assert_eq!(headers["X-Api-Key"]["env"], "REFS_TEST_API_KEY", "{export}");

    // A rotated file is read again on SIGHUP.
    std::fs::write(&token, format!("Bearer {CANARY_ROTATED}")).unwrap();
    let pid = app.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    sent(
        &heads,
        &format!("authorization: Bearer {CANARY_ROTATED}\r\n"),
    )
    .await;

    // `autoheal export` writes the references, not the values.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autoheal"))
        .args(["export", "--config"])
        .arg(&config)
        .env("REFS_TEST_API_KEY", CANARY_ENV)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("secrets/token") && text.contains("REFS_TEST_API_KEY"),
        "{text}"
    );

    app.terminate();
    let logs = app.logs() + &text;
    assert!(logs.lines().count() > 3);
    for canary in [CANARY, CANARY_ENV, CANARY_ROTATED] {
        assert!(
            !logs.contains(canary),
            "{canary} is in the logs or the export:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unset_variable_stops_the_start_naming_the_key_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        r#"
[docker]
enabled = false

[targets.api]
check = { type = "http", url = "http://127.0.0.1:1/health", headers = { Authorization = { env = "REFS_TEST_UNSET" } } }
"#,
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autoheal"))
        .args(["check", "--config"])
        .arg(&config)
        .env_remove("REFS_TEST_UNSET")
        .env("REFS_TEST_OTHER", CANARY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("targets.api.check.headers.Authorization")
            && text.contains("REFS_TEST_UNSET"),
        "{text}"
    );
    assert!(!text.contains(CANARY), "{text}");
}
