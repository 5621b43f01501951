//! The closed sets of checks and actions, tagged by `type`.
//!
//! Adding a plugin: one variant in the enum, one arm in its `parse` below
//! (the compiler points at both through `TYPES`' neighbour, `type_name`).
//! Parsing dispatches on `type` by hand instead of through serde's internally
//! tagged enum because serde buffers the table for tagged enums and the key
//! path of an error inside it would be lost ("targets.api.check" instead of
//! "targets.api.check.url").

use crate::de::deserialize_table;
use crate::error::{join, Errors};
use crate::secrets::{self, Located, Sources};
use autoheal_core::policy::limits;
use autoheal_docker::checks::{AddressTemplate, DockerExecCheckConfig, PLACEHOLDER};
use autoheal_plugins::action::command::CommandAction;
use autoheal_plugins::action::command::CommandActionConfig;
use autoheal_plugins::action::coolify::{
    CoolifyAction, CoolifyDeployConfig, CoolifyRestartConfig, CoolifyStartConfig,
};
use autoheal_plugins::action::render::{
    RenderDeployAction, RenderDeployConfig, RenderRestartAction, RenderRestartConfig,
};
use autoheal_plugins::action::webhook::WebhookAction;
use autoheal_plugins::action::webhook::WebhookActionConfig;
use autoheal_plugins::channel::ChannelConfig;
use autoheal_plugins::check::exec::ExecCheck;
use autoheal_plugins::check::exec::ExecCheckConfig;
use autoheal_plugins::check::heartbeat::HeartbeatCheckConfig;
use autoheal_plugins::check::http::HttpCheck;
use autoheal_plugins::check::http::HttpCheckConfig;
use autoheal_plugins::check::tcp::TcpCheck;
use autoheal_plugins::check::tcp::TcpCheckConfig;
use autoheal_plugins::{BuildError, HttpClients};
use serde::{Deserialize, Serialize};

/// How a target is observed: `check = { type = "http", ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CheckConfig {
    Http(HttpCheckConfig),
    Tcp(TcpCheckConfig),
    Exec(ExecCheckConfig),
    /// Runs inside the target's containers (container targets only).
    DockerExec(DockerExecCheckConfig),
    /// Pinged by the target itself (`/ping/<token>`): down when late.
    Heartbeat(HeartbeatCheckConfig),
}

impl CheckConfig {
    /// The `type` values, for messages and docs.
    pub const TYPES: &'static [&'static str] = &["http", "tcp", "exec", "docker_exec", "heartbeat"];

    pub fn type_name(&self) -> &'static str {
        match self {
            CheckConfig::Http(_) => "http",
            CheckConfig::Tcp(_) => "tcp",
            CheckConfig::Exec(_) => "exec",
            CheckConfig::DockerExec(_) => "docker_exec",
            CheckConfig::Heartbeat(_) => "heartbeat",
        }
    }

    /// An http/tcp check with `{{container}}` in its url/address, as the
    /// template a container target probes each container with.
    pub fn address_template(&self) -> Option<AddressTemplate> {
        let t = match self {
            CheckConfig::Http(c) => AddressTemplate::Http(Box::new(c.clone())),
            CheckConfig::Tcp(c) => AddressTemplate::Tcp(c.clone()),
            _ => return None,
        };
        t.has_placeholder().then_some(t)
    }

    /// True when the check needs a container target: `docker_exec`, or
    /// `{{container}}` in the url/address. Returns the key at fault.
    pub(crate) fn container_key(&self) -> Option<&'static str> {
        match self {
            CheckConfig::DockerExec(_) => Some("type"),
            CheckConfig::Http(c) if c.url.contains(PLACEHOLDER) => Some("url"),
            CheckConfig::Tcp(c) if c.address.contains(PLACEHOLDER) => Some("address"),
            _ => None,
        }
    }

    /// How often the check runs.
    pub fn interval(&self) -> std::time::Duration {
        match self {
            CheckConfig::Http(c) => c.interval,
            CheckConfig::Tcp(c) => c.interval,
            CheckConfig::Exec(c) => c.interval,
            CheckConfig::DockerExec(c) => c.interval,
            CheckConfig::Heartbeat(c) => c.interval,
        }
    }

    /// The most one probe may take.
    pub fn timeout(&self) -> std::time::Duration {
        match self {
            CheckConfig::Http(c) => c.timeout,
            CheckConfig::Tcp(c) => c.timeout,
            CheckConfig::Exec(c) => c.timeout,
            CheckConfig::DockerExec(c) => c.timeout,
            CheckConfig::Heartbeat(c) => c.timeout,
        }
    }

    /// Builds the check once and drops it, so what its plugin refuses (a bad
    /// URL, regex or argv) is a config error and not a surprise at start.
    /// The schedule is checked first, also when HTTP plugins cannot be built
    /// here.
    pub(crate) fn validate(&self, clients: &mut LazyClients) -> Result<(), BuildError> {
        in_range("interval", self.interval(), &limits::CHECK_INTERVAL)?;
        in_range("timeout", self.timeout(), &limits::CHECK_TIMEOUT)?;
        if let CheckConfig::Http(c) = self {
            if let Some(m) = c.max_latency {
                in_range("max_latency", m, &limits::MAX_LATENCY)?;
            }
            in_range(
                "tls_expiry_warning",
                c.tls_expiry_warning,
                &limits::TLS_EXPIRY_WARNING,
            )?;
        }
        if let Some(t) = self.address_template() {
            return t.validate(clients.get());
        }
        match self {
            CheckConfig::DockerExec(c) => c.validate(),
            CheckConfig::Http(c) => match clients.get() {
                Some(clients) => HttpCheck::build(c, clients).map(drop),
                None => Ok(()),
            },
            CheckConfig::Tcp(c) => TcpCheck::build(c).map(drop),
            CheckConfig::Exec(c) => ExecCheck::build(c).map(drop),
            CheckConfig::Heartbeat(c) => autoheal_plugins::check::heartbeat::validate(c),
        }
    }

    /// Parses a check table (at `key`), its secret references read from
    /// `secrets` (refused unless `refs_allowed`); also returns where they
    /// were.
    pub(crate) fn parse(
        table: &toml::Table,
        key: &str,
        secrets: &mut Sources,
        refs_allowed: bool,
        errs: &mut Errors,
    ) -> Option<(Self, Located)> {
        let (ty, mut rest) = split_type(table, key, Self::TYPES, errs)?;
        let slots = match ty.as_str() {
            "http" => secrets::HTTP,
            "exec" => secrets::ENV,
            _ => &[],
        };
        let refs = secrets.resolve(&mut rest, slots, key, refs_allowed, errs)?;
        let check = match ty.as_str() {
            "http" => deserialize_table(rest, key, errs).map(CheckConfig::Http),
            "tcp" => deserialize_table(rest, key, errs).map(CheckConfig::Tcp),
            "exec" => deserialize_table(rest, key, errs).map(CheckConfig::Exec),
            "docker_exec" => deserialize_table(rest, key, errs).map(CheckConfig::DockerExec),
            "heartbeat" => deserialize_table(rest, key, errs).map(CheckConfig::Heartbeat),
            _ => unreachable!("split_type only returns known types"),
        }?;
        Some((check, refs))
    }
}

/// One remediation step: `[actions.<name>]` with `type = "command"`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionConfig {
    Command(CommandActionConfig),
    Webhook(WebhookActionConfig),
    /// Triggers a Render deploy and follows it to its end.
    RenderDeploy(RenderDeployConfig),
    /// Restarts a Render service.
    RenderRestart(RenderRestartConfig),
    /// Restarts a Coolify application and follows the restart.
    CoolifyRestart(CoolifyRestartConfig),
    /// Redeploys a Coolify application and follows the deployment.
    CoolifyDeploy(CoolifyDeployConfig),
    /// Starts a Coolify application and follows the deployment.
    CoolifyStart(CoolifyStartConfig),
}

impl ActionConfig {
    /// The `type` values, for messages and docs.
    pub const TYPES: &'static [&'static str] = &[
        "command",
        "webhook",
        "render_deploy",
        "render_restart",
        "coolify_restart",
        "coolify_deploy",
        "coolify_start",
    ];

    pub fn type_name(&self) -> &'static str {
        match self {
            ActionConfig::Command(_) => "command",
            ActionConfig::Webhook(_) => "webhook",
            ActionConfig::RenderDeploy(_) => "render_deploy",
            ActionConfig::RenderRestart(_) => "render_restart",
            ActionConfig::CoolifyRestart(_) => "coolify_restart",
            ActionConfig::CoolifyDeploy(_) => "coolify_deploy",
            ActionConfig::CoolifyStart(_) => "coolify_start",
        }
    }

    /// The longest the action may run.
    pub fn timeout(&self) -> std::time::Duration {
        match self {
            ActionConfig::Command(c) => c.timeout,
            ActionConfig::Webhook(c) => c.timeout,
            ActionConfig::RenderDeploy(c) => c.timeout,
            ActionConfig::RenderRestart(c) => c.timeout,
            ActionConfig::CoolifyRestart(c) => c.timeout,
            ActionConfig::CoolifyDeploy(c) => c.timeout,
            ActionConfig::CoolifyStart(c) => c.timeout,
        }
    }

    /// Builds the action once and drops it (see [`CheckConfig::validate`]).
    pub(crate) fn validate(&self, clients: &mut LazyClients) -> Result<(), BuildError> {
        in_range("timeout", self.timeout(), &limits::ACTION_TIMEOUT)?;
        match self {
            ActionConfig::Command(c) => CommandAction::build(c).map(drop),
            ActionConfig::Webhook(c) => match clients.get() {
                Some(clients) => WebhookAction::build(c, clients).map(drop),
                None => Ok(()),
            },
            ActionConfig::RenderDeploy(c) => match clients.get() {
                Some(clients) => RenderDeployAction::build(c, clients).map(drop),
                None => c.validate(),
            },
            ActionConfig::RenderRestart(c) => match clients.get() {
                Some(clients) => RenderRestartAction::build(c, clients).map(drop),
                None => c.validate(),
            },
            ActionConfig::CoolifyRestart(c) => match clients.get() {
                Some(clients) => CoolifyAction::build_restart(c, clients).map(drop),
                None => c.validate(),
            },
            ActionConfig::CoolifyDeploy(c) => match clients.get() {
                Some(clients) => CoolifyAction::build_deploy(c, clients).map(drop),
                None => c.validate(),
            },
            ActionConfig::CoolifyStart(c) => match clients.get() {
                Some(clients) => CoolifyAction::build_start(c, clients).map(drop),
                None => c.validate(),
            },
        }
    }

    /// Parses an action table (see [`CheckConfig::parse`]).
    pub(crate) fn parse(
        table: &toml::Table,
        key: &str,
        secrets: &mut Sources,
        refs_allowed: bool,
        errs: &mut Errors,
    ) -> Option<(Self, Located)> {
        let (ty, mut rest) = split_type(table, key, Self::TYPES, errs)?;
        let slots = match ty.as_str() {
            "webhook" => secrets::HTTP,
            "command" => secrets::ENV,
            "render_deploy" | "render_restart" => secrets::RENDER,
            "coolify_restart" | "coolify_deploy" | "coolify_start" => secrets::COOLIFY,
            _ => &[],
        };
        let refs = secrets.resolve(&mut rest, slots, key, refs_allowed, errs)?;
        let action = match ty.as_str() {
            "command" => deserialize_table(rest, key, errs).map(ActionConfig::Command),
            "webhook" => deserialize_table(rest, key, errs).map(ActionConfig::Webhook),
            "render_deploy" => deserialize_table(rest, key, errs).map(ActionConfig::RenderDeploy),
            "render_restart" => deserialize_table(rest, key, errs).map(ActionConfig::RenderRestart),
            "coolify_restart" => {
                deserialize_table(rest, key, errs).map(ActionConfig::CoolifyRestart)
            }
            "coolify_deploy" => deserialize_table(rest, key, errs).map(ActionConfig::CoolifyDeploy),
            "coolify_start" => deserialize_table(rest, key, errs).map(ActionConfig::CoolifyStart),
            _ => unreachable!("split_type only returns known types"),
        }?;
        Some((action, refs))
    }
}

/// Parses a `[channels.<name>]` table (its secret references read first).
pub(crate) fn parse_channel(
    table: &toml::Table,
    key: &str,
    secrets: &mut Sources,
    refs_allowed: bool,
    errs: &mut Errors,
) -> Option<(ChannelConfig, Located)> {
    let (_, _) = split_type(table, key, ChannelConfig::KINDS, errs)?;
    let mut table = table.clone();
    let refs = secrets.resolve(&mut table, secrets::CHANNEL, key, refs_allowed, errs)?;
    deserialize_table::<ChannelConfig>(table, key, errs).map(|c| (c, refs))
}

/// Builds a channel once (build and drop).
pub(crate) fn validate_channel(
    c: &ChannelConfig,
    clients: &mut LazyClients,
) -> Result<(), BuildError> {
    match clients.get() {
        Some(clients) => c.validate(clients),
        None => Ok(()),
    }
}

/// The HTTP clients HTTP plugins are built with, made on first need (only
/// when the file has an http check or a webhook). If TLS cannot be set up
/// here, HTTP plugins are not validated at load: the binary reports it.
#[derive(Default)]
pub(crate) struct LazyClients(Option<Option<HttpClients>>);

impl LazyClients {
    fn get(&mut self) -> Option<&HttpClients> {
        self.0
            .get_or_insert_with(|| HttpClients::new().ok())
            .as_ref()
    }
}

/// A plugin's duration checked against its accepted range.
fn in_range(key: &str, d: std::time::Duration, limit: &limits::Limit) -> Result<(), BuildError> {
    limit
        .check(d)
        .map(drop)
        .map_err(|e| BuildError::new(key, e.to_string()))
}

/// Parses a plugin table and builds it once; every problem goes to `errs`.
pub(crate) fn parse_and_validate<T>(
    parse: impl FnOnce(&mut Errors) -> Option<T>,
    validate: impl FnOnce(&T, &mut LazyClients) -> Result<(), BuildError>,
    key: &str,
    clients: &mut LazyClients,
    errs: &mut Errors,
) -> Option<T> {
    let value = parse(errs)?;
    if let Err(e) = validate(&value, clients) {
        errs.push(join(key, &e.key), e.why);
        return None;
    }
    Some(value)
}

/// Takes `type` out of a plugin table, checking it is one of `types`.
fn split_type(
    table: &toml::Table,
    key: &str,
    types: &[&str],
    errs: &mut Errors,
) -> Option<(String, toml::Table)> {
    let expected = types
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let tkey = join(key, "type");
    match table.get("type") {
        None => {
            errs.push(tkey, format!("missing; expected one of {expected}"));
            None
        }
        Some(toml::Value::String(s)) if types.contains(&s.as_str()) => {
            let mut rest = table.clone();
            rest.remove("type");
            Some((s.clone(), rest))
        }
        Some(toml::Value::String(s)) => {
            errs.push(tkey, format!("expected one of {expected}, found {s:?}"));
            None
        }
        Some(other) => {
            errs.push(
                tkey,
                format!("expected one of {expected}, found {}", other.type_str()),
            );
            None
        }
    }
}

/// A typed plugin config back to its TOML table (with `type`), for export.
pub(crate) fn to_table<T: Serialize>(value: &T) -> Result<toml::Table, toml::ser::Error> {
    toml::Table::try_from(value)
}
