//! What diagnosis looks at. Every part may be missing, with the reason it is.
//!
//! These types are deliberately plain: the binary gathers them from `portdoctor-sockets`,
//! `portdoctor-firewall` and `portdoctor-probe` (or a test writes them by hand), and
//! diagnosis never performs I/O.

use portdoctor_sockets::{Proto, Socket};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A piece of evidence, or why it is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Part<T> {
    /// Gathered.
    Present {
        /// The evidence.
        value: T,
    },
    /// Could not be gathered.
    Missing {
        /// Why (e.g. "reading the ruleset needs root or CAP_NET_ADMIN").
        reason: String,
    },
}

impl<T> Part<T> {
    /// The value, when present.
    pub fn get(&self) -> Option<&T> {
        match self {
            Part::Present { value } => Some(value),
            Part::Missing { .. } => None,
        }
    }

    /// Wraps a value.
    pub fn present(value: T) -> Part<T> {
        Part::Present { value }
    }

    /// A missing part.
    pub fn missing(reason: impl Into<String>) -> Part<T> {
        Part::Missing {
            reason: reason.into(),
        }
    }
}

/// Where a connection attempt comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Viewpoint {
    /// This machine, over loopback.
    Loopback {
        /// 127.0.0.1 or ::1.
        addr: IpAddr,
    },
    /// This machine, to one of its own non-loopback addresses.
    Local {
        /// The address.
        addr: IpAddr,
        /// Its interface.
        iface: String,
    },
    /// A specific other machine (`--from`, or an agent).
    Peer {
        /// The peer's address.
        addr: IpAddr,
    },
    /// "Anyone else": a stand-in outside address (from the documentation ranges,
    /// 203.0.113.1 / 2001:db8::1) used to ask the firewall about strangers. No packet is sent.
    Outside {
        /// The stand-in address.
        addr: IpAddr,
    },
}

impl Viewpoint {
    /// The source address of packets from this viewpoint.
    pub fn addr(&self) -> IpAddr {
        match self {
            Viewpoint::Loopback { addr }
            | Viewpoint::Local { addr, .. }
            | Viewpoint::Peer { addr }
            | Viewpoint::Outside { addr } => *addr,
        }
    }

    /// True for viewpoints on another machine.
    pub fn is_remote(&self) -> bool {
        matches!(self, Viewpoint::Peer { .. } | Viewpoint::Outside { .. })
    }

    /// Short label: `loopback`, `local 198.18.0.1 (eth0)`, `peer 198.18.0.2`.
    pub fn label(&self) -> String {
        match self {
            Viewpoint::Loopback { addr } => format!("loopback {addr}"),
            Viewpoint::Local { addr, iface } => format!("local {addr} ({iface})"),
            Viewpoint::Peer { addr } => format!("peer {addr}"),
            Viewpoint::Outside { addr } => format!("any other machine (as {addr})"),
        }
    }
}

/// One address of this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAddress {
    /// Interface name.
    pub iface: String,
    /// The address.
    pub addr: IpAddr,
}

/// Firewall backends diagnosis knows how to name and fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Native nftables.
    Nftables,
    /// iptables with the legacy x_tables backend.
    IptablesLegacy,
    /// iptables-nft.
    IptablesNft,
    /// ufw (on top of iptables).
    Ufw,
    /// firewalld (on top of nftables).
    Firewalld,
    /// Windows Defender Firewall.
    WindowsFirewall,
    /// OpenBSD/macOS pf.
    Pf,
}

impl Backend {
    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::IptablesLegacy => "iptables (legacy)",
            Backend::IptablesNft => "iptables (nft)",
            Backend::Ufw => "ufw",
            Backend::Firewalld => "firewalld",
            Backend::WindowsFirewall => "Windows Defender Firewall",
            Backend::Pf => "pf",
        }
    }
}

/// What a firewall does with the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", content = "detail", rename_all = "kebab-case")]
pub enum Decision {
    /// Let through.
    Accept,
    /// Silently dropped (the client times out: "filtered").
    Drop,
    /// Refused with an answer (RST or ICMP error; the kind in the text).
    Reject(String),
    /// Cannot be known from the ruleset; the reason.
    Unknown(String),
}

impl Decision {
    /// Drop or reject.
    pub fn blocks(&self) -> bool {
        matches!(self, Decision::Drop | Decision::Reject(_))
    }
}

/// A rule, as the backend shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSummary {
    /// Address family of the table (`inet`, `ip`, `ip6`), when the backend has one.
    pub family: Option<String>,
    /// Table (nft, iptables), zone (firewalld), profile (Windows), anchor (pf).
    pub table: Option<String>,
    /// Chain, when the backend has chains.
    pub chain: Option<String>,
    /// nft handle, iptables position (1-based), ufw rule number, Windows rule name.
    pub position: Option<String>,
    /// The rule's own text, as the backend prints it.
    pub text: String,
    /// Its comment, if any.
    pub comment: Option<String>,
    /// True when the chain's policy decided (no rule matched).
    pub is_policy: bool,
}

/// A firewall's verdict for a packet from one viewpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewpointVerdict {
    /// Where the packet comes from.
    pub viewpoint: Viewpoint,
    /// The destination address the packet is for.
    pub dst: IpAddr,
    /// The interface the packet arrives on.
    pub iif: String,
    /// The decision.
    pub decision: Decision,
    /// The rule (or policy) that decided.
    pub decided_by: Option<RuleSummary>,
    /// Accepting rules for this packet that were never reached (shadowed by `decided_by`).
    pub shadowed_accepts: Vec<RuleSummary>,
}

/// Zones of firewalld for one interface (for the wrong-zone finding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewalldZones {
    /// Interface → zone bindings.
    pub iface_zones: Vec<(String, String)>,
    /// Zones that open the port (by port or service).
    pub zones_opening_port: Vec<String>,
    /// The default zone.
    pub default_zone: String,
}

/// A Windows rule that would allow the port but does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowsNearMiss {
    /// The rule's display name.
    pub rule: String,
    /// Why it does not apply (e.g. "profile Private, but the active profile is Public",
    /// "program C:\\old\\app.exe, but the listener is C:\\new\\app.exe").
    pub mismatch: String,
    /// The field that mismatches: `profile`, `program`, `service`, `interface-type`, …
    pub field: String,
}

/// One firewall backend's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallEvidence {
    /// The backend.
    pub backend: Backend,
    /// Whether it has rules at all (an empty ruleset accepts everything).
    pub active: bool,
    /// Verdicts per viewpoint.
    pub verdicts: Vec<ViewpointVerdict>,
    /// firewalld only: zone bindings and which zones open the port.
    pub firewalld: Option<FirewalldZones>,
    /// Windows only: allow rules for the port that miss on profile/program/…
    pub windows_near_misses: Vec<WindowsNearMiss>,
}

/// What a connect probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "kebab-case")]
pub enum ProbeOutcome {
    /// Connected.
    Open,
    /// Refused with RST.
    Closed,
    /// No answer.
    Filtered,
    /// UDP: no answer, which an open silent service and a drop both give.
    OpenOrFiltered,
    /// ICMP error; the kind.
    Unreachable(String),
    /// The probe could not run; why.
    Error(String),
}

/// One connect probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeEvidence {
    /// From where.
    pub viewpoint: Viewpoint,
    /// To which address.
    pub dst: IpAddr,
    /// Result.
    pub outcome: ProbeOutcome,
    /// Round trip, when it connected or was refused.
    pub latency_ms: Option<f64>,
}

/// An application-level health check (HTTP, TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEvidence {
    /// What was asked, e.g. `GET http://127.0.0.1:8080/healthz`.
    pub request: String,
    /// HTTP status, if one came back.
    pub status: Option<u16>,
    /// A failure below HTTP (TLS handshake, reset, timeout).
    pub error: Option<String>,
}

/// Everything known about one port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub proto: Proto,
    /// Sockets whose local port is `port` (listeners and connections).
    pub sockets: Part<Vec<Socket>>,
    /// This machine's addresses.
    pub addresses: Part<Vec<LocalAddress>>,
    /// Every firewall backend found (an empty list: none active).
    pub firewall: Part<Vec<FirewallEvidence>>,
    /// Connect probes.
    pub probes: Part<Vec<ProbeEvidence>>,
    /// Health check, if one was asked for.
    pub health: Option<Part<HealthEvidence>>,
    /// The peer the user cares about (`--from`), if any.
    pub peer: Option<IpAddr>,
    /// The program that should own the port (`--expect NAME`), if the user said.
    pub expected_program: Option<String>,
}
