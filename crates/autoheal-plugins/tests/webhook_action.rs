//! Webhook action against a local axum receiver.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autoheal_core::ActionOutcome;
use autoheal_plugins::{Action, ActionContext, HttpClients, WebhookAction, WebhookActionConfig};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::any;
use axum::Router;
use serde_json::json;

#[derive(Debug, Clone, Default)]
struct Seen {
    method: String,
    headers: Vec<(String, String)>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn receiver(status: StatusCode) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route(
            "/hook/{*rest}",
            any(
                move |State(log): State<Log>, m: Method, h: HeaderMap, body: String| async move {
                    let headers = h
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    log.lock().unwrap().push(Seen {
                        method: m.to_string(),
                        headers,
                        body,
                    });
                    status
                },
            ),
        )
        .route("/never", any(std::future::pending::<&'static str>))
        .with_state(log.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (a, log)
}

fn action(v: serde_json::Value) -> WebhookAction {
    let cfg: WebhookActionConfig = serde_json::from_value(v).unwrap();
    WebhookAction::build(&cfg, &HttpClients::new().unwrap()).unwrap()
}

fn ctx() -> ActionContext {
    ActionContext {
        target: "web \"blue\"".into(),
        incident_id: Some(9),
        state: "failing".into(),
        detail: "body does not contain \"ok\"\nline 2".into(),
        rung: 1,
        attempt: 3,
        action: "deploy-hook".into(),
    }
}

fn header<'a>(s: &'a Seen, k: &str) -> Option<&'a str> {
    s.headers
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_json_body_is_sent_with_escaped_values_and_headers() {
    let (a, log) = receiver(StatusCode::OK).await;
    let w = action(json!({
        "url": format!("http://{a}/hook/T0/secret"),
        "headers": {"Authorization": "Bearer abc"},
        "body": r#"{"text": "{{target}} is {{state}}: {{detail}}", "incident": "{{incident_id}}", "attempt": {{attempt}}, "rung": {{ rung }}, "action": "{{action}}"}"#
    }));
    assert_eq!(w.run(&ctx()).await, ActionOutcome::Succeeded);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(header(&seen, "authorization"), Some("Bearer abc"));
    assert_eq!(header(&seen, "content-type"), Some("application/json"));
    assert!(header(&seen, "user-agent")
        .unwrap()
        .starts_with("autoheal/"));
    let v: serde_json::Value =
        serde_json::from_str(&seen.body).expect("valid JSON after substitution");
    assert_eq!(
        v,
        json!({
            "text": "web \"blue\" is failing: body does not contain \"ok\"\nline 2",
            "incident": "9", "attempt": 3, "rung": 1, "action": "deploy-hook"
        })
    );
}

#[tokio::test]
async fn a_plain_body_is_not_escaped_and_the_method_is_configurable() {
    let (a, log) = receiver(StatusCode::NO_CONTENT).await;
    let w = action(
        json!({"url": format!("http://{a}/hook/x"), "method": "put", "body": "{{target}} {{detail}}"}),
    );
    assert_eq!(w.run(&ctx()).await, ActionOutcome::Succeeded);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "PUT");
    assert_eq!(
        header(&seen, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        seen.body,
        "web \"blue\" body does not contain \"ok\"\nline 2"
    );
}

#[tokio::test]
async fn json_escape_follows_the_content_type_and_can_be_forced() {
    let (a, log) = receiver(StatusCode::OK).await;
    let w = action(json!({
        "url": format!("http://{a}/hook/x"),
        "headers": {"Content-Type": "application/vnd.api+json"},
        "body": "\"{{target}}\""
    }));
    assert_eq!(w.run(&ctx()).await, ActionOutcome::Succeeded);
    let w = action(
        json!({"url": format!("http://{a}/hook/x"), "body": "{\"t\": \"{{target}}\"}", "json_escape": false}),
    );
    assert_eq!(w.run(&ctx()).await, ActionOutcome::Succeeded);
    let log = log.lock().unwrap();
    assert_eq!(log[0].body, r#""web \"blue\"""#);
    assert_eq!(log[1].body, r#"{"t": "web "blue""}"#);
}

#[tokio::test]
async fn a_500_fails_with_the_status() {
    let (a, log) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let w = action(json!({"url": format!("http://{a}/hook/x")}));
    assert_eq!(
        w.run(&ctx()).await,
        ActionOutcome::Failed {
            detail: "HTTP 500".into()
        }
    );
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_fails() {
    let (a, _log) = receiver(StatusCode::FOUND).await;
    let w = action(json!({"url": format!("http://{a}/hook/x")}));
    assert_eq!(
        w.run(&ctx()).await,
        ActionOutcome::Failed {
            detail: "HTTP 302".into()
        }
    );
}

#[tokio::test]
async fn no_answer_within_the_timeout_is_timed_out() {
    let (a, _log) = receiver(StatusCode::OK).await;
    let w = action(json!({"url": format!("http://{a}/never"), "timeout": "200ms"}));
    assert_eq!(w.run(&ctx()).await, ActionOutcome::TimedOut);
}

#[tokio::test]
async fn a_refused_connection_fails_without_leaking_the_url() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    let w = action(json!({"url": format!("http://{a}/hook/SECRET")}));
    let outcome = w.run(&ctx()).await;
    assert_eq!(
        outcome,
        ActionOutcome::Failed {
            detail: "connection refused".into()
        }
    );
}

#[test]
fn config_defaults_and_errors() {
    let c: WebhookActionConfig =
        serde_json::from_value(json!({"url": "https://example.com/h"})).unwrap();
    assert_eq!(c.method, "POST");
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert!(c.headers.is_empty() && c.body.is_none() && c.json_escape.is_none());
    let clients = HttpClients::new().unwrap();
    let err = |v| WebhookAction::build(&serde_json::from_value(v).unwrap(), &clients).unwrap_err();
    assert_eq!(err(json!({"url": "file:///etc/passwd"})).key, "url");
    assert_eq!(
        err(json!({"url": "http://a", "body": "{{env.HOME}}"})).key,
        "body"
    );
    assert_eq!(
        err(json!({"url": "http://a", "headers": {"X": "a\nb"}})).key,
        "headers.X"
    );
    assert_eq!(
        err(json!({"url": "http://a", "timeout": "0s"})).key,
        "timeout"
    );
    assert!(serde_json::from_value::<WebhookActionConfig>(
        json!({"url": "http://a", "template": "x"})
    )
    .is_err());
}
