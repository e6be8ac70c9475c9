//! TLS on the gRPC ports (rustls with ring), with the certificate and key reloaded from
//! disk when they change: a rotated certificate is served to new connections without a
//! restart. Probes do not depend on it (health is served on the same port, but Kubernetes'
//! gRPC probes can use the plain operations port once it exists).
//!
//! The files are checked at most once a second, on a handshake; a file that cannot be
//! read or does not parse keeps the previous certificate in service (and is logged).

use crate::grpc::coalesce::Coalesced;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// How often the certificate files are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("tls_cert {}: no certificate in the file", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map(Arc::new)
        .map_err(|e| format!("tls_cert and tls_key do not make a usable pair: {e}"))
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

struct Current {
    key: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

/// Serves the certificate on disk, reloading it when its files change.
#[derive(Debug)]
struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<Current>,
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Current")
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.checked.elapsed() >= CHECK_EVERY {
            current.checked = Instant::now();
            let stamps = (modified(&self.cert), modified(&self.key));
            if stamps != current.stamps {
                match load(&self.cert, &self.key) {
                    Ok(key) => {
                        current.key = key;
                        current.stamps = stamps;
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate changed but cannot be loaded; serving the previous one")
                    }
                }
            }
        }
        Some(current.key.clone())
    }
}

/// A TLS configuration for the gRPC ports (HTTP/2 only). With `request_client_certs`,
/// clients may present a certificate (checked per request by the authentication layer).
pub fn server_config(cert: &Path, key: &Path, request_client_certs: bool) -> Result<Arc<rustls::ServerConfig>, String> {
    let certified = load(cert, key)?;
    let resolver = Reloading {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        current: Mutex::new(Current {
            key: certified,
            stamps: (modified(cert), modified(key)),
            checked: Instant::now(),
        }),
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if request_client_certs {
        let algorithms = provider().signature_verification_algorithms;
        builder.with_client_cert_verifier(Arc::new(DeferredClientVerifier { algorithms }))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TCP connections and yields those that complete a TLS handshake; a failed or
/// slow handshake costs only its own task.
pub fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    stop: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
    socket: crate::grpc::net::SocketOptions,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsStream<Coalesced<TcpStream>>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(128);
    let acceptor = TlsAcceptor::from(config);
    let handshakes = tracker.clone();
    tracker.spawn(async move {
        while let Some((tcp, peer)) = crate::grpc::net::accept(&listener, socket, &stop).await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            handshakes.spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Requests a client certificate and checks, at the handshake, only that the client holds
/// its key. The chain (trust, expiry) is checked by the authentication layer against the
/// client CA, so an untrusted or expired certificate is answered with UNAUTHENTICATED
/// rather than a failed handshake, and clients with tokens need no certificate at all.
#[derive(Debug)]
struct DeferredClientVerifier {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        // Deferred: see the type's docs. Every request is checked in `auth.rs`.
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The real chain check for client certificates, against the client CA.
pub fn client_verifier(ca: &Path) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))? {
        let cert = cert.map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))
}
