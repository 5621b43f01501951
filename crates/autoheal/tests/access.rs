//! Who may do what (issue 10): every route of the router against every
//! role and another workspace's objects; sessions that end when the
//! password changes; brute force slowed without locking anyone else out;
//! tokens and passwords never stored in plain text; the OpenAPI document
//! naming every route.

mod common;

use autoheal::app::Application;
use autoheal::auth::{Credential, Principal};
use autoheal::http::access::Access;
use autoheal_store::{Role, Store, DEFAULT_WORKSPACE};
use common::eventually;
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "canary-password-7f3a9c";

struct App {
    base: String,
    auth: autoheal::auth::Auth,
    vault: autoheal::vault::Vault,
    store: Arc<dyn Store>,
    local: String,
    stop: CancellationToken,
    dir: tempfile::TempDir,
    anon: reqwest::Client,
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn spawn(extra: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "AUTOHEAL_DATA_DIR".to_string(),
            dir.path().display().to_string(),
        ),
    ]);
    let config = format!(
        "[docker]\nenabled = false\n{extra}\n[targets.db]\ncheck = {{ type = \"tcp\", address = \"127.0.0.1:1\", interval = \"1h\" }}\n"
    );
    let cfg = autoheal_config::parse_str(&config, "test.toml", &env).expect("valid");
    let app = Application::build(&cfg).await.expect("builds");
    let base = format!("http://{}", app.local_addr());
    let auth = app.auth();
    let vault = app.vault();
    let store = auth.store().clone();
    let local = app.local_token().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let a = App {
        base,
        auth,
        vault,
        store,
        local,
        stop,
        dir,
        anon: reqwest::Client::new(),
    };
    eventually(Duration::from_secs(10), "ready", || async {
        let r = a.anon.get(format!("{}/ready", a.base)).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "db installed", || async {
        let (s, _) = a
            .call(Some(&a.local), Method::GET, "/api/v1/targets/db", None)
            .await;
        (s == 200).then_some(())
    })
    .await;
    a
}

impl App {
    async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut r = self
            .anon
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r = r.body(body.unwrap_or(serde_json::json!({})).to_string());
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let streaming = resp
            .headers()
            .get("content-type")
            .is_some_and(|c| c.as_bytes().starts_with(b"text/event-stream"));
        if streaming {
            // The live stream never ends by itself: its status is the answer.
            return (status, serde_json::Value::Null);
        }
        (status, resp.json().await.unwrap_or_default())
    }

    /// A request that does not follow redirects: its status and `Location`.
    async fn page(&self, token: Option<&str>, method: Method, path: &str) -> (StatusCode, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = method == Method::POST;
        let mut r = client.request(method, format!("{}{path}", self.base));
        if form {
            // As a browser sends a form.
            r = r
                .header("content-type", "application/x-www-form-urlencoded")
                .body("");
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (resp.status(), location)
    }

    /// A user of `workspace` with `role`, and an API key of theirs with the
    /// same role.
    async fn member(&self, name: &str, workspace: i64, role: Role) -> (i64, String) {
        let now = autoheal::supervisor::now_ms();
        let id = self
            .auth
            .create_user(name, None, PASSWORD, workspace, role, now)
            .await
            .unwrap();
        let who = Principal {
            workspace_id: workspace,
            role,
            user_id: Some(id),
            name: name.to_string(),
            credential: Credential::Session(0),
            ip: None,
        };
        let (key, _) = self
            .auth
            .create_key(&who, "matrix", None, None, now)
            .await
            .unwrap();
        (id, key)
    }
}

/// Fills a route's path parameters with objects of the default workspace.
fn path_for(template: &str, objects: &BTreeMap<&str, String>) -> String {
    let mut p = template.to_string();
    for (k, v) in objects {
        p = p.replace(&format!("{{{k}}}"), v);
    }
    assert!(!p.contains('{'), "no value for a parameter of {template}");
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_anonymous_401_too_low_a_role_403_and_another_workspace_404() {
    let app = spawn("").await;
    let mut keys = BTreeMap::new();
    for role in Role::ALL {
        let (_, key) = app
            .member(&format!("u-{role}"), DEFAULT_WORKSPACE, role)
            .await;
        keys.insert(role, key);
    }
    let other = app
        .store
        .create_workspace("other", autoheal::supervisor::now_ms())
        .await
        .unwrap();
    let (_, outsider) = app.member("outsider", other, Role::Owner).await;

    // Objects of the default workspace, for the routes that name one.
    let incident = app
        .store
        .open_incident("db", autoheal::supervisor::now_ms(), "matrix")
        .await
        .unwrap();
    let member_id = app.store.find_user("u-viewer").await.unwrap().unwrap().id;
    let local_key_id = app.store.list_keys(DEFAULT_WORKSPACE).await.unwrap()[0].id;
    app.vault
        .put(
            DEFAULT_WORKSPACE,
            "generic",
            "db",
            &autoheal::vault::Secret::new("ours"),
            autoheal::supervisor::now_ms(),
        )
        .await
        .unwrap();
    // Values that exist in the default workspace...
    let real = BTreeMap::from([
        ("name", "db".to_string()),
        ("command", "nope".to_string()),
        ("id", String::new()), // set per route below
        ("user_id", member_id.to_string()),
        ("token", "ah_hook_nosuchtoken".to_string()),
        ("service", "my-api".to_string()),
    ]);
    // ...and ones that exist nowhere, so an allowed write changes nothing.
    let harmless = BTreeMap::from([
        ("name", "db".to_string()),
        ("command", "nope".to_string()),
        ("id", "999999".to_string()),
        ("user_id", "999999".to_string()),
        ("token", "ah_hook_nosuchtoken".to_string()),
        ("service", "my-api".to_string()),
    ]);

    let endpoints = autoheal::http::endpoints(true);
    assert!(endpoints.len() >= 20, "the whole router is listed");
    for e in &endpoints {
        let harmless_path = if e.path.starts_with("/api/v1/secrets/") {
            // A secret no one has: an allowed DELETE removes nothing.
            e.path.replace("{name}", "nosuch")
        } else {
            path_for(e.path, &harmless)
        };
        let method = Method::from_bytes(e.method.as_str().as_bytes()).unwrap();
        // Anonymous.
        if let Access::Page(_) = e.access {
            // A dashboard page sends a browser without a credential (or
            // with one that is no good) to sign in, and shows nothing.
            for token in [None, Some("ah_key_bogus")] {
                let (status, location) = app.page(token, method.clone(), &harmless_path).await;
                assert_eq!(
                    (status.as_u16(), location.starts_with("/login")),
                    (303, true),
                    "{} {}: anonymous ({token:?}) got {status} to {location:?}",
                    e.method,
                    e.path
                );
            }
        }
        let (status, body) = app.call(None, method.clone(), &harmless_path, None).await;
        match e.access {
            Access::Page(_) => {}
            Access::Anyone => assert!(
                status != 401 && status != 403,
                "{} {}: anonymous got {status} {body}",
                e.method,
                e.path
            ),
            _ => {
                assert_eq!(status, 401, "{} {}: anonymous: {body}", e.method, e.path);
                assert_eq!(body["error"]["code"], "unauthorized");
            }
        }
        // A garbage credential is refused like none.
        if !matches!(e.access, Access::Anyone | Access::Page(_)) {
            let (status, _) = app
                .call(Some("ah_key_bogus"), method.clone(), &harmless_path, None)
                .await;
            assert_eq!(status, 401, "{} {}: a bogus key", e.method, e.path);
        }
        // Each role.
        for role in Role::ALL {
            let (status, body) = app
                .call(Some(&keys[&role]), method.clone(), &harmless_path, None)
                .await;
            let allowed = match e.access {
                Access::Anyone | Access::Signed => true,
                // These principals are API keys.
                Access::Session => false,
                Access::Role(need) | Access::Page(need) => role >= need,
            };
            if allowed {
                assert!(
                    status != 401 && status != 403,
                    "{} {} as {role}: {status} {body}",
                    e.method,
                    e.path
                );
            } else {
                assert_eq!(status, 403, "{} {} as {role}: {body}", e.method, e.path);
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
        // Another workspace's owner asking for this workspace's object.
        if e.path.contains('{') {
            let mut objects = real.clone();
            let id = if e.path.starts_with("/api/v1/keys") {
                local_key_id
            } else {
                incident
            };
            objects.insert("id", id.to_string());
            if e.path.ends_with("{command}") {
                objects.insert("command", "pause".to_string());
            }
            let path = path_for(e.path, &objects);
            if e.method == Method::PUT && e.path.starts_with("/api/v1/secrets/") {
                // Names are per workspace: a PUT makes the outsider's own
                // secret (checked below), never touching the default's.
                let (status, body) = app
                    .call(
                        Some(&outsider),
                        method.clone(),
                        "/api/v1/secrets/theirs",
                        Some(serde_json::json!({"kind": "generic", "value": "theirs"})),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                continue;
            }
            if e.method == Method::PUT
                && [
                    "/api/v1/targets/",
                    "/api/v1/actions/",
                    "/api/v1/groups/",
                    "/api/v1/channels/",
                    "/api/v1/routes/",
                ]
                .iter()
                .any(|p| e.path.starts_with(p))
            {
                // Names are per workspace: a PUT makes (or here, with a bad
                // body, refuses) the outsider's own object, checked against
                // the outsider's workspace; it never touches the default's
                // (tests/manage.rs makes same-named objects in both).
                let (status, body) = app
                    .call(
                        Some(&outsider),
                        method.clone(),
                        &path,
                        Some(serde_json::json!({"enabled": "not a boolean"})),
                    )
                    .await;
                assert_eq!(status, 422, "{} {path}: {body}", e.method);
                continue;
            }
            let (status, body) = app
                .call(
                    Some(&outsider),
                    method.clone(),
                    &path,
                    Some(serde_json::json!({"role": "viewer"})),
                )
                .await;
            assert_eq!(
                status, 404,
                "{} {path} from another workspace must not exist: {body}",
                e.method
            );
        }
    }
    // Nothing the outsider did reached the default workspace.
    let (_, t) = app
        .call(Some(&app.local), Method::GET, "/api/v1/targets/db", None)
        .await;
    assert_ne!(t["target"]["phase"], "paused");
    let (s, _) = app
        .call(Some(&app.local), Method::GET, "/api/v1/keys", None)
        .await;
    assert_eq!(s, 200, "the local key still works");
    assert!(app
        .store
        .members(DEFAULT_WORKSPACE)
        .await
        .unwrap()
        .iter()
        .any(|m| m.user_id == member_id));
    assert_eq!(
        app.vault
            .get(DEFAULT_WORKSPACE, "db")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "ours"
    );
    assert!(app.vault.get(other, "db").await.unwrap().is_none());
    assert_eq!(
        app.vault
            .get(other, "theirs")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "theirs"
    );
    assert!(app
        .vault
        .get(DEFAULT_WORKSPACE, "theirs")
        .await
        .unwrap()
        .is_none());
    // And its lists show nothing of the default workspace.
    for path in [
        "/api/v1/targets",
        "/api/v1/incidents",
        "/api/v1/events",
        "/api/v1/keys",
    ] {
        let (s, body) = app.call(Some(&outsider), Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}");
        let items = body["items"].as_array().unwrap();
        assert!(
            items
                .iter()
                .all(|i| i["workspace_id"].as_i64().unwrap_or(other) == other)
                && !items
                    .iter()
                    .any(|i| i["name"] == "db" || i["target"] == "db"),
            "{path} leaks: {body}"
        );
    }
    let (_, members) = app
        .call(Some(&outsider), Method::GET, "/api/v1/members", None)
        .await;
    let names: Vec<_> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["outsider"]);
}

/// Logs in and answers the session cookie (`name=value`).
async fn login(
    app: &App,
    login: &str,
    password: &str,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let r = app
        .anon
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("content-type", "application/json")
        .body(serde_json::json!({"login": login, "password": password}).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
    (status, cookie, r.json().await.unwrap_or_default())
}

async fn with_cookie(
    app: &App,
    cookie: &str,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, Option<String>) {
    let r = app
        .anon
        .request(method, format!("{}{path}", app.base))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
    (r.status(), set)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_ends_every_session_of_the_user_at_once() {
    let app = spawn("").await;
    let (_, key) = app.member("carol", DEFAULT_WORKSPACE, Role::Operator).await;
    let (s, laptop, _) = login(&app, "Carol", PASSWORD).await;
    assert_eq!(s, 200, "usernames are case-insensitive");
    let laptop = laptop.expect("a session cookie");
    assert!(laptop.starts_with("autoheal_session=ah_ses_"));
    let (_, phone, _) = login(&app, "carol", PASSWORD).await;
    let phone = phone.unwrap();
    for c in [&laptop, &phone] {
        let (s, _) = with_cookie(
            &app,
            c,
            Method::GET,
            "/api/v1/auth/me",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(s, 200);
    }
    // A cookie write without Origin is refused (cross-site request forgery).
    let r = app
        .anon
        .post(format!("{}/api/v1/targets/db/pause", app.base))
        .header("cookie", &laptop)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let (s, renewed) = with_cookie(
        &app,
        &laptop,
        Method::POST,
        "/api/v1/auth/password",
        serde_json::json!({"current_password": PASSWORD, "new_password": "a brand new one"}),
    )
    .await;
    assert_eq!(s, 204);
    let renewed = renewed.expect("the caller gets a new session");
    for c in [&laptop, &phone] {
        let (s, _) = with_cookie(
            &app,
            c,
            Method::GET,
            "/api/v1/auth/me",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(s, 401, "an old session ends at once");
    }
    let (s, _) = with_cookie(
        &app,
        &renewed,
        Method::GET,
        "/api/v1/auth/me",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(login(&app, "carol", PASSWORD).await.0, 401);
    assert_eq!(login(&app, "carol", "a brand new one").await.0, 200);
    // Keys are for programs: they outlive a password change, until revoked.
    let (s, _) = app
        .call(Some(&key), Method::GET, "/api/v1/targets", None)
        .await;
    assert_eq!(s, 200);
    // Logout ends the session.
    let (s, _) = with_cookie(
        &app,
        &renewed,
        Method::POST,
        "/api/v1/auth/logout",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = with_cookie(
        &app,
        &renewed,
        Method::GET,
        "/api/v1/auth/me",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(s, 401);
    // Removing a member ends their keys.
    let carol = app.store.find_user("carol").await.unwrap().unwrap().id;
    let (s, _) = app
        .call(
            Some(&app.local),
            Method::DELETE,
            &format!("/api/v1/members/{carol}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .call(Some(&key), Method::GET, "/api/v1/targets", None)
        .await;
    assert_eq!(s, 401, "a removed member's key ends at once");
}

#[tokio::test(flavor = "multi_thread")]
async fn brute_force_is_slowed_per_account_without_locking_out_others() {
    let app = spawn("").await;
    app.member("dave", DEFAULT_WORKSPACE, Role::Viewer).await;
    app.member("erin", DEFAULT_WORKSPACE, Role::Viewer).await;
    // Wrong passwords, an unknown user: the same answer.
    let (s1, _, b1) = login(&app, "dave", "wrong password").await;
    let (s2, _, b2) = login(&app, "nobody-here", "wrong password").await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1, b2, "an unknown user is not told apart");
    for _ in 0..4 {
        login(&app, "dave", "wrong password").await;
        login(&app, "nobody-here", "wrong password").await;
    }
    // Now dave must wait, even with the right password...
    let r = app
        .anon
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("content-type", "application/json")
        .body(serde_json::json!({"login": "dave", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // ...and so does the unknown name (nothing tells it does not exist).
    assert_eq!(login(&app, "nobody-here", "x").await.0, 429);
    // Erin, from the same address, is not slowed.
    assert_eq!(login(&app, "erin", PASSWORD).await.0, 200);
    // Dave gets in once the delay has passed.
    eventually(Duration::from_secs(30), "dave's delay to pass", || async {
        (login(&app, "dave", PASSWORD).await.0 == 200).then_some(())
    })
    .await;
    let dave = app.store.find_user("dave").await.unwrap().unwrap();
    assert_eq!(dave.failed_logins, 0, "a success clears the count");
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_makes_the_first_admin_once_and_registration_follows_its_mode() {
    let app = spawn("[auth]\nregistration = \"invite\"").await;
    let token = app.auth.setup_token().await.unwrap().expect("no user yet");
    let setup = |t: String, name: &str| serde_json::json!({"setup_token": t, "username": name, "password": PASSWORD});
    let (s, body) = app
        .call(
            None,
            Method::POST,
            "/api/v1/auth/setup",
            Some(setup("ah_setup_wrong".into(), "root")),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = app
        .call(
            None,
            Method::POST,
            "/api/v1/auth/setup",
            Some(setup(token.clone(), "root")),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["role"], "owner");
    let (s, _) = app
        .call(
            None,
            Method::POST,
            "/api/v1/auth/setup",
            Some(setup(token, "root2")),
        )
        .await;
    assert_eq!(s, 403, "the setup token works once");
    // Registration needs an invitation...
    let reg = |invite: Option<&str>, name: &str| serde_json::json!({"username": name, "password": PASSWORD, "invite": invite});
    let (s, body) = app
        .call(
            None,
            Method::POST,
            "/api/v1/auth/register",
            Some(reg(None, "frank")),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["pointer"], "/invite");
    let (s, inv) = app
        .call(
            Some(&app.local),
            Method::POST,
            "/api/v1/invites",
            Some(serde_json::json!({"role": "operator"})),
        )
        .await;
    assert_eq!(s, 201, "{inv}");
    let invite = inv["invite"].as_str().unwrap().to_string();
    let (s, body) = app
        .call(
            None,
            Method::POST,
            "/api/v1/auth/register",
            Some(reg(Some(&invite), "frank")),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        (body["role"].as_str(), body["workspace_id"].as_i64()),
        (Some("operator"), Some(1))
    );
    let (s, _) = app
        .call(
            None,
            Method::POST,
            "/api/v1/auth/register",
            Some(reg(Some(&invite), "grace")),
        )
        .await;
    assert_eq!(s, 422, "an invitation is used once");
    // Field errors name the field.
    let (s, body) = app
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(serde_json::json!({"login": "frank", "password": 5})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["pointer"], "/password");
    // A key's role is at most its maker's.
    let (_, opkey) = app.member("opie", DEFAULT_WORKSPACE, Role::Operator).await;
    let (s, body) = app
        .call(
            Some(&opkey),
            Method::POST,
            "/api/v1/keys",
            Some(serde_json::json!({"name": "x", "role": "admin"})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["pointer"], "/role");
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_and_tokens_are_never_stored_in_plain_text() {
    let app = spawn("").await;
    let (_, key) = app.member("heidi", DEFAULT_WORKSPACE, Role::Admin).await;
    let (_, cookie, _) = login(&app, "heidi", PASSWORD).await;
    let session = cookie.unwrap().split_once('=').unwrap().1.to_string();
    let (s, made) = app
        .call(
            Some(&key),
            Method::POST,
            "/api/v1/keys",
            Some(serde_json::json!({"name": "ci"})),
        )
        .await;
    assert_eq!(s, 201);
    let made_key = made["key"].as_str().unwrap().to_string();
    // The API never answers a key again, nor any hash.
    let (_, list) = app
        .call(Some(&key), Method::GET, "/api/v1/keys", None)
        .await;
    let text = list.to_string();
    for secret in [&key, &made_key, &app.local] {
        assert!(!text.contains(secret.as_str()));
        assert!(!text.contains(&autoheal::auth::token::hash(secret)));
    }
    // Nor does the database hold any of them, in the file or its WAL.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("autoheal.db")
        {
            bytes.extend(std::fs::read(p).unwrap());
        }
    }
    let db = String::from_utf8_lossy(&bytes);
    assert!(db.contains("$argon2id$"), "the hash is there");
    for secret in [PASSWORD, &key, &made_key, &session, &app.local] {
        assert!(!db.contains(secret), "{secret} is stored in plain text");
    }
}

#[test]
fn the_openapi_document_names_every_route_of_the_router() {
    let doc = serde_json::to_value(autoheal::http::openapi::document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    // Swagger UI's page and files are the document's viewer, not the API;
    // the dashboard's pages and forms are a client of it, not the API.
    let viewer = |path: &str| path == "/docs" || path.starts_with("/docs/");
    let dashboard: Vec<(String, &str)> = autoheal::http::dashboard::endpoints()
        .iter()
        .map(|e| (e.method.to_string(), e.path))
        .collect();
    assert!(dashboard.iter().all(|(_, p)| !p.starts_with("/api/")));
    for e in autoheal::http::endpoints(true) {
        if viewer(e.path) || dashboard.contains(&(e.method.to_string(), e.path)) {
            continue;
        }
        let method = e.method.as_str().to_lowercase();
        assert!(
            paths.get(e.path).and_then(|p| p.get(&method)).is_some(),
            "{} {} is served but not in the OpenAPI document",
            e.method,
            e.path
        );
    }
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                autoheal::http::endpoints(true)
                    .iter()
                    .any(|e| e.path == path && e.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not served"
            );
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_factor_is_needed_once_in_force_and_each_code_works_once() {
    let app = spawn("").await;
    let (_, key) = app.member("ivy", DEFAULT_WORKSPACE, Role::Viewer).await;
    let (_, cookie, _) = login(&app, "ivy", PASSWORD).await;
    let cookie = cookie.unwrap();
    // Not for API keys.
    let (s, _) = app
        .call(Some(&key), Method::POST, "/api/v1/auth/totp", None)
        .await;
    assert_eq!(s, 403);
    let r = app
        .anon
        .post(format!("{}/api/v1/auth/totp", app.base))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let setup: serde_json::Value = r.json().await.unwrap();
    assert!(setup["otpauth_url"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/autoheal:ivy"));
    let secret = totp_rs::Secret::try_from_base32(setup["secret"].as_str().unwrap()).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name("ivy".to_string())
        .with_issuer(Some("autoheal"))
        .build()
        .unwrap();
    // Pending until confirmed: logging in still needs only the password.
    assert_eq!(login(&app, "ivy", PASSWORD).await.0, 200);
    let confirm = |code: String| {
        app.anon
            .post(format!("{}/api/v1/auth/totp/confirm", app.base))
            .header("cookie", &cookie)
            .header("origin", &app.base)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "code": code }).to_string())
            .send()
    };
    assert_eq!(confirm("000000".into()).await.unwrap().status(), 422);
    let r = confirm(totp.generate_current().to_string()).await.unwrap();
    assert_eq!(r.status(), 200);
    let codes: serde_json::Value = r.json().await.unwrap();
    let recovery: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);

    let with = |second: Option<String>| {
        let body = match second {
            Some(t) => serde_json::json!({"login": "ivy", "password": PASSWORD, "totp": t}),
            None => serde_json::json!({"login": "ivy", "password": PASSWORD}),
        };
        app.anon
            .post(format!("{}/api/v1/auth/login", app.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let r = with(None).await.unwrap();
    assert_eq!(r.status(), 401);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "second_factor_required");
    assert_eq!(
        with(Some("123456".into())).await.unwrap().status(),
        401,
        "a wrong code"
    );
    // The code confirmed with was spent; wait for the next step's code.
    let first = totp.generate_current().to_string();
    let code = eventually(Duration::from_secs(40), "a fresh TOTP step", || async {
        let c = totp.generate_current().to_string();
        (c != first).then_some(c)
    })
    .await;
    assert_eq!(with(Some(code.clone())).await.unwrap().status(), 200);
    assert_eq!(
        with(Some(code)).await.unwrap().status(),
        401,
        "a code works once"
    );
    assert_eq!(
        with(Some(recovery[0].to_uppercase()))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        with(Some(recovery[0].clone())).await.unwrap().status(),
        401,
        "a recovery code works once"
    );
    let (s, me) = with_cookie(
        &app,
        &cookie,
        Method::GET,
        "/api/v1/auth/me",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let _ = me;
    // Removing it needs the password.
    let r = app
        .anon
        .delete(format!("{}/api/v1/auth/totp", app.base))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .header("content-type", "application/json")
        .body(serde_json::json!({"password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(login(&app, "ivy", PASSWORD).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_limited_per_client_address_and_per_credential_behind_trusted_proxies() {
    let app = spawn(
        "[server]\nrate_limit_per_client = 2\nrate_limit_per_credential = 3\ntrusted_proxies = [\"127.0.0.1\"]",
    )
    .await;
    let health = |xff: &'static str| {
        app.anon
            .get(format!("{}/health", app.base))
            .header("x-forwarded-for", xff)
            .send()
    };
    // A burst of twice the rate, then 429 with Retry-After...
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(health("203.0.113.1").await.unwrap().status().as_u16());
    }
    assert!(codes.iter().take(4).all(|c| *c == 200), "{codes:?}");
    let refused = health("203.0.113.1").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // ...for that client only: another one behind the same proxy goes on.
    assert_eq!(health("203.0.113.2").await.unwrap().status(), 200);
    // A credential has its own budget, whatever its address.
    let (_, key) = app.member("kim", DEFAULT_WORKSPACE, Role::Viewer).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            app.call(Some(&key), Method::GET, "/api/v1/targets", None)
                .await
                .0,
        );
    }
    assert!(statuses.iter().take(6).all(|s| *s == 200), "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(
        app.call(Some(&app.local), Method::GET, "/api/v1/targets", None)
            .await
            .0,
        200,
        "another key is not slowed"
    );
}
