//! Notifications through the outbox (issue 12 item 1), through the binary:
//! what autoheal does is told to the channels, once each, with a stable
//! event id; a receiver that fails is tried again with the same id; one
//! that refuses is dead-lettered, visible and retryable through the API;
//! nothing is lost across a kill -9.

mod common;

use common::{eventually, free_port, write, Autoheal};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    event_id: String,
    body: Value,
}

/// A Slack-like receiver: answers from `script` (status, body) in turn,
/// then `ok` with 200; keeps every request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// Per path.
    script: Arc<Mutex<Script>>,
}

/// The answers still to give, per path: status and body.
type Script = std::collections::HashMap<String, VecDeque<(u16, &'static str)>>;

impl Receiver {
    async fn start(&self) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let this = self.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let this = this.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = vec![0u8; 16 * 1024];
                    let (head, body) = loop {
                        let Ok(n) = conn.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&seen[..end]).to_string();
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    l.to_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().to_string())
                                })
                                .and_then(|v| v.parse::<usize>().ok())
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + len {
                                break (head, seen[end + 4..end + 4 + len].to_vec());
                            }
                        }
                    };
                    let path = head
                        .lines()
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or_default()
                        .to_string();
                    let event_id = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("x-autoheal-event-id")
                                .then(|| v.trim().to_string())
                        })
                        .unwrap_or_default();
                    this.got.lock().unwrap().push(Got {
                        path: path.clone(),
                        event_id,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let (status, text) = this
                        .script
                        .lock()
                        .unwrap()
                        .get_mut(&path)
                        .and_then(|q| q.pop_front())
                        .unwrap_or((200, "ok"));
                    if status == 0 {
                        // Never answers: the try is under way until the
                        // sender gives up (or is killed).
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        port
    }

    /// The next answer on `path` is `status` with `text`.
    fn answer(&self, path: &str, status: u16, text: &'static str) {
        self.script
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .push_back((status, text));
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// The texts of what was received on `path`.
    fn texts(&self, path: &str) -> Vec<String> {
        self.got()
            .iter()
            .filter(|g| g.path == path)
            .map(|g| g.body["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn config(dir: &std::path::Path, port: u16, closed: u16) -> std::path::PathBuf {
    write(
        &dir.join("autoheal.toml"),
        &format!(
            r#"
[docker]
enabled = false

[server]
public_url = "https://autoheal.example.com"

[actions.fix]
type = "command"
argv = ["true"]

[targets.web]
check = {{ type = "tcp", address = "127.0.0.1:{closed}", interval = "200ms", timeout = "1s" }}
ladder = [{{ action = "fix", verify = "1h" }}]

[channels.ops]
type = "slack"
url = "http://127.0.0.1:{port}/ops"

[channels.pager]
type = "slack"
url = "http://127.0.0.1:{port}/pager"

[routes.everything]
channels = ["ops"]

[routes.heals]
channels = ["pager"]
events = ["heal_started"]
"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn what_autoheal_does_is_told_once_each_retried_with_its_id_and_dead_letters_are_kept() {
    let rx = Receiver::default();
    // ops: the first try fails (500), so it is tried again.
    rx.answer("/ops", 500, "oops");
    let port = rx.start().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let app = Autoheal::start(&config(dir.path(), port, closed), &dir.path().join("data")).await;

    // The incident and the heal are told to ops; pager only hears of the heal.
    eventually(
        LONG,
        "ops to hear of the incident and the heal, the failed one twice",
        || async {
            let texts = rx.texts("/ops");
            let ops: Vec<Got> = rx.got().into_iter().filter(|g| g.path == "/ops").collect();
            let twice = ops
                .iter()
                .any(|g| ops.iter().filter(|h| h.event_id == g.event_id).count() == 2);
            (texts.iter().any(|t| t.contains("web is failing"))
                && texts.iter().any(|t| t.contains("healing with fix"))
                && twice)
                .then_some(())
        },
    )
    .await;
    // With server.public_url, the incident's page is linked.
    assert!(
        rx.got().iter().any(|g| g
            .body
            .to_string()
            .contains("https://autoheal.example.com/incidents/")),
        "{:?}",
        rx.got()
    );
    let pager = rx.texts("/pager");
    assert!(
        !pager.is_empty() && pager.iter().all(|t| t.contains("healing with fix")),
        "{pager:?}"
    );

    // Every message carries an event id; the one that failed came again
    // with the same id; the others came once.
    let ops: Vec<Got> = rx.got().into_iter().filter(|g| g.path == "/ops").collect();
    assert!(ops.iter().all(|g| !g.event_id.is_empty()), "{ops:?}");
    // One notification has one id on every channel it goes to.
    let heal = |path: &str| {
        rx.got()
            .into_iter()
            .find(|g| {
                g.path == path
                    && g.body["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("healing with fix")
            })
            .map(|g| g.event_id)
    };
    assert_eq!(heal("/ops"), heal("/pager"));
    let mut ids: Vec<&str> = ops.iter().map(|g| g.event_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() + 1, ops.len(), "nothing else twice: {ops:?}");

    // The outbox says so: the retried delivery was sent on its 2nd try.
    eventually(LONG, "the retried delivery recorded as sent", || async {
        let (status, _, page) = app
            .send(
                Method::GET,
                "/api/v1/deliveries?channel=ops&state=sent",
                None,
                &[],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"]
            .as_array()?
            .iter()
            .any(|d| d["tries"] == 2)
            .then_some(())
    })
    .await;

    // The channels, secrets hidden.
    let (_, _, channels) = app.send(Method::GET, "/api/v1/channels", None, &[]).await;
    assert_eq!(channels["items"][0]["name"], "ops", "{channels}");
    assert_eq!(channels["items"][0]["kind"], "slack");
    assert!(
        !channels.to_string().contains("/ops"),
        "no webhook path: {channels}"
    );

    // The CLI says the same, and its test send reaches the receiver.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_autoheal"))
            .args(args)
            .args(["--url", &app.base, "--token", &app.token])
            .output()
            .unwrap()
    };
    let out = cli(&["notify", "channels"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ops") && text.contains("slack") && text.contains("in force"),
        "{text}"
    );
    let before = rx.texts("/pager").len();
    let out = cli(&["notify", "test", "pager"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rx.texts("/pager").len(), before + 1);
    assert!(rx
        .texts("/pager")
        .last()
        .unwrap()
        .contains("autoheal test notification"));

    // A refusal is a dead letter; put back, it is delivered.
    rx.answer("/ops", 400, "invalid_payload");
    let (status, _, tested) = app
        .send(
            Method::POST,
            "/api/v1/channels/ops/test",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["delivered"], false, "{tested}");
    assert_eq!(tested["outcome"], "rejected", "{tested}");
    // The next one through the outbox is refused too: dead-lettered.
    rx.answer("/ops", 400, "invalid_payload");
    let (status, _, _) = app
        .send(
            Method::POST,
            "/api/v1/targets/web/release",
            Some(json!({})),
            &[],
        )
        .await;
    assert!(status == 202 || status == 409, "{status}");
    let (status, _, _) = app
        .send(
            Method::POST,
            "/api/v1/targets/web/quarantine",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, 202);
    let dead = eventually(LONG, "a dead letter", || async {
        let (_, _, page) = app
            .send(Method::GET, "/api/v1/deliveries?state=dead", None, &[])
            .await;
        page["items"].as_array()?.first().cloned()
    })
    .await;
    let id = dead["id"].as_i64().unwrap();
    let (_, _, detail) = app
        .send(Method::GET, &format!("/api/v1/deliveries/{id}"), None, &[])
        .await;
    assert_eq!(detail["tries"][0]["outcome"], "rejected", "{detail}");
    assert!(
        detail["tries"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("invalid_payload"),
        "{detail}"
    );
    let before = rx.got().len();
    let out = cli(&["notify", "dead"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&id.to_string()) && text.contains("invalid_payload"),
        "{text}"
    );
    let out = cli(&["notify", "retry", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(LONG, "the dead letter delivered", || async {
        let (_, _, d) = app
            .send(Method::GET, &format!("/api/v1/deliveries/{id}"), None, &[])
            .await;
        (d["delivery"]["state"] == "sent").then_some(())
    })
    .await;
    assert!(rx.got().len() > before);
    // Each step is in the audit log.
    let (_, _, events) = app
        .send(
            Method::GET,
            "/api/v1/events?kind=delivery_retried",
            None,
            &[],
        )
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
    let (_, _, events) = app
        .send(Method::GET, "/api/v1/events?kind=channel_tested", None, &[])
        .await;
    assert_eq!(
        events["items"][0]["data"]["outcome"], "rejected",
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_not_yet_delivered_survives_a_kill_9() {
    let rx = Receiver::default();
    // Down for a while: every try fails until the script runs out.
    for _ in 0..3 {
        rx.answer("/ops", 503, "down");
    }
    let port = rx.start().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let cfg = config(dir.path(), port, closed);
    let data = dir.path().join("data");
    let mut app = Autoheal::start(&cfg, &data).await;
    // A try failed and is recorded (no lease held): the delivery waits.
    eventually(LONG, "a failed try recorded", || async {
        let (_, _, page) = app
            .send(
                Method::GET,
                "/api/v1/deliveries?channel=ops&state=pending",
                None,
                &[],
            )
            .await;
        page["items"]
            .as_array()?
            .iter()
            .any(|d| d["tries"].as_i64() >= Some(1) && d["leased_by"].is_null())
            .then_some(())
    })
    .await;
    let first = rx
        .got()
        .into_iter()
        .find(|g| g.path == "/ops")
        .unwrap()
        .event_id;
    app.kill9();
    // Back up; the notification is delivered after the restart, with its id.
    rx.script.lock().unwrap().clear();
    let app = Autoheal::start(&cfg, &data).await;
    eventually(
        LONG,
        "the notification delivered after the restart",
        || async {
            let got = rx.got();
            let n = got.iter().filter(|g| g.event_id == first).count();
            (n >= 2).then_some(())
        },
    )
    .await;
    eventually(LONG, "it is recorded as sent", || async {
        let (_, _, page) = app
            .send(
                Method::GET,
                "/api/v1/deliveries?state=sent&limit=500",
                None,
                &[],
            )
            .await;
        (!page["items"].as_array()?.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_failing_together_are_told_in_one_message() {
    let rx = Receiver::default();
    let port = rx.start().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let mut text = format!(
        "[docker]\nenabled = false\n[channels.ops]\ntype = \"slack\"\nurl = \"http://127.0.0.1:{port}/ops\"\n[routes.opened]\nchannels = [\"ops\"]\nevents = [\"incident_opened\"]\n"
    );
    for name in ["a", "b", "c", "d", "e"] {
        text.push_str(&format!(
            "[targets.{name}]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:{closed}\", interval = \"200ms\", timeout = \"1s\" }}\n"
        ));
    }
    let app = Autoheal::start(
        &write(&dir.path().join("autoheal.toml"), &text),
        &dir.path().join("data"),
    )
    .await;
    // All five open their incidents within a second or so.
    eventually(LONG, "five incidents", || async {
        let (_, _, v) = app.send(Method::GET, "/api/v1/incidents", None, &[]).await;
        (v["items"].as_array()?.len() == 5).then_some(())
    })
    .await;
    let got = eventually(LONG, "the message naming all five", || async {
        let texts = rx.texts("/ops");
        texts
            .iter()
            .find(|t| t.starts_with("5 targets are failing: "))
            .cloned()
    })
    .await;
    for name in ["a", "b", "c", "d", "e"] {
        assert!(got.contains(&format!("Incident opened on {name}")), "{got}");
    }
    // One message, not five.
    assert_eq!(rx.texts("/ops").len(), 1, "{:?}", rx.texts("/ops"));
}

/// Issue 12 item 3 and 6: channels and routes made through the API belong
/// to the workspace that made them: its notifications go there and nowhere
/// else, their secrets are sealed and never answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_workspaces_channels_made_through_the_api_get_its_notifications_only() {
    let rx = Receiver::default();
    let port = rx.start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let closed = free_port();
    let cfg = write(
        &dir.path().join("autoheal.toml"),
        &format!(
            "[docker]\nenabled = false\n[channels.ours]\ntype = \"slack\"\nurl = \"http://127.0.0.1:{port}/ours\"\n"
        ),
    );
    common::cli(&["workspace", "add", "team"], &data, "");
    common::cli(
        &[
            "user",
            "add",
            "bob",
            "--role",
            "owner",
            "--workspace",
            "team",
        ],
        &data,
        "correct horse battery\n",
    );
    let app = Autoheal::start(&cfg, &data).await;
    let team = app.sign_in_key("bob", "correct horse battery").await;
    let send = |method: Method, path: &'static str, body: Value| {
        let (app, team) = (&app, team.clone());
        async move { app.send_as(&team, method, path, Some(body), &[]).await }
    };
    let (status, _, v) = send(
        Method::POST,
        "/api/v1/channels",
        json!({"name": "theirs", "type": "slack", "url": format!("http://127.0.0.1:{port}/theirs/SECRET-PATH")}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert!(
        !v.to_string().contains("SECRET-PATH"),
        "sealed, never answered: {v}"
    );
    // A route naming a channel that does not exist is the file's error.
    let (status, _, v) = send(
        Method::POST,
        "/api/v1/routes",
        json!({"name": "page", "channels": ["nosuch"]}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["pointer"], "/channels/0", "{v}");
    let (status, _, v) = send(
        Method::POST,
        "/api/v1/routes",
        json!({"name": "page", "channels": ["theirs"], "events": ["incident_opened"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, _, v) = send(
        Method::POST,
        "/api/v1/targets",
        json!({"name": "web", "check": {"type": "tcp", "address": format!("127.0.0.1:{closed}"), "interval": "200ms", "timeout": "1s"}}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    eventually(
        LONG,
        "the team's channel to hear of its incident",
        || async {
            rx.texts("/theirs/SECRET-PATH")
                .iter()
                .find(|t| t.contains("web is failing"))
                .cloned()
        },
    )
    .await;
    // Its channels are its own: listed for it, not for the default.
    let (_, _, mine) = app
        .send_as(&team, Method::GET, "/api/v1/channels", None, &[])
        .await;
    let names: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["theirs"], "{mine}");
    let (_, _, ours) = app.send(Method::GET, "/api/v1/channels", None, &[]).await;
    assert!(!ours.to_string().contains("theirs"), "{ours}");
    assert!(
        rx.texts("/ours").is_empty(),
        "the default workspace's channel hears nothing of the team: {:?}",
        rx.texts("/ours")
    );
}

/// Issue 12 item 7: autoheal killed (-9) while a try is under way: after
/// the restart the delivery is taken over once its lease runs out (twice
/// the channel's timeout) and delivered, with the same event id; the lost
/// try is recorded as `expired`.
#[tokio::test(flavor = "multi_thread")]
async fn a_try_cut_by_kill_9_is_taken_over_after_its_lease_and_delivered() {
    let rx = Receiver::default();
    rx.answer("/ops", 0, "");
    let port = rx.start().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let cfg = write(
        &dir.path().join("autoheal.toml"),
        &format!(
            "[docker]\nenabled = false\n[notify]\ngroup_window = \"0s\"\n[channels.ops]\ntype = \"slack\"\nurl = \"http://127.0.0.1:{port}/ops\"\ntimeout = \"2s\"\n[routes.opened]\nchannels = [\"ops\"]\nevents = [\"incident_opened\"]\n[targets.web]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:{closed}\", interval = \"200ms\", timeout = \"1s\" }}\n"
        ),
    );
    let data = dir.path().join("data");
    let mut app = Autoheal::start(&cfg, &data).await;
    // The receiver holds the first try open: autoheal is mid-try.
    let first = eventually(LONG, "a try under way", || async {
        rx.got()
            .into_iter()
            .find(|g| g.path == "/ops")
            .map(|g| g.event_id)
    })
    .await;
    app.kill9();
    let app = Autoheal::start(&cfg, &data).await;
    eventually(
        LONG,
        "the same notification delivered after the restart",
        || async {
            let n = rx.got().iter().filter(|g| g.event_id == first).count();
            (n >= 2).then_some(())
        },
    )
    .await;
    let d = eventually(LONG, "its delivery recorded as sent", || async {
        let (_, _, page) = app
            .send(
                Method::GET,
                "/api/v1/deliveries?channel=ops&state=sent",
                None,
                &[],
            )
            .await;
        let id = page["items"].as_array()?.first()?["id"].as_i64()?;
        let (_, _, d) = app
            .send(Method::GET, &format!("/api/v1/deliveries/{id}"), None, &[])
            .await;
        Some(d)
    })
    .await;
    let outcomes: Vec<&str> = d["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["expired", "sent"], "{d}");
    assert_eq!(
        rx.got().iter().filter(|g| g.event_id == first).count(),
        2,
        "sent again once, not more"
    );
}
