//! A small HTTP/1.1 client for the registries' JSON APIs (plain HTTP, one request per
//! connection, with timeouts), on hyper's client connection.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long connecting, and then the whole exchange, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A reply: status and body.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text, for error messages (first line, trimmed).
    pub fn text(&self) -> String {
        let t = String::from_utf8_lossy(&self.body);
        t.lines().next().unwrap_or("").trim().to_string()
    }
}

/// Sends `method path` with an optional JSON `body` to `authority` (`host:port`).
pub async fn send(
    authority: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<Reply, String> {
    tokio::time::timeout(TIMEOUT * 2, exchange(authority, method, path, body))
        .await
        .map_err(|_| format!("no answer within {} s", (TIMEOUT * 2).as_secs()))?
}

async fn exchange(
    authority: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<Reply, String> {
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(authority))
        .await
        .map_err(|_| format!("cannot connect to {authority}: timed out"))?
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority);
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{authority}: reading the answer: {e}"))?
        .to_bytes();
    Ok(Reply { status, body })
}
