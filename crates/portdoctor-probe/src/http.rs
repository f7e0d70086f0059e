//! A minimal HTTP/1.1 GET over a tokio `TcpStream`: enough to ask "does PATH answer 2xx?".

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `GET path` to `addr` with `Host: host` and returns the status code.
pub async fn get_status(
    addr: SocketAddr,
    host: &str,
    path: &str,
    timeout: Duration,
) -> io::Result<u16> {
    let work = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(request(host, addr.port(), path).as_bytes())
            .await?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        loop {
            let n = s.read(&mut chunk).await?;
            buf.extend_from_slice(&chunk[..n]);
            if let Some(status) = parse_status_line(&buf)? {
                return Ok(status);
            }
            if n == 0 || buf.len() > 8192 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no HTTP status line in the answer",
                ));
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "HTTP GET timed out"))?
}

/// The request bytes (no body, connection closed after the answer).
pub fn request(host: &str, port: u16, path: &str) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: portdoctor\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    )
}

/// Parses `HTTP/1.x NNN ...\r\n` once a full line is in `buf`: `Ok(None)` = need more bytes.
pub fn parse_status_line(buf: &[u8]) -> io::Result<Option<u16>> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&buf[..end]);
    let mut parts = line.split(' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP/1.x status line: {line:?}"),
        ));
    }
    code.parse::<u16>()
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad status code"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 204 No Content\r\n").unwrap(),
            Some(204)
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 x\r\nA: b").unwrap(),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 200").unwrap(), None);
        assert!(parse_status_line(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_status_line(b"HTTP/1.1 2x0 OK\r\n").is_err());
        assert!(
            request("::1", 8080, "healthz")
                .starts_with("GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse_status_line(&b);
        }
    }
}
