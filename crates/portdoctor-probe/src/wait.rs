//! Waiting until endpoints accept connections (and optionally answer HTTP 2xx), with
//! exponential backoff and jitter.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::attempt::{self, Attempt};
use crate::backoff::Backoff;
use crate::classify::PortState;
use crate::error::ProbeError;
use crate::http;
use crate::target::{Endpoint, Host, Proto, resolve};

/// Backoff cap for loopback targets when none is given: a refused connect to loopback costs
/// microseconds, so polling often is free and notices a new listener within ~10 ms.
pub const LOOPBACK_CAP: Duration = Duration::from_millis(10);
/// Backoff cap for other targets when none is given.
pub const REMOTE_CAP: Duration = Duration::from_secs(1);

/// Settings of a wait.
#[derive(Debug, Clone)]
pub struct WaitConfig {
    /// Give up after this long.
    pub timeout: Duration,
    /// First backoff delay.
    pub initial: Duration,
    /// Backoff cap; `None`: [`LOOPBACK_CAP`] for loopback targets, [`REMOTE_CAP`] otherwise.
    pub interval: Option<Duration>,
    /// Longest wait for one connect or HTTP answer.
    pub attempt_timeout: Duration,
    /// If set, ready means `GET path` answers 2xx.
    pub http_path: Option<String>,
    /// Local address to bind before connecting.
    pub source: Option<IpAddr>,
}

impl Default for WaitConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            initial: Duration::from_millis(10),
            interval: None,
            attempt_timeout: Duration::from_secs(1),
            http_path: None,
            source: None,
        }
    }
}

/// The outcome for one endpoint. Field names are the stable JSON schema.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    /// The endpoint as given (`host:port`).
    pub target: String,
    /// The address last tried.
    pub addr: Option<SocketAddr>,
    /// Whether it became ready.
    pub ready: bool,
    /// Attempts made.
    pub attempts: u32,
    /// Milliseconds from the start until it was ready.
    pub ready_after_ms: Option<f64>,
    /// What the last attempt saw (`open`, `closed`, `filtered`, `http 503`, a resolver error).
    pub last: String,
}

/// The outcome of a wait.
#[derive(Debug, Clone, Serialize)]
pub struct WaitReport {
    /// All endpoints ready.
    pub ready: bool,
    /// Milliseconds spent.
    pub elapsed_ms: f64,
    /// One entry per endpoint, in the order given.
    pub targets: Vec<TargetStatus>,
}

/// Something that happened while waiting (for progress display).
#[derive(Debug, Clone)]
pub struct WaitEvent {
    /// Index of the endpoint.
    pub index: usize,
    /// Attempt number (1-based).
    pub attempt: u32,
    /// What it saw.
    pub seen: String,
    /// Whether it is now ready.
    pub ready: bool,
}

/// Waits until every endpoint is ready or `cfg.timeout` passes. UDP endpoints are refused.
pub async fn wait_all(
    endpoints: &[Endpoint],
    cfg: &WaitConfig,
    on_event: impl Fn(WaitEvent) + Send + Sync + 'static,
) -> Result<WaitReport, ProbeError> {
    if let Some(e) = endpoints.iter().find(|e| e.proto == Proto::Udp) {
        return Err(ProbeError::InvalidTarget {
            input: e.to_string(),
            reason: "wait checks TCP ports only".into(),
        });
    }
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let on_event = Arc::new(on_event);
    let mut set = JoinSet::new();
    for (index, e) in endpoints.iter().enumerate() {
        let (e, cfg, ev) = (e.clone(), cfg.clone(), Arc::clone(&on_event));
        set.spawn(async move {
            let st = wait_one(index, &e, &cfg, start, deadline, &*ev).await;
            (index, st)
        });
    }
    let mut targets: Vec<Option<TargetStatus>> = vec![None; endpoints.len()];
    while let Some(j) = set.join_next().await {
        let (i, st) = j.map_err(|e| ProbeError::Io(std::io::Error::other(e.to_string())))?;
        targets[i] = Some(st?);
    }
    let targets: Vec<TargetStatus> = targets.into_iter().flatten().collect();
    Ok(WaitReport {
        ready: targets.iter().all(|t| t.ready),
        elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
        targets,
    })
}

async fn wait_one(
    index: usize,
    e: &Endpoint,
    cfg: &WaitConfig,
    start: Instant,
    deadline: Instant,
    on_event: &(dyn Fn(WaitEvent) + Send + Sync),
) -> Result<TargetStatus, ProbeError> {
    let mut st = TargetStatus {
        target: e.to_string(),
        addr: None,
        ready: false,
        attempts: 0,
        ready_after_ms: None,
        last: "not tried".into(),
    };
    let mut backoff: Option<Backoff> = None;
    let host_header = match &e.host {
        Host::Addr(a) => a.to_string(),
        Host::Name(n) => n.clone(),
    };
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(st);
        }
        st.attempts += 1;
        let budget = cfg.attempt_timeout.min(deadline - now);
        match resolve(&e.host).await {
            Err(err) => st.last = err.to_string(),
            Ok(ips) => {
                // Ready when any address accepts (a name may have A and AAAA records).
                for ip in ips {
                    let addr = SocketAddr::new(ip, e.port);
                    st.addr = Some(addr);
                    st.last = check(addr, &host_header, cfg, budget).await?;
                    st.ready = st.last == "open" || st.last.starts_with("http 2");
                    if st.ready {
                        break;
                    }
                }
            }
        }
        if st.ready {
            st.ready_after_ms = Some(start.elapsed().as_secs_f64() * 1000.0);
        }
        on_event(WaitEvent {
            index,
            attempt: st.attempts,
            seen: st.last.clone(),
            ready: st.ready,
        });
        if st.ready {
            return Ok(st);
        }
        let b = backoff.get_or_insert_with(|| {
            let loopback = st.addr.is_some_and(|a| a.ip().is_loopback());
            let cap = cfg
                .interval
                .unwrap_or(if loopback { LOOPBACK_CAP } else { REMOTE_CAP });
            Backoff::new(cfg.initial, cap)
        });
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(b.next_delay().min(left)).await;
    }
}

/// One check: connect; if open and an HTTP path is set, GET it.
async fn check(
    addr: SocketAddr,
    host: &str,
    cfg: &WaitConfig,
    budget: Duration,
) -> Result<String, ProbeError> {
    let state = match attempt::tcp(addr, cfg.source, budget).await? {
        Attempt::Answer(v, _) => v.state,
        Attempt::Silent => PortState::Filtered,
        Attempt::Shortage => return Ok("local descriptor shortage".into()),
    };
    if state != PortState::Open {
        return Ok(state.as_str().to_string());
    }
    let Some(path) = &cfg.http_path else {
        return Ok("open".into());
    };
    Ok(match http::get_status(addr, host, path, budget).await {
        Ok(code) => format!("http {code}"),
        Err(e) => format!("http error: {e}"),
    })
}
