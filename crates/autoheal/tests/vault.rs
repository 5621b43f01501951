//! The secrets vault through the real binary: a canary secret stored by the
//! API is found in no log line, no API answer and nowhere in the database's
//! bytes; a ciphertext moved to another row does not decrypt; the key
//! rotates with every secret re-encrypted.

mod common;

use assert_cmd::Command;
use common::*;

const CANARY: &str = "rnd_CANARY_5e1f0c2b9d";
const CANARY_2: &str = "smtp-CANARY-77aa31";

async fn put(app: &Autoheal, name: &str, kind: &str, value: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .put(format!("{}/api/v1/secrets/{name}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(serde_json::json!({"kind": kind, "value": value}).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

fn db_bytes(data: &std::path::Path) -> String {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(data).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("autoheal.db")
        {
            bytes.extend(std::fs::read(p).unwrap());
        }
    }
    String::from_utf8_lossy(&bytes).to_string()
}

async fn vault_of(data: &std::path::Path) -> autoheal::vault::Vault {
    let store = autoheal_store::open(&format!("sqlite://{}/autoheal.db", data.display()))
        .await
        .unwrap();
    let (keys, made) = autoheal::vault::Keyring::load(None, data).unwrap();
    assert!(!made, "autoheal made the key file");
    autoheal::vault::Vault::new(store, keys)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_secret_is_in_no_log_no_answer_and_not_in_plain_text_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n",
    );
    let mut app = Autoheal::start(&config, &data).await;
    assert!(
        app.logs().contains("back it up"),
        "the first start says to back up the new key"
    );
    let (status, body) = put(&app, "render-prod", "render_api_key", CANARY).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["set"], true);
    let (status, _) = put(&app, "render-prod", "render_api_key", CANARY).await;
    assert_eq!(status, 200, "replaced");
    let (status, _) = put(&app, "smtp", "smtp_password", CANARY_2).await;
    assert_eq!(status, 201);
    let (status, body) = put(&app, "bad name!", "smtp_password", "x").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(&app, "ok", "Bad Kind", "x").await;
    assert_eq!(
        (status, body["error"]["pointer"].as_str()),
        (422, Some("/kind"))
    );

    let list = app.get("/api/v1/secrets").await;
    let names: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["render-prod", "smtp"]);
    let events = app.get("/api/v1/events?limit=100").await;
    assert!(events.to_string().contains("secret_set"));
    for answer in [list.to_string(), events.to_string()] {
        assert!(
            !answer.contains(CANARY) && !answer.contains(CANARY_2),
            "{answer}"
        );
    }
    let db = db_bytes(&data);
    assert!(db.contains("render-prod"), "the row is there");
    for canary in [CANARY, CANARY_2] {
        assert!(
            !db.contains(canary),
            "{canary} is in the database in plain text"
        );
        assert!(
            !db.contains(&hex::encode(canary)),
            "{canary} is in the database as hex"
        );
    }
    app.terminate();
    let logs = app.logs();
    assert!(logs.lines().count() > 3);
    assert!(
        !logs.contains(CANARY) && !logs.contains(CANARY_2),
        "a canary is in the logs"
    );

    // The vault opens what the API stored.
    let vault = vault_of(&data).await;
    let got = vault.get(1, "render-prod").await.unwrap().unwrap();
    assert_eq!(got.expose(), CANARY);
    assert!(
        vault.get(2, "render-prod").await.unwrap().is_none(),
        "another workspace's"
    );

    // A ciphertext moved to another row does not decrypt.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/autoheal.db", data.display()))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE secrets SET nonce = (SELECT nonce FROM secrets WHERE name = 'render-prod'), \
         ciphertext = (SELECT ciphertext FROM secrets WHERE name = 'render-prod') WHERE name = 'smtp'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = vault.get(1, "smtp").await.unwrap_err().to_string();
    assert!(err.contains("altered or moved"), "{err}");
    assert!(!err.contains(CANARY));
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_key_re_encrypts_every_secret_under_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write(
        &dir.path().join("autoheal.toml"),
        "[docker]\nenabled = false\n",
    );
    let mut app = Autoheal::start(&config, &data).await;
    assert_eq!(put(&app, "a", "hmac_secret", CANARY).await.0, 201);
    assert_eq!(put(&app, "b", "webhook_url", CANARY_2).await.0, 201);
    // A target made through the API is sealed with the same key.
    let (status, _, v) = app
        .send(
            reqwest::Method::PUT,
            "/api/v1/targets/made",
            Some(serde_json::json!({"check": {"type": "tcp", "address": "127.0.0.1:1", "interval": "1h"}})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    app.terminate();
    let before = std::fs::read_to_string(data.join("secret.key")).unwrap();
    let old = vault_of(&data).await;
    let old_id = old.keys().current_id().to_string();

    let out = Command::cargo_bin("autoheal")
        .unwrap()
        .args(["secrets", "rotate-key", "--data-dir"])
        .arg(&data)
        .env_remove("AUTOHEAL_SECRET_KEY")
        .env_remove("AUTOHEAL_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-encrypted 3 secrets"), "{stdout}");
    let after = std::fs::read_to_string(data.join("secret.key")).unwrap();
    assert_ne!(before.trim(), after.trim());
    assert_eq!(
        after.trim().lines().count(),
        1,
        "the old key has left the file"
    );

    let new = vault_of(&data).await;
    assert_ne!(new.keys().current_id(), old_id);
    assert_eq!(new.get(1, "a").await.unwrap().unwrap().expose(), CANARY);
    assert_eq!(new.get(1, "b").await.unwrap().unwrap().expose(), CANARY_2);
    let err = old.get(1, "a").await.unwrap_err().to_string();
    assert!(
        err.contains("not in the keyring"),
        "the old key opens nothing: {err}"
    );
    // The target opens under the new key: it runs after a restart.
    let app = Autoheal::start(&config, &data).await;
    let targets = app.get("/api/v1/targets").await;
    assert_eq!(targets["items"][0]["name"], "made", "{targets}");
}
