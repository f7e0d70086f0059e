//! The packets a change is about: from "anyone" (or the `--from` network) to every address of
//! this machine that a stranger could use (or those of `--iface`).

use portdoctor_firewall::netfilter::build::cidr_range;
use portdoctor_firewall::viewpoint::LocalAddr;
use portdoctor_firewall::{Packet, Proto};
use std::net::IpAddr;

/// Parses `--from`: an address or a CIDR network; `Err` names what is wrong.
pub fn parse_source(text: &str) -> Result<String, String> {
    match cidr_range(text) {
        Some(_) => Ok(text.to_string()),
        None => Err(format!(
            "`{text}` is not an address or network (e.g. 192.0.2.7, 10.0.0.0/8, 2001:db8::/32)"
        )),
    }
}

/// A representative source of a network: its first host (the address itself for one host).
fn representative(from: &str) -> Option<IpAddr> {
    let (v6, lo, hi) = cidr_range(from)?;
    let n = if hi > lo { lo + 1 } else { lo };
    Some(if v6 {
        IpAddr::V6(n.into())
    } else {
        IpAddr::V4((n as u32).into())
    })
}

/// One packet per reachable address of the right family (restricted to `iface` when given);
/// without `from`, the source is `stranger(address, interface)` (see
/// `portdoctor_firewall::host::Host::stranger`).
pub fn packets(
    addrs: &[LocalAddr],
    from: Option<&str>,
    iface: Option<&str>,
    port: u16,
    proto: Proto,
    stranger: &dyn Fn(IpAddr, &str) -> IpAddr,
) -> Vec<Packet> {
    let src = from.and_then(representative);
    addrs
        .iter()
        .filter(|a| !a.addr.is_loopback() && !is_link_local(a.addr))
        .filter(|a| iface.is_none_or(|i| a.iface == i))
        .filter(|a| src.is_none_or(|s| s.is_ipv4() == a.addr.is_ipv4()))
        .map(|a| {
            let s = src.unwrap_or_else(|| stranger(a.addr, &a.iface));
            Packet::new(proto, s, a.addr, port).with_iif(&a.iface)
        })
        .collect()
}

fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portdoctor_firewall::viewpoint::outside_for;

    #[test]
    fn sources_and_packets() {
        assert!(parse_source("10.0.0.0/33").is_err());
        assert!(parse_source("10.0.0.0/8").is_ok());
        let addrs = vec![
            LocalAddr {
                iface: "lo".into(),
                addr: "127.0.0.1".parse().unwrap(),
            },
            LocalAddr {
                iface: "eth0".into(),
                addr: "198.18.0.1".parse().unwrap(),
            },
            LocalAddr {
                iface: "eth0".into(),
                addr: "2001:db8::1".parse().unwrap(),
            },
        ];
        let s = |a: IpAddr, _: &str| outside_for(a);
        let all = packets(&addrs, None, None, 8080, Proto::Tcp, &s);
        assert_eq!(all.len(), 2);
        let net = packets(&addrs, Some("10.0.0.0/24"), None, 8080, Proto::Tcp, &s);
        assert_eq!(net.len(), 1);
        assert_eq!(net[0].src, "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
