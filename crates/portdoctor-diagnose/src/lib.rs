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

/// What a diagnosis means for a script: reachable, not reachable, or not checkable here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Reachable, checked (PD000): exit 0.
    Reachable,
    /// An error was found, or reachability could not be established from the rules: exit 1.
    Failed,
    /// The firewall could not be read (missing privilege): exit 3.
    Unchecked,
}

/// The outcome of a list of findings.
pub fn outcome(findings: &[Finding]) -> Outcome {
    if has_errors(findings) {
        Outcome::Failed
    } else if findings.iter().any(|f| f.code == Code::Reachable) {
        Outcome::Reachable
    } else if findings.iter().any(|f| f.code == Code::FirewallUnchecked) {
        Outcome::Unchecked
    } else {
        Outcome::Failed
    }
}

/// Turns evidence into findings, most important first (errors, then warnings, then info).
pub fn diagnose(evidence: &Evidence) -> Vec<Finding> {
    rules::diagnose(evidence)
}

/// True when any finding is an error (the command then exits 1).
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}
