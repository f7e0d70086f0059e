//! One probe's result as the agent reports it: the port state, whether it met the target's
//! expectation, and for a failure its class and reason, both from small fixed sets so that
//! metric labels stay of bounded cardinality.

use crate::target::{Expect, Target};
use portdoctor_probe::{PortState, ProbeResult, Reason, UnreachableKind};
use serde::{Deserialize, Serialize};

/// What one probe of one target found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The target.
    pub target: Target,
    /// `open`, `closed`, `filtered`, `unreachable` or `error`.
    pub state: String,
    /// Whether the state met the expectation.
    pub success: bool,
    /// For a failure: `closed`, `filtered`, `unreachable`, `open` (expected closed) or `error`.
    pub class: Option<String>,
    /// How the state was learnt (`reset`, `no-response`, `admin-prohibited`, …).
    pub reason: String,
    /// Seconds the probe took (the timeout when nothing answered).
    pub seconds: f64,
    /// Unix time of the probe, in seconds.
    pub at: u64,
}

impl Observation {
    /// Classifies a probe result for `target`.
    pub fn from_result(target: &Target, r: &ProbeResult, timeout_s: f64) -> Observation {
        let state = match r.state {
            PortState::OpenFiltered => "filtered",
            s => s.as_str(),
        };
        let reason = match (r.state, r.unreachable) {
            (PortState::Unreachable, Some(kind)) => unreachable_name(kind),
            _ => reason_name(r.reason),
        };
        Self::new(
            target,
            state,
            reason,
            r.latency_ms.map_or(timeout_s, |ms| ms / 1000.0),
        )
    }

    /// A probe that could not be run at all (`error`, with a fixed reason).
    pub fn error(target: &Target, reason: &'static str) -> Observation {
        Self::new(target, "error", reason, 0.0)
    }

    fn new(target: &Target, state: &str, reason: &str, seconds: f64) -> Observation {
        let open = state == "open";
        let success = match target.expect {
            Expect::Open => open,
            Expect::Closed => !open && state != "error",
        };
        let class = match (success, target.expect) {
            (true, _) => None,
            (false, Expect::Closed) if open => Some("open".to_string()),
            (false, _) => Some(state.to_string()),
        };
        let reason = if class.as_deref() == Some("open") {
            "expected-closed".to_string()
        } else {
            reason.to_string()
        };
        Observation {
            target: target.clone(),
            state: state.to_string(),
            success,
            class,
            reason,
            seconds,
            at: now(),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The label for how a probe's outcome was learnt.
pub fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::SynAck => "syn-ack",
        Reason::Reset => "reset",
        Reason::ConnRefused => "conn-refused",
        Reason::Icmp => "icmp",
        Reason::Local => "local-error",
        Reason::Errno => "errno",
        Reason::NoResponse => "no-response",
        Reason::UdpResponse => "udp-response",
    }
}

/// The label for an unreachable kind (the ICMP error or local cause).
pub fn unreachable_name(k: UnreachableKind) -> &'static str {
    match k {
        UnreachableKind::NetUnreachable => "net-unreachable",
        UnreachableKind::HostUnreachable => "host-unreachable",
        UnreachableKind::PortUnreachable => "port-unreachable",
        UnreachableKind::ProtocolUnreachable => "protocol-unreachable",
        UnreachableKind::AdminProhibited => "admin-prohibited",
        UnreachableKind::NetProhibited => "net-prohibited",
        UnreachableKind::HostProhibited => "host-prohibited",
        UnreachableKind::NoRoute => "no-route",
        UnreachableKind::LocalPolicy => "local-policy",
        UnreachableKind::HostDown => "host-down",
        UnreachableKind::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(expect: Expect) -> Target {
        Target {
            name: "t".into(),
            addr: "192.0.2.1:80".parse().unwrap(),
            expect,
        }
    }

    #[test]
    fn expected_closed_that_opens_fails_with_class_open() {
        let o = Observation::new(&target(Expect::Closed), "open", "syn-ack", 0.001);
        assert!(!o.success);
        assert_eq!(o.class.as_deref(), Some("open"));
        assert_eq!(o.reason, "expected-closed");
    }

    #[test]
    fn expected_closed_that_is_filtered_succeeds() {
        let o = Observation::new(&target(Expect::Closed), "filtered", "no-response", 1.0);
        assert!(o.success && o.class.is_none());
    }

    #[test]
    fn expected_open_that_is_filtered_fails_as_filtered() {
        let o = Observation::new(&target(Expect::Open), "filtered", "no-response", 1.0);
        assert_eq!(o.class.as_deref(), Some("filtered"));
    }
}
