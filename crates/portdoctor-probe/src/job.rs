//! What a run is made of: jobs, their configuration and results, and the state the probes of
//! a run share. Below both the single-probe code and the scheduler.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::classify::{PortState, Reason, UnreachableKind, Verdict};
use crate::error::ProbeError;
use crate::icmp::Icmp;
use crate::rtt::RttEstimator;
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
    pub(crate) fn new(job: &Job, v: Verdict, latency: Option<Duration>, attempts: u32) -> Self {
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

/// How long a run waits for descriptors while it holds none itself before giving up.
pub const SHORTAGE_PATIENCE: Duration = Duration::from_secs(10);

pub(crate) fn shortage_error() -> ProbeError {
    ProbeError::Io(std::io::Error::other(format!(
        "no file descriptor or local port became free for {} s",
        SHORTAGE_PATIENCE.as_secs()
    )))
}

/// State shared by all probes of a run.
pub(crate) struct Shared {
    pub(crate) cfg: ProbeConfig,
    pub(crate) rtt: Mutex<RttEstimator>,
}

impl Shared {
    pub(crate) fn new(cfg: &ProbeConfig) -> Self {
        Self {
            cfg: cfg.clone(),
            rtt: Mutex::new(RttEstimator::new(cfg.min_timeout, cfg.timeout)),
        }
    }
}
