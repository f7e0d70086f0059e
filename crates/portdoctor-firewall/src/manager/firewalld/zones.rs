//! firewalld's zones: parsed from `firewall-cmd --list-all-zones` (the runtime state) and
//! from the zone XML files (the permanent state), plus services' ports.

use crate::manager::ConfigProblem;

/// One zone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Zone {
    /// Its name.
    pub name: String,
    /// `default`, `ACCEPT`, `DROP`, `REJECT`, `%%REJECT%%`.
    pub target: String,
    /// Interfaces bound to it.
    pub interfaces: Vec<String>,
    /// Source addresses bound to it.
    pub sources: Vec<String>,
    /// Services it allows.
    pub services: Vec<String>,
    /// Ports it allows, as `8080/tcp` or `8000-8100/udp`.
    pub ports: Vec<String>,
    /// Rich rules, as firewalld prints them.
    pub rich_rules: Vec<String>,
}

impl Zone {
    /// Whether `port/proto` is in its ports (ranges included).
    pub fn has_port(&self, port: u16, proto: &str) -> bool {
        self.ports.iter().any(|p| port_spec_covers(p, port, proto))
    }
}

/// Whether a `P/proto` or `A-B/proto` spec covers `port`/`proto`.
pub fn port_spec_covers(spec: &str, port: u16, proto: &str) -> bool {
    let Some((ports, p)) = spec.split_once('/') else {
        return false;
    };
    if p != proto {
        return false;
    }
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    match (a.parse::<u16>(), b.parse::<u16>()) {
        (Ok(a), Ok(b)) => a <= port && port <= b,
        _ => false,
    }
}

/// Parses `firewall-cmd --list-all-zones`.
pub fn parse_list_all(text: &str) -> Vec<Zone> {
    let mut zones: Vec<Zone> = vec![];
    let mut in_rich = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            in_rich = false;
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let name = line.split_whitespace().next().unwrap_or_default();
            zones.push(Zone {
                name: name.to_string(),
                ..Zone::default()
            });
            in_rich = false;
            continue;
        }
        let Some(z) = zones.last_mut() else {
            continue;
        };
        let t = line.trim();
        if in_rich && t.starts_with("rule") {
            z.rich_rules.push(t.to_string());
            continue;
        }
        let Some((key, value)) = t.split_once(':') else {
            continue;
        };
        let words = || value.split_whitespace().map(str::to_string).collect();
        in_rich = key == "rich rules";
        match key {
            "target" => z.target = value.trim().to_string(),
            "interfaces" => z.interfaces = words(),
            "sources" => z.sources = words(),
            "services" => z.services = words(),
            "ports" => z.ports = words(),
            _ => {}
        }
    }
    zones
}

/// Parses a zone XML file (`/etc/firewalld/zones/NAME.xml`); errors carry line and column.
pub fn parse_zone_xml(name: &str, text: &str, source: &str) -> Result<Zone, ConfigProblem> {
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        ConfigProblem {
            source: source.to_string(),
            line: Some(pos.row as usize),
            column: Some(pos.col as usize),
            message: format!("not valid XML: {e}"),
        }
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "zone" {
        return Err(ConfigProblem {
            source: source.to_string(),
            line: Some(doc.text_pos_at(root.range().start).row as usize),
            column: Some(doc.text_pos_at(root.range().start).col as usize),
            message: format!("root element is <{}>, not <zone>", root.tag_name().name()),
        });
    }
    let mut z = Zone {
        name: name.to_string(),
        target: root.attribute("target").unwrap_or("default").to_string(),
        ..Zone::default()
    };
    for n in root.children().filter(|n| n.is_element()) {
        match n.tag_name().name() {
            "interface" => z.interfaces.extend(n.attribute("name").map(str::to_string)),
            "source" => z.sources.extend(n.attribute("address").map(str::to_string)),
            "service" => z.services.extend(n.attribute("name").map(str::to_string)),
            "port" => {
                if let (Some(p), Some(proto)) = (n.attribute("port"), n.attribute("protocol")) {
                    z.ports.push(format!("{p}/{proto}"));
                }
            }
            "rule" => z.rich_rules.push(format!(
                "<rich rule at line {}>",
                doc.text_pos_at(n.range().start).row
            )),
            _ => {}
        }
    }
    Ok(z)
}

/// The ports of a service XML (`/usr/lib/firewalld/services/NAME.xml`) as `P/proto`.
pub fn parse_service_ports(text: &str) -> Vec<String> {
    let Ok(doc) = roxmltree::Document::parse(text) else {
        return vec![];
    };
    doc.descendants()
        .filter(|n| n.has_tag_name("port"))
        .filter_map(|n| {
            Some(format!(
                "{}/{}",
                n.attribute("port")?,
                n.attribute("protocol")?
            ))
        })
        .collect()
}

/// A rich rule's source address and port, when it has them: (`198.18.0.2`, `8080`, `tcp`).
pub fn rich_rule_key(rule: &str) -> (Option<String>, Option<String>, Option<String>) {
    let attr = |after: &str, name: &str| -> Option<String> {
        let i = rule.find(after)?;
        let rest = &rule[i + after.len()..];
        let j = rest.find(&format!("{name}=\""))?;
        let v = &rest[j + name.len() + 2..];
        Some(v[..v.find('"')?].to_string())
    };
    (
        attr("source ", "address"),
        attr("port ", "port"),
        attr("port ", "protocol"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from firewalld 1.3.3 (Debian bookworm) in a lab namespace.
    const LIST: &str = "internal\n  target: default\n  icmp-block-inversion: no\n  interfaces: \n  sources: \n  services: dhcpv6-client mdns samba-client ssh\n  ports: 8080/tcp\n  protocols: \n  forward: yes\n  rich rules: \n\npublic (active)\n  target: default\n  interfaces: veth-h\n  sources: \n  services: dhcpv6-client http ssh\n  ports: 9090/tcp\n  rich rules: \n\trule family=\"ipv4\" source address=\"198.18.0.2\" port port=\"8080\" protocol=\"tcp\" reject\n\trule family=\"ipv4\" source address=\"198.18.0.3\" port port=\"8080\" protocol=\"tcp\" accept\n\n";

    #[test]
    fn list_all_zones() {
        let z = parse_list_all(LIST);
        assert_eq!(z.len(), 2);
        assert_eq!(z[0].ports, vec!["8080/tcp"]);
        assert_eq!(z[1].interfaces, vec!["veth-h"]);
        assert_eq!(z[1].rich_rules.len(), 2);
        assert!(z[0].has_port(8080, "tcp"));
        assert!(!z[0].has_port(8080, "udp"));
        let (src, port, proto) = rich_rule_key(&z[1].rich_rules[0]);
        assert_eq!(src.as_deref(), Some("198.18.0.2"));
        assert_eq!(port.as_deref(), Some("8080"));
        assert_eq!(proto.as_deref(), Some("tcp"));
    }

    #[test]
    fn zone_xml_errors_have_line_and_column() {
        let bad =
            "<?xml version=\"1.0\"?>\n<zone>\n  <port port=\"80\" protocol=\"tcp\">\n</zone>\n";
        let e = parse_zone_xml("web", bad, "/etc/firewalld/zones/web.xml").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(
            e.to_string()
                .starts_with("/etc/firewalld/zones/web.xml, line 4"),
            "{e}"
        );
        let ok = "<?xml version=\"1.0\"?>\n<zone target=\"DROP\">\n  <interface name=\"eth1\"/>\n  <port port=\"80\" protocol=\"tcp\"/>\n</zone>\n";
        let z = parse_zone_xml("web", ok, "web.xml").unwrap();
        assert_eq!(z.target, "DROP");
        assert_eq!(z.ports, vec!["80/tcp"]);
    }
}
