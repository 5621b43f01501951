//! From the raw sections to the domain [`Config`]: layers merged, every value
//! checked, every error collected.
//!
//! Policy keys are checked where they are written (a bad
//! `defaults.cooldown` is reported once, not once per target) and turned
//! into a typed [`PolicyLayer`]; [`merge_policy`] is the one place where
//! layers meet: defaults, then group, then target, key by key.

use crate::de::{deserialize_keywise, deserialize_table, expect_table, named_tables};
use crate::env::Overrides;
use crate::error::{join, name_key, ConfigError, ConfigErrors, Errors, ENVIRONMENT};
use crate::plugins::{parse_and_validate, LazyClients};
use crate::raw::{
    AuthKeys, BackoffKeys, ContainerKeys, EngineKeys, HumanDuration, LogKeys, MaintenanceKeys,
    PolicyKeys, RungKeys, ServerKeys, StoreKeys, TargetKeys,
};
use crate::secrets::{self, SecretRefs, Sources};
use crate::source::FileObjects;
pub(crate) use crate::values::{check_log_level, check_store_url, parse_listen};
use crate::{
    ActionConfig, CheckConfig, Config, EngineSettings, LogFormat, LogSettings, Retention,
    ServerSettings, StoreSettings, TargetConfig,
};
use autoheal_core::policy::limits::{self, Limit};
use autoheal_core::{MaintenanceWindow, Policy, Rung, Timestamp};
use autoheal_docker::config::{DockerMode, DockerSettings};
use autoheal_docker::discovery::{
    ConfiguredTarget, ContainerSelector, LabelSelector, ACTION_RESTART, BUILTIN_ACTIONS,
    DEFAULT_REPEAT as CONTAINER_REPEAT, DEFAULT_VERIFY as CONTAINER_VERIFY,
};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The top-level sections a file may have.
pub const SECTIONS: &[&str] = &[
    "server", "auth", "store", "log", "engine", "docker", "defaults", "groups", "actions",
    "targets", "channels", "routes", "notify",
];

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./autoheal-data";
pub const DEFAULT_LOG_LEVEL: &str = "info";
pub const DEFAULT_MAX_CONCURRENT_CHECKS: usize = 256;
pub const DEFAULT_MAX_CONCURRENT_ACTIONS: usize = 8;
const DAY: u64 = 24 * 3600;
pub const DEFAULT_RETENTION_CHECK_RESULTS: Duration = Duration::from_secs(7 * DAY);
pub const DEFAULT_RETENTION_EVENTS: Duration = Duration::from_secs(90 * DAY);
pub const DEFAULT_RETENTION_INCIDENTS: Duration = Duration::from_secs(365 * DAY);
pub const DEFAULT_RETENTION_ROLLUPS: Duration = Duration::from_secs(400 * DAY);
/// `verify` of a ladder rung when not given.
pub const DEFAULT_RUNG_VERIFY: Duration = Duration::from_secs(30);
/// `repeat` of a ladder rung when not given.
pub const DEFAULT_RUNG_REPEAT: u32 = 1;
/// `repeat` of the one rung written with the `action = "..."` shorthand.
pub const SHORTHAND_REPEAT: u32 = 3;

/// The SQLite URL used when `store.url` is not set.
pub fn default_store_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}", data_dir.join("autoheal.db").display())
}

/// `dir`: the config file's directory, which relative secret file paths
/// are relative to (`None`: the working directory).
pub(crate) fn resolve(
    text: &str,
    origin: &str,
    env: &BTreeMap<String, String>,
    dir: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let root = parse_root(text, origin, env)?;
    let file = FileObjects::of(&root);
    resolve_table(&root, origin, env, dir, file)
}

/// The text as a TOML table, or the syntax error (with the environment's
/// errors, so every problem is listed at once).
pub(crate) fn parse_root(
    text: &str,
    origin: &str,
    env: &BTreeMap<String, String>,
) -> Result<toml::Table, ConfigErrors> {
    match toml::from_str(text) {
        Ok(t) => Ok(t),
        Err(e) => {
            let mut errs = Errors::new(origin);
            let at = e.span().map(|s| line_col(text, s.start));
            let message = match at {
                Some((l, c)) => format!(
                    "invalid TOML at line {l}, column {c}: {}",
                    e.message().trim()
                ),
                None => format!("invalid TOML: {}", e.message().trim()),
            };
            errs.push("", message);
            let (_, env_errs) = Overrides::from_env(env);
            let mut list = errs.list;
            list.extend(env_errs);
            Err(ConfigErrors(list))
        }
    }
}

/// A parsed file (maybe with the API's objects laid over it) to a
/// [`Config`]. `file` names the file's own objects: only they may hold
/// secret references (read from `env` and relative to `dir`).
pub(crate) fn resolve_table(
    root: &toml::Table,
    origin: &str,
    env: &BTreeMap<String, String>,
    dir: Option<&Path>,
    file: FileObjects,
) -> Result<Config, ConfigErrors> {
    let mut errs = Errors::new(origin);
    let mut secrets = Sources::new(env, dir);
    let mut secret_refs = SecretRefs::default();
    // [store] and [docker] with their references read (always the file's).
    let mut root = root.clone();
    for (name, slots) in [("store", secrets::STORE), ("docker", secrets::DOCKER)] {
        if let Some(toml::Value::Table(t)) = root.get_mut(name) {
            secrets.resolve(t, slots, name, true, &mut errs);
        }
    }
    let root = &root;
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errs.push(
                key.clone(),
                format!("unknown section; expected one of {}", SECTIONS.join(", ")),
            );
        }
    }

    let server: ServerKeys = section(root, "server", &mut errs);
    let auth_keys: AuthKeys = section(root, "auth", &mut errs);
    let mut auth = resolve_auth(&auth_keys, &mut errs);
    let store: StoreKeys = section(root, "store", &mut errs);
    let log: LogKeys = section(root, "log", &mut errs);
    let engine: EngineKeys = section(root, "engine", &mut errs);
    let notify_keys: crate::raw::NotifyKeys = section(root, "notify", &mut errs);
    let mut notify = crate::NotifySettings::default();
    if let Some(w) = ranged(
        notify_keys.group_window,
        &autoheal_core::policy::limits::GROUP_WINDOW,
        "notify.group_window",
        &mut errs,
    ) {
        notify.group_window = w;
    }
    if let Some(w) = ranged(
        notify_keys.remind_every,
        &autoheal_core::policy::limits::REMIND_EVERY,
        "notify.remind_every",
        &mut errs,
    ) {
        notify.remind_every = w;
    }
    match notify_keys.rate_limit {
        None => {}
        Some(n @ 1..=1_000_000) => notify.rate_limit = n,
        Some(n) => errs.push(
            "notify.rate_limit",
            format!("expected messages per minute from 1 to 1000000, found {n}"),
        ),
    }
    let public_url = match server.public_url.as_deref() {
        None => None,
        Some(u) => match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {
                Some(u.trim_end_matches('/').to_string())
            }
            _ => {
                errs.push(
                    "server.public_url",
                    format!("expected an http(s) URL like \"https://autoheal.example.com\", found {u:?}"),
                );
                None
            }
        },
    };
    let docker: DockerSettings = match root.get("docker") {
        None => DockerSettings::default(),
        Some(v) => expect_table(v, "docker", "a table", &mut errs)
            .and_then(|t| deserialize_table(t.clone(), "docker", &mut errs))
            .unwrap_or_default(),
    };
    let defaults: PolicyKeys = section(root, "defaults", &mut errs);

    let mut clients = LazyClients::default();
    // A name whose table is broken is kept (as None) so ladders naming it
    // do not add a second error.
    let mut actions: BTreeMap<String, Option<ActionConfig>> = BTreeMap::new();
    for (name, table) in named_tables(
        root,
        "actions",
        r#"a table like { type = "command", ... }"#,
        &mut errs,
    ) {
        let key = name_key("actions", name);
        check_name(name, &key, "an action", &mut errs);
        if name.starts_with("container.") {
            errs.push(
                key.clone(),
                format!(
                    "action names starting with \"container.\" are reserved for the built-in actions ({}); choose another name",
                    BUILTIN_ACTIONS.join(", ")
                ),
            );
        }
        let allowed = file.actions.contains(name);
        let action = parse_and_validate(
            |errs| ActionConfig::parse(table, &key, &mut secrets, allowed, errs),
            |(a, _), clients| a.validate(clients),
            &key,
            &mut clients,
            &mut errs,
        );
        let action = action.map(|(a, refs)| {
            if !refs.is_empty() {
                secret_refs.actions.insert(name.to_string(), refs);
            }
            a
        });
        actions.insert(name.to_string(), action);
    }

    let mut channels = BTreeMap::new();
    for (name, table) in named_tables(
        root,
        "channels",
        r#"a table like { type = "slack", url = "..." }"#,
        &mut errs,
    ) {
        let key = name_key("channels", name);
        check_name(name, &key, "a channel", &mut errs);
        if name.starts_with("docker.") {
            errs.push(
                key.clone(),
                "channel names starting with \"docker.\" are reserved for [docker] webhook_url and apprise_url; choose another name",
            );
        }
        // References to autoheal's environment and files: the file's only.
        let allowed = file.channels.contains(name);
        let channel = parse_and_validate(
            |errs| crate::plugins::parse_channel(table, &key, &mut secrets, allowed, errs),
            |(c, _), clients| crate::plugins::validate_channel(c, clients),
            &key,
            &mut clients,
            &mut errs,
        );
        if let Some((c, refs)) = channel {
            if !refs.is_empty() {
                secret_refs.channels.insert(name.to_string(), refs);
            }
            channels.insert(name.to_string(), c);
        }
    }

    let mut groups = BTreeMap::new();
    let mut raw_groups = BTreeMap::new();
    for (name, table) in named_tables(root, "groups", "a table of policy keys", &mut errs) {
        let key = name_key("groups", name);
        check_name(name, &key, "a group", &mut errs);
        let keys: PolicyKeys = deserialize_keywise(table, &key, &mut errs);
        groups.insert(
            name.to_string(),
            policy_layer(&keys, &key, &actions, &mut errs),
        );
        raw_groups.insert(name.to_string(), keys);
    }

    let mut raw_targets = Vec::new();
    for (name, table) in named_tables(root, "targets", "a table of target keys", &mut errs) {
        let key = name_key("targets", name);
        check_name(name, &key, "a target", &mut errs);
        let keys: TargetKeys = deserialize_keywise(table, &key, &mut errs);
        raw_targets.push((name.to_string(), key, keys));
    }

    // Environment overrides are read even when the file has errors, so that
    // every problem is listed at once.
    let (over, mut env_errs) = Overrides::from_env(env);

    // [docker]: docker-autoheal's variables are the docker crate's to read;
    // applied here so every layer meets in one load and every error is
    // listed with the others.
    let docker = match docker.clone().with_env(env) {
        Ok(d) => d,
        Err(list) => {
            env_errs.extend(
                list.into_iter()
                    .map(|(k, m)| ConfigError::new(ENVIRONMENT, k, m)),
            );
            docker
        }
    };
    for (key, message) in docker.validate() {
        errs.push(key, message);
    }

    // [server]
    let listen_default: SocketAddr = DEFAULT_LISTEN
        .parse()
        .expect("the default listen address parses");
    let mut listen = match &server.listen {
        Some(s) => parse_listen(s).unwrap_or_else(|m| {
            errs.push("server.listen", m);
            listen_default
        }),
        None => listen_default,
    };
    if let Some(l) = over.listen {
        listen = l;
    }
    let mut allowed_hosts = Vec::new();
    for (i, h) in server.allowed_hosts.iter().flatten().enumerate() {
        let bad = h.is_empty()
            || h.contains("://")
            || h.chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/?#@".contains(c));
        if bad {
            errs.push(
                format!("server.allowed_hosts[{i}]"),
                format!("expected a host name (\"autoheal.internal\" or \"autoheal.internal:8080\") or \"*\", found {h:?}"),
            );
        } else {
            allowed_hosts.push(h.clone());
        }
    }
    let mut trusted_proxies = Vec::new();
    for (i, p) in server.trusted_proxies.iter().flatten().enumerate() {
        let parsed = p
            .parse::<ipnet::IpNet>()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => errs.push(
                format!("server.trusted_proxies[{i}]"),
                format!("expected an IP address or a CIDR range (\"10.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\"), found {p:?}"),
            ),
        }
    }
    let rate = |key: &str, v: Option<u32>, default: u32, errs: &mut Errors| match v {
        None => default,
        Some(n) if n <= 1_000_000 => n,
        Some(n) => {
            errs.push(
                key,
                format!("expected requests per second from 0 (no limit) to 1000000, found {n}"),
            );
            default
        }
    };
    let rate_limit_per_client = rate(
        "server.rate_limit_per_client",
        server.rate_limit_per_client,
        100,
        &mut errs,
    );
    let rate_limit_per_credential = rate(
        "server.rate_limit_per_credential",
        server.rate_limit_per_credential,
        2000,
        &mut errs,
    );
    let max_connections = match server.max_connections {
        None => 256,
        Some(n @ 1..=65_536) => n,
        Some(n) => {
            errs.push(
                "server.max_connections",
                format!("expected a whole number from 1 to 65536, found {n}"),
            );
            256
        }
    };
    let header_read_timeout = match server.header_read_timeout.map(|h| h.0) {
        None => Duration::from_secs(10),
        Some(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(300) => d,
        Some(d) => {
            errs.push(
                "server.header_read_timeout",
                format!(
                    "expected a duration from 100ms to 5m, found {:?}",
                    humantime::format_duration(d).to_string()
                ),
            );
            Duration::from_secs(10)
        }
    };

    let tls = resolve_tls(&server, &over, &mut errs);

    // [store]
    let data_dir = over
        .data_dir
        .clone()
        .or_else(|| store.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    if let Some(d) = &store.data_dir {
        if d.as_os_str().is_empty() {
            errs.push(
                "store.data_dir",
                "expected a directory path, found an empty string",
            );
        }
    }
    if let Some(u) = &store.url {
        if let Err(m) = check_store_url(u) {
            errs.push("store.url", m);
        }
    }
    let url = over
        .store_url
        .clone()
        .or_else(|| store.url.clone())
        .unwrap_or_else(|| default_store_url(&data_dir));
    let r = store.retention.clone().unwrap_or_default();
    let retention = Retention {
        check_results: ranged(
            r.check_results,
            &limits::RETENTION,
            "store.retention.check_results",
            &mut errs,
        )
        .unwrap_or(DEFAULT_RETENTION_CHECK_RESULTS),
        events: ranged(
            r.events,
            &limits::RETENTION,
            "store.retention.events",
            &mut errs,
        )
        .unwrap_or(DEFAULT_RETENTION_EVENTS),
        incidents: ranged(
            r.incidents,
            &limits::RETENTION,
            "store.retention.incidents",
            &mut errs,
        )
        .unwrap_or(DEFAULT_RETENTION_INCIDENTS),
        rollups: ranged(
            r.rollups,
            &limits::RETENTION,
            "store.retention.rollups",
            &mut errs,
        )
        .unwrap_or(DEFAULT_RETENTION_ROLLUPS),
    };

    // [log]
    if let Some(level) = &log.level {
        if let Err(m) = check_log_level(level) {
            errs.push("log.level", m);
        }
    }
    let log = LogSettings {
        format: over.log_format.or(log.format).unwrap_or(LogFormat::Auto),
        level: over
            .log_level
            .clone()
            .or(log.level)
            .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string()),
    };

    // [engine]
    let engine = EngineSettings {
        dry_run: over.dry_run.or(engine.dry_run).unwrap_or(false),
        max_concurrent_checks: at_least_one_usize(
            engine.max_concurrent_checks,
            "engine.max_concurrent_checks",
            &mut errs,
        )
        .unwrap_or(DEFAULT_MAX_CONCURRENT_CHECKS),
        max_concurrent_actions: at_least_one_usize(
            engine.max_concurrent_actions,
            "engine.max_concurrent_actions",
            &mut errs,
        )
        .unwrap_or(DEFAULT_MAX_CONCURRENT_ACTIONS),
    };

    // [defaults], [targets]
    let defaults = policy_layer(&defaults, "defaults", &actions, &mut errs);
    let names: BTreeSet<&str> = raw_targets.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut targets = Vec::new();
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, key, keys) in &raw_targets {
        let own = policy_layer(&keys.policy_keys(), key, &actions, &mut errs);
        let group_layer = match &keys.group {
            Some(g) => match groups.get(g) {
                Some(layer) => Some(layer),
                None => {
                    errs.push(
                        join(key, "group"),
                        unknown("group", g, groups.keys(), "[groups]"),
                    );
                    None
                }
            },
            None => None,
        };
        let mut layers = vec![&defaults];
        layers.extend(group_layer);
        layers.push(&own);
        let mut policy = merge_policy(&layers);
        policy.dry_run |= engine.dry_run;

        let container = keys
            .container
            .as_ref()
            .and_then(|c| container_target(name, c, key, &mut errs))
            .map(|mut c| {
                c.report_up = keys.check.is_none();
                c
            });
        if container.is_some() && docker.enabled == Some(false) {
            errs.push(
                join(key, "container"),
                "a container target needs Docker, but docker.enabled = false",
            );
        }
        let ladder_set = layers.iter().any(|l| l.ladder.is_some());
        if keys.container.is_some() && !ladder_set {
            // A container target heals without a written ladder, like a
            // discovered container.
            policy.ladder = vec![Rung {
                action: ACTION_RESTART.to_string(),
                verify: CONTAINER_VERIFY,
                repeat: CONTAINER_REPEAT,
            }];
        }
        if keys.container.is_none() {
            for (i, r) in policy.ladder.iter().enumerate() {
                if !BUILTIN_ACTIONS.contains(&r.action.as_str()) {
                    continue;
                }
                let why = format!(
                    "{:?} is a built-in action of container targets, and this target has no container = {{ ... }}",
                    r.action
                );
                if own.ladder.is_some() {
                    let at = if keys.action.is_some() {
                        join(key, "action")
                    } else {
                        format!("{}[{i}].action", join(key, "ladder"))
                    };
                    errs.push(at, why);
                } else if group_layer.is_some_and(|g| g.ladder.is_some()) {
                    errs.push(
                        join(key, "group"),
                        format!(
                            "the ladder of group {:?}: {why}",
                            keys.group.as_deref().unwrap_or_default()
                        ),
                    );
                } else {
                    errs.push(key.clone(), format!("the ladder of [defaults]: {why}"));
                }
            }
        }

        let allowed = file.targets.contains(name);
        let check = keys.check.as_ref().and_then(|t| {
            let ckey = join(key, "check");
            parse_and_validate(
                |errs| CheckConfig::parse(t, &ckey, &mut secrets, allowed, errs),
                |(c, _), clients| c.validate(clients),
                &ckey,
                &mut clients,
                &mut errs,
            )
        });
        let check = check.map(|(c, refs)| {
            if !refs.is_empty() {
                secret_refs.checks.insert(name.clone(), refs);
            }
            c
        });
        if let (Some(c), None) = (&check, &keys.container) {
            if let Some(at) = c.container_key() {
                let why = if at == "type" {
                    "\"docker_exec\" runs inside the target's containers; only a target with container = { ... } may use it"
                } else {
                    "{{container}} stands for the address of the target's container; only a target with container = { ... } may use it"
                };
                errs.push(join(&join(key, "check"), at), why);
            }
        }

        let mut depends_on = Vec::new();
        for (i, dep) in keys.depends_on.iter().flatten().enumerate() {
            let dkey = format!("{}[{i}]", join(key, "depends_on"));
            if !names.contains(dep.as_str()) {
                errs.push(dkey, unknown("target", dep, names.iter(), "[targets]"));
            } else if depends_on.contains(dep) {
                errs.push(dkey, format!("{dep:?} is listed twice"));
            } else {
                depends_on.push(dep.clone());
            }
        }
        graph.insert(name.clone(), depends_on.clone());

        targets.push(TargetConfig {
            name: name.clone(),
            group: keys.group.clone(),
            check,
            policy,
            depends_on,
            enabled: keys.enabled.unwrap_or(true),
            tags: {
                let tags = keys.tags.clone().unwrap_or_default();
                for (j, tag) in tags.iter().enumerate() {
                    check_name(tag, &format!("{key}.tags[{j}]"), "a tag", &mut errs);
                }
                tags
            },
            container,
        });
    }
    for cycle in find_cycles(&graph) {
        errs.push(
            join(&name_key("targets", &cycle[0]), "depends_on"),
            format!(
                "dependency cycle: {} -> {}; a target cannot depend on itself, even through others",
                cycle.join(" -> "),
                cycle[0]
            ),
        );
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    let routes = resolve_routes(root, &channels, &groups, &mut errs);

    // File errors by key (so one target's errors sit together), then the
    // environment's.
    let mut list = errs.list;
    list.sort_by(|a, b| a.key.cmp(&b.key));
    secrets::scrub(&mut list, &secrets.into_read());
    list.extend(env_errs);
    if !list.is_empty() {
        return Err(ConfigErrors(list));
    }
    // Serving HTTPS itself, the session cookie is Secure unless told not.
    if tls.is_some() && auth_keys.secure_cookies.is_none() {
        auth.secure_cookies = true;
    }
    Ok(Config {
        source: None,
        layers: crate::source::Layers::default(),
        file_objects: file,
        secret_refs,
        server: ServerSettings {
            listen,
            allowed_hosts,
            trusted_proxies,
            rate_limit_per_client,
            rate_limit_per_credential,
            max_connections,
            header_read_timeout,
            loopback_until_admin: over
                .loopback_until_admin
                .or(server.loopback_until_admin)
                .unwrap_or(false),
            tls,
            public_url,
        },
        auth,
        store: StoreSettings {
            url,
            data_dir,
            retention,
            check_history: store.check_history.unwrap_or_default(),
        },
        log,
        engine,
        docker,
        actions: actions
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        groups: raw_groups,
        targets,
        channels,
        routes,
        notify,
    })
}

/// `[routes.<name>]`: each names channels that exist, kinds of
/// notification that exist, groups that exist (targets may be Docker's, so
/// any name).
fn resolve_routes<G>(
    root: &toml::Table,
    channels: &BTreeMap<String, autoheal_plugins::channel::ChannelConfig>,
    groups: &BTreeMap<String, G>,
    errs: &mut Errors,
) -> BTreeMap<String, crate::RouteConfig> {
    let kinds = autoheal_plugins::channel::MessageKind::ALL;
    let mut routes = BTreeMap::new();
    for (name, table) in named_tables(
        root,
        "routes",
        r#"a table like { channels = ["ops"], events = ["heal_failed"] }"#,
        errs,
    ) {
        let key = name_key("routes", name);
        check_name(name, &key, "a route", errs);
        let Some(mut r) = deserialize_table::<crate::RouteConfig>(table.clone(), &key, errs) else {
            continue;
        };
        r.quiet_windows = r
            .quiet
            .iter()
            .enumerate()
            .filter_map(|(j, w)| maintenance_window(w, &format!("{key}.quiet[{j}]"), errs))
            .collect();
        if r.channels.is_empty() {
            errs.push(join(&key, "channels"), "expected at least one channel");
        }
        for (j, c) in r.channels.iter().enumerate() {
            if !channels.contains_key(c) {
                errs.push(
                    format!("{key}.channels[{j}]"),
                    unknown("channel", c, channels.keys(), "[channels]"),
                );
            }
        }
        for (j, e) in r.events.iter().enumerate() {
            if !kinds.iter().any(|k| k.as_str() == e) {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                errs.push(
                    format!("{key}.events[{j}]"),
                    format!("expected one of {}, found {e:?}", names.join(", ")),
                );
            }
        }
        for (j, g) in r.groups.iter().enumerate() {
            if !groups.contains_key(g) {
                errs.push(
                    format!("{key}.groups[{j}]"),
                    unknown("group", g, groups.keys(), "[groups]"),
                );
            }
        }
        routes.insert(name.to_string(), r);
    }
    routes
}

/// `[auth]`, with every duration in its range.
fn resolve_auth(keys: &AuthKeys, errs: &mut Errors) -> crate::AuthConfig {
    use std::time::Duration;
    let d = crate::AuthConfig::default();
    let mut within =
        |key: &str, v: Option<Duration>, min: Duration, max: Duration, default: Duration| match v {
            None => default,
            Some(v) if v >= min && v <= max => v,
            Some(v) => {
                errs.push(
                    key,
                    format!(
                        "expected a duration from {} to {}, found {:?}",
                        humantime::format_duration(min),
                        humantime::format_duration(max),
                        humantime::format_duration(v).to_string()
                    ),
                );
                default
            }
        };
    let session_idle = within(
        "auth.session_idle",
        keys.session_idle.map(|h| h.0),
        Duration::from_secs(60),
        Duration::from_secs(30 * 86_400),
        d.session_idle,
    );
    let session_lifetime = within(
        "auth.session_lifetime",
        keys.session_lifetime.map(|h| h.0),
        Duration::from_secs(60),
        Duration::from_secs(365 * 86_400),
        d.session_lifetime,
    );
    crate::AuthConfig {
        registration: keys.registration.unwrap_or_default(),
        session_idle: session_idle.min(session_lifetime),
        session_lifetime,
        metrics: keys.metrics.unwrap_or_default(),
        secure_cookies: keys.secure_cookies.unwrap_or(false),
    }
}

/// `server.tls_cert` and `server.tls_key` (each overridable by
/// `AUTOHEAL_TLS_CERT` / `AUTOHEAL_TLS_KEY`): both or neither. The files
/// are not read here: the binary reads them at start and on SIGHUP.
fn resolve_tls(
    server: &ServerKeys,
    over: &Overrides,
    errs: &mut Errors,
) -> Option<crate::TlsFiles> {
    let mut ok = true;
    for (key, v) in [
        ("server.tls_cert", &server.tls_cert),
        ("server.tls_key", &server.tls_key),
    ] {
        if v.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            errs.push(key, "expected a file path, found an empty string");
            ok = false;
        }
    }
    let cert = over.tls_cert.clone().or_else(|| server.tls_cert.clone());
    let key = over.tls_key.clone().or_else(|| server.tls_key.clone());
    match (cert, key) {
        (Some(cert), Some(key)) if ok => Some(crate::TlsFiles { cert, key }),
        (Some(_), None) => {
            errs.push(
                "server.tls_key",
                "required with server.tls_cert (the PEM private key of the certificate); set both or neither",
            );
            None
        }
        (None, Some(_)) => {
            errs.push(
                "server.tls_cert",
                "required with server.tls_key (the PEM certificate chain); set both or neither",
            );
            None
        }
        _ => None,
    }
}

/// A section deserialized key by key; absent → all defaults.
fn section<T: DeserializeOwned + Default>(root: &toml::Table, name: &str, errs: &mut Errors) -> T {
    match root.get(name) {
        None => T::default(),
        Some(v) => match expect_table(v, name, "a table", errs) {
            Some(t) => deserialize_keywise(t, name, errs),
            None => T::default(),
        },
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Names of targets, groups and actions: `^[a-z0-9][a-z0-9._-]{0,62}$`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= 63
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

fn check_name(name: &str, key: &str, what: &str, errs: &mut Errors) {
    if !is_valid_name(name) {
        let why = if name.chars().any(char::is_control) {
            "it holds a control character; "
        } else {
            ""
        };
        errs.push(
            key,
            format!(
                "{name:?} is not a valid name for {what}: {why}expected 1 to 63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            ),
        );
    }
}

fn unknown<'a, S: AsRef<str> + 'a>(
    what: &str,
    found: &str,
    known: impl Iterator<Item = S>,
    section: &str,
) -> String {
    let known: Vec<String> = known.map(|s| format!("{:?}", s.as_ref())).collect();
    if known.is_empty() {
        format!("unknown {what} {found:?}; no {what}s are defined in {section}")
    } else {
        format!(
            "unknown {what} {found:?}; expected one of {}",
            known.join(", ")
        )
    }
}

/// A duration key checked against its accepted range (the one table in
/// `autoheal_core::policy::limits`): "100y is out of range; expected
/// between 100ms and 24h".
fn ranged(
    d: Option<HumanDuration>,
    limit: &Limit,
    key: &str,
    errs: &mut Errors,
) -> Option<Duration> {
    match limit.check(d?.0) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.push(key, e.to_string());
            None
        }
    }
}

fn at_least_one(n: Option<u32>, key: &str, errs: &mut Errors) -> Option<u32> {
    let n = n?;
    if n == 0 {
        errs.push(key, "expected a whole number of at least 1, found 0");
        return None;
    }
    Some(n)
}

fn at_least_one_usize(n: Option<usize>, key: &str, errs: &mut Errors) -> Option<usize> {
    let n = n?;
    if n == 0 {
        errs.push(key, "expected a whole number of at least 1, found 0");
        return None;
    }
    Some(n)
}

/// One layer's policy keys, checked and typed; `None` = not set here (or
/// invalid, already reported), so the layer below shows through.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyLayer {
    failure_threshold: Option<u32>,
    failure_window: Option<Duration>,
    success_threshold: Option<u32>,
    start_period: Option<Duration>,
    degraded_is_failure: Option<bool>,
    cooldown: Option<Duration>,
    max_actions: Option<u32>,
    actions_window: Option<Duration>,
    auto_release: Option<bool>,
    dry_run: Option<bool>,
    ladder: Option<Vec<Rung>>,
    maintenance: Option<Vec<MaintenanceWindow>>,
    backoff_initial: Option<Duration>,
    backoff_factor: Option<f64>,
    backoff_max: Option<Duration>,
    backoff_jitter: Option<f64>,
    backoff_reset_after: Option<Duration>,
}

pub(crate) fn policy_layer(
    keys: &PolicyKeys,
    prefix: &str,
    actions: &BTreeMap<String, Option<ActionConfig>>,
    errs: &mut Errors,
) -> PolicyLayer {
    let k = |name: &str| join(prefix, name);
    let BackoffKeys {
        initial,
        factor,
        max,
        jitter,
        reset_after,
    } = keys.backoff.clone().unwrap_or_default();
    let backoff_factor = factor.and_then(|f| {
        if f.is_finite() && f >= 1.0 {
            Some(f)
        } else {
            errs.push(
                k("backoff.factor"),
                format!("expected a number of at least 1.0, found {f}"),
            );
            None
        }
    });
    let backoff_jitter = jitter.and_then(|j| {
        if (0.0..=1.0).contains(&j) {
            Some(j)
        } else {
            errs.push(
                k("backoff.jitter"),
                format!("expected a fraction from 0.0 to 1.0, found {j}"),
            );
            None
        }
    });

    let ladder = match (&keys.action, &keys.ladder) {
        (Some(_), Some(_)) => {
            errs.push(
                k("action"),
                "set either action (a one-rung shorthand) or ladder, not both",
            );
            None
        }
        (Some(action), None) => {
            check_action_ref(action, &k("action"), actions, errs);
            Some(vec![Rung {
                action: action.clone(),
                verify: DEFAULT_RUNG_VERIFY,
                repeat: SHORTHAND_REPEAT,
            }])
        }
        (None, Some(rungs)) => Some(
            rungs
                .iter()
                .enumerate()
                .map(|(i, r)| rung(r, &format!("{}[{i}]", k("ladder")), actions, errs))
                .collect(),
        ),
        (None, None) => None,
    };

    let maintenance = keys.maintenance.as_ref().map(|windows| {
        windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| maintenance_window(w, &format!("{}[{i}]", k("maintenance")), errs))
            .collect()
    });

    PolicyLayer {
        failure_threshold: at_least_one(keys.failure_threshold, &k("failure_threshold"), errs),
        failure_window: ranged(
            keys.failure_window,
            &limits::FAILURE_WINDOW,
            &k("failure_window"),
            errs,
        ),
        success_threshold: at_least_one(keys.success_threshold, &k("success_threshold"), errs),
        start_period: ranged(
            keys.start_period,
            &limits::START_PERIOD,
            &k("start_period"),
            errs,
        ),
        degraded_is_failure: keys.degraded_is_failure,
        cooldown: ranged(keys.cooldown, &limits::COOLDOWN, &k("cooldown"), errs),
        max_actions: at_least_one(keys.max_actions, &k("max_actions"), errs),
        actions_window: ranged(
            keys.actions_window,
            &limits::ACTIONS_WINDOW,
            &k("actions_window"),
            errs,
        ),
        auto_release: keys.auto_release,
        dry_run: keys.dry_run,
        ladder,
        maintenance,
        backoff_initial: ranged(
            initial,
            &limits::BACKOFF_INITIAL,
            &k("backoff.initial"),
            errs,
        ),
        backoff_factor,
        backoff_max: ranged(max, &limits::BACKOFF_MAX, &k("backoff.max"), errs),
        backoff_jitter,
        backoff_reset_after: ranged(
            reset_after,
            &limits::BACKOFF_RESET_AFTER,
            &k("backoff.reset_after"),
            errs,
        ),
    }
}

fn check_action_ref(
    action: &str,
    key: &str,
    actions: &BTreeMap<String, Option<ActionConfig>>,
    errs: &mut Errors,
) {
    // Built-ins are checked per target (only container targets have them).
    if BUILTIN_ACTIONS.contains(&action) {
        return;
    }
    if action.starts_with("container.") {
        errs.push(
            key,
            format!(
                "unknown built-in action {action:?}; expected one of {}",
                BUILTIN_ACTIONS
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return;
    }
    if !actions.contains_key(action) {
        errs.push(key, unknown("action", action, actions.keys(), "[actions]"));
    }
}

fn rung(
    r: &RungKeys,
    key: &str,
    actions: &BTreeMap<String, Option<ActionConfig>>,
    errs: &mut Errors,
) -> Rung {
    check_action_ref(&r.action, &join(key, "action"), actions, errs);
    Rung {
        action: r.action.clone(),
        verify: ranged(r.verify, &limits::VERIFY, &join(key, "verify"), errs)
            .unwrap_or(DEFAULT_RUNG_VERIFY),
        repeat: at_least_one(r.repeat, &join(key, "repeat"), errs).unwrap_or(DEFAULT_RUNG_REPEAT),
    }
}

/// `container = { ... }` of target `name` (at `key`), checked.
fn container_target(
    name: &str,
    c: &ContainerKeys,
    key: &str,
    errs: &mut Errors,
) -> Option<ConfiguredTarget> {
    const FORMS: &str = r#"expected exactly one of { name = "web-1" }, { labels = ["app=web", "tier"] } or { compose_project = "shop", compose_service = "web" }"#;
    let ckey = join(key, "container");
    let k = |sub: &str| join(&ckey, sub);
    let mode = c.mode.as_ref().and_then(|m| match m.parse::<DockerMode>() {
        Ok(m) => Some(m),
        Err(e) => {
            errs.push(k("mode"), e);
            None
        }
    });
    let compose = c.compose_project.is_some() || c.compose_service.is_some();
    let given: Vec<&str> = [
        c.name.as_ref().map(|_| "name"),
        c.labels.as_ref().map(|_| "labels"),
        compose.then_some("compose_project/compose_service"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none of them".to_string()
        } else {
            given.join(" and ")
        };
        errs.push(ckey, format!("{FORMS}, found {found}"));
        return None;
    }
    let non_empty = |v: &str, sub: &str, what: &str, errs: &mut Errors| -> Option<String> {
        let v = v.trim().trim_start_matches('/');
        if v.is_empty() {
            errs.push(k(sub), format!("expected {what}, found an empty string"));
            None
        } else if v.chars().any(char::is_control) {
            errs.push(
                k(sub),
                format!("expected {what}, found {v:?}, which holds a control character"),
            );
            None
        } else {
            Some(v.to_string())
        }
    };
    let selector = if let Some(n) = &c.name {
        ContainerSelector::Name(non_empty(n, "name", "a container name", errs)?)
    } else if let Some(labels) = &c.labels {
        if labels.is_empty() {
            errs.push(
                k("labels"),
                r#"expected at least one label selector like "app=web" or "tier", found an empty list"#,
            );
            return None;
        }
        let mut out = Vec::new();
        for (i, l) in labels.iter().enumerate() {
            if l.chars().any(char::is_control) {
                errs.push(
                    format!("{}[{i}]", k("labels")),
                    format!("expected a label selector like \"app=web\", found {l:?}, which holds a control character"),
                );
                continue;
            }
            match LabelSelector::parse(l) {
                Ok(sel) => out.push(match sel.value {
                    Some(v) => format!("{}={v}", sel.key),
                    None => sel.key,
                }),
                Err(e) => errs.push(format!("{}[{i}]", k("labels")), e),
            }
        }
        if out.len() != labels.len() {
            return None;
        }
        ContainerSelector::Labels(out)
    } else {
        let (Some(p), Some(s)) = (&c.compose_project, &c.compose_service) else {
            let missing = if c.compose_project.is_none() {
                "compose_project"
            } else {
                "compose_service"
            };
            errs.push(
                k(missing),
                "missing; a compose selector needs both compose_project and compose_service",
            );
            return None;
        };
        let project = non_empty(p, "compose_project", "a compose project name", errs);
        let service = non_empty(s, "compose_service", "a compose service name", errs);
        ContainerSelector::Compose {
            project: project?,
            service: service?,
        }
    };
    Some(ConfiguredTarget {
        name: name.to_string(),
        selector,
        mode,
        report_up: true,
    })
}

const RFC3339_EXPECTED: &str = r#"an RFC 3339 time like "2026-12-01T00:00:00Z""#;

fn timestamp(s: &str, key: &str, errs: &mut Errors) -> Option<Timestamp> {
    match chrono::DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => Some(Timestamp::from_chrono(t.with_timezone(&chrono::Utc))),
        Err(_) => {
            errs.push(key, format!("expected {RFC3339_EXPECTED}, found {s:?}"));
            None
        }
    }
}

fn maintenance_window(
    w: &MaintenanceKeys,
    key: &str,
    errs: &mut Errors,
) -> Option<MaintenanceWindow> {
    const SHAPES: &str = r#"expected either { cron = "0 0 3 * * Sun", timezone = "UTC", duration = "1h" } or { start = "...", end = "..." }"#;
    let window = match (&w.cron, &w.start, &w.end) {
        (Some(cron), None, None) => {
            let Some(duration) = w.duration else {
                errs.push(
                    join(key, "duration"),
                    "missing; a recurring window needs a duration like \"1h\"",
                );
                return None;
            };
            let duration = ranged(
                Some(duration),
                &limits::MAINTENANCE_DURATION,
                &join(key, "duration"),
                errs,
            )?;
            MaintenanceWindow::Recurring {
                cron: cron.clone(),
                timezone: w.timezone.clone().unwrap_or_else(|| "UTC".to_string()),
                duration,
            }
        }
        (None, Some(start), Some(end)) => {
            if w.timezone.is_some() || w.duration.is_some() {
                errs.push(
                    key,
                    format!("{SHAPES}: a one-off window takes only start and end"),
                );
                return None;
            }
            let start = timestamp(start, &join(key, "start"), errs);
            let end = timestamp(end, &join(key, "end"), errs);
            MaintenanceWindow::OneOff {
                start: start?,
                end: end?,
            }
        }
        _ => {
            errs.push(key, SHAPES);
            return None;
        }
    };
    match window.validate() {
        Ok(()) => Some(window),
        Err(e) => {
            let sub = match &e {
                autoheal_core::MaintenanceError::Cron { .. } => "cron",
                autoheal_core::MaintenanceError::TimeZone(_) => "timezone",
                autoheal_core::MaintenanceError::EndBeforeStart => "end",
            };
            errs.push(join(key, sub), e.to_string());
            None
        }
    }
}

/// The one place where layers meet: each key takes the value of the last
/// layer that sets it (defaults, then group, then target); unset keys keep
/// [`Policy::default`]. `depends_on` stays empty (names are resolved to
/// engine ids by the shell).
pub(crate) fn merge_policy(layers: &[&PolicyLayer]) -> Policy {
    let mut p = Policy::default();
    for l in layers {
        macro_rules! take {
            ($($field:ident => $($dest:ident).+),* $(,)?) => {
                $( if let Some(v) = &l.$field { p.$($dest).+ = v.clone(); } )*
            };
        }
        take! {
            failure_threshold => failure_threshold,
            failure_window => failure_window,
            success_threshold => success_threshold,
            start_period => start_period,
            degraded_is_failure => degraded_is_failure,
            cooldown => cooldown,
            max_actions => max_actions,
            actions_window => actions_window,
            auto_release => auto_release,
            dry_run => dry_run,
            ladder => ladder,
            maintenance => maintenance,
            backoff_initial => backoff.initial,
            backoff_factor => backoff.factor,
            backoff_max => backoff.max,
            backoff_jitter => backoff.jitter,
            backoff_reset_after => backoff.reset_after,
        }
    }
    p
}

/// Every dependency cycle, each once, starting at its smallest name.
fn find_cycles(graph: &BTreeMap<String, Vec<String>>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        marks.insert(node, Mark::Active);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next.as_str()) {
                Some(Mark::Active) => {
                    let pos = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[pos..].iter().map(|s| s.to_string()).collect();
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, n)| *n)
                        .map_or(0, |(i, _)| i);
                    cycle.rotate_left(min);
                    found.insert(cycle);
                }
                Some(Mark::Done) => {}
                None => visit(next, graph, marks, stack, found),
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut found = BTreeSet::new();
    for node in graph.keys() {
        if !marks.contains_key(node.as_str()) {
            visit(node, graph, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        for ok in ["api", "db-1", "a.b_c", "0x"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "Api", "-api", "a b", &"a".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn log_levels_accept_levels_and_directives() {
        assert!(check_log_level("info").is_ok());
        assert!(check_log_level("warn,autoheal=debug").is_ok());
        assert!(check_log_level("loud").is_err());
        assert!(check_log_level("=debug").is_err());
    }

    #[test]
    fn cycles_are_found_once_each() {
        let g: BTreeMap<String, Vec<String>> = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec!["d"]),
            ("e", vec!["a"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        let cycles = find_cycles(&g);
        assert_eq!(cycles, vec![vec!["a", "b", "c"], vec!["d"]]);
    }
}
