//! The probe schedule and the local reader.
//!
//! Rounds start on a fixed grid (`tokio::time::interval`), so they do not drift by the time a
//! round takes. The missed-tick behaviour is `Skip`: a round that overruns the interval is
//! counted, the ticks it missed are dropped and the next round starts on the grid again.
//! `Burst` would fire the missed rounds back to back (a load spike right when the agent is
//! already slow) and `Delay` would shift the grid by the overrun (drift).

use crate::local;
use crate::outcome::Observation;
use crate::state::{Settings, Shared};
use crate::target::Target;
use portdoctor_probe::{Job, ProbeConfig, Proto};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Runs probe rounds until `reload` closes; each reload restarts the grid with the new
/// interval.
pub async fn probe_loop(shared: Arc<Shared>, reload: watch::Receiver<u64>) {
    on_grid(
        shared,
        reload,
        |s| s.config.interval(),
        |shared, settings| async move {
            round(&shared, &settings).await;
        },
    )
    .await;
}

/// Re-reads this machine's sockets and firewall every `local_refresh_seconds`.
pub async fn local_loop(shared: Arc<Shared>, reload: watch::Receiver<u64>) {
    on_grid(
        shared,
        reload,
        |s| s.config.local_refresh(),
        |shared, settings| async move {
            let peers = settings.peer_addresses();
            if let Ok(view) = tokio::task::spawn_blocking(move || local::read(&peers)).await {
                shared.metrics.record_local(&view);
                shared.set_local(view);
            }
        },
    )
    .await;
}

/// Calls `work` on a fixed grid of `period` (missed ticks skipped) with the settings in
/// force; a reload restarts the grid with the new settings; ends when `reload` closes.
async fn on_grid<F, Fut>(
    shared: Arc<Shared>,
    mut reload: watch::Receiver<u64>,
    period: fn(&Settings) -> Duration,
    mut work: F,
) where
    F: FnMut(Arc<Shared>, Arc<Settings>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let settings = shared.settings();
        let mut tick = tokio::time::interval(period(&settings));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => work(Arc::clone(&shared), Arc::clone(&settings)).await,
                changed = reload.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// One round: every target once, at most `concurrency` at a time.
pub async fn round(shared: &Arc<Shared>, settings: &Arc<Settings>) {
    let start = Instant::now();
    let targets = targets(shared, settings).await;
    let observations = probe_all(&targets, settings).await;
    let seconds = start.elapsed().as_secs_f64();
    let overrun = seconds > settings.config.interval_seconds;
    shared.metrics.record_round(&observations, seconds, overrun);
    shared.set_observations(observations);
}

/// The targets of every source, each address once (the first source naming it wins: the
/// static list before discovery); a failing source contributes its last known targets.
async fn targets(shared: &Arc<Shared>, settings: &Arc<Settings>) -> Vec<Target> {
    let (shared, s) = (Arc::clone(shared), Arc::clone(settings));
    let all = tokio::task::spawn_blocking(move || {
        let all = s.sources.iter().map(|src| shared.targets_of(src.as_ref()));
        all.flatten().collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    all.into_iter().filter(|t| seen.insert(t.addr)).collect()
}

/// Probes `targets` with the prober's engine (one attempt each, no adaptive timeout).
pub async fn probe_all(targets: &[Target], settings: &Settings) -> Vec<Observation> {
    let cfg = ProbeConfig {
        timeout: settings.config.timeout(),
        retries: 0,
        adaptive: false,
        concurrency: Some(settings.config.concurrency),
        ..ProbeConfig::default()
    };
    let jobs = targets
        .iter()
        .map(|t| Job {
            host: t.addr.ip().to_string(),
            addr: t.addr,
            proto: Proto::Tcp,
        })
        .collect();
    let timeout_s = settings.config.timeout_seconds;
    match portdoctor_probe::run(jobs, &cfg, |_| {}).await {
        Ok(report) => targets
            .iter()
            .zip(&report.results)
            .map(|(t, r)| Observation::from_result(t, r, timeout_s))
            .collect(),
        Err(e) => {
            tracing::warn!("probe round failed: {e}");
            targets
                .iter()
                .map(|t| Observation::error(t, "probe-engine"))
                .collect()
        }
    }
}
