//! Header fields of payload expressions: which protocol field a `payload load` of
//! (base, offset, length) reads, as nft names it.

use super::values::Ty;

/// A named header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named {
    /// Protocol (`ip`, `tcp`, `th` …).
    pub proto: &'static str,
    /// Field (`saddr`, `dport` …).
    pub field: &'static str,
    /// Value type.
    pub ty: Ty,
    /// Full length of the field in bytes.
    pub len: u32,
}

/// (offset, length, name, type) of each field of a header.
type Fields = &'static [(u32, u32, &'static str, Ty)];

const IP: Fields = &[
    (2, 2, "length", Ty::IntBe),
    (4, 2, "id", Ty::IntBe),
    (6, 2, "frag-off", Ty::IntBe),
    (8, 1, "ttl", Ty::IntBe),
    (9, 1, "protocol", Ty::Proto),
    (10, 2, "checksum", Ty::IntBe),
    (12, 4, "saddr", Ty::Ip4),
    (16, 4, "daddr", Ty::Ip4),
];
const IP6: Fields = &[
    (4, 2, "length", Ty::IntBe),
    (6, 1, "nexthdr", Ty::Proto),
    (7, 1, "hoplimit", Ty::IntBe),
    (8, 16, "saddr", Ty::Ip6),
    (24, 16, "daddr", Ty::Ip6),
];
const TCP: Fields = &[
    (0, 2, "sport", Ty::Port),
    (2, 2, "dport", Ty::Port),
    (4, 4, "sequence", Ty::IntBe),
    (8, 4, "ackseq", Ty::IntBe),
    (13, 1, "flags", Ty::TcpFlags),
    (14, 2, "window", Ty::IntBe),
    (16, 2, "checksum", Ty::IntBe),
    (18, 2, "urgptr", Ty::IntBe),
];
const UDP: Fields = &[
    (0, 2, "sport", Ty::Port),
    (2, 2, "dport", Ty::Port),
    (4, 2, "length", Ty::IntBe),
    (6, 2, "checksum", Ty::IntBe),
];
const PORTS: Fields = &[(0, 2, "sport", Ty::Port), (2, 2, "dport", Ty::Port)];
const ICMP: Fields = &[
    (0, 1, "type", Ty::IcmpType),
    (1, 1, "code", Ty::IntBe),
    (2, 2, "checksum", Ty::IntBe),
];
const ICMP6: Fields = &[
    (0, 1, "type", Ty::Icmp6Type),
    (1, 1, "code", Ty::IntBe),
    (2, 2, "checksum", Ty::IntBe),
];

/// The transport protocol name nft uses for an IP protocol number, with its fields.
pub fn transport(proto: u8) -> Option<(&'static str, Fields)> {
    Some(match proto {
        6 => ("tcp", TCP),
        17 => ("udp", UDP),
        136 => ("udplite", UDP),
        132 => ("sctp", PORTS),
        33 => ("dccp", PORTS),
        1 => ("icmp", ICMP),
        58 => ("icmpv6", ICMP6),
        _ => return None,
    })
}

/// The network protocol (`ip`, `ip6`) for an nfproto value, with its fields.
pub fn network(nfproto: u8) -> Option<(&'static str, Fields)> {
    match nfproto {
        2 => Some(("ip", IP)),
        10 => Some(("ip6", IP6)),
        _ => None,
    }
}

/// The field of `proto` read by a load at `offset` of `len` bytes: exact, or a leading part
/// of an address field (a prefix load).
pub fn lookup(proto: &'static str, table: Fields, offset: u32, len: u32) -> Option<Named> {
    table.iter().find_map(|&(o, l, field, ty)| {
        let prefix = matches!(ty, Ty::Ip4 | Ty::Ip6) && len < l && len > 0;
        (o == offset && (l == len || prefix)).then_some(Named {
            proto,
            field,
            ty,
            len: l,
        })
    })
}

/// `th sport` / `th dport` when no transport protocol is known.
pub fn th(offset: u32, len: u32) -> Option<Named> {
    lookup("th", PORTS, offset, len)
}
