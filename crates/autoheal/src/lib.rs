//! # autoheal
//!
//! The service: wiring ([`app`]), the supervisor that drives the policy
//! engine ([`supervisor`]), the HTTP server and API ([`http`]), telemetry
//! ([`telemetry`]) and the command line ([`cli`]).

pub mod app;
pub mod auth;
pub mod build;
pub mod cli;
pub mod docker;
pub mod files;
pub mod http;
pub mod managed;
pub mod notify;
pub mod stream;
pub mod supervisor;
pub mod telemetry;
pub mod vault;
pub mod vitals;

/// An error and all its causes on one line: "a: b: c".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
