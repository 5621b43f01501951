//! Platforms: the APIs of hosting platforms autoheal observes and heals
//! through (list services, read deploys, trigger a deploy or a restart).
//!
//! A platform client is plain I/O over the platform's documented API, built
//! once from a base URL, a credential and the process's shared
//! [`reqwest::Client`] ([`crate::HttpClients`]). The actions that use it live
//! in [`crate::action`] (`render_deploy`, `render_restart`, `coolify_restart`, `coolify_deploy`,
//! `coolify_start`).
//!
//! - [`render`]: Render (`https://api.render.com/v1`), see docs/platforms.md;
//! - [`coolify`]: a Coolify instance (`{instance}/api/v1`), see docs/platforms.md.

pub mod coolify;
pub mod render;
