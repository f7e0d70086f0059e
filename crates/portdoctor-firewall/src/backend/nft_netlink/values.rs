//! Data types of keys and values: the nft type ids the kernel stores for sets, their names,
//! byte orders, and how a value is written in nft's JSON.

use super::expr::Data;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, Ipv6Addr};

/// How the bytes of a value are read and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// IPv4 address.
    Ip4,
    /// IPv6 address.
    Ip6,
    /// Transport port (big-endian).
    Port,
    /// IP protocol number.
    Proto,
    /// Netfilter family byte.
    NfProto,
    /// Interface name (NUL-padded).
    Iface,
    /// Interface index (host order), shown by name when it can be resolved.
    IfIndex,
    /// Conntrack state bits (host order).
    CtState,
    /// Conntrack status bits (host order).
    CtStatus,
    /// Routing type of an address (`fib … type`, host order).
    AddrType,
    /// Link-layer packet type.
    PktType,
    /// Ethernet protocol (big-endian).
    EtherType,
    /// TCP flag bits.
    TcpFlags,
    /// ICMP type.
    IcmpType,
    /// ICMPv6 type.
    Icmp6Type,
    /// Integer in host order (marks, lengths after byteorder …).
    Int,
    /// Integer in network order.
    IntBe,
    /// Boolean (`fib … oif missing`): zero is false.
    Bool,
}

/// The nft type id (as stored in `NFTA_SET_KEY_TYPE`) of a type name, and back.
const TYPE_IDS: &[(u32, &str, Ty)] = &[
    (2, "nf_proto", Ty::NfProto),
    (4, "integer", Ty::Int),
    (7, "ipv4_addr", Ty::Ip4),
    (8, "ipv6_addr", Ty::Ip6),
    (10, "ether_type", Ty::EtherType),
    (12, "inet_proto", Ty::Proto),
    (13, "inet_service", Ty::Port),
    (14, "icmp_type", Ty::IcmpType),
    (15, "tcp_flag", Ty::TcpFlags),
    (19, "mark", Ty::Int),
    (20, "iface_index", Ty::IfIndex),
    (26, "ct_state", Ty::CtState),
    (28, "ct_status", Ty::CtStatus),
    (29, "icmpv6_type", Ty::Icmp6Type),
    (31, "pkt_type", Ty::PktType),
    (38, "fib_addrtype", Ty::AddrType),
    (41, "ifname", Ty::Iface),
];

/// Name and value type of a (non-concatenated) type id.
pub fn type_of_id(id: u32) -> Option<(&'static str, Ty)> {
    TYPE_IDS.iter().find(|t| t.0 == id).map(|t| (t.1, t.2))
}

/// Splits a concatenated type id (6 bits per component, first component highest).
pub fn split_type_id(mut id: u32) -> Vec<u32> {
    let mut parts = Vec::new();
    while id != 0 {
        parts.push(id & 0x3f);
        id >>= 6;
    }
    parts.reverse();
    parts
}

/// Width in bytes of a value of type `ty` (`None`: variable).
pub fn width(ty: Ty) -> Option<usize> {
    Some(match ty {
        Ty::Ip4 | Ty::CtState | Ty::CtStatus | Ty::AddrType | Ty::IfIndex => 4,
        Ty::Ip6 => 16,
        Ty::Port | Ty::EtherType => 2,
        Ty::Proto | Ty::NfProto | Ty::PktType | Ty::TcpFlags | Ty::IcmpType | Ty::Icmp6Type => 1,
        Ty::Iface => 16,
        Ty::Int | Ty::IntBe | Ty::Bool => return None,
    })
}

/// Whether the type is stored in network byte order (it sorts as big-endian bytes).
pub fn big_endian(ty: Ty) -> bool {
    matches!(ty, Ty::Ip4 | Ty::Ip6 | Ty::Port | Ty::EtherType | Ty::IntBe)
}

/// The value as an unsigned integer in its type's byte order (at most 16 bytes).
pub fn int(ty: Ty, b: &[u8]) -> u128 {
    let b = &b[..b.len().min(16)];
    if big_endian(ty) {
        b.iter().fold(0u128, |acc, &x| (acc << 8) | x as u128)
    } else {
        b.iter().rev().fold(0u128, |acc, &x| (acc << 8) | x as u128)
    }
}

/// Bytes that sort like nft sorts elements of this type.
pub fn sort_key(ty: Ty, b: &[u8]) -> Vec<u8> {
    if big_endian(ty) {
        b.to_vec()
    } else {
        b.iter().rev().copied().collect()
    }
}

/// Flag-valued types: a match is a bit test, several bits are listed as names.
pub fn is_flags(ty: Ty) -> bool {
    matches!(ty, Ty::CtState | Ty::CtStatus | Ty::TcpFlags)
}

fn flag_name(ty: Ty, bit: u128) -> Option<&'static str> {
    Some(match (ty, bit) {
        (Ty::CtState, 1) => "invalid",
        (Ty::CtState, 2) => "established",
        (Ty::CtState, 4) => "related",
        (Ty::CtState, 8) => "new",
        (Ty::CtState, 64) => "untracked",
        (Ty::CtStatus, 1) => "expected",
        (Ty::CtStatus, 2) => "seen-reply",
        (Ty::CtStatus, 4) => "assured",
        (Ty::CtStatus, 8) => "confirmed",
        (Ty::CtStatus, 16) => "snat",
        (Ty::CtStatus, 32) => "dnat",
        (Ty::CtStatus, 512) => "dying",
        (Ty::TcpFlags, 1) => "fin",
        (Ty::TcpFlags, 2) => "syn",
        (Ty::TcpFlags, 4) => "rst",
        (Ty::TcpFlags, 8) => "psh",
        (Ty::TcpFlags, 16) => "ack",
        (Ty::TcpFlags, 32) => "urg",
        (Ty::TcpFlags, 64) => "ecn",
        (Ty::TcpFlags, 128) => "cwr",
        _ => return None,
    })
}

/// A flag value as nft's JSON writes it: one name, or a list of names for several bits.
pub fn flags_json(ty: Ty, v: u128) -> Value {
    let mut names = Vec::new();
    for i in 0..32 {
        let bit = 1u128 << i;
        if v & bit != 0 {
            match flag_name(ty, bit) {
                Some(n) => names.push(json!(n)),
                None => return json!(v as u64),
            }
        }
    }
    match names.len() {
        0 => json!(0),
        1 => names.remove(0),
        _ => Value::Array(names),
    }
}

fn proto_name(n: u8) -> Option<&'static str> {
    Some(match n {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

fn icmp_type_name(n: u8) -> Option<&'static str> {
    Some(match n {
        0 => "echo-reply",
        3 => "destination-unreachable",
        4 => "source-quench",
        5 => "redirect",
        8 => "echo-request",
        9 => "router-advertisement",
        10 => "router-solicitation",
        11 => "time-exceeded",
        12 => "parameter-problem",
        13 => "timestamp-request",
        14 => "timestamp-reply",
        15 => "info-request",
        16 => "info-reply",
        17 => "address-mask-request",
        18 => "address-mask-reply",
        _ => return None,
    })
}

fn icmp6_type_name(n: u8) -> Option<&'static str> {
    Some(match n {
        1 => "destination-unreachable",
        2 => "packet-too-big",
        3 => "time-exceeded",
        4 => "parameter-problem",
        128 => "echo-request",
        129 => "echo-reply",
        130 => "mld-listener-query",
        131 => "mld-listener-report",
        132 => "mld-listener-done",
        133 => "nd-router-solicit",
        134 => "nd-router-advert",
        135 => "nd-neighbor-solicit",
        136 => "nd-neighbor-advert",
        137 => "nd-redirect",
        138 => "router-renumbering",
        141 => "ind-neighbor-solicit",
        142 => "ind-neighbor-advert",
        143 => "mld2-listener-report",
        _ => return None,
    })
}

fn addr_type_name(n: u128) -> Option<&'static str> {
    Some(match n {
        0 => "unspec",
        1 => "unicast",
        2 => "local",
        3 => "broadcast",
        4 => "anycast",
        5 => "multicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        _ => return None,
    })
}

/// Resolves interface indexes to names (in the namespace that was read).
/// `Sync`: rules are decoded on several threads.
pub type IfResolver<'a> = &'a (dyn Fn(u32) -> Option<String> + Sync);

/// A value of type `ty` in nft JSON. `None` when the bytes do not fit the type.
pub fn to_json(ty: Ty, b: &[u8], ifname: IfResolver<'_>) -> Option<Value> {
    if let Some(w) = width(ty).filter(|_| ty != Ty::Iface) {
        if b.len() < w {
            return None;
        }
    }
    let n = int(ty, b);
    let named = |s: Option<&str>| s.map(|s| json!(s)).unwrap_or(json!(n as u64));
    Some(match ty {
        Ty::Ip4 => json!(Ipv4Addr::from(n as u32).to_string()),
        Ty::Ip6 => json!(Ipv6Addr::from(n).to_string()),
        Ty::Port | Ty::IntBe => json!(n as u64),
        Ty::Bool => json!(n != 0),
        Ty::Int if b.len() > 8 => return None,
        Ty::Int => json!(n as u64),
        Ty::Proto => named(proto_name(b[0])),
        Ty::NfProto => named(match b[0] {
            2 => Some("ipv4"),
            10 => Some("ipv6"),
            _ => None,
        }),
        Ty::Iface => json!(iface_name(b)?),
        Ty::IfIndex => match ifname(n as u32) {
            Some(name) => json!(name),
            None => json!(n as u64),
        },
        Ty::CtState | Ty::CtStatus | Ty::TcpFlags => flags_json(ty, n),
        Ty::AddrType => named(addr_type_name(n)),
        Ty::PktType => named(match n {
            0 => Some("host"),
            1 => Some("broadcast"),
            2 => Some("multicast"),
            3 => Some("other"),
            _ => None,
        }),
        Ty::EtherType => named(match n {
            0x0800 => Some("ip"),
            0x86dd => Some("ip6"),
            0x0806 => Some("arp"),
            0x8100 => Some("8021q"),
            _ => None,
        }),
        Ty::IcmpType => named(icmp_type_name(b[0])),
        Ty::Icmp6Type => named(icmp6_type_name(b[0])),
    })
}

/// An interface name: up to the first NUL; a name without NUL shorter than 16 bytes is a
/// prefix (`eth*`).
fn iface_name(b: &[u8]) -> Option<String> {
    let s = match b.iter().position(|&x| x == 0) {
        Some(end) => String::from_utf8(b[..end].to_vec())
            .ok()?
            .replace('*', "\\*"),
        None if b.len() < 16 => format!(
            "{}*",
            String::from_utf8(b.to_vec()).ok()?.replace('*', "\\*")
        ),
        None => String::from_utf8(b.to_vec()).ok()?,
    };
    Some(s)
}

/// Prefix length when `mask` (big-endian bytes) is a contiguous run of leading ones.
pub fn prefix_len(mask: &[u8]) -> Option<u32> {
    let mut len = 0;
    let mut ended = false;
    for &b in mask {
        for i in (0..8).rev() {
            let one = b >> i & 1 == 1;
            if one && ended {
                return None;
            }
            if one {
                len += 1;
            } else {
                ended = true;
            }
        }
    }
    Some(len)
}

/// An expression that is not decoded, named: an unmodelled match.
pub fn raw(text: String) -> Value {
    json!({ "nl_raw": text })
}

/// A verdict or packet rewrite that is not decoded: an unmodelled action.
pub fn raw_action(text: String) -> Value {
    json!({ "nl_raw_action": text })
}

/// A verdict as nft's JSON writes it (unknown codes: an unmodelled action).
pub fn verdict(code: i32, chain: Option<&str>) -> Value {
    match (code, chain) {
        (1, _) => json!({"accept": null}),
        (0, _) => json!({"drop": null}),
        (-1, _) => json!({"continue": null}),
        (-5, _) => json!({"return": null}),
        (-3, Some(c)) => json!({"jump": {"target": c}}),
        (-4, Some(c)) => json!({"goto": {"target": c}}),
        (c, _) => raw_action(format!("verdict code {c}")),
    }
}

/// JSON of verdict data.
pub fn verdict_json(d: &Data) -> Value {
    match d {
        Data::Verdict(code, chain) => verdict(*code, chain.as_deref()),
        Data::Value(_) => raw("map data is not a verdict".into()),
    }
}
