//! Firewall evidence: read the host's firewall (engine + managers), evaluate a packet from each
//! viewpoint, attribute every decision to whoever is in charge, find allows shadowed by a
//! block, and plan the fixes for the viewpoints that matter (checked on a copy).

use super::{Request, Targets};
use portdoctor_diagnose::{
    FirewallEvidence, FirewalldZones, FixScope, LocalAddress, ManagerState, PlannedFix, Viewpoint,
    ViewpointVerdict, WindowsNearMiss,
};
use portdoctor_firewall::attribution::{self, Decided};
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::engine::without_rule;
use portdoctor_firewall::host::Host;
use portdoctor_firewall::manager::OpenRequest;
use portdoctor_firewall::{self as fw, Decision, Packet};
use std::net::IpAddr;

/// One packet to ask the firewall about.
struct Question {
    viewpoint: Viewpoint,
    packet: Packet,
}

/// The host's firewall, read once.
pub struct Firewall(pub Host);

impl Firewall {
    /// Reads the live firewall; `Err` says why nothing could be read.
    pub fn read(runner: &dyn Runner) -> Result<Firewall, String> {
        Host::read_live(runner).map(Firewall)
    }

    /// Saved rulesets, recognised by content (`--ruleset`).
    pub fn from_saved(files: &[(String, String)]) -> Result<Firewall, String> {
        Host::from_saved(files)
            .map(Firewall)
            .map_err(|e| e.to_string())
    }

    /// The evidence for `req`'s port from every viewpoint in `t`.
    pub fn evidence(&self, req: &Request<'_>, t: &Targets) -> Vec<FirewallEvidence> {
        let host = &self.0;
        let mut qs = questions(req, t, host);
        for q in &mut qs {
            host.complete(&mut q.packet);
            q.packet.local_program = req.program.clone().or_else(|| t.program.clone());
            q.packet.local_service = req.service.clone();
        }
        let verdicts: Vec<ViewpointVerdict> = qs.iter().map(|q| self.verdict(q)).collect();
        let fixes = self.plans(req, &qs, &verdicts);
        vec![FirewallEvidence {
            engine: host.engine.kind(),
            managers: host
                .managers
                .iter()
                .map(|m| ManagerState {
                    kind: m.kind().label().to_string(),
                    summary: m.summary(),
                    problems: m.problems().iter().map(ToString::to_string).collect(),
                })
                .collect(),
            verdicts,
            fixes,
            firewalld: self.firewalld(req, t),
            windows_near_misses: self.near_misses(req, &qs),
        }]
    }

    fn verdict(&self, q: &Question) -> ViewpointVerdict {
        let host = &self.0;
        let (e, a) = host.explain(&q.packet);
        let shadowed = match (&e.overall.decided_by, q.viewpoint.is_remote()) {
            (Some(rule), true) if a.overall.blocks() && !rule.is_policy => {
                self.shadowed(rule, &q.packet).into_iter().collect()
            }
            _ => vec![],
        };
        let without_nat = self.without_nat(q, &a.overall);
        ViewpointVerdict {
            viewpoint: q.viewpoint.clone(),
            dst: q.packet.dst,
            iif: q.packet.iif.clone().unwrap_or_default(),
            overall: a.overall,
            backends: a.backends.into_iter().filter(|b| b.active).collect(),
            shadowed,
            without_nat,
        }
    }

    /// For a remote connection a DNAT forwards: what the way to a local socket alone decides
    /// (a ufw or firewalld rule there never sees it).
    fn without_nat(&self, q: &Question, d: &Decided) -> Option<Decided> {
        let forwarded = d.delivery.as_ref().is_some_and(|x| x.forwarded())
            || d.endpoints
                .iter()
                .any(|e| e.delivery.as_ref().is_some_and(|x| x.forwarded()));
        if !forwarded || !q.viewpoint.is_remote() {
            return None;
        }
        let mut p = q.packet.clone();
        p.ignore_nat = true;
        let (_, a) = self.0.explain(&p);
        Some(a.overall)
    }

    /// Without the blocking rule, would an accept rule decide? That rule is shadowed.
    fn shadowed(&self, rule: &fw::RuleRef, packet: &Packet) -> Option<Decided> {
        let host = &self.0;
        let v = without_rule(host.engine.as_ref(), rule, packet)?;
        match (&v.decision, &v.decided_by) {
            (Decision::Accept, Some(r)) if !r.is_policy => Some(attribution::decided(
                r.backend,
                true,
                &v,
                packet,
                &host.managers,
            )),
            _ => None,
        }
    }

    /// Narrow (the peer) and broad (everyone) fixes, when a viewpoint that matters is blocked.
    fn plans(
        &self,
        req: &Request<'_>,
        qs: &[Question],
        verdicts: &[ViewpointVerdict],
    ) -> Vec<PlannedFix> {
        let focus = |v: &Viewpoint| match req.peer {
            Some(p) => matches!(v, Viewpoint::Peer { addr } if *addr == p),
            None => matches!(v, Viewpoint::Outside { .. }),
        };
        let blocked = verdicts
            .iter()
            .any(|v| focus(&v.viewpoint) && v.overall.decision != Decision::Accept);
        if !blocked {
            return vec![];
        }
        let host = &self.0;
        let proto = req.proto.to_string();
        let mut out = vec![];
        if let Some(peer) = req.peer {
            let packets: Vec<Packet> = qs
                .iter()
                .filter(|q| matches!(q.viewpoint, Viewpoint::Peer { .. }))
                .map(|q| q.packet.clone())
                .collect();
            let r = OpenRequest::new(req.port, &proto, Some(peer.to_string()));
            out.push(PlannedFix {
                scope: FixScope::Peer { addr: peer },
                plan: fw::plan::plan_open(host.engine.as_ref(), &host.managers, &packets, &r),
            });
        }
        let packets: Vec<Packet> = qs
            .iter()
            .filter(|q| q.viewpoint.is_remote())
            .map(|q| q.packet.clone())
            .collect();
        let r = OpenRequest::new(req.port, &proto, None);
        out.push(PlannedFix {
            scope: FixScope::Everyone,
            plan: fw::plan::plan_open(host.engine.as_ref(), &host.managers, &packets, &r),
        });
        out
    }

    /// Allow rules that miss on one condition, for the viewpoints that matter (once each).
    fn near_misses(&self, req: &Request<'_>, qs: &[Question]) -> Vec<WindowsNearMiss> {
        let mut out: Vec<WindowsNearMiss> = vec![];
        let focus = qs.iter().filter(|q| match req.peer {
            Some(p) => matches!(q.viewpoint, Viewpoint::Peer { addr } if addr == p),
            None => matches!(q.viewpoint, Viewpoint::Outside { .. }),
        });
        for q in focus {
            for (rule, field, mismatch) in self.0.engine.near_misses(&q.packet) {
                if !out.iter().any(|n| n.rule == rule.text) {
                    out.push(WindowsNearMiss {
                        rule: rule.text,
                        mismatch,
                        field,
                    });
                }
            }
        }
        out
    }

    fn firewalld(&self, req: &Request<'_>, t: &Targets) -> Option<FirewalldZones> {
        let f = self.0.managers.iter().find_map(|m| m.as_firewalld())?;
        let ifaces = t.outside.iter().chain(t.peer.iter().map(|(_, a)| a));
        Some(FirewalldZones {
            iface_zones: ifaces
                .map(|a| (a.iface.clone(), f.zone_of_iface(&a.iface)))
                .collect(),
            zones_opening_port: f.zones_opening(req.port, &req.proto.to_string()),
            default_zone: f.default_zone.clone(),
        })
    }
}

fn packet(req: &Request<'_>, src: IpAddr, to: &LocalAddress) -> Packet {
    let proto = match req.proto {
        portdoctor_sockets::Proto::Tcp => fw::Proto::Tcp,
        portdoctor_sockets::Proto::Udp => fw::Proto::Udp,
    };
    let mut p = Packet::new(proto, src, to.addr, req.port);
    p.iif = (!to.iface.is_empty()).then(|| to.iface.clone());
    p.assume_fresh_source = req.assume_fresh_source;
    p
}

/// Loopback, "anyone else" on each address the service listens on, and the peer.
fn questions(req: &Request<'_>, t: &Targets, host: &Host) -> Vec<Question> {
    let lo = LocalAddress {
        iface: "lo".into(),
        addr: IpAddr::from([127, 0, 0, 1]),
    };
    let mut qs = vec![Question {
        viewpoint: Viewpoint::Loopback { addr: lo.addr },
        packet: packet(req, lo.addr, &lo),
    }];
    for a in &t.outside {
        let src = host.stranger(a.addr, &a.iface);
        qs.push(Question {
            viewpoint: Viewpoint::Outside { addr: src },
            packet: packet(req, src, a),
        });
    }
    if let Some((peer, dst)) = &t.peer {
        qs.push(Question {
            viewpoint: Viewpoint::Peer { addr: *peer },
            packet: packet(req, *peer, dst),
        });
    }
    qs
}
