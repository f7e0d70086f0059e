//! One probe: the synchronous start of a TCP connect (most loopback answers need no task), its
//! completion with retries and adaptive timeouts, and `probe` for a single job.

use std::time::{Duration, Instant};

use crate::attempt::{self, Attempt, Started};
use crate::classify::{Reason, Verdict};
use crate::error::ProbeError;
use crate::job::{Job, ProbeConfig, ProbeResult, SHORTAGE_PATIENCE, Shared, shortage_error};
use crate::payloads;
use crate::target::Proto;

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
