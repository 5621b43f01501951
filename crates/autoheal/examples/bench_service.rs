//! Service-level benchmarks: resident memory idle and with many targets, and
//! the latency of `GET /api/v1/targets` under a fixed request rate.
//!
//! ```sh
//! cargo run --release -p autoheal --example bench_service -- idle
//! cargo run --release -p autoheal --example bench_service -- targets 100000
//! cargo run --release -p autoheal --example bench_service -- api 1000 1000 10
//!   # api TARGETS RATE SECONDS: p50/p99 of GET /api/v1/targets at RATE req/s
//! ```
//! Figures go to docs/benchmarks.md with the command that produced them.

use autoheal::app::Application;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// `n` targets with a TCP check every hour (observe-only).
fn config(n: usize) -> String {
    let mut s = String::from("[docker]\nenabled = false\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "[targets.t{i}]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }}\n"
        );
    }
    s
}

async fn boot(n: usize, dir: &std::path::Path) -> (String, CancellationToken) {
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("AUTOHEAL_DATA_DIR".to_string(), dir.display().to_string()),
    ]);
    let cfg = autoheal_config::parse_str(&config(n), "bench.toml", &env).expect("valid");
    let app = Application::build(&cfg).await.expect("builds");
    let base = format!("http://{}", app.local_addr());
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let n_now = client
            .get(format!("{base}/health"))
            .send()
            .await
            .ok()
            .and_then(|r| futures::executor::block_on(r.json::<serde_json::Value>()).ok())
            .and_then(|v| v["targets"].as_u64())
            .unwrap_or(0);
        if n_now as usize >= n {
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
    (base, stop)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir().unwrap();
    match args.first().map(String::as_str) {
        Some("idle") => {
            let (_base, stop) = boot(0, dir.path()).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            println!("rss_idle_mb {:.1}", rss_mb());
            stop.cancel();
        }
        Some("targets") => {
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
            let (_base, stop) = boot(n, dir.path()).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            println!("rss_with_{n}_targets_mb {:.1}", rss_mb());
            stop.cancel();
        }
        Some("api") => {
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let rate: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let secs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
            let (base, stop) = boot(n, dir.path()).await;
            let client = reqwest::Client::new();
            let url = format!("{base}/api/v1/targets");
            let total = rate * secs;
            let gap = Duration::from_nanos(1_000_000_000 / rate);
            let start = Instant::now();
            let mut tasks = Vec::with_capacity(total as usize);
            for i in 0..total {
                // Open-loop pacing: request i is sent at start + i*gap whatever
                // happened to the others, so slow answers cannot hide.
                tokio::time::sleep_until((start + gap * i as u32).into()).await;
                let c = client.clone();
                let u = url.clone();
                tasks.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let r = c.get(&u).send().await.and_then(|r| r.error_for_status());
                    let ok = match r {
                        Ok(r) => r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    (t.elapsed(), ok)
                }));
            }
            let mut lat = Vec::with_capacity(tasks.len());
            let mut errors = 0;
            for t in tasks {
                let (d, ok) = t.await.unwrap();
                if !ok {
                    errors += 1;
                }
                lat.push(d);
            }
            lat.sort();
            let p = |q: f64| {
                lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0
            };
            println!(
                "api GET /api/v1/targets targets={n} rate={rate}/s requests={} errors={errors} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
                lat.len(),
                p(0.50),
                p(0.99),
                p(1.0)
            );
            stop.cancel();
        }
        _ => eprintln!("usage: bench_service idle | targets N | api TARGETS RATE SECONDS"),
    }
}
