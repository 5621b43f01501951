//! Webhook signatures: HMAC-SHA256 over the raw body, verified before the
//! body is parsed, compared in constant time (`hmac`'s `verify_slice`).
//!
//! - [`Scheme::Github`]: header `x-hub-signature-256: sha256=<hex>`, the
//!   HMAC of the body. No timestamp, so no replay id.
//! - [`Scheme::Stripe`]: header `stripe-signature: t=<unix s>,v1=<hex>[,v1=<hex>...]`
//!   (other schemes such as `v0` are skipped), the HMAC of `"<t>.<body>"`;
//!   `t` must be within [`TOLERANCE_S`] of now. Replay id `"<t>.<hex that matched>"`.
//! - [`Scheme::StandardWebhooks`]: headers `webhook-id`,
//!   `webhook-timestamp` (Unix s, within [`TOLERANCE_S`]) and
//!   `webhook-signature`, a space-separated list of `v1,<base64>` (other
//!   versions skipped), the HMAC of `"<id>.<timestamp>.<body>"`. A secret
//!   `whsec_<base64>` is the base64-decoded key, any other secret its raw
//!   bytes. Replay id the `webhook-id`.
//!
//! The caller remembers replay ids for [`TOLERANCE_S`] and refuses one seen
//! before. An empty secret is refused. Nothing here panics on any input.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signed timestamp may be from now, either way: 300 s (Stripe's
/// and Standard Webhooks' default).
pub const TOLERANCE_S: u64 = 300;

/// At most this many candidate signatures are tried from one header.
const MAX_CANDIDATES: usize = 16;

/// How the sender signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Github,
    Stripe,
    StandardWebhooks,
}

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header (named, lower case) is missing.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// A header or the secret is not in the scheme's format.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// The signed timestamp is more than 300 s from now.
    #[error("the signature's timestamp is more than 300 s from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

type HmacSha256 = Hmac<Sha256>;

/// Verifies `body` as signed by `secret` under `scheme`; `header` looks a
/// header up by lower-case name; `now_s` Unix seconds; tolerance 300 s.
/// `Ok(Some(id))` gives a replay id to remember for the tolerance window
/// (Stripe: `"<t>.<sig>"`; Standard Webhooks: `webhook-id`; GitHub: None).
pub fn verify(
    scheme: Scheme,
    secret: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_s: i64,
) -> Result<Option<String>, SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::Malformed("the secret is empty"));
    }
    match scheme {
        Scheme::Github => github(secret, header, body).map(|()| None),
        Scheme::Stripe => stripe(secret, header, body, now_s).map(Some),
        Scheme::StandardWebhooks => standard(secret, header, body, now_s).map(Some),
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Result<HmacSha256, SignatureError> {
    let mut m = HmacSha256::new_from_slice(key)
        .map_err(|_| SignatureError::Malformed("the secret cannot key HMAC-SHA256"))?;
    for p in parts {
        m.update(p);
    }
    Ok(m)
}

fn fresh(ts: i64, now_s: i64) -> Result<(), SignatureError> {
    if ts.abs_diff(now_s) > TOLERANCE_S {
        Err(SignatureError::Stale)
    } else {
        Ok(())
    }
}

fn github(
    secret: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), SignatureError> {
    const H: &str = "x-hub-signature-256";
    let value = header(H).ok_or(SignatureError::Missing(H))?;
    let hex_sig = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed(
            "x-hub-signature-256 must be sha256=<hex>",
        ))?;
    let sig = hex::decode(hex_sig)
        .map_err(|_| SignatureError::Malformed("x-hub-signature-256 is not hex"))?;
    mac(secret, &[body])?
        .verify_slice(&sig)
        .map_err(|_| SignatureError::Mismatch)
}

fn stripe(
    secret: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_s: i64,
) -> Result<String, SignatureError> {
    const H: &str = "stripe-signature";
    let value = header(H).ok_or(SignatureError::Missing(H))?;
    let mut ts: Option<&str> = None;
    let mut sigs: Vec<&str> = Vec::new();
    for item in value.split(',').take(64) {
        let Some((k, v)) = item.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => ts = Some(v),
            "v1" if sigs.len() < MAX_CANDIDATES => sigs.push(v),
            _ => {}
        }
    }
    let ts_text = ts.ok_or(SignatureError::Malformed("stripe-signature has no t="))?;
    let t: i64 = ts_text
        .parse()
        .map_err(|_| SignatureError::Malformed("stripe-signature's t= is not a Unix time"))?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed("stripe-signature has no v1="));
    }
    fresh(t, now_s)?;
    let m = mac(secret, &[ts_text.as_bytes(), b".", body])?;
    for s in sigs {
        let Ok(sig) = hex::decode(s) else { continue };
        if m.clone().verify_slice(&sig).is_ok() {
            return Ok(format!("{ts_text}.{}", s.to_ascii_lowercase()));
        }
    }
    Err(SignatureError::Mismatch)
}

fn standard(
    secret: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_s: i64,
) -> Result<String, SignatureError> {
    let id = header("webhook-id").ok_or(SignatureError::Missing("webhook-id"))?;
    let ts_text =
        header("webhook-timestamp").ok_or(SignatureError::Missing("webhook-timestamp"))?;
    let value = header("webhook-signature").ok_or(SignatureError::Missing("webhook-signature"))?;
    let (id, ts_text) = (id.trim(), ts_text.trim());
    if id.is_empty() {
        return Err(SignatureError::Malformed("webhook-id is empty"));
    }
    let t: i64 = ts_text
        .parse()
        .map_err(|_| SignatureError::Malformed("webhook-timestamp is not a Unix time"))?;
    let key = match std::str::from_utf8(secret)
        .ok()
        .and_then(|s| s.strip_prefix("whsec_"))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| SignatureError::Malformed("the whsec_ secret is not base64"))?,
        None => secret.to_vec(),
    };
    if key.is_empty() {
        return Err(SignatureError::Malformed("the secret is empty"));
    }
    let sigs: Vec<&str> = value
        .split_ascii_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .take(MAX_CANDIDATES)
        .collect();
    if sigs.is_empty() {
        return Err(SignatureError::Malformed(
            "webhook-signature has no v1,<base64> signature",
        ));
    }
    fresh(t, now_s)?;
    let m = mac(&key, &[id.as_bytes(), b".", ts_text.as_bytes(), b".", body])?;
    for s in sigs {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(s) else {
            continue;
        };
        if m.clone().verify_slice(&sig).is_ok() {
            return Ok(id.to_string());
        }
    }
    Err(SignatureError::Mismatch)
}
