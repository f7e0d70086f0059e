//! `portdoctor explain`: which firewall rule decides an inbound connection, on every active
//! backend, with the trace — without sending a packet.

use crate::commands::diagnose::parse_port_proto;
use crate::exit::{CliError, Exit, environment, usage};
use crate::gather::local_addresses;
use crate::output::{Output, note};
use clap::Args;
use portdoctor_firewall::collect::{self, CollectError, CommandRunner, Programs, SourceReport};
use portdoctor_firewall::{
    self as fw, CtState, Decision, Explanation, Packet, RuleRef, Step, Sweep,
};
use portdoctor_sockets::Proto;
use serde::Serialize;
use std::net::IpAddr;

/// Arguments of `portdoctor explain`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor explain 8080                       a SYN from \"anyone else\" to 8080/tcp
  portdoctor explain 53/udp --from 192.0.2.10
  portdoctor explain 22 --from 2001:db8::7 --iface eth0
  portdoctor explain 8080 --all-ports           also every port 0-65535, as ranges
  portdoctor explain 8080 --json | jq .overall.decided_by
  portdoctor explain 8080 --from 192.0.2.10 --to 198.51.100.1 --iface eth0 \\
      --ruleset server-nft.json --ruleset server-iptables.save

Every active backend is read (nftables, iptables legacy and nft-backed, ip6tables, ipset) and
the packet goes through all their base chains by hook and priority, as in the kernel. What
cannot be known from the rules (NAT, rate limits, unknown interface ...) is reported as
unknown with the reason, never guessed. Reading the rules needs root or CAP_NET_ADMIN.
Exit codes: 0 accepted; 1 dropped, rejected or unknown; 2 bad usage; 3 rules not readable.
JSON: {packet, overall {decision, decided_by, trace[]}, backends[] {backend, active, verdict},
skipped_tables[], sources[] {tool, backend, active}, sweep {ranges[] {from, to, decision,
decided_by}} (with --all-ports)}.")]
pub struct ExplainArgs {
    /// The port, optionally with its protocol: 8080, 8080/tcp, 53/udp.
    #[arg(value_name = "PORT[/PROTO]", value_parser = parse_port_proto)]
    pub target: (u16, Proto),

    /// Source address (default: 203.0.113.1 or 2001:db8::1, standing for "anyone else").
    #[arg(long, value_name = "ADDR")]
    pub from: Option<IpAddr>,

    /// Destination: a local address (default: the first non-loopback address of the family).
    #[arg(long, value_name = "ADDR")]
    pub to: Option<IpAddr>,

    /// Input interface (default: the interface that has the destination address).
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,

    /// Conntrack state of the packet: new (a first SYN), established, related, invalid,
    /// untracked.
    #[arg(long, value_name = "STATE", default_value = "new", value_parser = parse_ct_state)]
    pub ct_state: CtState,

    /// Also evaluate every destination port 0-65535 for this source and list the ranges.
    #[arg(long)]
    pub all_ports: bool,

    /// Linux: read the rulesets of this network namespace (`ip netns exec NAME ...`).
    #[arg(long, value_name = "NAME", conflicts_with = "ruleset")]
    pub netns: Option<String>,

    /// Evaluate saved rulesets instead of the live ones (repeatable): `nft -j list ruleset`
    /// output, or `iptables-save` / `ip6tables-save` output (a file whose name contains
    /// `ip6` is read as IPv6). A malformed file is an error naming its line and column.
    #[arg(long, value_name = "FILE")]
    pub ruleset: Vec<std::path::PathBuf>,
}

/// Reads saved rulesets; a malformed one is a usage error with its position.
fn read_saved(files: &[std::path::PathBuf]) -> Result<collect::Collected, CliError> {
    let mut collected = collect::Collected::default();
    for path in files {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read {shown}: {e}")))?;
        let ruleset = if text.trim_start().starts_with('{') {
            fw::parse_nft_json(&text)
        } else {
            let v6 = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("ip6"));
            let family = if v6 {
                fw::IpFamily::Ipv6
            } else {
                fw::IpFamily::Ipv4
            };
            fw::parse_iptables_save(&text, family, fw::Backend::IptablesLegacy)
        }
        .map_err(|e| usage(format!("{shown}: {e}")))?;
        collected.rulesets.push(ruleset);
    }
    Ok(collected)
}

fn parse_ct_state(text: &str) -> Result<CtState, String> {
    Ok(match text {
        "new" => CtState::New,
        "established" => CtState::Established,
        "related" => CtState::Related,
        "invalid" => CtState::Invalid,
        "untracked" => CtState::Untracked,
        o => {
            return Err(format!(
                "unknown state `{o}` (new, established, related, invalid, untracked)"
            ));
        }
    })
}

/// The JSON document of `explain`.
#[derive(Debug, Serialize)]
struct ExplainJson<'a> {
    packet: &'a Packet,
    #[serde(flatten)]
    explanation: &'a Explanation,
    sources: &'a [SourceReport],
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep: Option<&'a Sweep>,
}

/// Runs `explain`.
pub fn run(args: &ExplainArgs, out: &Output) -> Result<Exit, CliError> {
    let packet = packet(args)?;
    let runner = match &args.netns {
        Some(ns) => CommandRunner::with_prefix(["ip", "netns", "exec", ns.as_str()]),
        None => CommandRunner::default(),
    };
    let collected = if args.ruleset.is_empty() {
        collect::collect(&runner, &Programs::default())
    } else {
        read_saved(&args.ruleset)?
    };
    if let Some(reason) = crate::gather::firewall_unreadable(&collected) {
        return Err(environment(reason));
    }
    for s in &collected.sources {
        if let Err(e) = &s.active {
            if !matches!(e, CollectError::NotInstalled { .. }) {
                note(&format!("{e}"));
            }
        }
    }
    let explanation = fw::explain(&collected.rulesets, &packet);
    let sweep = args
        .all_ports
        .then(|| fw::sweep(&collected.rulesets, &packet));
    if out.json {
        out.json(&ExplainJson {
            packet: &packet,
            explanation: &explanation,
            sources: &collected.sources,
            sweep: sweep.as_ref(),
        })?;
    } else {
        render(out, &packet, &explanation, sweep.as_ref())?;
    }
    Ok(match explanation.overall.decision {
        Decision::Accept => Exit::Ok,
        _ => Exit::Failed,
    })
}

fn packet(args: &ExplainArgs) -> Result<Packet, CliError> {
    let (port, proto) = args.target;
    let proto = match proto {
        Proto::Tcp => fw::Proto::Tcp,
        Proto::Udp => fw::Proto::Udp,
    };
    if let (Some(f), Some(t)) = (args.from, args.to) {
        if f.is_ipv4() != t.is_ipv4() {
            return Err(usage("--from and --to must be of the same IP family"));
        }
    }
    let v6 = args.from.or(args.to).is_some_and(|a| a.is_ipv6());
    let addrs = local_addresses().unwrap_or_default();
    let to = match args.to {
        Some(t) => t,
        None => match args.from.filter(|f| f.is_loopback()) {
            Some(f) => f,
            None => addrs
                .iter()
                .find(|a| !a.addr.is_loopback() && a.addr.is_ipv6() == v6)
                .map(|a| a.addr)
                .unwrap_or(if v6 {
                    IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2u16])
                } else {
                    IpAddr::from([198, 18, 0, 1])
                }),
        },
    };
    let from = args.from.unwrap_or(if to.is_loopback() {
        to
    } else if to.is_ipv6() {
        IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1u16])
    } else {
        IpAddr::from([203, 0, 113, 1])
    });
    let iface = args.iface.clone().or_else(|| {
        if from.is_loopback() {
            return Some("lo".to_string());
        }
        addrs.iter().find(|a| a.addr == to).map(|a| a.iface.clone())
    });
    let mut p = Packet::new(proto, from, to, port);
    p.iif = iface;
    p.ct_state = args.ct_state;
    Ok(p)
}

fn decision_text(out: &Output, d: &Decision) -> String {
    match d {
        Decision::Accept => out.good("ACCEPT"),
        Decision::Drop => out.bad("DROP"),
        Decision::Reject(k) => out.bad(&format!(
            "REJECT ({})",
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{k:?}"))
        )),
        Decision::Unknown(_) => out.warn("UNKNOWN"),
    }
}

fn rule_text(r: &RuleRef) -> String {
    let place = if r.is_policy {
        "policy".to_string()
    } else if let Some(h) = r.handle {
        format!("handle {h}")
    } else {
        format!("rule {}", r.position)
    };
    let mut s = format!(
        "{} {} {} {} {place}: {}",
        r.backend.as_str(),
        r.family.as_str(),
        r.table,
        r.chain,
        r.text
    );
    if let Some(c) = &r.comment {
        if !r.text.contains(c.as_str()) {
            s.push_str(&format!("  # {c}"));
        }
    }
    s
}

fn step_text(s: &Step) -> String {
    let at = if s.position > 0 {
        format!(" #{}", s.position)
    } else {
        String::new()
    };
    let kind = serde_json::to_value(&s.kind)
        .ok()
        .and_then(|v| v.as_str().map(|k| k.replace('_', " ")))
        .unwrap_or_default();
    format!(
        "{} {} {}{at}: {kind}: {}",
        s.backend.as_str(),
        s.table,
        s.chain,
        s.detail
    )
}

fn render(
    out: &Output,
    p: &Packet,
    e: &Explanation,
    sweep: Option<&Sweep>,
) -> Result<(), CliError> {
    let proto = match p.proto {
        fw::Proto::Tcp => "tcp",
        fw::Proto::Udp => "udp",
        _ => "ip",
    };
    let dst = match p.dst {
        IpAddr::V6(a) => format!("[{a}]"),
        a => a.to_string(),
    };
    out.line(&format!(
        "{proto} {} -> {dst}:{} on {} (ct state {})",
        p.src,
        p.dport,
        p.iif.as_deref().unwrap_or("unknown interface"),
        serde_json::to_value(p.ct_state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    ))?;
    out.line(&format!(
        "verdict: {}",
        decision_text(out, &e.overall.decision)
    ))?;
    if let Decision::Unknown(r) = &e.overall.decision {
        out.line(&format!("  why unknown: {r}"))?;
        if e.overall
            .possible
            .iter()
            .any(|d| !matches!(d, Decision::Unknown(_)))
        {
            let names: Vec<String> = e
                .overall
                .possible
                .iter()
                .map(|d| decision_text(out, d))
                .collect();
            out.line(&format!("  possible outcomes: {}", names.join(", ")))?;
        }
    }
    if let Some(port) = e.overall.redirected_to {
        out.line(&format!(
            "  redirected: the connection reaches local port {port}, not {}",
            p.dport
        ))?;
    }
    match &e.overall.decided_by {
        Some(r) => out.line(&format!("decided by: {}", rule_text(r)))?,
        None if e.overall.decision == Decision::Accept => {
            out.line("decided by: no rule (no active base chain drops it)")?
        }
        None => {}
    }
    out.line("backends:")?;
    for b in &e.backends {
        let by = b
            .verdict
            .decided_by
            .as_ref()
            .map(|r| format!(" by {}", rule_text(r)))
            .unwrap_or_default();
        out.line(&format!(
            "  {:<16} {:<9} {}{by}",
            b.backend.as_str(),
            if b.active { "active" } else { "inactive" },
            decision_text(out, &b.verdict.decision)
        ))?;
    }
    if !e.skipped_tables.is_empty() {
        out.line(&format!(
            "  (nft tables of iptables-nft read from iptables-nft-save: {})",
            e.skipped_tables.join(", ")
        ))?;
    }
    out.line("trace:")?;
    for s in &e.overall.trace {
        out.line(&format!("  {}", step_text(s)))?;
    }
    if let Some(sw) = sweep {
        out.line("all ports:")?;
        for r in &sw.ranges {
            let by = r
                .decided_by
                .as_ref()
                .map(|x| format!("  by {}", rule_text(x)))
                .unwrap_or_default();
            let range = if r.from == r.to {
                r.from.to_string()
            } else {
                format!("{}-{}", r.from, r.to)
            };
            let redirect = r
                .redirected_to
                .map(|p| format!(" (redirected to port {p})"))
                .unwrap_or_default();
            out.line(&format!(
                "  {range:<12} {}{redirect}{by}",
                decision_text(out, &r.decision)
            ))?;
        }
    }
    Ok(())
}
