//! The `autoheal` binary: parse the command line and dispatch. All the work
//! lives in the library.

use autoheal::cli::{Cli, Cmd};
use clap::Parser;
use std::process::ExitCode;

mod accounts;
mod commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("autoheal: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Cmd::Serve {
                config,
                listen,
                data_dir,
            } => commands::serve(config, listen, data_dir).await,
            Cmd::Check { config } => commands::check(&config),
            Cmd::Status { api } => commands::status(&api).await,
            Cmd::Heal { target, api } => commands::command(&api, &target, "heal").await,
            Cmd::Quarantine { target, api } => commands::command(&api, &target, "quarantine").await,
            Cmd::Release { target, api } => commands::command(&api, &target, "release").await,
            Cmd::Pause { target, api } => commands::command(&api, &target, "pause").await,
            Cmd::Resume { target, api } => commands::command(&api, &target, "resume").await,
            Cmd::User { cmd, store } => accounts::user(cmd, &store).await,
            Cmd::Key { cmd, api } => accounts::key(cmd, &api).await,
            Cmd::Notify { cmd, api } => accounts::notify(cmd, &api).await,
            Cmd::Workspace { cmd, store } => accounts::workspace(cmd, &store).await,
            Cmd::Secrets { cmd, store } => accounts::secrets(cmd, &store).await,
            Cmd::Export { config, output } => commands::export(&config, output.as_deref()),
            Cmd::Import { file, config } => commands::import(&file, &config),
            Cmd::Healthcheck { api } => commands::healthcheck(&api).await,
        }
    });
    // A check or action still running in a blocking thread does not hold
    // the exit (the stop is bounded; see `autoheal::app::STOP_DEADLINE`).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// mimalloc instead of glibc's malloc: with 100,000 targets glibc keeps the
/// boot's freed memory (about 2.5× the RSS); mimalloc gives it back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
