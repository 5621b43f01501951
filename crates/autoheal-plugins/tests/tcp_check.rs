//! TCP check against real local sockets.

use std::time::Duration;

use autoheal_core::Status;
use autoheal_plugins::{Check, Scheduled, TcpCheck, TcpCheckConfig};
use serde_json::json;

fn check(v: serde_json::Value) -> TcpCheck {
    TcpCheck::build(&serde_json::from_value(v).unwrap()).unwrap()
}

#[tokio::test]
async fn a_listening_port_is_up() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let o = check(json!({"address": a.to_string()})).check().await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.detail, "connected");
    assert!(o.latency.is_some());
}

#[tokio::test]
async fn a_closed_port_is_down_with_connection_refused() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    let o = check(json!({"address": a.to_string()})).check().await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.detail, "connection refused");
}

#[tokio::test]
async fn an_unanswered_connect_times_out() {
    // 192.0.2.0/24 (TEST-NET-1) is never routed: SYNs go nowhere. Where the
    // sandbox answers with "unreachable" instead, the check is Down too.
    let o = check(json!({"address": "192.0.2.1:9", "timeout": "200ms"}))
        .check()
        .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert!(o.latency.unwrap() <= Duration::from_secs(2), "{o:?}");
}

#[tokio::test]
async fn an_unknown_host_is_down() {
    let o = check(json!({"address": "no-such-host.invalid:80", "timeout": "2s"}))
        .check()
        .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert!(!o.detail.is_empty());
}

#[tokio::test]
async fn the_metadata_address_is_refused() {
    // Refused when the check is built (so `autoheal check` says so), as for
    // HTTP checks.
    let cfg: TcpCheckConfig =
        serde_json::from_value(json!({"address": "169.254.169.254:80", "timeout": "2s"})).unwrap();
    let err = TcpCheck::build(&cfg).unwrap_err();
    assert_eq!(err.key, "address");
    assert_eq!(
        err.why,
        "169.254.169.254 is a link-local (cloud metadata) address, always refused"
    );
}

#[test]
fn config_defaults_and_errors() {
    let c: TcpCheckConfig = serde_json::from_value(json!({"address": "db:5432"})).unwrap();
    assert_eq!(
        (c.interval(), c.timeout()),
        (Duration::from_secs(10), Duration::from_secs(5))
    );
    let err = |v| TcpCheck::build(&serde_json::from_value(v).unwrap()).unwrap_err();
    assert_eq!(err(json!({"address": "db"})).key, "address");
    assert_eq!(err(json!({"address": "db:0"})).key, "address");
    assert_eq!(
        err(json!({"address": "db:1", "interval": "0s"})).key,
        "interval"
    );
    assert!(
        serde_json::from_value::<TcpCheckConfig>(json!({"address": "db:1", "port": 1})).is_err()
    );
}
