//! # autoheal-docker
//!
//! autoheal on a Docker engine: which containers are targets (labels,
//! allow/deny, compose services), a watcher that turns `/events` and periodic
//! reconciles into typed [`DockerHappening`]s, container actions that
//! implement `autoheal_plugins::Action`, and docker-autoheal compatibility
//! (its environment variables, labels and notification payloads).
//!
//! Wiring, in the supervisor:
//! 1. `let s = DockerSettings::default().with_env(&env)?;` (after the file)
//! 2. `let client = DockerClient::connect(&s).await?;`
//! 3. `let watcher = DockerWatcher::new(client.clone(), &s)?;`
//!    `let ledger = watcher.ledger();`
//!    `let (rx, task) = watcher.spawn(256, shutdown);`
//! 4. On `Discovered { target, overrides, .. }`: add the target to the
//!    engine (policy from `overrides`) and build its action with
//!    [`actions::action_for`]`(client.clone(), target, &overrides, &s, Some(ledger.clone()))`.
//! 5. Feed `Observation` as `Input::Observation`, `Started` as
//!    `Input::Started`; `Stopped`/`Running` as `Input::Stopped`/`Input::Running`.
//!
//! The client only calls ping/version, list, inspect, events and
//! restart/start/stop/kill, and exec only for a configured `docker_exec`
//! check: it works behind a locked-down socket proxy.
//!
//! Targets declared in the config (`container = { ... }`) reach the
//! watcher as [`ConfiguredTarget`]s through
//! [`DockerWatcher::with_configured`]; their checks and actions are in
//! [`checks`].

pub mod actions;
pub mod checks;
pub mod client;
pub mod config;
pub mod discovery;
pub mod watch;

pub use actions::{
    action_for, apprise_payload, restart_message, webhook_payload, PostRestartCommand,
    RestartAttempt, RestartContainer, RunReport, StartContainer, StopContainer,
};
pub use checks::{
    container_address, AddressTemplate, ConfiguredAction, ContainerCheck, DockerExecCheckConfig,
    LazyClient, PLACEHOLDER,
};
pub use client::{DockerClient, DockerError};
pub use config::{from_env, DockerEnvOverrides, DockerHost, DockerMode, DockerSettings, SecretUrl};
pub use discovery::{
    ConfiguredTarget, ContainerAction, ContainerSelector, DockerTarget, LabelError, LabelOverrides,
    LabelSelector, Selector, TargetKey,
};
pub use watch::{
    docker_restarts_it, is_stop_signal, Backoff, ContainerInfo, DockerHappening, DockerWatcher,
    HealLedger, OwnAction, WatchEnd,
};
