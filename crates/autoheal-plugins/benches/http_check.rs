//! HTTP checks per second against a local axum server (same process), with
//! 64 checks in flight. One iteration runs a batch of 1,024 checks; divan
//! reports the time per batch and the item throughput.
//!
//! `cargo bench -p autoheal-plugins --bench http_check`
//!
//! The server shares the process and the cores, so this is a relative
//! figure for regressions; `examples/http_load.rs` measures the checker's
//! CPU alone with the server in another process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use autoheal_core::Status;
use autoheal_plugins::{Check, HttpCheck, HttpCheckConfig, HttpClients};
use divan::counter::ItemsCount;
use divan::Bencher;

const BATCH: usize = 1024;
const CONCURRENCY: usize = 64;

fn main() {
    divan::main();
}

fn setup(rt: &tokio::runtime::Runtime, body_checks: bool) -> Arc<HttpCheck> {
    let addr = rt.block_on(async {
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(|| async { r#"{"status":"ok"}"# }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        addr
    });
    let mut v = serde_json::json!({"url": format!("http://{addr}/health")});
    if body_checks {
        v["body_contains"] = "ok".into();
        v["json_pointer"] = serde_json::json!({"pointer": "/status", "equals": "ok"});
    }
    let cfg: HttpCheckConfig = serde_json::from_value(v).unwrap();
    let _guard = rt.enter();
    Arc::new(HttpCheck::build(&cfg, &HttpClients::new().unwrap()).unwrap())
}

async fn batch(check: &Arc<HttpCheck>) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(CONCURRENCY);
    for _ in 0..CONCURRENCY {
        let (check, next) = (check.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < BATCH {
                assert_eq!(check.check().await.status, Status::Up);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[divan::bench(args = [false, true], sample_count = 20)]
fn checks_64_in_flight(bencher: Bencher, body_checks: bool) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let check = setup(&rt, body_checks);
    rt.block_on(batch(&check)); // warm the pool
    bencher
        .counter(ItemsCount::new(BATCH))
        .bench(|| rt.block_on(batch(&check)));
}
