//! Runs many probes concurrently: retries, adaptive timeouts, descriptor-aware concurrency.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::attempt::{self, Attempt, Started};
use crate::classify::{PortState, Reason, UnreachableKind, Verdict};
use crate::error::ProbeError;
use crate::icmp::Icmp;
use crate::payloads;
use crate::sched::{self, Shared};
use crate::sys;
use crate::target::Proto;

/// One probe to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The host as the user wrote it (name or address), for display.
    pub host: String,
    /// The resolved address and port.
    pub addr: SocketAddr,
    /// TCP or UDP.
    pub proto: Proto,
}

/// Settings of a probe run.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Longest wait for an answer, per attempt (the adaptive timeout never exceeds it).
    pub timeout: Duration,
    /// Shortest adaptive timeout.
    pub min_timeout: Duration,
    /// Extra attempts for probes that got no answer (TCP filtered, UDP open|filtered).
    pub retries: u32,
    /// Whether to shorten timeouts from measured round-trip times.
    pub adaptive: bool,
    /// Probes in flight at once; `None` sizes it from the open-files limit.
    pub concurrency: Option<usize>,
    /// Local address to bind before connecting (`--source`).
    pub source: Option<IpAddr>,
    /// Datagram sent by UDP probes; empty: a minimal request for a few well-known ports
    /// (DNS, NTP), an empty datagram otherwise.
    pub udp_payload: Vec<u8>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            min_timeout: Duration::from_millis(100),
            retries: 1,
            adaptive: true,
            concurrency: None,
            source: None,
            udp_payload: Vec::new(),
        }
    }
}

/// The result of one probe. Field names are the stable JSON schema.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    /// The host as given.
    pub host: String,
    /// The address probed.
    pub addr: IpAddr,
    /// The port probed.
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: Proto,
    /// `open`, `closed`, `filtered`, `open-filtered` or `unreachable`.
    pub state: PortState,
    /// How the state was learnt (`syn-ack`, `reset`, `icmp`, `no-response`, ...).
    pub reason: Reason,
    /// For `unreachable`: which kind (`admin-prohibited`, `no-route`, ...).
    pub unreachable: Option<UnreachableKind>,
    /// The errno name the kernel reported, if any.
    pub errno: Option<&'static str>,
    /// The ICMP error behind it, where the platform hands it over (Linux).
    pub icmp: Option<IcmpInfo>,
    /// Set when the evidence allows more than one reading.
    pub ambiguous: Option<&'static str>,
    /// Time to the answer in milliseconds (none when nothing answered).
    pub latency_ms: Option<f64>,
    /// Attempts made.
    pub attempts: u32,
}

/// ICMP details in a result.
#[derive(Debug, Clone, Serialize)]
pub struct IcmpInfo {
    /// `icmp` or `icmpv6`.
    pub family: &'static str,
    /// The ICMP type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// The ICMP code.
    pub code: u8,
    /// The ICMP message's name (`admin-prohibited`, `port-unreachable`, ...).
    pub name: &'static str,
    /// Who sent the ICMP error.
    pub from: Option<IpAddr>,
}

impl From<Icmp> for IcmpInfo {
    fn from(i: Icmp) -> Self {
        Self {
            family: if i.v6 { "icmpv6" } else { "icmp" },
            icmp_type: i.icmp_type,
            code: i.code,
            name: i.name(),
            from: i.from,
        }
    }
}

impl ProbeResult {
    fn new(job: &Job, v: Verdict, latency: Option<Duration>, attempts: u32) -> Self {
        Self {
            host: job.host.clone(),
            addr: job.addr.ip(),
            port: job.addr.port(),
            proto: job.proto,
            state: v.state,
            reason: v.reason,
            unreachable: v.kind,
            errno: v.errno,
            icmp: v.icmp.map(IcmpInfo::from),
            ambiguous: v.ambiguous,
            latency_ms: latency.map(|d| d.as_secs_f64() * 1000.0),
            attempts,
        }
    }
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Probes finished.
    pub done: usize,
    /// Probes in total.
    pub total: usize,
    /// Of those finished, how many found an open port.
    pub open: usize,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// One result per job, in job order.
    pub results: Vec<ProbeResult>,
    /// Wall-clock duration of the run in milliseconds.
    pub elapsed_ms: f64,
    /// The concurrency used (the upper bound; it shrinks on descriptor shortage).
    pub concurrency: usize,
    /// The open-files soft limit in force (after raising it), if known.
    pub nofile_limit: Option<u64>,
}

/// Descriptors kept free for the rest of the process (stdio, runtime, resolver, ...).
const FD_RESERVE: u64 = 128;
/// Concurrency when the platform has no descriptor limit to size it from.
const DEFAULT_CONCURRENCY: usize = 2048;

/// Raises RLIMIT_NOFILE to its hard limit and derives the concurrency from it.
pub fn plan_concurrency(requested: Option<usize>) -> (usize, Option<u64>) {
    let limit = sys::raise_nofile_limit();
    let by_limit =
        limit.map(|l| usize::try_from(l.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX));
    let c = match (requested, by_limit) {
        (Some(r), Some(l)) => r.min(l),
        (Some(r), None) => r,
        (None, Some(l)) => l.min(16_384),
        (None, None) => DEFAULT_CONCURRENCY,
    };
    (c.max(1), limit)
}

/// Probes one job (with retries), independent of any run.
///
/// Out of descriptors, it waits and retries for up to [`SHORTAGE_PATIENCE`], then fails.
pub async fn probe(job: &Job, cfg: &ProbeConfig) -> Result<ProbeResult, ProbeError> {
    let shared = Shared::new(cfg);
    let since = Instant::now();
    loop {
        match probe_job(job, &shared, None).await? {
            Some(r) => return Ok(r),
            None if since.elapsed() > SHORTAGE_PATIENCE => return Err(shortage_error()),
            None => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// How long a run waits for descriptors while it holds none itself before giving up.
pub const SHORTAGE_PATIENCE: Duration = Duration::from_secs(10);

pub(crate) fn shortage_error() -> ProbeError {
    ProbeError::Io(std::io::Error::other(format!(
        "no file descriptor or local port became free for {} s",
        SHORTAGE_PATIENCE.as_secs()
    )))
}

/// The synchronous first step of a job (see [`probe_start`]).
pub(crate) enum Fast {
    /// Decided at once (e.g. a loopback RST that arrived during `connect()`).
    Done(Box<ProbeResult>),
    /// Out of local resources.
    Shortage,
    /// A TCP connect in progress: finish it with [`probe_job`].
    Pending(attempt::Pending),
    /// Not started (UDP): run [`probe_job`] from the beginning.
    Async,
}

/// Starts a TCP job without awaiting anything: most loopback answers need no task at all.
pub(crate) fn probe_start(
    job: &Job,
    sh: &Shared,
    spare: &mut Option<attempt::Spare>,
) -> Result<Fast, ProbeError> {
    if job.proto != Proto::Tcp {
        return Ok(Fast::Async);
    }
    Ok(match attempt::tcp_start(job.addr, sh.cfg.source, spare)? {
        Started::Done(Attempt::Shortage) => Fast::Shortage,
        Started::Done(Attempt::Answer(v, rtt)) => {
            Fast::Done(Box::new(answered(job, sh, v, rtt, 1)))
        }
        Started::Done(Attempt::Silent) => Fast::Async,
        Started::Pending(p) => Fast::Pending(p),
    })
}

fn answered(job: &Job, sh: &Shared, v: Verdict, rtt: Duration, attempts: u32) -> ProbeResult {
    if v.reason != Reason::Local {
        if let Ok(mut r) = sh.rtt.lock() {
            r.sample(rtt);
        }
    }
    ProbeResult::new(job, v, Some(rtt), attempts)
}

/// Runs one job to its result (continuing `first` if the connect was already started);
/// `None` on a local resource shortage.
pub(crate) async fn probe_job(
    job: &Job,
    sh: &Shared,
    mut first: Option<attempt::Pending>,
) -> Result<Option<ProbeResult>, ProbeError> {
    let attempts = sh.cfg.retries.saturating_add(1);
    for n in 0..attempts {
        let timeout = if sh.cfg.adaptive {
            sh.rtt
                .lock()
                .map(|r| r.timeout(n))
                .unwrap_or(sh.cfg.timeout)
        } else {
            sh.cfg.timeout
        };
        let a = match (job.proto, first.take()) {
            (Proto::Tcp, Some(p)) => attempt::tcp_finish(p, timeout).await?,
            (Proto::Tcp, None) => attempt::tcp(job.addr, sh.cfg.source, timeout).await?,
            (Proto::Udp, _) => {
                let payload: &[u8] = if sh.cfg.udp_payload.is_empty() {
                    payloads::default_payload(job.addr.port())
                } else {
                    &sh.cfg.udp_payload
                };
                attempt::udp(job.addr, sh.cfg.source, timeout, payload).await?
            }
        };
        match a {
            Attempt::Shortage => return Ok(None),
            Attempt::Silent => continue,
            Attempt::Answer(v, rtt) => return Ok(Some(answered(job, sh, v, rtt, n + 1))),
        }
    }
    Ok(Some(ProbeResult::new(
        job,
        Verdict::silent(job.proto),
        None,
        attempts,
    )))
}

/// Probes every job, at most `concurrency` at once, calling `progress` after each result.
///
/// Large runs are split over one scheduler thread per core (up to [`MAX_SHARDS`]), each with
/// its own single-threaded runtime: the kernel's connect work, the bulk of a fast scan, then
/// runs on every core without the cost of a work-stealing scheduler. On a descriptor shortage
/// a scheduler lowers its concurrency, waits for probes in flight and retries: a run never
/// fails on `EMFILE`.
pub async fn run(
    jobs: Vec<Job>,
    cfg: &ProbeConfig,
    mut progress: impl FnMut(Progress),
) -> Result<RunReport, ProbeError> {
    let start = Instant::now();
    let (planned, limit) = plan_concurrency(cfg.concurrency);
    let shared = Arc::new(Shared::new(cfg));
    let jobs: Arc<[Job]> = jobs.into();
    let total = jobs.len();
    let mut results: Vec<Option<ProbeResult>> = vec![None; total];
    let (mut done, mut open) = (0usize, 0usize);
    let mut record = |i: usize, r: ProbeResult| {
        done += 1;
        open += usize::from(r.state == PortState::Open);
        results[i] = Some(r);
        progress(Progress { done, total, open });
    };
    let shards = shard_count(total, planned);
    if shards <= 1 {
        sched::schedule((0..total).collect(), jobs, shared, planned, |i, r| {
            record(i, r);
            true
        })
        .await?;
    } else {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for k in 0..shards {
            let indices: Vec<usize> = (k..total).step_by(shards).collect();
            let (jobs, shared, tx) = (Arc::clone(&jobs), Arc::clone(&shared), tx.clone());
            let per_shard = (planned / shards).max(1);
            std::thread::Builder::new()
                .name(format!("probe-{k}"))
                .spawn(move || sched::run_shard(indices, jobs, shared, per_shard, tx))?;
        }
        drop(tx);
        while let Some(msg) = rx.recv().await {
            let (i, r) = msg?;
            record(i, r);
        }
    }
    Ok(RunReport {
        results: results.into_iter().flatten().collect(),
        elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
        concurrency: planned,
        nofile_limit: limit,
    })
}

/// Upper bound on scheduler threads.
pub const MAX_SHARDS: usize = 4;
/// Runs smaller than this stay on the caller's runtime.
const SHARD_MIN_JOBS: usize = 4096;

fn shard_count(total: usize, concurrency: usize) -> usize {
    if total < SHARD_MIN_JOBS {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(MAX_SHARDS).min(concurrency.max(1))
}
