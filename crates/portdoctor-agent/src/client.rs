//! A minimal HTTP/1.1 client for talking to other agents (status rows, probe-back): literal
//! addresses only, plain HTTP or HTTPS (rustls with ring, Linux builds), one request per
//! connection, bounded response size. An `https://` peer's certificate is trusted through
//! [`Trust`]: roots from a PEM file, or the SHA-256 of the agent's own certificate.

#[cfg(target_os = "linux")]
mod tls;
mod trust;

pub use trust::{Fingerprint, Trust};

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest response accepted from a peer.
const MAX_RESPONSE: u64 = 4 << 20;

/// Why `https://` fails where TLS is not built in.
pub const TLS_NOT_BUILT_IN: &str =
    "TLS is not built into this build (Linux builds only): use http:// or a Linux build";

/// `http://ADDR:PORT` or `https://ADDR:PORT`, with an optional path prefix ignored by the
/// agent's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Address and port.
    pub addr: SocketAddr,
    /// `https://`.
    pub https: bool,
}

impl Url {
    /// Parses `http://198.51.100.7:9187`, `https://198.51.100.7:9187` or
    /// `http://[2001:db8::7]:9187/`.
    pub fn parse(text: &str) -> Result<Url, ClientError> {
        let (https, rest) = match (text.strip_prefix("http://"), text.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            (None, None) => {
                return Err(ClientError::Url(format!(
                    "`{text}`: only http:// and https:// are supported"
                )));
            }
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let addr = authority.parse().map_err(|_| {
            ClientError::Url(format!(
                "`{text}`: expected http(s)://ADDR:PORT with a literal address"
            ))
        })?;
        Ok(Url { addr, https })
    }
}

/// Why a request to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not usable.
    #[error("bad URL {0}")]
    Url(String),
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No complete answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer is not HTTP, or shorter than it says.
    #[error("malformed HTTP response")]
    Malformed,
    /// An `https://` URL without a way to trust the peer's certificate.
    #[error(
        "https:// needs a way to trust the agent's certificate: its SHA-256 fingerprint \
(printed when the agent starts) or the CA file that signed it"
    )]
    NoTrust,
    /// The trust settings cannot be used (a CA file that cannot be read, both ways given).
    #[error("{0}")]
    Trust(String),
    /// The TLS handshake failed (the certificate is not trusted, …).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// TLS is not built into this build.
    #[error("{TLS_NOT_BUILT_IN}")]
    TlsNotBuiltIn,
}

/// What a request needs besides the URL: the TLS client configuration made once from a
/// [`Trust`] (none: `https://` fails with [`ClientError::NoTrust`]).
#[derive(Clone, Default)]
pub struct Connector {
    #[cfg(target_os = "linux")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("https", &self.can_https())
            .finish()
    }
}

impl Connector {
    /// A connector trusting as `trust` says (reads the CA file now); plain HTTP only when
    /// `trust` is empty.
    pub fn new(trust: &Trust) -> Result<Connector, ClientError> {
        trust.check()?;
        if trust.is_empty() {
            return Ok(Connector::default());
        }
        Connector::with_tls(trust)
    }

    #[cfg(target_os = "linux")]
    fn with_tls(trust: &Trust) -> Result<Connector, ClientError> {
        Ok(Connector {
            tls: Some(tls::client_config(trust)?),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn with_tls(_trust: &Trust) -> Result<Connector, ClientError> {
        Err(ClientError::TlsNotBuiltIn)
    }

    /// Whether `https://` URLs can be used.
    pub fn can_https(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.tls.is_some();
        #[cfg(not(target_os = "linux"))]
        false
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// A JSON body, for `POST`.
    pub body: Option<&'a str>,
    /// A bearer token.
    pub token: Option<&'a str>,
}

/// Sends `req` to `url` (over TLS for `https://`, trusting as `connector` says); returns the
/// status code and the body.
pub async fn send(
    url: &Url,
    req: &Request<'_>,
    connector: &Connector,
    timeout: Duration,
) -> Result<(u16, String), ClientError> {
    tokio::time::timeout(timeout, exchange(url, req, connector))
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

async fn exchange(
    url: &Url,
    req: &Request<'_>,
    connector: &Connector,
) -> Result<(u16, String), ClientError> {
    if url.https && !connector.can_https() {
        return Err(if portdoctor_serve::TLS_BUILT_IN {
            ClientError::NoTrust
        } else {
            ClientError::TlsNotBuiltIn
        });
    }
    let stream = tokio::net::TcpStream::connect(url.addr).await?;
    if !url.https {
        return talk(stream, url, req).await;
    }
    #[cfg(target_os = "linux")]
    if let Some(config) = &connector.tls {
        let stream = tls::handshake(config, url.addr, stream).await?;
        return talk(stream, url, req).await;
    }
    Err(ClientError::TlsNotBuiltIn)
}

/// One request and its whole response over `stream`.
async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    url: &Url,
    req: &Request<'_>,
) -> Result<(u16, String), ClientError> {
    stream.write_all(head(url, req).as_bytes()).await?;
    stream.write_all(req.body.unwrap_or("").as_bytes()).await?;
    let mut raw = Vec::new();
    match stream.take(MAX_RESPONSE).read_to_end(&mut raw).await {
        Ok(_) => {}
        // A TLS peer may close after `Connection: close` without close_notify: keep what
        // came (a short body is still caught against Content-Length).
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    parse_response(&raw)
}

fn head(url: &Url, req: &Request<'_>) -> String {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method,
        req.path,
        url.addr,
        req.body.map_or(0, str::len)
    );
    if req.body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = req.token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    head
}

fn parse_response(raw: &[u8]) -> Result<(u16, String), ClientError> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(ClientError::Malformed)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::Malformed)?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if chunked {
        return Ok((status, dechunk(body)));
    }
    if content_length(head).is_some_and(|n| body.len() < n) {
        return Err(ClientError::Malformed);
    }
    Ok((status, body.to_string()))
}

/// The `Content-Length` header's value, if there is one.
fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Joins a chunked body (the agent's server does not chunk, but a proxy may).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_literal_addresses_only() {
        assert!(Url::parse("http://127.0.0.1:9187").is_ok());
        assert!(Url::parse("http://[::1]:9187/").is_ok());
        assert!(Url::parse("http://example.com:9187").is_err());
        assert!(Url::parse("ftp://127.0.0.1:9187").is_err());
        let u = Url::parse("https://127.0.0.1:9187").unwrap();
        assert!(u.https);
        assert!(!Url::parse("http://127.0.0.1:9187").unwrap().https);
    }

    #[test]
    fn a_short_body_is_malformed() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi");
        assert!(matches!(r, Err(ClientError::Malformed)));
    }

    #[test]
    fn https_without_trust_says_how_to_trust() {
        let url = Url::parse("https://127.0.0.1:9").unwrap();
        let req = Request {
            method: "GET",
            path: "/",
            body: None,
            token: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(send(
                &url,
                &req,
                &Connector::default(),
                Duration::from_secs(1),
            ))
            .unwrap_err();
        let text = e.to_string();
        if portdoctor_serve::TLS_BUILT_IN {
            assert!(text.contains("SHA-256 fingerprint"), "{text}");
        } else {
            assert!(text.contains("not built"), "{text}");
        }
    }

    #[test]
    fn responses_parse_plain_and_chunked() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
        assert_eq!(r, (200, "hi".into()));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r, (200, "hi!".into()));
    }
}
