//! The process's shared HTTP clients.
//!
//! Connection reuse is most of the cost of an HTTP check at high rates, so
//! every HTTP check and webhook action of one process shares one
//! [`reqwest::Client`] (one pool). A second client, built only when some check
//! sets `insecure_skip_verify = true`, skips certificate verification; it is
//! never used otherwise.
//!
//! Both clients follow no redirects themselves: the HTTP check follows them
//! hop by hop so that each hop goes through the scheme allow-list and the hop
//! cap, and webhooks treat a 3xx as a failure. Both ask for the peer's
//! certificate (`tls_info`) so checks can warn before it expires, and send
//! `User-Agent: autoheal/<version>`.
//!
//! Link-local addresses (169.254.0.0/16, where cloud metadata services
//! live, fe80::/10, and AWS's fd00:ec2::254) are always refused, even for
//! checks the operator configured: by the URL check at build and on every
//! redirect hop for IP literals, and by the resolver at connect time for
//! names (so DNS rebinding to a metadata address does not get through).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// `autoheal/<crate version>`, sent by every HTTP check and webhook.
pub const USER_AGENT: &str = concat!("autoheal/", env!("CARGO_PKG_VERSION"));

/// Cheap to clone: all clones share the same connection pools.
#[derive(Clone)]
pub struct HttpClients {
    inner: Arc<Inner>,
}

struct Inner {
    verified: reqwest::Client,
    insecure: OnceLock<Result<reqwest::Client, String>>,
}

impl std::fmt::Debug for HttpClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClients").finish_non_exhaustive()
    }
}

/// Idle pooled connections kept per host (each holds buffers of its own).
const MAX_IDLE_PER_HOST: usize = 32;

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        // Checks that fall due together (at boot: a tenth of every interval)
        // open many connections at once; only this many stay open per host
        // afterwards, which is plenty for checks spread over their interval.
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .dns_resolver(GuardedResolver)
}

/// Addresses no HTTP plugin may connect to: link-local (169.254.0.0/16,
/// fe80::/10, IPv4-mapped too) and AWS's IPv6 metadata address.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
        }
    }
}

/// The system resolver, minus forbidden addresses.
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !is_forbidden_ip(a.ip()))
                .collect();
            if allowed.is_empty() && !all.is_empty() {
                return Err(format!(
                    "{host} resolves only to link-local addresses, which are refused"
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpClients {
    /// Builds the verifying client (system trust roots). Fails only if TLS
    /// cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            inner: Arc::new(Inner {
                verified: builder().build()?,
                insecure: OnceLock::new(),
            }),
        })
    }

    /// The client that verifies certificates.
    pub fn verified(&self) -> &reqwest::Client {
        &self.inner.verified
    }

    /// The client that accepts any certificate (built on first use).
    pub fn insecure(&self) -> Result<&reqwest::Client, String> {
        self.inner
            .insecure
            .get_or_init(|| {
                builder()
                    .danger_accept_invalid_certs(true)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(crate) fn pick(&self, insecure: bool) -> Result<reqwest::Client, String> {
        if insecure {
            self.insecure().cloned()
        } else {
            Ok(self.verified().clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_metadata_addresses_are_forbidden() {
        let f = |s: &str| is_forbidden_ip(s.parse().unwrap());
        assert!(f("169.254.169.254"));
        assert!(f("169.254.0.1"));
        assert!(f("fe80::1"));
        assert!(f("febf::1"));
        assert!(f("fd00:ec2::254"));
        assert!(f("::ffff:169.254.169.254"));
        assert!(!f("127.0.0.1"));
        assert!(!f("10.0.0.1"));
        assert!(!f("::1"));
        assert!(!f("fec0::1"));
        assert!(!f("93.184.216.34"));
    }

    #[tokio::test]
    async fn the_resolver_keeps_ordinary_addresses() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = GuardedResolver.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
