//! The binary's platform boundary: things only some systems can do.

#[cfg(target_os = "linux")]
mod demo;
#[cfg(target_os = "linux")]
pub use demo::{LOOPBACK_DEMO_WHY, lab_demo};
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub use other::*;

/// A probe run from elsewhere: (destination, port) → outcome and latency.
pub type BoxedPeerProbe =
    Box<dyn Fn(std::net::IpAddr, u16) -> (portdoctor_diagnose::ProbeOutcome, Option<f64>) + Sync>;
