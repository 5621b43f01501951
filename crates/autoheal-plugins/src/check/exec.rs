//! Exec check: run a program; exit 0 is `Up`, anything else is `Down`.
//!
//! The program runs from an argument list (`argv`), never through a shell
//! unless `shell = true`, with stdin closed and, by default, a cleared
//! environment (only `PATH` kept). On timeout its whole process group is
//! killed. stdout and stderr are captured together, capped at 4 KiB; the
//! first non-blank line explains a failure: `"exit 2: disk full"`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use autoheal_core::Observation;
use serde::{Deserialize, Serialize};

use super::{default_interval, default_timeout, with_latency, Check, Scheduled};
use crate::process::{self, Keep, ProcessResult};
use crate::{fmt_duration, BuildError};

fn yes() -> bool {
    true
}

/// `type = "exec"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecCheckConfig {
    /// The program and its arguments, `["pg_isready", "-h", "db"]`. Required,
    /// non-empty. Run directly (looked up in `PATH`), so `$HOME` or `;` are
    /// passed literally.
    pub argv: Vec<String>,
    /// Run `sh -c argv[0]` instead (further elements become `$0`, `$1`, ...).
    /// Only for commands written by the operator. Default `false`.
    #[serde(default)]
    pub shell: bool,
    /// Environment variables to set. Default empty.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Start from an empty environment (only autoheal's `PATH` is kept, then
    /// `env` is added). Default `true`.
    #[serde(default = "yes")]
    pub clear_env: bool,
    /// Working directory. Default: autoheal's own.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// Time between two runs. Default `10s`.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// The most one run may take; then the process group is killed and the
    /// check is `Down`. Default `5s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// Env values and secret-looking arguments are redacted ([`crate::redact`]).
impl std::fmt::Debug for ExecCheckConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecCheckConfig")
            .field("argv", &crate::redact::Argv(&self.argv))
            .field("env", &crate::redact::KeysOnly(&self.env))
            .field("shell", &self.shell)
            .field("clear_env", &self.clear_env)
            .field("workdir", &self.workdir)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A built exec check.
#[derive(Debug, Clone)]
pub struct ExecCheck {
    cfg: ExecCheckConfig,
}

impl ExecCheck {
    pub fn build(cfg: &ExecCheckConfig) -> Result<Self, BuildError> {
        super::validate_schedule(cfg.interval, cfg.timeout)?;
        validate_argv_env(&cfg.argv, &cfg.env)?;
        Ok(Self { cfg: cfg.clone() })
    }

    /// Runs the program once and returns how it ended, with its output
    /// (`check` maps this to an observation).
    pub async fn run(&self) -> ProcessResult {
        process::run(process::Spec {
            argv: &self.cfg.argv,
            shell: self.cfg.shell,
            env: &self.cfg.env,
            clear_env: self.cfg.clear_env,
            workdir: self.cfg.workdir.as_deref(),
            extra_env: Vec::new(),
            timeout: self.cfg.timeout,
            keep: Keep::Head,
        })
        .await
    }
}

pub(crate) fn validate_argv_env(
    argv: &[String],
    env: &BTreeMap<String, String>,
) -> Result<(), BuildError> {
    if argv.is_empty() || argv[0].trim().is_empty() {
        return Err(BuildError::new("argv", "must name a program"));
    }
    for (i, a) in argv.iter().enumerate() {
        if a.contains('\0') {
            return Err(BuildError::new(format!("argv[{i}]"), "contains a NUL byte"));
        }
    }
    for (k, v) in env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(BuildError::new(
                format!("env.{k}"),
                "names must be non-empty without '=' and no NUL bytes",
            ));
        }
    }
    Ok(())
}

impl Scheduled for ExecCheckConfig {
    fn interval(&self) -> Duration {
        self.interval
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Scheduled for ExecCheck {
    fn interval(&self) -> Duration {
        self.cfg.interval
    }
    fn timeout(&self) -> Duration {
        self.cfg.timeout
    }
}

#[async_trait]
impl Check for ExecCheck {
    async fn check(&self) -> Observation {
        let start = tokio::time::Instant::now();
        let o = match self.run().await {
            ProcessResult::Exited {
                code: Some(0),
                output,
                ..
            } => {
                let mut o = Observation::up();
                o.detail = with_line("exit 0".into(), output.first_line());
                o
            }
            ProcessResult::Exited {
                code,
                signal,
                output,
            } => Observation::down(with_line(
                ProcessResult::exit_text(code, signal),
                output.first_line(),
            )),
            ProcessResult::TimedOut { .. } => {
                Observation::down(format!("timeout after {}", fmt_duration(self.cfg.timeout)))
            }
            ProcessResult::SpawnFailed { why } => Observation::down(why),
        };
        with_latency(o, start.elapsed())
    }
}

/// "exit 1" + ": first line", the line capped at 200 characters.
pub(crate) fn with_line(head: String, line: String) -> String {
    if line.is_empty() {
        return head;
    }
    let mut line = line;
    if line.chars().count() > 200 {
        line = line.chars().take(200).collect::<String>() + "…";
    }
    format!("{head}: {line}")
}
