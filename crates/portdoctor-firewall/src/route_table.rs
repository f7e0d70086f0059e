//! The routing facts the evaluator needs to follow a connection whose destination NAT
//! rewrote: the routes of both families (the local table names the host's own addresses) and
//! whether the host forwards. Read from the live host by [`crate::routes`]; absent for saved
//! rulesets. No other module of this crate is used here.

use std::net::IpAddr;

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// IPv6.
    pub v6: bool,
    /// First address of the prefix.
    pub lo: u128,
    /// Last address of the prefix.
    pub hi: u128,
    /// Prefix length.
    pub len: u32,
    /// Output device.
    pub dev: Option<String>,
    /// Route type as `Field::DaddrType` numbers it (1 unicast, 2 local, …).
    pub kind: u8,
    /// Table: 0 local, 1 main, 2 others.
    pub table: u8,
}

/// The forwarding switches (`None`: not read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarding {
    /// `net.ipv4.conf.all.forwarding` (what `net.ipv4.ip_forward` sets).
    pub v4_all: Option<bool>,
    /// `net.ipv4.conf.DEV.forwarding` per interface: the kernel checks the input device's.
    pub v4_dev: Vec<(String, bool)>,
    /// `net.ipv6.conf.all.forwarding`.
    pub v6_all: Option<bool>,
}

/// Routes and forwarding switches of one host (network namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// Every route of every table.
    pub routes: Vec<Route>,
    /// The forwarding switches.
    pub forwarding: Forwarding,
}

/// An address as a number.
pub fn addr_num(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// The route `addr` takes: the most specific one of the first table that has one (local,
/// then main, then the others; policy routing by `ip rule` is not modelled).
pub fn lookup(routes: &[Route], addr: IpAddr) -> Option<&Route> {
    let (v6, n) = addr_num(addr);
    (0..=2).find_map(|table| {
        routes
            .iter()
            .filter(|r| r.v6 == v6 && r.table == table && r.lo <= n && n <= r.hi)
            .max_by_key(|r| r.len)
    })
}

impl RouteTable {
    /// The route `addr` takes (see [`lookup`]).
    pub fn lookup(&self, addr: IpAddr) -> Option<&Route> {
        lookup(&self.routes, addr)
    }

    /// Whether packets of the family arriving on `iif` are forwarded; `None` when not read.
    pub fn forwards(&self, v6: bool, iif: Option<&str>) -> Option<bool> {
        if v6 {
            return self.forwarding.v6_all;
        }
        let dev = iif.and_then(|i| self.forwarding.v4_dev.iter().find(|(d, _)| d == i));
        dev.map(|(_, on)| *on).or(self.forwarding.v4_all)
    }
}
