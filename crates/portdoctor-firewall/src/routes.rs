//! The routing table, read live (`ip -j route show table all`), for what a firewall asks of
//! it about a packet's source: reverse-path filters (`fib saddr . iif oif`, `-m rpfilter`,
//! firewalld's IPv6_rpfilter) and source address types (`fib saddr type`, `--src-type`).
//!
//! Lookups follow the default rules: table local, then main, then default; longest prefix
//! first. Policy routing by other rules (`ip rule`, marks) is not modelled: the README says so.

use crate::collect::Runner;
use crate::model::ReversePath;
pub use crate::route_table::Route;
use crate::route_table::{Forwarding, RouteTable};
use serde_json::Value;
use std::net::IpAddr;

/// The routes of both families.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes(pub Vec<Route>);

impl Routes {
    /// Reads the live table; `None` when `ip` is missing or fails.
    pub fn read(runner: &dyn Runner) -> Option<Routes> {
        let mut all = vec![];
        for args in [
            &["-j", "route", "show", "table", "all"][..],
            &["-6", "-j", "route", "show", "table", "all"],
        ] {
            let out = runner.run("ip", args).ok()?;
            if out.code != Some(0) {
                return None;
            }
            all.extend(Routes::parse(&out.stdout, args[0] == "-6").0);
        }
        Some(Routes(all))
    }

    /// Parses `ip -j route show` output of one family; unreadable entries are skipped.
    pub fn parse(json: &str, v6: bool) -> Routes {
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
            return Routes::default();
        };
        Routes(items.iter().filter_map(|r| route(r, v6)).collect())
    }

    /// The route `addr` takes: the most specific one of the first table that has one.
    pub fn lookup(&self, addr: IpAddr) -> Option<&Route> {
        crate::route_table::lookup(&self.0, addr)
    }

    /// What the table says about a packet from `src` arriving on `iif`, as the kernel's
    /// reverse-path matches (`xt_rpfilter`, nft `fib saddr [. iif] oif`) and address-type
    /// matches see it:
    /// - one lookup of the source (local, main, default; longest prefix): the loose check
    ///   passes when it gives a unicast route, the strict one when that route also leaves
    ///   through `iif` (a local, broadcast, unreachable, … result fails both);
    /// - loopback traffic (`iif` is `lo`) passes both, as in prerouting, where both matches
    ///   run;
    /// - the IPv4 source type comes from the local table alone (`inet_addr_type`): unicast
    ///   unless the source is one of the host's local or broadcast addresses, with 0.0.0.0/8
    ///   and 255.255.255.255 broadcast and 224.0.0.0/4 multicast by class. For IPv6 it is the
    ///   type of the route found.
    pub fn reverse_path(&self, src: IpAddr, iif: Option<&str>) -> ReversePath {
        let route = self.lookup(src);
        let unicast = route.filter(|r| r.kind == 1);
        let lo = iif == Some("lo");
        ReversePath {
            strict: lo || unicast.is_some_and(|r| iif.is_some() && r.dev.as_deref() == iif),
            loose: lo || unicast.is_some(),
            src_type: match src {
                IpAddr::V4(a) => self.v4_addr_type(a),
                IpAddr::V6(_) => route.map_or(7, |r| r.kind),
            },
        }
    }

    /// The kernel's `inet_addr_type` of an IPv4 address: by class, else from the local
    /// table, else unicast.
    fn v4_addr_type(&self, a: std::net::Ipv4Addr) -> u8 {
        if a.octets()[0] == 0 || a.is_broadcast() {
            return 3;
        }
        if a.is_multicast() {
            return 5;
        }
        let n = u32::from(a) as u128;
        self.0
            .iter()
            .filter(|r| !r.v6 && r.table == 0 && r.lo <= n && n <= r.hi)
            .max_by_key(|r| r.len)
            .map_or(1, |r| r.kind)
    }
}

impl Routes {
    /// A source standing for "anyone else" reaching `addr` on `iface`: the documentation
    /// address when the table routes it back through `iface` (a default route there), else
    /// the last address of the link's own prefix — without a route out, strangers can only be
    /// on the link, and a reverse-path filter would drop any other source.
    pub fn stranger(&self, addr: IpAddr, iface: &str) -> IpAddr {
        let outside = crate::viewpoint::outside_for(addr);
        if self.reverse_path(outside, Some(iface)).strict {
            return outside;
        }
        let v6 = addr.is_ipv6();
        let link = self
            .0
            .iter()
            .filter(|r| r.v6 == v6 && r.kind == 1 && r.dev.as_deref() == Some(iface) && r.len > 0)
            .filter(|r| {
                let n = num(addr);
                r.lo <= n && n <= r.hi
            })
            .max_by_key(|r| r.len);
        match link {
            Some(r) if r.hi > r.lo + 1 => {
                let last = if v6 { r.hi } else { r.hi - 1 };
                let pick = if last == num(addr) { last - 1 } else { last };
                if v6 {
                    IpAddr::V6(pick.into())
                } else {
                    IpAddr::V4((pick as u32).into())
                }
            }
            _ => outside,
        }
    }
}

impl Routes {
    /// The devices the routes name, without repeats.
    pub fn devices(&self) -> Vec<String> {
        let mut d: Vec<String> = self.0.iter().filter_map(|r| r.dev.clone()).collect();
        d.sort();
        d.dedup();
        d
    }

    /// These routes with the forwarding switches, for the evaluator.
    pub fn table(&self, forwarding: Forwarding) -> RouteTable {
        RouteTable {
            routes: self.0.clone(),
            forwarding,
        }
    }
}

/// Reads the forwarding switches with one `sysctl` call: `all` of both families and
/// `net.ipv4.conf.DEV.forwarding` of each device in `devices` (the kernel checks the input
/// device's). Switches that cannot be read stay `None`.
pub fn read_forwarding(runner: &dyn Runner, devices: &[String]) -> Forwarding {
    let mut keys = vec![
        "net/ipv4/conf/all/forwarding".to_string(),
        "net/ipv6/conf/all/forwarding".to_string(),
    ];
    for d in devices.iter().filter(|d| valid_device(d)) {
        keys.push(format!("net/ipv4/conf/{d}/forwarding"));
    }
    let args: Vec<&str> = keys.iter().map(String::as_str).collect();
    match runner.run("sysctl", &args) {
        Ok(out) => parse_forwarding(&out.stdout),
        Err(_) => Forwarding::default(),
    }
}

/// An interface name `sysctl` can be asked about (no separators or spaces).
fn valid_device(d: &str) -> bool {
    !d.is_empty() && d.len() < 16 && !d.contains(['/', ' ', '=']) && d != "all" && d != "default"
}

/// Parses `sysctl` output (`net.ipv4.conf.eth0.forwarding = 1`; a dot in a device name is
/// printed as `/`).
pub fn parse_forwarding(text: &str) -> Forwarding {
    let mut f = Forwarding::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let on = match value.trim() {
            "0" => false,
            "1" | "2" => true,
            _ => continue,
        };
        let key = key.trim();
        if key == "net.ipv6.conf.all.forwarding" {
            f.v6_all = Some(on);
        } else if key == "net.ipv4.conf.all.forwarding" {
            f.v4_all = Some(on);
        } else if let Some(dev) = key
            .strip_prefix("net.ipv4.conf.")
            .and_then(|k| k.strip_suffix(".forwarding"))
        {
            f.v4_dev.push((dev.replace('/', "."), on));
        }
    }
    f
}

fn num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn route(r: &Value, v6: bool) -> Option<Route> {
    let dst = r.get("dst")?.as_str()?;
    let (lo, hi, len) = match dst {
        "default" => (0, if v6 { u128::MAX } else { u32::MAX as u128 }, 0),
        d => {
            let (is6, lo, hi) = crate::netfilter::build::cidr_range(d)?;
            if is6 != v6 {
                return None;
            }
            let bits = if v6 { 128 } else { 32 };
            let len = d
                .split_once('/')
                .map_or(bits, |(_, l)| l.parse().unwrap_or(bits));
            (lo, hi, len)
        }
    };
    let kind = match r.get("type").and_then(Value::as_str).unwrap_or("unicast") {
        "unicast" => 1,
        "local" => 2,
        "broadcast" => 3,
        "anycast" => 4,
        "multicast" => 5,
        "blackhole" => 6,
        "unreachable" => 7,
        "prohibit" => 8,
        _ => 0,
    };
    let table = match r.get("table").and_then(Value::as_str) {
        Some("local") => 0,
        None | Some("main") => 1,
        Some(_) => 2,
    };
    Some(Route {
        v6,
        lo,
        hi,
        len,
        dev: r.get("dev").and_then(Value::as_str).map(str::to_string),
        kind,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from `ip -j route show table all` on a Debian bookworm machine.
    const V4: &str = r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]},{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},{"type":"local","dst":"192.0.2.2","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"192.0.2.2","flags":[]}]"#;

    #[test]
    fn forwarding_switches() {
        let f = parse_forwarding(
            "net.ipv4.conf.all.forwarding = 1\nnet.ipv6.conf.all.forwarding = 0\nnet.ipv4.conf.eth0/5.forwarding = 0\n",
        );
        assert_eq!(f.v4_all, Some(true));
        assert_eq!(f.v6_all, Some(false));
        assert_eq!(f.v4_dev, vec![("eth0.5".to_string(), false)]);
        let t = RouteTable {
            routes: vec![],
            forwarding: f,
        };
        assert_eq!(t.forwards(false, Some("eth0.5")), Some(false));
        assert_eq!(t.forwards(false, Some("eth1")), Some(true));
        assert_eq!(t.forwards(true, None), Some(false));
    }

    #[test]
    fn reverse_paths() {
        let r = Routes::parse(V4, false);
        let peer = r.reverse_path("192.0.2.9".parse().unwrap(), Some("eth0"));
        assert!(peer.strict && peer.loose);
        assert_eq!(peer.src_type, 1);
        let wrong_if = r.reverse_path("192.0.2.9".parse().unwrap(), Some("eth1"));
        assert!(!wrong_if.strict && wrong_if.loose);
        let spoofed_local = r.reverse_path("192.0.2.2".parse().unwrap(), Some("eth0"));
        assert_eq!(spoofed_local.src_type, 2);
        // The lookup finds a local route: neither check passes.
        assert!(!spoofed_local.strict && !spoofed_local.loose);
        // The default route covers everything, loosely and through eth0.
        let far = r.reverse_path("203.0.113.1".parse().unwrap(), Some("eth0"));
        assert!(far.strict);
        let me: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            r.stranger(me, "eth0"),
            "203.0.113.1".parse::<IpAddr>().unwrap()
        );
        // Only the best route counts: a /32 out of eth1 beats the /24 out of eth0.
        let mut more = r.clone();
        more.0.extend(Routes::parse(
            r#"[{"dst":"192.0.2.9","dev":"eth1","scope":"link","flags":[]},{"type":"unreachable","dst":"198.51.100.0/24","flags":[]},{"type":"broadcast","dst":"192.0.2.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]}]"#,
            false,
        ).0);
        let moved = more.reverse_path("192.0.2.9".parse().unwrap(), Some("eth0"));
        assert!(!moved.strict && moved.loose);
        assert!(
            more.reverse_path("192.0.2.9".parse().unwrap(), Some("eth1"))
                .strict
        );
        // An unreachable route fails both; the address is still of type unicast (the type
        // comes from the local table only).
        let unreachable = more.reverse_path("198.51.100.1".parse().unwrap(), Some("eth0"));
        assert!(!unreachable.strict && !unreachable.loose);
        assert_eq!(unreachable.src_type, 1);
        assert_eq!(
            more.reverse_path("192.0.2.255".parse().unwrap(), Some("eth0"))
                .src_type,
            3
        );
        assert_eq!(
            more.reverse_path("255.255.255.255".parse().unwrap(), None)
                .src_type,
            3
        );
        assert_eq!(
            more.reverse_path("224.0.0.1".parse().unwrap(), None)
                .src_type,
            5
        );
        // Loopback traffic passes.
        let lo = more.reverse_path("127.0.0.1".parse().unwrap(), Some("lo"));
        assert!(lo.strict && lo.loose);
        // Without a default route, a stranger is on the link.
        let no_default = Routes(r.0.iter().filter(|x| x.len > 0).cloned().collect());
        assert_eq!(
            no_default.stranger(me, "eth0"),
            "192.0.2.254".parse::<IpAddr>().unwrap()
        );
    }
}
