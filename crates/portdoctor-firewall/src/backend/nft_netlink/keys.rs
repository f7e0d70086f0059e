//! Names nft gives to kernel numbers that `lower` meets: comparison operators, meta and ct
//! keys, fib results, reject codes; the JSON of log and limit statements.

use super::expr::Expr;
use super::values::Ty;
use serde_json::{Value, json};

/// `cmp` operator → nft's JSON operator.
pub fn op_name(op: u32) -> Option<&'static str> {
    Some(match op {
        0 => "==",
        1 => "!=",
        2 => "<",
        3 => "<=",
        4 => ">",
        5 => ">=",
        _ => return None,
    })
}

/// `NFT_META_*` → nft's key name and value type.
pub fn meta_key(key: u32) -> Option<(&'static str, Ty)> {
    Some(match key {
        0 => ("length", Ty::Int),
        1 => ("protocol", Ty::EtherType),
        2 => ("priority", Ty::Int),
        3 => ("mark", Ty::Int),
        4 => ("iif", Ty::IfIndex),
        5 => ("oif", Ty::IfIndex),
        6 => ("iifname", Ty::Iface),
        7 => ("oifname", Ty::Iface),
        8 => ("iiftype", Ty::Int),
        9 => ("oiftype", Ty::Int),
        10 => ("skuid", Ty::Int),
        11 => ("skgid", Ty::Int),
        12 => ("nftrace", Ty::Int),
        13 => ("rtclassid", Ty::Int),
        14 => ("secmark", Ty::Int),
        15 => ("nfproto", Ty::NfProto),
        16 => ("l4proto", Ty::Proto),
        17 => ("ibrname", Ty::Iface),
        18 => ("obrname", Ty::Iface),
        19 => ("pkttype", Ty::PktType),
        20 => ("cpu", Ty::Int),
        21 => ("iifgroup", Ty::Int),
        22 => ("oifgroup", Ty::Int),
        23 => ("cgroup", Ty::Int),
        24 => ("random", Ty::Int),
        26 => ("iifkind", Ty::Iface),
        27 => ("oifkind", Ty::Iface),
        33 => ("sdif", Ty::IfIndex),
        34 => ("sdifname", Ty::Iface),
        _ => return None,
    })
}

/// `NFT_CT_*` → nft's key name and value type.
pub fn ct_key(key: u32) -> Option<(&'static str, Ty)> {
    Some(match key {
        0 => ("state", Ty::CtState),
        1 => ("direction", Ty::Int),
        2 => ("status", Ty::CtStatus),
        3 => ("mark", Ty::Int),
        4 => ("secmark", Ty::Int),
        5 => ("expiration", Ty::Int),
        6 => ("helper", Ty::Iface),
        7 => ("l3proto", Ty::NfProto),
        10 => ("protocol", Ty::Proto),
        11 => ("proto-src", Ty::Port),
        12 => ("proto-dst", Ty::Port),
        14 => ("packets", Ty::Int),
        15 => ("bytes", Ty::Int),
        16 => ("avgpkt", Ty::Int),
        17 => ("zone", Ty::Int),
        23 => ("id", Ty::Int),
        _ => return None,
    })
}

/// `NFTA_FIB_F_PRESENT`: the result is whether the lookup found something.
pub const FIB_PRESENT: u32 = 32;

/// `NFT_FIB_RESULT_*` → nft's name.
pub fn fib_result(r: u32) -> Option<&'static str> {
    Some(match r {
        1 => "oif",
        2 => "oifname",
        3 => "type",
        _ => return None,
    })
}

/// `log` as nft's JSON writes it (level only when not the default `warn`).
pub fn log(prefix: &Option<String>, group: &Option<u16>, level: &Option<u32>) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(p) = prefix {
        body.insert("prefix".into(), json!(p));
    }
    if let Some(g) = group {
        body.insert("group".into(), json!(g));
    }
    let names = [
        "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug", "audit",
    ];
    if let Some(l) = level.filter(|l| *l != 4) {
        body.insert(
            "level".into(),
            json!(names.get(l as usize).copied().unwrap_or("?")),
        );
    }
    if body.is_empty() {
        json!({"log": null})
    } else {
        json!({ "log": body })
    }
}

/// `limit` as nft's JSON writes it.
pub fn limit(rate: u64, unit: u64, burst: u32, bytes: bool, inv: bool) -> Value {
    let per = match unit {
        1 => "second",
        60 => "minute",
        3600 => "hour",
        86400 => "day",
        604800 => "week",
        _ => "?",
    };
    let mut body = serde_json::Map::new();
    body.insert("rate".into(), json!(rate));
    body.insert("burst".into(), json!(burst));
    body.insert("per".into(), json!(per));
    if bytes {
        body.insert("rate_unit".into(), json!("bytes"));
    }
    if inv {
        body.insert("inv".into(), json!(true));
    }
    json!({ "limit": body })
}

/// ICMP unreachable code → nft's name.
pub fn icmp_code(c: u8) -> Option<&'static str> {
    Some(match c {
        0 => "net-unreachable",
        1 => "host-unreachable",
        2 => "prot-unreachable",
        3 => "port-unreachable",
        9 => "net-prohibited",
        10 => "host-prohibited",
        13 => "admin-prohibited",
        _ => return None,
    })
}

/// ICMPv6 unreachable code → nft's name.
pub fn icmp6_code(c: u8) -> Option<&'static str> {
    Some(match c {
        0 => "no-route",
        1 => "admin-prohibited",
        3 => "addr-unreachable",
        4 => "port-unreachable",
        5 => "policy-fail",
        6 => "reject-route",
        _ => return None,
    })
}

/// `NFT_REJECT_ICMPX_*` code → nft's name.
pub fn icmpx_code(c: u8) -> Option<&'static str> {
    Some(match c {
        0 => "no-route",
        1 => "port-unreachable",
        2 => "host-unreachable",
        3 => "admin-prohibited",
        _ => return None,
    })
}

/// Bytes as hex, for the names of undecoded expressions.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A short text for an expression that is not decoded.
pub fn describe(e: &Expr) -> String {
    match e {
        Expr::Other { name, detail } => format!("{name} {detail}").trim_end().to_string(),
        other => format!("{other:?}"),
    }
}

/// `quota` as nft's JSON writes it: the amount in the largest unit that divides it.
pub fn quota(bytes: u64, inv: bool, consumed: u64) -> Value {
    let (val, val_unit) = in_unit(bytes);
    let mut body = serde_json::Map::new();
    body.insert("val".into(), json!(val));
    body.insert("val_unit".into(), json!(val_unit));
    if consumed != 0 {
        let (used, used_unit) = in_unit(consumed);
        body.insert("used".into(), json!(used));
        body.insert("used_unit".into(), json!(used_unit));
    }
    if inv {
        body.insert("inv".into(), json!(true));
    }
    json!({ "quota": body })
}

fn in_unit(bytes: u64) -> (u64, &'static str) {
    let mut v = bytes;
    for u in ["bytes", "kbytes", "mbytes"] {
        if v == 0 || v % 1024 != 0 {
            return (v, u);
        }
        v /= 1024;
    }
    (v, "gbytes")
}

/// The value a `meta KEY set` writes, as nft's JSON shows it, for keys other than the mark.
pub fn meta_value(key: u32, v: &[u8]) -> Option<Value> {
    let n = super::values::int(Ty::Int, v);
    Some(match key {
        // `meta priority set MAJOR:MINOR` (tc class id).
        2 if v.len() == 4 => json!(format!("{:x}:{:x}", n >> 16, n & 0xffff)),
        _ if v.len() <= 8 => json!(n as u64),
        _ => return None,
    })
}

/// A TCP option field read by an `exthdr` load, as nft names it (`tcp option maxseg size`);
/// `None` for other headers, options, fields or presence tests.
pub fn tcp_option(
    op: u32,
    kind: u8,
    offset: u32,
    len: u32,
    flags: u32,
) -> Option<(&'static str, &'static str)> {
    if op != 1 || flags != 0 {
        return None;
    }
    Some(match (kind, offset, len) {
        (2, 2, 2) => ("maxseg", "size"),
        (3, 2, 1) => ("window", "count"),
        (8, 2, 4) => ("timestamp", "tsval"),
        (8, 6, 4) => ("timestamp", "tsecr"),
        _ => return None,
    })
}
