//! `portdoctor explain`: which firewall rule decides an inbound connection, on every active
//! backend, in the words of the manager in charge (ufw, firewalld), with the trace — without
//! sending a packet.

use crate::commands::diagnose::parse_port_proto;
use crate::exit::{CliError, Exit, environment, usage};
use crate::gather::local_addresses;
use crate::output::{Output, note};
use clap::Args;
use portdoctor_firewall::attribution::{Attributed, Decided};
use portdoctor_firewall::collect::{CollectError, CommandRunner, SourceReport};
use portdoctor_firewall::host::Host;
use portdoctor_firewall::viewpoint::{self, LocalAddr, Question};
use portdoctor_firewall::{CtState, Decision, Packet, Step, Sweep};
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
  portdoctor explain 8080 --json | jq .overall.managed
  portdoctor explain 8080 --from 192.0.2.10 --to 198.51.100.1 --iface eth0 \\
      --ruleset server-nft.json --ruleset server-iptables.save
  portdoctor explain 8080 --program 'C:\\srv\\app.exe' --ruleset rules.json   a Windows export
  portdoctor windows-export > export.ps1       the PowerShell script that makes that export

Every active backend is read (nftables, iptables legacy and nft-backed, ip6tables, ipset) and
the packet goes through all their base chains by hook and priority, as in the kernel. When ufw
or firewalld is in charge, the deciding rule is also named in its words (ufw rule [N], zone,
service, port, rich rule). A port a DNAT sends elsewhere (a published container port, a
NodePort) is followed through the routing table and the forward chains to its destination
(the path is printed; load-balanced endpoints one by one). What cannot be known from the rules
(an unknown interface, NAT without the live routing table ...) is reported as unknown with the
reason, never guessed; rate limits and `recent` lists are
decided for a first connection from a fresh source, and the assumption is printed (--no-assume
turns it off). Reading the rules needs root or CAP_NET_ADMIN.
Exit codes: 0 accepted; 1 dropped, rejected or unknown; 2 bad usage or input (a malformed
--ruleset file, an unknown --netns); 3 rules not readable (privilege, missing tools).
JSON: {packet, overall, backends[], trace[], managers[], skipped_tables[], sources[], sweep}
where overall and backends[] are decisions {backend, manager, active, decision, rule,
managed, possible, assumptions, redirected_to}: the same shape as diagnose's evidence
(docs/diagnose-json.md).")]
pub struct ExplainArgs {
    /// The port, optionally with its protocol: 8080, 8080/tcp, 53/udp.
    #[arg(value_name = "PORT[/PROTO]", value_parser = parse_port_proto)]
    pub target: (u16, Proto),

    /// Source address (default: 203.0.113.1 or 2001:db8::1, standing for "anyone else").
    #[arg(long, value_name = "ADDR")]
    pub from: Option<IpAddr>,

    /// Destination: a local address (default: the one the source would use).
    #[arg(long, value_name = "ADDR")]
    pub to: Option<IpAddr>,

    /// Input interface (default: the interface that has the destination address).
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,

    /// Conntrack state of the packet: new (a first SYN), established, related, invalid,
    /// untracked.
    #[arg(long, value_name = "STATE", default_value = "new", value_parser = parse_ct_state)]
    pub ct_state: CtState,

    /// Do not assume a fresh source: rate limits, `recent` lists and connection counts are
    /// then unknown.
    #[arg(long)]
    pub no_assume: bool,

    /// The program that listens (full path), for firewalls that filter by program (Windows).
    #[arg(long, value_name = "PATH")]
    pub program: Option<String>,

    /// The service that listens (Windows service short name), for rules limited to a service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// Also evaluate every destination port 0-65535 for this source and list the ranges.
    #[arg(long)]
    pub all_ports: bool,

    /// Linux: read the rulesets of this network namespace (`ip netns exec NAME ...`).
    #[arg(long, value_name = "NAME", conflicts_with = "ruleset")]
    pub netns: Option<String>,

    /// Evaluate saved rulesets instead of the live ones (repeatable), recognised by content:
    /// `nft -j list ruleset`, `iptables-save`, `ip6tables-save`, `ipset save`; Windows
    /// Defender Firewall exports (`portdoctor windows-export` JSON, `netsh advfirewall firewall
    /// show rule name=all [verbose]` with `netsh advfirewall show allprofiles` in English or
    /// Chinese, Export-FirewallRules CSV); pf (pf.conf, `pfctl -sr` listings). A malformed
    /// file is an error naming its line and column.
    #[arg(long, value_name = "FILE")]
    pub ruleset: Vec<std::path::PathBuf>,
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

/// A manager in charge, for the JSON document.
#[derive(Debug, Serialize)]
struct ManagerJson {
    kind: &'static str,
    summary: String,
    problems: Vec<String>,
}

/// The JSON document of `explain`.
#[derive(Debug, Serialize)]
struct ExplainJson<'a> {
    packet: &'a Packet,
    overall: &'a Decided,
    backends: &'a [Decided],
    trace: &'a [Step],
    managers: Vec<ManagerJson>,
    skipped_tables: &'a [String],
    sources: &'a [SourceReport],
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep: Option<&'a Sweep>,
}

/// Reads the host's firewall, live (optionally in a namespace) or from saved files.
pub fn read_host(netns: Option<&str>, files: &[std::path::PathBuf]) -> Result<Host, CliError> {
    if !files.is_empty() {
        let mut texts = vec![];
        for path in files {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            texts.push((path.display().to_string(), text));
        }
        return Host::from_saved(&texts).map_err(|e| usage(e.to_string()));
    }
    let runner = match netns {
        Some(ns) => {
            crate::sys::check_netns(ns).map_err(usage)?;
            CommandRunner::with_prefix(["ip", "netns", "exec", ns])
        }
        None => CommandRunner::default(),
    };
    Host::read_live(&runner).map_err(environment)
}

/// Runs `explain`.
pub fn run(args: &ExplainArgs, out: &Output) -> Result<Exit, CliError> {
    let mut packet = packet(args)?;
    let host = read_host(args.netns.as_deref(), &args.ruleset)?;
    host.complete(&mut packet);
    for s in host.engine.sources() {
        if let Err(e) = &s.active {
            if !matches!(e, CollectError::NotInstalled { .. }) {
                note(&format!("{e}"));
            }
        }
    }
    for m in &host.managers {
        for p in m.problems() {
            note(&format!("{}: {p}", m.kind().label()));
        }
    }
    let (explanation, attributed) = host.explain(&packet);
    let sweep = args.all_ports.then(|| host.engine.sweep(&packet));
    if out.json {
        out.json(&ExplainJson {
            packet: &packet,
            overall: &attributed.overall,
            backends: &attributed.backends,
            trace: &explanation.overall.trace,
            managers: host
                .managers
                .iter()
                .map(|m| ManagerJson {
                    kind: m.kind().label(),
                    summary: m.summary(),
                    problems: m.problems().iter().map(ToString::to_string).collect(),
                })
                .collect(),
            skipped_tables: &explanation.skipped_tables,
            sources: host.engine.sources(),
            sweep: sweep.as_ref(),
        })?;
    } else {
        render(
            out,
            &packet,
            &host,
            &attributed,
            &explanation.overall.trace,
            sweep.as_ref(),
        )?;
    }
    Ok(match attributed.overall.decision {
        Decision::Accept => Exit::Ok,
        _ => Exit::Failed,
    })
}

fn packet(args: &ExplainArgs) -> Result<Packet, CliError> {
    let (port, proto) = args.target;
    let proto = match proto {
        Proto::Tcp => portdoctor_firewall::Proto::Tcp,
        Proto::Udp => portdoctor_firewall::Proto::Udp,
    };
    let addrs: Vec<LocalAddr> = local_addresses()
        .unwrap_or_default()
        .into_iter()
        .map(|a| LocalAddr {
            iface: a.iface,
            addr: a.addr,
        })
        .collect();
    let q = Question {
        from: args.from,
        to: args.to,
        iface: args.iface.clone(),
    };
    let mut p = viewpoint::packet(proto, port, &q, &addrs).map_err(usage)?;
    p.ct_state = args.ct_state;
    p.assume_fresh_source = !args.no_assume;
    p.local_program = args.program.clone();
    p.local_service = args.service.clone();
    Ok(p)
}

fn decision_text(out: &Output, d: &Decision) -> String {
    match d {
        Decision::Accept => out.good("ACCEPT"),
        Decision::Unknown(_) => out.warn("UNKNOWN"),
        d => out.bad(&d.label().to_uppercase()),
    }
}

fn step_text(s: &Step) -> String {
    let at = match (s.handle, s.position) {
        (Some(h), p) if p > 0 => format!(" handle {h}"),
        (None, p) if p > 0 => format!(" rule {p}"),
        _ => String::new(),
    };
    let kind = s.kind.label();
    format!(
        "{} {} {}{at}: {kind}: {}",
        s.backend.as_str(),
        s.table,
        s.chain,
        s.detail
    )
}

fn decided_line(out: &Output, d: &Decided) -> String {
    let by = d.by_text();
    let assuming = if d.assumptions.is_empty() {
        String::new()
    } else {
        format!("\n      assuming {}", d.assumptions.join("; "))
    };
    let decision = decision_text(out, &d.decision);
    if by.is_empty() {
        format!("{decision}{assuming}")
    } else {
        format!("{decision} {by}{assuming}")
    }
}

fn render(
    out: &Output,
    p: &Packet,
    host: &Host,
    a: &Attributed,
    trace: &[Step],
    sweep: Option<&Sweep>,
) -> Result<(), CliError> {
    let proto = match p.proto {
        portdoctor_firewall::Proto::Udp => "udp",
        _ => "tcp",
    };
    let dst = std::net::SocketAddr::new(p.dst, p.dport);
    out.line(&format!(
        "{proto} {} -> {dst} on {} (ct state {})",
        p.src,
        p.iif.as_deref().unwrap_or("unknown interface"),
        format!("{:?}", p.ct_state).to_lowercase()
    ))?;
    for m in &host.managers {
        out.line(&format!("manager: {}", m.summary()))?;
    }
    out.line(&format!("verdict: {}", decided_line(out, &a.overall)))?;
    if let Decision::Unknown(r) = &a.overall.decision {
        out.line(&format!("  why unknown: {r}"))?;
        let definite: Vec<String> = a
            .overall
            .possible
            .iter()
            .filter(|d| !matches!(d, Decision::Unknown(_)))
            .map(|d| decision_text(out, d))
            .collect();
        if !definite.is_empty() {
            out.line(&format!("  possible outcomes: {}", definite.join(", ")))?;
        }
    }
    if let Some(port) = a.overall.redirected_to {
        out.line(&format!(
            "  redirected: the connection reaches local port {port}, not {}",
            p.dport
        ))?;
    }
    if a.overall.delivery.is_some() || !a.overall.endpoints.is_empty() {
        out.line("path (prerouting nat → routing → forward → destination):")?;
        for l in crate::path_text::path_lines(trace, &a.overall) {
            out.line(&format!("  {l}"))?;
        }
    }
    out.line("backends:")?;
    for b in &a.backends {
        out.line(&format!(
            "  {:<18} {:<9} {}",
            b.backend.label(),
            if b.active { "active" } else { "inactive" },
            decided_line(out, b)
        ))?;
    }
    out.line("trace:")?;
    for s in trace {
        out.line(&format!("  {}", step_text(s)))?;
    }
    if let Some(sw) = sweep {
        out.line("all ports:")?;
        for r in &sw.ranges {
            let by = r
                .decided_by
                .as_ref()
                .map(|x| {
                    format!(
                        "  by {}: {}",
                        portdoctor_firewall::attribution::place_text(x),
                        x.text
                    )
                })
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
