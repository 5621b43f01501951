//! HTTP check against real local servers (axum on 127.0.0.1, port 0; a
//! tokio-rustls server with an rcgen certificate for TLS expiry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use autoheal_core::Status;
use autoheal_plugins::{Check, HttpCheck, HttpCheckConfig, HttpClients};
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get};
use axum::Router;
use serde_json::json;

async fn serve(router: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    addr
}

fn app() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/sluggish",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                "ok"
            }),
        )
        .route(
            "/notfound",
            get(|| async { (StatusCode::NOT_FOUND, "nope") }),
        )
        .route(
            "/unavailable",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") }),
        )
        .route("/slow", get(std::future::pending::<&'static str>))
        .route(
            "/r/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    "arrived".into_response()
                } else {
                    Redirect::to(&format!("/r/{}", n - 1)).into_response()
                }
            }),
        )
        .route(
            "/to-file",
            get(|| async { (StatusCode::FOUND, [("location", "file:///etc/passwd")]) }),
        )
        .route(
            "/to-metadata",
            get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }),
        )
        .route("/see-other", any(|| async { Redirect::to("/method") }))
        .route("/method", any(|m: Method| async move { m.to_string() }))
        .route(
            "/echo-headers",
            get(|h: HeaderMap| async move {
                format!(
                    "ua={} auth={} x-token={}",
                    header_or_none(&h, "user-agent"),
                    header_or_none(&h, "authorization"),
                    header_or_none(&h, "x-token")
                )
            }),
        )
        .route(
            "/json/ok",
            get(|| async { axum::Json(json!({"status": "ok", "db": {"up": true}})) }),
        )
        .route(
            "/json/down",
            get(|| async { axum::Json(json!({"status": "down"})) }),
        )
        .route(
            "/big",
            get(|| async {
                let mut s = "x".repeat(100 * 1024);
                s.push_str("NEEDLE");
                s
            }),
        )
        .route("/version", get(|| async { "build 1.42.7 ready" }))
}

fn cfg(v: serde_json::Value) -> HttpCheckConfig {
    serde_json::from_value(v).unwrap()
}

async fn probe(v: serde_json::Value) -> autoheal_core::Observation {
    let clients = HttpClients::new().unwrap();
    let check = HttpCheck::build(&cfg(v), &clients).unwrap();
    check.check().await
}

#[tokio::test]
async fn a_200_is_up_with_latency() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/ok")})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.detail, "HTTP 200");
    assert!(o.latency.is_some_and(|l| l > Duration::ZERO));
}

#[tokio::test]
async fn a_404_is_degraded() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/notfound")})).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(o.detail, "HTTP 404");
}

#[tokio::test]
async fn a_503_is_down() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/unavailable")})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.detail, "HTTP 503");
}

#[tokio::test]
async fn expect_status_replaces_the_default_classes() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/notfound"), "expect_status": [404]})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(
        json!({"url": format!("http://{a}/unavailable"), "expect_status": ["2xx", "300-302"]}),
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.detail, "HTTP 503 (expected 2xx, 300-302)");
    let o = probe(json!({"url": format!("http://{a}/ok"), "expect_status": ["204"]})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/slow"), "timeout": "200ms"})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.detail, "timeout after 200ms");
    assert!(o.latency.unwrap() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    let o = probe(json!({"url": format!("http://{a}/")})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.detail, "connection refused");
}

#[tokio::test]
async fn redirects_are_followed_up_to_five_hops() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/r/5"), "body_contains": "arrived"})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(json!({"url": format!("http://{a}/r/6")})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.detail, "more than 5 redirects");
}

#[tokio::test]
async fn without_follow_redirects_the_3xx_is_the_answer() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/r/3"), "follow_redirects": false})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.detail, "HTTP 303");
    let o = probe(json!({"url": format!("http://{a}/r/3"), "follow_redirects": false, "expect_status": [200]}))
        .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
}

#[tokio::test]
async fn a_redirect_to_a_file_url_is_refused() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/to-file")})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert!(o.detail.starts_with("redirect refused"), "{}", o.detail);
}

#[tokio::test]
async fn a_redirect_to_the_metadata_address_is_refused() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/to-metadata"), "timeout": "2s"})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(
        o.detail,
        "redirect refused: 169.254.169.254 is a link-local (cloud metadata) address, always refused"
    );
}

#[tokio::test]
async fn a_303_turns_a_post_into_a_get() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/see-other"), "method": "POST", "body": "x", "body_contains": "GET"}))
        .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

#[tokio::test]
async fn method_user_agent_and_headers_are_sent() {
    let a = serve(app()).await;
    let o = probe(
        json!({"url": format!("http://{a}/method"), "method": "put", "body_contains": "PUT"}),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(json!({"url": format!("http://{a}/method"), "method": "HEAD"})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(json!({
        "url": format!("http://{a}/echo-headers"),
        "headers": {"X-Token": "t0k"},
        "body_regex": r"^ua=autoheal/\d+\.\d+\.\d+ auth=none x-token=t0k$"
    }))
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

#[tokio::test]
async fn credentials_are_dropped_when_a_redirect_leaves_the_origin() {
    let a = serve(app()).await;
    let b = serve(Router::new().route(
        "/go",
        get(move || async move { Redirect::to(&format!("http://{a}/echo-headers")) }),
    ))
    .await;
    let o = probe(json!({
        "url": format!("http://{b}/go"),
        "headers": {"Authorization": "Bearer s3cret"},
        "body_contains": "auth=none"
    }))
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    // Same origin keeps them.
    let o = probe(json!({
        "url": format!("http://{a}/echo-headers"),
        "headers": {"Authorization": "Bearer s3cret"},
        "body_contains": "auth=Bearer s3cret"
    }))
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

/// Issue 7 item 10: an `X-Api-Key` followed a redirect from 127.0.0.1 to
/// localhost. Every configured header stays behind when a hop changes the
/// origin (here only the host: same port), and all of them follow a
/// same-origin hop (the control).
#[tokio::test]
async fn every_configured_header_stays_behind_on_a_cross_origin_redirect() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let echo = |h: HeaderMap| async move {
        format!(
            "key={} custom={} cookie={}",
            header_or_none(&h, "x-api-key"),
            header_or_none(&h, "x-custom"),
            header_or_none(&h, "cookie")
        )
    };
    let router = Router::new()
        .route("/echo", get(echo))
        .route("/same", get(|| async { Redirect::to("/echo") }))
        .route(
            "/other",
            get(move || async move { Redirect::to(&format!("http://localhost:{port}/echo")) }),
        );
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    let headers = json!({"X-Api-Key": "k3y-s3cret", "X-Custom": "c1", "Cookie": "sid=s3cret"});
    // Control: a same-origin hop keeps every header.
    let o = probe(json!({
        "url": format!("http://127.0.0.1:{port}/same"),
        "headers": headers,
        "body_regex": "^key=k3y-s3cret custom=c1 cookie=sid=s3cret$"
    }))
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    // 127.0.0.1 -> localhost is another origin: nothing configured follows.
    let o = probe(json!({
        "url": format!("http://127.0.0.1:{port}/other"),
        "headers": headers,
        "body_regex": "^key=none custom=none cookie=none$"
    }))
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

#[tokio::test]
async fn body_keyword_mismatch_is_down() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/ok"), "body_contains": "ok"})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(json!({"url": format!("http://{a}/version"), "body_contains": "ok"})).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.detail, "body does not contain \"ok\"");
}

#[tokio::test]
async fn body_regex_mismatch_is_down() {
    let a = serve(app()).await;
    let o = probe(
        json!({"url": format!("http://{a}/version"), "body_regex": r"build 1\.\d+\.\d+ ready"}),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o =
        probe(json!({"url": format!("http://{a}/version"), "body_regex": r"build 2\.\d+"})).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.detail, r"body does not match /build 2\.\d+/");
}

#[tokio::test]
async fn only_the_first_64_kib_of_the_body_are_read() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/big"), "body_contains": "xxxx"})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(json!({"url": format!("http://{a}/big"), "body_contains": "NEEDLE"})).await;
    assert_eq!(
        o.status,
        Status::Down,
        "the keyword sits past 64 KiB: {o:?}"
    );
}

#[tokio::test]
async fn json_pointer_conditions() {
    let a = serve(app()).await;
    let o = probe(json!({"url": format!("http://{a}/json/ok"), "json_pointer": {"pointer": "/status", "equals": "ok"}}))
        .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(json!({"url": format!("http://{a}/json/ok"), "json_pointer": {"pointer": "/db/up", "equals": true}}))
        .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = probe(json!({"url": format!("http://{a}/json/down"), "json_pointer": {"pointer": "/status", "equals": "ok"}}))
        .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.detail, "JSON /status is \"down\", expected \"ok\"");
    let o = probe(json!({"url": format!("http://{a}/ok"), "json_pointer": {"pointer": "/status"}}))
        .await;
    assert_eq!(
        (o.status, o.detail.as_str()),
        (Status::Down, "body is not JSON")
    );
}

#[tokio::test]
async fn slower_than_max_latency_is_degraded() {
    let a = serve(app()).await;
    // 1 ms is the smallest max_latency accepted; /sluggish takes 20 ms.
    let o = probe(json!({"url": format!("http://{a}/sluggish"), "max_latency": "1ms"})).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert!(o.detail.starts_with("HTTP 200; slow: "), "{}", o.detail);
    let o = probe(json!({"url": format!("http://{a}/ok"), "max_latency": "1m"})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

#[tokio::test]
async fn one_check_reuses_its_connection() {
    // Count accepted connections behind a proxy listener.
    let backend = serve(app()).await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = l.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acc = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            acc.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut b = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut s, &mut b).await;
            });
        }
    });
    let clients = HttpClients::new().unwrap();
    let check =
        HttpCheck::build(&cfg(json!({"url": format!("http://{front}/ok")})), &clients).unwrap();
    let other = HttpCheck::build(
        &cfg(json!({"url": format!("http://{front}/version")})),
        &clients,
    )
    .unwrap();
    for _ in 0..20 {
        assert_eq!(check.check().await.status, Status::Up);
        assert_eq!(other.check().await.status, Status::Up);
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "40 probes, one connection"
    );
}

#[test]
fn defaults_are_as_documented() {
    let c = cfg(json!({"url": "http://example.com"}));
    assert_eq!(c.method, "GET");
    assert_eq!(c.interval, Duration::from_secs(10));
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.tls_expiry_warning, Duration::from_secs(14 * 86400));
    assert!(c.follow_redirects);
    assert!(!c.insecure_skip_verify);
    assert!(c.expect_status.is_empty() && c.max_latency.is_none() && c.body.is_none());
    // Round-trips through serde.
    let back: HttpCheckConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn bad_configs_name_the_key() {
    let clients = HttpClients::new().unwrap();
    let err = |v: serde_json::Value| HttpCheck::build(&cfg(v), &clients).unwrap_err();
    assert_eq!(err(json!({"url": "file:///etc/passwd"})).key, "url");
    assert_eq!(err(json!({"url": "ftp://example.com"})).key, "url");
    assert_eq!(
        err(json!({"url": "http://a", "method": "GE T"})).key,
        "method"
    );
    assert_eq!(
        err(json!({"url": "http://a", "body_regex": "(unclosed"})).key,
        "body_regex"
    );
    assert_eq!(
        err(json!({"url": "http://a", "body_regex": "\\w{1000}{1000}"})).key,
        "body_regex"
    );
    assert_eq!(
        err(json!({"url": "http://a", "expect_status": ["200", "2x"]})).key,
        "expect_status[1]"
    );
    assert_eq!(
        err(json!({"url": "http://a", "headers": {"Bad Name": "x"}})).key,
        "headers.Bad Name"
    );
    assert_eq!(
        err(json!({"url": "http://a", "json_pointer": {"pointer": "status"}})).key,
        "json_pointer.pointer"
    );
    assert_eq!(
        err(json!({"url": "http://a", "timeout": "0s"})).key,
        "timeout"
    );
    assert!(
        serde_json::from_value::<HttpCheckConfig>(json!({"url": "http://a", "type": "http"}))
            .is_err()
    );
    assert!(
        serde_json::from_value::<HttpCheckConfig>(json!({"url": "http://a", "timeout": 5}))
            .is_err()
    );
}

#[test]
fn debug_output_hides_secrets() {
    let c = cfg(
        json!({"url": "https://u:SECRET@example.com/p?token=SECRET", "headers": {"Authorization": "SECRET"}}),
    );
    let s = format!("{c:?}");
    assert!(!s.contains("SECRET"), "{s}");
    let check = HttpCheck::build(&c, &HttpClients::new().unwrap()).unwrap();
    assert!(!format!("{check:?}").contains("SECRET"));
    assert_eq!(check.redacted_url(), "https://example.com");
}

// ---- TLS: a self-signed certificate with a chosen notAfter ----

/// Serves `HTTP/1.1 200 ok` over TLS with a certificate for 127.0.0.1 that
/// expires `valid_for` from now.
async fn serve_tls(valid_for: time::Duration) -> SocketAddr {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + valid_for;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_certificate_expiring_within_the_warning_is_degraded() {
    let a = serve_tls(time::Duration::days(3) + time::Duration::hours(1)).await;
    let o = probe(json!({"url": format!("https://{a}/"), "insecure_skip_verify": true})).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(o.detail, "HTTP 200; TLS certificate expires in 3 days");
    let o = probe(json!({"url": format!("https://{a}/"), "insecure_skip_verify": true, "tls_expiry_warning": "0s"}))
        .await;
    assert_eq!(o.status, Status::Up, "0s turns the warning off: {o:?}");
    let o = probe(json!({"url": format!("https://{a}/"), "insecure_skip_verify": true, "tls_expiry_warning": "2days"}))
        .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

#[tokio::test]
async fn a_certificate_far_from_expiry_is_up() {
    let a = serve_tls(time::Duration::days(90)).await;
    let o = probe(json!({"url": format!("https://{a}/"), "insecure_skip_verify": true})).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_down_unless_verification_is_skipped() {
    let a = serve_tls(time::Duration::days(90)).await;
    let o = probe(json!({"url": format!("https://{a}/")})).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(
        o.detail,
        "connect error: invalid peer certificate: UnknownIssuer"
    );
    assert!(
        !o.detail.contains("https://"),
        "no URL in details: {}",
        o.detail
    );
}

/// The value of header `k` as the echo routes answer it, or "none".
fn header_or_none(h: &HeaderMap, k: &str) -> String {
    h.get(k)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string()
}
