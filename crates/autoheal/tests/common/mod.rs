//! Helpers for black-box tests: run the real `autoheal` binary, talk to its
//! API, poll with deadlines (never fixed sleeps).

#![allow(dead_code)]

pub mod docker;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns Some, or panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `autoheal serve`, killed on drop.
pub struct Autoheal {
    pub child: Child,
    pub base: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The local token this start wrote to its data directory (an owner
    /// key of the default workspace), sent with every request below.
    pub token: String,
}

/// The data directory a prepared `autoheal serve` command will use.
fn data_dir_of(cmd: &Command) -> PathBuf {
    let args: Vec<_> = cmd.get_args().collect();
    if let Some(i) = args.iter().position(|a| *a == "--data-dir") {
        if let Some(d) = args.get(i + 1) {
            return PathBuf::from(d);
        }
    }
    cmd.get_envs()
        .find(|(k, _)| *k == "AUTOHEAL_DATA_DIR")
        .and_then(|(_, v)| v.map(PathBuf::from))
        .or_else(|| std::env::var_os("AUTOHEAL_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("./autoheal-data"))
}

impl Autoheal {
    /// Starts `autoheal serve --config CONFIG --data-dir DATA --listen 127.0.0.1:0`
    /// and waits for it to say where it serves.
    pub async fn start(config: &Path, data_dir: &Path) -> Autoheal {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_autoheal"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .env("AUTOHEAL_LOG_FORMAT", "json")
            .env("AUTOHEAL_LOG_LEVEL", "debug");
        Autoheal::spawn(cmd).await
    }

    /// Runs a prepared `autoheal serve` command (stdout/stderr captured).
    pub async fn spawn(mut cmd: Command) -> Autoheal {
        let data_dir = data_dir_of(&cmd);
        let mut child = cmd
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the autoheal binary starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let l = logs.clone();
        let base = eventually(
            Duration::from_secs(30),
            "autoheal to log its listen address",
            || {
                let l = l.clone();
                async move {
                    l.lock().unwrap().iter().find_map(|line| {
                        let v: serde_json::Value = serde_json::from_str(line).ok()?;
                        let addr = v.get("listen")?.as_str()?;
                        Some(format!("http://{addr}"))
                    })
                }
            },
        )
        .await;
        // Written before the listen address is logged.
        let token = std::fs::read_to_string(data_dir.join("local-token"))
            .expect("autoheal wrote its local token")
            .trim()
            .to_string();
        Autoheal {
            child,
            base,
            logs,
            token,
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("API reachable");
        r.json().await.expect("API answers JSON")
    }

    pub async fn post(&self, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .send()
            .await
            .expect("API reachable");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    /// Any request with a JSON body (or none): status, headers and the
    /// answer as JSON (`Null` when it is not JSON).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        self.send_as(&self.token, method, path, body, headers).await
    }

    /// [`Autoheal::send`] with another API key.
    pub async fn send_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().await.expect("API reachable");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Signs `login` in with `password` and makes an API key with the
    /// session (a program's way in): the key.
    pub async fn sign_in_key(&self, login: &str, password: &str) -> String {
        let web = reqwest::Client::new();
        let r = web
            .post(format!("{}/api/v1/auth/login", self.base))
            .header("content-type", "application/json")
            .body(serde_json::json!({"login": login, "password": password}).to_string())
            .send()
            .await
            .expect("API reachable");
        assert_eq!(r.status(), 200, "{login} signs in");
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let r = web
            .post(format!("{}/api/v1/keys", self.base))
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .header("origin", &self.base)
            .body(serde_json::json!({"name": format!("{login}-key")}).to_string())
            .send()
            .await
            .expect("API reachable");
        assert_eq!(r.status(), 201, "{login}'s session makes a key");
        let v: serde_json::Value = r.json().await.unwrap();
        v["key"].as_str().unwrap().to_string()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Autoheal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP service: python3's http.server on 127.0.0.1:port, serving
/// `dir`. Its pid is written to `dir/pid` by the start command so both the
/// test and autoheal's command action can start it the same way.
/// Starts the stand-in service and returns once it accepts connections, as
/// a real restart command does (so a loaded machine's slow Python start is
/// not mistaken for a failed heal).
pub fn service_start_argv(port: u16, dir: &Path) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "cd {d} && echo start >> {d}/starts && (python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & echo $! > {d}/pid) \
             && python3 -c \"import socket, time; [time.sleep(0.05) for _ in iter(lambda: socket.socket().connect_ex(('127.0.0.1', {port})), 0)]\"",
            d = dir.display()
        ),
    ]
}

pub fn run(argv: &[String]) {
    let ok = Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{argv:?} failed");
}

pub fn kill_service(dir: &Path) {
    if let Ok(pid) = std::fs::read_to_string(dir.join("pid")) {
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
    }
}

pub fn starts(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("starts"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

pub async fn http_up(port: u16) -> bool {
    reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

pub fn toml_list(argv: &[String]) -> String {
    let items: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", items.join(", "))
}

/// Runs the CLI `autoheal ARGS --data-dir DATA` with `stdin`; panics
/// with its stderr when it fails.
pub fn cli(args: &[&str], data: &Path, stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_autoheal"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("AUTOHEAL_DATA_DIR")
        .env_remove("AUTOHEAL_STORE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the autoheal binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "autoheal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// A second connection to the SQLite store of a running autoheal in `data`
/// (to inject faults with triggers, or read its rows).
pub async fn store_db(data: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", data.join("autoheal.db").display());
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("the store file opens")
}
