//! Service-level benchmarks against the real `autoheal` binary, run as a
//! child process (so the figures are the service's own, not the load
//! generator's): resident memory and CPU idle and with many targets, and the
//! latency of `GET /api/v1/targets` under a fixed request rate.
//!
//! ```sh
//! cargo build --release -p autoheal --bin autoheal --example bench_service
//! target/release/examples/bench_service idle
//! target/release/examples/bench_service targets 100000
//! target/release/examples/bench_service api 1000 1000 10
//!   # api TARGETS RATE SECONDS: p50/p99 of GET /api/v1/targets at RATE req/s,
//!   # each with the service's local token as `Authorization: Bearer`
//! ```
//! The binary is `target/release/autoheal`, or `$AUTOHEAL_BIN`. Figures go to
//! docs/benchmarks.md with the command that produced them.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// VmRSS of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// User + system CPU time of a process so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// `n` observe-only targets with a TCP check every hour.
fn config(n: usize) -> String {
    let mut s = String::from("[docker]\nenabled = false\n\n[log]\nlevel = \"warn\"\n\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "[targets.t{i}]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }}\n"
        );
    }
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Service {
    child: Child,
    base: String,
    /// The local token the service wrote to its data directory (an owner
    /// API key): every request is authenticated, as a real client's is.
    token: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    std::env::var_os("AUTOHEAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/autoheal")
        })
}

/// Starts the binary with `n` targets and waits (deadline 30 min) until the
/// supervisor holds all of them.
async fn boot(n: usize, dir: &Path) -> Service {
    let cfg = dir.join("bench.toml");
    std::fs::write(&cfg, config(n)).unwrap();
    let port = free_port();
    let child = Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (build it first)", binary().display()));
    let token_file = dir.join("data").join("local-token");
    let started = Instant::now();
    let token = loop {
        if let Ok(t) = std::fs::read_to_string(&token_file) {
            if !t.trim().is_empty() {
                break t.trim().to_string();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no local token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let svc = Service {
        child,
        base: format!("http://127.0.0.1:{port}"),
        token,
    };
    let client = reqwest::Client::new();
    loop {
        let held = match client
            .get(format!("{}/health", svc.base))
            .bearer_auth(&svc.token)
            .send()
            .await
        {
            Ok(r) => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["targets"].as_u64())
                .unwrap_or(0),
            Err(_) => 0,
        };
        if held as usize >= n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "boot took too long"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "booted {n} targets in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    svc
}

/// RSS and CPU share over `secs` of doing nothing but supervising.
async fn settle_and_measure(svc: &Service, label: &str, secs: u64) {
    let pid = svc.child.id();
    // Let boot-time work (store writes, first checks) finish first.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu0 = cpu_time(pid);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_time(pid) - cpu0;
    println!(
        "{label}: rss_mib={:.1} cpu_share_of_one_core={:.2}% (over {secs} s)",
        rss_mib(pid),
        cpu.as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir().unwrap();
    match args.first().map(String::as_str) {
        Some("idle") => {
            let svc = boot(0, dir.path()).await;
            settle_and_measure(&svc, "idle, no targets", 20).await;
        }
        Some("targets") => {
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
            let svc = boot(n, dir.path()).await;
            settle_and_measure(&svc, &format!("{n} targets"), 20).await;
        }
        Some("api") => {
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let rate: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let secs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
            let svc = boot(n, dir.path()).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let client = reqwest::Client::new();
            let url = format!("{}/api/v1/targets", svc.base);
            let total = rate * secs;
            let gap = Duration::from_nanos(1_000_000_000 / rate);
            let start = Instant::now();
            let mut tasks = Vec::with_capacity(total as usize);
            let mut bytes = 0;
            for i in 0..total {
                // Open-loop pacing: request i is sent at start + i*gap whatever
                // happened to the others, so slow answers cannot hide.
                tokio::time::sleep_until((start + gap * i as u32).into()).await;
                let c = client.clone();
                let u = url.clone();
                let key = svc.token.clone();
                tasks.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let r = c
                        .get(&u)
                        .bearer_auth(key)
                        .send()
                        .await
                        .and_then(|r| r.error_for_status());
                    let len = match r {
                        Ok(r) => r.bytes().await.map(|b| b.len()).ok(),
                        Err(_) => None,
                    };
                    (t.elapsed(), len)
                }));
            }
            let mut lat = Vec::with_capacity(tasks.len());
            let mut errors = 0;
            for t in tasks {
                let (d, len) = t.await.unwrap();
                match len {
                    Some(l) => bytes = l,
                    None => errors += 1,
                }
                lat.push(d);
            }
            lat.sort();
            let p = |q: f64| {
                lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0
            };
            println!(
                "GET /api/v1/targets targets={n} answer_bytes={bytes} rate={rate}/s requests={} errors={errors} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
                lat.len(),
                p(0.50),
                p(0.99),
                p(1.0)
            );
        }
        _ => eprintln!("usage: bench_service idle | targets N | api TARGETS RATE SECONDS"),
    }
}
