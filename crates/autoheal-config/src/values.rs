//! Checks of single setting values shared by the file and the environment
//! (`resolve.rs` and `env.rs` both call them; neither imports the other for
//! them).

use std::net::SocketAddr;

pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!(r#"expected an address like "127.0.0.1:8080" or "[::]:8080", found {s:?}"#)
    })
}

pub(crate) fn check_store_url(u: &str) -> Result<(), String> {
    let ok = ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| u.starts_with(p));
    if ok {
        Ok(())
    } else {
        Err(format!(
            r#"expected a URL like "sqlite://./autoheal-data/autoheal.db" or "postgres://user:password@host/db", found {:?}"#,
            crate::redact_url(u)
        ))
    }
}

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// A `tracing` filter: comma-separated `level` or `target=level` directives.
pub(crate) fn check_log_level(s: &str) -> Result<(), String> {
    let expected = || {
        format!(
            r#"expected a level ({}) or directives like "info,autoheal=debug", found {s:?}"#,
            LEVELS.join(", ")
        )
    };
    if s.trim().is_empty() {
        return Err(expected());
    }
    for directive in s.split(',') {
        let level = match directive.rsplit_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level,
            Some(_) => return Err(expected()),
            None => directive,
        };
        if !LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
            return Err(expected());
        }
    }
    Ok(())
}
