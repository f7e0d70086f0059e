//! NAT during evaluation: the targets a `dnat`/`snat` may pick for a packet, what the packet
//! looks like afterwards, and the routing decision for a rewritten destination (local
//! delivery, forwarding, or the kernel's reasons to drop it).

use super::{Ctx, KeyVal, NatState, PktState};
use crate::index::TableId;
use crate::model::{Action, Elem, NatTo, Packet, RouteKind, VerdictMap};
use crate::route_table::addr_num;
use std::net::IpAddr;

/// Most addresses of a NAT address range followed one by one (beyond: unknown).
pub(crate) const MAX_RANGE_ADDRS: u128 = 16;
/// Most values of a number generator followed one by one (beyond: unknown).
pub(crate) const MAX_NUMGEN: u32 = 64;

impl NatState {
    /// The conntrack status bits NAT set: dnat 32, snat 16.
    pub(crate) fn status_bits(&self) -> u128 {
        (if self.dst_changed { 32 } else { 0 }) | (if self.src_bound { 16 } else { 0 })
    }
}

/// One concrete rewrite: an address (`None`: kept) and an inclusive port range (`None`:
/// kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) addr: Option<IpAddr>,
    pub(crate) port: Option<(u16, u16)>,
}

/// An alternative of a NAT statement: the choice that leads to it (`None` when there is only
/// one), and the rewrite (`None`: this alternative rewrites nothing and the rule goes on).
pub(crate) type Alternative = (Option<String>, Option<Target>);

impl Ctx<'_, '_> {
    /// The alternatives a NAT statement has for the packet in `st`; `Err` says why they
    /// cannot be known.
    pub(crate) fn nat_targets(
        &self,
        tid: TableId,
        to: &NatTo,
        st: &PktState,
    ) -> Result<Vec<Alternative>, String> {
        match to {
            NatTo::Fixed { addr, port } => fixed(*addr, *port),
            NatTo::Map { key, map } => match self.vmap_lookup(tid, key, map, st)? {
                Some(Action::Dnat(NatTo::Fixed { addr, port }))
                | Some(Action::Snat(NatTo::Fixed { addr, port })) => fixed(addr, port),
                Some(other) => Err(format!("NAT map entry not understood: {other:?}")),
                None => Ok(vec![(None, None)]),
            },
            NatTo::Numgen { numgen, map } => {
                if numgen.modulus == 0 || numgen.modulus > MAX_NUMGEN {
                    return Err(format!(
                        "numgen mod {}: more than {MAX_NUMGEN} alternatives",
                        numgen.modulus
                    ));
                }
                let entries = self.map_entries(tid, map)?;
                let mut out = vec![];
                for v in numgen.offset..numgen.offset.saturating_add(numgen.modulus) {
                    let label = Some(format!("numgen value {v}"));
                    let hit = entries.iter().find(|(e, _)| {
                        matches!(e.as_slice(), [Elem::Range(a, b)] if *a <= v as u128 && v as u128 <= *b)
                    });
                    match hit.map(|(_, a)| a) {
                        Some(Action::Dnat(NatTo::Fixed { addr, port }))
                        | Some(Action::Snat(NatTo::Fixed { addr, port })) => {
                            for (_, t) in fixed(*addr, *port)? {
                                out.push((label.clone(), t));
                            }
                        }
                        Some(other) => {
                            return Err(format!("NAT map entry not understood: {other:?}"));
                        }
                        None => out.push((label, None)),
                    }
                }
                Ok(out)
            }
        }
    }

    /// The entries of an inline or named map of the table.
    pub(crate) fn map_entries(
        &self,
        tid: TableId,
        map: &VerdictMap,
    ) -> Result<Vec<(Vec<Elem>, Action)>, String> {
        match map {
            VerdictMap::Inline(e) => Ok(e.clone()),
            VerdictMap::Named(n) => self.ix.tables[tid.0][tid.1]
                .vmaps
                .get(n)
                .cloned()
                .ok_or_else(|| format!("map @{n} not found or contents unknown")),
        }
    }
}

/// The alternatives of a fixed target: one, or one per address of a small range.
fn fixed(
    addr: Option<(IpAddr, IpAddr)>,
    port: Option<(u16, u16)>,
) -> Result<Vec<Alternative>, String> {
    let Some((lo, hi)) = addr else {
        return Ok(vec![(None, Some(Target { addr: None, port }))]);
    };
    let ((v6a, a), (v6b, b)) = (addr_num(lo), addr_num(hi));
    if lo == hi {
        return Ok(vec![(
            None,
            Some(Target {
                addr: Some(lo),
                port,
            }),
        )]);
    }
    if v6a != v6b || b < a || b - a >= MAX_RANGE_ADDRS {
        return Err(format!(
            "NAT to the address range {lo}-{hi}: more than {MAX_RANGE_ADDRS} addresses to follow"
        ));
    }
    Ok((a..=b)
        .map(|n| {
            let ip = num_addr(v6a, n);
            let label = format!("address {ip} of {lo}-{hi}");
            (
                Some(label),
                Some(Target {
                    addr: Some(ip),
                    port,
                }),
            )
        })
        .collect())
}

fn num_addr(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(n.into())
    } else {
        IpAddr::V4((n as u32).into())
    }
}

/// Applies a destination rewrite to the packet state; `false` when it does not apply (an
/// address of the other family: nft's `dnat ip to` in an inet table leaves IPv6 alone).
pub(crate) fn apply_dnat(pkt: &Packet, st: &mut PktState, t: &Target) -> bool {
    if t.addr.is_some_and(|a| a.is_ipv4() != pkt.dst.is_ipv4()) {
        return false;
    }
    let before = (st.nat.dst.unwrap_or(pkt.dst), st.dport.unwrap_or(pkt.dport));
    if let Some(a) = t.addr {
        st.nat.dst = Some(a);
    }
    match t.port {
        // The kernel keeps the port when it is in the range (and the tuple is free).
        Some((lo, hi)) if lo == hi => st.dport = Some(lo),
        Some((lo, hi)) if (lo..=hi).contains(&before.1) => {}
        Some(_) => st.nat.dport_unknown = true,
        None => {}
    }
    st.nat.dst_bound = true;
    let after = (st.nat.dst.unwrap_or(pkt.dst), st.dport.unwrap_or(pkt.dport));
    st.nat.dst_changed |= after != before || st.nat.dport_unknown;
    // The destination is now the one written, whatever a redirect made of it before.
    st.dst_rewritten &= t.addr.is_none();
    true
}

/// Applies a source rewrite (SNAT; masquerade when `t` is `None`).
pub(crate) fn apply_snat(pkt: &Packet, st: &mut PktState, t: Option<&Target>) -> bool {
    match t {
        Some(t) if t.addr.is_some_and(|a| a.is_ipv4() != pkt.src.is_ipv4()) => return false,
        Some(t) => {
            if let Some(a) = t.addr {
                st.nat.src = Some(Some(a));
            }
        }
        None => st.nat.src = Some(None),
    }
    st.nat.src_bound = true;
    true
}

/// `fib daddr type` / `-m addrtype --dst-type` of an address NAT wrote: the local table
/// names this host's addresses (IPv4 looks only there, anything else is unicast).
pub(crate) fn daddr_type(p: &Packet, a: IpAddr) -> KeyVal {
    let Some(rt) = &p.routing else {
        return KeyVal::Unknown(format!(
            "the type of {a}, where NAT sent the packet, needs the live routing table"
        ));
    };
    let (v6, n) = addr_num(a);
    let local = rt
        .routes
        .iter()
        .filter(|r| r.v6 == v6 && r.table == 0 && r.lo <= n && n <= r.hi)
        .max_by_key(|r| r.len);
    match (local, a) {
        (Some(r), _) => KeyVal::Num(r.kind as u128),
        (None, IpAddr::V4(x)) if x.is_multicast() => KeyVal::Num(5),
        (None, IpAddr::V4(x)) if x.is_broadcast() || x.is_unspecified() => KeyVal::Num(3),
        (None, IpAddr::V4(_)) => KeyVal::Num(1),
        (None, IpAddr::V6(_)) => match rt.lookup(a) {
            Some(r) if r.kind == 1 => KeyVal::Num(1),
            _ => KeyVal::Unknown(format!("the route type of {a} is not modelled")),
        },
    }
}

/// What the routing table does with a packet from `p` whose destination NAT rewrote to `a`:
/// the route kind and the output interface.
pub(crate) fn route(p: &Packet, a: IpAddr) -> (RouteKind, Option<String>) {
    let Some(rt) = &p.routing else {
        return (
            RouteKind::Unknown(format!(
                "NAT sends the connection to {a}; whether that is delivered here or forwarded \
                 (and whether forwarding is on) needs the live routing table, which saved \
                 rulesets do not have"
            )),
            None,
        );
    };
    if a.is_loopback() && p.iif.as_deref() != Some("lo") {
        return (
            RouteKind::Unknown(format!(
                "NAT to {a} from another interface: the kernel drops it as martian unless \
                 route_localnet is set on the interface (not read)"
            )),
            None,
        );
    }
    let Some(r) = rt.lookup(a) else {
        return match rt.forwards(a.is_ipv6(), p.iif.as_deref()) {
            Some(false) => (RouteKind::ForwardingOff, None),
            _ => (RouteKind::NoRoute, None),
        };
    };
    match r.kind {
        2 => (RouteKind::Local, r.dev.clone()),
        1 => match rt.forwards(a.is_ipv6(), p.iif.as_deref()) {
            Some(true) => (RouteKind::Forwarded, r.dev.clone()),
            Some(false) => (RouteKind::ForwardingOff, r.dev.clone()),
            None => (
                RouteKind::Unknown(format!(
                    "whether this host forwards {} packets (the forwarding sysctl) was not read",
                    if a.is_ipv6() { "IPv6" } else { "IPv4" }
                )),
                r.dev.clone(),
            ),
        },
        k @ (6..=8) => match rt.forwards(a.is_ipv6(), p.iif.as_deref()) {
            Some(false) => (RouteKind::ForwardingOff, None),
            _ => (RouteKind::Unroutable(k), None),
        },
        k => (
            RouteKind::Unknown(format!(
                "{a} has a route of type {k}, which is not modelled"
            )),
            None,
        ),
    }
}
