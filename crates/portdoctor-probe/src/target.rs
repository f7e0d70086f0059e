//! Target syntax: `HOST:PORT`, `[V6]:PORT`, `HOST:PORT/udp` for probes and waits;
//! `HOST`, `ADDR/PREFIX` for scans; plus name resolution.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::error::ProbeError;

/// Transport protocol of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP connect probe.
    Tcp,
    /// UDP datagram probe.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// A host as written: a literal address or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A literal IPv4 or IPv6 address.
    Addr(IpAddr),
    /// A DNS name (or anything `getaddrinfo` understands, like `localhost`).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Addr(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Addr(a) => write!(f, "{a}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// One `HOST:PORT[/proto]` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host.
    pub host: Host,
    /// The port (1-65535).
    pub port: u16,
    /// The protocol (`/udp` suffix; TCP otherwise).
    pub proto: Proto,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)?;
        if self.proto == Proto::Udp {
            f.write_str("/udp")?;
        }
        Ok(())
    }
}

/// Parses `HOST:PORT`, `[V6ADDR]:PORT`, with an optional `/tcp` or `/udp` suffix.
pub fn parse_endpoint(input: &str) -> Result<Endpoint, ProbeError> {
    let bad = |reason: &str| ProbeError::InvalidTarget {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let (rest, proto) = match input.rsplit_once('/') {
        Some((r, p)) if p.eq_ignore_ascii_case("udp") => (r, Proto::Udp),
        Some((r, p)) if p.eq_ignore_ascii_case("tcp") => (r, Proto::Tcp),
        Some(_) => return Err(bad("the protocol suffix must be /tcp or /udp")),
        None => (input, Proto::Tcp),
    };
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let (addr, tail) = after
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
        let ip: Ipv6Addr = addr
            .parse()
            .map_err(|_| bad("not an IPv6 address inside [ ]"))?;
        let port = tail
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':PORT' after ']'"))?;
        (Host::Addr(IpAddr::V6(ip)), port)
    } else {
        let (h, p) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT"))?;
        if h.contains(':') {
            return Err(bad("write IPv6 addresses in brackets: [ADDR]:PORT"));
        }
        (parse_host(h).map_err(|r| bad(&r))?, p)
    };
    let port = parse_port_number(port).ok_or_else(|| bad("the port must be a number 1-65535"))?;
    Ok(Endpoint { host, port, proto })
}

fn parse_port_number(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// Parses a bare host (address or name); brackets around an IPv6 address are allowed.
pub fn parse_host(s: &str) -> Result<Host, String> {
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if s.is_empty() {
        return Err("empty host".into());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Host::Addr(ip));
    }
    let valid = s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(Host::Name(s.to_string()))
    } else {
        Err(format!("{s:?} is neither an IP address nor a host name"))
    }
}

/// A scan target: one host, or every address of a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanTarget {
    /// One host.
    Host(Host),
    /// A network: base address (masked) and prefix length.
    Range(IpAddr, u8),
}

/// Default cap on the number of hosts a CIDR range may expand to (a /20 in IPv4).
pub const MAX_RANGE_HOSTS: u128 = 4096;

/// Parses `HOST`, `ADDR/PREFIX` (IPv4 or IPv6). The range is checked against `max_hosts`.
pub fn parse_scan_target(input: &str, max_hosts: u128) -> Result<ScanTarget, ProbeError> {
    let bad = |reason: String| ProbeError::InvalidTarget {
        input: input.to_string(),
        reason,
    };
    let Some((addr, prefix)) = input.split_once('/') else {
        return parse_host(input).map(ScanTarget::Host).map_err(bad);
    };
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| bad("a CIDR range needs an IP address before '/'".into()))?;
    let max_prefix = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= max_prefix)
        .ok_or_else(|| bad(format!("the prefix length must be 0-{max_prefix}")))?;
    let hosts = 1u128
        .checked_shl(u32::from(max_prefix - prefix))
        .unwrap_or(u128::MAX);
    if hosts > max_hosts {
        return Err(ProbeError::TooManyHosts {
            range: input.to_string(),
            hosts,
            max: max_hosts,
        });
    }
    Ok(ScanTarget::Range(mask(ip, prefix), prefix))
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

/// Every address of a range (including network and broadcast addresses, as nmap does).
pub fn range_addrs(base: IpAddr, prefix: u8) -> Vec<IpAddr> {
    match base {
        IpAddr::V4(a) => {
            let n = 1u64 << (32 - u32::from(prefix.min(32)));
            (0..n)
                .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(i as u32))))
                .collect()
        }
        IpAddr::V6(a) => {
            let bits = 128 - u32::from(prefix.min(128));
            let n = if bits >= 64 { u64::MAX } else { 1u64 << bits };
            (0..n.min(1 << 20))
                .map(|i| IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(u128::from(i)))))
                .collect()
        }
    }
}

/// Resolves a host to its addresses, in the resolver's preference order.
pub async fn resolve(host: &Host) -> Result<Vec<IpAddr>, ProbeError> {
    match host {
        Host::Addr(a) => Ok(vec![*a]),
        Host::Name(name) => {
            let addrs = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|source| ProbeError::Resolve {
                    host: name.clone(),
                    source,
                })?;
            let mut out: Vec<IpAddr> = Vec::new();
            for a in addrs {
                if !out.contains(&a.ip()) {
                    out.push(a.ip());
                }
            }
            if out.is_empty() {
                return Err(ProbeError::NoAddress { host: name.clone() });
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = parse_endpoint("example.com:443").unwrap();
        assert_eq!(e.host, Host::Name("example.com".into()));
        assert_eq!((e.port, e.proto), (443, Proto::Tcp));
        let e = parse_endpoint("[::1]:53/udp").unwrap();
        assert_eq!(e.host, Host::Addr("::1".parse().unwrap()));
        assert_eq!((e.port, e.proto), (53, Proto::Udp));
        assert_eq!(e.to_string(), "[::1]:53/udp");
        let e = parse_endpoint("127.0.0.1:80/tcp").unwrap();
        assert_eq!(e.to_string(), "127.0.0.1:80");
        for bad in [
            "::1:80",
            "host",
            "host:0",
            "host:65536",
            "[::1]80",
            "[zz]:1",
            "h:1/sctp",
            ":80",
            "a b:80",
            "[::1:80",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let t = parse_scan_target("198.18.0.77/30", MAX_RANGE_HOSTS).unwrap();
        assert_eq!(t, ScanTarget::Range("198.18.0.76".parse().unwrap(), 30));
        assert_eq!(range_addrs("198.18.0.76".parse().unwrap(), 30).len(), 4);
        assert!(matches!(
            parse_scan_target("10.0.0.0/8", MAX_RANGE_HOSTS),
            Err(ProbeError::TooManyHosts {
                hosts: 16777216,
                ..
            })
        ));
        assert!(parse_scan_target("2001:2::/116", MAX_RANGE_HOSTS).is_ok());
        assert!(parse_scan_target("2001:2::/64", MAX_RANGE_HOSTS).is_err());
        assert!(parse_scan_target("::/0", MAX_RANGE_HOSTS).is_err());
        assert!(parse_scan_target("1.2.3.4/33", MAX_RANGE_HOSTS).is_err());
        assert!(parse_scan_target("name/24", MAX_RANGE_HOSTS).is_err());
        assert_eq!(
            parse_scan_target("localhost", MAX_RANGE_HOSTS).unwrap(),
            ScanTarget::Host(Host::Name("localhost".into()))
        );
        assert_eq!(
            range_addrs("2001:2::".parse().unwrap(), 127),
            vec![
                "2001:2::".parse::<IpAddr>().unwrap(),
                "2001:2::1".parse().unwrap()
            ]
        );
        assert_eq!(range_addrs("1.2.3.4".parse().unwrap(), 32).len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_endpoint(&s);
            let _ = parse_scan_target(&s, MAX_RANGE_HOSTS);
        }
    }
}
