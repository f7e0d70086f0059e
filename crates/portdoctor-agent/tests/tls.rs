//! The agent over HTTPS: `[tls]` with a certificate for `localhost` and `127.0.0.1` (serve's
//! testkit); a rustls client that verifies the certificate gets `/metrics` (200), probe-back
//! sees the client's address through TLS (ConnectInfo kept), and plain HTTP gets no answer.
//! The agent's own client (`probeback::ask`, status rows) reaches it with the certificate
//! pinned by its fingerprint or verified against it as a CA, and refuses otherwise.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use portdoctor_agent::client::{ClientError, Connector, Fingerprint, Trust};
use portdoctor_agent::probeback::{AskError, ask};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts an agent with `[tls]` on 127.0.0.1 (a random port) in its own runtime thread.
fn start_agent(dir: &Path) -> SocketAddr {
    let (cert, key) = portdoctor_serve::testkit::cert_files(dir, true);
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    start_agent_with(dir, &text)
}

/// Starts an agent with the configuration `text` in its own runtime thread; its address.
fn start_agent_with(dir: &Path, text: &str) -> SocketAddr {
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    let config = portdoctor_agent::Config::load(&path).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = portdoctor_serve::testkit::rt();
        let ready = move |addr| tx.send(addr).unwrap();
        rt.block_on(portdoctor_agent::run(path, config, ready))
            .unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap()
}

/// A rustls client trusting only `cert.pem` in `dir`.
fn connector(dir: &Path) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One HTTPS request to `addr` as `localhost`, verifying the certificate; the raw response.
async fn https(dir: &Path, addr: SocketAddr, request: &str) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector(dir).connect(name, tcp).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    // The server may close without close_notify after `Connection: close`; keep what came.
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn metrics_and_probe_back_over_https_with_a_verified_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_agent(dir.path());
    let rt = portdoctor_serve::testkit::rt();
    let get = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let metrics = rt.block_on(https(dir.path(), addr, get));
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    // Probe-back over TLS: the agent probes the TLS client's own address (127.0.0.1).
    let body = format!("{{\"ports\":[{}]}}", addr.port());
    let post = format!(
        "POST /api/probe-back HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = rt.block_on(https(dir.path(), addr, &post));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("127.0.0.1"), "{answer}");
    // Plain HTTP to the HTTPS port is not answered with HTTP.
    let plain = rt.block_on(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(get.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
        out
    });
    assert!(!plain.starts_with(b"HTTP/1.1 200"));
}

#[test]
fn a_certificate_from_another_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = portdoctor_serve::testkit::cert_files(dir.path(), false);
    let text = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let config = portdoctor_agent::Config::parse(&text, "a.toml").unwrap();
    let e = portdoctor_agent::Settings::new(config)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not match the certificate"), "{e}");
}

/// The SHA-256 of `cert.pem` in `dir`, as the agent prints it at start.
fn fingerprint(dir: &Path) -> Fingerprint {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let printed = portdoctor_serve::tls::load(&cert, &key)
        .unwrap()
        .fingerprint;
    printed.parse().unwrap()
}

/// Trust exactly the certificate with this fingerprint.
fn pinned(f: Fingerprint) -> Trust {
    Trust {
        ca: None,
        fingerprints: vec![f],
    }
}

/// Trust what chains to the roots in `ca`.
fn roots(ca: &Path) -> Trust {
    Trust {
        ca: Some(ca.to_path_buf()),
        fingerprints: vec![],
    }
}

/// `probeback::ask` to the agent at `addr` for its own port, trusting as `trust` says.
fn ask_with(addr: SocketAddr, url: &str, trust: &Trust) -> Result<String, AskError> {
    let connector = Connector::new(trust).unwrap();
    let rt = portdoctor_serve::testkit::rt();
    let reply = rt.block_on(ask(url, &[addr.port()], None, &connector))?;
    assert_eq!(reply.source.to_string(), "127.0.0.1");
    Ok(reply.results[0].state.clone())
}

#[test]
fn probe_back_over_https_with_the_pinned_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_agent(dir.path());
    let trust = pinned(fingerprint(dir.path()));
    let state = ask_with(addr, &format!("https://{addr}"), &trust).unwrap();
    assert_eq!(state, "open");
}

#[test]
fn a_wrong_fingerprint_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_agent(dir.path());
    let right = fingerprint(dir.path());
    let mut wrong = right;
    wrong.0[0] ^= 0xff;
    let trust = pinned(wrong);
    let e = ask_with(addr, &format!("https://{addr}"), &trust)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("has SHA-256 {right}")), "{e}");
    assert!(e.contains(&format!("not the pinned {wrong}")), "{e}");
}

#[test]
fn probe_back_over_https_verified_against_the_certificate_as_ca() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_agent(dir.path());
    let trust = roots(&dir.path().join("cert.pem"));
    let state = ask_with(addr, &format!("https://{addr}"), &trust).unwrap();
    assert_eq!(state, "open");
    // Roots that did not sign the agent's certificate are refused.
    let other = tempfile::tempdir().unwrap();
    portdoctor_serve::testkit::cert_files(other.path(), true);
    let trust = roots(&other.path().join("cert.pem"));
    let e = ask_with(addr, &format!("https://{addr}"), &trust)
        .unwrap_err()
        .to_string();
    assert!(e.contains("TLS handshake failed"), "{e}");
}

#[test]
fn https_without_trust_says_how_to_trust() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_agent(dir.path());
    let e = ask_with(addr, &format!("https://{addr}"), &Trust::default()).unwrap_err();
    assert!(
        matches!(
            e,
            AskError::Client {
                source: ClientError::NoTrust,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("fingerprint"), "{e}");
}

#[test]
fn plain_http_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_agent_with(dir.path(), "listen = \"127.0.0.1:0\"\n");
    let state = ask_with(addr, &format!("http://{addr}"), &Trust::default()).unwrap();
    assert_eq!(state, "open");
}

#[test]
fn status_rows_of_an_https_peer() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_agent(dir.path());
    let trust = pinned(fingerprint(dir.path()));
    let connector = Connector::new(&trust).unwrap();
    let peers = vec![format!("https://{addr}")];
    let rt = portdoctor_serve::testkit::rt();
    let rows = rt.block_on(portdoctor_agent::status::peer_rows(
        &peers, None, &connector,
    ));
    let status = rows[0].1.as_ref().unwrap();
    assert_eq!(status.agent, "127.0.0.1:0");
    // Unpinned, the same peer's row says why it is missing.
    let rows = rt.block_on(portdoctor_agent::status::peer_rows(
        &peers,
        None,
        &Connector::default(),
    ));
    let e = rows[0].1.as_ref().unwrap_err();
    assert!(e.contains("fingerprint"), "{e}");
}
