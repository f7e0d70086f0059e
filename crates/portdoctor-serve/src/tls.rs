//! TLS with rustls (crypto: ring): a certificate and key from PEM files, checked to belong
//! together, or a self-signed certificate made by rcgen for this machine's names.

use crate::error::ServeError;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;

/// A server TLS configuration and what to tell the user about it.
pub struct Tls {
    /// For the acceptor.
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, `AB:CD:…`.
    pub fingerprint: String,
    /// The generated certificate (PEM), when it was generated.
    pub generated_pem: Option<String>,
}

impl Tls {
    /// The acceptor for [`crate::server::start`] and [`crate::server::connection`].
    pub fn acceptor(&self) -> crate::server::Acceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}

/// Loads `cert` (a PEM chain, leaf first) and `key` (PEM, PKCS#8, PKCS#1 or SEC1).
pub fn load(cert: &Path, key: &Path) -> Result<Tls, ServeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::Tls(format!("cannot read certificate {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServeError::Tls(format!("cannot read private key {}: {e}", key.display())))?;
    build(certs, key, None)
}

/// Makes a self-signed certificate for `names` (DNS names or IP addresses).
pub fn self_signed(names: Vec<String>) -> Result<Tls, ServeError> {
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ServeError::Tls(format!("cannot make a certificate: {e}")))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let pem = made.cert.pem();
    build(vec![made.cert.der().clone()], key, Some(pem))
}

fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    generated_pem: Option<String>,
) -> Result<Tls, ServeError> {
    let fingerprint = fingerprint(&certs[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(explain(e)))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
        generated_pem,
    })
}

fn explain(e: rustls::Error) -> String {
    match e {
        rustls::Error::InconsistentKeys(_) => {
            "the private key does not match the certificate (their public keys differ)".into()
        }
        other => format!("certificate and key rejected: {other}"),
    }
}

/// SHA-256 of a DER certificate as colon-separated upper-case hex (what `openssl x509
/// -fingerprint -sha256` prints).
pub fn fingerprint(der: &[u8]) -> String {
    sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 of `bytes` (a DER certificate, for pinning it).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_has_a_fingerprint() {
        let t = self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert_eq!(t.fingerprint.len(), 32 * 3 - 1);
        assert!(
            t.generated_pem
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }

    #[test]
    fn mismatched_key_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["a".to_string()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".to_string()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        let e = load(&cert, &key).err().unwrap().to_string();
        assert!(e.contains("does not match the certificate"), "{e}");
        std::fs::write(&key, a.signing_key.serialize_pem()).unwrap();
        load(&cert, &key).unwrap();
    }
}
