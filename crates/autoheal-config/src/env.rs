//! Environment overrides: the last layer, above the file. The caller passes
//! the variables (the binary passes `std::env::vars()`); nothing here reads
//! the process environment. An empty value counts as unset. A bad value is a
//! [`ConfigError`] with file [`ENVIRONMENT`] and the variable as its key.

use crate::error::{ConfigError, ENVIRONMENT};
use crate::values::{check_log_level, check_store_url, parse_listen};
use crate::LogFormat;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Every variable this crate reads, with the key it overrides.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("AUTOHEAL_LISTEN", "server.listen"),
    ("AUTOHEAL_DATA_DIR", "store.data_dir"),
    ("AUTOHEAL_STORE_URL", "store.url"),
    ("AUTOHEAL_LOG_FORMAT", "log.format"),
    ("AUTOHEAL_LOG_LEVEL", "log.level"),
    ("AUTOHEAL_DRY_RUN", "engine.dry_run"),
    ("AUTOHEAL_TLS_CERT", "server.tls_cert"),
    ("AUTOHEAL_TLS_KEY", "server.tls_key"),
    (
        "AUTOHEAL_LOOPBACK_UNTIL_ADMIN",
        "server.loopback_until_admin",
    ),
];

/// The overrides found, each already parsed.
#[derive(Debug, Default)]
pub(crate) struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub store_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub dry_run: Option<bool>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub loopback_until_admin: Option<bool>,
}

impl Overrides {
    pub fn from_env(env: &BTreeMap<String, String>) -> (Overrides, Vec<ConfigError>) {
        let mut errs = Vec::new();
        let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut check = |name: &str, r: Result<(), String>| {
            if let Err(m) = r {
                errs.push(ConfigError::new(ENVIRONMENT, name, m));
                false
            } else {
                true
            }
        };
        let mut o = Overrides::default();
        if let Some(v) = get("AUTOHEAL_LISTEN") {
            match parse_listen(v) {
                Ok(a) => o.listen = Some(a),
                Err(m) => {
                    check("AUTOHEAL_LISTEN", Err(m));
                }
            }
        }
        if let Some(v) = get("AUTOHEAL_DATA_DIR") {
            o.data_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("AUTOHEAL_TLS_CERT") {
            o.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = get("AUTOHEAL_TLS_KEY") {
            o.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("AUTOHEAL_STORE_URL") {
            if check("AUTOHEAL_STORE_URL", check_store_url(v)) {
                o.store_url = Some(v.to_string());
            }
        }
        if let Some(v) = get("AUTOHEAL_LOG_FORMAT") {
            let f = match v.to_ascii_lowercase().as_str() {
                "auto" => Ok(LogFormat::Auto),
                "json" => Ok(LogFormat::Json),
                "text" => Ok(LogFormat::Text),
                _ => Err(format!(
                    r#"expected one of "auto", "json", "text", found {v:?}"#
                )),
            };
            match f {
                Ok(f) => o.log_format = Some(f),
                Err(m) => {
                    check("AUTOHEAL_LOG_FORMAT", Err(m));
                }
            }
        }
        if let Some(v) = get("AUTOHEAL_LOG_LEVEL") {
            if check("AUTOHEAL_LOG_LEVEL", check_log_level(v)) {
                o.log_level = Some(v.to_string());
            }
        }
        if let Some(v) = get("AUTOHEAL_LOOPBACK_UNTIL_ADMIN") {
            match parse_bool(v) {
                Some(b) => o.loopback_until_admin = Some(b),
                None => {
                    check(
                        "AUTOHEAL_LOOPBACK_UNTIL_ADMIN",
                        Err(format!("expected true or false, found {v:?}")),
                    );
                }
            }
        }
        if let Some(v) = get("AUTOHEAL_DRY_RUN") {
            match parse_bool(v) {
                Some(b) => o.dry_run = Some(b),
                None => {
                    check(
                        "AUTOHEAL_DRY_RUN",
                        Err(format!(
                            "expected true or false (or 1/0, yes/no, on/off), found {v:?}"
                        )),
                    );
                }
            }
        }
        (o, errs)
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
