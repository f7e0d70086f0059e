//! Address and port ranges shared by the Windows and pf engines: single addresses, CIDR
//! prefixes (`10/8` style shorthand included) and `a-b` ranges, as inclusive intervals.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpRange {
    /// First address.
    pub lo: IpAddr,
    /// Last address.
    pub hi: IpAddr,
}

impl IpRange {
    /// One address.
    pub fn single(a: IpAddr) -> IpRange {
        IpRange { lo: a, hi: a }
    }

    /// Whether `a` lies in the range (never across families).
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.lo, self.hi, a) {
            (IpAddr::V4(lo), IpAddr::V4(hi), IpAddr::V4(x)) => lo <= x && x <= hi,
            (IpAddr::V6(lo), IpAddr::V6(hi), IpAddr::V6(x)) => lo <= x && x <= hi,
            _ => false,
        }
    }

    /// A prefix `addr/len` as a range; `None` when `len` is too long for the family.
    pub fn prefix(addr: IpAddr, len: u8) -> Option<IpRange> {
        match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return None;
                }
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let lo = u32::from(a) & mask;
                Some(IpRange {
                    lo: IpAddr::V4(Ipv4Addr::from(lo)),
                    hi: IpAddr::V4(Ipv4Addr::from(lo | !mask)),
                })
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return None;
                }
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                let lo = u128::from(a) & mask;
                Some(IpRange {
                    lo: IpAddr::V6(Ipv6Addr::from(lo)),
                    hi: IpAddr::V6(Ipv6Addr::from(lo | !mask)),
                })
            }
        }
    }

    /// Parses `ADDR`, `ADDR/LEN`, `ADDR/MASK` (dotted IPv4 mask), `LO-HI`, and the BSD
    /// shorthand `10/8`, `172.16/12`. `None` when it is none of these.
    pub fn parse(s: &str) -> Option<IpRange> {
        let s = s.trim();
        if let Some((lo, hi)) = s.split_once('-') {
            let lo: IpAddr = lo.trim().parse().ok()?;
            let hi: IpAddr = hi.trim().parse().ok()?;
            return (lo.is_ipv4() == hi.is_ipv4()).then_some(IpRange { lo, hi });
        }
        let Some((a, len)) = s.split_once('/') else {
            return parse_addr(s).map(IpRange::single);
        };
        let addr = parse_addr(a)?;
        if let Ok(n) = len.parse::<u8>() {
            return IpRange::prefix(addr, n);
        }
        let mask: Ipv4Addr = len.parse().ok()?;
        let bits = u32::from(mask);
        let n = bits.leading_ones();
        (bits.count_ones() == n).then(|| IpRange::prefix(addr, n as u8))?
    }
}

/// An address, accepting the BSD shorthand of fewer than four IPv4 octets (`10` = 10.0.0.0).
fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(a);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        octets[i] = p.parse().ok()?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// An inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortSpan {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortSpan {
    /// Whether `p` is in the span.
    pub fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }

    /// Parses `N` or `LO-HI`.
    pub fn parse(s: &str) -> Option<PortSpan> {
        let s = s.trim();
        match s.split_once('-') {
            Some((a, b)) => {
                let (lo, hi) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                (lo <= hi).then_some(PortSpan { lo, hi })
            }
            None => s.parse().ok().map(|p| PortSpan { lo: p, hi: p }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = IpRange::parse("172.16/12").unwrap();
        assert!(r.contains("172.31.255.255".parse().unwrap()));
        assert!(!r.contains("172.32.0.0".parse().unwrap()));
        assert!(
            IpRange::parse("10.0.0.0/255.0.0.0")
                .unwrap()
                .contains("10.9.9.9".parse().unwrap())
        );
        assert!(
            IpRange::parse("fe80::/10")
                .unwrap()
                .contains("fe80::1".parse().unwrap())
        );
        assert!(
            IpRange::parse("10.0.0.1-10.0.0.5")
                .unwrap()
                .contains("10.0.0.3".parse().unwrap())
        );
        assert!(IpRange::parse("10.0.0.0/33").is_none());
        assert!(IpRange::parse("nonsense").is_none());
        assert_eq!(
            PortSpan::parse("5900-5909"),
            Some(PortSpan { lo: 5900, hi: 5909 })
        );
    }
}
