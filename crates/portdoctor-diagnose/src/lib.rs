//! Diagnosis: [`Evidence`] about one port in, ranked [`Finding`]s out. A pure function: no
//! I/O, so every cause is unit-tested with evidence written by hand and lab-tested with
//! evidence gathered for real by the binary.
//!
//! Each finding has a stable code (`PD002 bound-to-loopback`, …), a severity, a one-line
//! summary, the evidence that proves it and structured fixes (backend, operation, argv) that
//! render as the exact command for the backend in use.

pub mod evidence;
pub mod finding;
pub mod fixes;
mod rules;

pub use evidence::*;
pub use finding::{Code, Finding, Fix, FixCommand, Operation, Severity, Shell};
pub use rules::{CLOSE_WAIT_THRESHOLD, TIME_WAIT_THRESHOLD};

/// Turns evidence into findings, most important first (errors, then warnings, then info).
pub fn diagnose(evidence: &Evidence) -> Vec<Finding> {
    rules::diagnose(evidence)
}

/// True when any finding is an error (the command then exits 1).
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}
