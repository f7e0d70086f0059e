//! Firewall evidence: read every backend, evaluate a packet from each viewpoint, attribute
//! verdicts to the manager in charge (ufw, firewalld) and find allows shadowed by a block.

use super::{Request, reachable_addresses};
use portdoctor_diagnose::{
    Backend, Decision, FirewallEvidence, LocalAddress, Part, RuleSummary, Viewpoint,
    ViewpointVerdict,
};
use portdoctor_firewall::collect::{self, CollectError, Programs};
use portdoctor_firewall::{self as fw, Packet, RejectKind, RuleRef, Ruleset};
use std::net::IpAddr;

/// Stand-in sources for "anyone else" (documentation ranges: no packet is sent to them).
const OUTSIDE_V4: [u8; 4] = [203, 0, 113, 1];
const OUTSIDE_V6: [u16; 8] = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1];

/// One packet to ask the firewall about.
struct Question {
    viewpoint: Viewpoint,
    src: IpAddr,
    dst: IpAddr,
    iif: String,
}

pub(super) fn gather(
    req: &Request<'_>,
    addresses: &Result<Vec<LocalAddress>, String>,
) -> Part<Vec<FirewallEvidence>> {
    let start = std::time::Instant::now();
    let collected = collect::collect(&req.runner, &Programs::default());
    tracing::info!(
        ms = start.elapsed().as_secs_f64() * 1000.0,
        "firewall rulesets read and parsed"
    );
    if let Some(reason) = unreadable(&collected) {
        return Part::missing(reason);
    }
    let questions = questions(req, addresses);
    let mut out: Vec<FirewallEvidence> = Vec::new();
    let attribution = Attribution::of(&collected.rulesets);
    let proto = match req.proto {
        portdoctor_sockets::Proto::Tcp => fw::Proto::Tcp,
        portdoctor_sockets::Proto::Udp => fw::Proto::Udp,
    };
    for q in &questions {
        let packet = Packet::new(proto, q.src, q.dst, req.port).with_iif(&q.iif);
        let explanation = fw::explain(&collected.rulesets, &packet);
        for bv in explanation.backends {
            let backend = attribution.backend(bv.backend);
            let decision = decision(&bv.verdict.decision);
            let shadowed = match (&decision, &bv.verdict.decided_by) {
                (d, Some(rule)) if d.blocks() && !rule.is_policy => {
                    shadowed_accept(&collected.rulesets, &packet, rule)
                        .into_iter()
                        .collect()
                }
                _ => Vec::new(),
            };
            let verdict = ViewpointVerdict {
                viewpoint: q.viewpoint.clone(),
                dst: q.dst,
                iif: q.iif.clone(),
                decision,
                decided_by: bv.verdict.decided_by.as_ref().map(summary),
                shadowed_accepts: shadowed,
            };
            match out.iter_mut().find(|e| e.backend == backend) {
                Some(e) => {
                    e.active |= bv.active;
                    e.verdicts.push(verdict);
                }
                None => out.push(FirewallEvidence {
                    backend,
                    active: bv.active,
                    verdicts: vec![verdict],
                    firewalld: None,
                    windows_near_misses: Vec::new(),
                }),
            }
        }
    }
    Part::present(out)
}

/// Why no ruleset at all could be read, or `None` when at least one was.
pub fn unreadable(collected: &collect::Collected) -> Option<String> {
    if !collected.rulesets.is_empty() {
        return None;
    }
    let errors: Vec<&CollectError> = collected
        .sources
        .iter()
        .filter_map(|s| s.active.as_ref().err())
        .collect();
    let denied = errors
        .iter()
        .any(|e| matches!(e, CollectError::PermissionDenied { .. }));
    Some(if denied {
        "reading the firewall rules needs root or CAP_NET_ADMIN (try sudo)".to_string()
    } else if errors.is_empty() {
        "no firewall tool found".to_string()
    } else {
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        format!("no firewall ruleset could be read: {}", all.join("; "))
    })
}

/// Loopback, "anyone else" on each reachable address, and the peer when given.
fn questions(req: &Request<'_>, addresses: &Result<Vec<LocalAddress>, String>) -> Vec<Question> {
    let mut qs = vec![Question {
        viewpoint: Viewpoint::Loopback {
            addr: IpAddr::from([127, 0, 0, 1]),
        },
        src: IpAddr::from([127, 0, 0, 1]),
        dst: IpAddr::from([127, 0, 0, 1]),
        iif: "lo".into(),
    }];
    let reachable = reachable_addresses(addresses);
    for a in &reachable {
        let src = if a.addr.is_ipv4() {
            IpAddr::from(OUTSIDE_V4)
        } else {
            IpAddr::from(OUTSIDE_V6)
        };
        qs.push(Question {
            viewpoint: Viewpoint::Outside { addr: src },
            src,
            dst: a.addr,
            iif: a.iface.clone(),
        });
    }
    if let Some(peer) = req.peer {
        let same_family: Vec<&LocalAddress> = reachable
            .iter()
            .copied()
            .filter(|a| a.addr.is_ipv4() == peer.is_ipv4())
            .collect();
        // Prefer the address on the peer's own subnet (same /24 or /64): the one it uses.
        let near: Vec<&LocalAddress> = same_family
            .iter()
            .copied()
            .filter(|a| same_subnet(a.addr, peer))
            .collect();
        let targets = if near.is_empty() { same_family } else { near };
        for a in targets {
            qs.push(Question {
                viewpoint: Viewpoint::Peer { addr: peer },
                src: peer,
                dst: a.addr,
                iif: a.iface.clone(),
            });
        }
    }
    qs
}

/// Same /24 (IPv4) or /64 (IPv6): the address a peer on that subnet uses.
pub(super) fn same_subnet(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..4] == b.segments()[..4],
        _ => false,
    }
}

fn decision(d: &fw::Decision) -> Decision {
    match d {
        fw::Decision::Accept => Decision::Accept,
        fw::Decision::Drop => Decision::Drop,
        fw::Decision::Reject(k) => Decision::Reject(reject_label(k)),
        fw::Decision::Unknown(r) => Decision::Unknown(r.clone()),
    }
}

fn reject_label(k: &RejectKind) -> String {
    match k {
        RejectKind::TcpReset => "tcp reset".into(),
        RejectKind::PortUnreachable => "icmp port-unreachable".into(),
        RejectKind::AdminProhibited => "icmp admin-prohibited".into(),
        RejectKind::HostUnreachable => "icmp host-unreachable".into(),
        RejectKind::NetUnreachable => "icmp net-unreachable".into(),
        RejectKind::ProtoUnreachable => "icmp protocol-unreachable".into(),
        RejectKind::HostProhibited => "icmp host-prohibited".into(),
        RejectKind::NetProhibited => "icmp net-prohibited".into(),
        RejectKind::NoRoute => "icmpv6 no-route".into(),
        RejectKind::AddrUnreachable => "icmpv6 addr-unreachable".into(),
        RejectKind::Other(o) => o.clone(),
    }
}

fn summary(r: &RuleRef) -> RuleSummary {
    let family = r.family.as_str().to_string();
    let is_nft = r.backend == fw::Backend::Nftables;
    RuleSummary {
        family: is_nft.then_some(family),
        table: Some(r.table.clone()),
        chain: Some(r.chain.clone()),
        position: if r.is_policy {
            None
        } else if is_nft {
            r.handle.map(|h| h.to_string())
        } else {
            Some(r.position.to_string())
        },
        text: r.text.clone(),
        comment: r.comment.clone(),
        is_policy: r.is_policy,
    }
}

/// Without the blocking rule, would an accept rule have let the packet in? That rule is
/// shadowed. Found by evaluating a copy of the rulesets with the blocking rule removed.
fn shadowed_accept(
    rulesets: &[Ruleset],
    packet: &Packet,
    blocking: &RuleRef,
) -> Option<RuleSummary> {
    let mut copy = rulesets.to_vec();
    let mut removed = false;
    for rs in copy
        .iter_mut()
        .filter(|r| r.backend == Some(blocking.backend))
    {
        for t in rs
            .tables
            .iter_mut()
            .filter(|t| t.name == blocking.table && t.family == blocking.family)
        {
            for c in t.chains.iter_mut().filter(|c| c.name == blocking.chain) {
                let before = c.rules.len();
                c.rules.retain(|r| r.position != blocking.position);
                removed |= c.rules.len() != before;
            }
        }
    }
    if !removed {
        return None;
    }
    let again = fw::explain(&copy, packet);
    let bv = again
        .backends
        .iter()
        .find(|b| b.backend == blocking.backend)?;
    match (&bv.verdict.decision, &bv.verdict.decided_by) {
        (fw::Decision::Accept, Some(rule)) if !rule.is_policy => Some(summary(rule)),
        _ => None,
    }
}

/// Which manager writes the rules: ufw writes iptables chains named `ufw-*`, firewalld an
/// nft table named `firewalld`.
struct Attribution {
    ufw: bool,
    firewalld: bool,
}

impl Attribution {
    fn of(rulesets: &[Ruleset]) -> Attribution {
        let ufw = rulesets.iter().any(|r| {
            r.tables
                .iter()
                .any(|t| t.chains.iter().any(|c| c.name.starts_with("ufw-")))
        });
        let firewalld = rulesets.iter().any(|r| {
            r.backend == Some(fw::Backend::Nftables)
                && r.tables.iter().any(|t| t.name == "firewalld")
        });
        Attribution { ufw, firewalld }
    }

    fn backend(&self, b: fw::Backend) -> Backend {
        match b {
            fw::Backend::Nftables if self.firewalld => Backend::Firewalld,
            fw::Backend::Nftables => Backend::Nftables,
            fw::Backend::IptablesLegacy | fw::Backend::IptablesNft if self.ufw => Backend::Ufw,
            fw::Backend::IptablesLegacy => Backend::IptablesLegacy,
            fw::Backend::IptablesNft => Backend::IptablesNft,
            fw::Backend::WindowsFirewall => Backend::WindowsFirewall,
            fw::Backend::Pf => Backend::Pf,
        }
    }
}
