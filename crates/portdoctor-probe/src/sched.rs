//! The scheduler of one run (or one shard of it): a window of probes in flight that widens
//! while they all wait on the network, and shrinks when descriptors run out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use crate::error::ProbeError;
use crate::job::{Job, ProbeResult, SHORTAGE_PATIENCE, Shared, shortage_error};
use crate::single::{Fast, probe_job, probe_start};

/// Initial window of probes in flight.
const START_WINDOW: usize = 256;

enum TaskOutcome {
    Done(usize, Box<ProbeResult>),
    /// Out of descriptors: requeue this job after some in-flight probes finish.
    Shortage(usize),
}

type Task = Result<TaskOutcome, ProbeError>;

/// A result on its way from a shard thread to the run.
pub(crate) type ShardMsg = Result<(usize, ProbeResult), ProbeError>;

/// Body of a shard thread: its own single-threaded runtime, results sent over `tx`.
pub(crate) fn run_shard(
    indices: Vec<usize>,
    jobs: Arc<[Job]>,
    shared: Arc<Shared>,
    concurrency: usize,
    tx: UnboundedSender<ShardMsg>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Err(e.into()));
            return;
        }
    };
    let sink = |i, r| tx.send(Ok((i, r))).is_ok();
    if let Err(e) = rt.block_on(schedule(indices, jobs, shared, concurrency, sink)) {
        let _ = tx.send(Err(e));
    }
}

/// Probes `jobs[i]` for every `i` in `indices`, handing each result to `sink` (which returns
/// `false` to stop early).
pub(crate) async fn schedule(
    indices: Vec<usize>,
    jobs: Arc<[Job]>,
    shared: Arc<Shared>,
    planned: usize,
    mut sink: impl FnMut(usize, ProbeResult) -> bool,
) -> Result<(), ProbeError> {
    // Descriptors ran out: cut to what is in flight, then probe upwards again one by one
    // (additive increase), so the run goes at the real limit and never fails on EMFILE.
    let mut max_conc = planned.max(1);
    let mut queue: VecDeque<usize> = indices.into();
    let mut set: JoinSet<Task> = JoinSet::new();
    // Start small and widen only while every probe in flight is waiting on the network: a
    // loopback scan (answers in microseconds) stays cache-friendly, a scan of dropping
    // hosts grows to the full concurrency.
    let mut window = max_conc.min(START_WINDOW);
    let mut spare = None;
    // Since when the run has been out of descriptors with nothing of its own in flight.
    let mut starved: Option<Instant> = None;
    loop {
        let mut inline = 0u32;
        while set.len() < window {
            let Some(i) = queue.pop_front() else { break };
            let first = match probe_start(&jobs[i], &shared, &mut spare)? {
                Fast::Done(r) => {
                    starved = None;
                    if !sink(i, *r) {
                        return Ok(());
                    }
                    // Let timers and in-flight probes run now and then.
                    inline += 1;
                    if inline % 256 == 0 {
                        tokio::task::yield_now().await;
                    }
                    continue;
                }
                Fast::Shortage => {
                    queue.push_front(i);
                    shortage(&set, &mut max_conc, &mut window, &mut starved).await?;
                    break;
                }
                Fast::Pending(p) => Some(p),
                Fast::Async => None,
            };
            let (sh, jobs) = (Arc::clone(&shared), Arc::clone(&jobs));
            set.spawn(async move {
                Ok(match probe_job(&jobs[i], &sh, first).await? {
                    Some(r) => TaskOutcome::Done(i, Box::new(r)),
                    None => TaskOutcome::Shortage(i),
                })
            });
        }
        let more = !queue.is_empty();
        let joined = match next_finished(&mut set, &mut window, max_conc, more).await {
            Some(j) => j,
            None if queue.is_empty() && set.is_empty() => return Ok(()),
            None => continue,
        };
        let outcome =
            joined.map_err(|e| ProbeError::Io(std::io::Error::other(e.to_string())))??;
        match outcome {
            TaskOutcome::Done(i, r) => {
                starved = None;
                if max_conc < planned {
                    max_conc += 1;
                }
                if !sink(i, *r) {
                    return Ok(());
                }
            }
            TaskOutcome::Shortage(i) => {
                queue.push_front(i);
                shortage(&set, &mut max_conc, &mut window, &mut starved).await?;
            }
        }
    }
}

/// Out of descriptors: cut the concurrency to what is in flight; with nothing in flight,
/// pause briefly (descriptors held elsewhere in the process may come back).
async fn shortage(
    set: &JoinSet<Task>,
    max_conc: &mut usize,
    window: &mut usize,
    starved: &mut Option<Instant>,
) -> Result<(), ProbeError> {
    *max_conc = set.len().max(1);
    *window = (*window).min(*max_conc);
    if set.is_empty() {
        let since = *starved.get_or_insert_with(Instant::now);
        if since.elapsed() > SHORTAGE_PATIENCE {
            return Err(shortage_error());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

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
