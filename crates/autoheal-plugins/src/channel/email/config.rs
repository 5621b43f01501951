//! `type = "email"`: e-mail over SMTP.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// Implicit TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption at all: only to a server on this machine (localhost,
    /// 127.0.0.0/8, ::1), port 25.
    None,
}

/// `type = "email"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (also the name its certificate must
    /// carry).
    pub host: String,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    pub security: Security,
    /// SMTP AUTH (PLAIN or LOGIN) user; with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// A secret.
    #[serde(default)]
    pub password: Option<String>,
    /// The sender (`autoheal <autoheal@example.com>`).
    pub from: String,
    /// The recipients (1-50).
    pub to: Vec<String>,
    /// An extra root certificate to trust (PEM text, not a path), for a
    /// server whose certificate comes from a private CA. Mozilla's roots are
    /// trusted either way.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// The most one try (connect, TLS, auth, send) may take. Default
    /// `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &super::super::Hidden(self.password.as_deref()))
            .field("from", &self.from)
            .field("to", &self.to)
            .field(
                "tls_ca_pem",
                &self
                    .tls_ca_pem
                    .as_ref()
                    .map(|p| format!("<{} bytes>", p.len())),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}
