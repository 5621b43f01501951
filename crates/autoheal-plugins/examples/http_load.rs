//! Load figure for the HTTP check: N checks with concurrency C against a
//! local axum server running in a *separate process* (so the CPU measured
//! here is the checker's alone), printing checks/s and CPU milliseconds per
//! 1,000 checks for both processes.
//!
//! ```text
//! cargo run --release -p autoheal-plugins --example http_load -- [N] [C]
//! ```
//! Defaults: N = 100000, C = 64. CPU comes from `/proc/<pid>/stat`
//! (utime + stime, in clock ticks; `getconf CLK_TCK`, else 100).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use autoheal_core::Status;
use autoheal_plugins::{Check, HttpCheck, HttpCheckConfig, HttpClients};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        serve();
        return;
    }
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let c: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);

    let mut server = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
    let server_pid = server.id();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let clients = HttpClients::new().unwrap();
    let cfg: HttpCheckConfig = serde_json::from_value(serde_json::json!({
        "url": format!("http://127.0.0.1:{port}/health"),
        "body_contains": "ok",
    }))
    .unwrap();
    let check = Arc::new(HttpCheck::build(&cfg, &clients).unwrap());

    // Warm-up: open the pool's connections.
    rt.block_on(run(&check, 2_000, c));

    let ticks = clk_tck();
    let (me0, srv0) = (cpu_ticks("self"), cpu_ticks(&server_pid.to_string()));
    let start = Instant::now();
    let up = rt.block_on(run(&check, n, c));
    let wall = start.elapsed();
    let (me1, srv1) = (cpu_ticks("self"), cpu_ticks(&server_pid.to_string()));

    let ms = |t: u64| t as f64 * 1000.0 / ticks as f64;
    let per_k = |t: u64| ms(t) / (n as f64 / 1000.0);
    println!("checks: {n}, concurrency: {c}, up: {up}");
    println!(
        "wall: {:.3} s, rate: {:.0} checks/s",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64()
    );
    println!(
        "checker CPU: {:.0} ms total, {:.1} ms per 1,000 checks",
        ms(me1 - me0),
        per_k(me1 - me0)
    );
    println!(
        "server CPU:  {:.0} ms total, {:.1} ms per 1,000 checks",
        ms(srv1 - srv0),
        per_k(srv1 - srv0)
    );
    drop(server.stdin.take());
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(up, n, "every check should be up");
}

/// Runs `n` checks from `c` tasks; returns how many were up.
async fn run(check: &Arc<HttpCheck>, n: usize, c: usize) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let up = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (check, next, up) = (check.clone(), next.clone(), up.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                if check.check().await.status == Status::Up {
                    up.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    up.load(Ordering::Relaxed)
}

fn serve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("PORT {}", l.local_addr().unwrap().port());
        // Exit when the parent closes our stdin.
        std::thread::spawn(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
            std::process::exit(0);
        });
        axum::serve(l, app).await.unwrap();
    });
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" closing the command name: state is field 3, so
    // utime (14) and stime (15) are at indexes 11 and 12.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}
