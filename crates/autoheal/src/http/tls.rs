//! HTTPS from certificate and key files (`server.tls_cert`,
//! `server.tls_key`): rustls with the ring provider, TLS 1.2 and 1.3, ALPN
//! `http/1.1` only (the server speaks HTTP/1.1).
//!
//! [`TlsReloader`] holds the `ServerConfig` every new connection's handshake
//! uses; [`TlsReloader::reload`] (SIGHUP) reads the files again and swaps it
//! in. A reload that fails (a missing file, bad PEM, a key that does not
//! match) changes nothing: connections go on with the old certificate.
//! Connections already open keep the certificate they shook hands with.

use autoheal_config::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// Why the certificate or key could not be used, naming the config key and
/// the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {file}: {message}")]
pub struct TlsError {
    /// `server.tls_cert` or `server.tls_key`.
    pub key: &'static str,
    pub file: String,
    pub message: String,
}

impl TlsError {
    fn new(key: &'static str, file: &Path, message: impl Into<String>) -> Self {
        TlsError {
            key,
            file: file.display().to_string(),
            message: message.into(),
        }
    }
}

/// The certificates of a PEM file, in order (the server's first).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    const KEY: &str = "server.tls_cert";
    let pem = std::fs::read(path)
        .map_err(|e| TlsError::new(KEY, path, format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(KEY, path, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            KEY,
            path,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    const KEY: &str = "server.tls_key";
    let pem = std::fs::read(path)
        .map_err(|e| TlsError::new(KEY, path, format!("cannot read it: {e}")))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::new(
            KEY,
            path,
            "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
        ),
        e => TlsError::new(KEY, path, format!("not valid PEM: {e}")),
    })
}

/// Reads both files and builds the server's TLS settings.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::new("server.tls_cert", &files.cert, e.to_string()))?;
    let mut config = builder
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsError::new(
                "server.tls_key",
                &files.key,
                format!(
                    "cannot be used with the certificate in {}: {e}",
                    files.cert.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS settings in force, swappable while serving. Cheap to clone.
#[derive(Clone)]
pub struct TlsReloader {
    inner: Arc<Inner>,
}

struct Inner {
    /// The files the settings in force came from.
    files: Mutex<TlsFiles>,
    current: RwLock<Arc<ServerConfig>>,
}

impl TlsReloader {
    /// Reads `files`; an error names the key and the file.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(files)?;
        Ok(TlsReloader {
            inner: Arc::new(Inner {
                files: Mutex::new(files.clone()),
                current: RwLock::new(Arc::new(config)),
            }),
        })
    }

    /// The settings a new connection shakes hands with.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The files in force.
    pub fn files(&self) -> TlsFiles {
        self.inner
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the certificate and key again, from `files` when given (a
    /// reloaded config's), else from the files in force, and swaps them in
    /// for new connections. On error nothing changes: the old certificate
    /// keeps serving.
    pub fn reload(&self, files: Option<&TlsFiles>) -> Result<TlsFiles, TlsError> {
        let files = files.cloned().unwrap_or_else(|| self.files());
        let config = server_config(&files)?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        *self.inner.files.lock().unwrap_or_else(|e| e.into_inner()) = files.clone();
        Ok(files)
    }
}

/// The names and addresses a certificate is for (its subjectAltName).
fn names_in(der: &[u8]) -> (Vec<String>, Vec<std::net::IpAddr>) {
    use x509_parser::extensions::GeneralName;
    let (mut names, mut ips) = (Vec::new(), Vec::new());
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return (names, ips);
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => ips.push(<[u8; 4]>::try_from(*b).expect("4 bytes").into()),
                    16 => ips.push(<[u8; 16]>::try_from(*b).expect("16 bytes").into()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    (names, ips)
}

/// How the CLI reaches an API served with the certificate in `cert` (the
/// server's `server.tls_cert`): `url` with `https://` (an `http://` one is
/// switched, the server speaks nothing else), and a client that trusts
/// only the certificates of that file and still checks the name.
///
/// The certificate is usually for a public name while the CLI connects to
/// 127.0.0.1: when the URL's host is a loopback address (or `localhost`)
/// the certificate does not name, the client connects to that address by
/// the certificate's first DNS name (a wildcard `*.example.com` as
/// `autoheal.example.com`), so the name is verified as a browser would.
/// Hostname checks are never turned off.
pub fn api_client(
    url: &str,
    cert: &Path,
    builder: reqwest::ClientBuilder,
) -> Result<(reqwest::Client, String), TlsError> {
    let certs = read_certs(cert)?;
    let bad_url = |m: String| TlsError {
        key: "--url",
        file: url.to_string(),
        message: m,
    };
    let mut u = reqwest::Url::parse(url).map_err(|e| bad_url(e.to_string()))?;
    if u.scheme() == "http" {
        u.set_scheme("https")
            .map_err(|_| bad_url("cannot be made https://".into()))?;
    }
    let port = u.port_or_known_default().unwrap_or(443);
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Some(std::net::IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            Some(std::net::Ipv4Addr::LOCALHOST.into())
        }
        _ => None,
    };
    let mut builder = builder.tls_certs_only(
        certs
            .iter()
            .filter_map(|c| reqwest::Certificate::from_der(c).ok()),
    );
    if let Some(ip) = loopback {
        let (names, ips) = names_in(&certs[0]);
        let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
        let named = (ips.contains(&ip) && host != "localhost")
            || names.iter().any(|n| n.eq_ignore_ascii_case(&host));
        if !named {
            let name = names
                .iter()
                .map(|n| match n.strip_prefix("*.") {
                    Some(rest) => format!("autoheal.{rest}"),
                    None => n.clone(),
                })
                .next()
                .ok_or_else(|| {
                    TlsError::new(
                        "server.tls_cert",
                        cert,
                        format!("names neither {host} nor any DNS name to connect by"),
                    )
                })?;
            // The Host header stays the loopback address really reached:
            // the host guard accepts it without server.allowed_hosts.
            let mut headers = reqwest::header::HeaderMap::new();
            let authority = match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            };
            if let Ok(v) = reqwest::header::HeaderValue::from_str(&authority) {
                headers.insert(reqwest::header::HOST, v);
            }
            u.set_host(Some(&name))
                .map_err(|e| bad_url(e.to_string()))?;
            builder = builder
                .resolve(&name, std::net::SocketAddr::new(ip, port))
                .default_headers(headers);
        }
    }
    let client = builder.build().map_err(|e| {
        TlsError::new(
            "server.tls_cert",
            cert,
            format!(
                "no HTTPS client could be built with it: {}",
                crate::error_chain(&e)
            ),
        )
    })?;
    Ok((client, u.as_str().trim_end_matches('/').to_string()))
}
