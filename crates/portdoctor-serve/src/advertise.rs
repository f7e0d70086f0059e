//! The address to register: a concrete one a peer would use, never the wildcard the service
//! is bound to (Consul refuses 0.0.0.0 and `::` with "Invalid service address").

use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// The chosen address and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advertised {
    /// The address registered.
    pub address: IpAddr,
    /// Why this one, in a sentence.
    pub why: String,
}

/// What the machine knows about its addresses.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    /// Non-loopback addresses with their interface, in the system's order.
    pub local: Vec<(String, IpAddr)>,
    /// The source address of the route to the registry, when it is not on loopback.
    pub towards_registry: Option<IpAddr>,
    /// The source address of the default route.
    pub default_route: Option<IpAddr>,
}

impl Addresses {
    /// Reads them from the system (no packet is sent: connecting a UDP socket only picks a
    /// route).
    pub fn read(registry: Option<&str>) -> Addresses {
        let local = if_addrs::get_if_addrs()
            .unwrap_or_default()
            .into_iter()
            .filter(|i| !i.ip().is_loopback())
            .map(|i| (i.name.clone(), i.ip()))
            .collect();
        let towards_registry = registry
            .and_then(|r| std::net::ToSocketAddrs::to_socket_addrs(r).ok()?.next())
            .filter(|a| !a.ip().is_loopback())
            .and_then(|a| route_source(a.ip()));
        let default_route = route_source(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
            .or_else(|| route_source(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))));
        Addresses {
            local,
            towards_registry,
            default_route,
        }
    }
}

/// The local address the kernel would send from to reach `dst`.
fn route_source(dst: IpAddr) -> Option<IpAddr> {
    let any = match dst {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    s.connect(SocketAddr::new(dst, 9)).ok()?;
    Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified() && !ip.is_loopback())
}

/// Chooses the address to register for a service bound to `bound`, or `requested` by the
/// user (a wildcard there is corrected, and the reason says so).
pub fn choose(requested: Option<IpAddr>, bound: IpAddr, a: &Addresses) -> Advertised {
    if let Some(ip) = requested.filter(|ip| !ip.is_unspecified()) {
        return Advertised {
            address: ip,
            why: "given with --address".into(),
        };
    }
    let wildcard = requested.unwrap_or(bound);
    if !wildcard.is_unspecified() {
        return Advertised {
            address: bound,
            why: format!(
                "the address the service is bound to{}",
                loopback_note(bound)
            ),
        };
    }
    let (address, how) = pick(a);
    Advertised {
        address,
        why: format!(
            "{wildcard} is a wildcard, which registries refuse (Consul: \"Invalid service \
             address\"); {how}"
        ),
    }
}

fn pick(a: &Addresses) -> (IpAddr, String) {
    if let Some(ip) = a.towards_registry {
        return (
            ip,
            format!("{ip} is the address this machine reaches the registry from"),
        );
    }
    if let Some(ip) = a.default_route {
        return (
            ip,
            format!("{ip} is the source address of the default route"),
        );
    }
    let first = a
        .local
        .iter()
        .find(|(_, ip)| ip.is_ipv4())
        .or_else(|| a.local.iter().find(|(_, ip)| !is_link_local(ip)));
    match first {
        Some((iface, ip)) => (*ip, format!("{ip} is the first address of {iface}")),
        None => {
            let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
            (
                ip,
                format!("{ip}: this machine has no other address, so peers cannot use it"),
            )
        }
    }
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn loopback_note(ip: IpAddr) -> &'static str {
    if ip.is_loopback() {
        " (loopback: only this machine can use it)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn wildcard_is_corrected_with_a_reason() {
        let a = Addresses {
            local: vec![
                ("fe".into(), ip("fe80::1")),
                ("veth-h".into(), ip("198.18.1.1")),
            ],
            ..Addresses::default()
        };
        let got = choose(Some(ip("0.0.0.0")), ip("::"), &a);
        assert_eq!(got.address, ip("198.18.1.1"));
        assert!(
            got.why.contains("0.0.0.0 is a wildcard") && got.why.contains("veth-h"),
            "{}",
            got.why
        );
        let routed = Addresses {
            default_route: Some(ip("10.0.0.5")),
            ..a.clone()
        };
        assert_eq!(choose(None, ip("::"), &routed).address, ip("10.0.0.5"));
        let reg = Addresses {
            towards_registry: Some(ip("10.1.0.5")),
            ..routed
        };
        assert_eq!(choose(None, ip("::"), &reg).address, ip("10.1.0.5"));
    }

    #[test]
    fn concrete_addresses_are_kept() {
        let a = Addresses::default();
        assert_eq!(
            choose(Some(ip("10.0.0.9")), ip("::"), &a).address,
            ip("10.0.0.9")
        );
        let lo = choose(None, ip("127.0.0.1"), &a);
        assert!(lo.why.contains("loopback"));
        assert_eq!(choose(None, ip("::"), &a).address, ip("127.0.0.1"));
    }
}
