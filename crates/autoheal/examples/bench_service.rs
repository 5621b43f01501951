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
//! target/release/examples/bench_service notify 100
//!   # N targets fail together: incident opened -> a local receiver got the
//!   # message (p50/p99), through the outbox, group_window 0
//! target/release/examples/bench_service queue 10000
//!   # N notifications already in the outbox at start: deliveries per second
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
        Some("notify") => {
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
            bench_notify(n, dir.path()).await;
        }
        Some("queue") => {
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
            bench_queue(n, dir.path()).await;
        }
        _ => eprintln!(
            "usage: bench_service idle | targets N | api TARGETS RATE SECONDS | notify N | queue N"
        ),
    }
}

/// A local receiver: answers 200 to every POST at once and keeps, for
/// each, when it arrived and its JSON body (the generic webhook channel
/// sends the message itself).
async fn receiver() -> (
    u16,
    std::sync::Arc<std::sync::Mutex<Vec<(Instant, serde_json::Value)>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = vec![0u8; 64 * 1024];
                // Keep-alive: one request after another on the connection.
                loop {
                    let body = loop {
                        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + len {
                                let body = seen[end + 4..end + 4 + len].to_vec();
                                seen.drain(..end + 4 + len);
                                break body;
                            }
                        }
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    };
                    let at = Instant::now();
                    let v = serde_json::from_slice(&body).unwrap_or_default();
                    keep.lock().unwrap().push((at, v));
                    if conn
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, got)
}

fn channel_config(port: u16) -> String {
    format!(
        "[notify]\ngroup_window = \"0s\"\nrate_limit = 1000000\n\n[channels.bench]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\n[routes.opened]\nchannels = [\"bench\"]\nevents = [\"incident_opened\"]\n\n"
    )
}

fn start(cfg: &Path, dir: &Path, port: u16) -> Child {
    Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (build it first)", binary().display()))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// `n` targets fail together; for each, the time from its incident's
/// opening (as recorded) to the receiver getting the message.
async fn bench_notify(n: usize, dir: &Path) {
    let (rport, got) = receiver().await;
    let closed = free_port();
    let mut cfg = String::from("[docker]\nenabled = false\n\n[log]\nlevel = \"warn\"\n\n");
    cfg.push_str(&channel_config(rport));
    for i in 0..n {
        let _ = writeln!(
            cfg,
            "[targets.t{i}]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:{closed}\", interval = \"200ms\", timeout = \"1s\" }}\n"
        );
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, cfg).unwrap();
    let port = free_port();
    let wall = std::time::SystemTime::now();
    let origin = Instant::now();
    let mut child = start(&path, dir, port);
    let deadline = Instant::now() + Duration::from_secs(300);
    while got.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "not every message arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Arrival times in Unix ms, by target.
    let epoch_ms = |at: Instant| {
        let since = at.duration_since(origin);
        (wall + since)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1000.0
    };
    let arrivals: std::collections::HashMap<String, f64> = got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(at, v)| Some((v["targets"][0].as_str()?.to_string(), epoch_ms(*at))))
        .collect();
    let token = std::fs::read_to_string(dir.join("data/local-token")).unwrap();
    let incidents: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/incidents?limit=500"
        ))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut lat: Vec<f64> = incidents["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| {
            let opened = i["opened_at"].as_f64()?;
            Some(arrivals.get(i["target"].as_str()?)? - opened)
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "incident opened -> receiver got it: targets={n} messages={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
}

/// `n` notifications already in the outbox when autoheal starts (written
/// through the store, as the supervisor writes them): how fast they go.
async fn bench_queue(n: usize, dir: &Path) {
    let (rport, got) = receiver().await;
    let mut cfg = String::from("[docker]\nenabled = false\n\n[log]\nlevel = \"warn\"\n\n");
    cfg.push_str(&channel_config(rport));
    let path = dir.join("bench.toml");
    std::fs::write(&path, cfg).unwrap();
    // First start: the store and its schema; then stop.
    let port = free_port();
    let mut child = start(&path, dir, port);
    let token_file = dir.join("data/local-token");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !token_file.exists() {
        assert!(Instant::now() < deadline, "autoheal did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = child.kill();
    let _ = child.wait();
    let url = format!("sqlite://{}", dir.join("data/autoheal.db").display());
    let store = autoheal_store::open(&url).await.unwrap();
    let now = autoheal::supervisor::now_ms();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut unit = autoheal_store::Unit::default();
        for i in chunk {
            let event = autoheal_core::AuditEvent::IncidentOpened {
                reason: "3 failures within 1m".into(),
            };
            let target = format!("t{i}");
            let msg = autoheal::notify::facts::of(&event, &target, "down").unwrap();
            unit.notify(
                autoheal::notify::facts::new_notification(1, Some(&target), None, msg, now),
                None,
            );
        }
        store.commit(&unit).await.unwrap();
    }
    drop(store);
    let started = Instant::now();
    let mut child = start(&path, dir, free_port());
    let deadline = Instant::now() + Duration::from_secs(600);
    while got.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "not every delivery arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = started.elapsed();
    let (first, last) = {
        let g = got.lock().unwrap();
        (g[0].0, g[g.len() - 1].0)
    };
    let _ = child.kill();
    let _ = child.wait();
    let span = last.duration_since(first).as_secs_f64().max(1e-9);
    println!(
        "queued={n} delivered={} start_to_last_s={:.2} first_to_last_s={span:.2} deliveries_per_s={:.0}",
        got.lock().unwrap().len(),
        all.as_secs_f64(),
        n as f64 / span
    );
}
