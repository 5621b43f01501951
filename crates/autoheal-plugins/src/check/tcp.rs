//! TCP check: can a connection be opened to `host:port` within the timeout?
//!
//! Connected → `Up` ("connected"); refused, unreachable, DNS failure or
//! timeout → `Down` ("connection refused", "timeout after 5s"). The
//! connection is closed at once; nothing is sent. Link-local (cloud
//! metadata) addresses are refused like in HTTP plugins.

use std::time::Duration;

use async_trait::async_trait;
use autoheal_core::Observation;
use serde::{Deserialize, Serialize};

use super::{default_interval, default_timeout, with_latency, Check, Scheduled};
use crate::{fmt_duration, BuildError};

/// `type = "tcp"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheckConfig {
    /// `"host:port"` to connect to (`"db:5432"`, `"[::1]:6379"`). Required.
    pub address: String,
    /// Time between two probes. Default `10s`.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// The most one connect may take. Default `5s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// A built TCP check.
#[derive(Debug, Clone)]
pub struct TcpCheck {
    address: String,
    interval: Duration,
    timeout: Duration,
}

impl TcpCheck {
    pub fn build(cfg: &TcpCheckConfig) -> Result<Self, BuildError> {
        super::validate_schedule(cfg.interval, cfg.timeout)?;
        validate_address(&cfg.address).map_err(|why| BuildError::new("address", why))?;
        Ok(Self {
            address: cfg.address.clone(),
            interval: cfg.interval,
            timeout: cfg.timeout,
        })
    }
}

fn validate_address(a: &str) -> Result<(), String> {
    let Some((host, port)) = a.rsplit_once(':') else {
        return Err(format!("expected \"host:port\", got {a:?}"));
    };
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if host.is_empty() || bracketed == Some("") {
        return Err(format!("no host in {a:?}"));
    }
    let ok_v6 = bracketed.is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    if host.contains(':') && !ok_v6 {
        return Err(format!(
            "{a:?}: IPv6 addresses go in brackets, \"[::1]:80\""
        ));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err(format!("port {port:?} is not a number from 1 to 65535")),
        Ok(_) => {}
    }
    // An address written as an IP (any spelling the resolver accepts:
    // "169.254.169.254", "0xa9fea9fe", "[fe80::1]") is refused here, like
    // in an HTTP check's URL; names are checked once resolved.
    let literal = match url::Host::parse(host) {
        Ok(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Ok(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = literal.filter(|ip| crate::http_client::is_forbidden_ip(*ip)) {
        return Err(format!(
            "{ip} is a link-local (cloud metadata) address, always refused"
        ));
    }
    Ok(())
}

impl Scheduled for TcpCheckConfig {
    fn interval(&self) -> Duration {
        self.interval
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Scheduled for TcpCheck {
    fn interval(&self) -> Duration {
        self.interval
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[async_trait]
impl Check for TcpCheck {
    async fn check(&self) -> Observation {
        let start = tokio::time::Instant::now();
        let r = tokio::time::timeout(self.timeout, connect_guarded(&self.address)).await;
        let o = match r {
            Ok(Ok(_stream)) => {
                let mut o = Observation::up();
                o.detail = "connected".into();
                o
            }
            Ok(Err(e)) => Observation::down(describe_io(&e)),
            Err(_) => Observation::down(format!("timeout after {}", fmt_duration(self.timeout))),
        };
        with_latency(o, start.elapsed())
    }
}

/// Resolves `address` and connects to the first address that answers,
/// never to a link-local (cloud metadata) one.
async fn connect_guarded(address: &str) -> std::io::Result<tokio::net::TcpStream> {
    use crate::http_client::is_forbidden_ip;
    let mut last = None;
    let mut any = false;
    for addr in tokio::net::lookup_host(address).await? {
        any = true;
        if is_forbidden_ip(addr.ip()) {
            last.get_or_insert_with(|| {
                std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is a link-local (cloud metadata) address, always refused",
                        addr.ip()
                    ),
                )
            });
            continue;
        }
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        let why = if any {
            "no usable address"
        } else {
            "no address found"
        };
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("{address}: {why}"))
    }))
}

pub(crate) fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        TimedOut => "connect timed out".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_validated() {
        assert!(validate_address("db:5432").is_ok());
        assert!(validate_address("127.0.0.1:1").is_ok());
        assert!(validate_address("[::1]:6379").is_ok());
        assert!(validate_address("db").is_err());
        assert!(validate_address(":80").is_err());
        assert!(validate_address("db:0").is_err());
        assert!(validate_address("db:70000").is_err());
        assert!(validate_address("::1:80").is_err());
        for link_local in [
            "169.254.169.254:80",
            "169.254.0.1:22",
            "0xa9fea9fe:80",
            "[fe80::1]:80",
            "[febf::1]:80",
            "[::ffff:169.254.169.254]:80",
        ] {
            let e = validate_address(link_local).unwrap_err();
            assert!(e.contains("link-local"), "{link_local}: {e}");
        }
        assert!(validate_address("169.253.0.1:80").is_ok());
        assert!(validate_address("[fec0::1]:80").is_ok());
    }
}
