//! Runs many probes concurrently: retries, adaptive timeouts, descriptor-aware concurrency.

use std::sync::Arc;
use std::time::Instant;

use crate::classify::PortState;
use crate::error::ProbeError;
use crate::job::Shared;
pub use crate::job::{
    IcmpInfo, Job, ProbeConfig, ProbeResult, Progress, RunReport, SHORTAGE_PATIENCE,
};
use crate::sched;
pub use crate::single::probe;
use crate::sys;

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
