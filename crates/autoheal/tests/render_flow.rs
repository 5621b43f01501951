//! The Render seed flow end to end (issue 11 item 5), through the real
//! binary and the local fake of Render's API: make the first admin, sign
//! in, store the Render key, list the services and the unhealthy ones, get
//! one by name, redeploy it by hand, make a monitor webhook for it; an
//! UptimeRobot "down" alert redeploys it (followed to `live`), an "up" one
//! does not, and a second "down" within the cooldown is held and says so.

mod common;

#[path = "../../autoheal-plugins/tests/fake_render/mod.rs"]
mod fake_render;

use assert_cmd::Command as Cli;
use common::{eventually, write, Autoheal};
use serde_json::{json, Value};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn the_render_seed_flow_works_end_to_end_against_the_fake() {
    let fake = fake_render::FakeRender::start().await;
    fake.set_reads_per_step(1);
    let api = fake.add_service("my-api", "web_service", false);
    let _worker = fake.add_service("worker", "background_worker", true);
    let broken = fake.add_service("broken", "web_service", false);
    fake.add_deploy(&broken, &["created", "build_in_progress", "build_failed"]);
    let broken_deploy = fake.deploys(&broken)[0].clone();
    fake.set_status(&broken_deploy, "build_failed");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n",
    );
    // Register: the first admin, then sign in.
    let out = Cli::cargo_bin("autoheal")
        .unwrap()
        .args(["user", "add", "--admin", "alice", "--data-dir"])
        .arg(&data)
        .env_remove("AUTOHEAL_DATA_DIR")
        .env_remove("AUTOHEAL_STORE_URL")
        .write_stdin("correct horse battery\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = Autoheal::start(&config, &data).await;
    let web = reqwest::Client::new();
    let r = web
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("content-type", "application/json")
        .body(json!({"login": "alice", "password": "correct horse battery"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // The session makes an API key for the rest (a program's way in).
    let r = web
        .post(format!("{}/api/v1/keys", app.base))
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .header("origin", &app.base)
        .body(json!({"name": "seed"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key: Value = r.json().await.unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (base, key) = (app.base.clone(), key.clone());
        async move {
            let mut r = reqwest::Client::new()
                .request(method, format!("{base}{path}"))
                .bearer_auth(key);
            if let Some(b) = body {
                r = r
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };
    use reqwest::Method as M;

    // Store the Render key: write-only.
    let (status, v) = call(
        M::PUT,
        "/api/v1/platforms/render".into(),
        Some(json!({"api_key": fake_render::KEY, "base_url": fake.base_url()})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["set"], true);
    assert!(!v.to_string().contains(fake_render::KEY));

    // The services, the unhealthy ones, one by name.
    let (status, v) = call(M::GET, "/api/v1/platforms/render/services".into(), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = call(
        M::GET,
        "/api/v1/platforms/render/services?unhealthy=true".into(),
        None,
    )
    .await;
    let mut names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["service"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["broken", "worker"], "{v}");
    let (status, v) = call(
        M::GET,
        "/api/v1/platforms/render/services/my-api".into(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["service"]["id"], api.as_str());

    // Redeploy by hand.
    let (status, v) = call(
        M::POST,
        "/api/v1/platforms/render/services/my-api/deploy".into(),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(fake.deploys(&api).len(), 1);
    let manual = fake.deploys(&api)[0].clone();
    fake.set_status(&manual, "live");

    // A target healed by redeploying on Render, and its monitor webhook.
    let (status, v) = call(
        M::POST,
        "/api/v1/actions".into(),
        Some(
            json!({"name": "redeploy-my-api", "type": "render_deploy", "service": "my-api",
                    "api_key": fake_render::KEY, "base_url": fake.base_url(), "poll": "1s"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert!(!v.to_string().contains(fake_render::KEY), "redacted: {v}");
    let (status, v) = call(
        M::POST,
        "/api/v1/targets".into(),
        Some(
            json!({"name": "my-api", "failure_threshold": 1, "cooldown": "10m",
                    "ladder": [{"action": "redeploy-my-api", "verify": "1m"}]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, hook) = call(
        M::POST,
        "/api/v1/targets/my-api/webhooks".into(),
        Some(json!({"source": {"type": "uptimerobot"}})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let url = format!("{}{}", app.base, hook["path"].as_str().unwrap());
    let alert = |kind: &'static str| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(
                    json!({"monitor_name": "my-api", "monitor_url": "https://my-api.onrender.com",
                           "alert_type": kind, "alert_datetime": "2024-01-15 10:30:00"})
                    .to_string(),
                )
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };

    // Down: a redeploy, followed to live.
    let (status, v) = alert("down").await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v["decision"].as_str().unwrap().starts_with("heal_started"),
        "{v}"
    );
    eventually(LONG, "the heal's deploy on Render", || async {
        (fake.deploys(&api).len() == 2).then_some(())
    })
    .await;
    let healed = fake.deploys(&api)[0].clone();
    eventually(LONG, "the deploy followed to live", || async {
        (fake.status(&healed).as_deref() == Some("live")).then_some(())
    })
    .await;
    eventually(LONG, "the attempt to succeed", || async move {
        let (_, v) = call(M::GET, "/api/v1/incidents?target=my-api".into(), None).await;
        (v["items"][0]["attempts"][0]["outcome"] == "succeeded").then_some(())
    })
    .await;
    // Up: no redeploy.
    let (status, v) = alert("up").await;
    assert_eq!(status, 200, "{v}");
    assert!(
        !v["decision"].as_str().unwrap().starts_with("heal_started"),
        "{v}"
    );
    // Down again within the cooldown: held, and it says so.
    let (status, v) = alert("down").await;
    assert_eq!(status, 200, "{v}");
    assert!(v["decision"].as_str().unwrap().starts_with("held"), "{v}");
    assert_eq!(fake.deploys(&api).len(), 2, "no third deploy");
    assert!(
        !app.logs().contains(fake_render::KEY),
        "the key is in no log line"
    );
}
