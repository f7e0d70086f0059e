//! The accept loop: HTTP/1.1 (keep-alive) over plain TCP or TLS; on stop it stops accepting,
//! lets in-flight requests finish (up to a limit) and closes idle connections.

use crate::error::ServeError;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// How long a client may take to send its request headers (or its TLS handshake).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The TLS acceptor, where TLS is built in.
#[cfg(target_os = "linux")]
pub type Acceptor = tokio_rustls::TlsAcceptor;
/// The TLS acceptor, where TLS is built in (not in this build: no value exists).
#[cfg(not(target_os = "linux"))]
#[derive(Clone)]
pub enum Acceptor {}

/// How the drain after a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Drain {
    /// Connections still open when the stop began.
    pub open_at_stop: usize,
    /// True when the limit passed with requests still running (they were cut).
    pub timed_out: bool,
}

/// A server accepting connections on its own threads.
pub struct Running {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    workers: Vec<oneshot::Receiver<Drain>>,
}

impl Running {
    /// Stops accepting and drains; resolves when every connection is closed or `limit` passed.
    pub async fn stop(self) -> Drain {
        let _ = self.stop.send(true);
        let mut total = Drain {
            open_at_stop: 0,
            timed_out: false,
        };
        for w in self.workers {
            let d = w.await.unwrap_or(Drain {
                open_at_stop: 0,
                timed_out: true,
            });
            total.open_at_stop += d.open_at_stop;
            total.timed_out |= d.timed_out;
        }
        total
    }
}

/// Starts serving `router` on `listener`, TLS when `tls` is given: one thread per core, each
/// with its own single-threaded runtime accepting from the same socket, so a connection stays
/// on the core that accepted it (nginx's worker model; no work stealing).
pub fn start(
    listener: std::net::TcpListener,
    tls: Option<Acceptor>,
    router: Router,
    limit: Duration,
) -> Result<Running, ServeError> {
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut workers = Vec::with_capacity(n);
    for i in 0..n {
        let socket = listener.try_clone()?;
        let (done, finished) = oneshot::channel();
        let (tls, router, stopped) = (tls.clone(), router.clone(), stopped.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("serve-{i}"))
            .spawn(move || {
                let drain = runtime.block_on(async move {
                    let listener = TcpListener::from_std(socket)?;
                    Ok::<_, std::io::Error>(
                        accept_loop(listener, tls, router, stopped, limit).await,
                    )
                });
                let _ = done.send(drain.unwrap_or(Drain {
                    open_at_stop: 0,
                    timed_out: false,
                }));
            })?;
        workers.push(finished);
    }
    Ok(Running {
        local_addr,
        stop,
        workers,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Acceptor>,
    router: Router,
    mut stopped: watch::Receiver<bool>,
    limit: Duration,
) -> Drain {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => spawn_connection(stream, tls.clone(), router.clone(), graceful.watcher()),
                // EMFILE and friends: back off a little rather than spin.
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    let open_at_stop = graceful.count();
    let timed_out = tokio::time::timeout(limit, graceful.shutdown())
        .await
        .is_err();
    Drain {
        open_at_stop,
        timed_out,
    }
}

fn spawn_connection(stream: TcpStream, tls: Option<Acceptor>, router: Router, w: Watcher) {
    tokio::spawn(connection(stream, tls, router, Some(w)));
}

/// Serves one accepted connection with `router` until it closes: the TLS handshake first when
/// `tls` is given (bounded by the header timeout), then HTTP/1.1 with keep-alive and a header
/// read timeout; watched by `w` for a graceful shutdown when given. For other servers on this
/// accept model (the agent serves its TLS connections with it).
pub async fn connection(
    stream: TcpStream,
    tls: Option<Acceptor>,
    router: Router,
    w: Option<Watcher>,
) {
    let _ = stream.set_nodelay(true);
    match tls {
        None => serve_io(stream, router, w).await,
        #[cfg(target_os = "linux")]
        Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await
        {
            Ok(Ok(tls)) => serve_io(tls, router, w).await,
            Ok(Err(e)) => tracing::debug!("TLS handshake: {e}"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
        #[cfg(not(target_os = "linux"))]
        Some(never) => match never {},
    }
}

async fn serve_io<I>(io: I, router: Router, w: Option<Watcher>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    let done = match w {
        Some(w) => w.watch(conn).await,
        None => conn.await,
    };
    if let Err(e) = done {
        tracing::debug!("connection: {e}");
    }
}
