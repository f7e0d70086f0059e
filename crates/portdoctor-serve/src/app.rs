//! The routes: `/` says hello, `/healthz` (liveness), `/readyz` (ready once registered and the
//! firewall is open), `/delay/MS` (answers after MS milliseconds, at most 60 s: for checking
//! timeouts and graceful shutdown).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The longest `/delay/MS` waits.
pub const MAX_DELAY_MS: u64 = 60_000;

/// What `/readyz` waits for; each part is set when its step is done (or not asked for).
#[derive(Debug, Default)]
pub struct Readiness {
    /// The service is registered (or no registry was asked for).
    pub registered: AtomicBool,
    /// The firewall lets others in (or no opening was asked for).
    pub firewall_open: AtomicBool,
    /// Shutting down: not ready any more.
    pub stopping: AtomicBool,
}

impl Readiness {
    /// Ready when registered, open, and not stopping.
    pub fn ready(&self) -> bool {
        self.registered.load(Ordering::Acquire)
            && self.firewall_open.load(Ordering::Acquire)
            && !self.stopping.load(Ordering::Acquire)
    }

    /// Why not ready, for the `/readyz` body.
    fn reason(&self) -> &'static str {
        if self.stopping.load(Ordering::Acquire) {
            "shutting down"
        } else if !self.firewall_open.load(Ordering::Acquire) {
            "firewall not open yet"
        } else if !self.registered.load(Ordering::Acquire) {
            "not registered yet"
        } else {
            "ready"
        }
    }
}

/// The router, with the text `/` answers.
pub fn router(hello: String, readiness: Arc<Readiness>) -> Router {
    // Shared, not copied, per request.
    let hello = bytes::Bytes::from(hello);
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    Router::new()
        .route("/", get(move || async move { (text, hello) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/delay/{ms}", get(delay))
        .with_state(readiness)
}

async fn readyz(State(r): State<Arc<Readiness>>) -> (StatusCode, String) {
    let code = if r.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, format!("{}\n", r.reason()))
}

async fn delay(Path(ms): Path<u64>) -> String {
    let ms = ms.min(MAX_DELAY_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("waited {ms} ms\n")
}
