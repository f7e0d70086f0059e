//! portdoctor-probe: concurrent TCP/UDP connect probes, port scans and waits, each outcome
//! classified from what the kernel reports (see [`classify`] for the errno ↔ ICMP mapping).
//!
//! No printing, no CLI: callers get typed results and errors, and a progress callback.

mod attempt;
pub mod backoff;
pub mod classify;
pub mod engine;
pub mod error;
pub mod http;
pub mod icmp;
mod job;
pub mod payloads;
pub mod rtt;
pub mod scan;
mod sched;
mod single;
pub mod spec;
mod sys;
pub mod target;
mod top_ports;
pub mod wait;

pub use classify::{PortState, Reason, UnreachableKind};
pub use engine::{Job, ProbeConfig, ProbeResult, Progress, RunReport, probe, run};
pub use error::ProbeError;
pub use spec::{PortSet, SpecError, SpecErrorKind, parse_ports};
pub use target::{Endpoint, Host, Proto, ScanTarget, parse_endpoint, parse_scan_target};
pub use top_ports::TOP_TCP_PORTS;
