//! `tcps://` with client certificates (docker-autoheal's `DOCKER_SOCK=tcps://`
//! with `/certs/{ca,client-cert,client-key}.pem`), against the real engine
//! behind an in-process mutual-TLS proxy: a rustls server that demands a
//! client certificate signed by a test CA and forwards each connection to
//! the engine's unix socket. Skipped with a message when no engine is
//! reachable, unless AUTOHEAL_REQUIRE_DOCKER=1.

mod common;

use autoheal_docker::{DockerClient, DockerHost};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixStream};

const SOCKET: &str = "/var/run/docker.sock";

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all
/// signed by the CA; the client's files written as Docker expects them.
struct Pki {
    ca: CertificateDer<'static>,
    server_cert: CertificateDer<'static>,
    server_key: PrivateKeyDer<'static>,
}

fn leaf(
    cn: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> (CertificateDer<'static>, String, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage];
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.der().clone(), cert.pem(), key)
}

fn make_pki(client_dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "autoheal test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let (server_cert, _, server_key) = leaf(
        "docker engine",
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    );
    let (_, client_pem, client_key) = leaf(
        "autoheal",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    );
    std::fs::write(client_dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(client_dir.join("client-cert.pem"), client_pem).unwrap();
    std::fs::write(
        client_dir.join("client-key.pem"),
        client_key.serialize_pem(),
    )
    .unwrap();
    Pki {
        ca: ca_cert.der().clone(),
        server_cert,
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    }
}

/// The proxy's address, and how many connections completed the TLS
/// handshake (a client without a certificate never does).
async fn start_proxy(pki: Pki) -> (String, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server_cert], pki.server_key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let h = handshakes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let h = h.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // refused: no (valid) client certificate
                };
                h.fetch_add(1, Ordering::SeqCst);
                let Ok(mut engine) = UnixStream::connect(SOCKET).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
            });
        }
    });
    (addr, handshakes)
}

/// A TLS client that trusts the CA but shows no certificate: the proxy must
/// refuse it before a single byte reaches the engine.
async fn request_without_client_certificate(addr: &str, ca: &Path) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for c in <CertificateDer<'static> as rustls::pki_types::pem::PemObject>::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /_ping HTTP/1.0\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn tcps_with_client_certificates_reaches_the_engine_and_without_them_is_refused() {
    let Some(_unix) = common::engine().await else {
        return;
    };
    let s = common::Scratch::new("tls");
    let label = format!("{}=true", s.label());
    let id = s.run("web", &["--label", &label], &[]);

    let certs = tempfile::tempdir().unwrap();
    let pki = make_pki(certs.path());
    let (addr, handshakes) = start_proxy(pki).await;
    let host: DockerHost = format!("tcps://{addr}").parse().unwrap();
    assert!(matches!(host, DockerHost::Tls(_)), "{host:?}");

    // With the certificates: connect (negotiates the API version), ping,
    // version, list and inspect, as autoheal does.
    let client = DockerClient::connect_to(host.clone(), certs.path(), Duration::from_secs(30))
        .await
        .expect("connects through mutual TLS");
    assert!(client.is_negotiated());
    client.ping().await.expect("ping through TLS");
    let (version, api) = client.version().await.expect("version through TLS");
    assert!(!version.is_empty() && !api.is_empty(), "{version} {api}");
    let listed = client
        .list(
            true,
            [("label".to_string(), vec![label.clone()])]
                .into_iter()
                .collect(),
        )
        .await
        .expect("list through TLS");
    let ids: Vec<&str> = listed.iter().filter_map(|c| c.id.as_deref()).collect();
    assert_eq!(ids, vec![id.as_str()], "the engine's own containers");
    let insp = client.inspect(&id).await.expect("inspect through TLS");
    assert_eq!(
        insp.name.as_deref(),
        Some(format!("/{}", s.name("web")).as_str())
    );
    assert!(handshakes.load(Ordering::SeqCst) >= 1);

    // Without a client certificate: trusting the same CA, the TLS client
    // is refused and gets no answer from the engine.
    let before = handshakes.load(Ordering::SeqCst);
    match request_without_client_certificate(&addr, &certs.path().join("ca.pem")).await {
        Ok(answer) => assert!(
            answer.is_empty(),
            "no answer without a certificate: {}",
            String::from_utf8_lossy(&answer)
        ),
        Err(e) => eprintln!("refused as expected: {e}"),
    }
    // A client certificate signed by another CA is refused as well.
    let stranger = tempfile::tempdir().unwrap();
    let _ = make_pki(stranger.path());
    std::fs::copy(certs.path().join("ca.pem"), stranger.path().join("ca.pem")).unwrap();
    let Err(err) =
        DockerClient::connect_to(host.clone(), stranger.path(), Duration::from_secs(10)).await
    else {
        panic!("a certificate from another CA is refused");
    };
    eprintln!("refused as expected: {err}");
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        before,
        "no client without a good certificate got through the handshake"
    );

    // autoheal's own client never even tries without all three files.
    let ca_only = tempfile::tempdir().unwrap();
    std::fs::copy(certs.path().join("ca.pem"), ca_only.path().join("ca.pem")).unwrap();
    let Err(err) = DockerClient::connect_to(host, ca_only.path(), Duration::from_secs(10)).await
    else {
        panic!("missing client certificate files are an error");
    };
    assert!(err.to_string().contains("client-cert.pem"), "{err}");
}
