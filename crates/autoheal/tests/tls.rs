//! HTTPS from certificate and key files (`server.tls_cert`,
//! `server.tls_key`): served by the same `Application` the binary boots,
//! reloaded with the function SIGHUP calls (and by SIGHUP itself, on the
//! binary), a bad file at reload keeping the old certificate; the CLI and
//! `autoheal healthcheck` over HTTPS. Certificates are made here with rcgen.

mod common;

use autoheal::app::{Application, Reloader};
use common::{eventually, Autoheal};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(20);

/// A self-signed certificate for `names` (IP addresses become IP names),
/// as PEM, with its PEM key and its DER.
struct Cert {
    pem: String,
    key: String,
    der: Vec<u8>,
}

fn make_cert(names: &[&str], common_name: &str) -> Cert {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Cert {
        pem: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// Writes `cert` to `<dir>/cert.pem` and `<dir>/key.pem`.
fn write_cert(dir: &Path, cert: &Cert) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, &cert.pem).unwrap();
    std::fs::write(&k, &cert.key).unwrap();
    (c, k)
}

fn tls_config(cert: &Path, key: &Path) -> String {
    format!(
        "[docker]\nenabled = false\n[server]\ntls_cert = {:?}\ntls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    )
}

/// A client trusting exactly `certs`, reaching `name` at `addr`, on a new
/// connection each time (no pool).
fn https_client(certs: &[&Cert], name: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only(
            certs
                .iter()
                .map(|c| reqwest::Certificate::from_der(&c.der).unwrap()),
        )
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .resolve(name, addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// GET /live over HTTPS on a new connection: its status and the DER of the
/// certificate the server showed.
async fn live(client: &reqwest::Client, name: &str, addr: SocketAddr) -> Option<(u16, Vec<u8>)> {
    let r = client
        .get(format!("https://{name}:{}/live", addr.port()))
        .send()
        .await
        .ok()?;
    let der = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()?
        .peer_certificate()?
        .to_vec();
    Some((r.status().as_u16(), der))
}

struct TestApp {
    addr: SocketAddr,
    reloader: Reloader,
    stop: CancellationToken,
    dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Boots the application in process over HTTPS with `cert`, written to
/// files in a fresh directory.
async fn spawn_tls_app(cert: &Cert) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_cert(dir.path(), cert);
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "AUTOHEAL_DATA_DIR".to_string(),
            dir.path().join("data").display().to_string(),
        ),
    ]);
    let cfg = autoheal_config::parse_str(&tls_config(&c, &k), "test.toml", &env)
        .expect("test config is valid");
    let app = Application::build(&cfg).await.expect("the app builds");
    let addr = app.local_addr();
    assert_eq!(app.url(), format!("https://{addr}"));
    let reloader = app.reloader();
    assert!(reloader.serves_tls());
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    TestApp {
        addr,
        reloader,
        stop,
        dir,
    }
}

#[tokio::test]
async fn https_is_served_and_a_reload_swaps_in_the_new_certificate() {
    let old = make_cert(&["127.0.0.1", "localhost"], "autoheal old");
    let new = make_cert(&["127.0.0.1", "localhost"], "autoheal new");
    assert_ne!(old.der, new.der);
    let t = spawn_tls_app(&old).await;
    let client = https_client(&[&old, &new], "localhost", t.addr);

    let (status, der) = eventually(LONG, "GET /live over HTTPS", || {
        live(&client, "localhost", t.addr)
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(der, old.der, "the configured certificate is served");

    // By IP too (the certificate names 127.0.0.1), with the local token.
    let token = std::fs::read_to_string(t.dir.path().join("data/local-token")).unwrap();
    let r = https_client(&[&old], "unused.invalid", t.addr)
        .get(format!("https://{}/api/v1/targets", t.addr))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // TLS 1.2 is served too.
    let tls12 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_der(&old.der).unwrap()])
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .resolve("localhost", t.addr)
        .build()
        .unwrap();
    let r = tls12
        .get(format!("https://localhost:{}/live", t.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Plain HTTP to the HTTPS port gets no answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("http://{}/live", t.addr))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A client that does not trust the certificate is refused.
    let other = make_cert(&["127.0.0.1"], "someone else");
    assert!(live(
        &https_client(&[&other], "localhost", t.addr),
        "localhost",
        t.addr
    )
    .await
    .is_none());

    // A renewed certificate in the same files, then the SIGHUP reload.
    write_cert(t.dir.path(), &new);
    let files = t
        .reloader
        .reload_tls(None)
        .expect("TLS is on")
        .expect("the new certificate loads");
    assert_eq!(files.cert, t.dir.path().join("cert.pem"));
    eventually(
        LONG,
        "a new connection to see the new certificate",
        || async {
            let (status, der) = live(&client, "localhost", t.addr).await?;
            (status == 200 && der == new.der).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_bad_certificate_at_reload_keeps_serving_the_old_one() {
    let old = make_cert(&["localhost"], "autoheal old");
    let t = spawn_tls_app(&old).await;
    let client = https_client(&[&old], "localhost", t.addr);
    eventually(LONG, "GET /live over HTTPS", || {
        live(&client, "localhost", t.addr)
    })
    .await;

    // Not PEM at all.
    std::fs::write(t.dir.path().join("cert.pem"), "not a certificate\n").unwrap();
    let e = t.reloader.reload_tls(None).unwrap().unwrap_err();
    assert_eq!(e.key, "server.tls_cert", "{e}");
    assert!(e.to_string().contains("cert.pem"), "{e}");
    assert!(e.to_string().contains("no PEM certificate"), "{e}");

    // A certificate with another certificate's key.
    let other = make_cert(&["localhost"], "autoheal other");
    std::fs::write(t.dir.path().join("cert.pem"), &other.pem).unwrap();
    let e = t.reloader.reload_tls(None).unwrap().unwrap_err();
    assert_eq!(e.key, "server.tls_key", "{e}");

    // A file that is gone, named by a reloaded config.
    let gone = autoheal_config::TlsFiles {
        cert: t.dir.path().join("missing.pem"),
        key: t.dir.path().join("key.pem"),
    };
    let e = t.reloader.reload_tls(Some(&gone)).unwrap().unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");

    // Still the old certificate, on new connections.
    for _ in 0..3 {
        let (status, der) = live(&client, "localhost", t.addr)
            .await
            .expect("still served");
        assert_eq!((status, der), (200, old.der.clone()));
    }
}

#[tokio::test]
async fn a_slow_handshake_does_not_hold_a_connection_slot_for_ever() {
    use tokio::io::AsyncReadExt;
    let cert = make_cert(&["localhost"], "autoheal");
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_cert(dir.path(), &cert);
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "AUTOHEAL_DATA_DIR".to_string(),
            dir.path().join("data").display().to_string(),
        ),
    ]);
    let text = format!(
        "{}max_connections = 1\nheader_read_timeout = \"300ms\"\n",
        tls_config(&c, &k)
    );
    let cfg = autoheal_config::parse_str(&text, "test.toml", &env).unwrap();
    let app = Application::build(&cfg).await.unwrap();
    let addr = app.local_addr();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    // Takes the only slot and never says hello: closed at the timeout.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(LONG, silent.read(&mut buf))
        .await
        .expect("the silent connection is closed by the server");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // The slot is free again.
    let client = https_client(&[&cert], "localhost", addr);
    let (status, _) = eventually(LONG, "GET /live after the slow client", || {
        live(&client, "localhost", addr)
    })
    .await;
    assert_eq!(status, 200);
    stop.cancel();
}

#[tokio::test]
async fn a_missing_certificate_stops_the_start_naming_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(&["localhost"], "autoheal");
    let (_, k) = write_cert(dir.path(), &cert);
    let missing = dir.path().join("nope.pem");
    let env = BTreeMap::from([
        ("AUTOHEAL_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "AUTOHEAL_DATA_DIR".to_string(),
            dir.path().join("data").display().to_string(),
        ),
    ]);
    let cfg = autoheal_config::parse_str(&tls_config(&missing, &k), "test.toml", &env).unwrap();
    let e = Application::build(&cfg)
        .await
        .err()
        .expect("a missing certificate is an error");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("server.tls_cert") && msg.contains("nope.pem"),
        "{msg}"
    );

    // The binary says so and exits non-zero.
    let config = dir.path().join("autoheal.toml");
    std::fs::write(&config, tls_config(&missing, &k)).unwrap();
    let out = assert_cmd::Command::cargo_bin("autoheal")
        .unwrap()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.tls_cert") && stderr.contains("nope.pem"),
        "{stderr}"
    );

    // `autoheal check` reads the files too; a lone tls_cert is named.
    let out = assert_cmd::Command::cargo_bin("autoheal")
        .unwrap()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.pem"));
    std::fs::write(
        &config,
        format!("[server]\ntls_cert = {:?}\n", missing.display().to_string()),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("autoheal")
        .unwrap()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.tls_key"),
        "{out:?}"
    );
}

/// The binary over HTTPS with a certificate for a name only (not for
/// 127.0.0.1): `healthcheck` and `status` with `--tls-cert` reach it by
/// that name; SIGHUP swaps in a renewed certificate, and a config file
/// with errors at that SIGHUP still lets the renewed files in.
#[tokio::test]
async fn the_binary_reloads_its_certificate_on_sighup_and_the_cli_speaks_https() {
    let dir = tempfile::tempdir().unwrap();
    let old = make_cert(&["autoheal.example.test"], "autoheal old");
    let new = make_cert(&["autoheal.example.test"], "autoheal new");
    let newer = make_cert(&["autoheal.example.test"], "autoheal newer");
    let (c, k) = write_cert(dir.path(), &old);
    let config = dir.path().join("autoheal.toml");
    std::fs::write(&config, tls_config(&c, &k)).unwrap();
    let data = dir.path().join("data");
    let app = Autoheal::start(&config, &data).await;
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let name = "autoheal.example.test";
    let client = https_client(&[&old, &new, &newer], name, addr);
    let (status, der) =
        eventually(LONG, "GET /live over HTTPS", || live(&client, name, addr)).await;
    assert_eq!((status, der == old.der), (200, true));
    assert!(app.logs().contains(&format!("serving on https://{addr}")));

    let cli = |args: &[&str], cert: Option<&Path>| {
        let mut cmd = assert_cmd::Command::cargo_bin("autoheal").unwrap();
        cmd.args(args)
            .args(["--url", &format!("http://127.0.0.1:{}", addr.port())])
            .arg("--data-dir")
            .arg(&data)
            .env_remove("AUTOHEAL_TLS_CERT")
            .timeout(LONG);
        if let Some(cert) = cert {
            cmd.env("AUTOHEAL_TLS_CERT", cert);
        }
        cmd.output().unwrap()
    };
    let out = cli(&["healthcheck"], Some(&c));
    assert!(out.status.success(), "{out:?}");
    let out = cli(&["status"], Some(&c));
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("TARGET"),
        "{out:?}"
    );
    let out = cli(&["healthcheck"], None);
    assert!(
        !out.status.success(),
        "plain HTTP must not be answered: {out:?}"
    );

    let hup = || {
        std::process::Command::new("kill")
            .args(["-HUP", &app.child.id().to_string()])
            .status()
            .unwrap();
    };
    write_cert(dir.path(), &new);
    hup();
    eventually(
        LONG,
        "a new connection to see the renewed certificate",
        || async {
            let (status, der) = live(&client, name, addr).await?;
            (status == 200 && der == new.der).then_some(())
        },
    )
    .await;

    // The config file now has an error: the running config stays, the
    // renewed certificate still comes in.
    std::fs::write(
        &config,
        format!(
            "{}[targets.x]\ncooldown = \"whenever\"\n",
            tls_config(&c, &k)
        ),
    )
    .unwrap();
    write_cert(dir.path(), &newer);
    hup();
    eventually(
        LONG,
        "the renewed certificate despite the bad config",
        || async {
            let (status, der) = live(&client, name, addr).await?;
            (status == 200 && der == newer.der).then_some(())
        },
    )
    .await;
    assert!(app.logs().contains("keeping the running configuration"));
}

#[test]
fn the_cli_reaches_a_loopback_address_by_the_name_in_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let base = |names: &[&str], url: &str| {
        let (c, _) = write_cert(dir.path(), &make_cert(names, "autoheal"));
        autoheal::http::tls::api_client(url, &c, reqwest::Client::builder()).map(|(_, b)| b)
    };
    // The default URL, a certificate for a public name: connect by it.
    assert_eq!(
        base(&["autoheal.example.com"], "http://127.0.0.1:8080").unwrap(),
        "https://autoheal.example.com:8080"
    );
    assert_eq!(
        base(&["*.example.com"], "http://localhost:8443/").unwrap(),
        "https://autoheal.example.com:8443"
    );
    // A certificate that names the address: connect by the address.
    assert_eq!(
        base(
            &["127.0.0.1", "autoheal.example.com"],
            "http://127.0.0.1:8080"
        )
        .unwrap(),
        "https://127.0.0.1:8080"
    );
    // Not loopback: the URL is kept (its name is verified as it is).
    assert_eq!(
        base(&["autoheal.example.com"], "https://autoheal.example.com").unwrap(),
        "https://autoheal.example.com"
    );
    // Nothing to connect by.
    let e = base(&["10.0.0.1"], "http://127.0.0.1:8080").unwrap_err();
    assert_eq!(e.key, "server.tls_cert", "{e}");
    // An unreadable file names it.
    let e = autoheal::http::tls::api_client(
        "http://127.0.0.1:8080",
        &dir.path().join("gone.pem"),
        reqwest::Client::builder(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("gone.pem"), "{e}");
}
