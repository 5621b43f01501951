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

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
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
