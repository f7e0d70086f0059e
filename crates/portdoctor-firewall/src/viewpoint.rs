//! The packet to ask about when the user gives only some of its fields: shared by `explain`
//! and `diagnose`, so both say the same thing about the same question.

use crate::model::{CtState, Packet, Proto};
use std::net::IpAddr;

/// Stand-in source for "anyone else" over IPv4 (TEST-NET-3: no packet is sent to it).
pub const OUTSIDE_V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 1));
/// Stand-in source for "anyone else" over IPv6 (documentation range).
pub const OUTSIDE_V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

/// One of this machine's addresses and its interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// Interface name.
    pub iface: String,
    /// Address.
    pub addr: IpAddr,
}

/// What the user said about the packet.
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// Source (`--from`); default: "anyone else" of the family.
    pub from: Option<IpAddr>,
    /// Destination (`--to`); default: the local address the source would use.
    pub to: Option<IpAddr>,
    /// Input interface (`--iface`); default: the destination's interface.
    pub iface: Option<String>,
}

/// The stand-in "anyone else" source of `addr`'s family.
pub fn outside_for(addr: IpAddr) -> IpAddr {
    if addr.is_ipv6() {
        OUTSIDE_V6
    } else {
        OUTSIDE_V4
    }
}

/// Same /24 (IPv4) or /64 (IPv6): the local address a peer on that subnet uses.
pub fn same_subnet(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..4] == b.segments()[..4],
        _ => false,
    }
}

/// The local address a peer at `from` would connect to: one on its subnet, else the first of
/// its family that is not loopback.
pub fn address_for(from: IpAddr, addrs: &[LocalAddr]) -> Option<&LocalAddr> {
    let family = |a: &&LocalAddr| a.addr.is_ipv4() == from.is_ipv4() && !a.addr.is_loopback();
    addrs
        .iter()
        .filter(family)
        .find(|a| same_subnet(a.addr, from))
        .or_else(|| addrs.iter().find(family))
}

/// Fills in the packet for `q`; errors when `--from` and `--to` differ in family.
pub fn packet(
    proto: Proto,
    port: u16,
    q: &Question,
    addrs: &[LocalAddr],
) -> Result<Packet, String> {
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f.is_ipv4() != t.is_ipv4() {
            return Err("--from and --to must be of the same IP family".into());
        }
    }
    let v6 = q.from.or(q.to).is_some_and(|a| a.is_ipv6());
    let to = match (q.to, q.from) {
        (Some(t), _) => t,
        (None, Some(f)) if f.is_loopback() => f,
        (None, Some(f)) => address_for(f, addrs).map_or_else(|| fallback(v6), |a| a.addr),
        (None, None) => addrs
            .iter()
            .find(|a| !a.addr.is_loopback() && a.addr.is_ipv6() == v6)
            .map_or_else(|| fallback(v6), |a| a.addr),
    };
    let from = q.from.unwrap_or(if to.is_loopback() {
        to
    } else {
        outside_for(to)
    });
    let iface = q.iface.clone().or_else(|| {
        if from.is_loopback() {
            return Some("lo".to_string());
        }
        addrs.iter().find(|a| a.addr == to).map(|a| a.iface.clone())
    });
    let mut p = Packet::new(proto, from, to, port);
    p.iif = iface;
    p.ct_state = CtState::New;
    Ok(p)
}

fn fallback(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2u16])
    } else {
        IpAddr::from([198, 18, 0, 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<LocalAddr> {
        vec![
            LocalAddr {
                iface: "lo".into(),
                addr: "127.0.0.1".parse().unwrap(),
            },
            LocalAddr {
                iface: "eth0".into(),
                addr: "10.0.0.5".parse().unwrap(),
            },
            LocalAddr {
                iface: "eth1".into(),
                addr: "192.168.1.5".parse().unwrap(),
            },
        ]
    }

    #[test]
    fn peer_uses_the_address_on_its_subnet() {
        let q = Question {
            from: Some("192.168.1.77".parse().unwrap()),
            ..Question::default()
        };
        let p = packet(Proto::Tcp, 80, &q, &addrs()).unwrap();
        assert_eq!(p.dst, "192.168.1.5".parse::<IpAddr>().unwrap());
        assert_eq!(p.iif.as_deref(), Some("eth1"));
        let anyone = packet(Proto::Tcp, 80, &Question::default(), &addrs()).unwrap();
        assert_eq!(anyone.src, OUTSIDE_V4);
        assert_eq!(anyone.iif.as_deref(), Some("eth0"));
    }
}
