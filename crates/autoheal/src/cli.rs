//! The command line: `serve`, `check`, `status`, the operator commands, and
//! `export`/`import`. Client commands talk to a running autoheal's API.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "autoheal",
    version,
    about = "A self-healing supervisor for services: observe, decide by policy, heal, verify, record."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run autoheal. With no config file it runs on its embedded defaults.
    Serve {
        /// The TOML config file.
        #[arg(long, short, env = "AUTOHEAL_CONFIG")]
        config: Option<PathBuf>,
        /// Address to serve the API on (overrides server.listen).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Where the embedded database lives (overrides store.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Validate a config file and list every error; exits non-zero on any.
    Check {
        #[arg(long, short, env = "AUTOHEAL_CONFIG")]
        config: PathBuf,
    },
    /// Show every target and its state.
    Status {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Run the next rung of a target's ladder now.
    Heal {
        target: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Stop acting on a target until it is released.
    Quarantine {
        target: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Release a target from quarantine.
    Release {
        target: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Observe and record only, until resumed.
    Pause {
        target: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    Resume {
        target: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print the targets, actions, groups and policy defaults of a config
    /// file as normalised TOML.
    Export {
        #[arg(long, short, env = "AUTOHEAL_CONFIG")]
        config: PathBuf,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Merge the targets, actions and groups of FILE into the config file
    /// (validated first; the config file is replaced atomically). Send
    /// SIGHUP to a running autoheal to apply.
    Import {
        file: PathBuf,
        #[arg(long, short, env = "AUTOHEAL_CONFIG")]
        config: PathBuf,
    },
    /// Exit 0 if a local autoheal answers /live (for Docker's HEALTHCHECK).
    Healthcheck {
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Base URL of a running autoheal.
    #[arg(long, env = "AUTOHEAL_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
}
