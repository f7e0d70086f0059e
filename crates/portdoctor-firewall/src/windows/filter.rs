//! Matching one rule's filters against a packet, three-valued, field by field (so that near
//! misses can name the one field that failed).

use super::model::{
    AddrItem, Direction, EdgeTraversal, Interface, PortItem, Profile, ProtoFilter, Recorded,
    RuleAction, WinRule,
};
use crate::model::Packet;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

/// A rule condition, as named in near misses and reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterField {
    /// The rule is enabled.
    Enabled,
    /// Inbound.
    Direction,
    /// Profile of the arriving interface.
    Profile,
    /// Protocol.
    Protocol,
    /// Local (destination) port.
    LocalPort,
    /// Remote (source) port.
    RemotePort,
    /// Local (destination) address.
    LocalAddress,
    /// Remote (source) address.
    RemoteAddress,
    /// Program owning the listening socket.
    Program,
    /// Service owning the listening socket.
    Service,
    /// AppContainer package.
    Package,
    /// Interface alias.
    Interface,
    /// Interface type.
    InterfaceType,
    /// Edge traversal.
    EdgeTraversal,
    /// IPsec authentication / encryption required.
    Security,
}

/// Three-valued outcome of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tri {
    Yes,
    No(String),
    Maybe(String),
}

/// What a packet is matched in: its profile, interface, the host's subnets and variables.
pub(crate) struct Env<'a> {
    pub pkt: &'a Packet,
    pub profile: Profile,
    pub iface: Option<&'a Interface>,
    pub all_ifaces: &'a [Interface],
    pub vars: &'a HashMap<String, String>,
    /// Write out why a condition fails (near misses); off for plain evaluation, which only
    /// needs yes/no and would otherwise format a message per rule and packet.
    pub reasons: bool,
}

impl Env<'_> {
    fn tri(&self, ok: bool, why: impl FnOnce() -> String) -> Tri {
        if ok {
            Tri::Yes
        } else if self.reasons {
            Tri::No(why())
        } else {
            Tri::No(String::new())
        }
    }
}

/// Every condition of `r` for the packet, in a fixed order.
pub(crate) fn check(r: &WinRule, e: &Env<'_>) -> Vec<(FilterField, Tri)> {
    vec![
        (
            FilterField::Enabled,
            e.tri(r.enabled, || "the rule is disabled".into()),
        ),
        (
            FilterField::Direction,
            e.tri(r.direction == Direction::In, || {
                "the rule is outbound".into()
            }),
        ),
        (FilterField::Profile, profile(r, e)),
        (FilterField::Protocol, protocol(r, e)),
        (FilterField::LocalPort, port(r, e, true)),
        (FilterField::RemotePort, port(r, e, false)),
        (FilterField::LocalAddress, address(r, e, true)),
        (FilterField::RemoteAddress, address(r, e, false)),
        (FilterField::Program, program(r, e)),
        (FilterField::Service, service(r, e)),
        (FilterField::Package, package(r, e)),
        (FilterField::Interface, interface(r, e)),
        (FilterField::InterfaceType, interface_type(r, e)),
        (FilterField::EdgeTraversal, edge(r, e)),
        (FilterField::Security, security(r, e)),
    ]
}

/// The rule's overall match: `No` at the first failing condition (cheap conditions first,
/// the rest not evaluated), else `Maybe` listing the undecided ones, else `Yes`.
pub(crate) fn matches(r: &WinRule, e: &Env<'_>) -> Tri {
    let mut maybe: Vec<String> = vec![];
    let fields: [&dyn Fn() -> Tri; 15] = [
        &|| e.tri(r.enabled, || "the rule is disabled".into()),
        &|| {
            e.tri(r.direction == Direction::In, || {
                "the rule is outbound".into()
            })
        },
        &|| protocol(r, e),
        &|| port(r, e, true),
        &|| profile(r, e),
        &|| port(r, e, false),
        &|| address(r, e, true),
        &|| address(r, e, false),
        &|| interface(r, e),
        &|| interface_type(r, e),
        &|| edge(r, e),
        &|| security(r, e),
        &|| program(r, e),
        &|| service(r, e),
        &|| package(r, e),
    ];
    for f in fields {
        match f() {
            Tri::No(why) => return Tri::No(why),
            Tri::Maybe(why) => maybe.push(why),
            Tri::Yes => {}
        }
    }
    if maybe.is_empty() {
        Tri::Yes
    } else {
        Tri::Maybe(maybe.join("; "))
    }
}

fn profile(r: &WinRule, e: &Env<'_>) -> Tri {
    e.tri(r.profiles.has(e.profile), || {
        format!(
            "the rule is for {} and the packet arrives on a {} network",
            r.profiles.describe(),
            e.profile.name()
        )
    })
}

fn protocol(r: &WinRule, e: &Env<'_>) -> Tri {
    let p = e.pkt;
    match r.protocol {
        ProtoFilter::Any => Tri::Yes,
        ProtoFilter::Number(n) => e.tri(n == p.proto.number(), || {
            format!(
                "the rule is for protocol {}, the packet is {}",
                proto_name(n),
                proto_name(p.proto.number())
            )
        }),
    }
}

/// Protocol name for messages.
pub(crate) fn proto_name(n: u8) -> String {
    match n {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMPv4".into(),
        58 => "ICMPv6".into(),
        n => n.to_string(),
    }
}

/// Fixed ports of port keywords; `None`: decided at run time. (`RPC`, the dynamic RPC
/// ports, never covers a port below 1024: Windows' dynamic range starts above it.)
fn keyword_port(k: &str) -> Option<u16> {
    match k.to_ascii_lowercase().as_str() {
        "rpcepmap" | "rpc-epmap" => Some(135),
        "iphttps" | "iphttpsin" | "iphttpsout" => Some(443),
        "teredo" => Some(3544),
        "mdns" => Some(5353),
        _ => None,
    }
}

fn port(r: &WinRule, e: &Env<'_>, local: bool) -> Tri {
    let p = e.pkt;
    let spec = if local {
        &r.local_ports
    } else {
        &r.remote_ports
    };
    let Some(items) = spec else {
        return Tri::Yes;
    };
    // Ports are a TCP/UDP filter; other protocols ignore them (ICMP rules list `RPC`).
    if !matches!(r.protocol, ProtoFilter::Number(6 | 17)) || !p.proto.has_ports() {
        return Tri::Yes;
    }
    let port = if local { p.dport } else { p.sport };
    let mut maybe = None;
    for it in items {
        match it {
            PortItem::Span(s) if s.contains(port) => return Tri::Yes,
            PortItem::Span(_) => {}
            PortItem::Keyword(k) => match keyword_port(k) {
                Some(kp) if kp == port => return Tri::Yes,
                Some(_) => {}
                None if k.eq_ignore_ascii_case("rpc") && port < 1024 => {}
                None => {
                    maybe = Some(format!(
                        "port keyword `{k}` names ports chosen at run time (dynamic RPC and \
                         similar): not decidable offline"
                    ))
                }
            },
        }
    }
    match maybe {
        Some(m) => Tri::Maybe(m),
        None => e.tri(false, || {
            format!(
                "the rule's {} ports are {}, the packet's is {port}",
                if local { "local" } else { "remote" },
                describe_ports(items)
            )
        }),
    }
}

/// `80, 443, 5000-5010, RPC`.
pub fn describe_ports(items: &[PortItem]) -> String {
    let v: Vec<String> = items
        .iter()
        .map(|i| match i {
            PortItem::Span(s) if s.lo == s.hi => s.lo.to_string(),
            PortItem::Span(s) => format!("{}-{}", s.lo, s.hi),
            PortItem::Keyword(k) => k.clone(),
        })
        .collect();
    v.join(", ")
}

fn address(r: &WinRule, e: &Env<'_>, local: bool) -> Tri {
    let spec = if local {
        &r.local_addresses
    } else {
        &r.remote_addresses
    };
    let Some(items) = spec else {
        return Tri::Yes;
    };
    let a = if local { e.pkt.dst } else { e.pkt.src };
    let mut maybe = None;
    for it in items {
        match it {
            AddrItem::Range(rg) if rg.contains(a) => return Tri::Yes,
            AddrItem::Range(_) => {}
            AddrItem::Keyword(k) => match keyword_addr(k, a, e) {
                Tri::Yes => return Tri::Yes,
                Tri::No(_) => {}
                Tri::Maybe(m) => maybe = Some(m),
            },
        }
    }
    let side = if local { "local" } else { "remote" };
    match maybe {
        Some(m) => Tri::Maybe(m),
        None => e.tri(false, || {
            format!("the rule's {side} addresses do not include {a}")
        }),
    }
}

fn keyword_addr(k: &str, a: IpAddr, e: &Env<'_>) -> Tri {
    let lk = k.to_ascii_lowercase();
    if lk.starts_with("localsubnet") {
        let fam_ok = match lk.as_str() {
            "localsubnet4" => a.is_ipv4(),
            "localsubnet6" => a.is_ipv6(),
            _ => true,
        };
        if !fam_ok {
            return e.tri(false, || format!("{k} does not cover {a}"));
        }
        let subnets: Vec<_> = e.all_ifaces.iter().flat_map(|i| &i.subnets).collect();
        if subnets.is_empty() {
            return Tri::Maybe(format!(
                "`{k}` needs the host's subnets (not in the export: add Get-NetIPAddress)"
            ));
        }
        return e.tri(subnets.iter().any(|s| s.contains(a)), || {
            format!("{a} is not on a local subnet")
        });
    }
    Tri::Maybe(format!(
        "address keyword `{k}` is resolved by Windows at run time: not decidable offline"
    ))
}

/// Expands `%VAR%` references with `vars` (lower-case names) and Windows' defaults.
pub(crate) fn expand(path: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after.find('%') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let name = after[..j].to_ascii_lowercase();
        let val = vars
            .get(&name)
            .cloned()
            .or_else(|| default_var(&name).map(String::from))
            .ok_or_else(|| format!("%{}% is not known offline", &after[..j]))?;
        out.push_str(&val);
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn default_var(name: &str) -> Option<&'static str> {
    Some(match name {
        "systemroot" | "windir" => r"C:\Windows",
        "systemdrive" => "C:",
        "programfiles" | "programw6432" => r"C:\Program Files",
        "programfiles(x86)" => r"C:\Program Files (x86)",
        "programdata" | "allusersprofile" => r"C:\ProgramData",
        _ => return None,
    })
}

/// Canonical form for comparing paths: lower case, `\` separators.
pub(crate) fn norm_path(p: &str) -> String {
    p.trim().trim_matches('"').replace('/', "\\").to_lowercase()
}

fn program(r: &WinRule, e: &Env<'_>) -> Tri {
    let want = match &r.program {
        Recorded::Missing(why) => return Tri::Maybe(format!("program filter {why}")),
        Recorded::Known(None) => return Tri::Yes,
        Recorded::Known(Some(p)) => p,
    };
    let Some(have) = &e.pkt.local_program else {
        return Tri::Maybe(format!(
            "the rule is limited to program {want} and the listening program is unknown"
        ));
    };
    let w = match expand(want, e.vars) {
        Ok(w) => w,
        Err(m) => return Tri::Maybe(format!("program {want}: {m}")),
    };
    e.tri(norm_path(&w) == norm_path(have), || {
        format!("the rule is for program {want}, the listener is {have}")
    })
}

fn service(r: &WinRule, e: &Env<'_>) -> Tri {
    let p = e.pkt;
    let want = match &r.service {
        Recorded::Missing(why) => return Tri::Maybe(format!("service filter {why}")),
        Recorded::Known(None) => return Tri::Yes,
        Recorded::Known(Some(s)) => s,
    };
    match &p.local_service {
        None => Tri::Maybe(format!(
            "the rule is limited to service `{want}` and the listener's service is unknown"
        )),
        Some(_) if want == "*" => Tri::Yes,
        Some(have) => e.tri(have.eq_ignore_ascii_case(want), || {
            format!("the rule is for service `{want}`, the listener is service `{have}`")
        }),
    }
}

fn package(r: &WinRule, e: &Env<'_>) -> Tri {
    let p = e.pkt;
    match &r.package {
        Recorded::Known(None) => Tri::Yes,
        Recorded::Missing(why) if r.display_name.starts_with("@{") => {
            Tri::Maybe(format!("this app-package rule's package {why}"))
        }
        Recorded::Missing(_) => Tri::Yes,
        Recorded::Known(Some(sid)) => match &p.local_program {
            Some(prog) if !norm_path(prog).contains("\\windowsapps\\") => e.tri(false, || {
                format!(
                    "the rule is for app package {sid}; {prog} is not a packaged app (it is \
                     outside WindowsApps)"
                )
            }),
            _ => Tri::Maybe(format!(
                "the rule is for app package {sid}: the listener's package is unknown"
            )),
        },
    }
}

fn interface(r: &WinRule, e: &Env<'_>) -> Tri {
    let p = e.pkt;
    let Some(list) = &r.interfaces else {
        return Tri::Yes;
    };
    match &p.iif {
        None => Tri::Maybe("the rule is limited to interfaces and the packet's is unknown".into()),
        Some(i) => e.tri(list.iter().any(|x| x.eq_ignore_ascii_case(i)), || {
            format!(
                "the rule is for interfaces {}, the packet arrives on {i}",
                list.join(", ")
            )
        }),
    }
}

fn interface_type(r: &WinRule, e: &Env<'_>) -> Tri {
    let Some(list) = &r.interface_types else {
        return Tri::Yes;
    };
    match e.iface.and_then(|i| i.kind) {
        None => {
            Tri::Maybe("the rule is limited to interface types and the packet's is unknown".into())
        }
        Some(k) => e.tri(list.contains(&k), || {
            format!("the rule is for {list:?} interfaces, the packet's is {k:?}")
        }),
    }
}

fn edge(r: &WinRule, e: &Env<'_>) -> Tri {
    let p = e.pkt;
    let over_edge = p
        .iif
        .as_deref()
        .is_some_and(|i| i.to_ascii_lowercase().contains("teredo"));
    if !over_edge {
        return Tri::Yes;
    }
    match r.edge {
        EdgeTraversal::Allow => Tri::Yes,
        EdgeTraversal::Block => Tri::No(
            "the packet comes over the edge (Teredo) and the rule blocks edge traversal".into(),
        ),
        EdgeTraversal::DeferToApp | EdgeTraversal::DeferToUser => {
            Tri::Maybe("edge traversal is deferred to the application or user".into())
        }
    }
}

fn security(r: &WinRule, e: &Env<'_>) -> Tri {
    e.tri(
        !r.requires_security && r.action != RuleAction::Bypass,
        || "the rule needs IPsec-authenticated traffic; the packet is assumed not to be".into(),
    )
}
