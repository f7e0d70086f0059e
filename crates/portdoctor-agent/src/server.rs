//! The HTTP(S) side: `/` (status page), `/metrics`, `/api/status`, and `POST /api/probe-back`.
//! Every request passes the server-wide rate limit and, when a token is configured, must
//! carry it (`Authorization: Bearer …`); bodies are capped at `limits.max_body_bytes`.

use crate::probeback::{self, Ask, Refusal};
use crate::state::Shared;
use crate::status;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::net::SocketAddr;
use std::sync::Arc;

/// The OpenMetrics content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The router with every endpoint and the guards.
pub fn router(shared: Arc<Shared>) -> Router {
    let max_body = shared.settings().config.limits.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/api/status", get(api_status))
        .route(probeback::PATH, post(probe_back))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}

/// Serves `router` on `listener` until the process ends: HTTPS when `[tls]` was configured
/// at start, else HTTP.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    if shared.settings().tls.is_some() {
        return serve_tls(listener, shared).await;
    }
    let app = router(shared).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await
}

/// The HTTPS accept loop: each connection is served by `portdoctor-serve`'s connection code
/// (handshake and header timeouts, HTTP/1.1) with the acceptor in force (so a reload picks up
/// a renewed certificate) and the peer's address as `ConnectInfo` (probe-back needs it).
async fn serve_tls(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    let app = router(Arc::clone(&shared));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // EMFILE and friends: back off a little rather than spin.
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let tls = shared.settings().tls.clone();
        let app = app.clone().layer(Extension(ConnectInfo(peer)));
        tokio::spawn(portdoctor_serve::server::connection(stream, tls, app, None));
    }
}

/// The server-wide rate limit, then the token.
async fn guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let settings = shared.settings();
    if !settings.global_limit.allow(None) {
        return (StatusCode::TOO_MANY_REQUESTS, "rate limit\n").into_response();
    }
    if let Some(token) = &settings.token {
        if !bearer_matches(req.headers(), token) {
            if req.uri().path() == probeback::PATH {
                shared.metrics.probe_back("unauthorized");
            }
            let mut r = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

/// Constant-time comparison of the presented token.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    got.len() == token.len()
        && got
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if gzip {
        let body = shared.metrics.encode_gzip();
        let h = [
            (header::CONTENT_TYPE, OPENMETRICS),
            (header::CONTENT_ENCODING, "gzip"),
        ];
        return (h, body).into_response();
    }
    (
        [(header::CONTENT_TYPE, OPENMETRICS)],
        shared.metrics.encode(),
    )
        .into_response()
}

async fn api_status(State(shared): State<Arc<Shared>>) -> Response {
    json(StatusCode::OK, &shared.status())
}

async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let settings = shared.settings();
    let own = shared.status();
    let mut rows = vec![(own.agent.clone(), Ok(own))];
    rows.extend(
        status::peer_rows(
            &settings.config.peers,
            settings.token.clone(),
            &settings.peer_client,
        )
        .await,
    );
    let refresh = settings.config.interval_seconds.ceil().max(1.0) as u64;
    let html = status::render(&rows, refresh);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn probe_back(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let settings = shared.settings();
    let asker = peer.ip().to_canonical();
    let (code, result) = if !settings.config.probe_back.enabled {
        (StatusCode::NOT_FOUND, "disabled")
    } else if !settings.probe_back_limit.allow(Some(asker)) {
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    } else {
        match serde_json::from_slice::<Ask>(&body) {
            Err(e) => {
                shared.metrics.probe_back("bad_request");
                return text(StatusCode::BAD_REQUEST, &format!("bad request: {e}"));
            }
            Ok(ask) => match probeback::check(&ask, asker, settings.config.probe_back.max_ports) {
                Ok(()) => {
                    shared.metrics.probe_back("ok");
                    let reply = probeback::serve(&ask, asker, &settings).await;
                    return json(StatusCode::OK, &reply);
                }
                Err(r @ Refusal::OtherAddress { .. }) => {
                    shared.metrics.probe_back("refused");
                    return text(StatusCode::FORBIDDEN, &r.to_string());
                }
                Err(r) => {
                    shared.metrics.probe_back("bad_request");
                    return text(StatusCode::BAD_REQUEST, &r.to_string());
                }
            },
        }
    };
    shared.metrics.probe_back(result);
    text(code, &format!("probe-back: {}", result.replace('_', " ")))
}

fn text(code: StatusCode, msg: &str) -> Response {
    (code, format!("{msg}\n")).into_response()
}

fn json<T: serde::Serialize>(code: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (code, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
