//! Test helpers for the real-engine tests: engine reachability (skip or
//! fail), the registry-free test image, containers named with a per-test
//! prefix and removed at the end, and waiting with deadlines (no fixed sleeps).
#![allow(dead_code)]

use autoheal_docker::{DockerClient, DockerHappening, DockerHost, DockerSettings};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub const IMAGE: &str = "autoheal-test-busybox:latest";
pub const SOCKET: &str = "/var/run/docker.sock";

/// The engine, or `None` (the test prints why and returns) unless
/// `AUTOHEAL_REQUIRE_DOCKER=1`, which turns a missing engine into a failure.
pub async fn engine() -> Option<DockerClient> {
    let require = std::env::var("AUTOHEAL_REQUIRE_DOCKER").as_deref() == Ok("1");
    let client = match DockerClient::connect_to(
        DockerHost::Unix(PathBuf::from(SOCKET)),
        Path::new("/certs"),
        Duration::from_secs(30),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            if require {
                panic!("no Docker engine reachable at {SOCKET} (AUTOHEAL_REQUIRE_DOCKER=1): {e}");
            }
            eprintln!("skipped: no Docker engine reachable at {SOCKET}: {e}");
            return None;
        }
    };
    ensure_image();
    Some(client)
}

/// Builds the test image once per machine (file lock across test binaries,
/// `OnceLock` within one), by running scripts/build-test-image.sh.
pub fn ensure_image() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-image.sh");
        let st = Command::new("flock")
            .arg("/tmp/autoheal-test-image.lock")
            .arg(&script)
            .status()
            .expect("run flock + build-test-image.sh");
        assert!(st.success(), "building {IMAGE} failed");
    });
}

/// Runs the docker CLI; panics with its stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let o = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        o.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Containers named `<prefix>-...`, all removed on drop.
pub struct Scratch {
    pub prefix: String,
}

impl Scratch {
    pub fn new(test: &str) -> Self {
        let prefix = format!("ahtest-{test}-{}", std::process::id());
        let s = Scratch { prefix };
        s.cleanup();
        s
    }

    /// The label a watcher for this test selects on (`<label>=true`).
    pub fn label(&self) -> String {
        format!("{}-watch", self.prefix)
    }

    pub fn name(&self, n: &str) -> String {
        format!("{}-{n}", self.prefix)
    }

    /// `docker run -d --name <prefix>-<n> <extra...> IMAGE <cmd...>`; returns the id.
    pub fn run(&self, n: &str, extra: &[&str], cmd: &[&str]) -> String {
        let name = self.name(n);
        let mut args = vec!["run", "-d", "--name", name.as_str()];
        args.extend_from_slice(extra);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        docker(&args)
    }

    pub fn cleanup(&self) {
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("name=^/{}-", self.prefix)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = Command::new("docker").args(&args).output();
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Settings for a test watcher: only this test's containers, fast interval.
pub fn settings(s: &Scratch) -> DockerSettings {
    DockerSettings {
        label: s.label(),
        interval: Duration::from_secs(2),
        default_stop_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// Receives until `pred` matches; panics at the deadline, listing what came.
pub async fn expect<F>(
    rx: &mut mpsc::Receiver<DockerHappening>,
    within: Duration,
    what: &str,
    mut pred: F,
) -> DockerHappening
where
    F: FnMut(&DockerHappening) -> bool,
{
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(h)) => {
                if pred(&h) {
                    return h;
                }
                seen.push(h);
            }
            Ok(None) => panic!("watcher ended before {what}; saw {seen:#?}"),
            Err(_) => panic!("no {what} within {within:?}; saw {seen:#?}"),
        }
    }
}

/// Collects everything that arrives within `window` (for "nothing like X").
pub async fn drain_for(
    rx: &mut mpsc::Receiver<DockerHappening>,
    window: Duration,
) -> Vec<DockerHappening> {
    let deadline = Instant::now() + window;
    let mut v = Vec::new();
    while let Ok(Some(h)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        v.push(h);
    }
    v
}

/// Polls `f` until it returns true; panics at the deadline.
pub async fn wait_until<F>(within: Duration, what: &str, mut f: F)
where
    F: FnMut() -> bool,
{
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn inspect(name: &str, fmt: &str) -> String {
    docker(&["inspect", "-f", fmt, name])
}

pub fn health(name: &str) -> String {
    inspect(name, "{{if .State.Health}}{{.State.Health.Status}}{{end}}")
}

pub fn started_at(name: &str) -> String {
    inspect(name, "{{.State.StartedAt}}")
}
