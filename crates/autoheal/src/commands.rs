//! What each subcommand does. Exit codes: 0 fine, 1 failed, 2 bad input
//! (config errors, unknown target).

use autoheal::app::{build_targets, Application, Built};
use autoheal::cli::ApiArgs;
use autoheal::telemetry::logging;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// The process environment, with command-line flags laid over it (flags win).
pub fn env_with(listen: Option<SocketAddr>, data_dir: Option<&Path>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    if let Some(l) = listen {
        env.insert("AUTOHEAL_LISTEN".into(), l.to_string());
    }
    if let Some(d) = data_dir {
        env.insert("AUTOHEAL_DATA_DIR".into(), d.display().to_string());
    }
    env
}

pub async fn serve(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
) -> ExitCode {
    let env = env_with(listen, data_dir.as_deref());
    let cfg = match autoheal_config::load(config.as_deref(), &env) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("autoheal: the configuration has errors; nothing was started:\n{errors}");
            return ExitCode::from(2);
        }
    };
    let format = match cfg.log.format {
        autoheal_config::LogFormat::Auto => logging::Format::Auto,
        autoheal_config::LogFormat::Json => logging::Format::Json,
        autoheal_config::LogFormat::Text => logging::Format::Text,
    };
    logging::init(format, &cfg.log.level);
    match autoheal::http::serve::raise_fd_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!(
                before,
                after,
                "Raised the open-file limit from {before} to {after}."
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "The open-file limit could not be raised."),
    }
    match &config {
        Some(p) => tracing::info!(config = %p.display(), "Loaded {}.", p.display()),
        None => tracing::info!("No config file given: running on embedded defaults (API on {}, store {}, no configured targets).", cfg.server.listen, autoheal::app::redact_store_url(&cfg.store.url)),
    }
    let app = match Application::build(&cfg).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "autoheal could not start: {e:#}");
            eprintln!("autoheal: could not start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Everything the service needs is built; the parsed file is not kept
    // (with 100,000 targets it is ~100 MB). A reload reads the file again.
    drop(cfg);
    let token = CancellationToken::new();
    app.vitals().spawn_vital(
        "signal handler",
        signals(token.clone(), app.reloader(), config.clone(), env),
    );
    match app.run_until_stopped(token).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "autoheal failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM and SIGINT stop (a second one exits at once); SIGHUP reloads
/// the config file, keeping the running config when the new one has errors,
/// and the TLS certificate and key (keeping the old ones on error).
/// A reload runs in its own task: even a panic in it leaves the signal
/// handler (and so SIGTERM) working.
async fn signals(
    token: CancellationToken,
    reloader: autoheal::app::Reloader,
    config: Option<PathBuf>,
    env: BTreeMap<String, String>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("Signal handlers could not be installed.");
        return;
    };
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => {
                let (reloader, config, env) = (reloader.clone(), config.clone(), env.clone());
                let task = tokio::spawn(async move { reload(&reloader, config.as_deref(), &env).await });
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "SIGHUP: reloading failed unexpectedly; keeping the running configuration.");
                }
                continue;
            }
        };
        if token.is_cancelled() {
            tracing::warn!("{name} received again: exiting now.");
            std::process::exit(1);
        }
        tracing::info!("{name} received: stopping.");
        token.cancel();
    }
}

async fn reload(
    reloader: &autoheal::app::Reloader,
    config: Option<&Path>,
    env: &BTreeMap<String, String>,
) {
    let Some(path) = config else {
        if reloader.serves_tls() {
            reload_tls(reloader, None);
        } else {
            tracing::info!(
                "SIGHUP received, but autoheal runs on embedded defaults: nothing to reload."
            );
        }
        return;
    };
    let cfg = match autoheal_config::load(Some(path), env) {
        Ok(c) => c,
        Err(errors) => {
            tracing::error!(config = %path.display(), errors = %errors, "SIGHUP: {} has errors; keeping the running configuration.", path.display());
            // A renewed certificate is still picked up, from the files in force.
            reload_tls(reloader, None);
            return;
        }
    };
    match (reloader.serves_tls(), cfg.server.tls.is_some()) {
        (true, true) => reload_tls(reloader, cfg.server.tls.as_ref()),
        (true, false) => {
            tracing::warn!("SIGHUP: {} no longer sets server.tls_cert and server.tls_key, but switching from HTTPS to HTTP needs a restart; still serving HTTPS.", path.display());
            reload_tls(reloader, None);
        }
        (false, true) => tracing::warn!("SIGHUP: {} now sets server.tls_cert and server.tls_key, but switching from HTTP to HTTPS needs a restart; still serving HTTP.", path.display()),
        (false, false) => {}
    }
    match reloader.reload(&cfg).await {
        Ok(n) => tracing::info!(targets = n, "SIGHUP: reloaded {}.", path.display()),
        Err(errors) => {
            tracing::error!(errors = %errors.join("; "), "SIGHUP: {} could not be built; keeping the running configuration.", path.display())
        }
    }
}

/// Reads the TLS certificate and key again; on error the old ones serve on.
fn reload_tls(reloader: &autoheal::app::Reloader, files: Option<&autoheal_config::TlsFiles>) {
    match reloader.reload_tls(files) {
        Some(Ok(files)) => {
            tracing::info!(cert = %files.cert.display(), key = %files.key.display(), "SIGHUP: reloaded the TLS certificate {} and key {}.", files.cert.display(), files.key.display())
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "SIGHUP: the TLS certificate could not be reloaded ({e}); still serving the old one.")
        }
        None => {}
    }
}

pub fn check(path: &Path) -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    match autoheal_config::load(Some(path), &env) {
        Ok(cfg) => match build_targets(&cfg).and_then(|built| {
            // The certificate and key must be usable too.
            match cfg
                .server
                .tls
                .as_ref()
                .map(autoheal::http::tls::server_config)
            {
                Some(Err(e)) => Err(vec![e.to_string()]),
                _ => Ok(built),
            }
        }) {
            Ok(Built {
                targets, actions, ..
            }) => {
                println!(
                    "{}: ok ({} targets, {} actions)",
                    path.display(),
                    targets.len(),
                    actions.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("{}: {e}", path.display());
                }
                ExitCode::from(2)
            }
        },
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

/// A client for the API at `api` and its base URL: with `--tls-cert`
/// (`AUTOHEAL_TLS_CERT`) over HTTPS trusting that certificate (see
/// [`autoheal::http::tls::api_client`]). A certificate that cannot be read
/// ends the command (exit 2).
fn client(api: &ApiArgs) -> (reqwest::Client, String) {
    let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
    match &api.tls_cert {
        None => (
            builder.build().expect("a default HTTP client builds"),
            api.url.trim_end_matches('/').to_string(),
        ),
        Some(cert) => match autoheal::http::tls::api_client(&api.url, cert, builder) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("autoheal: {e}");
                std::process::exit(2);
            }
        },
    }
}

/// A request to the API at `api`, with its token when there is one.
pub fn request(api: &ApiArgs, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let (client, base) = client(api);
    let mut r = client.request(method, format!("{base}{path}"));
    if let Some(t) = api.token() {
        r = r.bearer_auth(t);
    }
    r
}

/// Prints why the API could not be reached.
pub fn unreachable(api: &ApiArgs, e: &reqwest::Error) -> ExitCode {
    eprintln!(
        "autoheal: cannot reach {}: {}",
        api.url,
        autoheal::error_chain(e)
    );
    ExitCode::FAILURE
}

/// Prints an API error answer and picks the exit code.
pub async fn api_error(resp: reqwest::Response) -> ExitCode {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let msg = body["error"]["message"].as_str().unwrap_or("no message");
    eprintln!("autoheal: {msg} (HTTP {})", status.as_u16());
    if status == reqwest::StatusCode::UNAUTHORIZED {
        eprintln!("autoheal: pass an API key with --token or AUTOHEAL_TOKEN, or run where autoheal runs with its data directory (--data-dir or AUTOHEAL_DATA_DIR) so the local token is found.");
    }
    if status.is_client_error() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

pub async fn status(api: &ApiArgs) -> ExitCode {
    let resp = match request(api, reqwest::Method::GET, "/api/v1/targets")
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return unreachable(api, &e),
    };
    if !resp.status().is_success() {
        return api_error(resp).await;
    }
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let items = body["items"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<28} {:<8} {:<12} {:<9} LAST CHECK",
        "TARGET", "KIND", "PHASE", "INCIDENT"
    );
    for t in items {
        let incident = t["incident_id"]
            .as_i64()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into());
        let last = match (t["last_status"].as_str(), t["last_detail"].as_str()) {
            (Some(s), Some(d)) if !d.is_empty() => format!("{s}: {d}"),
            (Some(s), _) => s.to_string(),
            _ => "-".into(),
        };
        println!(
            "{:<28} {:<8} {:<12} {:<9} {}",
            t["name"].as_str().unwrap_or(""),
            t["kind"].as_str().unwrap_or(""),
            t["phase"].as_str().unwrap_or(""),
            incident,
            last
        );
    }
    ExitCode::SUCCESS
}

/// Percent-encodes a target name for one URL path segment (a compose
/// target is named `project/service`).
fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub async fn command(api: &ApiArgs, target: &str, verb: &str) -> ExitCode {
    let path = format!("/api/v1/targets/{}/{verb}", path_segment(target));
    // application/json: the API refuses writes of any other type (CSRF).
    let request = request(api, reqwest::Method::POST, &path)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{}");
    match request.send().await {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            println!(
                "{verb}: accepted; {target} is now {}",
                body["target"]["phase"].as_str().unwrap_or("unknown")
            );
            ExitCode::SUCCESS
        }
        Ok(r) => api_error(r).await,
        Err(e) => unreachable(api, &e),
    }
}

pub async fn healthcheck(api: &ApiArgs) -> ExitCode {
    let (client, url) = client(api);
    match client.get(format!("{url}/live")).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("autoheal: /live answered HTTP {}", r.status().as_u16());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "autoheal: cannot reach {url}: {}",
                autoheal::error_chain(&e)
            );
            ExitCode::FAILURE
        }
    }
}

pub fn export(config: &Path, output: Option<&Path>) -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cfg = match autoheal_config::load(Some(config), &env) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let text = match cfg.to_toml_targets() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("autoheal: cannot write the targets as TOML: {e}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("autoheal: cannot write {}: {e}", p.display());
                ExitCode::FAILURE
            }
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

/// The sections `import` merges, entry by entry (an entry of the imported
/// file replaces the one of the same name).
const IMPORTED_SECTIONS: [&str; 5] = ["groups", "actions", "targets", "channels", "routes"];

pub fn import(file: &Path, config: &Path) -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    // The imported file must be valid on its own.
    if let Err(errors) = autoheal_config::load(Some(file), &env) {
        eprintln!("{errors}");
        return ExitCode::from(2);
    }
    let read = |p: &Path| -> Result<toml::Table, String> {
        match std::fs::read_to_string(p) {
            Ok(text) => text
                .parse::<toml::Table>()
                .map_err(|e| format!("{}: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    };
    let (incoming, mut merged) = match (read(file), read(config)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("autoheal: {e}");
            return ExitCode::from(2);
        }
    };
    let mut counts = Vec::new();
    for section in IMPORTED_SECTIONS {
        let Some(toml::Value::Table(entries)) = incoming.get(section) else {
            continue;
        };
        let dest = merged
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(dest) = dest.as_table_mut() else {
            eprintln!("autoheal: {}: {section} is not a table", config.display());
            return ExitCode::from(2);
        };
        for (k, v) in entries {
            dest.insert(k.clone(), v.clone());
        }
        counts.push(format!("{} {section}", entries.len()));
    }
    let text = toml::to_string_pretty(&merged).unwrap_or_default();
    if let Err(errors) = autoheal_config::parse_str(&text, &config.display().to_string(), &env) {
        eprintln!(
            "autoheal: the merged config would be invalid; {} is unchanged:\n{errors}",
            config.display()
        );
        return ExitCode::from(2);
    }
    let tmp = config.with_extension("toml.tmp");
    if let Err(e) = std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, config)) {
        eprintln!("autoheal: cannot write {}: {e}", config.display());
        return ExitCode::FAILURE;
    }
    println!(
        "Imported {} into {}. Send SIGHUP to a running autoheal to apply it.",
        counts.join(", "),
        config.display()
    );
    ExitCode::SUCCESS
}
