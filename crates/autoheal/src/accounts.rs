//! `autoheal user`, `autoheal workspace` (on the store directly, as the
//! local root) and `autoheal key` (through the API, with the caller's
//! token).

use crate::commands::{api_error, env_with, request, unreachable};
use autoheal::auth::{normalise, Auth, AuthError, AuthSettings};
use autoheal::cli::{ApiArgs, KeyCmd, NotifyCmd, SecretsCmd, StoreArgs, UserCmd, WorkspaceCmd};
use autoheal_store::{Role, Store};
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

fn now() -> i64 {
    autoheal::supervisor::now_ms()
}

/// Opens the store `serve` would use with the same config and data dir.
async fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>, ExitCode> {
    open_store_in(args).await.map(|(s, _)| s)
}

/// [`open_store`], and the data directory.
async fn open_store_in(args: &StoreArgs) -> Result<(Arc<dyn Store>, std::path::PathBuf), ExitCode> {
    let env = env_with(None, args.data_dir.as_deref());
    let cfg = autoheal_config::load(args.config.as_deref(), &env).map_err(|errors| {
        eprintln!("autoheal: the configuration has errors:\n{errors}");
        ExitCode::from(2)
    })?;
    if let Some(path) = cfg.store.url.strip_prefix("sqlite://") {
        if let Some(parent) = std::path::Path::new(path).parent() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
    let store = autoheal_store::open(&cfg.store.url).await.map_err(|e| {
        eprintln!(
            "autoheal: cannot open the store at {}: {}",
            autoheal::app::redact_store_url(&cfg.store.url),
            autoheal::error_chain(&e)
        );
        ExitCode::FAILURE
    })?;
    Ok((store, cfg.store.data_dir.clone()))
}

/// A password from the terminal (asked twice, not echoed) or one line of
/// standard input.
fn read_password(prompt: &str) -> Result<String, ExitCode> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).map_err(|e| {
            eprintln!("autoheal: cannot read the password: {e}");
            ExitCode::FAILURE
        })?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| {
            eprintln!("autoheal: cannot read the password: {e}");
            ExitCode::FAILURE
        })?;
        if first != again {
            eprintln!("autoheal: the two passwords differ; nothing was changed.");
            return Err(ExitCode::from(2));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            eprintln!("autoheal: cannot read the password from standard input: {e}");
            ExitCode::FAILURE
        })?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

fn parse_role(s: &str) -> Result<Role, ExitCode> {
    Role::parse(s).ok_or_else(|| {
        eprintln!("autoheal: --role must be viewer, operator, admin or owner, not {s:?}");
        ExitCode::from(2)
    })
}

fn auth_failed(e: AuthError) -> ExitCode {
    eprintln!("autoheal: {e}");
    match e {
        AuthError::Store(_) | AuthError::Busy => ExitCode::FAILURE,
        _ => ExitCode::from(2),
    }
}

/// Records a CLI account change in the audit log.
async fn audit(store: &Arc<dyn Store>, workspace_id: i64, event: autoheal_core::AuditEvent) {
    let row = autoheal::telemetry::events::audit_row(workspace_id, None, &event, "cli");
    if let Err(e) = store.append_event(&row).await {
        eprintln!("autoheal: warning: the audit event could not be recorded: {e}");
    }
}

pub async fn user(cmd: UserCmd, args: &StoreArgs) -> ExitCode {
    let (store, data_dir) = match open_store_in(args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let env_key = std::env::var(autoheal::vault::KEY_ENV).ok();
    let keys = match autoheal::vault::Keyring::load(env_key.as_deref(), &data_dir) {
        Ok((k, _)) => k,
        Err(e) => {
            eprintln!("autoheal: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let auth = Auth::new(store.clone(), AuthSettings::default(), keys);
    match cmd {
        UserCmd::Add {
            name,
            email,
            admin,
            role,
            workspace,
        } => {
            let role = match (admin, role) {
                (true, None) => Role::Owner,
                (_, Some(r)) => match parse_role(&r) {
                    Ok(r) => r,
                    Err(c) => return c,
                },
                (false, None) => Role::Viewer,
            };
            let ws = match store.workspace_by_name(&workspace).await {
                Ok(Some(w)) => w,
                Ok(None) => {
                    eprintln!("autoheal: no workspace named {workspace:?} (see `autoheal workspace list`)");
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!("autoheal: {}", autoheal::error_chain(&e));
                    return ExitCode::FAILURE;
                }
            };
            let password = match read_password(&format!("Password for {name}: ")) {
                Ok(p) => p,
                Err(c) => return c,
            };
            match auth
                .create_user(&name, email.as_deref(), &password, ws.id, role, now())
                .await
            {
                Ok(id) => {
                    audit(
                        &store,
                        ws.id,
                        autoheal_core::AuditEvent::UserCreated {
                            username: normalise(&name),
                            role: role.to_string(),
                            from: None,
                        },
                    )
                    .await;
                    println!(
                        "made user {} (id {id}), {role} of {}",
                        normalise(&name),
                        ws.name
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => auth_failed(e),
            }
        }
        UserCmd::Passwd { name } => {
            let user = match store.find_user(&normalise(&name)).await {
                Ok(Some(u)) => u,
                Ok(None) => {
                    eprintln!("autoheal: no user named {name:?}");
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!("autoheal: {}", autoheal::error_chain(&e));
                    return ExitCode::FAILURE;
                }
            };
            let password = match read_password(&format!("New password for {}: ", user.username)) {
                Ok(p) => p,
                Err(c) => return c,
            };
            match auth.reset_password(user.id, &password).await {
                Ok(()) => {
                    audit(
                        &store,
                        autoheal_store::DEFAULT_WORKSPACE,
                        autoheal_core::AuditEvent::PasswordChanged {
                            username: user.username.clone(),
                            from: None,
                        },
                    )
                    .await;
                    println!(
                        "the password of {} is set; their sessions have ended",
                        user.username
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => auth_failed(e),
            }
        }
        UserCmd::List => {
            let users = match store.list_users().await {
                Ok(u) => u,
                Err(e) => {
                    eprintln!("autoheal: {}", autoheal::error_chain(&e));
                    return ExitCode::FAILURE;
                }
            };
            println!("{:<6} {:<24} {:<32} WORKSPACES", "ID", "USERNAME", "E-MAIL");
            for u in users {
                let ws = store.memberships(u.id).await.unwrap_or_default();
                let ws: Vec<String> = ws.iter().map(|(w, r)| format!("{}:{r}", w.name)).collect();
                println!(
                    "{:<6} {:<24} {:<32} {}",
                    u.id,
                    u.username,
                    u.email.as_deref().unwrap_or("-"),
                    ws.join(" ")
                );
            }
            ExitCode::SUCCESS
        }
        UserCmd::Remove { name } => {
            let user = match store.find_user(&normalise(&name)).await {
                Ok(Some(u)) => u,
                Ok(None) => {
                    eprintln!("autoheal: no user named {name:?}");
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!("autoheal: {}", autoheal::error_chain(&e));
                    return ExitCode::FAILURE;
                }
            };
            match store.delete_user(user.id).await {
                Ok(_) => {
                    audit(
                        &store,
                        autoheal_store::DEFAULT_WORKSPACE,
                        autoheal_core::AuditEvent::MemberRemoved {
                            username: user.username.clone(),
                            from: None,
                        },
                    )
                    .await;
                    println!(
                        "removed user {} with their sessions and keys",
                        user.username
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("autoheal: {}", autoheal::error_chain(&e));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

pub async fn workspace(cmd: WorkspaceCmd, args: &StoreArgs) -> ExitCode {
    let store = match open_store(args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = match cmd {
        WorkspaceCmd::List => store.list_workspaces().await.map(|ws| {
            println!("{:<6} NAME", "ID");
            for w in ws {
                println!("{:<6} {}", w.id, w.name);
            }
        }),
        WorkspaceCmd::Add { name } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                eprintln!("autoheal: a workspace name has 1-64 printable characters, not {name:?}");
                return ExitCode::from(2);
            }
            match store.create_workspace(&name, now()).await {
                Ok(id) => {
                    println!("made workspace {name} (id {id})");
                    Ok(())
                }
                Err(autoheal_store::StoreError::Conflict(_)) => {
                    eprintln!("autoheal: a workspace named {name:?} exists already");
                    return ExitCode::from(2);
                }
                Err(e) => Err(e),
            }
        }
        WorkspaceCmd::Members { name } => match store.workspace_by_name(&name).await {
            Ok(Some(w)) => store.members(w.id).await.map(|ms| {
                println!("{:<6} {:<24} ROLE", "ID", "USERNAME");
                for m in ms {
                    println!("{:<6} {:<24} {}", m.user_id, m.username, m.role);
                }
            }),
            Ok(None) => {
                eprintln!("autoheal: no workspace named {name:?}");
                return ExitCode::from(2);
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autoheal: {}", autoheal::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

pub async fn key(cmd: KeyCmd, api: &ApiArgs) -> ExitCode {
    let req = match &cmd {
        KeyCmd::Create {
            name,
            role,
            expires,
        } => request(api, reqwest::Method::POST, "/api/v1/keys")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(
                serde_json::json!({"name": name, "role": role, "expires_in": expires}).to_string(),
            ),
        KeyCmd::List => request(api, reqwest::Method::GET, "/api/v1/keys"),
        KeyCmd::Revoke { id } => {
            request(api, reqwest::Method::DELETE, &format!("/api/v1/keys/{id}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
        }
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return unreachable(api, &e),
    };
    if !resp.status().is_success() {
        return api_error(resp).await;
    }
    match cmd {
        KeyCmd::Create { .. } => {
            let b: serde_json::Value = resp.json().await.unwrap_or_default();
            println!(
                "made API key {} ({}, {}). It is shown only now:\n{}",
                b["id"],
                b["name"].as_str().unwrap_or(""),
                b["role"].as_str().unwrap_or(""),
                b["key"].as_str().unwrap_or("")
            );
        }
        KeyCmd::List => {
            let b: serde_json::Value = resp.json().await.unwrap_or_default();
            println!(
                "{:<6} {:<28} {:<9} {:<22} STATE",
                "ID", "NAME", "ROLE", "KEY"
            );
            for k in b["items"].as_array().cloned().unwrap_or_default() {
                let state = if !k["revoked_at"].is_null() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<6} {:<28} {:<9} {:<22} {state}",
                    k["id"].to_string(),
                    k["name"].as_str().unwrap_or(""),
                    k["role"].as_str().unwrap_or(""),
                    k["hint"].as_str().unwrap_or("")
                );
            }
        }
        KeyCmd::Revoke { id } => println!("revoked API key {id}"),
    }
    ExitCode::SUCCESS
}

/// `autoheal notify ...`: through the API, like `key`.
pub async fn notify(cmd: NotifyCmd, api: &ApiArgs) -> ExitCode {
    let post = |path: String| {
        request(api, reqwest::Method::POST, &path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body("{}")
    };
    let req = match &cmd {
        NotifyCmd::Channels => request(api, reqwest::Method::GET, "/api/v1/channels"),
        NotifyCmd::Test { channel } => post(format!("/api/v1/channels/{channel}/test")),
        NotifyCmd::Dead => request(
            api,
            reqwest::Method::GET,
            "/api/v1/deliveries?state=dead&limit=500",
        ),
        NotifyCmd::Retry { id } => post(format!("/api/v1/deliveries/{id}/retry")),
        NotifyCmd::Cancel { id } => post(format!("/api/v1/deliveries/{id}/cancel")),
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return unreachable(api, &e),
    };
    if !resp.status().is_success() {
        return api_error(resp).await;
    }
    let b: serde_json::Value = resp.json().await.unwrap_or_default();
    let items = || b["items"].as_array().cloned().unwrap_or_default();
    match cmd {
        NotifyCmd::Channels => {
            println!("{:<24} {:<10} STATE", "NAME", "KIND");
            for c in items() {
                let state = if c["enabled"] == true {
                    "in force"
                } else {
                    "gone (410)"
                };
                println!(
                    "{:<24} {:<10} {state}",
                    c["name"].as_str().unwrap_or(""),
                    c["kind"].as_str().unwrap_or("")
                );
            }
        }
        NotifyCmd::Test { channel } => {
            let outcome = b["outcome"].as_str().unwrap_or("");
            let detail = b["detail"].as_str().unwrap_or("");
            if b["delivered"] == true {
                println!("{channel}: {outcome}");
            } else {
                eprintln!("{channel}: {outcome}: {detail}");
                return ExitCode::FAILURE;
            }
        }
        NotifyCmd::Dead => {
            println!("{:<8} {:<20} {:<6} LAST ERROR", "ID", "CHANNEL", "TRIES");
            for d in items() {
                println!(
                    "{:<8} {:<20} {:<6} {}",
                    d["id"].to_string(),
                    d["channel"].as_str().unwrap_or(""),
                    d["tries"].to_string(),
                    d["last_error"].as_str().unwrap_or("")
                );
            }
        }
        NotifyCmd::Retry { id } => println!("delivery {id} is pending again"),
        NotifyCmd::Cancel { id } => println!("delivery {id} is cancelled"),
    }
    ExitCode::SUCCESS
}

pub async fn secrets(cmd: SecretsCmd, args: &StoreArgs) -> ExitCode {
    let (store, data_dir) = match open_store_in(args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cmd {
        SecretsCmd::List { workspace } => {
            let ws = match store.workspace_by_name(&workspace).await {
                Ok(Some(w)) => w,
                Ok(None) => {
                    eprintln!("autoheal: no workspace named {workspace:?}");
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!("autoheal: {}", autoheal::error_chain(&e));
                    return ExitCode::FAILURE;
                }
            };
            match store.list_secrets(ws.id).await {
                Ok(list) => {
                    println!("{:<32} {:<24} KEY", "NAME", "KIND");
                    for s in list {
                        println!("{:<32} {:<24} {}", s.name, s.kind, s.key_id);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("autoheal: {}", autoheal::error_chain(&e));
                    ExitCode::FAILURE
                }
            }
        }
        SecretsCmd::RotateKey => {
            let env_key = std::env::var(autoheal::vault::KEY_ENV).ok();
            let keys = match autoheal::vault::Keyring::load(env_key.as_deref(), &data_dir) {
                Ok((k, _)) => k,
                Err(e) => {
                    eprintln!("autoheal: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            let vault = autoheal::vault::Vault::new(store.clone(), keys);
            match vault.rotate().await {
                Ok((n, ring)) => {
                    audit(
                        &store,
                        autoheal_store::DEFAULT_WORKSPACE,
                        autoheal_core::AuditEvent::SecretKeyRotated {
                            key_id: ring.current_id().to_string(),
                            secrets: n,
                        },
                    )
                    .await;
                    println!(
                        "re-encrypted {n} secrets (config objects made through the API included) under key {}; back up {}",
                        ring.current_id(),
                        data_dir.join(autoheal::vault::KEY_FILE).display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("autoheal: the key was not rotated: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
