//! Helpers for the tests against the real Docker engine: skip (or, with
//! AUTOHEAL_REQUIRE_DOCKER=1, fail) without an engine; build the test image
//! once; run docker commands; name and remove test containers.

use super::{eventually, Autoheal};
use std::process::Command;
use std::time::Duration;

/// The deadline of every wait on the engine (pulling nothing, but restarts
/// and health intervals on a loaded CI machine).
pub const LONG: Duration = Duration::from_secs(90);

pub const IMAGE: &str = "autoheal-test-busybox:latest";

pub fn engine_available() -> bool {
    let ok = Command::new("docker")
        .args(["version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("AUTOHEAL_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "AUTOHEAL_REQUIRE_DOCKER=1 but no Docker engine answers"
        );
        eprintln!("skipped: no Docker engine reachable");
        return false;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../autoheal-docker/scripts/build-test-image.sh"
    );
    let built = Command::new("flock")
        .args(["/tmp/autoheal-test-image.lock", "sh", script])
        .status()
        .unwrap();
    assert!(built.success(), "building {IMAGE}");
    true
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn started_at(name: &str) -> String {
    docker(&["inspect", "-f", "{{.State.StartedAt}}", name])
}

/// Removes the containers when the test ends, whatever happens.
pub struct Containers(pub Vec<String>);
impl Drop for Containers {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

pub async fn target(ah: &Autoheal, name: &str) -> serde_json::Value {
    ah.get(&format!("/api/v1/targets/{name}")).await["target"].clone()
}

pub async fn wait_status(ah: &Autoheal, name: &str, status: &str) {
    let what = format!("target {name} to be {status}");
    eventually(LONG, &what, || async {
        (target(ah, name).await["last_status"] == status).then_some(())
    })
    .await;
}

/// The first incident of `name`, once it closed as recovered.
pub async fn recovered_incident(ah: &Autoheal, name: &str) -> serde_json::Value {
    let what = format!("an incident of {name} to close as recovered");
    eventually(LONG, &what, || async {
        let page = ah.get(&format!("/api/v1/incidents?target={name}")).await;
        let i = page["items"].get(0)?.clone();
        (i["resolution"] == "recovered").then_some(i)
    })
    .await
}
