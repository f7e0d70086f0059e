//! firewalld: attribution of netfilter verdicts to firewalld's zones, services, ports, rich
//! rules, zone targets and policies, and fixes phrased as `firewall-cmd` commands (runtime and
//! `--permanent`).
//!
//! Facts used (checked with firewalld 1.3.3, nftables backend, in a lab namespace): everything
//! lives in `table inet firewalld`; `filter_INPUT` jumps to `filter_INPUT_ZONES`, which sends
//! each interface (or source) to `filter_IN_<zone>`; that chain jumps to `_pre`, `_log`,
//! `_deny` (rich rules that reject or drop), `_allow` (services, then ports, then accepting
//! rich rules) and `_post`, then accepts ICMP and ends with the zone target (`reject with
//! icmpx admin-prohibited` for `default`); `filter_INPUT` itself ends with the same reject.

mod plan;
pub mod zones;

use crate::collect::Runner;
use crate::manager::{
    ConfigProblem, ConfigRoot, ManagedKind, ManagedRule, Manager, ManagerKind, OpenRequest,
    PlanStep,
};
use crate::model::{Backend, Family, Packet, RuleRef, Step, StepKind};
use crate::netfilter::Netfilter;
use std::collections::BTreeMap;
use zones::Zone;

/// The nft table firewalld writes.
pub const TABLE: &str = "firewalld";

/// firewalld's state.
#[derive(Debug, Clone, Default)]
pub struct Firewalld {
    /// Runtime zones (from `firewall-cmd --list-all-zones`; the permanent XML files when
    /// firewall-cmd cannot be asked).
    pub zones: Vec<Zone>,
    /// Permanent zones (from the XML files under /etc/firewalld/zones).
    pub permanent: Vec<Zone>,
    /// The default zone.
    pub default_zone: String,
    /// Service name → its ports (`80/tcp`).
    pub services: BTreeMap<String, Vec<String>>,
    /// Interface → zone, as firewalld's own nft chain `filter_INPUT_ZONES` sends them.
    pub iface_zones: Vec<(String, String)>,
    problems: Vec<ConfigProblem>,
}

impl Firewalld {
    /// firewalld is in charge when its nft table is loaded.
    pub fn detect(nf: &Netfilter, runner: &dyn Runner, root: &ConfigRoot) -> Option<Firewalld> {
        let table = nf
            .rulesets
            .iter()
            .filter(|r| r.backend == Some(Backend::Nftables))
            .flat_map(|r| &r.tables)
            .find(|t| t.name == TABLE && t.family == Family::Inet)?;
        // The runtime default zone is where `filter_INPUT_ZONES` sends everything else.
        let mut fw = Firewalld {
            iface_zones: iface_zones(table),
            default_zone: fallback_zone(table).unwrap_or_default(),
            ..Firewalld::default()
        };
        fw.read_runtime(runner);
        fw.read_permanent(root);
        fw.read_services(root);
        if fw.zones.is_empty() {
            fw.zones = fw.permanent.clone();
        }
        if fw.default_zone.is_empty() {
            fw.default_zone = fallback_zone(table).unwrap_or_else(|| "public".into());
        }
        Some(fw)
    }

    fn problem(&mut self, source: &str, message: String) {
        self.problems.push(ConfigProblem {
            source: source.into(),
            line: None,
            column: None,
            message,
        });
    }

    fn read_runtime(&mut self, runner: &dyn Runner) {
        let ask = |args: &[&str]| match runner.run("firewall-cmd", args) {
            Ok(o) if o.code == Some(0) => Ok(o.stdout),
            Ok(o) => Err(format!("failed: {}", o.stderr.trim())),
            Err(e) => Err(format!("cannot run: {e}")),
        };
        match ask(&["--list-all-zones"]) {
            Ok(text) => self.zones = zones::parse_list_all(&text),
            Err(e) => self.problem(
                "firewall-cmd --list-all-zones",
                format!("{e}; zones are read from the permanent configuration"),
            ),
        }
    }

    fn read_permanent(&mut self, root: &ConfigRoot) {
        for path in root.list("/etc/firewalld/zones") {
            if path.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            let shown = format!(
                "/etc/firewalld/zones/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match std::fs::read_to_string(&path) {
                Ok(text) => match zones::parse_zone_xml(&name, &text, &shown) {
                    Ok(z) => self.permanent.push(z),
                    Err(p) => self.problems.push(p),
                },
                Err(e) => self.problem(&shown, format!("cannot read: {e}")),
            }
        }
        if self.default_zone.is_empty() {
            if let Ok(conf) = root.read("/etc/firewalld/firewalld.conf") {
                self.default_zone = conf
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("DefaultZone="))
                    .unwrap_or_default()
                    .to_string();
            }
        }
    }

    /// Reads the definitions of the services the zones use (a local one overrides the
    /// shipped one).
    fn read_services(&mut self, root: &ConfigRoot) {
        let mut used: Vec<String> = self
            .zones
            .iter()
            .chain(&self.permanent)
            .flat_map(|z| z.services.iter().cloned())
            .collect();
        used.sort();
        used.dedup();
        for name in used {
            for dir in ["/etc/firewalld/services", "/usr/lib/firewalld/services"] {
                if let Ok(text) = root.read(&format!("{dir}/{name}.xml")) {
                    self.services
                        .insert(name.clone(), zones::parse_service_ports(&text));
                    break;
                }
            }
        }
    }

    /// The zone called `name`.
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// The zone an interface is in (its binding, else the default zone).
    pub fn zone_of_iface(&self, iface: &str) -> String {
        self.iface_zones
            .iter()
            .find(|(i, _)| i == iface)
            .map(|(_, z)| z.clone())
            .or_else(|| {
                self.zones
                    .iter()
                    .find(|z| z.interfaces.iter().any(|i| i == iface))
                    .map(|z| z.name.clone())
            })
            .unwrap_or_else(|| self.default_zone.clone())
    }

    /// Zones that allow `port/proto` by a port or a service.
    pub fn zones_opening(&self, port: u16, proto: &str) -> Vec<String> {
        self.zones
            .iter()
            .filter(|z| z.has_port(port, proto) || self.service_opening(z, port, proto).is_some())
            .map(|z| z.name.clone())
            .collect()
    }

    /// The zone's service that opens `port/proto`, if any.
    pub fn service_opening(&self, z: &Zone, port: u16, proto: &str) -> Option<String> {
        z.services
            .iter()
            .find(|s| {
                self.services.get(*s).is_some_and(|ports| {
                    ports
                        .iter()
                        .any(|p| zones::port_spec_covers(p, port, proto))
                })
            })
            .cloned()
    }

    /// The zone a packet went through, from the trace (`goto filter_IN_<zone>`), or from the
    /// interface binding.
    pub fn zone_of(&self, packet: &Packet, trace: &[Step]) -> String {
        trace
            .iter()
            .rev()
            .filter(|s| s.kind == StepKind::Jump)
            .find_map(|s| {
                let target = s.detail.split_whitespace().nth(1)?;
                self.zone_in_chain(target)
            })
            .unwrap_or_else(|| self.zone_of_iface(packet.iif.as_deref().unwrap_or_default()))
    }

    /// The zone named in a chain `filter_IN_<zone>[_part]`, when it is a known zone.
    fn zone_in_chain(&self, chain: &str) -> Option<String> {
        let rest = chain.strip_prefix("filter_IN_")?;
        if rest.starts_with("policy_") {
            return None;
        }
        let mut best: Option<&str> = None;
        for z in self.zones.iter().map(|z| z.name.as_str()) {
            let fits = rest == z
                || ["_pre", "_log", "_deny", "_allow", "_post"]
                    .iter()
                    .any(|s| rest.strip_suffix(s) == Some(z));
            if fits && best.is_none_or(|b| b.len() < z.len()) {
                best = Some(z);
            }
        }
        best.map(str::to_string).or_else(|| {
            let base = ["_pre", "_log", "_deny", "_allow", "_post"]
                .iter()
                .find_map(|s| rest.strip_suffix(s))
                .unwrap_or(rest);
            Some(base.to_string())
        })
    }

    fn rule(&self, kind: ManagedKind, zone: Option<String>, text: String) -> ManagedRule {
        ManagedRule {
            manager: ManagerKind::Firewalld,
            kind,
            number: None,
            zone,
            text,
            comment: None,
            source: None,
        }
    }

    fn attribute_in_zone(
        &self,
        rule: &RuleRef,
        zone: String,
        port: u16,
        proto: &str,
    ) -> ManagedRule {
        let z = self.zone(&zone);
        let part = rule.chain.rsplit('_').next().unwrap_or_default();
        if rule.chain == format!("filter_IN_{zone}") {
            let target = z.map_or("default", |z| z.target.as_str());
            let text = format!(
                "target {target}: no service, port or rich rule of the zone allows {port}/{proto}"
            );
            return self.rule(ManagedKind::DefaultPolicy, Some(zone), text);
        }
        if rule.text.contains("saddr") || part == "deny" {
            if let Some(r) = z.and_then(|z| self.rich_rule_for(z, &rule.text, port)) {
                return self.rule(ManagedKind::RichRule, Some(zone), r);
            }
        }
        if let Some(z) = z {
            if z.has_port(port, proto) && rule.text.contains(&port.to_string()) {
                return self.rule(ManagedKind::Port, Some(zone), format!("{port}/{proto}"));
            }
            if let Some(s) = self.service_opening(z, port, proto) {
                return self.rule(ManagedKind::Service, Some(zone), s);
            }
        }
        self.rule(ManagedKind::Builtin, Some(zone), rule.text.clone())
    }

    /// The rich rule of `z` whose source address appears in the kernel rule's text and whose
    /// port is `port` (or that has no port).
    fn rich_rule_for(&self, z: &Zone, kernel_text: &str, port: u16) -> Option<String> {
        z.rich_rules
            .iter()
            .find(|r| {
                let (src, p, _) = zones::rich_rule_key(r);
                let src_ok = src.is_none_or(|s| kernel_text.contains(&s));
                let port_ok = p.is_none_or(|p| p == port.to_string());
                src_ok && port_ok
            })
            .cloned()
    }
}

/// Interface → zone from `filter_INPUT_ZONES` (`iifname "veth-h" goto filter_IN_public`).
fn iface_zones(table: &crate::model::Table) -> Vec<(String, String)> {
    let Some(c) = table.chains.iter().find(|c| c.name == "filter_INPUT_ZONES") else {
        return vec![];
    };
    c.rules
        .iter()
        .filter_map(|r| {
            let t = r.text.strip_prefix("iifname ")?;
            let (iface, rest) = t.split_once(' ')?;
            let zone = rest.strip_prefix("goto filter_IN_")?;
            Some((iface.trim_matches('"').to_string(), zone.to_string()))
        })
        .collect()
}

/// The zone of the last, unconditional `goto` of `filter_INPUT_ZONES`: the default zone.
fn fallback_zone(table: &crate::model::Table) -> Option<String> {
    let c = table
        .chains
        .iter()
        .find(|c| c.name == "filter_INPUT_ZONES")?;
    c.rules
        .iter()
        .rev()
        .find_map(|r| r.text.strip_prefix("goto filter_IN_").map(str::to_string))
}

fn proto_name(p: &Packet) -> &'static str {
    match p.proto {
        crate::model::Proto::Udp => "udp",
        _ => "tcp",
    }
}

impl Manager for Firewalld {
    fn kind(&self) -> ManagerKind {
        ManagerKind::Firewalld
    }

    fn summary(&self) -> String {
        format!(
            "firewalld running, default zone {}, {} zones",
            self.default_zone,
            self.zones.len()
        )
    }

    fn owns(&self, rule: &RuleRef) -> bool {
        rule.backend == Backend::Nftables && rule.table == TABLE && rule.family == Family::Inet
    }

    fn attribute(&self, rule: &RuleRef, packet: &Packet, trace: &[Step]) -> Option<ManagedRule> {
        if !self.owns(rule) {
            return None;
        }
        let proto = proto_name(packet);
        if let Some(p) = rule.chain.strip_prefix("filter_IN_policy_") {
            let name = p.trim_end_matches("_allow").trim_end_matches("_deny");
            return Some(self.rule(
                ManagedKind::Policy,
                Some(name.to_string()),
                rule.text.clone(),
            ));
        }
        if let Some(zone) = self.zone_in_chain(&rule.chain) {
            return Some(self.attribute_in_zone(rule, zone, packet.dport, proto));
        }
        let zone = self.zone_of(packet, trace);
        let text = if rule.text.contains("invalid") {
            "firewalld drops packets that conntrack finds invalid".to_string()
        } else if rule.text.contains("fib saddr") {
            "firewalld's reverse-path filter (IPv6_rpfilter) drops it".to_string()
        } else if rule.chain == "filter_INPUT" && rule.text.starts_with("reject") {
            format!("no zone accepted {}/{proto} (zone {zone})", packet.dport)
        } else {
            rule.text.clone()
        };
        let kind = if rule.chain == "filter_INPUT" && rule.text.starts_with("reject") {
            ManagedKind::DefaultPolicy
        } else {
            ManagedKind::Builtin
        };
        Some(self.rule(kind, Some(zone), text))
    }

    fn plan_open(
        &self,
        rule: &RuleRef,
        packet: &Packet,
        trace: &[Step],
        req: &OpenRequest,
    ) -> Option<PlanStep> {
        let managed = self.attribute(rule, packet, trace)?;
        plan::open(self, rule, &managed, packet, trace, req)
    }

    fn plan_close(
        &self,
        rule: &RuleRef,
        packet: &Packet,
        trace: &[Step],
        req: &OpenRequest,
    ) -> Option<PlanStep> {
        let managed = self.attribute(rule, packet, trace);
        plan::close(self, rule, managed.as_ref(), packet, trace, req)
    }

    fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    fn as_firewalld(&self) -> Option<&Firewalld> {
        Some(self)
    }
}
