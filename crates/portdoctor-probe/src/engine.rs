//! Runs many probes concurrently: retries, adaptive timeouts, descriptor-aware concurrency.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::attempt::{self, Attempt};
use crate::classify::{PortState, Reason, UnreachableKind, Verdict};
use crate::error::ProbeError;
use crate::icmp::Icmp;
use crate::rtt::RttEstimator;
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
    /// Datagram sent by UDP probes.
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
/// Initial window of probes in flight.
const START_WINDOW: usize = 256;
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

struct Shared {
    cfg: ProbeConfig,
    rtt: Mutex<RttEstimator>,
}

enum TaskOutcome {
    Done(usize, Box<ProbeResult>),
    /// Out of descriptors: requeue this job after some in-flight probes finish.
    Shortage(usize),
}

/// Probes one job (with retries), independent of any run.
pub async fn probe(job: &Job, cfg: &ProbeConfig) -> Result<ProbeResult, ProbeError> {
    let shared = Shared {
        cfg: cfg.clone(),
        rtt: Mutex::new(RttEstimator::new(cfg.min_timeout, cfg.timeout)),
    };
    loop {
        match probe_job(job, &shared).await? {
            Some(r) => return Ok(r),
            None => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Runs one job to its result; `None` on a local resource shortage.
async fn probe_job(job: &Job, sh: &Shared) -> Result<Option<ProbeResult>, ProbeError> {
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
        let a = match job.proto {
            Proto::Tcp => attempt::tcp(job.addr, sh.cfg.source, timeout).await?,
            Proto::Udp => {
                attempt::udp(job.addr, sh.cfg.source, timeout, &sh.cfg.udp_payload).await?
            }
        };
        match a {
            Attempt::Shortage => return Ok(None),
            Attempt::Silent => continue,
            Attempt::Answer(v, rtt) => {
                if v.reason != Reason::Local {
                    if let Ok(mut r) = sh.rtt.lock() {
                        r.sample(rtt);
                    }
                }
                return Ok(Some(ProbeResult::new(job, v, Some(rtt), n + 1)));
            }
        }
    }
    Ok(Some(ProbeResult::new(
        job,
        Verdict::silent(job.proto),
        None,
        attempts,
    )))
}

type Task = Result<TaskOutcome, ProbeError>;

/// The next finished probe. When none is ready even after letting the probes run, they are
/// all waiting on the network: widen the window (returns `None` so the caller refills).
async fn next_finished(
    set: &mut JoinSet<Task>,
    window: &mut usize,
    max: usize,
    more_queued: bool,
) -> Option<Result<Task, tokio::task::JoinError>> {
    if let Some(j) = set.try_join_next() {
        return Some(j);
    }
    tokio::task::yield_now().await;
    if let Some(j) = set.try_join_next() {
        return Some(j);
    }
    if *window < max && more_queued {
        *window = (*window * 2).min(max);
        return None;
    }
    set.join_next().await
}

/// Probes every job, at most `concurrency` at once, calling `progress` after each result.
/// On a descriptor shortage it lowers its concurrency, waits for probes in flight and retries:
/// it never fails on `EMFILE`.
pub async fn run(
    jobs: Vec<Job>,
    cfg: &ProbeConfig,
    mut progress: impl FnMut(Progress),
) -> Result<RunReport, ProbeError> {
    let start = Instant::now();
    let (planned, limit) = plan_concurrency(cfg.concurrency);
    // Descriptors ran out: cut to what is in flight, then probe upwards again one by one
    // (additive increase), so the scan runs at the real limit and never fails on EMFILE.
    let mut max_conc = planned;
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        rtt: Mutex::new(RttEstimator::new(cfg.min_timeout, cfg.timeout)),
    });
    let jobs: Arc<[Job]> = jobs.into();
    let total = jobs.len();
    let mut results: Vec<Option<ProbeResult>> = vec![None; total];
    let mut queue: VecDeque<usize> = (0..total).collect();
    let mut set: JoinSet<Task> = JoinSet::new();
    // Start small and widen only while every probe in flight is waiting on the network: a
    // loopback scan (answers in microseconds) stays cache-friendly, a scan of dropping
    // hosts grows to the full concurrency.
    let mut window = max_conc.min(START_WINDOW);
    let (mut done, mut open) = (0usize, 0usize);
    loop {
        while set.len() < window {
            let Some(i) = queue.pop_front() else { break };
            let (sh, jobs) = (Arc::clone(&shared), Arc::clone(&jobs));
            set.spawn(async move {
                Ok(match probe_job(&jobs[i], &sh).await? {
                    Some(r) => TaskOutcome::Done(i, Box::new(r)),
                    None => TaskOutcome::Shortage(i),
                })
            });
        }
        let joined = match next_finished(&mut set, &mut window, max_conc, !queue.is_empty()).await {
            Some(j) => j,
            None if queue.is_empty() && set.is_empty() => break,
            None => continue,
        };
        let outcome = match joined {
            Ok(r) => r?,
            Err(e) => return Err(ProbeError::Io(std::io::Error::other(e.to_string()))),
        };
        match outcome {
            TaskOutcome::Done(i, r) => {
                done += 1;
                open += usize::from(r.state == PortState::Open);
                results[i] = Some(*r);
                if max_conc < planned {
                    max_conc += 1;
                }
                progress(Progress { done, total, open });
            }
            TaskOutcome::Shortage(i) => {
                queue.push_front(i);
                max_conc = set.len().max(1);
                window = window.min(max_conc);
                if set.is_empty() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    Ok(RunReport {
        results: results.into_iter().flatten().collect(),
        elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
        concurrency: planned,
        nofile_limit: limit,
    })
}
