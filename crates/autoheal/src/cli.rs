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
    /// Users: add, passwd, list, remove. Works on the store directly, so run
    /// it where autoheal runs (as the user that owns its data directory).
    User {
        #[command(subcommand)]
        cmd: UserCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// API keys of the workspace: create, list, revoke (through the API).
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The secrets vault: list, rotate-key. Works on the store directly.
    Secrets {
        #[command(subcommand)]
        cmd: SecretsCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Notifications: the channels, a test send, the dead letters (through
    /// the API).
    Notify {
        #[command(subcommand)]
        cmd: NotifyCmd,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Workspaces: list, add, members. Works on the store directly.
    Workspace {
        #[command(subcommand)]
        cmd: WorkspaceCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Make a user. The password is asked for (not echoed), or read from
    /// standard input when it is not a terminal.
    Add {
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Owner of the workspace (the first admin of a fresh install).
        #[arg(long)]
        admin: bool,
        /// viewer, operator, admin or owner (default viewer; owner with --admin).
        #[arg(long)]
        role: Option<String>,
        /// The workspace to join, by name.
        #[arg(long, default_value = "default")]
        workspace: String,
    },
    /// Set a user's password (asked for, or read from standard input); ends
    /// their sessions.
    Passwd { name: String },
    /// Every user with their workspaces and roles.
    List,
    /// Remove a user with their sessions and keys.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// The notification channels and whether each is in force.
    Channels,
    /// Send a test message to a channel now; exit 1 unless it was taken.
    Test { channel: String },
    /// The deliveries given up on (dead letters), newest first.
    Dead,
    /// Put a dead letter back to be tried now.
    Retry { id: i64 },
    /// Give a delivery up for good.
    Cancel { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Make an API key; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// viewer, operator, admin or owner: at most your own.
        #[arg(long)]
        role: Option<String>,
        /// How long it is valid (`30d`); default for ever.
        #[arg(long)]
        expires: Option<String>,
    },
    List,
    /// Revoke a key by its id (it stops working at once).
    Revoke {
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// The secrets of a workspace: names and kinds, never values.
    List {
        #[arg(long, default_value = "default")]
        workspace: String,
    },
    /// Re-encrypt every secret under a new key (written to the key file;
    /// back it up). All or nothing.
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCmd {
    List,
    Add {
        name: String,
    },
    /// The members of a workspace with their roles.
    Members {
        name: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Base URL of a running autoheal.
    #[arg(
        long,
        global = true,
        env = "AUTOHEAL_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API key. Default: the local token autoheal wrote to its data
    /// directory.
    #[arg(long, global = true, env = "AUTOHEAL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where the running autoheal keeps its files (for the local token).
    #[arg(
        long,
        global = true,
        env = "AUTOHEAL_DATA_DIR",
        default_value = "./autoheal-data"
    )]
    pub data_dir: PathBuf,
    /// The running autoheal's certificate file (its server.tls_cert), when
    /// it serves HTTPS: the URL becomes https://, only this file's
    /// certificates are trusted, and a loopback address is reached by the
    /// name in the certificate.
    #[arg(long, global = true, env = "AUTOHEAL_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
}

impl ApiArgs {
    /// The token to send, if any.
    pub fn token(&self) -> Option<String> {
        crate::auth::client_token(self.token.as_deref(), &self.data_dir)
    }
}

/// Where the store is, as `serve` would find it.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The TOML config file (for `[store]`).
    #[arg(long, short, global = true, env = "AUTOHEAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where autoheal keeps its files (overrides store.data_dir).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}
