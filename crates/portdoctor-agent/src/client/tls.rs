//! The client side of TLS to other agents (Linux builds): rustls with the ring provider, the
//! server name being the URL's literal IP address. Roots from a PEM file are verified the
//! WebPKI way; a pinned fingerprint accepts exactly that leaf certificate, the handshake
//! signatures still checked with its key.

use super::{ClientError, Fingerprint, Trust};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The TLS client configuration for `trust` (not empty: the caller checks).
pub(super) fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Trust(e.to_string()))?;
    let mut config = match &trust.ca {
        Some(ca) => builder.with_root_certificates(roots(ca)?),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pins: trust.fingerprints.clone(),
                provider,
            })),
    }
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in the PEM file `path` as a root.
fn roots(path: &Path) -> Result<RootCertStore, ClientError> {
    let cannot = |e: &dyn std::fmt::Display| {
        ClientError::Trust(format!("cannot use CA file {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| cannot(&e))?;
    if certs.is_empty() {
        return Err(cannot(&"it holds no PEM certificate"));
    }
    let mut store = RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|e| cannot(&e))?;
    }
    Ok(store)
}

/// The TLS handshake with the peer at `addr`, over `tcp`.
pub(super) async fn handshake(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
    let name = ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls(handshake_error(&e)))
}

/// The handshake error in words: the pinning verifier's own message when it refused.
fn handshake_error(e: &std::io::Error) -> String {
    let refused = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match refused {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            other.to_string()
        }
        _ => e.to_string(),
    }
}

/// The leaf certificate is not one of the pinned ones.
#[derive(Debug, thiserror::Error)]
#[error("the agent's certificate has SHA-256 {presented}, not the pinned {pinned}")]
struct Mismatch {
    presented: Fingerprint,
    pinned: String,
}

/// Accepts exactly the leaf certificates with the pinned SHA-256; signatures are verified by
/// the provider with that certificate's key.
#[derive(Debug)]
struct Pinned {
    pins: Vec<Fingerprint>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint(portdoctor_serve::tls::sha256(end_entity));
        if self.pins.contains(&presented) {
            return Ok(ServerCertVerified::assertion());
        }
        let pinned = self
            .pins
            .iter()
            .map(Fingerprint::to_string)
            .collect::<Vec<_>>();
        let mismatch = Mismatch {
            presented,
            pinned: pinned.join(" or "),
        };
        Err(rustls::CertificateError::Other(rustls::OtherError(Arc::new(mismatch))).into())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
