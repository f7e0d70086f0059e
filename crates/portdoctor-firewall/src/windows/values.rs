//! Filter values as the readers find them (PowerShell, CSV, netsh, registry strings): ports,
//! addresses, protocols, profiles, in English plus the localised words of the label tables.

use super::model::{AddrFilter, AddrItem, PortFilter, PortItem, Profiles, ProtoFilter};
use crate::addr::{IpRange, PortSpan};

/// Address keywords, canonical spelling (matched case-insensitively).
const ADDR_KEYWORDS: &[&str] = &[
    "LocalSubnet",
    "LocalSubnet4",
    "LocalSubnet6",
    "Internet",
    "Intranet",
    "IntranetRemoteAccess",
    "DNS",
    "DHCP",
    "WINS",
    "DefaultGateway",
    "PlayToDevice",
    "Captiveportaladdresses",
    "CloudResources",
    "Ply2Renders",
];

/// Port keywords, canonical spelling.
const PORT_KEYWORDS: &[&str] = &[
    "RPC",
    "RPCEPMap",
    "RPC-EPMap",
    "IPHTTPS",
    "IPHTTPSIn",
    "IPHTTPSOut",
    "Teredo",
    "PlayToDiscovery",
    "mDNS",
    "Ply2Disc",
    "DHCP",
];

/// Words meaning "any" in the known languages (en, zh-CN, de).
pub(crate) fn is_any(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || t == "*"
        || t.eq_ignore_ascii_case("any")
        || t == "任何"
        || t.eq_ignore_ascii_case("beliebig")
}

/// Splits a list written with `,` (netsh, CSV) or returned as separate items.
pub(crate) fn items(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

/// Parses a port list (`80,443,5000-5010,RPC`); `Ok(None)` = any.
pub(crate) fn ports<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<PortFilter, String> {
    let mut out = vec![];
    for it in list {
        if is_any(it) {
            return Ok(None);
        }
        if let Some(sp) = PortSpan::parse(it) {
            out.push(PortItem::Span(sp));
        } else if let Some(k) = PORT_KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(it)) {
            out.push(PortItem::Keyword((*k).to_string()));
        } else {
            return Err(format!("`{it}` is not a port, range or port keyword"));
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Parses an address list; `Ok(None)` = any.
pub(crate) fn addresses<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<AddrFilter, String> {
    let mut out = vec![];
    for it in list {
        if is_any(it) {
            return Ok(None);
        }
        if let Some(r) = IpRange::parse(it) {
            out.push(AddrItem::Range(r));
        } else if let Some(k) = ADDR_KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(it)) {
            out.push(AddrItem::Keyword((*k).to_string()));
        } else {
            return Err(format!(
                "`{it}` is not an address, range or address keyword"
            ));
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Parses a protocol: a name (`TCP`, `UDP`, `ICMPv4`, `ICMPv6`, `Any`…) or a number.
pub fn protocol(s: &str) -> Result<ProtoFilter, String> {
    let t = s.trim();
    if is_any(t) {
        return Ok(ProtoFilter::Any);
    }
    if let Ok(n) = t.parse::<u16>() {
        return match n {
            256 => Ok(ProtoFilter::Any),
            n => u8::try_from(n)
                .map(ProtoFilter::Number)
                .map_err(|_| format!("protocol number {n} is out of range")),
        };
    }
    let n = match t.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmpv4" | "icmp" => 1,
        "icmpv6" => 58,
        "igmp" => 2,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6" => 41,
        "ipv6-route" => 43,
        "ipv6-frag" => 44,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "vrrp" => 112,
        "pgm" => 113,
        "l2tp" => 115,
        "hopopt" => 0,
        _ => return Err(format!("`{t}` is not a protocol name or number")),
    };
    Ok(ProtoFilter::Number(n))
}

/// Parses a profile list in English, zh-CN or German (`Domain,Private,Public`, `Any`,
/// `域,专用,公用`, `Domäne,Privat,Öffentlich`), or a PowerShell flag number.
pub fn profiles(s: &str) -> Result<Profiles, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u8>() {
        return if n <= 7 {
            Ok(Profiles(if n == 0 { 7 } else { n }))
        } else if n == 0x7f || n == 0xff {
            Ok(Profiles::ANY)
        } else {
            Err(format!("profile flags {n} are out of range"))
        };
    }
    let mut bits = 0u8;
    for it in items(t) {
        bits |= match it.to_lowercase().as_str() {
            "any" | "all" | "任何" | "所有" | "beliebig" | "alle" => 7,
            "domain" | "域" | "domäne" => 1,
            "private" | "专用" | "privat" => 2,
            "public" | "公用" | "öffentlich" => 4,
            _ => return Err(format!("`{it}` is not a profile name")),
        };
    }
    if bits == 0 {
        return Err("no profile named".into());
    }
    Ok(Profiles(bits))
}
