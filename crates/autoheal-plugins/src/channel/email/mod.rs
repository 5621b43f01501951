//! E-mail over SMTP (lettre, rustls): one message per send, to every
//! recipient, with a plain-text part and an HTML part (every user
//! character escaped), `Message-ID: <event id@autoheal>` so mail clients
//! and archives can dedupe a retried send.
//!
//! The server's name is resolved at send time and link-local (cloud
//! metadata) addresses are refused, as for the HTTP channels; TLS then
//! checks the certificate against the configured host name (Mozilla's
//! roots). `security = "none"` is only accepted for a server on this
//! machine.
//!
//! Outcomes: the server accepted the message → [`Delivery::Sent`]; a 5xx
//! SMTP reply (unknown recipient, authentication refused, message refused)
//! → [`Delivery::Rejected`]; a 4xx reply (greylisting, mailbox busy),
//! timeouts, connection, TLS and protocol errors → [`Delivery::Retry`].
//! Subject ≤ 200 characters, the text part ≤ 32000, the HTML part ≤ 64000
//! bytes (a whole message stays well under 300 KB once encoded).

mod config;

use std::net::IpAddr;
use std::time::Duration;

pub use config::{EmailConfig, Security};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::text::{self, Fit, Unit};
use super::{Delivery, Message, Rendered};
use crate::{BuildError, HttpClients};

/// The longest text part (UTF-16 units).
pub const TEXT_MAX: usize = 32_000;
/// The longest HTML part (bytes, after escaping).
pub const HTML_MAX: usize = 64_000;

/// A built e-mail channel.
pub struct Email {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, String)>,
    from: Mailbox,
    to: Vec<Mailbox>,
    ca_pem: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

/// The port used when none is given.
pub fn default_port(security: Security) -> u16 {
    match security {
        Security::Starttls => 587,
        Security::Tls => 465,
        Security::None => 25,
    }
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `<event id@autoheal>`, with anything but letters, digits, `.`, `-` and
/// `_` replaced (and a hash of the original added so ids stay distinct).
pub fn message_id(event_id: &str) -> String {
    use sha2::Digest as _;
    let clean: String = event_id
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean == event_id && !clean.is_empty() {
        format!("<{clean}@autoheal>")
    } else {
        let h = sha2::Sha256::digest(event_id.as_bytes());
        format!("<{clean}.{}@autoheal>", hex::encode(&h[..8]))
    }
}

impl Email {
    pub fn build(cfg: &EmailConfig, _clients: &HttpClients) -> Result<Self, BuildError> {
        super::check_timeout(cfg.timeout)?;
        let host = cfg.host.trim();
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err(BuildError::new("host", "expected a host name or address"));
        }
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            if crate::http_client::is_forbidden_ip(ip) {
                return Err(BuildError::new(
                    "host",
                    format!("{ip} is a link-local (cloud metadata) address, always refused"),
                ));
            }
        }
        if cfg.security == Security::None && !is_local(host) {
            return Err(BuildError::new("security", "\"none\" sends mail and passwords in the clear: only to a server on this machine (localhost); use starttls or tls"));
        }
        if cfg.port == Some(0) {
            return Err(BuildError::new("port", "must be 1-65535"));
        }
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            (Some(_), None) => return Err(BuildError::new("password", "required with username")),
            (None, Some(_)) => return Err(BuildError::new("username", "required with password")),
        };
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| BuildError::new("from", format!("not an address: {e}")))?;
        if cfg.to.is_empty() || cfg.to.len() > 50 {
            return Err(BuildError::new("to", "1-50 recipients"));
        }
        let to = cfg
            .to
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.parse::<Mailbox>().map_err(|e| {
                    BuildError::new(format!("to[{i}]"), format!("not an address: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // TLS parameters must build for the host name (done again per send).
        if let Some(pem) = &cfg.tls_ca_pem {
            if cfg.security == Security::None {
                return Err(BuildError::new(
                    "tls_ca_pem",
                    "only with security = \"starttls\" or \"tls\"",
                ));
            }
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(BuildError::new(
                    "tls_ca_pem",
                    "expected a PEM certificate (-----BEGIN CERTIFICATE-----)",
                ));
            }
        }
        tls_for(cfg.security, host, cfg.tls_ca_pem.as_deref()).map_err(|e| {
            BuildError::new(
                if cfg.tls_ca_pem.is_some() {
                    "tls_ca_pem"
                } else {
                    "host"
                },
                e,
            )
        })?;
        Ok(Email {
            host: host.to_string(),
            port: cfg.port.unwrap_or(default_port(cfg.security)),
            security: cfg.security,
            credentials,
            from,
            to,
            ca_pem: cfg.tls_ca_pem.clone(),
            timeout: cfg.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Host, port and protection as used.
    pub fn endpoint(&self) -> (&str, u16, Security) {
        (&self.host, self.port, self.security)
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        self.credentials.iter().map(|c| c.1.clone()).collect()
    }

    pub fn render(&self, msg: &Message) -> Rendered {
        let (subject, text, html) = Self::parts(msg);
        Rendered::Email {
            subject,
            text,
            html,
        }
    }

    fn parts(msg: &Message) -> (String, String, String) {
        let mut subject = text::one_line(&msg.title, 200);
        if subject.is_empty() {
            subject = format!("autoheal: {}", msg.kind.as_str());
        }
        let mut plain = text::plain_message(msg, TEXT_MAX, Unit::Chars);
        plain.push_str(&format!(
            "\n\n-- \nautoheal · {} · {}\n",
            msg.kind.as_str(),
            msg.occurred_at.to_rfc3339()
        ));
        // The HTML part: markup whole, user text escaped, HTML_MAX bytes in
        // all (the closing markup is kept out of the budget).
        let mut f = Fit::new(HTML_MAX, Unit::Bytes, &text::esc_html);
        f.raw("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
        f.wrapped("<h2>", &text::one_line(&msg.title, 256), "</h2>", 1024);
        if !msg.text.trim().is_empty() {
            f.wrapped(
                "<p style=\"white-space:pre-wrap\">",
                &text::plain(&msg.text),
                "</p>",
                HTML_MAX / 2,
            );
        }
        let targets = ("Targets".to_string(), msg.targets.join(", "));
        let rows: Vec<&(String, String)> = msg
            .fields
            .iter()
            .take(50)
            .chain((!msg.targets.is_empty()).then_some(&targets))
            .collect();
        if !rows.is_empty() {
            // Rows are added whole, within what is left of the budget.
            let mut table = String::from("<table>");
            let room = f.left().saturating_sub("</table>".len());
            for (k, v) in rows {
                let row = format!(
                    "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                    text::escape_fit(&text::one_line(k, 100), 400, Unit::Bytes, text::esc_html),
                    text::escape_fit(&text::plain(v), 6000, Unit::Bytes, text::esc_html),
                );
                if table.len() + row.len() > room {
                    break;
                }
                table.push_str(&row);
            }
            table.push_str("</table>");
            f.raw(&table);
        }
        if let Some(link) = msg.http_link() {
            f.wrapped(
                &format!("<p><a href=\"{}\">", text::html(link)),
                "Open incident",
                "</a></p>",
                20,
            );
        }
        let mut html = f.finish();
        html.push_str(&format!(
            "<p style=\"color:#888\">autoheal · {} · {}</p></body></html>",
            msg.kind.as_str(),
            text::html(&msg.occurred_at.to_rfc3339())
        ));
        (subject, plain, html)
    }

    fn mail(&self, msg: &Message) -> Result<lettre::Message, String> {
        let (subject, plain, html) = Self::parts(msg);
        let mut b = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(message_id(&msg.event_id)))
            .date(msg.occurred_at.into());
        for t in &self.to {
            b = b.to(t.clone());
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(plain),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// The first address of the host that is not link-local.
    async fn resolve(&self) -> Result<IpAddr, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let all: Vec<IpAddr> = tokio::net::lookup_host((host, self.port))
            .await
            .map_err(|e| format!("dns error: {e}"))?
            .map(|a| a.ip())
            .collect();
        all.iter()
            .copied()
            .find(|ip| !crate::http_client::is_forbidden_ip(*ip))
            .ok_or_else(|| {
                format!(
                    "{} resolves only to link-local addresses, which are refused",
                    self.host
                )
            })
    }

    pub async fn send(&self, msg: &Message) -> Delivery {
        let mail = match self.mail(msg) {
            Ok(m) => m,
            Err(why) => return Delivery::Rejected { why },
        };
        let ip = match self.resolve().await {
            Ok(ip) => ip,
            Err(why) => return Delivery::Retry { after: None, why },
        };
        let tls = match tls_for(self.security, &self.host, self.ca_pem.as_deref()) {
            Ok(t) => t,
            Err(why) => return Delivery::Rejected { why },
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
            .port(self.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let Some((u, p)) = &self.credentials {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let transport = b.build();
        match transport.send(mail).await {
            Ok(_) => Delivery::Sent,
            Err(e) => {
                let why = text::one_line(&format!("SMTP: {e}"), super::REASON_MAX);
                if e.is_permanent() {
                    Delivery::Rejected { why }
                } else {
                    Delivery::Retry { after: None, why }
                }
            }
        }
    }
}

/// lettre's TLS setting for a protection mode, checking certificates
/// against `host` with Mozilla's roots (and `ca_pem`, when given).
pub(crate) fn tls_for(security: Security, host: &str, ca_pem: Option<&str>) -> Result<Tls, String> {
    use lettre::transport::smtp::client::Certificate;
    let params = || {
        let mut b = TlsParameters::builder(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        );
        if let Some(pem) = ca_pem {
            let cert = Certificate::from_pem(pem.as_bytes())
                .map_err(|e| format!("not a PEM certificate: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| format!("TLS: {e}"))
    };
    Ok(match security {
        Security::Starttls => Tls::Required(params()?),
        Security::Tls => Tls::Wrapper(params()?),
        Security::None => Tls::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> EmailConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn tls_settings_follow_the_security_mode() {
        assert!(
            matches!(tls_for(Security::Starttls, "smtp.example.com", None), Ok(Tls::Required(p)) if p.domain() == "smtp.example.com")
        );
        assert!(
            matches!(tls_for(Security::Tls, "smtp.example.com", None), Ok(Tls::Wrapper(p)) if p.domain() == "smtp.example.com")
        );
        assert!(matches!(
            tls_for(Security::None, "localhost", None),
            Ok(Tls::None)
        ));
        let clients = HttpClients::new().unwrap();
        let base = serde_json::json!({"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]});
        let e = Email::build(&cfg(base.clone()), &clients).unwrap();
        assert_eq!(e.endpoint(), ("smtp.example.com", 587, Security::Starttls));
        let mut v = base.clone();
        v["security"] = "tls".into();
        assert_eq!(Email::build(&cfg(v), &clients).unwrap().endpoint().1, 465);
        let mut v = base.clone();
        v["security"] = "none".into();
        let err = Email::build(&cfg(v.clone()), &clients).unwrap_err();
        assert_eq!(err.key, "security");
        v["host"] = "127.0.0.1".into();
        v["port"] = 2525.into();
        assert_eq!(
            Email::build(&cfg(v), &clients).unwrap().endpoint(),
            ("127.0.0.1", 2525, Security::None)
        );
        let mut v = base;
        v["host"] = "169.254.169.254".into();
        assert_eq!(Email::build(&cfg(v), &clients).unwrap_err().key, "host");
    }

    #[test]
    fn message_ids_are_safe_and_distinct() {
        assert_eq!(message_id("evt_01H9"), "<evt_01H9@autoheal>");
        let a = message_id("a b>c");
        let b = message_id("a-b-c");
        assert!(a.starts_with("<a-b-c.") && a.ends_with("@autoheal>"), "{a}");
        assert_ne!(a, b);
        assert!(!message_id("x\r\nBcc: evil@example.com").contains('\n'));
    }

    #[test]
    fn debug_hides_the_password() {
        let c = cfg(
            serde_json::json!({"host": "h", "from": "a@example.com", "to": ["b@example.com"], "username": "u", "password": "CANARY-pw"}),
        );
        assert!(!format!("{c:?}").contains("CANARY"));
        let e = Email::build(&c, &HttpClients::new().unwrap()).unwrap();
        assert!(!format!("{e:?}").contains("CANARY"));
    }
}
