//! Bringing a service up and down in an order that leaves nothing half-done: open the
//! firewall, then register (a failed registration closes the opening again); keep the
//! registration alive; on the way down deregister, then close the opening.

use crate::app::Readiness;
use crate::error::ServeError;
use crate::registry::{Registration, Registry, Service};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Opens and closes the service's port in the local firewall (the binary implements it with
/// the fix engine). Both calls block.
pub trait Firewall: Send + Sync {
    /// Lets others reach TCP `port`: `Ok(Some(change id))` when a change was made, `Ok(None)`
    /// when the port was already open.
    fn open(&self, port: u16) -> Result<Option<String>, String>;
    /// Undoes the change `id` made by [`Firewall::open`].
    fn close(&self, id: &str) -> Result<(), String>;
}

/// What happened, step by step, for the caller to print.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Step {
    /// The firewall was opened by change `change`.
    FirewallOpened {
        /// Change id (`portdoctor history`).
        change: String,
    },
    /// The firewall already let others in: nothing to open, nothing to close later.
    FirewallAlreadyOpen,
    /// The opening was closed again.
    FirewallClosed {
        /// Change id.
        change: String,
    },
    /// Closing the opening failed.
    FirewallCloseFailed {
        /// Change id.
        change: String,
        /// Why.
        why: String,
    },
    /// Registered.
    Registered {
        /// What was registered where.
        registration: Registration,
        /// The service as registered.
        service: Service,
    },
    /// The registration had vanished (lease expired, agent restarted) and was made again.
    Reregistered {
        /// The new registration.
        registration: Registration,
    },
    /// Keeping the registration alive failed (it is retried).
    KeepAliveFailed {
        /// Why.
        why: String,
    },
    /// Deregistered.
    Deregistered {
        /// The registry.
        registry: String,
        /// Key or service ID.
        key: String,
    },
    /// Deregistering failed.
    DeregisterFailed {
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::FirewallOpened { change } => write!(f, "firewall opened (change {change})"),
            Step::FirewallAlreadyOpen => {
                write!(f, "firewall already lets others in: nothing opened")
            }
            Step::FirewallClosed { change } => {
                write!(f, "firewall opening closed (undid change {change})")
            }
            Step::FirewallCloseFailed { change, why } => write!(
                f,
                "could not close the firewall opening: {why}; close it with: portdoctor undo {change}"
            ),
            Step::Registered {
                registration: r,
                service: s,
            } => write!(
                f,
                "registered {} with {} as {} at {}",
                s.name,
                r.registry,
                r.key,
                std::net::SocketAddr::new(s.address, s.port)
            ),
            Step::Reregistered { registration: r } => {
                write!(f, "registration was gone; registered again as {}", r.key)
            }
            Step::KeepAliveFailed { why } => write!(f, "keep-alive failed (retrying): {why}"),
            Step::Deregistered { registry, key } => write!(f, "deregistered {key} from {registry}"),
            Step::DeregisterFailed { why } => write!(f, "deregistering failed: {why}"),
        }
    }
}

/// Where steps are reported.
pub type Report = Arc<dyn Fn(&Step) + Send + Sync>;

/// What to bring up.
pub struct Plan {
    /// The service (its `firewall_change` is filled in here).
    pub service: Service,
    /// Where to register it, if anywhere.
    pub registry: Option<Arc<dyn Registry>>,
    /// Opens the firewall, if asked.
    pub firewall: Option<Arc<dyn Firewall>>,
    /// `/readyz`'s state.
    pub readiness: Arc<Readiness>,
    /// Progress.
    pub report: Report,
}

/// A service brought up: what to undo on the way down.
pub struct Up {
    plan: Plan,
    change: Option<String>,
    registration: Option<Registration>,
    keeper: Option<JoinHandle<()>>,
}

/// Opens the firewall, then registers; on a failed registration the opening is closed again
/// before the error is returned.
pub async fn bring_up(mut plan: Plan) -> Result<Up, ServeError> {
    let change = open(&plan).await?;
    plan.readiness.firewall_open.store(true, Ordering::Release);
    plan.service.firewall_change = change.clone();
    let mut up = Up {
        plan,
        change,
        registration: None,
        keeper: None,
    };
    let Some(registry) = up.plan.registry.clone() else {
        up.plan.readiness.registered.store(true, Ordering::Release);
        return Ok(up);
    };
    match registry.register(&up.plan.service).await {
        Ok(reg) => {
            (up.plan.report)(&Step::Registered {
                registration: reg.clone(),
                service: up.plan.service.clone(),
            });
            up.keeper = Some(spawn_keeper(registry, reg.clone(), &up.plan));
            up.registration = Some(reg);
            up.plan.readiness.registered.store(true, Ordering::Release);
            Ok(up)
        }
        Err(e) => {
            close(&up.plan, up.change.take()).await;
            Err(e)
        }
    }
}

/// Deregisters, then closes the firewall opening; every step is reported.
pub async fn take_down(mut up: Up) {
    up.plan.readiness.stopping.store(true, Ordering::Release);
    if let Some(k) = up.keeper.take() {
        k.abort();
    }
    if let (Some(registry), Some(_)) = (&up.plan.registry, &up.registration) {
        let s = &up.plan.service;
        let step = match registry.deregister(&s.name, &s.id).await {
            Ok(_) => Step::Deregistered {
                registry: registry.describe(),
                key: up.registration.take().map(|r| r.key).unwrap_or_default(),
            },
            Err(e) => Step::DeregisterFailed { why: e.to_string() },
        };
        (up.plan.report)(&step);
    }
    close(&up.plan, up.change.take()).await;
}

async fn open(plan: &Plan) -> Result<Option<String>, ServeError> {
    let Some(fw) = plan.firewall.clone() else {
        return Ok(None);
    };
    let port = plan.service.port;
    let change = tokio::task::spawn_blocking(move || fw.open(port))
        .await
        .map_err(|e| ServeError::Firewall(e.to_string()))?
        .map_err(ServeError::Firewall)?;
    (plan.report)(&match &change {
        Some(c) => Step::FirewallOpened { change: c.clone() },
        None => Step::FirewallAlreadyOpen,
    });
    Ok(change)
}

async fn close(plan: &Plan, change: Option<String>) {
    let (Some(fw), Some(change)) = (plan.firewall.clone(), change) else {
        return;
    };
    let id = change.clone();
    let done = tokio::task::spawn_blocking(move || fw.close(&id))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    (plan.report)(&match done {
        Ok(()) => Step::FirewallClosed { change },
        Err(why) => Step::FirewallCloseFailed { change, why },
    });
}

fn spawn_keeper(registry: Arc<dyn Registry>, reg: Registration, plan: &Plan) -> JoinHandle<()> {
    let every = match reg.lease {
        Some((_, ttl)) => Duration::from_millis(ttl.max(1) * 1000 / 3),
        None => Duration::from_secs(30),
    };
    let service = plan.service.clone();
    let report = plan.report.clone();
    tokio::spawn(async move {
        let mut reg = reg;
        let mut failing = false;
        loop {
            tokio::time::sleep(every).await;
            match registry.keep_alive(&reg).await {
                Ok(true) => failing = false,
                Ok(false) => match registry.register(&service).await {
                    Ok(new) => {
                        report(&Step::Reregistered {
                            registration: new.clone(),
                        });
                        reg = new;
                        failing = false;
                    }
                    Err(e) => report_once(&report, &mut failing, e),
                },
                Err(e) => report_once(&report, &mut failing, e),
            }
        }
    })
}

fn report_once(report: &Report, failing: &mut bool, e: ServeError) {
    if !*failing {
        report(&Step::KeepAliveFailed { why: e.to_string() });
    }
    *failing = true;
}
