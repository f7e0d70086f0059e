//! portdoctor-agent: fleet reachability for Prometheus.
//!
//! An agent probes its configured targets on a drift-free schedule ([`scheduler`]), keeps
//! this machine's listening ports and the local firewall's verdict for them ([`local`]), and
//! serves `/metrics` ([`metrics`], every name in one table), the status page ([`status`]),
//! its status as JSON and the probe-back API ([`probeback`]) over HTTP or HTTPS ([`server`]).
//!
//! Targets come from [`target::TargetSource`]s: the static list of the configuration and the
//! registrations in Consul or etcd ([`discovery`]), merged every round.

mod alloc;
pub mod client;
pub mod config;
pub mod discovery;
pub mod local;
pub mod metrics;
pub mod outcome;
pub mod probeback;
mod ratelimit;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod status;
pub mod target;

pub use config::{Config, ConfigError};
pub use state::{Settings, Shared};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// Why the agent stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listening address cannot be bound, or serving failed.
    #[error("cannot serve on {addr}: {source}")]
    Serve {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Runs the agent with `config` (read from `path`, which SIGHUP re-reads) until the process
/// ends; `ready` is called with the bound address once the server listens.
pub async fn run(
    path: PathBuf,
    config: Config,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), AgentError> {
    alloc::tune();
    let addr = config.listen;
    let shared = Arc::new(Shared::new(Settings::new(config)?));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Serve { addr, source })?;
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(scheduler::probe_loop(Arc::clone(&shared), rx.clone()));
    tokio::spawn(scheduler::local_loop(Arc::clone(&shared), rx));
    // The sender lives as long as the server: the loops end only with it.
    reload_on_sighup(path, Arc::clone(&shared), tx.clone());
    let _keep = tx;
    ready(listener.local_addr().unwrap_or(addr));
    server::serve(listener, shared)
        .await
        .map_err(|source| AgentError::Serve { addr, source })
}

/// Re-reads the configuration file; keeps the old one (and logs why) when the new one is
/// unusable. The listening address, and whether it speaks TLS, are not changed by a reload
/// (the certificate and key are re-read).
pub fn reload(path: &std::path::Path, shared: &Shared) -> Result<(), ConfigError> {
    let mut config = Config::load(path)?;
    let old = shared.settings();
    if config.listen != old.config.listen {
        tracing::warn!(
            "reload: `listen` changed to {}; it takes effect on restart",
            config.listen
        );
        config.listen = old.config.listen;
    }
    if config.tls.is_some() != old.config.tls.is_some() {
        tracing::warn!("reload: adding or removing [tls] takes effect on restart");
        config.tls.clone_from(&old.config.tls);
    }
    shared.set_settings(Settings::new(config)?);
    Ok(())
}

#[cfg(unix)]
fn reload_on_sighup(path: PathBuf, shared: Arc<Shared>, tx: watch::Sender<u64>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: reload needs a restart");
        return;
    };
    tokio::spawn(async move {
        let mut n = 0u64;
        while hup.recv().await.is_some() {
            match reload(&path, &shared) {
                Ok(()) => {
                    n += 1;
                    tracing::info!("configuration reloaded from {}", path.display());
                    let _ = tx.send(n);
                }
                Err(e) => tracing::warn!("reload refused, keeping the running configuration: {e}"),
            }
        }
    });
}

#[cfg(not(unix))]
fn reload_on_sighup(_path: PathBuf, _shared: Arc<Shared>, _tx: watch::Sender<u64>) {
    // No SIGHUP here: a reload needs a restart.
}
