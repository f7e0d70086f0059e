//! ICMP errors as the kernel hands them over (Linux `IP_RECVERR` / `IPV6_RECVERR` error
//! queue), decoded without any platform code so the decoding is testable everywhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// One ICMP error the kernel received for a probe's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Icmp {
    /// `true` for ICMPv6.
    pub v6: bool,
    /// ICMP type (3 = destination unreachable in v4, 1 in v6).
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Who sent it (the router or host that rejected the packet), when the kernel says.
    pub from: Option<IpAddr>,
}

impl Icmp {
    /// A stable lower-case name, e.g. `admin-prohibited`, `port-unreachable`.
    pub fn name(&self) -> &'static str {
        match (self.v6, self.icmp_type, self.code) {
            (false, 3, 0) | (false, 3, 6) | (false, 3, 11) => "net-unreachable",
            (false, 3, 1) | (false, 3, 7) | (false, 3, 12) => "host-unreachable",
            (false, 3, 2) => "protocol-unreachable",
            (false, 3, 3) => "port-unreachable",
            (false, 3, 4) => "fragmentation-needed",
            (false, 3, 9) => "net-prohibited",
            (false, 3, 10) => "host-prohibited",
            (false, 3, 13) => "admin-prohibited",
            (false, 11, _) | (true, 3, _) => "time-exceeded",
            (true, 1, 0) => "no-route",
            (true, 1, 1) => "admin-prohibited",
            (true, 1, 2) => "beyond-scope",
            (true, 1, 3) => "address-unreachable",
            (true, 1, 4) => "port-unreachable",
            (true, 1, 5) => "policy-fail",
            (true, 1, 6) => "reject-route",
            _ => "other",
        }
    }
}

/// `SO_EE_ORIGIN_ICMP` and `SO_EE_ORIGIN_ICMP6` from `<linux/errqueue.h>`.
const ORIGIN_ICMP: u8 = 2;
const ORIGIN_ICMP6: u8 = 3;
/// `IP_RECVERR` (level `SOL_IP` = 0) and `IPV6_RECVERR` (level `SOL_IPV6` = 41).
const RECVERR_V4: (i32, i32) = (0, 11);
const RECVERR_V6: (i32, i32) = (41, 25);

/// Decodes the control buffer of a `recvmsg(MSG_ERRQUEUE)` call: a sequence of
/// `cmsghdr { len: usize, level: i32, type: i32 }` + data, each aligned to `word` bytes
/// (the size of `usize` on the platform), whose data is a `sock_extended_err`
/// (`errno: u32, origin: u8, type: u8, code: u8, pad: u8, info: u32, data: u32`)
/// followed by the offender's `sockaddr`. Returns the first ICMP error found; never panics.
pub fn parse_error_queue(control: &[u8], word: usize) -> Option<Icmp> {
    let word = word.max(4);
    let hdr = word + 8;
    let align = |n: usize| n.div_ceil(word).saturating_mul(word);
    let mut off = 0usize;
    while off.checked_add(hdr)? <= control.len() {
        let len = read_len(&control[off..off + word])?;
        let level = i32::from_ne_bytes(control[off + word..off + word + 4].try_into().ok()?);
        let ty = i32::from_ne_bytes(control[off + word + 4..off + hdr].try_into().ok()?);
        if len < hdr || off.checked_add(len)? > control.len() {
            return None;
        }
        let data = &control[off + align(hdr)..off + len];
        if (level, ty) == RECVERR_V4 || (level, ty) == RECVERR_V6 {
            if let Some(icmp) = parse_extended_err(data) {
                return Some(icmp);
            }
        }
        off = off.checked_add(align(len))?;
    }
    None
}

fn read_len(b: &[u8]) -> Option<usize> {
    match b.len() {
        8 => usize::try_from(u64::from_ne_bytes(b.try_into().ok()?)).ok(),
        4 => usize::try_from(u32::from_ne_bytes(b.try_into().ok()?)).ok(),
        _ => None,
    }
}

fn parse_extended_err(d: &[u8]) -> Option<Icmp> {
    if d.len() < 16 {
        return None;
    }
    let (origin, icmp_type, code) = (d[4], d[5], d[6]);
    let v6 = match origin {
        ORIGIN_ICMP => false,
        ORIGIN_ICMP6 => true,
        _ => return None,
    };
    Some(Icmp {
        v6,
        icmp_type,
        code,
        from: parse_sockaddr(&d[16..]),
    })
}

/// `sockaddr_in` (family 2) or `sockaddr_in6` (family 10); the family is host-endian.
fn parse_sockaddr(s: &[u8]) -> Option<IpAddr> {
    let family = u16::from_ne_bytes(s.get(0..2)?.try_into().ok()?);
    match family {
        2 => {
            let a: [u8; 4] = s.get(4..8)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(a)))
        }
        10 => {
            let a: [u8; 16] = s.get(8..24)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(16 + data.len() as u64).to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        while v.len() % 8 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn decodes_admin_prohibited_v4() {
        let mut d = vec![113, 0, 0, 0, ORIGIN_ICMP, 3, 13, 0];
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&2u16.to_ne_bytes());
        d.extend_from_slice(&[0, 0, 198, 18, 0, 1]);
        d.extend_from_slice(&[0; 8]);
        let icmp = parse_error_queue(&cmsg(0, 11, &d), 8).unwrap();
        assert_eq!(icmp.name(), "admin-prohibited");
        assert_eq!(icmp.from, Some("198.18.0.1".parse().unwrap()));
    }

    #[test]
    fn ignores_local_origin_and_garbage() {
        let d = [0u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_error_queue(&cmsg(0, 11, &d), 8), None);
        assert_eq!(parse_error_queue(&[0xff; 40], 8), None);
        assert_eq!(parse_error_queue(&[], 8), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let _ = parse_error_queue(&b, 8);
            let _ = parse_error_queue(&b, 4);
        }
    }
}
