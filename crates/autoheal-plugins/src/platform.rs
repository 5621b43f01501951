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

use std::time::Duration;

/// The longest one wait between retries may be.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// The largest answer read from a platform.
pub(crate) const MAX_BODY: usize = 8 * 1024 * 1024;

/// 1 s, 2 s, 4 s, ... (± 20 %), capped at [`MAX_RETRY_WAIT`].
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.min(5));
    base.mul_f64(0.8 + 0.4 * rand::random::<f64>())
        .min(MAX_RETRY_WAIT)
}

/// `d` plus up to 20 % (a wait the platform asked for, spread).
pub(crate) fn spread(d: Duration) -> Duration {
    d.mul_f64(1.0 + 0.2 * rand::random::<f64>())
}

/// The whole answer, at most [`MAX_BODY`] bytes.
pub(crate) async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(crate::describe_reqwest_error)? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// At most `max` bytes of the answer (the rest is not read): enough for a
/// receiver's error message, and the connection is dropped rather than
/// drained when the answer is larger.
pub(crate) async fn read_body_max(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(crate::describe_reqwest_error)? {
        let room = max - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// A platform's error body `{"message": "..."}` (Render's and Coolify's
/// Laravel alike); else its text, one line.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<E>(body) {
        return e.message;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no message".into()
    } else {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}
