//! A minimal HTTP/1.1 client for talking to other agents (status rows, probe-back): literal
//! addresses only, plain HTTP, one request per connection, bounded response size.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest response accepted from a peer.
const MAX_RESPONSE: u64 = 4 << 20;

/// `http://ADDR:PORT`, with an optional path prefix ignored by the agent's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Address and port.
    pub addr: SocketAddr,
}

impl Url {
    /// Parses `http://198.51.100.7:9187` or `http://[2001:db8::7]:9187/`.
    pub fn parse(text: &str) -> Result<Url, ClientError> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| ClientError::Url(format!("`{text}`: only http:// is supported")))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let addr = authority.parse().map_err(|_| {
            ClientError::Url(format!(
                "`{text}`: expected http://ADDR:PORT with a literal address"
            ))
        })?;
        Ok(Url { addr })
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
    /// The answer is not HTTP.
    #[error("malformed HTTP response")]
    Malformed,
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

/// Sends `req` to `url`; returns the status code and the body.
pub async fn send(
    url: &Url,
    req: &Request<'_>,
    timeout: Duration,
) -> Result<(u16, String), ClientError> {
    tokio::time::timeout(timeout, exchange(url, req))
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

async fn exchange(url: &Url, req: &Request<'_>) -> Result<(u16, String), ClientError> {
    let mut stream = tokio::net::TcpStream::connect(url.addr).await?;
    let body = req.body.unwrap_or("");
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method,
        req.path,
        url.addr,
        body.len()
    );
    if req.body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = req.token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut raw).await?;
    parse_response(&raw)
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
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
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
        assert!(Url::parse("https://127.0.0.1:9187").is_err());
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
