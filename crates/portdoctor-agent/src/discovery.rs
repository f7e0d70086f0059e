//! Targets discovered from the registrations `portdoctor register` and `serve --register`
//! make: etcd v3 (a range over a key prefix, JSON values) and Consul's catalog (every node's
//! instances, through the local agent's HTTP API). The registry clients are
//! `portdoctor-serve`'s.

use crate::config::DiscoveryEntry;
use crate::target::{Expect, SourceError, Target, TargetSource};
use portdoctor_serve::registry::consul::Consul;
use portdoctor_serve::registry::etcd::Etcd;
use portdoctor_serve::registry::{Endpoint, Instance, Kind};
use std::future::Future;

/// One `[[discovery]]` entry as a target source.
pub struct Registered {
    name: String,
    entry: DiscoveryEntry,
    endpoint: Endpoint,
}

impl Registered {
    /// The source for a checked entry (its URL parses).
    pub fn new(entry: DiscoveryEntry) -> Result<Registered, String> {
        let endpoint = entry.endpoint()?;
        let what = match entry.kind {
            Kind::Etcd => entry.prefix().to_string(),
            Kind::Consul => entry.service.clone().unwrap_or_else(|| "*".into()),
        };
        Ok(Registered {
            name: format!("{} {} {what}", entry.kind, endpoint.authority()),
            entry,
            endpoint,
        })
    }

    async fn instances(&self) -> Result<Vec<Instance>, String> {
        let authority = self.endpoint.authority();
        let listed = match self.entry.kind {
            // The TTL only matters for registering; listing takes none.
            Kind::Etcd => Etcd::new(authority, 0).instances(self.entry.prefix()).await,
            Kind::Consul => {
                let service = self.entry.service.as_deref();
                Consul::new(authority).instances(service).await
            }
        };
        listed.map_err(|e| e.to_string())
    }
}

/// The target for an instance: named after its service.
pub fn target(i: &Instance, expect: Expect) -> Target {
    Target {
        name: i.name.clone(),
        addr: i.addr,
        expect,
    }
}

impl TargetSource for Registered {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        match self.entry.kind {
            Kind::Etcd => "etcd",
            Kind::Consul => "consul",
        }
    }

    fn targets(&self) -> Result<Vec<Target>, SourceError> {
        let listed = block_on(self.instances()).and_then(|r| r);
        let instances = listed.map_err(|message| SourceError {
            source_name: self.name.clone(),
            message,
        })?;
        Ok(instances
            .iter()
            .map(|i| target(i, self.entry.expect))
            .collect())
    }
}

/// Runs `fut` to completion from blocking code: on the runtime of this thread when it has one
/// (the scheduler calls sources on a blocking thread of the agent's runtime), else on a
/// current-thread runtime made for the call. Must not be called from async code.
fn block_on<F: Future>(fut: F) -> Result<F::Output, String> {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        return Ok(handle.block_on(fut));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    Ok(rt.block_on(fut))
}
