//! What the scheduler, the local reader and the HTTP handlers share: the settings in force
//! (swapped whole on reload), the last round's observations, the last local reading, and the
//! metrics.

use crate::client::Connector;
use crate::config::{Config, ConfigError};
use crate::discovery::Registered;
use crate::local::{FirewallVerdict, LocalView};
use crate::metrics::Metrics;
use crate::outcome::Observation;
use crate::ratelimit::Limiter;
use crate::target::{StaticTargets, Target, TargetSource};
use portdoctor_serve::server::Acceptor;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

/// The configuration in force and what is derived from it.
pub struct Settings {
    /// The configuration.
    pub config: Config,
    /// The bearer token, read from `token_file`.
    pub token: Option<String>,
    /// Where targets come from.
    pub sources: Vec<Box<dyn TargetSource>>,
    /// All requests together.
    pub global_limit: Limiter,
    /// Probe-back, per source address.
    pub probe_back_limit: Limiter,
    /// The TLS acceptor (`[tls]`), made from the files as they were at start or reload.
    pub tls: Option<Acceptor>,
    /// The client to other agents (`[peer_tls]` read at start or reload).
    pub peer_client: Connector,
}

impl Settings {
    /// Derives the settings from a checked configuration (reads the token file and the TLS
    /// certificate and key).
    pub fn new(config: Config) -> Result<Settings, ConfigError> {
        let token = config.token()?;
        let tls = config.tls()?;
        let peer_client = Connector::new(&config.peer_trust())
            .map_err(|e| ConfigError::Tls(format!("peer_tls: {e}")))?;
        let rps = config.limits.requests_per_second;
        let pb = config.probe_back.per_minute;
        Ok(Settings {
            sources: sources(&config),
            global_limit: Limiter::new(rps, f64::from(rps)),
            probe_back_limit: Limiter::new(pb, f64::from(pb) / 60.0),
            token,
            tls,
            peer_client,
            config,
        })
    }

    /// The peers' addresses (from their URLs).
    pub fn peer_addresses(&self) -> Vec<IpAddr> {
        self.config
            .peers
            .iter()
            .filter_map(|p| crate::client::Url::parse(p).ok())
            .map(|u| u.addr.ip())
            .collect()
    }
}

/// The static list, then one source per `[[discovery]]` entry (checked by the configuration).
fn sources(config: &Config) -> Vec<Box<dyn TargetSource>> {
    let mut all: Vec<Box<dyn TargetSource>> =
        vec![Box::new(StaticTargets(config.static_targets()))];
    for entry in &config.discovery {
        match Registered::new(entry.clone()) {
            Ok(r) => all.push(Box::new(r)),
            Err(e) => tracing::warn!("discovery {}: {e}", entry.url),
        }
    }
    all
}

/// This agent's status, as `/api/status` serves it and the status page reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The agent's name.
    pub agent: String,
    /// Its interface addresses.
    pub addresses: Vec<IpAddr>,
    /// Seconds between rounds.
    pub interval_seconds: f64,
    /// The last round.
    pub observations: Vec<Observation>,
    /// Its firewall's verdicts for its own listening ports.
    pub firewall: Vec<FirewallVerdict>,
}

/// Everything shared between the tasks.
pub struct Shared {
    settings: RwLock<Arc<Settings>>,
    observations: RwLock<Arc<Vec<Observation>>>,
    local: RwLock<Arc<LocalView>>,
    /// Each source's last successful listing, by source name: what a failing registry
    /// contributes (kept across reloads for a source of the same name).
    last_known: std::sync::Mutex<HashMap<String, Vec<Target>>>,
    /// The metrics.
    pub metrics: Metrics,
}

impl Shared {
    /// Shared state starting from `settings`.
    pub fn new(settings: Settings) -> Shared {
        Shared {
            settings: RwLock::new(Arc::new(settings)),
            observations: RwLock::default(),
            local: RwLock::default(),
            last_known: Default::default(),
            metrics: Metrics::new(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        Arc::clone(&read(&self.settings))
    }

    /// Replaces the settings (reload).
    pub fn set_settings(&self, s: Settings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
    }

    /// Stores a finished round.
    pub fn set_observations(&self, o: Vec<Observation>) {
        *self.observations.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(o);
    }

    /// Stores a local reading.
    pub fn set_local(&self, v: LocalView) {
        *self.local.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(v);
    }

    /// The targets of `source` this round: its listing, remembered; or, when it fails, the
    /// last listing it gave (the failure is logged and counted by kind).
    pub fn targets_of(&self, source: &dyn TargetSource) -> Vec<Target> {
        let listed = source.targets();
        let mut last = self.last_known.lock().unwrap_or_else(|p| p.into_inner());
        match listed {
            Ok(t) => {
                last.insert(source.name().to_string(), t.clone());
                t
            }
            Err(e) => {
                let kept = last.get(source.name()).cloned().unwrap_or_default();
                tracing::warn!("{e}; keeping its last {} targets", kept.len());
                self.metrics.source_failed(source.kind());
                kept
            }
        }
    }

    /// This agent's status now.
    pub fn status(&self) -> Status {
        let s = self.settings();
        let local = Arc::clone(&read(&self.local));
        Status {
            agent: s.config.display_name(),
            addresses: local.addresses.clone(),
            interval_seconds: s.config.interval_seconds,
            observations: read(&self.observations).as_ref().clone(),
            firewall: local.firewall.clone(),
        }
    }
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}
