//! Shared name tables: protocols, conntrack states, address types, TCP flags, reject kinds,
//! chain priorities, well-known services.

use crate::model::{Elem, RejectKind};

/// nft priority names for the ip/ip6/inet families.
pub fn priority_name(s: &str) -> Option<i32> {
    let (base, off) = match s.split_once(['+', '-']) {
        Some((b, o)) => {
            let o: i32 = o.trim().parse().ok()?;
            (b.trim(), if s.contains('-') { -o } else { o })
        }
        None => (s.trim(), 0),
    };
    let b = match base {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        _ => base.parse().ok()?,
    };
    Some(b + off)
}

/// An IPv4 (`v6` false) or IPv6 address as a number, for ranges and prefixes.
pub fn addr_value(a: &str, v6: bool) -> Option<u128> {
    if v6 {
        a.parse::<std::net::Ipv6Addr>().ok().map(u128::from)
    } else {
        a.parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|x| u128::from(u32::from(x)))
    }
}

/// Inclusive range covered by `base/len` in a `bits`-wide address space.
pub fn prefix_range(base: u128, len: u32, bits: u32) -> Elem {
    let len = len.min(bits);
    let host = bits - len;
    let width_mask: u128 = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    let host_mask: u128 = if host == 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    };
    let lo = base & !host_mask & width_mask;
    Elem::Range(lo, lo | host_mask)
}

/// IP protocol number for a name.
pub fn proto_number(s: &str) -> Option<u8> {
    Some(match s.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        "dccp" => 33,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "igmp" => 2,
        "ipip" => 4,
        "ipv6" => 41,
        n => return n.parse().ok(),
    })
}

/// Protocol name for a number (for printing).
pub fn proto_name(n: u8) -> String {
    match n {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "ipv6-icmp".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        33 => "dccp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        2 => "igmp".into(),
        n => n.to_string(),
    }
}

/// Conntrack state bit for a name (either case).
pub fn ct_state_bit(s: &str) -> Option<u128> {
    Some(match s.to_ascii_lowercase().as_str() {
        "invalid" => 1,
        "established" => 2,
        "related" => 4,
        "new" => 8,
        "untracked" => 64,
        _ => return None,
    })
}

/// Conntrack state name (upper case, iptables style) for a bit.
pub fn ct_state_name(bit: u128) -> Option<&'static str> {
    Some(match bit {
        1 => "INVALID",
        2 => "ESTABLISHED",
        4 => "RELATED",
        8 => "NEW",
        64 => "UNTRACKED",
        _ => return None,
    })
}

/// Routing type number for an address type name (either case).
pub fn addr_type(s: &str) -> Option<u128> {
    Some(match s.to_ascii_lowercase().as_str() {
        "unspec" => 0,
        "unicast" => 1,
        "local" => 2,
        "broadcast" => 3,
        "anycast" => 4,
        "multicast" => 5,
        "blackhole" => 6,
        "unreachable" => 7,
        "prohibit" => 8,
        "throw" => 9,
        "nat" => 10,
        "xresolve" => 11,
        _ => return None,
    })
}

/// Address type name (upper case) for a number.
pub fn addr_type_name(n: u128) -> &'static str {
    match n {
        0 => "UNSPEC",
        1 => "UNICAST",
        2 => "LOCAL",
        3 => "BROADCAST",
        4 => "ANYCAST",
        5 => "MULTICAST",
        6 => "BLACKHOLE",
        7 => "UNREACHABLE",
        8 => "PROHIBIT",
        9 => "THROW",
        10 => "NAT",
        _ => "XRESOLVE",
    }
}

/// TCP flag bit for a name (either case).
pub fn tcp_flag(s: &str) -> Option<u128> {
    Some(match s.to_ascii_lowercase().as_str() {
        "fin" => 0x01,
        "syn" => 0x02,
        "rst" => 0x04,
        "psh" => 0x08,
        "ack" => 0x10,
        "urg" => 0x20,
        "ecn" | "ece" => 0x40,
        "cwr" => 0x80,
        "all" => 0xff,
        "none" => 0,
        _ => return None,
    })
}

/// iptables TCP flag names for a bit mask.
pub fn tcp_flags_names(bits: u128) -> String {
    if bits == 0 {
        return "NONE".into();
    }
    let names = [
        (0x01, "FIN"),
        (0x02, "SYN"),
        (0x04, "RST"),
        (0x08, "PSH"),
        (0x10, "ACK"),
        (0x20, "URG"),
        (0x40, "ECE"),
        (0x80, "CWR"),
    ];
    names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// Well-known service names nft may print instead of port numbers.
pub fn service_port(s: &str) -> Option<u16> {
    Some(match s {
        "ssh" => 22,
        "http" => 80,
        "https" => 443,
        "domain" => 53,
        "smtp" => 25,
        "ftp" => 21,
        "telnet" => 23,
        "ntp" => 123,
        "bootps" => 67,
        "bootpc" => 68,
        "dhcpv6-client" => 546,
        "dhcpv6-server" => 547,
        "imap" => 143,
        "pop3" => 110,
        "mysql" => 3306,
        "postgresql" => 5432,
        "http-alt" => 8080,
        _ => return s.parse().ok(),
    })
}

/// Reject kind for an ICMP/ICMPv6/icmpx code name or an iptables `--reject-with` value.
pub fn reject_kind(s: &str) -> RejectKind {
    match s {
        "tcp-reset" | "tcp reset" => RejectKind::TcpReset,
        "port-unreachable" | "icmp-port-unreachable" | "icmp6-port-unreachable" => {
            RejectKind::PortUnreachable
        }
        "admin-prohibited"
        | "icmp-admin-prohibited"
        | "icmp6-adm-prohibited"
        | "adm-prohibited" => RejectKind::AdminProhibited,
        "host-unreachable" | "icmp-host-unreachable" => RejectKind::HostUnreachable,
        "net-unreachable" | "icmp-net-unreachable" => RejectKind::NetUnreachable,
        "prot-unreachable" | "icmp-proto-unreachable" => RejectKind::ProtoUnreachable,
        "host-prohibited" | "icmp-host-prohibited" => RejectKind::HostProhibited,
        "net-prohibited" | "icmp-net-prohibited" => RejectKind::NetProhibited,
        "no-route" | "icmp6-no-route" => RejectKind::NoRoute,
        "addr-unreachable" | "icmp6-addr-unreachable" => RejectKind::AddrUnreachable,
        o => RejectKind::Other(o.to_string()),
    }
}

/// iptables `--reject-with` name for a kind (IPv4 or IPv6 spelling).
pub fn reject_with_name(k: &RejectKind, v6: bool) -> String {
    let s = match (k, v6) {
        (RejectKind::TcpReset, _) => "tcp-reset",
        (RejectKind::PortUnreachable, false) => "icmp-port-unreachable",
        (RejectKind::PortUnreachable, true) => "icmp6-port-unreachable",
        (RejectKind::AdminProhibited, false) => "icmp-admin-prohibited",
        (RejectKind::AdminProhibited, true) => "icmp6-adm-prohibited",
        (RejectKind::HostUnreachable, _) => "icmp-host-unreachable",
        (RejectKind::NetUnreachable, _) => "icmp-net-unreachable",
        (RejectKind::ProtoUnreachable, _) => "icmp-proto-unreachable",
        (RejectKind::HostProhibited, _) => "icmp-host-prohibited",
        (RejectKind::NetProhibited, _) => "icmp-net-prohibited",
        (RejectKind::NoRoute, _) => "icmp6-no-route",
        (RejectKind::AddrUnreachable, _) => "icmp6-addr-unreachable",
        (RejectKind::Other(o), _) => return o.clone(),
    };
    s.to_string()
}

/// iptables targets known not to end rule traversal and not to affect later matches we model.
pub fn non_terminal_target(name: &str) -> bool {
    matches!(
        name,
        "LOG"
            | "NFLOG"
            | "ULOG"
            | "TRACE"
            | "AUDIT"
            | "CLASSIFY"
            | "DSCP"
            | "TOS"
            | "TCPMSS"
            | "TTL"
            | "HL"
            | "CHECKSUM"
            | "SET"
            | "SECMARK"
            | "CONNSECMARK"
            | "IDLETIMER"
            | "LED"
            | "TEE"
            | "RATEEST"
            | "TCPOPTSTRIP"
            | "ECN"
    )
}

/// Packet type number for a name (`meta pkttype`, `-m pkttype`).
pub fn pkt_type(s: &str) -> Option<u128> {
    Some(match s.to_ascii_lowercase().as_str() {
        "host" | "unicast" => 0,
        "broadcast" => 1,
        "multicast" => 2,
        "other" => 3,
        _ => return None,
    })
}

/// Packet type name (iptables spelling) for a number.
pub fn pkt_type_name(n: u128) -> &'static str {
    match n {
        0 => "unicast",
        1 => "broadcast",
        2 => "multicast",
        _ => "other",
    }
}

/// Conntrack status bit for a name.
pub fn ct_status(s: &str) -> Option<u128> {
    Some(match s.to_ascii_lowercase().as_str() {
        "expected" => 1,
        "seen-reply" => 2,
        "assured" => 4,
        "confirmed" => 8,
        "snat" => 16,
        "dnat" => 32,
        "dying" => 512,
        _ => return None,
    })
}
