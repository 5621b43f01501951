//! Command action: run a program to heal a target.
//!
//! Same process rules as the exec check (argument list, no shell unless
//! `shell = true`, stdin closed, cleared environment by default, output
//! capped at 4 KiB, the process group killed on timeout). The action's
//! context is passed as environment variables, set last so `env` cannot
//! override them: `AUTOHEAL_TARGET`, `AUTOHEAL_INCIDENT_ID` (empty when
//! none), `AUTOHEAL_STATE`, `AUTOHEAL_ATTEMPT`, `AUTOHEAL_RUNG`,
//! `AUTOHEAL_ACTION`, `AUTOHEAL_DETAIL`.
//!
//! Exit 0 → `Succeeded`; other exits → `Failed { "exit N: <last line>" }`;
//! timeout → `TimedOut`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use autoheal_core::ActionOutcome;
use serde::{Deserialize, Serialize};

use super::{Action, ActionContext};
use crate::check::exec::{validate_argv_env, with_line};
use crate::process::{self, Keep, ProcessResult};
use crate::BuildError;

fn yes() -> bool {
    true
}

/// Default `timeout` of a command action: 60 s.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn default_timeout() -> Duration {
    DEFAULT_COMMAND_TIMEOUT
}

/// `type = "command"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandActionConfig {
    /// The program and its arguments, `["systemctl", "restart", "app"]`.
    /// Required, non-empty. Run directly, never through a shell.
    pub argv: Vec<String>,
    /// Run `sh -c argv[0]` instead (further elements become `$0`, `$1`, ...).
    /// Only for commands written by the operator. Default `false`.
    #[serde(default)]
    pub shell: bool,
    /// Environment variables to set. Default empty.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Start from an empty environment: only autoheal's `PATH`, then `env`,
    /// then the `AUTOHEAL_*` variables. Default `true` (autoheal's own
    /// secrets never leak into scripts); set `false` to inherit everything.
    #[serde(default = "yes")]
    pub clear_env: bool,
    /// Working directory. Default: autoheal's own.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// The most the command may take; then its process group is killed and
    /// the outcome is `TimedOut`. Default `60s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// Env values and secret-looking arguments are redacted ([`crate::redact`]).
impl std::fmt::Debug for CommandActionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandActionConfig")
            .field("argv", &crate::redact::Argv(&self.argv))
            .field("env", &crate::redact::KeysOnly(&self.env))
            .field("shell", &self.shell)
            .field("clear_env", &self.clear_env)
            .field("workdir", &self.workdir)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A built command action.
#[derive(Debug, Clone)]
pub struct CommandAction {
    cfg: CommandActionConfig,
}

impl CommandAction {
    pub fn build(cfg: &CommandActionConfig) -> Result<Self, BuildError> {
        crate::in_range(
            "timeout",
            cfg.timeout,
            &autoheal_core::policy::limits::ACTION_TIMEOUT,
        )?;
        validate_argv_env(&cfg.argv, &cfg.env)?;
        Ok(Self { cfg: cfg.clone() })
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.cfg.timeout
    }

    /// Runs the command once with `ctx` in its environment.
    pub async fn run_process(&self, ctx: &ActionContext) -> ProcessResult {
        let extra_env = vec![
            ("AUTOHEAL_TARGET", ctx.target.clone()),
            (
                "AUTOHEAL_INCIDENT_ID",
                ctx.incident_id.map(|i| i.to_string()).unwrap_or_default(),
            ),
            ("AUTOHEAL_STATE", ctx.state.clone()),
            ("AUTOHEAL_ATTEMPT", ctx.attempt.to_string()),
            ("AUTOHEAL_RUNG", ctx.rung.to_string()),
            ("AUTOHEAL_ACTION", ctx.action.clone()),
            ("AUTOHEAL_DETAIL", ctx.detail.clone()),
        ];
        process::run(process::Spec {
            argv: &self.cfg.argv,
            shell: self.cfg.shell,
            env: &self.cfg.env,
            clear_env: self.cfg.clear_env,
            workdir: self.cfg.workdir.as_deref(),
            extra_env,
            timeout: self.cfg.timeout,
            keep: Keep::Tail,
        })
        .await
    }
}

#[async_trait]
impl Action for CommandAction {
    async fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        match self.run_process(ctx).await {
            ProcessResult::Exited { code: Some(0), .. } => ActionOutcome::Succeeded,
            ProcessResult::Exited {
                code,
                signal,
                output,
            } => ActionOutcome::Failed {
                detail: with_line(ProcessResult::exit_text(code, signal), output.last_line()),
            },
            ProcessResult::TimedOut { .. } => ActionOutcome::TimedOut,
            ProcessResult::SpawnFailed { why } => ActionOutcome::Failed { detail: why },
        }
    }
}
