//! Alerts in (issue 11 item 1 and 2): a monitor's webhook call becomes an
//! observation of its target under the target's policy, recorded with its
//! decision before the answer, which says it; what the sender does not send
//! is 422 and heals nothing; a revoked URL answers 404.

mod common;

use common::{eventually, write, Autoheal};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

async fn call(app: &Autoheal, path: &str, ct: &str, body: String) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .header("content-type", ct)
        // A monitor elsewhere names autoheal by its public name.
        .header("host", "autoheal.example.com")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uptimerobot_down_alert_heals_once_up_recovers_and_a_repeat_in_cooldown_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let healed = dir.path().join("healed");
    let config = write(
        &dir.path().join("autoheal.toml"),
        &format!(
            "[docker]\nenabled = false\n\
             [actions.redeploy]\ntype = \"command\"\nargv = [\"sh\", \"-c\", \"echo x >> {}\"]\n\
             [targets.my-api]\nfailure_threshold = 1\ncooldown = \"10m\"\n\
             ladder = [{{ action = \"redeploy\", verify = \"1m\" }}]\n",
            healed.display()
        ),
    );
    let app = Autoheal::start(&config, &dir.path().join("data")).await;
    let (status, _, made) = app
        .send(
            Method::POST,
            "/api/v1/targets/my-api/webhooks",
            Some(json!({"name": "uptimerobot", "source": {"type": "uptime_robot"}})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let path = made["path"].as_str().unwrap().to_string();
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ah_hook_"), "{made}");
    assert!(made["url"].as_str().unwrap().ends_with(&path));

    // The seed's body: down heals.
    let down = json!({"monitor_name": "my-api", "monitor_url": "https://my-api.example.com",
                      "alert_type": "down", "alert_datetime": "2024-01-15 10:30:00"});
    let (status, v) = call(&app, &path, "application/json", down.to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], true);
    assert_eq!(v["target"], "my-api");
    assert!(
        v["decision"].as_str().unwrap().starts_with("heal_started"),
        "{v}"
    );
    eventually(LONG, "the redeploy command to run", || async {
        std::fs::read_to_string(&healed)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .await;

    // Up: the monitor sees it back; the incident closes.
    let up = json!({"monitor_name": "my-api", "alert_type": "up", "alert_datetime": "2024-01-15 10:31:00"});
    let (status, v) = call(&app, &path, "application/json", up.to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_ne!(
        v["decision"].as_str().unwrap_or_default(),
        "heal_started",
        "up never heals: {v}"
    );
    eventually(LONG, "the incident to close", || async {
        let i = app.get("/api/v1/incidents?target=my-api").await;
        (i["items"][0]["closed_at"].is_i64()).then_some(())
    })
    .await;

    // A second down within the cooldown is held, and says so.
    let down2 = json!({"monitor_name": "my-api", "alert_type": "down", "alert_datetime": "2024-01-15 10:35:00"});
    let (status, v) = call(&app, &path, "application/json", down2.to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["decision"].as_str().unwrap().starts_with("held"), "{v}");
    assert_eq!(
        std::fs::read_to_string(&healed).unwrap().lines().count(),
        1,
        "healed once"
    );

    // Form fields and the numeric type work too; SSL expiry does nothing.
    let (status, v) = call(
        &app,
        &path,
        "application/x-www-form-urlencoded",
        "monitorFriendlyName=my-api&alertType=3&alertDetails=certificate".into(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], "ignored: ssl_expiry", "{v}");

    // A body UptimeRobot does not send: 422, recorded, nothing healed.
    let (status, v) = call(&app, &path, "application/json", "{\"hello\": 1}".into()).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "unrecognised_alert");
    let events = app.get("/api/v1/events?target=my-api&limit=500").await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"alert_unrecognised"), "{kinds:?}");
    assert!(
        kinds.iter().filter(|k| **k == "alert_received").count() >= 4,
        "{kinds:?}"
    );
    // Counted for Prometheus, by source and outcome.
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "autoheal_alerts_total{source=\"uptimerobot\",outcome=\"heal_started\"} 1",
        "autoheal_alerts_total{source=\"uptimerobot\",outcome=\"held\"} 1",
        "autoheal_alerts_total{source=\"uptimerobot\",outcome=\"ignored\"} 1",
        "autoheal_alerts_total{source=\"unrecognised\",outcome=\"refused\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }

    // Listed without its token; revoked, its URL is unknown.
    let (_, _, list) = app
        .send(Method::GET, "/api/v1/targets/my-api/webhooks", None, &[])
        .await;
    assert!(!list.to_string().contains(&token), "{list}");
    let id = list["items"][0]["id"].as_i64().unwrap();
    let (status, _, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/targets/my-api/webhooks/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = call(&app, &path, "application/json", down.to_string()).await;
    assert_eq!(status, 404);
    // The token is in no database file.
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alertmanager_request_with_firing_and_resolved_alerts_is_one_decision_each() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n[targets.db]\nfailure_threshold = 1\ndry_run = true\nladder = [{ action = \"nothing\" }]\n[actions.nothing]\ntype = \"command\"\nargv = [\"true\"]\n",
    );
    let app = Autoheal::start(&config, &dir.path().join("data")).await;
    let (status, _, made) = app
        .send(
            Method::POST,
            "/api/v1/targets/db/webhooks",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let path = made["path"].as_str().unwrap().to_string();
    let body = json!({
        "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "autoheal", "groupLabels": {}, "commonLabels": {"job": "db"},
        "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "DbDown", "instance": "db:5432"},
             "annotations": {}, "startsAt": "2026-12-04T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prom/graph", "fingerprint": "a1"},
            {"status": "resolved", "labels": {"alertname": "DbSlow"},
             "annotations": {}, "startsAt": "2026-12-04T00:00:00Z", "endsAt": "2026-12-04T00:30:00Z",
             "generatorURL": "http://prom/graph", "fingerprint": "b2"}
        ]
    });
    let (status, v) = call(&app, &path, "application/json", body.to_string()).await;
    assert_eq!(status, 200, "{v}");
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{v}");
    assert_eq!(alerts[0]["state"], "down");
    assert_eq!(alerts[0]["fingerprint"], "a1");
    assert_eq!(alerts[1]["state"], "up");
    // The same firing alert again is a repeat: not counted twice.
    let (status, v) = call(&app, &path, "application/json", body.to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["alerts"][0]["decision"], "repeat", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_webhook_refuses_unsigned_tampered_and_replayed_calls() {
    use hmac::{Hmac, Mac};
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n[targets.web]\nfailure_threshold = 3\n",
    );
    let app = Autoheal::start(&config, &dir.path().join("data")).await;
    let secret = "canary-signing-secret-5d1f0c";
    let (status, _, made) = app
        .send(
            Method::POST,
            "/api/v1/targets/web/webhooks",
            Some(json!({"source": {"type": "alertmanager"}, "signature": {"scheme": "github", "secret": secret}})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["signature"], "github");
    let path = made["path"].as_str().unwrap().to_string();
    let body = json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "WebDown"}, "fingerprint": "f1",
         "startsAt": "2026-12-04T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]})
    .to_string();
    let sign = |b: &str| {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(b.as_bytes());
        format!("sha256={}", hex::encode(m.finalize().into_bytes()))
    };
    let post = |b: String, sig: Option<String>| {
        let url = format!("{}{path}", app.base);
        async move {
            let mut r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json");
            if let Some(s) = sig {
                r = r.header("x-hub-signature-256", s);
            }
            let r = r.body(b).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };
    let (status, v) = post(body.clone(), None).await;
    assert_eq!(status, 401, "unsigned: {v}");
    assert_eq!(v["error"]["code"], "bad_signature");
    let (status, v) = post(body.replace("firing", "resolved"), Some(sign(&body))).await;
    assert_eq!(status, 401, "tampered: {v}");
    let (status, v) = post(body.clone(), Some(sign(&body))).await;
    assert_eq!(status, 200, "signed: {v}");
    assert_eq!(v["alerts"][0]["state"], "down");
    // The secret is write-only: listed as set, never shown.
    let (_, _, secrets) = app.send(Method::GET, "/api/v1/secrets", None, &[]).await;
    assert!(secrets.to_string().contains("webhook-"), "{secrets}");
    let (_, _, hooks) = app
        .send(Method::GET, "/api/v1/targets/web/webhooks", None, &[])
        .await;
    for v in [&secrets, &hooks, &made] {
        assert!(!v.to_string().contains(secret), "{v}");
    }
    assert!(!app.logs().contains(secret));

    // Stripe style: signed over "<t>.<body>", and a replay is refused.
    let (status, _, made) = app
        .send(
            Method::POST,
            "/api/v1/targets/web/webhooks",
            Some(json!({"source": {"type": "alertmanager"}, "signature": {"scheme": "stripe", "secret": secret}})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let stripe_url = format!("{}{}", app.base, made["path"].as_str().unwrap());
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(format!("{t}.{body}").as_bytes());
    let header = format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()));
    let send = || {
        reqwest::Client::new()
            .post(&stripe_url)
            .header("content-type", "application/json")
            .header("stripe-signature", &header)
            .body(body.clone())
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), 401, "a replay is refused");
}

async fn last_status(app: &Autoheal, name: &str) -> Option<String> {
    app.get(&format!("/api/v1/targets/{name}")).await["target"]["last_status"]
        .as_str()
        .map(str::to_string)
}

/// Issue 11 item 4: a heartbeat target is down when its job does not ping
/// within period + grace, up again at the next ping, down at once on
/// `/fail`, and down when a started run does not finish within max_run.
#[tokio::test(flavor = "multi_thread")]
async fn a_heartbeat_is_down_when_late_up_at_a_ping_and_down_at_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n[targets.backup]\ncheck = { type = \"heartbeat\", period = \"2s\", grace = \"2s\", max_run = \"1s\", interval = \"100ms\" }\nfailure_threshold = 1\n",
    );
    let app = Autoheal::start(&config, &dir.path().join("data")).await;
    let (status, _, made) = app
        .send(
            Method::POST,
            "/api/v1/targets/backup/webhooks",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let ping = |suffix: &'static str| {
        let url = format!("{}/ping/{token}{suffix}", app.base);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    eventually(LONG, "no ping within period + grace: down", || async {
        (last_status(&app, "backup").await.as_deref() == Some("down")).then_some(())
    })
    .await;
    let detail = app.get("/api/v1/targets/backup").await["target"]["last_detail"].clone();
    assert!(detail.as_str().unwrap().contains("no ping"), "{detail}");
    assert_eq!(ping("").await, 200);
    eventually(LONG, "up after the ping", || async {
        (last_status(&app, "backup").await.as_deref() == Some("up")).then_some(())
    })
    .await;
    assert_eq!(ping("/fail").await, 200);
    eventually(LONG, "down after /fail", || async {
        let d = app.get("/api/v1/targets/backup").await["target"]["last_detail"].clone();
        d.as_str()
            .is_some_and(|d| d.contains("reported a failure"))
            .then_some(())
    })
    .await;
    assert_eq!(ping("/start").await, 200);
    assert_eq!(ping("").await, 200);
    assert_eq!(ping("/start").await, 200);
    eventually(LONG, "a run not finished within max_run: down", || async {
        let d = app.get("/api/v1/targets/backup").await["target"]["last_detail"].clone();
        d.as_str()
            .is_some_and(|d| d.contains("max_run"))
            .then_some(())
    })
    .await;
    let (status, _) = (
        reqwest::get(format!("{}/ping/ah_hook_nosuch", app.base))
            .await
            .unwrap()
            .status()
            .as_u16(),
        (),
    );
    assert_eq!(status, 404);
    let events = app.get("/api/v1/events?kind=alert_received").await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["source"] == "heartbeat"),
        "{events}"
    );
}
