//! The live stream (`GET /api/v1/stream`): audit events in order with ids,
//! phase changes, resuming with `Last-Event-ID`, and the end of the stream
//! when its credential ends.

mod common;

use autoheal::app::Application;
use common::eventually;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Sse {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buf: String,
}

/// One parsed message: (event, id, data).
type Msg = (String, Option<String>, String);

impl Sse {
    async fn open(base: &str, token: &str, last_event_id: Option<&str>) -> Sse {
        let mut req = reqwest::Client::new()
            .get(format!("{base}/api/v1/stream"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Sse {
            body: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next message (comments skipped); `None` when the stream closed.
    async fn next(&mut self) -> Option<Msg> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no message within 30 s (keep-alives only)"
            );
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && id.is_none() && event == "message" {
                    continue; // a keep-alive comment
                }
                return Some((event, id, data));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("the stream said something within 20 s")?
                .ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next message of kind `event` whose data contains `needle`.
    async fn until(&mut self, event: &str, needle: &str) -> Msg {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no {event} with {needle} within 30 s"
            );
            let m = self
                .next()
                .await
                .unwrap_or_else(|| panic!("the stream closed before a {event} with {needle}"));
            if m.0 == event && m.2.contains(needle) {
                return m;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_sends_events_and_phase_changes_resumes_and_ends_with_its_credential() {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "AUTOHEAL_DATA_DIR".to_string(),
            dir.path().display().to_string(),
        ),
    ]);
    let config = "[docker]\nenabled = false\n[targets.db]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }\n";
    let cfg = autoheal_config::parse_str(config, "t.toml", &env).unwrap();
    let app = Application::build(&cfg).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let local = app.local_token().to_string();
    let auth = app.auth();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&local)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    eventually(Duration::from_secs(10), "db installed", || async {
        let r = client
            .get(format!("{base}/api/v1/targets/db"))
            .bearer_auth(&local)
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    // An operator key of its own, to revoke later.
    let made: serde_json::Value = post(
        "/api/v1/keys",
        serde_json::json!({"name": "stream", "role": "operator"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = made["key"].as_str().unwrap().to_string();
    let key_id = made["id"].as_i64().unwrap();

    let mut sse = Sse::open(&base, &key, None).await;
    let r = post("/api/v1/targets/db/pause", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // The phase change (decided) and the audit event (committed) come in
    // either order.
    let (mut audit, mut change) = (None, None);
    while audit.is_none() || change.is_none() {
        let m = sse.next().await.expect("the stream stays open");
        match m.0.as_str() {
            "audit" if m.2.contains("operator_command") => audit = Some(m),
            "target" if m.2.contains("paused") => change = Some(m),
            _ => {}
        }
    }
    let (_, id, data) = audit.unwrap();
    let first_id = id.expect("audit events carry their id");
    let e: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        (e["target"].as_str(), e["actor"].as_str()),
        (Some("db"), Some("local"))
    );
    let c: serde_json::Value = serde_json::from_str(&change.unwrap().2).unwrap();
    assert_eq!(
        (c["target"].as_str(), c["to"].as_str()),
        (Some("db"), Some("paused"))
    );
    // Events while no one listens are not lost: a reconnect with
    // Last-Event-ID gets them, in order.
    drop(sse);
    post("/api/v1/targets/db/resume", serde_json::json!({}))
        .await
        .unwrap();
    post("/api/v1/invites", serde_json::json!({"role": "viewer"}))
        .await
        .unwrap();
    let mut again = Sse::open(&base, &key, Some(&first_id)).await;
    let (_, id2, d2) = again.next().await.unwrap();
    assert!(
        id2.as_deref().unwrap().parse::<i64>().unwrap() > first_id.parse::<i64>().unwrap(),
        "only events after Last-Event-ID"
    );
    assert!(
        d2.contains("operator_command") && d2.contains("resume"),
        "{d2}"
    );
    again.until("audit", "invite_created").await;
    // Revoking the key ends its stream at once.
    let r = client
        .delete(format!("{base}/api/v1/keys/{key_id}"))
        .bearer_auth(&local)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (event, _, _) = again.until("end", "credential").await;
    assert_eq!(event, "end");
    assert!(again.next().await.is_none(), "the stream closed");
    let _ = auth;
    stop.cancel();
}
